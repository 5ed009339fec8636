/**
 * The compiled pixel kernels agree with the TypeScript reference implementations. Under
 * CI=true the addon must be built (npm ci builds it); elsewhere a missing build skips.
 */
import { describe, expect, it } from 'vitest';
import { createPixelKernels, loadAddon } from '../../daemon/kernels/native.js';
import { alphasCumprod } from '../../daemon/generators/personalive/scheduler.js';
import { PERSONALIVE_SCHEDULER } from '../../models/contract.js';

const { addon, error } = loadAddon();
if (!addon && process.env.CI === 'true') throw new Error(`native kernels must be built under CI: ${error}`);

function random(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x * 1664525 + 1013904223) >>> 0;
    return x / 4294967296;
  };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe.skipIf(!addon)('native pixel kernels', () => {
  const native = createPixelKernels('native');
  const ts = createPixelKernels('typescript');

  it('reports which implementation runs', () => {
    expect(native.implementation).toBe('native');
    expect(ts.implementation).toBe('typescript');
  });

  it.each([
    [512, 512, 256, 256],
    [64, 48, 32, 32],
    [333, 200, 96, 128],
    [20, 20, 64, 64],
  ])('resizeRgbToPlanar %ix%i -> %ix%i matches the TypeScript reference', (sw, sh, dw, dh) => {
    const rnd = random(sw * 7 + dw);
    const src = Uint8Array.from({ length: sw * sh * 3 }, () => Math.floor(rnd() * 256));
    const a = new Float32Array(3 * dw * dh + 5);
    const b = new Float32Array(3 * dw * dh + 5);
    const scale = [2, 1 / 0.27, 1] as const;
    const bias = [-1, -1.7, 0] as const;
    native.resizeRgbToPlanar(src, sw, sh, dw, dh, a, 5, dw * dh, scale, bias);
    ts.resizeRgbToPlanar(src, sw, sh, dw, dh, b, 5, dw * dh, scale, bias);
    expect(maxDiff(a, b)).toBeLessThan(2e-5 * 4);
  });

  it.each([
    [[100, 90, 380, 400]],
    [[-20, -5, 40, 30]],
    [[500, 500, 700, 700]],
    [[10, 10, 10, 50]],
  ])('cropResizeRgbToPlanar box %j matches the TypeScript reference (clamping, empty boxes)', (box) => {
    const rnd = random(box[0] + 1000);
    const src = Uint8Array.from({ length: 512 * 512 * 3 }, () => Math.floor(rnd() * 256));
    const a = new Float32Array(3 * 2 * 56 * 56);
    const b = new Float32Array(3 * 2 * 56 * 56);
    native.cropResizeRgbToPlanar(src, 512, 512, box, 56, a, 56 * 56, 2 * 56 * 56, [2, 2, 2], [-1, -1, -1]);
    ts.cropResizeRgbToPlanar(src, 512, 512, box, 56, b, 56 * 56, 2 * 56 * 56, [2, 2, 2], [-1, -1, -1]);
    expect(maxDiff(a, b)).toBeLessThan(1e-5);
  });

  it.each([['NCHW', 'zero1'], ['NCHW', 'minus1to1'], ['NHWC', 'zero1'], ['NHWC', 'minus1to1']] as const)(
    'planarToRgbU8 %s %s matches byte for byte, including out-of-range and NaN values',
    (layout, range) => {
      const rnd = random(layout.length + range.length);
      const n = 40 * 30;
      const src = Float32Array.from({ length: 2 * 3 * n }, () => rnd() * 2.4 - 1.2);
      src[7] = Number.NaN;
      src[3 * n + 11] = Infinity;
      src[3 * n + 12] = -Infinity;
      const a = new Uint8Array(3 * n);
      const b = new Uint8Array(3 * n);
      for (const index of [0, 1]) {
        native.planarToRgbU8(src, layout, index, 40, 30, range, a);
        ts.planarToRgbU8(src, layout, index, 40, 30, range, b);
        expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      }
    },
  );

  it('ddimStepWindow matches bit for bit with and without x0', () => {
    const rnd = random(99);
    const layout = { channels: 4, frames: 16, plane: 8 * 8 };
    const size = layout.channels * layout.frames * layout.plane;
    const sample = Float32Array.from({ length: size }, () => rnd() * 2 - 1);
    const eps = Float32Array.from({ length: size }, () => rnd() * 2 - 1);
    const timesteps = Array.from({ length: 16 }, (_, f) => [0, 333, 666, 999][Math.floor(f / 4)]);
    const alphas = alphasCumprod(PERSONALIVE_SCHEDULER);
    const [pa, xa, pb, xb] = [0, 0, 0, 0].map(() => new Float32Array(size));
    native.ddimStepWindow(sample, eps, timesteps, layout, alphas, 333, pa, xa);
    ts.ddimStepWindow(sample, eps, timesteps, layout, alphas, 333, pb, xb);
    expect(maxDiff(pa, pb)).toBe(0);
    expect(maxDiff(xa, xb)).toBe(0);
    native.ddimStepWindow(sample, eps, timesteps, layout, alphas, 333, pa, null);
    expect(maxDiff(pa, pb)).toBe(0);
  });

  it('rejects out-of-range arguments with a TypeError instead of reading past buffers', () => {
    expect(() => native.resizeRgbToPlanar(new Uint8Array(10), 10, 10, 4, 4, new Float32Array(48), 0, 16, [1, 1, 1], [0, 0, 0])).toThrow(/out of range/);
    expect(() => native.planarToRgbU8(new Float32Array(3), 'NCHW', 0, 4, 4, 'zero1', new Uint8Array(48))).toThrow(/out of range/);
  });
});
