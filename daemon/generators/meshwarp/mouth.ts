/**
 * What the warp cannot show: the inside of a mouth that opens wider than in the reference
 * (the reference has no pixels for it), and the limits that keep eyelid texture from tearing.
 *
 * Mouth interior: after the warp, the destination inner-lip polygon (INNER_LIP_UPPER then
 * INNER_LIP_LOWER back) is painted with a synthetic interior, blended over the warped pixels:
 * - strength: 0 while the mouth is no more open than in the reference (normalised opening =
 *   mean gap between paired upper/lower inner-lip points over mouth width; the buffer is then
 *   untouched), rising smoothly to 1 over `ramp` more opening;
 * - edge: coverage ramps from 1 at `feather`/2 px inside the polygon to 0 at `feather`/2 px
 *   outside (distance from the pixel centre to the contour), so only pixels within that
 *   distance outside the polygon are touched;
 * - colour: dark red-brown, darkest in the middle of the opening and towards the back; a
 *   lighter band of upper teeth under the upper lip once the mouth is open enough (`teeth`),
 *   a hint of tongue near the lower lip;
 * - the driver's own interior (a MouthSource: a crop of the driving frame, cropDriverMouth),
 *   mixed over that by its weight: each pixel's place along the mouth and across the opening
 *   is looked up in the driver's opening (inset from its lips), its colour scaled by the
 *   ratio of the portrait's lip colour to the driver's (lighting, white balance).
 * Which pixels are touched is decided exactly (the even-odd rule of pointInPolygon per row,
 * and the true distance to the contour in a band around it); the colour uses a cheaper mouth
 * frame (distance along the mouth's normal to the sampled upper and lower contours).
 * Pure over the output buffer and the landmarks; scratch is allocated once (module-level for
 * fillMouthInterior, per instance for MouthInteriorFill).
 *
 * Eyes: eyeOpenness and limitEyeOpening let the motion transfer clamp how far an eye opens
 * beyond what the reference's lid texture can cover.
 */
import { PersonaLiveError } from '../../errors.js';
import { INNER_LIP_LOWER, INNER_LIP_UPPER, OUTER_LIP_LOWER, OUTER_LIP_UPPER, LEFT_EYE_LOWER, LEFT_EYE_UPPER, RIGHT_EYE_LOWER, RIGHT_EYE_UPPER } from './topology.js';

export type EyeSide = 'right' | 'left';

const EYES = {
  right: { upper: Uint16Array.from(RIGHT_EYE_UPPER), lower: Uint16Array.from(RIGHT_EYE_LOWER) },
  left: { upper: Uint16Array.from(LEFT_EYE_UPPER), lower: Uint16Array.from(LEFT_EYE_LOWER) },
} as const;
const LIP_UPPER = Uint16Array.from(INNER_LIP_UPPER);
/** The chin (MediaPipe 152): which way is down the face. */
const CHIN = 152;
const LIP_LOWER = Uint16Array.from(INNER_LIP_LOWER);
/** Polygon: upper contour corner to corner (11 points), then the lower contour's inner 9 back. */
const LIP_POLYGON = Uint16Array.from([...INNER_LIP_UPPER, ...INNER_LIP_LOWER.slice(1, -1).reverse()]);
const UPPER_EDGES = INNER_LIP_UPPER.length - 1; // edges 0..9 are the upper lip, 10..19 the lower

/**
 * Mean distance between paired upper/lower points of two corner-to-corner contours over the
 * corner distance (0 when the corners coincide).
 */
/**
 * Signed: each pair's gap is measured across the corner-to-corner line (lower minus upper,
 * positive downwards for an upright face), so lips that have crossed (the lower above the
 * upper) read as less than closed, never as open: an unsigned distance painted crossed lips
 * as an open mouth (a dark band between closed lips).
 */
