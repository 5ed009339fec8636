/**
 * bench:tracking — the face tracker's cost per 512x512 frame of driving.mp4 in 'image' mode
 * (detector on every frame) and 'video' mode (detector reused between frames), and the
 * landmark smoother's effect: jitter on a still face, lag on a moving one.
 *
 *   npm run bench:tracking [-- FRAMES]      (default 200; BENCH_SMOOTHING=0 skips smoothing;
 *                                           BENCH_ENGINES=onnx or tfjs picks one engine;
 *                                           BENCH_SMOOTHING_PARAMS="1,0.3,0.5;..." adds
 *                                           One-Euro settings to compare with the default)
 *
 * Figures per frame: `roundTripMs` is what a caller waits (copy to the worker, tracking,
 * reply); `trackMs` is the worker's own time. Last line: one JSON object with the figures.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { decodeVideoFrames } from '../daemon/media/decode.js';
import { loadImageRgb } from '../daemon/media/image.js';
import type { RgbImage } from '../daemon/frames.js';
import { TRACKER_ENGINES, createHumanTracker, type TrackerEngine, type TrackerMode } from '../daemon/generators/meshwarp/tracking/human-tracker.js';
import { LANDMARK_SMOOTHING, LandmarkSmoother, type OneEuroParams } from '../daemon/generators/meshwarp/tracking/one-euro.js';
import { MESH_POINTS } from '../daemon/generators/meshwarp/tracking/types.js';

const FRAMES = Number(process.argv[2] ?? process.env.BENCH_FRAMES ?? 200);
const WARMUP = 5;
/** BENCH_ENGINES=onnx,tfjs (default: both). */
const ENGINES = (process.env.BENCH_ENGINES?.split(',') ?? [...TRACKER_ENGINES]) as TrackerEngine[];
const SIZE = 512;
const FRAME_MS = 40; // driving.mp4 and the smoothing runs are 25 fps
const DATA = process.env.PERSONALIVE_DEMO_DATA ?? join(import.meta.dirname, '..', '..', 'shared', 'data');

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
const round = (v: number, digits = 2): number => Number(v.toFixed(digits));

interface ModeResult {
  mode: TrackerMode;
  frames: number;
  roundTripMs: { median: number; p95: number };
  trackMs: { median: number; p95: number };
  facesFound: number;
  tensorsBefore: number;
  tensorsAfter: number;
  /** Mean |second difference| of the mesh points (px/frame^2): raw and smoothed. */
  accelRaw: number;
  accelSmoothed: number;
}

/** Mean |x[t+1] - 2 x[t] + x[t-1]| over consecutive frames with a face, mesh x and y. */
function meanAcceleration(series: Float32Array[]): number {
  let sum = 0;
  let count = 0;
  for (let t = 1; t + 1 < series.length; t++) {
    const [a, b, c] = [series[t - 1], series[t], series[t + 1]];
    for (let i = 0; i < MESH_POINTS * 3; i++) {
      if (i % 3 === 2) continue;
      sum += Math.abs(c[i] - 2 * b[i] + a[i]);
      count++;
    }
  }
  return count ? sum / count : 0;
}

async function benchMode(mode: TrackerMode, frames: Uint8Array[], engine: TrackerEngine): Promise<ModeResult & { backend: string; engine: TrackerEngine }> {
  const tracker = await createHumanTracker({ mode, engine });
  const frame = (i: number): RgbImage => ({ data: frames[i % frames.length], width: SIZE, height: SIZE });
  for (let i = 0; i < WARMUP; i++) await tracker.track(frame(i));
  const tensorsBefore = (await tracker.stats()).numTensors;
  const roundTrip: number[] = [];
  const track: number[] = [];
  const raw: Float32Array[] = [];
  const smoothed: Float32Array[] = [];
  const smoother = new LandmarkSmoother();
  let found = 0;
  for (let i = 0; i < frames.length; i++) {
    const t0 = performance.now();
    const result = await tracker.track(frame(i));
    roundTrip.push(performance.now() - t0);
    track.push(result.trackMs);
    if (result.face) {
      found++;
      raw.push(result.face.landmarks);
      smoothed.push(smoother.smooth(result.face.landmarks, i * FRAME_MS, new Float32Array(result.face.landmarks.length)));
    }
  }
  const tensorsAfter = (await tracker.stats()).numTensors;
  const backend = tracker.backend;
  await tracker.close();
  return {
    mode,
    engine,
    backend,
    frames: frames.length,
    roundTripMs: { median: round(quantile(roundTrip, 0.5)), p95: round(quantile(roundTrip, 0.95)) },
    trackMs: { median: round(quantile(track, 0.5)), p95: round(quantile(track, 0.95)) },
    facesFound: found,
    tensorsBefore,
    tensorsAfter,
    accelRaw: round(meanAcceleration(raw), 3),
    accelSmoothed: round(meanAcceleration(smoothed), 3),
  };
}

