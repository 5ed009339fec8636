/**
 * The triangle mesh of the built-in CPU generator ("meshwarp"): which points move and how
 * they are connected. Built once per reference portrait; placeVertices then positions the
 * mesh for each animated frame without allocating.
 *
 * Vertex layout (fixed, so a landmark's vertex index is its landmark index):
 *   [0, 478)                 the MediaPipe face-mesh landmarks (468 mesh + 10 iris points).
 *                            Only the two iris centres (468, 473) of the iris points are
 *                            triangulated (as a fan inside each eye, so gaze moves the iris);
 *                            the other 8 are placed but no triangle uses them.
 *   rings[r]                 points around the face along the face-oval directions (default
 *                            2 rings of 24 at 1.35x and 2x the oval's radius: hair, ears, neck,
 *                            shoulders). A ring point outside the image (less a margin) or too
 *                            close to another point is dropped, so a ring may hold fewer.
 *   border                   points along the image border, corners included (never move).
 *   lidCopies                the upper lid margins (EYELIDS[side].upper, right then left) again:
 *                            the triangles inside each eye use these copies, so the eye's inside
 *                            can sample its source apart from the lid above it (a closing lid
 *                            covers the eye instead of squashing it; eyelids.ts). placeVertices
 *                            and placeDepths put each copy where its landmark is.
 *
 * The triangulation is a constrained Delaunay triangulation of the reference positions:
 * Delaunay (delaunator), then the edges of the inner-lip polygon and of both eye-contour
 * polygons are forced in by edge flips (Sloan's algorithm) and the Delaunay property is
 * restored around them. So each of those polygons is exactly a union of triangles made of
 * its own contour points (plus the iris centre for an eye): the mouth and the eyes can open
 * without stretching lip or lid texture across the opening. `openings` reports, per polygon,
 * whether that held for this reference (it can fail only for a contour that still
 * self-intersects after the repair below; then the polygon is triangulated unconstrained).
 *
 * A closed mouth (or eye) in the reference often has upper and lower contour points within a
 * fraction of a pixel, or crossing: when a contour polygon is not simple, paired upper/lower
 * points are pushed apart to a 0.5 px gap along the contour's normal in `referenceVertices`
 * (the reference image has no pixels between them, so sampling is unaffected).
 *
 * Triangles cover the convex hull of all vertices exactly once; with the face inside the image
 * that hull is the image rectangle [0, width] x [0, height] (pixel centres at +0.5). Every
 * triangle has positive signed area (bx-ax)(cy-ay) - (by-ay)(cx-ax) > 0 in image coordinates
 * (y down), i.e. it is clockwise on screen. Triangles are listed in 16-px bands from top to
 * bottom (by centroid), which keeps a triangle-by-triangle renderer's memory walk local.
 */
import Delaunator from 'delaunator';
import { PersonaLiveError } from '../../errors.js';
import { LANDMARK_COUNT } from './tracking/types.js';

/** MediaPipe face-oval contour, clockwise on screen from the top of the forehead. */
export const FACE_OVAL: readonly number[] = [
  10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234,
  127, 162, 21, 54, 103, 67, 109,
];
/** Inner lip, upper contour from corner 78 to corner 308. */
export const INNER_LIP_UPPER: readonly number[] = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308];
/** Inner lip, lower contour from corner 78 to corner 308. */
export const INNER_LIP_LOWER: readonly number[] = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308];
/** Outer lip contours from corner 61 to corner 291, facing INNER_LIP_UPPER / INNER_LIP_LOWER point by point. */
export const OUTER_LIP_UPPER: readonly number[] = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291];
export const OUTER_LIP_LOWER: readonly number[] = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291];
/** The person's right eye (on the image's left in an unmirrored photo): lids from corner 33 (outer) to 133 (inner). */
export const RIGHT_EYE_UPPER: readonly number[] = [33, 246, 161, 160, 159, 158, 157, 173, 133];
export const RIGHT_EYE_LOWER: readonly number[] = [33, 7, 163, 144, 145, 153, 154, 155, 133];
/** The person's left eye: lids from corner 263 (outer) to 362 (inner). */
export const LEFT_EYE_UPPER: readonly number[] = [263, 466, 388, 387, 386, 385, 384, 398, 362];
export const LEFT_EYE_LOWER: readonly number[] = [263, 249, 390, 373, 374, 380, 381, 382, 362];
/** Upper and lower eyelid points of each eye (MediaPipe indices), paired: upper[k] faces lower[k]. */
export const EYELIDS = {
  right: { upper: [246, 161, 160, 159, 158, 157, 173], lower: [7, 163, 144, 145, 153, 154, 155] },
  left: { upper: [466, 388, 387, 386, 385, 384, 398], lower: [249, 390, 373, 374, 380, 381, 382] },
} as const;

/** Lips and the lower jaw (the chin follows the mouth's opening): MediaPipe indices. */
export const MOUTH_INDICES: readonly number[] = [
  0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191,
  267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415,
  152, 148, 176, 149, 150, 136, 172, 377, 400, 378, 379, 365, 397, 18, 200, 199, 175,
];
/** Both brows. */
export const BROW_INDICES: readonly number[] = [70, 63, 105, 66, 107, 55, 65, 52, 53, 46, 300, 293, 334, 296, 336, 285, 295, 282, 283, 276];

/** Iris centres: 468 in the right eye (33..133), 473 in the left eye (263..362). */
export const RIGHT_IRIS_CENTER = 468;
export const LEFT_IRIS_CENTER = 473;
/**
 * Points that move rigidly with the skull (upper face oval, eye corners, nose bridge): the
 * 2D similarity that carries the rings is fitted to these, so jaw motion (speech) does not
 * make the hair and background breathe.
 */
