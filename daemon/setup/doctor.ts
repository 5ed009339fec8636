/**
 * `personalive doctor`: one table of what works here and what does not, each line with its
 * fix: ffmpeg, OBS (version, plugin, obs-websocket on and reachable with the configured
 * password, the dock), the virtual camera, the GPU (each execution provider opened for real),
 * the model pack, and the daemon (running, its port, the rings and who writes them). The
 * panel shows the same rows (control method doctor.run).
 */
import { outputOf } from './commands.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadPack } from '../../models/pack.js';
import type { DaemonConfig } from '../config/config.js';
import { asPersonaLiveError } from '../errors.js';
import { systemSharedMemory } from '../ffi/shared-memory.js';
import { findFfmpeg } from '../media/ffmpeg.js';
import { ObsClient } from '../obs/obs-client.js';
import { RingReader } from '../transport/ring.js';
import type { DoctorCheck } from '../protocol.js';
import { findObsInstalls, readWebsocketSettings, registeredDock, type ObsInstall } from './obs-install.js';
import { gpuFacts, obsVirtualCameraRegistered, processesUsing, proveProviders, virtualCameraCommands, virtualCameraFacts } from './system-checks.js';

export interface DoctorOptions {
  env: NodeJS.ProcessEnv;
  config: DaemonConfig;
  token: string;
  obsConfigDir?: string;
  root?: string;
  /** Skip asking the daemon (the daemon itself runs the checks for its panel). */
  insideDaemon?: boolean;
}

const check = (area: string, name: string, status: DoctorCheck['status'], found: string, fix: string | null = null): DoctorCheck => ({ area, name, status, found, fix });

function firstLine(binary: string, args: string[]): string | null {
  return outputOf(binary, args)?.split('\n')[0]!.trim() ?? null;
}

function ffmpegChecks(env: NodeJS.ProcessEnv): DoctorCheck[] {
  try {
    const { ffmpeg } = findFfmpeg(env);
    return [check('ffmpeg', 'ffmpeg', 'ok', firstLine(ffmpeg, ['-version']) ?? ffmpeg)];
  } catch (error) {
    return [check('ffmpeg', 'ffmpeg', 'fail', asPersonaLiveError(error).message, 'Debian/Ubuntu: sudo apt install ffmpeg')];
  }
}

async function obsChecks(install: ObsInstall, options: DoctorOptions): Promise<DoctorCheck[]> {
  const area = `OBS (${install.kind})`;
  const rows = [check(area, 'OBS Studio', install.version ? 'ok' : 'warn', install.version ? `${install.version.text}, settings in ${install.configDir}` : 'found, version unknown')];
  const so = join(install.pluginDir, 'bin/64bit/personalive.so');
  if (!existsSync(so)) rows.push(check(area, 'PersonaLive plugin', 'fail', `not installed (${so})`, 'personalive setup'));
  else {
    const ldd = firstLine('sh', ['-c', `ldd '${so}' | grep 'not found' | head -1`]);
    rows.push(ldd ? check(area, 'PersonaLive plugin', 'fail', `installed but cannot load: ${ldd}`, 'install the libobs matching this OBS, then personalive setup') : check(area, 'PersonaLive plugin', 'ok', `installed and its libraries resolve (${so})`));
  }
  const ws = readWebsocketSettings(install);
  rows.push(ws.enabled
    ? check(area, 'obs-websocket', 'ok', `on at port ${ws.port}${ws.authRequired ? ' with a password' : ' WITHOUT a password (anyone on the network can control OBS)'}`, ws.authRequired ? null : 'OBS: Tools > WebSocket Server Settings > Enable Authentication')
    : check(area, 'obs-websocket', 'fail', 'off in OBS\'s settings', 'personalive setup (or OBS: Tools > WebSocket Server Settings > Enable WebSocket server)'));
  if (!options.config.obs.enabled) rows.push(check(area, 'connection', 'info', 'the daemon\'s OBS control is off (obs.enabled: false)'));
  else {
    const client = new ObsClient({ url: options.config.obs.url, password: options.config.obs.password || undefined, reconnect: false, callTimeoutMs: 3000 });
    try {
      await client.connect();
      const version = (await client.call('GetVersion')) as { obsVersion?: string };
      rows.push(check(area, 'connection', 'ok', `${options.config.obs.url} answers with the configured password (OBS ${version.obsVersion ?? '?'})`));
    } catch (error) {
      const e = asPersonaLiveError(error);
      rows.push(e.code === 'OBS_AUTH_FAILED'
        ? check(area, 'connection', 'fail', `${options.config.obs.url} refused the configured password`, 'personalive setup (shares OBS\'s password with the daemon), or copy it from OBS (Tools > WebSocket Server Settings > Show Connect Info) into obs.password')
        : check(area, 'connection', 'warn', `${options.config.obs.url} does not answer (${e.message})`, 'start OBS (with obs-websocket on)'));
    } finally {
      await client.close();
    }
  }
  const dock = registeredDock(install);
  const expected = `http://127.0.0.1:${options.config.control.port}/panel/?token=${options.token}`;
  if (!dock) rows.push(check(area, 'dock', 'warn', 'the PersonaLive dock is not registered', 'personalive setup (or Docks > Custom Browser Docks, URL from the daemon\'s banner)'));
  else if (dock.url !== expected) rows.push(check(area, 'dock', 'fail', `registered with an old URL (${dock.url.replace(/token=[0-9a-f]+/, 'token=…')})`, 'personalive setup (writes the current URL)'));
  else rows.push(check(area, 'dock', install.browserDocks ? 'ok' : 'warn', install.browserDocks ? 'registered with the current URL' : 'registered, but this OBS has no browser docks (Debian\'s package): open the panel URL in a browser', install.browserDocks ? null : 'use OBS from obsproject.com (PPA or Flatpak) for the dock'));
  return rows;
}

