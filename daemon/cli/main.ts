/**
 * The `personalive` command line. Parses arguments, runs one command, maps errors to a
 * one-line message on stderr and the catalogue's exit code.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { asPersonaLiveError, PersonaLiveError } from '../errors.js';
import { probedDeviceAvailability, resolveDevice } from '../ort/onnx-runtime.js';
import { generatorEntry } from '../generators/registry.js';
import { DECODER_KINDS, DEFAULT_EXPRESSION_CONTROLS, DEVICE_KINDS, GENERATOR_KINDS, backendChoiceProblem, type ExpressionControls, type GeneratorKind } from '../kinds.js';
import { oneOf } from '../util/checks.js';
import { verifyPack } from '../../models/pack.js';
import { buildTestPack } from '../../models/test-pack.js';
import { exportPack, type ExportEvent } from '../../models/exporter.js';
import { COMPONENT_NAMES, type ComponentName } from '../../models/contract.js';
import { animate } from './animate.js';
import { DAEMON_USAGE, runDaemon } from './daemon-command.js';
import { DOCTOR_USAGE, SETUP_USAGE, runDoctorCommand, runSetupCommand } from './setup-command.js';
import type { DecoderChoice } from '../generators/personalive/engine.js';

export const USAGE = `personalive: real-time portrait animation for OBS and virtual cameras

Usage:
  personalive animate --reference IMG --driving VIDEO --out OUT.mp4 [--generator ${GENERATOR_KINDS.join('|')}]
                      [--pack DIR] [--device ${DEVICE_KINDS.join('|')}] [--decoder ${DECODER_KINDS.join('|')}]
                      [--size N] [--max-frames N] [--seed N] [--json]
                      [--mouth 0-2] [--eyes 0-2] [--brows 0-2] [--head 0-2] [--head-pose relative|absolute]
                      [--neutral-frame N] (the driving frame that is your neutral face; default the first)
      (the generator defaults to personalive when a pack is given or PERSONALIVE_PACK is set,
       else to the built-in meshwarp)
${DAEMON_USAGE}
${SETUP_USAGE}
${DOCTOR_USAGE}
  personalive pack export --upstream DIR --weights DIR --out PACK [--resolution 512] [--dtype fp16|fp32]
                          [--step unet_work|denoiser] [--components a,b,...] [--taesd DIR]
                          [--python PATH] [--torch-device cpu|cuda] [--json]
      (upstream: a clone of GVCLab/PersonaLive; weights: its pretrained_weights folder; runs in a
       Python with torch >= 1.13 and onnx, upstream's own environment for the real weights;
       an interrupted or failed export resumes where it stopped when run again)
  personalive pack verify DIR [--device ${DEVICE_KINDS.join('|')}] [--json]
  personalive pack make-test DIR [--resolution N] [--profile tiny|contract] [--step denoiser|unet_work]
                             [--decoder-output float|bytes]
  personalive devices [--json]
  personalive help

Generators: ${GENERATOR_KINDS.join(', ')}. Exit codes: 0 ok, 1 runtime failure, 2 bad input.`;

interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stderrIsTty: boolean;
}

function parse(args: string[], options: ParseArgsConfig['options']): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (error) {
    throw new PersonaLiveError('USAGE', `${(error as Error).message}\n\n${USAGE}`);
  }
}

function requireString(values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value.length === 0) throw new PersonaLiveError('USAGE', `missing required option --${name}\n\n${USAGE}`, { option: name });
  return value;
}

function positiveInt(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new PersonaLiveError('USAGE', `--${name} must be a positive integer, got "${String(value)}"`, { option: name });
  return n;
}

function decoderOption(value: unknown): DecoderChoice | undefined {
  if (value === undefined) return undefined;
  const expected = oneOf(DECODER_KINDS)(value);
  if (expected === null) return value as DecoderChoice;
  throw new PersonaLiveError('USAGE', `--decoder must be ${expected}, got "${String(value)}"`, { option: 'decoder' });
}

function nonNegativeInt(value: unknown, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new PersonaLiveError('USAGE', `--${name} must be a frame number (0 or more), got "${String(value)}"`, { option: name });
  return n;
}

/** --mouth/--eyes/--brows/--head (0-2) and --head-pose; refused for a generator they do not apply to. */
function expressionOptions(values: Record<string, string | boolean | undefined>, generator: string): ExpressionControls | undefined {
  const given = (['mouth', 'eyes', 'brows', 'head', 'head-pose'] as const).filter((name) => values[name] !== undefined);
  if (given.length === 0) return undefined;
  if (generator !== 'meshwarp') throw new PersonaLiveError('USAGE', `--${given[0]}: the expression controls apply to the built-in generator (meshwarp), not to ${generator}`, { option: given[0] });
  const controls: ExpressionControls = { ...DEFAULT_EXPRESSION_CONTROLS };
  for (const name of ['mouth', 'eyes', 'brows', 'head'] as const) {
    if (values[name] === undefined) continue;
    const n = Number(values[name]);
    if (!(Number.isFinite(n) && n >= 0 && n <= 2)) throw new PersonaLiveError('USAGE', `--${name} must be a number from 0 to 2 (1: as the driver does it), got "${String(values[name])}"`, { option: name });
    controls[name] = n;
  }
  if (values['head-pose'] !== undefined) {
    if (values['head-pose'] !== 'relative' && values['head-pose'] !== 'absolute') throw new PersonaLiveError('USAGE', `--head-pose must be relative or absolute, got "${String(values['head-pose'])}"`, { option: 'head-pose' });
    controls.headPose = values['head-pose'];
  }
  return controls;
}

