/**
 * Generated test packs: complete model-pack folders (ONNX graphs + manifest.json) whose
 * graphs have the exact names, dtypes and shapes of the real PersonaLive components but
 * compute small, fully specified functions. They are NOT animation models: they let the
 * engine, the daemon and the benchmarks run end to end, and let tests trace data flow
 * numerically (every output is a closed-form function of the inputs, documented below and
 * reproducible from the exported weights and constants).
 *
 * Graph semantics (float32 everywhere; R = resolution, h = R/8):
 * - image_encoder: image_embeds[1,E] = channel means of pixel_values [1,3] @ W_ie[3,E].
 * - vae_encoder: latent_mean[1,4,h,h] = 1x1 conv (W_ve[4,3], b_ve[4]) of 8x8 average pooling.
 * - reference_unet: output i (REFERENCE_STATE_NAMES order) is [1,L_i,C_i] filled with
 *   mean(sample) + 0.1*mean(encoder_hidden_states) + 0.01*i (timestep is unused).
 * - motion_extractor: yaw/pitch/roll logits are Gaussians over the 66 bins centred at
 *   32.5 + 30*(m - 0.5) for the red/green/blue channel mean m (so the decoded angle is about
 *   90*(m - 0.5) degrees); kp = canonical constant; t = [0.2(mR-0.5), 0.2(mG-0.5), 0];
 *   exp = 0; scale = 1.
 * - motion_encoder: every value of frame f's [32,16] embedding is 2 * mean(frame f).
 * - pose_guider: 1x1x1 conv (W_pg[Cp,3], b_pg[Cp]) of [1,8,8] average pooling.
 * - step: target clean latent g[c,f] = A[c]*mean_k PF_all[k,f] + B[c]*mean(MH_all[f])
 *   + Rc[c]*refMean; eps = (sample - sqrt(a_t) g) / sqrt(1 - a_t) per frame, so a DDIM step
 *   recovers x0 = g. "unet_work" also performs the DDIM step and the tiny-decoder mapping.
 * - tiny_decoder: image = Clip(1x1 conv (W_dec[3,4], bias 0.5) of nearest x8 upsampling, 0, 1).
 * - vae_decoder: the same with W_vae = 2*0.18215*W_dec, bias 0, Clip(-1, 1), so that
 *   vae_decoder(latents / 0.18215) / 2 + 0.5 == tiny_decoder(latents).
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { PersonaLiveError } from '../daemon/errors.js';
import {
  CLIP_MEAN,
  CLIP_STD,
  COMPONENT_IO,
  MANIFEST_FILE,
  MANIFEST_SCHEMA_VERSION,
  PACK_FORMAT,
  PERSONALIVE_SCHEDULER,
  PERSONALIVE_STREAMING,
  REFERENCE_STATE_NAMES,
  type ComponentSpec,
  type DecoderComponentSpec,
  type Dim,
  type PackComponents,
  type PackManifest,
  type ReferenceStateSpec,
  type SchedulerSpec,
  type StepKind,
  type TensorDType,
  type TensorSpec,
} from './contract.js';
import { GraphBuilder } from './onnx/builder.js';
import { seededRandom } from '../daemon/util/random.js';

// ---------------------------------------------------------------------------------------
// Options and dimensions
// ---------------------------------------------------------------------------------------

export type TestPackProfile = 'tiny' | 'contract';
export type TestPackDecoder = 'vae' | 'tiny';

export interface TestPackOptions {
  /** Frame size; a positive multiple of 64 (default 64). */
  resolution?: number;
  /** 'tiny': small channel counts (default); 'contract': the real model's shapes. */
  profile?: TestPackProfile;
  /** Which step graph the pack has (default 'denoiser'). */
  stepKind?: StepKind;
  /** Separate decoders to include (default both; a denoiser pack needs at least one). */
  decoders?: TestPackDecoder[];
  /** 'float' (default): decoders output float images; 'bytes': uint8 RGB [N,H,W,3] made in the graph. */
  decoderOutput?: 'float' | 'bytes';
}

/** Every size a test pack uses. */
export interface TestPackDims {
  profile: TestPackProfile;
  stepKind: StepKind;
  decoders: TestPackDecoder[];
  resolution: number;
  latentSize: number;
  latentChannels: number;
  latentScale: number;
  embeddingDim: number;
  poseChannels: number;
  clipSize: number;
  extractorSize: number;
  motionCropSize: number;
  motionEmbedding: [number, number];
  referenceStates: ReferenceStateSpec[];
  /** Frames in the denoising window (chunks * chunkFrames = 16). */
  windowFrames: number;
  chunkFrames: number;
  /** Window frames carried in from the previous step (12). */
  historyFrames: number;
  /** Implicit keypoints of the motion extractor (21). */
  keypoints: number;
  /** Head-pose bins (66). */
  poseBins: number;
  /** Spatial downsampling from frame to latent (8). */
  downsample: number;
}

