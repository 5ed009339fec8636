/**
 * Image resampling into model tensors and back to bytes. Pure functions over typed arrays;
 * nothing is allocated per call once a resizer has seen a size pair.
 *
 * Resampling is bilinear with align_corners=False semantics, as torch's
 * F.interpolate(mode="bilinear", align_corners=False, antialias=False) computes it: output
 * pixel d samples source coordinate s = (d + 0.5) * (in / out) - 0.5, clamped below at 0;
 * i0 = floor(s), i1 = min(i0 + 1, in - 1), weights (1 - frac, frac). The index and weight
 * maths is done in float32 like torch's kernels (Math.fround), so the taps are torch's;
 * the weighted sum is computed in float64 and rounded once, so a value can differ from
 * torch's float32 sum in the last bit. Downscaling by large factors aliases (no
 * antialias), as upstream does.
 *
 * Planar layout: channel c of an image region is the width*height plane starting at
 * offset + c * channelStride, rows of `width` values.
 */
import { PersonaLiveError } from '../errors.js';

export type Rgb = readonly [number, number, number] | ArrayLike<number>;

/**
 * Source taps and weights of one axis, interleaved: destination d reads source index
 * idx[2d] with weight wt[2d] and idx[2d+1] with weight wt[2d+1] (indices already
 * multiplied by the axis stride and offset by the crop start).
 */
export interface AxisTable {
  size: number;
  idx: Int32Array;
  wt: Float64Array;
}

function newAxisTable(capacity: number): AxisTable {
  return { size: 0, idx: new Int32Array(2 * capacity), wt: new Float64Array(2 * capacity) };
}

/**
 * Fills `table` for resampling `inSize` source samples (starting at source index `start`,
 * each index multiplied by `stride`) to `outSize` samples, torch align_corners=False rule.
 */
export function fillAxisTable(table: AxisTable, inSize: number, outSize: number, start = 0, stride = 1): AxisTable {
  const f = Math.fround;
  const scale = f(inSize / outSize);
  for (let d = 0; d < outSize; d++) {
    let s = f(f(scale * f(d + 0.5)) - 0.5);
    if (s < 0) s = 0;
    const i0 = Math.trunc(s);
    let l1 = f(s - i0);
    if (l1 > 1) l1 = 1;
    const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
    table.idx[2 * d] = (start + i0) * stride;
    table.idx[2 * d + 1] = (start + i1) * stride;
    table.wt[2 * d] = f(1 - l1);
    table.wt[2 * d + 1] = l1;
  }
  table.size = outSize;
  return table;
}

const CACHE_LIMIT = 64;

/**
 * Bilinear resampler with cached index/weight tables: tables for each (source size,
 * destination size) pair of resizeRgbToPlanar are built once; crop tables (whose size
 * changes every frame) are rebuilt into reusable scratch (O(destination size), no
 * allocation once grown). One instance per thread; not re-entrant.
 */
export class BilinearResizer {
  private readonly rgbX = new Map<number, AxisTable>();
  private readonly rows = new Map<number, AxisTable>();
  private cropX = newAxisTable(0);
  private cropY = newAxisTable(0);
  private readonly box = new Int32Array(4);
  /** Per-channel byte -> value map for the identity resize. */
  private readonly lut = new Float32Array(768);

  private cached(cache: Map<number, AxisTable>, inSize: number, outSize: number, stride: number): AxisTable {
    const key = inSize * 65536 + outSize;
    let t = cache.get(key);
    if (t === undefined) {
      if (cache.size >= CACHE_LIMIT) cache.clear();
      t = fillAxisTable(newAxisTable(outSize), inSize, outSize, 0, stride);
      cache.set(key, t);
    }
    return t;
  }

