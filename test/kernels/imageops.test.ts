import { describe, expect, it } from 'vitest';
import { BilinearResizer, cropResizePlanar, planarToRgbU8, resizeRgbToPlanar, rgbU8ToPlanar } from '../../daemon/kernels/imageops.js';
import { seededRandom } from '../../daemon/util/random.js';


/**
 * torch F.interpolate(bilinear, align_corners=False) written plainly in float64 for one
 * channel given by get(x, y) on an inW x inH grid.
 */
function naiveBilinear(get: (x: number, y: number) => number, inW: number, inH: number, outW: number, outH: number): number[] {
  const src = (d: number, inS: number, outS: number): [number, number, number] => {
    const s = Math.max(0, (d + 0.5) * (inS / outS) - 0.5);
    const i0 = Math.floor(s);
    const i1 = Math.min(i0 + 1, inS - 1);
    return [i0, i1, s - i0];
  };
  const out: number[] = [];
  for (let y = 0; y < outH; y++) {
    const [y0, y1, ly] = src(y, inH, outH);
    for (let x = 0; x < outW; x++) {
      const [x0, x1, lx] = src(x, inW, outW);
      const top = (1 - lx) * get(x0, y0) + lx * get(x1, y0);
      const bottom = (1 - lx) * get(x0, y1) + lx * get(x1, y1);
      out.push((1 - ly) * top + ly * bottom);
    }
  }
  return out;
}

describe('resizeRgbToPlanar', () => {
  it('upsamples a 2x2 image to 4x4 as computed by hand (half-pixel centres, edge clamp)', () => {
    // R channel [[0, 100], [200, 40]]; G = 255 - R; B constant 17
    const R = [0, 100, 200, 40];
    const src = new Uint8Array(12);
    R.forEach((v, p) => src.set([v, 255 - v, 17], p * 3));
    const out = new Float32Array(3 * 16);
    resizeRgbToPlanar(src, 2, 2, 4, 4, out, 0, 16, [255, 255, 255], [0, 0, 0]);
    // 1-D taps: d=0 -> v0; d=1 -> 0.75 v0 + 0.25 v1; d=2 -> 0.25 v0 + 0.75 v1; d=3 -> v1
    const want = [
      [0, 25, 75, 100],
      [50, 58.75, 76.25, 85],
      [150, 126.25, 78.75, 55],
      [200, 160, 80, 40],
    ].flat();
    want.forEach((v, i) => {
      expect(out[i]).toBeCloseTo(v, 4);
      expect(out[16 + i]).toBeCloseTo(255 - v, 4);
      expect(out[32 + i]).toBeCloseTo(17, 4);
    });
  });

  it('downsamples 4x1 -> 2x1 by averaging pixel pairs, and applies scale/bias per channel', () => {
    const src = Uint8Array.from([0, 0, 0, 100, 50, 255, 200, 0, 0, 50, 100, 255]);
    const out = new Float32Array(6);
    resizeRgbToPlanar(src, 4, 1, 2, 1, out, 0, 2, [2, 1, 2], [-1, 0.5, -1]);
    // R: (0+100)/2 = 50, (200+50)/2 = 125 -> (v/255)*2 - 1
    expect(out[0]).toBeCloseTo((50 / 255) * 2 - 1, 6);
    expect(out[1]).toBeCloseTo((125 / 255) * 2 - 1, 6);
    expect(out[2]).toBeCloseTo(25 / 255 + 0.5, 6);
    expect(out[3]).toBeCloseTo(50 / 255 + 0.5, 6);
    expect(out[4]).toBeCloseTo(0, 6);
    expect(out[5]).toBeCloseTo(0, 6);
  });

  it('matches a naive float64 reference for random sizes, writing only its region', () => {
    const rnd = seededRandom(1);
    const resizer = new BilinearResizer();
    for (let n = 0; n < 25; n++) {
      const sw = 1 + Math.floor(rnd() * 40), sh = 1 + Math.floor(rnd() * 40);
      const dw = 1 + Math.floor(rnd() * 40), dh = 1 + Math.floor(rnd() * 40);
      const src = new Uint8Array(sw * sh * 3).map(() => Math.floor(rnd() * 256));
      // region = frame 1 of a [1, 3, 2, dh, dw] tensor
      const plane = dw * dh;
      const out = new Float32Array(3 * 2 * plane).fill(-7);
      const scale = [1 / 0.26862954, 1 / 0.26130258, 1 / 0.27577711];
      const bias = [-0.48145466 / 0.26862954, -0.4578275 / 0.26130258, -0.40821073 / 0.27577711];
      resizer.resizeRgbToPlanar(src, sw, sh, dw, dh, out, plane, 2 * plane, scale, bias);
      for (let c = 0; c < 3; c++) {
        const want = naiveBilinear((x, y) => src[(y * sw + x) * 3 + c], sw, sh, dw, dh);
        for (let p = 0; p < plane; p++) {
          expect(Math.abs(out[c * 2 * plane + plane + p] - ((want[p] / 255) * scale[c] + bias[c]))).toBeLessThan(2e-4);
          expect(out[c * 2 * plane + p]).toBe(-7);
        }
      }
    }
  });

  it('halves exactly (2x2 mean) like the naive reference, and matches 1x and 2x sizes of the general path', () => {
    const rnd = seededRandom(5);
    const src = new Uint8Array(10 * 6 * 3).map(() => Math.floor(rnd() * 256));
    const out = new Float32Array(3 * 15);
    resizeRgbToPlanar(src, 10, 6, 5, 3, out, 0, 15, [2, 1, 0.5], [-1, 0, 0.25]);
    const scale = [2, 1, 0.5], bias = [-1, 0, 0.25];
    for (let c = 0; c < 3; c++) {
      const want = naiveBilinear((x, y) => src[(y * 10 + x) * 3 + c], 10, 6, 5, 3);
      for (let p = 0; p < 15; p++) expect(out[c * 15 + p]).toBe(Math.fround((want[p] / 255) * scale[c] + bias[c]));
    }
    // a 2x case in one axis only takes the general path and still agrees
    const out2 = new Float32Array(3 * 5 * 6);
    resizeRgbToPlanar(src, 10, 6, 5, 6, out2, 0, 30, [1, 1, 1], [0, 0, 0]);
    const want2 = naiveBilinear((x, y) => src[(y * 10 + x) * 3], 10, 6, 5, 6);
    for (let p = 0; p < 30; p++) expect(out2[p]).toBeCloseTo(want2[p] / 255, 6);
  });

  it('gives the identity for equal sizes', () => {
    const rnd = seededRandom(2);
    const src = new Uint8Array(7 * 5 * 3).map(() => Math.floor(rnd() * 256));
    const out = new Float32Array(3 * 35);
    resizeRgbToPlanar(src, 7, 5, 7, 5, out, 0, 35, [255, 255, 255], [0, 0, 0]);
    for (let p = 0; p < 35; p++) for (let c = 0; c < 3; c++) expect(out[c * 35 + p]).toBeCloseTo(src[p * 3 + c], 4);
  });

  it('rejects a short source or an out region that does not fit', () => {
    expect(() => resizeRgbToPlanar(new Uint8Array(5), 2, 2, 2, 2, new Float32Array(12), 0, 4, [1, 1, 1], [0, 0, 0])).toThrowError(/'src' has length 5/);
    expect(() => resizeRgbToPlanar(new Uint8Array(12), 2, 2, 2, 2, new Float32Array(11), 0, 4, [1, 1, 1], [0, 0, 0])).toThrowError(/'out' region/);
  });
});

