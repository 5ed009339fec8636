/**
 * RGB24 -> NV12 / YUYV (BT.601 limited range) and the RGBA/BGRA swizzles: known colours,
 * plane layout, chroma averaging, native == TypeScript byte for byte, argument errors.
 * Under CI=true the native addon (with the colour kernels) must be built; elsewhere a
 * missing build skips the native comparisons.
 */
import { describe, expect, it } from 'vitest';
import {
  colourAddonStatus, colourConverters, createColourKernels, frameBytes, rgbToNv12, rgbToYuyv, typescriptColourKernels,
  type ColourKernels, type PixelFormat,
} from '../../daemon/kernels/colour.js';
import { loadAddon } from '../../daemon/kernels/native.js';

const status = colourAddonStatus();
if (!status.available && process.env.CI === 'true') throw new Error(`native colour kernels must be built under CI: ${status.reason}`);

function random(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x * 1664525 + 1013904223) >>> 0;
    return x / 4294967296;
  };
}

function noise(length: number, seed: number): Uint8Array {
  const rnd = random(seed);
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(rnd() * 256);
  return bytes;
}

function solid(width: number, height: number, [r, g, b]: readonly number[]): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i += 3) rgb.set([r, g, b], i);
  return rgb;
}

/** BT.601 limited range in floating point: the definition the integers approximate. */
function bt601(r: number, g: number, b: number): [number, number, number] {
  const y = 0.299 * r + 0.587 * g + 0.114 * b;
  return [16 + (219 * y) / 255, 128 + (224 * (b - y)) / (1.772 * 255), 128 + (224 * (r - y)) / (1.402 * 255)];
}

const KNOWN: [string, [number, number, number], [number, number, number]][] = [
  ['black', [0, 0, 0], [16, 128, 128]],
  ['white', [255, 255, 255], [235, 128, 128]],
  ['red', [255, 0, 0], [81, 90, 240]],
  ['green', [0, 255, 0], [145, 54, 34]],
  ['blue', [0, 0, 255], [41, 240, 110]],
  ['grey', [128, 128, 128], [126, 128, 128]],
];

const implementations: ColourKernels[] = status.available ? [typescriptColourKernels, createColourKernels('native')] : [typescriptColourKernels];

