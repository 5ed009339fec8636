/**
 * The lips' inner edges on an opening mouth (daemon/generators/meshwarp/lips.ts): the warp's
 * sources of the inner-lip points move into the lips, so an opened lip shows its own colour
 * up to its edge instead of the portrait's dark seam stretched over it (which the tracker did
 * not read as a lip: portrait-1's wide mouths read back at 45-75 % of what was shown).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fitSquare, loadImageRgb } from '../../../daemon/media/image.js';
import { MeshwarpAnimator } from '../../../daemon/generators/meshwarp/animator.js';
import { LIP_SOURCE_SHIFT, LipSources } from '../../../daemon/generators/meshwarp/lips.js';
import { measureLowerFace } from '../../../daemon/generators/meshwarp/neutral.js';
import { buildWarpTopology, INNER_LIP_LOWER, INNER_LIP_UPPER, OUTER_LIP_LOWER, OUTER_LIP_UPPER, pointInPolygon } from '../../../daemon/generators/meshwarp/topology.js';
import { createHumanTracker } from '../../../daemon/generators/meshwarp/tracking/human-tracker.js';
import { LANDMARK_COUNT } from '../../../daemon/generators/meshwarp/tracking/types.js';
import { syntheticFace } from '../../fixtures/synthetic-face.js';
import { demoDataDir } from '../../helpers/system.js';

const { dir: DATA, skip: noData } = demoDataDir();
const SIZE = 512;

describe('LipSources (synthetic face)', () => {
  const portrait = syntheticFace();
  const topology = buildWarpTopology(portrait, SIZE, SIZE);
  const lips = new LipSources(portrait);
  const ref = topology.referenceVertices;
  const sourcesFor = (shown: Float32Array): Float32Array => {
    const sources = Float32Array.from(ref);
    lips.placeSources(shown, ref, sources);
    return sources;
  };
  /** How far each inner-lip point's source moved towards its outer point (a fraction of the way). */
  const moved = (sources: Float32Array, inner: readonly number[], outer: readonly number[]): number[] =>
    inner.slice(1, -1).map((i, k) => {
      const o = outer[k + 1]!;
      const dx = portrait[3 * o] - portrait[3 * i], dy = portrait[3 * o + 1] - portrait[3 * i + 1];
      return ((sources[2 * i] - ref[2 * i]) * dx + (sources[2 * i + 1] - ref[2 * i + 1]) * dy) / (dx * dx + dy * dy);
    });

  it('a mouth no more open than the portrait\'s samples the portrait\'s own lips: sources untouched', () => {
    expect(Buffer.compare(Buffer.from(sourcesFor(portrait).buffer), Buffer.from(ref.buffer))).toBe(0);
  });

  it('an open mouth samples each lip from inside its body (the lower lip\'s edge 40 % of the way to its outer edge, the upper\'s 20 %), nothing but the lips moves', () => {
    const sources = sourcesFor(syntheticFace({ mouthOpen: 30 }));
    for (const f of moved(sources, INNER_LIP_LOWER, OUTER_LIP_LOWER)) expect(f).toBeCloseTo(LIP_SOURCE_SHIFT.lower, 5);
    for (const f of moved(sources, INNER_LIP_UPPER, OUTER_LIP_UPPER)) expect(f).toBeCloseTo(LIP_SOURCE_SHIFT.upper, 5);
    const lip = new Set([...INNER_LIP_UPPER.slice(1, -1), ...INNER_LIP_LOWER.slice(1, -1)]);
    for (let v = 0; v < topology.vertexCount; v++) {
      if (lip.has(v)) continue;
      expect([sources[2 * v], sources[2 * v + 1]]).toEqual([ref[2 * v], ref[2 * v + 1]]);
    }
  });

  it('the shift grows smoothly with the opening (no jump as the mouth starts to open)', () => {
    let previous = 0;
    for (let open = 0; open <= 12; open += 0.25) {
      const f = moved(sourcesFor(syntheticFace({ mouthOpen: open })), INNER_LIP_LOWER, OUTER_LIP_LOWER)[4]!;
      expect(f).toBeGreaterThanOrEqual(previous - 1e-9);
      expect(f - previous).toBeLessThan(0.1);
      previous = f;
    }
    expect(previous).toBeCloseTo(LIP_SOURCE_SHIFT.lower, 5);
  });

  it('broken shown landmarks move nothing (a lost track mid-blend)', () => {
    const broken = syntheticFace({ mouthOpen: 30 });
    broken[3 * 14 + 1] = Number.NaN;
    expect(Buffer.compare(Buffer.from(sourcesFor(broken).buffer), Buffer.from(ref.buffer))).toBe(0);
  });
});