describe('cropResizePlanar', () => {
  const W = 20, H = 16, N = W * H;
  const rnd = seededRandom(3);
  const img = new Float32Array(3 * N).map(() => rnd() * 2 - 1);

  it('crops [y1:y2, x1:x2] then resizes, like the naive reference', () => {
    const boxes: [number, number, number, number][] = [[3, 2, 15, 11], [0, 0, 20, 16], [7, 5, 8, 6], [10, 1, 19, 15]];
    for (const box of boxes) {
      for (const size of [5, 9, 24]) {
        const out = new Float32Array(3 * size * size);
        cropResizePlanar(img, 0, N, W, H, box, size, out, 0, size * size);
        const [x1, y1, x2, y2] = box;
        for (let c = 0; c < 3; c++) {
          const want = naiveBilinear((x, y) => img[c * N + (y1 + y) * W + (x1 + x)], x2 - x1, y2 - y1, size, size);
          for (let p = 0; p < size * size; p++) expect(Math.abs(out[c * size * size + p] - want[p])).toBeLessThan(1e-5);
        }
      }
    }
  });

  it('copies exactly for a full box at the same size, and reads from a region with offset and stride', () => {
    const F = 3;
    const video = new Float32Array(3 * F * N);
    for (let c = 0; c < 3; c++) video.set(img.subarray(c * N, (c + 1) * N), c * F * N + 2 * N); // frame 2
    const S = H; // a square crop at its own size
    const SS = S * S;
    const out = new Float32Array(3 * 2 * SS).fill(9);
    new BilinearResizer().cropResizePlanar(video, 2 * N, F * N, W, H, [2, 0, 2 + S, S], S, out, SS, 2 * SS);
    // torch's float32 weights for an identity resize are exactly (1, 0)
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
          expect(out[c * 2 * SS + SS + y * S + x]).toBe(img[c * N + y * W + x + 2]);
          expect(out[c * 2 * SS + y * S + x]).toBe(9);
        }
      }
    }
  });

  it('fills with the clamped (x1, y1) pixel for an empty box instead of throwing', () => {
    const out = new Float32Array(3 * 16);
    cropResizePlanar(img, 0, N, W, H, [5, 4, 5, 10], 4, out, 0, 16);
    for (let c = 0; c < 3; c++) for (let p = 0; p < 16; p++) expect(out[c * 16 + p]).toBe(img[c * N + 4 * W + 5]);
    cropResizePlanar(img, 0, N, W, H, [30, 40, 30, 40], 4, out, 0, 16);
    for (let c = 0; c < 3; c++) expect(out[c * 16 + 3]).toBe(img[c * N + (H - 1) * W + (W - 1)]);
  });

  it('clamps a box reaching past the image like Python slicing', () => {
    const a = new Float32Array(3 * 36);
    const b = new Float32Array(3 * 36);
    cropResizePlanar(img, 0, N, W, H, [12, 9, 40, 30], 6, a, 0, 36);
    cropResizePlanar(img, 0, N, W, H, [12, 9, W, H], 6, b, 0, 36);
    expect(Array.from(a)).toEqual(Array.from(b));
  });
});