describe.each(implementations.map((k) => [k.implementation, k] as const))('%s colour kernels', (_name, kernels) => {
  it.each(KNOWN)('%s %j gives Y/U/V %j (+-1) in NV12 and YUYV', (_colour, rgb, [y, u, v]) => {
    const nv12 = new Uint8Array(frameBytes('NV12', 4, 2));
    kernels.rgbToNv12(solid(4, 2, rgb), 4, 2, nv12);
    for (const value of nv12.subarray(0, 8)) expect(Math.abs(value - y)).toBeLessThanOrEqual(1);
    for (let i = 8; i < 12; i += 2) {
      expect(Math.abs(nv12[i] - u)).toBeLessThanOrEqual(1);
      expect(Math.abs(nv12[i + 1] - v)).toBeLessThanOrEqual(1);
    }
    const yuyv = new Uint8Array(frameBytes('YUYV', 4, 2));
    kernels.rgbToYuyv(solid(4, 2, rgb), 4, 2, yuyv);
    for (let i = 0; i < yuyv.length; i += 4) {
      expect(Math.abs(yuyv[i] - y)).toBeLessThanOrEqual(1);
      expect(Math.abs(yuyv[i + 1] - u)).toBeLessThanOrEqual(1);
      expect(Math.abs(yuyv[i + 2] - y)).toBeLessThanOrEqual(1);
      expect(Math.abs(yuyv[i + 3] - v)).toBeLessThanOrEqual(1);
    }
  });

  it('stays within +-1 of the floating-point BT.601 definition for random colours, and in range', () => {
    const rgb = noise(64 * 64 * 3, 7);
    const out = new Uint8Array(frameBytes('YUYV', 64, 64));
    kernels.rgbToYuyv(rgb, 64, 64, out);
    let worst = 0;
    let low = 255;
    let high = 0;
    for (let p = 0; p < 64 * 64; p += 2) {
      const a = bt601(rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]);
      const b = bt601(rgb[3 * p + 3], rgb[3 * p + 4], rgb[3 * p + 5]);
      const expected = [a[0], (a[1] + b[1]) / 2, b[0], (a[2] + b[2]) / 2];
      for (let i = 0; i < 4; i++) worst = Math.max(worst, Math.abs(out[2 * p + i] - expected[i]));
      low = Math.min(low, out[2 * p], out[2 * p + 1], out[2 * p + 2], out[2 * p + 3]);
      high = Math.max(high, out[2 * p], out[2 * p + 2]);
    }
    expect(worst).toBeLessThanOrEqual(1);
    expect(low).toBeGreaterThanOrEqual(16);
    expect(high).toBeLessThanOrEqual(235);
  });

  it('NV12: Y plane (stride = width) then one CbCr pair per 2x2 block, the mean of its four pixels', () => {
    // 4x4: left half red, right half blue; the bottom-right block mixes white and black.
    const w = 4;
    const rgb = new Uint8Array(w * 4 * 3);
    const put = (x: number, y: number, c: readonly number[]): void => rgb.set(c, 3 * (y * w + x));
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) put(x, y, x < 2 ? [255, 0, 0] : [0, 0, 255]);
    put(2, 2, [255, 255, 255]);
    put(3, 2, [0, 0, 0]);
    put(2, 3, [255, 255, 255]);
    put(3, 3, [0, 0, 0]);
    const out = new Uint8Array(frameBytes('NV12', 4, 4));
    kernels.rgbToNv12(rgb, 4, 4, out);
    expect(Array.from(out.subarray(0, 16))).toEqual([81, 81, 41, 41, 81, 81, 41, 41, 81, 81, 235, 16, 81, 81, 235, 16]);
    // Blocks in row-major order: red, blue, red, grey (white+black mean).
    expect(Array.from(out.subarray(16))).toEqual([90, 240, 240, 110, 90, 240, 128, 128]);
  });

  it('YUYV: Y0 Cb Y1 Cr per horizontal pair, chroma the mean of the pair', () => {
    const rgb = new Uint8Array([255, 0, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0]);
    const out = new Uint8Array(8);
    kernels.rgbToYuyv(rgb, 4, 1, out);
    const mixed = bt601(127.5, 0, 127.5);
    expect(out[0]).toBe(81);
    expect(out[2]).toBe(41);
    expect(Math.abs(out[1] - mixed[1])).toBeLessThanOrEqual(1);
    expect(Math.abs(out[3] - mixed[2])).toBeLessThanOrEqual(1);
    expect(Array.from(out.subarray(4))).toEqual([235, 128, 16, 128]);
  });

  it('converts into a longer buffer and leaves the bytes past the frame alone', () => {
    const out = new Uint8Array(frameBytes('NV12', 2, 2) + 4).fill(7);
    kernels.rgbToNv12(solid(2, 2, [0, 0, 0]), 2, 2, out);
    expect(Array.from(out)).toEqual([16, 16, 16, 16, 128, 128, 7, 7, 7, 7]);
  });

  it('swizzles BGRA (with row padding) and RGBA to RGB24, and RGB24 back with a given alpha', () => {
    const w = 3;
    const h = 2;
    const rgb = noise(w * h * 3, 3);
    const bgra = new Uint8Array(w * h * 4);
    kernels.rgbToBgra(rgb, w, h, bgra);
    expect(Array.from(bgra.subarray(0, 4))).toEqual([rgb[2], rgb[1], rgb[0], 255]);
    const rgba = new Uint8Array(w * h * 4);
    kernels.rgbToRgba(rgb, w, h, rgba, 9);
    expect(Array.from(rgba.subarray(4, 8))).toEqual([rgb[3], rgb[4], rgb[5], 9]);
    // OBS rows may be padded: stride 16 > 3 * 4.
    const stride = 16;
    const padded = new Uint8Array(stride * h).fill(0xee);
    for (let y = 0; y < h; y++) padded.set(bgra.subarray(y * w * 4, (y + 1) * w * 4), y * stride);
    const back = new Uint8Array(w * h * 3);
    kernels.bgraToRgb(padded, w, h, back, stride);
    expect(Array.from(back)).toEqual(Array.from(rgb));
    back.fill(0);
    kernels.rgbaToRgb(rgba, w, h, back);
    expect(Array.from(back)).toEqual(Array.from(rgb));
  });

  it.each([
    ['odd NV12 width', (): void => kernels.rgbToNv12(new Uint8Array(99), 3, 2, new Uint8Array(99)), /rgbToNv12: 'width' and 'height' must be even \(NV12 chroma covers 2x2 pixels\), got 3x2/],
    ['odd NV12 height', (): void => kernels.rgbToNv12(new Uint8Array(99), 2, 3, new Uint8Array(99)), /'width' and 'height' must be even.*got 2x3/],
    ['odd YUYV width', (): void => kernels.rgbToYuyv(new Uint8Array(99), 5, 2, new Uint8Array(99)), /rgbToYuyv: 'width' must be even \(YUYV chroma covers a horizontal pixel pair\), got 5x2/],
    ['zero size', (): void => kernels.convert('NV12', new Uint8Array(99), 0, 2, new Uint8Array(99)), /'width' and 'height' must be positive integers, got 0x2/],
    ['short NV12 output', (): void => kernels.rgbToNv12(new Uint8Array(12), 2, 2, new Uint8Array(5)), /rgbToNv12: 'out' is 5 bytes, expected at least 6 for 2x2 NV12/],
    ['short YUYV output', (): void => kernels.rgbToYuyv(new Uint8Array(12), 2, 2, new Uint8Array(7)), /rgbToYuyv: 'out' is 7 bytes, expected at least 8 for 2x2 YUYV/],
    ['short RGB input', (): void => kernels.rgbToNv12(new Uint8Array(11), 2, 2, new Uint8Array(6)), /rgbToNv12: 'rgb' is 11 bytes, expected at least 12 for 2x2 RGB24/],
    ['short stride', (): void => kernels.bgraToRgb(new Uint8Array(64), 4, 2, new Uint8Array(24), 12), /bgraToRgb: 'stride' must be an integer >= width\*4 \(16\), got 12/],
    ['short BGRA input', (): void => kernels.bgraToRgb(new Uint8Array(31), 4, 2, new Uint8Array(24)), /bgraToRgb: 'src' is 31 bytes, expected at least 32/],
    ['bad alpha', (): void => kernels.rgbToRgba(new Uint8Array(12), 2, 2, new Uint8Array(16), 256), /rgbToRgba: 'alpha' must be an integer 0-255, got 256/],
  ])('refuses %s with a RangeError naming the argument', (_case, call, message) => {
    expect(call).toThrow(RangeError);
    expect(call).toThrow(message);
  });

  it('YUYV accepts an odd height', () => {
    const out = new Uint8Array(frameBytes('YUYV', 2, 3));
    kernels.rgbToYuyv(solid(2, 3, [255, 255, 255]), 2, 3, out);
    expect(Array.from(out)).toEqual([235, 128, 235, 128, 235, 128, 235, 128, 235, 128, 235, 128]);
  });
});

