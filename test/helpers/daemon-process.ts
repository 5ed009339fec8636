/**
 * The daemon as a child process, the way users run it (`personalive daemon`, the built CLI),
 * in a throwaway config/data folder, with the built-in generator on the looped demo video
 * unless told otherwise, no OBS, on a free loopback port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { demoDataDir } from './system.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface DaemonProcess {
  baseUrl: string;
  token: string;
  panelUrl: string;
  port: number;
  configDir: string;
  dataDir: string;
  child: ChildProcess;
  /** Everything the daemon wrote to stderr (structured logs) so far. */
  logs(): string;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartDaemonOptions {
  args?: string[];
  env?: Record<string, string>;
  /** Keep the folders after stop (default: removed). */
  keep?: boolean;
  /** Connect to this obs-websocket (default: --no-obs). */
  obs?: { url: string; password: string };
  /** Use this folder's config/ and data/ (an earlier run's, to test a restart) instead of a new one; never removed. */
  root?: string;
}

/** Starts `personalive daemon --json ...` and resolves when it printed its ready line. */
export async function startDaemon(options: StartDaemonOptions = {}): Promise<DaemonProcess> {
  const { dir: data } = demoDataDir();
  const root = options.root ?? mkdtempSync(join(tmpdir(), 'personalive-daemon-'));
  const configDir = join(root, 'config');
  const dataDir = join(root, 'data');
  const args = options.args ?? ['--reference', join(data, 'reference.png'), '--driving-file', join(data, 'driving.mp4')];
  const obsArgs = options.obs ? ['--obs-url', options.obs.url, '--obs-password', options.obs.password] : ['--no-obs'];
  const child = spawn(process.execPath, [join(REPO, 'bin/personalive.js'), 'daemon', '--json', '--port', '0', ...obsArgs, '--config-dir', configDir, '--data-dir', dataDir, ...args], {
    cwd: REPO,
    env: { ...process.env, PERSONALIVE_TEST_HOOKS: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => { stderr = (stderr + String(chunk)).slice(-200_000); });
  let stdout = '';
  const ready = await new Promise<{ port: number; panelUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon not ready in 90 s:\n${stderr.slice(-4000)}`)), 90_000);
    child.stdout!.on('data', (chunk) => {
      stdout += String(chunk);
      const line = stdout.split('\n').find((l) => l.startsWith('{"event":"ready"'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { port: number; panelUrl: string });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before it was ready:\n${stderr.slice(-4000)}`));
    });
  });
  const token = readFileSync(join(configDir, 'token'), 'utf8').trim();
  return {
    baseUrl: `http://127.0.0.1:${ready.port}`,
    token,
    panelUrl: ready.panelUrl,
    port: ready.port,
    configDir,
    dataDir,
    child,
    logs: () => stderr,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      let result: { code: number | null; signal: NodeJS.Signals | null } = { code: child.exitCode, signal: child.signalCode };
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        const [code, sig] = await exited;
        clearTimeout(timer);
        result = { code, signal: sig };
      }
      if (!options.keep && !options.root) rmSync(root, { recursive: true, force: true });
      return result;
    },
  };
}
