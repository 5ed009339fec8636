/**
 * eval:meshwarp — quality of the built-in generator, measured with the same face tracker:
 *  (a) pose follow: yaw/pitch/roll of the driver relative to its first frame vs. the output
 *      relative to the reference (mean absolute error in degrees, Pearson correlation);
 *  (b) identity stability: the output's rigid-landmark geometry, normalised for position,
 *      size and rotation, vs. the reference's, over the whole video (mean error and drift
 *      between the first and last tenth, in reference pixels);
 *  (c) jitter: a still driving frame repeated; RMS motion of the output's landmarks (px);
 *      also with camera-like sensor noise added to each repeat (noisyStillJitterRmsPx);
 *  (d) expression follow (expression-follow.ts signals: mouth opening, mouth width, jaw drop,
 *      eye opening, brow raise): correlation, gain (least-squares slope of the output's change
 *      on the driver's) and mean absolute error, both for what the generator intended (its own
 *      landmarks) and for what the tracker reads back from the rendered frames, so a loss can
 *      be put in the transfer or in the rendering; the share of clearly-open driver frames
 *      rendered closed; the lip seam when the driver's mouth is closed (thickness against the
 *      portrait's own seam, colour); for the eyes also the gain on closing alone (the frames
 *      where the driver's eyes are less open than their median), the goal's measure;
 *  (e) contact sheets (PNG, driver | output pairs) of the widest-open driver mouths, the
 *      closed eyes and the worst closed mouths, in out/meshwarp-eval/ (EVAL_SHEETS=0: none);
 *      EVAL_DUMP=1 also writes each portrait's per-frame signals there (<stem>-signals.json).
 * The driver's changes are measured from its own neutral: for the mouth opening its most
 * closed state (5th percentile), for the other signals their median (what the face shows most).
 * The output's are measured from the portrait. Driving landmarks come from the tracker in
 * video mode (as the generator gets them); the measures use a second tracker in image mode.
 * For each portrait: ../shared/data/reference.png and the presets. EVAL_FRAMES=N limits the
 * frames. Last line: one JSON object with the figures.
 */
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createHumanTracker, type HumanTracker } from '../daemon/generators/meshwarp/tracking/human-tracker.js';
import { MeshwarpAnimator } from '../daemon/generators/meshwarp/animator.js';
import { cropDriverMouth } from '../daemon/generators/meshwarp/mouth.js';
import { BAND_LIMIT, CLEARLY_OPEN, CLOSED, expressionSignals, gain, lipSeam, percentile, RENDERED_CLOSED, type ExpressionSignals } from '../daemon/generators/meshwarp/expression-follow.js';
import { definedOnly } from '../daemon/util/objects.js';
import { LANDMARK_SMOOTHING } from '../daemon/generators/meshwarp/tracking/one-euro.js';
import { decodeVideoFrames } from '../daemon/media/decode.js';
import { fitSquare, loadImageRgb, writePng } from '../daemon/media/image.js';
import type { RgbImage } from '../daemon/frames.js';
import { bestRotation, createFaceFrame, normalizeFace, RIGID_INDICES } from '../daemon/generators/meshwarp/transfer.js';
import { pearson, relativeAngles } from '../daemon/generators/meshwarp/pose-follow.js';
import { LANDMARK_COUNT } from '../daemon/generators/meshwarp/tracking/types.js';

const DATA = process.env.PERSONALIVE_DEMO_DATA ?? join(import.meta.dirname, '..', '..', 'shared', 'data');
const MAX_FRAMES = process.env.EVAL_FRAMES ? Number(process.env.EVAL_FRAMES) : undefined;
const DEPTH_SCALE = process.env.EVAL_DEPTH_SCALE ? Number(process.env.EVAL_DEPTH_SCALE) : undefined;
const VERTICAL_DEPTH_SCALE = process.env.EVAL_VERTICAL_DEPTH_SCALE ? Number(process.env.EVAL_VERTICAL_DEPTH_SCALE) : undefined;
const PRESETS = process.env.EVAL_PRESETS?.split(',');
/** EVAL_SMOOTHING=minCutoff,beta,dCutoff overrides the One-Euro parameters. */
const SMOOTHING = process.env.EVAL_SMOOTHING ? (([minCutoff, beta, dCutoff]) => ({ minCutoff, beta, dCutoff }))(process.env.EVAL_SMOOTHING.split(',').map(Number)) : undefined;
const JITTER_FRAMES = 100;
const SIZE = 512;
const SHEETS = process.env.EVAL_SHEETS !== '0';
/** EVAL_DRIVER_INTERIOR=0: the synthetic mouth interior only (as without the driving frame's mouth). */
const DRIVER_INTERIOR = process.env.EVAL_DRIVER_INTERIOR !== '0';
const SHEET_DIR = join(import.meta.dirname, '..', 'out', 'meshwarp-eval');
/** EVAL_DUMP=1: also write each portrait's per-frame signals (driver, intended, rendered) next to the sheets. */
const DUMP = process.env.EVAL_DUMP === '1';
const TILES = 8;

