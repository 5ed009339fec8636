/**
 * Expression-follow measures shared by eval:meshwarp and the integration tests: how open the
 * mouth and eyes are, how wide the mouth, how far the jaw and brows are from the eyes, read
 * from face-mesh landmarks; the thickness and colour of the dark seam between the lips, read
 * from pixels; and the gain (least-squares slope) of one series on another.
 *
 * Distances are 3D (the tracker's z is on the x/y pixel scale), so they barely change with a
 * head turn, and in units of the outer eye-corner distance (33-263), so a driver and a
 * portrait of different face sizes compare directly.
 */
import type { RgbImage } from '../../frames.js';
import { EYELIDS } from './topology.js';

export interface ExpressionSignals {
  /** Inner-lip gap at the middle (13-14), signed: negative when the lower lip is above the upper. */
  mouthOpen: number;
  /** Mouth corner to corner (61-291). */
  mouthWidth: number;
  /** Chin (152) to the midpoint of the outer eye corners: grows as the jaw drops. */
  jaw: number;
  /** Mean lid gap over the eye's width, per eye (0 closed, about 0.25-0.35 open). */
  eyeRight: number;
  eyeLeft: number;
  /** Mean distance of the brow's upper points from the eye's centre. */
  browRight: number;
  browLeft: number;
}

const BROWS = { right: [70, 63, 105, 66, 107], left: [300, 293, 334, 296, 336] } as const;
const EYE_CORNERS = { right: [33, 133], left: [362, 263] } as const;

function dist(lm: Float32Array, a: number, b: number): number {
  return Math.hypot(lm[3 * a] - lm[3 * b], lm[3 * a + 1] - lm[3 * b + 1], lm[3 * a + 2] - lm[3 * b + 2]);
}

function distToPoint(lm: Float32Array, a: number, x: number, y: number, z: number): number {
  return Math.hypot(lm[3 * a] - x, lm[3 * a + 1] - y, lm[3 * a + 2] - z);
}

function eyeSignal(lm: Float32Array, side: 'right' | 'left'): number {
  const { upper, lower } = EYELIDS[side];
  let sum = 0;
  for (let k = 0; k < upper.length; k++) sum += dist(lm, upper[k], lower[k]);
  const [a, b] = EYE_CORNERS[side];
  return sum / upper.length / (dist(lm, a, b) || 1);
}

function browSignal(lm: Float32Array, side: 'right' | 'left', unit: number): number {
  const [a, b] = EYE_CORNERS[side];
  const cx = (lm[3 * a] + lm[3 * b]) / 2, cy = (lm[3 * a + 1] + lm[3 * b + 1]) / 2, cz = (lm[3 * a + 2] + lm[3 * b + 2]) / 2;
  let sum = 0;
  for (const i of BROWS[side]) sum += distToPoint(lm, i, cx, cy, cz);
  return sum / BROWS[side].length / unit;
}

/** The signals of one landmark set (LANDMARK_COUNT x 3, pixels). */
export function expressionSignals(lm: Float32Array): ExpressionSignals {
  const unit = dist(lm, 33, 263) || 1;
  const mx = (lm[3 * 33] + lm[3 * 263]) / 2, my = (lm[3 * 33 + 1] + lm[3 * 263 + 1]) / 2, mz = (lm[3 * 33 + 2] + lm[3 * 263 + 2]) / 2;
  // Down the face: from between the eyes to the chin; the lower lip below the upper is open.
  const downX = lm[3 * 152] - mx, downY = lm[3 * 152 + 1] - my;
  const across = (lm[3 * 14] - lm[3 * 13]) * downX + (lm[3 * 14 + 1] - lm[3 * 13 + 1]) * downY;
  return {
    mouthOpen: (Math.sign(across) || 1) * dist(lm, 13, 14) / unit,
    mouthWidth: dist(lm, 61, 291) / unit,
    jaw: distToPoint(lm, 152, mx, my, mz) / unit,
    eyeRight: eyeSignal(lm, 'right'),
    eyeLeft: eyeSignal(lm, 'left'),
    browRight: browSignal(lm, 'right', unit),
    browLeft: browSignal(lm, 'left', unit),
  };
}

