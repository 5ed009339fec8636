/**
 * `personalive daemon`: composes the subsystems and owns their lifecycle. Start order:
 * configuration, gallery, generator + live loop, sinks, driving source, control server,
 * obs-websocket client; shutdown in reverse. Each start has a readiness timeout.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import sharp from 'sharp';
import { PersonaLiveError, asPersonaLiveError } from '../errors.js';
import { withDeadline } from '../util/deadline.js';
import { defaultPaths, loadConfig, loadOrCreateToken, saveConfig, validateConfig, type ConfigPaths, type ConfigPatch, type DaemonConfig } from '../config/config.js';
import { PROTOCOL_VERSION, type DaemonState } from '../protocol.js';
import { ControlServer, type Handlers } from '../control/server.js';
import { generatorEntry } from '../generators/registry.js';
import { loadImageRgb, type RgbImage } from '../media/image.js';
import { ObsClient, PERSONALIVE_VENDOR, type VendorEvent } from '../obs/obs-client.js';
import { ReferenceGallery } from '../references/gallery.js';
import { backendOptions, type BackendOptions } from './backends.js';
import { LiveLoop, type BackendChoice, type Logger } from './live-loop.js';
import { createNullSink, createPreviewSink, createRecordingSink, createRingSink, createVirtualCameraOutput } from './sinks.js';
import { DRIVING_SOURCES } from '../sources/registry.js';

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
 * daemon (dist/daemon/live) or from the sources (daemon/live, e.g. under tsx).
 */
function panelDir(): string {
  const candidates = [fileURLToPath(new URL('../../panel', import.meta.url)), fileURLToPath(new URL('../../dist/panel', import.meta.url))];
  return candidates.find((dir) => existsSync(join(dir, 'panel.js'))) ?? candidates[0]!;
}

/**
 * Starts the daemon.
 * @throws PersonaLiveError CONFIG_INVALID, PORT_IN_USE, DAEMON_START_TIMEOUT, generator errors
 */
