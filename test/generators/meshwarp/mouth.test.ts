/**
 * Mouth interior fill and eye-opening helpers, on the synthetic face of synthetic-face.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  cropDriverMouth,
  eyeOpenness,
  fillMouthInterior,
  lipColour,
  limitEyeOpening,
  MouthInteriorFill,
  mouthOpenness,
  type MouthFillStats,
} from '../../../daemon/generators/meshwarp/mouth.js';
import { INNER_LIP_LOWER, INNER_LIP_POLYGON, INNER_LIP_UPPER, LEFT_EYE_LOWER, LEFT_EYE_UPPER, pointInPolygon, RIGHT_EYE_LOWER, RIGHT_EYE_UPPER } from '../../../daemon/generators/meshwarp/topology.js';
import { moveFace, smoothImage, syntheticFace } from '../../fixtures/synthetic-face.js';

const W = 512, H = 512;

/** Signed distance from (x, y) to the closed polygon (negative inside). */
function signedDistance(x: number, y: number, lm: Float32Array, polygon: readonly number[]): number {
  let best = Infinity;
  for (let i = 0; i < polygon.length; i++) {
    const a = polygon[i], b = polygon[(i + 1) % polygon.length];
    const ax = lm[3 * a], ay = lm[3 * a + 1], ex = lm[3 * b] - ax, ey = lm[3 * b + 1] - ay;
    const t = Math.max(0, Math.min(1, ((x - ax) * ex + (y - ay) * ey) / (ex * ex + ey * ey)));
    best = Math.min(best, Math.hypot(x - ax - t * ex, y - ay - t * ey));
  }
  return pointInPolygon(x, y, lm, polygon, 3) ? -best : best;
}

describe('mouthOpenness (signed)', () => {
  it('crossed lips read as less than closed, never as an open mouth (an unsigned gap painted a band between them)', () => {
    const open = syntheticFace({ mouthOpen: 20 });
    expect(mouthOpenness(open)).toBeGreaterThan(0.05);
    // The same mouth with its lips swapped over (the lower contour above the upper one).
    const crossed = Float32Array.from(open);
    for (let k = 1; k < INNER_LIP_UPPER.length - 1; k++) {
      const u = 3 * INNER_LIP_UPPER[k]! + 1, l = 3 * INNER_LIP_LOWER[k]! + 1;
      [crossed[u], crossed[l]] = [crossed[l]!, crossed[u]!];
    }
    expect(mouthOpenness(crossed)).toBeLessThan(0);
    expect(mouthOpenness(crossed)).toBeCloseTo(-mouthOpenness(open), 6);
    // Upside down (a rotated face) the sign still follows the face, not the image.
    const turned = moveFace(open, new Float32Array(open.length), { angle: Math.PI * 0.9 });
    expect(mouthOpenness(turned)).toBeCloseTo(mouthOpenness(open), 3);
  });
});

