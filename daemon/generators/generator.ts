/**
 * The generator interface every animation backend implements (the PersonaLive diffusion
 * engine and the built-in CPU generator), so the CLI and the live daemon can swap them.
 */
import type { ExpressionControls } from '../kinds.js';
import type { Frame, RgbImage } from '../frames.js';

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
  /**
   * Pushes one driving frame; resolves with the frames that became ready (often none). The
   * caller may reuse `frame` once the promise settles.
   */
  push(frame: Frame): Promise<Frame[]>;
  /**
   * Optional: takes back a frame this generator produced once the caller is done with it
   * (every sink has written it), so its buffer is rendered into again instead of a new one.
   * The caller must not touch the frame afterwards.
   */
  recycle?(frame: Frame): void;
  /** Optional: the user's expression controls (mouth, eyes, brows, head), followed from the next frame. */
  setExpressionControls?(controls: ExpressionControls): Promise<void>;
  /** Optional: "this is my neutral face": the next driving frame becomes the one motion is measured from. */
  calibrate?(): Promise<void>;
  /** End of input: pads and drains everything still in flight. */
  flush(): Promise<Frame[]>;
  /** Drops the stream state (window, history) but keeps the fused reference. */
  reset(): Promise<void>;
  stats(): Promise<GeneratorStats>;
  close(): Promise<void>;
}
