/**
 * `personalive daemon`: the live daemon in the foreground until SIGINT/SIGTERM. Command-line
 * options override the configuration file for this run (they are not saved).
 */
import { parseArgs } from 'node:util';
import { PersonaLiveError } from '../errors.js';
import { defaultPaths, type ConfigPatch } from '../config/config.js';
import { startDaemon } from '../daemon.js';
import { DECODER_KINDS, DEVICE_KINDS, GENERATOR_KINDS } from '../kinds.js';
import { readyBanner } from './banner.js';

export const DAEMON_USAGE = `  personalive daemon [--reference IMG] [--driving-file VIDEO | --driving-image IMG | --webcam DEV | --driving-ring NAME]
                     [--generator ${GENERATOR_KINDS.join('|')}] [--pack DIR] [--device ${DEVICE_KINDS.join('|')}] [--decoder ${DECODER_KINDS.join('|')}]
                     [--port N] [--fps N] [--size N] [--record OUT.mp4] [--virtual-camera] [--no-ring | --output-ring NAME]
                     [--obs-url ws://127.0.0.1:4455] [--obs-password PW] [--no-obs] [--config-dir DIR] [--data-dir DIR]
      (runs until Ctrl+C; prints the panel URL to add as an OBS Custom Browser Dock)`;

const SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

function int(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new PersonaLiveError('USAGE', `--${name} must be an integer, got "${String(value)}"`, { option: name });
  return n;
}

/** Parses the options into a configuration patch (validated later with the file's values). */
export function daemonOverrides(values: Record<string, string | boolean | undefined>): ConfigPatch {
  const patch: { [K in keyof ConfigPatch]: Record<string, unknown> } = { control: {}, obs: {}, generator: {}, driving: {}, output: {} };
  if (values.port !== undefined) patch.control!.port = int(values.port, 'port');
  if (values['no-obs']) patch.obs!.enabled = false;
  if (values['obs-url']) patch.obs!.url = values['obs-url'];
  if (values['obs-password'] !== undefined) patch.obs!.password = values['obs-password'];
  if (values.pack) patch.generator!.packDir = values.pack;
  if (values.generator) patch.generator!.kind = values.generator;
  else if (values.pack) patch.generator!.kind = 'personalive';
  if (values.device) patch.generator!.device = values.device;
  if (values.decoder) patch.generator!.decoder = values.decoder;
  if (values['failover-ms'] !== undefined) patch.generator!.failoverAfterMs = int(values['failover-ms'], 'failover-ms');
  const drivingKinds = [['driving-file', 'file'], ['driving-image', 'image'], ['webcam', 'webcam'], ['driving-ring', 'ring']] as const;
  const given = drivingKinds.filter(([option]) => values[option] !== undefined);
  if (given.length > 1) throw new PersonaLiveError('USAGE', `choose one driving source, got ${given.map(([o]) => `--${o}`).join(' and ')}`);
  for (const [option, kind] of given) {
    patch.driving!.kind = kind;
    patch.driving![kind] = values[option];
  }
  if (values.fps !== undefined) patch.output!.fps = int(values.fps, 'fps');
  if (values.size !== undefined) patch.output!.size = int(values.size, 'size');
  if (values.record) patch.output!.recording = { enabled: true, path: values.record };
  if (values['virtual-camera']) patch.output!.virtualCamera = { enabled: true };
  if (values['no-ring']) patch.output!.ring = { enabled: false };
  else if (values['output-ring']) patch.output!.ring = { name: values['output-ring'] };
  return patch as ConfigPatch;
}

/** Runs the daemon until a signal; resolves with the exit code. */
export async function runDaemon(args: string[], io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        reference: { type: 'string' }, 'driving-file': { type: 'string' }, 'driving-image': { type: 'string' }, webcam: { type: 'string' }, 'driving-ring': { type: 'string' },
        generator: { type: 'string' }, pack: { type: 'string' }, device: { type: 'string' }, decoder: { type: 'string' }, 'failover-ms': { type: 'string' },
        port: { type: 'string' }, fps: { type: 'string' }, size: { type: 'string' }, record: { type: 'string' }, 'virtual-camera': { type: 'boolean' }, 'no-ring': { type: 'boolean' }, 'output-ring': { type: 'string' },
        'obs-url': { type: 'string' }, 'obs-password': { type: 'string' }, 'no-obs': { type: 'boolean' }, 'config-dir': { type: 'string' }, 'data-dir': { type: 'string' },
        'null-sink': { type: 'boolean' }, json: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new PersonaLiveError('USAGE', `${(error as Error).message}\n\nUsage:\n${DAEMON_USAGE}`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  // Listening from the start: a Ctrl+C (or a service manager's SIGTERM) during a slow start,
  // or right after the ready line, still gets the clean shutdown; a second one forces the exit.
  let received: NodeJS.Signals | null = null;
  let wake: ((signal: NodeJS.Signals) => void) | null = null;
  const onSignal = (name: NodeJS.Signals): void => {
    if (received !== null) {
      io.stderr(`personalive: ${name} again: exiting without finishing the shutdown`);
      process.exit(1);
    }
    received = name;
    wake?.(name);
  };
  for (const name of SHUTDOWN_SIGNALS) process.on(name, onSignal);
  const env = { ...process.env };
  if (values['config-dir']) env.PERSONALIVE_CONFIG_DIR = values['config-dir'] as string;
  if (values['data-dir']) env.PERSONALIVE_DATA_DIR = values['data-dir'] as string;
  const daemon = await startDaemon({
    paths: defaultPaths(env),
    overrides: daemonOverrides(values),
    reference: values.reference as string | undefined,
    nullSink: Boolean(values['null-sink']),
    testHooks: process.env.PERSONALIVE_TEST_HOOKS === '1',
    // Readable lines for a person at a terminal; JSON for pipes, files, service managers and --json.
    logFormat: !values.json && process.stderr.isTTY ? 'human' : 'json',
  });
  if (values.json) io.stdout(JSON.stringify({ event: 'ready', port: daemon.port, panelUrl: daemon.panelUrl, configDir: daemon.paths.configDir, dataDir: daemon.paths.dataDir }));
  else for (const line of readyBanner(await daemon.state(), daemon.panelUrl)) io.stdout(line);
  // Ctrl+C, a service manager, or the terminal closing (SIGHUP): the same clean shutdown, so
  // a recording is finished and renamed into place and the rings are marked stopped.
  const signal = received ?? (await new Promise<NodeJS.Signals>((resolve) => { wake = resolve; }));
  if (signal === 'SIGHUP') {
    // The terminal is gone: writing to it fails (EIO), which must not stop the shutdown.
    process.stdout.on('error', () => undefined);
    process.stderr.on('error', () => undefined);
  }
  io.stderr(`personalive: ${signal}: shutting down`);
  await daemon.close();
  // Everything is closed and flushed; a library handle left open must not keep a dead daemon around.
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}