const PROFILES: Record<TestPackProfile, {
  embeddingDim: number; poseChannels: number; clipSize: number; extractorSize: number; motionCropSize: number;
  channels: [number, number, number]; middleChannels: number;
}> = {
  tiny: { embeddingDim: 16, poseChannels: 8, clipSize: 32, extractorSize: 32, motionCropSize: 32, channels: [8, 16, 32], middleChannels: 32 },
  contract: { embeddingDim: 768, poseChannels: 320, clipSize: 224, extractorSize: 256, motionCropSize: 224, channels: [320, 640, 1280], middleChannels: 1280 },
};

const DECODER_ORDER: TestPackDecoder[] = ['vae', 'tiny'];

/** Latent scale of the SD VAE. */
export const TEST_PACK_LATENT_SCALE = 0.18215;

function usage(message: string, details: Record<string, unknown>): PersonaLiveError {
  return new PersonaLiveError('USAGE', message, details);
}

/** Validates options and returns every size the pack uses. Throws PersonaLiveError USAGE. */
export function testPackDims(options: TestPackOptions = {}): TestPackDims {
  const resolution = options.resolution ?? 64;
  if (typeof resolution !== 'number' || !Number.isInteger(resolution) || resolution <= 0 || resolution % 64 !== 0) {
    throw usage(`--resolution must be a positive multiple of 64 (got ${String(resolution)})`, { option: 'resolution', value: resolution });
  }
  const profile = options.profile ?? 'tiny';
  if (!(profile in PROFILES)) {
    throw usage(`test pack profile must be "tiny" or "contract" (got ${String(profile)})`, { option: 'profile', value: profile });
  }
  const stepKind = options.stepKind ?? 'denoiser';
  if (stepKind !== 'denoiser' && stepKind !== 'unet_work') {
    throw usage(`test pack step kind must be "denoiser" or "unet_work" (got ${String(stepKind)})`, { option: 'stepKind', value: stepKind });
  }
  const requested = options.decoders ?? DECODER_ORDER;
  for (const decoder of requested) {
    if (!DECODER_ORDER.includes(decoder)) {
      throw usage(`test pack decoders must be "vae" and/or "tiny" (got ${String(decoder)})`, { option: 'decoders', value: requested });
    }
  }
  const decoders = DECODER_ORDER.filter((d) => requested.includes(d));
  if (stepKind === 'denoiser' && decoders.length === 0) {
    throw usage('a test pack with a "denoiser" step needs at least one decoder (vae or tiny)', { option: 'decoders', value: requested });
  }

  const p = PROFILES[profile];
  const h = resolution / 8;
  const [c0, c1, c2] = p.channels;
  const lengthOf = (name: string): [number, number] => {
    if (name === 'm') return [(h / 8) ** 2, p.middleChannels];
    const level = name.startsWith('d') ? Number(name[1]) : 3 - Number(name[1]);
    return [(h / 2 ** level) ** 2, [c0, c1, c2][level]];
  };
  const referenceStates = REFERENCE_STATE_NAMES.map((name) => {
    const [length, channels] = lengthOf(name);
    return { name, length, channels };
  });
  return {
    profile,
    stepKind,
    decoders,
    resolution,
    latentSize: h,
    latentChannels: 4,
    latentScale: TEST_PACK_LATENT_SCALE,
    embeddingDim: p.embeddingDim,
    poseChannels: p.poseChannels,
    clipSize: p.clipSize,
    extractorSize: p.extractorSize,
    motionCropSize: p.motionCropSize,
    motionEmbedding: [32, 16],
    referenceStates,
    windowFrames: PERSONALIVE_STREAMING.chunks * PERSONALIVE_STREAMING.chunkFrames,
    chunkFrames: PERSONALIVE_STREAMING.chunkFrames,
    historyFrames: (PERSONALIVE_STREAMING.chunks - 1) * PERSONALIVE_STREAMING.chunkFrames,
    keypoints: 21,
    poseBins: 66,
    downsample: 8,
  };
}

// ---------------------------------------------------------------------------------------
// Fixed constants and deterministic weights
// ---------------------------------------------------------------------------------------

/** reference_unet: weight of mean(encoder_hidden_states) in the state value. */
export const REFERENCE_EMBEDDING_WEIGHT = 0.1;
/** reference_unet: state i (REFERENCE_STATE_NAMES order) is offset by i times this. */
export const REFERENCE_STATE_STEP = 0.01;
/** motion_encoder: embedding value = this * mean(frame). */
export const MOTION_ENCODER_GAIN = 2.0;
/**
 * L2 distance between two frames' motion embeddings per unit difference of their means:
 * 2 * sqrt(32*16) ~= 45.25.
 */