/** RMS distance (reference pixels) of the rigid points after removing position, size and rotation. */
function identityError(reference: Float32Array, output: Float32Array): number {
  const a = new Float64Array(3 * LANDMARK_COUNT);
  const b = new Float64Array(3 * LANDMARK_COUNT);
  const fa = normalizeFace(reference, a, createFaceFrame());
  normalizeFace(output, b, createFaceFrame());
  const R = bestRotation(b, a);
  let ss = 0;
  for (const i of RIGID_INDICES) {
    // 2D geometry: compare x, y after rotating the output onto the reference.
    const x = R[0] * b[3 * i] + R[1] * b[3 * i + 1] + R[2] * b[3 * i + 2];
    const y = R[3] * b[3 * i] + R[4] * b[3 * i + 1] + R[5] * b[3 * i + 2];
    ss += (x - a[3 * i]) ** 2 + (y - a[3 * i + 1]) ** 2;
  }
  return Math.sqrt(ss / RIGID_INDICES.length) * fa.scale;
}

const round = (v: number, d = 3): number => Number(v.toFixed(d));

async function trackAll(tracker: HumanTracker, frames: RgbImage[]): Promise<(Float32Array | null)[]> {
  const out: (Float32Array | null)[] = [];
  for (const f of frames) out.push((await tracker.track(f)).face?.landmarks ?? null);
  return out;
}

/** Sensor noise of the second jitter measure, in 8-bit levels (a webcam in good light: ~1-3). */
const SENSOR_NOISE = 2;

function withSensorNoise(data: Uint8Array, sigma: number, seed: number): Uint8Array {
  if (sigma === 0) return Uint8Array.from(data);
  let s = seed >>> 0 || 1;
  const uniform = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const gauss = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    out[i] = Math.max(0, Math.min(255, Math.round(data[i] + sigma * gauss)));
  }
  return out;
}

/** RMS motion (px) of the output's landmarks while one driving frame is repeated (after the smoother settles). */
async function stillJitter(animator: MeshwarpAnimator, video: HumanTracker, measure: HumanTracker, frame: RgbImage, firstIndex: number, noise: number): Promise<number> {
  animator.reset();
  await video.resetStream();
  const still: Float32Array[] = [];
  const out = new Uint8Array(SIZE * SIZE * 3);
  for (let i = 0; i < JITTER_FRAMES; i++) {
    const driving = (await video.track({ ...frame, data: withSensorNoise(frame.data, noise, i + 1) })).face?.landmarks ?? null;
    animator.render(driving, (firstIndex + i) * 40, out);
    const face = (await measure.track({ data: out, width: SIZE, height: SIZE })).face;
    if (face) still.push(Float32Array.from(face.landmarks));
  }
  const settled = still.slice(25); // after a second: the smoother's warm-up and the neutral's settling (the first frame's open mouth closing)
  let ss = 0;
  let n = 0;
  for (let p = 0; p < LANDMARK_COUNT; p++) {
    for (const c of [0, 1]) {
      const values = settled.map((l) => l[3 * p + c]);
      const mean = values.reduce((s, v) => s + v, 0) / values.length;
      for (const v of values) ss += (v - mean) ** 2;
      n += values.length;
    }
  }
  return Math.sqrt(ss / Math.max(1, n));
}

/** The signals that the summary reports: the two eyes and the two brows as one. */
const REPORTED = ['mouthOpen', 'mouthWidth', 'jaw', 'eyes', 'brows'] as const;
type Reported = (typeof REPORTED)[number];

function reported(s: ExpressionSignals): Record<Reported, number> {
  return { mouthOpen: s.mouthOpen, mouthWidth: s.mouthWidth, jaw: s.jaw, eyes: (s.eyeRight + s.eyeLeft) / 2, brows: (s.browRight + s.browLeft) / 2 };
}

