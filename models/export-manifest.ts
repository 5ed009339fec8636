/**
 * The manifest of an exported pack, written from what ONNX Runtime itself reports for each
 * graph (names, dtypes, dims) plus what the exporter recorded (decoder ranges, step kind,
 * provenance), so a fresh export always verifies. Pure: the IO is in exporter.ts.
 */
import { PersonaLiveError } from '../daemon/errors.js';
import type { TensorInfo } from '../daemon/ort/onnx-runtime.js';
import {
  CLIP_MEAN,
  CLIP_STD,
  MANIFEST_SCHEMA_VERSION,
  PACK_FORMAT,
  PERSONALIVE_SCHEDULER,
  PERSONALIVE_STREAMING,
  REFERENCE_STATE_NAMES,
  type ComponentName,
  type ComponentSpec,
  type DataFileSpec,
  type PackComponents,
  type PackManifest,
  type PackSource,
  type StepKind,
  type TensorSpec,
} from './contract.js';

/** What the Python exporter wrote for the whole export (export.json). */
export interface ExportEnvironment {
  exporter: string;
  upstreamCommit: string | null;
  torch: string;
  onnxOpset: number;
  randomWeights: boolean;
  resolution: number;
  precision: 'float32' | 'float16';
  step: StepKind;
}

/** What the Python exporter wrote for one component (<component>.json). */
export interface ExportedComponent {
  component: ComponentName;
  file: string;
  /** The external data file, when the weights are outside the graph. */
  data: string | null;
  seconds: number;
  peakRssMb: number;
  latentMultiplier?: number;
  outputRange?: 'minus1to1' | 'zero1';
}

/** One exported graph as ONNX Runtime opened it, with its files' hashes. */
export interface OpenedComponent {
  record: ExportedComponent;
  inputs: readonly TensorInfo[];
  outputs: readonly TensorInfo[];
  sha256: string;
  data: DataFileSpec[];
}

export const LATENT_SCALE = 0.18215;

export const REQUIRED_COMPONENTS: readonly ComponentName[] = ['image_encoder', 'vae_encoder', 'reference_unet', 'motion_extractor', 'motion_encoder', 'pose_guider', 'step'];

function tensors(component: ComponentName, list: readonly TensorInfo[]): TensorSpec[] {
  return list.map((t) => {
    if (t.dtype === 'other') throw new PersonaLiveError('EXPORT_FAILED', `${component}: ONNX Runtime reports tensor "${t.name}" as a non-tensor or unsupported type`, { component, tensor: t.name });
    return { name: t.name, dtype: t.dtype, shape: [...t.shape] };
  });
}

function dim(component: ComponentName, list: readonly TensorInfo[], name: string, axis: number): number {
  const value = list.find((t) => t.name === name)?.shape[axis];
  if (typeof value !== 'number') {
    throw new PersonaLiveError('EXPORT_FAILED', `${component}: ONNX Runtime reports no fixed size for ${name} dim ${axis} (got ${String(value)}); the exporter fixes it, so the graph is not the one it wrote`, { component, tensor: name, axis });
  }
  return value;
}

/** @throws PersonaLiveError EXPORT_INCOMPLETE naming the components a pack still needs. */
export function checkComplete(step: StepKind, present: readonly ComponentName[]): void {
  const decoderNeeded = step === 'denoiser' && !present.includes('vae_decoder') && !present.includes('tiny_decoder');
  const missing = [...REQUIRED_COMPONENTS.filter((c) => !present.includes(c)), ...(decoderNeeded ? ['vae_decoder'] : [])];
  if (missing.length > 0) {
    throw new PersonaLiveError('EXPORT_INCOMPLETE', `the export has no ${missing.join(', ')} yet: run the export with those components before the pack can be made`, { missing });
  }
}

/** Builds the manifest; throws EXPORT_INCOMPLETE naming the components still to export. */
export function exportedManifest(name: string, environment: ExportEnvironment, opened: Partial<Record<ComponentName, OpenedComponent>>): PackManifest {
  checkComplete(environment.step, Object.keys(opened) as ComponentName[]);
  const get = (c: ComponentName): OpenedComponent => opened[c]!;
  const spec = (c: ComponentName): ComponentSpec => {
    const o = get(c);
    return { file: o.record.file, sha256: o.sha256, inputs: tensors(c, o.inputs), outputs: tensors(c, o.outputs), ...(o.data.length > 0 ? { data: o.data } : {}) };
  };
  const components: PackComponents = {
    image_encoder: spec('image_encoder'),
    vae_encoder: spec('vae_encoder'),
    reference_unet: spec('reference_unet'),
    motion_extractor: spec('motion_extractor'),
    motion_encoder: spec('motion_encoder'),
    pose_guider: spec('pose_guider'),
    step: { ...spec('step'), kind: environment.step },
  };
  for (const decoder of ['vae_decoder', 'tiny_decoder'] as const) {
    const o = opened[decoder];
    if (!o) continue;
    components[decoder] = { ...spec(decoder), latentMultiplier: o.record.latentMultiplier ?? (decoder === 'vae_decoder' ? 1 / LATENT_SCALE : 1), outputRange: o.record.outputRange ?? 'minus1to1' };
  }
  const reference = get('reference_unet');
  const referenceStates = REFERENCE_STATE_NAMES.map((state) => ({
    name: state,
    length: dim('reference_unet', reference.outputs, state, 1),
    channels: dim('reference_unet', reference.outputs, state, 2),
  }));
  const motion = get('motion_encoder');
  const source: PackSource = {
    exporter: environment.exporter,
    ...(environment.upstreamCommit ? { upstreamCommit: environment.upstreamCommit } : {}),
    torch: environment.torch,
    onnxOpset: environment.onnxOpset,
    randomWeights: environment.randomWeights,
  };
  return {
    format: PACK_FORMAT,
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    name,
    description: environment.randomWeights
      ? 'Exported from RANDOM weights: proves the export path on the real architecture; NOT an animation model.'
      : 'PersonaLive exported from the published weights by personalive pack export.',
    precision: environment.precision,
    source,
    resolution: environment.resolution,
    latentSize: environment.resolution / 8,
    latentChannels: dim('step', get('step').inputs, 'sample', 1),
    latentScale: LATENT_SCALE,
    embeddingDim: dim('image_encoder', get('image_encoder').outputs, 'image_embeds', 1),
    poseChannels: dim('pose_guider', get('pose_guider').outputs, 'pose_cond_fea', 1),
    clipSize: dim('image_encoder', get('image_encoder').inputs, 'pixel_values', 2),
    clipMean: [...CLIP_MEAN],
    clipStd: [...CLIP_STD],
    extractorSize: dim('motion_extractor', get('motion_extractor').inputs, 'image', 2),
    motionCropSize: dim('motion_encoder', motion.inputs, 'motion', 3),
    motionEmbedding: [dim('motion_encoder', motion.outputs, 'motion_hidden_states', 2), dim('motion_encoder', motion.outputs, 'motion_hidden_states', 3)],
    referenceStates,
    scheduler: { ...PERSONALIVE_SCHEDULER, chunkTimesteps: [...PERSONALIVE_SCHEDULER.chunkTimesteps] },
    streaming: { ...PERSONALIVE_STREAMING },
    components,
  };
}
