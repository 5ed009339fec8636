/**
 * The renderer of the built-in CPU generator: a per-pixel inverse-mapped triangle warp of the
 * reference portrait. Two implementations with the same arithmetic, byte for byte: the
 * TypeScript reference here and the compiled kernel daemon/kernels/native/warp.cc (loaded through
 * daemon/kernels/native.ts's loadAddon; AVX2 chosen at run time, SSE2 otherwise,
 * PERSONALIVE_WARP_SIMD=0 to force the latter). `implementation` reports which one runs.
 *
 * Contract of render():
 * - Coordinates are continuous pixels: pixel (x, y) covers [x, x+1) x [y, y+1) and its centre
 *   is (x + 0.5, y + 0.5). Source vertices are in reference pixels, destination vertices in
 *   output pixels (the reference may be any size up to 16384 per side).
 * - Rasterisation: a destination pixel belongs to a triangle when its centre is inside, with
 *   the top-left fill rule for centres exactly on an edge, decided in exact integer arithmetic
 *   on vertices snapped to 1/256 px. So triangles that share an edge never draw a pixel twice
 *   nor leave one out.
 * - Sampling: the pixel centre is mapped by the triangle's affine dst -> src map (float64 at
 *   each row's first pixel, 16.16 fixed-point steps along the row), rounded to 1/128 px and
 *   clamped to the reference; the four bilinear taps are weighted by 7-bit products (summing
 *   to 16384) and the sum is rounded once. An integer translation (or the identity) samples
 *   the source pixels exactly: an identity warp reproduces the reference byte for byte.
 * - Uncovered pixels: the output is first filled with the reference resampled to the output
 *   size (the reference pixel at the same relative position), so anything no triangle covers
 *   shows the still reference ("background"). With a topology from buildWarpTopology every
 *   pixel is covered unless the mesh folds.
 * - Folds: a triangle whose destination orientation differs from its source orientation is a
 *   back face (the mesh folded over it: a head turn hides the far cheek behind the nose) and is
 *   skipped, as are degenerate triangles and ones with a vertex beyond +-16384 px or not finite.
 *   Front faces are drawn in triangle order, or back-to-front when `depth` is given (per-vertex
 *   z, larger = farther, the MediaPipe convention; see placeDepths); where front faces overlap
 *   the last one drawn wins. The depth order is kept between frames and re-sorted by insertion
 *   sort, so it costs ~O(triangles) per frame.
 *
 * Nothing is allocated per frame (the order scratch grows when the triangle count changes; the
 * native kernel's span scratch grows to the largest frame seen).
 */
import { PersonaLiveError } from '../../errors.js';
import type { RgbImage } from '../../frames.js';
import { loadAddon } from '../../kernels/native.js';

export type WarpImplementation = 'native' | 'typescript';

/** Largest |coordinate| (pixels) a vertex may have; triangles beyond it are skipped. */
export const MAX_COORDINATE = 16384;
/** Sub-pixel precision of the rasteriser (vertices snapped to 1/256 px). */
const SUB = 256;
const HALF_SUB = 128;
const FIX = 65536;

interface WarpAddon {
  meshWarp(
    padded: Uint8Array,
    refW: number,
    refH: number,
    src: Float32Array,
    dst: Float32Array,
    vertexCount: number,
    triangles: Uint32Array,
    order: Uint32Array | null,
    triCount: number,
    background: Uint8Array,
    out: Uint8Array,
    outW: number,
    outH: number,
    drawBackFaces?: boolean,
  ): number;
}

/** Loads the warp kernel from the shared addon; null with the reason when it is not there. */
export function loadWarpAddon(): { addon: WarpAddon | null; error: string | null } {
  const { addon, error } = loadAddon();
  if (!addon) return { addon: null, error };
  const warp = addon as unknown as Partial<WarpAddon>;
  if (typeof warp.meshWarp !== 'function') return { addon: null, error: 'the native addon has no meshWarp (rebuild it: npm run build:native)' };
  return { addon: warp as WarpAddon, error: null };
}

function floorDiv(n: number, d: number): number {
  // Exact for |n| < 2^53, d > 0: the float quotient can be off by one near an integer.
  let q = Math.floor(n / d);
  if (q * d > n) q -= 1;
  else if ((q + 1) * d <= n) q += 1;
  return q;
}