function virtualCameraChecks(root: string): DoctorCheck[] {
  const area = 'virtual camera';
  if (process.platform === 'win32') {
    return [obsVirtualCameraRegistered()
      ? check(area, 'OBS Virtual Camera', 'ok', 'registered (PersonaLive writes its frames; keep OBS\'s own virtual camera stopped)')
      : check(area, 'OBS Virtual Camera', 'fail', 'not registered', 'install OBS Studio 26.1 or newer with its installer')];
  }
  if (process.platform !== 'linux') return [check(area, 'virtual camera', 'info', 'no virtual camera for this system yet')];
  const facts = virtualCameraFacts(root);
  const rows = [facts.moduleAvailable ? check(area, 'v4l2loopback module', 'ok', facts.loaded ? 'installed and loaded' : 'installed, not loaded') : check(area, 'v4l2loopback module', 'fail', 'not installed for this kernel', 'Debian/Ubuntu: sudo apt install v4l2loopback-dkms')];
  if (facts.moduleAvailable) {
    rows.push(facts.ours
      ? check(area, 'device', 'ok', `${facts.ours.device} "${facts.ours.label}" (exclusive_caps ${facts.exclusiveCaps ?? '?'}; other loopback devices: ${facts.devices.filter((d) => d !== facts.ours).map((d) => d.device).join(', ') || 'none'})`)
      : check(area, 'device', 'fail', facts.devices.length ? `no device labelled PersonaLive (loopback devices: ${facts.devices.map((d) => `${d.device} "${d.label}"`).join(', ')})` : 'no loopback device', `personalive setup --yes, or: ${virtualCameraCommands()[0]}`));
    if (facts.ours) {
      const users = processesUsing(facts.ours.device);
      rows.push(check(area, 'in use by', 'info', users.length ? users.map((u) => `${u.name} (pid ${u.pid})`).join(', ') : 'nobody (no writer, no app has it open)'));
    }
    rows.push(check(area, 'at boot', facts.persistent ? 'ok' : 'warn', facts.persistent ? 'loaded at every boot (modprobe.d, modules-load.d)' : 'not set to load at boot', facts.persistent ? null : 'personalive setup --yes'));
  }
  return rows;
}

async function gpuChecks(root: string): Promise<DoctorCheck[]> {
  const area = 'GPU';
  const facts = gpuFacts(root);
  const rows = [facts.driver ? check(area, 'NVIDIA driver', 'ok', facts.driver) : check(area, 'NVIDIA driver', 'info', 'none: the built-in generator and the CPU device need no GPU')];
  if (facts.driver) rows.push(check(area, 'CUDA libraries', facts.missingLibraries.length ? 'fail' : 'ok', facts.missingLibraries.length ? `missing ${facts.missingLibraries.join(', ')} (found: ${facts.libraries.join(', ') || 'none'})` : facts.libraries.join(', '), facts.missingLibraries.length ? 'install CUDA 12 and cuDNN 9' : null));
  for (const proof of await proveProviders()) {
    rows.push(check(area, `provider ${proof.device}`, proof.ok ? 'ok' : proof.device === 'cpu' || facts.driver ? 'fail' : 'info', proof.detail, proof.ok ? null : proof.device === 'cpu' ? 'reinstall the dependencies (npm ci)' : 'personalive setup --gpu'));
  }
  return rows;
}