  /**
   * Resizes an interleaved RGB byte image (row-major, 3 bytes per pixel) to dstW x dstH
   * and writes planar float32: out[offset + c*channelStride + y*dstW + x] =
   * (bilinear(v) / 255) * scale[c] + bias[c]. (E.g. [0,1]: scale 1, bias 0; [-1,1]:
   * scale 2, bias -1; CLIP: scale 1/std, bias -mean/std.) Interpolating the bytes and
   * then mapping equals mapping then interpolating (the weights sum to 1) up to rounding.
   * Same size and exact halving take fast paths with identical results.
   * @throws PersonaLiveError INTERNAL when a size is not a positive integer or the buffers are too small.
   */
  resizeRgbToPlanar(
    src: Uint8Array,
    srcW: number,
    srcH: number,
    dstW: number,
    dstH: number,
    out: Float32Array,
    offset: number,
    channelStride: number,
    scale: Rgb,
    bias: Rgb,
  ): void {
    checkSize('src', srcW, srcH);
    checkSize('dst', dstW, dstH);
    if (src.length < srcW * srcH * 3) {
      throw new PersonaLiveError('INTERNAL', `'src' has length ${src.length}, expected ${srcW}x${srcH}x3 = ${srcW * srcH * 3}`);
    }
    checkPlanar('out', out, offset, channelStride, dstW, dstH);
    const k0 = scale[0] / 255, k1 = scale[1] / 255, k2 = scale[2] / 255;
    const b0 = bias[0], b1 = bias[1], b2 = bias[2];
    const o1 = offset + channelStride, o2 = offset + 2 * channelStride;
    if (srcW === dstW && srcH === dstH) {
      // Identity: torch's weights are exactly (1, 0), so this is a per-byte map.
      const lut = this.lut;
      for (let v = 0; v < 256; v++) {
        lut[v] = v * k0 + b0;
        lut[256 + v] = v * k1 + b1;
        lut[512 + v] = v * k2 + b2;
      }
      const n = dstW * dstH;
      for (let p = 0, q = 0; p < n; p++, q += 3) {
        out[offset + p] = lut[src[q]];
        out[o1 + p] = lut[256 + src[q + 1]];
        out[o2 + p] = lut[512 + src[q + 2]];
      }
      return;
    }
    const rowBytes = srcW * 3;
    if (srcW === 2 * dstW && srcH === 2 * dstH) {
      // Exact halving: every tap weight is exactly 0.5, so this is the 2x2 mean (bit-identical).
      const q0 = k0 * 0.25, q1 = k1 * 0.25, q2 = k2 * 0.25;
      for (let y = 0; y < dstH; y++) {
        let r0 = 2 * y * rowBytes;
        let r1 = r0 + rowBytes;
        let o = y * dstW;
        const end = o + dstW;
        for (; o < end; o++, r0 += 6, r1 += 6) {
          out[offset + o] = (src[r0] + src[r0 + 3] + src[r1] + src[r1 + 3]) * q0 + b0;
          out[o1 + o] = (src[r0 + 1] + src[r0 + 4] + src[r1 + 1] + src[r1 + 4]) * q1 + b1;
          out[o2 + o] = (src[r0 + 2] + src[r0 + 5] + src[r1 + 2] + src[r1 + 5]) * q2 + b2;
        }
      }
      return;
    }
    const tx = this.cached(this.rgbX, srcW, dstW, 3);
    const ty = this.cached(this.rows, srcH, dstH, 1);
    this.sampleRgb(src, rowBytes, tx, ty, dstW, dstH, out, offset, channelStride, scale, bias);
  }

  /**
   * Crops rows y1..y2-1 and columns x1..x2-1 of an interleaved RGB byte image (the box is
   * clamped to the image; an empty box samples the pixel at (x1, y1)) and resizes the crop
   * bilinearly (align_corners=False) to dstSize x dstSize, planar float32 with the same
   * per-channel affine as resizeRgbToPlanar. Reads the bytes directly, so a face crop never
   * needs the whole frame converted to float first.
   */
  cropResizeRgbToPlanar(
    src: Uint8Array,
    srcW: number,
    srcH: number,
    box: ArrayLike<number>,
    dstSize: number,
    out: Float32Array,
    offset: number,
    channelStride: number,
    scale: Rgb,
    bias: Rgb,
  ): void {
    checkSize('src', srcW, srcH);
    checkSize('dst', dstSize, dstSize);
    checkPlanar('out', out, offset, channelStride, dstSize, dstSize);
    const [x1, y1, x2, y2] = clampCropBox(box, srcW, srcH, this.box);
    if (this.cropX.idx.length < 2 * dstSize) {
      this.cropX = newAxisTable(dstSize);
      this.cropY = newAxisTable(dstSize);
    }
    const tx = fillAxisTable(this.cropX, x2 - x1, dstSize, x1, 3);
    const ty = fillAxisTable(this.cropY, y2 - y1, dstSize, y1, 1);
    this.sampleRgb(src, srcW * 3, tx, ty, dstSize, dstSize, out, offset, channelStride, scale, bias);
  }

