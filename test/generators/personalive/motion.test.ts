import { describe, expect, it } from 'vitest';
import {
  createKeypointInfo,
  faceBox,
  headposeDegrees,
  interpolateFrames,
  KEYPOINT_MAP_COLORS,
  KEYPOINT_MAP_INDICES,
  KeypointMapCanvas,
  keyframeDistance,
  readExtractorOutputs,
  rotationMatrix,
  transferToReference,
  transformKeypoints,
  warmupPoses,
  type KeypointInfo,
} from '../../../daemon/generators/personalive/motion.js';
import { float32ToFloat16 } from '../../../daemon/kernels/float16.js';
import { seededRandom } from '../../../daemon/util/random.js';


/** Normalised coordinate whose pixel (torch: trunc((v*0.5+0.5)*size)) is p. */
function coordFor(p: number, size: number): number {
  return ((p + 0.5) / size) * 2 - 1;
}

/** 63 keypoints with every map point off the canvas, then the given map points placed at pixels. */
function kpsAt(points: Record<number, [number, number]>, W: number, H: number): Float32Array {
  const k = new Float32Array(63).fill(-10);
  for (const [slot, [x, y]] of Object.entries(points)) {
    const j = KEYPOINT_MAP_INDICES[Number(slot)] * 3;
    k[j] = coordFor(x, W);
    k[j + 1] = coordFor(y, H);
  }
  return k;
}

/** The brute-force map, as the torch code draws it: every pixel tests every disc. */
function naiveMap(kps: Float32Array, W: number, H: number): Float32Array {
  const out = new Float32Array(3 * W * H);
  KEYPOINT_MAP_INDICES.forEach((idx, k) => {
    const px = Math.trunc(Math.fround(Math.fround(kps[idx * 3] * 0.5 + 0.5) * W));
    const py = Math.trunc(Math.fround(Math.fround(kps[idx * 3 + 1] * 0.5 + 0.5) * H));
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        if ((x - px) ** 2 + (y - py) ** 2 <= 16) {
          for (let c = 0; c < 3; c++) out[c * W * H + y * W + x] += KEYPOINT_MAP_COLORS[k][c];
        }
      }
    }
  });
  for (let i = 0; i < out.length; i++) out[i] = Math.min(1, out[i]);
  return out;
}

function info(partial: Partial<KeypointInfo>): KeypointInfo {
  return Object.assign(createKeypointInfo(), partial);
}

describe('headposeDegrees', () => {
  it('gives k*3 - 97.5 for a dominant bin k, at any row offset', () => {
    const logits = new Float32Array(2 * 66);
    for (const k of [0, 10, 32, 65]) {
      logits.fill(0);
      logits[66 + k] = 60;
      expect(headposeDegrees(logits, 66)).toBeCloseTo(k * 3 - 97.5, 9);
    }
  });
  it('gives 0 for uniform logits (mean bin 32.5) and the mid-point for two equal bins', () => {
    expect(headposeDegrees(new Float32Array(66).fill(3), 0)).toBeCloseTo(0, 10);
    const l = new Float32Array(66);
    l[10] = 40;
    l[11] = 40;
    expect(headposeDegrees(l, 0)).toBeCloseTo(10.5 * 3 - 97.5, 9);
  });
  it('is stable for huge logits', () => {
    const l = new Float32Array(66).fill(-1e4);
    l[40] = 1e4;
    expect(headposeDegrees(l, 0)).toBeCloseTo(40 * 3 - 97.5, 9);
  });
});

