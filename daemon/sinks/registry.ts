/**
 * The configured sinks (kinds.ts marks them): for each, which output settings rebuild it,
 * whether it is switched on, how it is made, and how the panel sees it. The daemon drives
 * every output from this table; adding a sink is its file plus one entry here.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { freePath } from '../util/files.js';
import type { DaemonConfig } from '../config/config.js';
import { pictureSize, type ConfiguredSinkKind } from '../kinds.js';
import type { SinkState } from '../protocol.js';
import { openPlatformWriter } from '../vcam/platform.js';
import { createRecordingSink } from './recording.js';
import { createRingSink } from './ring.js';
import type { Sink, SinkContext } from './types.js';
import { VirtualCameraSink } from './virtual-camera.js';
import { showingCameraPicture } from './camera-picture.js';

type Output = DaemonConfig['output'];

export interface SinkEntry<K extends ConfiguredSinkKind> {
  /** The settings whose change rebuilds the sink (compared as JSON). */
  settings(output: Output): unknown;
  enabled(output: Output): boolean;
  /**
   * Whether a failure to create it stops the daemon from starting (the OBS output ring)
   * instead of being shown as the sink's error while everything else runs.
   */
  required: boolean;
  /**
   * Opens it.
   * @throws PersonaLiveError from the device or file it opens
   */
  create(config: DaemonConfig, context: SinkContext): Promise<Sink>;
  /** What the panel shows: `status` is the running sink's (null when off), `error` the last failure. */
  state(output: Output, status: Record<string, unknown> | null, error: string | null): SinkState<K>;
}

export function defaultRecordingsFolder(dataDir: string): string {
  return join(dataDir, 'recordings');
}

/** Where recordings of this configuration are written (searched for orphans at start). */
export function recordingFolders(output: Output, dataDir: string): string[] {
  return [defaultRecordingsFolder(dataDir), ...(output.recording.path ? [dirname(resolve(output.recording.path))] : [])];
}

export const SINK_REGISTRY: { readonly [K in ConfiguredSinkKind]: SinkEntry<K> } = Object.freeze({
  ring: {
    enabled: (o) => o.ring.enabled,
    required: true,
    // output.picture 'camera': the OBS source shows the camera's 16:9 picture (the ring takes its size).
    settings: (o) => ({ ...o.ring, picture: o.picture, camera: o.picture === 'camera' ? o.virtualCamera.size : null }),
    create: async (config, context) => {
      if (config.output.picture !== 'camera') return createRingSink(config.output.ring.name, config.output.fps, config.output.size, config.output.size);
      return showingCameraPicture(createRingSink(config.output.ring.name, config.output.fps, context.picture.width, context.picture.height), context.picture);
    },
    state: (o) => ({ enabled: o.ring.enabled, name: o.ring.name }),
  },
  virtualCamera: {
    // Not the output size: the camera keeps its own 16:9 picture (the shared stage), the animation
    // is placed in it; placement and background change on the stage (no reopen, no gap for the apps).
    settings: (o) => ({ enabled: o.virtualCamera.enabled, device: o.virtualCamera.device, format: o.virtualCamera.format, size: o.virtualCamera.size, fps: o.fps }),
    enabled: (o) => o.virtualCamera.enabled,
    required: false,
    async create(config, context) {
      const { fps, virtualCamera } = config.output;
      const device = virtualCamera.device === 'auto' ? undefined : virtualCamera.device;
      const { width, height } = pictureSize(virtualCamera.size);
      const sink = new VirtualCameraSink({
        width,
        height,
        fpsNum: fps,
        fpsDen: 1,
        stage: context.picture,
        openWriter: (c) => openPlatformWriter(c, { device, format: virtualCamera.format }),
        onError: context.onError,
      });
      await sink.start();
      return sink;
    },
    state: (o, status, error) => {
      const { size, background, colour, image, scale, x, y } = o.virtualCamera;
      const framing = status?.framing === 'photo' || status?.framing === 'placed' ? status.framing : null;
      return { enabled: o.virtualCamera.enabled, state: error ? 'error' : status ? 'running' : 'off', device: o.virtualCamera.device, error, framing, size, background, colour, image, scale, x, y };
    },
  },
  recording: {
    // Not size or rate: a recording keeps its own from start to stop (frames are scaled into it).
    settings: (o) => o.recording,
    enabled: (o) => o.recording.enabled,
    required: false,
    async create(config, context) {
      const { size, fps, recording } = config.output;
      const folder = defaultRecordingsFolder(context.dataDir);
      const base = recording.path || join(folder, `personalive-${new Date().toISOString().replace(/[:.]/g, '-')}.mp4`);
      // Never over what was recorded before (an earlier run, or this run before a restart:
      // the old recording is finished and renamed into place before this one opens).
      const path = freePath(base);
      if (!recording.path) mkdirSync(folder, { recursive: true });
      // Its picture (square or the camera's) is fixed at its start, like its size and rate.
      const camera = config.output.picture === 'camera';
      const file = await createRecordingSink(path, camera ? context.picture.width : size, camera ? context.picture.height : size, fps, context.onError);
      const sink = camera ? showingCameraPicture(file, context.picture) : file;
      context.announce(path === base ? `Recording to ${path}` : `Recording to ${path} (${base} exists and is kept)`);
      return sink;
    },
    state: (o, status, error) => ({ enabled: o.recording.enabled, path: typeof status?.path === 'string' ? status.path : null, state: error ? 'error' : status ? 'recording' : 'off', error }),
  },
});
