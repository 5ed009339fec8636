/**
 * What the face tracker reports, independent of the tracking library behind it.
 * Landmark indices follow the MediaPipe face mesh: 468 mesh points, then 10 iris points
 * (468-472 one eye's centre + 4 around it, 473-477 the other's).
 */
import type { RgbImage } from '../../../frames.js';

export const MESH_POINTS = 468;
export const LANDMARK_COUNT = 478;

export interface FaceObservation {
  /** LANDMARK_COUNT x 3 floats: x, y in image pixels, z relative depth in the same pixel scale. */
  landmarks: Float32Array;
  /** Face bounding box in image pixels: [x, y, width, height]. */
  box: [number, number, number, number];
  /** Detection confidence in [0, 1]. */
  score: number;
}

export interface TrackResult {
  /** The chosen face (largest, most central), or null when none was found. */
  face: FaceObservation | null;
  /** How many faces the detector found. */
  faceCount: number;
  /** Milliseconds the tracker spent on this image. */
  trackMs: number;
}

/** A face tracker (one adapter per tracking library; see human-tracker.ts). */
export interface FaceTracker {
  /** Which backend really runs (e.g. "human/tfjs-wasm simd"). */
  readonly backend: string;
  track(image: RgbImage): Promise<TrackResult>;
  close(): Promise<void>;
}