export const MOTION_EMBEDDING_DISTANCE_PER_MEAN = MOTION_ENCODER_GAIN * Math.sqrt(32 * 16);
/** motion_extractor: pose logits centre = POSE_BIN_CENTRE + POSE_BIN_SLOPE * (mean - 0.5). */
export const POSE_BIN_CENTRE = 32.5;
export const POSE_BIN_SLOPE = 30;
/** motion_extractor: t = TRANSLATION_GAIN * ([mR, mG] - 0.5), z = 0. */
export const TRANSLATION_GAIN = 0.2;
/** Decoded head angle (degrees) per unit of channel mean: 3 * POSE_BIN_SLOPE = 90. */
export const DEGREES_PER_MEAN = 3 * POSE_BIN_SLOPE;
/** Step graph: per latent channel weight of the pose-feature mean (A). */
export const STEP_POSE_WEIGHT: readonly number[] = [0.75, -0.5, 0.625, -0.375];
/** Step graph: per latent channel weight of the motion-embedding mean (B). */
export const STEP_MOTION_WEIGHT: readonly number[] = [0.5, 0.75, -0.625, 0.25];
/** Step graph: per latent channel weight of the reference-state mean (Rc). */
export const STEP_REFERENCE_WEIGHT: readonly number[] = [0.25, -0.375, 0.5, 0.75];
/** tiny_decoder bias (every output channel). */
export const TINY_DECODER_BIAS = 0.5;

/** Deterministic weights of a test pack (row-major Float32Arrays, the exact stored values). */
export interface TestPackWeights {
  /** image_encoder W_ie [3, E]. */
  imageEncoder: Float32Array;
  /** vae_encoder 1x1 conv weight [4, 3] and bias [4]. */
  vaeEncoderWeight: Float32Array;
  vaeEncoderBias: Float32Array;
  /** pose_guider 1x1x1 conv weight [Cp, 3] and bias [Cp]. */
  poseGuiderWeight: Float32Array;
  poseGuiderBias: Float32Array;
  /** motion_extractor canonical keypoints [21 * 3] (x, y, z per keypoint). */
  canonicalKeypoints: Float32Array;
  /** tiny_decoder 1x1 conv weight [3, 4] and bias [3]. */
  tinyDecoderWeight: Float32Array;
  tinyDecoderBias: Float32Array;
  /** vae_decoder 1x1 conv weight [3, 4] (= 2 * latentScale * tinyDecoderWeight) and bias [3] (0). */
  vaeDecoderWeight: Float32Array;
  vaeDecoderBias: Float32Array;
  /** Step graph A, B, Rc [4] each. */
  stepPoseWeight: Float32Array;
  stepMotionWeight: Float32Array;
  stepReferenceWeight: Float32Array;
}

/** FNV-1a 32-bit hash: turns a weight's label into its generator seed. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** `count` uniform values in [lo, hi) from the generator seeded by `label`. */
function uniform(label: string, count: number, lo: number, hi: number): Float32Array {
  const next = seededRandom(hashLabel(label));
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = lo + (hi - lo) * next();
  return out;
}

/** The deterministic weights of the pack built with `options`. Fresh arrays on each call. */
export function testPackWeights(options: TestPackOptions = {}): TestPackWeights {
  const d = testPackDims(options);
  const tinyDecoderWeight = uniform('tiny_decoder.weight', 3 * 4, -0.1, 0.1);
  return {
    imageEncoder: uniform('image_encoder.weight', 3 * d.embeddingDim, -1, 1),
    vaeEncoderWeight: uniform('vae_encoder.weight', 4 * 3, -1, 1),
    vaeEncoderBias: uniform('vae_encoder.bias', 4, -0.1, 0.1),
    poseGuiderWeight: uniform('pose_guider.weight', d.poseChannels * 3, 0.25, 1),
    poseGuiderBias: uniform('pose_guider.bias', d.poseChannels, -0.1, 0.1),
    canonicalKeypoints: uniform('motion_extractor.kp', d.keypoints * 3, -0.35, 0.35),
    tinyDecoderWeight,
    tinyDecoderBias: new Float32Array(3).fill(TINY_DECODER_BIAS),
    vaeDecoderWeight: tinyDecoderWeight.map((w) => 2 * d.latentScale * w),
    vaeDecoderBias: new Float32Array(3),
    stepPoseWeight: Float32Array.from(STEP_POSE_WEIGHT),
    stepMotionWeight: Float32Array.from(STEP_MOTION_WEIGHT),
    stepReferenceWeight: Float32Array.from(STEP_REFERENCE_WEIGHT),
  };
}

/**
 * alphas_cumprod of a scheduler, in float64: betas = linspace(sqrt(betaStart),
 * sqrt(betaEnd), trainTimesteps)^2 ("scaled_linear") or linspace(betaStart, betaEnd)
 * ("linear"); cumulative product of 1 - betas.
 */
export function alphasCumprod(spec: SchedulerSpec = PERSONALIVE_SCHEDULER): Float64Array {
  const n = spec.trainTimesteps;
  const scaled = spec.betaSchedule === 'scaled_linear';
  const lo = scaled ? Math.sqrt(spec.betaStart) : spec.betaStart;
  const hi = scaled ? Math.sqrt(spec.betaEnd) : spec.betaEnd;
  const out = new Float64Array(n);
  let product = 1;
  for (let i = 0; i < n; i++) {
    const x = n === 1 ? lo : lo + ((hi - lo) * i) / (n - 1);
    const beta = scaled ? x * x : x;
    product *= 1 - beta;
    out[i] = product;
  }
  return out;
}