interface Follow {
  correlation: number;
  gain: number;
  mae: number;
}

function follow(driver: number[], output: number[]): Follow {
  const mae = driver.reduce((s, v, i) => s + Math.abs(v - output[i]), 0) / Math.max(1, driver.length);
  return { correlation: round(pearson(driver, output)), gain: round(gain(driver, output)), mae: round(mae, 4) };
}

/** Gain over the frames where the driver's signal is below its neutral (an eye closing). */
function closingGain(driver: number[], output: number[]): number {
  const closing = driver.flatMap((v, i) => (v < 0 ? [i] : []));
  return round(gain(closing.map((i) => driver[i]), closing.map((i) => output[i])));
}

// Contact sheets: fixed-size crops around the mouth or the eyes, driver | output, 4 pairs a row.
const CROPS = { mouth: { w: 176, h: 144, centre: [13, 14] }, eyes: { w: 288, h: 112, centre: [33, 263] } } as const;
type CropKind = keyof typeof CROPS;

function crop(image: RgbImage, landmarks: Float32Array | null, kind: CropKind): Uint8Array {
  const { w, h, centre } = CROPS[kind];
  const out = new Uint8Array(w * h * 3);
  const cx = landmarks ? (landmarks[3 * centre[0]] + landmarks[3 * centre[1]]) / 2 : image.width / 2;
  const cy = landmarks ? (landmarks[3 * centre[0] + 1] + landmarks[3 * centre[1] + 1]) / 2 : image.height / 2;
  const x0 = Math.round(cx - w / 2), y0 = Math.round(cy - h / 2);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(image.height - 1, Math.max(0, y0 + y));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(image.width - 1, Math.max(0, x0 + x));
      out.set(image.data.subarray(3 * (sy * image.width + sx), 3 * (sy * image.width + sx) + 3), 3 * (y * w + x));
    }
  }
  return out;
}

interface Tile {
  index: number;
  driver: Uint8Array;
  output: Uint8Array;
}

async function writeSheet(tiles: Tile[], kind: CropKind, path: string): Promise<void> {
  if (tiles.length === 0) return;
  const { w, h } = CROPS[kind];
  const gap = 6;
  const perRow = 4;
  const rows = Math.ceil(tiles.length / perRow);
  const width = perRow * (2 * w + 3 * gap);
  const height = rows * (h + gap) + gap;
  const data = new Uint8Array(width * height * 3).fill(40);
  tiles.forEach((tile, k) => {
    const ox = (k % perRow) * (2 * w + 3 * gap) + gap;
    const oy = Math.floor(k / perRow) * (h + gap) + gap;
    for (const [pixels, dx] of [[tile.driver, 0], [tile.output, w + gap]] as const) {
      for (let y = 0; y < h; y++) data.set(pixels.subarray(3 * y * w, 3 * (y + 1) * w), 3 * ((oy + y) * width + ox + dx));
    }
  });
  await writePng({ data, width, height }, path);
}

