/**
 * manifest.json validation: parse once, check every field against the contract, report each
 * problem as "<file>: field <path>: expected <what>, got <value>": the first one of the
 * header, then every component's own (one bad component does not hide another). Pure: no file IO.
 */
import { PersonaLiveError } from '../daemon/errors.js';
import {
  COMPONENT_IO,
  PACK_FORMAT,
  READABLE_SCHEMA_VERSIONS,
  REFERENCE_STATE_NAMES,
  type ComponentName,
  type PackManifest,
} from './contract.js';

type Json = unknown;

class ManifestProblem extends Error {
  constructor(readonly field: string, readonly expected: string, readonly got: Json) {
    super(`field "${field}": expected ${expected}, got ${describe(got)}`);
  }
}

function describe(value: Json): string {
  if (value === undefined) return 'nothing (missing)';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function obj(parent: Record<string, Json>, key: string, path: string): Record<string, Json> {
  const value = parent[key];
  if (!isObject(value)) throw new ManifestProblem(path, 'an object', value);
  return value;
}

function str(parent: Record<string, Json>, key: string, path: string, pattern?: RegExp, what = 'a non-empty string'): string {
  const value = parent[key];
  if (typeof value !== 'string' || value.length === 0 || (pattern && !pattern.test(value))) {
    throw new ManifestProblem(path, what, value);
  }
  return value;
}

function num(parent: Record<string, Json>, key: string, path: string, check: (n: number) => boolean = Number.isFinite, what = 'a finite number'): number {
  const value = parent[key];
  if (typeof value !== 'number' || !check(value)) throw new ManifestProblem(path, what, value);
  return value;
}

const positiveInt = (n: number): boolean => Number.isInteger(n) && n > 0;

function oneOf<T extends string>(parent: Record<string, Json>, key: string, path: string, allowed: readonly T[]): T {
  const value = parent[key];
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new ManifestProblem(path, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, value);
  }
  return value as T;
}

function numberTuple(parent: Record<string, Json>, key: string, path: string, length: number): number[] {
  const value = parent[key];
  if (!Array.isArray(value) || value.length !== length || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new ManifestProblem(path, `an array of ${length} numbers`, value);
  }
  return value as number[];
}

function validateTensorList(list: Json, path: string, expectedNames: readonly string[], optionalNames: readonly string[] = []): void {
  if (!Array.isArray(list)) throw new ManifestProblem(path, 'an array of tensor specs', list);
  const names = list.map((entry, i) => {
    if (!isObject(entry)) throw new ManifestProblem(`${path}[${i}]`, 'a tensor spec object', entry);
    const name = str(entry, 'name', `${path}[${i}].name`);
    oneOf(entry, 'dtype', `${path}[${i}].dtype`, ['float32', 'float16', 'int64', 'int32', 'uint8'] as const);
    const shape = entry.shape;
    if (!Array.isArray(shape)) throw new ManifestProblem(`${path}[${i}].shape`, 'an array of dims', shape);
    shape.forEach((dim, d) => {
      const ok = (typeof dim === 'number' && positiveInt(dim)) || (typeof dim === 'string' && dim.length > 0);
      if (!ok) throw new ManifestProblem(`${path}[${i}].shape[${d}]`, 'a positive integer or a dynamic-axis name', dim);
    });
    return name;
  });
  const missing = expectedNames.filter((n) => !names.includes(n));
  const optional = optionalNames.length > 0 ? ` (${optionalNames.join(', ')} optional)` : '';
  if (missing.length > 0) {
    throw new ManifestProblem(path, `tensors named ${expectedNames.join(', ')}${optional} (missing ${missing.join(', ')})`, names);
  }
}

const RELATIVE_PATH = /^(?!\/)(?!.*\.\.)[^\\]+$/;
const SHA256 = /^[0-9a-f]{64}$/;

function validateDataFiles(list: Json, path: string): void {
  if (list === undefined) return;
  if (!Array.isArray(list)) throw new ManifestProblem(path, 'an array of data files', list);
  list.forEach((entry, i) => {
    if (!isObject(entry)) throw new ManifestProblem(`${path}[${i}]`, 'a data file object ({file, sha256, bytes})', entry);
    str(entry, 'file', `${path}[${i}].file`, RELATIVE_PATH, 'a relative path inside the pack (no "..", no leading "/")');
    str(entry, 'sha256', `${path}[${i}].sha256`, SHA256, 'a lower-case hex sha256 (64 characters)');
    num(entry, 'bytes', `${path}[${i}].bytes`, (n) => Number.isInteger(n) && n >= 0, 'a byte count');
  });
}

