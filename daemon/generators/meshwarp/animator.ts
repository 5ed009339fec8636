/**
 * The built-in generator's per-frame core: driving landmarks in, animated reference frame
 * out. Smoothing (One-Euro) -> relative motion transfer -> mesh placement -> warp of the
 * reference (closing lids sample their skin, opening lips their colour) -> closing lids and the mouth interior painted.
 * When the driver's face is lost, the last pose is held and eases back to neutral (the
 * reference itself) over about half a second; when it comes back, the pose eases in again.
 * Everything is allocated once per reference.
 */
import { PersonaLiveError } from '../../errors.js';
import type { RgbImage } from '../../frames.js';
import { LandmarkSmoother, LANDMARK_SMOOTHING, type OneEuroParams } from './tracking/one-euro.js';
import { LANDMARK_COUNT } from './tracking/types.js';
import { EyelidRenderer } from './eyelids.js';
import { LipSources } from './lips.js';
import { DEFAULT_MOUTH_FILL_OPTIONS, DRIVER_INTERIOR_OPENING, fillMouthInterior, lipColour, mouthOpenness, smoothstep, type DriverMouth, type MouthFillStats, type MouthSource } from './mouth.js';
import { buildWarpTopology, MOUTH_INDICES, placeDepths, placeVertices, type WarpTopology } from './topology.js';
import { MotionTransfer, type TransferInfo, type TransferOptions } from './transfer.js';
import type { ExpressionControls } from '../../kinds.js';
import { createMeshWarper, type MeshWarper } from './warp.js';

/**
 * Depth scale for head turns (TransferOptions.depthScale). A 2D mesh cannot show the far
 * cheek going out of sight or the near cheek's side coming into view; what tore at the face
 * edge on turns was the silhouette's deep points (the face oval lies ~0.4 face units behind
 * the cheek next to it), now compressed by the transfer's silhouette depth knee, so turns
 * keep their full depth. eval:meshwarp sweep (whole demo video, portraits 3 / 1): without the
 * knee, depth 0.8 -> yaw correlation 0.921 / 0.960, yaw error 3.4 / 2.6 deg (the output turned
 * ~80% as far as the driver) with a jagged dark band at the near cheek on turns of 20 deg;
 * knee and depth 1 -> 0.916 / 0.960, 2.2 / 1.5 deg, the cheek edge clean.
 */
export const DEFAULT_DEPTH_SCALE = 1;

/**
 * Depth scale for nods (TransferOptions.verticalDepthScale). A nod moves the chin and the
 * forehead's edge, which do not fold over the face as the cheek silhouette does on a turn,
 * so pitch keeps its true 3D; flattened like turns once were (0.6), the output nodded ~20%
 * less than the driver (pitch mean error 3.8-5.1 deg on 300 frames, eval:meshwarp).
 */
export const DEFAULT_VERTICAL_DEPTH_SCALE = 1;

/** How much of the mouth interior is the driver's own at most (the rest: the synthetic one, whose teeth stay readable). */
export const DRIVER_INTERIOR_WEIGHT = 0.6;

/**
 * Smoothing of the lips and jaw: they jump further in a frame than anything else (a mouth
 * shutting on "p", "b", "m": 23 px in 40 ms in the demo video), and with the face's smoothing
 * (its derivative filtered at 0.5 Hz) the shown mouth was still 40 % open one frame after the
 * driver's had shut, a closed mouth rendered open (portrait-3's closed-mouth frames). A faster
 * derivative and a larger beta let such a jump through within the frame; a still mouth stays
 * as smooth (minCutoff unchanged).
 */
export const MOUTH_SMOOTHING: Readonly<OneEuroParams> = Object.freeze({ minCutoff: 1, beta: 0.6, dCutoff: 2 });

/** How long a lost face takes to ease back to neutral, and a found one to ease in. */
export const EASE_TO_NEUTRAL_MS = 500;
export const EASE_IN_MS = 150;

export interface AnimatorFrameInfo {
  /** 'tracked': driven by this frame's face; 'holding': no face, easing towards neutral. */
  state: 'tracked' | 'holding';
  transfer: TransferInfo;
  mouthOpened: boolean;
}

