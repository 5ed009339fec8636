/**
 * The streaming engine over tiny generated packs: ordering, tracing each output frame to
 * its own driving frame, the window delay, keyframes, reference swap, reset and flush.
 *
 * The test pack's step graph predicts noise such that one DDIM step recovers a clean latent
 * g(frame) that is affine in that frame's motion embedding (2 x mean of its face crop), its
 * pose features and the reference states' mean; the decoders are linear. So an output
 * frame's brightness follows its own driving frame's brightness.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestPack } from '../../../models/test-pack.js';
import { loadPack, openPackGraphs } from '../../../models/pack.js';
import { PersonaLiveEngine, type DecoderChoice, type EngineGraphs } from '../../../daemon/generators/personalive/engine.js';
import type { Frame, RgbImage } from '../../../daemon/frames.js';
import { createPersonaLiveGenerator } from '../../../daemon/generators/personalive/index.js';
import type { GraphSession } from '../../../daemon/ort/onnx-runtime.js';
import { PersonaLiveError } from '../../../daemon/errors.js';
import { pearson } from '../../../daemon/generators/meshwarp/pose-follow.js';

const R = 64;
let root: string;
let denoiserPack: string;
let unetWorkPack: string;
let bytesPack: string;
const sessionsToRelease: GraphSession[] = [];

function solid(value: number, size = R, rgb: [number, number, number] = [value, value, value]): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) data.set(rgb, i * 3);
  return { data, width: size, height: size };
}

function drivingFrame(index: number, value: number): Frame {
  return { ...solid(value), index, captureUs: index * 40_000, warmup: false };
}

function meanOf(frame: Frame): number {
  let sum = 0;
  for (const v of frame.data) sum += v;
  return sum / frame.data.length;
}

async function makeEngine(packDir: string, decoder: DecoderChoice = 'tiny', seed = 7): Promise<PersonaLiveEngine> {
  const pack = await loadPack(packDir);
  const kind = pack.manifest.components.step.kind;
  const decoderComponent = kind === 'unet_work' ? [] : [decoder === 'tiny' ? 'tiny_decoder' : 'vae_decoder'] as const;
  const sessions = await openPackGraphs(pack, 'cpu', ['image_encoder', 'vae_encoder', 'reference_unet', 'motion_extractor', 'motion_encoder', 'pose_guider', 'step', ...decoderComponent]);
  sessionsToRelease.push(...(Object.values(sessions) as GraphSession[]));
  const graphs: EngineGraphs = {
    image_encoder: sessions.image_encoder!,
    vae_encoder: sessions.vae_encoder!,
    reference_unet: sessions.reference_unet!,
    motion_extractor: sessions.motion_extractor!,
    motion_encoder: sessions.motion_encoder!,
    pose_guider: sessions.pose_guider!,
    step: sessions.step!,
    decoder: kind === 'unet_work' ? undefined : sessions[decoder === 'tiny' ? 'tiny_decoder' : 'vae_decoder'],
  };
  return new PersonaLiveEngine(pack.manifest, graphs, { decoder, seed });
}

async function pushAll(engine: PersonaLiveEngine, frames: Frame[]): Promise<Frame[][]> {
  const perPush: Frame[][] = [];
  for (const f of frames) perPush.push(await engine.push(f));
  return perPush;
}

/** A deterministic shuffle of brightness values, so neighbouring frames are unrelated. */
function brightnessSequence(count: number): number[] {
  const values: number[] = [];
  let x = 12345;
  for (let i = 0; i < count; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    values.push(60 + (x % 140));
  }
  return values;
}


beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'personalive-engine-'));
  denoiserPack = join(root, 'denoiser');
  unetWorkPack = join(root, 'unet-work');
  await buildTestPack(denoiserPack, { resolution: R, stepKind: 'denoiser' });
  await buildTestPack(unetWorkPack, { resolution: R, stepKind: 'unet_work' });
  bytesPack = join(root, 'bytes');
  await buildTestPack(bytesPack, { resolution: R, stepKind: 'denoiser', decoderOutput: 'bytes' });
});

afterAll(async () => {
  await Promise.all(sessionsToRelease.map((s) => s.release()));
  await rm(root, { recursive: true, force: true });
});

