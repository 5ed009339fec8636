import { describe, expect, it } from 'vitest';
import { PERSONALIVE_SCHEDULER, type SchedulerSpec } from '../../../models/contract.js';
import { addNoise, addNoiseFrames, alphasCumprod, GaussianRng } from '../../../daemon/generators/personalive/scheduler.js';
import { alphaAt, ddimStepWindow } from '../../../daemon/kernels/ddim.js';
import { PersonaLiveError } from '../../../daemon/errors.js';

/** alphas_cumprod written the obvious way, in float64. */
function referenceAlphas(n: number, b0: number, b1: number, squared: boolean): number[] {
  const out: number[] = [];
  let prod = 1;
  for (let t = 0; t < n; t++) {
    const beta = squared ? (Math.sqrt(b0) + ((Math.sqrt(b1) - Math.sqrt(b0)) * t) / (n - 1)) ** 2 : b0 + ((b1 - b0) * t) / (n - 1);
    prod = prod * (1 - beta);
    out.push(prod);
  }
  return out;
}

function randomArray(n: number, seed: number): Float32Array {
  const rng = new GaussianRng(seed);
  const a = new Float32Array(n);
  rng.fill(a);
  return a;
}

describe('alphasCumprod', () => {
  it('matches a straightforward float64 loop for scaled_linear 0.00085..0.02', () => {
    const a = alphasCumprod(PERSONALIVE_SCHEDULER);
    const ref = referenceAlphas(1000, 0.00085, 0.02, true);
    expect(a.length).toBe(1000);
    expect(a[0]).toBeCloseTo(1 - 0.00085, 15);
    for (const t of [0, 1, 333, 666, 998, 999]) expect(Math.abs(a[t] - ref[t]) / ref[t]).toBeLessThan(1e-12);
    // beta_end 0.02 (PersonaLive's inference_stage3.yaml, not SD's 0.012) ends near 2.3e-4.
    expect(a[999]).toBeGreaterThan(0.00022);
    expect(a[999]).toBeLessThan(0.00024);
    for (let t = 1; t < 1000; t++) expect(a[t]).toBeLessThan(a[t - 1]);
  });

  it('supports the linear schedule', () => {
    const spec: SchedulerSpec = { ...PERSONALIVE_SCHEDULER, betaSchedule: 'linear', betaStart: 0.0001, betaEnd: 0.02 };
    const a = alphasCumprod(spec);
    const ref = referenceAlphas(1000, 0.0001, 0.02, false);
    expect(a[0]).toBeCloseTo(0.9999, 15);
    expect(a[1]).toBeCloseTo((1 - 0.0001) * (1 - (0.0001 + 0.0199 / 999)), 15);
    for (const t of [500, 999]) expect(Math.abs(a[t] - ref[t]) / ref[t]).toBeLessThan(1e-12);
  });

  it('rejects an unknown schedule with INTERNAL naming the argument', () => {
    const spec = { ...PERSONALIVE_SCHEDULER, betaSchedule: 'cosine' } as unknown as SchedulerSpec;
    expect(() => alphasCumprod(spec)).toThrowError(/'betaSchedule' "cosine"/);
    try {
      alphasCumprod(spec);
    } catch (e) {
      expect((e as PersonaLiveError).code).toBe('INTERNAL');
    }
  });
});

describe('alphaAt', () => {
  const alphas = alphasCumprod(PERSONALIVE_SCHEDULER);
  it('gives 1 before the first step (set_alpha_to_one) and the table otherwise', () => {
    expect(alphaAt(alphas, -1)).toBe(1);
    expect(alphaAt(alphas, -333)).toBe(1);
    expect(alphaAt(alphas, 0)).toBe(alphas[0]);
    expect(alphaAt(alphas, 666)).toBe(alphas[666]);
  });
  it('throws for a timestep past the table or not an integer', () => {
    expect(() => alphaAt(alphas, 1000)).toThrowError(/'t' = 1000/);
    expect(() => alphaAt(alphas, 1.5)).toThrowError(PersonaLiveError);
  });
});

