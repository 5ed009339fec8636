/** Messages between the PersonaLive generator host (main thread) and its inference worker. */
import type { DecoderChoice } from './engine.js';
import type { Device } from '../../ort/onnx-runtime.js';
import type { GeneratorStats } from '../generator.js';
import type { Frame, RgbImage } from '../../frames.js';

export interface WorkerInit {
  packDir: string;
  device: Device;
  /** Decoder asked for; undefined picks the pack's fastest (tiny when present). */
  decoder?: DecoderChoice;
  seed?: number;
  verifyChecksums: boolean;
}

export interface ReadyInfo {
  packName: string;
  resolution: number;
  stepKind: string;
  decoder: DecoderChoice;
  providers: Record<string, readonly string[]>;
}

export type WorkerRequest =
  | { id: number; type: 'init'; init: WorkerInit }
  | { id: number; type: 'fuse'; image: RgbImage }
  | { id: number; type: 'push'; frames: Frame[] }
  | { id: number; type: 'flush' }
  | { id: number; type: 'reset' }
  | { id: number; type: 'stats' }
  | { id: number; type: 'inspect' }
  | { id: number; type: 'close' };

/** Engine bookkeeping exposed for tests and the panel. */
export interface EngineInspection {
  steps: number;
  keyframes: number;
  referenceStateLengths: number[];
  timeSplit: { graphMs: number; otherMs: number };
}

export type WorkerResult = ReadyInfo | Frame[] | GeneratorStats | EngineInspection | null;
