/**
 * The driver's neutral face, which expression deltas are measured from. Relative transfer
 * takes the first tracked frame (or the one the user calibrated on) as the neutral, but the
 * first frame of a stream is often not neutral: mouth open mid-word, eyes mid-blink. So the
 * neutral settles from what the stream shows, as face-tracking avatar tools do:
 * - mouth and jaw: the most closed mouth seen since the anchor. Lips at rest touch, so the
 *   most closed state is the resting one; a first frame with the mouth open would otherwise
 *   spend every later opening up to that level on closing the portrait's mouth. The whole
 *   lower face takes it (weighted from 0 at the nose base to 1 at the mouth corners and below:
 *   lips, chin and jaw skin move together, else the skin between a closed-neutral lip and an
 *   open-neutral chin stretches into a smear), and only its vertical and depth part: the
 *   mouth's width stays the anchor's, so a closed smile does not become the resting width.
 *   Until the driver has closed its mouth, a first frame with it open is taken with the lips
 *   closed (closeLips): lips at rest touch.
 * - eyelids: their typical open state, a slow (8 s) average over the frames that are not
 *   blinks (no more than 25 % more closed than the neutral) while the neutral is more than a
 *   few per cent off; fast in the first 1.5 s while it is more closed than the eyes are (a
 *   first frame mid-blink). After an explicit calibration the
 *   eyelids keep the calibrated frame: the user said that is their neutral.
 * - head pose and everything else: the anchor frame (see MotionTransfer).
 * Pure maths on normalised landmarks (LANDMARK_COUNT x 3) in the anchor's orientation; no
 * allocation per frame.
 */
import { LANDMARK_COUNT } from './tracking/types.js';
import { eyeOpenness, mouthOpenness, smoothstep, type EyeSide } from './mouth.js';
import { EYELIDS, INNER_LIP_LOWER, INNER_LIP_UPPER } from './topology.js';

/** How fast the neutral mouth moves to a more closed one it has seen (ms, exponential). */
export const NEUTRAL_MOUTH_EASE_MS = 120;
/**
 * How slowly the neutral eyelids follow the eyes' typical open state (ms, exponential). Slow:
 * at 2 s a long look down (several seconds in the demo video) or wide-open eyes became the
 * neutral, and the portrait's eyes opened back up while the driver's stayed low, or never
 * widened (intended eye correlation 0.66 over the whole video).
 */
export const NEUTRAL_EYES_SETTLE_MS = 8000;
/** ... and how fast while the neutral is more closed than the eyes in the first moments after the anchor (a first frame mid-blink). */
export const NEUTRAL_EYES_CATCH_UP_MS = 300;
/** How long after the anchor the neutral eyes may catch up fast. */
export const NEUTRAL_EYES_STARTUP_MS = 1500;
/** A frame this much more closed than the neutral eyes is a blink (or a squint) and leaves them alone. */
const BLINK_RATIO = 0.75;
/** Relative difference between the eyes and their neutral below which it stays, and above which it moves at full rate. */
const EYES_DEADBAND = [0.05, 0.2] as const;
/** Openings below this (crossed lips, normalised by mouth width) are tracking errors, not a mouth. */
const MOUTH_FLOOR = -0.1;
/** The frame step assumed when no timestamps are given, and the longest step taken. */
const DEFAULT_STEP_MS = 40;
const MAX_STEP_MS = 200;

/** MediaPipe points: the outer eye corners (the face's left-right axis), the nose base and the mouth corners (its jaw). */
const EYE_RIGHT_OUTER = 33;
const EYE_LEFT_OUTER = 263;
export const NOSE_BASE = 2;
export const MOUTH_CORNERS = [61, 291] as const;

/** The inner lips' points (closeLips keeps the upper ones and closes each lower one by its own gap). */
const INNER_LIPS: ReadonlySet<number> = new Set([...INNER_LIP_UPPER, ...INNER_LIP_LOWER]);

const EYE_POINTS: Record<EyeSide, readonly number[]> = {
  right: [...EYELIDS.right.upper, ...EYELIDS.right.lower],
  left: [...EYELIDS.left.upper, ...EYELIDS.left.lower],
};

