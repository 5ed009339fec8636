/**
 * DDIM maths for the streaming window (eta = 0, epsilon prediction, no sample clipping),
 * and the noise source. Pure functions over typed arrays; the hot ones write into
 * caller-owned buffers and allocate nothing.
 *
 * Method: shared/design/streaming-generator.md ("One DDIM step").
 *
 * Tensor layout used throughout: a latent window [1, C, F, h, w] stored contiguously,
 * channel-major, then frame, then the h*w plane. Element i belongs to frame
 * floor(i / plane) % frames. Each frame carries its own timestep.
 */
import type { SchedulerSpec } from '../../../models/contract.js';
import { PersonaLiveError } from '../../errors.js';
import { alphaAt, checkWindow, type WindowLayout } from '../../kernels/ddim.js';

/**
 * The cumulative products of (1 - beta_t) for t = 0..trainTimesteps-1, in float64.
 * "scaled_linear": betas are the squares of linspace(sqrt(betaStart), sqrt(betaEnd), N);
 * "linear": linspace(betaStart, betaEnd, N). (diffusers computes these in float32; the
 * float64 values differ from it by about 1e-6 relative, far below fp16 model noise.)
 * @throws PersonaLiveError INTERNAL when trainTimesteps < 2 or the schedule is unknown.
 */
export function alphasCumprod(spec: SchedulerSpec): Float64Array {
  const n = spec.trainTimesteps;
  if (!Number.isInteger(n) || n < 2) {
    throw new PersonaLiveError('INTERNAL', `'trainTimesteps' must be an integer >= 2, got ${n}`);
  }
  let lo: number;
  let hi: number;
  const squared = spec.betaSchedule === 'scaled_linear';
  if (squared) {
    lo = Math.sqrt(spec.betaStart);
    hi = Math.sqrt(spec.betaEnd);
  } else if (spec.betaSchedule === 'linear') {
    lo = spec.betaStart;
    hi = spec.betaEnd;
  } else {
    throw new PersonaLiveError('INTERNAL', `'betaSchedule' ${JSON.stringify(spec.betaSchedule)} is not one of scaled_linear, linear`);
  }
  const out = new Float64Array(n);
  const step = (hi - lo) / (n - 1);
  let prod = 1;
  for (let t = 0; t < n; t++) {
    const r = t === n - 1 ? hi : lo + step * t;
    const beta = squared ? r * r : r;
    prod *= 1 - beta;
    out[t] = prod;
  }
  return out;
}

/**
 * Forward diffusion per frame: out = sqrt(a_t) * x0 + sqrt(1 - a_t) * noise with
 * a_t = alphaAt(alphas, frameTimesteps[f]). Same [1, C, F, h, w] layout for all arrays;
 * `out` may alias `x0` or `noise`. Allocates nothing.
 * @throws PersonaLiveError INTERNAL on a length mismatch or a timestep >= N.
 */
export function addNoiseFrames(
  x0: Float32Array,
  noise: Float32Array,
  frameTimesteps: ArrayLike<number>,
  layout: WindowLayout,
  alphas: Float64Array,
  out: Float32Array,
): void {
  checkWindow('x0', x0, layout, frameTimesteps);
  checkWindow('noise', noise, layout, frameTimesteps);
  checkWindow('out', out, layout, frameTimesteps);
  const { channels, frames, plane } = layout;
  for (let f = 0; f < frames; f++) alphaAt(alphas, frameTimesteps[f]);
  let base = 0;
  for (let c = 0; c < channels; c++) {
    for (let f = 0; f < frames; f++) {
      const a = alphaAt(alphas, frameTimesteps[f]);
      const sa = Math.sqrt(a);
      const sb = Math.sqrt(1 - a);
      const end = base + plane;
      for (let i = base; i < end; i++) out[i] = sa * x0[i] + sb * noise[i];
      base = end;
    }
  }
}

/**
 * Forward diffusion at one timestep for any layout: out = sqrt(a_t) x0 + sqrt(1 - a_t) noise.
 * `out` may alias an input. Allocates nothing.
 * @throws PersonaLiveError INTERNAL on a length mismatch or a timestep >= N.
 */
