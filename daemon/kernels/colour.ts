/**
 * Colour conversion for the virtual cameras: packed RGB24 to the YUV layouts they carry
 * (NV12 for OBS Virtual Camera, YUYV or NV12 for v4l2loopback), and RGB24 <-> RGBA/BGRA
 * swizzles (OBS hands driving frames over as BGRA).
 *
 * This is the TypeScript reference; daemon/kernels/native/kernels.cc computes the same integers
 * (test/kernels/colour.test.ts requires byte equality). createColourKernels() picks
 * one (the addon is loaded by daemon/kernels/native.ts) and says which.
 *
 * Matrix: BT.601, limited range (Y 16-235, Cb/Cr 16-240), the range every webcam consumer
 * assumes for SD/HD YUV without metadata. Integer fixed point: luma coefficients scaled by
 * 2^16 and rounded so each row of the chroma matrix sums to exactly 0 (grey gives 128).
 * Chroma is the mean of the pixels it covers (2x2 for NV12, a horizontal pair for YUYV),
 * summed first and shifted once, so rounding happens once.
 *
 * Sizes: NV12 needs even width and height, YUYV even width; odd sizes are refused (a
 * RangeError naming the argument) rather than padded, since neither consumer can carry them.
 * Outputs may be longer than needed (a slot in a shared-memory mapping); nothing is allocated.
 */
import { loadAddon, type Addon, type KernelImplementation } from './native.js';

/** Wire formats of the virtual cameras. */
export type PixelFormat = 'NV12' | 'YUYV';

// Fixed-point BT.601 limited range, scale 2^16: Y = 16 + (219/255)(0.299 R + 0.587 G + 0.114 B),
// Cb = 128 + (224/255)(B - Y')/1.772, Cr = 128 + (224/255)(R - Y')/1.402.
const YR = 16829;
const YG = 33039;
const YB = 6416;
const UR = -9714;
const UG = -19070;
const UB = 28784;
const VR = 28784;
const VG = -24103;
const VB = -4681;
/** 16 << 16 plus one half for rounding. */
const Y_BIAS = (16 << 16) + (1 << 15);
/** For 4-pixel chroma sums, shifted by 18: 128 << 18 plus one half. */
const UV_BIAS_4 = (128 << 18) + (1 << 17);
/** For 2-pixel chroma sums, shifted by 17. */
const UV_BIAS_2 = (128 << 17) + (1 << 16);

/** Bytes of one width x height frame in `format`. */
export function frameBytes(format: PixelFormat, width: number, height: number): number {
  return format === 'NV12' ? (width * height * 3) / 2 : width * height * 2;
}

function checkDimensions(op: string, width: number, height: number, evenWidth: boolean, evenHeight: boolean, why: string): void {
  if (!Number.isInteger(width) || width <= 0 || !Number.isInteger(height) || height <= 0) {
    throw new RangeError(`${op}: 'width' and 'height' must be positive integers, got ${width}x${height}`);
  }
  if ((evenWidth && width % 2 !== 0) || (evenHeight && height % 2 !== 0)) {
    throw new RangeError(`${op}: ${evenHeight ? "'width' and 'height' must be even" : "'width' must be even"} (${why}), got ${width}x${height}`);
  }
}

/** `what` describes the image in the message ("RGB24", "NV12", "with stride 16"): built only on failure, so no per-frame string. */
function checkLength(op: string, name: string, actual: number, expected: number, width: number, height: number, what: string): void {
  if (actual < expected) throw new RangeError(`${op}: '${name}' is ${actual} bytes, expected at least ${expected} for ${width}x${height} ${what}`);
}

/**
 * Whether `format` can carry a width x height frame (NV12: both even; YUYV: even width).
 * @throws RangeError naming the argument, prefixed with `op`
 */
export function checkFrameSize(format: PixelFormat, width: number, height: number, op: string = format): void {
  if (format === 'NV12') checkDimensions(op, width, height, true, true, 'NV12 chroma covers 2x2 pixels');
  else checkDimensions(op, width, height, true, false, 'YUYV chroma covers a horizontal pixel pair');
}

/**
 * Validates an RGB24 -> `format` conversion's arguments.
 * @throws RangeError naming the argument: odd or non-positive sizes, `rgb` or `out` too short
 */