export class NeutralFace {
  /** The neutral landmarks (normalised, in the anchor's orientation). */
  readonly landmarks = new Float64Array(3 * LANDMARK_COUNT);
  private readonly anchor = new Float64Array(3 * LANDMARK_COUNT);
  /** The frame with the most closed mouth seen: the neutral's lower face moves towards it. */
  private readonly closedMouth = new Float64Array(3 * LANDMARK_COUNT);
  private closedMouthOpenness = 0;
  /** Per landmark: how much it moves with the jaw (0 above the nose base, 1 from the mouth corners down). */
  private readonly jawWeight = new Float64Array(LANDMARK_COUNT);
  /** The face's left-right axis in the anchor (unit): the part of a jaw change that is dropped. */
  private readonly lateral = new Float64Array(3);
  /** The face's down axis in the anchor (unit, without a lateral part). */
  private readonly down = new Float64Array(3);
  private autoEyes = true;
  private lastMs: number | null = null;
  /** Time since the anchor (the sum of the frame steps). */
  private sinceAnchorMs = 0;

  /**
   * Starts from an anchor frame. `explicit`: the user calibrated on it, so the eyelids stay;
   * the mouth still settles to a more closed one (a closed driver mouth gives closed lips).
   */
  reset(anchor: Float64Array, explicit: boolean): void {
    this.landmarks.set(anchor);
    this.anchor.set(anchor);
    measureLowerFace(anchor, this.jawWeight, this.lateral, this.down);
    this.closedMouth.set(anchor);
    if (!explicit) closeLips(this.closedMouth, this.jawWeight, this.down);
    this.closedMouthOpenness = mouthOpenness(this.closedMouth);
    this.autoEyes = !explicit;
    this.lastMs = null;
    this.sinceAnchorMs = 0;
  }

  /** Learns from one frame (normalised, un-rotated into the anchor's orientation). */
  update(current: Float64Array, timestampMs?: number): void {
    const step = this.step(timestampMs);
    this.sinceAnchorMs += step;
    const N = this.landmarks;
    const opening = mouthOpenness(current);
    if (opening < this.closedMouthOpenness && opening > MOUTH_FLOOR) {
      this.closedMouthOpenness = opening;
      this.closedMouth.set(current);
    }
    const mouthRate = 1 - Math.exp(-step / NEUTRAL_MOUTH_EASE_MS);
    const A = this.anchor, C = this.closedMouth, e = this.lateral;
    for (let i = 0; i < LANDMARK_COUNT; i++) {
      const w = this.jawWeight[i];
      if (w === 0) continue;
      const j = 3 * i;
      const dx = C[j] - A[j], dy = C[j + 1] - A[j + 1], dz = C[j + 2] - A[j + 2];
      const side = dx * e[0] + dy * e[1] + dz * e[2];
      N[j] += (A[j] + w * (dx - side * e[0]) - N[j]) * mouthRate;
      N[j + 1] += (A[j + 1] + w * (dy - side * e[1]) - N[j + 1]) * mouthRate;
      N[j + 2] += (A[j + 2] + w * (dz - side * e[2]) - N[j + 2]) * mouthRate;
    }
    if (!this.autoEyes) return;
    for (const side of ['right', 'left'] as const) {
      const now = eyeOpenness(current, side);
      const neutral = eyeOpenness(N, side);
      if (now < BLINK_RATIO * neutral || !(neutral > 0)) continue;
      // Eyes at rest are open: just after the anchor, a neutral more closed than the eyes is a
      // start-up accident (a first frame mid-blink) and catches up fast. Otherwise it follows
      // slowly either way: eyes wider than it (surprise) or lower (a long look down) are
      // expressions to show, and only what lasts becomes the neutral.
      const settle = now > neutral && this.sinceAnchorMs < NEUTRAL_EYES_STARTUP_MS ? NEUTRAL_EYES_CATCH_UP_MS : NEUTRAL_EYES_SETTLE_MS;
      // Only a neutral that is clearly off moves: a few per cent (the tracker's first frame
      // reads the eyes a little differently from the frames after it) is left alone, so a
      // still driver's output does not creep for seconds after the start.
      const off = Math.abs(now - neutral) / neutral;
      const rate = smoothstep(EYES_DEADBAND[0], EYES_DEADBAND[1], off) * (1 - Math.exp(-step / settle));
      for (const i of EYE_POINTS[side]) for (let c = 0; c < 3; c++) N[3 * i + c] += (current[3 * i + c] - N[3 * i + c]) * rate;
    }
  }

