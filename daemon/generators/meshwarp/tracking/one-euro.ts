/**
 * The One-Euro filter (Casiez, Roussel, Vogel: "1€ Filter: A Simple Speed-based Low-pass
 * Filter for Noisy Input in Interactive Systems", CHI 2012) over a vector of values, and a
 * landmark smoother tuned for the face tracker.
 *
 * Each value is an exponential low-pass whose cutoff rises with that value's speed:
 *   cutoff = minCutoff + beta * |filtered derivative|
 * so a still signal is smoothed hard (jitter removed) and a moving one is followed with
 * little lag. Pure: no I/O, no allocation after construction.
 */
import { PersonaLiveError } from '../../../errors.js';
import { LANDMARK_COUNT } from './types.js';

export interface OneEuroParams {
  /** Cutoff in Hz when the value is still: lower removes more jitter, adds lag when slow. */
  minCutoff: number;
  /** Cutoff increase per unit/s of speed: higher follows fast moves with less lag. */
  beta: number;
  /** Cutoff in Hz of the low-pass on the derivative (1 Hz in the paper). */
  dCutoff: number;
}

function checkParams(params: OneEuroParams, where: string): void {
  const { minCutoff, beta, dCutoff } = params ?? ({} as OneEuroParams);
  if (!(Number.isFinite(minCutoff) && minCutoff > 0)) throw new PersonaLiveError('USAGE', `${where}: 'minCutoff' must be a positive number of Hz, got ${minCutoff}.`);
  if (!(Number.isFinite(beta) && beta >= 0)) throw new PersonaLiveError('USAGE', `${where}: 'beta' must be a number >= 0, got ${beta}.`);
  if (!(Number.isFinite(dCutoff) && dCutoff > 0)) throw new PersonaLiveError('USAGE', `${where}: 'dCutoff' must be a positive number of Hz, got ${dCutoff}.`);
}

/** Smoothing factor of an exponential low-pass with cutoff `hz` sampled every `dt` seconds. */
function alpha(hz: number, dt: number): number {
  const r = 2 * Math.PI * hz * dt;
  return r / (r + 1);
}

export class OneEuroFilter {
  readonly size: number;
  /** The default output buffer: filter() returns it unless given another. */
  readonly output: Float32Array;
  private params: OneEuroParams;
  /** Last filtered values and derivatives (double precision: the state accumulates). */
  private readonly x: Float64Array;
  private readonly dx: Float64Array;
  private lastMs = 0;
  private primed = false;

  /** @throws PersonaLiveError USAGE for a size that is not a positive integer or bad params. */
  constructor(size: number, params: OneEuroParams) {
    if (!(Number.isInteger(size) && size > 0)) throw new PersonaLiveError('USAGE', `OneEuroFilter: 'size' must be a positive integer, got ${size}.`);
    checkParams(params, 'OneEuroFilter');
    this.size = size;
    this.params = { minCutoff: params.minCutoff, beta: params.beta, dCutoff: params.dCutoff };
    this.output = new Float32Array(size);
    this.x = new Float64Array(size);
    this.dx = new Float64Array(size);
  }

  get parameters(): Readonly<OneEuroParams> {
    return this.params;
  }

  /** Changes the parameters; the state is kept. @throws PersonaLiveError USAGE. */
  setParameters(params: OneEuroParams): void {
    checkParams(params, 'OneEuroFilter.setParameters');
    this.params = { minCutoff: params.minCutoff, beta: params.beta, dCutoff: params.dCutoff };
  }

  /**
   * Filters one sample of `size` values taken at `timestampMs` and writes the result to
   * `out` (default: this.output, reused on every call; `out` may be `values` itself). The
   * first sample after construction or reset() passes through unchanged. A timestamp that
   * is not later than the previous one (a repeated or out-of-order sample) updates nothing
   * and returns the previous result.
   * @throws PersonaLiveError USAGE when values or out hold fewer than `size` numbers.
   */
  filter(values: ArrayLike<number>, timestampMs: number, out: Float32Array = this.output): Float32Array {
    const n = this.size;
    if (values.length < n) throw new PersonaLiveError('USAGE', `OneEuroFilter.filter: 'values' holds ${values.length} numbers, expected ${n}.`);
    if (out.length < n) throw new PersonaLiveError('USAGE', `OneEuroFilter.filter: 'out' holds ${out.length} numbers, expected ${n}.`);
    const { x, dx } = this;
    if (!this.primed) {
      for (let i = 0; i < n; i++) {
        x[i] = values[i];
        dx[i] = 0;
        out[i] = x[i];
      }
      this.primed = true;
      this.lastMs = timestampMs;
      return out;
    }
    const dt = (timestampMs - this.lastMs) / 1000;
    if (!(dt > 0)) {
      for (let i = 0; i < n; i++) out[i] = x[i];
      return out;
    }
    this.lastMs = timestampMs;
    const { minCutoff, beta, dCutoff } = this.params;
    const aD = alpha(dCutoff, dt);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      const d = dx[i] + aD * ((v - x[i]) / dt - dx[i]);
      dx[i] = d;
      const a = alpha(minCutoff + beta * Math.abs(d), dt);
      x[i] += a * (v - x[i]);
      out[i] = x[i];
    }
    return out;
  }

  /** Forgets the state: the next sample passes through unchanged. */
  reset(): void {
    this.primed = false;
    this.lastMs = 0;
  }
}

