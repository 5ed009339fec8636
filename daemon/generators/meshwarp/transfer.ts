/**
 * Relative motion transfer on face-mesh landmarks (LivePortrait / PersonaLive style): the
 * reference keeps its identity, shape and framing; the driver's head rotation relative to
 * its first frame rotates the reference; its translation and scale change relative to the
 * first frame move the reference, scaled to the reference's face size; its expression,
 * as per-landmark deltas from the first frame measured in a size- and rotation-normalised
 * frame, is added to the reference's landmarks. Pure maths over Float32Array landmarks
 * (LANDMARK_COUNT x 3, pixels), no allocation per frame.
 */
import { PersonaLiveError } from '../../errors.js';
import { LANDMARK_COUNT } from './tracking/types.js';
import { BROW_INDICES, EYELIDS, INNER_LIP_LOWER, INNER_LIP_UPPER, MOUTH_INDICES } from './topology.js';
import { closeLips, measureLowerFace, MOUTH_CORNERS, NeutralFace, NOSE_BASE } from './neutral.js';
import { eyeOpenness, smoothstep } from './mouth.js';
import { DEFAULT_EXPRESSION_CONTROLS, type ExpressionControls } from '../../kinds.js';

/**
 * Landmarks that move with the skull but not with expressions (forehead, temples, upper
 * face oval to ear level, nose bridge and tip, eye corners, cheekbones): rotation, centre
 * and scale are estimated from these only, so opening the mouth or raising the brows does
 * not read as a head movement.
 */
export const RIGID_INDICES: readonly number[] = [
  10, 109, 67, 103, 54, 21, 162, 127, 234, 338, 297, 332, 284, 251, 389, 356, 454,
  168, 6, 197, 195, 5, 4, 1, 33, 133, 362, 263, 116, 345, 123, 352, 151, 9,
];

/** Inner-lip opening (normalised face units, about 2 px on a 512-px portrait) taken out near closed (see uncrossLips). */
export const LIP_DEADBAND = 0.03;

/** x minus a dead band d, smoothly: 0 at 0, x^2 / 4d up to 2d, then x - d (continuous, with its slope). */
export function softDeadband(x: number, d: number): number {
  if (x <= 0) return 0;
  return x < 2 * d ? (x * x) / (4 * d) : x - d;
}

/**
 * How open the face tracker reads a rendered eye (a fraction of the portrait's open eye) for
 * each shown closure (the shown opening over the portrait's), as [shown, read] pairs: the lids
 * placed at that closure on six portraits (eyelids that cover the eye, lid and lash line
 * painted), read back in image mode, both eyes averaged (`npm run eval:eye-response`; mean of
 * six: 0.265, 0.302, 0.572, 0.726, 0.837 at the points below). The tracker reads
 * a closing eye short: an eye shown 46 % open reads 72 %, a shut one 27 % (the driver's shut
 * eyes read 7-40 % of their median in the demo video, the same way). eyeClosure inverts it, so
 * the portrait's eye reads back as open as the driver's does: the same tracker sees both. No
 * point between 64 % and open: the tracker barely tells the two apart (0.84 vs 1), and the
 * steeper inverse there would pass a still driver's eye noise on to the lids magnified; the
 * inverse runs straight from (0.84, 0.64) to (1, 1) (slope 2.25; 1.33 before the table).
 * One portrait reads 10-20 points off the mean (portrait-5 more open, portrait-4 more closed);
 * a per-portrait table measured at load was tried and dropped: on 600 frames of the demo video
 * the eye gain read back went reference 0.91 -> 0.89, portrait-1 0.64 -> 0.68, portrait-4 0.87
 * -> 0.77 (probably: a still, frontal probe does not read as the live frames do).
 */
export const EYE_RESPONSE: readonly (readonly [number, number])[] = Object.freeze([
  [0, 0.27], [0.1, 0.32], [0.28, 0.575], [0.46, 0.72], [0.64, 0.84], [1, 1],
].map((p) => Object.freeze(p as [number, number])));
/** A driver's eye read this much as open as at rest (or less) is shut (see eyeClosure). */
export const EYE_SHUT_RATIO = EYE_RESPONSE[0]![1];
/** How much wider than the portrait's own an eye may open (its lid texture stretches that far). */
export const EYE_WIDEN_LIMIT = 1.1;

