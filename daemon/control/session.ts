/**
 * What the control handlers and the hotkeys act on: the running daemon's parts and the
 * few operations that span them. Built by the composition root (daemon.ts).
 */
import type { ConfigPaths, ConfigPatch, DaemonConfig } from '../config/config.js';
import type { LiveLoop } from '../live/live-loop.js';
import type { BackendOptions } from '../live/backends.js';
import type { ObsClient } from '../obs/obs-client.js';
import type { DaemonState } from '../protocol.js';
import type { ReferenceGallery } from '../references/gallery.js';

export interface DaemonSession {
  readonly paths: ConfigPaths;
  /** The control token (the panel URL's), for the checks that compare the dock URL with it. */
  readonly token: string;
  readonly loop: LiveLoop;
  readonly gallery: ReferenceGallery;
  readonly backends: BackendOptions;
  /** The configuration in force (persisted settings plus this run's command-line overrides). */
  config(): DaemonConfig;
  /** The obs-websocket client, null when obs.enabled is false. */
  obs(): ObsClient | null;
  /** Applies an edit: validated, persisted atomically, then in force. @throws PersonaLiveError CONFIG_INVALID */
  edit(patch: ConfigPatch): { previous: DaemonConfig };
  /** Rebuilds the sinks whose settings changed. */
  applyOutputs(): Promise<void>;
  /** Starts the configured driving source (a failure is shown as its error). */
  applySource(): Promise<void>;
  /** Puts a gallery reference on air. @throws PersonaLiveError NO_FACE, IMAGE_UNREADABLE, ENGINE_FAILED */
  activateReference(id: string): Promise<void>;
  state(): Promise<DaemonState>;
  broadcastState(): void;
  notice(level: 'info' | 'warning' | 'error', code: string | null, message: string): void;
}