/**
 * Scanline spans of the pixel centres inside a triangle given in 1/256 px fixed point with
 * positive orientation ((x1-x0)(y2-y0) - (y1-y0)(x2-x0) > 0), top-left rule, clipped to
 * width x height: rows range[0] .. range[1]-1, row y spans columns rowL[y] .. rowR[y]
 * (empty when rowL[y] > rowR[y]).
 */
export function triangleSpans(
  x0: number, y0: number, x1: number, y1: number, x2: number, y2: number,
  width: number, height: number, rowL: Int32Array, rowR: Int32Array, range: Int32Array,
): void {
  const yMin = Math.min(y0, y1, y2), yMax = Math.max(y0, y1, y2);
  let yStart = -floorDiv(-(yMin - HALF_SUB), SUB);
  let yEnd = floorDiv(yMax - HALF_SUB, SUB) + 1;
  if (yStart < 0) yStart = 0;
  if (yEnd > height) yEnd = height;
  range[0] = yStart;
  range[1] = yEnd;
  if (yStart >= yEnd) return;
  for (let y = yStart; y < yEnd; y++) {
    rowL[y] = 0;
    rowR[y] = width - 1;
  }
  for (let e = 0; e < 3; e++) {
    const px = e === 0 ? x0 : e === 1 ? x1 : x2;
    const py = e === 0 ? y0 : e === 1 ? y1 : y2;
    const qx = e === 0 ? x1 : e === 1 ? x2 : x0;
    const qy = e === 0 ? y1 : e === 1 ? y2 : y0;
    const dx = qx - px, dy = qy - py;
    // Inside: dx*(Y-py) - dy*(X-px) >= t, t = 0 on top/left edges (ties included), else 1,
    // at pixel centres X = 256x+128, Y = 256y+128. With k(y) = dx*(Y-py) + dy*px - t:
    // left edge (dy < 0): x >= ceil((-k - 128m) / 256m), m = -dy; right edge (dy > 0):
    // x <= floor((k - 128dy) / 256dy). Both are floor(n(y) / d) with n stepping by 256dx
    // per row, tracked exactly as quotient + remainder (one division per edge).
    const t = dy < 0 || (dy === 0 && dx > 0) ? 0 : 1;
    const k0 = dx * (SUB * yStart + HALF_SUB - py) + dy * px - t;
    if (dy === 0) {
      for (let y = yStart; y < yEnd; y++) {
        if (dx * (SUB * y + HALF_SUB - py) - t < 0) {
          rowL[y] = 1;
          rowR[y] = 0;
        }
      }
      continue;
    }
    const d = dy < 0 ? -SUB * dy : SUB * dy;
    const n0 = k0 - HALF_SUB * dy; // k + 128m (left) or k - 128dy (right)
    const step = SUB * dx;
    let q = floorDiv(n0, d);
    let r = n0 - q * d;
    const qs = floorDiv(step, d);
    const rs = step - qs * d;
    if (dy < 0) {
      for (let y = yStart; y < yEnd; y++) {
        if (-q > rowL[y]) rowL[y] = -q;
        q += qs;
        r += rs;
        if (r >= d) {
          r -= d;
          q++;
        }
      }
    } else {
      for (let y = yStart; y < yEnd; y++) {
        if (q < rowR[y]) rowR[y] = q;
        q += qs;
        r += rs;
        if (r >= d) {
          r -= d;
          q++;
        }
      }
    }
  }
}

function snap(v: number): number {
  return Math.floor(v * SUB + 0.5);
}

function finiteCoord(v: number): boolean {
  return Math.abs(v) <= MAX_COORDINATE;
}

function checkSize(name: string, w: number, h: number): void {
  if (!Number.isInteger(w) || !Number.isInteger(h) || w <= 0 || h <= 0 || w > MAX_COORDINATE || h > MAX_COORDINATE) {
    throw new PersonaLiveError('INTERNAL', `'${name}' size ${w}x${h} is not a positive integer size up to ${MAX_COORDINATE}`);
  }
}

/**
 * The reference as RGBX (4 bytes per pixel, X = 0) with one replicated column and row
 * appended, so a bilinear tap pair is one 8-byte load and never needs a bounds branch.
 */