export function addNoise(x0: Float32Array, noise: Float32Array, t: number, alphas: Float64Array, out: Float32Array): void {
  const n = x0.length;
  if (noise.length !== n || out.length !== n) {
    throw new PersonaLiveError('INTERNAL', `'x0', 'noise' and 'out' lengths differ: ${n}, ${noise.length}, ${out.length}`);
  }
  const a = alphaAt(alphas, t);
  const sa = Math.sqrt(a);
  const sb = Math.sqrt(1 - a);
  for (let i = 0; i < n; i++) out[i] = sa * x0[i] + sb * noise[i];
}

// Ziggurat (Marsaglia & Tsang 2000) with 256 layers. A 32-bit draw h is split into
// disjoint fields: idx = h & 511 (layer = idx & 255, sign = idx >> 8) and a 23-bit
// magnitude u = h >>> 9. The draw is accepted at once (about 99% of the time) when
// u < ZIG_K[idx], giving u * ZIG_W[idx] (ZIG_W carries the sign): no branch depends on
// the sign, so the hot loop has one well-predicted branch.
const ZIG_LAYERS = 256;
const ZIG_R = 3.6541528853610088;
const ZIG_V = 0.00492867323399;
const ZIG_M = 8388608; // 2^23
const ZIG_K = new Int32Array(2 * ZIG_LAYERS);
const ZIG_W = new Float64Array(2 * ZIG_LAYERS);
const ZIG_X = new Float64Array(ZIG_LAYERS); // unsigned width per layer (W / sign)
const ZIG_F = new Float64Array(ZIG_LAYERS);
{
  const k = new Float64Array(ZIG_LAYERS);
  let dn = ZIG_R;
  let tn = dn;
  const q = ZIG_V / Math.exp(-0.5 * dn * dn);
  k[0] = Math.floor((dn / q) * ZIG_M);
  k[1] = 0;
  ZIG_X[0] = q / ZIG_M;
  ZIG_X[ZIG_LAYERS - 1] = dn / ZIG_M;
  ZIG_F[0] = 1;
  ZIG_F[ZIG_LAYERS - 1] = Math.exp(-0.5 * dn * dn);
  for (let i = ZIG_LAYERS - 2; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(ZIG_V / dn + Math.exp(-0.5 * dn * dn)));
    k[i + 1] = Math.floor((dn / tn) * ZIG_M);
    tn = dn;
    ZIG_F[i] = Math.exp(-0.5 * dn * dn);
    ZIG_X[i] = dn / ZIG_M;
  }
  for (let idx = 0; idx < 2 * ZIG_LAYERS; idx++) {
    const layer = idx & (ZIG_LAYERS - 1);
    ZIG_K[idx] = k[layer];
    ZIG_W[idx] = idx >= ZIG_LAYERS ? -ZIG_X[layer] : ZIG_X[layer];
  }
}
const TWO_POW_M32 = 1 / 4294967296;

/** One xoshiro128** step on state `st`; returns the output as int32. */
function xoshiroNext(st: Int32Array): number {
  const s0 = st[0], s1 = st[1], s2 = st[2], s3 = st[3];
  const m = Math.imul(s1, 5);
  const result = Math.imul((m << 7) | (m >>> 25), 9);
  const t = s1 << 9;
  const n2 = s2 ^ s0;
  const n3 = s3 ^ s1;
  st[1] = s1 ^ n2;
  st[0] = s0 ^ n3;
  st[2] = n2 ^ t;
  st[3] = (n3 << 11) | (n3 >>> 21);
  return result;
}

/** Uniform in (0, 1) from one xoshiro step. */
function uniformOpen(st: Int32Array): number {
  return ((xoshiroNext(st) >>> 0) + 0.5) * TWO_POW_M32;
}