/**
 * Landmark smoothing for faces in 512x512 frames (x, y, z in pixels; the face about 230 px
 * wide), timestamps in ms. Tuned on the ONNX tracker's real output (bench/tracking.ts,
 * section "smoothing", 25 fps; BENCH_SMOOTHING_PARAMS compares settings) and on the pose
 * follow of eval:meshwarp:
 *
 * - Jitter: reference.png tracked 50 times with fresh Gaussian noise (sigma 3 levels, like
 *   a webcam's) moves the mesh points by 0.17 px RMS in video mode (0.20 px in image mode).
 *   Smoothed: 0.061 px (2.8x less; image mode 0.067 px).
 * - Lag: the same face sliding at constant speed (same noise), video mode: the smoothed
 *   mesh trails by 0.59 frames at 1 px/frame, 0.23 at 2 px/frame, 0.11 at 6 px/frame.
 * - Pose follow, whole demo video (yaw correlation output vs driver, portraits 3 / 1):
 *   0.921 / 0.960.
 *
 * Why these values: the earlier tuning (minCutoff 0.5 Hz, beta 0.1) was chosen for Human on
 * tfjs, whose landmarks jittered 4x more (0.68 px, whole-pixel steps). On the ONNX tracker it
 * gives 0.052 px still jitter but trails by 1.06 / 0.53 / 0.26 frames, and a slow head turn
 * (a few degrees over a second: under 1 px/frame) reached the output late enough to cost
 * yaw correlation (0.907 / 0.943). minCutoff 1 Hz with beta 0.3 halves the lag for 17% more
 * still jitter, far below anything visible (goal 0.5 px); beta 0.6 cut lag a little more
 * (0.44 frames at 1 px/frame, correlation 0.924 / 0.963) but lets noise through faster: with
 * 1 px of noise per point (a dim, noisy webcam) it keeps 1.65x of smoothing where 0.3 keeps
 * 1.93x (unit test). dCutoff 0.5 Hz keeps noise from lifting the cutoff.
 */
export const LANDMARK_SMOOTHING: Readonly<OneEuroParams> = Object.freeze({ minCutoff: 1, beta: 0.3, dCutoff: 0.5 });

/** Landmarks smoothed with parameters of their own (LandmarkSmoother), e.g. the lips, which move fastest. */
export interface LandmarkGroup {
  indices: readonly number[];
  params: OneEuroParams;
}

/** Smooths the tracker's landmark arrays (LANDMARK_COUNT x 3 floats) over time. */
export class LandmarkSmoother {
  private readonly filterImpl: OneEuroFilter;
  /** The group's filter and its values, gathered from (and scattered back into) the frame. */
  private readonly group: { indices: Uint16Array; filter: OneEuroFilter; values: Float32Array } | null;

  /**
   * @param group landmarks whose smoothing takes its own parameters (the rest: `params`).
   * @throws PersonaLiveError USAGE for bad params or count.
   */
  constructor(params: OneEuroParams = LANDMARK_SMOOTHING, count: number = LANDMARK_COUNT, group?: LandmarkGroup) {
    this.filterImpl = new OneEuroFilter(count * 3, params);
    this.group = group
      ? { indices: Uint16Array.from(group.indices), filter: new OneEuroFilter(3 * group.indices.length, group.params), values: new Float32Array(3 * group.indices.length) }
      : null;
  }

  get parameters(): Readonly<OneEuroParams> {
    return this.filterImpl.parameters;
  }

  /**
   * Smooths one frame's landmarks taken at `timestampMs`. Returns `out`, by default a buffer
   * owned by the smoother and overwritten by the next call: copy it to keep it.
   * @throws PersonaLiveError USAGE when landmarks hold fewer than count x 3 numbers.
   */
  smooth(landmarks: Float32Array, timestampMs: number, out?: Float32Array): Float32Array {
    const result = this.filterImpl.filter(landmarks, timestampMs, out);
    const group = this.group;
    if (!group) return result;
    const { indices, values } = group;
    for (let k = 0; k < indices.length; k++) {
      const i = 3 * indices[k];
      values[3 * k] = landmarks[i];
      values[3 * k + 1] = landmarks[i + 1];
      values[3 * k + 2] = landmarks[i + 2];
    }
    group.filter.filter(values, timestampMs, values);
    for (let k = 0; k < indices.length; k++) {
      const i = 3 * indices[k];
      result[i] = values[3 * k];
      result[i + 1] = values[3 * k + 1];
      result[i + 2] = values[3 * k + 2];
    }
    return result;
  }

  /** Call when the face was lost or the scene cut, so the next face is not blended with the last. */
  reset(): void {
    this.filterImpl.reset();
    this.group?.filter.reset();
  }
}
