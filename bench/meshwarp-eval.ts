/**
 * eval:meshwarp — quality of the built-in generator, measured with the same face tracker:
 *  (a) pose follow: yaw/pitch/roll of the driver relative to its first frame vs. the output
 *      relative to the reference (mean absolute error in degrees, Pearson correlation);
 *  (b) identity stability: the output's rigid-landmark geometry, normalised for position,
 *      size and rotation, vs. the reference's, over the whole video (mean error and drift
 *      between the first and last tenth, in reference pixels);
 *  (c) jitter: a still driving frame repeated; RMS motion of the output's landmarks (px);
 *      also with camera-like sensor noise added to each repeat (noisyStillJitterRmsPx).
 * For each preset portrait in ../shared/data/presets. EVAL_FRAMES=N limits the frames.
 * Last line: one JSON object with the figures.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createHumanTracker, type HumanTracker } from '../daemon/generators/meshwarp/tracking/human-tracker.js';
import { createMeshwarpGenerator } from '../daemon/generators/meshwarp/index.js';
import { decodeVideoFrames } from '../daemon/media/decode.js';
import { fitSquare, loadImageRgb } from '../daemon/media/image.js';
import type { Frame, RgbImage } from '../daemon/frames.js';
import { bestRotation, createFaceFrame, normalizeFace, RIGID_INDICES } from '../daemon/generators/meshwarp/transfer.js';
import { pearson, relativeAngles } from '../daemon/generators/meshwarp/pose-follow.js';
import { LANDMARK_COUNT } from '../daemon/generators/meshwarp/tracking/types.js';

const DATA = process.env.PERSONALIVE_DEMO_DATA ?? join(import.meta.dirname, '..', '..', 'shared', 'data');
const MAX_FRAMES = process.env.EVAL_FRAMES ? Number(process.env.EVAL_FRAMES) : undefined;
const DEPTH_SCALE = process.env.EVAL_DEPTH_SCALE ? Number(process.env.EVAL_DEPTH_SCALE) : undefined;
const VERTICAL_DEPTH_SCALE = process.env.EVAL_VERTICAL_DEPTH_SCALE ? Number(process.env.EVAL_VERTICAL_DEPTH_SCALE) : undefined;
const PRESETS = process.env.EVAL_PRESETS?.split(',');
const TRACKERS = process.env.EVAL_TRACKERS ? Number(process.env.EVAL_TRACKERS) : undefined;
/** EVAL_SMOOTHING=minCutoff,beta,dCutoff overrides the One-Euro parameters. */
const SMOOTHING = process.env.EVAL_SMOOTHING ? (([minCutoff, beta, dCutoff]) => ({ minCutoff, beta, dCutoff }))(process.env.EVAL_SMOOTHING.split(',').map(Number)) : undefined;
const JITTER_FRAMES = 100;
const SIZE = 512;

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
async function stillJitter(generator: Awaited<ReturnType<typeof createMeshwarpGenerator>>, frame: RgbImage, firstIndex: number, noise: number): Promise<number> {
  await generator.reset();
  const still: Float32Array[] = [];
  const consume = async (frames: Frame[]): Promise<void> => {
    for (const out of frames) {
      const face = (await evalTracker.track(out)).face;
      if (face) still.push(Float32Array.from(face.landmarks));
    }
  };
  for (let i = 0; i < JITTER_FRAMES; i++) {
    await consume(await generator.push({ ...frame, data: withSensorNoise(frame.data, noise, i + 1), index: i, captureUs: (firstIndex + i) * 40_000, warmup: false }));
  }
  await consume(await generator.flush());
  const settled = still.slice(10); // after the smoother's warm-up
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

let evalTracker: HumanTracker;

async function main(): Promise<void> {
  const t0 = performance.now();
  const tracker = await createHumanTracker({ mode: 'image' });
  evalTracker = tracker;
  const driving: RgbImage[] = [];
  for await (const f of decodeVideoFrames(join(DATA, 'driving.mp4'), { width: SIZE, height: SIZE, maxFrames: MAX_FRAMES })) {
    driving.push({ data: f.data, width: SIZE, height: SIZE });
  }
  process.stderr.write(`tracking ${driving.length} driving frames...\n`);
  const driverLandmarks = await trackAll(tracker, driving);
  const first = driverLandmarks.find((l) => l !== null)!;
  const driverAngles = driverLandmarks.map((l) => (l ? relativeAngles(first, l) : null));

  const presets = (await readdir(join(DATA, 'presets'))).filter((f) => /\.(jpe?g|png|webp)$/i.test(f) && (!PRESETS || PRESETS.includes(f))).sort();
  const results: Record<string, unknown>[] = [];
  for (const preset of presets) {
    process.stderr.write(`preset ${preset}...\n`);
    const reference = await fitSquare(await loadImageRgb(join(DATA, 'presets', preset)), SIZE);
    const refFace = (await tracker.track(reference)).face;
    if (!refFace) {
      results.push({ preset, error: 'no face found in the preset' });
      continue;
    }
    const generator = await createMeshwarpGenerator({ size: SIZE, depthScale: DEPTH_SCALE, verticalDepthScale: VERTICAL_DEPTH_SCALE, trackers: TRACKERS, smoothing: SMOOTHING });
    await generator.fuseReference(reference);
    const axes: { drv: number[]; out: number[] }[] = [0, 1, 2].map(() => ({ drv: [], out: [] }));
    const identity: number[] = [];
    let lostOutput = 0;
    const consume = async (frames: Frame[]): Promise<void> => {
      for (const frame of frames) {
        const face = (await tracker.track(frame)).face;
        const drv = driverAngles[frame.index];
        if (!face) {
          lostOutput++;
          continue;
        }
        identity.push(identityError(refFace.landmarks, face.landmarks));
        if (!drv) continue;
        const out = relativeAngles(refFace.landmarks, face.landmarks);
        for (let k = 0; k < 3; k++) {
          axes[k].drv.push(drv[k]);
          axes[k].out.push(out[k]);
        }
      }
    };
    for (let i = 0; i < driving.length; i++) {
      await consume(await generator.push({ ...driving[i], index: i, captureUs: i * 40_000, warmup: false }));
    }
    await consume(await generator.flush());
    const stats = await generator.stats();

    // Jitter: the first driving frame, repeated: exactly (the measure), then with
    // camera-like sensor noise (a fresh Gaussian, sigma SENSOR_NOISE levels, per frame).
    const jitterRmsPx = await stillJitter(generator, driving[0], driving.length, 0);
    const noisyJitterRmsPx = await stillJitter(generator, driving[0], driving.length, SENSOR_NOISE);
    await generator.close();

    const names = ['pitch', 'yaw', 'roll'] as const;
    const pose = Object.fromEntries(
      names.map((name, k) => {
        const { drv, out } = axes[k];
        const mae = drv.reduce((s, v, i) => s + Math.abs(v - out[i]), 0) / Math.max(1, drv.length);
        return [name, { mae: round(mae), correlation: round(pearson(drv, out)), driverRange: round(Math.max(...drv) - Math.min(...drv), 1) }];
      }),
    );
    const tenth = Math.max(1, Math.floor(identity.length / 10));
    const mean = (v: number[]): number => v.reduce((s, x) => s + x, 0) / Math.max(1, v.length);
    results.push({
      preset,
      frames: driving.length,
      outputFramesTracked: identity.length,
      outputFramesWithoutFace: lostOutput,
      drivingFramesWithoutFace: stats.framesWithoutFace,
      pose,
      meanPoseErrorDeg: round((pose.pitch.mae + pose.yaw.mae + pose.roll.mae) / 3),
      identityErrorPx: round(mean(identity)),
      identityDriftPx: round(mean(identity.slice(-tenth)) - mean(identity.slice(0, tenth))),
      jitterRmsPx: round(jitterRmsPx),
      noisyStillJitterRmsPx: round(noisyJitterRmsPx),
      renderMsMean: round(stats.stages.render.totalMs / stats.stages.render.count, 2),
      trackMsMean: round(stats.stages.track.totalMs / stats.stages.track.count, 2),
    });
    console.log(JSON.stringify(results.at(-1)));
  }
  await tracker.close();
  type Scored = { pose: Record<string, { correlation: number }>; meanPoseErrorDeg: number; jitterRmsPx: number; noisyStillJitterRmsPx: number; identityDriftPx: number };
  const ok = results.filter((r) => 'pose' in r) as unknown as Scored[];
  const summary = {
    eval: 'meshwarp',
    frames: driving.length,
    presets: results.length,
    minPoseCorrelation: round(Math.min(...ok.flatMap((r) => Object.values(r.pose).map((a) => a.correlation)))),
    maxMeanPoseErrorDeg: round(Math.max(...ok.map((r) => r.meanPoseErrorDeg))),
    maxJitterRmsPx: round(Math.max(...ok.map((r) => r.jitterRmsPx))),
    maxNoisyStillJitterRmsPx: round(Math.max(...ok.map((r) => r.noisyStillJitterRmsPx))),
    maxAbsIdentityDriftPx: round(Math.max(...ok.map((r) => Math.abs(r.identityDriftPx)))),
    goals: { poseCorrelation: 0.9, meanPoseErrorDeg: 3, jitterRmsPx: 0.5 },
    wallSeconds: round((performance.now() - t0) / 1000, 1),
    results,
  };
  console.log(JSON.stringify(summary));
}

await main();
