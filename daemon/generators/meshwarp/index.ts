/**
 * The built-in CPU generator ("meshwarp"): no downloaded weights. A face-mesh tracker (its
 * own worker) follows the driver; a render worker transfers the motion to the reference's
 * landmarks and warps the reference image. The two workers form a two-stage pipeline:
 * while frame N is tracked, frame N-1 is rendered, so push() returns frame N-1's output
 * (one frame of pipeline delay, for throughput on two cores).
 */
import { PersonaLiveError } from '../../errors.js';
import { createHumanTracker, type HumanTracker } from '../../tracking/human-tracker.js';
import { startWorker } from '../../util/worker-url.js';
import { createWorkerClient, type WorkerClient } from '../../util/worker-client.js';
import { fitSquare } from '../../media/image.js';
import type { DrivingFrame, Generator, GeneratorStats, OutputFrame, RgbImage, StageTiming } from '../generator.js';
import type { RenderedFrame, RenderRequest, RenderResult, RenderWorkerStats } from './protocol.js';

type RenderBody = RenderRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export interface MeshwarpOptions {
  /** Output frames are size x size (default 512). */
  size?: number;
  /** Head-turn depth flattening (see DEFAULT_DEPTH_SCALE in meshwarp/animator.ts). */
  depthScale?: number;
}

export const MESHWARP_DEFAULT_SIZE = 512;

export interface MeshwarpStats extends GeneratorStats {
  /** Driving frames in which no face was found (the pose was held, easing to neutral). */
  framesWithoutFace: number;
  /** Driving frames in which several faces were found (the largest, most central one was used). */
  framesWithSeveralFaces: number;
  tracker: string;
  warp: string;
}

export interface MeshwarpGenerator extends Generator {
  stats(): Promise<MeshwarpStats>;
}

function addTiming(stages: Record<string, StageTiming>, stage: string, ms: number): void {
  const entry = (stages[stage] ??= { count: 0, totalMs: 0, lastMs: 0 });
  entry.count++;
  entry.totalMs += ms;
  entry.lastMs = ms;
}

/**
 * Starts the tracker and render workers.
 * @throws PersonaLiveError when the tracker models cannot be loaded.
 */
export async function createMeshwarpGenerator(options: MeshwarpOptions = {}): Promise<MeshwarpGenerator> {
  const size = options.size ?? MESHWARP_DEFAULT_SIZE;
  if (!Number.isInteger(size) || size < 64 || size > 2048 || size % 2 !== 0) {
    throw new PersonaLiveError('USAGE', `meshwarp output size must be an even integer from 64 to 2048, got ${size}`, { option: 'size' });
  }
  const tracker: HumanTracker = await createHumanTracker({ mode: 'video' });
  let renderer: WorkerClient<RenderBody, RenderResult>;
  try {
    renderer = createWorkerClient<RenderBody, RenderResult>(startWorker(import.meta.url, 'render-worker'), 'meshwarp renderer');
  } catch (error) {
    await tracker.close();
    throw error;
  }

  const stages: Record<string, StageTiming> = {};
  const counts = { framesIn: 0, framesOut: 0, withoutFace: 0, severalFaces: 0 };
  let warp = 'unknown';
  let fused = false;
  /** The frame being rendered while the next one is tracked. */
  let inFlight: Promise<OutputFrame> | null = null;

  async function process(frame: DrivingFrame): Promise<OutputFrame> {
    const tracked = await tracker.track(frame);
    addTiming(stages, 'track', tracked.trackMs);
    if (!tracked.face) counts.withoutFace++;
    if (tracked.faceCount > 1) counts.severalFaces++;
    const landmarks = tracked.face ? tracked.face.landmarks : null;
    const rendered = (await renderer.call({ type: 'frame', frame: { landmarks, index: frame.index, timestampMs: frame.timestampMs } })) as RenderedFrame;
    addTiming(stages, 'render', rendered.renderMs);
    counts.framesOut++;
    return { data: rendered.data, width: size, height: size, source: 'driving', sourceIndex: rendered.index, timestampMs: rendered.timestampMs };
  }

  const generator: MeshwarpGenerator = {
    name: 'meshwarp',
    outputSize: { width: size, height: size },

    async fuseReference(image: RgbImage) {
      const square = await fitSquare(image, size);
      const tracked = await tracker.track(square);
      if (!tracked.face) {
        throw new PersonaLiveError('NO_FACE', 'no face was found in the reference image: use a portrait with the face clearly visible, facing the camera', {});
      }
      // A new reference: drain the old stream first so frames keep their order.
      if (inFlight) await inFlight.catch(() => undefined);
      inFlight = null;
      const stats = (await renderer.call({ type: 'reference', image: square, landmarks: Float32Array.from(tracked.face.landmarks), depthScale: options.depthScale })) as RenderWorkerStats;
      warp = stats.warp;
      fused = true;
    },

    async push(frame: DrivingFrame) {
      if (!fused) throw new PersonaLiveError('NO_REFERENCE', 'push() before a reference was fused: call fuseReference() first');
      counts.framesIn++;
      const previous = inFlight;
      // Start this frame now (tracking overlaps the previous frame's rendering); ordering is
      // kept because each worker handles its requests in order.
      inFlight = process(frame);
      inFlight.catch(() => undefined);
      return previous ? [await previous] : [];
    },

    async flush() {
      const last = inFlight;
      inFlight = null;
      return last ? [await last] : [];
    },

    async reset() {
      if (inFlight) await inFlight.catch(() => undefined);
      inFlight = null;
      await renderer.call({ type: 'reset' });
    },

    async stats() {
      return {
        generator: 'meshwarp',
        framesIn: counts.framesIn,
        framesOut: counts.framesOut,
        warmupFramesOut: 0,
        steps: counts.framesOut,
        keyframes: 0,
        providers: {},
        stages: structuredClone(stages),
        kernels: warp === 'native' ? 'native' : warp === 'typescript' ? 'typescript' : null,
        framesWithoutFace: counts.withoutFace,
        framesWithSeveralFaces: counts.severalFaces,
        tracker: tracker.backend,
        warp,
      };
    },

    async close() {
      if (inFlight) await inFlight.catch(() => undefined);
      inFlight = null;
      await Promise.allSettled([renderer.terminate(), tracker.close()]);
    },
  };
  return generator;
}
