/**
 * Post-processing of the LivePortrait motion extractor as PersonaLive uses it: head-pose
 * bins to degrees, rotation, keypoint transfer to the reference identity, the warm-up
 * interpolation, keypoint maps for the pose guider, the face box for the motion encoder
 * and the keyframe distance.
 *
 * Method: shared/design/streaming-generator.md ("Motion: from driving frame to
 * conditions"). Keypoints are 21 implicit 3D points stored as 63 floats, row-major
 * [21, 3] (x, y, z), x and y in [-1, 1] image coordinates (x right, y down).
 *
 * Pixel maths (keypoint positions, face box) follow torch on float32 tensors: values are
 * rounded to float32 (Math.fround) where torch would, and .long() truncates toward zero.
 */
import { PersonaLiveError } from '../../errors.js';
import { halfFromFloat, halfValueTable } from '../../kernels/float16.js';

const HALF_ONE = 0x3c00;

export const HEADPOSE_BINS = 66;
export const NUM_KEYPOINTS = 21;
export const KEYPOINT_FLOATS = NUM_KEYPOINTS * 3;

/**
 * Head-pose angle in degrees from one row of bin logits: softmax over `bins` values
 * starting at logits[offset] (max-subtracted, so any finite logits are safe), expectation
 * over the bin index, then `* 3 - 97.5`. Uniform logits give 0; a dominant bin k gives
 * 3k - 97.5.
 */