function padReference(ref: RgbImage): Uint8Array {
  const { width: w, height: h, data } = ref;
  const stride = (w + 1) * 4;
  const padded = new Uint8Array(stride * (h + 1));
  for (let y = 0; y <= h; y++) {
    const s = (y < h ? y : h - 1) * w * 3;
    const d = y * stride;
    for (let x = 0; x <= w; x++) {
      const i = s + (x < w ? x : w - 1) * 3, o = d + x * 4;
      padded[o] = data[i];
      padded[o + 1] = data[i + 1];
      padded[o + 2] = data[i + 2];
    }
  }
  return padded;
}

/**
 * The sampler (render kernel's rule) at 16.16 position (U, V) inside the reference: the
 * position is rounded to 1/128 px, the four taps weighted by 7-bit products
 * (w00 = (128-fx)(128-fy) ... summing to 16384) and the sum rounded once.
 */
function sampleInto(padded: Uint8Array, stride: number, U: number, V: number, out: Uint8Array, o: number): void {
  const xs = (U + 256) >> 9, ys = (V + 256) >> 9;
  const fx = xs & 127, fy = ys & 127, gx = 128 - fx, gy = 128 - fy;
  const w00 = gx * gy, w01 = fx * gy, w10 = gx * fy, w11 = fx * fy;
  const i = (ys >> 7) * stride + (xs >> 7) * 4, j = i + stride;
  out[o] = (padded[i] * w00 + padded[i + 4] * w01 + padded[j] * w10 + padded[j + 4] * w11 + 8192) >> 14;
  out[o + 1] = (padded[i + 1] * w00 + padded[i + 5] * w01 + padded[j + 1] * w10 + padded[j + 5] * w11 + 8192) >> 14;
  out[o + 2] = (padded[i + 2] * w00 + padded[i + 6] * w01 + padded[j + 2] * w10 + padded[j + 6] * w11 + 8192) >> 14;
}

export interface MeshWarperOptions {
  /** Which kernel runs; native falls back to TypeScript (see fallbackReason) when the addon lacks it. */
  implementation?: WarpImplementation;
  /**
   * Draw triangles whose orientation flipped too (default false: they are skipped as back
   * faces). A tracked face mesh has many thin triangles along its silhouette that flip under
   * tracking noise; skipping them leaves holes that show the still reference (saw-tooth
   * edges), so the generator draws them, back to front by depth, and lets nearer triangles
   * cover true folds.
   */
  drawBackFaces?: boolean;
}

/**
 * Warps one reference image into outWidth x outHeight RGB24 frames. One instance per
 * reference (construct a new one when the reference changes); not re-entrant.
 */
export class MeshWarper {
  readonly implementation: WarpImplementation;
  /** Why the native kernel is not used when it was asked for (null otherwise). */
  readonly fallbackReason: string | null;
  readonly referenceWidth: number;
  readonly referenceHeight: number;
  readonly drawBackFaces: boolean;
  private readonly padded: Uint8Array;
  private readonly background: Uint8Array;
  private readonly addon: WarpAddon | null;
  private readonly rowL: Int32Array;
  private readonly rowR: Int32Array;
  private readonly range = new Int32Array(2);
  private keys = new Float64Array(0);
  private order = new Uint32Array(0);

  /**
   * @throws PersonaLiveError INTERNAL when the reference's data does not match its size or a
   *   size is not a positive integer up to 16384.
   */
  constructor(
    reference: RgbImage,
    readonly outWidth = 512,
    readonly outHeight = 512,
    options: MeshWarperOptions = {},
  ) {
    checkSize('reference', reference.width, reference.height);
    checkSize('output', outWidth, outHeight);
    if (reference.data.length !== reference.width * reference.height * 3) {
      throw new PersonaLiveError('INTERNAL', `'reference' data has length ${reference.data.length}, expected ${reference.width}x${reference.height}x3`);
    }
    this.referenceWidth = reference.width;
    this.referenceHeight = reference.height;
    this.padded = padReference(reference);
    this.rowL = new Int32Array(outHeight);
    this.rowR = new Int32Array(outHeight);
    this.background = new Uint8Array(outWidth * outHeight * 3);
    if (reference.width === outWidth && reference.height === outHeight) {
      this.background.set(reference.data);
    } else {
      const sx = reference.width / outWidth, sy = reference.height / outHeight;
      const stride = (reference.width + 1) * 4;
      const uMax = (reference.width - 1) * FIX, vMax = (reference.height - 1) * FIX;
      for (let y = 0; y < outHeight; y++) {
        const V = Math.min(vMax, Math.max(0, Math.floor(((y + 0.5) * sy - 0.5) * FIX + 0.5)));
        for (let x = 0; x < outWidth; x++) {
          const U = Math.min(uMax, Math.max(0, Math.floor(((x + 0.5) * sx - 0.5) * FIX + 0.5)));
          sampleInto(this.padded, stride, U, V, this.background, (y * outWidth + x) * 3);
        }
      }
    }
    let addon: WarpAddon | null = null;
    let reason: string | null = null;
    if (options.implementation !== 'typescript') {
      const loaded = loadWarpAddon();
      addon = loaded.addon;
      reason = loaded.error;
    }
    this.addon = addon;
    this.drawBackFaces = options.drawBackFaces ?? false;
    this.implementation = addon ? 'native' : 'typescript';
    this.fallbackReason = options.implementation === 'typescript' ? null : reason;
  }

