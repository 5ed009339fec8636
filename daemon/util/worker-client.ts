/**
 * Request/response over a worker thread: numbered requests, one pending promise each,
 * PersonaLiveError carried across as JSON, every pending call rejected when the worker
 * dies or is closed. Shared by the generators' hosts.
 */
import type { Worker } from 'node:worker_threads';
import { PersonaLiveError, type ErrorCode } from '../errors.js';

type Response<R> = { id: number; ok: true; result: R } | { id: number; ok: false; error: { code: ErrorCode; message: string; details?: Record<string, unknown> } };

export interface WorkerClient<Req extends { type: string }, Res> {
  /** Sends a request (without id); `transfer` moves buffers instead of copying them. */
  call(body: Req, transfer?: ArrayBuffer[]): Promise<Res>;
  /** Terminates the worker; later calls reject with ENGINE_CLOSED. */
  terminate(): Promise<void>;
  readonly closed: boolean;
}

export function createWorkerClient<Req extends { type: string }, Res>(worker: Worker, label: string): WorkerClient<Req, Res> {
  const pending = new Map<number, { resolve: (value: Res) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let closed = false;
  let fatal: Error | null = null;

  const failAll = (error: Error): void => {
    fatal = error;
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  worker.on('message', (response: Response<Res>) => {
    const p = pending.get(response.id);
    if (!p) return;
    pending.delete(response.id);
    if (response.ok) p.resolve(response.result);
    else p.reject(PersonaLiveError.fromJSON(response.error));
  });
  worker.on('error', (error) => failAll(new PersonaLiveError('ENGINE_FAILED', `${label} worker crashed: ${error.message}`, {}, { cause: error })));
  worker.on('exit', (code) => {
    if (!closed) failAll(new PersonaLiveError('ENGINE_FAILED', `${label} worker exited unexpectedly (code ${code})`));
  });

  return {
    call(body, transfer = []) {
      if (closed) return Promise.reject(new PersonaLiveError('ENGINE_CLOSED', `the ${label} is closed`));
      if (fatal) return Promise.reject(fatal);
      const id = nextId++;
      return new Promise<Res>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ ...body, id }, transfer);
      });
    },
    async terminate() {
      if (closed) return;
      closed = true;
      failAll(new PersonaLiveError('ENGINE_CLOSED', `the ${label} is closed`));
      await worker.terminate();
    },
    get closed() {
      return closed;
    },
  };
}