export class MeshwarpAnimator {
  readonly width: number;
  readonly height: number;
  private readonly reference: RgbImage;
  private readonly referenceLandmarks: Float32Array;
  private readonly topology: WarpTopology;
  private readonly warper: MeshWarper;
  private readonly transfer: MotionTransfer;
  /** The face's smoothing, the lips and jaw with MOUTH_SMOOTHING. */
  private readonly smoother: LandmarkSmoother;
  private readonly smoothed = new Float32Array(LANDMARK_COUNT * 3);
  private readonly animated = new Float32Array(LANDMARK_COUNT * 3);
  /** The pose shown at the last moment the state changed (lost or found), for easing. */
  private readonly easeFrom = new Float32Array(LANDMARK_COUNT * 3);
  private readonly shown = new Float32Array(LANDMARK_COUNT * 3);
  private readonly vertices: Float32Array;
  /**
   * The warp's source positions: the topology's, but closing eyes and opening lips sample
   * their own (EyelidRenderer: the lid band its skin, the eye's inside the eye at its own
   * scale; LipSources: the lips past the seam).
   */
  private readonly sources: Float32Array;
  private readonly eyelids: EyelidRenderer;
  private readonly lips: LipSources;
  private readonly depths: Float32Array;
  private readonly info: TransferInfo = { rotation: { pitch: 0, yaw: 0, roll: 0 }, translation: [0, 0], scaleRatio: 1 };
  private readonly mouthStats: MouthFillStats = { filled: false, pixels: 0 };
  /** The driver's own mouth interior for the fill (see render), and the portrait's lip colour it is matched to. */
  private readonly mouthSource: MouthSource;
  private readonly portraitLips = new Float64Array(3);
  private readonly driverLips = new Float64Array(3);
  private readonly hasPortraitLips: boolean;
  private lostAt: number | null = null;
  private foundAt: number | null = null;
  private everTracked = false;

  /**
   * @param reference the portrait at output size (its pixels are the warp's source).
   * @param referenceLandmarks its tracked face (LANDMARK_COUNT x 3, pixels).
   */
  constructor(reference: RgbImage, referenceLandmarks: Float32Array, transferOptions: TransferOptions = {}, smoothing: OneEuroParams = LANDMARK_SMOOTHING) {
    this.smoother = new LandmarkSmoother(smoothing, LANDMARK_COUNT, { indices: MOUTH_INDICES, params: MOUTH_SMOOTHING });
    if (referenceLandmarks.length !== LANDMARK_COUNT * 3) {
      throw new PersonaLiveError('INTERNAL', `reference landmarks: expected ${LANDMARK_COUNT * 3} values, got ${referenceLandmarks.length}`);
    }
    this.width = reference.width;
    this.height = reference.height;
    this.reference = reference;
    this.referenceLandmarks = Float32Array.from(referenceLandmarks);
    this.topology = buildWarpTopology(this.referenceLandmarks, reference.width, reference.height);
    this.warper = createMeshWarper(reference, reference.width, reference.height, undefined, { drawBackFaces: true });
    this.transfer = new MotionTransfer(this.referenceLandmarks, { depthScale: DEFAULT_DEPTH_SCALE, verticalDepthScale: DEFAULT_VERTICAL_DEPTH_SCALE, ...transferOptions });
    this.vertices = new Float32Array(2 * this.topology.vertexCount);
    this.sources = Float32Array.from(this.topology.referenceVertices);
    this.eyelids = new EyelidRenderer(reference, this.referenceLandmarks, this.topology);
    this.lips = new LipSources(this.referenceLandmarks);
    this.depths = new Float32Array(this.topology.vertexCount);
    this.shown.set(this.referenceLandmarks);
    this.hasPortraitLips = lipColour(reference.data, reference.width, reference.height, this.referenceLandmarks, 0, 0, this.portraitLips);
    this.mouthSource = { mouth: { data: new Uint8Array(0), x: 0, y: 0, width: 0, height: 0 }, landmarks: this.referenceLandmarks, gain: new Float64Array(3), weight: 0 };
  }

  get warpImplementation(): string {
    return this.warper.implementation;
  }

  /** New expression controls: the next frame follows them. */
  setControls(controls: ExpressionControls): void {
    this.transfer.setControls(controls);
  }

  /** "This is my neutral face": the next tracked face becomes the anchor; smoothing and easing go on. */
  calibrate(): void {
    this.transfer.resetAnchor(true);
  }

  /** Restarts the motion: the next tracked face becomes the new anchor (neutral). */
  reset(): void {
    this.transfer.resetAnchor();
    this.smoother.reset();
    this.shown.set(this.referenceLandmarks);
    this.lostAt = null;
    this.foundAt = null;
    this.everTracked = false;
  }