function contourOpenness(lm: Float32Array | Float64Array, upper: Uint16Array, lower: Uint16Array, stride: number): number {
  const a = upper[0], b = upper[upper.length - 1];
  const dx = lm[stride * b] - lm[stride * a];
  const dy = lm[stride * b + 1] - lm[stride * a + 1];
  const width = Math.hypot(dx, dy);
  if (!(width > 0)) return 0;
  // The normal to the corner line, turned to point down the face (towards the chin, 152):
  // the same for an upright, tilted, upside-down or mirrored picture.
  let nx = -dy / width;
  let ny = dx / width;
  const towardsChin = (lm[stride * CHIN] - (lm[stride * a] + lm[stride * b]) / 2) * nx + (lm[stride * CHIN + 1] - (lm[stride * a + 1] + lm[stride * b + 1]) / 2) * ny;
  if (towardsChin < 0) {
    nx = -nx;
    ny = -ny;
  }
  let sum = 0;
  const n = upper.length - 2;
  for (let k = 1; k <= n; k++) {
    const u = upper[k], l = lower[k];
    sum += (lm[stride * l] - lm[stride * u]) * nx + (lm[stride * l + 1] - lm[stride * u + 1]) * ny;
  }
  return sum / n / width;
}

/**
 * How open an eye is: mean upper-to-lower lid distance over the 7 lid pairs, divided by the
 * eye's corner-to-corner width (about 0.25-0.35 for an open eye, near 0 closed).
 * `which`: the person's right eye (33..133, on the image's left in an unmirrored photo) or left.
 */
export function eyeOpenness(landmarks: Float32Array | Float64Array, which: EyeSide, stride = 3): number {
  const eye = EYES[which];
  return contourOpenness(landmarks, eye.upper, eye.lower, stride);
}

/**
 * Clamps an eye's openness to `maxOpenness` in place, moving each lid pair symmetrically
 * towards its midpoint (corners stay). Returns true when it changed anything. Typical use:
 * maxOpenness = eyeOpenness(reference) * 1.15, so lids never stretch past their texture.
 */
export function limitEyeOpening(landmarks: Float32Array, which: EyeSide, maxOpenness: number, stride = 3): boolean {
  const open = eyeOpenness(landmarks, which, stride);
  if (!(open > maxOpenness) || !(maxOpenness >= 0)) return false;
  const k = maxOpenness / open;
  const eye = EYES[which];
  for (let i = 1; i < eye.upper.length - 1; i++) {
    const u = stride * eye.upper[i], l = stride * eye.lower[i];
    const mx = (landmarks[u] + landmarks[l]) / 2, my = (landmarks[u + 1] + landmarks[l + 1]) / 2;
    landmarks[u] = mx + (landmarks[u] - mx) * k;
    landmarks[u + 1] = my + (landmarks[u + 1] - my) * k;
    landmarks[l] = mx + (landmarks[l] - mx) * k;
    landmarks[l + 1] = my + (landmarks[l + 1] - my) * k;
  }
  return true;
}

/** Normalised mouth opening: mean inner-lip gap over the 9 pairs / corner-to-corner width. */
export function mouthOpenness(landmarks: Float32Array | Float64Array, stride = 3): number {
  return contourOpenness(landmarks, LIP_UPPER, LIP_LOWER, stride);
}

export interface MouthFillOptions {
  /** Width in pixels of the soft edge, centred on the contour. */
  feather?: number;
  /** Extra normalised opening over which the fill fades in. */
  ramp?: number;
  /** Normalised opening where upper teeth start to show, and where they are fully visible. */
  teeth?: readonly [number, number];
}

export const DEFAULT_MOUTH_FILL_OPTIONS: Readonly<Required<MouthFillOptions>> = Object.freeze({
  feather: 1.5,
  ramp: 0.05,
  teeth: Object.freeze([0.08, 0.2]) as readonly [number, number],
});

const LIP_SHADOW = [112, 46, 48];
const THROAT = [30, 10, 12];
const TONGUE = [138, 62, 66];
const TEETH = [222, 214, 200];

/** How much a seam between two teeth darkens them. */
const TOOTH_SEAM_DARKNESS = 0.4;

/**
 * 1 on a seam between two teeth, falling to 0 within 0.8 px of it. x: -1 at one mouth corner,
 * 0 between the central incisors, 1 at the other. Seams sit where q = 4|x| + 2x^2 is a whole
 * number, so the teeth narrow towards the corners (central incisors about 11 % of the mouth's
 * width, then 10, 9, 7 ...).
 */
