/**
 * Request/response over a worker thread, for every worker of the daemon (the PersonaLive
 * engine, the meshwarp renderers, the face trackers): numbered requests, one pending promise
 * each, PersonaLiveError carried across as JSON, every pending call rejected when the worker
 * dies, is closed, or does not answer a call in time (a hung worker is stopped, so the
 * caller can fail over instead of waiting forever).
 */
import type { Worker } from 'node:worker_threads';
import { PersonaLiveError, type ErrorCode } from '../errors.js';

/** What a worker sends back for a request (worker-server.ts writes it). */
export type WorkerResponse<R> = { id: number; ok: true; result: R } | { id: number; ok: false; error: { code: ErrorCode; message: string; details?: Record<string, unknown> } };

export interface WorkerClientOptions {
  /** Names the worker in messages ("meshwarp renderer", "face tracker"). */
  label: string;
  /** The code for a crash, an unexpected exit or a hang (default ENGINE_FAILED). */
  failureCode?: ErrorCode;
  /** The code for a call after terminate() (default ENGINE_CLOSED). */
  closedCode?: ErrorCode;
  /** How long a call may take before the worker counts as hung (default: no limit). */
  timeoutMs?: number;
}

export interface CallOptions {
  /** Buffers to move instead of copy. */
  transfer?: ArrayBuffer[];
  /** This call's limit instead of the client's. */
  timeoutMs?: number;
  /** What the call is, for the hang message ("a frame", "its start-up"). */
  what?: string;
}

export interface WorkerClient<Req extends { type: string }, Res> {
  /**
   * Sends a request (without id).
   * @throws PersonaLiveError failureCode when the worker crashed, exited or did not answer in time (it is then stopped); closedCode after terminate()
   */
  call(body: Req, options?: CallOptions): Promise<Res>;
  /** Terminates the worker; later calls reject with closedCode. */
  terminate(): Promise<void>;
  readonly closed: boolean;
  /** The error that stopped the worker (crash, exit, hang), if any. */
  readonly failure: PersonaLiveError | null;
}

type Pending<Res> = { resolve: (value: Res) => void; reject: (error: Error) => void; timer: NodeJS.Timeout | null };

export function createWorkerClient<Req extends { type: string }, Res>(worker: Worker, options: WorkerClientOptions): WorkerClient<Req, Res> {
  const { label, failureCode = 'ENGINE_FAILED', closedCode = 'ENGINE_CLOSED' } = options;
  const pending = new Map<number, Pending<Res>>();
  let nextId = 1;
  let closed = false;
  let fatal: PersonaLiveError | null = null;
  const closedError = (): PersonaLiveError => new PersonaLiveError(closedCode, `the ${label} is closed`);

  const failAll = (error: PersonaLiveError): void => {
    fatal ??= error;
    for (const p of pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(error);
    }
    pending.clear();
  };
  worker.on('message', (response: WorkerResponse<Res>) => {
    const p = pending.get(response.id);
    if (!p) return;
    pending.delete(response.id);
    if (p.timer) clearTimeout(p.timer);
    if (response.ok) p.resolve(response.result);
    else p.reject(PersonaLiveError.fromJSON(response.error));
  });
  worker.on('error', (error) => failAll(new PersonaLiveError(failureCode, `${label} worker crashed: ${error.message}`, {}, { cause: error })));
  worker.on('exit', (code) => {
    if (!closed) failAll(new PersonaLiveError(failureCode, `${label} worker exited unexpectedly (code ${code})`, { exitCode: code }));
  });

  const hung = (what: string, ms: number): void => {
    failAll(new PersonaLiveError(failureCode, `the ${label} did not answer ${what} within ${ms} ms; its worker was stopped`, { timeoutMs: ms }));
    void worker.terminate();
  };

  return {
    call(body, callOptions = {}) {
      if (closed) return Promise.reject(closedError());
      if (fatal) return Promise.reject(fatal);
      const id = nextId++;
      const timeoutMs = callOptions.timeoutMs ?? options.timeoutMs;
      return new Promise<Res>((resolve, reject) => {
        const timer = timeoutMs === undefined ? null : setTimeout(() => hung(callOptions.what ?? `a "${body.type}" request`, timeoutMs), timeoutMs);
        pending.set(id, { resolve, reject, timer });
        try {
          worker.postMessage({ ...body, id }, callOptions.transfer ?? []);
        } catch (error) {
          pending.delete(id);
          if (timer) clearTimeout(timer);
          reject(error);
        }
      });
    },
    async terminate() {
      if (closed) return;
      closed = true;
      failAll(closedError());
      await worker.terminate();
    },
    get closed() {
      return closed;
    },
    get failure() {
      return fatal && fatal.code !== closedCode ? fatal : null;
    },
  };
}
