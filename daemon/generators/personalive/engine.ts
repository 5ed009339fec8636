/**
 * The PersonaLive streaming generator over a model pack (streaming-generator.md):
 * reference fusion, motion conditions, the 16-frame micro-chunk window with per-chunk
 * timesteps, DDIM, emission of the oldest chunk, and historical keyframes.
 *
 * It owns no threads and no files: graphs come in as GraphRunner (ONNX Runtime sessions in
 * production, opened by the worker), frames as RGB bytes. Buffers are allocated once per
 * stream and reused every step.
 */
import { PersonaLiveError } from '../../errors.js';
import { REFERENCE_STATE_NAMES, WINDOW_STATE_OUTPUTS, type PackManifest } from '../../../models/contract.js';
import { disposeDeviceTensor, readDeviceTensor, type DeviceTensor, type Feed, type RuntimeTensor } from '../../ort/onnx-runtime.js';
import type { GeneratorStats, StageTiming } from '../generator.js';
import type { Frame, RgbImage } from '../../frames.js';
import type { DecoderKind } from '../../kinds.js';
import { alphasCumprod, GaussianRng } from './scheduler.js';
import {
  copyKeypointInfo,
  createKeypointInfo,
  faceBox,
  interpolateFrames,
  KeypointMapCanvas,
  keyframeDistance,
  readExtractorOutputs,
  transferToReference,
  transformKeypoints,
  warmupPoses,
  type KeypointInfo,
} from './motion.js';
import { BilinearResizer } from '../../kernels/imageops.js';
import { createPixelKernels, type PixelKernels } from '../../kernels/native.js';

/** The part of an ONNX Runtime session the engine needs. */
export interface GraphRunner {
  readonly providers: readonly string[];
  run(feeds: Record<string, Feed>): Promise<Record<string, RuntimeTensor>>;
  /** Runs and leaves the named outputs where they are (GraphSession has it; test doubles may not). */
  runKeeping?(feeds: Record<string, Feed>, keep: readonly string[]): Promise<{ outputs: Record<string, RuntimeTensor>; kept: Record<string, DeviceTensor> }>;
}

const WINDOW_OUTPUTS = Object.keys(WINDOW_STATE_OUTPUTS);

export interface EngineGraphs {
  image_encoder: GraphRunner;
  vae_encoder: GraphRunner;
  reference_unet: GraphRunner;
  motion_extractor: GraphRunner;
  motion_encoder: GraphRunner;
  pose_guider: GraphRunner;
  step: GraphRunner;
  /** The split-out decoder for a "denoiser" step graph; absent for the fused unet_work graph. */
  decoder?: GraphRunner;
}

export type DecoderChoice = DecoderKind;

export interface EngineOptions {
  /** Which decoder the pack's `decoder` graph is (only for "denoiser" step graphs). */
  decoder: DecoderChoice;
  seed?: number;
  /** Pixel kernels (native addon or TypeScript); defaults to the native addon when built. */
  kernels?: PixelKernels;
}

/** Where the frames of one window chunk come from: driving frames, warm-up, or end-of-input padding. */
type ChunkSource = { kind: 'warmup' } | { kind: 'driving'; frames: { index: number; captureUs: number; padding: boolean }[] };

interface FusedReference {
  embedding: Float32Array; // [1,1,E]
  latent: Float32Array; // [C, h*w], already multiplied by latentScale
  /** The 16 reference states, each [1, length * (1 + keyframes), C]. */
  states: Float32Array[];
  /**
   * The reference's own 16 states as the reference UNet left them (GPU buffers on webgpu),
   * fed to every step while there are no history keyframes; null where the graph runner
   * cannot keep outputs.
   */
  deviceStates: DeviceTensor[] | null;
  stateBaseCount: number;
  keypoints: KeypointInfo;
  /** The reference image at model resolution, planar [3,R,R] in [-1,1] (for its face crop). */
  planar: Float32Array;
}

/** Named step outputs copied out of ONNX Runtime's result into engine state. */
interface StepResult {
  frames: Float32Array | Uint8Array;
  framesLayout: 'NHWC' | 'NCHW';
  framesRange: 'zero1' | 'minus1to1' | 'bytes';
  motionOut: Float32Array;
  latentFirst: Float32Array;
}

