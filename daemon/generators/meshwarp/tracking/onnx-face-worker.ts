/**
 * The face tracker worker on ONNX Runtime (the default engine; see human-tracker.ts for the
 * contract, face-pipeline.ts for the maths). It reads the BlazeFace, FaceMesh and Iris models
 * that @vladmandic/human ships, converts them to ONNX in memory (tfjs-to-onnx.ts) and runs
 * them on ONNX Runtime's CPU provider, one thread per model (the generator's other threads
 * need the other cores).
 *
 * Per image: the detector runs (every image in 'image' mode; in 'video' mode only to find the
 * face, when the mesh loses it, and every VIDEO_DETECTOR_REUSE frames or milliseconds to count
 * faces), then the mesh on the chosen face's region, then the iris model on both eyes in one
 * batch. Image mode then reads the chosen face once more from the region its mesh gives. In
 * 'video' mode the region follows the mesh with hysteresis (face-pipeline.followRegion).
 */
import { PersonaLiveError } from '../../../errors.js';
import { openGraph, type GraphSession } from '../../../ort/onnx-runtime.js';
import { LANDMARK_COUNT } from './types.js';
import { MODELS, checkModelFiles, defaultModelDir, readGraphModel, type ModelName } from './model-files.js';
import { convertTfjsGraph } from './tfjs-to-onnx.js';
import { serveTrackerWorker } from './tracker-worker.js';
import {
  DETECTOR_SIZE,
  IRIS_OUTPUT_VALUES,
  IRIS_SIZE,
  MESH_SIZE,
  applyIris,
  decodeDetections,
  detectorSquare,
  eyeCrop,
  followRegion,
  headAngles,
  irisContourPolicy,
  meshToImage,
  regionFromMesh,
  sampleRegion,
  sortDetectorOutputs,
  type Region,
} from './face-pipeline.js';
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

interface Model {
  session: GraphSession;
  input: string;
}

let models: Record<ModelName, Model> | null = null;
let settings: TrackerWorkerInit | null = null;
let backend = '';
let frames = 0;

/** Video mode: the region the mesh reads next, and when the detector last ran. */
let region: Region | null = null;
let framesSinceDetection = 0;
let lastDetectionAt = 0;
let lastFaceCount = 0;

// Input tensors, allocated once.
const detectorInput = new Float32Array(DETECTOR_SIZE * DETECTOR_SIZE * 3);
const meshInput = new Float32Array(MESH_SIZE * MESH_SIZE * 3);
const irisInput = new Float32Array(2 * IRIS_SIZE * IRIS_SIZE * 3);

async function init(options: TrackerWorkerInit): Promise<TrackerReady> {
  const modelDir = options.modelDir ?? defaultModelDir();
  checkModelFiles(modelDir);
  const opened: Partial<Record<ModelName, Model>> = {};
  for (const name of MODELS) {
    const { graph, shards, path } = readGraphModel(modelDir, name);
    let converted;
    try {
      converted = convertTfjsGraph(name, graph, shards);
    } catch (error) {
      throw new PersonaLiveError('TRACKER_MODELS_MISSING', `face tracker model "${path}" could not be converted for ONNX Runtime: ${(error as Error).message}`, { path, modelDir }, { cause: error });
    }
    try {
      const session = await openGraph(name, path, 'cpu', { threads: 1, bytes: converted.bytes });
      opened[name] = { session, input: converted.input };
    } catch (error) {
      throw new PersonaLiveError('TRACKER_FAILED', `the face tracker could not start ONNX Runtime for "${path}": ${(error as Error).message}`, { path }, { cause: error });
    }
  }
  models = opened as Record<ModelName, Model>;
  settings = options;
  backend = 'onnxruntime cpu (1 thread per model; MediaPipe blazeface/facemesh/iris from @vladmandic/human)';
  return { backend, modelDir };
}

async function run(model: Model, data: Float32Array, dims: number[]): Promise<Float32Array[]> {
  const outputs = await model.session.run({ [model.input]: { data, dims } });
  return model.session.outputs.map((o) => outputs[o.name].data as Float32Array);
}

/** Runs the detector; returns the mesh regions of the faces found, strongest first. */
async function detect(rgb: Uint8Array, width: number, height: number): Promise<Region[]> {
  const { blazeface } = models!;
  const square = detectorSquare(width, height);
  sampleRegion(rgb, width, height, square, DETECTOR_SIZE, 1 / 127.5, -1, detectorInput);
  const raw = sortDetectorOutputs(await run(blazeface, detectorInput, [1, DETECTOR_SIZE, DETECTOR_SIZE, 3]));
  const found = decodeDetections(raw, square, settings!.minConfidence, settings!.maxFaces);
  return found.map((d) => d.box);
}

interface MeshResult {
  landmarks: Float32Array;
  /** The mesh model's face confidence. */
  score: number;
}

