/**
 * The face tracker: MediaPipe BlazeFace + FaceMesh + Iris, the models that @vladmandic/human
 * ships, in a worker thread. This module is the host side; the worker runs one of two
 * engines (TrackerEngine), and the rest of the daemon sees FaceTracker only:
 * - 'onnx' (default): onnx-face-worker.ts converts the three tfjs graph models to ONNX in
 *   memory (tfjs-to-onnx.ts) and runs them on ONNX Runtime's CPU provider with its own
 *   pipeline (face-pipeline.ts).
 * - 'tfjs': human-worker.ts runs Human itself on tfjs-wasm (the reference implementation,
 *   kept as an engine of its own; 2.5-3x slower here).
 *
 * The worker exists because tracking costs tens of milliseconds per frame on one core, which
 * the main thread (control API, frame pacing) must never wait on.
 *
 * Modes:
 * - 'image' (default): stateless. Every image runs the detector, then the mesh and iris
 *   models on each detected face; the result depends on that image only. The onnx engine
 *   then reads the chosen face once more from the region its mesh gives (the framing video
 *   mode follows), steadier than the detector's box. Use it for references, presets and
 *   anything that is not a continuous stream.
 * - 'video': for a live stream of one scene. The mesh reads the region derived from the
 *   previous frame's mesh, which follows the head; the detector runs only when the face is
 *   lost and every VIDEO_DETECTOR_REUSE frames or milliseconds (to count faces); a new face
 *   entering is seen at the next detection (within about a second). The mode for live use.
 *   bench:tracking, 512x512 driving.mp4, one core of the 2-core dev VM: onnx video ~17 ms
 *   median / ~20 ms p95 per frame (image, read twice: ~47 ms); tfjs video ~45 ms / ~90 ms.
 *
 * Choosing a face: among the faces found, the one with the highest priority
 * area x (1 - 0.5 x d), where d is the distance from the face centre to the image centre
 * divided by half the image diagonal (0 at the centre, 1 at a corner). A centred face keeps
 * its full area, one in a corner counts half: a streamer's face is large and central, a
 * face in a poster behind them is small or off-centre.
 */
import type { Worker, WorkerOptions } from 'node:worker_threads';
import { PersonaLiveError } from '../../../errors.js';
import { createWorkerClient } from '../../../util/worker-client.js';
import { startWorker } from '../../../util/worker-url.js';
import { definedOnly } from '../../../util/objects.js';
import type { RgbImage } from '../../../frames.js';
import { meshBounds } from './face-pipeline.js';
import { type FaceObservation, type FaceTracker, type TrackResult } from './types.js';

export type TrackerMode = 'image' | 'video';

/**
 * Which runtime runs the models: 'onnx' (default): converted to ONNX in memory and run by
 * ONNX Runtime's CPU provider (onnx-face-worker.ts, own pipeline in face-pipeline.ts);
 * 'tfjs': Human itself on tfjs-wasm (human-worker.ts). Same models, same result shape;
 * bench:tracking measured onnx ~4x faster per frame on the 2-core dev VM.
 */
export type TrackerEngine = 'onnx' | 'tfjs';
export const TRACKER_ENGINES: readonly TrackerEngine[] = ['onnx', 'tfjs'];

export interface HumanTrackerOptions {
  /** How many faces the detector reports at most (default 4). */
  maxFaces?: number;
  /** Minimum detector and mesh confidence for a face to count, in (0, 1) (default 0.5). */
  minConfidence?: number;
  /** 'image' (stateless, default) or 'video' (reuses the previous frame's face box; see above). */
  mode?: TrackerMode;
  /** 'onnx' (default) or 'tfjs'; see TrackerEngine. */
  engine?: TrackerEngine;
  /** Folder holding blazeface/facemesh/iris .json + .bin; default: the installed @vladmandic/human models. */
  modelDir?: string;
  /** How long the worker may take to start and load the models (default 60 s). */
  startTimeoutMs?: number;
  /** How long a request (an image, queued ones included) may wait for its answer before the tracker is declared hung and stopped (default 15 s). */
  trackTimeoutMs?: number;
  /** Caps on the worker's heaps (Node worker resourceLimits); default: none. */
  resourceLimits?: WorkerOptions['resourceLimits'];
  /**
   * Run the worker thread at this nice value (0-19; Linux sets nice per thread), so
   * background work such as tracking a new reference yields the CPU to the live trackers.
   * Default 0.
   */
  niceness?: number;
}