const GRAPH_STAGES = new Set(['image_encoder', 'vae_encoder', 'reference_unet', 'motion_extractor', 'motion_encoder', 'pose_guider', 'step', 'decoder']);

export class PersonaLiveEngine {
  private readonly m: PackManifest;
  private readonly graphs: EngineGraphs;
  private readonly decoderChoice: DecoderChoice;
  private readonly alphas: Float64Array;
  private readonly rng: GaussianRng;

  // Dimensions, from the manifest.
  private readonly R: number;
  private readonly h: number;
  private readonly C: number;
  private readonly plane: number;
  private readonly chunk: number;
  private readonly windowFrames: number;
  private readonly warmFrames: number;
  private readonly motionSize: number;
  private readonly frameTimesteps: Int32Array;

  private ref: FusedReference | null = null;

  // Stream state.
  private started = false;
  private stepCount = 0;
  private keyframeCount = 0;
  private motionBank: Float32Array[] = [];
  private firstDriving: KeypointInfo | null = null;
  private pending: Frame[] = [];
  private windowSources: ChunkSource[] = [];
  private lastFrame: Frame | null = null;

  // Window tensors fed back step to step.
  private sample: Float32Array;
  private poseFeatures: Float32Array = new Float32Array(0);
  private motionHidden: Float32Array = new Float32Array(0);
  /**
   * The fused step's window state as the last step left it (input name -> kept tensor): fed
   * back as it is, so on webgpu it never leaves the GPU. Null: the host arrays above are current.
   */
  private deviceWindow: Record<string, DeviceTensor> | null = null;

  // Per-step scratch, allocated once.
  private readonly extractorInput: Float32Array;
  private readonly poseMaps: Float32Array;
  private readonly motionCrops: Float32Array;
  private readonly noise: Float32Array;
  private readonly newNoise: Float32Array;
  private readonly xPrev: Float32Array;
  private readonly x0: Float32Array;
  private readonly decoderInput: Float32Array;
  private readonly transferred = new Float32Array(63);
  private readonly ownKeypoints = new Float32Array(63);
  private readonly canvas = new KeypointMapCanvas();
  private readonly resizer = new BilinearResizer();
  private readonly kernels: PixelKernels;
  private readonly frameInfos: KeypointInfo[];
  private readonly transferredInfo = createKeypointInfo();
  private warmPoseMaps: Float32Array | null = null;

  private readonly stageTimes: Record<string, StageTiming> = {};
  private framesIn = 0;
  private framesOut = 0;
  private warmupOut = 0;

  constructor(manifest: PackManifest, graphs: EngineGraphs, options: EngineOptions) {
    this.m = manifest;
    this.graphs = graphs;
    this.decoderChoice = options.decoder;
    this.alphas = alphasCumprod(manifest.scheduler);
    this.rng = new GaussianRng(options.seed ?? 42);
    this.kernels = options.kernels ?? createPixelKernels();
    if (manifest.components.step.kind === 'denoiser' && !graphs.decoder) {
      throw new PersonaLiveError('DECODER_UNAVAILABLE', 'a "denoiser" step graph needs a decoder graph (vae_decoder or tiny_decoder)');
    }

    this.R = manifest.resolution;
    this.h = manifest.latentSize;
    this.C = manifest.latentChannels;
    this.plane = this.h * this.h;
    this.chunk = manifest.streaming.chunkFrames;
    this.windowFrames = manifest.streaming.chunks * this.chunk;
    this.warmFrames = manifest.streaming.warmupFrames;
    this.motionSize = manifest.motionEmbedding[0] * manifest.motionEmbedding[1];
    this.frameTimesteps = new Int32Array(this.windowFrames);
    for (let f = 0; f < this.windowFrames; f++) this.frameTimesteps[f] = manifest.scheduler.chunkTimesteps[Math.floor(f / this.chunk)];

    const RR = this.R * this.R;
    const P = manifest.extractorSize;
    const M = manifest.motionCropSize;
    const windowSize = this.C * this.windowFrames * this.plane;
    this.sample = new Float32Array(windowSize);
    this.frameInfos = Array.from({ length: this.chunk }, () => createKeypointInfo());
    this.extractorInput = new Float32Array(this.chunk * 3 * P * P);
    this.poseMaps = new Float32Array(3 * this.chunk * RR);
    this.motionCrops = new Float32Array(3 * this.chunk * M * M);
    this.noise = new Float32Array(this.C * this.chunk * this.plane);
    this.newNoise = new Float32Array(this.C * this.chunk * this.plane);
    this.xPrev = new Float32Array(windowSize);
    this.x0 = new Float32Array(windowSize);
    this.decoderInput = new Float32Array(this.chunk * this.C * this.plane);
  }