describe('rotationMatrix', () => {
  /** v (row vector) @ m (row-major 3x3) */
  const apply = (v: number[], m: Float64Array): number[] => [0, 1, 2].map((k) => v[0] * m[k] + v[1] * m[3 + k] + v[2] * m[6 + k]);

  it('is orthonormal with determinant 1 for random angles', () => {
    const rnd = seededRandom(3);
    for (let n = 0; n < 50; n++) {
      const m = rotationMatrix(rnd() * 360 - 180, rnd() * 360 - 180, rnd() * 360 - 180);
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) {
          let dot = 0;
          for (let k = 0; k < 3; k++) dot += m[i * 3 + k] * m[j * 3 + k];
          expect(dot).toBeCloseTo(i === j ? 1 : 0, 12);
        }
      }
      const det =
        m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
      expect(det).toBeCloseTo(1, 12);
    }
  });

  it('maps axes as R = Rz(roll) Ry(yaw) Rx(pitch) applied to column vectors (kp @ R^T)', () => {
    const close = (a: number[], b: number[]): void => a.forEach((v, i) => expect(v).toBeCloseTo(b[i], 12));
    // yaw 90: Ry x = (cos, 0, -sin) = (0, 0, -1)
    close(apply([1, 0, 0], rotationMatrix(0, 90, 0)), [0, 0, -1]);
    // pitch 90: Rx y = (0, cos, sin) = (0, 0, 1)
    close(apply([0, 1, 0], rotationMatrix(90, 0, 0)), [0, 0, 1]);
    // roll 90: Rz x = (cos, sin, 0) = (0, 1, 0)
    close(apply([1, 0, 0], rotationMatrix(0, 0, 90)), [0, 1, 0]);
    // order: pitch then yaw: Ry(90) Rx(90) y = Ry z = (sin, 0, cos) = (1, 0, 0) (the other order gives z)
    close(apply([0, 1, 0], rotationMatrix(90, 90, 0)), [1, 0, 0]);
    // yaw then roll: Rz(90) Ry(90) z = Rz (1, 0, 0) = (0, 1, 0)
    close(apply([0, 0, 1], rotationMatrix(0, 90, 90)), [0, 1, 0]);
    // the stored matrix is R^T: out[1] = R[1][0] = sin(roll) for pitch = yaw = 0
    expect(rotationMatrix(0, 0, 30)[1]).toBeCloseTo(0.5, 12);
    expect(rotationMatrix(0, 0, 30)[3]).toBeCloseTo(-0.5, 12);
  });
});

describe('readExtractorOutputs', () => {
  it('reads row `index` of a batch with the documented strides, angles in degrees', () => {
    const N = 2;
    const kp = new Float32Array(N * 63).map((_, i) => i);
    const exp = new Float32Array(N * 63).map((_, i) => -i);
    const angles = (bin: number): Float32Array => {
      const a = new Float32Array(N * 66);
      a[66 + bin] = 80; // row 1 only
      return a;
    };
    const outputs = {
      kp,
      exp,
      pitch: angles(30),
      yaw: angles(40),
      roll: angles(20),
      t: Float32Array.from([1, 2, 3, 4, 5, 6]),
      scale: Float32Array.from([0.5, 1.5]),
    };
    const r = readExtractorOutputs(outputs, 1);
    expect(r.kp[0]).toBe(63);
    expect(r.kp[62]).toBe(125);
    expect(r.exp[5]).toBe(-68);
    expect(Array.from(r.t)).toEqual([4, 5, 6]);
    expect(r.scale).toBe(1.5);
    expect(r.pitch).toBeCloseTo(30 * 3 - 97.5, 9);
    expect(r.yaw).toBeCloseTo(40 * 3 - 97.5, 9);
    expect(r.roll).toBeCloseTo(20 * 3 - 97.5, 9);
    expect(() => readExtractorOutputs(outputs, 2)).toThrowError(/'kp'/);
  });
});

