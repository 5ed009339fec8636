/**
 * A synthetic 478-point face for the meshwarp tests and bench (no real landmark fixture is
 * available yet). It is not a face mesh: only the index sets the renderer relies on are
 * placed where a face has them, the other ~360 landmarks are scattered points.
 *
 * - FACE_OVAL (36 points) on an ellipse, clockwise on screen from the top (index 10).
 * - Inner lips (78..308 upper/lower contours) as a lens around the mouth centre whose height
 *   is `mouthOpen` px (plus a 1.2 px gap when closed); outer lips (61..291) around them.
 * - Eye contours (33..133 the person's right eye, on the image's left; 263..362 the left) as
 *   lenses, with the iris centre (468, 473) inside and the 4 iris points around it.
 * - Every other landmark: deterministic dart throwing inside the ellipse (at least 5 px apart,
 *   outside the eyes and the mouth, whose keep-out is sized for the widest opening), so the
 *   same seed gives the same points whatever `mouthOpen` is.
 * z is a smooth bulge: -(depth) at the centre, 0 at the oval (smaller = nearer, MediaPipe).
 */
import type { RgbImage } from '../../daemon/generators/generator.js';
import {
  FACE_OVAL,
  INNER_LIP_LOWER,
  INNER_LIP_UPPER,
  LEFT_EYE_LOWER,
  LEFT_EYE_UPPER,
  RIGHT_EYE_LOWER,
  RIGHT_EYE_UPPER,
} from '../../daemon/meshwarp/topology.js';

export const OUTER_LIP_UPPER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291];
export const OUTER_LIP_LOWER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291];

export interface SyntheticFaceOptions {
  cx?: number;
  cy?: number;
  rx?: number;
  ry?: number;
  /** Extra inner-lip opening at the centre, pixels. */
  mouthOpen?: number;
  seed?: number;
}

function lcg(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 4294967296;
  };
}

