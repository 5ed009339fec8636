import { describe, expect, it } from 'vitest';
import {
  bestRotation,
  createFaceFrame,
  eulerDegrees,
  eyeClosure,
  EXPRESSION_GAIN,
  expressionGains,
  LIP_DEADBAND,
  softDeadband,
  EYE_RESPONSE,
  EYE_SHUT_RATIO,
  EYE_WIDEN_LIMIT,
  MotionTransfer,
  normalizeFace,
  rotationFromEuler,
  type TransferInfo,
} from '../../../daemon/generators/meshwarp/transfer.js';
import { EYELIDS } from '../../../daemon/generators/meshwarp/topology.js';
import { LANDMARK_COUNT } from '../../../daemon/generators/meshwarp/tracking/types.js';
import { INNER_LIP_LOWER, INNER_LIP_UPPER } from '../../../daemon/generators/meshwarp/topology.js';

/**
 * A synthetic 3D "face": points in an ellipsoid around (cx, cy), deterministic, with the few
 * points that say where the lower face is placed as on a face (outer eye corners, nose base,
 * mouth corners, closed inner lips, lower lip, chin), so the lower face's weights and the lips' rules see a face.
 */
function syntheticFace(cx = 256, cy = 256, size = 100): Float32Array {
  const out = new Float32Array(LANDMARK_COUNT * 3);
  let s = 7;
  const rnd = (): number => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
  for (let i = 0; i < LANDMARK_COUNT; i++) {
    out[3 * i] = cx + rnd() * size;
    out[3 * i + 1] = cy + rnd() * size * 1.3;
    out[3 * i + 2] = rnd() * size * 0.5;
  }
  const place = (i: number, x: number, y: number): void => out.set([cx + x * size, cy + y * size, 0], 3 * i);
  place(33, -0.3, -0.1); // outer eye corners: the face's left-right axis
  place(263, 0.3, -0.1);
  place(2, 0, 0.3); // nose base
  place(61, -0.3, 0.6); // mouth corners
  place(291, 0.3, 0.6);
  INNER_LIP_UPPER.forEach((u, k) => {
    const x = -0.25 + (0.5 * k) / (INNER_LIP_UPPER.length - 1);
    place(u, x, 0.58);
    place(INNER_LIP_LOWER[k]!, x, 0.58);
  });
  place(17, 0, 0.7); // lower lip's bottom
  place(152, 0, 1.1); // chin
  return out;
}

/** Rotates landmarks about (cx, cy, 0) by R, scales by k and shifts by (dx, dy). */
function moved(face: Float32Array, R: Float64Array, k = 1, dx = 0, dy = 0, cx = 256, cy = 256): Float32Array {
  const out = new Float32Array(face.length);
  for (let i = 0; i < LANDMARK_COUNT; i++) {
    const x = face[3 * i] - cx, y = face[3 * i + 1] - cy, z = face[3 * i + 2];
    out[3 * i] = (R[0] * x + R[1] * y + R[2] * z) * k + cx + dx;
    out[3 * i + 1] = (R[3] * x + R[4] * y + R[5] * z) * k + cy + dy;
    out[3 * i + 2] = (R[6] * x + R[7] * y + R[8] * z) * k;
  }
  return out;
}

/** Rotation of `b` relative to `a` (both landmark sets), in degrees. */
function relativeEuler(a: Float32Array, b: Float32Array): { pitch: number; yaw: number; roll: number } {
  const na = new Float64Array(a.length);
  const nb = new Float64Array(b.length);
  normalizeFace(a, na, createFaceFrame());
  normalizeFace(b, nb, createFaceFrame());
  return eulerDegrees(bestRotation(na, nb));
}

function normalized(face: Float32Array): Float64Array {
  const out = new Float64Array(face.length);
  normalizeFace(face, out, createFaceFrame());
  return out;
}

function info(): TransferInfo {
  return { rotation: { pitch: 0, yaw: 0, roll: 0 }, translation: [0, 0], scaleRatio: 1 };
}

