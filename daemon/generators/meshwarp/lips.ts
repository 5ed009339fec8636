/**
 * The lips' inner edges as the mouth opens. The portrait's inner-lip points sit on the dark
 * seam between its closed lips; opened, the warp stretched the seam's pixels over the top of
 * the lower lip (and the underside of the upper one) into a dark band, 2-3x the seam's
 * thickness on a thin-lipped portrait, which does not read as a lip: the face tracker put the
 * lower lip in the middle of the mouth (portrait-1's wide-open mouths read back at 0.45-0.75
 * of what was shown). A real opened lip shows its own colour up to its inner edge.
 *
 * So as the shown mouth opens past the portrait's own opening, the warp's source position of
 * each inner-lip point moves into its lip (towards the facing outer-lip point, at most
 * LIP_SOURCE_SHIFT of the lip's thickness): the lip then samples lip, not seam, and the seam
 * stays behind in the mouth's opening, which the interior fill covers. Only source positions change
 * (as EyelidRenderer.placeSources does for the lids): the mesh and the native warp stay as they
 * are. Pure; measured once per portrait, nothing allocated per frame.
 */
import { DEFAULT_MOUTH_FILL_OPTIONS, mouthOpenness, smoothstep } from './mouth.js';
import { INNER_LIP_LOWER, INNER_LIP_UPPER, OUTER_LIP_LOWER, OUTER_LIP_UPPER } from './topology.js';

/**
 * How far into its lip (inner edge -> outer edge) each inner-lip point's source moves on an
 * open mouth. Past the lip's next ring (MediaPipe's semi-inner ring, 10-30 % across): the band
 * between the two then samples the lip from 40 % back to that ring, mirrored, so the inner edge
 * shows the lip's own saturated inner part and none of the seam. Measured against moving the
 * rings in proportion (no mirrored band, the lip's paler middle at its edge) on 600 frames of
 * the demo video, mouth-opening gain read back: reference 0.99 vs 0.94, portrait-1 0.78 vs 0.63,
 * portrait-4 0.89 vs 0.78 (0.97 / 0.60 / 0.69 with no shift).
 * The lower lip more: its seam side is what an opening stretches most; the upper lip's
 * underside is in shadow anyway.
 */
export const LIP_SOURCE_SHIFT = Object.freeze({ upper: 0.2, lower: 0.4 });

export class LipSources {
  /** The portrait's mouth opening (mouthOpenness): the shift starts above it. */
  private readonly referenceOpenness: number;
  /** Per inner-lip point (upper then lower, corners excluded): its vertex and its source shift on an open mouth. */
  private readonly vertex: Uint16Array;
  private readonly shift: Float32Array;

  /** @param referenceLandmarks the portrait's landmarks (LANDMARK_COUNT x 3, pixels of the warp's source). */
  constructor(referenceLandmarks: Float32Array) {
    this.referenceOpenness = mouthOpenness(referenceLandmarks);
    const pairs: [number, number, number][] = [];
    for (let k = 1; k < INNER_LIP_UPPER.length - 1; k++) pairs.push([INNER_LIP_UPPER[k]!, OUTER_LIP_UPPER[k]!, LIP_SOURCE_SHIFT.upper]);
    for (let k = 1; k < INNER_LIP_LOWER.length - 1; k++) pairs.push([INNER_LIP_LOWER[k]!, OUTER_LIP_LOWER[k]!, LIP_SOURCE_SHIFT.lower]);
    this.vertex = Uint16Array.from(pairs.map((p) => p[0]));
    this.shift = new Float32Array(2 * pairs.length);
    pairs.forEach(([inner, outer, s], k) => {
      const dx = referenceLandmarks[3 * outer] - referenceLandmarks[3 * inner];
      const dy = referenceLandmarks[3 * outer + 1] - referenceLandmarks[3 * inner + 1];
      // A broken portrait mesh moves nothing.
      this.shift[2 * k] = Number.isFinite(dx) ? s * dx : 0;
      this.shift[2 * k + 1] = Number.isFinite(dy) ? s * dy : 0;
    });
  }

  /**
   * Writes the inner lips' source positions into `sources` (the topology's reference
   * vertices elsewhere): at the portrait's own for a mouth no more open than the portrait's,
   * moved into the lips as the mouth opens, fully from the mouth fill's ramp on.
   */
  placeSources(shown: Float32Array, referenceVertices: Float32Array, sources: Float32Array): void {
    const open = mouthOpenness(shown) - this.referenceOpenness;
    const m = Number.isNaN(open) ? 0 : smoothstep(0, DEFAULT_MOUTH_FILL_OPTIONS.ramp, open);
    for (let k = 0; k < this.vertex.length; k++) {
      const v = 2 * this.vertex[k]!;
      sources[v] = referenceVertices[v]! + m * this.shift[2 * k]!;
      sources[v + 1] = referenceVertices[v + 1]! + m * this.shift[2 * k + 1]!;
    }
  }
}