describe('transformKeypoints / transferToReference', () => {
  it('rotates (row vectors), scales, then translates x and y only', () => {
    const kp = new Float32Array(63);
    kp.set([1, 0, 0], 0);
    kp.set([0, 1, 0], 3);
    kp.set([0, 0, 1], 6);
    const src = info({ kp, yaw: 90, scale: 2, t: Float32Array.from([0.1, 0.2, 0.3]) });
    const out = new Float32Array(63);
    transformKeypoints(src, out);
    const row = (i: number): number[] => Array.from(out.subarray(i * 3, i * 3 + 3));
    // x -> (0,0,-1) *2 -> (0,0,-2) + (0.1,0.2) ; y -> (0,1,0)*2 + t ; z -> (1,0,0)*2 + t
    [[0.1, 0.2, -2], [0.1, 2.2, 0], [2.1, 0.2, 0]].forEach((want, i) => row(i).forEach((v, k) => expect(v).toBeCloseTo(want[k], 6)));
    // untouched points get just the translation
    expect(row(5).map((v) => Number(v.toFixed(6)))).toEqual([0.1, 0.2, 0]);
    // with zero angles it is kp*s + t
    const plain = info({ kp: new Float32Array(63).fill(0.5), scale: 3, t: Float32Array.from([1, -1, 7]) });
    transformKeypoints(plain, out);
    expect([out[0], out[1], out[2]]).toEqual([2.5, 0.5, 1.5]);
  });

  it('takes absolute angles from the driver, relative translation, the reference scale (factor 0) and kp', () => {
    const ref = info({ pitch: 1, yaw: 2, roll: 3, scale: 1.25, t: Float32Array.from([0.1, 0.2, 0.3]), kp: new Float32Array(63).fill(7), exp: new Float32Array(63).fill(8) });
    const first = info({ pitch: 10, yaw: 20, roll: 30, scale: 2, t: Float32Array.from([1, 1, 1]) });
    const drv = info({ pitch: -5, yaw: 15, roll: 4, scale: 3, t: Float32Array.from([2, 0, 1.5]), kp: new Float32Array(63).fill(9) });
    const r = transferToReference(ref, first, drv, 0.5, 0);
    expect([r.pitch, r.yaw, r.roll]).toEqual([-5, 15, 4]);
    // t = (drv - first) * 0.5 + ref
    expect(r.t[0]).toBeCloseTo(0.6, 6);
    expect(r.t[1]).toBeCloseTo(-0.3, 6);
    expect(r.t[2]).toBeCloseTo(0.55, 6);
    expect(r.scale).toBe(1.25);
    expect(r.kp[10]).toBe(7);
    expect(r.exp[10]).toBe(8);
    expect(transferToReference(ref, first, drv, 0.5, 0.5).scale).toBeCloseTo(2.75, 9);
    // the first driving frame itself transfers to the reference translation
    const self = transferToReference(ref, first, first, 0.5, 0);
    expect(Array.from(self.t)).toEqual(Array.from(ref.t));
  });
});

describe('warmupPoses / interpolateFrames', () => {
  it('builds 12 poses from the reference, each 1/12 further towards the first driving pose', () => {
    const ref = info({ pitch: 0, yaw: 12, roll: -6, scale: 1, t: Float32Array.from([0, 0.12, 1]), kp: new Float32Array(63).fill(4) });
    const drv = info({ pitch: 24, yaw: 0, roll: 6, scale: 2.2, t: Float32Array.from([1.2, 0, 1]), kp: new Float32Array(63).fill(5) });
    const poses = warmupPoses(ref, drv);
    expect(poses.length).toBe(12);
    expect(poses[0].pitch).toBe(0);
    expect(poses[0].yaw).toBe(12);
    expect(poses[0].scale).toBe(1);
    for (let k = 0; k < 12; k++) {
      expect(poses[k].pitch).toBeCloseTo(2 * k, 9);
      expect(poses[k].yaw).toBeCloseTo(12 - k, 9);
      expect(poses[k].roll).toBeCloseTo(-6 + k, 9);
      expect(poses[k].scale).toBeCloseTo(1 + 0.1 * k, 6);
      expect(poses[k].t[0]).toBeCloseTo(0.1 * k, 6);
      expect(poses[k].t[1]).toBeCloseTo(0.12 - 0.01 * k, 6);
      expect(poses[k].t[2]).toBeCloseTo(1, 6);
      expect(poses[k].kp[0]).toBe(4);
    }
    expect(warmupPoses(ref, drv, 4).map((p) => p.pitch)).toEqual([0, 6, 12, 18]);
  });

  it('interpolates frames from a (frame 0) towards b, dropping b itself', () => {
    const a = Float32Array.from([0, 12, -24, 1]);
    const b = Float32Array.from([12, 0, 24, 1]);
    const out = new Float32Array(12 * 4);
    interpolateFrames(a, b, 12, out);
    expect(Array.from(out.subarray(0, 4))).toEqual(Array.from(a));
    for (let k = 0; k < 12; k++) {
      expect(out[k * 4]).toBeCloseTo(k, 5);
      expect(out[k * 4 + 1]).toBeCloseTo(12 - k, 5);
      expect(out[k * 4 + 2]).toBeCloseTo(-24 + 4 * k, 5);
      expect(out[k * 4 + 3]).toBeCloseTo(1, 6);
    }
  });
});