/** Up to `count` frame indices with the largest score, at least `spacing` frames apart. */
function spacedTop(scores: (number | null)[], count: number, spacing: number): number[] {
  const order = scores.map((s, i) => [s, i] as const).filter((e): e is readonly [number, number] => e[0] !== null).sort((a, b) => b[0] - a[0]);
  const chosen: number[] = [];
  for (const [, i] of order) {
    if (chosen.length >= count) break;
    if (chosen.every((c) => Math.abs(c - i) >= spacing)) chosen.push(i);
  }
  return chosen.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const tracker = await createHumanTracker({ mode: 'image' });
  const videoTracker = await createHumanTracker({ mode: 'video' });
  const driving: RgbImage[] = [];
  for await (const f of decodeVideoFrames(join(DATA, 'driving.mp4'), { width: SIZE, height: SIZE, maxFrames: MAX_FRAMES })) {
    driving.push({ data: f.data, width: SIZE, height: SIZE });
  }
  process.stderr.write(`tracking ${driving.length} driving frames...\n`);
  const driverLandmarks = await trackAll(tracker, driving);
  // What the generator gets: the tracker in video mode, as the live path runs it.
  const drivingInput = await trackAll(videoTracker, driving);
  const first = driverLandmarks.find((l) => l !== null)!;
  const driverAngles = driverLandmarks.map((l) => (l ? relativeAngles(first, l) : null));
  const driverSignals = driverLandmarks.map((l) => (l ? reported(expressionSignals(l)) : null));
  const tracked = driverSignals.filter((s): s is Record<Reported, number> => s !== null);
  // The driver's neutral: its most closed mouth, and what its face shows most for the rest.
  const driverNeutral = Object.fromEntries(REPORTED.map((k) => [k, percentile(tracked.map((s) => s[k]), k === 'mouthOpen' ? 0.05 : 0.5)])) as Record<Reported, number>;
  const driverChange = driverSignals.map((s) => (s ? (Object.fromEntries(REPORTED.map((k) => [k, s[k] - driverNeutral[k]])) as Record<Reported, number>) : null));
  const clearlyOpen = driverChange.map((c) => c !== null && c.mouthOpen > CLEARLY_OPEN);
  const mouthClosed = driverChange.map((c) => c !== null && c.mouthOpen < CLOSED);
  const sheetFrames = {
    mouthOpen: new Set(spacedTop(driverChange.map((c) => c?.mouthOpen ?? null), TILES, 12)),
    eyesClosed: new Set(spacedTop(driverChange.map((c) => (c ? -c.eyes : null)), TILES, 12)),
  };
  if (SHEETS) await mkdir(SHEET_DIR, { recursive: true });

  const portraits = [{ name: 'reference.png', path: join(DATA, 'reference.png') }];
  for (const f of (await readdir(join(DATA, 'presets'))).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort()) portraits.push({ name: f, path: join(DATA, 'presets', f) });
  const results: Record<string, unknown>[] = [];
  for (const portrait of portraits.filter((p) => !PRESETS || PRESETS.includes(p.name))) {
    const preset = portrait.name;
    process.stderr.write(`portrait ${preset}...\n`);
    const reference = await fitSquare(await loadImageRgb(portrait.path), SIZE);
    const refFace = (await tracker.track(reference)).face;
    if (!refFace) {
      results.push({ preset, error: 'no face found in the portrait' });
      continue;
    }
    const refSignals = reported(expressionSignals(refFace.landmarks));
    const refSeam = lipSeam(reference, refFace.landmarks);
    const animator = new MeshwarpAnimator(reference, refFace.landmarks, definedOnly({ depthScale: DEPTH_SCALE, verticalDepthScale: VERTICAL_DEPTH_SCALE }), SMOOTHING ?? LANDMARK_SMOOTHING);
    const axes: { drv: number[]; out: number[] }[] = [0, 1, 2].map(() => ({ drv: [], out: [] }));
    const signals = Object.fromEntries(REPORTED.map((k) => [k, { drv: [] as number[], intended: [] as number[], rendered: [] as number[] }])) as Record<Reported, { drv: number[]; intended: number[]; rendered: number[] }>;
    const identity: number[] = [];
    let lostOutput = 0;
    let drivingWithoutFace = 0;
    let openFrames = 0;
    let openRenderedClosed = 0;
    const seamRatios: number[] = [];
    const seamColour = [0, 0, 0];
    const sheets: Record<'mouthOpen' | 'eyesClosed' | 'mouthClosed', Tile[]> = { mouthOpen: [], eyesClosed: [], mouthClosed: [] };
    const worstClosed: { ratio: number; tile: Tile }[] = [];
    let renderMs = 0;
    const frame = new Uint8Array(SIZE * SIZE * 3);
    for (let i = 0; i < driving.length; i++) {
      if (!drivingInput[i]) drivingWithoutFace++;
      const r0 = performance.now();
      animator.render(drivingInput[i], i * 40, frame, DRIVER_INTERIOR && drivingInput[i] ? cropDriverMouth(driving[i], drivingInput[i]!) : null);
      renderMs += performance.now() - r0;
      const output: RgbImage = { data: frame, width: SIZE, height: SIZE };
      const intended = reported(expressionSignals(animator.shownLandmarks));
      const face = (await tracker.track(output)).face;
      const drv = driverAngles[i];
      const change = driverChange[i];
      if (!face) {
        lostOutput++;
        continue;
      }
      identity.push(identityError(refFace.landmarks, face.landmarks));
      if (!drv || !change) continue;
      const out = relativeAngles(refFace.landmarks, face.landmarks);
      for (let k = 0; k < 3; k++) {
        axes[k].drv.push(drv[k]);
        axes[k].out.push(out[k]);
      }
      const rendered = reported(expressionSignals(face.landmarks));
      for (const k of REPORTED) {
        signals[k].drv.push(change[k]);
        signals[k].intended.push(intended[k] - refSignals[k]);
        signals[k].rendered.push(rendered[k] - refSignals[k]);
      }
      if (clearlyOpen[i]) {
        openFrames++;
        // Closed lips at rest whatever the portrait shows (MotionTransfer closes parted lips).
        if (rendered.mouthOpen < RENDERED_CLOSED) openRenderedClosed++;
      }
      const tileOf = (kind: CropKind): Tile => ({ index: i, driver: crop(driving[i], driverLandmarks[i], kind), output: crop(output, face.landmarks, kind) });
      if (mouthClosed[i]) {
        const seam = lipSeam(output, face.landmarks);
        const ratio = seam.thicknessPx / Math.max(0.5, refSeam.thicknessPx);
        seamRatios.push(ratio);
        for (let c = 0; c < 3; c++) seamColour[c] += seam.colour[c];
        if (SHEETS && (worstClosed.length < TILES || ratio > worstClosed.at(-1)!.ratio)) {
          worstClosed.push({ ratio, tile: tileOf('mouth') });
          worstClosed.sort((a, b) => b.ratio - a.ratio);
          worstClosed.length = Math.min(worstClosed.length, TILES);
        }
      }
      if (SHEETS && sheetFrames.mouthOpen.has(i)) sheets.mouthOpen.push(tileOf('mouth'));
      if (SHEETS && sheetFrames.eyesClosed.has(i)) sheets.eyesClosed.push(tileOf('eyes'));
    }
    sheets.mouthClosed = worstClosed.map((w) => w.tile).sort((a, b) => a.index - b.index);

    // Jitter: the first driving frame, repeated: exactly (the measure), then with
    // camera-like sensor noise (a fresh Gaussian, sigma SENSOR_NOISE levels, per frame).
    const jitterRmsPx = await stillJitter(animator, videoTracker, tracker, driving[0], driving.length, 0);
    const noisyJitterRmsPx = await stillJitter(animator, videoTracker, tracker, driving[0], driving.length, SENSOR_NOISE);
    await videoTracker.resetStream();

    const names = ['pitch', 'yaw', 'roll'] as const;
    const pose = Object.fromEntries(
      names.map((name, k) => {
        const { drv, out } = axes[k];
        const mae = drv.reduce((s, v, i) => s + Math.abs(v - out[i]), 0) / Math.max(1, drv.length);
        return [name, { mae: round(mae), correlation: round(pearson(drv, out)), driverRange: round(Math.max(...drv) - Math.min(...drv), 1) }];
      }),
    );
    const expression = Object.fromEntries(REPORTED.map((k) => [k, { rendered: follow(signals[k].drv, signals[k].rendered), intended: follow(signals[k].drv, signals[k].intended), driverRange: round(percentile(signals[k].drv, 0.98) - percentile(signals[k].drv, 0.02), 3) }]));
    const eyesClosing = { rendered: closingGain(signals.eyes.drv, signals.eyes.rendered), intended: closingGain(signals.eyes.drv, signals.eyes.intended) };
    const sheetPaths: string[] = [];
    if (DUMP) {
      await mkdir(SHEET_DIR, { recursive: true });
      const path = join(SHEET_DIR, `${preset.replace(/\.[^.]+$/, '')}-signals.json`);
      await writeFile(`${path}.${process.pid}.tmp`, JSON.stringify({ driverNeutral, portrait: refSignals, signals }));
      await rename(`${path}.${process.pid}.tmp`, path);
    }
    if (SHEETS) {
      const stem = preset.replace(/\.[^.]+$/, '');
      for (const [name, tiles] of Object.entries(sheets)) {
        const path = join(SHEET_DIR, `${stem}-${name}.png`);
        await writeSheet(tiles, name === 'eyesClosed' ? 'eyes' : 'mouth', path);
        sheetPaths.push(path);
      }
    }
    const tenth = Math.max(1, Math.floor(identity.length / 10));
    const mean = (v: number[]): number => v.reduce((s, x) => s + x, 0) / Math.max(1, v.length);
    results.push({
      preset,
      frames: driving.length,
      outputFramesTracked: identity.length,
      outputFramesWithoutFace: lostOutput,
      drivingFramesWithoutFace: drivingWithoutFace,
      pose,
      meanPoseErrorDeg: round((pose.pitch.mae + pose.yaw.mae + pose.roll.mae) / 3),
      identityErrorPx: round(mean(identity)),
      identityDriftPx: round(mean(identity.slice(-tenth)) - mean(identity.slice(0, tenth))),
      jitterRmsPx: round(jitterRmsPx),
      noisyStillJitterRmsPx: round(noisyJitterRmsPx),
      expression,
      eyesClosingGain: eyesClosing,
      clearlyOpenFrames: openFrames,
      clearlyOpenRenderedClosed: round(openRenderedClosed / Math.max(1, openFrames)),
      closedMouth: {
        frames: seamRatios.length,
        portraitSeamPx: round(refSeam.thicknessPx, 2),
        portraitSeamColour: refSeam.colour,
        medianSeamRatio: round(percentile(seamRatios, 0.5)),
        p95SeamRatio: round(percentile(seamRatios, 0.95)),
        bandFrames: round(seamRatios.filter((r) => r > BAND_LIMIT).length / Math.max(1, seamRatios.length)),
        seamColour: seamColour.map((c) => Math.round(c / Math.max(1, seamRatios.length))),
      },
      renderMsMean: round(renderMs / driving.length, 2),
      sheets: sheetPaths,
    });
    console.log(JSON.stringify(results.at(-1)));
  }
  await tracker.close();
  await videoTracker.close();
  type Scored = { pose: Record<string, { correlation: number }>; meanPoseErrorDeg: number; jitterRmsPx: number; noisyStillJitterRmsPx: number; identityDriftPx: number; expression: Record<Reported, { rendered: Follow }>; eyesClosingGain: { rendered: number }; clearlyOpenRenderedClosed: number; closedMouth: { bandFrames: number; p95SeamRatio: number } };
  const ok = results.filter((r) => 'pose' in r) as unknown as Scored[];
  const worst = (pick: (r: Scored) => number, lowest: boolean): number => round(lowest ? Math.min(...ok.map(pick)) : Math.max(...ok.map(pick)));
  const summary = {
    eval: 'meshwarp',
    frames: driving.length,
    presets: results.length,
    minPoseCorrelation: round(Math.min(...ok.flatMap((r) => Object.values(r.pose).map((a) => a.correlation)))),
    maxMeanPoseErrorDeg: worst((r) => r.meanPoseErrorDeg, false),
    maxJitterRmsPx: worst((r) => r.jitterRmsPx, false),
    maxNoisyStillJitterRmsPx: worst((r) => r.noisyStillJitterRmsPx, false),
    maxAbsIdentityDriftPx: worst((r) => Math.abs(r.identityDriftPx), false),
    expression: Object.fromEntries(REPORTED.map((k) => [k, {
      minCorrelation: worst((r) => r.expression[k].rendered.correlation, true),
      gainRange: [worst((r) => r.expression[k].rendered.gain, true), worst((r) => r.expression[k].rendered.gain, false)],
    }])),
    eyesClosingGainRange: [worst((r) => r.eyesClosingGain.rendered, true), worst((r) => r.eyesClosingGain.rendered, false)],
    maxClearlyOpenRenderedClosed: worst((r) => r.clearlyOpenRenderedClosed, false),
    maxClosedMouthBandFrames: worst((r) => r.closedMouth.bandFrames, false),
    goals: {
      poseCorrelation: 0.9, meanPoseErrorDeg: 3, jitterRmsPx: 0.5,
      mouthOpen: { correlation: 0.9, gain: [0.8, 1.2], clearlyOpenRenderedClosed: 0.1 },
      eyes: { correlation: 0.9, closingGain: 0.8 }, brows: { correlation: 0.85, gain: 0.7 }, mouthWidth: { gain: [0.8, 1.2] },
      closedMouthBand: `seam no thicker than ${BAND_LIMIT}x the portrait's own`,
    },
    wallSeconds: round((performance.now() - t0) / 1000, 1),
    results,
  };
  if (SHEETS) {
    // Complete or not at all: a temp name, then the rename.
    const path = join(SHEET_DIR, 'summary.json');
    await writeFile(`${path}.${process.pid}.tmp`, JSON.stringify(summary, null, 2));
    await rename(`${path}.${process.pid}.tmp`, path);
  }
  console.log(JSON.stringify(summary));
}

await main();
