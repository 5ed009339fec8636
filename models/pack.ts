/**
 * Model packs on disk: load the manifest, check files and checksums, and compare each
 * graph's real inputs/outputs (from an opened ONNX Runtime session) with the manifest.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PersonaLiveError } from '../daemon/errors.js';
import { openGraph, type Device, type GraphSession, type TensorInfo } from '../daemon/ort/onnx-runtime.js';
import { MANIFEST_FILE, type ComponentName, type ComponentSpec, type PackManifest, type TensorSpec } from './contract.js';
import { validateManifest } from './manifest.js';

export interface LoadedPack {
  dir: string;
  manifest: PackManifest;
  /** Absolute path of each component present in the manifest. */
  files: Partial<Record<ComponentName, string>>;
}

/** Components present in a manifest, in contract order. */
export function presentComponents(manifest: PackManifest): [ComponentName, ComponentSpec][] {
  return (Object.entries(manifest.components) as [ComponentName, ComponentSpec | undefined][]).filter(
    (entry): entry is [ComponentName, ComponentSpec] => entry[1] !== undefined,
  );
}

/**
 * Reads and validates manifest.json and checks every named file exists.
 * @throws PersonaLiveError PACK_MANIFEST_MISSING, PACK_MANIFEST_INVALID, PACK_FILE_MISSING.
 */