describe('rotation maths', () => {
  it('euler angles round-trip through the rotation matrix', () => {
    for (const [p, y, r] of [[10, -20, 5], [-30, 40, -15], [0, 0, 0], [25, 0, 60]]) {
      const e = eulerDegrees(rotationFromEuler(p, y, r));
      expect(e.pitch).toBeCloseTo(p, 9);
      expect(e.yaw).toBeCloseTo(y, 9);
      expect(e.roll).toBeCloseTo(r, 9);
    }
  });

  it('rotationFromEuler is orthonormal with determinant 1', () => {
    const R = rotationFromEuler(12, -33, 71);
    const det = R[0] * (R[4] * R[8] - R[5] * R[7]) - R[1] * (R[3] * R[8] - R[5] * R[6]) + R[2] * (R[3] * R[7] - R[4] * R[6]);
    expect(det).toBeCloseTo(1, 12);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const dot = R[3 * i] * R[3 * j] + R[3 * i + 1] * R[3 * j + 1] + R[3 * i + 2] * R[3 * j + 2];
        expect(dot).toBeCloseTo(i === j ? 1 : 0, 12);
      }
    }
  });

  it('bestRotation recovers a known rotation exactly from rotated points', () => {
    const face = syntheticFace();
    const R = rotationFromEuler(-14, 27, 8);
    const e = relativeEuler(face, moved(face, R, 1.7, 30, -12));
    expect(e.pitch).toBeCloseTo(-14, 4);
    expect(e.yaw).toBeCloseTo(27, 4);
    expect(e.roll).toBeCloseTo(8, 4);
  });
});

