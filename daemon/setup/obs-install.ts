/**
 * Where OBS Studio is on this machine and what it can do: the native package and the
 * Flatpak, each with its version, its configuration folder (global.ini, plugins/), whether
 * it has browser docks, and whether an OBS using that folder is running now (it rewrites its
 * settings when it exits, so a setup must not edit them under it). Linux layout.
 */
import { outputOf } from './commands.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { getIniValue } from './ini.js';

export interface ObsVersion {
  major: number;
  minor: number;
  patch: number;
  text: string;
}

export interface ObsInstall {
  kind: 'native' | 'flatpak';
  version: ObsVersion | null;
  /** The folder holding global.ini, plugins/, plugin_config/, logs/. */
  configDir: string;
  /** Where the PersonaLive plugin goes. */
  pluginDir: string;
  /** Custom Browser Docks exist (obs-browser): Debian's own package has none. */
  browserDocks: boolean;
}

export const FLATPAK_ID = 'com.obsproject.Studio';
/** Where distributions put OBS's own plugins (obs-browser.so among them when it has browser docks). */
const SYSTEM_PLUGIN_DIRS = ['/usr/lib/x86_64-linux-gnu/obs-plugins', '/usr/lib/aarch64-linux-gnu/obs-plugins', '/usr/lib/obs-plugins', '/usr/lib64/obs-plugins', '/usr/local/lib/obs-plugins'];

/** "OBS Studio - 29.0.2.1-1+b1 (linux)", "30.2.3": the first x.y.z in the text. */
export function parseObsVersion(text: string): ObsVersion | null {
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!match) return null;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3] ?? 0), text: match[0] };
}

export function userConfigHome(env: NodeJS.ProcessEnv): string {
  return env.XDG_CONFIG_HOME || join(env.HOME ?? '', '.config');
}

/**
 * The OBS installations found: the native `obs` on PATH and the Flatpak. `configDir`
 * overrides the native one's configuration folder (a portable or test setup).
 */
export function findObsInstalls(env: NodeJS.ProcessEnv = process.env, configDir?: string): ObsInstall[] {
  const found: ObsInstall[] = [];
  const native = outputOf('obs', ['--version'], env);
  if (native !== null) {
    const dir = configDir ?? join(userConfigHome(env), 'obs-studio');
    found.push({ kind: 'native', version: parseObsVersion(native), configDir: dir, pluginDir: join(dir, 'plugins', 'personalive'), browserDocks: SYSTEM_PLUGIN_DIRS.some((d) => existsSync(join(d, 'obs-browser.so'))) });
  }
  const flatpak = outputOf('flatpak', ['info', FLATPAK_ID], env);
  if (flatpak !== null) {
    const dir = join(env.HOME ?? '', '.var/app', FLATPAK_ID, 'config/obs-studio');
    const version = /Version:\s*(\S+)/.exec(flatpak)?.[1] ?? '';
    found.push({ kind: 'flatpak', version: parseObsVersion(version), configDir: dir, pluginDir: join(dir, 'plugins', 'personalive'), browserDocks: true });
  }
  return found;
}

/** The file OBS keeps its browser docks in: user.ini from OBS 31, global.ini before. */
export function docksFile(install: ObsInstall): string {
  return join(install.configDir, (install.version?.major ?? 0) >= 31 ? 'user.ini' : 'global.ini');
}

/** obs-websocket's settings: plugin_config/obs-websocket/config.json from OBS 30, global.ini [OBSWebSocket] before. */
export function websocketSettingsFile(install: ObsInstall): { file: string; format: 'json' | 'ini' } {
  return (install.version?.major ?? 0) >= 30
    ? { file: join(install.configDir, 'plugin_config', 'obs-websocket', 'config.json'), format: 'json' }
    : { file: join(install.configDir, 'global.ini'), format: 'ini' };
}

/**
 * The pid of an OBS using `configDir`, or null: a process named obs whose XDG_CONFIG_HOME
 * (or HOME/.config) holds it (another user's, unreadable, is not this one).
 */
export function runningObs(configDir: string): number | null {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  const wanted = resolve(configDir);
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'obs') continue;
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      const get = (name: string): string | undefined => environ.find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1);
      const home = get('HOME') ?? '';
      // Inside the Flatpak, XDG_CONFIG_HOME is ~/.var/app/com.obsproject.Studio/config: the same rule holds.
      const dir = join(get('XDG_CONFIG_HOME') || join(home, '.config'), 'obs-studio');
      if (resolve(dir) === wanted) return Number(pid);
    } catch {
      // gone, or another user's
    }
  }
  return null;
}

export const DEFAULT_OBS_WEBSOCKET_PORT = 4455;

export interface WebsocketSettings {
  enabled: boolean;
  authRequired: boolean;
  password: string;
  port: number;
}

/** obs-websocket's settings as OBS will read them at its next start. */
export function readWebsocketSettings(install: ObsInstall): WebsocketSettings {
  const { file, format } = websocketSettingsFile(install);
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // never configured
  }
  if (format === 'ini') {
    const get = (key: string): string | null => getIniValue(text, 'OBSWebSocket', key);
    return { enabled: get('ServerEnabled') === 'true', authRequired: get('AuthRequired') !== 'false', password: get('ServerPassword') ?? '', port: Number(get('ServerPort') ?? DEFAULT_OBS_WEBSOCKET_PORT) || DEFAULT_OBS_WEBSOCKET_PORT };
  }
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // unreadable: treated as not configured
  }
  return { enabled: json.server_enabled === true, authRequired: json.auth_required !== false, password: String(json.server_password ?? ''), port: Number(json.server_port ?? DEFAULT_OBS_WEBSOCKET_PORT) || DEFAULT_OBS_WEBSOCKET_PORT };
}

/** The PersonaLive dock OBS has registered (title and URL), or null. */
export function registeredDock(install: ObsInstall): { url: string } | null {
  let text = '';
  try {
    text = readFileSync(docksFile(install), 'utf8');
  } catch {
    return null;
  }
  try {
    const docks = JSON.parse(getIniValue(text, 'BasicWindow', 'ExtraBrowserDocks') ?? '[]') as Array<{ title?: string; url?: string }>;
    const ours = docks.find((d) => d.title === 'PersonaLive');
    return ours?.url ? { url: ours.url } : null;
  } catch {
    return null;
  }
}
