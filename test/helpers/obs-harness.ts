/**
 * A real OBS Studio 29 in a throwaway home under Xvfb, with obs-websocket enabled and the
 * PersonaLive plugin installed by the project's installer (facts in
 * ../shared/design/obs-headless.md). Used by test/obs/*.obs.test.ts.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ObsClient } from '../../daemon/obs/obs-client.js';
import { requireBinary } from './system.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const NAME = 'PersonaLiveTest';
/** (29 << 24) | 2: with FirstRun it suppresses the auto-configuration wizard. */
const OBS_29_0_2 = 486539266;

/** Whether OBS tests can run; under CI=true a missing dependency fails instead. */
export function requireObs(): { skip: boolean } {
  const missing = ['obs', 'Xvfb', 'cmake'].filter((binary) => requireBinary(binary).skip);
  return { skip: missing.length > 0 };
}

export interface ObsInstance {
  readonly home: string;
  readonly port: number;
  readonly password: string;
  readonly obs: ChildProcess;
  readonly client: ObsClient;
  /** The OBS log of this run (for assertions and for failure messages). */
  log(): string;
  /** Kills OBS abruptly (SIGKILL), as a crash would; the client stays (and sees the drop). */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Starts Xvfb on a display it picks itself (-displayfd); resolves to ":N". */
async function startXvfb(): Promise<{ display: string; process: ChildProcess }> {
  const xvfb = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x720x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let stderr = '';
  xvfb.stderr!.on('data', (chunk) => { stderr += String(chunk); });
  const fd3 = xvfb.stdio[3] as NodeJS.ReadableStream;
  const display = await new Promise<string>((resolve, reject) => {
    let text = '';
    fd3.on('data', (chunk) => {
      text += String(chunk);
      if (text.includes('\n')) resolve(`:${text.trim()}`);
    });
    xvfb.once('exit', (code) => reject(new Error(`Xvfb exited (${code}): ${stderr}`)));
    setTimeout(() => reject(new Error(`Xvfb did not start in 10 s: ${stderr}`)), 10_000).unref();
  });
  return { display, process: xvfb };
}

/** Builds the plugin with the project's installer and installs it into `home`'s plugin folder. */
export function installPlugin(home: string): void {
  execFileSync('bash', [join(repoRoot, 'installer/install-obs-plugin.sh'), '--config-dir', join(home, '.config/obs-studio'), '--build-dir', join(repoRoot, 'plugin/build')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: repoRoot,
  });
}

/**
 * A throwaway OBS home: no first-run wizard, a profile and scene collection of its own, and
 * obs-websocket on (or, with `websocket: null`, only its port set and the server left off, as
 * a user who never turned it on has it).
 */
export function writeObsHome(home: string, port: number, password: string, websocket: 'on' | 'off' = 'on'): void {
  const config = join(home, '.config/obs-studio');
  mkdirSync(join(config, 'basic/profiles', NAME), { recursive: true });
  mkdirSync(join(config, 'basic/scenes'), { recursive: true });
  writeFileSync(join(config, 'global.ini'), [
    '[General]', 'FirstRun=true', `LastVersion=${OBS_29_0_2}`, 'EnableAutoUpdates=false', 'ConfirmOnExit=false', '',
    '[BasicWindow]', 'SysTrayEnabled=false', 'PreviewEnabled=false', '',
    '[Basic]', `Profile=${NAME}`, `ProfileDir=${NAME}`, `SceneCollection=${NAME}`, `SceneCollectionFile=${NAME}`, '',
    ...(websocket === 'on'
      ? ['[OBSWebSocket]', 'FirstLoad=false', 'ServerEnabled=true', `ServerPort=${port}`, 'AlertsEnabled=false', 'AuthRequired=true', `ServerPassword=${password}`, '']
      : ['[OBSWebSocket]', `ServerPort=${port}`, 'AlertsEnabled=false', '']),
  ].join('\n'));
  writeFileSync(join(config, 'basic/profiles', NAME, 'basic.ini'), [
    '[General]', `Name=${NAME}`, '',
    '[Video]', 'BaseCX=1280', 'BaseCY=720', 'OutputCX=1280', 'OutputCY=720', 'FPSType=0', 'FPSCommon=30', '',
  ].join('\n'));
}

/**
 * Starts OBS (and Xvfb) in a fresh home with the plugin installed, and connects an
 * obs-websocket client. Resolves when an authenticated request answers.
 */
export async function startObs(options: { plugin?: boolean; home?: string; prepared?: { port: number; password: string } } = {}): Promise<ObsInstance> {
  const home = options.home ?? mkdtempSync(join(tmpdir(), 'personalive-obs-'));
  // `prepared`: the home is set up already (by `personalive setup`): OBS runs on its own settings.
  const port = options.prepared?.port ?? (await freePort());
  const password = options.prepared?.password ?? `pw-${process.pid}-${port}`;
  if (!options.prepared) {
    writeObsHome(home, port, password);
    if (options.plugin !== false) installPlugin(home);
  }
  const xvfb = await startXvfb();
  const websocketFlags = options.prepared ? [] : ['--websocket_port', String(port), '--websocket_password', password];
  const obs = spawn('obs', ['--multi', '--disable-missing-files-check', '--collection', NAME, '--profile', NAME, '--websocket_ipv4_only', ...websocketFlags], {
    env: { ...process.env, HOME: home, DISPLAY: xvfb.display, LIBGL_ALWAYS_SOFTWARE: '1', XDG_CONFIG_HOME: join(home, '.config') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let obsStderr = '';
  obs.stderr!.on('data', (chunk) => { obsStderr = (obsStderr + String(chunk)).slice(-20_000); });
  const log = (): string => {
    try {
      const dir = join(home, '.config/obs-studio/logs');
      const newest = readdirSync(dir).sort().at(-1);
      return newest ? readFileSync(join(dir, newest), 'utf8') : obsStderr;
    } catch {
      return obsStderr;
    }
  };
  const client = new ObsClient({ url: `ws://127.0.0.1:${port}`, password, reconnect: false, callTimeoutMs: 10_000 });
  const killObs = async (signal: NodeJS.Signals): Promise<void> => {
    if (obs.exitCode === null && obs.signalCode === null) {
      obs.kill(signal);
      const exited = once(obs, 'exit');
      const timer = setTimeout(() => obs.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (obs.exitCode !== null) {
      xvfb.process.kill('SIGKILL');
      throw new Error(`OBS exited with ${obs.exitCode} before obs-websocket answered.\n${log().slice(-4000)}`);
    }
    try {
      await client.connect();
      await client.call('GetVersion');
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        await client.close();
        await killObs('SIGKILL');
        xvfb.process.kill('SIGKILL');
        throw new Error(`obs-websocket did not answer in 30 s: ${(error as Error).message}\n${log().slice(-4000)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    home,
    port,
    password,
    obs,
    client,
    log,
    kill: () => killObs('SIGKILL'),
    async stop() {
      // SIGINT is OBS 29's clean shutdown (modules unload, rings are marked stopped);
      // SIGTERM ends it without unloading anything.
      await client.close();
      await killObs('SIGINT');
      xvfb.process.kill('SIGTERM');
      if (!options.home) rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Decodes a GetSourceScreenshot data URL (PNG) to raw RGBA with sharp. */
export async function screenshotPixels(dataUrl: string): Promise<{ width: number; height: number; rgba: Uint8Array }> {
  const { default: sharp } = await import('sharp');
  const png = Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64');
  const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, rgba: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}