function toothSeam(x: number, mouthWidth: number): number {
  const a = Math.abs(x);
  const q = 4 * a + 2 * a * a;
  const slope = 4 + 4 * a; // dq/d|x|
  const pixels = (Math.abs(q - Math.round(q)) / slope) * (mouthWidth / 2);
  return 1 - smoothstep(0, 0.8, pixels);
}

/** 0 below e0, 1 above e1, the smooth Hermite ramp between (shared by the meshwarp modules). */
export function smoothstep(e0: number, e1: number, x: number): number {
  const t = x <= e0 ? 0 : x >= e1 ? 1 : (x - e0) / (e1 - e0);
  return t * t * (3 - 2 * t);
}

/** What fillMouthInterior did to the last frame. */
export interface MouthFillStats {
  /** Whether any pixel was painted. */
  filled: boolean;
  /** How many pixels were painted (partly, at the feathered edge, included). */
  pixels: number;
  /** The fill strength used, in [0, 1]. */
  strength?: number;
}

const TABLE = 128;

/**
 * The driver's own mouth, for the interior (its teeth, tongue and cavity as they are): a crop
 * of the driving frame around its lips (cropDriverMouth). Its landmarks, in the frame's
 * pixels, go beside it (MouthSource).
 */
export interface DriverMouth {
  data: Uint8Array;
  /** Where the crop lies in the driving frame, and its size. */
  x: number;
  y: number;
  width: number;
  height: number;
}

/** What the mouth fill takes from the driver: its mouth, its landmarks, the colour match and how much of it shows. */
export interface MouthSource {
  mouth: DriverMouth;
  landmarks: Float32Array;
  /** Per-channel gains that take the driver's lip colour to the portrait's (lighting, white balance). */
  gain: Float64Array;
  /** 0: the synthetic interior only, 1: the driver's only. */
  weight: number;
}

/** The outer lip contour (MediaPipe): what a mouth crop must hold. */
const OUTER_LIPS = Uint16Array.from([...OUTER_LIP_UPPER, ...OUTER_LIP_LOWER.slice(1, -1)]);
/** Points between the inner and outer lips (upper pairs then lower), where the lips' own colour is read. */
const LIP_BODY_PAIRS = [[13, 0], [82, 37], [312, 267], [14, 17], [87, 84], [317, 314]] as const;
/** How far into the driver's opening (a fraction of it, from each lip) its interior is sampled. */
const DRIVER_EDGE_INSET = 0.25;
/** Driver inner-lip opening (mouthOpenness) below which its interior is too thin to show, and where it fully shows. */
export const DRIVER_INTERIOR_OPENING: readonly [number, number] = [0.04, 0.1];

/**
 * The driving frame's mouth: a crop around the outer lips (2 px margin), or null when the
 * driver's mouth is too closed to show an interior or the landmarks are not finite.
 */
export function cropDriverMouth(frame: { data: Uint8Array; width: number; height: number }, landmarks: Float32Array): DriverMouth | null {
  if (!(mouthOpenness(landmarks) > DRIVER_INTERIOR_OPENING[0])) return null;
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const i of OUTER_LIPS) {
    const x = landmarks[3 * i], y = landmarks[3 * i + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) return null;
    minX = Math.min(minX, x);
    maxX = Math.max(maxX, x);
    minY = Math.min(minY, y);
    maxY = Math.max(maxY, y);
  }
  const x0 = Math.max(0, Math.floor(minX) - 2), y0 = Math.max(0, Math.floor(minY) - 2);
  const x1 = Math.min(frame.width, Math.ceil(maxX) + 3), y1 = Math.min(frame.height, Math.ceil(maxY) + 3);
  if (x1 - x0 < 4 || y1 - y0 < 4) return null;
  const width = x1 - x0, height = y1 - y0;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) data.set(frame.data.subarray(((y0 + y) * frame.width + x0) * 3, ((y0 + y) * frame.width + x1) * 3), y * width * 3);
  return { data, x: x0, y: y0, width, height };
}

/**
 * Mean colour of the lips' bodies (between the inner and the outer contour, upper and lower)
 * of an image whose top-left lies at (x0, y0) in the landmarks' pixels; into `out`, false when
 * no sample falls inside.
 */
