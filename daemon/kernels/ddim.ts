/**
 * One DDIM step over a streaming latent window (eta = 0, epsilon prediction): the pure
 * TypeScript reference of the native ddimStep kernel (kernels/native/kernels.cc), which
 * computes the same values. Allocates nothing.
 *
 * Layout: a latent window [1, C, F, h, w] stored contiguously, channel-major, then frame,
 * then the h*w plane; each frame carries its own timestep.
 */
import { PersonaLiveError } from '../errors.js';

/** Shape of a [1, C, F, h, w] window: `plane` = h*w. */
export interface WindowLayout {
  channels: number;
  frames: number;
  plane: number;
}

/**
 * alphas_cumprod at timestep t; a negative t is "before the first step" and gives
 * `finalAlpha` (1 with set_alpha_to_one, which PersonaLive uses; pass alphas[0] otherwise).
 * @throws PersonaLiveError INTERNAL when t is not an integer or t >= alphas.length.
 */
export function alphaAt(alphas: Float64Array, t: number, finalAlpha = 1): number {
  if (t < 0) return finalAlpha;
  if (!Number.isInteger(t) || t >= alphas.length) {
    throw new PersonaLiveError('INTERNAL', `timestep 't' = ${t} is not an integer in [0, ${alphas.length})`);
  }
  return alphas[t];
}

export function checkWindow(name: string, arr: ArrayLike<number>, layout: WindowLayout, frameTimesteps: ArrayLike<number>): void {
  const n = layout.channels * layout.frames * layout.plane;
  if (arr.length !== n) {
    throw new PersonaLiveError('INTERNAL', `'${name}' has length ${arr.length}, expected channels*frames*plane = ${n}`);
  }
  if (frameTimesteps.length !== layout.frames) {
    throw new PersonaLiveError('INTERNAL', `'frameTimesteps' has length ${frameTimesteps.length}, expected frames = ${layout.frames}`);
  }
}

/**
 * One DDIM step (eta = 0, epsilon prediction) over a whole window, each frame with its own
 * timestep t = frameTimesteps[f]:
 *
 *     a_t = alphas[t];  a_prev = alphaAt(alphas, t - stepLength)   (1 when t - stepLength < 0)
 *     x0 = (x - sqrt(1 - a_t) * eps) / sqrt(a_t)
 *     x_prev = sqrt(a_prev) * x0 + sqrt(1 - a_prev) * eps
 *
 * A frame at t < stepLength lands on a_prev = 1, so its x_prev is exactly its x0.
 * All arrays have the [1, C, F, h, w] layout of `layout`. `outPrev` may alias `sample` or
 * `eps` (each element is read before it is written); `outX0` is optional (null to skip)
 * and may alias too, but not `outPrev`. Allocates nothing.
 * @throws PersonaLiveError INTERNAL on a length mismatch or a timestep outside [0, N).
 */
export function ddimStepWindow(
  sample: Float32Array,
  eps: Float32Array,
  frameTimesteps: ArrayLike<number>,
  layout: WindowLayout,
  alphas: Float64Array,
  stepLength: number,
  outPrev: Float32Array,
  outX0: Float32Array | null = null,
): void {
  checkWindow('sample', sample, layout, frameTimesteps);
  checkWindow('eps', eps, layout, frameTimesteps);
  checkWindow('outPrev', outPrev, layout, frameTimesteps);
  if (outX0 !== null) checkWindow('outX0', outX0, layout, frameTimesteps);
  const { channels, frames, plane } = layout;
  for (let f = 0; f < frames; f++) {
    const t = frameTimesteps[f];
    alphaAt(alphas, t); // validates
    alphaAt(alphas, t - stepLength);
  }
  let base = 0;
  for (let c = 0; c < channels; c++) {
    for (let f = 0; f < frames; f++) {
      const t = frameTimesteps[f];
      const aT = alphas[t];
      const aPrev = t - stepLength < 0 ? 1 : alphas[t - stepLength];
      const invSqrtAT = 1 / Math.sqrt(aT);
      const sqrtOneMinusAT = Math.sqrt(1 - aT);
      const sqrtAPrev = Math.sqrt(aPrev);
      const sqrtOneMinusAPrev = Math.sqrt(1 - aPrev);
      const end = base + plane;
      if (outX0 === null) {
        for (let i = base; i < end; i++) {
          const e = eps[i];
          const x0 = (sample[i] - sqrtOneMinusAT * e) * invSqrtAT;
          outPrev[i] = sqrtAPrev * x0 + sqrtOneMinusAPrev * e;
        }
      } else {
        for (let i = base; i < end; i++) {
          const e = eps[i];
          const x0 = (sample[i] - sqrtOneMinusAT * e) * invSqrtAT;
          outX0[i] = x0;
          outPrev[i] = sqrtAPrev * x0 + sqrtOneMinusAPrev * e;
        }
      }
      base = end;
    }
  }
}