describe('ddimStepWindow', () => {
  // A toy table makes the arithmetic checkable by hand: sqrt(0.36) = 0.6, sqrt(0.25) = 0.5.
  const alphas = Float64Array.from([0.81, 0.64, 0.36, 0.25]);
  const layout = { channels: 2, frames: 4, plane: 3 };
  const ts = [0, 1, 2, 3];

  it('computes x0 and x_prev per frame with each frame own timestep (hand-picked numbers)', () => {
    const sample = new Float32Array(24);
    const eps = new Float32Array(24);
    // channel 1, frame 2 (t=2, a_t=0.36, a_prev=a[0]=0.81), element 0: index 1*12 + 2*3 = 18
    sample[18] = 1;
    eps[18] = 0.5;
    // channel 0, frame 3 (t=3, a_t=0.25, a_prev=a[1]=0.64), element 2: index 3*3 + 2 = 11
    sample[11] = 2;
    eps[11] = -1;
    // channel 0, frame 0 (t=0, a_t=0.81, a_prev=1), element 1
    sample[1] = 0.9;
    eps[1] = 0.1;
    const prev = new Float32Array(24);
    const x0 = new Float32Array(24);
    ddimStepWindow(sample, eps, ts, layout, alphas, 2, prev, x0);

    // x0 = (1 - 0.8*0.5)/0.6 = 1; x_prev = 0.9*1 + sqrt(0.19)*0.5
    expect(x0[18]).toBeCloseTo(1, 6);
    expect(prev[18]).toBeCloseTo(0.9 + Math.sqrt(0.19) * 0.5, 6);
    // x0 = (2 + sqrt(0.75))/0.5 = 5.7320508; x_prev = 0.8*x0 + 0.6*(-1) = 3.9856406
    expect(x0[11]).toBeCloseTo(5.7320508, 5);
    expect(prev[11]).toBeCloseTo(3.9856406, 5);
    // t=0 lands on alpha_prev = 1: x_prev is x0 = (0.9 - sqrt(0.19)*0.1)/0.9
    expect(x0[1]).toBeCloseTo((0.9 - Math.sqrt(0.19) * 0.1) / 0.9, 6);
    expect(prev[1]).toBe(x0[1]);
    // zeros stay zero
    expect(prev[0]).toBe(0);
  });

  it('recovers x0 when eps is the noise that made the sample, and steps to add_noise(x0, eps, t-333)', () => {
    const a = alphasCumprod(PERSONALIVE_SCHEDULER);
    const C = 4, F = 16, plane = 64;
    const lay = { channels: C, frames: F, plane };
    const frameTs = [0, 0, 0, 0, 333, 333, 333, 333, 666, 666, 666, 666, 999, 999, 999, 999];
    const n = C * F * plane;
    const x0 = randomArray(n, 1);
    const eps = randomArray(n, 2);
    const xt = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const t = frameTs[Math.floor(i / plane) % F];
      xt[i] = Math.sqrt(a[t]) * x0[i] + Math.sqrt(1 - a[t]) * eps[i];
    }
    const prev = new Float32Array(n);
    const px0 = new Float32Array(n);
    ddimStepWindow(xt, eps, frameTs, lay, a, 333, prev, px0);
    for (let i = 0; i < n; i++) {
      const t = frameTs[Math.floor(i / plane) % F];
      expect(Math.abs(px0[i] - x0[i])).toBeLessThan(1e-4);
      const ap = t - 333 >= 0 ? a[t - 333] : 1;
      const want = Math.sqrt(ap) * x0[i] + Math.sqrt(1 - ap) * eps[i];
      expect(Math.abs(prev[i] - want)).toBeLessThan(1e-4);
      if (t === 0) expect(prev[i]).toBe(px0[i]);
    }
  });

  it('works in place (outPrev aliasing sample) and without outX0', () => {
    const a = alphasCumprod(PERSONALIVE_SCHEDULER);
    const lay = { channels: 2, frames: 4, plane: 10 };
    const frameTs = [0, 333, 666, 999];
    const s = randomArray(80, 3);
    const e = randomArray(80, 4);
    const expected = new Float32Array(80);
    ddimStepWindow(s, e, frameTs, lay, a, 333, expected, null);
    const inPlace = s.slice();
    ddimStepWindow(inPlace, e, frameTs, lay, a, 333, inPlace);
    expect(Array.from(inPlace)).toEqual(Array.from(expected));
  });

  it('throws on a length mismatch, naming the argument', () => {
    const a = alphasCumprod(PERSONALIVE_SCHEDULER);
    const lay = { channels: 1, frames: 2, plane: 4 };
    expect(() => ddimStepWindow(new Float32Array(8), new Float32Array(7), [0, 333], lay, a, 333, new Float32Array(8))).toThrowError(/'eps' has length 7/);
    expect(() => ddimStepWindow(new Float32Array(8), new Float32Array(8), [0], lay, a, 333, new Float32Array(8))).toThrowError(/'frameTimesteps'/);
  });
});