function validateComponent(components: Record<string, Json>, name: ComponentName, ioKey: keyof typeof COMPONENT_IO, required: boolean): void {
  const path = `components.${name}`;
  const value = components[name];
  if (value === undefined && !required) return;
  if (!isObject(value)) throw new ManifestProblem(path, 'a component object', value);
  const file = str(value, 'file', `${path}.file`, RELATIVE_PATH, 'a relative path inside the pack (no "..", no leading "/")');
  if (!file.endsWith('.onnx')) throw new ManifestProblem(`${path}.file`, 'an .onnx file', file);
  str(value, 'sha256', `${path}.sha256`, SHA256, 'a lower-case hex sha256 (64 characters)');
  validateTensorList(value.inputs, `${path}.inputs`, COMPONENT_IO[ioKey].inputs);
  validateTensorList(value.outputs, `${path}.outputs`, COMPONENT_IO[ioKey].outputs, COMPONENT_IO[ioKey].optionalOutputs);
  validateDataFiles(value.data, `${path}.data`);
  if (name === 'vae_decoder' || name === 'tiny_decoder') {
    num(value, 'latentMultiplier', `${path}.latentMultiplier`, (n) => Number.isFinite(n) && n > 0, 'a positive number');
    oneOf(value, 'outputRange', `${path}.outputRange`, ['minus1to1', 'zero1', 'bytes'] as const);
  }
}