export const RIGID_FACE_POINTS: readonly number[] = [
  10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 93, 234, 127, 162, 21, 54, 103, 67, 109, 33, 133, 362, 263, 168, 6, 197, 195, 5,
];

/** Closed polygon of a contour pair (upper from corner to corner, then lower back). */
export function contourPolygon(upper: readonly number[], lower: readonly number[]): number[] {
  const ring = upper.slice();
  for (let i = lower.length - 2; i >= 1; i--) ring.push(lower[i]);
  return ring;
}

export const INNER_LIP_POLYGON: readonly number[] = contourPolygon(INNER_LIP_UPPER, INNER_LIP_LOWER);
export const RIGHT_EYE_POLYGON: readonly number[] = contourPolygon(RIGHT_EYE_UPPER, RIGHT_EYE_LOWER);
export const LEFT_EYE_POLYGON: readonly number[] = contourPolygon(LEFT_EYE_UPPER, LEFT_EYE_LOWER);

export interface IndexRange {
  readonly start: number;
  readonly count: number;
}

export interface RingOptions {
  /** Distance from the face centre as a multiple of the face oval's radius in that direction. */
  scale: number;
  /** How much the ring follows the face's 2D similarity motion, in [0, 1]. */
  weight: number;
  /** Points around the ring (before dropping those outside the image). */
  count: number;
}

export interface TopologyOptions {
  rings?: readonly RingOptions[];
  /** Target spacing of the border points in pixels. */
  borderSpacing?: number;
  /** Ring points closer than this (pixels) to the image edge are dropped. Default 3% of the smaller side, at least 4. */
  borderMargin?: number;
  /** Ring points closer than this (pixels) to an existing vertex are dropped. */
  minSpacing?: number;
  /** Triangulate the iris centres as fans inside the eyes (gaze moves the iris). */
  irisCenters?: boolean;
}

export const DEFAULT_TOPOLOGY_OPTIONS: Readonly<Required<TopologyOptions>> = Object.freeze({
  rings: Object.freeze([Object.freeze({ scale: 1.35, weight: 0.85, count: 24 }), Object.freeze({ scale: 2, weight: 0.35, count: 24 })]),
  borderSpacing: 64,
  borderMargin: -1,
  minSpacing: 4,
  irisCenters: true,
});

export interface WarpTopology {
  /** Size of the reference image the mesh was built for (pixels). */
  readonly width: number;
  readonly height: number;
  readonly vertexCount: number;
  /** Vertex indices, 3 per triangle, each with positive signed area in image coordinates. */
  readonly triangles: Uint32Array;
  /** vertexCount x (x, y) in reference pixels: the source positions of the warp. */
  readonly referenceVertices: Float32Array;
  /** Per vertex in [0, 1]: 1 for face points, the ring's weight for ring points, 0 for the border. */
  readonly followWeights: Float32Array;
  readonly face: IndexRange;
  readonly rings: readonly IndexRange[];
  readonly border: IndexRange;
  /** Landmarks the ring similarity is fitted to. */
  readonly similarityIndices: Uint16Array;
  /**
   * Per vertex: the face-oval landmark a skin-band vertex is anchored to (rings[0] is the
   * band, one point outside each oval landmark), -1 for every other vertex. Those vertices move with their
   * anchor's own displacement (weighted), so the oval can never cross the ring when a head
   * turn pushes one cheek outwards in the image (a 2D similarity cannot follow that).
   */
  readonly ringAnchors: Int16Array;
  /** Iris centres that are triangulated (subset of 468, 473); placeVertices keeps them between the lids. */
  readonly irisCenters: Uint16Array;
  /** The eye-side copies of the upper lid margins (see the module comment), and the landmark each copies. */
  readonly lidCopies: IndexRange;
  readonly lidCopyOf: Uint16Array;
  /** Whether each contour polygon is exactly a union of triangles (see the module comment). */
  readonly openings: { readonly mouth: boolean; readonly rightEye: boolean; readonly leftEye: boolean };
  /** Contours whose reference points were pushed apart because the polygon was not simple. */
  readonly repairedContours: readonly ('mouth' | 'rightEye' | 'leftEye')[];
}

// ---------------------------------------------------------------------------------------
// Geometry helpers (build time only)

function orient(ax: number, ay: number, bx: number, by: number, cx: number, cy: number): number {
  return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
}

function segmentsCross(ax: number, ay: number, bx: number, by: number, cx: number, cy: number, dx: number, dy: number): boolean {
  const o1 = orient(ax, ay, bx, by, cx, cy);
  const o2 = orient(ax, ay, bx, by, dx, dy);
  const o3 = orient(cx, cy, dx, dy, ax, ay);
  const o4 = orient(cx, cy, dx, dy, bx, by);
  return ((o1 > 0 && o2 < 0) || (o1 < 0 && o2 > 0)) && ((o3 > 0 && o4 < 0) || (o3 < 0 && o4 > 0));
}

/** True when no two non-adjacent edges of the closed polygon touch or cross. */
function polygonIsSimple(xy: Float64Array, polygon: readonly number[]): boolean {
  const n = polygon.length;
  for (let i = 0; i < n; i++) {
    const a = polygon[i], b = polygon[(i + 1) % n];
    if (xy[2 * a] === xy[2 * b] && xy[2 * a + 1] === xy[2 * b + 1]) return false;
    for (let j = i + 2; j < n; j++) {
      if (i === 0 && j === n - 1) continue;
      const c = polygon[j], d = polygon[(j + 1) % n];
      const ax = xy[2 * a], ay = xy[2 * a + 1], bx = xy[2 * b], by = xy[2 * b + 1];
      const cx = xy[2 * c], cy = xy[2 * c + 1], dx = xy[2 * d], dy = xy[2 * d + 1];
      const o1 = orient(ax, ay, bx, by, cx, cy);
      const o2 = orient(ax, ay, bx, by, dx, dy);
      const o3 = orient(cx, cy, dx, dy, ax, ay);
      const o4 = orient(cx, cy, dx, dy, bx, by);
      if (o1 * o2 <= 0 && o3 * o4 <= 0) return false;
    }
  }
  return true;
}

