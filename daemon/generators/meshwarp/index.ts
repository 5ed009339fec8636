/**
 * The built-in CPU generator ("meshwarp"): no downloaded weights. A face-mesh tracker (its
 * own worker) follows the driver; a render worker transfers the motion to the reference's
 * landmarks and warps the reference image (an open driver mouth goes with them as a small
 * crop, for the mouth interior). With one tracker (the default) push() returns
 * the frame it was given: the lowest latency. With several, trackers take alternate frames
 * and the renderer follows in frame order, a pipeline: push() returns the oldest frame once
 * as many are in flight as there are trackers (trackers - 1 frames of delay, for throughput
 * on a machine too slow to track one frame per frame interval).
 */
import { PersonaLiveError } from '../../errors.js';
import { createHumanTracker, type HumanTracker, type TrackerEngine } from './tracking/human-tracker.js';
import type { OneEuroParams } from './tracking/one-euro.js';
import { startWorker } from '../../util/worker-url.js';
import { createWorkerClient, type WorkerClient } from '../../util/worker-client.js';
import { fitSquare } from '../../media/image.js';
import type { Generator, GeneratorStats, StageTiming } from '../generator.js';
import type { Frame, RgbImage } from '../../frames.js';
import { DEFAULT_EXPRESSION_CONTROLS, type ExpressionControls } from '../../kinds.js';
import type { RenderedFrame, RenderRequest, RenderResult, RenderWorkerStats } from './protocol.js';
import { cropDriverMouth } from './mouth.js';

