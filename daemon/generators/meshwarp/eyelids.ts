/**
 * Eyelids that close over the eye instead of squashing it.
 *
 * The warp maps the portrait's triangles onto the animated mesh. When the upper lid margin
 * comes down, the band of triangles between the margin and the ring of mesh points above it
 * (the lid skin, with the lashes at its bottom) is stretched over the eye: the lashes became a
 * dark smear where the eye was, which reads as an open eye (the tracker read a shut rendered
 * eye back as 50-60 % open) and looked like crumpled lid lines. So, as an eye closes:
 *
 * - Lid sources (placeSources): the warp's source position of each upper margin point moves up
 *   its lid band, towards the ring above (at most LID_SOURCE_SHIFT of the way), so the band
 *   samples more lid skin and fewer lashes. Only the source positions change: the mesh, the
 *   native warp and its cost stay as they are.
 * - The lid (paintLids): the band between the shown ring and the shown margin is painted in
 *   the portrait's own lid-skin colour (measured once along the eye, above the lashes), opaque
 *   towards the margin and fading out towards the ring, slightly darker at the lash line; its
 *   strength grows as the eye closes (nothing is painted on an eye as open as the portrait's).
 * - The lash line: a shut eye shows its lashes as a thin dark curve where the lids meet, and a
 *   shut eye's opening has no area left to show them; so as the eye gets nearly shut, a soft
 *   line in the portrait's own lash colour is drawn along the upper margin, thinner at the corners.
 *
 * Closure of an eye = its shown opening over the portrait's (eyeOpenness). Pure over the
 * buffers; everything is measured once per portrait and nothing is allocated per frame.
 */
import type { RgbImage } from '../../frames.js';
import { eyeOpenness, smoothstep, type EyeSide } from './mouth.js';
import { EYELIDS, LEFT_EYE_LOWER, LEFT_EYE_UPPER, LEFT_IRIS_CENTER, RIGHT_EYE_LOWER, RIGHT_EYE_UPPER, RIGHT_IRIS_CENTER, type WarpTopology } from './topology.js';

/** How far up its lid band (margin -> ring above) a shut eye's margin samples from. */
export const LID_SOURCE_SHIFT = 0.6;
/**
 * The iris centre's source on a closing eye stays at most this far up the eye's visible part
 * (a fraction of it): the eye's fan of triangles never folds in the source as the lid comes down.
 */
export const IRIS_SOURCE_LIMIT = 0.9;
/** Closure (shown opening over the portrait's) between which the painted lid fades in (open -> shut). */
export const LID_PAINT_CLOSURE: readonly [number, number] = [0.95, 0.15];
/** Closure between which the lash line fades in. */
export const LASH_LINE_CLOSURE: readonly [number, number] = [0.45, 0.1];

/**
 * The ring of mesh points above each upper lid margin (MediaPipe indices), corner to corner:
 * the lower edge of the lid skin above the lashes. Entries 1..7 face EYELIDS[side].upper.
 */
export const LID_RING = {
  right: [130, 247, 30, 29, 27, 28, 56, 190, 243],
  left: [359, 467, 260, 259, 257, 258, 286, 414, 463],
} as const;

/** The next ring up (under the brow), corner to corner: the lid skin's colour is measured between the margin and it. */
const BROW_RING = {
  right: [226, 113, 225, 224, 223, 222, 221, 189, 244],
  left: [446, 342, 445, 444, 443, 442, 441, 413, 464],
} as const;

const CONTOURS = {
  right: { upper: RIGHT_EYE_UPPER, lower: RIGHT_EYE_LOWER },
  left: { upper: LEFT_EYE_UPPER, lower: LEFT_EYE_LOWER },
} as const;