/** Even-odd point-in-polygon over xy pairs. */
export function pointInPolygon(x: number, y: number, xy: ArrayLike<number>, polygon: readonly number[], stride = 2): boolean {
  let inside = false;
  const n = polygon.length;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = xy[stride * polygon[i]], yi = xy[stride * polygon[i] + 1];
    const xj = xy[stride * polygon[j]], yj = xy[stride * polygon[j] + 1];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function distanceToPolygon(x: number, y: number, xy: Float64Array, polygon: readonly number[]): number {
  let best = Infinity;
  const n = polygon.length;
  for (let i = 0; i < n; i++) {
    const a = polygon[i], b = polygon[(i + 1) % n];
    const ax = xy[2 * a], ay = xy[2 * a + 1];
    const ex = xy[2 * b] - ax, ey = xy[2 * b + 1] - ay;
    const len2 = ex * ex + ey * ey;
    let t = len2 > 0 ? ((x - ax) * ex + (y - ay) * ey) / len2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    const dx = x - ax - t * ex, dy = y - ay - t * ey;
    best = Math.min(best, Math.hypot(dx, dy));
  }
  return best;
}

/**
 * Pushes paired upper/lower contour points apart to at least `gap` along the contour's
 * downward normal (upper[i] pairs lower[i]; the corners stay).
 */
function separateContours(xy: Float64Array, upper: readonly number[], lower: readonly number[], gap: number): void {
  const a = upper[0], b = upper[upper.length - 1];
  let nx = -(xy[2 * b + 1] - xy[2 * a + 1]);
  let ny = xy[2 * b] - xy[2 * a];
  const len = Math.hypot(nx, ny) || 1;
  nx /= len;
  ny /= len;
  if (ny < 0) {
    nx = -nx;
    ny = -ny;
  }
  for (let i = 1; i < upper.length - 1; i++) {
    const u = upper[i], l = lower[i];
    const su = xy[2 * u] * nx + xy[2 * u + 1] * ny;
    const sl = xy[2 * l] * nx + xy[2 * l + 1] * ny;
    if (sl - su >= gap) continue;
    const mid = (su + sl) / 2;
    const du = mid - gap / 2 - su, dl = mid + gap / 2 - sl;
    xy[2 * u] += du * nx;
    xy[2 * u + 1] += du * ny;
    xy[2 * l] += dl * nx;
    xy[2 * l + 1] += dl * ny;
  }
}

// ---------------------------------------------------------------------------------------
// A mutable half-edge triangulation (delaunator's layout) with constrained-edge insertion.

class Triangulation {
  readonly tri: Int32Array;
  readonly he: Int32Array;
  private readonly constrained = new Set<number>();

  constructor(
    private readonly xy: Float64Array,
    private readonly n: number,
    triangles: Uint32Array,
    halfedges: Int32Array,
  ) {
    this.tri = Int32Array.from(triangles);
    this.he = Int32Array.from(halfedges);
  }

  private key(a: number, b: number): number {
    return a < b ? a * this.n + b : b * this.n + a;
  }

  private o(a: number, b: number, c: number): number {
    const xy = this.xy;
    return orient(xy[2 * a], xy[2 * a + 1], xy[2 * b], xy[2 * b + 1], xy[2 * c], xy[2 * c + 1]);
  }

  private crosses(p: number, q: number, a: number, b: number): boolean {
    if (p === a || p === b || q === a || q === b) return false;
    const xy = this.xy;
    return segmentsCross(xy[2 * p], xy[2 * p + 1], xy[2 * q], xy[2 * q + 1], xy[2 * a], xy[2 * a + 1], xy[2 * b], xy[2 * b + 1]);
  }

  /** The half-edge p -> q, or -1. */
  findHalfedge(p: number, q: number): number {
    const tri = this.tri;
    for (let h = 0; h < tri.length; h++) {
      if (tri[h] === p && tri[h - (h % 3) + ((h + 1) % 3)] === q) return h;
    }
    return -1;
  }

  hasEdge(p: number, q: number): boolean {
    return this.findHalfedge(p, q) >= 0 || this.findHalfedge(q, p) >= 0;
  }

  /** Flips the edge of half-edge h (its quad must be strictly convex). */
  private flip(h: number): void {
    const tri = this.tri, he = this.he;
    const o = he[h];
    const t0 = h - (h % 3), t1 = o - (o % 3);
    const e1 = t0 + ((h + 1) % 3), e2 = t0 + ((h + 2) % 3);
    const o1 = t1 + ((o + 1) % 3), o2 = t1 + ((o + 2) % 3);
    const p = tri[h], q = tri[e1], r = tri[e2], s = tri[o2];
    const xe1 = he[e1], xe2 = he[e2], xo1 = he[o1], xo2 = he[o2];
    // t0 = (r, p, s), t1 = (s, q, r): same orientation as (p, q, r) and (q, p, s).
    tri[t0] = r;
    tri[t0 + 1] = p;
    tri[t0 + 2] = s;
    tri[t1] = s;
    tri[t1 + 1] = q;
    tri[t1 + 2] = r;
    this.link(t0, xe2);
    this.link(t0 + 1, xo1);
    this.link(t0 + 2, t1 + 2);
    this.link(t1, xo2);
    this.link(t1 + 1, xe1);
  }

  private link(a: number, b: number): void {
    this.he[a] = b;
    if (b >= 0) this.he[b] = a;
  }

  /** Apexes (r of h's triangle, s of its twin's) of the quad around half-edge h. */
  private apexes(h: number): [number, number] {
    const o = this.he[h];
    return [this.tri[h - (h % 3) + ((h + 2) % 3)], this.tri[o - (o % 3) + ((o + 2) % 3)]];
  }

  private convex(p: number, q: number, r: number, s: number): boolean {
    const a = this.o(r, s, p), b = this.o(r, s, q);
    return (a > 0 && b < 0) || (a < 0 && b > 0);
  }

  /** Forces edge a-b into the triangulation; false when it could not (the mesh stays valid). */
  insertEdge(a: number, b: number, used: Uint8Array, depth = 0): boolean {
    if (a === b) return false;
    if (this.hasEdge(a, b)) {
      this.constrained.add(this.key(a, b));
      return true;
    }
    const xy = this.xy;
    const ax = xy[2 * a], ay = xy[2 * a + 1], bx = xy[2 * b], by = xy[2 * b + 1];
    // A vertex exactly on the segment splits the constraint.
    for (let v = 0; v < this.n; v++) {
      if (v === a || v === b || !used[v]) continue;
      const vx = xy[2 * v], vy = xy[2 * v + 1];
      if (orient(ax, ay, bx, by, vx, vy) !== 0) continue;
      const t = (vx - ax) * (bx - ax) + (vy - ay) * (by - ay);
      if (t > 0 && t < (bx - ax) ** 2 + (by - ay) ** 2) {
        return depth < 8 && this.insertEdge(a, v, used, depth + 1) && this.insertEdge(v, b, used, depth + 1);
      }
    }
    const queue: number[] = [];
    const tri = this.tri, he = this.he;
    for (let h = 0; h < tri.length; h++) {
      const t = he[h];
      if (t < h) continue;
      const p = tri[h], q = tri[h - (h % 3) + ((h + 1) % 3)];
      if (this.crosses(p, q, a, b)) {
        if (this.constrained.has(this.key(p, q))) return false;
        queue.push(p, q);
      }
    }
    let guard = 64 * queue.length + 1000;
    while (queue.length > 0) {
      if (--guard < 0) return false;
      const p = queue.shift()!, q = queue.shift()!;
      let h = this.findHalfedge(p, q);
      if (h < 0) h = this.findHalfedge(q, p);
      if (h < 0 || this.he[h] < 0) return false;
      const [r, s] = this.apexes(h);
      const pp = tri[h], qq = tri[h - (h % 3) + ((h + 1) % 3)];
      if (!this.convex(pp, qq, r, s)) {
        queue.push(p, q);
        continue;
      }
      this.flip(h);
      if (this.crosses(r, s, a, b)) queue.push(r, s);
    }
    if (!this.hasEdge(a, b)) return false;
    this.constrained.add(this.key(a, b));
    return true;
  }

  /** Lawson flips on unconstrained edges until the triangulation is constrained-Delaunay. */
  restoreDelaunay(): void {
    const tri = this.tri, he = this.he, xy = this.xy;
    for (let pass = 0; pass < 200; pass++) {
      let flips = 0;
      for (let h = 0; h < tri.length; h++) {
        const t = he[h];
        if (t < h) continue;
        const p = tri[h], q = tri[h - (h % 3) + ((h + 1) % 3)];
        if (this.constrained.has(this.key(p, q))) continue;
        const [r, s] = this.apexes(h);
        // Is s inside the circumcircle of (p, q, r)?
        const adx = xy[2 * p] - xy[2 * s], ady = xy[2 * p + 1] - xy[2 * s + 1];
        const bdx = xy[2 * q] - xy[2 * s], bdy = xy[2 * q + 1] - xy[2 * s + 1];
        const cdx = xy[2 * r] - xy[2 * s], cdy = xy[2 * r + 1] - xy[2 * s + 1];
        const t1 = (adx * adx + ady * ady) * (bdx * cdy - cdx * bdy);
        const t2 = (bdx * bdx + bdy * bdy) * (adx * cdy - cdx * ady);
        const t3 = (cdx * cdx + cdy * cdy) * (adx * bdy - bdx * ady);
        const det = (t1 - t2 + t3) * Math.sign(this.o(p, q, r));
        if (det > 1e-9 * (Math.abs(t1) + Math.abs(t2) + Math.abs(t3)) && this.convex(p, q, r, s)) {
          this.flip(h);
          flips++;
        }
      }
      if (flips === 0) return;
    }
  }
}

// ---------------------------------------------------------------------------------------

function checkLandmarks(name: string, landmarks: Float32Array): void {
  if (landmarks.length < LANDMARK_COUNT * 3) {
    throw new PersonaLiveError('INTERNAL', `'${name}' has length ${landmarks.length}, expected ${LANDMARK_COUNT}x3 = ${LANDMARK_COUNT * 3}`);
  }
}

/** Largest distance from (cx, cy) along direction (dx, dy) to the closed polygon's boundary, or 0. */
function rayToPolygon(cx: number, cy: number, dx: number, dy: number, xy: Float64Array, polygon: readonly number[]): number {
  let best = 0;
  const n = polygon.length;
  for (let i = 0; i < n; i++) {
    const a = polygon[i], b = polygon[(i + 1) % n];
    const ax = xy[2 * a] - cx, ay = xy[2 * a + 1] - cy;
    const ex = xy[2 * b] - xy[2 * a], ey = xy[2 * b + 1] - xy[2 * a + 1];
    const den = dx * ey - dy * ex;
    if (den === 0) continue;
    const t = (ax * ey - ay * ex) / den;
    const s = (ax * dy - ay * dx) / den;
    if (t > 0 && s >= 0 && s <= 1) best = Math.max(best, t);
  }
  return best;
}

/**
 * Builds the warp mesh for a reference portrait.
 *
 * @param referenceLandmarks LANDMARK_COUNT x 3 floats (x, y in reference pixels, z).
 * @param width reference image width in pixels.
 * @param height reference image height in pixels.
 * @throws PersonaLiveError INTERNAL when the landmarks are too short, the size is not a
 *   positive integer, or a landmark is not finite.
 */
export function buildWarpTopology(referenceLandmarks: Float32Array, width: number, height: number, options: TopologyOptions = {}): WarpTopology {
  checkLandmarks('referenceLandmarks', referenceLandmarks);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0 || width > 16384 || height > 16384) {
    throw new PersonaLiveError('INTERNAL', `reference size ${width}x${height} is not a positive integer size up to 16384`);
  }
  for (let i = 0; i < LANDMARK_COUNT * 3; i++) {
    if (!Number.isFinite(referenceLandmarks[i])) throw new PersonaLiveError('INTERNAL', `'referenceLandmarks'[${i}] is not finite (${referenceLandmarks[i]})`);
  }
  const d = DEFAULT_TOPOLOGY_OPTIONS;
  const opts = {
    rings: options.rings ?? d.rings,
    borderSpacing: options.borderSpacing ?? d.borderSpacing,
    borderMargin: options.borderMargin ?? d.borderMargin,
    minSpacing: options.minSpacing ?? d.minSpacing,
    irisCenters: options.irisCenters ?? d.irisCenters,
  };
  if (!(opts.borderSpacing > 0)) throw new PersonaLiveError('INTERNAL', `'borderSpacing' ${opts.borderSpacing} is not a positive number of pixels`);
  for (const ring of opts.rings) {
    if (!(ring.scale > 1) || !Number.isInteger(ring.count) || ring.count < 3 || !(ring.weight >= 0 && ring.weight <= 1)) {
      throw new PersonaLiveError('INTERNAL', `ring ${JSON.stringify(ring)}: expected scale > 1, an integer count >= 3 and weight in [0, 1]`);
    }
  }
  const margin = opts.borderMargin >= 0 ? opts.borderMargin : Math.max(4, 0.03 * Math.min(width, height));

  // Candidate positions: landmarks, ring points, border points (float64 while building).
  const maxRing = opts.rings.reduce((s, r) => s + r.count, 0);
  const nx = Math.max(1, Math.round(width / opts.borderSpacing));
  const ny = Math.max(1, Math.round(height / opts.borderSpacing));
  const maxBorder = 2 * (nx + ny);
  const lidCopyOf = Uint16Array.from([...EYELIDS.right.upper, ...EYELIDS.left.upper]);
  const xy = new Float64Array(2 * (LANDMARK_COUNT + FACE_OVAL.length + maxRing + maxBorder + lidCopyOf.length));
  for (let i = 0; i < LANDMARK_COUNT; i++) {
    xy[2 * i] = referenceLandmarks[3 * i];
    xy[2 * i + 1] = referenceLandmarks[3 * i + 1];
  }

  // Contours: repair non-simple reference polygons.
  const repaired: ('mouth' | 'rightEye' | 'leftEye')[] = [];
  const contours = [
    { name: 'mouth' as const, upper: INNER_LIP_UPPER, lower: INNER_LIP_LOWER, polygon: INNER_LIP_POLYGON },
    { name: 'rightEye' as const, upper: RIGHT_EYE_UPPER, lower: RIGHT_EYE_LOWER, polygon: RIGHT_EYE_POLYGON },
    { name: 'leftEye' as const, upper: LEFT_EYE_UPPER, lower: LEFT_EYE_LOWER, polygon: LEFT_EYE_POLYGON },
  ];
  for (const c of contours) {
    if (!polygonIsSimple(xy, c.polygon)) {
      separateContours(xy, c.upper, c.lower, 0.5);
      repaired.push(c.name);
    }
  }

  // Which landmarks are triangulated: the 468 mesh points and the iris centres inside their eye.
  let count = LANDMARK_COUNT;
  const used = new Uint8Array(xy.length / 2);
  used.fill(1, 0, 468);
  const irisCenters: number[] = [];
  if (opts.irisCenters) {
    for (const [iris, polygon] of [
      [RIGHT_IRIS_CENTER, RIGHT_EYE_POLYGON],
      [LEFT_IRIS_CENTER, LEFT_EYE_POLYGON],
    ] as const) {
      const x = xy[2 * iris], y = xy[2 * iris + 1];
      if (pointInPolygon(x, y, xy, polygon) && distanceToPolygon(x, y, xy, polygon) > 0.5) {
        used[iris] = 1;
        irisCenters.push(iris);
      }
    }
  }

  const tooClose = (x: number, y: number, limit: number): boolean => {
    const l2 = limit * limit;
    for (let v = 0; v < count; v++) {
      if (!used[v]) continue;
      const dx = xy[2 * v] - x, dy = xy[2 * v + 1] - y;
      if (dx * dx + dy * dy < l2) return true;
    }
    return false;
  };

  // Rings along the face-oval directions around the oval's centroid.
  let cx = 0, cy = 0;
  for (const i of FACE_OVAL) {
    cx += xy[2 * i];
    cy += xy[2 * i + 1];
  }
  cx /= FACE_OVAL.length;
  cy /= FACE_OVAL.length;
  let meanRadius = 0;
  for (const i of FACE_OVAL) meanRadius += Math.hypot(xy[2 * i] - cx, xy[2 * i + 1] - cy);
  meanRadius /= FACE_OVAL.length;
  const ringRanges: IndexRange[] = [];
  const weights: number[] = [];
  // The skin band: one point just outside each face-oval landmark, carried by that landmark
  // (see WarpTopology.ringAnchors). The landmarks sit a little inside the real face edge, so
  // the band holds the last strip of skin; moving it with its own oval point keeps that
  // strip's edge smooth when a head turn moves each oval point differently.
  const bandAnchor: number[] = [];
  {
    const start = count;
    for (const i of FACE_OVAL) {
      const x = xy[2 * i] + (xy[2 * i] - cx) * SKIN_BAND;
      const y = xy[2 * i + 1] + (xy[2 * i + 1] - cy) * SKIN_BAND;
      if (x < margin || y < margin || x > width - margin || y > height - margin) continue;
      if (tooClose(x, y, opts.minSpacing)) continue;
      xy[2 * count] = x;
      xy[2 * count + 1] = y;
      used[count] = 1;
      weights[count] = 1;
      bandAnchor[count] = i;
      count++;
    }
    ringRanges.push({ start, count: count - start });
  }
  opts.rings.forEach((ring, r) => {
    const start = count;
    for (let k = 0; k < ring.count; k++) {
      const theta = (2 * Math.PI * (k + (r % 2 === 1 ? 0.5 : 0))) / ring.count - Math.PI / 2;
      const dx = Math.cos(theta), dy = Math.sin(theta);
      const radius = rayToPolygon(cx, cy, dx, dy, xy, FACE_OVAL) || meanRadius;
      const x = cx + ring.scale * radius * dx, y = cy + ring.scale * radius * dy;
      if (x < margin || y < margin || x > width - margin || y > height - margin) continue;
      if (tooClose(x, y, opts.minSpacing)) continue;
      xy[2 * count] = x;
      xy[2 * count + 1] = y;
      used[count] = 1;
      weights[count] = ring.weight;
      count++;
    }
    ringRanges.push({ start, count: count - start });
  });

  // Border: corners and evenly spaced points along each side.
  const borderStart = count;
  const addBorder = (x: number, y: number): void => {
    xy[2 * count] = x;
    xy[2 * count + 1] = y;
    used[count] = 1;
    weights[count] = 0;
    count++;
  };
  for (let i = 0; i <= nx; i++) addBorder((i * width) / nx, 0);
  for (let j = 1; j <= ny; j++) addBorder(width, (j * height) / ny);
  for (let i = nx - 1; i >= 0; i--) addBorder((i * width) / nx, height);
  for (let j = ny - 1; j >= 1; j--) addBorder(0, (j * height) / ny);
  const borderEnd = count;
  // Lid copies: not triangulated by Delaunay; they replace their margin points in the eyes' triangles below.
  const lidCopyStart = count;
  for (const m of lidCopyOf) {
    xy[2 * count] = xy[2 * m];
    xy[2 * count + 1] = xy[2 * m + 1];
    weights[count] = 1;
    count++;
  }
  const vertexCount = count;

  // Delaunay over the used vertices (compact indexing for delaunator).
  const compactToVertex: number[] = [];
  for (let v = 0; v < vertexCount; v++) if (used[v]) compactToVertex.push(v);
  const coords = new Float64Array(2 * compactToVertex.length);
  compactToVertex.forEach((v, k) => {
    coords[2 * k] = xy[2 * v];
    coords[2 * k + 1] = xy[2 * v + 1];
  });
  const vertexToCompact = new Int32Array(vertexCount).fill(-1);
  compactToVertex.forEach((v, k) => (vertexToCompact[v] = k));
  const delaunay = new Delaunator(coords);
  const mesh = new Triangulation(coords, compactToVertex.length, delaunay.triangles, delaunay.halfedges);
  const inMesh = new Uint8Array(compactToVertex.length);
  for (let h = 0; h < mesh.tri.length; h++) inMesh[mesh.tri[h]] = 1; // delaunator skips exact duplicates

  const openings = { mouth: false, rightEye: false, leftEye: false };
  for (const c of contours) {
    const poly = c.polygon.map((v) => vertexToCompact[v]);
    let ok = poly.every((k) => k >= 0 && inMesh[k] === 1) && polygonIsSimple(coords, poly);
    for (let i = 0; ok && i < poly.length; i++) ok = mesh.insertEdge(poly[i], poly[(i + 1) % poly.length], inMesh);
    openings[c.name] = ok;
  }
  // The face oval is a constraint too, so no triangle crosses it and the skin band's
  // triangles join band points to oval points only. Unconstrained, Delaunay joined band points
  // to cheek points inside the oval, and a head turn (which moves the oval, deep in z, more
  // than the cheek inside it) pulled those band triangles over the cheek as a sawtooth.
  const oval = FACE_OVAL.map((v) => vertexToCompact[v]);
  if (oval.every((k) => k >= 0 && inMesh[k] === 1) && polygonIsSimple(coords, oval)) {
    for (let i = 0; i < oval.length; i++) mesh.insertEdge(oval[i], oval[(i + 1) % oval.length], inMesh);
  }
  mesh.restoreDelaunay();
  for (const c of contours) {
    if (!openings[c.name]) continue;
    const poly = c.polygon.map((v) => vertexToCompact[v]);
    for (let i = 0; i < poly.length; i++) if (!mesh.hasEdge(poly[i], poly[(i + 1) % poly.length])) openings[c.name] = false;
  }

  // Output: drop zero-area triangles, orient positively, map back to vertex indices, and
  // order them in 16-px bands top to bottom (by centroid) so a triangle-by-triangle renderer
  // walks the images mostly in memory order.
  const kept: { tri: [number, number, number]; key: number }[] = [];
  for (let t = 0; t < mesh.tri.length; t += 3) {
    const a = mesh.tri[t], b = mesh.tri[t + 1], c = mesh.tri[t + 2];
    const area2 = orient(coords[2 * a], coords[2 * a + 1], coords[2 * b], coords[2 * b + 1], coords[2 * c], coords[2 * c + 1]);
    if (Math.abs(area2) <= 1e-9) continue;
    const cxT = (coords[2 * a] + coords[2 * b] + coords[2 * c]) / 3, cyT = (coords[2 * a + 1] + coords[2 * b + 1] + coords[2 * c + 1]) / 3;
    const tri: [number, number, number] = area2 > 0 ? [compactToVertex[a], compactToVertex[b], compactToVertex[c]] : [compactToVertex[a], compactToVertex[c], compactToVertex[b]];
    kept.push({ tri, key: Math.floor(cyT / 16) * 1e6 + cxT });
  }
  kept.sort((p, q) => p.key - q.key);
  // Inside each eye whose opening holds, the triangles take the lid copies for the upper margin.
  const eyes = [
    { polygon: RIGHT_EYE_POLYGON, iris: RIGHT_IRIS_CENTER, ok: openings.rightEye, margin: EYELIDS.right.upper as readonly number[] },
    { polygon: LEFT_EYE_POLYGON, iris: LEFT_IRIS_CENTER, ok: openings.leftEye, margin: EYELIDS.left.upper as readonly number[] },
  ];
  for (const eye of eyes) {
    if (!eye.ok) continue;
    const inside = new Set([...eye.polygon, eye.iris]);
    const copyOf = new Map(eye.margin.map((m) => [m, lidCopyStart + lidCopyOf.indexOf(m)] as const));
    for (const k of kept) {
      if (!k.tri.every((v) => inside.has(v))) continue;
      const cx = (xy[2 * k.tri[0]] + xy[2 * k.tri[1]] + xy[2 * k.tri[2]]) / 3, cy = (xy[2 * k.tri[0] + 1] + xy[2 * k.tri[1] + 1] + xy[2 * k.tri[2] + 1]) / 3;
      if (!pointInPolygon(cx, cy, xy, eye.polygon)) continue;
      for (let j = 0; j < 3; j++) k.tri[j] = copyOf.get(k.tri[j]) ?? k.tri[j];
    }
  }
  const out: number[] = [];
  for (const k of kept) out.push(...k.tri);

  const referenceVertices = new Float32Array(2 * vertexCount);
  for (let i = 0; i < 2 * vertexCount; i++) referenceVertices[i] = xy[i];
  const followWeights = new Float32Array(vertexCount);
  followWeights.fill(1, 0, LANDMARK_COUNT);
  for (let v = LANDMARK_COUNT; v < vertexCount; v++) followWeights[v] = weights[v];
  const ringAnchors = new Int16Array(vertexCount).fill(-1);
  bandAnchor.forEach((oval, v) => (ringAnchors[v] = oval));

  return {
    width,
    height,
    vertexCount,
    triangles: Uint32Array.from(out),
    referenceVertices,
    followWeights,
    face: { start: 0, count: LANDMARK_COUNT },
    rings: ringRanges,
    border: { start: borderStart, count: borderEnd - borderStart },
    lidCopies: { start: lidCopyStart, count: vertexCount - lidCopyStart },
    lidCopyOf,
    similarityIndices: Uint16Array.from(RIGID_FACE_POINTS),
    ringAnchors,
    irisCenters: Uint16Array.from(irisCenters),
    openings,
    repairedContours: repaired,
  };
}