export function checkYuvConversion(format: PixelFormat, rgb: Uint8Array, width: number, height: number, out: Uint8Array): void {
  const op = format === 'NV12' ? 'rgbToNv12' : 'rgbToYuyv';
  checkFrameSize(format, width, height, op);
  checkLength(op, 'rgb', rgb.length, width * height * 3, width, height, 'RGB24');
  checkLength(op, 'out', out.length, frameBytes(format, width, height), width, height, format);
}

/**
 * Validates a 4-byte-per-pixel <-> RGB24 swizzle's arguments (`stride`: bytes per row of
 * the 4-channel image, at least width*4).
 * @throws RangeError naming the argument
 */
export function checkSwizzle(op: string, width: number, height: number, rgbLength: number, quadLength: number, stride: number, quadName: string, rgbName: string): void {
  checkDimensions(op, width, height, false, false, '');
  if (!Number.isInteger(stride) || stride < width * 4) throw new RangeError(`${op}: 'stride' must be an integer >= width*4 (${width * 4}), got ${stride}`);
  if (quadLength < stride * (height - 1) + width * 4) checkLength(op, quadName, quadLength, stride * (height - 1) + width * 4, width, height, `with stride ${stride}`);
  checkLength(op, rgbName, rgbLength, width * height * 3, width, height, 'RGB24');
}

/** @throws RangeError unless `alpha` is an integer 0-255 */
export function checkAlpha(op: string, alpha: number): void {
  if (!Number.isInteger(alpha) || alpha < 0 || alpha > 255) throw new RangeError(`${op}: 'alpha' must be an integer 0-255, got ${alpha}`);
}

/**
 * RGB24 -> NV12: the Y plane (stride = width), then interleaved Cb,Cr at half resolution
 * in both directions (stride = width). Writes frameBytes('NV12', width, height) bytes.
 * @throws RangeError odd width or height, or a buffer too short
 */
export function rgbToNv12(rgb: Uint8Array, width: number, height: number, out: Uint8Array): void {
  checkYuvConversion('NV12', rgb, width, height, out);
  const rowBytes = width * 3;
  let uv = width * height;
  for (let y = 0; y < height; y += 2) {
    let s0 = y * rowBytes;
    let s1 = s0 + rowBytes;
    let y0 = y * width;
    let y1 = y0 + width;
    for (let x = 0; x < width; x += 2) {
      const r0 = rgb[s0], g0 = rgb[s0 + 1], b0 = rgb[s0 + 2];
      const r1 = rgb[s0 + 3], g1 = rgb[s0 + 4], b1 = rgb[s0 + 5];
      const r2 = rgb[s1], g2 = rgb[s1 + 1], b2 = rgb[s1 + 2];
      const r3 = rgb[s1 + 3], g3 = rgb[s1 + 4], b3 = rgb[s1 + 5];
      out[y0] = (YR * r0 + YG * g0 + YB * b0 + Y_BIAS) >> 16;
      out[y0 + 1] = (YR * r1 + YG * g1 + YB * b1 + Y_BIAS) >> 16;
      out[y1] = (YR * r2 + YG * g2 + YB * b2 + Y_BIAS) >> 16;
      out[y1 + 1] = (YR * r3 + YG * g3 + YB * b3 + Y_BIAS) >> 16;
      const r = r0 + r1 + r2 + r3, g = g0 + g1 + g2 + g3, b = b0 + b1 + b2 + b3;
      out[uv] = (UR * r + UG * g + UB * b + UV_BIAS_4) >> 18;
      out[uv + 1] = (VR * r + VG * g + VB * b + UV_BIAS_4) >> 18;
      s0 += 6;
      s1 += 6;
      y0 += 2;
      y1 += 2;
      uv += 2;
    }
  }
}

/**
 * RGB24 -> YUYV (YUY2, 4:2:2): per horizontal pixel pair the bytes Y0 Cb Y1 Cr, chroma
 * the mean of the pair. Writes width*height*2 bytes.
 * @throws RangeError odd width, or a buffer too short
 */