interface EyeLid {
  side: EyeSide;
  /** The portrait's opening (eyeOpenness); an eye shut in the portrait is left alone. */
  openness: number;
  /** Upper margin points (EYELIDS order) and their source shift when shut (reference pixels). */
  margin: Uint16Array;
  shift: Float32Array;
  /** The lower margin points facing them, and the margins' eye-side copies (WarpTopology.lidCopies) for the eye's inside. */
  lower: Uint16Array;
  copies: Uint16Array;
  /**
   * The triangulated iris centre (-1: none), and the eye's inside across it in the source: the
   * lower lid's point below it, the vector from there up to the upper lid, and the iris centre's
   * place on that span (0 at the lower lid, 1 at the upper).
   */
  iris: number;
  irisBase: Float32Array;
  irisSpan: Float32Array;
  irisPlace: number;
  /** The upper contour corner to corner (9 points): the lid's lower edge and the lash line. */
  contour: Uint16Array;
  /** LID_RING[side]: the lid's upper edge. */
  ring: Uint16Array;
  /** BROW_RING[side]: where the skin above the lid is sampled (halfway up to it). */
  brow: Uint16Array;
  /** The portrait's lid-skin colour along the eye, TABLE + 1 RGB entries from the outer corner to the inner. */
  skin: Float32Array;
  /** The portrait's lash colour (RGB). */
  lash: Float32Array;
}

/** Lash line thickness, as a fraction of the eye's corner-to-corner width (about 2 px on a 512-px portrait). */
const LASH_WIDTH = 0.04;
/** How much darker the painted lid is at the lash line than at its top (the lid's curve turning away). */
const LID_SHADE = 0.06;
/** How far above the ring the lid fades in (a fraction of its height): the stretched band's top shows no crease smear. */
const LID_OVERLAP = 0.25;
/**
 * How far in from each corner (a fraction of the eye's width) the painted lid fades in: over
 * a tenth its flat colour ended in a straight vertical edge at both sides of a shut eye
 * (looked at on the eval's closed-eye sheets); the warped band there samples lid skin too.
 */
const LID_SIDE_FADE = 0.25;
/** How much of the portrait's measured lid skin the lid takes at the lash line (the rest: the rendered skin above it). */
const LID_SKIN_MIX = 0.2;
const TABLE = 32;

/** Per-frame scratch, allocated once: contour offsets along the eye. */
class LidScratch {
  readonly upper = new Float64Array(TABLE + 1);
  readonly ring = new Float64Array(TABLE + 1);
  readonly brow = new Float64Array(TABLE + 1);
  /** The rendered skin above the lid, per place along the eye (RGB). */
  readonly above = new Float64Array(3 * (TABLE + 1));
}

export class EyelidRenderer {
  private readonly eyes: EyeLid[];
  private readonly scratch = new LidScratch();

  /**
   * @param reference the portrait (the warp's source image).
   * @param referenceLandmarks its landmarks (LANDMARK_COUNT x 3, its pixels).
   * @param topology the warp's mesh (its source positions, lid copies and iris centres).
   */
  constructor(reference: RgbImage, referenceLandmarks: Float32Array, topology: Pick<WarpTopology, 'referenceVertices' | 'lidCopies' | 'lidCopyOf' | 'irisCenters'>) {
    this.eyes = (['right', 'left'] as const).map((side) => measureEye(side, reference, referenceLandmarks, topology));
  }