  /**
   * Renders one frame into `out` (every pixel is written).
   *
   * @param srcVertices vertex x, y pairs in reference pixels (WarpTopology.referenceVertices).
   * @param dstVertices vertex x, y pairs in output pixels (placeVertices).
   * @param triangles vertex indices, 3 per triangle.
   * @param out outWidth x outHeight x 3 bytes.
   * @param depth optional per-vertex depth (larger = farther) for back-to-front drawing.
   * @returns how many triangles were drawn (front-facing, not degenerate).
   * @throws PersonaLiveError INTERNAL when a buffer is too short or a triangle names a vertex
   *   beyond the vertex arrays.
   */
  render(srcVertices: Float32Array, dstVertices: Float32Array, triangles: Uint32Array, out: Uint8Array, depth?: Float32Array): number {
    const vertexCount = Math.min(srcVertices.length, dstVertices.length) >> 1;
    if (out.length < this.outWidth * this.outHeight * 3) {
      throw new PersonaLiveError('INTERNAL', `'out' has length ${out.length}, expected ${this.outWidth}x${this.outHeight}x3 = ${this.outWidth * this.outHeight * 3}`);
    }
    if (triangles.length % 3 !== 0) throw new PersonaLiveError('INTERNAL', `'triangles' length ${triangles.length} is not a multiple of 3`);
    for (let i = 0; i < triangles.length; i++) {
      if (triangles[i] >= vertexCount) {
        throw new PersonaLiveError('INTERNAL', `'triangles'[${i}] = ${triangles[i]} names a vertex beyond the ${vertexCount} in 'srcVertices'/'dstVertices'`);
      }
    }
    const triCount = triangles.length / 3;
    let order: Uint32Array | null = null;
    if (depth) {
      if (depth.length < vertexCount) throw new PersonaLiveError('INTERNAL', `'depth' has length ${depth.length}, expected ${vertexCount}`);
      order = this.depthOrder(triangles, triCount, depth);
    }
    if (this.addon) {
      return this.addon.meshWarp(this.padded, this.referenceWidth, this.referenceHeight, srcVertices, dstVertices, vertexCount, triangles, order, triCount, this.background, out, this.outWidth, this.outHeight, this.drawBackFaces);
    }
    out.set(this.background);
    let drawn = 0;
    for (let k = 0; k < triCount; k++) {
      const t = order ? order[k] : k;
      if (this.drawTriangle(srcVertices, dstVertices, triangles[3 * t], triangles[3 * t + 1], triangles[3 * t + 2], out)) drawn++;
    }
    return drawn;
  }

  /** Back-to-front triangle order by summed vertex depth (insertion sort from last frame's order). */
  private depthOrder(triangles: Uint32Array, triCount: number, depth: Float32Array): Uint32Array {
    if (this.order.length !== triCount) {
      this.order = new Uint32Array(triCount);
      this.keys = new Float64Array(triCount);
      for (let t = 0; t < triCount; t++) this.order[t] = t;
    }
    const keys = this.keys, order = this.order;
    for (let t = 0; t < triCount; t++) keys[t] = depth[triangles[3 * t]] + depth[triangles[3 * t + 1]] + depth[triangles[3 * t + 2]];
    for (let i = 1; i < triCount; i++) {
      const v = order[i];
      const kv = keys[v];
      let j = i - 1;
      while (j >= 0 && keys[order[j]] < kv) {
        order[j + 1] = order[j];
        j--;
      }
      order[j + 1] = v;
    }
    return order;
  }

