/**
 * The model-pack contract: what a pack's manifest.json says, and the fixed input/output
 * names of every component graph. Names follow the public PersonaLive TensorRT export
 * ("unet_work", see ../shared/design/streaming-generator.md) so its ONNX graph drops in.
 */

export const PACK_FORMAT = 'personalive-pack';
/** Written by this version. Schema 2 added `data` (external tensor files), `precision` and `source`. */
export const MANIFEST_SCHEMA_VERSION = 2;
/** Schemas this version reads: a schema-1 pack has no external data and still loads. */
export const READABLE_SCHEMA_VERSIONS: readonly number[] = [1, 2];
export const MANIFEST_FILE = 'manifest.json';

export type TensorDType = 'float32' | 'float16' | 'int64' | 'int32' | 'uint8';
/** A dimension: a fixed size, or a name for a dynamic axis (e.g. "batch", "len_d00"). */
export type Dim = number | string;

export interface TensorSpec {
  name: string;
  dtype: TensorDType;
  shape: Dim[];
}

/** A file of external tensor data that a graph refers to (ONNX keeps weights over 2 GB outside the graph). */
export interface DataFileSpec {
  /** Path relative to the pack folder. */
  file: string;
  sha256: string;
  bytes: number;
}

export interface ComponentSpec {
  /** Path relative to the pack folder. */
  file: string;
  /** Lower-case hex sha256 of the file. */
  sha256: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Every external data file of the graph (schema 2); verify hashes each one. */
  data?: DataFileSpec[];
}

/**
 * "unet_work": the public fused graph (pose guider + motion encoder + UNet + DDIM step +
 * VAE decode); outputs pred_video and the next window. "denoiser": the same conditioning
 * inputs but it outputs the noise prediction; the engine runs the DDIM step, the window
 * shift and a separately chosen decoder (full VAE or TinyVAE).
 */
export type StepKind = 'unet_work' | 'denoiser';

export interface StepComponentSpec extends ComponentSpec {
  kind: StepKind;
}

export interface DecoderComponentSpec extends ComponentSpec {
  /** Latents are multiplied by this before decoding (1/0.18215 for the SD VAE, 1 for TAESD). */
  latentMultiplier: number;
  /**
   * The decoder's `image` output: float [N,3,H,W] in [-1,1] ('minus1to1') or [0,1] ('zero1'),
   * or 'bytes': uint8 RGB [N,H,W,3], the conversion done inside the graph, i.e. on the
   * inference device rather than on the daemon's CPU.
   */
  outputRange: 'minus1to1' | 'zero1' | 'bytes';
}

export interface SchedulerSpec {
  trainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: 'scaled_linear' | 'linear';
  predictionType: 'epsilon';
  /** Timestep of each chunk in the window, oldest first: [0, 333, 666, 999]. */
  chunkTimesteps: number[];
  stepLength: number;
  setAlphaToOne: boolean;
}

export interface StreamingSpec {
  chunkFrames: number;
  chunks: number;
  warmupFrames: number;
  keyframeThreshold: number;
  keyframeAfterStep: number;
  maxKeyframes: number;
  translationScale: number;
  scaleFactor: number;
}

export interface ReferenceStateSpec {
  name: string;
  /** Sequence length of one reference image's states (grows by this per keyframe). */
  length: number;
  channels: number;
}

/** Where an exported pack came from (schema 2, informational: shown by verify, never trusted for checks). */
export interface PackSource {
  exporter: string;
  upstreamCommit?: string;
  torch?: string;
  onnxOpset?: number;
  /** True when the weights were random (a proof of the export path, not an animation model). */
  randomWeights?: boolean;
  exportedAt?: string;
}

export interface PackManifest {
  format: typeof PACK_FORMAT;
  schemaVersion: 1 | 2;
  name: string;
  description?: string;
  /** The graphs' floating-point type (schema 2; schema-1 packs are float32). */
  precision?: 'float32' | 'float16';
  source?: PackSource;
  /** Frames are resolution x resolution RGB. */
  resolution: number;
  latentSize: number;
  latentChannels: number;
  latentScale: number;
  embeddingDim: number;
  poseChannels: number;
  clipSize: number;
  clipMean: [number, number, number];
  clipStd: [number, number, number];
  extractorSize: number;
  motionCropSize: number;
  /** [tokens, channels] of one frame's motion embedding: [32, 16]. */
  motionEmbedding: [number, number];
  referenceStates: ReferenceStateSpec[];
  scheduler: SchedulerSpec;
  streaming: StreamingSpec;
  components: PackComponents;
}