/** The ziggurat's rare path, for a draw (idx, u) that missed its layer's rectangle. */
function zigguratSlow(st: Int32Array, idx: number, u: number): number {
  for (;;) {
    const layer = idx & (ZIG_LAYERS - 1);
    const negative = idx >= ZIG_LAYERS;
    if (layer === 0) {
      let x: number;
      let y: number;
      do {
        x = -Math.log(uniformOpen(st)) / ZIG_R;
        y = -Math.log(uniformOpen(st));
      } while (y + y < x * x);
      return negative ? -ZIG_R - x : ZIG_R + x;
    }
    const x = u * ZIG_X[layer];
    if (ZIG_F[layer] + uniformOpen(st) * (ZIG_F[layer - 1] - ZIG_F[layer]) < Math.exp(-0.5 * x * x)) return negative ? -x : x;
    const h = xoshiroNext(st);
    idx = h & (2 * ZIG_LAYERS - 1);
    u = h >>> 9;
    if (u < ZIG_K[idx]) return u * ZIG_W[idx];
  }
}

const FILL_CHUNK = 4096;

/**
 * Seedable deterministic standard-normal generator: xoshiro128** (seeded through a
 * splitmix32-style mixer) feeding a 256-layer ziggurat. The same seed and the same
 * sequence of calls always give the same values on every platform (integer maths via
 * Math.imul, IEEE doubles). It is NOT torch's stream, so outputs match the upstream
 * implementation in distribution only.
 */
export class GaussianRng {
  /** xoshiro128** state words. */
  private readonly s = new Int32Array(4);
  /** fill(): positions and raw draws of the current chunk's ziggurat misses (~1%). */
  private readonly missAt = new Int32Array(FILL_CHUNK);
  private readonly missDraw = new Int32Array(FILL_CHUNK);

  constructor(seed = 0) {
    this.reseed(seed);
  }

  /** Restarts the stream from `seed` (any number; its low and high 32 bits are mixed in). */
  reseed(seed: number): void {
    let x = ((seed >>> 0) ^ Math.floor(seed / 4294967296)) | 0;
    let any = 0;
    for (let k = 0; k < 4; k++) {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[k] = z ^ (z >>> 16);
      any |= this.s[k];
    }
    if (any === 0) this.s[0] = 1;
  }

  /** Next raw 32-bit output as a signed int32. */
  nextInt32(): number {
    return xoshiroNext(this.s);
  }

  /** One standard normal value. */
  next(): number {
    const h = xoshiroNext(this.s);
    const idx = h & (2 * ZIG_LAYERS - 1);
    const u = h >>> 9;
    if (u < ZIG_K[idx]) return u * ZIG_W[idx];
    return zigguratSlow(this.s, idx, u);
  }

  /**
   * Fills `out` with standard normal values, continuing the stream. Works in chunks of
   * 4096: one tight pass draws every value and keeps the ziggurat's fast path, then the
   * chunk's few misses are resolved with further draws (so fill(a) then fill(b) is not
   * the same as fill(a + b), but every call sequence is reproducible). Allocates nothing.
   */
  fill(out: Float32Array): void {
    const n = out.length;
    const st = this.s;
    const K = ZIG_K;
    const W = ZIG_W;
    const missAt = this.missAt;
    const missDraw = this.missDraw;
    for (let base = 0; base < n; base += FILL_CHUNK) {
      const end = base + FILL_CHUNK < n ? base + FILL_CHUNK : n;
      // No calls in this loop, so the xoshiro128** state stays in registers.
      let s0 = st[0], s1 = st[1], s2 = st[2], s3 = st[3];
      let misses = 0;
      for (let i = base; i < end; i++) {
        const m = Math.imul(s1, 5);
        const h = Math.imul((m << 7) | (m >>> 25), 9);
        const t = s1 << 9;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
        const idx = h & 511;
        const u = h >>> 9;
        if (u < K[idx]) {
          out[i] = u * W[idx];
        } else {
          missAt[misses] = i;
          missDraw[misses] = h;
          misses++;
        }
      }
      st[0] = s0; st[1] = s1; st[2] = s2; st[3] = s3;
      for (let k = 0; k < misses; k++) {
        const h = missDraw[k];
        out[missAt[k]] = zigguratSlow(st, h & 511, h >>> 9);
      }
    }
  }
}