  /** The bilinear inner loop over prepared axis tables (x indices in bytes, y in rows). */
  private sampleRgb(
    src: Uint8Array,
    rowBytes: number,
    tx: AxisTable,
    ty: AxisTable,
    dstW: number,
    dstH: number,
    out: Float32Array,
    offset: number,
    channelStride: number,
    scale: Rgb,
    bias: Rgb,
  ): void {
    const k0 = scale[0] / 255, k1 = scale[1] / 255, k2 = scale[2] / 255;
    const b0 = bias[0], b1 = bias[1], b2 = bias[2];
    const o1 = offset + channelStride, o2 = offset + 2 * channelStride;
    const xi = tx.idx, xw = tx.wt;
    for (let y = 0; y < dstH; y++) {
      const r0 = ty.idx[2 * y] * rowBytes;
      const r1 = ty.idx[2 * y + 1] * rowBytes;
      const h0 = ty.wt[2 * y];
      const h1 = ty.wt[2 * y + 1];
      let o = y * dstW;
      for (let x = 0; x < 2 * dstW; x += 2, o++) {
        const a = xi[x], b = xi[x + 1];
        const w0 = xw[x], w1 = xw[x + 1];
        const p00 = r0 + a, p01 = r0 + b, p10 = r1 + a, p11 = r1 + b;
        const v0 = h0 * (w0 * src[p00] + w1 * src[p01]) + h1 * (w0 * src[p10] + w1 * src[p11]);
        const v1 = h0 * (w0 * src[p00 + 1] + w1 * src[p01 + 1]) + h1 * (w0 * src[p10 + 1] + w1 * src[p11 + 1]);
        const v2 = h0 * (w0 * src[p00 + 2] + w1 * src[p01 + 2]) + h1 * (w0 * src[p10 + 2] + w1 * src[p11 + 2]);
        out[offset + o] = v0 * k0 + b0;
        out[o1 + o] = v1 * k1 + b1;
        out[o2 + o] = v2 * k2 + b2;
      }
    }
  }

  /**
   * Crops rows y1..y2-1 and columns x1..x2-1 (Python slicing [y1:y2, x1:x2]; the box is
   * first clamped to the image) of a planar 3-channel float image and resizes the crop
   * bilinearly to dstSize x dstSize into a planar region of `out`. An empty box (x2 <= x1
   * or y2 <= y1 after clamping) does not throw: the output is filled with the source pixel
   * at (x1, y1) clamped into the image.
   * @throws PersonaLiveError INTERNAL when a size is not a positive integer or a region does not fit.
   */
  cropResizePlanar(
    src: Float32Array,
    srcOffset: number,
    srcChannelStride: number,
    srcW: number,
    srcH: number,
    box: ArrayLike<number>,
    dstSize: number,
    out: Float32Array,
    outOffset: number,
    outChannelStride: number,
  ): void {
    checkSize('src', srcW, srcH);
    checkSize('dst', dstSize, dstSize);
    checkPlanar('src', src, srcOffset, srcChannelStride, srcW, srcH);
    checkPlanar('out', out, outOffset, outChannelStride, dstSize, dstSize);
    const x1 = clampInt(box[0], 0, srcW);
    const y1 = clampInt(box[1], 0, srcH);
    const x2 = clampInt(box[2], 0, srcW);
    const y2 = clampInt(box[3], 0, srcH);
    const n = dstSize * dstSize;
    if (x2 <= x1 || y2 <= y1) {
      const p = (y1 < srcH ? y1 : srcH - 1) * srcW + (x1 < srcW ? x1 : srcW - 1);
      for (let c = 0; c < 3; c++) {
        const o = outOffset + c * outChannelStride;
        out.fill(src[srcOffset + c * srcChannelStride + p], o, o + n);
      }
      return;
    }
    if (this.cropX.idx.length < 2 * dstSize) {
      this.cropX = newAxisTable(dstSize);
      this.cropY = newAxisTable(dstSize);
    }
    const tx = fillAxisTable(this.cropX, x2 - x1, dstSize, x1, 1);
    const ty = fillAxisTable(this.cropY, y2 - y1, dstSize, y1, srcW);
    const xi = tx.idx, xw = tx.wt;
    const g = srcOffset + srcChannelStride, bl = srcOffset + 2 * srcChannelStride;
    const og = outOffset + outChannelStride, ob = outOffset + 2 * outChannelStride;
    // All three channels per output pixel, so each tap/weight load serves three outputs.
    for (let y = 0; y < dstSize; y++) {
      const r0 = ty.idx[2 * y];
      const r1 = ty.idx[2 * y + 1];
      const h0 = ty.wt[2 * y];
      const h1 = ty.wt[2 * y + 1];
      const rr0 = srcOffset + r0, rr1 = srcOffset + r1;
      const gr0 = g + r0, gr1 = g + r1;
      const br0 = bl + r0, br1 = bl + r1;
      let o = y * dstSize;
      for (let x = 0; x < 2 * dstSize; x += 2, o++) {
        const a = xi[x], b = xi[x + 1];
        const w0 = xw[x], w1 = xw[x + 1];
        out[outOffset + o] = h0 * (w0 * src[rr0 + a] + w1 * src[rr0 + b]) + h1 * (w0 * src[rr1 + a] + w1 * src[rr1 + b]);
        out[og + o] = h0 * (w0 * src[gr0 + a] + w1 * src[gr0 + b]) + h1 * (w0 * src[gr1 + a] + w1 * src[gr1 + b]);
        out[ob + o] = h0 * (w0 * src[br0 + a] + w1 * src[br0 + b]) + h1 * (w0 * src[br1 + a] + w1 * src[br1 + b]);
      }
    }
  }
}