async function packChecks(config: DaemonConfig): Promise<DoctorCheck[]> {
  const dir = config.generator.packDir;
  if (!dir) return [check('model pack', 'pack', 'info', 'none configured: the built-in generator needs none')];
  try {
    const pack = await loadPack(dir);
    const decoders = ['tiny_decoder', 'vae_decoder'].filter((c) => c in pack.manifest.components);
    return [check('model pack', 'pack', 'ok', `${pack.manifest.name} in ${pack.dir}: files present, decoders ${decoders.join(', ') || 'none'} (personalive pack verify opens every graph)`)];
  } catch (error) {
    return [check('model pack', 'pack', 'fail', asPersonaLiveError(error).message, `personalive pack verify ${dir}`)];
  }
}

function ringCheck(area: string, role: string, name: string): DoctorCheck {
  const reader = new RingReader(systemSharedMemory(), name);
  try {
    const state = reader.state();
    if (state === 'absent') return check(area, role, 'info', `ring "${name}": nobody writes it now`);
    const { writerPid, width, height } = reader.status();
    return check(area, role, state === 'live' ? 'ok' : 'warn', `ring "${name}": ${state}, ${width}x${height}, written by pid ${writerPid}`);
  } catch (error) {
    return check(area, role, 'fail', `ring "${name}": ${asPersonaLiveError(error).message}`, 'reinstall the plugin (personalive setup) so the plugin and the daemon agree');
  } finally {
    reader.close();
  }
}

async function daemonChecks(options: DoctorOptions): Promise<DoctorCheck[]> {
  const area = 'daemon';
  const { host, port } = options.config.control;
  const rows: DoctorCheck[] = [];
  if (!options.insideDaemon) {
    try {
      const response = await fetch(`http://${host}:${port}/api/access`, { headers: { authorization: `Bearer ${options.token}` }, signal: AbortSignal.timeout(2000) });
      rows.push(response.ok ? check(area, 'daemon', 'ok', `running on ${host}:${port}`) : check(area, 'daemon', 'fail', `something on ${host}:${port} refused this configuration's token (HTTP ${response.status}): another daemon, or another configuration`, 'stop it, or give this one its own control.port'));
    } catch {
      rows.push(check(area, 'daemon', 'info', `not running on ${host}:${port}`, 'personalive daemon'));
    }
  } else rows.push(check(area, 'daemon', 'ok', `running on ${host}:${port}`));
  if (options.config.output.ring.enabled) rows.push(ringCheck(area, 'output ring (to OBS)', options.config.output.ring.name));
  if (options.config.driving.kind === 'ring') rows.push(ringCheck(area, 'driving ring (from OBS)', options.config.driving.ring));
  return rows;
}

/** Every check, in the table's order. Never throws: a check that cannot run is a row saying why. */
export async function runDoctor(options: DoctorOptions): Promise<DoctorCheck[]> {
  const root = options.root ?? '/';
  const rows: DoctorCheck[] = [...ffmpegChecks(options.env)];
  const installs = findObsInstalls(options.env, options.obsConfigDir);
  if (installs.length === 0) rows.push(check('OBS', 'OBS Studio', 'fail', 'not found (no obs on PATH, no Flatpak)', 'install OBS 28 or newer (Debian/Ubuntu: sudo apt install obs-studio), then personalive setup'));
  for (const install of installs) rows.push(...(await obsChecks(install, options)));
  rows.push(...virtualCameraChecks(root), ...(await gpuChecks(root)), ...(await packChecks(options.config)), ...(await daemonChecks(options)));
  return rows;
}

/** The table for a terminal: one line per check, its fix indented under it. */
export function formatDoctor(rows: readonly DoctorCheck[]): string[] {
  const mark = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', info: '--  ' } as const;
  const width = Math.max(...rows.map((r) => `${r.area}: ${r.name}`.length));
  return rows.flatMap((r) => [`${mark[r.status]}  ${`${r.area}: ${r.name}`.padEnd(width)}  ${r.found}`, ...(r.fix ? [`      ${' '.repeat(width)}  fix: ${r.fix}`] : [])]);
}