  get resolution(): number {
    return this.R;
  }

  /** How many steps a driving chunk spends in the window before it is emitted. */
  get chunkDelaySteps(): number {
    return this.m.streaming.chunks - 1;
  }

  private async timed<T>(stage: string, work: () => Promise<T> | T): Promise<T> {
    const start = performance.now();
    try {
      return await work();
    } finally {
      const ms = performance.now() - start;
      const entry = (this.stageTimes[stage] ??= { count: 0, totalMs: 0, lastMs: 0 });
      entry.count++;
      entry.totalMs += ms;
      entry.lastMs = ms;
    }
  }

  private async runGraph(stage: keyof EngineGraphs, feeds: Record<string, Feed>): Promise<Record<string, RuntimeTensor>> {
    const graph = this.graphs[stage];
    if (!graph) throw new PersonaLiveError('INTERNAL', `graph ${stage} is not loaded`);
    return this.timed(stage, () => graph.run(feeds));
  }

  /** Float outputs (all but byte-image decoder outputs); a uint8 tensor here is a pack error. */
  private float(outputs: Record<string, RuntimeTensor>, name: string): Float32Array {
    const data = outputs[name]?.data;
    if (!(data instanceof Float32Array)) {
      throw new PersonaLiveError('PACK_GRAPH_MISMATCH', `graph output "${name}" is ${data ? 'uint8' : 'missing'}, expected float32 or float16`, { output: name });
    }
    return data;
  }

  /**
   * Fuses a reference portrait (model-resolution square expected; other sizes are resized):
   * image embedding, reference latent, the 16 reference states and its keypoints. A fused
   * reference replaces the previous one; the stream restarts from a warm-up so the next
   * frames transition from the new portrait's pose to the driver's.
   */
  async fuseReference(image: RgbImage): Promise<void> {
    const m = this.m;
    const R = this.R;
    const clip = m.clipSize;
    const P = m.extractorSize;

    const clipInput = new Float32Array(3 * clip * clip);
    const vaeInput = new Float32Array(3 * R * R);
    const extractorInput = new Float32Array(3 * P * P);
    await this.timed('preprocess', () => {
      const scale = m.clipStd.map((s) => 1 / s) as [number, number, number];
      const bias = m.clipMean.map((mean, c) => -mean / m.clipStd[c]) as [number, number, number];
      this.resizer.resizeRgbToPlanar(image.data, image.width, image.height, clip, clip, clipInput, 0, clip * clip, scale, bias);
      this.resizer.resizeRgbToPlanar(image.data, image.width, image.height, R, R, vaeInput, 0, R * R, [2, 2, 2], [-1, -1, -1]);
      this.resizer.resizeRgbToPlanar(image.data, image.width, image.height, P, P, extractorInput, 0, P * P, [1, 1, 1], [0, 0, 0]);
    });

    const embeds = await this.runGraph('image_encoder', { pixel_values: { data: clipInput, dims: [1, 3, clip, clip] } });
    const embedding = Float32Array.from(this.float(embeds, 'image_embeds'));
    const latentOut = await this.runGraph('vae_encoder', { image: { data: vaeInput, dims: [1, 3, R, R] } });
    const latent = Float32Array.from(this.float(latentOut, 'latent_mean'), (v) => v * m.latentScale);
    const { states, kept } = await this.fusedReferenceStates(latent, embedding);
    const kpOut = await this.runGraph('motion_extractor', { image: { data: extractorInput, dims: [1, 3, P, P] } });
    const keypoints = readExtractorOutputs(kpOut as never, 0);

    if (this.ref?.deviceStates) for (const tensor of this.ref.deviceStates) disposeDeviceTensor(tensor);
    this.ref = { embedding, latent, states, deviceStates: kept, stateBaseCount: 1, keypoints: copyKeypointInfo(keypoints, createKeypointInfo()), planar: vaeInput };
    this.resetStream();
  }