const defaultResizer = new BilinearResizer();

/** BilinearResizer.resizeRgbToPlanar on a module-wide resizer (or the one given). */
export function resizeRgbToPlanar(
  src: Uint8Array,
  srcW: number,
  srcH: number,
  dstW: number,
  dstH: number,
  out: Float32Array,
  offset: number,
  channelStride: number,
  scale: Rgb,
  bias: Rgb,
  resizer: BilinearResizer = defaultResizer,
): void {
  resizer.resizeRgbToPlanar(src, srcW, srcH, dstW, dstH, out, offset, channelStride, scale, bias);
}

/** BilinearResizer.cropResizePlanar on a module-wide resizer (or the one given). */
export function cropResizePlanar(
  src: Float32Array,
  srcOffset: number,
  srcChannelStride: number,
  srcW: number,
  srcH: number,
  box: ArrayLike<number>,
  dstSize: number,
  out: Float32Array,
  outOffset: number,
  outChannelStride: number,
  resizer: BilinearResizer = defaultResizer,
): void {
  resizer.cropResizePlanar(src, srcOffset, srcChannelStride, srcW, srcH, box, dstSize, out, outOffset, outChannelStride);
}

/**
 * Interleaved RGB bytes to planar float32 without resampling:
 * out[offset + c*channelStride + p] = (src[3p + c] / 255) * scale[c] + bias[c].
 */
export function rgbU8ToPlanar(
  src: Uint8Array,
  width: number,
  height: number,
  out: Float32Array,
  offset: number,
  channelStride: number,
  scale: Rgb,
  bias: Rgb,
): void {
  checkSize('src', width, height);
  const n = width * height;
  if (src.length < n * 3) throw new PersonaLiveError('INTERNAL', `'src' has length ${src.length}, expected ${n * 3}`);
  checkPlanar('out', out, offset, channelStride, width, height);
  const k0 = scale[0] / 255, k1 = scale[1] / 255, k2 = scale[2] / 255;
  const b0 = bias[0], b1 = bias[1], b2 = bias[2];
  const o1 = offset + channelStride, o2 = offset + 2 * channelStride;
  for (let p = 0, s = 0; p < n; p++, s += 3) {
    out[offset + p] = src[s] * k0 + b0;
    out[o1 + p] = src[s + 1] * k1 + b1;
    out[o2 + p] = src[s + 2] * k2 + b2;
  }
}

/**
 * One decoded frame to interleaved RGB bytes. `src` is a batch of 3-channel frames:
 * 'NCHW' [N, 3, H, W] or 'NHWC' [N, H, W, 3]; frame `index` is converted. 'zero1' maps
 * [0,1] to v*255; 'minus1to1' maps [-1,1] to (v*0.5+0.5)*255. Values are rounded to
 * nearest and clamped to 0..255; NaN gives 0. (Ties round up; for float32 inputs the only
 * exact ties are v = 0.5 resp. v = 0, where numpy's half-to-even agrees: 128.)
 * Allocates nothing.
 * @throws PersonaLiveError INTERNAL when `src` has no frame `index` or `out` is too small.
 */