/** Runs a long command with an AbortSignal that Ctrl+C (SIGINT) or SIGTERM fires; the listeners go when it ends. */
async function untilInterrupted<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const interrupt = new AbortController();
  const onSignal = (): void => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await run(interrupt.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function runAnimate(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, {
    reference: { type: 'string' },
    driving: { type: 'string' },
    out: { type: 'string' },
    generator: { type: 'string' },
    pack: { type: 'string' },
    device: { type: 'string', default: 'cpu' },
    decoder: { type: 'string' },
    'max-frames': { type: 'string' },
    seed: { type: 'string' },
    size: { type: 'string' },
    json: { type: 'boolean', default: false },
    mouth: { type: 'string' },
    eyes: { type: 'string' },
    brows: { type: 'string' },
    head: { type: 'string' },
    'head-pose': { type: 'string' },
    'neutral-frame': { type: 'string' },
  });
  const packDir = (values.pack as string | undefined) ?? process.env.PERSONALIVE_PACK ?? null;
  const generator = (values.generator as string | undefined) ?? (packDir ? 'personalive' : 'meshwarp');
  generatorEntry(generator);
  const decoder = decoderOption(values.decoder);
  const device = resolveDevice(values.device as string);
  const problem = backendChoiceProblem(generator as GeneratorKind, { device, decoder });
  if (problem) throw new PersonaLiveError('USAGE', `--${problem.field}: ${problem.message}`, { generator, option: problem.field });
  const expression = expressionOptions(values, generator);
  const summary = await untilInterrupted((signal) => animate({
    signal,
    reference: requireString(values, 'reference'),
    driving: requireString(values, 'driving'),
    out: requireString(values, 'out'),
    generator,
    packDir,
    device,
    decoder,
    maxFrames: positiveInt(values['max-frames'], 'max-frames'),
    size: positiveInt(values.size, 'size'),
    seed: values.seed === undefined ? undefined : Number(values.seed),
    progress: io.stderrIsTty,
    expression,
    neutralFrame: values['neutral-frame'] === undefined ? undefined : nonNegativeInt(values['neutral-frame'], 'neutral-frame'),
  }));
  if (values.json) io.stdout(JSON.stringify(summary));
  else io.stdout(`wrote ${summary.out}: ${summary.frames} frames in ${(summary.wallMs / 1000).toFixed(1)} s (${summary.fps} fps), generator ${summary.generator}, device ${summary.device}`);
}