  /**
   * Writes the warp's source positions of the closing eyes into `sources` (a copy of the
   * topology's referenceVertices; only the upper margins, their copies and the iris centres are
   * written) for the shown landmarks. The lid band above a margin samples lid skin (the margin
   * moves up its band); the eye's inside samples the portrait's eye at its own scale from the
   * lower lid up to as far as the eye is shown open: the closing upper lid covers the top of
   * the iris instead of squashing it into a smaller open eye (which the face tracker read back
   * as open, and which looked like one).
   */
  placeSources(shown: Float32Array, referenceVertices: Float32Array, sources: Float32Array): void {
    for (const eye of this.eyes) {
      const c = this.closure(eye, shown);
      const m = LID_SOURCE_SHIFT * (1 - c);
      for (let k = 0; k < eye.margin.length; k++) {
        const v = 2 * eye.margin[k];
        sources[v] = referenceVertices[v] + m * eye.shift[2 * k];
        sources[v + 1] = referenceVertices[v + 1] + m * eye.shift[2 * k + 1];
        const copy = 2 * eye.copies[k], l = 2 * eye.lower[k];
        sources[copy] = referenceVertices[l] + c * (referenceVertices[v] - referenceVertices[l]);
        sources[copy + 1] = referenceVertices[l + 1] + c * (referenceVertices[v + 1] - referenceVertices[l + 1]);
      }
      if (eye.iris >= 0) {
        const place = Math.min(eye.irisPlace, IRIS_SOURCE_LIMIT * c);
        sources[2 * eye.iris] = eye.irisBase[0] + place * eye.irisSpan[0];
        sources[2 * eye.iris + 1] = eye.irisBase[1] + place * eye.irisSpan[1];
      }
    }
  }

  /** Paints the lid and the lash line of each closing eye into `out` (RGB24, width x height; shown landmarks in its pixels). */
  paintLids(out: Uint8Array, width: number, height: number, shown: Float32Array): void {
    for (const eye of this.eyes) {
      const c = this.closure(eye, shown);
      const lid = 1 - smoothstep(LID_PAINT_CLOSURE[1], LID_PAINT_CLOSURE[0], c);
      if (lid > 0) paintLid(out, width, height, shown, eye, lid, this.scratch);
      const lash = 1 - smoothstep(LASH_LINE_CLOSURE[1], LASH_LINE_CLOSURE[0], c);
      if (lash > 0) paintLashLine(out, width, height, shown, eye, lash);
    }
  }

  /** Shown opening over the portrait's, in [0, 1] (1 when the portrait's eye is itself shut or the landmarks are broken). */
  private closure(eye: EyeLid, shown: Float32Array): number {
    if (!(eye.openness > 0.05)) return 1;
    const c = eyeOpenness(shown, eye.side) / eye.openness;
    // Not finite (a broken frame): as the portrait, nothing changed.
    return Number.isNaN(c) || c > 1 ? 1 : c > 0 ? c : 0;
  }
}

/** The eye's frame in some landmarks: the outer corner, the unit axis to the inner corner, the normal towards the lower lid. */
interface EyeFrame {
  ax: number;
  ay: number;
  ux: number;
  uy: number;
  nx: number;
  ny: number;
  width: number;
}

function eyeFrame(lm: Float32Array, side: EyeSide, stride: number): EyeFrame | null {
  const upper = CONTOURS[side].upper;
  const a = upper[0], b = upper[upper.length - 1];
  const ax = lm[stride * a], ay = lm[stride * a + 1];
  const dx = lm[stride * b] - ax, dy = lm[stride * b + 1] - ay;
  const width = Math.hypot(dx, dy);
  if (!(width > 1)) return null;
  const ux = dx / width, uy = dy / width;
  let nx = -uy, ny = ux;
  // Down is away from the ring above the lid (the lids themselves meet or cross on a shut eye).
  const r = LID_RING[side][4];
  if ((lm[stride * r] - ax) * nx + (lm[stride * r + 1] - ay) * ny > 0) {
    nx = -nx;
    ny = -ny;
  }
  return { ax, ay, ux, uy, nx, ny, width };
}

/**
 * Samples a chain's offset along the frame's normal at TABLE + 1 evenly spaced points from
 * corner to corner (piecewise linear in the chain's own projections; held flat beyond its ends).
 */