/** Tracker defaults, in one place. */
export const HUMAN_TRACKER_DEFAULTS = Object.freeze({
  maxFaces: 4,
  minConfidence: 0.5,
  mode: 'image' as TrackerMode,
  engine: 'onnx' as TrackerEngine,
  startTimeoutMs: 60_000,
  trackTimeoutMs: 15_000,
});

/**
 * Video mode: the detector runs again after this many frames or this many milliseconds,
 * whichever comes first, and (both engines) whenever the face is lost. The tfjs engine
 * (Human) also re-detects when the frame differs from the previous one by more than
 * `cacheSensitivity` (Human's measure: mean squared 8-bit difference / 255, so 0.7 is an
 * RMS change of about 13 levels; a talking head stays well below, a cut goes above); the
 * onnx engine needs no such check: a cut makes the mesh lose the face, which re-detects.
 */
export const VIDEO_DETECTOR_REUSE = Object.freeze({ skipFrames: 25, skipTimeMs: 1000, cacheSensitivity: 0.7 });

/** Head pose from the mesh (Human's estimate), radians. */
export interface HeadRotation {
  roll: number;
  yaw: number;
  pitch: number;
  /** Row-major 3x3 rotation matrix. */
  matrix: number[];
}

export interface HumanFaceObservation extends FaceObservation {
  /** The mesh's head pose, or null when Human could not estimate it. */
  rotation: HeadRotation | null;
}

export interface HumanTrackResult extends TrackResult {
  face: HumanFaceObservation | null;
}

export interface TrackerStats {
  /** Live tfjs tensors in the worker (constant from frame to frame when nothing leaks). */
  numTensors: number;
  /** Bytes held by those tensors. */
  numBytes: number;
  /** Images tracked so far. */
  frames: number;
  backend: string;
  mode: TrackerMode;
}

export interface TrackOptions {
  /**
   * Move image.data's buffer to the worker instead of copying it (zero-copy). image.data is
   * detached (length 0) afterwards: only for frames the caller will not read again. Views
   * that do not span their whole ArrayBuffer are copied; so are buffers Node cannot detach
   * (memory owned by a native addon, e.g. sharp's output), and those stay usable.
   */
  transfer?: boolean;
}