describe('addNoise / addNoiseFrames', () => {
  const a = alphasCumprod(PERSONALIVE_SCHEDULER);
  it('adds noise at one timestep', () => {
    const x0 = Float32Array.from([1, -2, 0.5]);
    const n = Float32Array.from([0.3, 0.1, -1]);
    const out = new Float32Array(3);
    addNoise(x0, n, 999, a, out);
    const sa = Math.sqrt(a[999]), sb = Math.sqrt(1 - a[999]);
    for (let i = 0; i < 3; i++) expect(out[i]).toBeCloseTo(sa * x0[i] + sb * n[i], 6);
    addNoise(x0, n, -1, a, out); // before the first step: alpha 1, the clean sample
    expect(Array.from(out)).toEqual(Array.from(x0));
  });

  it('uses each frame own timestep in the [1,C,F,h,w] layout (the warm-up prefill 0,0,0,0,333x4,666x4)', () => {
    const C = 2, F = 12, plane = 3;
    const ts = [0, 0, 0, 0, 333, 333, 333, 333, 666, 666, 666, 666];
    const x0 = new Float32Array(C * F * plane).fill(1);
    const noise = new Float32Array(C * F * plane).fill(2);
    const out = new Float32Array(C * F * plane);
    addNoiseFrames(x0, noise, ts, { channels: C, frames: F, plane }, a, out);
    for (let c = 0; c < C; c++) {
      for (let f = 0; f < F; f++) {
        const t = ts[f];
        const want = Math.sqrt(a[t]) + 2 * Math.sqrt(1 - a[t]);
        for (let p = 0; p < plane; p++) expect(out[(c * F + f) * plane + p]).toBeCloseTo(want, 6);
      }
    }
  });
});

describe('GaussianRng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = randomArray(1000, 7);
    const b = randomArray(1000, 7);
    const c = randomArray(1000, 8);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    const r = new GaussianRng(7);
    r.fill(new Float32Array(10));
    r.reseed(7);
    const again = new Float32Array(1000);
    r.fill(again);
    expect(Array.from(again)).toEqual(Array.from(a));
  });

  it('reproduces any call sequence of fill() and next() from the same seed', () => {
    const run = (): number[] => {
      const r = new GaussianRng(11);
      const p1 = new Float32Array(33);
      const p2 = new Float32Array(5000); // spans two internal chunks
      r.fill(p1);
      const mid = r.next();
      r.fill(p2);
      return [...p1, mid, ...p2, r.next(), r.nextInt32()];
    };
    const first = run();
    expect(run()).toEqual(first);
    expect(first.every((v) => Number.isFinite(v))).toBe(true);
    expect(new Set(first).size).toBeGreaterThan(first.length - 5);
  });

  it('has standard-normal moments, CDF and tails', () => {
    const n = 1 << 19;
    const x = randomArray(n, 5);
    let s = 0, s2 = 0, s3 = 0, s4 = 0;
    for (let i = 0; i < n; i++) {
      const v = x[i];
      s += v;
      s2 += v * v;
      s3 += v ** 3;
      s4 += v ** 4;
    }
    const mean = s / n;
    expect(Math.abs(mean)).toBeLessThan(0.006);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.008);
    expect(Math.abs(s3 / n)).toBeLessThan(0.02);
    expect(Math.abs(s4 / n - 3)).toBeLessThan(0.05);
    // Empirical CDF against Phi at points on both sides, including the ziggurat's base
    // strip edge (3.4426) and beyond; the bound is ~5 standard errors.
    const phi = (z: number): number => {
      // Abramowitz-Stegun 7.1.26 erf (|error| < 1.5e-7)
      const t = 1 / (1 + 0.3275911 * (Math.abs(z) / Math.SQRT2));
      const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(z * z) / 2);
      return z >= 0 ? 0.5 * (1 + y) : 0.5 * (1 - y);
    };
    const sorted = Float32Array.from(x).sort();
    for (const z of [-4, -3.44, -2.5, -1.96, -1, -0.5, -0.1, 0, 0.3, 1, 1.645, 2.2, 3, 3.44, 3.8]) {
      let lo = 0, hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (sorted[mid] <= z) lo = mid + 1;
        else hi = mid;
      }
      const p = phi(z);
      expect(Math.abs(lo / n - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n) + 2e-6);
    }
    expect(sorted[0]).toBeLessThan(-4);
    expect(sorted[n - 1]).toBeGreaterThan(4);
  });
});