describe('rgbU8ToPlanar', () => {
  it('de-interleaves with scale and bias', () => {
    const src = Uint8Array.from([0, 255, 51, 255, 0, 102]);
    const out = new Float32Array(6);
    rgbU8ToPlanar(src, 2, 1, out, 0, 2, [2, 2, 1], [-1, -1, 0]);
    expect(Array.from(out).map((v) => Number(v.toFixed(6)))).toEqual([-1, 1, 1, -1, 0.2, 0.4]);
  });
});

describe('planarToRgbU8', () => {
  it('converts NCHW zero1 frame `index` with rounding and clamping', () => {
    const W = 3, H = 1, n = 3;
    const src = new Float32Array(2 * 3 * n);
    // frame 1: R = [0, 0.5, 1.2], G = [-0.1, 100.4/255, 100.6/255], B = [NaN, 1, 0]
    src.set([0, 0.5, 1.2, -0.1, 100.4 / 255, 100.6 / 255, NaN, 1, 0], 3 * n);
    const out = new Uint8Array(9);
    planarToRgbU8(src, 'NCHW', 1, W, H, 'zero1', out);
    // 0.5*255 = 127.5 rounds half to even -> 128
    expect(Array.from(out)).toEqual([0, 0, 0, 128, 100, 255, 255, 101, 0]);
  });

  it('converts NHWC minus1to1 frames', () => {
    const src = new Float32Array(2 * 2 * 3);
    src.set([-1, 0, 1, 0.5, -0.5, 2], 6); // frame 1, two pixels
    const out = new Uint8Array(6);
    planarToRgbU8(src, 'NHWC', 1, 2, 1, 'minus1to1', out);
    // (v*0.5+0.5)*255: -1 -> 0, 0 -> 127.5 -> 128, 1 -> 255, 0.5 -> 191.25 -> 191, -0.5 -> 63.75 -> 64, 2 -> 255
    expect(Array.from(out)).toEqual([0, 128, 255, 191, 64, 255]);
  });

  it('saturates huge and infinite values (no int32 wrap-around)', () => {
    const src = Float32Array.from([1e10, -1e10, Infinity, -Infinity, 3e38, 0.999, 1.0019, -0.0019]);
    const out = new Uint8Array(8 * 3);
    // 8 pixels in NHWC needs 24 values: put ours in R of an NCHW frame instead
    const nchw = new Float32Array(24);
    nchw.set(src, 0);
    planarToRgbU8(nchw, 'NCHW', 0, 8, 1, 'zero1', out);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((p) => out[p * 3])).toEqual([255, 0, 255, 0, 255, 255, 255, 0]);
  });

  it('writes into a Uint8Array that is a view into a larger buffer', () => {
    const buf = new Uint8Array(10).fill(7);
    const view = buf.subarray(2, 5);
    planarToRgbU8(Float32Array.from([1, 0, 0.2]), 'NCHW', 0, 1, 1, 'zero1', view);
    expect(Array.from(buf)).toEqual([7, 7, 255, 0, 51, 7, 7, 7, 7, 7]);
  });

  it('rejects a missing frame', () => {
    expect(() => planarToRgbU8(new Float32Array(3), 'NCHW', 1, 1, 1, 'zero1', new Uint8Array(3))).toThrowError(/no 1x1x3 frame 1/);
  });
});