/**
 * Gains that give back what the face tracker misses of an expression. The tracker reads
 * motion short (a regression towards its mean face): reading back the rendered frames, it
 * found 60-95 % of the mouth opening and mouth width, 50-70 % of the jaw drop and 50-85 % of
 * the brow raise that the landmarks were moved by (eval:meshwarp, "intended" vs "rendered",
 * whole demo video, six portraits). The driver's landmarks come from the same tracker, so its
 * expressions are read as short; these gains bring the portrait's motion back to the
 * driver's, as the same tracker sees both. Lower face: from 0 at the nose base to 1 at the
 * mouth corners and below. Not the jaw on its own: a chin taken 1.65x further (to give back
 * its 50-70 %) dropped onto the neck and collar, where the tracker lost it altogether (jaw
 * correlation 0.85 -> 0.1-0.66, and it looked like a long-jawed caricature).
 */
export const EXPRESSION_GAIN = Object.freeze({ lowerFace: 1.3, brows: 1.4 });

/** See TransferOptions.silhouetteDepthKnee / silhouetteDepthRange. */
export const DEFAULT_SILHOUETTE_DEPTH_KNEE = 0.3;
export const DEFAULT_SILHOUETTE_DEPTH_RANGE = 0.3;

/** A 3x3 rotation, row-major. */
export type Mat3 = Float64Array;

export interface FaceFrame {
  /** Centre of the rigid points, pixels. */
  centroid: Float64Array;
  /** RMS distance of the rigid points from their centre, pixels. */
  scale: number;
}

export interface EulerDegrees {
  pitch: number;
  yaw: number;
  roll: number;
}

/**
 * Normalises landmarks: out = (L - centroid) / scale, centroid and scale from the rigid
 * points. Returns the frame (written into `frame`).
 */
export function normalizeFace(landmarks: Float32Array, out: Float64Array, frame: FaceFrame): FaceFrame {
  let cx = 0;
  let cy = 0;
  let cz = 0;
  for (const i of RIGID_INDICES) {
    cx += landmarks[3 * i];
    cy += landmarks[3 * i + 1];
    cz += landmarks[3 * i + 2];
  }
  const n = RIGID_INDICES.length;
  cx /= n;
  cy /= n;
  cz /= n;
  let ss = 0;
  for (const i of RIGID_INDICES) {
    const dx = landmarks[3 * i] - cx;
    const dy = landmarks[3 * i + 1] - cy;
    const dz = landmarks[3 * i + 2] - cz;
    ss += dx * dx + dy * dy + dz * dz;
  }
  const scale = Math.sqrt(ss / n) || 1;
  for (let i = 0; i < LANDMARK_COUNT; i++) {
    out[3 * i] = (landmarks[3 * i] - cx) / scale;
    out[3 * i + 1] = (landmarks[3 * i + 1] - cy) / scale;
    out[3 * i + 2] = (landmarks[3 * i + 2] - cz) / scale;
  }
  frame.centroid[0] = cx;
  frame.centroid[1] = cy;
  frame.centroid[2] = cz;
  frame.scale = scale;
  return frame;
}

export function createFaceFrame(): FaceFrame {
  return { centroid: new Float64Array(3), scale: 1 };
}

const scratchN = new Float64Array(16);
const scratchV = new Float64Array(16);

/**
 * The rotation R minimising sum |R a_i - b_i|^2 over the rigid points of two normalised
 * (centred) point sets: Horn's quaternion method, the eigenvector of the largest
 * eigenvalue of a symmetric 4x4 matrix, found by Jacobi rotations.
 */