// ---------------------------------------------------------------------------------------
// Smoothing: still face with sensor-like noise, and the same face moving at constant speed.

/** Deterministic LCG in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** The image with Gaussian noise of `sigma` levels added to every byte (Box-Muller). */
function withNoise(image: RgbImage, sigma: number, random: () => number): RgbImage {
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < out.length; i++) {
    const n = Math.sqrt(-2 * Math.log(Math.max(random(), 1e-12))) * Math.cos(2 * Math.PI * random()) * sigma;
    out[i] = Math.min(255, Math.max(0, Math.round(image.data[i] + n)));
  }
  return { data: out, width: image.width, height: image.height };
}

/** The image moved left by `dx` whole pixels (right edge repeated). */
function shiftedLeft(image: RgbImage, dx: number): RgbImage {
  const { width, height } = image;
  const out = new Uint8Array(image.data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (y * width + Math.min(width - 1, x + dx)) * 3;
      out.set(image.data.subarray(from, from + 3), (y * width + x) * 3);
    }
  }
  return { data: out, width, height };
}

/** RMS distance (px) of the mesh points from their mean position over the frames. */
function jitterRms(series: Float32Array[]): number {
  const mean = new Float64Array(MESH_POINTS * 2);
  for (const s of series) for (let i = 0; i < MESH_POINTS; i++) (mean[2 * i] += s[3 * i]), (mean[2 * i + 1] += s[3 * i + 1]);
  for (let i = 0; i < mean.length; i++) mean[i] /= series.length;
  let sum = 0;
  for (const s of series) {
    for (let i = 0; i < MESH_POINTS; i++) sum += (s[3 * i] - mean[2 * i]) ** 2 + (s[3 * i + 1] - mean[2 * i + 1]) ** 2;
  }
  return Math.sqrt(sum / (series.length * MESH_POINTS));
}

interface SmoothingResult {
  mode: TrackerMode;
  engine: TrackerEngine;
  params: OneEuroParams;
  stillJitterRawPx: number;
  stillJitterSmoothedPx: number;
  /** Steady-state lag of the smoothed mesh behind the true position, in frames, per speed (px/frame). */
  rampLagFrames: Record<string, number>;
  rampLagRawFrames: Record<string, number>;
}

const RAMP_SPEEDS = [1, 2, 6];

/**
 * Tracks a still reference with fresh sensor noise per frame, then the reference sliding at
 * RAMP_SPEEDS px/frame; each parameter set smooths the same tracked sequences.
 */
async function benchSmoothing(mode: TrackerMode, reference: RgbImage, engine: TrackerEngine, paramSets: OneEuroParams[]): Promise<SmoothingResult[]> {
  const tracker = await createHumanTracker({ mode, engine });
  const random = rng(7);
  const STILL = 60;
  const SETTLE = 10;
  const RAMP = 20;
  const still: Float32Array[] = [];
  for (let i = 0; i < STILL; i++) {
    const face = (await tracker.track(withNoise(reference, 3, random))).face;
    if (!face) throw new Error('bench: no face in the still reference');
    still.push(face.landmarks);
  }
  const ramps = new Map<number, Float32Array[]>();
  for (const speed of RAMP_SPEEDS) {
    const seq: Float32Array[] = [];
    for (let i = -8; i < RAMP; i++) {
      const shift = Math.max(0, i) * speed;
      const face = (await tracker.track(withNoise(shiftedLeft(reference, shift), 3, random))).face;
      if (!face) throw new Error(`bench: no face in the reference moved by ${shift} px`);
      seq.push(face.landmarks);
    }
    ramps.set(speed, seq);
  }
  await tracker.close();

  return paramSets.map((params) => {
    const smoother = new LandmarkSmoother(params);
    const smoothed = still.map((l, i) => smoother.smooth(l, i * FRAME_MS, new Float32Array(l.length)));
    const rampLagFrames: Record<string, number> = {};
    const rampLagRawFrames: Record<string, number> = {};
    for (const [speed, seq] of ramps) {
      smoother.reset();
      const base = new Float64Array(MESH_POINTS);
      const lag = { raw: 0, smoothed: 0, n: 0 };
      seq.forEach((landmarks, k) => {
        const i = k - 8;
        const s = smoother.smooth(landmarks, k * FRAME_MS);
        for (let p = 0; p < MESH_POINTS; p++) {
          if (i < 0) base[p] += landmarks[3 * p] / 8;
          else if (i >= RAMP - 8) {
            const expected = base[p] - Math.max(0, i) * speed;
            lag.raw += (landmarks[3 * p] - expected) / speed;
            lag.smoothed += (s[3 * p] - expected) / speed;
            lag.n++;
          }
        }
      });
      rampLagFrames[String(speed)] = round(lag.smoothed / lag.n);
      rampLagRawFrames[String(speed)] = round(lag.raw / lag.n);
    }
    return {
      mode,
      engine,
      params,
      stillJitterRawPx: round(jitterRms(still.slice(SETTLE)), 3),
      stillJitterSmoothedPx: round(jitterRms(smoothed.slice(SETTLE)), 3),
      rampLagFrames,
      rampLagRawFrames,
    };
  });
}

