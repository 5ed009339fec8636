/** Messages between the meshwarp generator host and its render worker. */
import type { ExpressionControls } from '../../kinds.js';
import type { RgbImage } from '../../frames.js';
import type { OneEuroParams } from './tracking/one-euro.js';
import type { DriverMouth } from './mouth.js';

export interface RenderFrameRequest {
  /** Driver landmarks (LANDMARK_COUNT x 3) or null when the tracker found no face. */
  landmarks: Float32Array | null;
  index: number;
  captureUs: number;
  /** The driving frame's mouth (cropDriverMouth) when it is open: the interior shows the driver's own. */
  mouth?: DriverMouth | null;
}

export interface RenderedFrame {
  data: Uint8Array;
  index: number;
  captureUs: number;
  state: 'tracked' | 'holding';
  renderMs: number;
}

export interface RenderWorkerStats {
  warp: string;
}

export type RenderRequest =
  | { id: number; type: 'reference'; image: RgbImage; landmarks: Float32Array; depthScale?: number; verticalDepthScale?: number; smoothing?: OneEuroParams; controls?: ExpressionControls }
  | { id: number; type: 'frame'; frame: RenderFrameRequest; buffer?: ArrayBuffer }
  | { id: number; type: 'reset' }
  /** The user's expression controls, for the next frames (and animators built later). */
  | { id: number; type: 'controls'; controls: ExpressionControls }
  /** "This is my neutral face": the next tracked frame becomes the anchor. */
  | { id: number; type: 'calibrate' }
  | { id: number; type: 'close' };

export type RenderResult = RenderedFrame | RenderWorkerStats | null;