function sampleChain(lm: Float32Array, stride: number, chain: Uint16Array, f: EyeFrame, table: Float64Array): void {
  let k = 0;
  const at = (i: number): [number, number] => {
    const x = lm[stride * chain[i]] - f.ax, y = lm[stride * chain[i] + 1] - f.ay;
    return [(x * f.ux + y * f.uy) / f.width, x * f.nx + y * f.ny];
  };
  let [t0, s0] = at(0);
  let [t1, s1] = at(Math.min(1, chain.length - 1));
  for (let i = 0; i <= TABLE; i++) {
    const t = i / TABLE;
    while (t > t1 && k + 2 < chain.length) {
      k++;
      t0 = t1;
      s0 = s1;
      [t1, s1] = at(k + 1);
    }
    table[i] = t1 - t0 > 1e-9 ? s0 + ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0)) * (s1 - s0) : t <= t0 ? s0 : s1;
  }
}

function measureEye(side: EyeSide, reference: RgbImage, lm: Float32Array, topology: Pick<WarpTopology, 'referenceVertices' | 'lidCopies' | 'lidCopyOf' | 'irisCenters'>): EyeLid {
  const vertices = topology.referenceVertices;
  const margin = Uint16Array.from(EYELIDS[side].upper);
  const copies = Uint16Array.from(margin, (m) => topology.lidCopies.start + topology.lidCopyOf.indexOf(m));
  const ring = Uint16Array.from(LID_RING[side]);
  const contour = Uint16Array.from(CONTOURS[side].upper);
  const f = eyeFrame(vertices, side, 2) ?? { ax: 0, ay: 0, ux: 1, uy: 0, nx: 0, ny: 1, width: 1 };
  const shift = new Float32Array(2 * margin.length);
  const lash = new Float32Array(3);
  // Lid skin at the chain points (margin k faces ring k + 1), by t along the eye.
  const skinAt: { t: number; rgb: number[] }[] = [];
  for (let k = 0; k < margin.length; k++) {
    const m = margin[k], r = ring[k + 1];
    const mx = vertices[2 * m], my = vertices[2 * m + 1];
    // The band's height above this margin point ("up" is -n); the shift goes straight up by it.
    const band = Math.max(0, -((vertices[2 * r] - mx) * f.nx + (vertices[2 * r + 1] - my) * f.ny));
    shift[2 * k] = -band * f.nx;
    shift[2 * k + 1] = -band * f.ny;
    const dark = pickAlong(reference, mx, my, -f.nx, -f.ny, -1, Math.max(2, 0.5 * band), 0);
    for (let c = 0; c < 3; c++) lash[c] += dark[c] / margin.length;
    // Skin: half a light pixel (70th percentile) between the band's middle and the brow ring
    // (above the lashes, and not the lid fold's shadow, which a median picked on hooded eyes),
    // half the median of the skin under the eye (a shut lid bulges out into the light as it does).
    const h = BROW_RING[side][k + 1];
    const reach = Math.max(band + 1, -((vertices[2 * h] - mx) * f.nx + (vertices[2 * h + 1] - my) * f.ny));
    const lid = pickAlong(reference, mx, my, -f.nx, -f.ny, 0.5 * band, reach, 0.7);
    const l = CONTOURS[side].lower[k + 1];
    const under = pickAlong(reference, vertices[2 * l], vertices[2 * l + 1], f.nx, f.ny, 0.2 * f.width, 0.45 * f.width, 0.5);
    skinAt.push({ t: ((mx - f.ax) * f.ux + (my - f.ay) * f.uy) / f.width, rgb: lid.map((v, c) => (v + under[c]) / 2) });
  }
  const skin = new Float32Array(3 * (TABLE + 1));
  for (let i = 0; i <= TABLE; i++) {
    const t = i / TABLE;
    let j = 0;
    while (j + 2 < skinAt.length && skinAt[j + 1].t < t) j++;
    const p = skinAt[j], q = skinAt[j + 1];
    const w = q.t - p.t > 1e-9 ? Math.min(1, Math.max(0, (t - p.t) / (q.t - p.t))) : 0;
    for (let c = 0; c < 3; c++) skin[3 * i + c] = p.rgb[c] + (q.rgb[c] - p.rgb[c]) * w;
  }
  const iris = measureIris(side, vertices, f, topology.irisCenters);
  return { side, openness: eyeOpenness(lm, side), margin, shift, lower: Uint16Array.from(EYELIDS[side].lower), copies, ...iris, contour, ring, brow: Uint16Array.from(BROW_RING[side]), skin, lash };
}