export function bestRotation(a: Float64Array, b: Float64Array, out: Mat3 = new Float64Array(9)): Mat3 {
  let sxx = 0, sxy = 0, sxz = 0, syx = 0, syy = 0, syz = 0, szx = 0, szy = 0, szz = 0;
  for (const i of RIGID_INDICES) {
    const ax = a[3 * i], ay = a[3 * i + 1], az = a[3 * i + 2];
    const bx = b[3 * i], by = b[3 * i + 1], bz = b[3 * i + 2];
    sxx += ax * bx; sxy += ax * by; sxz += ax * bz;
    syx += ay * bx; syy += ay * by; syz += ay * bz;
    szx += az * bx; szy += az * by; szz += az * bz;
  }
  const N = scratchN;
  N[0] = sxx + syy + szz; N[1] = syz - szy; N[2] = szx - sxz; N[3] = sxy - syx;
  N[4] = N[1]; N[5] = sxx - syy - szz; N[6] = sxy + syx; N[7] = szx + sxz;
  N[8] = N[2]; N[9] = N[6]; N[10] = -sxx + syy - szz; N[11] = syz + szy;
  N[12] = N[3]; N[13] = N[7]; N[14] = N[11]; N[15] = -sxx - syy + szz;
  const V = scratchV;
  jacobiEigen4(N, V);
  let best = 0;
  for (let k = 1; k < 4; k++) if (N[5 * k] > N[5 * best]) best = k;
  const w = V[best], x = V[4 + best], y = V[8 + best], z = V[12 + best];
  out[0] = w * w + x * x - y * y - z * z; out[1] = 2 * (x * y - w * z); out[2] = 2 * (x * z + w * y);
  out[3] = 2 * (x * y + w * z); out[4] = w * w - x * x + y * y - z * z; out[5] = 2 * (y * z - w * x);
  out[6] = 2 * (x * z - w * y); out[7] = 2 * (y * z + w * x); out[8] = w * w - x * x - y * y + z * z;
  return out;
}