export interface HumanTracker extends FaceTracker {
  readonly mode: TrackerMode;
  /**
   * Finds the faces in one RGB24 image and returns the chosen one (see the module comment).
   * No face is not an error: face is null.
   * @throws PersonaLiveError USAGE (pixel data does not match width x height x 3),
   *   TRACKER_FAILED (worker crashed or hung), TRACKER_CLOSED.
   */
  track(image: RgbImage, options?: TrackOptions): Promise<HumanTrackResult>;
  /** Tensor and frame counts from the worker, for leak checks. */
  stats(): Promise<TrackerStats>;
  /**
   * Video mode: forgets the followed face region, so the next image is read as the start of
   * a new stream (detector first). For a new driving source: the old region may sit on
   * something else. Image mode has no state; the tfjs engine lets Human re-detect on its own
   * when the picture changes (its cacheSensitivity), so it has nothing to forget either.
   */
  resetStream(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Worker protocol (shared with human-worker.ts)

export interface TrackerWorkerInit {
  maxFaces: number;
  minConfidence: number;
  mode: TrackerMode;
  modelDir?: string;
  niceness?: number;
}

export interface TrackerReady {
  backend: string;
  modelDir: string;
}

/** What the worker sends back for one image; landmarks and the input buffer are transferred. */
export interface WorkerTrackResult {
  face: HumanFaceObservation | null;
  faceCount: number;
  trackMs: number;
  /** The input pixels' buffer, handed back so the host can reuse it for the next frame. */
  returned: ArrayBuffer;
}

export type TrackerRequest =
  | { id: number; type: 'init'; init: TrackerWorkerInit }
  | { id: number; type: 'track'; data: Uint8Array; width: number; height: number }
  | { id: number; type: 'stats' }
  | { id: number; type: 'reset' }
  | { id: number; type: 'close' };

export type TrackerResult = TrackerReady | WorkerTrackResult | TrackerStats | null;

// ---------------------------------------------------------------------------------------
// Face choice (pure; used by the worker)

/** area x (1 - 0.5 x d), d = centre distance / half diagonal, clamped to [0, 1]. */
export function facePriority(box: readonly [number, number, number, number], width: number, height: number): number {
  const [x, y, w, h] = box;
  const dx = x + w / 2 - width / 2;
  const dy = y + h / 2 - height / 2;
  const d = Math.min(1, Math.hypot(dx, dy) / (Math.hypot(width, height) / 2));
  return Math.max(0, w) * Math.max(0, h) * (1 - 0.5 * d);
}

/** Index of the face with the highest facePriority, or -1 for none. */
export function pickFace(boxes: ReadonlyArray<readonly [number, number, number, number]>, width: number, height: number): number {
  let best = -1;
  let bestPriority = -Infinity;
  for (let i = 0; i < boxes.length; i++) {
    const p = facePriority(boxes[i], width, height);
    if (p > bestPriority) {
      bestPriority = p;
      best = i;
    }
  }
  return best;
}

/** Bounding box [x, y, w, h] of the 468 mesh points (not the iris points), clamped to the image. */
export function meshBox(landmarks: Float32Array, width: number, height: number): [number, number, number, number] {
  const bounds = meshBounds(landmarks);
  const minX = Math.max(0, bounds.minX);
  const minY = Math.max(0, bounds.minY);
  const maxX = Math.min(width, bounds.maxX);
  const maxY = Math.min(height, bounds.maxY);
  return [minX, minY, Math.max(0, maxX - minX), Math.max(0, maxY - minY)];
}

// ---------------------------------------------------------------------------------------
// Host

type RequestBody = TrackerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

function checkOptions(options: HumanTrackerOptions): Required<Omit<HumanTrackerOptions, 'modelDir' | 'resourceLimits' | 'niceness'>> {
  const merged = { ...HUMAN_TRACKER_DEFAULTS, ...definedOnly(options) };
  const bad = (name: string, value: unknown, expected: string): PersonaLiveError =>
    new PersonaLiveError('USAGE', `createHumanTracker: '${name}' must be ${expected}, got ${JSON.stringify(value)}.`, { [name]: value });
  if (!Number.isInteger(merged.maxFaces) || merged.maxFaces < 1 || merged.maxFaces > 32) throw bad('maxFaces', merged.maxFaces, 'an integer from 1 to 32');
  if (!(merged.minConfidence > 0 && merged.minConfidence < 1)) throw bad('minConfidence', merged.minConfidence, 'a number between 0 and 1 (exclusive)');
  if (merged.mode !== 'image' && merged.mode !== 'video') throw bad('mode', merged.mode, "'image' or 'video'");
  if (!TRACKER_ENGINES.includes(merged.engine)) throw bad('engine', merged.engine, "'onnx' or 'tfjs'");
  if (options.niceness !== undefined && !(Number.isInteger(options.niceness) && options.niceness >= 0 && options.niceness <= 19)) throw bad('niceness', options.niceness, 'an integer from 0 to 19');
  for (const name of ['startTimeoutMs', 'trackTimeoutMs'] as const) {
    if (!(Number.isFinite(merged[name]) && merged[name] > 0)) throw bad(name, merged[name], 'a positive number of milliseconds');
  }
  return merged;
}

function assertImage(image: RgbImage): void {
  const { width, height, data } = image ?? {};
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new PersonaLiveError('USAGE', `track: image 'width' and 'height' must be positive integers, got ${width}x${height}.`, { width, height });
  }
  if (!(data instanceof Uint8Array) || data.length !== width * height * 3) {
    const got = data instanceof Uint8Array ? `${data.length} bytes` : typeof data;
    throw new PersonaLiveError('USAGE', `track: image 'data' must hold width x height x 3 = ${width * height * 3} bytes of RGB24, got ${got}.`, {
      width,
      height,
    });
  }
}

/**
 * Starts the tracker worker and loads the models (no network: files are read from disk).
 * @throws PersonaLiveError USAGE (bad option), TRACKER_MODELS_MISSING (a model file is
 *   missing or unreadable; the message names it), TRACKER_FAILED (the wasm backend did not
 *   start, the worker crashed or did not get ready within startTimeoutMs).
 */
export async function createHumanTracker(options: HumanTrackerOptions = {}): Promise<HumanTracker> {
  const settings = checkOptions(options);
  const workerModule = settings.engine === 'tfjs' ? 'human-worker' : 'onnx-face-worker';
  const worker: Worker = startWorker(import.meta.url, workerModule, options.resourceLimits ? { resourceLimits: options.resourceLimits } : {});
  const client = createWorkerClient<RequestBody, TrackerResult>(worker, { label: 'face tracker', failureCode: 'TRACKER_FAILED', closedCode: 'TRACKER_CLOSED', timeoutMs: settings.trackTimeoutMs });
  /** A buffer the worker handed back, reused for the next copied frame of the same size. */
  let spare: ArrayBuffer | null = null;
  const call = (body: RequestBody, transfer: ArrayBuffer[], what: string, timeoutMs?: number): Promise<TrackerResult> => client.call(body, { transfer, what, timeoutMs });

  let ready: TrackerReady;
  try {
    const init: TrackerWorkerInit = { maxFaces: settings.maxFaces, minConfidence: settings.minConfidence, mode: settings.mode, modelDir: options.modelDir, niceness: options.niceness };
    ready = (await call({ type: 'init', init }, [], 'its start-up', settings.startTimeoutMs)) as TrackerReady;
  } catch (error) {
    await client.terminate();
    throw error;
  }

  /** Copies the pixels into a buffer of exactly their size (reusing `spare`), to transfer. */
  const copyFrame = (image: RgbImage): Uint8Array => {
    const bytes = image.data.length;
    const buffer = spare && spare.byteLength === bytes ? spare : new ArrayBuffer(bytes);
    spare = null;
    const view = new Uint8Array(buffer);
    view.set(image.data);
    return view;
  };

  const sendFrame = async (image: RgbImage, transfer: boolean): Promise<WorkerTrackResult> => {
    const body = (data: Uint8Array): RequestBody => ({ type: 'track', data, width: image.width, height: image.height });
    const own = image.data;
    if (transfer && own.buffer instanceof ArrayBuffer && own.byteOffset === 0 && own.byteLength === own.buffer.byteLength) {
      // Node copies instead of moving buffers it cannot detach (e.g. memory owned by sharp).
      return (await call(body(own), [own.buffer], 'an image')) as WorkerTrackResult;
    }
    const view = copyFrame(image);
    return (await call(body(view), [view.buffer as ArrayBuffer], 'an image')) as WorkerTrackResult;
  };

  return {
    backend: ready.backend,
    mode: settings.mode,
    async track(image: RgbImage, trackOptions: TrackOptions = {}): Promise<HumanTrackResult> {
      if (client.closed) throw new PersonaLiveError('TRACKER_CLOSED', 'the face tracker is closed');
      assertImage(image);
      const result = await sendFrame(image, trackOptions.transfer === true);
      spare = result.returned;
      return { face: result.face, faceCount: result.faceCount, trackMs: result.trackMs };
    },
    async stats(): Promise<TrackerStats> {
      return (await call({ type: 'stats' }, [], 'a stats request')) as TrackerStats;
    },
    async resetStream(): Promise<void> {
      if (client.closed) throw new PersonaLiveError('TRACKER_CLOSED', 'the face tracker is closed');
      await call({ type: 'reset' }, [], 'a reset');
    },
    async close(): Promise<void> {
      if (client.closed) return;
      try {
        if (!client.failure) await call({ type: 'close' }, [], 'close');
      } catch {
        // Closing a tracker whose worker already failed is not an error.
      } finally {
        await client.terminate();
      }
    },
  };
}

