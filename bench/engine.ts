/**
 * bench:engine — the engine's own CPU cost per output frame, at the real contract shapes
 * (512x512 frames, a 16-frame window of 64x64 latents, real reference-state sizes), with
 * trivially cheap graphs of those shapes. Everything outside session runs is overhead the
 * GPU model would pay on top of its own time. Target: <= 2 ms per output frame.
 *
 * Last line: one JSON object with the figures.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildTestPack } from '../models/test-pack.js';
import { loadPack, openPackGraphs } from '../models/pack.js';
import { PersonaLiveEngine, type EngineGraphs, type GraphRunner } from '../daemon/generators/personalive/engine.js';
import type { FloatTensor } from '../daemon/ort/onnx-runtime.js';
import { loadImageRgb, fitSquare } from '../daemon/media/image.js';
import type { RgbImage } from '../daemon/frames.js';
import { decodeVideoFrames } from '../daemon/media/decode.js';

const STEPS = Number(process.env.BENCH_STEPS ?? 40);
const WARMUP_STEPS = 4;
const DATA = join(import.meta.dirname, '..', '..', 'shared', 'data');

/** Wraps a graph to add up the wall time spent inside session runs. */
function timedGraph(graph: GraphRunner, clock: { ms: number }): GraphRunner {
  return {
    providers: graph.providers,
    async run(feeds: Record<string, FloatTensor>) {
      const t0 = performance.now();
      try {
        return await graph.run(feeds);
      } finally {
        clock.ms += performance.now() - t0;
      }
    },
  };
}

interface VariantResult {
  decoderOutput: 'float' | 'bytes';
  kernels: string;
  overheadMsPerOutputFrame: number;
  overheadMsPerStep: number;
  graphMsPerStep: number;
  shareOutsideSessionRuns: number;
  stageMeanMs: Record<string, number>;
}

async function runVariant(dir: string, decoderOutput: 'float' | 'bytes', frames: Uint8Array[], reference: RgbImage): Promise<VariantResult> {
  const packDir = join(dir, `pack-${decoderOutput}`);
  process.stderr.write(`building a contract-shape test pack (512x512, decoder output ${decoderOutput})...\n`);
  await buildTestPack(packDir, { resolution: 512, profile: 'contract', stepKind: 'denoiser', decoderOutput });
  const pack = await loadPack(packDir);
  const sessions = await openPackGraphs(pack, 'cpu', ['image_encoder', 'vae_encoder', 'reference_unet', 'motion_extractor', 'motion_encoder', 'pose_guider', 'step', 'tiny_decoder']);
  const clock = { ms: 0 };
  const wrap = (g: GraphRunner | undefined): GraphRunner => timedGraph(g!, clock);
  const graphs: EngineGraphs = {
    image_encoder: wrap(sessions.image_encoder),
    vae_encoder: wrap(sessions.vae_encoder),
    reference_unet: wrap(sessions.reference_unet),
    motion_extractor: wrap(sessions.motion_extractor),
    motion_encoder: wrap(sessions.motion_encoder),
    pose_guider: wrap(sessions.pose_guider),
    step: wrap(sessions.step),
    decoder: wrap(sessions.tiny_decoder),
  };
  const engine = new PersonaLiveEngine(pack.manifest, graphs, { decoder: 'tiny', seed: 1 });
  await engine.fuseReference(reference);

  let measuredOutputs = 0;
  let wallMs = 0;
  let graphMs = 0;
  for (let i = 0; i < frames.length; i++) {
    const measuring = i >= WARMUP_STEPS * 4;
    const graph0 = clock.ms;
    const t0 = performance.now();
    const out = await engine.push({ data: frames[i], width: 512, height: 512, index: i, captureUs: i * 40_000, warmup: false });
    const dt = performance.now() - t0;
    if (measuring) {
      wallMs += dt;
      graphMs += clock.ms - graph0;
      measuredOutputs += out.length;
    }
  }
  for (const s of Object.values(sessions)) await s!.release();

  const overheadMs = wallMs - graphMs;
  const stats = engine.stats({});
  const stageMeanMs: Record<string, number> = {};
  for (const [k, v] of Object.entries(stats.stages)) stageMeanMs[k] = Number((v.totalMs / v.count).toFixed(3));
  return {
    decoderOutput,
    kernels: stats.kernels ?? 'n/a',
    overheadMsPerOutputFrame: Number((overheadMs / measuredOutputs).toFixed(3)),
    overheadMsPerStep: Number((overheadMs / STEPS).toFixed(3)),
    graphMsPerStep: Number((graphMs / STEPS).toFixed(3)),
    shareOutsideSessionRuns: Number((overheadMs / wallMs).toFixed(4)),
    stageMeanMs,
  };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'personalive-bench-'));
  try {
    const reference = await fitSquare(await loadImageRgb(join(DATA, 'reference.png')), 512);
    const frames: Uint8Array[] = [];
    for await (const f of decodeVideoFrames(join(DATA, 'driving.mp4'), { width: 512, height: 512, maxFrames: (STEPS + WARMUP_STEPS) * 4 })) frames.push(f.data);
    const variants: VariantResult[] = [];
    for (const decoderOutput of ['bytes', 'float'] as const) {
      const v = await runVariant(dir, decoderOutput, frames, reference);
      variants.push(v);
      console.log(
        `decoder output ${v.decoderOutput.padEnd(5)} (${v.kernels} kernels): engine overhead ${v.overheadMsPerOutputFrame.toFixed(3)} ms per output frame, ` +
          `${v.overheadMsPerStep.toFixed(2)} ms per 4-frame step, ${(100 * v.shareOutsideSessionRuns).toFixed(1)}% of wall time outside session runs`,
      );
    }
    const best = variants[0];
    console.log(
      JSON.stringify({
        bench: 'engine',
        resolution: 512,
        steps: STEPS,
        targetMsPerOutputFrame: 2,
        overheadMsPerOutputFrame: best.overheadMsPerOutputFrame,
        meetsTarget: best.overheadMsPerOutputFrame <= 2,
        note: 'trivially cheap graphs of the real shapes on CPU; the share outside session runs is an upper bound',
        variants,
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