// ---------------------------------------------------------------------------------------
// Per-frame placement

/** Width of the skin band outside the face oval, as a fraction of the oval's radius. */
const SKIN_BAND = 0.1;

const RIGHT_UPPER = Uint16Array.from(RIGHT_EYE_UPPER);
const RIGHT_LOWER = Uint16Array.from(RIGHT_EYE_LOWER);
const LEFT_UPPER = Uint16Array.from(LEFT_EYE_UPPER);
const LEFT_LOWER = Uint16Array.from(LEFT_EYE_LOWER);

/**
 * Offset along the unit normal (nx, ny) of the chain (vertex xy pairs in `v`) at axis
 * parameter t, where a point's parameter is its projection on (ax, ay) + s*(ex, ey).
 */
function chainOffsetAt(v: Float32Array, chain: Uint16Array, t: number, ax: number, ay: number, ex: number, ey: number, inv: number, nx: number, ny: number): number {
  let prevT = 0, prevS = 0;
  for (let k = 0; k < chain.length; k++) {
    const i = chain[k];
    const dx = v[2 * i] - ax, dy = v[2 * i + 1] - ay;
    const pt = (dx * ex + dy * ey) * inv;
    const ps = dx * nx + dy * ny;
    if (k > 0 && pt >= t) {
      const span = pt - prevT;
      return span > 1e-9 ? prevS + ((t - prevT) / span) * (ps - prevS) : ps;
    }
    prevT = pt;
    prevS = ps;
  }
  return prevS;
}

