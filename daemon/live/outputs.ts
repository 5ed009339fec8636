/**
 * The configured outputs of the live loop: every sink of sinks/registry.ts, switched on,
 * off and rebuilt from the configuration (a sink whose settings did not change is left
 * running), with the last failure of each kept for the panel.
 */
import type { DaemonConfig } from '../config/config.js';
import { asPersonaLiveError, type PersonaLiveError } from '../errors.js';
import { CONFIGURED_SINK_KINDS, CONFIGURED_SINKS, type ConfiguredSinkKind } from '../kinds.js';
import type { SinkState } from '../protocol.js';
import { SINK_REGISTRY } from '../sinks/registry.js';
import type { LiveLoop } from './live-loop.js';

export type SinkStates = { [K in ConfiguredSinkKind]: SinkState<K> };

export class Outputs {
  private readonly errors: Partial<Record<ConfiguredSinkKind, string | null>> = {};
  /** The settings each sink was built from (JSON), to rebuild only what changed. */
  private readonly built = new Map<ConfiguredSinkKind, string>();

  constructor(
    private readonly loop: LiveLoop,
    private readonly options: { dataDir: string; notice(level: 'info' | 'error', code: string | null, message: string): void },
  ) {}

  /**
   * Brings the sinks in line with `config`. A sink that fails to open is shown as failed
   * while the rest run.
   * @throws PersonaLiveError from a required sink (the OBS output ring)
   */
  async apply(config: DaemonConfig): Promise<void> {
    for (const kind of CONFIGURED_SINK_KINDS) {
      const entry = SINK_REGISTRY[kind];
      const settings = JSON.stringify(entry.settings(config.output));
      if (this.built.get(kind) === settings) continue;
      this.built.set(kind, settings);
      await this.loop.removeSink(kind);
      this.errors[kind] = null;
      if (!entry.enabled(config.output)) continue;
      const failed = (e: PersonaLiveError): void => {
        this.errors[kind] = e.message;
        this.options.notice('error', e.code, `${CONFIGURED_SINKS[kind].label}: ${e.message}`);
      };
      try {
        await this.loop.setSink(await entry.create(config, { dataDir: this.options.dataDir, onError: failed, announce: (message) => this.options.notice('info', null, message) }));
      } catch (error) {
        if (entry.required) throw error;
        failed(asPersonaLiveError(error));
      }
    }
  }

  /** Each configured sink as the panel sees it. */
  states(config: DaemonConfig): SinkStates {
    return Object.fromEntries(CONFIGURED_SINK_KINDS.map((kind) => [kind, SINK_REGISTRY[kind].state(config.output, this.loop.sinkStatus(kind), this.errors[kind] ?? null)])) as SinkStates;
  }
}