export function rgbToYuyv(rgb: Uint8Array, width: number, height: number, out: Uint8Array): void {
  checkYuvConversion('YUYV', rgb, width, height, out);
  const pairs = (width * height) >> 1;
  let s = 0;
  let o = 0;
  for (let p = 0; p < pairs; p++) {
    const r0 = rgb[s], g0 = rgb[s + 1], b0 = rgb[s + 2];
    const r1 = rgb[s + 3], g1 = rgb[s + 4], b1 = rgb[s + 5];
    const r = r0 + r1, g = g0 + g1, b = b0 + b1;
    out[o] = (YR * r0 + YG * g0 + YB * b0 + Y_BIAS) >> 16;
    out[o + 1] = (UR * r + UG * g + UB * b + UV_BIAS_2) >> 17;
    out[o + 2] = (YR * r1 + YG * g1 + YB * b1 + Y_BIAS) >> 16;
    out[o + 3] = (VR * r + VG * g + VB * b + UV_BIAS_2) >> 17;
    s += 6;
    o += 4;
  }
}

/**
 * 4-channel -> RGB24, the red byte at `redIndex` (0: RGBA, 2: BGRA), alpha ignored.
 * `stride` is the source's bytes per row (OBS frames may be padded).
 * @throws RangeError
 */
export function quadToRgb(src: Uint8Array, width: number, height: number, out: Uint8Array, redIndex: 0 | 2, stride = width * 4): void {
  checkSwizzle(redIndex === 2 ? 'bgraToRgb' : 'rgbaToRgb', width, height, out.length, src.length, stride, 'src', 'out');
  const blueIndex = 2 - redIndex;
  let o = 0;
  for (let y = 0; y < height; y++) {
    let s = y * stride;
    for (let x = 0; x < width; x++) {
      out[o] = src[s + redIndex];
      out[o + 1] = src[s + 1];
      out[o + 2] = src[s + blueIndex];
      s += 4;
      o += 3;
    }
  }
}

/**
 * RGB24 -> 4-channel (tightly packed), the red byte at `redIndex`, alpha set to `alpha`.
 * @throws RangeError
 */
export function rgbToQuad(rgb: Uint8Array, width: number, height: number, out: Uint8Array, redIndex: 0 | 2, alpha = 255): void {
  checkSwizzle(redIndex === 2 ? 'rgbToBgra' : 'rgbToRgba', width, height, rgb.length, out.length, width * 4, 'out', 'rgb');
  checkAlpha(redIndex === 2 ? 'rgbToBgra' : 'rgbToRgba', alpha);
  const blueIndex = 2 - redIndex;
  const n = width * height;
  let s = 0;
  let o = 0;
  for (let p = 0; p < n; p++) {
    out[o + redIndex] = rgb[s];
    out[o + 1] = rgb[s + 1];
    out[o + blueIndex] = rgb[s + 2];
    out[o + 3] = alpha;
    s += 3;
    o += 4;
  }
}

/**
 * The colour kernels behind one interface (TypeScript reference or the compiled addon;
 * see createColourKernels). All methods validate first and throw RangeError naming the
 * bad argument; none allocates.
 */
export interface ColourKernels {
  readonly implementation: KernelImplementation;
  rgbToNv12(rgb: Uint8Array, width: number, height: number, out: Uint8Array): void;
  rgbToYuyv(rgb: Uint8Array, width: number, height: number, out: Uint8Array): void;
  /** Dispatches on `format`: rgbToNv12 or rgbToYuyv. */
  convert(format: PixelFormat, rgb: Uint8Array, width: number, height: number, out: Uint8Array): void;
  /** BGRA (OBS's frames) -> RGB24; `stride` defaults to width*4. */
  bgraToRgb(bgra: Uint8Array, width: number, height: number, out: Uint8Array, stride?: number): void;
  rgbaToRgb(rgba: Uint8Array, width: number, height: number, out: Uint8Array, stride?: number): void;
  rgbToBgra(rgb: Uint8Array, width: number, height: number, out: Uint8Array, alpha?: number): void;
  rgbToRgba(rgb: Uint8Array, width: number, height: number, out: Uint8Array, alpha?: number): void;
}

/** The TypeScript reference kernels. */
export const typescriptColourKernels: ColourKernels = Object.freeze({
  implementation: 'typescript' as const,
  rgbToNv12,
  rgbToYuyv,
  convert(format: PixelFormat, rgb: Uint8Array, width: number, height: number, out: Uint8Array): void {
    if (format === 'NV12') rgbToNv12(rgb, width, height, out);
    else rgbToYuyv(rgb, width, height, out);
  },
  bgraToRgb: (bgra: Uint8Array, width: number, height: number, out: Uint8Array, stride?: number): void => quadToRgb(bgra, width, height, out, 2, stride),
  rgbaToRgb: (rgba: Uint8Array, width: number, height: number, out: Uint8Array, stride?: number): void => quadToRgb(rgba, width, height, out, 0, stride),
  rgbToBgra: (rgb: Uint8Array, width: number, height: number, out: Uint8Array, alpha?: number): void => rgbToQuad(rgb, width, height, out, 2, alpha),
  rgbToRgba: (rgb: Uint8Array, width: number, height: number, out: Uint8Array, alpha?: number): void => rgbToQuad(rgb, width, height, out, 0, alpha),
});