/** Mean luma over the pixels inside a polygon of landmark points (x, y stride 3). */
function meanLuma(data: Uint8Array, landmarks: Float32Array, polygon: number[]): number {
  let sum = 0, n = 0;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      if (!pointInPolygon(x + 0.5, y + 0.5, landmarks, polygon, 3)) continue;
      const o = 3 * (y * SIZE + x);
      sum += 0.299 * data[o] + 0.587 * data[o + 1] + 0.114 * data[o + 2];
      n++;
    }
  }
  return sum / Math.max(1, n);
}

/**
 * Points along the lower lip at `from`..`to` of the way from its inner edge to its outer one,
 * as extra landmarks appended after LANDMARK_COUNT (so pointInPolygon can take them), and the
 * polygon of that band.
 */
function lowerLipBand(landmarks: Float32Array, from: number, to: number): { points: Float32Array; polygon: number[] } {
  const inner = INNER_LIP_LOWER.slice(2, -2), outer = OUTER_LIP_LOWER.slice(2, -2);
  const points = new Float32Array(3 * (LANDMARK_COUNT + 2 * inner.length));
  points.set(landmarks);
  const polygon: number[] = [];
  const at = (t: number, k: number, slot: number): number => {
    const i = inner[k]!, o = outer[k]!, p = LANDMARK_COUNT + slot;
    for (let c = 0; c < 2; c++) points[3 * p + c] = landmarks[3 * i + c] + t * (landmarks[3 * o + c] - landmarks[3 * i + c]);
    return p;
  };
  for (let k = 0; k < inner.length; k++) polygon.push(at(from, k, k));
  for (let k = inner.length - 1; k >= 0; k--) polygon.push(at(to, k, inner.length + k));
  return { points, polygon };
}

describe.skipIf(noData)('an opened mouth on a real portrait', () => {
  it('shows lip colour at the lower lip\'s inner edge, not the portrait\'s dark seam stretched over it', async () => {
    const tracker = await createHumanTracker({ mode: 'image' });
    try {
      // Portrait-1: thin pale lower lip under a dark seam, the case that read back short.
      const image = await fitSquare(await loadImageRgb(join(DATA, 'presets', 'portrait-1.jpg')), SIZE);
      const portrait = Float32Array.from((await tracker.track(image)).face!.landmarks);
      // The driver: the portrait itself, its lower lip, chin and jaw dropped by a quarter of the eye distance.
      const face = Float64Array.from(portrait);
      const weight = new Float64Array(LANDMARK_COUNT), lateral = new Float64Array(3), down = new Float64Array(3);
      measureLowerFace(face, weight, lateral, down);
      const drop = 0.25 * Math.hypot(portrait[3 * 33] - portrait[3 * 263], portrait[3 * 33 + 1] - portrait[3 * 263 + 1]);
      const lipLine = portrait[3 * 13 + 1];
      const open = Float32Array.from(portrait);
      for (let i = 0; i < LANDMARK_COUNT; i++) {
        const below = INNER_LIP_LOWER.includes(i) && !INNER_LIP_UPPER.includes(i) ? 1 : Math.min(1, Math.max(0, (portrait[3 * i + 1] - lipLine) / 6));
        open[3 * i + 1] += drop * below * weight[i];
      }
      const animator = new MeshwarpAnimator(image, portrait);
      const out = new Uint8Array(SIZE * SIZE * 3);
      for (let f = 0; f < 25; f++) animator.render(f === 0 ? portrait : open, f * 40, out);
      const shown = animator.shownLandmarks;
      // The top third of the shown lower lip against the portrait's lower lip body (its middle
      // third): 0.83 of it here, 0.73 with the seam stretched over it (no source shift).
      const edge = lowerLipBand(shown, 0.05, 0.35);
      const body = lowerLipBand(portrait, 0.35, 0.65);
      const edgeLuma = meanLuma(out, edge.points, edge.polygon);
      const bodyLuma = meanLuma(image.data, body.points, body.polygon);
      expect(edgeLuma, `lower lip edge ${edgeLuma.toFixed(0)}, the portrait's lower lip ${bodyLuma.toFixed(0)}`).toBeGreaterThan(0.78 * bodyLuma);
    } finally {
      await tracker.close();
    }
  }, 120_000);
});
