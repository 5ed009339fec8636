/**
 * The built-in generator's expressions on the paths users take: the generator (its tracker
 * and render workers) on a clip of the demo video whose first frame has the mouth open, with
 * a portrait whose mouth is closed. The measures are eval:meshwarp's (expression-follow.ts),
 * read back from the rendered frames by a second tracker.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshwarpGenerator, type MeshwarpGenerator } from '../../../daemon/generators/meshwarp/index.js';
import { BAND_LIMIT, CLEARLY_OPEN, CLOSED, expressionSignals, gain, lipSeam, percentile, RENDERED_CLOSED } from '../../../daemon/generators/meshwarp/expression-follow.js';
import { pearson } from '../../../daemon/generators/meshwarp/pose-follow.js';
import { createHumanTracker, type HumanTracker } from '../../../daemon/generators/meshwarp/tracking/human-tracker.js';
import { decodeVideoFrames } from '../../../daemon/media/decode.js';
import { fitSquare, loadImageRgb } from '../../../daemon/media/image.js';
import type { Frame, RgbImage } from '../../../daemon/frames.js';
import { syntheticFace } from '../../fixtures/synthetic-face.js';
import { INNER_LIP_LOWER } from '../../../daemon/generators/meshwarp/topology.js';
import { demoDataDir, requireBinary } from '../../helpers/system.js';

const { dir: DATA, skip: noData } = demoDataDir();
const { skip: noFfmpeg } = requireBinary('ffmpeg');
const SIZE = 512;
const FRAMES = 200;

describe('expression measures', () => {
  it('read the mouth opening signed (crossed lips are negative), in eye-corner units, whatever the face size', () => {
    const closed = syntheticFace({ mouthOpen: 0 });
    const open = syntheticFace({ mouthOpen: 20 });
    const big = syntheticFace({ mouthOpen: 40, rx: 200, ry: 240 });
    expect(expressionSignals(open).mouthOpen).toBeGreaterThan(expressionSignals(closed).mouthOpen + 0.05);
    const crossed = Float32Array.from(open);
    crossed[3 * 14 + 1] = crossed[3 * 13 + 1] - 6; // the lower lip above the upper
    expect(expressionSignals(crossed).mouthOpen).toBeLessThan(0);
    expect(expressionSignals(big).mouthWidth).toBeCloseTo(expressionSignals(open).mouthWidth, 1);
    expect(gain([0, 1, 2, 3], [1, 1.5, 2, 2.5])).toBeCloseTo(0.5, 9);
    expect(gain([1, 1, 1], [0, 1, 2])).toBe(0);
  });

  it('measure the dark seam between the lips: a painted band reads thicker than a thin seam', () => {
    const lm = syntheticFace({ mouthOpen: 0 });
    const paint = (seam: number): RgbImage => {
      const data = new Uint8Array(SIZE * SIZE * 3);
      const top = lm[3 * 0 + 1], bottom = lm[3 * 17 + 1], middle = (lm[3 * 13 + 1] + lm[3 * INNER_LIP_LOWER[5] + 1]) / 2;
      for (let y = 0; y < SIZE; y++) {
        const lip = y >= top && y <= bottom;
        const dark = Math.abs(y + 0.5 - middle) < seam / 2;
        for (let x = 0; x < SIZE; x++) data.set(dark ? [60, 20, 25] : lip ? [190, 90, 90] : [220, 180, 160], 3 * (y * SIZE + x));
      }
      return { data, width: SIZE, height: SIZE };
    };
    const thin = lipSeam(paint(2), lm);
    const band = lipSeam(paint(9), lm);
    expect(thin.thicknessPx).toBeGreaterThan(0.8);
    expect(thin.thicknessPx).toBeLessThan(4);
    expect(band.thicknessPx / thin.thicknessPx).toBeGreaterThan(3);
    expect(band.colour[0]).toBeLessThan(100);
  });
});

describe.skipIf(noData || noFfmpeg)('the built-in generator\'s mouth, on the demo video with a closed-mouth portrait', () => {
  let generator: MeshwarpGenerator;
  let tracker: HumanTracker;
  let reference: RgbImage;
  const driving: Frame[] = [];

  beforeAll(async () => {
    reference = await fitSquare(await loadImageRgb(join(DATA, 'reference.png')), SIZE);
    [generator, tracker] = await Promise.all([createMeshwarpGenerator({ size: SIZE }), createHumanTracker({ mode: 'image' })]);
    await generator.fuseReference(reference);
    for await (const f of decodeVideoFrames(join(DATA, 'driving.mp4'), { width: SIZE, height: SIZE, maxFrames: FRAMES })) driving.push(f);
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([generator?.close(), tracker?.close()]);
  });

  it('opens as the driver opens (the first frame\'s open mouth is not its neutral), and shuts it without a painted band', async () => {
    const refFace = (await tracker.track(reference)).face!;
    const portrait = expressionSignals(refFace.landmarks);
    const portraitSeam = lipSeam(reference, refFace.landmarks).thicknessPx;
    const outputs: Frame[] = [];
    for (const f of driving) outputs.push(...(await generator.push({ ...f, data: f.data.slice() })));
    outputs.push(...(await generator.flush()));
    expect(outputs).toHaveLength(driving.length);
    const driver: number[] = [];
    const output: number[] = [];
    const seamRatios: number[] = [];
    for (let i = 0; i < driving.length; i++) {
      const [d, o] = [(await tracker.track(driving[i]!)).face, (await tracker.track(outputs[i]!)).face];
      expect(d && o, `faces in driving frame ${i} and its output`).toBeTruthy();
      driver.push(expressionSignals(d!.landmarks).mouthOpen);
      output.push(expressionSignals(o!.landmarks).mouthOpen - portrait.mouthOpen);
      seamRatios.push(lipSeam(outputs[i]!, o!.landmarks).thicknessPx / portraitSeam);
    }
    // The driver's own closed mouth: its most closed frames (the clip starts open: frame 0 is not it).
    const closedLevel = percentile(driver, 0.05);
    expect(driver[0]! - closedLevel, 'the clip starts with the mouth open').toBeGreaterThan(0.05);
    const clearlyOpen = driver.map((v, i) => [v - closedLevel, i] as const).filter(([v]) => v > CLEARLY_OPEN).map(([, i]) => i);
    const closed = driver.map((v, i) => [v - closedLevel, i] as const).filter(([v, i]) => v < CLOSED && i > 0).map(([, i]) => i);
    expect(clearlyOpen.length, 'clearly open driver frames in the clip').toBeGreaterThan(30);
    expect(closed.length, 'closed driver frames in the clip').toBeGreaterThan(30);
    // Measured on this clip: correlation 0.87, gain 0.67, 2 % of the clearly open frames
    // rendered closed, closed-mouth seam median 1.14x the portrait's, 3 % of those frames over
    // 1.5x. With the first frame as the neutral (before this test): gain about 0.2, most open
    // frames rendered closed.
    expect(pearson(driver, output), 'mouth-opening correlation').toBeGreaterThan(0.8);
    expect(gain(driver, output), 'mouth-opening gain').toBeGreaterThan(0.5);
    const renderedClosed = clearlyOpen.filter((i) => output[i]! < RENDERED_CLOSED).length / clearlyOpen.length;
    expect(renderedClosed, 'clearly open driver frames rendered closed').toBeLessThan(0.15);
    const ratios = closed.map((i) => seamRatios[i]!);
    expect(percentile(ratios, 0.5), 'median closed-mouth seam, x the portrait\'s').toBeLessThan(1.35);
    expect(ratios.filter((r) => r > BAND_LIMIT).length / ratios.length, 'closed-mouth frames with a band').toBeLessThan(0.1);
  }, 240_000);
});