  private referenceFeeds(latent: Float32Array, embedding: Float32Array): Record<string, Feed> {
    return {
      sample: { data: latent, dims: [1, this.C, this.h, this.h] },
      timestep: { data: new Float32Array([0]), dims: [1] },
      encoder_hidden_states: { data: embedding, dims: [1, 1, this.m.embeddingDim] },
    };
  }

  private async referenceStates(latent: Float32Array, embedding: Float32Array): Promise<Float32Array[]> {
    const out = await this.runGraph('reference_unet', this.referenceFeeds(latent, embedding));
    return REFERENCE_STATE_NAMES.map((name) => this.float(out, name));
  }

  /**
   * A new reference's states: kept where the reference UNet left them (so the steps need not
   * upload them), and read once to the host for keyframes, which grow them there.
   */
  private async fusedReferenceStates(latent: Float32Array, embedding: Float32Array): Promise<{ states: Float32Array[]; kept: DeviceTensor[] | null }> {
    const graph = this.graphs.reference_unet;
    if (!graph.runKeeping) return { states: await this.referenceStates(latent, embedding), kept: null };
    const result = await this.timed('reference_unet', () => graph.runKeeping!(this.referenceFeeds(latent, embedding), REFERENCE_STATE_NAMES));
    const kept = REFERENCE_STATE_NAMES.map((name) => result.kept[name]);
    return { states: await Promise.all(kept.map(readDeviceTensor)), kept };
  }

  /** Drops the window and history; keeps the fused reference (and its base states). */
  resetStream(): void {
    this.started = false;
    this.stepCount = 0;
    this.keyframeCount = 0;
    this.motionBank = [];
    this.firstDriving = null;
    this.pending = [];
    this.windowSources = [];
    this.lastFrame = null;
    if (this.ref && this.ref.stateBaseCount !== 1) {
      this.ref.states = this.ref.states.map((s, i) => s.slice(0, this.m.referenceStates[i].length * this.m.referenceStates[i].channels));
      this.ref.stateBaseCount = 1;
    }
  }

  /** Reference states' current sequence lengths (grow by one reference's length per keyframe). */
  referenceStateLengths(): number[] {
    if (!this.ref) return [];
    return this.ref.states.map((s, i) => s.length / this.m.referenceStates[i].channels);
  }

  get keyframes(): number {
    return this.keyframeCount;
  }

  get steps(): number {
    return this.stepCount;
  }

  /** Adds one driving frame; runs a step whenever a chunk of frames is complete. */
  async push(frame: Frame): Promise<Frame[]> {
    if (!this.ref) throw new PersonaLiveError('NO_REFERENCE', 'push() before a reference was fused: call fuseReference() first');
    this.framesIn++;
    this.pending.push(frame);
    this.lastFrame = frame;
    if (this.pending.length < this.chunk) return [];
    const chunk = this.pending;
    this.pending = [];
    return this.step(chunk, chunk.map(() => false));
  }

  /**
   * End of input: pads the last partial chunk with its last frame, then pushes padding
   * chunks until every real driving frame has left the window. Padding is never emitted.
   * The stream restarts afterwards.
   */
  async flush(): Promise<Frame[]> {
    const out: Frame[] = [];
    if (!this.lastFrame) return out;
    const last = this.lastFrame;
    const hasRealInWindow = (): boolean => this.windowSources.some((s) => s.kind === 'driving' && s.frames.some((f) => !f.padding));
    if (this.pending.length > 0) {
      const padding = this.pending.map(() => false);
      while (this.pending.length < this.chunk) {
        this.pending.push(last);
        padding.push(true);
      }
      const chunk = this.pending;
      this.pending = [];
      out.push(...(await this.step(chunk, padding)));
    }
    while (hasRealInWindow()) {
      out.push(...(await this.step(new Array<Frame>(this.chunk).fill(last), new Array<boolean>(this.chunk).fill(true))));
    }
    this.resetStream();
    return out;
  }