type ColourAddon = Required<Pick<Addon, 'rgbToNv12' | 'rgbToYuyv' | 'quadToRgb' | 'rgbToQuad'>>;

/**
 * The compiled colour kernels. Arguments are validated here, with the same named messages
 * as the TypeScript reference, before the addon is called.
 */
class NativeColourKernels implements ColourKernels {
  readonly implementation = 'native' as const;

  constructor(private readonly addon: ColourAddon) {}

  rgbToNv12(rgb: Uint8Array, width: number, height: number, out: Uint8Array): void {
    checkYuvConversion('NV12', rgb, width, height, out);
    this.addon.rgbToNv12(rgb, width, height, out);
  }

  rgbToYuyv(rgb: Uint8Array, width: number, height: number, out: Uint8Array): void {
    checkYuvConversion('YUYV', rgb, width, height, out);
    this.addon.rgbToYuyv(rgb, width, height, out);
  }

  convert(format: PixelFormat, rgb: Uint8Array, width: number, height: number, out: Uint8Array): void {
    if (format === 'NV12') this.rgbToNv12(rgb, width, height, out);
    else this.rgbToYuyv(rgb, width, height, out);
  }

  bgraToRgb(bgra: Uint8Array, width: number, height: number, out: Uint8Array, stride = width * 4): void {
    checkSwizzle('bgraToRgb', width, height, out.length, bgra.length, stride, 'src', 'out');
    this.addon.quadToRgb(bgra, width, height, out, stride, 2);
  }

  rgbaToRgb(rgba: Uint8Array, width: number, height: number, out: Uint8Array, stride = width * 4): void {
    checkSwizzle('rgbaToRgb', width, height, out.length, rgba.length, stride, 'src', 'out');
    this.addon.quadToRgb(rgba, width, height, out, stride, 0);
  }

  rgbToBgra(rgb: Uint8Array, width: number, height: number, out: Uint8Array, alpha = 255): void {
    checkSwizzle('rgbToBgra', width, height, rgb.length, out.length, width * 4, 'out', 'rgb');
    checkAlpha('rgbToBgra', alpha);
    this.addon.rgbToQuad(rgb, width, height, out, 2, alpha);
  }

  rgbToRgba(rgb: Uint8Array, width: number, height: number, out: Uint8Array, alpha = 255): void {
    checkSwizzle('rgbToRgba', width, height, rgb.length, out.length, width * 4, 'out', 'rgb');
    checkAlpha('rgbToRgba', alpha);
    this.addon.rgbToQuad(rgb, width, height, out, 0, alpha);
  }
}

/** Whether the loaded addon carries the colour kernels, and why not when it does not. */
export function colourAddonStatus(): { available: boolean; reason: string | null } {
  const { addon, error } = loadAddon();
  if (!addon) return { available: false, reason: error };
  if (typeof addon.rgbToNv12 !== 'function' || typeof addon.rgbToYuyv !== 'function' || typeof addon.quadToRgb !== 'function' || typeof addon.rgbToQuad !== 'function') {
    return { available: false, reason: 'the native kernels were built before the colour kernels were added: run npm run build:native' };
  }
  return { available: true, reason: null };
}

/**
 * The colour kernels to use: native when the addon is built (and has them), unless
 * PERSONALIVE_KERNELS=typescript (or `prefer`) asks for the TypeScript reference. Callers
 * report `.implementation`; colourAddonStatus() says why native is not running.
 */
export function createColourKernels(prefer: KernelImplementation | undefined = process.env.PERSONALIVE_KERNELS as KernelImplementation | undefined): ColourKernels {
  if (prefer === 'typescript' || !colourAddonStatus().available) return typescriptColourKernels;
  return new NativeColourKernels(loadAddon().addon as Addon as ColourAddon);
}

/** The name bench/transport.ts uses for createColourKernels. */
export const colourConverters = createColourKernels;
