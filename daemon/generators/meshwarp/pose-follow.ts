/**
 * Pose-follow measures shared by eval:meshwarp and the integration tests: the head rotation
 * between two landmark sets (fitted on the rigid points, as the transfer does) and the
 * Pearson correlation of two series.
 */
import { LANDMARK_COUNT } from './tracking/types.js';
import { bestRotation, createFaceFrame, eulerDegrees, normalizeFace } from './transfer.js';

/** [pitch, yaw, roll] in degrees. */
export type PoseAngles = [number, number, number];

/** The rotation taking `from` to `to` (both LANDMARK_COUNT x 3), as [pitch, yaw, roll] degrees. */
export function relativeAngles(from: Float32Array, to: Float32Array): PoseAngles {
  const a = new Float64Array(3 * LANDMARK_COUNT);
  const b = new Float64Array(3 * LANDMARK_COUNT);
  normalizeFace(from, a, createFaceFrame());
  normalizeFace(to, b, createFaceFrame());
  const e = eulerDegrees(bestRotation(a, b));
  return [e.pitch, e.yaw, e.roll];
}

/** Pearson correlation; 0 when either series is constant. */
export function pearson(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return saa === 0 || sbb === 0 ? 0 : sab / Math.sqrt(saa * sbb);
}