describe('relative motion transfer', () => {
  const reference = syntheticFace(300, 240, 80);
  const anchor = syntheticFace(256, 256, 100);

  it('the anchor frame itself gives back the reference landmarks', () => {
    const t = new MotionTransfer(reference);
    const out = new Float32Array(reference.length);
    t.transfer(anchor, out);
    for (let i = 0; i < out.length; i++) expect(Math.abs(out[i] - reference[i])).toBeLessThan(1e-3);
  });

  it('applies the driver rotation relative to its first frame to the reference', () => {
    // Rigid maths: no silhouette depth knee (tested on its own below).
    const t = new MotionTransfer(reference, { silhouetteDepthKnee: Infinity });
    const out = new Float32Array(reference.length);
    t.transfer(anchor, out);
    const stats = info();
    t.transfer(moved(anchor, rotationFromEuler(5, 20, -10)), out, stats);
    expect(stats.rotation.yaw).toBeCloseTo(20, 3);
    const e = relativeEuler(reference, out);
    expect(e.pitch).toBeCloseTo(5, 3);
    expect(e.yaw).toBeCloseTo(20, 3);
    expect(e.roll).toBeCloseTo(-10, 3);
  });

  it('compresses depth beyond the silhouette knee: deep points turn as if no deeper than knee + range, the rest rigidly', () => {
    // A face with a deep rim, like the face oval behind the cheeks.
    const deep = Float32Array.from(reference);
    for (let i = 0; i < LANDMARK_COUNT; i += 5) deep[3 * i + 2] += 60;
    const normalized = new Float64Array(deep.length);
    const frame = createFaceFrame();
    normalizeFace(deep, normalized, frame);
    const withKnee = new MotionTransfer(deep, { silhouetteDepthKnee: 0.3, silhouetteDepthRange: 0.3 });
    const rigid = new MotionTransfer(deep, { silhouetteDepthKnee: Infinity });
    const a = new Float32Array(deep.length);
    const b = new Float32Array(deep.length);
    withKnee.transfer(anchor, a);
    rigid.transfer(anchor, b);
    // The anchor frame still gives back the reference, depth included.
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - deep[i])).toBeLessThan(1e-3);
    const turned = moved(anchor, rotationFromEuler(0, 25, 0));
    withKnee.transfer(turned, a);
    rigid.transfer(turned, b);
    // How far a point at the deepest compressed depth (knee + range = 0.6) moves sideways.
    const limit = 0.6 * Math.sin((25 * Math.PI) / 180) * frame.scale;
    let compressed = 0;
    for (let i = 0; i < LANDMARK_COUNT; i++) {
      const z = normalized[3 * i + 2];
      const dx = a[3 * i] - deep[3 * i];
      if (z <= 0.3) {
        expect(Math.abs(a[3 * i] - b[3 * i])).toBeLessThan(1e-3);
        expect(Math.abs(a[3 * i + 1] - b[3 * i + 1])).toBeLessThan(1e-3);
      } else {
        // The lateral part of a turn: x cos + z sin; the z sin part is bounded by the knee.
        const fromDepth = dx - (deep[3 * i] - frame.centroid[0]) * (Math.cos((25 * Math.PI) / 180) - 1);
        expect(Math.abs(fromDepth)).toBeLessThan(limit + 1e-3);
        if (z > 0.9) {
          expect(Math.abs(a[3 * i] - b[3 * i])).toBeGreaterThan(1);
          compressed++;
        }
      }
    }
    expect(compressed).toBeGreaterThan(10);
  });

  it('moves the reference by the driver translation scaled to the reference face size', () => {
    const t = new MotionTransfer(reference, { followScale: false });
    const out = new Float32Array(reference.length);
    t.transfer(anchor, out);
    t.transfer(moved(anchor, rotationFromEuler(0, 0, 0), 1, 20, -10), out);
    const refFrame = createFaceFrame();
    const anchorFrame = createFaceFrame();
    normalizeFace(reference, new Float64Array(reference.length), refFrame);
    normalizeFace(anchor, new Float64Array(anchor.length), anchorFrame);
    const k = refFrame.scale / anchorFrame.scale;
    for (let i = 0; i < LANDMARK_COUNT; i++) {
      expect(out[3 * i] - reference[3 * i]).toBeCloseTo(20 * k, 2);
      expect(out[3 * i + 1] - reference[3 * i + 1]).toBeCloseTo(-10 * k, 2);
    }
  });

  it('follows the driver coming closer to the camera (face size ratio)', () => {
    const t = new MotionTransfer(reference);
    const out = new Float32Array(reference.length);
    t.transfer(anchor, out);
    const stats = info();
    t.transfer(moved(anchor, rotationFromEuler(0, 0, 0), 1.25), out, stats);
    expect(stats.scaleRatio).toBeCloseTo(1.25, 5);
  });

  it('adds expression deltas, normalised for face size and head rotation', () => {
    const t = new MotionTransfer(reference);
    const out = new Float32Array(reference.length);
    t.transfer(anchor, out);
    // The lower lip moves down 12 px in the driver (its bottom, 17: the lips' own rules leave it
    // alone), while the head is turned 25 degrees.
    const open = Float32Array.from(anchor);
    open[3 * 17 + 1] += 12;
    t.transfer(moved(open, rotationFromEuler(0, 25, 0)), out);
    const refFrame = createFaceFrame();
    const anchorFrame = createFaceFrame();
    normalizeFace(reference, new Float64Array(reference.length), refFrame);
    normalizeFace(anchor, new Float64Array(anchor.length), anchorFrame);
    // Undo the output rotation about the reference centre to read the expression alone.
    const R = rotationFromEuler(0, 25, 0);
    const unrotated = (i: number): number => {
      const x = out[3 * i] - refFrame.centroid[0], y = out[3 * i + 1] - refFrame.centroid[1], z = out[3 * i + 2] - refFrame.centroid[2];
      return R[1] * x + R[4] * y + R[7] * z + refFrame.centroid[1];
    };
    // Scaled to the portrait's face size, times the lower face's expression gain there.
    const gain = expressionGains(normalized(reference), new Float64Array(LANDMARK_COUNT))[17]!;
    expect(gain).toBeGreaterThanOrEqual(EXPRESSION_GAIN.lowerFace - 1e-9);
    expect(unrotated(17) - reference[3 * 17 + 1]).toBeCloseTo((gain * 12 * refFrame.scale) / anchorFrame.scale, 1);
    expect(unrotated(13) - reference[3 * 13 + 1]).toBeCloseTo(0, 1);
  });

  it('expression controls: mouth 0 keeps the portrait\'s mouth still while the driver speaks, 2 doubles it, brows follow their own control, live without re-anchoring', () => {
    const t = new MotionTransfer(reference, { silhouetteDepthKnee: Infinity });
    const out = new Float32Array(reference.length);
    t.transfer(anchor, out);
    const speaking = Float32Array.from(anchor);
    speaking[3 * 17 + 1] += 12; // lower lip down (its bottom: the inner lips' dead band is not linear)
    speaking[3 * 105 + 1] -= 6; // a brow up
    t.transfer(speaking, out);
    const lip1 = out[3 * 17 + 1]! - reference[3 * 17 + 1]!;
    const brow1 = out[3 * 105 + 1]! - reference[3 * 105 + 1]!;
    expect(lip1).toBeGreaterThan(3);
    t.setControls({ mouth: 0, eyes: 1, brows: 2, head: 1, headPose: 'relative' });
    t.transfer(speaking, out);
    expect(Math.abs(out[3 * 17 + 1]! - reference[3 * 17 + 1]!)).toBeLessThan(1e-3);
    expect(out[3 * 105 + 1]! - reference[3 * 105 + 1]!).toBeCloseTo(2 * brow1, 3);
    t.setControls({ mouth: 2, eyes: 1, brows: 1, head: 1, headPose: 'relative' });
    t.transfer(speaking, out);
    expect(out[3 * 17 + 1]! - reference[3 * 17 + 1]!).toBeCloseTo(2 * lip1, 3);
    expect(t.anchored).toBe(true);
  });

  it('head control: 0 holds the portrait\'s pose while the driver turns, 2 doubles the turn; absolute mode takes the driver\'s own angles', () => {
    const t = new MotionTransfer(reference, { silhouetteDepthKnee: Infinity, controls: { mouth: 1, eyes: 1, brows: 1, head: 0, headPose: 'relative' } });
    const out = new Float32Array(reference.length);
    t.transfer(anchor, out);
    const turned = moved(anchor, rotationFromEuler(4, 15, -6), 1, 20, 0);
    t.transfer(turned, out);
    const still = relativeEuler(reference, out);
    expect(Math.abs(still.yaw) + Math.abs(still.pitch) + Math.abs(still.roll)).toBeLessThan(1e-3);
    t.setControls({ mouth: 1, eyes: 1, brows: 1, head: 2, headPose: 'relative' });
    t.transfer(turned, out);
    const doubled = relativeEuler(reference, out);
    expect(doubled.yaw).toBeCloseTo(30, 2);
    expect(doubled.pitch).toBeCloseTo(8, 2);
    // Absolute: a driver whose first frame was already turned 15 degrees still shows 15 degrees
    // (relative mode would show 0 there), taken from the portrait's pose to the driver's.
    const faceOnce = new MotionTransfer(anchor, { silhouetteDepthKnee: Infinity, controls: { mouth: 1, eyes: 1, brows: 1, head: 1, headPose: 'absolute' } });
    faceOnce.transfer(turned, out); // the first (neutral) frame is the turned one
    expect(relativeEuler(anchor, out).yaw).toBeCloseTo(15, 2);
    const relativeOnce = new MotionTransfer(anchor, { silhouetteDepthKnee: Infinity });
    relativeOnce.transfer(turned, out);
    expect(relativeEuler(anchor, out).yaw).toBeCloseTo(0, 2);
  });

  it('a portrait with parted lips shows them closed while the driver\'s mouth is closed (not its teeth between lips that never meet), and opens from there', () => {
    const parted = Float32Array.from(reference);
    for (const l of INNER_LIP_LOWER.slice(1, -1)) parted[3 * l + 1] += 8;
    for (const i of [17, 152]) parted[3 * i + 1] += 8; // the jaw is down with it
    const t = new MotionTransfer(parted);
    const out = new Float32Array(parted.length);
    t.transfer(anchor, out, undefined, 0);
    t.transfer(anchor, out, undefined, 40);
    const gap = (f: Float32Array): number => f[3 * 14 + 1]! - f[3 * 13 + 1]!;
    expect(gap(parted)).toBeCloseTo(8, 3);
    expect(Math.abs(gap(out))).toBeLessThan(0.05);
    // The chin comes up with the lower lip (the whole jaw closes, not only the inner lip).
    expect(parted[3 * 152 + 1]! - out[3 * 152 + 1]!).toBeGreaterThan(6);
    // The driver opens its mouth 10 px (0.1 of its face size): the output opens, from closed.
    const open = Float32Array.from(anchor);
    for (const l of [...INNER_LIP_LOWER.slice(1, -1), 17, 152]) open[3 * l + 1] += 10;
    for (let ms = 80; ms <= 400; ms += 40) t.transfer(open, out, undefined, ms);
    expect(gap(out)).toBeGreaterThan(5);
  });

  it('lips never cross: a driver closing a mouth that was open in its neutral frame gives closed lips, not a lower lip above the upper', () => {
    const lipsOf = (face: Float32Array): Float32Array => {
      const out = Float32Array.from(face);
      // Open lips in the portrait: upper inner lip 4 px above the lower.
      for (let k = 1; k < INNER_LIP_UPPER.length - 1; k++) {
        out[3 * INNER_LIP_UPPER[k]! + 1] = 300;
        out[3 * INNER_LIP_LOWER[k]! + 1] = 304;
      }
      return out;
    };
    const portrait = lipsOf(reference);
    const t = new MotionTransfer(portrait, { silhouetteDepthKnee: Infinity });
    const out = new Float32Array(portrait.length);
    // The driver's neutral frame has the mouth wide open (20 px); then it closes it.
    const openDriver = Float32Array.from(anchor);
    for (let k = 1; k < INNER_LIP_UPPER.length - 1; k++) { openDriver[3 * INNER_LIP_UPPER[k]! + 1] = 290; openDriver[3 * INNER_LIP_LOWER[k]! + 1] = 310; }
    t.transfer(openDriver, out);
    const closedDriver = Float32Array.from(openDriver);
    for (let k = 1; k < INNER_LIP_UPPER.length - 1; k++) { closedDriver[3 * INNER_LIP_UPPER[k]! + 1] = 300; closedDriver[3 * INNER_LIP_LOWER[k]! + 1] = 300; }
    t.transfer(closedDriver, out);
    for (let k = 1; k < INNER_LIP_UPPER.length - 1; k++) {
      const gap = out[3 * INNER_LIP_LOWER[k]! + 1]! - out[3 * INNER_LIP_UPPER[k]! + 1]!;
      expect(gap).toBeGreaterThanOrEqual(-1e-3); // closed, never crossed
      expect(gap).toBeLessThan(0.5);
    }
  });

  /** A face whose right eye is open `opening` px (lids paired point by point, corners 32 px apart), `up` px higher. */
  const withEye = (face: Float32Array, opening: number, up = 0): Float32Array => {
    const out = Float32Array.from(face);
    out.set([226, 240 - up, 0], 3 * 33);
    out.set([258, 240 - up, 0], 3 * 133);
    out.set([256, 350, 0], 3 * 152); // the chin: which way is down
    EYELIDS.right.upper.forEach((u, k) => {
      const l = EYELIDS.right.lower[k];
      out.set([230 + 4 * k, 240 - up - opening / 2, 0], 3 * u);
      out.set([230 + 4 * k, 240 - up + opening / 2, 0], 3 * l);
    });
    return out;
  };
  const rightEyeOpening = (face: Float32Array): number => face[3 * EYELIDS.right.lower[3] + 1] - face[3 * EYELIDS.right.upper[3] + 1];

  it('a full blink shuts the portrait\'s eye whatever the two eyes\' sizes; a squint narrows it as eyeClosure says, relative to its own opening; it opens at most 10 % past its own', () => {
    // The portrait's eye is open 4 px, the driver's 12 px: relative to its own opening, not in pixels.
    const narrow = withEye(reference, 4);
    const t = new MotionTransfer(narrow);
    const out = new Float32Array(narrow.length);
    t.resetAnchor(true); // a calibrated neutral: the eyelids' neutral stays put
    t.transfer(withEye(reference, 12), out);
    expect(rightEyeOpening(out)).toBeCloseTo(4, 3);
    // The tracker reads a shut eye as about a quarter open (2 of 12 px): shut, not a squint.
    t.transfer(withEye(reference, 2), out);
    expect(Math.abs(rightEyeOpening(out))).toBeLessThan(0.01);
    // A quarter closed (9 of 12): eyeClosure(0.75) of the portrait's opening (about half).
    t.transfer(withEye(reference, 9), out);
    expect(rightEyeOpening(out)).toBeCloseTo(4 * eyeClosure(0.75), 2);
    expect(eyeClosure(0.75)).toBeGreaterThan(0.4);
    expect(eyeClosure(0.75)).toBeLessThan(0.6);
    // Wide open (18 of 12): 10 % past the portrait's at most (it has no pixels above its lids).
    t.transfer(withEye(reference, 18), out);
    expect(rightEyeOpening(out)).toBeCloseTo(4.4, 2);
    // An eye that moves up as a whole (a raised cheek) keeps its opening and moves.
    t.transfer(withEye(reference, 12, 5), out);
    expect(rightEyeOpening(out)).toBeCloseTo(4, 1);
    expect(out[3 * EYELIDS.right.upper[3] + 1]).toBeLessThan(narrow[3 * EYELIDS.right.upper[3] + 1] - 2);
  });

  it('softDeadband: nearly closed lips close (no sliver to paint as a dark band), wider openings keep their motion one for one', () => {
    const d = LIP_DEADBAND;
    expect(softDeadband(-1, d)).toBe(0);
    expect(softDeadband(0, d)).toBe(0);
    expect(softDeadband(0.5 * d, d)).toBeCloseTo(d / 16, 12); // a sliver: a sixteenth of the dead band
    expect(softDeadband(2 * d, d)).toBeCloseTo(d, 12); // continuous where the two parts meet
    expect(softDeadband(2 * d + 1e-9, d) - softDeadband(2 * d, d)).toBeCloseTo(1e-9, 15); // and with the same slope
    expect(softDeadband(10 * d, d)).toBeCloseTo(9 * d, 12);
  });

  it('eyeClosure: the driver\'s opening relative to its neutral -> the closure the tracker reads back as that opening', () => {
    expect(eyeClosure(1)).toBe(1);
    expect(eyeClosure(EYE_SHUT_RATIO)).toBe(0);
    expect(eyeClosure(0.1)).toBe(0);
    expect(eyeClosure(-0.2)).toBe(0); // crossed lids read by the tracker
    // The inverse of the measured response: each shown closure for the opening it reads as.
    for (const [shown, read] of EYE_RESPONSE) expect(eyeClosure(read)).toBeCloseTo(shown, 9);
    // Between the points: monotone and continuous (no jump for the lids to twitch over).
    let previous = -1;
    for (let r = 0; r <= 1.0001; r += 0.001) {
      const c = eyeClosure(r);
      expect(c).toBeGreaterThanOrEqual(previous);
      if (previous >= 0) expect(c - previous).toBeLessThan(0.004); // slope at most 4 (2.25 near open)
      previous = c;
    }
    expect(eyeClosure(1.05)).toBeCloseTo(1.05, 9);
    expect(eyeClosure(3)).toBe(EYE_WIDEN_LIMIT);
    expect(eyeClosure(Number.NaN)).toBe(1);
  });

  it('re-anchors after resetAnchor', () => {
    const t = new MotionTransfer(reference);
    const out = new Float32Array(reference.length);
    t.transfer(anchor, out);
    t.resetAnchor();
    const turned = moved(anchor, rotationFromEuler(0, 30, 0));
    t.transfer(turned, out); // becomes the new anchor: no rotation
    for (let i = 0; i < out.length; i++) expect(Math.abs(out[i] - reference[i])).toBeLessThan(1e-3);
  });
});
