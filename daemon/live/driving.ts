/** The live loop's driving source, made from the configuration (sources/registry.ts), and how the panel sees it. */
import type { DaemonConfig } from '../config/config.js';
import { asPersonaLiveError } from '../errors.js';
import type { DaemonState } from '../protocol.js';
import { DRIVING_SOURCE_REGISTRY } from '../sources/registry.js';
import type { LiveLoop } from './live-loop.js';

export class Driving {
  /** Why the configured source could not start (cleared by the next good start). */
  private startError: string | null = null;

  constructor(
    private readonly loop: LiveLoop,
    private readonly notice: (level: 'error', code: string, message: string) => void,
  ) {}

  /** Starts the configured source in place of the current one; a failure is shown, not thrown (the stream holds). */
  async apply(config: DaemonConfig): Promise<void> {
    const source = DRIVING_SOURCE_REGISTRY[config.driving.kind](config.driving, { fps: config.driving.fps, size: config.output.size, pool: this.loop.framePool });
    try {
      await this.loop.setSource(source);
      this.startError = null;
    } catch (error) {
      const e = asPersonaLiveError(error, 'DRIVING_SOURCE_FAILED');
      this.startError = e.message;
      this.notice('error', e.code, `Driving source: ${e.message}`);
    }
  }

  /** The state and error last seen by changeSinceLastLook. */
  private seen = '';

  /**
   * The driving state when its state or error changed since the last look, else null: a
   * source that goes away by itself (a webcam unplugged, OBS's capture stopped) is told once
   * when it happens and once when it is back, not on every retry.
   */
  changeSinceLastLook(config: DaemonConfig): DaemonState['driving'] | null {
    const now = this.state(config);
    const seen = `${now.state}|${now.error ?? ''}`;
    if (seen === this.seen) return null;
    this.seen = seen;
    return now;
  }

  state(config: DaemonConfig): DaemonState['driving'] {
    const source = this.loop.drivingSource;
    const { kind, ring, webcam, file, image } = config.driving;
    return {
      kind, ring, webcam, file, image,
      state: this.startError ? 'error' : source?.state() ?? 'stopped',
      description: source?.description ?? kind,
      error: this.startError ?? source?.error() ?? null,
    };
  }
}