describe('KeypointMapCanvas', () => {
  const W = 32, H = 24, N = W * H;
  const at = (m: Float32Array, c: number, x: number, y: number, offset = 0, stride = N): number => m[offset + c * stride + y * W + x];

  it('fills a disc of radius 4 ((X-px)^2 + (Y-py)^2 <= 16) in the keypoint colour', () => {
    const m = new Float32Array(3 * N);
    new KeypointMapCanvas().draw(kpsAt({ 0: [10, 10] }, W, H), m, 0, N, W, H);
    expect(at(m, 0, 14, 10)).toBe(1); // distance 4
    expect(at(m, 0, 10, 6)).toBe(1);
    expect(at(m, 0, 13, 12)).toBe(1); // 9 + 4 = 13
    expect(at(m, 0, 13, 13)).toBe(0); // 9 + 9 = 18 > 16
    expect(at(m, 0, 15, 10)).toBe(0);
    let red = 0, other = 0;
    for (let p = 0; p < N; p++) {
      if (m[p] !== 0) red++;
      if (m[N + p] !== 0 || m[2 * N + p] !== 0) other++;
    }
    expect(red).toBe(49); // lattice points in a radius-4 disc
    expect(other).toBe(0);
  });

  it('uses the seven PersonaLive colours', () => {
    const pts: Record<number, [number, number]> = {};
    for (let k = 0; k < 7; k++) pts[k] = [4 + k * 10, k % 2 === 0 ? 5 : 15];
    const wide = 80;
    const m = new Float32Array(3 * wide * H);
    new KeypointMapCanvas().draw(kpsAt(pts, wide, H), m, 0, wide * H, wide, H);
    const want = [[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1], [1, 0, 1], [1, 0, 85 / 255]];
    for (let k = 0; k < 7; k++) {
      const [x, y] = pts[k];
      for (let c = 0; c < 3; c++) expect(m[c * wide * H + y * wide + x]).toBeCloseTo(want[k][c], 6);
    }
  });

  it('adds overlapping colours and clamps to 1', () => {
    const m = new Float32Array(3 * N);
    // red + yellow: R = 2 -> 1, G = 1; magenta + (255,0,85): B = 1 + 1/3 -> 1
    new KeypointMapCanvas().draw(kpsAt({ 0: [8, 8], 1: [8, 8], 5: [20, 12], 6: [20, 12] }, W, H), m, 0, N, W, H);
    expect([at(m, 0, 8, 8), at(m, 1, 8, 8), at(m, 2, 8, 8)]).toEqual([1, 1, 0]);
    expect([at(m, 0, 20, 12), at(m, 1, 20, 12), at(m, 2, 20, 12)]).toEqual([1, 0, 1]);
    // (255,0,85) alone just beyond magenta's disc keeps 85/255 in blue
    const m2 = new Float32Array(3 * N);
    new KeypointMapCanvas().draw(kpsAt({ 5: [10, 12], 6: [13, 12] }, W, H), m2, 0, N, W, H);
    expect(at(m2, 2, 17, 12)).toBeCloseTo(85 / 255, 6);
    expect(at(m2, 2, 12, 12)).toBe(1);
    // partial overlap: (255,0,85) on top of green -> (1, 1, 1/3)
    const m3 = new Float32Array(3 * N);
    new KeypointMapCanvas().draw(kpsAt({ 2: [10, 10], 6: [10, 10] }, W, H), m3, 0, N, W, H);
    expect(at(m3, 0, 10, 10)).toBe(1);
    expect(at(m3, 1, 10, 10)).toBe(1);
    expect(at(m3, 2, 10, 10)).toBeCloseTo(85 / 255, 6);
  });

  it('clips at the borders without wrapping', () => {
    const m = new Float32Array(3 * N);
    new KeypointMapCanvas().draw(kpsAt({ 0: [0, 0] }, W, H), m, 0, N, W, H);
    let count = 0;
    for (let p = 0; p < N; p++) if (m[p] !== 0) count++;
    expect(count).toBe(5 + 4 + 4 + 3 + 1); // rows Y = 0..4 of the quarter disc
    for (let y = 0; y < H; y++) expect(at(m, 0, W - 1, y)).toBe(0);
    const m2 = new Float32Array(3 * N);
    new KeypointMapCanvas().draw(kpsAt({ 0: [W - 1, H - 1] }, W, H), m2, 0, N, W, H);
    expect(at(m2, 0, W - 1, H - 1)).toBe(1);
    expect(at(m2, 0, W - 5, H - 1)).toBe(1);
    expect(at(m2, 0, 0, 0)).toBe(0);
    for (let x = 0; x < W; x++) expect(at(m2, 0, x, 0)).toBe(0);
  });

  it('truncates negative pixel positions toward zero (-2.6 -> -2, not -3)', () => {
    const k = new Float32Array(63).fill(-10);
    const j = KEYPOINT_MAP_INDICES[0] * 3;
    k[j] = (-2.6 / W) * 2 - 1; // (x*0.5+0.5)*W = -2.6
    k[j + 1] = coordFor(10, H);
    const m = new Float32Array(3 * N);
    new KeypointMapCanvas().draw(k, m, 0, N, W, H);
    expect(at(m, 0, 2, 10)).toBe(1); // (2 - (-2))^2 = 16: inside only with px = -2
    expect(at(m, 0, 3, 10)).toBe(0);
    expect(at(m, 0, 0, 13)).toBe(1); // 4 + 9 = 13
  });

  it('matches a brute-force drawing for random keypoints, including redraws of the same region', () => {
    const rnd = seededRandom(9);
    const canvas = new KeypointMapCanvas();
    const m = new Float32Array(3 * N);
    for (let n = 0; n < 30; n++) {
      const kps = new Float32Array(63).map(() => rnd() * 2.4 - 1.2);
      canvas.draw(kps, m, 0, N, W, H);
      expect(Array.from(m)).toEqual(Array.from(naiveMap(kps, W, H)));
    }
  });

  it('clears only its previous discs and leaves no stale pixel after a point moves (per-region tracking)', () => {
    const F = 2;
    const pose = new Float32Array(3 * F * N); // [1, 3, F, H, W]
    const canvas = new KeypointMapCanvas();
    const a = kpsAt({ 0: [5, 5], 3: [20, 10] }, W, H);
    const b = kpsAt({ 0: [25, 18], 3: [3, 20] }, W, H);
    canvas.draw(a, pose, 0, F * N, W, H); // frame 0
    canvas.draw(a, pose, N, F * N, W, H); // frame 1
    canvas.draw(b, pose, 0, F * N, W, H); // frame 0 moves
    const refA = naiveMap(a, W, H);
    const refB = naiveMap(b, W, H);
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < N; p++) {
        expect(pose[c * F * N + p]).toBe(refB[c * N + p]);
        expect(pose[c * F * N + N + p]).toBe(refA[c * N + p]);
      }
    }
  });

  it('zeroes an unseen region fully on its first draw, and clear() zeroes everything', () => {
    const m = new Float32Array(3 * N).fill(0.7);
    const canvas = new KeypointMapCanvas();
    const k = kpsAt({ 4: [12, 12] }, W, H);
    canvas.draw(k, m, 0, N, W, H);
    expect(Array.from(m)).toEqual(Array.from(naiveMap(k, W, H)));
    canvas.clear(m, 0, N, W, H);
    expect(m.every((v) => v === 0)).toBe(true);
    // after forget(), foreign writes are wiped by the next draw
    m.fill(0.3);
    canvas.forget(m);
    canvas.draw(k, m, 0, N, W, H);
    expect(Array.from(m)).toEqual(Array.from(naiveMap(k, W, H)));
  });

  it('draws float16 maps (Uint16Array) equal to the float32 map converted to half, redraws included', () => {
    const rnd = seededRandom(21);
    const canvas = new KeypointMapCanvas();
    const F = 2;
    const half = new Uint16Array(3 * F * N).fill(0x7777); // junk: the first draw must clear it
    const want = new Uint16Array(3 * N);
    for (let n = 0; n < 20; n++) {
      const kps = new Float32Array(63).map(() => rnd() * 2.2 - 1.1);
      if (n % 3 === 0) kps.set(kps.subarray(3 * KEYPOINT_MAP_INDICES[6], 3 * KEYPOINT_MAP_INDICES[6] + 3), 3 * KEYPOINT_MAP_INDICES[5]); // overlap 85/255 with magenta
      canvas.draw(kps, half, N, F * N, W, H); // frame 1
      float32ToFloat16(naiveMap(kps, W, H), want);
      for (let c = 0; c < 3; c++) for (let p = 0; p < N; p++) expect(half[c * F * N + N + p]).toBe(want[c * N + p]);
    }
    for (let c = 0; c < 3; c++) for (let p = 0; p < N; p++) expect(half[c * F * N + p]).toBe(0x7777); // frame 0 untouched
  });

  it('rejects a region that does not fit', () => {
    expect(() => new KeypointMapCanvas().draw(new Float32Array(63), new Float32Array(10), 0, N, W, H)).toThrowError(/does not fit/);
  });
});

