/**
 * Every kind the daemon knows (generators, devices, decoders, driving sources, sinks) with
 * the traits its callers need (and, for configured sinks, their settings), written once. Each list of kinds in the configuration, the
 * control protocol, the request validator, the CLI and the panel is derived from these
 * tables; the factories live in the registries beside the implementations
 * (generators/registry.ts, sources/registry.ts, sinks/registry.ts), typed against the same
 * keys, so a kind without a factory or a trait fails the type check.
 *
 * Node-free: the panel bundles this file.
 */
import { isBool, isHexColour, isNumber, isShmName, isString, oneOf, type Check } from './util/checks.js';

export interface GeneratorTraits {
  /** Shown in the panel's generator choice. */
  readonly label: string;
  /** One line for `personalive --help` and the README. */
  readonly description: string;
  /** Whether it needs a model pack (generator.packDir). */
  readonly needsPack: boolean;
  /**
   * Driving frames handed over per wake of the generator loop: the PersonaLive window takes
   * a micro-chunk of 4, the built-in generator one at a time.
   */
  readonly framesPerWake: number;
  /**
   * Whether a push that produces nothing for generator.failoverAfterMs counts as a failure
   * (a GPU that hangs fails over to the built-in generator). The built-in generator has
   * nothing to fail over to: a slow push is waited for while the output repeats.
   */
  readonly failoverDeadline: boolean;
  /** Decoders it can switch between (empty: it has none). */
  readonly decoders: readonly DecoderKind[];
  /** Devices it runs on (the built-in generator runs on the CPU only). */
  readonly devices: readonly DeviceKind[];
}

export const DEVICES = Object.freeze({
  cpu: { label: 'CPU' },
  cuda: { label: 'CUDA (NVIDIA)' },
  tensorrt: { label: 'TensorRT (NVIDIA)' },
  webgpu: { label: 'WebGPU (AMD, Intel, Apple, NVIDIA)' },
} as const satisfies Record<string, { label: string }>);
export type DeviceKind = keyof typeof DEVICES;
export const DEVICE_KINDS = Object.freeze(Object.keys(DEVICES)) as readonly DeviceKind[];

export const DECODERS = Object.freeze({
  tiny: { label: 'TinyVAE (fast)', component: 'tiny_decoder' },
  vae: { label: 'Full VAE (quality)', component: 'vae_decoder' },
} as const satisfies Record<string, { label: string; component: string }>);
export type DecoderKind = keyof typeof DECODERS;
export const DECODER_KINDS = Object.freeze(Object.keys(DECODERS)) as readonly DecoderKind[];

export const GENERATORS = Object.freeze({
  meshwarp: {
    label: 'Built-in (CPU, no downloads)',
    description: 'built-in CPU generator: face-mesh tracking and mesh-warp rendering (no downloads)',
    needsPack: false,
    framesPerWake: 1,
    failoverDeadline: false,
    decoders: [],
    devices: ['cpu'],
  },
  personalive: {
    label: 'PersonaLive diffusion',
    description: 'PersonaLive streaming diffusion generator on ONNX Runtime (needs a model pack)',
    needsPack: true,
    framesPerWake: 4,
    failoverDeadline: true,
    decoders: ['tiny', 'vae'],
    devices: ['cpu', 'cuda', 'tensorrt', 'webgpu'],
  },
} as const satisfies Record<string, GeneratorTraits>);
export type GeneratorKind = keyof typeof GENERATORS;
export const GENERATOR_KINDS = Object.freeze(Object.keys(GENERATORS)) as readonly GeneratorKind[];
/**
 * Why a device or decoder the user named does not apply to `generator` (null when it does):
 * the built-in generator runs on the CPU and has no decoder, so "--device cuda" with it
 * would be a promise the product does not keep.
 */