/** The eye's inside across its iris centre, in the source (see EyeLid.irisBase); no iris when it is not triangulated. */
function measureIris(side: EyeSide, vertices: Float32Array, f: EyeFrame, irisCenters: Uint16Array): Pick<EyeLid, 'iris' | 'irisBase' | 'irisSpan' | 'irisPlace'> {
  const iris = side === 'right' ? RIGHT_IRIS_CENTER : LEFT_IRIS_CENTER;
  const none = { iris: -1, irisBase: new Float32Array(2), irisSpan: new Float32Array(2), irisPlace: 0 };
  if (!irisCenters.includes(iris)) return none;
  const upper = new Float64Array(TABLE + 1), lower = new Float64Array(TABLE + 1);
  sampleChain(vertices, 2, Uint16Array.from(CONTOURS[side].upper), f, upper);
  sampleChain(vertices, 2, Uint16Array.from(CONTOURS[side].lower), f, lower);
  const x = vertices[2 * iris] - f.ax, y = vertices[2 * iris + 1] - f.ay;
  const t = Math.min(1, Math.max(0, (x * f.ux + y * f.uy) / f.width));
  const s = x * f.nx + y * f.ny;
  const i = Math.min(TABLE - 1, Math.floor(t * TABLE)), w = t * TABLE - i;
  const su = upper[i] + w * (upper[i + 1] - upper[i]), sl = lower[i] + w * (lower[i + 1] - lower[i]);
  // "Down" is towards the lower lid: the upper lid's offset is the smaller.
  if (!(sl - su > 0.5)) return none;
  const along = t * f.width;
  return {
    iris,
    irisBase: Float32Array.of(f.ax + along * f.ux + sl * f.nx, f.ay + along * f.uy + sl * f.ny),
    irisSpan: Float32Array.of((su - sl) * f.nx, (su - sl) * f.ny),
    irisPlace: Math.min(1, Math.max(0, (sl - s) / (sl - su))),
  };
}

/** The pixel at luma quantile `q` (0: the darkest) on the segment from (x, y) + from * d to (x, y) + to * d. */
function pickAlong(img: RgbImage, x: number, y: number, dx: number, dy: number, from: number, to: number, q: number): number[] {
  const samples: { luma: number; rgb: number[] }[] = [];
  for (let d = from; d <= to; d += 0.5) {
    const px = Math.min(img.width - 1, Math.max(0, Math.floor(x + d * dx)));
    const py = Math.min(img.height - 1, Math.max(0, Math.floor(y + d * dy)));
    const o = 3 * (py * img.width + px);
    const rgb = [img.data[o], img.data[o + 1], img.data[o + 2]];
    samples.push({ luma: 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2], rgb });
  }
  samples.sort((a, b) => a.luma - b.luma);
  return samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]?.rgb ?? [128, 128, 128];
}

/** Bounding box (pixels, clipped) of the given landmarks' x, y, grown by `pad`; null when one is not finite. */
function boxOf(lm: Float32Array, chains: Uint16Array[], pad: number, width: number, height: number): [number, number, number, number] | null {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const chain of chains) {
    for (let k = 0; k < chain.length; k++) {
      const x = lm[3 * chain[k]], y = lm[3 * chain[k] + 1];
      if (!Number.isFinite(x) || !Number.isFinite(y)) return null;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
  }
  const x0 = Math.max(0, Math.floor(minX - pad)), x1 = Math.min(width - 1, Math.ceil(maxX + pad));
  const y0 = Math.max(0, Math.floor(minY - pad)), y1 = Math.min(height - 1, Math.ceil(maxY + pad));
  return x0 > x1 || y0 > y1 ? null : [x0, y0, x1, y1];
}

