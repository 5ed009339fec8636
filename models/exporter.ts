/**
 * `personalive pack export`: runs the Python exporter (models/export/personalive_export) in
 * the user's own Python with torch, follows its progress, then opens every graph in ONNX
 * Runtime, writes the manifest from what it reports, hashes every file and moves the pack
 * into place. Components are exported into a work folder beside the pack
 * (.NAME.export-work), kept on failure so the same command resumes; the pack folder appears
 * only when complete and verified.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PersonaLiveError, type ErrorCode } from '../daemon/errors.js';
import { openGraph } from '../daemon/ort/onnx-runtime.js';
import { COMPONENT_NAMES, MANIFEST_FILE, type ComponentName, type PackManifest } from './contract.js';
import { checkComplete, exportedManifest, type ExportedComponent, type ExportEnvironment, type OpenedComponent } from './export-manifest.js';
import { sha256File, verifyPack, type PackReport } from './pack.js';
import { findPython } from './python-env.js';

export interface ExportOptions {
  upstream: string;
  weights: string;
  out: string;
  resolution?: number;
  dtype?: 'fp16' | 'fp32';
  step?: 'unet_work' | 'denoiser';
  components?: ComponentName[];
  taesd?: string;
  /** The Python to run; default $PERSONALIVE_PYTHON, else the first of python3, python, /usr/bin/python3 with torch and onnx. */
  python?: string;
  /** cpu, or cuda[:N] to trace on the GPU (needed for a full-size fp16 export on most machines). */
  torchDevice?: string;
  /** Weights heavier than this (bytes) go to an external data file; default about 1.5 GB. Tests use 0. */
  externalDataThreshold?: number;
  signal?: AbortSignal;
}

/** A progress line from the exporter (JSON lines on its stdout), passed through to the caller. */
export interface ExportEvent {
  event: 'environment' | 'start' | 'done' | 'skipped' | 'warning' | 'finished' | 'error' | 'manifest' | 'verified';
  component?: string;
  [key: string]: unknown;
}

export interface ExportResult {
  out: string;
  manifest: PackManifest;
  report: PackReport;
  components: ExportedComponent[];
}

// The Python package ships in the sources' models/export; the compiled module runs from dist/models.
const EXPORTER_ROOT = fileURLToPath(new URL('./export', import.meta.url)).replace(/\/dist\/models\/export$/, '/models/export');

/** The folder the exporter's Python package lives in (works from the sources and from dist/). */
export function exporterRoot(): string {
  return EXPORTER_ROOT;
}

function workFolder(out: string): string {
  return join(dirname(out), `.${basename(out)}.export-work`);
}

const EXPORT_CODES = new Set(['EXPORT_USAGE', 'EXPORT_UPSTREAM', 'EXPORT_WEIGHTS', 'EXPORT_ENVIRONMENT', 'EXPORT_DISK_FULL', 'EXPORT_FAILED']);

function exporterError(event: ExportEvent | undefined, exitCode: number | null, stderrTail: string, work: string): PersonaLiveError {
  const kept = ` (finished components are kept in ${work}: run the same command again to resume)`;
  if (event && typeof event.code === 'string') {
    const code = (event.code === 'EXPORT_USAGE' ? 'USAGE' : EXPORT_CODES.has(event.code) ? event.code : 'EXPORT_FAILED') as ErrorCode;
    const component = typeof event.component === 'string' ? event.component : undefined;
    const resumable = code === 'EXPORT_FAILED' || code === 'EXPORT_DISK_FULL';
    return new PersonaLiveError(code, `${component ? `${component}: ` : ''}${String(event.message).replace(new RegExp(`^${component}: `), '')}${resumable ? kept : ''}`, {
      component,
      work,
      ...(event.details as Record<string, unknown> | undefined),
    });
  }
  const killed = exitCode === null || exitCode === 137 || /Killed|MemoryError|out of memory/i.test(stderrTail);
  return new PersonaLiveError(
    'EXPORT_FAILED',
    killed
      ? `the exporter was killed (${exitCode === null ? 'signal' : `exit ${exitCode}`}), most likely out of memory: see the README's model-pack section for what a full-size export needs and the lower-memory path${kept}`
      : `the exporter exited ${exitCode} without saying why: ${stderrTail.split('\n').slice(-3).join(' | ')}${kept}`,
    { exitCode, work },
  );
}