export function backendChoiceProblem(generator: GeneratorKind, named: { device?: DeviceKind; decoder?: DecoderKind }): { field: 'device' | 'decoder'; message: string } | null {
  const traits: GeneratorTraits = GENERATORS[generator];
  const usedBy = (has: (t: GeneratorTraits) => boolean): string => GENERATOR_KINDS.filter((k) => has(GENERATORS[k])).join(', ');
  const { device, decoder } = named;
  if (device !== undefined && !traits.devices.includes(device)) {
    return { field: 'device', message: `device "${device}" does not apply to the ${generator} generator, which runs on ${traits.devices.join(', ')} only (it applies to: ${usedBy((t) => t.devices.includes(device))})` };
  }
  if (decoder !== undefined && !traits.decoders.includes(decoder)) {
    const which = traits.decoders.length === 0 ? `the ${generator} generator has no decoder to choose` : `decoder "${decoder}" does not apply to the ${generator} generator (it has ${traits.decoders.join(', ')})`;
    return { field: 'decoder', message: `${which} ("${decoder}" applies to: ${usedBy((t) => t.decoders.includes(decoder))})` };
  }
  return null;
}

/** What a stream falls back to when the requested generator fails. */
export const FALLBACK_GENERATOR: GeneratorKind = 'meshwarp';

export interface DrivingTraits {
  /** Shown in the panel's source choice. */
  readonly label: string;
  /**
   * The configuration field under driving. that says what it reads (null: it needs none),
   * and whether the panel offers it always: a path on this machine (file, image) is set in
   * the configuration file only, never read from a path a client chose, so those kinds are
   * offered only once the configuration names one.
   */
  readonly setting: 'ring' | 'webcam' | 'file' | 'image' | null;
  readonly clientSettable: boolean;
}

export const DRIVING_SOURCES = Object.freeze({
  ring: { label: 'OBS source (Driving Capture filter)', setting: 'ring', clientSettable: true },
  webcam: { label: 'Webcam', setting: 'webcam', clientSettable: true },
  file: { label: 'Video file (from the configuration)', setting: 'file', clientSettable: false },
  image: { label: 'Still image (from the configuration)', setting: 'image', clientSettable: false },
} as const satisfies Record<string, DrivingTraits>);
export type DrivingKind = keyof typeof DRIVING_SOURCES;
export const DRIVING_KINDS = Object.freeze(Object.keys(DRIVING_SOURCES)) as readonly DrivingKind[];

export const VIRTUAL_CAMERA_FORMATS = Object.freeze(['YUYV', 'NV12'] as const);
export type VirtualCameraFormat = (typeof VIRTUAL_CAMERA_FORMATS)[number];
/**
 * The camera picture sizes video-call apps take: 16:9, even widths (Chrome refuses odd ones;
 * Discord on Linux has refused anything but 1280x720; browsers stretch other shapes).
 */
export const VIRTUAL_CAMERA_SIZES = Object.freeze(['640x360', '1280x720', '1920x1080'] as const);
export type VirtualCameraSize = (typeof VIRTUAL_CAMERA_SIZES)[number];
/** What is behind the square animation in the 16:9 picture. */
export const PICTURE_BACKGROUNDS = Object.freeze(['blur', 'colour', 'image'] as const);
export type PictureBackground = (typeof PICTURE_BACKGROUNDS)[number];

/**
 * How strongly the built-in generator follows each part of the driver's face (0-2, 1 is as
 * the driver does it) and whether the head follows the driver's turns relative to the first
 * (neutral) frame or as absolute angles. Changed mid-stream without a restart.
 */
export interface ExpressionControls {
  mouth: number;
  eyes: number;
  brows: number;
  head: number;
  headPose: 'relative' | 'absolute';
}
export const HEAD_POSE_MODES = Object.freeze(['relative', 'absolute'] as const);
export const DEFAULT_EXPRESSION_CONTROLS: Readonly<ExpressionControls> = Object.freeze({ mouth: 1, eyes: 1, brows: 1, head: 1, headPose: 'relative' });
/** Each control's check (the configuration and expression.set both use them). */
export const EXPRESSION_CHECKS: { readonly [F in keyof ExpressionControls]: Check } = Object.freeze({
  mouth: isNumber(0, 2), eyes: isNumber(0, 2), brows: isNumber(0, 2), head: isNumber(0, 2), headPose: oneOf(HEAD_POSE_MODES),
});