export function lipColour(data: Uint8Array, width: number, height: number, landmarks: Float32Array, x0: number, y0: number, out: Float64Array): boolean {
  out.fill(0);
  let n = 0;
  for (let p = 0; p < LIP_BODY_PAIRS.length; p++) {
    const a = LIP_BODY_PAIRS[p][0], b = LIP_BODY_PAIRS[p][1];
    const x = Math.floor((landmarks[3 * a] + landmarks[3 * b]) / 2 - x0), y = Math.floor((landmarks[3 * a + 1] + landmarks[3 * b + 1]) / 2 - y0);
    if (!(x >= 0 && y >= 0 && x < width && y < height)) continue;
    const o = 3 * (y * width + x);
    for (let c = 0; c < 3; c++) out[c] += data[o + c];
    n++;
  }
  if (n === 0) return false;
  for (let c = 0; c < 3; c++) out[c] /= n;
  return true;
}

/** Per-frame scratch of the mouth fill, allocated once (the distance band grows on demand). */
class MouthScratch {
  readonly poly = new Float64Array(2 * LIP_POLYGON.length);
  readonly crossings = new Float64Array(LIP_POLYGON.length);
  /** Upper and lower contour offsets along the mouth normal, sampled along the corner axis. */
  readonly upper = new Float64Array(TABLE + 1);
  readonly lower = new Float64Array(TABLE + 1);
  band = new Float32Array(64 * 32);
  /** The driver's inner-lip polygon (crop pixels) and contour tables, for its own mouth interior. */
  readonly srcPoly = new Float64Array(2 * LIP_POLYGON.length);
  readonly srcUpper = new Float64Array(TABLE + 1);
  readonly srcLower = new Float64Array(TABLE + 1);
  /** Mouth frames (mouthFrame): the output's, and the driver's in its crop. */
  readonly frame = new Float64Array(7);
  readonly src = new Float64Array(7);
}

const sharedScratch = new MouthScratch();

/**
 * Paints the mouth interior over a rendered frame when the destination mouth is more open
 * than the reference's (see the module comment). Allocates nothing once warm.
 *
 * @param out RGB24 frame, width x height.
 * @param landmarks LANDMARK_COUNT x 3 destination landmarks in output pixels.
 * @param referenceLandmarks the reference's landmarks (any pixel scale: only its normalised
 *   opening is used).
 * @param stats optional, filled with what was done.
 * @returns the strength used (0: nothing was touched).
 * @throws PersonaLiveError INTERNAL when a buffer is too short.
 */
export function fillMouthInterior(
  out: Uint8Array,
  width: number,
  height: number,
  landmarks: Float32Array,
  referenceLandmarks: Float32Array,
  stats?: MouthFillStats,
  options: Readonly<Required<MouthFillOptions>> = DEFAULT_MOUTH_FILL_OPTIONS,
  source: MouthSource | null = null,
): number {
  if (referenceLandmarks.length < 478 * 3) throw new PersonaLiveError('INTERNAL', `'referenceLandmarks' has length ${referenceLandmarks.length}, expected 478x3`);
  return paintMouth(out, width, height, landmarks, mouthOpenness(referenceLandmarks), options, sharedScratch, stats, source);
}

/**
 * Paints the mouth interior over a rendered frame. One instance per reference (its opening
 * is the threshold); render() allocates nothing once warm.
 */
export class MouthInteriorFill {
  /** Normalised opening of the reference mouth: the fill starts above it. */
  readonly referenceOpenness: number;
  private readonly options: Readonly<Required<MouthFillOptions>>;
  private readonly scratch = new MouthScratch();

  /**
   * @param referenceLandmarks LANDMARK_COUNT x 3 reference landmarks (any pixel scale).
   * @throws PersonaLiveError INTERNAL when the landmarks are too short.
   */
  constructor(referenceLandmarks: Float32Array, options: MouthFillOptions = {}) {
    if (referenceLandmarks.length < 478 * 3) throw new PersonaLiveError('INTERNAL', `'referenceLandmarks' has length ${referenceLandmarks.length}, expected 478x3`);
    this.referenceOpenness = mouthOpenness(referenceLandmarks);
    this.options = Object.freeze({ ...DEFAULT_MOUTH_FILL_OPTIONS, ...options });
  }