/** Runs the Python exporter to completion, passing each progress event on. */
async function runExporter(python: string, args: string[], onEvent: (e: ExportEvent) => void, work: string, signal?: AbortSignal): Promise<void> {
  const child = spawn(python, ['-m', 'personalive_export', ...args], {
    env: { ...process.env, PYTHONPATH: [EXPORTER_ROOT, process.env.PYTHONPATH].filter(Boolean).join(':'), PYTHONUNBUFFERED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    signal,
  });
  let stderrTail = '';
  let lastError: ExportEvent | undefined;
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (!line.startsWith('{')) continue;
      try {
        const event = JSON.parse(line) as ExportEvent;
        if (event.event === 'error') lastError = event;
        onEvent(event);
      } catch {
        // a library printed something that looks like JSON; not ours
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-4000);
  });
  const exitCode = await new Promise<number | null>((resolveExit, reject) => {
    child.once('error', (error) => (signal?.aborted ? resolveExit(null) : reject(error)));
    child.once('close', (code) => resolveExit(code));
  });
  if (signal?.aborted) throw new PersonaLiveError('EXPORT_FAILED', `export interrupted; finished components are kept in ${work}: run the same command again to resume`, { work });
  if (exitCode !== 0) throw exporterError(lastError, exitCode, stderrTail, work);
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** Opens each exported graph in ONNX Runtime (the manifest is written from its view) and hashes its files. */
async function openExported(work: string): Promise<Partial<Record<ComponentName, OpenedComponent>>> {
  const opened: Partial<Record<ComponentName, OpenedComponent>> = {};
  for (const component of COMPONENT_NAMES) {
    const recordPath = join(work, `${component}.json`);
    if (!(await stat(recordPath).catch(() => null))) continue;
    const record = await readJson<ExportedComponent>(recordPath);
    const file = join(work, record.file);
    const session = await openGraph(component, file, 'cpu');
    try {
      const data = record.data ? [{ file: record.data, sha256: await sha256File(join(work, record.data)), bytes: (await stat(join(work, record.data))).size }] : [];
      opened[component] = { record, inputs: session.inputs, outputs: session.outputs, sha256: await sha256File(file), data };
    } finally {
      await session.release();
    }
  }
  return opened;
}

/**
 * Exports a pack. Events: the exporter's own, then 'manifest' and 'verified'.
 * @throws PersonaLiveError USAGE, OUTPUT_NOT_WRITABLE, EXPORT_ENVIRONMENT, EXPORT_UPSTREAM,
 *   EXPORT_WEIGHTS, EXPORT_FAILED, EXPORT_DISK_FULL, EXPORT_INCOMPLETE, or a verify error.
 */
export async function exportPack(options: ExportOptions, onEvent: (e: ExportEvent) => void = () => {}): Promise<ExportResult> {
  const out = resolve(options.out);
  if (await stat(out).catch(() => null)) {
    throw new PersonaLiveError('OUTPUT_NOT_WRITABLE', `${out} already exists: choose a new --out folder (a pack is never written over another)`, { file: out });
  }
  const parent = dirname(out);
  if (!(await stat(parent).catch(() => null))?.isDirectory()) {
    throw new PersonaLiveError('OUTPUT_NOT_WRITABLE', `${parent} does not exist: create it first (the pack goes into ${out})`, { file: parent });
  }
  const python = findPython(options.python);
  const work = workFolder(out);
  await mkdir(work, { recursive: true });
  const args = [
    '--upstream', resolve(options.upstream), '--weights', resolve(options.weights), '--out', work,
    '--resolution', String(options.resolution ?? 512), '--dtype', options.dtype ?? 'fp16', '--step', options.step ?? 'unet_work',
    '--device', options.torchDevice ?? 'cpu',
    ...(options.components ? ['--components', options.components.join(',')] : []),
    ...(options.taesd ? ['--taesd', resolve(options.taesd)] : []),
    ...(options.externalDataThreshold !== undefined ? ['--external-data-threshold', String(options.externalDataThreshold)] : []),
  ];
  await runExporter(python, args, onEvent, work, options.signal);

  const environment = await readJson<ExportEnvironment>(join(work, 'export.json'));
  // Before opening anything (a full-size graph takes a while to open): is every component there?
  const present: ComponentName[] = [];
  for (const component of COMPONENT_NAMES) if (await stat(join(work, `${component}.json`)).catch(() => null)) present.push(component);
  checkComplete(environment.step, present);
  const opened = await openExported(work);
  const manifest = exportedManifest(basename(out), environment, opened);
  onEvent({ event: 'manifest', components: Object.keys(manifest.components) });

  // Assemble in a temporary folder beside the pack, verify there, then rename: no partial pack.
  const assembling = join(parent, `.${basename(out)}.assembling-${process.pid}`);
  await rm(assembling, { recursive: true, force: true });
  await mkdir(assembling);
  const records = Object.values(opened).map((o) => o!.record);
  for (const record of records) {
    for (const file of [record.file, ...(record.data ? [record.data] : [])]) await rename(join(work, file), join(assembling, file));
  }
  await writeFile(join(assembling, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  let report: PackReport;
  try {
    report = await verifyPack(assembling, 'cpu');
  } catch (error) {
    // Put the graphs back so the work folder can be resumed or inspected.
    for (const record of records) {
      for (const file of [record.file, ...(record.data ? [record.data] : [])]) await rename(join(assembling, file), join(work, file)).catch(() => {});
    }
    await rm(assembling, { recursive: true, force: true });
    throw error;
  }
  await rename(assembling, out);
  await rm(work, { recursive: true, force: true });
  const final = { ...report, dir: out };
  onEvent({ event: 'verified', dir: out });
  return { out, manifest, report: final, components: records };
}