/** Moves an iris-centre vertex to lie between the placed lids of its eye (so the eye fan never folds). */
function clampIris(out: Float32Array, iris: number, upper: Uint16Array, lower: Uint16Array): void {
  const a = upper[0], b = upper[upper.length - 1];
  const ax = out[2 * a], ay = out[2 * a + 1];
  const ex = out[2 * b] - ax, ey = out[2 * b + 1] - ay;
  const len2 = ex * ex + ey * ey;
  if (!(len2 > 1e-12)) return;
  const inv = 1 / len2;
  const len = Math.sqrt(len2);
  let nx = -ey / len, ny = ex / len;
  if (ny < 0) {
    nx = -nx;
    ny = -ny;
  }
  const px = out[2 * iris] - ax, py = out[2 * iris + 1] - ay;
  let t = (px * ex + py * ey) * inv;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  let s = px * nx + py * ny;
  const su = chainOffsetAt(out, upper, t, ax, ay, ex, ey, inv, nx, ny);
  const sl = chainOffsetAt(out, lower, t, ax, ay, ex, ey, inv, nx, ny);
  const lo = su < sl ? su : sl, hi = su < sl ? sl : su;
  s = s < lo ? lo : s > hi ? hi : s;
  out[2 * iris] = ax + t * ex + s * nx;
  out[2 * iris + 1] = ay + t * ey + s * ny;
}

