/**
 * The face tracker worker: owns Human and its tfjs-wasm backend (see human-tracker.ts for the
 * contract). Requests are answered strictly in order.
 *
 * Three workarounds make Human run offline on plain Node:
 * - Human's package "exports" map only lets Node resolve its tfjs-node build, which needs
 *   @tensorflow/tfjs-node (a native download at install time). Its wasm build,
 *   dist/human.node-wasm.js, is loaded by file path from the package folder instead
 *   (https://github.com/vladmandic/human/issues/301).
 * - Node's fetch refuses file: URLs (https://github.com/nodejs/undici/issues/3741), and
 *   tfjs-wasm has no file:// model loader. Models are given an http URL on the reserved
 *   .invalid domain, and this worker's fetch serves exactly those URLs from the model
 *   folder and refuses every other URL, so nothing here can reach the network.
 * - The wasm binaries are read from the installed @tensorflow/tfjs-backend-wasm (wasmPath,
 *   no platform fetch), and Human's warm-up (which wants a canvas or tfjs-node) is off.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { serveTrackerWorker } from './tracker-worker.js';
import type { Config, FaceResult, Human } from '@vladmandic/human';
import { PersonaLiveError } from '../../../errors.js';
import { LANDMARK_COUNT } from './types.js';
import { MODELS, checkModelFiles, humanPackageDir } from './model-files.js';
import {
  VIDEO_DETECTOR_REUSE,
  meshBox,
  pickFace,
  type HumanFaceObservation,
  type TrackerReady,
  type TrackerStats,
  type TrackerWorkerInit,
  type WorkerTrackResult,
} from './human-tracker.js';

const MODEL_URL_BASE = 'http://personalive-tracker-models.invalid/';

/** The slice of the tfjs API used here (Human exposes tfjs as `human.tf`, typed any). */
interface Tfjs {
  tensor3d(values: Float32Array, shape: [number, number, number], dtype: 'float32'): object;
  dispose(tensor: object): void;
  memory(): { numTensors: number; numBytes: number };
  getBackend(): string;
  env(): { getAsync(flag: string): Promise<unknown> };
  getThreadsCount?: () => number;
  version_core?: string;
}
type HumanModule = { Human: new (config: Partial<Config>) => Human };

let human: Human | null = null;
let tf: Tfjs | null = null;
let backend = '';
let mode: TrackerWorkerInit['mode'] = 'image';
let frames = 0;
/** Mesh model input side (192): the mesh's z comes in those units. */
let meshInputSize = 192;
/** Float pixels for the input tensor, reused while the image size stays the same. */
let scratch = new Float32Array(0);

// Human reports load and run problems with console.log; keep the last lines for messages.
const humanLog: string[] = [];
console.log = (...args: unknown[]): void => {
  humanLog.push(args.map((a) => (typeof a === 'string' ? a : safeString(a))).join(' '));
  if (humanLog.length > 20) humanLog.shift();
};

function safeString(value: unknown): string {
  if (value instanceof Error) return value.message;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function lastHumanLines(): string {
  return humanLog.length ? ` Human said: ${humanLog.slice(-3).join(' | ')}` : '';
}

/** Folders of the installed packages, resolved the way Node would from here. */
function locatePackages(): { humanFile: string; humanDir: string; wasmDir: string } {
  const humanDir = humanPackageDir();
  const humanFile = join(humanDir, 'dist', 'human.node-wasm.js');
  if (!existsSync(humanFile)) {
    throw new PersonaLiveError('TRACKER_MODELS_MISSING', `the face tracker's wasm build "${humanFile}" is missing; reinstall @vladmandic/human (npm ci).`, { path: humanFile });
  }
  let wasmDir: string;
  try {
    wasmDir = dirname(createRequire(humanFile).resolve('@tensorflow/tfjs-backend-wasm'));
  } catch (error) {
    throw new PersonaLiveError('TRACKER_MODELS_MISSING', 'the face tracker needs @tensorflow/tfjs-backend-wasm, which is not installed; run npm ci.', {}, { cause: error });
  }
  return { humanFile, humanDir, wasmDir };
}

/** Serves MODEL_URL_BASE/<file> from modelDir; refuses every other URL. */
function installModelFetch(modelDir: string): void {
  globalThis.fetch = async (input: string | URL | Request): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(MODEL_URL_BASE)) throw new Error(`the face tracker worker makes no network requests (refused ${url})`);
    const name = decodeURIComponent(url.slice(MODEL_URL_BASE.length));
    if (name.includes('/') || name.includes('\\') || name.startsWith('.')) return new Response(null, { status: 404 });
    try {
      const bytes = await readFile(join(modelDir, name));
      const type = name.endsWith('.json') ? 'application/json' : 'application/octet-stream';
      return new Response(bytes, { status: 200, headers: { 'content-type': type } });
    } catch {
      return new Response(null, { status: 404, statusText: `not found: ${join(modelDir, name)}` });
    }
  };
}

