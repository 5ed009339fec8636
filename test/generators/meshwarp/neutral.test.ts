import { describe, expect, it } from 'vitest';
import { NeutralFace } from '../../../daemon/generators/meshwarp/neutral.js';
import { eyeOpenness, mouthOpenness } from '../../../daemon/generators/meshwarp/mouth.js';
import { EYELIDS, INNER_LIP_LOWER, INNER_LIP_UPPER } from '../../../daemon/generators/meshwarp/topology.js';
import { syntheticFace } from '../../fixtures/synthetic-face.js';

/** The synthetic face, with its nose base (2; a scattered point there) between the eyes and the mouth, as on a face. */
function face(mouthOpen: number): Float64Array {
  const out = Float64Array.from(syntheticFace({ mouthOpen }));
  out[3 * 2] = (out[3 * 33] + out[3 * 263]) / 2;
  out[3 * 2 + 1] = (out[3 * 33 + 1] + out[3 * 61 + 1]) / 2;
  return out;
}

/** The face with both eyes' upper lids brought to `fraction` of their opening (1 = as is, 0 = shut). */
function eyesAt(src: Float64Array, fraction: number): Float64Array {
  const out = Float64Array.from(src);
  for (const eye of [EYELIDS.right, EYELIDS.left]) {
    eye.upper.forEach((u, k) => {
      const l = eye.lower[k];
      for (let c = 0; c < 3; c++) out[3 * u + c] = src[3 * l + c] + fraction * (src[3 * u + c] - src[3 * l + c]);
    });
  }
  return out;
}

