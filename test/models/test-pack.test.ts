/**
 * The generated test pack: complete, loadable by ONNX Runtime, shaped exactly as its
 * manifest says, and computing the documented closed-form functions (checked here against
 * values computed independently in float64).
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PersonaLiveError } from '../../daemon/errors.js';
import {
  CLIP_MEAN,
  CLIP_STD,
  COMPONENT_IO,
  MANIFEST_FILE,
  PACK_FORMAT,
  PERSONALIVE_SCHEDULER,
  PERSONALIVE_STREAMING,
  REFERENCE_STATE_NAMES,
  type ComponentSpec,
  type Dim,
  type PackManifest,
} from '../../models/contract.js';
import { attr, GraphBuilder } from '../../models/onnx/builder.js';
import { ModelProto } from '../../models/onnx/proto.js';
import {
  alphasCumprod,
  buildTestPack,
  buildTestPackInMemory,
  MOTION_EMBEDDING_DISTANCE_PER_MEAN,
  MOTION_ENCODER_GAIN,
  REFERENCE_EMBEDDING_WEIGHT,
  REFERENCE_STATE_STEP,
  STEP_MOTION_WEIGHT,
  STEP_POSE_WEIGHT,
  STEP_REFERENCE_WEIGHT,
  stepFrameSchedule,
  testPackDims,
  testPackWeights,
  type TestPackOptions,
} from '../../models/test-pack.js';

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

let root: string;
const packs = new Map<string, { dir: string; manifest: PackManifest }>();
const sessions = new Map<string, ort.InferenceSession>();

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'test-pack-'));
});

afterAll(async () => {
  for (const session of sessions.values()) await session.release();
  await rm(root, { recursive: true, force: true });
});

/** Builds (once per options) a pack under the temp root. */
async function pack(options: TestPackOptions): Promise<{ dir: string; manifest: PackManifest }> {
  const key = JSON.stringify(options);
  let entry = packs.get(key);
  if (!entry) {
    const dir = path.join(root, `pack-${packs.size}`);
    entry = { dir, manifest: await buildTestPack(dir, options) };
    packs.set(key, entry);
  }
  return entry;
}

async function session(dir: string, spec: ComponentSpec): Promise<ort.InferenceSession> {
  const file = path.join(dir, spec.file);
  let s = sessions.get(file);
  if (!s) {
    s = await ort.InferenceSession.create(file);
    sessions.set(file, s);
  }
  return s;
}

/** A small deterministic generator for test inputs (independent of the pack's). */
function rng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
}

function randomArray(n: number, lo: number, hi: number, seed: number): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * next());
}

const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);
const f32 = (data: Float32Array, dims: number[]): ort.Tensor => new ort.Tensor('float32', data, dims);
const out = (result: ort.InferenceSession.ReturnType, name: string): Float32Array => result[name].data as Float32Array;
const mean = (values: ArrayLike<number>): number => {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum / values.length;
};

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** Concrete shape for a manifest shape: dynamic axes from `dynamic` (default 2). */
function concrete(shape: readonly Dim[], dynamic: Record<string, number> = {}): number[] {
  return shape.map((d) => (typeof d === 'number' ? d : dynamic[d] ?? 2));
}

/** Mean of each 8x8 block of channel c of a [C,S,S] (or frame slice) image at offset. */
function pool8(data: Float32Array, offset: number, side: number, by: number, bx: number): number {
  let sum = 0;
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) sum += data[offset + (by * 8 + y) * side + bx * 8 + x];
  return sum / 64;
}

