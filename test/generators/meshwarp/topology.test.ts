/**
 * The meshwarp triangulation and per-frame vertex placement, on the synthetic face of
 * synthetic-face.ts (no real landmark fixture exists yet; see that file for what it is).
 */
import Delaunator from 'delaunator';
import { describe, expect, it } from 'vitest';
import { PersonaLiveError } from '../../../daemon/errors.js';
import {
  buildWarpTopology,
  FACE_OVAL,
  INNER_LIP_LOWER,
  INNER_LIP_POLYGON,
  INNER_LIP_UPPER,
  LEFT_EYE_POLYGON,
  LEFT_IRIS_CENTER,
  placeDepths,
  placeVertices,
  pointInPolygon,
  RIGHT_EYE_LOWER,
  RIGHT_EYE_POLYGON,
  RIGHT_EYE_UPPER,
  RIGHT_IRIS_CENTER,
  EYELIDS,
  type WarpTopology,
} from '../../../daemon/generators/meshwarp/topology.js';
import { countCoverage } from '../../../daemon/generators/meshwarp/warp.js';
import { moveFace, syntheticFace } from '../../fixtures/synthetic-face.js';
import { LANDMARK_COUNT } from '../../../daemon/generators/meshwarp/tracking/types.js';

const W = 512, H = 512;

function triangleArea2(v: ArrayLike<number>, a: number, b: number, c: number): number {
  return (v[2 * b] - v[2 * a]) * (v[2 * c + 1] - v[2 * a + 1]) - (v[2 * b + 1] - v[2 * a + 1]) * (v[2 * c] - v[2 * a]);
}

function polygonArea(v: ArrayLike<number>, polygon: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < polygon.length; i++) {
    const a = polygon[i], b = polygon[(i + 1) % polygon.length];
    s += v[2 * a] * v[2 * b + 1] - v[2 * b] * v[2 * a + 1];
  }
  return Math.abs(s) / 2;
}

/** The landmark a vertex stands for: itself, or the margin point a lid copy copies. */
function landmarkOf(topology: WarpTopology, vertex: number): number {
  const k = vertex - topology.lidCopies.start;
  return k >= 0 && k < topology.lidCopies.count ? topology.lidCopyOf[k] : vertex;
}

/** Triangles whose centroid lies inside the polygon, and the area they cover; vertices as the landmarks they stand for. */
function trianglesInside(topology: WarpTopology, polygon: readonly number[]): { vertices: Set<number>; area: number } {
  const v = topology.referenceVertices, t = topology.triangles;
  const vertices = new Set<number>();
  let area = 0;
  for (let i = 0; i < t.length; i += 3) {
    const cx = (v[2 * t[i]] + v[2 * t[i + 1]] + v[2 * t[i + 2]]) / 3;
    const cy = (v[2 * t[i] + 1] + v[2 * t[i + 1] + 1] + v[2 * t[i + 2] + 1]) / 3;
    if (!pointInPolygon(cx, cy, v, polygon)) continue;
    for (let j = 0; j < 3; j++) vertices.add(landmarkOf(topology, t[i + j]));
    area += triangleArea2(v, t[i], t[i + 1], t[i + 2]) / 2;
  }
  return { vertices, area };
}

