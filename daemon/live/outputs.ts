/**
 * The configured outputs of the live loop: every sink of sinks/registry.ts, switched on,
 * off and rebuilt from the configuration (a sink whose settings did not change is left
 * running), with the last failure of each kept for the panel. A sink whose device is not
 * there yet (a virtual camera before v4l2loopback is loaded) is said once and opened by
 * itself when the device appears; a rebuild for a new size or rate does not say it again.
 */
import type { DaemonConfig } from '../config/config.js';
import { asPersonaLiveError, type PersonaLiveError } from '../errors.js';
import { CONFIGURED_SINK_KINDS, CONFIGURED_SINKS, pictureSize, type ConfiguredSinkKind } from '../kinds.js';
import type { SinkState } from '../protocol.js';
import { CameraPictureStage, cameraPictureFor, cameraPictureSettings } from '../sinks/camera-picture.js';
import { SINK_REGISTRY } from '../sinks/registry.js';
import type { LiveLoop } from './live-loop.js';

export type SinkStates = { [K in ConfiguredSinkKind]: SinkState<K> };

/** Failures that mean "not there yet" (worth trying again), not "broken". */
const RETRIED_CODES: ReadonlySet<string> = new Set(['VCAM_UNAVAILABLE']);

export interface OutputsOptions {
  dataDir: string;
  notice(level: 'info' | 'error', code: string | null, message: string): void;
  /** How often a sink waiting for its device tries again (default 5 s). */
  retryMs?: number;
  /** The sinks (tests stand in their own). */
  registry?: typeof SINK_REGISTRY;
}

export class Outputs {
  private readonly errors: Partial<Record<ConfiguredSinkKind, string | null>> = {};
  /** The settings each sink was built from (JSON), to rebuild only what changed. */
  private readonly built = new Map<ConfiguredSinkKind, string>();
  /** The camera picture the sinks that show it share, and the settings it was last given. */
  private stage: CameraPictureStage | null = null;
  private stageSettings = '';
  /** The last failure said for each kind, so the same one is not said again on a rebuild. */
  private readonly said = new Map<ConfiguredSinkKind, string>();
  private readonly retries = new Map<ConfiguredSinkKind, NodeJS.Timeout>();
  private readonly registry: typeof SINK_REGISTRY;
  private config: DaemonConfig | null = null;
  private closed = false;

  constructor(private readonly loop: LiveLoop, private readonly options: OutputsOptions) {
    this.registry = options.registry ?? SINK_REGISTRY;
  }

  /**
   * Brings the sinks in line with `config`. A sink that fails to open is shown as failed
   * while the rest run.
   * @throws PersonaLiveError from a required sink (the OBS output ring)
   */
  async apply(config: DaemonConfig): Promise<void> {
    this.config = config;
    this.updatePicture(config);
    for (const kind of CONFIGURED_SINK_KINDS) {
      const entry = this.registry[kind];
      const settings = JSON.stringify(entry.settings(config.output));
      if (this.built.get(kind) === settings) continue;
      this.built.set(kind, settings);
      this.cancelRetry(kind);
      await this.loop.removeSink(kind);
      this.errors[kind] = null;
      if (!entry.enabled(config.output)) {
        this.said.delete(kind);
        continue;
      }
      await this.open(kind, config);
    }
  }

  /**
   * The camera picture follows the configuration on the running sinks: a new size, placement
   * or background never reopens the camera (the sinks whose geometry follows it are rebuilt by
   * their own settings).
   */
  private updatePicture(config: DaemonConfig): void {
    const { width, height } = pictureSize(config.output.virtualCamera.size);
    const settings = JSON.stringify(cameraPictureSettings(config));
    if (!this.stage) {
      this.stage = new CameraPictureStage(width, height, cameraPictureFor(config), (e) => this.options.notice('error', e.code, `Camera picture: ${e.message}`));
    } else {
      this.stage.resize(width, height);
      if (settings !== this.stageSettings) this.stage.setPicture(cameraPictureFor(config));
    }
    this.stageSettings = settings;
  }

  /** The shared camera picture (tests). */
  get picture(): CameraPictureStage | null {
    return this.stage;
  }

  private async open(kind: ConfiguredSinkKind, config: DaemonConfig): Promise<boolean> {
    const entry = this.registry[kind];
    const label = CONFIGURED_SINKS[kind].label;
    const failed = (e: PersonaLiveError): void => {
      this.errors[kind] = e.message;
      if (this.said.get(kind) === e.message) return;
      this.said.set(kind, e.message);
      this.options.notice('error', e.code, `${label}: ${e.message}${RETRIED_CODES.has(e.code) ? ' (it starts by itself once it is there)' : ''}`);
    };
    try {
      await this.loop.setSink(await entry.create(config, { dataDir: this.options.dataDir, onError: failed, announce: (message) => this.options.notice('info', null, message), picture: this.stage! }));
      if (this.said.has(kind) && this.errors[kind] === null) this.options.notice('info', null, `${label} started`);
      this.said.delete(kind);
      return true;
    } catch (error) {
      if (entry.required) throw error;
      const e = asPersonaLiveError(error);
      failed(e);
      if (RETRIED_CODES.has(e.code)) this.scheduleRetry(kind);
      return false;
    }
  }

  private scheduleRetry(kind: ConfiguredSinkKind): void {
    this.cancelRetry(kind);
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.retries.delete(kind);
      const config = this.config;
      if (!config || this.closed || !this.registry[kind].enabled(config.output)) return;
      this.errors[kind] = null;
      void this.open(kind, config);
    }, this.options.retryMs ?? 5000);
    timer.unref?.();
    this.retries.set(kind, timer);
  }

  private cancelRetry(kind: ConfiguredSinkKind): void {
    const timer = this.retries.get(kind);
    if (timer) clearTimeout(timer);
    this.retries.delete(kind);
  }

  /** Each configured sink as the panel sees it. */
  states(config: DaemonConfig): SinkStates {
    return Object.fromEntries(CONFIGURED_SINK_KINDS.map((kind) => [kind, this.registry[kind].state(config.output, this.loop.sinkStatus(kind), this.errors[kind] ?? null)])) as SinkStates;
  }

  /** Stops the retries (the sinks themselves close with the loop). */
  close(): void {
    this.closed = true;
    for (const kind of [...this.retries.keys()]) this.cancelRetry(kind);
  }
}