/** Runs the mesh (and iris) on one region; null when the mesh model says it is not a face. */
async function meshAt(rgb: Uint8Array, width: number, height: number, box: Region): Promise<MeshResult | null> {
  const { facemesh, iris } = models!;
  sampleRegion(rgb, width, height, box, MESH_SIZE, 1 / 255, 0, meshInput);
  const outputs = await run(facemesh, meshInput, [1, MESH_SIZE, MESH_SIZE, 3]);
  const mesh = outputs.find((o) => o.length === 1404);
  const flag = outputs.find((o) => o.length === 1);
  if (!mesh || !flag) throw new PersonaLiveError('TRACKER_FAILED', `the face mesh model returned outputs of sizes ${outputs.map((o) => o.length).join(', ')}; expected 1404 and 1`);
  if (!(flag[0] >= settings!.minConfidence)) return null;
  const landmarks = new Float32Array(LANDMARK_COUNT * 3);
  meshToImage(mesh, box, landmarks);

  const left = eyeCrop(landmarks, 'left');
  const right = eyeCrop(landmarks, 'right');
  const eyeValues = IRIS_SIZE * IRIS_SIZE * 3;
  sampleRegion(rgb, width, height, left.box, IRIS_SIZE, 1 / 255, 0, irisInput, 0, left.mirror);
  sampleRegion(rgb, width, height, right.box, IRIS_SIZE, 1 / 255, 0, irisInput, eyeValues, right.mirror);
  const [eyes] = await run(iris, irisInput, [2, IRIS_SIZE, IRIS_SIZE, 3]);
  if (!eyes || eyes.length !== 2 * IRIS_OUTPUT_VALUES) throw new PersonaLiveError('TRACKER_FAILED', `the iris model returned ${eyes?.length ?? 0} values; expected ${2 * IRIS_OUTPUT_VALUES}`);
  const policy = irisContourPolicy(landmarks, box.side);
  applyIris(landmarks, eyes, 0, 'left', left, policy.left);
  applyIris(landmarks, eyes, IRIS_OUTPUT_VALUES, 'right', right, policy.right);
  return { landmarks, score: flag[0] };
}

function observation({ landmarks, score }: MeshResult, width: number, height: number): HumanFaceObservation {
  return { landmarks, box: meshBox(landmarks, width, height), score, rotation: headAngles(landmarks) };
}

/** Image mode: detect, mesh every face found, pick one, read its mesh again from the mesh's own region. */
async function trackImage(rgb: Uint8Array, width: number, height: number): Promise<{ face: HumanFaceObservation | null; faceCount: number }> {
  const regions = await detect(rgb, width, height);
  const faces: MeshResult[] = [];
  for (const box of regions) {
    const found = await meshAt(rgb, width, height, box);
    if (found) faces.push(found);
  }
  const chosen = pickFace(
    faces.map((f) => meshBox(f.landmarks, width, height)),
    width,
    height,
  );
  if (chosen < 0) return { face: null, faceCount: faces.length };
  // The mesh read once more from the region its own landmarks give (the region video mode
  // follows): the detector's box is coarse and jitters from image to image, and the mesh
  // model expects the framing a mesh gives. Measured on the demo video: the yaw that image
  // mode reads agrees better with video mode (correlation 0.947 -> 0.956) and the eval's
  // output-vs-driver yaw correlation rises 0.866 -> 0.907 (portrait-3).
  const refined = await meshAt(rgb, width, height, regionFromMesh(faces[chosen].landmarks));
  return { face: observation(refined ?? faces[chosen], width, height), faceCount: faces.length };
}

/** Video mode: follow the face's region; detect only when needed. */
async function trackVideo(rgb: Uint8Array, width: number, height: number): Promise<{ face: HumanFaceObservation | null; faceCount: number }> {
  const now = performance.now();
  const detectionDue = framesSinceDetection >= VIDEO_DETECTOR_REUSE.skipFrames || now - lastDetectionAt >= VIDEO_DETECTOR_REUSE.skipTimeMs;
  let found: MeshResult | null = null;
  if (region) found = await meshAt(rgb, width, height, region);
  if (!found || detectionDue) {
    // Re-detection counts the faces; it moves the tracked region only when the mesh lost it.
    const regions = await detect(rgb, width, height);
    framesSinceDetection = 0;
    lastDetectionAt = now;
    lastFaceCount = regions.length;
    if (!found) {
      const boxes = regions.map((b): [number, number, number, number] => [b.cx - b.side / 2, b.cy - b.side / 2, b.side, b.side]);
      const chosen = pickFace(boxes, width, height);
      if (chosen >= 0) found = await meshAt(rgb, width, height, regions[chosen]);
      region = null;
    }
  } else {
    framesSinceDetection++;
  }
  if (!found) {
    region = null;
    return { face: null, faceCount: 0 };
  }
  const wanted = regionFromMesh(found.landmarks);
  region = region ? followRegion(region, wanted) : wanted;
  return { face: observation(found, width, height), faceCount: Math.max(1, lastFaceCount) };
}

async function track(data: Uint8Array, width: number, height: number): Promise<WorkerTrackResult> {
  if (!models || !settings) throw new PersonaLiveError('INTERNAL', 'face tracker worker used before init');
  const t0 = performance.now();
  const result = settings.mode === 'video' ? await trackVideo(data, width, height) : await trackImage(data, width, height);
  frames++;
  return { face: result.face, faceCount: result.faceCount, trackMs: performance.now() - t0, returned: data.buffer as ArrayBuffer };
}

function stats(): TrackerStats {
  // ONNX Runtime holds no tensors between images: inputs are this worker's reused arrays.
  return { numTensors: 0, numBytes: 0, frames, backend, mode: settings?.mode ?? 'image' };
}

serveTrackerWorker({
  init,
  track,
  stats,
  resetStream() {
    region = null;
    framesSinceDetection = 0;
  },
  async close() {
    if (models) await Promise.all(Object.values(models).map((m) => m.session.release()));
    models = null;
  },
});
