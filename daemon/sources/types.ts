/** Driving sources: where the streamer's face comes from. One file per kind, registered in registry.ts. */

/** One captured driving frame. `rgb` belongs to the receiver (sources never reuse it). */
export interface CapturedFrame {
  rgb: Uint8Array;
  width: number;
  height: number;
  /** Capture time, monotonic microseconds (the clock shared with OBS: monotonicUs()). */
  captureUs: number;
}

export type SourceState = 'live' | 'waiting' | 'stale' | 'absent' | 'stopped' | 'error';

export interface DrivingSource {
  readonly kind: string;
  /** What it reads, for the panel and logs ("OBS capture ring personalive-driving", "/dev/video0"...). */
  readonly description: string;
  /**
   * Starts delivering frames to `onFrame` (called on the main thread, never re-entrantly).
   * @throws PersonaLiveError DRIVING_SOURCE_FAILED (or the media error) when it cannot start
   */
  start(onFrame: (frame: CapturedFrame) => void): Promise<void>;
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
}