/**
 * Positions the mesh for one animated frame, into `out` (vertexCount x (x, y)): face vertices
 * are the landmarks (iris centres kept between the lids); ring vertices follow the face's 2D
 * similarity motion (least squares from the reference to the animated rigid face points,
 * RIGID_FACE_POINTS) by their follow weight: p + w * (S(p) - p); border vertices stay at
 * their reference positions. Pure; allocates nothing.
 *
 * @param faceLandmarks LANDMARK_COUNT x 3 animated landmarks in output pixels.
 * @throws PersonaLiveError INTERNAL when an array is too short.
 */
export function placeVertices(topology: WarpTopology, faceLandmarks: Float32Array, out: Float32Array): void {
  if (faceLandmarks.length < LANDMARK_COUNT * 3) checkLandmarks('faceLandmarks', faceLandmarks);
  if (out.length < 2 * topology.vertexCount) {
    throw new PersonaLiveError('INTERNAL', `'out' has length ${out.length}, expected ${topology.vertexCount}x2 = ${2 * topology.vertexCount}`);
  }
  const ref = topology.referenceVertices;
  for (let i = 0; i < LANDMARK_COUNT; i++) {
    out[2 * i] = faceLandmarks[3 * i];
    out[2 * i + 1] = faceLandmarks[3 * i + 1];
  }
  for (let k = 0; k < topology.irisCenters.length; k++) {
    const iris = topology.irisCenters[k];
    if (iris === RIGHT_IRIS_CENTER) clampIris(out, iris, RIGHT_UPPER, RIGHT_LOWER);
    else clampIris(out, iris, LEFT_UPPER, LEFT_LOWER);
  }

  // Similarity fit: q ~ qc + [c -s; s c] (p - pc).
  const idx = topology.similarityIndices;
  const n = idx.length;
  let pcx = 0, pcy = 0, qcx = 0, qcy = 0;
  for (let k = 0; k < n; k++) {
    const i = idx[k];
    pcx += ref[2 * i];
    pcy += ref[2 * i + 1];
    qcx += faceLandmarks[3 * i];
    qcy += faceLandmarks[3 * i + 1];
  }
  pcx /= n;
  pcy /= n;
  qcx /= n;
  qcy /= n;
  let sa = 0, sb = 0, sd = 0;
  for (let k = 0; k < n; k++) {
    const i = idx[k];
    const px = ref[2 * i] - pcx, py = ref[2 * i + 1] - pcy;
    const qx = faceLandmarks[3 * i] - qcx, qy = faceLandmarks[3 * i + 1] - qcy;
    sa += px * qx + py * qy;
    sb += px * qy - py * qx;
    sd += px * px + py * py;
  }
  const c = sd > 0 ? sa / sd : 1;
  const s = sd > 0 ? sb / sd : 0;

  const weights = topology.followWeights;
  const borderStart = topology.border.start;
  const anchors = topology.ringAnchors;
  for (let v = LANDMARK_COUNT; v < borderStart; v++) {
    const px = ref[2 * v], py = ref[2 * v + 1];
    const w = weights[v];
    const a = anchors[v];
    let tx: number, ty: number;
    if (a >= 0) {
      // Innermost ring: carried by its own oval point (see ringAnchors).
      tx = px + faceLandmarks[3 * a] - ref[2 * a];
      ty = py + faceLandmarks[3 * a + 1] - ref[2 * a + 1];
    } else {
      const dx = px - pcx, dy = py - pcy;
      tx = qcx + c * dx - s * dy;
      ty = qcy + s * dx + c * dy;
    }
    out[2 * v] = px + w * (tx - px);
    out[2 * v + 1] = py + w * (ty - py);
  }
  for (let v = borderStart; v < borderStart + topology.border.count; v++) {
    out[2 * v] = ref[2 * v];
    out[2 * v + 1] = ref[2 * v + 1];
  }
  const copies = topology.lidCopies;
  for (let k = 0; k < copies.count; k++) {
    const m = topology.lidCopyOf[k];
    out[2 * (copies.start + k)] = out[2 * m];
    out[2 * (copies.start + k) + 1] = out[2 * m + 1];
  }
}

