/**
 * bench:meshwarp-render — the CPU generator's renderer per 512x512 frame: vertex placement,
 * the triangle warp (TypeScript reference and native kernel, back-to-front with depth) and
 * the mouth interior, on a moving synthetic face (rotation, translation, scale, mouth opening;
 * test/fixtures/synthetic-face.ts). Each stage is timed separately per frame; the figures are
 * min / median / p95 over the frames, and the native warp is also given as a ratio to the
 * TypeScript warp measured in the same process. Heap growth over the timed loop shows that
 * nothing is allocated per frame.
 *
 *   npx tsx bench/meshwarp-render.ts            (BENCH_FRAMES=300 by default)
 *
 * Last line: one JSON object with the figures.
 */
import { performance } from 'node:perf_hooks';
import { fillMouthInterior } from '../daemon/generators/meshwarp/mouth.js';
import { buildWarpTopology, placeDepths, placeVertices } from '../daemon/generators/meshwarp/topology.js';
import { MeshWarper, loadWarpAddon } from '../daemon/generators/meshwarp/warp.js';
import { moveFace, smoothImage, syntheticFace } from '../test/fixtures/synthetic-face.js';
import { stat, type Stat } from './stats.js';

const FRAMES = Number(process.env.BENCH_FRAMES ?? 300);
const WARMUP = 20;
const SIZE = 512;

const reference = smoothImage(SIZE, SIZE);
const referenceLandmarks = syntheticFace();
const t0 = performance.now();
const topology = buildWarpTopology(referenceLandmarks, SIZE, SIZE);
const buildMs = performance.now() - t0;
const mouthLevels = Array.from({ length: 16 }, (_, k) => syntheticFace({ mouthOpen: 2 * k }));

const ts = new MeshWarper(reference, SIZE, SIZE, { implementation: 'typescript' });
const native = new MeshWarper(reference, SIZE, SIZE, { implementation: 'native' });
if (native.implementation !== 'native') process.stderr.write(`native warp kernel unavailable: ${loadWarpAddon().error}\n`);

const landmarks = new Float32Array(478 * 3);
const vertices = new Float32Array(2 * topology.vertexCount);
const depth = new Float32Array(topology.vertexCount);
const outTs = new Uint8Array(SIZE * SIZE * 3);
const outNative = new Uint8Array(SIZE * SIZE * 3);
const motion = { angle: 0, scale: 1, tx: 0, ty: 0 };

const times = { place: [] as number[], warpTs: [] as number[], warpNative: [] as number[], mouth: [] as number[], frame: [] as number[] };
let mismatchedFrames = 0;
let folded = 0;
let heapBefore = 0;
for (let f = -WARMUP; f < FRAMES; f++) {
  if (f === 0) heapBefore = process.memoryUsage().heapUsed;
  const t = f / 30;
  motion.angle = 0.18 * Math.sin(t * 1.3);
  motion.scale = 1 + 0.06 * Math.sin(t * 0.7);
  motion.tx = 18 * Math.sin(t * 0.9);
  motion.ty = 10 * Math.cos(t * 1.1);
  const open = mouthLevels[Math.round(7.5 + 7.5 * Math.sin(t * 2.1))];
  moveFace(open, landmarks, motion);

  const a = performance.now();
  placeVertices(topology, landmarks, vertices);
  placeDepths(topology, landmarks, depth);
  const b = performance.now();
  const drawnTs = ts.render(topology.referenceVertices, vertices, topology.triangles, outTs, depth);
  const c = performance.now();
  native.render(topology.referenceVertices, vertices, topology.triangles, outNative, depth);
  const d = performance.now();
  fillMouthInterior(outNative, SIZE, SIZE, landmarks, referenceLandmarks);
  const e = performance.now();
  if (f < 0) continue;
  fillMouthInterior(outTs, SIZE, SIZE, landmarks, referenceLandmarks);
  if (Buffer.compare(outTs, outNative) !== 0) mismatchedFrames++;
  folded += topology.triangles.length / 3 - drawnTs;
  times.place.push(b - a);
  times.warpTs.push(c - b);
  times.warpNative.push(d - c);
  times.mouth.push(e - d);
  times.frame.push(b - a + (d - c) + (e - d));
}
const heapDeltaPerFrame = Math.round((process.memoryUsage().heapUsed - heapBefore) / FRAMES);

const result = {
  frames: FRAMES,
  size: SIZE,
  vertices: topology.vertexCount,
  triangles: topology.triangles.length / 3,
  buildTopologyMs: +buildMs.toFixed(1),
  nativeImplementation: native.implementation,
  placeMs: stat(times.place),
  warpTypescriptMs: stat(times.warpTs),
  warpNativeMs: stat(times.warpNative),
  nativeOverTypescriptMedian: +(stat(times.warpNative).median / stat(times.warpTs).median).toFixed(3),
  mouthMs: stat(times.mouth),
  frameNativeMs: stat(times.frame),
  foldedTrianglesPerFrame: +(folded / FRAMES).toFixed(1),
  nativeTypescriptMismatchedFrames: mismatchedFrames,
  heapDeltaBytesPerFrame: heapDeltaPerFrame,
};

const row = (name: string, s: Stat): string => `${name.padEnd(28)} min ${s.min.toFixed(3)}  median ${s.median.toFixed(3)}  p95 ${s.p95.toFixed(3)} ms`;
console.log(`meshwarp render, ${SIZE}x${SIZE}, ${FRAMES} frames, ${result.vertices} vertices, ${result.triangles} triangles (topology built in ${result.buildTopologyMs} ms)`);
console.log(row('placeVertices+placeDepths', result.placeMs));
console.log(row('warp typescript', result.warpTypescriptMs));
console.log(row(`warp ${native.implementation}`, result.warpNativeMs));
console.log(row('mouth fill', result.mouthMs));
console.log(row('frame (place+native+mouth)', result.frameNativeMs));
console.log(`native / typescript warp (median): ${result.nativeOverTypescriptMedian}; frames where they differ: ${mismatchedFrames}; folded triangles per frame: ${result.foldedTrianglesPerFrame}; heap growth per frame: ${heapDeltaPerFrame} B`);
console.log(JSON.stringify(result));