export interface PackComponents {
  image_encoder: ComponentSpec;
  vae_encoder: ComponentSpec;
  reference_unet: ComponentSpec;
  motion_extractor: ComponentSpec;
  motion_encoder: ComponentSpec;
  pose_guider: ComponentSpec;
  step: StepComponentSpec;
  vae_decoder?: DecoderComponentSpec;
  tiny_decoder?: DecoderComponentSpec;
}

export type ComponentName = keyof PackComponents;
export const COMPONENT_NAMES: ComponentName[] = [
  'image_encoder', 'vae_encoder', 'reference_unet', 'motion_extractor', 'motion_encoder',
  'pose_guider', 'step', 'vae_decoder', 'tiny_decoder',
];

/** The 16 self-attention reference states, in the order the denoiser takes them. */
export const REFERENCE_STATE_NAMES = [
  'd00', 'd01', 'd10', 'd11', 'd20', 'd21', 'm', 'u10', 'u11', 'u12', 'u20', 'u21', 'u22', 'u30', 'u31', 'u32',
] as const;

/**
 * Input and output names each component must have (the engine feeds them by name), and
 * outputs it may have: upstream's motion extractor does not compute `exp` (its head is
 * commented out there) and the engine never uses it.
 */
export const COMPONENT_IO: Record<ComponentName | 'step:unet_work' | 'step:denoiser', { inputs: string[]; outputs: string[]; optionalOutputs?: string[] }> = {
  image_encoder: { inputs: ['pixel_values'], outputs: ['image_embeds'] },
  vae_encoder: { inputs: ['image'], outputs: ['latent_mean'] },
  reference_unet: { inputs: ['sample', 'timestep', 'encoder_hidden_states'], outputs: [...REFERENCE_STATE_NAMES] },
  motion_extractor: { inputs: ['image'], outputs: ['kp', 'pitch', 'yaw', 'roll', 't', 'scale'], optionalOutputs: ['exp'] },
  motion_encoder: { inputs: ['motion'], outputs: ['motion_hidden_states'] },
  pose_guider: { inputs: ['pose'], outputs: ['pose_cond_fea'] },
  step: { inputs: [], outputs: [] }, // per kind, below
  'step:unet_work': {
    inputs: ['sample', 'encoder_hidden_states', 'motion_hidden_states', 'motion', 'pose_cond_fea', 'pose', 'new_noise', ...REFERENCE_STATE_NAMES],
    outputs: ['pred_video', 'latents', 'pose_cond_fea_out', 'motion_hidden_states_out', 'motion_out', 'latent_first'],
  },
  'step:denoiser': {
    inputs: ['sample', 'encoder_hidden_states', 'motion_hidden_states', 'motion', 'pose_cond_fea', 'pose', ...REFERENCE_STATE_NAMES],
    outputs: ['noise_pred', 'pose_cond_fea_out', 'motion_hidden_states_out', 'motion_out'],
  },
  vae_decoder: { inputs: ['latents'], outputs: ['image'] },
  tiny_decoder: { inputs: ['latents'], outputs: ['image'] },
};

/**
 * The fused unet_work step's outputs that are the next step's inputs (the window state), with
 * the input each one feeds. On a device with resident outputs (webgpu) they stay there.
 */
export const WINDOW_STATE_OUTPUTS: Readonly<Record<string, string>> = Object.freeze({
  latents: 'sample',
  pose_cond_fea_out: 'pose_cond_fea',
  motion_hidden_states_out: 'motion_hidden_states',
});

/** The scheduler and streaming constants of the published method. */
export const PERSONALIVE_SCHEDULER: SchedulerSpec = {
  trainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.02,
  betaSchedule: 'scaled_linear',
  predictionType: 'epsilon',
  chunkTimesteps: [0, 333, 666, 999],
  stepLength: 333,
  setAlphaToOne: true,
};

export const PERSONALIVE_STREAMING: StreamingSpec = {
  chunkFrames: 4,
  chunks: 4,
  warmupFrames: 12,
  keyframeThreshold: 17,
  keyframeAfterStep: 8,
  maxKeyframes: 3,
  translationScale: 0.5,
  scaleFactor: 0,
};

export const CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];
