/**
 * Model packs on disk: load the manifest, check files and checksums (graphs and their
 * external data), and compare each graph's real inputs/outputs (from an opened ONNX Runtime
 * session) with the manifest. verify finds every problem before it reports.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { asPersonaLiveError, PersonaLiveError } from '../daemon/errors.js';
import { openGraph, type Device, type GraphSession, type TensorInfo } from '../daemon/ort/onnx-runtime.js';
import { MANIFEST_FILE, REFERENCE_STATE_NAMES, WINDOW_STATE_OUTPUTS, type ComponentName, type ComponentSpec, type PackManifest, type PackSource, type TensorSpec } from './contract.js';
import { readOnnxDeclaration, type DeclaredTensor, type OnnxDeclaration } from './onnx/declaration.js';
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
 * One error for what was found: the problem itself when there is one, else PACK_INVALID
 * listing every problem (details.problems has each one's code, message and details).
 */
export function packError(dir: string, problems: readonly PersonaLiveError[]): PersonaLiveError {
  if (problems.length === 1) return problems[0];
  return new PersonaLiveError('PACK_INVALID', `${dir}: ${problems.length} problems in the model pack:\n${problems.map((p, i) => `  ${i + 1}. ${p.code}: ${p.message}`).join('\n')}`, {
    dir,
    problems: problems.map((p) => ({ code: p.code, message: p.message, details: p.details })),
  });
}

/**
 * Reads and validates manifest.json and checks every named file (graphs and data files) exists.
 * @throws PersonaLiveError PACK_MANIFEST_MISSING, PACK_MANIFEST_INVALID, PACK_FILE_MISSING (or PACK_INVALID for several).
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
  const missing: PersonaLiveError[] = [];
  for (const [name, spec] of presentComponents(manifest)) {
    const named: [string, string][] = [[spec.file, `components.${name}.file`], ...(spec.data ?? []).map((d, i): [string, string] => [d.file, `components.${name}.data[${i}].file`])];
    for (const [file, field] of named) {
      const path = join(root, file);
      const info = await stat(path).catch(() => null);
      if (!info?.isFile()) missing.push(new PersonaLiveError('PACK_FILE_MISSING', `${path}: file missing (${field} in ${manifestPath})`, { file: path, field }));
    }
    files[name] = join(root, spec.file);
  }
  if (missing.length > 0) throw packError(root, missing);
  return { dir: root, manifest, files };
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every file the manifest lists with its hash: each graph and each of its data files. */
function hashedFiles(pack: LoadedPack): { path: string; field: string; sha256: string }[] {
  return presentComponents(pack.manifest).flatMap(([name, spec]) => [
    { path: pack.files[name]!, field: `components.${name}.sha256`, sha256: spec.sha256 },
    ...(spec.data ?? []).map((d, i) => ({ path: join(pack.dir, d.file), field: `components.${name}.data[${i}].sha256`, sha256: d.sha256 })),
  ]);
}

async function checksumProblems(pack: LoadedPack): Promise<PersonaLiveError[]> {
  const problems: PersonaLiveError[] = [];
  for (const { path, field, sha256 } of hashedFiles(pack)) {
    const actual = await sha256File(path);
    if (actual !== sha256) {
      problems.push(new PersonaLiveError('PACK_CHECKSUM_MISMATCH', `${path}: sha256 is ${actual}, expected ${sha256} (${field}): the file changed after the pack was made; export or copy it again`, {
        file: path,
        field,
        expected: sha256,
        actual,
      }));
    }
  }
  return problems;
}

/** @throws PersonaLiveError PACK_CHECKSUM_MISMATCH naming the file and both digests (PACK_INVALID for several). */
export async function checkChecksums(pack: LoadedPack): Promise<void> {
  const problems = await checksumProblems(pack);
  if (problems.length > 0) throw packError(pack.dir, problems);
}

