/**
 * `personalive daemon`: the composition root. It builds the subsystems, wires them into
 * one DaemonSession (what the control handlers and hotkeys act on) and owns their
 * lifecycle. Start order: configuration, gallery, sinks, generator + live loop, driving
 * source, control server, obs-websocket client; shutdown in reverse. Each start has a
 * readiness timeout.
 */
import { existsSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { PersonaLiveError, asPersonaLiveError } from './errors.js';
import { withDeadline } from './util/deadline.js';
import { FailureRun } from './util/failure-run.js';
import { humanLogStream } from './util/human-log.js';
import type { Logger } from './util/log.js';
import { defaultPaths, loadConfigForStart, loadOrCreateToken, saveConfig, validateConfig, type ConfigPaths, type ConfigPatch, type DaemonConfig } from './config/config.js';
import { createHandlers, createTestHandlers } from './control/handlers.js';
import { createPreviewEncoder } from './control/preview.js';
import { onHotkey } from './control/hotkeys.js';
import { ControlServer } from './control/server.js';
import type { DaemonSession } from './control/session.js';
import type { RgbImage } from './frames.js';
import { createFaceCheck } from './generators/meshwarp/face-check.js';
import { backendChoiceProblem } from './kinds.js';
import { isWidePhoto, portraitSquare } from './kernels/compose.js';
import { generatorEntry } from './generators/registry.js';
import { backendOptions, type BackendOptions } from './live/backends.js';
import { LiveLoop, type BackendChoice } from './live/live-loop.js';
import { Driving } from './live/driving.js';
import { Outputs } from './live/outputs.js';
import { loadImageRgb } from './media/image.js';
import { ObsClient } from './obs/obs-client.js';
import { PROTOCOL_VERSION, type DaemonState } from './protocol.js';
import { ReferenceGallery } from './references/gallery.js';
import { createNullSink } from './sinks/null.js';
import { createPreviewSink } from './sinks/preview.js';
import { recoverRecordings } from './sinks/recording.js';
import { recordingFolders } from './sinks/registry.js';

export const DAEMON_VERSION = '0.1.0';
const READINESS_TIMEOUT_MS = 60_000;

export interface DaemonOptions {
  paths?: ConfigPaths;
  /** Overrides for this run only (from the command line); never persisted. */
  overrides?: ConfigPatch;
  /** A portrait to add to the gallery and make active at start. */
  reference?: string;
  /** Also count frames into a null sink (soak runs). */
  nullSink?: boolean;
  /** Enables the test hooks (control method "test.injectFault"). */
  testHooks?: boolean;
  logLevel?: string;
  /** 'human' for a terminal (readable lines), 'json' (default) for pipes, files and tools. */
  logFormat?: 'json' | 'human';
}

export interface RunningDaemon {
  readonly port: number;
  readonly panelUrl: string;
  readonly token: string;
  readonly paths: ConfigPaths;
  readonly loop: LiveLoop;
  state(): Promise<DaemonState>;
  close(): Promise<void>;
}

function withTimeout<T>(what: string, work: Promise<T>, ms = READINESS_TIMEOUT_MS): Promise<T> {
  return withDeadline(work, ms, () => new PersonaLiveError('DAEMON_START_TIMEOUT', `${what} was not ready after ${ms} ms`, { subsystem: what }));
}

/**
 * The built panel (index.html + the bundled panel.js): dist/panel, found from the compiled
 * daemon (dist/daemon) or from the sources (daemon/, e.g. under tsx).
 */
function panelDir(): string {
  const candidates = [fileURLToPath(new URL('../panel', import.meta.url)), fileURLToPath(new URL('../dist/panel', import.meta.url))];
  return candidates.find((dir) => existsSync(join(dir, 'panel.js'))) ?? candidates[0]!;
}

/** Best effort, in order: a closed terminal (EIO) or a full pipe must not take the daemon down. */
function writeToTerminal(text: string): void {
  try {
    writeSync(2, text);
  } catch {
    // the terminal is gone
  }
}

/**
 * Starts the daemon.
 * @throws PersonaLiveError CONFIG_INVALID, PORT_IN_USE, DAEMON_START_TIMEOUT, generator errors
 */
export async function startDaemon(options: DaemonOptions = {}): Promise<RunningDaemon> {
  const paths = options.paths ?? defaultPaths();
  const destination = pino.destination({ dest: 2, sync: false });
  destination.on('error', () => undefined); // a closed terminal (EIO) must not take the daemon down; logging is best effort
  const log: Logger & pino.Logger = pino(
    { level: options.logLevel ?? process.env.PERSONALIVE_LOG_LEVEL ?? 'info', base: { pid: process.pid } },
    options.logFormat === 'human' ? humanLogStream(writeToTerminal) : destination,
  );
  const saved = loadConfigForStart(paths.configFile);
  for (const problem of saved.problems) log.warn({ code: problem.code, keptCopy: saved.keptCopy }, `Configuration: ${problem.message}; using the default instead (the file as it was is kept in ${saved.keptCopy})`);
  let persisted: DaemonConfig = saved.config;
  let config: DaemonConfig = options.overrides ? validateConfig(options.overrides, 'command line', persisted) : persisted;
  const named = options.overrides?.generator;
  const problem = named && backendChoiceProblem(config.generator.kind, { device: named.device, decoder: named.decoder });
  if (problem) throw new PersonaLiveError('USAGE', `command line: ${problem.message}`, { generator: config.generator.kind, option: problem.field });
  const token = loadOrCreateToken(paths.tokenFile);
  const faces = createFaceCheck();
  const gallery = new ReferenceGallery(paths.dataDir, async (image, label) => {
    await faces.require(image, label);
  });
  /**
   * A wide photo is animated around its face (wherever it is) and shown in its own framing:
   * its square is set here, from the face check's box, before the portrait goes on air.
   */
  const placeFaceSquare = (image: RgbImage, face: [number, number, number, number]): RgbImage => {
    if (isWidePhoto(image.width, image.height)) image.square = portraitSquare(image.width, image.height, face);
    return image;
  };
  const withFaceSquare = async (image: RgbImage, label: string): Promise<RgbImage> =>
    isWidePhoto(image.width, image.height) ? placeFaceSquare(image, await faces.require(image, label)) : image;
  const backends: BackendOptions = await backendOptions(config.generator.packDir);
  const rebuilt = await gallery.recoverIndex();
  if (rebuilt) log.warn({ code: 'CONFIG_INVALID' }, rebuilt);

  if (options.reference) {
    try {
      await loadImageRgb(options.reference, { argument: '--reference' }); // refuses a bad file with its path
      const added = await gallery.add(new Uint8Array(await readFile(options.reference)), options.reference, `--reference "${options.reference}"`);
      gallery.setActive(added.id);
    } catch (error) {
      await faces.close();
      throw error;
    }
  }

  let server: ControlServer | null = null;
  let obs: ObsClient | null = null;
  let stateTimer: NodeJS.Timeout | null = null;
  const broadcastState = (): void => {
    if (stateTimer) return;
    stateTimer = setTimeout(() => {
      stateTimer = null;
      void buildState().then((state) => server?.broadcast('state', state), () => undefined);
    }, 30);
  };
  const notice = (level: 'info' | 'warning' | 'error', code: string | null, message: string): void => {
    (level === 'error' ? log.error : level === 'warning' ? log.warn : log.info).call(log, { code }, message);
    server?.broadcast('notice', { level, code, message });
  };

  const loop = new LiveLoop(config, {
    createGenerator: (choice: BackendChoice) => generatorEntry(choice.generator).create({ packDir: config.generator.packDir, device: choice.device, decoder: choice.decoder, size: config.output.size }),
    log,
    notice,
    changed: broadcastState,
  });

  // --- outputs: the preview, and every configured sink from the registry
  const preview = createPreviewSink();
  const outputs = new Outputs(loop, { dataDir: paths.dataDir, notice });
  const applyOutputs = (): Promise<void> => outputs.apply(config);

  // --- driving source
  const driving = new Driving(loop, notice);
  const applySource = async (): Promise<void> => {
    await driving.apply(config);
    broadcastState();
  };

  async function buildState(): Promise<DaemonState> {
    return {
      version: DAEMON_VERSION,
      protocol: PROTOCOL_VERSION,
      paused: loop.isPaused,
      generator: loop.generatorStatus(),
      options: backends,
      driving: driving.state(config),
      output: { fps: config.output.fps, size: config.output.size, picture: config.output.picture, ...outputs.states(config) },
      references: gallery.list(),
      activeReferenceId: gallery.activeId,
      obs: { state: obs ? obs.state : 'disabled', url: config.obs.url, error: obs?.error?.message ?? null, code: obs?.error?.code ?? null },
    };
  }

  const session: DaemonSession = {
    paths,
    token,
    loop,
    gallery,
    backends,
    config: () => config,
    obs: () => obs,
    edit(patch: ConfigPatch) {
      const previous = config;
      persisted = validateConfig(patch, 'panel', persisted);
      config = validateConfig(patch, 'panel', config);
      saveConfig(paths.configFile, persisted);
      loop.setConfig(config);
      return { previous };
    },
    applyOutputs,
    applySource,
    async activateReference(id: string) {
      const stored = gallery.list().find((r) => r.id === id);
      const image = await withFaceSquare(await gallery.loadImage(id), `Reference "${stored?.name ?? id}"`);
      await loop.swapReference(image);
      gallery.setActive(id);
      broadcastState();
    },
    state: buildState,
    broadcastState,
    notice,
  };

  /**
   * The reference to start with: the active one, else the next stored one that still reads
   * and shows a face; each that fails is skipped with a notice naming it (saved state never
   * stops a start).
   */
  async function startingReference(): Promise<RgbImage | null> {
    const stored = gallery.list();
    const order = [...stored.filter((r) => r.id === gallery.activeId), ...stored.filter((r) => r.id !== gallery.activeId)];
    for (const reference of order) {
      try {
        const image = await gallery.loadImage(reference.id);
        placeFaceSquare(image, await faces.require(image, `Reference "${reference.name}"`));
        if (reference.id !== gallery.activeId) gallery.setActive(reference.id);
        return image;
      } catch (error) {
        const e = asPersonaLiveError(error);
        notice('warning', e.code, `Skipped reference "${reference.name}" at start: ${e.message}`);
      }
    }
    return null;
  }

  // --- start, in order; a part that fails stops what already started (no worker keeps a
  // refused daemon alive) and the error says what to change.
  try {
    const referenceImage = await startingReference();
    if (!referenceImage) log.warn({ gallery: paths.dataDir }, 'no reference yet: upload a portrait in the panel (or start with --reference IMG); streaming a plain frame meanwhile');
    // A recording a killed or crashed daemon left under its temp name goes into place first.
    for (const recovered of await recoverRecordings(recordingFolders(config.output, paths.dataDir))) {
      if (recovered.to) notice('warning', null, `Recovered a recording that was not finished (the daemon stopped without closing it): ${recovered.seconds.toFixed(1)} s in ${recovered.to}`);
      else notice('warning', null, `Removed ${recovered.from}: a recording cut off before its first second, with nothing to play`);
    }
    // Outputs first: a ring another daemon writes is refused before the generator loads.
    await loop.setSink(preview);
    if (options.nullSink) await loop.setSink(createNullSink());
    await applyOutputs();
    await withTimeout('the generator', loop.start(referenceImage));
    await withTimeout('the driving source', applySource());

    server = new ControlServer({
      host: config.control.host,
      port: config.control.port,
      token,
      panelDir: panelDir(),
      handlers: createHandlers(session),
      extraHandlers: options.testHooks ? createTestHandlers(session) : undefined,
      upload: async (bytes, name) => {
        const first = loop.generatorStatus().status === 'waiting';
        const reference = await gallery.add(bytes, name);
        // The very first portrait goes on air by itself.
        if (first) await session.activateReference(reference.id).catch((error: unknown) => notice('error', asPersonaLiveError(error).code, `Reference "${reference.name}": ${asPersonaLiveError(error).message}`));
        broadcastState();
        return reference;
      },
      thumbnail: (id) => gallery.thumbnail(id),
      previewJpeg: createPreviewEncoder(() => preview.latest(), () => config.output.preview.size),
      previewFps: config.output.preview.fps,
      log,
    });
    await withTimeout('the control server', server.start());
  } catch (error) {
    await server?.close().catch(() => undefined);
    outputs.close();
    await loop.close();
    await faces.close();
    log.flush();
    throw error;
  }
  const statsTimer = setInterval(() => server?.broadcast('stats', loop.stats()), 500);
  statsTimer.unref();
  driving.changeSinceLastLook(config); // the state at start is known
  const drivingTimer = setInterval(() => {
    const changed = driving.changeSinceLastLook(config);
    if (!changed) return;
    if (changed.state === 'error' && changed.error) log.warn({ code: 'DRIVING_SOURCE_FAILED' }, `Driving source: ${changed.error}`);
    else log.info({ state: changed.state }, `Driving source: ${changed.description} is ${changed.state}`);
    broadcastState();
  }, 1000);
  drivingTimer.unref();

  if (config.obs.enabled) {
    obs = new ObsClient({ url: config.obs.url, password: config.obs.password || undefined, callTimeoutMs: config.obs.callTimeoutMs });
    // OBS closed for hours: one line when it goes away (or the reason changes), one when it is back.
    const obsFailures = new FailureRun();
    obs.on('state', (state, error) => {
      if (error && state === 'disconnected') {
        if (obsFailures.fail(error.message)) log.warn({ err: error.message }, 'obs-websocket unavailable; retrying with backoff (said again only when the reason changes)');
      } else if (state === 'connected') {
        const failed = obsFailures.succeed();
        log.info({ state, ...(failed > 0 ? { failedAttempts: failed } : {}) }, failed > 0 ? `obs-websocket connected after ${failed} failed attempts` : 'obs-websocket');
      } else if (obsFailures.failures === 0) {
        log.info({ state }, 'obs-websocket');
      }
      broadcastState();
    });
    obs.on('vendorEvent', (event) => void onHotkey(session, event));
    obs.connect().catch(() => undefined); // keeps retrying by itself
  }

  log.info({ port: server.port, generator: loop.generatorStatus().active, driving: config.driving.kind }, 'daemon ready');
  let closed: Promise<void> | null = null;
  return {
    port: server.port,
    panelUrl: server.panelUrl,
    token,
    paths,
    loop,
    state: buildState,
    close() {
      closed ??= (async () => {
        clearInterval(statsTimer);
        clearInterval(drivingTimer);
        if (stateTimer) clearTimeout(stateTimer);
        await server?.close();
        await obs?.close();
        outputs.close();
        await loop.close();
        await faces.close();
        log.info({}, 'daemon stopped');
        log.flush();
      })();
      return closed;
    },
  };
}