export async function startDaemon(options: DaemonOptions = {}): Promise<RunningDaemon> {
  const paths = options.paths ?? defaultPaths();
  const log: Logger & pino.Logger = pino({ level: options.logLevel ?? process.env.PERSONALIVE_LOG_LEVEL ?? 'info', base: { pid: process.pid } }, pino.destination({ dest: 2, sync: false }));
  let persisted: DaemonConfig = loadConfig(paths.configFile);
  let config: DaemonConfig = options.overrides ? validateConfig(options.overrides, 'command line', persisted) : persisted;
  const token = loadOrCreateToken(paths.tokenFile);
  const gallery = new ReferenceGallery(paths.dataDir);
  const backends: BackendOptions = await backendOptions(config.generator.packDir);

  if (options.reference) {
    await loadImageRgb(options.reference, { argument: '--reference' }); // refuses a bad file with its path
    const added = await gallery.add(new Uint8Array(await readFile(options.reference)), options.reference);
    gallery.setActive(added.id);
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

  // --- outputs
  const preview = createPreviewSink();
  const sinkErrors: Record<string, string | null> = { virtualCamera: null, recording: null };
  let recordingPath: string | null = null;
  async function applyOutputs(previous: DaemonConfig | null): Promise<void> {
    const o = config.output;
    if (!previous || previous.output.ring.enabled !== o.ring.enabled || previous.output.ring.name !== o.ring.name) {
      if (o.ring.enabled) await loop.setSink(createRingSink(o.ring.name, o.fps));
      else await loop.removeSink('ring');
    }
    const vcamChanged = !previous || JSON.stringify(previous.output.virtualCamera) !== JSON.stringify(o.virtualCamera) || previous.output.size !== o.size || previous.output.fps !== o.fps;
    if (vcamChanged) {
      await loop.removeSink('virtualCamera');
      sinkErrors.virtualCamera = null;
      if (o.virtualCamera.enabled) {
        try {
          await loop.setSink(await createVirtualCameraOutput({ width: o.size, height: o.size, fps: o.fps, device: o.virtualCamera.device, format: o.virtualCamera.format, onError: (e) => notice('error', e.code, e.message) }));
        } catch (error) {
          const e = asPersonaLiveError(error);
          sinkErrors.virtualCamera = e.message;
          notice('error', e.code, `Virtual camera: ${e.message}`);
        }
      }
    }
    const recordingChanged = !previous || previous.output.recording.enabled !== o.recording.enabled || previous.output.recording.path !== o.recording.path || previous.output.size !== o.size || previous.output.fps !== o.fps;
    if (recordingChanged) {
      await loop.removeSink('recording');
      recordingPath = null;
      sinkErrors.recording = null;
      if (o.recording.enabled) {
        const base = o.recording.path || join(paths.dataDir, 'recordings', `personalive-${new Date().toISOString().replace(/[:.]/g, '-')}.mp4`);
        let path = base;
        // A restart (new rate or size) must not overwrite what was recorded so far.
        for (let n = 2; previous && existsSync(path); n++) path = base.replace(/(\.[^./]+)?$/, `-${n}$1`);
        try {
          if (!o.recording.path) mkdirSync(join(paths.dataDir, 'recordings'), { recursive: true });
          await loop.setSink(await createRecordingSink(path, o.size, o.size, o.fps, (e) => { sinkErrors.recording = e.message; notice('error', e.code, `Recording: ${e.message}`); }));
          recordingPath = path;
        } catch (error) {
          const e = asPersonaLiveError(error);
          sinkErrors.recording = e.message;
          notice('error', e.code, `Recording: ${e.message}`);
        }
      }
    }
  }

  // --- driving source
  let sourceError: string | null = null;
  async function applySource(): Promise<void> {
    const source = DRIVING_SOURCES[config.driving.kind](config.driving, { fps: config.driving.fps, size: config.output.size });
    try {
      await loop.setSource(source);
      sourceError = null;
    } catch (error) {
      const e = asPersonaLiveError(error, 'DRIVING_SOURCE_FAILED');
      sourceError = e.message;
      notice('error', e.code, `Driving source: ${e.message}`);
    }
    broadcastState();
  }

  async function buildState(): Promise<DaemonState> {
    const source = loop.drivingSource;
    return {
      version: DAEMON_VERSION,
      protocol: PROTOCOL_VERSION,
      paused: loop.isPaused,
      generator: loop.generatorStatus(),
      options: backends,
      driving: {
        kind: config.driving.kind,
        ring: config.driving.ring,
        webcam: config.driving.webcam,
        file: config.driving.file,
        image: config.driving.image,
        state: sourceError ? 'error' : source?.state() ?? 'stopped',
        description: source?.description ?? config.driving.kind,
        error: sourceError ?? source?.error() ?? null,
      },
      output: {
        fps: config.output.fps,
        size: config.output.size,
        ring: { enabled: config.output.ring.enabled, name: config.output.ring.name },
        virtualCamera: { enabled: config.output.virtualCamera.enabled, state: sinkErrors.virtualCamera ? 'error' : loop.sinkStatus('virtualCamera') ? 'running' : 'off', device: config.output.virtualCamera.device, error: sinkErrors.virtualCamera },
        recording: { enabled: config.output.recording.enabled, path: recordingPath, state: sinkErrors.recording ? 'error' : loop.sinkStatus('recording') ? 'recording' : 'off', error: sinkErrors.recording },
      },
      references: gallery.list(),
      activeReferenceId: gallery.activeId,
      obs: { state: obs ? obs.state : 'disabled', url: config.obs.url, error: obs?.error?.message ?? null },
    };
  }

  /** Applies a panel/API edit: validated, persisted atomically, then applied. */
  function edit(patch: ConfigPatch): { previous: DaemonConfig } {
    const previous = config;
    persisted = validateConfig(patch, 'panel', persisted);
    config = validateConfig(patch, 'panel', config);
    saveConfig(paths.configFile, persisted);
    loop.setConfig(config);
    return { previous };
  }

  async function activateReference(id: string): Promise<void> {
    const image = await gallery.loadImage(id);
    await loop.swapReference(image);
    gallery.setActive(id);
    broadcastState();
  }

  function requireAvailable(kind: 'generators' | 'devices' | 'decoders', value: string): void {
    const option = (backends[kind] as { value: string; available: boolean; reason: string | null }[]).find((o) => o.value === value);
    if (option && !option.available) {
      const code = kind === 'devices' ? 'DEVICE_UNAVAILABLE' : kind === 'decoders' ? 'DECODER_UNAVAILABLE' : 'GENERATOR_NEEDS_PACK';
      throw new PersonaLiveError(code, `${value} is not available: ${option.reason}`, { [kind]: value });
    }
  }

  const requireObs = (): ObsClient => {
    if (!obs) throw new PersonaLiveError('OBS_DISCONNECTED', 'obs-websocket is disabled in the configuration (obs.enabled)');
    return obs;
  };

  const handlers: Handlers = {
    'state.get': () => buildState(),
    'references.activate': async ({ id }) => {
      await activateReference(id);
      return { activeReferenceId: id };
    },
    'references.delete': async ({ id }) => {
      if (id === gallery.activeId && gallery.list().length > 1) {
        throw new PersonaLiveError('CONTROL_BAD_PARAMS', 'references.delete: this reference is on air; swap to another one first', { field: 'id' });
      }
      const references = gallery.remove(id);
      broadcastState();
      return { references };
    },
    'references.reorder': async ({ ids }) => {
      const references = gallery.reorder(ids);
      broadcastState();
      return { references };
    },
    'backend.set': async (params) => {
      const current = loop.generatorStatus();
      const choice: BackendChoice = { generator: params.generator ?? current.requested, device: params.device ?? current.device, decoder: params.decoder ?? current.decoder };
      if (params.generator) requireAvailable('generators', params.generator);
      if (params.device) requireAvailable('devices', params.device);
      if (params.decoder && choice.generator === 'personalive') requireAvailable('decoders', params.decoder);
      await loop.switchBackend(choice);
      edit({ generator: { kind: choice.generator, device: choice.device, decoder: choice.decoder } });
      broadcastState();
      return loop.generatorStatus();
    },
    'failover.restore': async () => {
      await loop.restoreRequested();
      broadcastState();
      return loop.generatorStatus();
    },
    'driving.set': async (params) => {
      const patch: ConfigPatch = { driving: { kind: params.kind, ...(params.ring ? { ring: params.ring } : {}), ...(params.webcam ? { webcam: params.webcam } : {}) } };
      if ((params.kind === 'file' && !config.driving.file) || (params.kind === 'image' && !config.driving.image)) {
        throw new PersonaLiveError('CONTROL_BAD_PARAMS', `driving.set: no ${params.kind} is configured (set driving.${params.kind} in ${paths.configFile})`, { field: 'kind' });
      }
      edit(patch);
      await applySource();
      return (await buildState()).driving;
    },
    'output.set': async (params) => {
      const { previous } = edit({
        output: {
          ...(params.fps !== undefined ? { fps: params.fps } : {}),
          ...(params.size !== undefined ? { size: params.size } : {}),
          ...(params.virtualCamera !== undefined ? { virtualCamera: { enabled: params.virtualCamera } } : {}),
          ...(params.recording !== undefined ? { recording: { enabled: params.recording } } : {}),
        },
      });
      if (params.size !== undefined && params.size !== previous.output.size) await loop.rebuildActive();
      await applyOutputs(previous);
      broadcastState();
      return (await buildState()).output;
    },
    'animation.setPaused': async ({ paused }) => {
      loop.setPaused(paused);
      return { paused };
    },
    'obs.listSources': async () => {
      const { inputs } = await requireObs().call('GetInputList');
      const audioOnly = /^(pulse|alsa|jack|wasapi|coreaudio|sck_audio)/;
      return { sources: inputs.map((i) => ({ name: String(i.inputName), kind: String(i.inputKind) })).filter((i) => !audioOnly.test(i.kind)) };
    },
    'obs.addOutputSource': async ({ sceneName }) => {
      const client = requireObs();
      const scene = sceneName ?? (await client.call('GetCurrentProgramScene')).currentProgramSceneName;
      const inputName = 'PersonaLive Output';
      const { inputs } = await client.call('GetInputList', { inputKind: 'personalive_output_source' });
      if (inputs.some((i) => i.inputName === inputName)) await client.call('CreateSceneItem', { sceneName: scene, sourceName: inputName });
      else await client.call('CreateInput', { sceneName: scene, inputName, inputKind: 'personalive_output_source', inputSettings: { ring_name: config.output.ring.name } });
      return { sceneName: scene, inputName };
    },
    'obs.addDrivingFilter': async ({ sourceName }) => {
      const filterName = 'PersonaLive Driving Capture';
      await requireObs().call('CreateSourceFilter', { sourceName, filterName, filterKind: 'personalive_driving_filter', filterSettings: { ring_name: config.driving.ring, fps: config.driving.fps, width: config.output.size, height: config.output.size } });
      if (config.driving.kind !== 'ring') {
        edit({ driving: { kind: 'ring' } });
        await applySource();
      }
      return { sourceName, filterName };
    },
  };

  const extraHandlers = options.testHooks
    ? {
        'test.injectFault': async (params: unknown) => {
          const mode = (params as { mode?: string })?.mode;
          if (mode !== 'throw' && mode !== 'stall') throw new PersonaLiveError('CONTROL_BAD_PARAMS', 'test.injectFault: params.mode: expected "throw" or "stall"');
          loop.injectFault(mode);
          return { injected: mode };
        },
      }
    : undefined;

  // Preview JPEGs are encoded at most once per frame, off the tick (sharp's thread pool).
  let previewCache: { captureUs: number; jpeg: Buffer } | null = null;
  const previewJpeg = async (): Promise<Buffer | null> => {
    const frame = preview.latest();
    if (!frame) return null;
    if (previewCache?.captureUs === frame.captureUs) return previewCache.jpeg;
    const jpeg = await sharp(Buffer.from(frame.rgb), { raw: { width: frame.width, height: frame.height, channels: 3 } }).resize(config.output.preview.size, config.output.preview.size).jpeg({ quality: 70 }).toBuffer();
    previewCache = { captureUs: frame.captureUs, jpeg };
    return jpeg;
  };

  // --- start, in order
  const activeId = gallery.activeId;
  let referenceImage: RgbImage | null = null;
  if (activeId) referenceImage = await gallery.loadImage(activeId);
  if (!referenceImage) log.warn({ gallery: paths.dataDir }, 'no reference yet: upload a portrait in the panel (or start with --reference IMG); streaming a plain frame meanwhile');
  await withTimeout('the generator', loop.start(referenceImage));
  await loop.setSink(preview);
  if (options.nullSink) await loop.setSink(createNullSink());
  await applyOutputs(null);
  await withTimeout('the driving source', applySource());

  server = new ControlServer({
    host: config.control.host,
    port: config.control.port,
    token,
    panelDir: panelDir(),
    handlers,
    extraHandlers,
    upload: async (bytes, name) => {
      const first = loop.generatorStatus().status === 'waiting';
      const reference = await gallery.add(bytes, name);
      // The very first portrait goes on air by itself.
      if (first) await activateReference(reference.id).catch((error: unknown) => notice('error', asPersonaLiveError(error).code, `Reference "${reference.name}": ${asPersonaLiveError(error).message}`));
      broadcastState();
      return reference;
    },
    thumbnail: (id) => gallery.thumbnail(id),
    previewJpeg,
    previewFps: config.output.preview.fps,
    log,
  });
  try {
    await withTimeout('the control server', server.start());
  } catch (error) {
    await loop.close();
    throw error;
  }
  const statsTimer = setInterval(() => server?.broadcast('stats', loop.stats()), 500);
  statsTimer.unref();

  if (config.obs.enabled) {
    obs = new ObsClient({ url: config.obs.url, password: config.obs.password || undefined, callTimeoutMs: config.obs.callTimeoutMs });
    obs.on('state', (state, error) => {
      if (error && state === 'disconnected') log.warn({ err: error.message }, 'obs-websocket unavailable; retrying with backoff');
      else log.info({ state }, 'obs-websocket');
      broadcastState();
    });
    obs.on('vendorEvent', (event: VendorEvent) => void onVendorEvent(event));
    obs.connect().catch(() => undefined); // keeps retrying by itself
  }

  async function onVendorEvent(event: VendorEvent): Promise<void> {
    if (event.vendorName !== PERSONALIVE_VENDOR || event.eventType !== 'HotkeyPressed') return;
    const action = String(event.eventData.action);
    try {
      if (action === 'animation.toggle_pause') {
        loop.setPaused(!loop.isPaused);
        return;
      }
      const id = action === 'reference.next' ? gallery.idAfterActive(1)
        : action === 'reference.previous' ? gallery.idAfterActive(-1)
        : action === 'reference.slot' ? gallery.idAtSlot(Number(event.eventData.slot))
        : null;
      if (id && id !== gallery.activeId) await activateReference(id);
    } catch (error) {
      const e = asPersonaLiveError(error);
      notice('error', e.code, `Hotkey ${action}: ${e.message}`);
    }
  }

  log.info({ port: server.port, generator: loop.generatorStatus(), driving: config.driving.kind }, 'daemon ready');
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
        if (stateTimer) clearTimeout(stateTimer);
        await server?.close();
        await obs?.close();
        await loop.close();
        log.info({}, 'daemon stopped');
        log.flush();
      })();
      return closed;
    },
  };
}