/** BENCH_SMOOTHING_PARAMS="minCutoff,beta,dCutoff;..." compares other One-Euro settings with the default. */
function smoothingParamSets(): OneEuroParams[] {
  const extra = (process.env.BENCH_SMOOTHING_PARAMS ?? '')
    .split(';')
    .filter((s) => s.trim() !== '')
    .map((s) => {
      const [minCutoff, beta, dCutoff] = s.split(',').map(Number);
      if (![minCutoff, beta, dCutoff].every(Number.isFinite)) throw new Error(`BENCH_SMOOTHING_PARAMS: "${s}" is not minCutoff,beta,dCutoff`);
      return { minCutoff, beta, dCutoff };
    });
  return [{ ...LANDMARK_SMOOTHING }, ...extra];
}

async function main(): Promise<void> {
  if (!(Number.isInteger(FRAMES) && FRAMES > 0)) throw new Error(`bench:tracking: FRAMES must be a positive integer, got ${process.argv[2]}`);
  process.stderr.write(`decoding ${FRAMES} frames of driving.mp4 at ${SIZE}x${SIZE}...\n`);
  const frames: Uint8Array[] = [];
  for await (const frame of decodeVideoFrames(join(DATA, 'driving.mp4'), { width: SIZE, height: SIZE, maxFrames: FRAMES })) frames.push(frame.data);

  const modes: (ModeResult & { backend: string; engine: TrackerEngine })[] = [];
  const smoothing: SmoothingResult[] = [];
  const reference = await loadImageRgb(join(DATA, 'reference.png'));
  for (const engine of ENGINES) {
    for (const mode of ['image', 'video'] as const) {
      process.stderr.write(`${engine}: tracking ${frames.length} frames in ${mode} mode...\n`);
      const r = await benchMode(mode, frames, engine);
      modes.push(r);
      console.log(
        `${engine.padEnd(4)} ${mode.padEnd(5)}  round trip median ${r.roundTripMs.median} ms, p95 ${r.roundTripMs.p95} ms | worker median ${r.trackMs.median} ms, ` +
          `p95 ${r.trackMs.p95} ms | faces ${r.facesFound}/${r.frames} | tensors ${r.tensorsBefore} -> ${r.tensorsAfter} | ` +
          `mesh acceleration raw ${r.accelRaw} -> smoothed ${r.accelSmoothed} px/frame^2`,
      );
    }
    console.log(`${engine} backend: ${modes.at(-1)!.backend}`);
    if (process.env.BENCH_SMOOTHING === '0') continue;
    for (const mode of ['image', 'video'] as const) {
      process.stderr.write(`${engine}: smoothing, still and moving reference in ${mode} mode...\n`);
      for (const s of await benchSmoothing(mode, reference, engine, smoothingParamSets())) {
        smoothing.push(s);
        console.log(
          `${engine.padEnd(4)} smoothing ${mode.padEnd(5)} (${JSON.stringify(s.params)}): still jitter RMS ${s.stillJitterRawPx} -> ${s.stillJitterSmoothedPx} px ` +
            `(x${round(s.stillJitterRawPx / s.stillJitterSmoothedPx)}); ramp lag frames raw ${JSON.stringify(s.rampLagRawFrames)} -> smoothed ${JSON.stringify(s.rampLagFrames)}`,
        );
      }
    }
  }
  const backend = modes.map((m) => m.backend).filter((b, i, all) => all.indexOf(b) === i);
  console.log(JSON.stringify({ bench: 'tracking', backend, frameSize: SIZE, modes, smoothingParams: LANDMARK_SMOOTHING, smoothing }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