/** Per-frame DDIM constants of the 16-frame window, as the step graphs store them. */
export interface StepFrameSchedule {
  /** t_f = chunkTimesteps[floor(f / chunkFrames)]: [0,0,0,0,333,...,999]. */
  timesteps: number[];
  /** a_t and a_prev (1 where t - stepLength < 0) per frame, float64. */
  alphaT: Float64Array;
  alphaPrev: Float64Array;
  /** float32 values stored in the graphs: sqrt(a_t), sqrt(1-a_t), sqrt(a_prev), sqrt(1-a_prev). */
  sqrtAlpha: Float32Array;
  sqrtOneMinusAlpha: Float32Array;
  sqrtAlphaPrev: Float32Array;
  sqrtOneMinusAlphaPrev: Float32Array;
}

/** The per-frame schedule of the window (see {@link StepFrameSchedule}). */
export function stepFrameSchedule(spec: SchedulerSpec = PERSONALIVE_SCHEDULER, chunkFrames = PERSONALIVE_STREAMING.chunkFrames): StepFrameSchedule {
  const ac = alphasCumprod(spec);
  const timesteps = spec.chunkTimesteps.flatMap((t) => new Array<number>(chunkFrames).fill(t));
  const alphaT = Float64Array.from(timesteps, (t) => ac[t]);
  const alphaPrev = Float64Array.from(timesteps, (t) => {
    const prev = t - spec.stepLength;
    return prev >= 0 ? ac[prev] : spec.setAlphaToOne ? 1 : ac[0];
  });
  return {
    timesteps,
    alphaT,
    alphaPrev,
    sqrtAlpha: Float32Array.from(alphaT, Math.sqrt),
    sqrtOneMinusAlpha: Float32Array.from(alphaT, (a) => Math.sqrt(1 - a)),
    sqrtAlphaPrev: Float32Array.from(alphaPrev, Math.sqrt),
    sqrtOneMinusAlphaPrev: Float32Array.from(alphaPrev, (a) => Math.sqrt(1 - a)),
  };
}

// ---------------------------------------------------------------------------------------
// Graphs
// ---------------------------------------------------------------------------------------

/** One built component graph: its bytes and the I/O it declares. */
export interface BuiltGraph {
  bytes: Uint8Array;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** GraphBuilder plus the TensorSpec list of what it declares (so the manifest matches). */
class SpecGraph {
  readonly g: GraphBuilder;
  readonly inputs: TensorSpec[] = [];
  readonly outputs: TensorSpec[] = [];

  constructor(name: string) {
    this.g = new GraphBuilder(name, { producerName: 'personalive-test-pack' });
  }

  in(name: string, shape: Dim[], dtype: TensorDType = 'float32'): string {
    this.inputs.push({ name, dtype, shape });
    return this.g.input(name, dtype, shape);
  }

  out(value: string, name: string, shape: Dim[], dtype: TensorDType = 'float32'): void {
    this.outputs.push({ name, dtype, shape });
    this.g.output(value, name, dtype, shape);
  }