  private async step(frames: Frame[], padding: boolean[]): Promise<Frame[]> {
    const m = this.m;
    const ref = this.ref!;
    const R = this.R;
    const RR = R * R;
    const P = m.extractorSize;
    const M = m.motionCropSize;
    const n = this.chunk;

    // 1. Driving frames at the extractor's size, [0,1].
    await this.timed('preprocess', () => {
      for (let f = 0; f < n; f++) {
        const frame = frames[f];
        this.kernels.resizeRgbToPlanar(frame.data, frame.width, frame.height, P, P, this.extractorInput, f * 3 * P * P, P * P, ONE, ZERO);
      }
    });

    // 2. Implicit keypoints of the 4 frames.
    const kpOut = await this.runGraph('motion_extractor', { image: { data: this.extractorInput, dims: [n, 3, P, P] } });
    const infos = this.frameInfos;
    for (let f = 0; f < n; f++) readExtractorOutputs(kpOut as never, f, infos[f]);
    const firstStep = !this.started;
    if (firstStep) this.firstDriving = copyKeypointInfo(infos[0], createKeypointInfo());
    const first = this.firstDriving!;

    // 3. Keypoint maps of the transferred keypoints; face crops from the driver's own keypoints.
    await this.timed('conditions', () => {
      for (let f = 0; f < n; f++) {
        const info = transferToReference(ref.keypoints, first, infos[f], m.streaming.translationScale, m.streaming.scaleFactor, this.transferredInfo);
        transformKeypoints(info, this.transferred);
        this.canvas.draw(this.transferred, this.poseMaps, f * RR, n * RR, R, R);
        // The face box is in model-resolution pixels; crop the frame's own bytes (any size) directly.
        transformKeypoints(infos[f], this.ownKeypoints);
        const box = faceBox(this.ownKeypoints, R, R);
        const frame = frames[f];
        if (frame.width !== R || frame.height !== R) scaleBox(box, frame.width / R, frame.height / R);
        this.kernels.cropResizeRgbToPlanar(frame.data, frame.width, frame.height, box, M, this.motionCrops, f * M * M, n * M * M, TWO, MINUS_ONE);
      }
    });

    if (firstStep) await this.startWindow(infos[0]);

    // 4. The new chunk enters the window as its newest chunk (its latents were appended as noise).
    this.windowSources.push({
      kind: 'driving',
      frames: frames.map((fr, i) => ({ index: fr.index, captureUs: fr.captureUs, padding: padding[i] })),
    });

    const result = await this.runStep();

    // 5. Historical keyframes: the emitted chunk's motion, compared with the bank.
    await this.updateKeyframes(result.motionOut, result.latentFirst);
    this.stepCount++;

    // 6. Emit the oldest chunk.
    const emitted = this.windowSources.shift()!;
    return this.timed('postprocess', () => this.toOutputFrames(result, emitted));
  }

  /** First step: the 12-frame warm-up from the reference pose and motion to the first driving frame's. */
  /** The host arrays are about to be rewritten: the kept window state is stale. */
  private dropDeviceWindow(): void {
    if (this.deviceWindow) for (const tensor of Object.values(this.deviceWindow)) disposeDeviceTensor(tensor);
    this.deviceWindow = null;
  }