/**
 * The closing lid: between the shown ring (top) and the shown upper margin (bottom, plus half
 * a pixel to cover what is left of the opening), the portrait's lid skin for that place along
 * the eye, opaque (times `strength`) below 20 % of the way down, fading out just above the
 * ring, narrowing to the margin at the corners.
 */
function paintLid(out: Uint8Array, width: number, height: number, lm: Float32Array, eye: EyeLid, strength: number, scratch: LidScratch): void {
  const f = eyeFrame(lm, eye.side, 3);
  const box = f && boxOf(lm, [eye.contour, eye.ring], 1, width, height);
  if (!f || !box) return;
  sampleChain(lm, 3, eye.contour, f, scratch.upper);
  sampleChain(lm, 3, eye.ring, f, scratch.ring);
  sampleChain(lm, 3, eye.brow, f, scratch.brow);
  const [x0, y0, x1, y1] = box;
  sampleAbove(out, width, height, f, eye, scratch);
  for (let py = y0; py <= y1; py++) {
    const cy = py + 0.5;
    for (let px = x0; px <= x1; px++) {
      const cx = px + 0.5;
      const rx = cx - f.ax, ry = cy - f.ay;
      const t = (rx * f.ux + ry * f.uy) / f.width;
      if (t <= 0 || t >= 1) continue;
      const s = rx * f.nx + ry * f.ny;
      const fi = t * TABLE, i0 = Math.min(TABLE - 1, Math.floor(fi)), w = fi - i0;
      const bottom = scratch.upper[i0] + (scratch.upper[i0 + 1] - scratch.upper[i0]) * w + 0.5;
      // Towards the corners the lid narrows to the margin (no straight cut at the corner).
      const taper = smoothstep(0, 0.1, t) * smoothstep(0, 0.1, 1 - t);
      const top = bottom + (scratch.ring[i0] + (scratch.ring[i0 + 1] - scratch.ring[i0]) * w - bottom) * taper;
      const u = (s - top) / Math.max(1, bottom - top); // 0 at the ring, 1 at the margin
      if (u <= -LID_OVERLAP || s >= bottom + 0.5) continue;
      const alpha = strength * smoothstep(-LID_OVERLAP, 0.2, u) * (1 - smoothstep(bottom - 0.5, bottom + 0.5, s)) * smoothstep(0, LID_SIDE_FADE, t) * smoothstep(0, LID_SIDE_FADE, 1 - t);
      if (!(alpha > 0)) continue;
      // The rendered skin above (no edge where the lid meets it), a little of the portrait's lid skin lower down.
      const mix = LID_SKIN_MIX * smoothstep(0, 1, u);
      const shade = 1 - LID_SHADE * u * u;
      const o = 3 * (py * width + px), k = 3 * i0;
      for (let c = 0; c < 3; c++) {
        const skin = eye.skin[k + c] + (eye.skin[k + 3 + c] - eye.skin[k + c]) * w;
        const above = scratch.above[k + c] + (scratch.above[k + 3 + c] - scratch.above[k + c]) * w;
        const colour = (above + (skin - above) * mix) * shade;
        out[o + c] = Math.round(out[o + c] + (colour - out[o + c]) * alpha);
      }
    }
  }
}

/**
 * The rendered frame's skin above the lid, along the eye, into scratch.above: the mean of
 * three pixels halfway between the ring and the brow ring (the lid's top blends into it).
 * Where that is darker than the portrait's lid skin (a brow or a fold's shadow there) the lid
 * skin is taken instead. Smoothed along the eye.
 */