const maxDifference = (a: Float64Array, b: Float64Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

function feed(neutral: NeutralFace, frame: Float64Array, frames: number, startMs = 0): number {
  for (let i = 0; i < frames; i++) neutral.update(frame, startMs + 40 * i);
  return startMs + 40 * frames;
}

describe('the driver\'s neutral face', () => {
  it('a first frame with the mouth open is taken with the lips closed (lips at rest touch); a calibrated one as it is', () => {
    const open = face(20);
    const neutral = new NeutralFace();
    neutral.reset(open, false);
    expect(mouthOpenness(neutral.landmarks)).toBeCloseTo(mouthOpenness(open), 9); // eased into, not jumped to
    feed(neutral, open, 10); // the driver keeps it open: the neutral closes anyway
    expect(mouthOpenness(neutral.landmarks)).toBeLessThan(0.1 * mouthOpenness(open));
    expect(neutral.landmarks[3 * 13 + 1]).toBeCloseTo(open[3 * 13 + 1], 1); // the upper lip stays, the lower one came up
    expect(neutral.landmarks[3 * 152 + 1]).toBeLessThan(open[3 * 152 + 1] - 10); // the chin with it
    const calibrated = new NeutralFace();
    calibrated.reset(open, true);
    feed(calibrated, open, 10);
    expect(mouthOpenness(calibrated.landmarks)).toBeCloseTo(mouthOpenness(open), 9);
  });

  it('the driver\'s most closed mouth becomes the neutral\'s (jaw included), its width stays the anchor\'s, and it never opens again', () => {
    const open = face(20);
    const neutral = new NeutralFace();
    neutral.reset(open, true); // calibrated open: only a more closed mouth moves it
    // The driver presses its lips together (the lower inner lip 0.5 px past the upper) and smiles wider (corners 6 px out).
    const closed = face(0);
    for (const i of INNER_LIP_LOWER.slice(1, -1)) closed[3 * i + 1] = closed[3 * INNER_LIP_UPPER[INNER_LIP_LOWER.indexOf(i)]! + 1] - 0.5;
    closed[3 * 61] -= 6;
    closed[3 * 291] += 6;
    let t = feed(neutral, closed, 25);
    expect(mouthOpenness(neutral.landmarks)).toBeLessThan(0.05 * mouthOpenness(open));
    const lowerLip = 3 * INNER_LIP_LOWER[5] + 1;
    expect(neutral.landmarks[lowerLip]).toBeCloseTo(closed[lowerLip], 1);
    expect(neutral.landmarks[3 * 152 + 1]).toBeCloseTo(closed[3 * 152 + 1], 1); // the chin came with it
    expect(neutral.landmarks[3 * 61]).toBeCloseTo(open[3 * 61], 6); // not the smile's width
    expect(neutral.landmarks[3 * 291]).toBeCloseTo(open[3 * 291], 6);
    // Speaking again (open) leaves the neutral closed: it is the most closed mouth seen.
    const settled = Float64Array.from(neutral.landmarks);
    t = feed(neutral, open, 25, t);
    expect(maxDifference(neutral.landmarks, settled)).toBeLessThan(0.05); // only the last of the easing to the closed mouth
    // The eyes and the brows were never touched by the mouth.
    for (const i of [...EYELIDS.right.upper, 70, 105, 300]) expect(neutral.landmarks[3 * i + 1]).toBe(open[3 * i + 1]);
  });

  it('a first frame mid-blink: the neutral eyes settle open within a second; later blinks leave them; after a calibration they stay as calibrated', () => {
    const eyesOpen = face(0);
    const midBlink = eyesAt(eyesOpen, 0.3);
    const neutral = new NeutralFace();
    neutral.reset(midBlink, false);
    let t = feed(neutral, eyesOpen, 25); // one second of open eyes
    expect(eyeOpenness(neutral.landmarks, 'right')).toBeGreaterThan(0.9 * eyeOpenness(eyesOpen, 'right'));
    expect(eyeOpenness(neutral.landmarks, 'left')).toBeGreaterThan(0.9 * eyeOpenness(eyesOpen, 'left'));
    const before = eyeOpenness(neutral.landmarks, 'right');
    t = feed(neutral, eyesAt(eyesOpen, 0.1), 5, t); // a blink
    expect(eyeOpenness(neutral.landmarks, 'right')).toBe(before);

    const calibrated = new NeutralFace();
    calibrated.reset(midBlink, true);
    feed(calibrated, eyesOpen, 50);
    expect(eyeOpenness(calibrated.landmarks, 'right')).toBeCloseTo(eyeOpenness(midBlink, 'right'), 9);
  });

  it('eyes held wide (surprise) or low (a look down) for seconds stay an expression: the neutral does not catch up with them within seconds', () => {
    const open = face(0);
    for (const [held, label] of [[1.3, 'wide'], [0.8, 'low']] as const) {
      const neutral = new NeutralFace();
      neutral.reset(open, false);
      let t = feed(neutral, open, 50); // two seconds at rest
      t = feed(neutral, eyesAt(open, held), 75, t); // three seconds held
      const shown = eyeOpenness(neutral.landmarks, 'right') / eyeOpenness(open, 'right');
      // At the old 2 s settle (and the 300 ms catch-up for wider eyes) the neutral had moved
      // most of the way: the portrait's eyes went back to rest while the driver's stayed.
      expect(Math.abs(shown - 1), `${label}: the neutral moved to ${shown.toFixed(2)} of the resting opening`).toBeLessThan(0.4 * Math.abs(held - 1));
    }
  });

  it('a still driver whose frames differ a little from the first (as the tracker\'s first frame does) leaves the neutral where it is: no creep', () => {
    const first = face(0);
    const steady = eyesAt(first, 0.97);
    const neutral = new NeutralFace();
    neutral.reset(first, false);
    const t = feed(neutral, steady, 50); // the lips' prior closes the fixture's 1.2 px gap, once
    const settled = Float64Array.from(neutral.landmarks);
    feed(neutral, steady, 100, t);
    expect(maxDifference(neutral.landmarks, settled)).toBeLessThan(1e-6);
    for (const eye of [EYELIDS.right, EYELIDS.left]) for (const i of [...eye.upper, ...eye.lower]) expect(neutral.landmarks[3 * i + 1]).toBe(first[3 * i + 1]);
  });
});
