/**
 * The generator interface every animation backend implements (the PersonaLive diffusion
 * engine and the built-in CPU generator), so the CLI and the live daemon can swap them.
 */

/** An RGB24 image, row-major, 3 bytes per pixel, no padding. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** One frame of the driving video or camera. */
export interface DrivingFrame extends RgbImage {
  /** Position in the driving sequence (0-based, increasing). */
  index: number;
  /** Capture timestamp in milliseconds (source clock); carried to the output frame. */
  timestampMs: number;
}

/**
 * One generated frame. `source` says where it comes from: a driving frame (its index and
 * timestamp), or the warm-up transition from the reference pose to the first driving pose
 * that the streaming window produces before the first driving frame comes out.
 */
export interface OutputFrame extends RgbImage {
  source: 'driving' | 'warmup';
  /** Index of the driving frame this frame animates (-1 for warm-up frames). */
  sourceIndex: number;
  /** The driving frame's capture timestamp (for warm-up frames: the first driving frame's). */
  timestampMs: number;
}

export interface StageTiming {
  count: number;
  totalMs: number;
  lastMs: number;
}

export interface GeneratorStats {
  generator: string;
  framesIn: number;
  framesOut: number;
  warmupFramesOut: number;
  steps: number;
  keyframes: number;
  /** Execution provider list per graph, as ONNX Runtime created the session (empty for non-ONNX generators). */
  providers: Record<string, readonly string[]>;
  stages: Record<string, StageTiming>;
  /** Which pixel-kernel implementation runs (native addon or TypeScript), where it applies. */
  kernels: 'native' | 'typescript' | null;
  /** The decoder in use, for generators that have one (PersonaLive: "vae" or "tiny"). */
  decoder?: string;
}

export interface Generator {
  readonly name: string;
  /** Size of the frames it produces. */
  readonly outputSize: { width: number; height: number };
  /** Fuses a reference portrait; later calls swap the reference without a restart. */
  fuseReference(image: RgbImage): Promise<void>;
  /**
   * Optional two-phase swap for live use: prepares a reference without disturbing the
   * stream (the returned handle is opaque), then activateReference() switches to it
   * between two push() calls. Generators without it are swapped with fuseReference().
   */
  prepareReference?(image: RgbImage): Promise<unknown>;
  activateReference?(prepared: unknown): Promise<void>;
  /** Pushes one driving frame; resolves with the frames that became ready (often none). */
  push(frame: DrivingFrame): Promise<OutputFrame[]>;
  /** End of input: pads and drains everything still in flight. */
  flush(): Promise<OutputFrame[]>;
  /** Drops the stream state (window, history) but keeps the fused reference. */
  reset(): Promise<void>;
  stats(): Promise<GeneratorStats>;
  close(): Promise<void>;
}
