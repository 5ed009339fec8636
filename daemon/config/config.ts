/**
 * The daemon's configuration: every default in one place (DEFAULT_CONFIG), one validator
 * for the file, the command line and the panel's edits, frozen after validation, persisted
 * atomically (temp name + rename, 0600). Paths follow the platform's conventions
 * (XDG on Linux; Application Support on macOS; %APPDATA% on Windows).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { PersonaLiveError } from '../errors.js';
import { CONFIGURED_SINK_KINDS, CONFIGURED_SINKS, DECODER_KINDS, DEVICE_KINDS, DRIVING_KINDS, GENERATOR_KINDS, OUTPUT_PICTURES, DEFAULT_EXPRESSION_CONTROLS, EXPRESSION_CHECKS, type ExpressionControls, type ConfiguredSinkKind, type DecoderKind, type DeviceKind, type DrivingKind, type GeneratorKind, type OutputPicture, type SinkSettings } from '../kinds.js';
import { isBool, isInt, isShmName, isString, oneOf, type Check } from '../util/checks.js';
import { freePath, writeFileAtomic } from '../util/files.js';

export interface DaemonConfig {
  control: { host: string; port: number };
  obs: { enabled: boolean; url: string; password: string; callTimeoutMs: number };
  generator: {
    kind: GeneratorKind;
    packDir: string | null;
    device: DeviceKind;
    decoder: DecoderKind;
    /** Switch to the built-in generator when the diffusion generator fails or produces nothing for this long. */
    failoverAfterMs: number;
    /** How strongly the built-in generator follows mouth, eyes, brows and head (kinds.ts). */
    expression: ExpressionControls;
  };
  driving: { kind: DrivingKind; ring: string; webcam: string; file: string; image: string; fps: number };
  /**
   * Rate and size of the animation, the panel preview, and each configured sink's settings
   * (kinds.ts). `picture`: what the OBS source and recordings show, the square animation or
   * the virtual camera's 16:9 picture.
   */
  output: { fps: number; size: number; picture: OutputPicture; preview: { fps: number; size: number } } & SinkSettings;
}

export const DEFAULT_CONFIG: DaemonConfig = deepFreeze({
  control: { host: '127.0.0.1', port: 7860 },
  obs: { enabled: true, url: 'ws://127.0.0.1:4455', password: '', callTimeoutMs: 5000 },
  generator: { kind: 'meshwarp', packDir: null, device: 'cpu', decoder: 'tiny', failoverAfterMs: 3000, expression: { ...DEFAULT_EXPRESSION_CONTROLS } },
  driving: { kind: 'ring', ring: 'personalive-driving', webcam: '/dev/video0', file: '', image: '', fps: 25 },
  output: {
    fps: 25,
    size: 512,
    picture: 'square',
    preview: { fps: 5, size: 256 },
    ...(sinkSettings((kind) => ({ ...CONFIGURED_SINKS[kind].defaults })) as SinkSettings),
  },
});

/** One value per configured sink, keyed by its kind (defaults, checks). */
function sinkSettings<T>(of: (kind: ConfiguredSinkKind) => T): Record<ConfiguredSinkKind, T> {
  return Object.fromEntries(CONFIGURED_SINK_KINDS.map((kind) => [kind, of(kind)])) as Record<ConfiguredSinkKind, T>;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

export interface ConfigPaths {
  configDir: string;
  dataDir: string;
  configFile: string;
  tokenFile: string;
}

/** Where the configuration and the data (reference gallery) live on this platform. */
export function defaultPaths(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): ConfigPaths {
  const home = env.HOME ?? homedir();
  let configDir: string;
  let dataDir: string;
  if (env.PERSONALIVE_CONFIG_DIR) {
    configDir = env.PERSONALIVE_CONFIG_DIR;
    dataDir = env.PERSONALIVE_DATA_DIR ?? join(configDir, 'data');
  } else if (platform === 'win32') {
    configDir = join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'PersonaLive');
    dataDir = join(env.LOCALAPPDATA ?? join(home, 'AppData', 'Local'), 'PersonaLive');
  } else if (platform === 'darwin') {
    configDir = join(home, 'Library', 'Application Support', 'PersonaLive');
    dataDir = configDir;
  } else {
    configDir = join(env.XDG_CONFIG_HOME || join(home, '.config'), 'personalive');
    dataDir = join(env.XDG_DATA_HOME || join(home, '.local', 'share'), 'personalive');
  }
  if (env.PERSONALIVE_DATA_DIR) dataDir = env.PERSONALIVE_DATA_DIR;
  return { configDir, dataDir, configFile: join(configDir, 'config.json'), tokenFile: join(configDir, 'token') };
}