/** Driver mouth opening above its closed level (eye-corner units) that counts as clearly open / closed. */
export const CLEARLY_OPEN = 0.12;
export const CLOSED = 0.03;
/** An output mouth no more open than the portrait's own plus this reads as closed. */
export const RENDERED_CLOSED = 0.04;
/** A lip seam thicker than this multiple of the portrait's own is a painted band. */
export const BAND_LIMIT = 1.5;

/** The value at fraction p (0-1) of the sorted values, nearest rank; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(p * (sorted.length - 1))))] ?? 0;
}

/** Least-squares slope of `y` on `x` (how much y changes per unit change of x); 0 when x is constant. */
export function gain(x: readonly number[], y: readonly number[]): number {
  const n = Math.min(x.length, y.length);
  if (n === 0) return 0;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
  }
  return sxx === 0 ? 0 : sxy / sxx;
}

export interface LipSeam {
  /** Thickness (px) of the dark run between the lips, mean over three columns across the mouth. */
  thicknessPx: number;
  /** Its mean colour (RGB 0-255). */
  colour: [number, number, number];
}

/** Outer upper lip to outer lower lip: three columns across the mouth (middle, either side). */
const SEAM_COLUMNS = [
  [0, 17],
  [37, 84],
  [267, 314],
] as const;

function sample(image: RgbImage, x: number, y: number, rgb: Float64Array): void {
  const xi = Math.max(0, Math.min(image.width - 1, Math.round(x)));
  const yi = Math.max(0, Math.min(image.height - 1, Math.round(y)));
  const o = 3 * (yi * image.width + xi);
  rgb[0] = image.data[o];
  rgb[1] = image.data[o + 1];
  rgb[2] = image.data[o + 2];
}

/**
 * The dark seam between the lips, read from pixels along each column from the outer upper
 * lip to the outer lower lip (1 px steps): the run of samples around the darkest one that are
 * darker than halfway from it to the lips' median brightness. A closed mouth shows the
 * portrait's own thin seam; a painted slot shows as a thick dark run.
 */
export function lipSeam(image: RgbImage, lm: Float32Array): LipSeam {
  const rgb = new Float64Array(3);
  let thickness = 0;
  const colour: [number, number, number] = [0, 0, 0];
  let colourCount = 0;
  for (const [top, bottom] of SEAM_COLUMNS) {
    const x0 = lm[3 * top], y0 = lm[3 * top + 1], x1 = lm[3 * bottom], y1 = lm[3 * bottom + 1];
    const steps = Math.max(2, Math.ceil(Math.hypot(x1 - x0, y1 - y0)));
    const luma: number[] = [];
    const colours: [number, number, number][] = [];
    for (let s = 0; s <= steps; s++) {
      sample(image, x0 + ((x1 - x0) * s) / steps, y0 + ((y1 - y0) * s) / steps, rgb);
      luma.push(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]);
      colours.push([rgb[0], rgb[1], rgb[2]]);
    }
    // The darkest sample in the middle half (the lips' outer edges meet skin and shadow).
    const from = Math.floor(steps / 4), to = Math.ceil((3 * steps) / 4);
    let darkest = from;
    for (let s = from; s <= to; s++) if (luma[s] < luma[darkest]) darkest = s;
    const median = [...luma].sort((a, b) => a - b)[Math.floor(luma.length / 2)];
    const threshold = luma[darkest] + (median - luma[darkest]) / 2;
    let a = darkest, b = darkest;
    while (a > 0 && luma[a - 1] < threshold) a--;
    while (b < steps && luma[b + 1] < threshold) b++;
    thickness += ((b - a + 1) * Math.hypot(x1 - x0, y1 - y0)) / steps;
    for (let s = a; s <= b; s++) {
      for (let c = 0; c < 3; c++) colour[c] += colours[s][c];
      colourCount++;
    }
  }
  return { thicknessPx: thickness / SEAM_COLUMNS.length, colour: colour.map((c) => Math.round(c / Math.max(1, colourCount))) as [number, number, number] };
}