async function runPack(args: string[], io: Io): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'verify') {
    const { values, positionals } = parse(rest, { device: { type: 'string', default: 'cpu' }, json: { type: 'boolean', default: false } });
    if (positionals.length !== 1) throw new PersonaLiveError('USAGE', `pack verify takes one pack folder\n\n${USAGE}`);
    const report = await verifyPack(positionals[0], resolveDevice(values.device as string));
    if (values.json) {
      io.stdout(JSON.stringify({ ok: true, ...report }));
      return;
    }
    io.stdout(`pack ${report.name} (${report.dir}): OK`);
    io.stdout(`  resolution ${report.resolution}, ${report.precision}, step graph ${report.stepKind}, decoders ${report.decoders.join(', ')}, device ${report.device}`);
    if (report.source) {
      const s = report.source;
      io.stdout(`  exported by ${s.exporter}${s.upstreamCommit ? ` from upstream ${s.upstreamCommit}` : ''}${s.torch ? `, torch ${s.torch}` : ''}${s.randomWeights ? ' (RANDOM weights: a proof of the export path, not an animation model)' : ''}`);
    }
    for (const c of report.components) {
      const data = c.dataFiles > 0 ? ` (+${c.dataFiles} data file${c.dataFiles > 1 ? 's' : ''})` : '';
      io.stdout(`  ${c.component.padEnd(16)} ${c.file.padEnd(24)} ${String(c.bytes).padStart(12)} B${data}  sha256 ok  ${c.inputs} in / ${c.outputs} out  providers ${c.providers.join(',')}`);
    }
    return;
  }
  if (sub === 'export') {
    await runPackExport(rest, io);
    return;
  }
  if (sub === 'make-test') {
    const { values, positionals } = parse(rest, {
      resolution: { type: 'string', default: '64' },
      profile: { type: 'string', default: 'tiny' },
      step: { type: 'string', default: 'denoiser' },
      'decoder-output': { type: 'string', default: 'float' },
    });
    if (positionals.length !== 1) throw new PersonaLiveError('USAGE', `pack make-test takes one output folder\n\n${USAGE}`);
    const profile = values.profile as string;
    const step = values.step as string;
    if (profile !== 'tiny' && profile !== 'contract') throw new PersonaLiveError('USAGE', `--profile must be "tiny" or "contract", got "${profile}"`, { option: 'profile' });
    if (step !== 'denoiser' && step !== 'unet_work') throw new PersonaLiveError('USAGE', `--step must be "denoiser" or "unet_work", got "${step}"`, { option: 'step' });
    const decoderOutput = values['decoder-output'] as string;
    if (decoderOutput !== 'float' && decoderOutput !== 'bytes') throw new PersonaLiveError('USAGE', `--decoder-output must be "float" or "bytes", got "${decoderOutput}"`, { option: 'decoder-output' });
    const manifest = await buildTestPack(positionals[0], { resolution: positiveInt(values.resolution, 'resolution'), profile, stepKind: step, decoderOutput });
    io.stdout(`wrote test pack ${manifest.name} to ${positionals[0]} (a generated test pack for tests and plumbing checks: it is NOT a real animation model)`);
    return;
  }
  throw new PersonaLiveError('USAGE', `unknown pack command "${sub ?? ''}": expected export, verify or make-test\n\n${USAGE}`);
}

async function runPackExport(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, {
    upstream: { type: 'string' },
    weights: { type: 'string' },
    out: { type: 'string' },
    resolution: { type: 'string', default: '512' },
    dtype: { type: 'string', default: 'fp16' },
    step: { type: 'string', default: 'unet_work' },
    components: { type: 'string' },
    taesd: { type: 'string' },
    python: { type: 'string' },
    'torch-device': { type: 'string', default: 'cpu' },
    json: { type: 'boolean', default: false },
  });
  const resolution = positiveInt(values.resolution, 'resolution')!;
  if (resolution % 64 !== 0) throw new PersonaLiveError('USAGE', `--resolution must be a positive multiple of 64, got ${resolution}`, { option: 'resolution' });
  const dtype = values.dtype as string;
  if (dtype !== 'fp16' && dtype !== 'fp32') throw new PersonaLiveError('USAGE', `--dtype must be fp16 or fp32, got "${dtype}"`, { option: 'dtype' });
  const step = values.step as string;
  if (step !== 'unet_work' && step !== 'denoiser') throw new PersonaLiveError('USAGE', `--step must be unet_work or denoiser, got "${step}"`, { option: 'step' });
  let components: ComponentName[] | undefined;
  if (values.components !== undefined) {
    components = String(values.components).split(',').map((c) => c.trim()).filter(Boolean) as ComponentName[];
    const unknown = components.filter((c) => !COMPONENT_NAMES.includes(c));
    if (unknown.length > 0) throw new PersonaLiveError('USAGE', `--components: unknown ${unknown.join(', ')}; expected some of ${COMPONENT_NAMES.join(', ')}`, { option: 'components' });
  }
  const started = Date.now();
  const result = await untilInterrupted((signal) => exportPack(
    {
      upstream: requireString(values, 'upstream'),
      weights: requireString(values, 'weights'),
      out: requireString(values, 'out'),
      resolution,
      dtype,
      step,
      components,
      taesd: values.taesd as string | undefined,
      python: values.python as string | undefined,
      torchDevice: values['torch-device'] as string,
      signal,
    },
    (event) => io.stderr(describeExportEvent(event)),
  ));
  if (values.json) {
    io.stdout(JSON.stringify({ ok: true, out: result.out, seconds: (Date.now() - started) / 1000, components: result.components, report: result.report }));
    return;
  }
  io.stdout(`wrote pack ${result.manifest.name} to ${result.out} (${result.manifest.precision}, ${result.manifest.resolution}x${result.manifest.resolution}, step ${result.manifest.components.step.kind}); pack verify: OK`);
  if (result.manifest.source?.randomWeights) io.stdout('  made from RANDOM weights: it proves the export path and animates noise, it is NOT an animation model');
}