// ---------------------------------------------------------------------------------------
// Validation: a schema of leaf checks mirroring DEFAULT_CONFIG.


const isLoopbackHost: Check = (v) => (v === '127.0.0.1' || v === '::1' || v === 'localhost' ? null : '"127.0.0.1", "::1" or "localhost" (the control API only listens on loopback)');
const isWsUrl: Check = (v) => (typeof v === 'string' && /^wss?:\/\/[^\s/]+(:\d+)?\/?$/.test(v) ? null : 'a ws:// URL such as "ws://127.0.0.1:4455"');
const nullableString: Check = (v) => (v === null || (typeof v === 'string' && v.length > 0) ? null : 'null or a non-empty path');

interface Schema { [key: string]: Check | Schema }

/**
 * Settings earlier versions wrote that mean nothing now: accepted and dropped, so a file
 * saved by an older daemon still starts this one.
 */
const RETIRED_FIELDS: ReadonlySet<string> = new Set(['output.virtualCamera.width', 'output.virtualCamera.height']);

const SCHEMA: Schema = {
  control: { host: isLoopbackHost, port: isInt(0, 65535) },
  obs: { enabled: isBool, url: isWsUrl, password: isString(256), callTimeoutMs: isInt(100, 120_000) },
  generator: {
    kind: oneOf(GENERATOR_KINDS),
    packDir: nullableString,
    device: oneOf(DEVICE_KINDS),
    decoder: oneOf(DECODER_KINDS),
    failoverAfterMs: isInt(200, 600_000),
    expression: { ...EXPRESSION_CHECKS },
  },
  driving: { kind: oneOf(DRIVING_KINDS), ring: isShmName, webcam: isString(), file: isString(), image: isString(), fps: isInt(1, 120) },
  output: {
    fps: isInt(1, 120),
    size: isInt(64, 2048, true),
    picture: oneOf(OUTPUT_PICTURES),
    preview: { fps: isInt(1, 30), size: isInt(64, 1024, true) },
    ...sinkSettings((kind) => ({ ...CONFIGURED_SINKS[kind].checks }) as Schema),
  },
};

/** A partial configuration: any subset of the fields. */
export type ConfigPatch = { [K in keyof DaemonConfig]?: Partial<{ [L in keyof DaemonConfig[K]]: DaemonConfig[K][L] extends object ? Partial<DaemonConfig[K][L]> : DaemonConfig[K][L] }> };

function validateNode(value: unknown, schema: Schema, base: Record<string, unknown>, path: string, source: string): Record<string, unknown> {
  if (value === undefined) return base;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new PersonaLiveError('CONFIG_INVALID', `${source}: field ${path || '(top level)'}: expected an object, got ${JSON.stringify(value)}`, { source, field: path });
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    if (!(key in schema) && !RETIRED_FIELDS.has(path ? `${path}.${key}` : key)) {
      throw new PersonaLiveError('CONFIG_INVALID', `${source}: field ${path ? `${path}.` : ''}${key}: unknown setting (expected one of ${Object.keys(schema).join(', ')})`, { source, field: `${path ? `${path}.` : ''}${key}` });
    }
  }
  for (const [key, rule] of Object.entries(schema)) {
    const field = path ? `${path}.${key}` : key;
    const given = (value as Record<string, unknown>)[key];
    if (typeof rule === 'function') {
      if (given === undefined) {
        out[key] = base[key];
        continue;
      }
      const expected = rule(given);
      if (expected) throw new PersonaLiveError('CONFIG_INVALID', `${source}: field ${field}: expected ${expected}, got ${JSON.stringify(given)}`, { source, field, expected });
      out[key] = given;
    } else {
      out[key] = validateNode(given, rule, base[key] as Record<string, unknown>, field, source);
    }
  }
  return out;
}