  private async startWindow(firstInfo: KeypointInfo): Promise<void> {
    this.dropDeviceWindow();
    const m = this.m;
    const ref = this.ref!;
    const R = this.R;
    const RR = R * R;
    const M = m.motionCropSize;
    const W = this.warmFrames;
    const firstTransferred = transferToReference(ref.keypoints, firstInfo, firstInfo, m.streaming.translationScale, m.streaming.scaleFactor);

    // Pose features of the 12 interpolated poses.
    this.warmPoseMaps ??= new Float32Array(3 * W * RR);
    const poses = warmupPoses(ref.keypoints, firstTransferred, W);
    const refCrop = new Float32Array(3 * 2 * M * M);
    await this.timed('conditions', () => {
      for (let f = 0; f < W; f++) {
        transformKeypoints(poses[f], this.transferred);
        this.canvas.draw(this.transferred, this.warmPoseMaps!, f * RR, W * RR, R, R);
      }
      // Motion encoder input [1,3,2,M,M]: the reference's face crop, then the first driving crop.
      transformKeypoints(ref.keypoints, this.ownKeypoints);
      const refBox = faceBox(this.ownKeypoints, R, R);
      this.resizer.cropResizePlanar(ref.planar, 0, RR, R, R, refBox, M, refCrop, 0, 2 * M * M);
      for (let c = 0; c < 3; c++) refCrop.set(this.motionCrops.subarray(c * this.chunk * M * M, c * this.chunk * M * M + M * M), c * 2 * M * M + M * M);
    });
    const poseOut = await this.runGraph('pose_guider', { pose: { data: this.warmPoseMaps, dims: [1, 3, W, R, R] } });
    this.poseFeatures = this.float(poseOut, 'pose_cond_fea');

    const motionOut = await this.runGraph('motion_encoder', { motion: { data: refCrop, dims: [1, 3, 2, M, M] } });
    const pair = this.float(motionOut, 'motion_hidden_states');
    const refMotion = pair.slice(0, this.motionSize);
    const firstMotion = pair.slice(this.motionSize, 2 * this.motionSize);
    this.motionHidden = new Float32Array(W * this.motionSize);
    interpolateFrames(refMotion, firstMotion, W, this.motionHidden);
    this.motionBank = [refMotion];

    // Window: the reference latent noised to the warm-up chunks' timesteps, then fresh noise at the newest.
    await this.timed('scheduler', () => {
      for (let f = 0; f < this.windowFrames; f++) {
        const t = this.frameTimesteps[f];
        this.rng.fill(this.noise.subarray(0, this.C * this.plane));
        this.noisedReference(t, this.noise, this.sample, f, this.windowFrames);
      }
    });
    this.windowSources = Array.from({ length: this.warmFrames / this.chunk }, () => ({ kind: 'warmup' as const }));
    this.started = true;
  }

  /**
   * Writes the reference latent noised to timestep t into frame `frame` of a [C, frames, plane]
   * tensor, reading noise laid out [C, plane] (first C*plane values of `noise`).
   */
  private noisedReference(t: number, noise: Float32Array, out: Float32Array, frame: number, frames: number): void {
    const a = this.alphas[t];
    const sa = Math.sqrt(a);
    const s1 = Math.sqrt(1 - a);
    const plane = this.plane;
    const latent = this.ref!.latent;
    for (let c = 0; c < this.C; c++) {
      const dst = (c * frames + frame) * plane;
      const src = c * plane;
      for (let p = 0; p < plane; p++) out[dst + p] = sa * latent[src + p] + s1 * noise[src + p];
    }
  }

  /** Fresh noise for the newest chunk: the reference latent noised to the last timestep. */
  private makeNewNoise(): Float32Array {
    const tLast = this.frameTimesteps[this.windowFrames - 1];
    for (let f = 0; f < this.chunk; f++) {
      this.rng.fill(this.noise.subarray(0, this.C * this.plane));
      this.noisedReference(tLast, this.noise, this.newNoise, f, this.chunk);
    }
    return this.newNoise;
  }

  private stepFeeds(): Record<string, Feed> {
    const m = this.m;
    const ref = this.ref!;
    const { C, h, R } = this;
    const n = this.chunk;
    const W = this.warmFrames;
    const [tokens, channels] = m.motionEmbedding;
    const feeds: Record<string, Feed> = {
      sample: { data: this.sample, dims: [1, C, this.windowFrames, h, h] },
      // The embedding and the reference states are never written after they are made (a
      // keyframe makes new arrays), so a float16 graph converts them once, not every step.
      encoder_hidden_states: { data: ref.embedding, dims: [1, 1, m.embeddingDim], constant: true },
      motion_hidden_states: { data: this.motionHidden, dims: [1, W, tokens, channels] },
      motion: { data: this.motionCrops, dims: [1, 3, n, m.motionCropSize, m.motionCropSize] },
      pose_cond_fea: { data: this.poseFeatures, dims: [1, m.poseChannels, W, h, h] },
      pose: { data: this.poseMaps, dims: [1, 3, n, R, R] },
    };
    REFERENCE_STATE_NAMES.forEach((name, i) => {
      const spec = m.referenceStates[i];
      // With history keyframes the states grew on the host; without, the kept ones are current.
      feeds[name] = ref.deviceStates && ref.stateBaseCount === 1
        ? ref.deviceStates[i]
        : { data: ref.states[i], dims: [1, ref.states[i].length / spec.channels, spec.channels], constant: true };
    });
    return this.deviceWindow ? { ...feeds, ...this.deviceWindow } : feeds;
  }