function formatShape(shape: readonly (number | string)[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * Compares a graph's real tensors (as ONNX Runtime reports them) with the manifest's
 * declaration: same names, dtypes and fixed dims; a dynamic axis in the manifest must be
 * dynamic in the graph. `fileDeclares` (what the .onnx file itself writes, when read) is
 * quoted beside ONNX Runtime's view where the two differ, since ONNX Runtime infers some
 * dims at load.
 * @returns one PACK_GRAPH_MISMATCH per problem, naming the file, the field and the expectation.
 */
export function graphTensorProblems(
  file: string,
  field: string,
  declared: readonly TensorSpec[],
  actual: readonly TensorInfo[],
  fileDeclares?: readonly DeclaredTensor[],
): PersonaLiveError[] {
  const problems: PersonaLiveError[] = [];
  const actualNames = actual.map((a) => a.name);
  const inFile = (name: string): string => {
    const written = fileDeclares?.find((t) => t.name === name);
    const real = actual.find((a) => a.name === name);
    if (!written || !real || formatShape(written.shape) === formatShape(real.shape)) return '';
    return ` (the file declares ${formatShape(written.shape)}, ONNX Runtime reports ${formatShape(real.shape)})`;
  };
  const fail = (message: string, extra: Record<string, unknown>): void => {
    problems.push(new PersonaLiveError('PACK_GRAPH_MISMATCH', `${file}: ${message}`, { file, field, ...extra }));
  };
  declared.forEach((spec, i) => {
    const real = actual.find((a) => a.name === spec.name);
    if (!real) return fail(`${field}[${i}]: the graph has no tensor named "${spec.name}" (it has ${actualNames.join(', ')})`, { expected: spec.name, actual: actualNames });
    if (real.dtype !== spec.dtype) return fail(`${field}[${i}] "${spec.name}": dtype is ${real.dtype}, expected ${spec.dtype}`, { expected: spec.dtype, actual: real.dtype });
    const badDim = real.shape.length !== spec.shape.length ? -1 : spec.shape.findIndex((dim, d) => (typeof dim === 'number' ? real.shape[d] !== dim : typeof real.shape[d] !== 'string'));
    if (real.shape.length === spec.shape.length && badDim < 0) return;
    const which = badDim >= 0 ? ` (dim ${badDim}${typeof spec.shape[badDim] === 'string' ? ': the manifest says dynamic, the graph has a fixed size' : ''})` : '';
    fail(`${field}[${i}] "${spec.name}": shape is ${formatShape(real.shape)}, expected ${formatShape(spec.shape)}${which}${inFile(spec.name)}`, {
      expected: spec.shape,
      actual: real.shape,
      ...(fileDeclares ? { fileDeclares: fileDeclares.find((t) => t.name === spec.name)?.shape } : {}),
    });
  });
  const extra = actualNames.filter((n) => !declared.some((s) => s.name === n));
  if (extra.length > 0) fail(`${field}: the graph has tensors the manifest does not declare: ${extra.join(', ')}`, { actual: actualNames });
  return problems;
}

/** The .onnx file's own declaration, or null when it is too big to read quickly or unreadable. */
async function readDeclaration(path: string): Promise<OnnxDeclaration | null> {
  const info = await stat(path).catch(() => null);
  if (!info || info.size > DECLARATION_READ_LIMIT) return null;
  try {
    return readOnnxDeclaration(await readFile(path));
  } catch {
    return null; // ONNX Runtime's own load error says more
  }
}

/** A graph file with inline weights can be up to 2 GB; reading the declaration of one that big costs more than it tells. */
const DECLARATION_READ_LIMIT = 256 * 1024 * 1024;

/**
 * Everything wrong with one opened component: its tensors against the manifest and, with
 * `full` (verify), external data the manifest does not list. The .onnx file's own
 * declaration is read only when it is needed (to check external data, or to quote it beside
 * a mismatch), so loading a pack to run it reads no graph file twice.
 */
async function componentProblems(pack: LoadedPack, name: ComponentName, session: GraphSession, full: boolean): Promise<PersonaLiveError[]> {
  const spec = pack.manifest.components[name]!;
  const file = pack.files[name]!;
  const compare = (declaration: OnnxDeclaration | null): PersonaLiveError[] => [
    ...graphTensorProblems(session.file, `components.${name}.inputs`, spec.inputs, session.inputs, declaration?.inputs),
    ...graphTensorProblems(session.file, `components.${name}.outputs`, spec.outputs, session.outputs, declaration?.outputs),
  ];
  let problems = compare(null);
  if (problems.length === 0 && !full) return problems;
  const declaration = await readDeclaration(file);
  if (problems.length > 0 && declaration) problems = compare(declaration);
  if (!full) return problems;
  const listed = new Set((spec.data ?? []).map((d) => resolve(pack.dir, d.file)));
  for (const location of declaration?.externalDataFiles ?? []) {
    const path = resolve(dirname(file), location);
    if (listed.has(path)) continue;
    problems.push(new PersonaLiveError('PACK_GRAPH_MISMATCH', `${file}: the graph reads its weights from ${path}, which components.${name}.data does not list (so its sha256 is never checked): export the pack again`, {
      file,
      field: `components.${name}.data`,
      actual: location,
    }));
  }
  return problems;
}

export interface ComponentReport {
  component: ComponentName;
  file: string;
  /** The graph file and its data files together. */
  bytes: number;
  dataFiles: number;
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
  precision: 'float32' | 'float16';
  source?: PackSource;
  decoders: string[];
  device: Device;
  components: ComponentReport[];
}

/**
 * Opens every graph of a loaded pack on a device and checks it against the manifest.
 * Returns the open sessions; the caller releases them.
 * @throws PersonaLiveError the first component's problems (PACK_GRAPH_INVALID, PACK_GRAPH_MISMATCH, PACK_INVALID).
 */
export async function openPackGraphs(pack: LoadedPack, device: Device, only?: readonly ComponentName[]): Promise<Partial<Record<ComponentName, GraphSession>>> {
  const sessions: Partial<Record<ComponentName, GraphSession>> = {};
  try {
    for (const [name] of presentComponents(pack.manifest)) {
      if (only && !only.includes(name)) continue;
      // The fused step's window state and the reference states can stay on the device (webgpu).
      const deviceOutputs =
        name === 'step' && pack.manifest.components.step.kind === 'unet_work' ? Object.keys(WINDOW_STATE_OUTPUTS)
        : name === 'reference_unet' ? [...REFERENCE_STATE_NAMES]
        : undefined;
      const session = await openGraph(name, pack.files[name]!, device, { deviceOutputs });
      sessions[name] = session;
      const problems = await componentProblems(pack, name, session, false);
      if (problems.length > 0) throw packError(pack.dir, problems);
    }
  } catch (error) {
    await Promise.all(Object.values(sessions).map((s) => s!.release()));
    throw error;
  }
  return sessions;
}

async function fileBytes(path: string): Promise<number> {
  return (await stat(path)).size;
}

/**
 * Full verification: manifest, files, checksums of every graph and data file, every graph
 * opened and compared. Finds every problem before it reports.
 * @throws PersonaLiveError the problem, or PACK_INVALID listing all of them (exit code 2).
 */
export async function verifyPack(dir: string, device: Device = 'cpu'): Promise<PackReport> {
  const pack = await loadPack(dir);
  const problems = await checksumProblems(pack);
  const components: ComponentReport[] = [];
  for (const [name, spec] of presentComponents(pack.manifest)) {
    let session: GraphSession;
    try {
      session = await openGraph(name, pack.files[name]!, device);
    } catch (error) {
      if (error instanceof PersonaLiveError && error.code === 'DEVICE_UNAVAILABLE') throw error; // nothing else can be checked on that device
      problems.push(asPersonaLiveError(error));
      continue;
    }
    try {
      problems.push(...(await componentProblems(pack, name, session, true)));
      const dataBytes = await Promise.all((spec.data ?? []).map((d) => fileBytes(join(pack.dir, d.file))));
      components.push({
        component: name,
        file: spec.file,
        bytes: (await fileBytes(pack.files[name]!)) + dataBytes.reduce((sum, b) => sum + b, 0),
        dataFiles: spec.data?.length ?? 0,
        sha256: spec.sha256,
        inputs: session.inputs.length,
        outputs: session.outputs.length,
        providers: session.providers,
      });
    } finally {
      await session.release();
    }
  }
  if (problems.length > 0) throw packError(pack.dir, problems);
  const { manifest } = pack;
  return {
    dir: pack.dir,
    name: manifest.name,
    stepKind: manifest.components.step.kind,
    resolution: manifest.resolution,
    precision: manifest.precision ?? 'float32',
    source: manifest.source,
    decoders: [manifest.components.vae_decoder ? 'vae' : null, manifest.components.tiny_decoder ? 'tiny' : null, manifest.components.step.kind === 'unet_work' ? 'fused' : null].filter(
      (d): d is string => d !== null,
    ),
    device,
    components,
  };
}