function validateHeader(value: Json): asserts value is Record<string, Json> {
  if (!isObject(value)) throw new ManifestProblem('(root)', 'a JSON object', value);
  if (value.format !== PACK_FORMAT) throw new ManifestProblem('format', `"${PACK_FORMAT}"`, value.format);
  if (typeof value.schemaVersion !== 'number' || !READABLE_SCHEMA_VERSIONS.includes(value.schemaVersion)) {
    const newer = typeof value.schemaVersion === 'number' && value.schemaVersion > Math.max(...READABLE_SCHEMA_VERSIONS);
    throw new ManifestProblem(
      'schemaVersion',
      `${READABLE_SCHEMA_VERSIONS.join(' or ')} (this version of personalive reads schemas ${READABLE_SCHEMA_VERSIONS.join(' and ')}${newer ? '; the pack was made by a newer personalive: update personalive' : ''})`,
      value.schemaVersion,
    );
  }
  str(value, 'name', 'name');
  if (value.precision !== undefined) oneOf(value, 'precision', 'precision', ['float32', 'float16'] as const);
  if (value.source !== undefined) {
    const source = obj(value, 'source', 'source');
    str(source, 'exporter', 'source.exporter');
  }
  const resolution = num(value, 'resolution', 'resolution', (n) => positiveInt(n) && n % 64 === 0, 'a positive multiple of 64');
  const latentSize = num(value, 'latentSize', 'latentSize', positiveInt, 'a positive integer');
  if (latentSize * 8 !== resolution) throw new ManifestProblem('latentSize', `resolution / 8 = ${resolution / 8}`, latentSize);
  num(value, 'latentChannels', 'latentChannels', positiveInt, 'a positive integer');
  num(value, 'latentScale', 'latentScale', (n) => n > 0, 'a positive number');
  for (const key of ['embeddingDim', 'poseChannels', 'clipSize', 'extractorSize', 'motionCropSize'] as const) {
    num(value, key, key, positiveInt, 'a positive integer');
  }
  numberTuple(value, 'clipMean', 'clipMean', 3);
  numberTuple(value, 'clipStd', 'clipStd', 3).forEach((s, i) => {
    if (s <= 0) throw new ManifestProblem(`clipStd[${i}]`, 'a positive number', s);
  });
  numberTuple(value, 'motionEmbedding', 'motionEmbedding', 2).forEach((n, i) => {
    if (!positiveInt(n)) throw new ManifestProblem(`motionEmbedding[${i}]`, 'a positive integer', n);
  });

  const states = value.referenceStates;
  if (!Array.isArray(states) || states.length !== REFERENCE_STATE_NAMES.length) {
    throw new ManifestProblem('referenceStates', `an array of ${REFERENCE_STATE_NAMES.length} state specs`, states);
  }
  states.forEach((state, i) => {
    if (!isObject(state)) throw new ManifestProblem(`referenceStates[${i}]`, 'an object', state);
    if (state.name !== REFERENCE_STATE_NAMES[i]) throw new ManifestProblem(`referenceStates[${i}].name`, `"${REFERENCE_STATE_NAMES[i]}"`, state.name);
    num(state, 'length', `referenceStates[${i}].length`, positiveInt, 'a positive integer');
    num(state, 'channels', `referenceStates[${i}].channels`, positiveInt, 'a positive integer');
  });

  const scheduler = obj(value, 'scheduler', 'scheduler');
  const trainTimesteps = num(scheduler, 'trainTimesteps', 'scheduler.trainTimesteps', positiveInt, 'a positive integer');
  num(scheduler, 'betaStart', 'scheduler.betaStart', (n) => n > 0 && n < 1, 'a number in (0,1)');
  num(scheduler, 'betaEnd', 'scheduler.betaEnd', (n) => n > 0 && n < 1, 'a number in (0,1)');
  oneOf(scheduler, 'betaSchedule', 'scheduler.betaSchedule', ['scaled_linear', 'linear'] as const);
  oneOf(scheduler, 'predictionType', 'scheduler.predictionType', ['epsilon'] as const);
  num(scheduler, 'stepLength', 'scheduler.stepLength', positiveInt, 'a positive integer');
  if (typeof scheduler.setAlphaToOne !== 'boolean') throw new ManifestProblem('scheduler.setAlphaToOne', 'true or false', scheduler.setAlphaToOne);

  const streaming = obj(value, 'streaming', 'streaming');
  const chunks = num(streaming, 'chunks', 'streaming.chunks', positiveInt, 'a positive integer');
  const chunkFrames = num(streaming, 'chunkFrames', 'streaming.chunkFrames', positiveInt, 'a positive integer');
  const warmup = num(streaming, 'warmupFrames', 'streaming.warmupFrames', positiveInt, 'a positive integer');
  if (warmup !== (chunks - 1) * chunkFrames) {
    throw new ManifestProblem('streaming.warmupFrames', `(chunks - 1) * chunkFrames = ${(chunks - 1) * chunkFrames}`, warmup);
  }
  const timesteps = scheduler.chunkTimesteps;
  if (!Array.isArray(timesteps) || timesteps.length !== chunks || !timesteps.every((t) => Number.isInteger(t) && t >= 0 && t < trainTimesteps)) {
    throw new ManifestProblem('scheduler.chunkTimesteps', `${chunks} integer timesteps in [0, ${trainTimesteps})`, timesteps);
  }
  num(streaming, 'keyframeThreshold', 'streaming.keyframeThreshold', (n) => n >= 0, 'a non-negative number');
  num(streaming, 'keyframeAfterStep', 'streaming.keyframeAfterStep', (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer');
  num(streaming, 'maxKeyframes', 'streaming.maxKeyframes', (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer');
  num(streaming, 'translationScale', 'streaming.translationScale');
  num(streaming, 'scaleFactor', 'streaming.scaleFactor');

}

/** Every component's problems, each component checked on its own. */
function componentProblems(value: Record<string, Json>): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const collect = (check: () => void): void => {
    try {
      check();
    } catch (error) {
      if (!(error instanceof ManifestProblem)) throw error;
      problems.push(error);
    }
  };
  let components: Record<string, Json> = {};
  collect(() => (components = obj(value, 'components', 'components')));
  if (problems.length > 0) return problems;
  for (const name of ['image_encoder', 'vae_encoder', 'reference_unet', 'motion_extractor', 'motion_encoder', 'pose_guider'] as const) {
    collect(() => validateComponent(components, name, name, true));
  }
  collect(() => {
    const step = obj(components, 'step', 'components.step');
    const kind = oneOf(step, 'kind', 'components.step.kind', ['unet_work', 'denoiser'] as const);
    validateComponent(components, 'step', `step:${kind}`, true);
    if (kind === 'denoiser' && components.vae_decoder === undefined && components.tiny_decoder === undefined) {
      throw new ManifestProblem('components.vae_decoder', 'a decoder (vae_decoder or tiny_decoder) for a "denoiser" step graph', undefined);
    }
  });
  collect(() => validateComponent(components, 'vae_decoder', 'vae_decoder', false));
  collect(() => validateComponent(components, 'tiny_decoder', 'tiny_decoder', false));
  return problems;
}

/**
 * Validates parsed manifest JSON against schemas 1 and 2.
 * @throws PersonaLiveError PACK_MANIFEST_INVALID naming the file and every bad field found
 *   (details.field / expected: the first; details.problems: all).
 */
export function validateManifest(value: Json, manifestPath: string): PackManifest {
  let problems: ManifestProblem[];
  try {
    validateHeader(value);
    problems = componentProblems(value);
  } catch (error) {
    if (!(error instanceof ManifestProblem)) throw error;
    problems = [error];
  }
  if (problems.length > 0) {
    const [first] = problems;
    const text = problems.length === 1 ? first.message : `${problems.length} problems: ${problems.map((p) => p.message).join('; ')}`;
    throw new PersonaLiveError('PACK_MANIFEST_INVALID', `${manifestPath}: ${text}`, {
      file: manifestPath,
      field: first.field,
      expected: first.expected,
      problems: problems.map((p) => ({ field: p.field, expected: p.expected, got: p.got })),
    });
  }
  return Object.freeze(value) as unknown as PackManifest;
}
