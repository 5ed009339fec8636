/** Driving sources: where the streamer's face comes from. One file per kind, registered in registry.ts. */
import type { DrivingKind } from '../kinds.js';
import type { Frame, FramePool } from '../frames.js';

export type SourceState = 'live' | 'waiting' | 'stale' | 'absent' | 'stopped' | 'error';

export interface DrivingSource {
  readonly kind: DrivingKind;
  /** What it reads, for the panel and logs ("OBS capture ring personalive-driving", "/dev/video0"...). */
  readonly description: string;
  /**
   * Starts delivering frames to `onFrame` (called on the main thread, never re-entrantly).
   * Each frame comes from `SourceOptions.pool` and belongs to the receiver, who releases it
   * to the pool when done; captureUs is the monotonic capture time (monotonicUs()). The
   * live loop numbers frames (one sequence across sources), so a source leaves `index`.
   * @throws PersonaLiveError DRIVING_SOURCE_FAILED (or the media error) when it cannot start
   */
  start(onFrame: (frame: Frame) => void): Promise<void>;
  state(): SourceState;
  /** The error that stopped it, if any. */
  error(): string | null;
  close(): Promise<void>;
}

export interface SourceOptions {
  /** Frames per second for sources that pace themselves (file, image, webcam request). */
  fps: number;
  /** Square size files and images are decoded to. */
  size: number;
  /** Where frames come from (reused: a steady stream allocates none). */
  pool: FramePool;
}