describe('faceBox', () => {
  it('follows the PersonaLive rule on a hand-made case', () => {
    const xs = [100, 120, 140, 160, 180, 200, 220]; // mean 160
    const ys = [100, 150, 150, 150, 150, 150, 200]; // mean 150, min 100
    const pts: Record<number, [number, number]> = {};
    xs.forEach((x, k) => (pts[k] = [x, ys[k]]));
    // side = (150 - 100) * 2 * 1.7 = 170; half 85; -0.95 * 85 = -80.75; +1.05 * 85 = +89.25
    expect(faceBox(kpsAt(pts, 512, 512), 512, 512)).toEqual([79, 69, 249, 239]);
  });

  it('clamps to the image', () => {
    const pts: Record<number, [number, number]> = {};
    const ys = [400, 500, 500, 500, 500, 500, 500];
    for (let k = 0; k < 7; k++) pts[k] = [490 + k, ys[k]];
    // cx = 493, cy = 3400/7 = 485.71, side = 85.71*3.4 = 291.4 -> x2, y2 clamp to 511
    const box = faceBox(kpsAt(pts, 512, 512), 512, 512);
    expect(box[2]).toBe(511);
    expect(box[3]).toBe(511);
    expect(box[0]).toBe(Math.trunc(493 - (((3400 / 7 - 400) * 3.4) / 2) * 0.95));
    const low: Record<number, [number, number]> = {};
    for (let k = 0; k < 7; k++) low[k] = [5 + k, k === 0 ? 2 : 60];
    const b2 = faceBox(kpsAt(low, 512, 512), 512, 512);
    expect(b2[0]).toBe(0);
    expect(b2[1]).toBe(0);
  });

  it('can be empty when all points share a row', () => {
    const pts: Record<number, [number, number]> = {};
    for (let k = 0; k < 7; k++) pts[k] = [100 + k, 50];
    const [x1, y1, x2, y2] = faceBox(kpsAt(pts, 256, 256), 256, 256);
    expect(x1).toBe(x2);
    expect(y1).toBe(y2);
  });
});

describe('keyframeDistance', () => {
  it('is the smallest L2 distance to the bank', () => {
    const bank = [Float32Array.from([0, 0, 0]), Float32Array.from([3, 4, 0])];
    expect(keyframeDistance(bank, Float32Array.from([3, 4, 1]))).toBeCloseTo(1, 12);
    expect(keyframeDistance(bank, Float32Array.from([0, 0, 2]))).toBeCloseTo(2, 12);
    expect(keyframeDistance([bank[1]], Float32Array.from([0, 0, 0]))).toBeCloseTo(5, 12);
    expect(keyframeDistance([], Float32Array.from([1]))).toBe(Infinity);
    expect(() => keyframeDistance(bank, Float32Array.from([1]))).toThrowError(/entry 0 has length 3/);
  });
});