describe('fillMouthInterior', () => {
  const reference = syntheticFace();
  const frame = smoothImage(W, H);

  it('touches nothing while the mouth is not more open than the reference', () => {
    const out = Uint8Array.from(frame.data);
    const stats: MouthFillStats = { filled: true, pixels: 1 };
    expect(fillMouthInterior(out, W, H, reference, reference, stats)).toBe(0);
    expect(stats).toMatchObject({ filled: false, pixels: 0 });
    // Same opening, face moved and scaled: still nothing.
    const moved = moveFace(reference, new Float32Array(478 * 3), { angle: 0.2, scale: 1.2, tx: 10 });
    expect(fillMouthInterior(out, W, H, moved, reference, stats)).toBe(0);
    // Less open than an open reference: nothing either.
    expect(fillMouthInterior(out, W, H, syntheticFace({ mouthOpen: 4 }), syntheticFace({ mouthOpen: 10 }), stats)).toBe(0);
    expect(Buffer.compare(out, frame.data)).toBe(0);
  });

  it('paints only inside the opened inner-lip polygon plus the feather', () => {
    const open = syntheticFace({ mouthOpen: 24 });
    const out = Uint8Array.from(frame.data);
    const stats: MouthFillStats = { filled: false, pixels: 0 };
    expect(fillMouthInterior(out, W, H, open, reference, stats)).toBe(1);
    expect(stats.filled).toBe(true);
    let changed = 0, outside = 0, insideUnchanged = 0, insideTotal = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const o = (y * W + x) * 3;
        const diff = out[o] !== frame.data[o] || out[o + 1] !== frame.data[o + 1] || out[o + 2] !== frame.data[o + 2];
        const d = signedDistance(x + 0.5, y + 0.5, open, INNER_LIP_POLYGON);
        if (diff) {
          changed++;
          if (d >= 0.75 + 1e-9) outside++;
        }
        if (d < -0.75) {
          insideTotal++;
          if (!diff) insideUnchanged++;
        }
      }
    }
    expect(outside).toBe(0);
    expect(changed).toBeGreaterThan(800);
    expect(stats.pixels).toBeGreaterThanOrEqual(changed);
    expect(insideUnchanged).toBeLessThan(insideTotal * 0.01);
  });

  it('looks like a mouth: dark inside, a lighter teeth band under the upper lip when wide open', () => {
    const cx = 256;
    const render = (openPx: number): { out: Uint8Array; lm: Float32Array } => {
      const lm = syntheticFace({ mouthOpen: openPx });
      const out = new Uint8Array(W * H * 3).fill(128);
      fillMouthInterior(out, W, H, lm, reference);
      return { out, lm };
    };
    const luminance = (out: Uint8Array, x: number, y: number): number => {
      const o = (Math.round(y) * W + x) * 3;
      return 0.299 * out[o] + 0.587 * out[o + 1] + 0.114 * out[o + 2];
    };
    const wide = render(30);
    const top = wide.lm[3 * 13 + 1], bottom = wide.lm[3 * 14 + 1];
    const middle = luminance(wide.out, cx, (top + bottom) / 2);
    expect(middle).toBeLessThan(40);
    const teeth = luminance(wide.out, cx, top + 2);
    expect(teeth).toBeGreaterThan(middle + 60);
    // Barely open: no teeth yet, just dark.
    const narrow = render(4);
    const nTop = narrow.lm[3 * 13 + 1];
    expect(luminance(narrow.out, cx, nTop + 1.5)).toBeLessThan(110);
  });

  it('MouthInteriorFill gives the same pixels as the function and allocates its scratch once', () => {
    const open = syntheticFace({ mouthOpen: 16 });
    const a = Uint8Array.from(frame.data), b = Uint8Array.from(frame.data);
    const fill = new MouthInteriorFill(reference);
    expect(fill.referenceOpenness).toBeCloseTo(mouthOpenness(reference), 9);
    expect(fill.strength(open)).toBe(1);
    fill.render(a, W, H, open);
    fillMouthInterior(b, W, H, open, reference);
    expect(Buffer.compare(a, b)).toBe(0);
  });

  it('fades in over the ramp of extra opening', () => {
    const fill = new MouthInteriorFill(reference, { ramp: 0.05 });
    const s = [0, 1, 2, 3, 4, 6, 8].map((px) => fill.strength(syntheticFace({ mouthOpen: px })));
    for (let i = 1; i < s.length; i++) expect(s[i]).toBeGreaterThanOrEqual(s[i - 1]);
    expect(s[0]).toBe(0);
    expect(s[2]).toBeGreaterThan(0);
    expect(s[2]).toBeLessThan(1);
    expect(s[6]).toBe(1);
  });

  it('names the buffer that is too short', () => {
    expect(() => fillMouthInterior(new Uint8Array(3), W, H, reference, reference)).toThrow(/'out' has length 3/);
  });
});

describe('eye helpers', () => {
  const face = syntheticFace();

  it('measures openness as lid distance over eye width', () => {
    const right = eyeOpenness(face, 'right');
    const left = eyeOpenness(face, 'left');
    expect(right).toBeGreaterThan(0.15);
    expect(right).toBeLessThan(0.4);
    expect(left).toBeCloseTo(right, 5);
    // Scale-invariant.
    expect(eyeOpenness(moveFace(face, new Float32Array(478 * 3), { scale: 1.7, angle: 0.4 }), 'right')).toBeCloseTo(right, 4);
    // Stride 2 (vertex arrays) works too.
    const xy = new Float32Array(478 * 2);
    for (let i = 0; i < 478; i++) {
      xy[2 * i] = face[3 * i];
      xy[2 * i + 1] = face[3 * i + 1];
    }
    expect(eyeOpenness(xy, 'left', 2)).toBeCloseTo(left, 6);
  });

  it('limits an eye that opens too wide, keeping corners and lid midpoints', () => {
    const wide = Float32Array.from(face);
    for (const [upper, lower] of [[RIGHT_EYE_UPPER, RIGHT_EYE_LOWER]] as const) {
      for (let k = 1; k < upper.length - 1; k++) {
        wide[3 * upper[k] + 1] -= 8;
        wide[3 * lower[k] + 1] += 8;
      }
    }
    const before = eyeOpenness(wide, 'right');
    const max = eyeOpenness(face, 'right') * 1.1;
    const copy = Float32Array.from(wide);
    expect(limitEyeOpening(wide, 'right', max)).toBe(true);
    expect(eyeOpenness(wide, 'right')).toBeCloseTo(max, 5);
    expect(before).toBeGreaterThan(max);
    expect(wide[3 * 33]).toBe(copy[3 * 33]);
    expect(wide[3 * 133 + 1]).toBe(copy[3 * 133 + 1]);
    const mid = (lm: Float32Array): number => (lm[3 * 159 + 1] + lm[3 * 145 + 1]) / 2;
    expect(mid(wide)).toBeCloseTo(mid(copy), 4);
    // The other eye, and an eye already within the limit, are left alone.
    expect(limitEyeOpening(wide, 'left', eyeOpenness(face, 'left') * 1.1)).toBe(false);
    for (const i of [...LEFT_EYE_UPPER, ...LEFT_EYE_LOWER]) expect(wide[3 * i + 1]).toBe(copy[3 * i + 1]);
  });
});