  private async runStep(): Promise<StepResult> {
    const { C, plane } = this;
    const n = this.chunk;
    const feeds = this.stepFeeds();
    if (this.m.components.step.kind === 'unet_work') {
      feeds.new_noise = { data: await this.timed('scheduler', () => this.makeNewNoise()), dims: [1, C, n, this.h, this.h] };
      const step = this.graphs.step;
      let out: Record<string, RuntimeTensor>;
      if (step.runKeeping) {
        // The window state goes straight back into the next step (no host copy, no float16 round trip).
        const result = await this.timed('step', () => step.runKeeping!(feeds, WINDOW_OUTPUTS));
        out = result.outputs;
        this.dropDeviceWindow();
        this.deviceWindow = Object.fromEntries(Object.entries(result.kept).map(([output, tensor]) => [WINDOW_STATE_OUTPUTS[output], tensor]));
      } else {
        out = await this.runGraph('step', feeds);
        this.sample = this.float(out, 'latents');
        this.poseFeatures = this.float(out, 'pose_cond_fea_out');
        this.motionHidden = this.float(out, 'motion_hidden_states_out');
      }
      const video = out.pred_video?.data;
      const framesRange = video instanceof Uint8Array ? 'bytes' : 'zero1';
      return { frames: framesRange === 'bytes' ? video! : this.float(out, 'pred_video'), framesLayout: 'NHWC', framesRange, motionOut: this.float(out, 'motion_out'), latentFirst: this.float(out, 'latent_first') };
    }

    const out = await this.runGraph('step', feeds);
    this.poseFeatures = this.float(out, 'pose_cond_fea_out');
    this.motionHidden = this.float(out, 'motion_hidden_states_out');
    const F = this.windowFrames;
    const latentFirst = new Float32Array(C * plane);
    await this.timed('scheduler', () => {
      this.kernels.ddimStepWindow(this.sample, this.float(out, 'noise_pred'), this.frameTimesteps, { channels: C, frames: F, plane }, this.alphas, this.m.scheduler.stepLength, this.xPrev, this.x0);
      // Shift: the next window is the stepped frames 4..15 followed by fresh noise.
      const fresh = this.makeNewNoise();
      for (let c = 0; c < C; c++) {
        const base = c * F * plane;
        this.sample.set(this.xPrev.subarray(base + n * plane, base + F * plane), base);
        this.sample.set(fresh.subarray(c * n * plane, (c + 1) * n * plane), base + (F - n) * plane);
        latentFirst.set(this.x0.subarray(base, base + plane), c * plane);
      }
      // Decoder input [n, C, h, w]: the emitted chunk's clean latents, scaled for this decoder.
      const multiplier = this.decoderSpec().latentMultiplier;
      for (let f = 0; f < n; f++) {
        for (let c = 0; c < C; c++) {
          const src = (c * F + f) * plane;
          const dst = (f * C + c) * plane;
          for (let p = 0; p < plane; p++) this.decoderInput[dst + p] = this.x0[src + p] * multiplier;
        }
      }
    });
    const decoded = await this.runGraph('decoder', { latents: { data: this.decoderInput, dims: [n, C, this.h, this.h] } });
    const range = this.decoderSpec().outputRange;
    const image = decoded.image?.data;
    if (range === 'bytes' && !(image instanceof Uint8Array)) {
      throw new PersonaLiveError('PACK_GRAPH_MISMATCH', 'decoder output "image" is not uint8 although the manifest says outputRange "bytes"', { output: 'image' });
    }
    const frames = range === 'bytes' ? (image as Uint8Array) : this.float(decoded, 'image');
    return { frames, framesLayout: range === 'bytes' ? 'NHWC' : 'NCHW', framesRange: range, motionOut: this.float(out, 'motion_out'), latentFirst };
  }