  /** Fill strength in [0, 1] for these landmarks (0: render() leaves the frame as it is). */
  strength(landmarks: Float32Array): number {
    return smoothstep(0, this.options.ramp, mouthOpenness(landmarks) - this.referenceOpenness);
  }

  /**
   * Paints the interior of the destination inner-lip polygon into `out` (RGB24,
   * width x height), blended by strength and edge coverage.
   *
   * @param landmarks LANDMARK_COUNT x 3 destination landmarks in output pixels.
   * @returns the strength used (0 when nothing was touched).
   * @throws PersonaLiveError INTERNAL when a buffer is too short.
   */
  render(out: Uint8Array, width: number, height: number, landmarks: Float32Array, stats?: MouthFillStats): number {
    return paintMouth(out, width, height, landmarks, this.referenceOpenness, this.options, this.scratch, stats, null);
  }
}

/** Polygon positions of the upper and lower contours, each from corner 78 to corner 308. */
const UPPER_ORDER = Uint8Array.from({ length: UPPER_EDGES + 1 }, (_, k) => k);
const LOWER_ORDER = Uint8Array.from([0, ...Array.from({ length: LIP_POLYGON.length - UPPER_EDGES }, (_, k) => LIP_POLYGON.length - 1 - k)]);

/**
 * Samples a contour's offset s along the mouth normal at TABLE + 1 evenly spaced t in
 * [0, width] (piecewise linear; held flat beyond its ends).
 */
function sampleContour(poly: Float64Array, order: Uint8Array, ax: number, ay: number, ux: number, uy: number, nx: number, ny: number, width: number, table: Float64Array): void {
  let k = 0;
  let t0 = 0, s0 = 0, t1 = 0, s1 = 0;
  {
    const p0 = 2 * order[0], p1 = 2 * order[1];
    t0 = (poly[p0] - ax) * ux + (poly[p0 + 1] - ay) * uy;
    s0 = (poly[p0] - ax) * nx + (poly[p0 + 1] - ay) * ny;
    t1 = (poly[p1] - ax) * ux + (poly[p1 + 1] - ay) * uy;
    s1 = (poly[p1] - ax) * nx + (poly[p1 + 1] - ay) * ny;
  }
  for (let i = 0; i <= TABLE; i++) {
    const t = (i / TABLE) * width;
    while (t > t1 && k + 2 < order.length) {
      k++;
      t0 = t1;
      s0 = s1;
      const p = 2 * order[k + 1];
      t1 = (poly[p] - ax) * ux + (poly[p + 1] - ay) * uy;
      s1 = (poly[p] - ax) * nx + (poly[p + 1] - ay) * ny;
    }
    table[i] = t1 - t0 > 1e-9 ? s0 + ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0)) * (s1 - s0) : s1;
  }
}