describe('the driver\'s own mouth interior', () => {
  const reference = syntheticFace();
  const frame = smoothImage(W, H);

  /** A driving frame whose open mouth's interior is one colour and whose lips are another. */
  function drivingFrame(driver: Float32Array, interior: readonly number[], lips: readonly number[]): { data: Uint8Array; width: number; height: number } {
    const data = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const inside = pointInPolygon(x + 0.5, y + 0.5, driver, INNER_LIP_POLYGON, 3);
        data.set(inside ? interior : lips, 3 * (y * W + x));
      }
    }
    return { data, width: W, height: H };
  }

  it('crops the driving frame around an open mouth only, pixel for pixel', () => {
    const driver = moveFace(syntheticFace({ mouthOpen: 24 }), new Float32Array(478 * 3), { tx: 30, ty: -10 });
    const source = { data: Uint8Array.from(frame.data), width: W, height: H };
    const mouth = cropDriverMouth(source, driver)!;
    expect(mouth.width).toBeGreaterThan(20);
    for (const [x, y] of [[0, 0], [mouth.width - 1, mouth.height - 1], [5, 3]] as const) {
      const o = 3 * (y * mouth.width + x), f = 3 * ((mouth.y + y) * W + mouth.x + x);
      expect([...mouth.data.subarray(o, o + 3)]).toEqual([...source.data.subarray(f, f + 3)]);
    }
    // Inner lips 13/14 are inside the crop.
    for (const i of [13, 14, 61, 291]) {
      expect(driver[3 * i]).toBeGreaterThanOrEqual(mouth.x);
      expect(driver[3 * i]).toBeLessThan(mouth.x + mouth.width);
    }
    expect(cropDriverMouth(source, syntheticFace())).toBeNull(); // closed: nothing to show
    const broken = Float32Array.from(driver);
    broken[3 * 61] = Number.NaN;
    expect(cropDriverMouth(source, broken)).toBeNull();
  });

  it('an open mouth shows the driver\'s interior, colour-matched to the portrait\'s lips; weight 0 is the synthetic interior exactly', () => {
    const driver = moveFace(syntheticFace({ mouthOpen: 30 }), new Float32Array(478 * 3), { tx: -40, scale: 0.8 });
    const shown = syntheticFace({ mouthOpen: 30 });
    const mouth = cropDriverMouth(drivingFrame(driver, [20, 120, 40], [200, 100, 100]), driver)!;
    // The driver's lips are (200, 100, 100); say the portrait's are (100, 100, 100): red halves.
    const gain = Float64Array.from([0.5, 1, 1]);
    const synthetic = Uint8Array.from(frame.data);
    fillMouthInterior(synthetic, W, H, shown, reference);
    const none = Uint8Array.from(frame.data);
    fillMouthInterior(none, W, H, shown, reference, undefined, undefined, { mouth, landmarks: driver, gain, weight: 0 });
    expect(Buffer.compare(none, synthetic)).toBe(0);
    const own = Uint8Array.from(frame.data);
    fillMouthInterior(own, W, H, shown, reference, undefined, undefined, { mouth, landmarks: driver, gain, weight: 1 });
    // At the middle of the opening: the driver's green interior (times the gain), not the synthetic dark red.
    const cx = Math.round((shown[3 * 13] + shown[3 * 14]) / 2), cy = Math.round((shown[3 * 13 + 1] + shown[3 * 14 + 1]) / 2);
    const o = 3 * (cy * W + cx);
    expect([...own.subarray(o, o + 3)]).toEqual([10, 120, 40]);
    expect(synthetic[o + 1]).toBeLessThan(60);
  });

  it('lipColour reads the lips\' bodies between the inner and outer contours', () => {
    const driver = syntheticFace({ mouthOpen: 30 });
    const image = drivingFrame(driver, [0, 0, 0], [180, 90, 80]);
    const out = new Float64Array(3);
    expect(lipColour(image.data, W, H, driver, 0, 0, out)).toBe(true);
    expect([...out]).toEqual([180, 90, 80]);
    expect(lipColour(image.data, 10, 10, driver, 0, 0, out)).toBe(false); // no sample inside
  });
});
