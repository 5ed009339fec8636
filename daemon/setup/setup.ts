/**
 * `personalive setup`: everything a streamer did by hand, in one command that is safe to run
 * again and undone by `--uninstall`: the OBS plugin, obs-websocket on with a generated
 * password (shared with the daemon's configuration), the panel as a Custom Browser Dock, the
 * virtual camera (v4l2loopback, with consent), and GPU support. Every file it writes goes
 * through the journal (journal.ts); each step says what it did or what is left to do.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PersonaLiveError } from '../errors.js';
import { loadConfigForStart, loadOrCreateToken, validateConfig, type ConfigPaths } from '../config/config.js';
import { GPU_INSTALL_COMMAND } from '../ort/onnx-runtime.js';
import { getIniValue, setIniValue } from './ini.js';
import { foldersMissingFor, loadJournal, recordAction, recordCreated, saveJournal, undoJournal, writeJournaled, type Journal, type KeyChange } from './journal.js';
import { docksFile, findObsInstalls, readWebsocketSettings, runningObs, websocketSettingsFile, type ObsInstall, type WebsocketSettings } from './obs-install.js';
import { MODPROBE_FILE, MODULE_OPTIONS, MODULES_LOAD_FILE, gpuFacts, obsVirtualCameraRegistered, proveProviders, virtualCameraCommands, virtualCameraFacts } from './system-checks.js';

export interface SetupOptions {
  env: NodeJS.ProcessEnv;
  /** The daemon's configuration (its obs section gets the password; the dock URL uses its port and token). */
  paths: ConfigPaths;
  /** The repository (the plugin sources, the installer script, npm). */
  repoRoot: string;
  /** The native OBS's configuration folder, when not the user's own (~/.config/obs-studio). */
  obsConfigDir?: string;
  /** Consent to change the system (load v4l2loopback, write /etc). */
  yes: boolean;
  /** Install and prove ONNX Runtime's GPU providers. */
  gpu: boolean;
  /** '/' normally; tests write the system files under a temporary root. */
  root: string;
  /** Progress, one line at a time. */
  say(line: string): void;
}

export type Outcome = 'changed' | 'unchanged' | 'todo' | 'failed' | 'skipped';

export interface StepResult {
  step: string;
  outcome: Outcome;
  message: string;
}

export const DOCK_TITLE = 'PersonaLive';

export function journalFile(paths: ConfigPaths): string {
  return join(paths.configDir, 'setup-journal.json');
}