  done(): BuiltGraph {
    return { bytes: this.g.toBytes(), inputs: this.inputs, outputs: this.outputs };
  }
}

/** 1x1 (or 1x1x1) conv weight from a row-major [out, in] matrix. */
function convWeight(g: GraphBuilder, weight: Float32Array, outChannels: number, inChannels: number, spatialRank: number): string {
  return g.initializer(weight, [outChannels, inChannels, ...new Array<number>(spatialRank).fill(1)]);
}

/** pose [1,3,F,R,R] -> [1,Cp,F,h,h]. */
function poseGuiderOps(g: GraphBuilder, pose: string, d: TestPackDims, w: TestPackWeights, output?: string): string {
  const pooled = g.op('AveragePool', [pose], { kernel_shape: [1, 8, 8], strides: [1, 8, 8] });
  return g.op('Conv', [pooled, convWeight(g, w.poseGuiderWeight, d.poseChannels, 3, 3), g.floats(w.poseGuiderBias)], {},
    output ? { outputs: [output] } : {});
}

/** motion [1,3,F,M,M] -> [1,F,32,16] = 2 * per-frame mean. */
function motionEncoderOps(g: GraphBuilder, motion: string, d: TestPackDims, output?: string): string {
  const means = g.op('ReduceMean', [motion], { axes: [1, 3, 4], keepdims: 0 }); // [1,F]
  const scaled = g.op('Mul', [means, g.scalar(MOTION_ENCODER_GAIN)]);
  const column = g.op('Unsqueeze', [scaled, g.int64s([2, 3])]); // [1,F,1,1]
  return g.op('Expand', [column, g.int64s([1, 1, ...d.motionEmbedding])], {}, output ? { outputs: [output] } : {});
}

/** latents [N,4,h,h] -> [N,3,R,R]: 1x1 conv, nearest x8, clip. */
function decoderOps(g: GraphBuilder, latents: string, weight: Float32Array, bias: Float32Array, lo: number, hi: number, output?: string): string {
  // A 1x1 conv commutes with nearest upsampling; converting first is 64x cheaper.
  const mixed = g.op('Conv', [latents, convWeight(g, weight, 3, 4, 2), g.floats(bias)]);
  const up = g.op('Resize', [mixed, '', g.floats([1, 1, 8, 8])], {
    mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor',
  });
  return g.op('Clip', [up, g.scalar(lo), g.scalar(hi)], {}, output ? { outputs: [output] } : {});
}

function buildImageEncoder(d: TestPackDims, w: TestPackWeights): BuiltGraph {
  const s = new SpecGraph('image_encoder');
  const pixels = s.in('pixel_values', [1, 3, d.clipSize, d.clipSize]);
  const means = s.g.op('ReduceMean', [pixels], { axes: [2, 3], keepdims: 0 }); // [1,3]
  const embeds = s.g.op('MatMul', [means, s.g.initializer(w.imageEncoder, [3, d.embeddingDim])], {}, { outputs: ['image_embeds'] });
  s.out(embeds, 'image_embeds', [1, d.embeddingDim]);
  return s.done();
}

function buildVaeEncoder(d: TestPackDims, w: TestPackWeights): BuiltGraph {
  const s = new SpecGraph('vae_encoder');
  const image = s.in('image', [1, 3, d.resolution, d.resolution]);
  const pooled = s.g.op('AveragePool', [image], { kernel_shape: [8, 8], strides: [8, 8] });
  const mean = s.g.op('Conv', [pooled, convWeight(s.g, w.vaeEncoderWeight, 4, 3, 2), s.g.floats(w.vaeEncoderBias)], {}, { outputs: ['latent_mean'] });
  s.out(mean, 'latent_mean', [1, d.latentChannels, d.latentSize, d.latentSize]);
  return s.done();
}

function buildReferenceUnet(d: TestPackDims): BuiltGraph {
  const s = new SpecGraph('reference_unet');
  const h = d.latentSize;
  const sample = s.in('sample', [1, d.latentChannels, h, h]);
  s.in('timestep', [1]);
  const context = s.in('encoder_hidden_states', [1, 1, d.embeddingDim]);
  const sampleMean = s.g.op('ReduceMean', [sample], { keepdims: 0 });
  const contextMean = s.g.op('ReduceMean', [context], { keepdims: 0 });
  const base = s.g.op('Add', [sampleMean, s.g.op('Mul', [contextMean, s.g.scalar(REFERENCE_EMBEDDING_WEIGHT)])]);
  d.referenceStates.forEach((state, i) => {
    const value = s.g.op('Add', [base, s.g.scalar(REFERENCE_STATE_STEP * i)]);
    const filled = s.g.op('Expand', [value, s.g.int64s([1, state.length, state.channels])], {}, { outputs: [state.name] });
    s.out(filled, state.name, [1, state.length, state.channels]);
  });
  return s.done();
}

function buildMotionExtractor(d: TestPackDims, w: TestPackWeights): BuiltGraph {
  const s = new SpecGraph('motion_extractor');
  const g = s.g;
  const image = s.in('image', ['batch', 3, d.extractorSize, d.extractorSize]);
  const means = g.op('ReduceMean', [image], { axes: [2, 3], keepdims: 0 }); // [N,3] (R,G,B)
  // centre = POSE_BIN_CENTRE + POSE_BIN_SLOPE * (m - 0.5)
  const centres = g.op('Add', [g.op('Mul', [means, g.scalar(POSE_BIN_SLOPE)]), g.scalar(POSE_BIN_CENTRE - 0.5 * POSE_BIN_SLOPE)]);
  const centreColumn = g.op('Unsqueeze', [centres, g.int64s([2])]); // [N,3,1]
  const bins = g.floats(Array.from({ length: d.poseBins }, (_, b) => b));
  const diff = g.op('Sub', [bins, centreColumn]); // [N,3,66]
  const logits = g.op('Mul', [g.op('Mul', [diff, diff]), g.scalar(-0.5)]);
  const batch = g.op('Shape', [image], { start: 0, end: 1 }); // [1] = [N]
  const batchByOne = g.op('Concat', [batch, g.int64s([1])], { axis: 0 }); // [N,1]
  const keypointValues = d.keypoints * 3;
  const produced: Record<string, [string, Dim[]]> = {
    kp: [g.op('Expand', [g.initializer(w.canonicalKeypoints, [1, keypointValues]), batchByOne], {}, { outputs: ['kp'] }), ['batch', keypointValues]],
    // yaw from red (channel 0), pitch from green (1), roll from blue (2).
    pitch: [g.op('Gather', [logits, g.scalarInt64(1)], { axis: 1 }, { outputs: ['pitch'] }), ['batch', d.poseBins]],
    yaw: [g.op('Gather', [logits, g.scalarInt64(0)], { axis: 1 }, { outputs: ['yaw'] }), ['batch', d.poseBins]],
    roll: [g.op('Gather', [logits, g.scalarInt64(2)], { axis: 1 }, { outputs: ['roll'] }), ['batch', d.poseBins]],
    t: [g.op('Add', [
      g.op('Mul', [means, g.floats([TRANSLATION_GAIN, TRANSLATION_GAIN, 0])]),
      g.floats([-0.5 * TRANSLATION_GAIN, -0.5 * TRANSLATION_GAIN, 0]),
    ], {}, { outputs: ['t'] }), ['batch', 3]],
    exp: [g.op('Expand', [g.initializer(new Float32Array(keypointValues), [1, keypointValues]), batchByOne], {}, { outputs: ['exp'] }), ['batch', keypointValues]],
    scale: [g.op('Expand', [g.floats([1], [1, 1]), batchByOne], {}, { outputs: ['scale'] }), ['batch', 1]],
  };
  const { outputs, optionalOutputs = [] } = COMPONENT_IO.motion_extractor; // the test pack has exp too
  for (const name of [...outputs, ...optionalOutputs]) s.out(produced[name][0], name, produced[name][1]);
  return s.done();
}

function buildMotionEncoder(d: TestPackDims): BuiltGraph {
  const s = new SpecGraph('motion_encoder');
  const motion = s.in('motion', [1, 3, 'frames', d.motionCropSize, d.motionCropSize]);
  s.out(motionEncoderOps(s.g, motion, d, 'motion_hidden_states'), 'motion_hidden_states', [1, 'frames', ...d.motionEmbedding]);
  return s.done();
}

function buildPoseGuider(d: TestPackDims, w: TestPackWeights): BuiltGraph {
  const s = new SpecGraph('pose_guider');
  const pose = s.in('pose', [1, 3, 'frames', d.resolution, d.resolution]);
  s.out(poseGuiderOps(s.g, pose, d, w, 'pose_cond_fea'), 'pose_cond_fea', [1, d.poseChannels, 'frames', d.latentSize, d.latentSize]);
  return s.done();
}

function buildStep(d: TestPackDims, w: TestPackWeights): BuiltGraph {
  const kind = d.stepKind;
  const s = new SpecGraph(kind);
  const g = s.g;
  const h = d.latentSize;
  const R = d.resolution;
  const M = d.motionCropSize;
  const C = d.latentChannels;
  const W = d.windowFrames;
  const H = d.historyFrames;
  const F = d.chunkFrames;
  const [tokens, channels] = d.motionEmbedding;

  // Inputs, in the contract's order.
  const declared = new Map<string, string>();
  const shapes: Record<string, Dim[]> = {
    sample: [1, C, W, h, h],
    encoder_hidden_states: [1, 1, d.embeddingDim],
    motion_hidden_states: [1, H, tokens, channels],
    motion: [1, 3, F, M, M],
    pose_cond_fea: [1, d.poseChannels, H, h, h],
    pose: [1, 3, F, R, R],
    new_noise: [1, C, F, h, h],
  };
  for (const state of d.referenceStates) shapes[state.name] = [1, `len_${state.name}`, state.channels];
  for (const name of COMPONENT_IO[`step:${kind}`].inputs) declared.set(name, s.in(name, shapes[name]));
  const input = (name: string): string => declared.get(name)!;

  // Conditioning windows (same weights as the standalone pose guider / motion encoder).
  const poseAll = g.op('Concat', [input('pose_cond_fea'), poseGuiderOps(g, input('pose'), d, w)], { axis: 2 }); // [1,Cp,16,h,h]
  const motionAll = g.op('Concat', [input('motion_hidden_states'), motionEncoderOps(g, input('motion'), d)], { axis: 1 }); // [1,16,32,16]

  // refMean = mean over the 16 states of mean(state).
  const stateMeans = d.referenceStates.map((state) => g.op('ReduceMean', [input(state.name)], { keepdims: 0 }));
  const refMean = g.op('Mul', [g.op('Sum', stateMeans), g.scalar(1 / stateMeans.length)]);

  // g = A * mean_k(PF_all) + B * mean(MH_all[f]) + Rc * refMean (+ 0 * mean(context)).
  const channelColumn = (values: Float32Array): string => g.initializer(values, [1, C, 1, 1, 1]);
  const frameColumn = (values: Float32Array): string => g.initializer(values, [1, 1, W, 1, 1]);
  const poseMean = g.op('ReduceMean', [poseAll], { axes: [1], keepdims: 1 }); // [1,1,16,h,h]
  const motionMean = g.op('Reshape', [g.op('ReduceMean', [motionAll], { axes: [2, 3], keepdims: 1 }), g.int64s([1, 1, W, 1, 1])]);
  const contextTerm = g.op('Mul', [g.op('ReduceMean', [input('encoder_hidden_states')], { keepdims: 0 }), g.scalar(0)]);
  const target = g.op('Add', [
    g.op('Add', [g.op('Mul', [poseMean, channelColumn(w.stepPoseWeight)]), g.op('Mul', [motionMean, channelColumn(w.stepMotionWeight)])]),
    g.op('Add', [g.op('Mul', [refMean, channelColumn(w.stepReferenceWeight)]), contextTerm]),
  ]); // [1,4,16,h,h]

  // eps = (sample - sqrt(a_t) * g) / sqrt(1 - a_t), per frame.
  const schedule = stepFrameSchedule();
  const sqrtAlpha = frameColumn(schedule.sqrtAlpha);
  const sqrtOneMinusAlpha = frameColumn(schedule.sqrtOneMinusAlpha);
  const sample = input('sample');
  const eps = g.op('Div', [g.op('Sub', [sample, g.op('Mul', [target, sqrtAlpha])]), sqrtOneMinusAlpha], {},
    kind === 'denoiser' ? { outputs: ['noise_pred'] } : {});

  const slice = (value: string, start: number, end: number, axis: number, output?: string): string =>
    g.op('Slice', [value, g.int64s([start]), g.int64s([end]), g.int64s([axis])], {}, output ? { outputs: [output] } : {});
  const latentShape: Dim[] = [1, C, W, h, h];

  const produced: Record<string, [string, Dim[]]> = {
    pose_cond_fea_out: [slice(poseAll, F, W, 2, 'pose_cond_fea_out'), [1, d.poseChannels, H, h, h]],
    motion_hidden_states_out: [slice(motionAll, F, W, 1, 'motion_hidden_states_out'), [1, H, tokens, channels]],
    motion_out: [slice(motionAll, 0, 1, 1, 'motion_out'), [1, 1, tokens, channels]],
  };
  if (kind === 'denoiser') {
    produced.noise_pred = [eps, latentShape];
  } else {
    // DDIM step: x0 = (x_t - sqrt(1-a_t) eps) / sqrt(a_t); x_prev = sqrt(a_prev) x0 + sqrt(1-a_prev) eps.
    const x0 = g.op('Div', [g.op('Sub', [sample, g.op('Mul', [eps, sqrtOneMinusAlpha])]), sqrtAlpha]);
    const xPrev = g.op('Add', [
      g.op('Mul', [x0, frameColumn(schedule.sqrtAlphaPrev)]),
      g.op('Mul', [eps, frameColumn(schedule.sqrtOneMinusAlphaPrev)]),
    ]);
    // pred_video: tiny-decoder mapping of the oldest chunk's x0, NHWC.
    const oldest = g.op('Reshape', [g.op('Transpose', [slice(x0, 0, F, 2)], { perm: [0, 2, 1, 3, 4] }), g.int64s([F, C, h, h])]);
    const frames = decoderOps(g, oldest, w.tinyDecoderWeight, w.tinyDecoderBias, 0, 1);
    produced.pred_video = [g.op('Transpose', [frames], { perm: [0, 2, 3, 1] }, { outputs: ['pred_video'] }), [F, R, R, 3]];
    produced.latents = [g.op('Concat', [slice(xPrev, F, W, 2), input('new_noise')], { axis: 2 }, { outputs: ['latents'] }), latentShape];
    produced.latent_first = [g.op('Squeeze', [slice(x0, 0, 1, 2), g.int64s([2])], {}, { outputs: ['latent_first'] }), [1, C, h, h]];
  }
  for (const name of COMPONENT_IO[`step:${kind}`].outputs) s.out(produced[name][0], name, produced[name][1]);
  return s.done();
}

function buildDecoder(d: TestPackDims, w: TestPackWeights, which: TestPackDecoder, output: 'float' | 'bytes'): BuiltGraph {
  const s = new SpecGraph(`${which}_decoder`);
  const latents = s.in('latents', ['batch', d.latentChannels, d.latentSize, d.latentSize]);
  const tiny = which === 'tiny';
  const name = output === 'float' ? 'image' : undefined;
  const image = tiny
    ? decoderOps(s.g, latents, w.tinyDecoderWeight, w.tinyDecoderBias, 0, 1, name)
    : decoderOps(s.g, latents, w.vaeDecoderWeight, w.vaeDecoderBias, -1, 1, name);
  if (output === 'float') {
    s.out(image, 'image', ['batch', 3, d.resolution, d.resolution]);
    return s.done();
  }
  // Bytes made in the graph: round half up like the engine's planarToRgbU8, then NHWC.
  const scaled = tiny
    ? s.g.op('Add', [s.g.op('Mul', [image, s.g.scalar(255)]), s.g.scalar(0.5)])
    : s.g.op('Add', [s.g.op('Mul', [image, s.g.scalar(127.5)]), s.g.scalar(128)]);
  const clipped = s.g.op('Clip', [s.g.op('Floor', [scaled]), s.g.scalar(0), s.g.scalar(255)]);
  const bytes = s.g.op('Cast', [clipped], { to: 2 });
  const nhwc = s.g.op('Transpose', [bytes], { perm: [0, 2, 3, 1] }, { outputs: ['image'] });
  s.out(nhwc, 'image', ['batch', d.resolution, d.resolution, 3], 'uint8');
  return s.done();
}

// ---------------------------------------------------------------------------------------
// The pack
// ---------------------------------------------------------------------------------------

/** A pack held in memory: its manifest and the bytes of every file it names (manifest.json included). */
export interface InMemoryTestPack {
  manifest: PackManifest;
  /** Relative path -> bytes, in a fixed order. */
  files: Map<string, Uint8Array>;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Builds every graph and the manifest in memory (deterministic for the same options). */
export function buildTestPackInMemory(options: TestPackOptions = {}): InMemoryTestPack {
  const d = testPackDims(options);
  const w = testPackWeights(options);
  const byteOutput = options.decoderOutput ?? 'float';
  const files = new Map<string, Uint8Array>();
  const component = (file: string, graph: BuiltGraph): ComponentSpec => {
    files.set(file, graph.bytes);
    return { file, sha256: sha256(graph.bytes), inputs: graph.inputs, outputs: graph.outputs };
  };

  const components: PackComponents = {
    image_encoder: component('image_encoder.onnx', buildImageEncoder(d, w)),
    vae_encoder: component('vae_encoder.onnx', buildVaeEncoder(d, w)),
    reference_unet: component('reference_unet.onnx', buildReferenceUnet(d)),
    motion_extractor: component('motion_extractor.onnx', buildMotionExtractor(d, w)),
    motion_encoder: component('motion_encoder.onnx', buildMotionEncoder(d)),
    pose_guider: component('pose_guider.onnx', buildPoseGuider(d, w)),
    step: { kind: d.stepKind, ...component(`${d.stepKind}.onnx`, buildStep(d, w)) },
  };
  if (d.decoders.includes('vae')) {
    const spec: DecoderComponentSpec = {
      ...component('vae_decoder.onnx', buildDecoder(d, w, 'vae', byteOutput)),
      latentMultiplier: 1 / d.latentScale,
      outputRange: byteOutput === 'bytes' ? 'bytes' : 'minus1to1',
    };
    components.vae_decoder = spec;
  }
  if (d.decoders.includes('tiny')) {
    components.tiny_decoder = { ...component('tiny_decoder.onnx', buildDecoder(d, w, 'tiny', byteOutput)), latentMultiplier: 1, outputRange: byteOutput === 'bytes' ? 'bytes' : 'zero1' };
  }

  const manifest: PackManifest = {
    format: PACK_FORMAT,
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    name: `test-pack-${d.profile}-${d.resolution}-${d.stepKind}`,
    description: `Generated test pack (profile ${d.profile}, ${d.resolution}x${d.resolution}, step ${d.stepKind}): `
      + 'small closed-form graphs with the contract\'s names and shapes, for tests and benchmarks. '
      + 'It is NOT a real animation model and produces no meaningful video.',
    precision: 'float32',
    resolution: d.resolution,
    latentSize: d.latentSize,
    latentChannels: d.latentChannels,
    latentScale: d.latentScale,
    embeddingDim: d.embeddingDim,
    poseChannels: d.poseChannels,
    clipSize: d.clipSize,
    clipMean: [...CLIP_MEAN],
    clipStd: [...CLIP_STD],
    extractorSize: d.extractorSize,
    motionCropSize: d.motionCropSize,
    motionEmbedding: [...d.motionEmbedding],
    referenceStates: d.referenceStates.map((r) => ({ ...r })),
    scheduler: structuredClone(PERSONALIVE_SCHEDULER),
    streaming: structuredClone(PERSONALIVE_STREAMING),
    components,
  };
  files.set(MANIFEST_FILE, new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
  return { manifest, files };
}

/**
 * Writes a complete test pack into `dir` (created; it must not exist or be empty) and
 * returns its manifest. The folder is built next to `dir` and renamed into place, so `dir`
 * never holds a partial pack. Throws PersonaLiveError USAGE for bad options or a non-empty
 * `dir`.
 */
export async function buildTestPack(dir: string, options: TestPackOptions = {}): Promise<PackManifest> {
  const target = path.resolve(dir);
  const pack = buildTestPackInMemory(options);

  let targetExists = false;
  try {
    const entries = await readdir(target);
    if (entries.length > 0) throw usage(`test pack folder ${target} already exists and is not empty`, { path: target });
    targetExists = true;
  } catch (error) {
    if (error instanceof PersonaLiveError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw usage(`test pack path ${target} exists and is not a folder`, { path: target });
    if (code !== 'ENOENT') throw error;
  }

  const parent = path.dirname(target);
  await mkdir(parent, { recursive: true });
  const temp = await mkdtemp(path.join(parent, `.${path.basename(target)}.tmp-`));
  try {
    for (const [file, bytes] of pack.files) {
      const filePath = path.join(temp, file);
      await mkdir(path.dirname(filePath), { recursive: true });
      await writeFile(filePath, bytes);
    }
    if (targetExists) await rmdir(target);
    try {
      await rename(temp, target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        throw usage(`test pack folder ${target} already exists and is not empty`, { path: target });
      }
      throw error;
    }
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
  return pack.manifest;
}