/** In place: A (symmetric 4x4, row-major) becomes diagonal (eigenvalues); V gets the eigenvectors as columns. */
function jacobiEigen4(A: Float64Array, V: Float64Array): void {
  V.fill(0);
  V[0] = V[5] = V[10] = V[15] = 1;
  for (let sweep = 0; sweep < 30; sweep++) {
    let off = 0;
    for (let p = 0; p < 4; p++) for (let q = p + 1; q < 4; q++) off += A[4 * p + q] * A[4 * p + q];
    if (off < 1e-22) return;
    for (let p = 0; p < 4; p++) {
      for (let q = p + 1; q < 4; q++) {
        const apq = A[4 * p + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (A[4 * q + q] - A[4 * p + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < 4; k++) {
          const akp = A[4 * k + p], akq = A[4 * k + q];
          A[4 * k + p] = c * akp - s * akq;
          A[4 * k + q] = s * akp + c * akq;
        }
        for (let k = 0; k < 4; k++) {
          const apk = A[4 * p + k], aqk = A[4 * q + k];
          A[4 * p + k] = c * apk - s * aqk;
          A[4 * q + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < 4; k++) {
          const vkp = V[4 * k + p], vkq = V[4 * k + q];
          V[4 * k + p] = c * vkp - s * vkq;
          V[4 * k + q] = s * vkp + c * vkq;
        }
      }
    }
  }
}

/**
 * Euler angles of R = Rz(roll) Ry(yaw) Rx(pitch), in degrees (image coordinates: x right,
 * y down, z away from the camera).
 */
export function eulerDegrees(R: Mat3, out: EulerDegrees = { pitch: 0, yaw: 0, roll: 0 }): EulerDegrees {
  const deg = 180 / Math.PI;
  const sy = Math.max(-1, Math.min(1, -R[6]));
  out.yaw = Math.asin(sy) * deg;
  out.pitch = Math.atan2(R[7], R[8]) * deg;
  out.roll = Math.atan2(R[3], R[0]) * deg;
  return out;
}

/** R = Rz(roll) Ry(yaw) Rx(pitch), degrees; row-major. */
export function rotationFromEuler(pitch: number, yaw: number, roll: number, out: Mat3 = new Float64Array(9)): Mat3 {
  const r = Math.PI / 180;
  const cx = Math.cos(pitch * r), sx = Math.sin(pitch * r);
  const cy = Math.cos(yaw * r), sy = Math.sin(yaw * r);
  const cz = Math.cos(roll * r), sz = Math.sin(roll * r);
  out[0] = cz * cy; out[1] = cz * sy * sx - sz * cx; out[2] = cz * sy * cx + sz * sx;
  out[3] = sz * cy; out[4] = sz * sy * sx + cz * cx; out[5] = sz * sy * cx - cz * sx;
  out[6] = -sy; out[7] = cy * sx; out[8] = cy * cx;
  return out;
}

export interface TransferOptions {
  /** Multiplies the driver's translation (relative to its first frame); default 1. */
  translationScale?: number;
  /** Multiplies the expression deltas; default 1. */
  expressionScale?: number;
  /** Follow the driver's distance to the camera (face size ratio); default true. */
  followScale?: boolean;
  /**
   * Scales the reference's depth (z) before the head rotation is applied; default 1 (true
   * 3D). Below 1 flattens the parallax of a turn: silhouette points, which have the largest
   * z, then move less relative to the cheeks and the 2D mesh folds less.
   */
  depthScale?: number;
  /**
   * The depth scale for vertical motion (pitch: nodding), default: depthScale. The tearing
   * that depthScale avoids comes from the cheeks' silhouette under yaw; a nod moves the
   * chin and forehead edges, which fold far less, so pitch can keep more of its true 3D.
   */
  verticalDepthScale?: number;
  /**
   * Depth beyond which the reference's depth is compressed, in normalised face units (the
   * rigid points' RMS radius; the nose tip is about -0.7, the eye corners 0, the cheeks
   * 0.5-0.6, the face oval 0.85-1). Points deeper than the knee get
   * knee + range * tanh((z - knee) / range), so nothing lies deeper than knee + range.
   * Why: along the silhouette, points a few pixels apart on screen lie up to 0.4 apart in
   * depth (cheek vs. face oval); a turn or nod moves them apart by that much parallax and the
   * thin triangles between them fold, showing mirrored texture from beyond the face edge
   * (a jagged dark band at the cheek). Compressing only the deep points keeps the front of
   * the face (nose, eyes, mouth) at full parallax. Default 0.3; Infinity turns it off.
   */
  silhouetteDepthKnee?: number;
  /** How much depth the compressed points keep beyond the knee (see silhouetteDepthKnee); default 0.3. */
  silhouetteDepthRange?: number;
  /** The user's expression controls (kinds.ts); default all 1, relative head pose. */
  controls?: ExpressionControls;
}

/** What one transfer did, for stats and evaluation. */
export interface TransferInfo {
  /** The driver's head rotation relative to its first frame. */
  rotation: EulerDegrees;
  /** Translation relative to the first frame, in reference pixels. */
  translation: [number, number];
  scaleRatio: number;
}

/**
 * Stateful transfer: fixed reference, an anchor (the driver's first frame), then one call
 * per driving frame.
 */
export class MotionTransfer {
  private readonly reference = new Float64Array(3 * LANDMARK_COUNT);
  private readonly referenceFrame = createFaceFrame();
  private readonly anchor = new Float64Array(3 * LANDMARK_COUNT);
  private readonly anchorFrame = createFaceFrame();
  private readonly current = new Float64Array(3 * LANDMARK_COUNT);
  private readonly currentFrame = createFaceFrame();
  /** Rotation taking the anchor's orientation to the reference's (expression deltas are re-expressed with it). */
  private readonly align = new Float64Array(9);
  private readonly relative = new Float64Array(9);
  private hasAnchor = false;
  private nextAnchorExplicit = false;
  private readonly unrotated = new Float64Array(3 * LANDMARK_COUNT);
  private readonly neutral = new NeutralFace();
  private readonly options: Required<TransferOptions>;
  /** Per-landmark multiplier from the user's controls (mouth, eyes, brows). */
  private readonly controlGain = new Float64Array(LANDMARK_COUNT).fill(1);
  /** Per-landmark EXPRESSION_GAIN, from the portrait's geometry. */
  private readonly expressionGain = new Float64Array(LANDMARK_COUNT);
  /** The portrait's lower face (measureLowerFace), to close parted lips. */
  private readonly jawWeight = new Float64Array(LANDMARK_COUNT);
  private readonly lateral = new Float64Array(3);
  private readonly down = new Float64Array(3);
  private controls: ExpressionControls = { ...DEFAULT_EXPRESSION_CONTROLS };
  private readonly headRotation = new Float64Array(9);
  private readonly absolute = new Float64Array(9);
  private readonly headAngles: EulerDegrees = { pitch: 0, yaw: 0, roll: 0 };

  constructor(referenceLandmarks: Float32Array, options: TransferOptions = {}) {
    this.options = {
      translationScale: 1,
      expressionScale: 1,
      followScale: true,
      depthScale: 1,
      verticalDepthScale: options.depthScale ?? 1,
      controls: DEFAULT_EXPRESSION_CONTROLS,
      silhouetteDepthKnee: DEFAULT_SILHOUETTE_DEPTH_KNEE,
      silhouetteDepthRange: DEFAULT_SILHOUETTE_DEPTH_RANGE,
      ...options,
    };
    if (!(this.options.silhouetteDepthRange > 0)) throw new PersonaLiveError('USAGE', `silhouetteDepthRange must be > 0, got ${this.options.silhouetteDepthRange}`);
    normalizeFace(referenceLandmarks, this.reference, this.referenceFrame);
    // A portrait with parted lips is animated from the same face with its lips closed, so a
    // closed driver mouth gives closed lips (its own teeth show again as the driver opens).
    measureLowerFace(this.reference, this.jawWeight, this.lateral, this.down);
    closeLips(this.reference, this.jawWeight, this.down);
    expressionGains(this.reference, this.expressionGain);
    this.setControls(this.options.controls);
  }

  /** New expression controls: the next frame follows them (no restart, no re-anchor). */
  setControls(controls: ExpressionControls): void {
    this.controls = { ...controls };
    this.controlGain.fill(1);
    for (const i of MOUTH_INDICES) this.controlGain[i] = controls.mouth;
    for (const i of BROW_INDICES) this.controlGain[i] = controls.brows;
    for (const eye of [EYELIDS.right, EYELIDS.left]) for (const i of [...eye.upper, ...eye.lower]) this.controlGain[i] = controls.eyes;
  }

  get anchored(): boolean {
    return this.hasAnchor;
  }

  /**
   * Sets the driver's frame that head motion is measured against, and that the neutral face
   * starts from (see NeutralFace). `explicit`: the user said this is their neutral face.
   */
  setAnchor(driving: Float32Array, explicit = false): void {
    normalizeFace(driving, this.anchor, this.anchorFrame);
    bestRotation(this.anchor, this.reference, this.align);
    this.neutral.reset(this.anchor, explicit);
    this.hasAnchor = true;
  }

  /** The next frame becomes the anchor; `explicit`: a calibration ("this is my neutral face"). */
  resetAnchor(explicit = false): void {
    this.hasAnchor = false;
    this.nextAnchorExplicit = explicit;
  }

  /**
   * Animated reference landmarks for one driving frame (the first call anchors).
   * `out` gets LANDMARK_COUNT x 3 floats in the reference image's pixels.
   */
  transfer(driving: Float32Array, out: Float32Array, info?: TransferInfo, timestampMs?: number): TransferInfo | undefined {
    if (!this.hasAnchor) this.setAnchor(driving, this.nextAnchorExplicit);
    const o = this.options;
    const P0 = this.anchor;
    const Pt = this.current;
    normalizeFace(driving, Pt, this.currentFrame);
    // The driver's turn since the neutral frame: it also un-rotates the expression below.
    const Rrel = bestRotation(P0, Pt, this.relative);
    const A = this.align;
    const Pr = this.reference;
    const ref = this.referenceFrame;
    const Rt = this.headPose(Rrel);
    const ratio = o.followScale ? this.currentFrame.scale / this.anchorFrame.scale : 1;
    const pixelScale = ref.scale * ratio;
    const k = (o.translationScale * this.controls.head * ref.scale) / this.anchorFrame.scale;
    const tx = (this.currentFrame.centroid[0] - this.anchorFrame.centroid[0]) * k;
    const ty = (this.currentFrame.centroid[1] - this.anchorFrame.centroid[1]) * k;
    const tz = (this.currentFrame.centroid[2] - this.anchorFrame.centroid[2]) * k;
    const e = o.expressionScale;

    // The current frame in the anchor's orientation (un-rotated); the neutral learns from it.
    const U = this.unrotated;
    for (let i = 0; i < LANDMARK_COUNT; i++) {
      const j = 3 * i;
      const px = Pt[j], py = Pt[j + 1], pz = Pt[j + 2];
      U[j] = Rrel[0] * px + Rrel[3] * py + Rrel[6] * pz;
      U[j + 1] = Rrel[1] * px + Rrel[4] * py + Rrel[7] * pz;
      U[j + 2] = Rrel[2] * px + Rrel[5] * py + Rrel[8] * pz;
    }
    this.neutral.update(U, timestampMs);
    const N = this.neutral.landmarks;
    for (let i = 0; i < LANDMARK_COUNT; i++) {
      const j = 3 * i;
      // Expression: the un-rotated frame minus the neutral face.
      const ux = U[j] - N[j];
      const uy = U[j + 1] - N[j + 1];
      const uz = U[j + 2] - N[j + 2];
      // Re-expressed in the reference's orientation and added to its landmarks.
      const g = e * this.controlGain[i] * this.expressionGain[i];
      const qx = Pr[j] + g * (A[0] * ux + A[1] * uy + A[2] * uz);
      const qy = Pr[j + 1] + g * (A[3] * ux + A[4] * uy + A[5] * uz);
      const qz = Pr[j + 2] + g * (A[6] * ux + A[7] * uy + A[8] * uz);
      this.scratch[j] = qx;
      this.scratch[j + 1] = qy;
      this.scratch[j + 2] = qz;
    }
    this.placeUpperLids();
    this.uncrossLips();
    const S = this.scratch;
    const depth = o.depthScale;
    const verticalDepth = o.verticalDepthScale;
    const knee = o.silhouetteDepthKnee;
    const range = o.silhouetteDepthRange;
    for (let i = 0; i < LANDMARK_COUNT; i++) {
      const j = 3 * i;
      const z = S[j + 2] > knee ? knee + range * Math.tanh((S[j + 2] - knee) / range) : S[j + 2];
      const qx = S[j], qy = S[j + 1], qz = z * depth;
      out[j] = (Rt[0] * qx + Rt[1] * qy + Rt[2] * qz) * pixelScale + ref.centroid[0] + tx;
      out[j + 1] = (Rt[3] * qx + Rt[4] * qy + Rt[5] * z * verticalDepth) * pixelScale + ref.centroid[1] + ty;
      // Depth keeps what the knee took off, so the anchor frame gives back the reference.
      out[j + 2] = (Rt[6] * qx + Rt[7] * qy + Rt[8] * qz + (S[j + 2] - z) * depth) * pixelScale + ref.centroid[2] + tz;
    }
    if (info) {
      eulerDegrees(Rt, info.rotation);
      info.translation[0] = tx;
      info.translation[1] = ty;
      info.scaleRatio = ratio;
      return info;
    }
    return undefined;
  }

  private readonly scratch = new Float64Array(3 * LANDMARK_COUNT);

  /**
   * Lips never cross: expression deltas added to the portrait's lips can carry the lower lip
   * above the upper one (a driver who closes a mouth that was open in the neutral frame, a
   * portrait whose lips are thinner than the driver's); each crossed pair of facing inner-lip
   * points is closed at its midpoint instead, in the portrait's upright frame, so a closed
   * driver mouth gives closed lips.
   */
  private uncrossLips(): void {
    const S = this.scratch;
    const Pr = this.reference;
    for (let k = 1; k < INNER_LIP_UPPER.length - 1; k++) {
      const u = 3 * INNER_LIP_UPPER[k]! + 1;
      const l = 3 * INNER_LIP_LOWER[k]! + 1;
      // Closed (gap 0) at most; never past what the portrait itself has there.
      const floor = Math.min(0, Pr[l]! - Pr[u]!);
      if (S[l]! - S[u]! < floor) {
        const mid = (S[u]! + S[l]!) / 2;
        S[u] = mid - floor / 2;
        S[l] = mid + floor / 2;
      }
      // Nearly closed is closed: the neutral is the driver's most closed mouth, so its ordinary
      // closed frames sit a little above it, and that sliver, opened in the portrait and painted,
      // read as a dark band between closed lips (2x the portrait's seam on smiling portraits).
      // The first LIP_DEADBAND of opening past the portrait's own gap is taken out smoothly.
      const rest = Math.max(0, Pr[l]! - Pr[u]!);
      const excess = S[l]! - S[u]! - rest;
      if (excess > 0) S[l] = S[u]! + rest + softDeadband(excess, LIP_DEADBAND);
    }
  }

  /**
   * The head rotation shown: relative (the driver's turn since the neutral frame, times the
   * head control) or absolute (the turn from the portrait's own pose to the driver's: a
   * portrait looking aside faces the camera when the driver does), scaled by the head control.
   */
  private headPose(relative: Mat3): Mat3 {
    const head = this.controls.head;
    if (this.controls.headPose === 'relative' && head === 1) return relative;
    // Absolute: the rotation that takes the portrait's face to the driver's current one.
    const base = this.controls.headPose === 'absolute' ? bestRotation(this.reference, this.current, this.absolute) : relative;
    if (head === 1) return base;
    const angles = eulerDegrees(base, this.headAngles);
    return rotationFromEuler(angles.pitch * head, angles.yaw * head, angles.roll * head, this.headRotation);
  }

  /**
   * Eyelids: each eye's opening is the portrait's own times a closure factor from the driver's
   * eye, measured against its neutral (eyeClosure), applied to the upper lid, which is placed
   * at the lower lid plus the portrait's lid-to-lid offsets times that factor (in the
   * portrait's upright frame). So a blink shuts the eye fully whatever the two eyes' sizes,
   * the lid keeps the portrait's shape instead of crumpling, and the eye never opens far past
   * the portrait's (it has no pixels above its lids). The lower lid follows its deltas.
   */
  private placeUpperLids(): void {
    const S = this.scratch;
    const Pr = this.reference;
    for (const side of ['right', 'left'] as const) {
      // A neutral eye read as shut (or crossed) says nothing about this one: the portrait's opening.
      const neutral = eyeOpenness(this.neutral.landmarks, side);
      const ratio = neutral > 1e-3 ? eyeOpenness(this.unrotated, side) / neutral : 1;
      const closure = 1 + this.controls.eyes * (eyeClosure(ratio) - 1);
      const c = Math.min(EYE_WIDEN_LIMIT, Math.max(0, closure));
      const eye = EYELIDS[side];
      for (let k = 0; k < eye.upper.length; k++) {
        const u = 3 * eye.upper[k];
        const l = 3 * eye.lower[k];
        for (let d = 0; d < 3; d++) S[u + d] = S[l + d] + c * (Pr[u + d] - Pr[l + d]);
      }
    }
  }
}

/**
 * Per-landmark expression gain (EXPRESSION_GAIN) for a face (normalised landmarks): brows
 * take the brow gain; below the nose the lower-face gain fades in down to the mouth corners
 * (along the face's down axis: nose base to the mouth corners' midpoint), and holds below.
 */
export function expressionGains(face: Float64Array, out: Float64Array): Float64Array {
  const down = [0, 0, 0];
  for (let c = 0; c < 3; c++) down[c] = (face[3 * MOUTH_CORNERS[0] + c] + face[3 * MOUTH_CORNERS[1] + c]) / 2 - face[3 * NOSE_BASE + c];
  const span2 = down[0] * down[0] + down[1] * down[1] + down[2] * down[2];
  const { lowerFace, brows } = EXPRESSION_GAIN;
  for (let i = 0; i < LANDMARK_COUNT; i++) {
    const t = span2 > 0 ? ((face[3 * i] - face[3 * NOSE_BASE]) * down[0] + (face[3 * i + 1] - face[3 * NOSE_BASE + 1]) * down[1] + (face[3 * i + 2] - face[3 * NOSE_BASE + 2]) * down[2]) / span2 : 0;
    out[i] = 1 + (lowerFace - 1) * smoothstep(0, 1, t);
  }
  for (const i of BROW_INDICES) out[i] = brows;
  return out;
}

/**
 * The driver's eye opening relative to its neutral (1 = as open as at rest) -> how open the
 * portrait's eye is shown (1 = its own opening, 0 = shut): the closure that the tracker reads
 * back as that opening (EYE_RESPONSE, inverted, piecewise linear), so at or below the reading of
 * a shut eye (EYE_SHUT_RATIO) it is shut; wider than at rest widens a little, up to EYE_WIDEN_LIMIT.
 */
export function eyeClosure(ratio: number): number {
  if (Number.isNaN(ratio)) return 1;
  if (ratio >= 1) return Math.min(EYE_WIDEN_LIMIT, ratio);
  if (ratio <= EYE_SHUT_RATIO) return 0;
  for (let k = 1; k < EYE_RESPONSE.length; k++) {
    const [c1, r1] = EYE_RESPONSE[k]!;
    if (ratio > r1) continue;
    const [c0, r0] = EYE_RESPONSE[k - 1]!;
    return c0 + ((ratio - r0) / (r1 - r0)) * (c1 - c0);
  }
  return 1;
}