  /** The TypeScript kernel for one triangle; false when it is skipped. Mirrored by warp.cc. */
  private drawTriangle(src: Float32Array, dst: Float32Array, ia: number, ib: number, ic: number, out: Uint8Array): boolean {
    const d0x = dst[2 * ia], d0y = dst[2 * ia + 1], d1x = dst[2 * ib], d1y = dst[2 * ib + 1], d2x = dst[2 * ic], d2y = dst[2 * ic + 1];
    const s0x = src[2 * ia], s0y = src[2 * ia + 1], s1x = src[2 * ib], s1y = src[2 * ib + 1], s2x = src[2 * ic], s2y = src[2 * ic + 1];
    if (!(finiteCoord(d0x) && finiteCoord(d0y) && finiteCoord(d1x) && finiteCoord(d1y) && finiteCoord(d2x) && finiteCoord(d2y))) return false;
    if (!(finiteCoord(s0x) && finiteCoord(s0y) && finiteCoord(s1x) && finiteCoord(s1y) && finiteCoord(s2x) && finiteCoord(s2y))) return false;
    const X0 = snap(d0x), Y0 = snap(d0y), X1 = snap(d1x), Y1 = snap(d1y), X2 = snap(d2x), Y2 = snap(d2y);
    const area = (X1 - X0) * (Y2 - Y0) - (Y1 - Y0) * (X2 - X0);
    const srcArea = (s1x - s0x) * (s2y - s0y) - (s1y - s0y) * (s2x - s0x);
    if (area === 0 || srcArea === 0 || (!this.drawBackFaces && !(srcArea > 0 ? area > 0 : area < 0))) return false;
    const e1x = d1x - d0x, e1y = d1y - d0y, e2x = d2x - d0x, e2y = d2y - d0y;
    const det = e1x * e2y - e1y * e2x;
    if (det === 0) return false;
    const f1x = s1x - s0x, f1y = s1y - s0y, f2x = s2x - s0x, f2y = s2y - s0y;
    const ux = (f1x * e2y - f2x * e1y) / det;
    const uy = (f2x * e1x - f1x * e2x) / det;
    const vx = (f1y * e2y - f2y * e1y) / det;
    const vy = (f2y * e1x - f1y * e2x) / det;
    if (!(Math.abs(ux) <= FIX && Math.abs(uy) <= FIX && Math.abs(vx) <= FIX && Math.abs(vy) <= FIX)) return false;

    const rowL = this.rowL, rowR = this.rowR, range = this.range;
    const W = this.outWidth;
    if (area > 0) triangleSpans(X0, Y0, X1, Y1, X2, Y2, W, this.outHeight, rowL, rowR, range);
    else triangleSpans(X0, Y0, X2, Y2, X1, Y1, W, this.outHeight, rowL, rowR, range);
    const dU = Math.floor(ux * FIX + 0.5), dV = Math.floor(vx * FIX + 0.5);
    const padded = this.padded;
    const stride = (this.referenceWidth + 1) * 4;
    const uMax = (this.referenceWidth - 1) * FIX, vMax = (this.referenceHeight - 1) * FIX;
    for (let y = range[0]; y < range[1]; y++) {
      const xl = rowL[y], xr = rowR[y];
      if (xl > xr) continue;
      const ax = xl + 0.5 - d0x, ay = y + 0.5 - d0y;
      let U = Math.floor((s0x + ux * ax + uy * ay - 0.5) * FIX + 0.5);
      let V = Math.floor((s0y + vx * ax + vy * ay - 0.5) * FIX + 0.5);
      let o = (y * W + xl) * 3;
      const last = xr - xl;
      const U1 = U + last * dU, V1 = V + last * dV;
      if (U >= 0 && U <= uMax && U1 >= 0 && U1 <= uMax && V >= 0 && V <= vMax && V1 >= 0 && V1 <= vMax) {
        // The whole span samples inside the reference: no clamping (same result).
        for (let x = xl; x <= xr; x++) {
          const xs = (U + 256) >> 9, ys = (V + 256) >> 9;
          const fx = xs & 127, fy = ys & 127, gx = 128 - fx, gy = 128 - fy;
          const w00 = gx * gy, w01 = fx * gy, w10 = gx * fy, w11 = fx * fy;
          const i = (ys >> 7) * stride + (xs >> 7) * 4, j = i + stride;
          out[o] = (padded[i] * w00 + padded[i + 4] * w01 + padded[j] * w10 + padded[j + 4] * w11 + 8192) >> 14;
          out[o + 1] = (padded[i + 1] * w00 + padded[i + 5] * w01 + padded[j + 1] * w10 + padded[j + 5] * w11 + 8192) >> 14;
          out[o + 2] = (padded[i + 2] * w00 + padded[i + 6] * w01 + padded[j + 2] * w10 + padded[j + 6] * w11 + 8192) >> 14;
          o += 3;
          U += dU;
          V += dV;
        }
        continue;
      }
      for (let x = xl; x <= xr; x++) {
        let u = U, v = V;
        if (u < 0) u = 0;
        else if (u > uMax) u = uMax;
        if (v < 0) v = 0;
        else if (v > vMax) v = vMax;
        const xs = (u + 256) >> 9, ys = (v + 256) >> 9;
        const fx = xs & 127, fy = ys & 127, gx = 128 - fx, gy = 128 - fy;
        const w00 = gx * gy, w01 = fx * gy, w10 = gx * fy, w11 = fx * fy;
        const i = (ys >> 7) * stride + (xs >> 7) * 4, j = i + stride;
        out[o] = (padded[i] * w00 + padded[i + 4] * w01 + padded[j] * w10 + padded[j + 4] * w11 + 8192) >> 14;
        out[o + 1] = (padded[i + 1] * w00 + padded[i + 5] * w01 + padded[j + 1] * w10 + padded[j + 5] * w11 + 8192) >> 14;
        out[o + 2] = (padded[i + 2] * w00 + padded[i + 6] * w01 + padded[j + 2] * w10 + padded[j + 6] * w11 + 8192) >> 14;
        o += 3;
        U += dU;
        V += dV;
      }
    }
    return true;
  }
}