async function init(options: TrackerWorkerInit): Promise<TrackerReady> {
  const { humanFile, humanDir, wasmDir } = locatePackages();
  const modelDir = options.modelDir ?? join(humanDir, 'models');
  meshInputSize = checkModelFiles(modelDir).meshInputSize;
  installModelFetch(modelDir);
  mode = options.mode;

  const { Human: HumanClass } = createRequire(import.meta.url)(humanFile) as HumanModule;
  const video = mode === 'video';
  const config: Partial<Config> = {
    backend: 'wasm',
    wasmPath: `${wasmDir}/`,
    wasmPlatformFetch: false,
    warmup: 'none',
    modelBasePath: MODEL_URL_BASE,
    cacheModels: false,
    validateModels: false,
    debug: false,
    async: false,
    // Image mode: 0 turns Human's frame-difference check off, so nothing carries over.
    cacheSensitivity: video ? VIDEO_DETECTOR_REUSE.cacheSensitivity : 0,
    filter: { enabled: false },
    gesture: { enabled: false },
    face: {
      enabled: true,
      detector: {
        rotation: false,
        maxDetected: options.maxFaces,
        minConfidence: options.minConfidence,
        skipFrames: video ? VIDEO_DETECTOR_REUSE.skipFrames : 0,
        skipTime: video ? VIDEO_DETECTOR_REUSE.skipTimeMs : 0,
        return: false,
      },
      mesh: { enabled: true, keepInvalid: false },
      iris: { enabled: true },
      attention: { enabled: false },
      emotion: { enabled: false },
      description: { enabled: false },
      antispoof: { enabled: false },
      liveness: { enabled: false },
      gear: { enabled: false },
    },
    body: { enabled: false },
    hand: { enabled: false },
    object: { enabled: false },
    segmentation: { enabled: false },
  };
  const instance = new HumanClass(config);
  try {
    await instance.load();
  } catch (error) {
    throw new PersonaLiveError('TRACKER_FAILED', `the face tracker could not start: ${(error as Error).message}.${lastHumanLines()}`, {}, { cause: error });
  }
  const stats = instance.models.stats().modelStats;
  for (const name of MODELS) {
    if (!stats.find((m) => m.name === name)?.loaded) {
      const path = join(modelDir, `${name}.json`);
      throw new PersonaLiveError('TRACKER_MODELS_MISSING', `face tracker model "${path}" could not be loaded (corrupt or wrong format?).${lastHumanLines()}`, {
        path,
        modelDir,
      });
    }
  }
  const tfjs = instance.tf as Tfjs;
  if (tfjs.getBackend() !== 'wasm') {
    throw new PersonaLiveError('TRACKER_FAILED', `the face tracker's tfjs wasm backend did not start (running: ${tfjs.getBackend()}).${lastHumanLines()}`);
  }
  const simd = (await tfjs.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
  const threaded = (await tfjs.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) === true;
  const threads = threaded ? (tfjs.getThreadsCount?.() ?? 0) : 1;
  // tfjs picks tfjs-backend-wasm-threaded-simd.wasm, -simd.wasm or plain .wasm from these flags.
  const flavour = `${simd ? 'simd' : 'no simd'}, ${threaded ? `${threads} threads` : 'single-threaded'}`;
  backend = `human ${instance.version}/tfjs-wasm ${tfjs.version_core ?? ''} (${flavour})`.replace(/ +\(/, ' (');
  human = instance;
  tf = tfjs;
  return { backend, modelDir };
}

function requireHuman(): { human: Human; tf: Tfjs } {
  if (!human || !tf) throw new PersonaLiveError('INTERNAL', 'face tracker worker used before init');
  return { human, tf };
}

async function track(data: Uint8Array, width: number, height: number): Promise<WorkerTrackResult> {
  const { human, tf } = requireHuman();
  const t0 = performance.now();
  const n = width * height * 3;
  if (scratch.length !== n) scratch = new Float32Array(n);
  for (let i = 0; i < n; i++) scratch[i] = data[i];
  // tfjs-wasm copies the values into wasm memory here, so `scratch` can be reused at once.
  const input = tf.tensor3d(scratch, [height, width, 3], 'float32');
  let faces: FaceResult[];
  try {
    const result = await human.detect(input as Parameters<Human['detect']>[0]);
    if (result.error) throw new Error(String(result.error));
    faces = result.face.filter((f) => f.mesh.length >= LANDMARK_COUNT);
  } finally {
    tf.dispose(input);
  }

  const landmarks = faces.map((f) => toLandmarks(f, width));
  const boxes = landmarks.map((l) => meshBox(l, width, height));
  const chosen = pickFace(boxes, width, height);
  let face: HumanFaceObservation | null = null;
  if (chosen >= 0) {
    const f = faces[chosen];
    const rotation = f.rotation
      ? { roll: f.rotation.angle.roll, yaw: f.rotation.angle.yaw, pitch: f.rotation.angle.pitch, matrix: [...f.rotation.matrix] }
      : null;
    face = { landmarks: landmarks[chosen], box: boxes[chosen], score: f.score, rotation };
  }
  frames++;
  return { face, faceCount: faces.length, trackMs: performance.now() - t0, returned: data.buffer as ArrayBuffer };
}

/**
 * Human's mesh as LANDMARK_COUNT x 3 floats. x, y are image pixels; Human leaves z in the
 * mesh model's input units (a 192-pixel crop), so it is scaled by crop side / 192 to match.
 */
function toLandmarks(face: FaceResult, imageWidth: number): Float32Array {
  const out = new Float32Array(LANDMARK_COUNT * 3);
  const zScale = (face.boxRaw[2] * imageWidth) / meshInputSize;
  for (let i = 0; i < LANDMARK_COUNT; i++) {
    const p = face.mesh[i];
    out[i * 3] = p[0];
    out[i * 3 + 1] = p[1];
    out[i * 3 + 2] = (p[2] ?? 0) * zScale;
  }
  return out;
}

function stats(): TrackerStats {
  const { tf } = requireHuman();
  const memory = tf.memory();
  return { numTensors: memory.numTensors, numBytes: memory.numBytes, frames, backend, mode };
}

serveTrackerWorker({
  init,
  track,
  stats,
  close() {
    human = null;
    tf = null;
  },
});