/** Float64 alphas_cumprod computed here, independently of the pack module. */
function referenceAlphas(): number[] {
  const out: number[] = [];
  const a = Math.sqrt(0.00085);
  const b = Math.sqrt(0.02);
  let p = 1;
  for (let i = 0; i < 1000; i++) {
    const beta = (a + ((b - a) * i) / 999) ** 2;
    p *= 1 - beta;
    out.push(p);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Dimensions, options, manifest
// ---------------------------------------------------------------------------------------

describe('test pack dimensions and options', () => {
  it('uses the documented sizes for the tiny profile at 64 and 128', () => {
    const d64 = testPackDims();
    expect(d64).toMatchObject({
      resolution: 64, latentSize: 8, latentChannels: 4, latentScale: 0.18215, embeddingDim: 16, poseChannels: 8,
      clipSize: 32, extractorSize: 32, motionCropSize: 32, motionEmbedding: [32, 16], stepKind: 'denoiser',
      decoders: ['vae', 'tiny'], windowFrames: 16, historyFrames: 12, chunkFrames: 4,
    });
    const d128 = testPackDims({ resolution: 128 });
    const byName = Object.fromEntries(d128.referenceStates.map((r) => [r.name, [r.length, r.channels]]));
    expect(d128.referenceStates.map((r) => r.name)).toEqual([...REFERENCE_STATE_NAMES]);
    expect(byName).toMatchObject({
      d00: [256, 8], d01: [256, 8], u30: [256, 8], u32: [256, 8],
      d10: [64, 16], u20: [64, 16], u22: [64, 16],
      d20: [16, 32], d21: [16, 32], u10: [16, 32], u12: [16, 32], m: [4, 32],
    });
  });

  it('matches the real model shapes in the contract profile at 512', () => {
    const d = testPackDims({ profile: 'contract', resolution: 512 });
    expect(d).toMatchObject({ latentSize: 64, embeddingDim: 768, poseChannels: 320, clipSize: 224, extractorSize: 256, motionCropSize: 224 });
    const byName = Object.fromEntries(d.referenceStates.map((r) => [r.name, [r.length, r.channels]]));
    expect(byName).toMatchObject({ d00: [4096, 320], u31: [4096, 320], d11: [1024, 640], u21: [1024, 640], d20: [256, 1280], u11: [256, 1280], m: [64, 1280] });
  });

  it('rejects a resolution that is not a positive multiple of 64 with USAGE naming --resolution', async () => {
    for (const resolution of [0, -64, 96, 100, 63.5, Number.NaN]) {
      let caught: unknown;
      try {
        testPackDims({ resolution });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(PersonaLiveError);
      expect((caught as PersonaLiveError).code).toBe('USAGE');
      expect((caught as PersonaLiveError).message).toContain('--resolution');
    }
    const dir = path.join(root, 'bad-resolution');
    await expect(buildTestPack(dir, { resolution: 100 })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(readdir(dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('rejects a denoiser pack without decoders, and allows a unet_work pack without them', () => {
    expect(() => testPackDims({ stepKind: 'denoiser', decoders: [] })).toThrowError(expect.objectContaining({ code: 'USAGE' }));
    expect(() => testPackDims({ decoders: ['big' as 'vae'] })).toThrowError(expect.objectContaining({ code: 'USAGE' }));
    const { manifest } = buildTestPackInMemory({ stepKind: 'unet_work', decoders: [] });
    expect(manifest.components.vae_decoder).toBeUndefined();
    expect(manifest.components.tiny_decoder).toBeUndefined();
    expect(buildTestPackInMemory({ decoders: ['tiny'] }).manifest.components.vae_decoder).toBeUndefined();
  });

  it('computes the scheduler constants of the published method', () => {
    const ours = alphasCumprod();
    const theirs = referenceAlphas();
    expect(maxAbsDiff(ours, theirs)).toBeLessThan(1e-15);
    expect(ours[0]).toBeCloseTo(0.99915, 12);
    // beta_end 0.02 (not SD's 0.012): about 2.3e-4 at t = 999.
    expect(ours[999]).toBeGreaterThan(2.2e-4);
    expect(ours[999]).toBeLessThan(2.4e-4);
    const schedule = stepFrameSchedule();
    expect(schedule.timesteps).toEqual([0, 0, 0, 0, 333, 333, 333, 333, 666, 666, 666, 666, 999, 999, 999, 999]);
    expect(Array.from(schedule.alphaPrev.subarray(0, 4))).toEqual([1, 1, 1, 1]);
    expect(schedule.alphaPrev[4]).toBe(ours[0]);
    expect(schedule.alphaPrev[15]).toBe(ours[666]);
  });
});

describe('test pack manifest and files', () => {
  it('writes a complete manifest with fixed I/O names, reference states and checksums', async () => {
    for (const stepKind of ['denoiser', 'unet_work'] as const) {
      const { dir, manifest } = await pack({ stepKind });
      const onDisk = JSON.parse(await readFile(path.join(dir, MANIFEST_FILE), 'utf8')) as PackManifest;
      expect(onDisk).toEqual(manifest);
      expect(manifest).toMatchObject({
        format: PACK_FORMAT, schemaVersion: 2, precision: 'float32', name: `test-pack-tiny-64-${stepKind}`,
        resolution: 64, latentSize: 8, latentChannels: 4, latentScale: 0.18215, embeddingDim: 16, poseChannels: 8,
        clipSize: 32, extractorSize: 32, motionCropSize: 32, motionEmbedding: [32, 16],
        clipMean: CLIP_MEAN, clipStd: CLIP_STD, scheduler: PERSONALIVE_SCHEDULER, streaming: PERSONALIVE_STREAMING,
      });
      expect(manifest.description).toMatch(/generated test pack/i);
      expect(manifest.description).toContain('NOT a real animation model');
      expect(manifest.referenceStates.map((r) => r.name)).toEqual([...REFERENCE_STATE_NAMES]);
      expect(manifest.components.step.kind).toBe(stepKind);
      expect(manifest.components.vae_decoder).toMatchObject({ latentMultiplier: 1 / 0.18215, outputRange: 'minus1to1' });
      expect(manifest.components.tiny_decoder).toMatchObject({ latentMultiplier: 1, outputRange: 'zero1' });

      const files = new Set<string>([MANIFEST_FILE]);
      for (const [name, spec] of Object.entries(manifest.components) as [string, ComponentSpec][]) {
        const io = COMPONENT_IO[name === 'step' ? (`step:${stepKind}` as const) : (name as keyof typeof COMPONENT_IO)];
        expect(spec.inputs.map((t) => t.name), name).toEqual(io.inputs);
        expect(spec.outputs.map((t) => t.name), name).toEqual([...io.outputs, ...(io.optionalOutputs ?? [])]);
        const bytes = await readFile(path.join(dir, spec.file));
        expect(spec.sha256, spec.file).toBe(createHash('sha256').update(bytes).digest('hex'));
        expect(spec.sha256).toMatch(/^[0-9a-f]{64}$/);
        files.add(spec.file);
      }
      expect(new Set(await readdir(dir))).toEqual(files);
    }
  });

  it('is byte-identical when rebuilt with the same options', async () => {
    const first = await pack({ stepKind: 'unet_work' });
    const again = path.join(root, 'again');
    await buildTestPack(again, { stepKind: 'unet_work' });
    for (const file of await readdir(first.dir)) {
      expect(Buffer.compare(await readFile(path.join(first.dir, file)), await readFile(path.join(again, file))), file).toBe(0);
    }
    const other = buildTestPackInMemory({ stepKind: 'unet_work', profile: 'contract' });
    expect(other.manifest.components.step.sha256).not.toBe(first.manifest.components.step.sha256);
  });

  it('refuses a non-empty folder, fills an empty one, and leaves no temp folders behind', async () => {
    const parent = path.join(root, 'atomic');
    await mkdir(path.join(parent, 'full'), { recursive: true });
    await writeFile(path.join(parent, 'full', 'keep.txt'), 'x');
    await expect(buildTestPack(path.join(parent, 'full'))).rejects.toMatchObject({ code: 'USAGE' });
    expect(await readdir(path.join(parent, 'full'))).toEqual(['keep.txt']);
    await writeFile(path.join(parent, 'afile'), 'x');
    await expect(buildTestPack(path.join(parent, 'afile'))).rejects.toMatchObject({ code: 'USAGE' });
    await mkdir(path.join(parent, 'empty'));
    const manifest = await buildTestPack(path.join(parent, 'empty'), { decoders: ['tiny'] });
    expect((await readdir(path.join(parent, 'empty'))).sort()).toEqual(
      [MANIFEST_FILE, ...Object.values(manifest.components).map((c) => c.file)].sort(),
    );
    expect((await readdir(parent)).sort()).toEqual(['afile', 'empty', 'full']);
  });
});

// ---------------------------------------------------------------------------------------
// ONNX Runtime: names, shapes and dtypes
// ---------------------------------------------------------------------------------------

describe('test pack graphs in ONNX Runtime', () => {
  const variants: TestPackOptions[] = [
    { stepKind: 'denoiser' },
    { stepKind: 'unet_work' },
    { resolution: 128, stepKind: 'unet_work', decoders: ['vae'] },
    { resolution: 128, stepKind: 'denoiser', decoders: ['tiny'] },
    { profile: 'contract', stepKind: 'unet_work' },
  ];
  for (const options of variants) {
    it(`loads every graph and produces the manifest shapes (${JSON.stringify(options)})`, async () => {
      const { dir, manifest } = await pack(options);
      const dims = testPackDims(options);
      for (const [name, spec] of Object.entries(manifest.components) as [string, ComponentSpec][]) {
        const s = await session(dir, spec);
        expect(s.inputNames, name).toEqual(spec.inputs.map((t) => t.name));
        expect(s.outputNames, name).toEqual(spec.outputs.map((t) => t.name));
        for (const [metadata, declared] of [[s.inputMetadata, spec.inputs], [s.outputMetadata, spec.outputs]] as const) {
          expect(metadata.map((m) => m.isTensor && { name: m.name, type: m.type, shape: [...m.shape] }), name).toEqual(
            declared.map((t) => ({ name: t.name, type: t.dtype, shape: t.shape })),
          );
        }
        // Dynamic axes: batch 3, frames 5, each reference state 1x..4x its length.
        const dynamic: Record<string, number> = { batch: 3, frames: 5 };
        dims.referenceStates.forEach((r, i) => { dynamic[`len_${r.name}`] = r.length * (1 + (i % 4)); });
        const feeds: Record<string, ort.Tensor> = {};
        spec.inputs.forEach((t, i) => {
          const shape = concrete(t.shape, dynamic);
          feeds[t.name] = f32(randomArray(size(shape), 0, 1, 100 + i), shape);
        });
        const result = await s.run(feeds);
        for (const t of spec.outputs) {
          expect(result[t.name].dims, `${name}.${t.name}`).toEqual(concrete(t.shape, dynamic));
          expect(result[t.name].type).toBe('float32');
          expect((result[t.name].data as Float32Array).every(Number.isFinite), `${name}.${t.name} finite`).toBe(true);
        }
      }
    });
  }
});

// ---------------------------------------------------------------------------------------
// Semantics
// ---------------------------------------------------------------------------------------

describe('test pack graph semantics', () => {
  const options: TestPackOptions = { stepKind: 'denoiser' };
  const d = testPackDims(options);
  const w = testPackWeights(options);
  const R = d.resolution;
  const h = d.latentSize;

  it('image_encoder: channel means times W_ie', async () => {
    const { dir, manifest } = await pack(options);
    const S = d.clipSize;
    const pixels = randomArray(3 * S * S, -2, 2, 1);
    const result = await (await session(dir, manifest.components.image_encoder)).run({ pixel_values: f32(pixels, [1, 3, S, S]) });
    const means = [0, 1, 2].map((c) => mean(pixels.subarray(c * S * S, (c + 1) * S * S)));
    const expected = Array.from({ length: d.embeddingDim }, (_, e) => means.reduce((acc, m, c) => acc + m * w.imageEncoder[c * d.embeddingDim + e], 0));
    expect(maxAbsDiff(out(result, 'image_embeds'), expected)).toBeLessThan(1e-5);
  });

  it('vae_encoder: 8x8 average pooling then a 1x1 conv', async () => {
    const { dir, manifest } = await pack(options);
    const image = randomArray(3 * R * R, -1, 1, 2);
    const result = await (await session(dir, manifest.components.vae_encoder)).run({ image: f32(image, [1, 3, R, R]) });
    const expected: number[] = [];
    for (let k = 0; k < 4; k++) for (let y = 0; y < h; y++) for (let x = 0; x < h; x++) {
      let v = w.vaeEncoderBias[k];
      for (let c = 0; c < 3; c++) v += w.vaeEncoderWeight[k * 3 + c] * pool8(image, c * R * R, R, y, x);
      expected.push(v);
    }
    expect(maxAbsDiff(out(result, 'latent_mean'), expected)).toBeLessThan(1e-5);
  });

  it('reference_unet: every state is mean(sample) + 0.1 mean(context) + 0.01 i', async () => {
    const { dir, manifest } = await pack(options);
    const sample = randomArray(4 * h * h, -1, 1, 3);
    const context = randomArray(d.embeddingDim, -1, 1, 4);
    const result = await (await session(dir, manifest.components.reference_unet)).run({
      sample: f32(sample, [1, 4, h, h]), timestep: f32(Float32Array.of(0), [1]), encoder_hidden_states: f32(context, [1, 1, d.embeddingDim]),
    });
    const base = mean(sample) + REFERENCE_EMBEDDING_WEIGHT * mean(context);
    REFERENCE_STATE_NAMES.forEach((name, i) => {
      const values = out(result, name);
      expect(Math.abs(values[0] - (base + REFERENCE_STATE_STEP * i)), name).toBeLessThan(1e-6);
      expect(values.every((v) => v === values[0]), name).toBe(true);
    });
  });

  it('motion_extractor: head pose from channel means, canonical keypoints stored little-endian', async () => {
    const { dir, manifest } = await pack(options);
    const P = d.extractorSize;
    const colours = [[0.5, 0.5, 0.5], [0.8, 0.2, 0.65], [0.1, 0.95, 0.3]];
    const image = new Float32Array(colours.length * 3 * P * P);
    colours.forEach((rgb, n) => rgb.forEach((v, c) => image.fill(v, (n * 3 + c) * P * P, (n * 3 + c + 1) * P * P)));
    const result = await (await session(dir, manifest.components.motion_extractor)).run({ image: f32(image, [colours.length, 3, P, P]) });
    const degrees = (logits: Float32Array, n: number): number => {
      const row = Array.from(logits.subarray(n * 66, (n + 1) * 66));
      const top = Math.max(...row);
      const e = row.map((v) => Math.exp(v - top));
      const z = e.reduce((a, b) => a + b, 0);
      return (e.reduce((acc, v, b) => acc + v * b, 0) / z) * 3 - 97.5;
    };
    colours.forEach(([r, g, b], n) => {
      expect(degrees(out(result, 'yaw'), n)).toBeCloseTo(90 * (r - 0.5), 3);
      expect(degrees(out(result, 'pitch'), n)).toBeCloseTo(90 * (g - 0.5), 3);
      expect(degrees(out(result, 'roll'), n)).toBeCloseTo(90 * (b - 0.5), 3);
      const t = out(result, 't').subarray(n * 3, n * 3 + 3);
      expect(maxAbsDiff(t, [0.2 * (r - 0.5), 0.2 * (g - 0.5), 0])).toBeLessThan(1e-6);
      // Bit-exact: an output equal to an initializer proves raw_data is little-endian.
      expect(Array.from(out(result, 'kp').subarray(n * 63, (n + 1) * 63))).toEqual(Array.from(w.canonicalKeypoints));
    });
    expect(w.canonicalKeypoints.every((v) => Math.abs(v) <= 0.35)).toBe(true);
    expect(out(result, 'exp').every((v) => v === 0)).toBe(true);
    expect(Array.from(out(result, 'scale'))).toEqual([1, 1, 1]);
  });

  it('motion_encoder: 2 x frame mean everywhere; embedding distance is 45.25 x mean delta', async () => {
    const { dir, manifest } = await pack(options);
    const M = d.motionCropSize;
    const F = 3;
    const motion = randomArray(3 * F * M * M, -1, 1, 5);
    const result = await (await session(dir, manifest.components.motion_encoder)).run({ motion: f32(motion, [1, 3, F, M, M]) });
    const embeds = out(result, 'motion_hidden_states');
    const frameMean = (f: number): number => {
      let sum = 0;
      for (let c = 0; c < 3; c++) for (let i = 0; i < M * M; i++) sum += motion[(c * F + f) * M * M + i];
      return sum / (3 * M * M);
    };
    for (let f = 0; f < F; f++) {
      const row = embeds.subarray(f * 512, (f + 1) * 512);
      expect(maxAbsDiff(row, new Array(512).fill(MOTION_ENCODER_GAIN * frameMean(f)))).toBeLessThan(1e-6);
    }
    let sq = 0;
    for (let i = 0; i < 512; i++) sq += (embeds[i] - embeds[512 + i]) ** 2;
    expect(MOTION_EMBEDDING_DISTANCE_PER_MEAN).toBeCloseTo(45.2548, 3);
    expect(Math.sqrt(sq)).toBeCloseTo(MOTION_EMBEDDING_DISTANCE_PER_MEAN * Math.abs(frameMean(0) - frameMean(1)), 4);
  });

  it('pose_guider: [1,8,8] average pooling then a 1x1x1 conv', async () => {
    const { dir, manifest } = await pack(options);
    const F = 2;
    const pose = randomArray(3 * F * R * R, 0, 1, 6);
    const result = await (await session(dir, manifest.components.pose_guider)).run({ pose: f32(pose, [1, 3, F, R, R]) });
    const expected: number[] = [];
    for (let k = 0; k < d.poseChannels; k++) for (let f = 0; f < F; f++) for (let y = 0; y < h; y++) for (let x = 0; x < h; x++) {
      let v = w.poseGuiderBias[k];
      for (let c = 0; c < 3; c++) v += w.poseGuiderWeight[k * 3 + c] * pool8(pose, (c * F + f) * R * R, R, y, x);
      expected.push(v);
    }
    expect(maxAbsDiff(out(result, 'pose_cond_fea'), expected)).toBeLessThan(1e-5);
  });

  it('decoders: tiny = clip(W_dec x + 0.5) upsampled x8; vae(x / 0.18215) / 2 + 0.5 equals it', async () => {
    const { dir, manifest } = await pack(options);
    const N = 2;
    const latents = randomArray(N * 4 * h * h, -3, 3, 7);
    const tiny = out(await (await session(dir, manifest.components.tiny_decoder!)).run({ latents: f32(latents, [N, 4, h, h]) }), 'image');
    const scaled = latents.map((v) => v / 0.18215);
    const vae = out(await (await session(dir, manifest.components.vae_decoder!)).run({ latents: f32(scaled, [N, 4, h, h]) }), 'image');
    const expected = new Float32Array(N * 3 * R * R);
    for (let n = 0; n < N; n++) for (let c = 0; c < 3; c++) for (let y = 0; y < R; y++) for (let x = 0; x < R; x++) {
      let v = 0.5;
      for (let k = 0; k < 4; k++) v += w.tinyDecoderWeight[c * 4 + k] * latents[((n * 4 + k) * h + (y >> 3)) * h + (x >> 3)];
      expected[((n * 3 + c) * R + y) * R + x] = Math.min(1, Math.max(0, v));
    }
    expect(maxAbsDiff(tiny, expected)).toBeLessThan(1e-6);
    expect(maxAbsDiff(vae.map((v) => v / 2 + 0.5), tiny)).toBeLessThan(1e-5);
    expect(tiny.some((v) => v === 0) || tiny.some((v) => v === 1)).toBe(true); // range +-3 reaches the clip
  });
});

describe('test pack step graphs', () => {
  const d = testPackDims();
  const w = testPackWeights();
  const h = d.latentSize;
  const R = d.resolution;
  const M = d.motionCropSize;
  const Cp = d.poseChannels;
  const E = d.embeddingDim;
  const alphas = referenceAlphas();
  const t = [0, 0, 0, 0, 333, 333, 333, 333, 666, 666, 666, 666, 999, 999, 999, 999];
  const aT = t.map((v) => alphas[v]);
  const aPrev = t.map((v) => (v - 333 >= 0 ? alphas[v - 333] : 1));
  const plane = h * h;

  // Window inputs: reference states with sequence lengths 1x..4x (history keyframes).
  const inputs: Record<string, { data: Float32Array; dims: number[] }> = {
    sample: { data: randomArray(4 * 16 * plane, -1.5, 1.5, 11), dims: [1, 4, 16, h, h] },
    encoder_hidden_states: { data: randomArray(E, -1, 1, 12), dims: [1, 1, E] },
    motion_hidden_states: { data: randomArray(12 * 512, -1, 1, 13), dims: [1, 12, 32, 16] },
    motion: { data: randomArray(3 * 4 * M * M, -1, 1, 14), dims: [1, 3, 4, M, M] },
    pose_cond_fea: { data: randomArray(Cp * 12 * plane, 0, 1.5, 15), dims: [1, Cp, 12, h, h] },
    pose: { data: randomArray(3 * 4 * R * R, 0, 1, 16), dims: [1, 3, 4, R, R] },
    new_noise: { data: randomArray(4 * 4 * plane, -1, 1, 17), dims: [1, 4, 4, h, h] },
  };
  d.referenceStates.forEach((r, i) => {
    const length = r.length * (1 + (i % 4));
    inputs[r.name] = { data: randomArray(length * r.channels, -1, 1, 20 + i), dims: [1, length, r.channels] };
  });
  const feeds = (names: string[]): Record<string, ort.Tensor> =>
    Object.fromEntries(names.map((n) => [n, f32(inputs[n].data, inputs[n].dims)]));

  // Expected conditioning and target clean latent g, in float64.
  const poseNew = new Float64Array(Cp * 4 * plane); // pose_guider(pose): [Cp,4,h,h]
  for (let k = 0; k < Cp; k++) for (let f = 0; f < 4; f++) for (let y = 0; y < h; y++) for (let x = 0; x < h; x++) {
    let v = w.poseGuiderBias[k];
    for (let c = 0; c < 3; c++) v += w.poseGuiderWeight[k * 3 + c] * pool8(inputs.pose.data, (c * 4 + f) * R * R, R, y, x);
    poseNew[(k * 4 + f) * plane + y * h + x] = v;
  }
  const poseAll = (k: number, f: number, i: number): number =>
    f < 12 ? inputs.pose_cond_fea.data[(k * 12 + f) * plane + i] : poseNew[(k * 4 + f - 12) * plane + i];
  const motionNew = [0, 1, 2, 3].map((f) => {
    let sum = 0;
    for (let c = 0; c < 3; c++) for (let i = 0; i < M * M; i++) sum += inputs.motion.data[(c * 4 + f) * M * M + i];
    return (2 * sum) / (3 * M * M);
  });
  const motionMean = Array.from({ length: 16 }, (_, f) => (f < 12 ? mean(inputs.motion_hidden_states.data.subarray(f * 512, (f + 1) * 512)) : motionNew[f - 12]));
  const refMean = mean(REFERENCE_STATE_NAMES.map((n) => mean(inputs[n].data)));
  const g = new Float64Array(4 * 16 * plane);
  const epsExpected = new Float64Array(4 * 16 * plane);
  for (let c = 0; c < 4; c++) for (let f = 0; f < 16; f++) for (let i = 0; i < plane; i++) {
    let pm = 0;
    for (let k = 0; k < Cp; k++) pm += poseAll(k, f, i);
    const at = (c * 16 + f) * plane + i;
    g[at] = STEP_POSE_WEIGHT[c] * (pm / Cp) + STEP_MOTION_WEIGHT[c] * motionMean[f] + STEP_REFERENCE_WEIGHT[c] * refMean;
    epsExpected[at] = (inputs.sample.data[at] - Math.sqrt(aT[f]) * g[at]) / Math.sqrt(1 - aT[f]);
  }
  const framesOf = (data: ArrayLike<number>, channels: number, frames: number, from: number, to: number): number[] => {
    const picked: number[] = [];
    for (let c = 0; c < channels; c++) for (let f = from; f < to; f++) for (let i = 0; i < plane; i++) picked.push(data[(c * frames + f) * plane + i]);
    return picked;
  };

  function checkCarriedConditioning(result: ort.InferenceSession.ReturnType): void {
    const expectedPose: number[] = [];
    for (let k = 0; k < Cp; k++) for (let f = 4; f < 16; f++) for (let i = 0; i < plane; i++) expectedPose.push(poseAll(k, f, i));
    expect(maxAbsDiff(out(result, 'pose_cond_fea_out'), expectedPose)).toBeLessThan(1e-5);
    const mh = out(result, 'motion_hidden_states_out');
    expect(Array.from(mh.subarray(0, 8 * 512))).toEqual(Array.from(inputs.motion_hidden_states.data.subarray(4 * 512))); // shifted, untouched
    for (let f = 8; f < 12; f++) expect(maxAbsDiff(mh.subarray(f * 512, (f + 1) * 512), new Array(512).fill(motionNew[f - 8]))).toBeLessThan(1e-6);
    expect(Array.from(out(result, 'motion_out'))).toEqual(Array.from(inputs.motion_hidden_states.data.subarray(0, 512)));
  }

  it('denoiser: the noise prediction makes a DDIM step recover g; conditioning shifts by one chunk', async () => {
    const { dir, manifest } = await pack({ stepKind: 'denoiser' });
    const result = await (await session(dir, manifest.components.step)).run(feeds(COMPONENT_IO['step:denoiser'].inputs));
    const eps = out(result, 'noise_pred');
    const x0 = Array.from(eps, (e, at) => {
      const f = Math.floor(at / plane) % 16;
      return (inputs.sample.data[at] - Math.sqrt(1 - aT[f]) * e) / Math.sqrt(aT[f]);
    });
    expect(maxAbsDiff(x0, g)).toBeLessThan(1e-4);
    expect(maxAbsDiff(eps, epsExpected) / Math.max(...Array.from(epsExpected, Math.abs))).toBeLessThan(1e-5);
    // g is O(1): neither degenerate nor huge.
    const spread = Math.max(...g) - Math.min(...g);
    expect(spread).toBeGreaterThan(0.1);
    expect(Math.max(...Array.from(g, Math.abs))).toBeLessThan(5);
    checkCarriedConditioning(result);

    // The new chunk's conditioning equals the standalone pose guider / motion encoder.
    const pg = await (await session(dir, manifest.components.pose_guider)).run({ pose: f32(inputs.pose.data, inputs.pose.dims) });
    expect(maxAbsDiff(framesOf(out(result, 'pose_cond_fea_out'), Cp, 12, 8, 12), out(pg, 'pose_cond_fea'))).toBe(0);
    const me = await (await session(dir, manifest.components.motion_encoder)).run({ motion: f32(inputs.motion.data, inputs.motion.dims) });
    expect(maxAbsDiff(out(result, 'motion_hidden_states_out').subarray(8 * 512), out(me, 'motion_hidden_states'))).toBe(0);
  });

  it('unet_work: DDIM step, window shift with new_noise, latent_first and the decoded oldest chunk', async () => {
    const { dir, manifest } = await pack({ stepKind: 'unet_work' });
    const result = await (await session(dir, manifest.components.step)).run(feeds(COMPONENT_IO['step:unet_work'].inputs));
    // latents = x_prev of frames 4..15, then new_noise (bit-exact).
    const latents = out(result, 'latents');
    const xPrev = Array.from(g, (x0, at) => {
      const f = Math.floor(at / plane) % 16;
      return Math.sqrt(aPrev[f]) * x0 + Math.sqrt(1 - aPrev[f]) * epsExpected[at];
    });
    expect(maxAbsDiff(framesOf(latents, 4, 16, 0, 12), framesOf(xPrev, 4, 16, 4, 16))).toBeLessThan(2e-4);
    expect(framesOf(latents, 4, 16, 12, 16)).toEqual(Array.from(inputs.new_noise.data));
    // latent_first = x0 of frame 0 = g[:, 0].
    expect(maxAbsDiff(out(result, 'latent_first'), framesOf(g, 4, 16, 0, 1))).toBeLessThan(1e-4);
    // pred_video = tiny-decoder mapping of g frames 0..3, NHWC, mostly unclipped.
    const video = out(result, 'pred_video');
    const expected = new Float64Array(4 * R * R * 3);
    for (let f = 0; f < 4; f++) for (let y = 0; y < R; y++) for (let x = 0; x < R; x++) for (let c = 0; c < 3; c++) {
      let v = 0.5;
      for (let k = 0; k < 4; k++) v += w.tinyDecoderWeight[c * 4 + k] * g[(k * 16 + f) * plane + (y >> 3) * h + (x >> 3)];
      expected[((f * R + y) * R + x) * 3 + c] = Math.min(1, Math.max(0, v));
    }
    expect(maxAbsDiff(video, expected)).toBeLessThan(1e-4);
    expect(video.filter((v) => v > 0.02 && v < 0.98).length / video.length).toBeGreaterThan(0.95);
    checkCarriedConditioning(result);

    // The fused decode equals the pack's separate tiny decoder on latent x0.
    const x0Frames = new Float32Array(4 * 4 * plane); // [4 frames, 4 channels, h, h]
    for (let f = 0; f < 4; f++) for (let c = 0; c < 4; c++) for (let i = 0; i < plane; i++) x0Frames[(f * 4 + c) * plane + i] = g[(c * 16 + f) * plane + i];
    const tiny = out(await (await session(dir, manifest.components.tiny_decoder!)).run({ latents: f32(x0Frames, [4, 4, h, h]) }), 'image');
    const nhwc = Array.from(video, (_, at) => {
      const c = at % 3;
      const pixel = Math.floor(at / 3);
      const f = Math.floor(pixel / (R * R));
      return tiny[(f * 3 + c) * R * R + (pixel % (R * R))];
    });
    expect(maxAbsDiff(video, nhwc)).toBeLessThan(1e-4);
  });
});

describe('GraphBuilder', () => {
  it('writes little-endian raw_data that ONNX Runtime reads back bit-exactly', async () => {
    const floats = Float32Array.of(1, -2.5, 3.4e38, 1e-40, -0, 0.1);
    const longs = BigInt64Array.of(1n, -2n, 2n ** 40n + 3n, -(2n ** 62n));
    const ints = Int32Array.of(7, -8, 2 ** 30, -(2 ** 31));
    const b = new GraphBuilder('constants');
    const x = b.input('x', 'float32', ['n']);
    b.output(b.op('Identity', [b.initializer(floats, [2, 3])]), 'f', 'float32', [2, 3]);
    b.output(b.op('Identity', [b.initializer(longs, [4])]), 'l', 'int64', [4]);
    b.output(b.op('Identity', [b.initializer(ints, [4])]), 'i', 'int32', [4]);
    b.output(b.op('LeakyRelu', [x], { alpha: attr.float(0.25) }), 'y', 'float32', ['n']);
    const bytes = b.toBytes();

    // The stored bytes are little-endian: 1.0f is 00 00 80 3f.
    const model = ModelProto.toObject(ModelProto.decode(bytes), { bytes: Array }) as { graph: { initializer: { rawData: number[] }[] } };
    expect(model.graph.initializer[0].rawData.slice(0, 4)).toEqual([0x00, 0x00, 0x80, 0x3f]);

    const s = await ort.InferenceSession.create(bytes);
    const result = await s.run({ x: f32(Float32Array.of(-4, 2), [2]) });
    expect(Buffer.from((result.f.data as Float32Array).buffer).equals(Buffer.from(floats.buffer))).toBe(true);
    expect(Array.from(result.l.data as BigInt64Array)).toEqual(Array.from(longs));
    expect(Array.from(result.i.data as Int32Array)).toEqual(Array.from(ints));
    expect(Array.from(result.y.data as Float32Array)).toEqual([-1, 2]);
    expect(s.inputMetadata[0]).toMatchObject({ name: 'x', shape: ['n'] });
    await s.release();
  });

  it('rejects reused names, wrong initializer sizes and non-integer int attributes', () => {
    const b = new GraphBuilder('errors');
    b.input('x', 'float32', [1]);
    expect(() => b.input('x', 'float32', [1])).toThrow(/already used/);
    expect(() => b.floats([1, 2, 3], [2])).toThrow(/3 values/);
    expect(() => b.op('Foo', ['x'], { alpha: 0.5 })).toThrow(/not an integer/);
    expect(() => new GraphBuilder('empty').toBytes()).toThrow(/no outputs/);
  });
});