describe.skipIf(!status.available)('native colour kernels against the TypeScript reference', () => {
  const native = createColourKernels('native');

  it('reports which implementation runs', () => {
    expect(native.implementation).toBe('native');
    expect(createColourKernels('typescript').implementation).toBe('typescript');
    expect(colourConverters('native').implementation).toBe('native');
  });

  it.each([
    ['NV12', 2, 2], ['NV12', 34, 18], ['NV12', 1026, 6], ['NV12', 1280, 720], ['YUYV', 2, 1], ['YUYV', 6, 5], ['YUYV', 1030, 7], ['YUYV', 1280, 720],
  ] as [PixelFormat, number, number][])('%s %ix%i is byte-identical (spans of 512 and their remainders)', (format, w, h) => {
    const rgb = noise(w * h * 3, w * 31 + h);
    const a = new Uint8Array(frameBytes(format, w, h));
    const b = new Uint8Array(frameBytes(format, w, h));
    native.convert(format, rgb, w, h, a);
    if (format === 'NV12') rgbToNv12(rgb, w, h, b);
    else rgbToYuyv(rgb, w, h, b);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it('extremes (0 and 255 in every channel combination) are byte-identical', () => {
    const rgb = new Uint8Array(8 * 2 * 3);
    for (let p = 0; p < 16; p++) rgb.set([(p & 1) * 255, ((p >> 1) & 1) * 255, ((p >> 2) & 1) * 255], 3 * p);
    for (const format of ['NV12', 'YUYV'] as const) {
      const a = new Uint8Array(frameBytes(format, 8, 2));
      const b = new Uint8Array(frameBytes(format, 8, 2));
      native.convert(format, rgb, 8, 2, a);
      typescriptColourKernels.convert(format, rgb, 8, 2, b);
      expect(Array.from(a)).toEqual(Array.from(b));
    }
  });

  it('swizzles are byte-identical', () => {
    const w = 37;
    const h = 5;
    const rgb = noise(w * h * 3, 5);
    const quad = noise(160 * h, 6);
    for (const method of ['bgraToRgb', 'rgbaToRgb'] as const) {
      const a = new Uint8Array(w * h * 3);
      const b = new Uint8Array(w * h * 3);
      native[method](quad, w, h, a, 160);
      typescriptColourKernels[method](quad, w, h, b, 160);
      expect(Array.from(a)).toEqual(Array.from(b));
    }
    for (const method of ['rgbToBgra', 'rgbToRgba'] as const) {
      const a = new Uint8Array(w * h * 4);
      const b = new Uint8Array(w * h * 4);
      native[method](rgb, w, h, a, 200);
      typescriptColourKernels[method](rgb, w, h, b, 200);
      expect(Array.from(a)).toEqual(Array.from(b));
    }
  });

  it('the addon itself refuses buffers too short instead of writing past them', () => {
    const addon = loadAddon().addon!;
    expect(() => addon.rgbToNv12!(new Uint8Array(12), 2, 2, new Uint8Array(5))).toThrow(/out of range/);
    expect(() => addon.rgbToNv12!(new Uint8Array(12), 3, 2, new Uint8Array(100))).toThrow(/out of range/);
    expect(() => addon.rgbToYuyv!(new Uint8Array(11), 2, 2, new Uint8Array(8))).toThrow(/out of range/);
    expect(() => addon.quadToRgb!(new Uint8Array(31), 4, 2, new Uint8Array(24), 16, 2)).toThrow(/out of range/);
    expect(() => addon.rgbToQuad!(new Uint8Array(12), 2, 2, new Uint8Array(15), 0, 255)).toThrow(/out of range/);
  });
});