  private step(timestampMs: number | undefined): number {
    if (timestampMs === undefined) {
      const first = this.lastMs === null;
      this.lastMs = 0;
      return first ? 0 : DEFAULT_STEP_MS;
    }
    const previous = this.lastMs;
    this.lastMs = timestampMs;
    // The first frame after a reset is the anchor itself: it shows the portrait as it is.
    return previous === null ? 0 : Math.min(MAX_STEP_MS, Math.max(0, timestampMs - previous));
  }
}

/**
 * The lower face of a face (normalised landmarks): per landmark how much it moves with the jaw
 * (`jawWeight`: 0 above the nose base, 1 from the mouth corners down), the face's left-right
 * axis (`lateral`, unit) and its down axis (`down`, unit, without a lateral part).
 */
export function measureLowerFace(face: Float64Array, jawWeight: Float64Array, lateral: Float64Array, down: Float64Array): void {
  const e = lateral;
  for (let c = 0; c < 3; c++) e[c] = face[3 * EYE_RIGHT_OUTER + c] - face[3 * EYE_LEFT_OUTER + c];
  const len = Math.hypot(e[0], e[1], e[2]) || 1;
  for (let c = 0; c < 3; c++) e[c] /= len;
  // Down the face: nose base to the mouth corners' midpoint, without its lateral part.
  for (let c = 0; c < 3; c++) down[c] = (face[3 * MOUTH_CORNERS[0] + c] + face[3 * MOUTH_CORNERS[1] + c]) / 2 - face[3 * NOSE_BASE + c];
  const along = down[0] * e[0] + down[1] * e[1] + down[2] * e[2];
  for (let c = 0; c < 3; c++) down[c] -= along * e[c];
  // The nose base to the mouth corners, in units of that distance: 0 to 1.
  const span = Math.hypot(down[0], down[1], down[2]);
  for (let c = 0; c < 3; c++) down[c] = span > 0 ? down[c] / span : 0;
  for (let i = 0; i < LANDMARK_COUNT; i++) {
    let t = 0;
    for (let c = 0; c < 3; c++) t += (face[3 * i + c] - face[3 * NOSE_BASE + c]) * down[c];
    jawWeight[i] = span > 0 ? smoothstep(0, 1, t / span) : 0;
  }
}

/**
 * Lips at rest touch: closes an open mouth in place (normalised landmarks; jawWeight and down
 * from measureLowerFace): each lower inner-lip point comes up by its own gap, the lower lip's
 * outside, the chin and the jaw by the middle's, fading out between the middle's upper and
 * lower inner lip, along the face's down axis in the picture's plane. Used for a driver's first
 * frame with the mouth open (NeutralFace) and for a portrait with parted lips (MotionTransfer).
 */
export function closeLips(face: Float64Array, jawWeight: Float64Array, faceDown: Float64Array): void {
  // In the picture's plane: what mouthOpenness measures, and the way lips close on screen.
  const norm = Math.hypot(faceDown[0], faceDown[1]) || 1;
  const down = [faceDown[0] / norm, faceDown[1] / norm, 0];
  const level = (i: number): number => face[3 * i] * down[0] + face[3 * i + 1] * down[1];
  const upper = level(13), lower = level(14);
  const gap = lower - upper;
  if (!(gap > 0)) return;
  const innerGaps = new Float64Array(INNER_LIP_UPPER.length);
  for (let k = 1; k < INNER_LIP_UPPER.length - 1; k++) innerGaps[k] = Math.max(0, level(INNER_LIP_LOWER[k]!) - level(INNER_LIP_UPPER[k]!));
  for (let i = 0; i < LANDMARK_COUNT; i++) {
    if (jawWeight[i] === 0 || INNER_LIPS.has(i)) continue;
    const w = smoothstep(upper, lower, level(i));
    for (let c = 0; c < 3; c++) face[3 * i + c] -= w * gap * down[c];
  }
  for (let k = 1; k < INNER_LIP_UPPER.length - 1; k++) {
    const l = 3 * INNER_LIP_LOWER[k]!;
    for (let c = 0; c < 3; c++) face[l + c] -= innerGaps[k]! * down[c];
  }
}