/**
 * The warper to use: native when the addon carries the warp kernel, unless
 * PERSONALIVE_KERNELS=typescript (or `prefer`) asks for the TypeScript reference. Callers
 * report `.implementation` (and `.fallbackReason` when native was expected).
 */
export function createMeshWarper(
  reference: RgbImage,
  outWidth = 512,
  outHeight = 512,
  prefer: WarpImplementation | undefined = process.env.PERSONALIVE_KERNELS as WarpImplementation | undefined,
  options: Omit<MeshWarperOptions, 'implementation'> = {},
): MeshWarper {
  return new MeshWarper(reference, outWidth, outHeight, { ...options, implementation: prefer === 'typescript' ? 'typescript' : 'native' });
}

/**
 * Counts, per output pixel, how many triangles the renderer would draw there (same
 * rasteriser and the same skip rules when `srcVertices` is given; without it only degenerate
 * triangles are skipped). For tests and diagnostics; allocates scratch per call.
 *
 * @returns how many triangles were rasterised.
 */
export function countCoverage(dstVertices: Float32Array, triangles: Uint32Array, width: number, height: number, counts: Uint32Array, srcVertices?: Float32Array): number {
  const rowL = new Int32Array(height), rowR = new Int32Array(height), range = new Int32Array(2);
  let drawn = 0;
  for (let t = 0; t < triangles.length; t += 3) {
    const a = triangles[t], b = triangles[t + 1], c = triangles[t + 2];
    const X0 = snap(dstVertices[2 * a]), Y0 = snap(dstVertices[2 * a + 1]);
    const X1 = snap(dstVertices[2 * b]), Y1 = snap(dstVertices[2 * b + 1]);
    const X2 = snap(dstVertices[2 * c]), Y2 = snap(dstVertices[2 * c + 1]);
    const area = (X1 - X0) * (Y2 - Y0) - (Y1 - Y0) * (X2 - X0);
    if (area === 0) continue;
    if (srcVertices) {
      const s = srcVertices;
      const srcArea = (s[2 * b] - s[2 * a]) * (s[2 * c + 1] - s[2 * a + 1]) - (s[2 * b + 1] - s[2 * a + 1]) * (s[2 * c] - s[2 * a]);
      if (!(srcArea > 0 ? area > 0 : srcArea < 0 && area < 0)) continue;
    }
    if (area > 0) triangleSpans(X0, Y0, X1, Y1, X2, Y2, width, height, rowL, rowR, range);
    else triangleSpans(X0, Y0, X2, Y2, X1, Y1, width, height, rowL, rowR, range);
    drawn++;
    for (let y = range[0]; y < range[1]; y++) for (let x = rowL[y]; x <= rowR[y]; x++) counts[y * width + x]++;
  }
  return drawn;
}
