/**
 * The lips' inner edges as the mouth opens. The portrait's inner-lip points sit on the dark
 * seam between its closed lips; opened, the warp stretched the seam's pixels over the top of
 * the lower lip (and the underside of the upper one) into a dark band, 2-3x the seam's
 * thickness on a thin-lipped portrait, which does not read as a lip: the face tracker put the
 * lower lip in the middle of the mouth (portrait-1's wide-open mouths read back at 0.45-0.75
 * of what was shown). A real opened lip shows its own colour up to its inner edge.
 *
 * So as the shown mouth opens past the portrait's own opening, the warp's source position of
 * each inner-lip point moves into its lip's body (towards the facing outer-lip point, at most
 * LIP_SOURCE_SHIFT of the lip's thickness), the rings between in proportion: the lip then
 * samples lip, not seam, and the seam stays behind in the mouth's opening, which the interior
 * fill covers. Only source positions change
 * (as EyelidRenderer.placeSources does for the lids): the mesh and the native warp stay as they
 * are. Pure; measured once per portrait, nothing allocated per frame.
 */
import { DEFAULT_MOUTH_FILL_OPTIONS, mouthOpenness, smoothstep } from './mouth.js';

/**
 * The lips' four rings (MediaPipe: inner, semi-inner, semi-outer, outer), column by column
 * from the left corner to the right, corners excluded: each column crosses its lip from the
 * mouth's opening to the skin. The semi-inner ring lies 10-30 % of the way across.
 */
export const UPPER_LIP_COLUMNS: readonly (readonly [number, number, number, number])[] = [
  [191, 183, 184, 185], [80, 42, 74, 40], [81, 41, 73, 39], [82, 38, 72, 37], [13, 12, 11, 0],
  [312, 268, 302, 267], [311, 271, 303, 269], [310, 272, 304, 270], [415, 407, 408, 409],
];
export const LOWER_LIP_COLUMNS: readonly (readonly [number, number, number, number])[] = [
  [95, 96, 77, 146], [88, 89, 90, 91], [178, 179, 180, 181], [87, 86, 85, 84], [14, 15, 16, 17],
  [317, 316, 315, 314], [402, 403, 404, 405], [318, 319, 320, 321], [324, 325, 307, 375],
];

/**
 * How far into its lip the inner edge's source moves on an open mouth (a fraction of the lip's
 * thickness); the rings between move in proportion (a column's sources are taken from
 * shift..1 of the way across instead of 0..1), so no triangle folds. The lower lip more: its
 * seam side is what an opening stretches most; the upper lip's underside is in shadow anyway.
 */
export const LIP_SOURCE_SHIFT = Object.freeze({ upper: 0.2, lower: 0.4 });

export class LipSources {
  /** The portrait's mouth opening (mouthOpenness): the shift starts above it. */
  private readonly referenceOpenness: number;
  /** Per lip point that moves (inner and semi rings, corners excluded): its vertex and its source shift on an open mouth. */
  private readonly vertex: Uint16Array;
  private readonly shift: Float32Array;

  /** @param referenceLandmarks the portrait's landmarks (LANDMARK_COUNT x 3, pixels of the warp's source). */
  constructor(referenceLandmarks: Float32Array) {
    this.referenceOpenness = mouthOpenness(referenceLandmarks);
    const moves: [number, number, number][] = [];
    for (const [columns, shift] of [[UPPER_LIP_COLUMNS, LIP_SOURCE_SHIFT.upper], [LOWER_LIP_COLUMNS, LIP_SOURCE_SHIFT.lower]] as const) {
      for (const column of columns) {
        const inner = column[0], outer = column[3];
        const dx = referenceLandmarks[3 * outer] - referenceLandmarks[3 * inner];
        const dy = referenceLandmarks[3 * outer + 1] - referenceLandmarks[3 * inner + 1];
        const across2 = dx * dx + dy * dy;
        // A broken or flat portrait lip moves nothing.
        if (!(across2 > 1e-6)) continue;
        for (const point of column.slice(0, 3)) {
          const f = ((referenceLandmarks[3 * point] - referenceLandmarks[3 * inner]) * dx + (referenceLandmarks[3 * point + 1] - referenceLandmarks[3 * inner + 1]) * dy) / across2;
          const k = shift * (1 - Math.min(1, Math.max(0, f)));
          moves.push([point, k * dx, k * dy]);
        }
      }
    }
    this.vertex = Uint16Array.from(moves.map((m) => m[0]));
    this.shift = Float32Array.from(moves.flatMap((m) => [m[1], m[2]]));
  }

  /**
   * Writes the lips' source positions into `sources` (the topology's reference
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
