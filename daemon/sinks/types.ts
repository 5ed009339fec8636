/**
 * Sinks: where paced output frames go (the plugin's output ring, the virtual camera, a
 * recording, the panel's preview, nowhere). The live loop's one pacer calls write() on every
 * output tick, so a sink never paces by itself: a repeated tick is its cue to repeat.
 * One file per kind; the configured ones are registered in registry.ts.
 */
import type { PersonaLiveError } from '../errors.js';
import type { Frame, RgbImage } from '../frames.js';
import type { SinkKind } from '../kinds.js';
import type { CameraPictureStage } from './camera-picture.js';

export interface Sink {
  readonly kind: SinkKind;
  /**
   * One output tick: `frame` is new, or the last one again when `repeated` (the generator
   * had nothing new). `nowUs` is the tick's time (monotonic). Must not block and must not
   * keep `frame` after returning (copy what it needs).
   */
  write(frame: Frame, repeated: boolean, nowUs: number): void;
  /** The portrait went on air (also told at once to a sink added while one is): for sinks that show it (a background). */
  referenceChanged?(image: RgbImage): void;
  /** Figures for the panel and logs. */
  status(): Record<string, unknown>;
  close(): Promise<void>;
}

/** What a sink's factory gets besides the configuration. */
export interface SinkContext {
  /** The daemon's data folder (recordings go under it by default). */
  dataDir: string;
  /** Told about a failure after start (the sink keeps going or stops by itself). */
  onError(error: PersonaLiveError): void;
  /** Tells the streamer what it opened ("Recording to ..."), in the log and the panel. */
  announce(message: string): void;
  /** The camera picture (16:9), shared by the sinks that show it (the virtual camera; the OBS source and recordings with output.picture 'camera'). */
  picture: CameraPictureStage;
}