function paintMouth(
  out: Uint8Array,
  width: number,
  height: number,
  landmarks: Float32Array,
  referenceOpenness: number,
  options: Readonly<Required<MouthFillOptions>>,
  scratch: MouthScratch,
  stats: MouthFillStats | undefined,
  source: MouthSource | null,
): number {
  if (out.length < width * height * 3) throw new PersonaLiveError('INTERNAL', `'out' has length ${out.length}, expected ${width}x${height}x3`);
  if (landmarks.length < 478 * 3) throw new PersonaLiveError('INTERNAL', `'landmarks' has length ${landmarks.length}, expected 478x3`);
  if (stats) {
    stats.filled = false;
    stats.pixels = 0;
    stats.strength = 0;
  }
  const open = mouthOpenness(landmarks);
  const strength = smoothstep(0, options.ramp, open - referenceOpenness);
  if (!(strength > 0)) return 0;
  const { feather } = options;
  const { poly, crossings, upper, lower } = scratch;
  const n = LIP_POLYGON.length;
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (let k = 0; k < n; k++) {
    const x = landmarks[3 * LIP_POLYGON[k]], y = landmarks[3 * LIP_POLYGON[k] + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) return 0;
    poly[2 * k] = x;
    poly[2 * k + 1] = y;
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  const half = feather / 2;
  const x0 = Math.max(0, Math.floor(minX - half - 0.5)), x1 = Math.min(width - 1, Math.ceil(maxX + half - 0.5));
  const y0 = Math.max(0, Math.floor(minY - half - 0.5)), y1 = Math.min(height - 1, Math.ceil(maxY + half - 0.5));
  if (x0 > x1 || y0 > y1) return 0;

  // Mouth frame: t along the corner axis (78 -> 308), s along its normal towards the lower lip.
  const mf = scratch.frame;
  if (!mouthFrame(poly, upper, lower, mf)) return 0;
  const ax = mf[0], ay = mf[1], ux = mf[2], uy = mf[3], nx = mf[4], ny = mf[5], mouthWidth = mf[6];
  const driver = source !== null && source.weight > 0 && driverFrame(source, scratch);
  const driverAt = scratch.src;

  // Exact distance to the contour in a band around it (only there can the feather apply).
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  if (scratch.band.length < bw * bh) scratch.band = new Float32Array(bw * bh * 2);
  const band = scratch.band;
  band.fill(Infinity, 0, bw * bh);
  const reach = half + 1;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const pax = poly[2 * j], pay = poly[2 * j + 1], sx = poly[2 * i] - pax, sy = poly[2 * i + 1] - pay;
    const l2 = sx * sx + sy * sy;
    const ex0 = Math.max(x0, Math.floor(Math.min(pax, pax + sx) - reach)), ex1 = Math.min(x1, Math.ceil(Math.max(pax, pax + sx) + reach));
    const ey0 = Math.max(y0, Math.floor(Math.min(pay, pay + sy) - reach)), ey1 = Math.min(y1, Math.ceil(Math.max(pay, pay + sy) + reach));
    for (let py = ey0; py <= ey1; py++) {
      const cy = py + 0.5;
      for (let px = ex0; px <= ex1; px++) {
        const cx = px + 0.5;
        let t = l2 > 0 ? ((cx - pax) * sx + (cy - pay) * sy) / l2 : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        const dx = cx - pax - t * sx, dy = cy - pay - t * sy;
        const d = Math.sqrt(dx * dx + dy * dy);
        const b = (py - y0) * bw + (px - x0);
        if (d < band[b]) band[b] = d;
      }
    }
  }

  const teethVisible = smoothstep(options.teeth[0], options.teeth[1], open);
  const teethHeight = Math.min(0.3 * open * mouthWidth, 0.1 * mouthWidth);
  const tongueVisible = smoothstep(0.04, 0.14, open);
  const lowerTeethVisible = smoothstep(options.teeth[1], options.teeth[1] + 0.15, open);
  const tableScale = TABLE / mouthWidth;
  let painted = 0;
  for (let py = y0; py <= y1; py++) {
    const cy = py + 0.5;
    // Even-odd crossings of this row, as pointInPolygon computes them.
    let m = 0;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const yi = poly[2 * i + 1], yj = poly[2 * j + 1];
      if (yi > cy !== yj > cy) {
        const xi = poly[2 * i], xj = poly[2 * j];
        const xc = ((xj - xi) * (cy - yi)) / (yj - yi) + xi;
        let q = m++;
        while (q > 0 && crossings[q - 1] > xc) {
          crossings[q] = crossings[q - 1];
          q--;
        }
        crossings[q] = xc;
      }
    }
    let next = 0; // crossings at or left of the pixel centre
    for (let px = x0; px <= x1; px++) {
      const cx = px + 0.5;
      while (next < m && crossings[next] <= cx) next++;
      const inside = ((m - next) & 1) === 1; // an odd number of crossings to the right
      const d = band[(py - y0) * bw + (px - x0)];
      let edge = inside ? 0.5 + d / feather : 0.5 - d / feather;
      if (edge <= 0) continue;
      if (edge > 1) edge = 1;
      const alpha = strength * edge;

      const rx = cx - ax, ry = cy - ay;
      const tPix = rx * ux + ry * uy, sPix = rx * nx + ry * ny;
      let f = tPix * tableScale;
      f = f < 0 ? 0 : f > TABLE ? TABLE : f;
      const i0 = Math.min(TABLE - 1, Math.floor(f)), w = f - i0;
      const sUp = upper[i0] + (upper[i0 + 1] - upper[i0]) * w, sLo = lower[i0] + (lower[i0 + 1] - lower[i0]) * w;
      const dUp = sPix > sUp ? sPix - sUp : 0, dLo = sLo > sPix ? sLo - sPix : 0;
      const s = dUp + dLo > 0 ? dUp / (dUp + dLo) : 0.5; // 0 at the upper lip, 1 at the lower
      let t = tPix / mouthWidth;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const tc = Math.abs(2 * t - 1); // 0 in the middle, 1 at the corners
      const depth = smoothstep(0, 1, (2 * Math.min(dUp, dLo)) / Math.max(1, dUp + dLo)) * (1 - 0.5 * tc * tc);
      let r = LIP_SHADOW[0] + (THROAT[0] - LIP_SHADOW[0]) * depth;
      let g = LIP_SHADOW[1] + (THROAT[1] - LIP_SHADOW[1]) * depth;
      let b = LIP_SHADOW[2] + (THROAT[2] - LIP_SHADOW[2]) * depth;
      const tongue = smoothstep(0.5, 0.9, s) * (1 - tc * tc) * 0.85 * tongueVisible;
      r += (TONGUE[0] - r) * tongue;
      g += (TONGUE[1] - g) * tongue;
      b += (TONGUE[2] - b) * tongue;
      if (teethVisible > 0) {
        // Upper teeth: a band that follows the upper lip, thins towards the corners and under a
        // narrow gap, with the seams between teeth (narrower teeth towards the corners).
        const gapShade = 1 - TOOTH_SEAM_DARKNESS * toothSeam(2 * t - 1, mouthWidth);
        const teethBand = Math.min(teethHeight, 0.4 * (dUp + dLo));
        const cover = Math.min(1, teethBand - dUp + 0.5);
        if (cover > 0) {
          const teeth = cover * teethVisible * (1 - smoothstep(0.5, 0.95, tc));
          const shade = (0.9 - 0.25 * tc) * (0.75 + 0.25 * Math.min(1, dUp / 1.5)) * gapShade; // the lip's shadow on top
          r += (TEETH[0] * shade - r) * teeth;
          g += (TEETH[1] * shade - g) * teeth;
          b += (TEETH[2] * shade - b) * teeth;
        }
        // Lower teeth, once the jaw is well down: lower, darker (in the upper lip's shadow), middle only.
        if (lowerTeethVisible > 0) {
          const lowerBand = Math.min(0.5 * teethHeight, 0.25 * (dUp + dLo));
          const lowerCover = Math.min(1, lowerBand - dLo + 0.5);
          if (lowerCover > 0) {
            const teeth = lowerCover * lowerTeethVisible * (1 - smoothstep(0.3, 0.7, tc));
            const shade = 0.62 * gapShade;
            r += (TEETH[0] * shade - r) * teeth;
            g += (TEETH[1] * shade - g) * teeth;
            b += (TEETH[2] * shade - b) * teeth;
          }
        }
      }
      if (driver) {
        // The driver's own interior at the same place: along its mouth (t) and across its
        // opening (s), colour-matched to the portrait's lips, over the synthetic one.
        const m = source!.mouth, k = source!.gain, wgt = source!.weight;
        let fd = t * TABLE;
        fd = fd > TABLE ? TABLE : fd;
        const j0 = Math.min(TABLE - 1, Math.floor(fd)), wj = fd - j0;
        const up = scratch.srcUpper[j0] + (scratch.srcUpper[j0 + 1] - scratch.srcUpper[j0]) * wj;
        const lo = scratch.srcLower[j0] + (scratch.srcLower[j0 + 1] - scratch.srcLower[j0]) * wj;
        // Inset from the driver's lips (its inner-lip points sit on the lips' edge, and the
        // edge pixels are lip): the portrait's lips frame a driver interior without a second lip.
        const across = up + (DRIVER_EDGE_INSET + s * (1 - 2 * DRIVER_EDGE_INSET)) * (lo - up), along = t * driverAt[6];
        const sx = driverAt[0] + along * driverAt[2] + across * driverAt[4] - 0.5, sy = driverAt[1] + along * driverAt[3] + across * driverAt[5] - 0.5;
        const fx = sx < 0 ? 0 : sx > m.width - 1 ? m.width - 1 : sx, fy = sy < 0 ? 0 : sy > m.height - 1 ? m.height - 1 : sy;
        const x0s = Math.min(m.width - 2, Math.floor(fx)), y0s = Math.min(m.height - 2, Math.floor(fy));
        const bx = fx - x0s, by = fy - y0s;
        const q = 3 * (y0s * m.width + x0s), q2 = q + 3 * m.width;
        for (let c = 0; c < 3; c++) {
          const top = m.data[q + c] + (m.data[q + 3 + c] - m.data[q + c]) * bx;
          const bottom = m.data[q2 + c] + (m.data[q2 + 3 + c] - m.data[q2 + c]) * bx;
          const v = Math.min(255, (top + (bottom - top) * by) * k[c]);
          if (c === 0) r += (v - r) * wgt;
          else if (c === 1) g += (v - g) * wgt;
          else b += (v - b) * wgt;
        }
      }
      const o = (py * width + px) * 3;
      out[o] = Math.round(out[o] + (r - out[o]) * alpha);
      out[o + 1] = Math.round(out[o + 1] + (g - out[o + 1]) * alpha);
      out[o + 2] = Math.round(out[o + 2] + (b - out[o + 2]) * alpha);
      painted++;
    }
  }
  if (stats) {
    stats.filled = painted > 0;
    stats.pixels = painted;
    stats.strength = strength;
  }
  return strength;
}