function sampleAbove(out: Uint8Array, width: number, height: number, f: EyeFrame, eye: EyeLid, scratch: LidScratch): void {
  const { above, ring, brow } = scratch;
  for (let i = 0; i <= TABLE; i++) {
    const t = i / TABLE;
    const k = 3 * i;
    let r = 0, g = 0, b = 0;
    for (let q = 0.35; q < 0.7; q += 0.15) {
      const s = ring[i] + (Math.min(brow[i], ring[i] - 2) - ring[i]) * q;
      const px = Math.min(width - 1, Math.max(0, Math.floor(f.ax + t * f.width * f.ux + s * f.nx)));
      const py = Math.min(height - 1, Math.max(0, Math.floor(f.ay + t * f.width * f.uy + s * f.ny)));
      const o = 3 * (py * width + px);
      r += out[o] / 3;
      g += out[o + 1] / 3;
      b += out[o + 2] / 3;
    }
    const dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.85 * (0.299 * eye.skin[k] + 0.587 * eye.skin[k + 1] + 0.114 * eye.skin[k + 2]);
    above[k] = dark ? eye.skin[k] : r;
    above[k + 1] = dark ? eye.skin[k + 1] : g;
    above[k + 2] = dark ? eye.skin[k + 2] : b;
  }
  // Four passes of a [1 2 1] filter along the eye (in place, from a running copy of the left neighbour).
  for (let pass = 0; pass < 4; pass++) {
    for (let c = 0; c < 3; c++) {
      let left = above[c];
      for (let i = 1; i < TABLE; i++) {
        const here = above[3 * i + c];
        above[3 * i + c] = (left + 2 * here + above[3 * (i + 1) + c]) / 4;
        left = here;
      }
    }
  }
}

/**
 * A soft line along the eye's upper contour (corner to corner), thickest in the middle,
 * blended in the lash colour: coverage 1 within half the thickness, fading over one pixel.
 */
function paintLashLine(out: Uint8Array, width: number, height: number, lm: Float32Array, eye: EyeLid, strength: number): void {
  const c = eye.contour;
  const n = c.length;
  const ax = lm[3 * c[0]], ay = lm[3 * c[0] + 1];
  const ux = lm[3 * c[n - 1]] - ax, uy = lm[3 * c[n - 1] + 1] - ay;
  const eyeWidth = Math.hypot(ux, uy);
  const thickness = Math.max(1, LASH_WIDTH * eyeWidth);
  const box = boxOf(lm, [c], thickness / 2 + 1, width, height);
  if (!(eyeWidth > 1) || !box) return;
  const [x0, y0, x1, y1] = box;
  for (let py = y0; py <= y1; py++) {
    const cy = py + 0.5;
    for (let px = x0; px <= x1; px++) {
      const cx = px + 0.5;
      // Nearest point of the contour polyline, and where along the eye it is (0..1 corner to corner).
      let best = Infinity, along = 0;
      for (let k = 0; k + 1 < n; k++) {
        const sx = lm[3 * c[k]], sy = lm[3 * c[k] + 1];
        const dx = lm[3 * c[k + 1]] - sx, dy = lm[3 * c[k + 1] + 1] - sy;
        const l2 = dx * dx + dy * dy;
        let t = l2 > 0 ? ((cx - sx) * dx + (cy - sy) * dy) / l2 : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        const qx = sx + t * dx - cx, qy = sy + t * dy - cy;
        const d2 = qx * qx + qy * qy;
        if (d2 < best) {
          best = d2;
          along = ((sx + t * dx - ax) * ux + (sy + t * dy - ay) * uy) / (eyeWidth * eyeWidth);
        }
      }
      const tc = Math.abs(2 * Math.min(1, Math.max(0, along)) - 1); // 0 in the middle, 1 at a corner
      const half = (thickness * (1 - 0.7 * tc * tc)) / 2;
      const cover = 1 - smoothstep(half - 0.5, half + 0.5, Math.sqrt(best));
      if (cover <= 0) continue;
      const alpha = cover * strength;
      const o = 3 * (py * width + px);
      out[o] = Math.round(out[o] + (eye.lash[0] - out[o]) * alpha);
      out[o + 1] = Math.round(out[o + 1] + (eye.lash[1] - out[o + 1]) * alpha);
      out[o + 2] = Math.round(out[o + 2] + (eye.lash[2] - out[o + 2]) * alpha);
    }
  }
}
