/**
 * The PersonaLive generator as the rest of the daemon sees it: a Generator whose engine and
 * ONNX Runtime sessions live in a worker thread, so the main thread (control API, pacing)
 * never blocks on inference.
 */
import { startWorker } from '../../util/worker-url.js';
import { createWorkerClient } from '../../util/worker-client.js';
import type { Generator, GeneratorStats } from '../generator.js';
import type { Frame, RgbImage } from '../../frames.js';
import { fitSquare } from '../../media/image.js';
import type { EngineInspection, ReadyInfo, WorkerInit, WorkerRequest, WorkerResult } from './protocol.js';

const STEP_TIMEOUT_MS = 120_000;
const INIT_TIMEOUT_MS = 30 * 60_000;

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
  // The live loop's failover deadline (generator.failoverAfterMs) catches a slow step long
  // before this limit; the limit is for offline use, where nothing else would stop a hung GPU.
  const client = createWorkerClient<RequestBody, WorkerResult>(startWorker(import.meta.url, 'worker'), { label: 'PersonaLive generator', timeoutMs: STEP_TIMEOUT_MS });
  const call = (body: RequestBody): Promise<WorkerResult> => client.call(body);

  let info: ReadyInfo;
  try {
    // Opening the graphs can take minutes (TensorRT builds its engines on first use).
    info = (await client.call({ type: 'init', init }, { timeoutMs: INIT_TIMEOUT_MS, what: 'its start-up (loading the pack)' })) as ReadyInfo;
  } catch (error) {
    await client.terminate();
    throw error;
  }

  return {
    name: 'personalive',
    info,
    outputSize: { width: info.resolution, height: info.resolution },
    async fuseReference(image: RgbImage) {
      // The photo's centre square, not the photo stretched: the camera picture pastes the
      // animation back exactly there for a wide photo (kernels/compose.ts framedBox).
      const square = image.width === image.height ? image : await fitSquare(image, Math.min(image.width, image.height));
      await call({ type: 'fuse', image: square });
    },
    async push(frame: Frame) {
      return (await call({ type: 'push', frames: [frame] })) as Frame[];
    },
    async flush() {
      return (await call({ type: 'flush' })) as Frame[];
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
      if (client.closed) return;
      try {
        await call({ type: 'close' });
      } finally {
        await client.terminate();
      }
    },
  };
}