/** The driver's mouth frame in its crop (corner 78 -> 308, the normal towards its lower lip) and its contour tables, into scratch; false when degenerate. */
function driverFrame(source: MouthSource, scratch: MouthScratch): boolean {
  const { landmarks, mouth } = source;
  const poly = scratch.srcPoly;
  for (let k = 0; k < LIP_POLYGON.length; k++) {
    const x = landmarks[3 * LIP_POLYGON[k]] - mouth.x, y = landmarks[3 * LIP_POLYGON[k] + 1] - mouth.y;
    if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
    poly[2 * k] = x;
    poly[2 * k + 1] = y;
  }
  if (mouth.width < 2 || mouth.height < 2) return false;
  return mouthFrame(poly, scratch.srcUpper, scratch.srcLower, scratch.src);
}

/**
 * A mouth's frame from its inner-lip polygon (LIP_POLYGON order): into `frame` the corner 78,
 * the unit axis to 308, the unit normal towards the lower lip and the corner distance; into
 * `upper` / `lower` the contours' offsets along the normal (sampleContour). False when the
 * corners coincide.
 */
function mouthFrame(poly: Float64Array, upper: Float64Array, lower: Float64Array, frame: Float64Array): boolean {
  const ax = poly[0], ay = poly[1];
  const width = Math.hypot(poly[2 * UPPER_EDGES] - ax, poly[2 * UPPER_EDGES + 1] - ay);
  if (!(width > 0)) return false;
  const ux = (poly[2 * UPPER_EDGES] - ax) / width, uy = (poly[2 * UPPER_EDGES + 1] - ay) / width;
  let nx = -uy, ny = ux;
  const lowerMid = LIP_POLYGON.length - 5; // 14's place in the polygon
  if ((poly[2 * lowerMid] - ax) * nx + (poly[2 * lowerMid + 1] - ay) * ny < 0) {
    nx = -nx;
    ny = -ny;
  }
  sampleContour(poly, UPPER_ORDER, ax, ay, ux, uy, nx, ny, width, upper);
  sampleContour(poly, LOWER_ORDER, ax, ay, ux, uy, nx, ny, width, lower);
  frame[0] = ax;
  frame[1] = ay;
  frame[2] = ux;
  frame[3] = uy;
  frame[4] = nx;
  frame[5] = ny;
  frame[6] = width;
  return true;
}