/** A uuid that stays the same for this daemon's configuration (OBS identifies docks by it). */
function dockUuid(token: string): string {
  const h = createHash('sha256').update(`personalive-dock:${token}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------
// OBS

/** Builds the plugin with the project's installer into a staging folder, then puts its files in place through the journal. */
function installPlugin(journal: Journal, install: ObsInstall, options: SetupOptions): StepResult {
  const staging = mkdtempSync(join(tmpdir(), 'personalive-plugin-'));
  try {
    execFileSync('bash', [join(options.repoRoot, 'installer/install-obs-plugin.sh'), '--prefix', staging, '--build-dir', join(options.repoRoot, 'plugin/build')], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env });
    let changed = false;
    for (const file of ['bin/64bit/personalive.so', 'data/locale/en-US.ini']) {
      changed = writeJournaled(journal, join(install.pluginDir, file), `OBS (${install.kind}): the PersonaLive plugin`, readFileSync(join(staging, file)), [], file.endsWith('.so') ? 0o755 : 0o644) || changed;
    }
    const flatpakNote = install.kind === 'flatpak' ? ' (built against this system\'s libobs: the Flatpak OBS loads it only if its version matches)' : '';
    return { step: `OBS plugin (${install.kind})`, outcome: changed ? 'changed' : 'unchanged', message: `${changed ? 'installed' : 'already installed'} in ${install.pluginDir}${flatpakNote}` };
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? (error as Error).message).trim().split('\n').pop();
    return { step: `OBS plugin (${install.kind})`, outcome: 'failed', message: `could not build the plugin: ${stderr}` };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** obs-websocket on, with a password: the user's own settings when they made them, else generated ones. */
function enableWebsocket(journal: Journal, install: ObsInstall): { result: StepResult; settings: WebsocketSettings } {
  const step = `obs-websocket (${install.kind})`;
  const current = readWebsocketSettings(install);
  if (current.enabled && (current.password || !current.authRequired)) {
    return { result: { step, outcome: 'unchanged', message: `already on (port ${current.port}${current.authRequired ? ', with a password' : ', no password'}): the daemon uses these settings` }, settings: current };
  }
  const settings: WebsocketSettings = { enabled: true, authRequired: true, password: current.password || randomBytes(12).toString('base64url'), port: current.port };
  const { file, format } = websocketSettingsFile(install);
  const text = readText(file);
  if (format === 'ini') {
    let next = text ?? '';
    const keys: KeyChange[] = [];
    const values: Record<string, string> = { FirstLoad: 'false', ServerEnabled: 'true', AuthRequired: 'true', ServerPassword: settings.password, ServerPort: String(settings.port) };
    for (const [key, value] of Object.entries(values)) {
      keys.push({ format: 'ini', section: 'OBSWebSocket', key, before: getIniValue(next, 'OBSWebSocket', key) });
      next = setIniValue(next, 'OBSWebSocket', key, value);
    }
    writeJournaled(journal, file, `OBS (${install.kind}): obs-websocket settings`, next, keys);
  } else {
    let json: Record<string, unknown> = {};
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // replaced; the journal keeps the old bytes
    }
    const values: Record<string, unknown> = { first_load: false, server_enabled: true, auth_required: true, server_password: settings.password, server_port: settings.port };
    const keys: KeyChange[] = Object.keys(values).map((key) => ({ format: 'json', key, before: json[key] ?? null }));
    writeJournaled(journal, file, `OBS (${install.kind}): obs-websocket settings`, `${JSON.stringify({ ...json, ...values }, null, 2)}\n`, keys);
  }
  return { result: { step, outcome: 'changed', message: `turned on at port ${settings.port} with a generated password (also written into the daemon's configuration)` }, settings };
}

/** The panel as a Custom Browser Dock: OBS's ExtraBrowserDocks list, other docks kept. */
function registerDock(journal: Journal, install: ObsInstall, url: string, uuid: string): StepResult {
  const step = `OBS dock (${install.kind})`;
  const file = docksFile(install);
  const text = readText(file) ?? '';
  const raw = getIniValue(text, 'BasicWindow', 'ExtraBrowserDocks');
  let docks: Array<{ title?: string; url?: string; uuid?: string }> = [];
  if (raw) {
    try {
      docks = JSON.parse(raw) as typeof docks;
      if (!Array.isArray(docks)) throw new Error('not a list');
    } catch (error) {
      return { step, outcome: 'failed', message: `${file}: [BasicWindow] ExtraBrowserDocks is not a JSON list (${(error as Error).message}); left as it is. Add the dock by hand: Docks > Custom Browser Docks, URL ${url}` };
    }
  }
  const ours = { title: DOCK_TITLE, url, uuid };
  const next = [...docks.filter((d) => d.uuid !== uuid && d.title !== DOCK_TITLE), ours];
  const changed = writeJournaled(journal, file, `OBS (${install.kind}): the PersonaLive dock`, setIniValue(text, 'BasicWindow', 'ExtraBrowserDocks', JSON.stringify(next)), [{ format: 'ini', section: 'BasicWindow', key: 'ExtraBrowserDocks', before: raw }]);
  const note = install.browserDocks ? '' : ` This OBS has no browser docks (Debian's own package is built without them): open the panel in a browser instead: ${url}`;
  return { step, outcome: changed ? 'changed' : 'unchanged', message: `${changed ? 'registered' : 'already registered'} as "${DOCK_TITLE}" in ${file}.${note}` };
}

// ---------------------------------------------------------------------------------------
// System

function setupVirtualCamera(journal: Journal, options: SetupOptions): StepResult {
  const step = 'virtual camera (v4l2loopback)';
  if (process.platform === 'win32') {
    return obsVirtualCameraRegistered()
      ? { step: 'virtual camera (OBS Virtual Camera)', outcome: 'unchanged', message: 'the OBS Virtual Camera is registered: PersonaLive sends to it (do not start OBS\'s own virtual camera at the same time)' }
      : { step: 'virtual camera (OBS Virtual Camera)', outcome: 'todo', message: 'the OBS Virtual Camera is not registered: install OBS Studio 26.1 or newer with its installer (it registers the camera), then run setup again' };
  }
  if (process.platform !== 'linux') return { step, outcome: 'skipped', message: 'no virtual camera for this system yet (Linux: v4l2loopback; Windows: the OBS Virtual Camera)' };
  const facts = virtualCameraFacts(options.root);
  if (!facts.moduleAvailable) {
    return { step, outcome: 'todo', message: 'the v4l2loopback module is not installed for this kernel. Debian/Ubuntu: sudo apt install v4l2loopback-dkms, then run setup again' };
  }
  if (facts.ours && facts.persistent) return { step, outcome: 'unchanged', message: `${facts.ours.device} "${facts.ours.label}" is there and comes back at every boot` };
  if (!options.yes) {
    return { step, outcome: 'todo', message: `not set up (this changes the system: run setup with --yes, or by hand):\n    ${virtualCameraCommands().join('\n    ')}` };
  }
  const changed = [
    writeJournaled(journal, join(options.root, MODPROBE_FILE), 'virtual camera: module options', `${MODULE_OPTIONS}\n`),
    writeJournaled(journal, join(options.root, MODULES_LOAD_FILE), 'virtual camera: load at boot', 'v4l2loopback\n'),
  ].some(Boolean);
  let loaded = '';
  if (!facts.loaded && options.root === '/') {
    try {
      execFileSync('modprobe', ['v4l2loopback'], { stdio: ['ignore', 'ignore', 'pipe'] });
      recordAction(journal, { what: 'loaded the v4l2loopback module', undo: ['modprobe', '-r', 'v4l2loopback'] });
      loaded = ' and loaded it';
    } catch (error) {
      loaded = `; loading it failed (${String((error as { stderr?: Buffer }).stderr ?? '').trim() || (error as Error).message}): run ${virtualCameraCommands()[0]}`;
    }
  } else if (facts.loaded && !facts.ours) {
    loaded = '; the module is already loaded with other options: it takes these at the next boot (or: sudo modprobe -r v4l2loopback && sudo modprobe v4l2loopback)';
  }
  return { step, outcome: changed ? 'changed' : 'unchanged', message: `wrote /${MODPROBE_FILE} and /${MODULES_LOAD_FILE} (devices "PersonaLive" with exclusive_caps=1 for Chrome/Discord/Meet, "PersonaLive (Zoom)" without, for Zoom's snap)${loaded}` };
}

async function setupGpu(options: SetupOptions): Promise<StepResult> {
  const step = 'GPU (ONNX Runtime CUDA / TensorRT)';
  const facts = gpuFacts(options.root);
  if (!facts.driver) return { step, outcome: 'skipped', message: 'no NVIDIA driver on this machine: the built-in generator and the CPU device need none' };
  if (facts.missingLibraries.length > 0) {
    return { step, outcome: 'todo', message: `NVIDIA driver found (${facts.driver}) but not ${facts.missingLibraries.join(', ')}: install CUDA 12 and cuDNN 9 (e.g. the nvidia-cudnn / cuda-toolkit-12 packages), then run setup --gpu` };
  }
  if (options.gpu) {
    try {
      execFileSync('sh', ['-c', GPU_INSTALL_COMMAND], { cwd: options.repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: options.env });
    } catch (error) {
      return { step, outcome: 'failed', message: `${GPU_INSTALL_COMMAND} failed (it downloads the GPU build: network needed): ${String((error as { stderr?: Buffer }).stderr ?? '').trim().split('\n').pop()}` };
    }
  }
  const proofs = await proveProviders(['cuda', 'tensorrt']);
  const working = proofs.filter((p) => p.ok);
  if (working.length === proofs.length) return { step, outcome: options.gpu ? 'changed' : 'unchanged', message: proofs.map((p) => `${p.device}: ${p.detail}`).join('; ') };
  return { step, outcome: options.gpu ? 'failed' : 'todo', message: `${proofs.map((p) => `${p.device}: ${p.ok ? p.detail : `not working: ${p.detail}`}`).join('; ')}${options.gpu ? '' : '. Run setup --gpu to install the GPU providers'}` };
}

// ---------------------------------------------------------------------------------------

/** Runs every step; returns what each did, and what setup changed in all (this run and earlier ones). */
export async function runSetup(options: SetupOptions): Promise<{ results: StepResult[]; changedFiles: string[] }> {
  const journalPath = journalFile(options.paths);
  const journal = loadJournal(journalPath);
  const results: StepResult[] = [];
  const record = (result: StepResult): void => {
    results.push(result);
    options.say(`${result.outcome.padEnd(9)} ${result.step}: ${result.message}`);
  };
  try {
    const { config } = loadConfigForStart(options.paths.configFile);
    const tokenExisted = existsSync(options.paths.tokenFile);
    const tokenDirs = foldersMissingFor(options.paths.tokenFile);
    const token = loadOrCreateToken(options.paths.tokenFile);
    if (!tokenExisted) recordCreated(journal, options.paths.tokenFile, 'PersonaLive: the control token in the dock URL', tokenDirs);
    const port = config.control.port;
    const panelUrl = `http://127.0.0.1:${port}/panel/?token=${token}`;
    const installs = findObsInstalls(options.env, options.obsConfigDir);
    let websocket: WebsocketSettings | null = null;
    if (installs.length === 0) record({ step: 'OBS', outcome: 'todo', message: 'OBS Studio was not found (no obs on PATH, no Flatpak): install OBS 28 or newer (Debian/Ubuntu: sudo apt install obs-studio), then run setup again' });
    for (const install of installs) {
      const pid = runningObs(install.configDir);
      if (pid !== null) {
        record({ step: `OBS (${install.kind})`, outcome: 'failed', message: `OBS ${install.version?.text ?? ''} is running (pid ${pid}) and rewrites its settings when it exits: close OBS, then run setup again` });
        continue;
      }
      options.say(`OBS ${install.version?.text ?? '(version unknown)'} (${install.kind}), settings in ${install.configDir}`);
      record(installPlugin(journal, install, options));
      const ws = enableWebsocket(journal, install);
      record(ws.result);
      websocket ??= ws.settings;
      if (port === 0) record({ step: `OBS dock (${install.kind})`, outcome: 'todo', message: 'control.port is 0 (a new port at every start), so no dock URL stays valid: set a fixed control.port and run setup again' });
      else record(registerDock(journal, install, panelUrl, dockUuid(token)));
    }
    if (websocket) {
      const url = `ws://127.0.0.1:${websocket.port}`;
      const before = readText(options.paths.configFile);
      const current = before ? (JSON.parse(before) as { obs?: { url?: string; password?: string; enabled?: boolean } }) : {};
      const next = validateConfig({ obs: { enabled: true, url, password: websocket.password } }, 'setup', config);
      const keys: KeyChange[] = [
        { format: 'json', key: 'obs.enabled', before: current.obs?.enabled ?? null },
        { format: 'json', key: 'obs.url', before: current.obs?.url ?? null },
        { format: 'json', key: 'obs.password', before: current.obs?.password ?? null },
      ];
      const changed = config.obs.url === url && config.obs.password === websocket.password && config.obs.enabled
        ? false
        : writeJournaled(journal, options.paths.configFile, 'PersonaLive: the OBS connection in the daemon configuration', `${JSON.stringify(next, null, 2)}\n`, keys, 0o600);
      record({ step: 'daemon configuration', outcome: changed ? 'changed' : 'unchanged', message: `${options.paths.configFile}: obs.url ${url}, obs.password ${changed ? 'set' : 'already set'}` });
    }
    record(setupVirtualCamera(journal, options));
    record(await setupGpu(options));
    options.say(`Panel URL (the same at every start while control.port stays ${port}): ${panelUrl}`);
  } finally {
    saveJournal(journalPath, journal);
  }
  return { results, changedFiles: [...journal.files.map((f) => `${f.path} (${f.what})`), ...(journal.actions ?? []).map((a) => `${a.what} (undone with: ${a.undo.join(' ')})`)] };
}

/** Undoes everything setup changed (the journal); returns one line per file. */
export function runUninstall(paths: ConfigPaths, options: { obsRunning?: (configDir: string) => number | null } = {}): string[] {
  const journalPath = journalFile(paths);
  const journal = loadJournal(journalPath);
  const obsFiles = journal.files.filter((f) => /obs-studio/.test(f.path));
  const running = obsFiles.map((f) => (options.obsRunning ?? runningObs)(f.path.slice(0, f.path.indexOf('obs-studio') + 'obs-studio'.length))).find((pid) => pid !== null);
  if (running !== undefined && running !== null) {
    throw new PersonaLiveError('SETUP_BLOCKED', `OBS is running (pid ${running}) and rewrites its settings when it exits: close OBS, then run setup --uninstall again`, { pid: running });
  }
  const folders = journal.files.flatMap((f) => f.createdDirs ?? []);
  const done = undoJournal(journal);
  saveJournal(journalPath, journal); // removes the journal: the configuration folder may now be empty too
  for (const folder of folders.sort((a, b) => b.length - a.length)) {
    try {
      rmdirSync(folder);
    } catch {
      // not empty (or gone): what others put there stays
    }
  }
  return done;
}