type RenderBody = RenderRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export interface MeshwarpOptions {
  /** Output frames are size x size (default 512). */
  size?: number;
  /** Head-turn depth flattening (see DEFAULT_DEPTH_SCALE in meshwarp/animator.ts). */
  depthScale?: number;
  /** Depth flattening for nods (see DEFAULT_VERTICAL_DEPTH_SCALE in meshwarp/animator.ts). */
  verticalDepthScale?: number;
  /** One-Euro parameters for the driver's landmarks (default LANDMARK_SMOOTHING). */
  smoothing?: OneEuroParams;
  /**
   * Face trackers working on alternate frames (default 1). One tracker on ONNX Runtime
   * tracks a 512x512 frame in ~17 ms here, well within a frame interval, and returns each
   * frame without pipeline delay; more trackers raise throughput on slow machines at the
   * cost of (trackers - 1) frames of latency. One tracker uses one core.
   */
  trackers?: number;
  /** The tracker's runtime (default 'onnx'; see TrackerEngine). */
  trackerEngine?: TrackerEngine;
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
 * The render workers: a frame takes 3-30 ms, building a reference's animator 20-110 ms here;
 * a renderer silent for 10 s is hung (the live loop then restarts the generator).
 */
const RENDERER = { label: 'meshwarp renderer', timeoutMs: 10_000 } as const;
/** Enough for the frames the pacer holds (queue of 4, the one on screen) and one in flight. */
const MAX_SPARE_BUFFERS = 8;

/**
 * Starts the tracker and render workers.
 * @throws PersonaLiveError when the tracker models cannot be loaded.
 */
export async function createMeshwarpGenerator(options: MeshwarpOptions = {}): Promise<MeshwarpGenerator> {
  const size = options.size ?? MESHWARP_DEFAULT_SIZE;
  if (!Number.isInteger(size) || size < 64 || size > 2048 || size % 2 !== 0) {
    throw new PersonaLiveError('USAGE', `meshwarp output size must be an even integer from 64 to 2048, got ${size}`, { option: 'size' });
  }
  const trackerCount = options.trackers ?? 1;
  if (!Number.isInteger(trackerCount) || trackerCount < 1 || trackerCount > 8) {
    throw new PersonaLiveError('USAGE', `meshwarp trackers must be an integer from 1 to 8, got ${trackerCount}`, { option: 'trackers' });
  }
  const started = await Promise.allSettled(Array.from({ length: trackerCount }, () => createHumanTracker({ mode: 'video', engine: options.trackerEngine })));
  const trackers = started.filter((r): r is PromiseFulfilledResult<HumanTracker> => r.status === 'fulfilled').map((r) => r.value);
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.allSettled(trackers.map((t) => t.close()));
    throw failed.reason;
  }
  const tracker = trackers[0];
  let renderer: WorkerClient<RenderBody, RenderResult>;
  try {
    renderer = createWorkerClient<RenderBody, RenderResult>(startWorker(import.meta.url, 'render-worker'), RENDERER);
  } catch (error) {
    await Promise.allSettled(trackers.map((t) => t.close()));
    throw error;
  }

  const stages: Record<string, StageTiming> = {};
  /** The user's expression controls (setExpressionControls); sent with every new animator. */
  let controls: ExpressionControls = { ...DEFAULT_EXPRESSION_CONTROLS };
  const counts = { framesIn: 0, framesOut: 0, withoutFace: 0, severalFaces: 0 };
  let warp = 'unknown';
  let fused = false;
  /** Frames in flight, oldest first: each is tracked by its own tracker, rendered in order. */
  let inFlight: Promise<Frame>[] = [];
  let lastRender: Promise<unknown> = Promise.resolve();
  let nextTracker = 0;
  /** Output buffers given back by recycle(), sent to the renderer to draw the next frames into. */
  const spares: ArrayBuffer[] = [];

  function process(frame: Frame): Promise<Frame> {
    const tracked = trackers[nextTracker++ % trackers.length].track(frame);
    const previousRender = lastRender;
    const result = (async (): Promise<Frame> => {
      const t = await tracked;
      addTiming(stages, 'track', t.trackMs);
      if (!t.face) counts.withoutFace++;
      if (t.faceCount > 1) counts.severalFaces++;
      // The animator is stateful (smoothing, easing): frames are rendered in their order.
      await previousRender.catch(() => undefined);
      const landmarks = t.face ? t.face.landmarks : null;
      // The driver's open mouth goes with its landmarks (a few KB): the interior shows its own.
      const mouth = landmarks ? cropDriverMouth(frame, landmarks) : null;
      const buffer = spares.pop();
      const transfer: ArrayBuffer[] = buffer ? [buffer] : [];
      if (mouth) transfer.push(mouth.data.buffer as ArrayBuffer);
      const rendered = (await renderer.call({ type: 'frame', frame: { landmarks, index: frame.index, captureUs: frame.captureUs, mouth }, buffer }, { transfer })) as RenderedFrame;
      addTiming(stages, 'render', rendered.renderMs);
      counts.framesOut++;
      return { data: rendered.data, width: size, height: size, index: rendered.index, captureUs: rendered.captureUs, warmup: false };
    })();
    lastRender = result;
    result.catch(() => undefined);
    return result;
  }

  async function drain(): Promise<void> {
    const pending = inFlight;
    inFlight = [];
    await Promise.allSettled(pending);
  }

  /** A tracker of its own for reference images, started at the first live swap. */
  let referenceTracker: Promise<HumanTracker> | null = null;
  /**
   * A second render worker that builds the next reference's animator (mesh, warp tables:
   * 20-110 ms here) while the current one keeps rendering; activation swaps the two, so the
   * switch costs the stream nothing.
   */
  let standbyRenderer: WorkerClient<RenderBody, RenderResult> | null = null;
  interface PreparedReference { square: RgbImage; landmarks: Float32Array; renderer: WorkerClient<RenderBody, RenderResult>; warp: string }

  async function trackReference(square: RgbImage, using: HumanTracker): Promise<Float32Array> {
    const tracked = await using.track(square);
    if (!tracked.face) {
      throw new PersonaLiveError('NO_FACE', 'no face was found in the reference image: use a portrait with the face clearly visible, facing the camera', {});
    }
    return Float32Array.from(tracked.face.landmarks);
  }

  async function useReference(prepared: { square: RgbImage; landmarks: Float32Array }): Promise<void> {
    const stats = (await renderer.call({ type: 'reference', image: prepared.square, landmarks: prepared.landmarks, depthScale: options.depthScale, verticalDepthScale: options.verticalDepthScale, smoothing: options.smoothing, controls })) as RenderWorkerStats;
    warp = stats.warp;
    fused = true;
  }

  const generator: MeshwarpGenerator = {
    name: 'meshwarp',
    outputSize: { width: size, height: size },

    async fuseReference(image: RgbImage) {
      const square = await fitSquare(image, size);
      await drain();
      const landmarks = await trackReference(square, tracker);
      // A new reference: drain the old stream first so frames keep their order.
      await drain();
      await useReference({ square, landmarks });
    },

    async prepareReference(image: RgbImage) {
      // The driving trackers keep working: the reference gets its own (image-mode) tracker at
      // nice 10 (the live trackers keep the CPU), and its animator is built in the standby
      // render worker.
      referenceTracker ??= createHumanTracker({ mode: 'image', niceness: 10, engine: options.trackerEngine });
      const square = await fitSquare(image, size);
      const landmarks = await trackReference(square, await referenceTracker);
      const target = (standbyRenderer ??= createWorkerClient<RenderBody, RenderResult>(startWorker(import.meta.url, 'render-worker'), { ...RENDERER, label: 'meshwarp renderer (standby)' }));
      const stats = (await target.call({ type: 'reference', image: square, landmarks, depthScale: options.depthScale, verticalDepthScale: options.verticalDepthScale, smoothing: options.smoothing, controls })) as RenderWorkerStats;
      // One throw-away frame so the switch does not pay the new animator's first-render
      // cost (JIT, warp tables); reset() then restores the state a new animator starts with.
      await target.call({ type: 'frame', frame: { landmarks, index: -1, captureUs: 0 } });
      await target.call({ type: 'reset' });
      return { square, landmarks, renderer: target, warp: stats.warp } satisfies PreparedReference;
    },

    async activateReference(prepared: unknown) {
      // Frames whose render has not been requested yet go to the new renderer, in order: the
      // switch falls between two frames. The old renderer becomes the standby.
      const next = prepared as PreparedReference;
      if (next.renderer !== standbyRenderer) throw new PersonaLiveError('ENGINE_FAILED', 'this prepared reference was superseded by a newer one; prepare it again');
      standbyRenderer = renderer;
      renderer = next.renderer;
      await renderer.call({ type: 'controls', controls }); // changed while it was prepared
      warp = next.warp;
      fused = true;
    },

    async push(frame: Frame) {
      if (!fused) throw new PersonaLiveError('NO_REFERENCE', 'push() before a reference was fused: call fuseReference() first');
      counts.framesIn++;
      // Start this frame now: its tracking overlaps the tracking and rendering of the frames
      // before it. Once as many frames are in flight as there are trackers, the oldest is
      // awaited and returned (with one tracker: this very frame), so push() paces the caller.
      inFlight.push(process(frame));
      return inFlight.length >= trackers.length ? [await inFlight.shift()!] : [];
    },

    recycle(frame: Frame) {
      const buffer = frame.data.buffer;
      // Only whole buffers of this size that are still ours (not detached, not queued twice).
      if (!(buffer instanceof ArrayBuffer) || buffer.byteLength !== size * size * 3 || frame.data.byteOffset !== 0) return;
      if (spares.length < MAX_SPARE_BUFFERS && !spares.includes(buffer)) spares.push(buffer);
    },

    async flush() {
      const pending = inFlight;
      inFlight = [];
      const out: Frame[] = [];
      for (const p of pending) out.push(await p);
      return out;
    },

    async setExpressionControls(next: ExpressionControls) {
      controls = { ...next };
      // In order with the frames: the next render follows them. A prepared standby animator gets them at activation.
      await renderer.call({ type: 'controls', controls });
    },

    async calibrate() {
      await renderer.call({ type: 'calibrate' });
    },

    async reset() {
      await drain();
      // A new stream: the trackers forget the followed face region, the animator its anchor.
      await Promise.all(trackers.map((t) => t.resetStream()));
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
        tracker: `${tracker.backend} x${trackers.length}`,
        warp,
      };
    },

    async close() {
      await drain();
      const extra = [...(referenceTracker ? [referenceTracker.then((t) => t.close())] : []), ...(standbyRenderer ? [standbyRenderer.terminate()] : [])];
      await Promise.allSettled([renderer.terminate(), ...trackers.map((t) => t.close()), ...extra]);
    },
  };
  return generator;
}