export async function loadPack(dir: string): Promise<LoadedPack> {
  const root = resolve(dir);
  const manifestPath = join(root, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch {
    throw new PersonaLiveError('PACK_MANIFEST_MISSING', `${manifestPath}: no manifest.json in the model pack folder ${root}`, { file: manifestPath });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PersonaLiveError('PACK_MANIFEST_INVALID', `${manifestPath}: not valid JSON (${(error as Error).message})`, { file: manifestPath });
  }
  const manifest = validateManifest(json, manifestPath);
  const files: Partial<Record<ComponentName, string>> = {};
  for (const [name, spec] of presentComponents(manifest)) {
    const path = join(root, spec.file);
    const info = await stat(path).catch(() => null);
    if (!info?.isFile()) {
      throw new PersonaLiveError('PACK_FILE_MISSING', `${path}: file missing (components.${name}.file in ${manifestPath})`, { file: path, field: `components.${name}.file` });
    }
    files[name] = path;
  }
  return { dir: root, manifest, files };
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** @throws PersonaLiveError PACK_CHECKSUM_MISMATCH naming the file and both digests. */
export async function checkChecksums(pack: LoadedPack): Promise<void> {
  for (const [name, spec] of presentComponents(pack.manifest)) {
    const path = pack.files[name]!;
    const actual = await sha256File(path);
    if (actual !== spec.sha256) {
      throw new PersonaLiveError('PACK_CHECKSUM_MISMATCH', `${path}: sha256 is ${actual}, expected ${spec.sha256} (components.${name}.sha256)`, {
        file: path,
        field: `components.${name}.sha256`,
        expected: spec.sha256,
        actual,
      });
    }
  }
}

function formatShape(shape: readonly (number | string)[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * Compares a graph's real tensors with the manifest's declaration: same names, dtypes and
 * fixed dims; a dynamic axis in the manifest must be dynamic in the graph.
 * @throws PersonaLiveError PACK_GRAPH_MISMATCH naming the file, the field and the expectation.
 */
export function compareGraphTensors(file: string, field: string, declared: readonly TensorSpec[], actual: readonly TensorInfo[]): void {
  const fail = (message: string, extra: Record<string, unknown>): never => {
    throw new PersonaLiveError('PACK_GRAPH_MISMATCH', `${file}: ${message}`, { file, field, ...extra });
  };
  const actualNames = actual.map((a) => a.name);
  declared.forEach((spec, i) => {
    const real = actual.find((a) => a.name === spec.name);
    if (!real) fail(`${field}[${i}]: the graph has no tensor named "${spec.name}" (it has ${actualNames.join(', ')})`, { expected: spec.name, actual: actualNames });
    if (real!.dtype !== spec.dtype) fail(`${field}[${i}] "${spec.name}": dtype is ${real!.dtype}, expected ${spec.dtype}`, { expected: spec.dtype, actual: real!.dtype });
    if (real!.shape.length !== spec.shape.length) {
      fail(`${field}[${i}] "${spec.name}": shape is ${formatShape(real!.shape)}, expected ${formatShape(spec.shape)}`, { expected: spec.shape, actual: real!.shape });
    }
    spec.shape.forEach((dim, d) => {
      const realDim = real!.shape[d];
      const ok = typeof dim === 'number' ? realDim === dim : typeof realDim === 'string';
      if (!ok) {
        fail(`${field}[${i}] "${spec.name}": shape is ${formatShape(real!.shape)}, expected ${formatShape(spec.shape)} (dim ${d})`, { expected: spec.shape, actual: real!.shape });
      }
    });
  });
  const extra = actualNames.filter((n) => !declared.some((s) => s.name === n));
  if (extra.length > 0) fail(`${field}: the graph has tensors the manifest does not declare: ${extra.join(', ')}`, { actual: actualNames });
}

export interface ComponentReport {
  component: ComponentName;
  file: string;
  bytes: number;
  sha256: string;
  inputs: number;
  outputs: number;
  providers: readonly string[];
}

export interface PackReport {
  dir: string;
  name: string;
  stepKind: string;
  resolution: number;
  decoders: string[];
  device: Device;
  components: ComponentReport[];
}

/**
 * Opens every graph of a loaded pack on a device and checks it against the manifest.
 * Returns the open sessions; the caller releases them.
 */
export async function openPackGraphs(pack: LoadedPack, device: Device, only?: readonly ComponentName[]): Promise<Partial<Record<ComponentName, GraphSession>>> {
  const sessions: Partial<Record<ComponentName, GraphSession>> = {};
  try {
    for (const [name, spec] of presentComponents(pack.manifest)) {
      if (only && !only.includes(name)) continue;
      const session = await openGraph(name, pack.files[name]!, device);
      sessions[name] = session;
      compareGraphTensors(session.file, `components.${name}.inputs`, spec.inputs, session.inputs);
      compareGraphTensors(session.file, `components.${name}.outputs`, spec.outputs, session.outputs);
    }
  } catch (error) {
    await Promise.all(Object.values(sessions).map((s) => s!.release()));
    throw error;
  }
  return sessions;
}

/**
 * Full verification: manifest, files, checksums, every graph opened and compared.
 * @throws PersonaLiveError with the first problem (exit code 2 for pack problems).
 */
export async function verifyPack(dir: string, device: Device = 'cpu'): Promise<PackReport> {
  const pack = await loadPack(dir);
  await checkChecksums(pack);
  const sessions = await openPackGraphs(pack, device);
  try {
    const components: ComponentReport[] = [];
    for (const [name, spec] of presentComponents(pack.manifest)) {
      const session = sessions[name]!;
      components.push({
        component: name,
        file: spec.file,
        bytes: (await stat(pack.files[name]!)).size,
        sha256: spec.sha256,
        inputs: session.inputs.length,
        outputs: session.outputs.length,
        providers: session.providers,
      });
    }
    const { manifest } = pack;
    return {
      dir: pack.dir,
      name: manifest.name,
      stepKind: manifest.components.step.kind,
      resolution: manifest.resolution,
      decoders: [manifest.components.vae_decoder ? 'vae' : null, manifest.components.tiny_decoder ? 'tiny' : null, manifest.components.step.kind === 'unet_work' ? 'fused' : null].filter(
        (d): d is string => d !== null,
      ),
      device,
      components,
    };
  } finally {
    await Promise.all(Object.values(sessions).map((s) => s!.release()));
  }
}