describe('buildWarpTopology', () => {
  const reference = syntheticFace();
  const topology = buildWarpTopology(reference, W, H);

  it('lays out face, ring and border vertices with their follow weights', () => {
    expect(topology.face).toEqual({ start: 0, count: 478 });
    // rings[0] is the skin band (one point per face-oval landmark), then the two rings.
    expect(topology.rings).toHaveLength(3);
    expect(topology.rings[0].start).toBe(478);
    expect(topology.rings[1].start).toBe(topology.rings[0].start + topology.rings[0].count);
    expect(topology.rings[2].start).toBe(topology.rings[1].start + topology.rings[1].count);
    expect(topology.rings[0].count).toBeGreaterThan(24);
    expect(topology.rings[0].count).toBeLessThanOrEqual(FACE_OVAL.length);
    expect(topology.rings[1].count).toBeGreaterThan(16);
    expect(topology.border.start).toBe(topology.rings[2].start + topology.rings[2].count);
    expect(topology.border.start + topology.border.count).toBe(topology.lidCopies.start);
    expect(topology.border.count).toBe(32); // 512 / 64 = 8 segments per side
    // Last: a copy of each upper lid margin point (for the eyes' insides), at its landmark.
    expect(topology.lidCopies.start + topology.lidCopies.count).toBe(topology.vertexCount);
    expect([...topology.lidCopyOf]).toEqual([...EYELIDS.right.upper, ...EYELIDS.left.upper]);
    const w = topology.followWeights;
    for (let i = 0; i < 478; i++) expect(w[i]).toBe(1);
    for (let i = topology.rings[0].start; i < topology.rings[1].start; i++) {
      expect(w[i]).toBe(1);
      expect(FACE_OVAL).toContain(topology.ringAnchors[i]);
    }
    for (let i = topology.rings[1].start; i < topology.rings[2].start; i++) expect(w[i]).toBeCloseTo(0.85, 6);
    for (let i = topology.rings[2].start; i < topology.border.start; i++) expect(w[i]).toBeCloseTo(0.35, 6);
    for (let i = 0; i < topology.vertexCount; i++) if (i < topology.rings[0].start || i >= topology.rings[1].start) expect(topology.ringAnchors[i]).toBe(-1);
    for (let i = topology.border.start; i < topology.lidCopies.start; i++) expect(w[i]).toBe(0);
    topology.lidCopyOf.forEach((m, k) => {
      const copy = topology.lidCopies.start + k;
      expect(w[copy]).toBe(1);
      expect([topology.referenceVertices[2 * copy], topology.referenceVertices[2 * copy + 1]]).toEqual([reference[3 * m], reference[3 * m + 1]]);
    });
    for (let i = 0; i < 478; i++) {
      expect(topology.referenceVertices[2 * i]).toBe(reference[3 * i]);
      expect(topology.referenceVertices[2 * i + 1]).toBe(reference[3 * i + 1]);
    }
  });

  it('covers the whole image with positively oriented triangles and no overlap', () => {
    const v = topology.referenceVertices, t = topology.triangles;
    let area = 0;
    for (let i = 0; i < t.length; i += 3) {
      const a2 = triangleArea2(v, t[i], t[i + 1], t[i + 2]);
      expect(a2).toBeGreaterThan(0);
      area += a2 / 2;
    }
    expect(area).toBeCloseTo(W * H, 3);
    const counts = new Uint32Array(W * H);
    countCoverage(v, t, W, H, counts);
    let wrong = 0;
    for (const c of counts) if (c !== 1) wrong++;
    expect(wrong).toBe(0);
  });

  it('makes the inner-lip and both eye polygons exact unions of their own triangles', () => {
    expect(topology.openings).toEqual({ mouth: true, rightEye: true, leftEye: true });
    expect(topology.repairedContours).toEqual([]);
    expect([...topology.irisCenters]).toEqual([RIGHT_IRIS_CENTER, LEFT_IRIS_CENTER]);
    for (const [polygon, extra] of [
      [INNER_LIP_POLYGON, []],
      [RIGHT_EYE_POLYGON, [RIGHT_IRIS_CENTER]],
      [LEFT_EYE_POLYGON, [LEFT_IRIS_CENTER]],
    ] as const) {
      const inside = trianglesInside(topology, polygon);
      const allowed = new Set<number>([...polygon, ...extra]);
      for (const vtx of inside.vertices) expect(allowed.has(vtx)).toBe(true);
      expect(inside.area).toBeCloseTo(polygonArea(topology.referenceVertices, polygon), 6);
    }
    // Inside an eye, the upper margin is its copies (the lid above keeps the landmarks), so a
    // closing lid can cover the eye instead of squashing it (eyelids.ts).
    const margins = new Set<number>([...EYELIDS.right.upper, ...EYELIDS.left.upper]);
    const copies = new Set<number>();
    for (const polygon of [RIGHT_EYE_POLYGON, LEFT_EYE_POLYGON]) {
      const t = topology.triangles, v = topology.referenceVertices;
      for (let i = 0; i < t.length; i += 3) {
        const cx = (v[2 * t[i]] + v[2 * t[i + 1]] + v[2 * t[i + 2]]) / 3, cy = (v[2 * t[i] + 1] + v[2 * t[i + 1] + 1] + v[2 * t[i + 2] + 1]) / 3;
        if (!pointInPolygon(cx, cy, v, polygon)) continue;
        for (let j = 0; j < 3; j++) {
          expect(margins.has(t[i + j])).toBe(false);
          if (t[i + j] >= topology.lidCopies.start) copies.add(t[i + j]);
        }
      }
    }
    expect(copies.size).toBe(topology.lidCopies.count);
    // Outside the eyes no triangle uses a copy.
    const t = topology.triangles, v = topology.referenceVertices;
    for (let i = 0; i < t.length; i += 3) {
      if (![t[i], t[i + 1], t[i + 2]].some((x) => x >= topology.lidCopies.start)) continue;
      const cx = (v[2 * t[i]] + v[2 * t[i + 1]] + v[2 * t[i + 2]]) / 3, cy = (v[2 * t[i] + 1] + v[2 * t[i + 1] + 1] + v[2 * t[i + 2] + 1]) / 3;
      expect(pointInPolygon(cx, cy, v, RIGHT_EYE_POLYGON) || pointInPolygon(cx, cy, v, LEFT_EYE_POLYGON)).toBe(true);
    }
  });

  it('keeps the face oval as triangle edges: nothing but face points inside it, no face point joined across it', () => {
    const t = topology.triangles;
    const v = topology.referenceVertices;
    const edges = new Set<string>();
    for (let i = 0; i < t.length; i += 3) {
      for (let e = 0; e < 3; e++) {
        const [a, b] = [t[i + e], t[i + ((e + 1) % 3)]];
        edges.add(`${Math.min(a, b)}-${Math.max(a, b)}`);
      }
    }
    FACE_OVAL.forEach((a, k) => {
      const b = FACE_OVAL[(k + 1) % FACE_OVAL.length];
      expect(edges.has(`${Math.min(a, b)}-${Math.max(a, b)}`), `oval edge ${a}-${b}`).toBe(true);
    });
    for (let i = 0; i < t.length; i += 3) {
      const tri = [t[i], t[i + 1], t[i + 2]];
      if (tri.every((k) => landmarkOf(topology, k) < LANDMARK_COUNT)) continue;
      // A triangle with a ring or border vertex lies outside the oval (the skin band's
      // triangles used to reach cheek points inside it, and tore into a sawtooth on turns).
      const cx = (v[2 * tri[0]] + v[2 * tri[1]] + v[2 * tri[2]]) / 3;
      const cy = (v[2 * tri[0] + 1] + v[2 * tri[1] + 1] + v[2 * tri[2] + 1]) / 3;
      expect(pointInPolygon(cx, cy, v, FACE_OVAL), `triangle ${tri.join('/')}`).toBe(false);
    }
  });

  it('forces contour edges that plain Delaunay would cross (points hugging the lips and a lid)', () => {
    const hugged = syntheticFace({ mouthOpen: 2 });
    // A point 0.2 px outside the middle of a contour edge: its flat triangle's circumcircle
    // swallows the opposite contour, so Delaunay connects it across the opening.
    for (const [x, a, b, dy] of [
      [2, 81, 82, -0.2],
      [164, 178, 87, 0.2],
      [11, 159, 158, -0.2],
    ] as const) {
      hugged[3 * x] = (hugged[3 * a] + hugged[3 * b]) / 2;
      hugged[3 * x + 1] = (hugged[3 * a + 1] + hugged[3 * b + 1]) / 2 + dy;
    }
    const t = buildWarpTopology(hugged, W, H);
    // Precondition: unconstrained Delaunay over the same points lacks some contour edges.
    const used: number[] = [];
    for (let i = 0; i < t.lidCopies.start; i++) if (i < 468 || i >= 478 || i === RIGHT_IRIS_CENTER || i === LEFT_IRIS_CENTER) used.push(i);
    const plain = new Delaunator(Float64Array.from(used.flatMap((i) => [t.referenceVertices[2 * i], t.referenceVertices[2 * i + 1]])));
    const edges = new Set<number>();
    for (let h = 0; h < plain.triangles.length; h++) {
      const a = used[plain.triangles[h]], b = used[plain.triangles[h - (h % 3) + ((h + 1) % 3)]];
      edges.add(Math.min(a, b) * 1000 + Math.max(a, b));
    }
    let missing = 0;
    for (const polygon of [INNER_LIP_POLYGON, RIGHT_EYE_POLYGON]) {
      for (let i = 0; i < polygon.length; i++) {
        const a = polygon[i], b = polygon[(i + 1) % polygon.length];
        if (!edges.has(Math.min(a, b) * 1000 + Math.max(a, b))) missing++;
      }
    }
    expect(missing).toBeGreaterThan(0);
    expect(t.openings).toEqual({ mouth: true, rightEye: true, leftEye: true });
    for (const [polygon, extra] of [
      [INNER_LIP_POLYGON, []],
      [RIGHT_EYE_POLYGON, [RIGHT_IRIS_CENTER]],
    ] as const) {
      const inside = trianglesInside(t, polygon);
      const allowed = new Set<number>([...polygon, ...extra]);
      for (const vtx of inside.vertices) expect(allowed.has(vtx)).toBe(true);
      expect(inside.area).toBeCloseTo(polygonArea(t.referenceVertices, polygon), 6);
    }
    const counts = new Uint32Array(W * H);
    countCoverage(t.referenceVertices, t.triangles, W, H, counts);
    expect(counts.every((c) => c === 1)).toBe(true);
  });

  it('repairs a closed mouth whose inner-lip contours cross in the reference', () => {
    const crossed = syntheticFace();
    // Lower inner lip 0.4 px above the upper one at the three middle pairs.
    for (const k of [4, 5, 6]) {
      const u = INNER_LIP_UPPER[k], l = INNER_LIP_LOWER[k];
      crossed[3 * l + 1] = crossed[3 * u + 1] - 0.4;
    }
    const repaired = buildWarpTopology(crossed, W, H);
    expect(repaired.repairedContours).toEqual(['mouth']);
    expect(repaired.openings.mouth).toBe(true);
    for (let k = 1; k < INNER_LIP_UPPER.length - 1; k++) {
      const u = INNER_LIP_UPPER[k], l = INNER_LIP_LOWER[k];
      expect(repaired.referenceVertices[2 * l + 1] - repaired.referenceVertices[2 * u + 1]).toBeGreaterThanOrEqual(0.5 - 1e-4);
    }
    const inside = trianglesInside(repaired, INNER_LIP_POLYGON);
    for (const vtx of inside.vertices) expect(INNER_LIP_POLYGON.includes(vtx)).toBe(true);
  });

  it('drops ring points that fall outside the image', () => {
    const nearEdge = moveFace(syntheticFace(), new Float32Array(478 * 3), { tx: 120, ty: 60 });
    const t = buildWarpTopology(nearEdge, W, H);
    const kept = t.rings[0].count + t.rings[1].count;
    expect(kept).toBeLessThan(topology.rings[0].count + topology.rings[1].count);
    for (let i = t.rings[0].start; i < t.border.start; i++) {
      const x = t.referenceVertices[2 * i], y = t.referenceVertices[2 * i + 1];
      expect(x > 0 && x < W && y > 0 && y < H).toBe(true);
    }
    const counts = new Uint32Array(W * H);
    countCoverage(t.referenceVertices, t.triangles, W, H, counts);
    expect(counts.every((c) => c === 1)).toBe(true);
  });

  it('names the argument when the landmarks are too short or not finite', () => {
    const error = (() => {
      try {
        buildWarpTopology(new Float32Array(10), W, H);
      } catch (e) {
        return e;
      }
      return null;
    })() as PersonaLiveError;
    expect(error).toBeInstanceOf(PersonaLiveError);
    expect(error.code).toBe('INTERNAL');
    expect(error.message).toContain("'referenceLandmarks' has length 10");
    const bad = syntheticFace();
    bad[5] = Number.NaN;
    expect(() => buildWarpTopology(bad, W, H)).toThrow(/'referenceLandmarks'\[5\] is not finite/);
    expect(() => buildWarpTopology(syntheticFace(), 0, H)).toThrow(/reference size 0x512/);
  });
});