  /**
   * Renders one frame into `out` (width x height x 3 RGB bytes).
   * @param driving the driver's landmarks for this frame, or null when no face was found.
   * @param driverMouth the driving frame's mouth (cropDriverMouth, same frame as `driving`):
   *   an open mouth shows the driver's own interior, colour-matched to the portrait's lips;
   *   without it (or with the driver's mouth too closed to show one) the synthetic interior.
   */
  render(driving: Float32Array | null, timestampMs: number, out: Uint8Array, driverMouth: DriverMouth | null = null): AnimatorFrameInfo {
    let state: AnimatorFrameInfo['state'];
    if (driving) {
      this.smoother.smooth(driving, timestampMs, this.smoothed);
      this.transfer.transfer(this.smoothed, this.animated, this.info, timestampMs);
      if (this.lostAt !== null) {
        this.lostAt = null;
        this.foundAt = timestampMs;
        this.easeFrom.set(this.shown);
      }
      const k = this.foundAt === null ? 1 : smoothstep(0, 1, (timestampMs - this.foundAt) / EASE_IN_MS);
      if (k >= 1) this.foundAt = null;
      blend(this.easeFrom, this.animated, k, this.shown);
      this.everTracked = true;
      state = 'tracked';
    } else {
      if (this.lostAt === null) {
        this.lostAt = timestampMs;
        this.easeFrom.set(this.shown);
        // The smoother must not pull the returning face from a stale position.
        this.smoother.reset();
      }
      const k = this.everTracked ? smoothstep(0, 1, (timestampMs - this.lostAt) / EASE_TO_NEUTRAL_MS) : 1;
      blend(this.easeFrom, this.referenceLandmarks, k, this.shown);
      state = 'holding';
    }

    this.draw(this.shown, out, this.driverInterior(driving, driverMouth));
    return { state, transfer: this.info, mouthOpened: this.mouthStats.filled };
  }

  /**
   * Draws the portrait with the given landmarks as they are (no transfer, smoothing or easing;
   * the synthetic mouth interior), for probes of how a shown face reads back
   * (bench/meshwarp-eye-response.ts). The motion state is left as it was.
   */
  renderShown(shown: Float32Array, out: Uint8Array): void {
    if (shown.length !== LANDMARK_COUNT * 3) throw new PersonaLiveError('INTERNAL', `shown landmarks: expected ${LANDMARK_COUNT * 3} values, got ${shown.length}`);
    this.draw(shown, out, null);
  }

  /** Mesh placement, the warp (closing lids and opening lips sampling their own), lids and the mouth interior painted. */
  private draw(shown: Float32Array, out: Uint8Array, interior: MouthSource | null): void {
    placeVertices(this.topology, shown, this.vertices);
    placeDepths(this.topology, shown, this.depths);
    this.eyelids.placeSources(shown, this.topology.referenceVertices, this.sources);
    this.lips.placeSources(shown, this.topology.referenceVertices, this.sources);
    this.warper.render(this.sources, this.vertices, this.topology.triangles, out, this.depths);
    this.eyelids.paintLids(out, this.width, this.height, shown);
    fillMouthInterior(out, this.width, this.height, shown, this.referenceLandmarks, this.mouthStats, DEFAULT_MOUTH_FILL_OPTIONS, interior);
  }

  /** The driver's interior for this frame's mouth fill, or null (the synthetic one). */
  private driverInterior(driving: Float32Array | null, mouth: DriverMouth | null): MouthSource | null {
    if (!driving || !mouth || !this.hasPortraitLips) return null;
    const weight = DRIVER_INTERIOR_WEIGHT * smoothstep(DRIVER_INTERIOR_OPENING[0], DRIVER_INTERIOR_OPENING[1], mouthOpenness(driving));
    if (!(weight > 0) || !lipColour(mouth.data, mouth.width, mouth.height, driving, mouth.x, mouth.y, this.driverLips)) return null;
    const source = this.mouthSource;
    // Lighting and white balance: the driver's lips' colour taken to the portrait's, within limits.
    for (let c = 0; c < 3; c++) source.gain[c] = Math.min(2, Math.max(0.5, this.portraitLips[c] / Math.max(1, this.driverLips[c])));
    source.mouth = mouth;
    source.landmarks = driving;
    source.weight = weight;
    return source;
  }

  /** The landmarks of the last rendered frame (for tests and the panel overlay). */
  get shownLandmarks(): Float32Array {
    return this.shown;
  }

  get referenceImage(): RgbImage {
    return this.reference;
  }
}

function blend(a: Float32Array, b: Float32Array, k: number, out: Float32Array): void {
  if (k >= 1) {
    out.set(b);
    return;
  }
  const j = 1 - k;
  for (let i = 0; i < out.length; i++) out[i] = a[i] * j + b[i] * k;
}