export function planarToRgbU8(
  src: Float32Array,
  layout: 'NCHW' | 'NHWC',
  index: number,
  width: number,
  height: number,
  range: 'zero1' | 'minus1to1',
  out: Uint8Array | Uint8ClampedArray,
): void {
  checkSize('frame', width, height);
  const n = width * height;
  if (!Number.isInteger(index) || index < 0 || (index + 1) * 3 * n > src.length) {
    throw new PersonaLiveError('INTERNAL', `'src' of length ${src.length} has no ${width}x${height}x3 frame ${index}`);
  }
  if (out.length < 3 * n) throw new PersonaLiveError('INTERNAL', `'out' has length ${out.length}, expected ${3 * n}`);
  // byte = round(v * k + b) = trunc(v * k + b + 0.5) for the in-range values; the two
  // predictable branches catch the rest (t | 0 is 0 for NaN but wraps for |t| >= 2^31).
  const k = range === 'zero1' ? 255 : 127.5;
  const b = (range === 'zero1' ? 0 : 127.5) + 0.5;
  const base = index * 3 * n;
  if (layout === 'NHWC') {
    const end = 3 * n;
    for (let i = 0; i < end; i++) {
      const t = src[base + i] * k + b;
      let x = t | 0;
      if (t >= 256) x = 255;
      else if (t < 0) x = 0;
      out[i] = x;
    }
  } else {
    const g = base + n, bl = base + 2 * n;
    for (let p = 0, o = 0; p < n; p++, o += 3) {
      let t = src[base + p] * k + b;
      let x = t | 0;
      if (t >= 256) x = 255;
      else if (t < 0) x = 0;
      out[o] = x;
      t = src[g + p] * k + b;
      x = t | 0;
      if (t >= 256) x = 255;
      else if (t < 0) x = 0;
      out[o + 1] = x;
      t = src[bl + p] * k + b;
      x = t | 0;
      if (t >= 256) x = 255;
      else if (t < 0) x = 0;
      out[o + 2] = x;
    }
  }
}

/**
 * A crop box [x1, y1, x2, y2] (Python slicing) truncated and clamped to a srcW x srcH image;
 * an empty box becomes the single pixel at (x1, y1). Writes into and returns `out`.
 */
export function clampCropBox(box: ArrayLike<number>, srcW: number, srcH: number, out: Int32Array): Int32Array {
  const x1 = clampInt(box[0], 0, srcW - 1);
  const y1 = clampInt(box[1], 0, srcH - 1);
  let x2 = clampInt(box[2], 0, srcW);
  let y2 = clampInt(box[3], 0, srcH);
  if (x2 <= x1 || y2 <= y1) {
    x2 = x1 + 1;
    y2 = y1 + 1;
  }
  out[0] = x1;
  out[1] = y1;
  out[2] = x2;
  out[3] = y2;
  return out;
}

function clampInt(v: number, lo: number, hi: number): number {
  const t = Math.trunc(v);
  return t < lo ? lo : t > hi ? hi : t;
}

function checkSize(name: string, w: number, h: number): void {
  if (!(Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0 && w < 65536 && h < 65536)) {
    throw new PersonaLiveError('INTERNAL', `'${name}' size ${w}x${h} is not a positive integer size below 65536`);
  }
}

function checkPlanar(name: string, arr: Float32Array, offset: number, channelStride: number, w: number, h: number): void {
  if (!(offset >= 0 && channelStride >= w * h && offset + 2 * channelStride + w * h <= arr.length)) {
    throw new PersonaLiveError('INTERNAL',
      `'${name}' region (offset ${offset}, channelStride ${channelStride}, ${w}x${h}) does not fit length ${arr.length}`);
  }
}

/** Nearest-neighbour resize of RGB24 (generators whose size is fixed by their pack). */
export function resizeRgbNearest(src: Uint8Array, sw: number, sh: number, dst: Uint8Array, dw: number, dh: number): void {
  for (let y = 0; y < dh; y++) {
    const sy = Math.min(sh - 1, Math.floor(((y + 0.5) * sh) / dh));
    for (let x = 0; x < dw; x++) {
      const sx = Math.min(sw - 1, Math.floor(((x + 0.5) * sw) / dw));
      const s = (sy * sw + sx) * 3;
      const d = (y * dw + x) * 3;
      dst[d] = src[s]!;
      dst[d + 1] = src[s + 1]!;
      dst[d + 2] = src[s + 2]!;
    }
  }
}