/** What the OBS source and recordings show: the square animation, or the camera's 16:9 picture. */
export const OUTPUT_PICTURES = Object.freeze(['square', 'camera'] as const);
export type OutputPicture = (typeof OUTPUT_PICTURES)[number];

export function pictureSize(size: VirtualCameraSize): { width: number; height: number } {
  const [width, height] = size.split('x').map(Number) as [number, number];
  return { width, height };
}

/**
 * The settings of each configured sink, under output.<kind> in the configuration; every one
 * has `enabled`. A new configured sink adds its member here and its entry to
 * CONFIGURED_SINKS (defaults, checks), its file in sinks/ and its line in sinks/registry.ts;
 * the configuration, its validator, the protocol and output.set follow from these.
 */
export interface SinkSettings {
  ring: { enabled: boolean; name: string };
  /**
   * The camera picture: `size`, the animation placed at (x, y) (its centre, shares of the
   * picture) at `scale` (its height, a share of the picture's) on `background`: the blurred
   * portrait, `colour`, or the picture at `image`.
   */
  virtualCamera: { enabled: boolean; device: string; format: VirtualCameraFormat; size: VirtualCameraSize; background: PictureBackground; colour: string; image: string; scale: number; x: number; y: number };
  recording: { enabled: boolean; path: string };
}
export type ConfiguredSinkKind = keyof SinkSettings;

export interface ConfiguredSinkTraits<S> {
  /** Names it in the panel and in messages ("Virtual camera: ..."). */
  readonly label: string;
  /** Whether output.set (the panel's switch) turns it on and off; the OBS output ring is switched in the configuration file. */
  readonly panelToggle: boolean;
  readonly defaults: Readonly<S>;
  readonly checks: { readonly [F in keyof S]: Check };
}

export const CONFIGURED_SINKS: { readonly [K in ConfiguredSinkKind]: ConfiguredSinkTraits<SinkSettings[K]> } = Object.freeze({
  ring: {
    label: 'OBS output ring',
    panelToggle: false,
    defaults: { enabled: true, name: 'personalive-output' },
    checks: { enabled: isBool, name: isShmName },
  },
  virtualCamera: {
    label: 'Virtual camera',
    panelToggle: true,
    defaults: { enabled: false, device: 'auto', format: 'YUYV', size: '1280x720', background: 'blur', colour: '#202020', image: '', scale: 1, x: 0.5, y: 0.5 },
    checks: {
      enabled: isBool, device: isString(), format: oneOf(VIRTUAL_CAMERA_FORMATS), size: oneOf(VIRTUAL_CAMERA_SIZES),
      background: oneOf(PICTURE_BACKGROUNDS), colour: isHexColour, image: isString(), scale: isNumber(0.2, 1), x: isNumber(0, 1), y: isNumber(0, 1),
    },
  },
  recording: {
    label: 'Recording',
    panelToggle: true,
    defaults: { enabled: false, path: '' },
    checks: { enabled: isBool, path: isString() },
  },
});
export const CONFIGURED_SINK_KINDS = Object.freeze(Object.keys(CONFIGURED_SINKS)) as readonly ConfiguredSinkKind[];
/** The sinks output.set switches (the panel's toggles). */
export const PANEL_TOGGLED_SINK_KINDS = Object.freeze(CONFIGURED_SINK_KINDS.filter((k) => CONFIGURED_SINKS[k].panelToggle));

/** Sinks the daemon attaches by itself (not in the configuration). */
export const ATTACHED_SINKS = Object.freeze({
  preview: { label: 'Panel preview' },
  null: { label: 'Null (counts frames)' },
} as const satisfies Record<string, { label: string }>);
export type SinkKind = ConfiguredSinkKind | keyof typeof ATTACHED_SINKS;
