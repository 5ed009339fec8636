/**
 * The PersonaLive generator as the rest of the daemon sees it: a Generator whose engine and
 * ONNX Runtime sessions live in a worker thread, so the main thread (control API, pacing)
 * never blocks on inference.
 */
import type { Worker } from 'node:worker_threads';
import { PersonaLiveError } from '../../errors.js';
import { startWorker } from '../../util/worker-url.js';
import type { DrivingFrame, Generator, GeneratorStats, OutputFrame, RgbImage } from '../generator.js';
import type { EngineInspection, ReadyInfo, WorkerInit, WorkerRequest, WorkerResponse, WorkerResult } from './protocol.js';

type Pending = { resolve: (value: WorkerResult) => void; reject: (error: Error) => void };
type RequestBody = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export interface PersonaLiveGenerator extends Generator {
  readonly info: ReadyInfo;
  /** Engine bookkeeping (steps, keyframes, reference-state lengths, time split). */
  inspect(): Promise<EngineInspection>;
}

/**
 * Starts the worker, loads and checks the pack, opens every graph on the device.
 * @throws PersonaLiveError from the pack, device or decoder checks.
 */
export async function createPersonaLiveGenerator(init: WorkerInit): Promise<PersonaLiveGenerator> {
  const worker: Worker = startWorker(import.meta.url, 'worker');
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let closed = false;
  let fatal: Error | null = null;

  const failAll = (error: Error): void => {
    fatal = error;
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  worker.on('message', (response: WorkerResponse) => {
    const p = pending.get(response.id);
    if (!p) return;
    pending.delete(response.id);
    if (response.ok) p.resolve(response.result);
    else p.reject(PersonaLiveError.fromJSON(response.error));
  });
  worker.on('error', (error) => failAll(new PersonaLiveError('ENGINE_FAILED', `inference worker crashed: ${error.message}`, {}, { cause: error })));
  worker.on('exit', (code) => {
    if (!closed) failAll(new PersonaLiveError('ENGINE_FAILED', `inference worker exited unexpectedly (code ${code})`));
  });

  const call = (body: RequestBody, transfer: ArrayBuffer[] = []): Promise<WorkerResult> => {
    if (closed) return Promise.reject(new PersonaLiveError('ENGINE_CLOSED', 'the PersonaLive generator is closed'));
    if (fatal) return Promise.reject(fatal);
    const id = nextId++;
    return new Promise<WorkerResult>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...body, id }, transfer);
    });
  };

  let info: ReadyInfo;
  try {
    info = (await call({ type: 'init', init })) as ReadyInfo;
  } catch (error) {
    closed = true;
    await worker.terminate();
    throw error;
  }

  return {
    name: 'personalive',
    info,
    outputSize: { width: info.resolution, height: info.resolution },
    async fuseReference(image: RgbImage) {
      await call({ type: 'fuse', image });
    },
    async push(frame: DrivingFrame) {
      return (await call({ type: 'push', frames: [frame] })) as OutputFrame[];
    },
    async flush() {
      return (await call({ type: 'flush' })) as OutputFrame[];
    },
    async reset() {
      await call({ type: 'reset' });
    },
    async stats() {
      return (await call({ type: 'stats' })) as GeneratorStats;
    },
    async inspect() {
      return (await call({ type: 'inspect' })) as EngineInspection;
    },
    async close() {
      if (closed) return;
      try {
        await call({ type: 'close' });
      } finally {
        closed = true;
        await worker.terminate();
      }
    },
  };
}