describe('streaming window', () => {
  it('takes 4 frames per step, emits 4 per step, warm-up first, then driving frames in order 3 steps later', async () => {
    const engine = await makeEngine(denoiserPack);
    await engine.fuseReference(solid(128));
    const frames = Array.from({ length: 32 }, (_, i) => drivingFrame(i, 100));
    const perPush = await pushAll(engine, frames);
    perPush.forEach((out, i) => expect(out.length, `push ${i}`).toBe(i % 4 === 3 ? 4 : 0));
    const all = perPush.flat();
    // Steps 0..2 emit the 12 warm-up frames; step s >= 3 emits driving chunk s - 3.
    expect(all.slice(0, 12).every((f) => f.warmup && f.index === -1)).toBe(true);
    const driving = all.slice(12);
    expect(driving.map((f) => f.index)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(driving.map((f) => f.captureUs)).toEqual(Array.from({ length: 20 }, (_, i) => i * 40_000));
    expect(engine.chunkDelaySteps).toBe(3);
    // The first driving frame comes out with the 4th step, i.e. 3 steps after it went in.
    const firstDrivingPush = perPush.findIndex((out) => out.some((f) => !f.warmup));
    expect(firstDrivingPush).toBe(15);
    for (const f of all) {
      expect(f.width).toBe(R);
      expect(f.data.length).toBe(R * R * 3);
    }
  });

  it('each output frame traces back to its own driving frame', async () => {
    const engine = await makeEngine(denoiserPack);
    await engine.fuseReference(solid(128));
    const values = brightnessSequence(48);
    const frames = values.map((v, i) => drivingFrame(i, v));
    const out = [...(await pushAll(engine, frames)).flat(), ...(await engine.flush())].filter((f) => !f.warmup);
    expect(out.map((f) => f.index)).toEqual(values.map((_, i) => i));
    const outMeans = out.map(meanOf);
    const aligned = pearson(values, outMeans);
    const shifted = pearson(values.slice(1), outMeans.slice(0, -1));
    expect(Math.abs(aligned)).toBeGreaterThan(0.98); // the sign depends on the test pack's weights
    expect(Math.abs(shifted)).toBeLessThan(0.5);
  });

  it('flush pads the last partial chunk, drains the window and emits no padding', async () => {
    const engine = await makeEngine(denoiserPack);
    await engine.fuseReference(solid(128));
    const values = brightnessSequence(10);
    const pushed = (await pushAll(engine, values.map((v, i) => drivingFrame(i, v)))).flat();
    const flushed = await engine.flush();
    const driving = [...pushed, ...flushed].filter((f) => !f.warmup);
    expect(driving.map((f) => f.index)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    // 10 frames = 2 full chunks + 2 frames padded to a third chunk, then drained: 3 + 3 steps.
    expect(engine.steps).toBe(0); // flush restarts the stream
    expect(await engine.flush()).toEqual([]);
  });

  it('reset restarts the stream with the same reference: same frames again', async () => {
    const engine = await makeEngine(denoiserPack);
    await engine.fuseReference(solid(150));
    const values = brightnessSequence(16);
    const first = (await pushAll(engine, values.map((v, i) => drivingFrame(i, v)))).flat();
    engine.resetStream();
    const second = (await pushAll(engine, values.map((v, i) => drivingFrame(i, v)))).flat();
    expect(second.map((f) => f.index)).toEqual(first.map((f) => f.index));
    second.forEach((f, i) => expect(Buffer.from(f.data).equals(Buffer.from(first[i].data)), `frame ${i}`).toBe(true));
  });

  it('refuses driving frames before a reference is fused', async () => {
    const engine = await makeEngine(denoiserPack);
    await expect(engine.push(drivingFrame(0, 1))).rejects.toMatchObject({ code: 'NO_REFERENCE' });
  });
});

describe('historical keyframes', () => {
  it('never adds a keyframe while the driver stays close to the reference (distance <= tau)', async () => {
    const engine = await makeEngine(denoiserPack);
    await engine.fuseReference(solid(128));
    await pushAll(engine, Array.from({ length: 80 }, (_, i) => drivingFrame(i, 129)));
    expect(engine.steps).toBe(20);
    expect(engine.keyframes).toBe(0);
  });

  it('adds the first keyframe only after step 8, and grows the reference states by one length', async () => {
    const engine = await makeEngine(denoiserPack);
    await engine.fuseReference(solid(128));
    const base = engine.referenceStateLengths();
    const counts: number[] = [];
    // A driver far from the reference from the very first frame: eligible at every step.
    for (let i = 0; i < 64; i++) {
      await engine.push(drivingFrame(i, 20));
      if (i % 4 === 3) counts.push(engine.keyframes);
    }
    // Steps 0..8 add nothing; step 9 (the 10th) adds one; identical frames add no more.
    expect(counts.slice(0, 9)).toEqual(new Array(9).fill(0));
    expect(counts[9]).toBe(1);
    expect(counts.at(-1)).toBe(1);
    expect(engine.referenceStateLengths()).toEqual(base.map((l) => 2 * l));
  });

  it('keeps at most 3 keyframes however far the driver moves', async () => {
    const engine = await makeEngine(denoiserPack);
    await engine.fuseReference(solid(128));
    const base = engine.referenceStateLengths();
    // Each new 4-frame chunk differs strongly from everything before it.
    const levels = [10, 250, 40, 220, 70, 190, 100, 160, 5, 245, 30, 230, 60, 200, 90, 170, 15, 240, 45, 210];
    const frames = levels.flatMap((v, chunk) => Array.from({ length: 4 }, (_, j) => drivingFrame(chunk * 4 + j, v)));
    await pushAll(engine, frames);
    expect(engine.keyframes).toBe(3);
    expect(engine.referenceStateLengths()).toEqual(base.map((l) => 4 * l));
  });
});

describe('reference swap', () => {
  it('re-fuses mid-run without new sessions: the stream restarts from a warm-up and the frames follow the new reference', async () => {
    const engine = await makeEngine(denoiserPack);
    await engine.fuseReference(solid(60));
    const values = brightnessSequence(24);
    const before = (await pushAll(engine, values.slice(0, 16).map((v, i) => drivingFrame(i, v)))).flat();
    await engine.fuseReference(solid(220, 96)); // another size: resized to the model resolution
    expect(engine.steps).toBe(0);
    expect(engine.keyframes).toBe(0);
    const after = (await pushAll(engine, values.slice(0, 16).map((v, i) => drivingFrame(16 + i, v)))).flat();
    expect(after.slice(0, 12).every((f) => f.warmup)).toBe(true);
    expect(after.slice(12).map((f) => f.index)).toEqual([16, 17, 18, 19]);
    // Same driving frames, another reference: different pixels.
    const same = before.slice(12, 16);
    const swapped = after.slice(12, 16);
    const diff = same.reduce((s, f, i) => s + Math.abs(meanOf(f) - meanOf(swapped[i])), 0);
    expect(diff).toBeGreaterThan(1);
  });
});

describe('step-graph kinds and decoders agree', () => {
  it('engine-side DDIM (denoiser) and in-graph DDIM (unet_work) give the same frames', async () => {
    const a = await makeEngine(denoiserPack, 'vae');
    const b = await makeEngine(unetWorkPack, 'vae');
    await a.fuseReference(solid(128));
    await b.fuseReference(solid(128));
    const values = brightnessSequence(24);
    const fa = (await pushAll(a, values.map((v, i) => drivingFrame(i, v)))).flat();
    const fb = (await pushAll(b, values.map((v, i) => drivingFrame(i, v)))).flat();
    expect(fb.map((f) => f.index)).toEqual(fa.map((f) => f.index));
    fa.forEach((f, i) => {
      let maxDiff = 0;
      for (let k = 0; k < f.data.length; k++) maxDiff = Math.max(maxDiff, Math.abs(f.data[k] - fb[i].data[k]));
      expect(maxDiff, `frame ${i}`).toBeLessThanOrEqual(2);
    });
  });

  it('the fused step\'s window state and the reference states fed as kept tensors (as on webgpu, where they stay on the GPU) give exactly the host-copy frames', async () => {
    const keeping = await makeEngine(unetWorkPack, 'vae');
    const copying = await makeEngine(unetWorkPack, 'vae');
    // The same sessions seen through run() only: every step copies the window state to the host and back.
    const graphs = (copying as unknown as { graphs: EngineGraphs }).graphs;
    const step = graphs.step;
    let kept = 0;
    const realKeeping = (keeping as unknown as { graphs: EngineGraphs }).graphs.step;
    (keeping as unknown as { graphs: EngineGraphs }).graphs.step = {
      providers: realKeeping.providers,
      run: (feeds) => realKeeping.run(feeds),
      runKeeping: async (feeds, keep) => {
        if (Object.values(feeds).some((f) => (f as { kept?: boolean }).kept)) kept++;
        return realKeeping.runKeeping!(feeds, keep);
      },
    };
    graphs.step = { providers: step.providers, run: (feeds) => step.run(feeds) };
    const reference = graphs.reference_unet;
    graphs.reference_unet = { providers: reference.providers, run: (feeds) => reference.run(feeds) };
    let keptStates = 0;
    const keepingStep = (keeping as unknown as { graphs: EngineGraphs }).graphs.step;
    const countingRun = keepingStep.runKeeping!;
    keepingStep.runKeeping = (feeds, keep) => {
      if ((feeds.d00 as { kept?: boolean }).kept) keptStates++;
      return countingRun(feeds, keep);
    };
    await keeping.fuseReference(solid(128));
    await copying.fuseReference(solid(128));
    // Chunks far from each other, past step 8: history keyframes then grow the states on the host.
    const levels = [10, 250, 40, 220, 70, 190, 100, 160, 5, 245, 30, 230, 60, 200];
    const values = levels.flatMap((v) => [v, v, v, v]);
    const fk = (await pushAll(keeping, values.map((v, i) => drivingFrame(i, v)))).flat();
    const fc = (await pushAll(copying, values.map((v, i) => drivingFrame(i, v)))).flat();
    expect(fk.length).toBeGreaterThan(8);
    expect(kept).toBeGreaterThan(0); // later steps were fed the kept state
    expect(keptStates).toBeGreaterThan(0); // and the reference UNet's own kept states
    expect(keeping.keyframes).toBeGreaterThan(0); // then the host-grown ones
    expect(fk.map((f) => f.index)).toEqual(fc.map((f) => f.index));
    fk.forEach((f, i) => expect(Buffer.compare(Buffer.from(f.data), Buffer.from(fc[i].data)), `frame ${i}`).toBe(0));
    // A new reference rewrites the window on the host: the kept state is dropped, frames still agree.
    await keeping.fuseReference(solid(60));
    await copying.fuseReference(solid(60));
    const gk = (await pushAll(keeping, values.slice(0, 12).map((v, i) => drivingFrame(100 + i, v)))).flat();
    const gc = (await pushAll(copying, values.slice(0, 12).map((v, i) => drivingFrame(100 + i, v)))).flat();
    gk.forEach((f, i) => expect(Buffer.compare(Buffer.from(f.data), Buffer.from(gc[i].data)), `after the swap, frame ${i}`).toBe(0));
  });

  it('full VAE and TinyVAE decoders are a runtime switch with equal results on the test pack', async () => {
    const vae = await makeEngine(denoiserPack, 'vae');
    const tiny = await makeEngine(denoiserPack, 'tiny');
    await vae.fuseReference(solid(90));
    await tiny.fuseReference(solid(90));
    const frames = brightnessSequence(16).map((v, i) => drivingFrame(i, v));
    const fv = (await pushAll(vae, frames)).flat();
    const ft = (await pushAll(tiny, frames)).flat();
    fv.forEach((f, i) => {
      let maxDiff = 0;
      for (let k = 0; k < f.data.length; k++) maxDiff = Math.max(maxDiff, Math.abs(f.data[k] - ft[i].data[k]));
      expect(maxDiff, `frame ${i}`).toBeLessThanOrEqual(1);
    });
  });
});

describe('decoders that output RGB bytes', () => {
  it('copies the bytes the graph made (no CPU conversion) and matches the float decoders', async () => {
    for (const decoder of ['tiny', 'vae'] as const) {
      const floats = await makeEngine(denoiserPack, decoder);
      const bytes = await makeEngine(bytesPack, decoder);
      await floats.fuseReference(solid(100));
      await bytes.fuseReference(solid(100));
      const frames = brightnessSequence(20).map((v, i) => drivingFrame(i, v));
      const ff = (await pushAll(floats, frames)).flat();
      const fb = (await pushAll(bytes, frames)).flat();
      expect(fb.map((f) => f.index)).toEqual(ff.map((f) => f.index));
      ff.forEach((f, i) => {
        let maxDiff = 0;
        for (let k = 0; k < f.data.length; k++) maxDiff = Math.max(maxDiff, Math.abs(f.data[k] - fb[i].data[k]));
        expect(maxDiff, `${decoder} frame ${i}`).toBeLessThanOrEqual(1);
      });
    }
  });
});

describe('worker-hosted generator', () => {
  it('runs the engine in a worker thread and reports the provider of every graph', async () => {
    const generator = await createPersonaLiveGenerator({ packDir: denoiserPack, device: 'cpu', verifyChecksums: true });
    try {
      expect(generator.info.decoder).toBe('tiny');
      expect(generator.outputSize).toEqual({ width: R, height: R });
      await generator.fuseReference(solid(128));
      const out: Frame[] = [];
      for (let i = 0; i < 10; i++) out.push(...(await generator.push(drivingFrame(i, 100 + i))));
      out.push(...(await generator.flush()));
      expect(out.filter((f) => !f.warmup).map((f) => f.index)).toEqual(Array.from({ length: 10 }, (_, i) => i));
      const stats = await generator.stats();
      expect(stats.providers).toEqual({
        image_encoder: ['cpu'], vae_encoder: ['cpu'], reference_unet: ['cpu'], motion_extractor: ['cpu'],
        motion_encoder: ['cpu'], pose_guider: ['cpu'], step: ['cpu'], tiny_decoder: ['cpu'],
      });
      expect(stats.framesIn).toBe(10);
      expect(stats.framesOut).toBe(10);
      expect(stats.stages.step.count).toBeGreaterThan(0);
    } finally {
      await generator.close();
    }
    await expect(generator.push(drivingFrame(0, 1))).rejects.toMatchObject({ code: 'ENGINE_CLOSED' });
  });

  it('animates a wide photo\'s centre square (where the camera picture pastes it back), not the photo stretched', async () => {
    const generator = await createPersonaLiveGenerator({ packDir: denoiserPack, device: 'cpu', verifyChecksums: false });
    const run = async (reference: RgbImage): Promise<Frame[]> => {
      await generator.fuseReference(reference);
      await generator.reset();
      const out: Frame[] = [];
      for (let i = 0; i < 6; i++) out.push(...(await generator.push(drivingFrame(i, 90 + 5 * i))));
      return [...out, ...(await generator.flush())].filter((f) => !f.warmup);
    };
    try {
      // A 2:1 photo: dark bars left and right of a bright centre square.
      const wide = solid(0, 1);
      wide.width = 2 * R;
      wide.height = R;
      wide.data = new Uint8Array(2 * R * R * 3);
      for (let y = 0; y < R; y++) for (let x = R / 2; x < R / 2 + R; x++) wide.data.fill(200, (y * 2 * R + x) * 3, (y * 2 * R + x) * 3 + 3);
      const fromWide = await run(wide);
      const fromSquare = await run(solid(200));
      expect(fromWide.map(meanOf)).toEqual(fromSquare.map(meanOf));
    } finally {
      await generator.close();
    }
  });

  it('refuses TinyVAE with a fused unet_work pack, naming what the pack has', async () => {
    const error = await createPersonaLiveGenerator({ packDir: unetWorkPack, device: 'cpu', decoder: 'tiny', verifyChecksums: false }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PersonaLiveError);
    expect((error as PersonaLiveError).code).toBe('DECODER_UNAVAILABLE');
    expect((error as PersonaLiveError).message).toContain('fused unet_work');
  });

  it('refuses an unavailable device with the list of available ones', async () => {
    const error = await createPersonaLiveGenerator({ packDir: denoiserPack, device: 'tensorrt', verifyChecksums: false }).then(
      () => null,
      (e: unknown) => e,
    );
    expect((error as PersonaLiveError).code).toBe('DEVICE_UNAVAILABLE');
    expect((error as PersonaLiveError).message).toContain('Available devices: cpu');
  });
});
