/** What every part of the panel shares: the client, the token, the current state, notices. */
import type { DaemonState } from '../../daemon/protocol.js';
import type { ControlClient } from './client.js';

export type NoticeLevel = 'info' | 'warning' | 'error';

export interface Panel {
  readonly client: ControlClient;
  readonly token: string;
  /** The latest daemon state (null until the first state.get answers). */
  state(): DaemonState | null;
  /** Merges a call's result into the state and re-renders (the daemon's `state` event follows anyway). */
  patch(change: Partial<DaemonState>): void;
  /** Absolute URL of a daemon HTTP path (e.g. /api/preview.mjpg) with ?token= appended. */
  tokenUrl(path: string): string;
  notify(level: NoticeLevel, message: string, code?: string | null): void;
  /**
   * Runs a control action: the control is disabled (aria-busy) while it runs and a failure
   * becomes an error notice with the daemon's message. Resolves to undefined on failure.
   */
  act<T>(control: HTMLElement | null, action: () => Promise<T>): Promise<T | undefined>;
}

/** A part of the panel: renders from the state whenever it changes. */
export interface View {
  update(state: DaemonState): void;
}
