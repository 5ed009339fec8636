/**
 * The built-in generator's per-frame core (MeshwarpAnimator) on the synthetic face: how fast
 * the shown mouth follows the driver's, and that a still mouth stays still.
 */
import { describe, expect, it } from 'vitest';
import { MeshwarpAnimator, MOUTH_SMOOTHING } from '../../../daemon/generators/meshwarp/animator.js';
import { LANDMARK_SMOOTHING } from '../../../daemon/generators/meshwarp/tracking/one-euro.js';
import { smoothImage, syntheticFace } from '../../fixtures/synthetic-face.js';

const SIZE = 512;
const gap = (lm: Float32Array): number => lm[3 * 14 + 1]! - lm[3 * 13 + 1]!;

describe('MeshwarpAnimator', () => {
  const reference = smoothImage(SIZE, SIZE);
  const portrait = syntheticFace();
  const shut = syntheticFace({ mouthOpen: 0 });

  it('a mouth that shuts within a frame ("p", "b", "m") is shown shut by that frame, not a frame or two later', () => {
    const animator = new MeshwarpAnimator(reference, portrait);
    const out = new Uint8Array(SIZE * SIZE * 3);
    let t = 0;
    for (let i = 0; i < 10; i++) animator.render(shut, (t += 40), out);
    // The mouth opens over five frames and shuts in one: the filter's derivative still points
    // the other way when it shuts (the demo video's frames 125-130).
    for (let k = 1; k <= 5; k++) animator.render(syntheticFace({ mouthOpen: 6 * k }), (t += 40), out);
    const wide = gap(animator.shownLandmarks);
    animator.render(shut, (t += 40), out);
    const after = gap(animator.shownLandmarks);
    for (let i = 0; i < 10; i++) animator.render(shut, (t += 40), out);
    const rest = gap(animator.shownLandmarks);
    // With the face's smoothing for the lips too, 40 % of such a jump was still shown open.
    expect((after - rest) / (wide - rest), `shown gap: open ${wide.toFixed(1)} px, a frame after shutting ${after.toFixed(1)}, at rest ${rest.toFixed(1)}`).toBeLessThan(0.2);
    expect(MOUTH_SMOOTHING.minCutoff).toBe(LANDMARK_SMOOTHING.minCutoff); // a still mouth as smooth as the face
  });

  it('a still mouth with tracker noise stays still (the faster lips let no jitter through)', () => {
    const animator = new MeshwarpAnimator(reference, portrait);
    const out = new Uint8Array(SIZE * SIZE * 3);
    let seed = 3;
    const noise = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.6; // +-0.3 px
    const gaps: number[] = [];
    for (let i = 0; i < 60; i++) {
      const noisy = Float32Array.from(shut, (v) => v + noise());
      animator.render(noisy, 40 * (i + 1), out);
      if (i >= 20) gaps.push(gap(animator.shownLandmarks));
    }
    const mean = gaps.reduce((s, v) => s + v, 0) / gaps.length;
    const rms = Math.sqrt(gaps.reduce((s, v) => s + (v - mean) ** 2, 0) / gaps.length);
    expect(rms).toBeLessThan(0.15);
  });

  it('renderShown draws the given landmarks as they are and leaves the motion alone (a probe between two frames changes nothing)', () => {
    const probed = new MeshwarpAnimator(reference, portrait);
    const plain = new MeshwarpAnimator(reference, portrait);
    const a = new Uint8Array(SIZE * SIZE * 3), b = new Uint8Array(SIZE * SIZE * 3), probe = new Uint8Array(SIZE * SIZE * 3);
    // The portrait's own landmarks give the portrait back.
    probed.renderShown(portrait, probe);
    expect(Buffer.compare(probe, reference.data)).toBe(0);
    let t = 0;
    for (let k = 0; k < 6; k++) {
      const driving = syntheticFace({ mouthOpen: 3 * k });
      t += 40;
      probed.render(driving, t, a);
      plain.render(driving, t, b);
      probed.renderShown(syntheticFace({ mouthOpen: 20 }), probe);
    }
    expect(Buffer.compare(a, b)).toBe(0);
    expect(() => probed.renderShown(new Float32Array(9), probe)).toThrow(/shown landmarks: expected 1434 values, got 9/);
  });
});