  private decoderSpec(): { latentMultiplier: number; outputRange: 'zero1' | 'minus1to1' | 'bytes' } {
    const spec = this.decoderChoice === 'tiny' ? this.m.components.tiny_decoder : this.m.components.vae_decoder;
    if (!spec) throw new PersonaLiveError('DECODER_UNAVAILABLE', `the pack has no ${this.decoderChoice === 'tiny' ? 'tiny_decoder' : 'vae_decoder'}`);
    return spec;
  }

  private async updateKeyframes(motionOut: Float32Array, latentFirst: Float32Array): Promise<void> {
    const s = this.m.streaming;
    if (this.stepCount <= s.keyframeAfterStep) return;
    const distance = keyframeDistance(this.motionBank, motionOut);
    if (distance <= s.keyframeThreshold) return;
    this.motionBank.push(Float32Array.from(motionOut));
    if (this.keyframeCount >= s.maxKeyframes) return;
    const ref = this.ref!;
    const extra = await this.referenceStates(latentFirst, ref.embedding);
    ref.states = ref.states.map((state, i) => {
      const grown = new Float32Array(state.length + extra[i].length);
      grown.set(state, 0);
      grown.set(extra[i], state.length);
      return grown;
    });
    ref.stateBaseCount++;
    this.keyframeCount++;
  }

  private toOutputFrames(result: StepResult, source: ChunkSource): Frame[] {
    const R = this.R;
    const out: Frame[] = [];
    for (let f = 0; f < this.chunk; f++) {
      let meta: { warmup: boolean; index: number; captureUs: number };
      if (source.kind === 'warmup') {
        meta = { warmup: true, index: -1, captureUs: this.windowCaptureUs() };
      } else {
        const frame = source.frames[f];
        if (frame.padding) continue;
        meta = { warmup: false, index: frame.index, captureUs: frame.captureUs };
      }
      const frameBytes = R * R * 3;
      let data: Uint8Array;
      if (result.framesRange === 'bytes') {
        // The graph already made RGB bytes (on the inference device): one copy, no conversion.
        data = (result.frames as Uint8Array).slice(f * frameBytes, (f + 1) * frameBytes);
      } else {
        data = new Uint8Array(frameBytes);
        this.kernels.planarToRgbU8(result.frames as Float32Array, result.framesLayout, f, R, R, result.framesRange, data);
      }
      out.push({ data, width: R, height: R, warmup: meta.warmup, index: meta.index, captureUs: meta.captureUs });
      if (meta.warmup) this.warmupOut++;
      else this.framesOut++;
    }
    return out;
  }

  /** Timestamp given to warm-up frames: the first driving frame still in the window. */
  private windowCaptureUs(): number {
    for (const s of this.windowSources) if (s.kind === 'driving') return s.frames[0].captureUs;
    return this.lastFrame?.captureUs ?? 0;
  }

  stats(providers: Record<string, readonly string[]>): GeneratorStats {
    return {
      generator: 'personalive',
      framesIn: this.framesIn,
      framesOut: this.framesOut,
      warmupFramesOut: this.warmupOut,
      steps: this.stepCount,
      keyframes: this.keyframeCount,
      providers,
      stages: structuredClone(this.stageTimes),
      kernels: this.kernels.implementation,
      decoder: this.decoderChoice,
    };
  }

  /** Milliseconds spent inside graph runs vs. everything else, over the whole run. */
  timeSplit(): { graphMs: number; otherMs: number } {
    let graphMs = 0;
    let otherMs = 0;
    for (const [stage, t] of Object.entries(this.stageTimes)) {
      if (GRAPH_STAGES.has(stage)) graphMs += t.totalMs;
      else otherMs += t.totalMs;
    }
    return { graphMs, otherMs };
  }
}

const ONE = [1, 1, 1] as const;
const ZERO = [0, 0, 0] as const;
const TWO = [2, 2, 2] as const;
const MINUS_ONE = [-1, -1, -1] as const;

function scaleBox(box: number[] | Int32Array | [number, number, number, number], sx: number, sy: number): void {
  box[0] = Math.floor(box[0] * sx);
  box[1] = Math.floor(box[1] * sy);
  box[2] = Math.ceil(box[2] * sx);
  box[3] = Math.ceil(box[3] * sy);
}