/**
 * Validates `raw` (a whole file or a patch) over `base` (defaults, or the current
 * configuration) and returns a new frozen configuration. `source` names where it came
 * from in messages ("~/.config/personalive/config.json", "panel").
 * @throws PersonaLiveError CONFIG_INVALID naming the source, the field and what was expected
 */
export function validateConfig(raw: unknown, source: string, base: DaemonConfig = DEFAULT_CONFIG): DaemonConfig {
  const merged = validateNode(raw ?? {}, SCHEMA, base as unknown as Record<string, unknown>, '', source) as unknown as DaemonConfig;
  if (merged.generator.kind === 'personalive' && !merged.generator.packDir) {
    throw new PersonaLiveError('CONFIG_INVALID', `${source}: field generator.packDir: expected a model pack folder when generator.kind is "personalive"`, { source, field: 'generator.packDir' });
  }
  return deepFreeze(structuredClone(merged));
}

/**
 * Reads the configuration file (missing: defaults). Never writes.
 * @throws PersonaLiveError CONFIG_INVALID for unreadable JSON or bad fields
 */
export function loadConfig(file: string): DaemonConfig {
  if (!existsSync(file)) return DEFAULT_CONFIG;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new PersonaLiveError('CONFIG_INVALID', `${file}: not valid JSON (${(error as Error).message})`, { source: file });
  }
  return validateConfig(raw, file);
}

/** Removes `field` (a dotted path) from `raw`; false when it was not there. */
function dropField(raw: Record<string, unknown>, field: string): boolean {
  const parts = field.split('.');
  let node: unknown = raw;
  for (const part of parts.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return false;
    node = (node as Record<string, unknown>)[part];
  }
  const last = parts[parts.length - 1]!;
  if (node === null || typeof node !== 'object' || !(last in (node as object))) return false;
  delete (node as Record<string, unknown>)[last];
  return true;
}

/**
 * The configuration to start with: saved state never stops a start. A field that fails is
 * left at its default and reported; a file that is not JSON is read as the defaults. When
 * anything was skipped, the file as it was is copied beside it first (`config.json.invalid`,
 * numbered), because the next change from the panel saves the file without the bad field.
 */
export function loadConfigForStart(file: string): { config: DaemonConfig; problems: PersonaLiveError[]; keptCopy: string | null } {
  if (!existsSync(file)) return { config: DEFAULT_CONFIG, problems: [], keptCopy: null };
  const problems: PersonaLiveError[] = [];
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    problems.push(new PersonaLiveError('CONFIG_INVALID', `${file}: not valid JSON (${(error as Error).message})`, { source: file }));
    raw = {};
  }
  let config: DaemonConfig | null = null;
  // Each pass drops the field that failed; a cross-field rule whose field is absent drops its section.
  for (let pass = 0; config === null; pass++) {
    try {
      config = validateConfig(raw, file);
    } catch (error) {
      const failure = error as PersonaLiveError;
      problems.push(failure);
      const field = typeof failure.details?.field === 'string' ? failure.details.field : '';
      if (pass > 100 || raw === null || typeof raw !== 'object' || Array.isArray(raw) || !field) raw = {};
      else if (!dropField(raw as Record<string, unknown>, field)) dropField(raw as Record<string, unknown>, field.split('.')[0]!);
    }
  }
  let keptCopy: string | null = null;
  if (problems.length > 0) {
    keptCopy = freePath(`${file}.invalid`);
    copyFileSync(file, keptCopy);
  }
  return { config, problems, keptCopy };
}

/** Persists the configuration atomically, readable only by the user (it holds the OBS password). */
export function saveConfig(file: string, config: DaemonConfig): void {
  writeFileAtomic(file, `${JSON.stringify(config, null, 2)}\n`);
}

/**
 * The control API token: generated on first run (32 random bytes, hex), stored 0600 in
 * the configuration folder, reused afterwards.
 */
export function loadOrCreateToken(tokenFile: string): string {
  if (existsSync(tokenFile)) {
    const token = readFileSync(tokenFile, 'utf8').trim();
    if (/^[0-9a-f]{64}$/.test(token)) {
      chmodSync(tokenFile, 0o600);
      return token;
    }
  }
  const token = randomBytes(32).toString('hex');
  writeFileAtomic(tokenFile, `${token}\n`);
  return token;
}