export function headposeDegrees(logits: Float32Array, offset: number, bins = HEADPOSE_BINS): number {
  const end = offset + bins;
  if (offset < 0 || end > logits.length) {
    throw new PersonaLiveError('INTERNAL', `'offset' ${offset} + bins ${bins} exceeds logits length ${logits.length}`);
  }
  let max = -Infinity;
  for (let i = offset; i < end; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  let weighted = 0;
  for (let i = offset; i < end; i++) {
    const e = Math.exp(logits[i] - max);
    sum += e;
    weighted += e * (i - offset);
  }
  return (weighted / sum) * 3 - 97.5;
}

const DEG = Math.PI / 180;

/**
 * The LivePortrait rotation R = Rz(roll) @ Ry(yaw) @ Rx(pitch) (angles in degrees) with
 * Rx = [[1,0,0],[0,c,-s],[0,s,c]], Ry = [[c,0,s],[0,1,0],[-s,0,c]],
 * Rz = [[c,-s,0],[s,c,0],[0,0,1]], returned TRANSPOSED as a row-major 3x3 in `out`,
 * because keypoints are row vectors: kp' = kp @ out.
 */
export function rotationMatrix(pitchDeg: number, yawDeg: number, rollDeg: number, out: Float64Array = new Float64Array(9)): Float64Array {
  const x = pitchDeg * DEG;
  const y = yawDeg * DEG;
  const z = rollDeg * DEG;
  const cx = Math.cos(x), sx = Math.sin(x);
  const cy = Math.cos(y), sy = Math.sin(y);
  const cz = Math.cos(z), sz = Math.sin(z);
  // Rows of R = Rz Ry Rx, written into the columns of out.
  out[0] = cz * cy;
  out[3] = cz * sy * sx - sz * cx;
  out[6] = cz * sy * cx + sz * sx;
  out[1] = sz * cy;
  out[4] = sz * sy * sx + cz * cx;
  out[7] = sz * sy * cx - cz * sx;
  out[2] = -sy;
  out[5] = cy * sx;
  out[8] = cy * cx;
  return out;
}

/** One frame's motion-extractor result, angles already in degrees. */
export interface KeypointInfo {
  /** Canonical keypoints, 63 = [21, 3] row-major. */
  kp: Float32Array;
  pitch: number;
  yaw: number;
  roll: number;
  /** Translation (x, y, z); only x and y are applied. */
  t: Float32Array;
  /** Expression deltas, 63 = [21, 3]; carried but not applied (the motion encoder carries expression). */
  exp: Float32Array;
  scale: number;
}

/** A zeroed KeypointInfo, to be filled by the functions taking an `out`. */
export function createKeypointInfo(): KeypointInfo {
  return {
    kp: new Float32Array(KEYPOINT_FLOATS),
    pitch: 0,
    yaw: 0,
    roll: 0,
    t: new Float32Array(3),
    exp: new Float32Array(KEYPOINT_FLOATS),
    scale: 0,
  };
}

/** Copies every field of `src` into `dst` (no allocation). */
export function copyKeypointInfo(src: KeypointInfo, dst: KeypointInfo): KeypointInfo {
  dst.kp.set(src.kp);
  dst.pitch = src.pitch;
  dst.yaw = src.yaw;
  dst.roll = src.roll;
  dst.t.set(src.t);
  dst.exp.set(src.exp);
  dst.scale = src.scale;
  return dst;
}

/** The motion extractor's outputs for a batch of N frames (the ONNX output tensors' data). */
export interface ExtractorOutputs {
  /** [N, 63] */
  kp: Float32Array;
  /** [N, 66] bin logits */
  pitch: Float32Array;
  yaw: Float32Array;
  roll: Float32Array;
  /** [N, 3] */
  t: Float32Array;
  /** [N, 63]; optional: upstream's extractor does not compute it, and the transfer never adds it. */
  exp?: Float32Array;
  /** [N, 1] */
  scale: Float32Array;
}

/**
 * Row `index` of a batch of extractor outputs, angles converted to degrees. Copies into
 * `out` (pass one to avoid allocating).
 * @throws PersonaLiveError INTERNAL when a tensor is too short for `index`.
 */
export function readExtractorOutputs(outputs: ExtractorOutputs, index: number, out: KeypointInfo = createKeypointInfo()): KeypointInfo {
  const kpAt = rowStart(outputs, 'kp', KEYPOINT_FLOATS, index);
  const exp = outputs.exp;
  const expAt = exp ? rowStart(outputs, 'exp', KEYPOINT_FLOATS, index) : 0;
  const tAt = rowStart(outputs, 't', 3, index);
  const sAt = rowStart(outputs, 'scale', 1, index);
  const kp = outputs.kp;
  for (let i = 0; i < KEYPOINT_FLOATS; i++) {
    out.kp[i] = kp[kpAt + i];
    out.exp[i] = exp ? exp[expAt + i] : 0;
  }
  for (let i = 0; i < 3; i++) out.t[i] = outputs.t[tAt + i];
  out.scale = outputs.scale[sAt];
  out.pitch = headposeDegrees(outputs.pitch, rowStart(outputs, 'pitch', HEADPOSE_BINS, index));
  out.yaw = headposeDegrees(outputs.yaw, rowStart(outputs, 'yaw', HEADPOSE_BINS, index));
  out.roll = headposeDegrees(outputs.roll, rowStart(outputs, 'roll', HEADPOSE_BINS, index));
  return out;
}

function rowStart(outputs: ExtractorOutputs, name: keyof ExtractorOutputs, stride: number, index: number): number {
  const arr = outputs[name]!;
  if (!Number.isInteger(index) || index < 0 || (index + 1) * stride > arr.length) {
    throw new PersonaLiveError('INTERNAL', `extractor output '${name}' (length ${arr.length}) has no row ${index} of ${stride}`);
  }
  return index * stride;
}

const rotScratch = new Float64Array(9);

/**
 * Posed keypoints: kp [21,3] @ rotationMatrix(pitch, yaw, roll) (already transposed),
 * times scale, plus t[0], t[1] on x and y (z gets no translation); expression deltas are
 * not added. Writes 63 floats into `out` (which may be info.kp). Allocates nothing.
 */
export function transformKeypoints(info: KeypointInfo, out: Float32Array): Float32Array {
  const r = rotationMatrix(info.pitch, info.yaw, info.roll, rotScratch);
  const kp = info.kp;
  const s = info.scale;
  const tx = info.t[0];
  const ty = info.t[1];
  for (let i = 0; i < KEYPOINT_FLOATS; i += 3) {
    const x = kp[i], y = kp[i + 1], z = kp[i + 2];
    out[i] = (x * r[0] + y * r[3] + z * r[6]) * s + tx;
    out[i + 1] = (x * r[1] + y * r[4] + z * r[7]) * s + ty;
    out[i + 2] = (x * r[2] + y * r[5] + z * r[8]) * s;
  }
  return out;
}

/**
 * The driving pose moved onto the reference identity: kp and exp from `ref`; pitch, yaw,
 * roll from `driving` (absolute); t = (driving.t - firstDriving.t) * translationScale + ref.t;
 * scale = driving.scale * scaleFactor + ref.scale. Copies into `out` (pass one to avoid
 * allocating); `out` may be `driving`.
 */
export function transferToReference(
  ref: KeypointInfo,
  firstDriving: KeypointInfo,
  driving: KeypointInfo,
  translationScale: number,
  scaleFactor: number,
  out: KeypointInfo = createKeypointInfo(),
): KeypointInfo {
  for (let k = 0; k < 3; k++) out.t[k] = (driving.t[k] - firstDriving.t[k]) * translationScale + ref.t[k];
  out.scale = driving.scale * scaleFactor + ref.scale;
  out.pitch = driving.pitch;
  out.yaw = driving.yaw;
  out.roll = driving.roll;
  if (out.kp !== ref.kp) out.kp.set(ref.kp);
  if (out.exp !== ref.exp) out.exp.set(ref.exp);
  return out;
}

/**
 * The warm-up poses of the motion-interpolated initialisation: alphas = linspace(0, 1,
 * count + 1) without the last, value = (1 - alpha) * ref + alpha * firstTransferred for
 * pitch, yaw, roll, t and scale; kp and exp are the reference's. Element 0 equals `ref`'s
 * pose. Called once per session: allocates its result.
 */
export function warmupPoses(ref: KeypointInfo, firstTransferred: KeypointInfo, count = 12): KeypointInfo[] {
  if (!Number.isInteger(count) || count < 1) {
    throw new PersonaLiveError('INTERNAL', `'count' must be a positive integer, got ${count}`);
  }
  const lerp = (a: number, b: number, alpha: number): number => (1 - alpha) * a + alpha * b;
  const poses: KeypointInfo[] = [];
  for (let k = 0; k < count; k++) {
    const alpha = k / count;
    const p = createKeypointInfo();
    p.kp.set(ref.kp);
    p.exp.set(ref.exp);
    p.pitch = lerp(ref.pitch, firstTransferred.pitch, alpha);
    p.yaw = lerp(ref.yaw, firstTransferred.yaw, alpha);
    p.roll = lerp(ref.roll, firstTransferred.roll, alpha);
    for (let j = 0; j < 3; j++) p.t[j] = lerp(ref.t[j], firstTransferred.t[j], alpha);
    p.scale = lerp(ref.scale, firstTransferred.scale, alpha);
    poses.push(p);
  }
  return poses;
}

/**
 * `count` frames interpolated from `a` to `b` (same length n): frame k (k = 0..count-1)
 * is (1 - k/count) * a + (k/count) * b, i.e. linspace(0, 1, count + 1) without the last
 * point; written back to back into `out` (length count * n). Frame 0 equals `a`.
 * @throws PersonaLiveError INTERNAL on a length mismatch.
 */
export function interpolateFrames(a: Float32Array, b: Float32Array, count: number, out: Float32Array): void {
  const n = a.length;
  if (b.length !== n || out.length < count * n) {
    throw new PersonaLiveError('INTERNAL', `'a' (${n}), 'b' (${b.length}) and 'out' (${out.length}) do not fit ${count} frames`);
  }
  for (let k = 0; k < count; k++) {
    const alpha = k / count;
    const beta = 1 - alpha;
    const base = k * n;
    for (let j = 0; j < n; j++) out[base + j] = beta * a[j] + alpha * b[j];
  }
}

/** Keypoints drawn on the pose map and used for the face box (PersonaLive's choice). */
export const KEYPOINT_MAP_INDICES: readonly number[] = Object.freeze([1, 2, 3, 4, 12, 15, 20]);
/** Disc colours per KEYPOINT_MAP_INDICES entry, RGB in [0, 1]. */
export const KEYPOINT_MAP_COLORS: readonly (readonly [number, number, number])[] = Object.freeze([
  [1, 0, 0],
  [1, 1, 0],
  [0, 1, 0],
  [0, 1, 1],
  [0, 0, 1],
  [1, 0, 1],
  [1, 0, 85 / 255],
] as const);
export const KEYPOINT_MAP_RADIUS = 4;

const NUM_MAP_POINTS = KEYPOINT_MAP_INDICES.length;
const MAP_INDEX = Int32Array.from(KEYPOINT_MAP_INDICES);
// Colours as float32 (torch divides float32 colours by 255), channel-major: [c * 7 + k].
const MAP_COLOR = new Float32Array(3 * NUM_MAP_POINTS);
for (let k = 0; k < NUM_MAP_POINTS; k++) for (let c = 0; c < 3; c++) MAP_COLOR[c * NUM_MAP_POINTS + k] = KEYPOINT_MAP_COLORS[k][c];
// DISC_HALF[dy + r] = largest dx with dx^2 + dy^2 <= r^2.
const DISC_HALF = new Int32Array(2 * KEYPOINT_MAP_RADIUS + 1);
for (let dy = -KEYPOINT_MAP_RADIUS; dy <= KEYPOINT_MAP_RADIUS; dy++) {
  let h = 0;
  while ((h + 1) * (h + 1) + dy * dy <= KEYPOINT_MAP_RADIUS * KEYPOINT_MAP_RADIUS) h++;
  DISC_HALF[dy + KEYPOINT_MAP_RADIUS] = h;
}

/**
 * Pixel coordinate of a normalised keypoint coordinate, as torch computes it on float32:
 * trunc(fround(fround(v * 0.5 + 0.5) * size)). Non-finite input gives a value far off
 * any canvas.
 */
export function keypointPixel(v: number, size: number): number {
  const p = Math.trunc(Math.fround(Math.fround(v * 0.5 + 0.5) * size));
  return Number.isFinite(p) ? p : -0x40000000;
}

/**
 * A keypoint-map buffer: float32 values, or float16 bit patterns (Uint16Array) so that a
 * float16 pose-guider input can be drawn directly, without converting 3 x 512 x 512
 * values per frame.
 */
export type MapBuffer = Float32Array | Uint16Array;

interface RegionState {
  width: number;
  height: number;
  channelStride: number;
  /** [x0, y0, x1, y1] inclusive per drawn disc; x0 > x1 marks an empty one. */
  rects: Int32Array;
}

/**
 * Draws PersonaLive keypoint maps (pose-guider input) into caller-owned planar float32
 * regions: channel c of a region is the width*height plane at offset + c*channelStride
 * (for the pose tensor [1, 3, F, H, W]: channelStride = F*H*W, offset = f*H*W).
 *
 * A map is black with one filled disc of radius 4 per KEYPOINT_MAP_INDICES keypoint:
 * pixel (X, Y) is covered when (X-px)^2 + (Y-py)^2 <= 16, px = trunc((x*0.5+0.5)*W),
 * py = trunc((y*0.5+0.5)*H), clipped to the canvas; colours add, then clamp to 1.
 *
 * Clearing 3 full planes per frame would blow the CPU budget, so the canvas remembers,
 * per (array, offset) region, the rectangles it last drew there and zeroes only those
 * before the next draw. Contract: between draws, nothing else writes a tracked region.
 * The first draw into an unseen region zeroes the whole region; if something else wrote
 * to a region, call clear() (zeroes it fully) or forget() (the next draw zeroes it fully).
 * Steady-state draws allocate nothing; a draw touches about 7 * 49 pixels per channel.
 *
 * `out` may be a Float32Array or a Uint16Array of float16 bit patterns (for a float16
 * pose-guider input); the float16 map equals the float32 map converted to half.
 */
export class KeypointMapCanvas {
  private readonly regions = new WeakMap<MapBuffer, Map<number, RegionState>>();

  /**
   * Replaces the keypoint map in the region with the one for `kps63` (posed keypoints,
   * 63 floats).
   * @throws PersonaLiveError INTERNAL when the region does not fit in `out`.
   */
  draw(kps63: Float32Array, out: MapBuffer, offset: number, channelStride: number, width: number, height: number): void {
    checkRegion(out, offset, channelStride, width, height);
    if (kps63.length < KEYPOINT_FLOATS) {
      throw new PersonaLiveError('INTERNAL', `'kps63' has length ${kps63.length}, expected ${KEYPOINT_FLOATS}`);
    }
    const state = this.state(out, offset, channelStride, width, height, false);
    const rects = state.rects;
    const r = KEYPOINT_MAP_RADIUS;
    for (let k = 0; k < NUM_MAP_POINTS; k++) {
      const j = MAP_INDEX[k] * 3;
      const px = keypointPixel(kps63[j], width);
      const py = keypointPixel(kps63[j + 1], height);
      const ya = py - r < 0 ? 0 : py - r;
      const yb = py + r > height - 1 ? height - 1 : py + r;
      const xa = px - r < 0 ? 0 : px - r;
      const xb = px + r > width - 1 ? width - 1 : px + r;
      const q = k * 4;
      if (ya > yb || xa > xb) {
        rects[q] = 1;
        rects[q + 1] = 1;
        rects[q + 2] = 0;
        rects[q + 3] = 0;
        continue;
      }
      rects[q] = xa;
      rects[q + 1] = ya;
      rects[q + 2] = xb;
      rects[q + 3] = yb;
      for (let c = 0; c < 3; c++) {
        const color = MAP_COLOR[c * NUM_MAP_POINTS + k];
        if (color === 0) continue; // adding 0 changes nothing (values are already <= 1)
        const base = offset + c * channelStride;
        if (out instanceof Float32Array) addDiscF32(out, base, width, px, py, xa, xb, ya, yb, color);
        else addDiscF16(out, base, width, px, py, xa, xb, ya, yb, color);
      }
    }
  }

  /** Zeroes the whole region (3 planes) and tracks it as empty. */
  clear(out: MapBuffer, offset: number, channelStride: number, width: number, height: number): void {
    checkRegion(out, offset, channelStride, width, height);
    this.state(out, offset, channelStride, width, height, true);
  }

  /** Stops tracking every region of `out` (the next draw into one zeroes it fully). */
  forget(out: MapBuffer): void {
    this.regions.delete(out);
  }

  /** Returns the region's state with its previous discs (or everything) zeroed. */
  private state(out: MapBuffer, offset: number, channelStride: number, width: number, height: number, full: boolean): RegionState {
    let byOffset = this.regions.get(out);
    if (byOffset === undefined) {
      byOffset = new Map();
      this.regions.set(out, byOffset);
    }
    let state = byOffset.get(offset);
    if (state === undefined) {
      state = { width, height, channelStride, rects: new Int32Array(NUM_MAP_POINTS * 4) };
      emptyRects(state.rects);
      byOffset.set(offset, state);
      full = true;
    } else {
      clearRects(out, offset, state);
      emptyRects(state.rects);
      state.width = width;
      state.height = height;
      state.channelStride = channelStride;
    }
    if (full) {
      const n = width * height;
      for (let c = 0; c < 3; c++) out.fill(0, offset + c * channelStride, offset + c * channelStride + n);
    }
    return state;
  }
}

/** Adds `color` (clamped to 1) over the disc's rows ya..yb clipped to columns xa..xb, float32 plane. */
function addDiscF32(out: Float32Array, base: number, width: number, px: number, py: number, xa: number, xb: number, ya: number, yb: number, color: number): void {
  for (let y = ya; y <= yb; y++) {
    const h = DISC_HALF[y - py + KEYPOINT_MAP_RADIUS];
    const x0 = px - h < xa ? xa : px - h;
    const x1 = px + h > xb ? xb : px + h;
    const row = base + y * width;
    for (let p = row + x0; p <= row + x1; p++) {
      const v = out[p] + color;
      out[p] = v > 1 ? 1 : v;
    }
  }
}

/** The same on a float16 plane (bit patterns): torch's float32 result, then rounded to half. */
function addDiscF16(out: Uint16Array, base: number, width: number, px: number, py: number, xa: number, xb: number, ya: number, yb: number, color: number): void {
  const value = halfValueTable();
  for (let y = ya; y <= yb; y++) {
    const h = DISC_HALF[y - py + KEYPOINT_MAP_RADIUS];
    const x0 = px - h < xa ? xa : px - h;
    const x1 = px + h > xb ? xb : px + h;
    const row = base + y * width;
    for (let p = row + x0; p <= row + x1; p++) {
      const v = value[out[p]] + color;
      out[p] = v >= 1 ? HALF_ONE : halfFromFloat(v);
    }
  }
}

function emptyRects(rects: Int32Array): void {
  for (let q = 0; q < rects.length; q += 4) {
    rects[q] = 1;
    rects[q + 1] = 1;
    rects[q + 2] = 0;
    rects[q + 3] = 0;
  }
}

function clearRects(out: MapBuffer, offset: number, s: RegionState): void {
  const rects = s.rects;
  for (let q = 0; q < rects.length; q += 4) {
    const xa = rects[q], ya = rects[q + 1], xb = rects[q + 2], yb = rects[q + 3];
    if (xa > xb || ya > yb) continue;
    for (let c = 0; c < 3; c++) {
      const base = offset + c * s.channelStride;
      for (let y = ya; y <= yb; y++) {
        const row = base + y * s.width;
        for (let p = row + xa; p <= row + xb; p++) out[p] = 0; // spans of <= 9: cheaper than fill()
      }
    }
  }
}

function checkRegion(out: MapBuffer, offset: number, channelStride: number, width: number, height: number): void {
  if (!(width > 0 && height > 0 && Number.isInteger(width) && Number.isInteger(height))) {
    throw new PersonaLiveError('INTERNAL', `canvas size ${width}x${height} is not a positive integer size`);
  }
  if (offset < 0 || channelStride < width * height || offset + 2 * channelStride + width * height > out.length) {
    throw new PersonaLiveError('INTERNAL',
      `region 'offset' ${offset}, 'channelStride' ${channelStride}, ${width}x${height} does not fit 'out' of length ${out.length}`);
  }
}

export type FaceBox = [x1: number, y1: number, x2: number, y2: number];

/**
 * PersonaLive's face box for the motion encoder, in integer pixels of a width x height
 * image, from (un-transferred) posed keypoints: over the 7 KEYPOINT_MAP_INDICES points at
 * their truncated pixel positions, cx, cy = means, minY = min py, side = (cy - minY)*2*1.7;
 * x1 = trunc(clamp(cx - side/2*0.95, 0, W-1)), y1 likewise with cy, x2 = trunc(clamp(cx +
 * side/2*1.05, 0, W-1)), y2 likewise. Arithmetic is float32 like torch. The box may be
 * empty (x2 <= x1 or y2 <= y1); cropResizePlanar copes with that. Writes into `out`.
 */
export function faceBox(kps63: Float32Array, width: number, height: number, out: FaceBox = [0, 0, 0, 0]): FaceBox {
  const f = Math.fround;
  let sx = 0;
  let sy = 0;
  let minY = Infinity;
  for (let k = 0; k < NUM_MAP_POINTS; k++) {
    const j = MAP_INDEX[k] * 3;
    const px = keypointPixel(kps63[j], width);
    const py = keypointPixel(kps63[j + 1], height);
    sx += px;
    sy += py;
    if (py < minY) minY = py;
  }
  const cx = f(f(sx) / NUM_MAP_POINTS);
  const cy = f(f(sy) / NUM_MAP_POINTS);
  const side = f(f(f(cy - minY) * 2) * f(1.7));
  const half = f(side / 2);
  const lo = f(half * f(0.95));
  const hi = f(half * f(1.05));
  out[0] = Math.trunc(clamp(f(cx - lo), 0, width - 1));
  out[1] = Math.trunc(clamp(f(cy - lo), 0, height - 1));
  out[2] = Math.trunc(clamp(f(cx + hi), 0, width - 1));
  out[3] = Math.trunc(clamp(f(cy + hi), 0, height - 1));
  return out;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/**
 * Smallest L2 distance between `candidate` and any entry of `bank` (each a flattened
 * motion embedding of the same length, e.g. 32*16). Infinity for an empty bank.
 * @throws PersonaLiveError INTERNAL when an entry's length differs from the candidate's.
 */
export function keyframeDistance(bank: readonly Float32Array[], candidate: Float32Array): number {
  const n = candidate.length;
  let best = Infinity;
  for (let b = 0; b < bank.length; b++) {
    const e = bank[b];
    if (e.length !== n) {
      throw new PersonaLiveError('INTERNAL', `motion bank entry ${b} has length ${e.length}, 'candidate' has ${n}`);
    }
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const d = e[i] - candidate[i];
      sum += d * d;
    }
    if (sum < best) best = sum;
  }
  return Math.sqrt(best);
}