/** One progress line per exporter event, for the terminal. */
export function describeExportEvent(event: ExportEvent): string {
  const mb = (n: unknown): string => (typeof n === 'number' ? `${(n / 1024).toFixed(1)} GB` : '?');
  switch (event.event) {
    case 'environment':
      return `export: torch ${String(event.torch)}, ${String(event.precision)}, ${String(event.resolution)}x${String(event.resolution)}, step ${String(event.step)}, on ${String(event.device)}${event.upstreamCommit ? `, upstream ${String(event.upstreamCommit).slice(0, 7)}` : ''}`;
    case 'start':
      return `export: ${String(event.component)} ...`;
    case 'done':
      return `export: ${String(event.component)} done in ${String(event.seconds)} s (${String(event.file)}${event.data ? ` + ${String(event.data)}` : ''}, peak memory so far ${mb(event.peakRssMb)})`;
    case 'skipped':
      return `export: ${String(event.component)} already exported, kept (resumed)`;
    case 'warning':
      return `export: warning: ${String(event.message)}`;
    case 'finished':
      return `export: all components exported (peak memory ${mb(event.peakRssMb)}); writing the manifest from ONNX Runtime's view`;
    case 'manifest':
      return 'export: manifest written; verifying the pack';
    case 'verified':
      return `export: pack verified, moved into place: ${String(event.dir)}`;
    case 'error':
      return `export: ${String(event.component ?? '')} failed: ${String(event.message)}`;
    default:
      return `export: ${JSON.stringify(event)}`;
  }
}

async function runDevices(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, { json: { type: 'boolean', default: false } });
  const list = await probedDeviceAvailability();
  if (values.json) io.stdout(JSON.stringify({ devices: list }));
  else for (const d of list) io.stdout(`${d.device.padEnd(9)} ${d.available ? 'available' : `unavailable: ${d.reason}`}`);
}

/** Runs one command line; returns the process exit code. */
export async function main(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'animate':
        await runAnimate(rest, io);
        return 0;
      case 'daemon':
        return await runDaemon(rest, io);
      case 'setup':
        return await runSetupCommand(rest, io);
      case 'doctor':
        return await runDoctorCommand(rest, io);
      case 'pack':
        await runPack(rest, io);
        return 0;
      case 'devices':
        await runDevices(rest, io);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return 0;
      default:
        throw new PersonaLiveError('USAGE', `unknown command "${command}"\n\n${USAGE}`);
    }
  } catch (error) {
    const e = asPersonaLiveError(error);
    // A script that asked for JSON gets its answer on stdout on failure too.
    if (rest.includes('--json')) io.stdout(JSON.stringify({ ok: false, error: { code: e.code, exitCode: e.exitCode, message: e.message, details: e.details } }));
    io.stderr(`personalive: error ${e.code}: ${e.message}`);
    if (e.code === 'INTERNAL' && error instanceof Error && error.stack) io.stderr(error.stack);
    return e.exitCode;
  }
}