/**
 * Per-vertex depth for MeshWarper.render's back-to-front ordering, into `out`
 * (vertexCount floats; larger is farther, the MediaPipe z convention): face vertices take the
 * landmark z; ring and border vertices are put behind the face, the border farthest, so the
 * background is drawn first. Pure; allocates nothing.
 */
export function placeDepths(topology: WarpTopology, faceLandmarks: Float32Array, out: Float32Array): void {
  if (faceLandmarks.length < LANDMARK_COUNT * 3) checkLandmarks('faceLandmarks', faceLandmarks);
  if (out.length < topology.vertexCount) {
    throw new PersonaLiveError('INTERNAL', `'out' has length ${out.length}, expected ${topology.vertexCount}`);
  }
  let zMin = Infinity, zMax = -Infinity;
  for (let i = 0; i < LANDMARK_COUNT; i++) {
    const z = faceLandmarks[3 * i + 2];
    out[i] = z;
    if (z < zMin) zMin = z;
    if (z > zMax) zMax = z;
  }
  if (!(zMax >= zMin)) zMin = zMax = 0;
  const range = Math.max(1, zMax - zMin);
  const weights = topology.followWeights;
  const copies = topology.lidCopies;
  for (let v = LANDMARK_COUNT; v < copies.start; v++) out[v] = zMax + range * (2 - weights[v]);
  for (let k = 0; k < copies.count; k++) out[copies.start + k] = out[topology.lidCopyOf[k]];
}