describe('placeVertices', () => {
  const reference = syntheticFace();
  const topology = buildWarpTopology(reference, W, H);
  const out = new Float32Array(2 * topology.vertexCount);
  const ringEnd = topology.border.start;
  const bandEnd = topology.rings[1].start;

  it('puts every vertex at its reference position for the reference pose', () => {
    placeVertices(topology, reference, out);
    for (let i = 0; i < 2 * topology.vertexCount; i++) expect(out[i]).toBeCloseTo(topology.referenceVertices[i], 3);
  });

  it('moves the face fully, the rings by their weight, and never the border', () => {
    const moved = moveFace(reference, new Float32Array(478 * 3), { tx: 12, ty: -7 });
    placeVertices(topology, moved, out);
    const ref = topology.referenceVertices;
    for (let i = 0; i < 478; i++) {
      expect(out[2 * i]).toBe(moved[3 * i]);
      expect(out[2 * i + 1]).toBe(moved[3 * i + 1]);
    }
    for (let i = 478; i < bandEnd; i++) {
      // The skin band moves exactly with its oval point.
      expect(out[2 * i] - ref[2 * i]).toBeCloseTo(12, 3);
      expect(out[2 * i + 1] - ref[2 * i + 1]).toBeCloseTo(-7, 3);
    }
    for (let i = bandEnd; i < ringEnd; i++) {
      const w = topology.followWeights[i];
      expect(out[2 * i] - ref[2 * i]).toBeCloseTo(12 * w, 3);
      expect(out[2 * i + 1] - ref[2 * i + 1]).toBeCloseTo(-7 * w, 3);
      expect(w).toBeGreaterThan(0);
      expect(w).toBeLessThan(1);
    }
    for (let i = ringEnd; i < topology.lidCopies.start; i++) {
      expect(out[2 * i]).toBe(ref[2 * i]);
      expect(out[2 * i + 1]).toBe(ref[2 * i + 1]);
    }
    // The lid copies are where their margin points are.
    topology.lidCopyOf.forEach((m, k) => expect([out[2 * (topology.lidCopies.start + k)], out[2 * (topology.lidCopies.start + k) + 1]]).toEqual([moved[3 * m], moved[3 * m + 1]]));
  });

  it('carries the rings with a fraction of the head rotation and scale (similarity fit)', () => {
    const angle = 0.2, scale = 1.1;
    const moved = moveFace(reference, new Float32Array(478 * 3), { angle, scale, tx: 5 });
    placeVertices(topology, moved, out);
    const ref = topology.referenceVertices;
    const c = Math.cos(angle) * scale, s = Math.sin(angle) * scale;
    for (let i = 478; i < bandEnd; i++) {
      // The skin band keeps its reference offset from its own oval point.
      const a = topology.ringAnchors[i];
      expect(out[2 * i] - moved[3 * a]).toBeCloseTo(ref[2 * i] - ref[2 * a], 3);
      expect(out[2 * i + 1] - moved[3 * a + 1]).toBeCloseTo(ref[2 * i + 1] - ref[2 * a + 1], 3);
    }
    for (let i = bandEnd; i < ringEnd; i++) {
      const x = ref[2 * i] - 256, y = ref[2 * i + 1] - 250;
      const fx = 256 + 5 + c * x - s * y, fy = 250 + s * x + c * y;
      const w = topology.followWeights[i];
      expect(out[2 * i]).toBeCloseTo(ref[2 * i] + w * (fx - ref[2 * i]), 2);
      expect(out[2 * i + 1]).toBeCloseTo(ref[2 * i + 1] + w * (fy - ref[2 * i + 1]), 2);
    }
  });

  it('keeps an iris centre between the lids', () => {
    const moved = Float32Array.from(reference);
    moved[3 * RIGHT_IRIS_CENTER + 1] -= 40; // far above the upper lid
    placeVertices(topology, moved, out);
    const y = out[2 * RIGHT_IRIS_CENTER + 1];
    const top = Math.min(...RIGHT_EYE_UPPER.map((i) => moved[3 * i + 1]));
    const bottom = Math.max(...RIGHT_EYE_LOWER.map((i) => moved[3 * i + 1]));
    expect(y).toBeGreaterThanOrEqual(top - 1e-3);
    expect(y).toBeLessThanOrEqual(bottom + 1e-3);
    expect(pointInPolygon(out[2 * RIGHT_IRIS_CENTER], y + 0.01, out, RIGHT_EYE_POLYGON)).toBe(true);
  });

  it('puts ring and border depth behind the face, the border farthest', () => {
    const depth = new Float32Array(topology.vertexCount);
    placeDepths(topology, reference, depth);
    let faceMax = -Infinity;
    for (let i = 0; i < 478; i++) faceMax = Math.max(faceMax, depth[i]);
    for (let i = 478; i < ringEnd; i++) expect(depth[i]).toBeGreaterThan(faceMax);
    for (let i = ringEnd; i < topology.lidCopies.start; i++) expect(depth[i]).toBeGreaterThan(depth[478]);
    topology.lidCopyOf.forEach((m, k) => expect(depth[topology.lidCopies.start + k]).toBe(depth[m]));
  });

  it('names the buffer that is too short', () => {
    expect(() => placeVertices(topology, reference, new Float32Array(4))).toThrow(/'out' has length 4/);
    expect(() => placeVertices(topology, new Float32Array(3), out)).toThrow(/'faceLandmarks' has length 3/);
  });

  it('face oval of the synthetic face is where the rings are built around', () => {
    // Guard on the fixture: the oval encloses the mouth and eyes.
    for (const i of [...INNER_LIP_POLYGON, ...RIGHT_EYE_POLYGON, ...LEFT_EYE_POLYGON]) {
      expect(pointInPolygon(reference[3 * i], reference[3 * i + 1], reference, FACE_OVAL, 3)).toBe(true);
    }
  });
});