export function syntheticFace(options: SyntheticFaceOptions = {}): Float32Array {
  const { cx = 256, cy = 250, rx = 110, ry = 145, mouthOpen = 0, seed = 7 } = options;
  const lm = new Float32Array(478 * 3);
  const placed = new Uint8Array(478);
  const set = (i: number, x: number, y: number): void => {
    lm[3 * i] = x;
    lm[3 * i + 1] = y;
    placed[i] = 1;
  };
  FACE_OVAL.forEach((i, k) => {
    const th = -Math.PI / 2 + (2 * Math.PI * k) / FACE_OVAL.length;
    set(i, cx + rx * Math.cos(th), cy + ry * Math.sin(th));
  });
  // Mouth.
  const mx = cx, my = cy + 0.5 * ry, mw = 0.36 * rx;
  const lens = (upper: number[] | readonly number[], lower: number[] | readonly number[], x0: number, x1: number, y: number, hUp: number, hLo: number): void => {
    const n = upper.length - 1;
    for (let j = 0; j <= n; j++) {
      const t = j / n;
      const x = x0 + (x1 - x0) * t;
      const s = Math.sin(Math.PI * t);
      set(upper[j], x, y - hUp * s);
      if (j > 0 && j < n) set(lower[j], x, y + hLo * s);
    }
  };
  const half = 0.6 + mouthOpen / 2;
  lens(INNER_LIP_UPPER, INNER_LIP_LOWER, mx - mw, mx + mw, my, half, half);
  lens(OUTER_LIP_UPPER, OUTER_LIP_LOWER, mx - mw - 6, mx + mw + 6, my, half + 0.11 * ry, half + 0.13 * ry);
  // Eyes: the right eye's corner 33 is on the image's left, the left eye's 263 on the right.
  const ey = cy - 0.12 * ry, ew = 0.17 * rx, eh = 0.065 * ry;
  for (const [upper, lower, ex, outerLeft, iris] of [
    [RIGHT_EYE_UPPER, RIGHT_EYE_LOWER, cx - 0.4 * rx, true, 468],
    [LEFT_EYE_UPPER, LEFT_EYE_LOWER, cx + 0.4 * rx, false, 473],
  ] as const) {
    if (outerLeft) lens(upper, lower, ex - ew, ex + ew, ey, eh, eh);
    else lens(upper, lower, ex + ew, ex - ew, ey, eh, eh);
    const r = 0.45 * eh;
    set(iris, ex + 1, ey);
    set(iris + 1, ex + 1 + r, ey);
    set(iris + 2, ex + 1, ey - r);
    set(iris + 3, ex + 1 - r, ey);
    set(iris + 4, ex + 1, ey + r);
  }
  // Scatter the rest.
  const rand = lcg(seed);
  const mouthKeepOut = { x0: mx - mw - 10, x1: mx + mw + 10, y0: my - 0.11 * ry - 40, y1: my + 0.13 * ry + 40 };
  let minDist = 5;
  let tries = 0;
  for (let i = 0; i < 478; i++) {
    if (placed[i]) continue;
    for (;;) {
      if (++tries % 20000 === 0) minDist *= 0.8;
      const x = cx + (rand() * 2 - 1) * rx * 0.93;
      const y = cy + (rand() * 2 - 1) * ry * 0.93;
      if (((x - cx) / (rx * 0.93)) ** 2 + ((y - cy) / (ry * 0.93)) ** 2 > 1) continue;
      if (x > mouthKeepOut.x0 && x < mouthKeepOut.x1 && y > mouthKeepOut.y0 && y < mouthKeepOut.y1) continue;
      if (Math.abs(y - ey) < eh + 5 && (Math.abs(x - (cx - 0.4 * rx)) < ew + 5 || Math.abs(x - (cx + 0.4 * rx)) < ew + 5)) continue;
      let ok = true;
      for (let j = 0; j < 478 && ok; j++) {
        if (placed[j] && (lm[3 * j] - x) ** 2 + (lm[3 * j + 1] - y) ** 2 < minDist * minDist) ok = false;
      }
      if (!ok) continue;
      set(i, x, y);
      break;
    }
  }
  for (let i = 0; i < 478; i++) {
    const d = ((lm[3 * i] - cx) / rx) ** 2 + ((lm[3 * i + 1] - cy) / ry) ** 2;
    lm[3 * i + 2] = -40 * Math.max(0, 1 - d);
  }
  return lm;
}

/** Rotates (radians, about the face centre), scales and translates a landmark set into `out`. */
export function moveFace(src: Float32Array, out: Float32Array, motion: { angle?: number; scale?: number; tx?: number; ty?: number; cx?: number; cy?: number }): Float32Array {
  const { angle = 0, scale = 1, tx = 0, ty = 0, cx = 256, cy = 250 } = motion;
  const c = Math.cos(angle) * scale, s = Math.sin(angle) * scale;
  for (let i = 0; i < src.length / 3; i++) {
    const x = src[3 * i] - cx, y = src[3 * i + 1] - cy;
    out[3 * i] = cx + tx + c * x - s * y;
    out[3 * i + 1] = cy + ty + s * x + c * y;
    out[3 * i + 2] = src[3 * i + 2] * scale;
  }
  return out;
}

/** A deterministic high-frequency RGB test image (any misplaced sample shows). */
export function noiseImage(width: number, height: number, seed = 1): RgbImage {
  const data = new Uint8Array(width * height * 3);
  const rand = lcg(seed);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rand() * 256);
  return { data, width, height };
}

/** A smooth RGB test image (gradients and soft stripes), like a photo's low frequencies. */
export function smoothImage(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      data[o] = Math.round(127.5 + 120 * Math.sin(x * 0.05 + y * 0.02));
      data[o + 1] = Math.round((255 * y) / Math.max(1, height - 1));
      data[o + 2] = Math.round(127.5 + 120 * Math.cos(x * 0.013 - y * 0.045));
    }
  }
  return { data, width, height };
}
