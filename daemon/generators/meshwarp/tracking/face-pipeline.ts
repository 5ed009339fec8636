/**
 * The face tracking pipeline of the ONNX tracker, as pure functions: BlazeFace detection
 * decoding, the face and eye crops, FaceMesh and Iris output decoding, the box that follows
 * the head from frame to frame, and the head angles. onnx-face-worker.ts runs the models;
 * everything here is plain arithmetic on arrays, unit-tested without models.
 *
 * Regions turn with the head's tilt (Region.angle), as in MediaPipe: the models then always
 * see an upright face.
 *
 * The models are MediaPipe's (as shipped by @vladmandic/human): BlazeFace "back" (256x256,
 * [-1, 1] input, 896 anchors), FaceMesh (192x192, [0, 1], 468 points + face flag) and Iris
 * (64x64, [0, 1], 71 eye-contour points + 5 iris points, trained on one eye: the other eye's
 * crop is mirrored). Coordinates stay in floating point end to end: no rounding to whole
 * pixels, which would itself add up to half a pixel of jitter.
 */
import { MESH_POINTS } from './types.js';

export const DETECTOR_SIZE = 256;
export const MESH_SIZE = 192;
export const IRIS_SIZE = 64;

/**
 * A square region of the image, possibly turned: centre and side in image pixels, and the
 * angle (radians, clockwise on screen) by which the region's axes are turned. Like MediaPipe,
 * the mesh and iris models read a tilted head through a region turned with it, so they
 * always see an upright face (they under-report a tilt they are shown: a 10 degree roll came
 * out as 6.7 degrees from an axis-aligned crop).
 */
export interface Region {
  cx: number;
  cy: number;
  side: number;
  angle: number;
}

export interface Detection {
  /** The detector's face box, enlarged and made square: the region the mesh model reads. */
  box: Region;
  score: number;
}

/** Detection tuning, in one place (MediaPipe's and Human's values). */
export const DETECTION = Object.freeze({
  /** The detector's box is enlarged this much before the mesh reads it. */
  enlarge: 1.4,
  /** Overlapping detections above this IoU are one face. */
  iouThreshold: 0.1,
});

/** Eye crop: a square this many times the eye's corner-to-corner distance. */
export const EYE_CROP_SCALE = 2.3;

// ---------------------------------------------------------------------------------------
// Crops

/**
 * Where a point of a region's crop lands in the image: (mx, my) in crop pixels of an
 * outSize x outSize crop (mirrored left-right when `mirror`), turned by the region's angle.
 */
export function cropToImage(region: Region, outSize: number, mx: number, my: number, mirror = false): [number, number] {
  const u = ((mirror ? outSize - mx : mx) / outSize - 0.5) * region.side;
  const v = (my / outSize - 0.5) * region.side;
  const c = Math.cos(region.angle);
  const s = Math.sin(region.angle);
  return [region.cx + u * c - v * s, region.cy + u * s + v * c];
}

/**
 * Samples a region of an RGB24 image into an NHWC float tensor of outSize x outSize,
 * bilinear, value * scale + offset; outside the image reads as black (0). `mirror` flips it
 * left-right. Writes into `out` (outSize * outSize * 3 floats) at `outOffset`.
 */
export function sampleRegion(
  rgb: Uint8Array,
  width: number,
  height: number,
  region: Region,
  outSize: number,
  scale: number,
  offset: number,
  out: Float32Array,
  outOffset = 0,
  mirror = false,
): void {
  const maxX = width - 1;
  const maxY = height - 1;
  // The crop is an affine image of the region: pixel (i, j) samples at P00 + i * di + j * dj
  // (crop pixel centres, shifted by -0.5 into image pixel-index space).
  const [x00, y00] = cropToImage(region, outSize, 0.5, 0.5, mirror);
  const [x10, y10] = cropToImage(region, outSize, 1.5, 0.5, mirror);
  const [x01, y01] = cropToImage(region, outSize, 0.5, 1.5, mirror);
  const dxi = x10 - x00;
  const dyi = y10 - y00;
  for (let j = 0; j < outSize; j++) {
    let sx = x00 + (x01 - x00) * j - 0.5;
    let sy = y00 + (y01 - y00) * j - 0.5;
    for (let i = 0; i < outSize; i++, sx += dxi, sy += dyi) {
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const o = outOffset + (j * outSize + i) * 3;
      if (x0 >= 0 && x0 < maxX && y0 >= 0 && y0 < maxY) {
        const a = (y0 * width + x0) * 3;
        const b = a + width * 3;
        for (let k = 0; k < 3; k++) {
          const top = rgb[a + k] + (rgb[a + 3 + k] - rgb[a + k]) * fx;
          const bottom = rgb[b + k] + (rgb[b + 3 + k] - rgb[b + k]) * fx;
          out[o + k] = (top + (bottom - top) * fy) * scale + offset;
        }
      } else {
        // At or beyond the border: taps outside the image read black.
        const tap = (x: number, y: number, k: number): number => (x >= 0 && x <= maxX && y >= 0 && y <= maxY ? rgb[(y * width + x) * 3 + k] : 0);
        for (let k = 0; k < 3; k++) {
          const top = tap(x0, y0, k) + (tap(x0 + 1, y0, k) - tap(x0, y0, k)) * fx;
          const bottom = tap(x0, y0 + 1, k) + (tap(x0 + 1, y0 + 1, k) - tap(x0, y0 + 1, k)) * fx;
          out[o + k] = (top + (bottom - top) * fy) * scale + offset;
        }
      }
    }
  }
}

/** The square the detector reads: the whole image, padded (centred) to a square. */
export function detectorSquare(width: number, height: number): Region {
  return { cx: width / 2, cy: height / 2, side: Math.max(width, height), angle: 0 };
}

// ---------------------------------------------------------------------------------------
// Detector

let anchorCache: Float32Array | null = null;

/** BlazeFace anchor centres (x, y pairs, detector pixels): 16x16 cells x 2, then 8x8 cells x 6. */
export function detectorAnchors(): Float32Array {
  if (anchorCache) return anchorCache;
  const layers = [
    { stride: 16, perCell: 2 },
    { stride: 32, perCell: 6 },
  ];
  const list: number[] = [];
  for (const { stride, perCell } of layers) {
    const cells = Math.ceil(DETECTOR_SIZE / stride);
    for (let gy = 0; gy < cells; gy++) {
      for (let gx = 0; gx < cells; gx++) {
        for (let n = 0; n < perCell; n++) list.push(stride * (gx + 0.5), stride * (gy + 0.5));
      }
    }
  }
  anchorCache = Float32Array.from(list);
  return anchorCache;
}

/**
 * The detector's four outputs, in any order: scores [512] and [384] (logits), regressors
 * [512 x 16] and [384 x 16]. The 512 anchors of the fine layer come first.
 */
export interface DetectorOutputs {
  scores512: Float32Array;
  scores384: Float32Array;
  boxes512: Float32Array;
  boxes384: Float32Array;
}

/** Sorts the detector's raw outputs by their sizes into DetectorOutputs. */
export function sortDetectorOutputs(outputs: Float32Array[]): DetectorOutputs {
  const bySize = (n: number): Float32Array => {
    const found = outputs.find((o) => o.length === n);
    if (!found) throw new Error(`face detector output of ${n} values is missing (got sizes ${outputs.map((o) => o.length).join(', ')})`);
    return found;
  };
  return { scores512: bySize(512), scores384: bySize(384), boxes512: bySize(512 * 16), boxes384: bySize(384 * 16) };
}

function iou(a: Region, b: Region): number {
  // Detections are compared as upright squares (their turn does not change the overlap much).
  const x0 = Math.max(a.cx - a.side / 2, b.cx - b.side / 2);
  const y0 = Math.max(a.cy - a.side / 2, b.cy - b.side / 2);
  const x1 = Math.min(a.cx + a.side / 2, b.cx + b.side / 2);
  const y1 = Math.min(a.cy + a.side / 2, b.cy + b.side / 2);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = a.side * a.side + b.side * b.side - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Decodes detections above minScore into image-space mesh regions, strongest first,
 * overlapping ones merged (greedy non-maximum suppression), at most maxFaces.
 * `square` is the region the detector read (detectorSquare).
 */
export function decodeDetections(raw: DetectorOutputs, square: Region, minScore: number, maxFaces: number): Detection[] {
  const anchors = detectorAnchors();
  const scale = square.side / DETECTOR_SIZE;
  const candidates: { box: Region; score: number }[] = [];
  const minLogit = Math.log(minScore / (1 - minScore));
  const visit = (scores: Float32Array, boxes: Float32Array, anchorOffset: number): void => {
    for (let i = 0; i < scores.length; i++) {
      if (!(scores[i] > minLogit)) continue;
      const a = (anchorOffset + i) * 2;
      const r = i * 16;
      const cx = anchors[a] + boxes[r];
      const cy = anchors[a + 1] + boxes[r + 1];
      const w = boxes[r + 2];
      const h = boxes[r + 3];
      if (!(w > 0 && h > 0)) continue;
      const side = Math.max(w, h) * DETECTION.enlarge * scale;
      // Keypoints 0 and 1 are the eyes (the image-left one first): their line gives the tilt.
      const angle = Math.atan2(boxes[r + 7] - boxes[r + 5], boxes[r + 6] - boxes[r + 4]);
      const [x, y] = cropToImage(square, DETECTOR_SIZE, cx, cy);
      candidates.push({ box: { cx: x, cy: y, side, angle }, score: 1 / (1 + Math.exp(-scores[i])) });
    }
  };
  visit(raw.scores512, raw.boxes512, 0);
  visit(raw.scores384, raw.boxes384, 512);
  candidates.sort((p, q) => q.score - p.score);
  const kept: Detection[] = [];
  for (const c of candidates) {
    if (kept.length >= maxFaces) break;
    if (kept.every((k) => iou(k.box, c.box) <= DETECTION.iouThreshold)) kept.push(c);
  }
  return kept;
}

// ---------------------------------------------------------------------------------------
// Mesh and iris

/** Maps the mesh model's 468 points (crop pixels of a MESH_SIZE crop of `box`) into `out` (image pixels; z in the same scale). */
export function meshToImage(mesh: Float32Array, box: Region, out: Float32Array): void {
  const s = box.side / MESH_SIZE;
  for (let i = 0; i < MESH_POINTS; i++) {
    const [x, y] = cropToImage(box, MESH_SIZE, mesh[i * 3], mesh[i * 3 + 1]);
    out[i * 3] = x;
    out[i * 3 + 1] = y;
    out[i * 3 + 2] = mesh[i * 3 + 2] * s;
  }
}

/** Eye outlines and their neighbours: mesh point indices per contour, for the eye on the image's left (R) and right (L). */
const EYE_CONTOURS = {
  right: {
    upper0: [246, 161, 160, 159, 158, 157, 173],
    lower0: [33, 7, 163, 144, 145, 153, 154, 155, 133],
    upper1: [247, 30, 29, 27, 28, 56, 190],
    lower1: [130, 25, 110, 24, 23, 22, 26, 112, 243],
    upper2: [113, 225, 224, 223, 222, 221, 189],
    lower2: [226, 31, 228, 229, 230, 231, 232, 233, 244],
    lower3: [143, 111, 117, 118, 119, 120, 121, 128, 245],
    browUpper: [156, 70, 63, 105, 66, 107, 55, 193],
    browLower: [35, 124, 46, 53, 52, 65],
  },
  left: {
    upper0: [466, 388, 387, 386, 385, 384, 398],
    lower0: [263, 249, 390, 373, 374, 380, 381, 382, 362],
    upper1: [467, 260, 259, 257, 258, 286, 414],
    lower1: [359, 255, 339, 254, 253, 252, 256, 341, 463],
    upper2: [342, 445, 444, 443, 442, 441, 413],
    lower2: [446, 261, 448, 449, 450, 451, 452, 453, 464],
    lower3: [372, 340, 346, 347, 348, 349, 350, 357, 465],
    browUpper: [383, 300, 293, 334, 296, 336, 285, 417],
    browLower: [265, 353, 276, 283, 282, 295],
  },
} as const;
type EyeSide = keyof typeof EYE_CONTOURS;
type ContourName = keyof (typeof EYE_CONTOURS)['left'];

/** Where each contour's points sit among the Iris model's 71 eye points. */
const IRIS_MODEL_CONTOURS: Record<ContourName, readonly number[]> = {
  upper0: [9, 10, 11, 12, 13, 14, 15],
  upper1: [25, 26, 27, 28, 29, 30, 31],
  upper2: [41, 42, 43, 44, 45, 46, 47],
  lower0: [0, 1, 2, 3, 4, 5, 6, 7, 8],
  lower1: [16, 17, 18, 19, 20, 21, 22, 23, 24],
  lower2: [32, 33, 34, 35, 36, 37, 38, 39, 40],
  lower3: [54, 55, 56, 57, 58, 59, 60, 61, 62],
  browUpper: [63, 64, 65, 66, 67, 68, 69, 70],
  browLower: [48, 49, 50, 51, 52, 53],
};
const IRIS_MODEL_POINTS = 76;
const IRIS_MODEL_IRIS_START = 71;
/** Landmark index of each eye's 5 iris points (centre first), after the 468 mesh points. */
const IRIS_LANDMARK_START: Record<EyeSide, number> = { left: MESH_POINTS, right: MESH_POINTS + 5 };

/**
 * The square crop around one eye (corner to corner distance x EYE_CROP_SCALE), and whether
 * it is mirrored: the Iris model reads the image-left eye as is and the other one mirrored.
 */
export function eyeCrop(landmarks: Float32Array, side: EyeSide): { box: Region; mirror: boolean } {
  const outline = EYE_CONTOURS[side].lower0;
  const a = outline[0] * 3;
  const b = outline[outline.length - 1] * 3;
  const cx = (landmarks[a] + landmarks[b]) / 2;
  const cy = (landmarks[a + 1] + landmarks[b + 1]) / 2;
  const size = Math.hypot(landmarks[a] - landmarks[b], landmarks[a + 1] - landmarks[b + 1]) * EYE_CROP_SCALE;
  // Turned with the eye-corner line (outer corner of the image-left eye to its inner corner
  // runs left to right; the image-right eye's outer corner comes first, hence the swap).
  const [fromX, fromY, toX, toY] = side === 'right' ? [landmarks[a], landmarks[a + 1], landmarks[b], landmarks[b + 1]] : [landmarks[b], landmarks[b + 1], landmarks[a], landmarks[a + 1]];
  const angle = Math.atan2(toY - fromY, toX - fromX);
  return { box: { cx, cy, side: size, angle }, mirror: side === 'left' };
}

/**
 * Refines the eyes with the Iris model's output for one eye (IRIS_MODEL_POINTS x 3, crop
 * pixels of an IRIS_SIZE crop): the eye contours replace the mesh's (z averaged with the
 * mesh's, all contours when the head faces the camera, only the lid lines of the nearer eye
 * when it is turned, where the far eye's refinement diverges), and the 5 iris points are
 * written after the mesh with z taken from the lids (the model's iris z is unreliable).
 */
export function applyIris(
  landmarks: Float32Array,
  irisOutput: Float32Array,
  outputOffset: number,
  side: EyeSide,
  crop: { box: Region; mirror: boolean },
  contours: 'all' | 'lids' | 'none',
): void {
  const s = crop.box.side / IRIS_SIZE;
  const point = (k: number): [number, number, number] => {
    const o = outputOffset + k * 3;
    const [x, y] = cropToImage(crop.box, IRIS_SIZE, irisOutput[o], irisOutput[o + 1], crop.mirror);
    return [x, y, irisOutput[o + 2] * s];
  };
  if (contours !== 'none') {
    const names: ContourName[] = contours === 'all' ? (Object.keys(IRIS_MODEL_CONTOURS) as ContourName[]) : ['upper0', 'lower0'];
    for (const name of names) {
      const meshIndices = EYE_CONTOURS[side][name];
      const modelIndices = IRIS_MODEL_CONTOURS[name];
      for (let j = 0; j < meshIndices.length; j++) {
        const [x, y, z] = point(modelIndices[j]);
        const m = meshIndices[j] * 3;
        landmarks[m] = x;
        landmarks[m + 1] = y;
        landmarks[m + 2] = (z + landmarks[m + 2]) / 2;
      }
    }
  }
  const upperZ = landmarks[EYE_CONTOURS[side].upper0[3] * 3 + 2];
  const lowerZ = landmarks[EYE_CONTOURS[side].lower0[4] * 3 + 2];
  const start = IRIS_LANDMARK_START[side];
  for (let k = 0; k < 5; k++) {
    const [x, y] = point(IRIS_MODEL_IRIS_START + k);
    const o = (start + k) * 3;
    landmarks[o] = x;
    landmarks[o + 1] = y;
    // Iris points: 0 centre, 1-4 around it; 2 is the top, 4 the bottom.
    landmarks[o + 2] = k === 2 ? upperZ : k === 4 ? lowerZ : (upperZ + lowerZ) / 2;
  }
}

/**
 * Which eye contours the Iris refinement may replace, from the depth difference of the two
 * outer eye corners relative to the face size: facing the camera, both eyes fully; turned,
 * only the lid lines of the nearer eye (the far eye's refinement diverges from the mesh).
 */
export function irisContourPolicy(landmarks: Float32Array, faceSide: number): Record<EyeSide, 'all' | 'lids' | 'none'> {
  // Human/MediaPipe's threshold: 30 units of a 192-pixel face crop.
  const limit = (30 / MESH_SIZE) * faceSide;
  const diff = landmarks[EYE_CONTOURS.left.lower0[0] * 3 + 2] - landmarks[EYE_CONTOURS.right.lower0[0] * 3 + 2];
  if (Math.abs(diff) < limit) return { left: 'all', right: 'all' };
  // Larger z is farther from the camera.
  return diff < 0 ? { left: 'lids', right: 'none' } : { left: 'none', right: 'lids' };
}

export const IRIS_OUTPUT_VALUES = IRIS_MODEL_POINTS * 3;

// ---------------------------------------------------------------------------------------
// Following the head

/** How the mesh region follows the head in video mode. */
export const FOLLOW = Object.freeze({
  /**
   * Region side / largest side of the 468 points' bounding box: the framing the detector's
   * enlarged box gives (measured 341 / 252 on driving.mp4). Larger values feed back (a face
   * small in its crop comes out larger, so the region grows: 1.5 drifted from 378 to 430 px).
   */
  sideOverMesh: 1.35,
  /** The region stays put until the face centre moved this fraction of its side... */
  moveThreshold: 0.02,
  /** ...or the wanted side changed by this fraction... */
  resizeThreshold: 0.04,
  /** ...or the head tilted by this much (radians, 2 degrees). */
  turnThreshold: (2 * Math.PI) / 180,
});

/**
 * Bounds of the 468 mesh points (not the iris points), in image pixels, measured along the
 * image's axes turned by `angle` (radians; 0: the image's own x and y).
 */
export function meshBounds(landmarks: Float32Array, angle = 0): { minX: number; minY: number; maxX: number; maxY: number } {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < MESH_POINTS; i++) {
    const x = landmarks[i * 3] * c + landmarks[i * 3 + 1] * s;
    const y = -landmarks[i * 3] * s + landmarks[i * 3 + 1] * c;
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  return { minX, minY, maxX, maxY };
}

/**
 * The mesh region for the next frame: turned with the head's tilt (the eye-corner line 33 ->
 * 263), centred on the 468 points' bounding box in the face's own axes, FOLLOW.sideOverMesh
 * times its larger side.
 */
export function regionFromMesh(landmarks: Float32Array): Region {
  const angle = Math.atan2(landmarks[263 * 3 + 1] - landmarks[33 * 3 + 1], landmarks[263 * 3] - landmarks[33 * 3]);
  const { minX, minY, maxX, maxY } = meshBounds(landmarks, angle);
  const side = Math.max(maxX - minX, maxY - minY) * FOLLOW.sideOverMesh;
  // The centre, turned back from the face's axes into the image's.
  const mu = (minX + maxX) / 2;
  const mv = (minY + maxY) / 2;
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  return { cx: mu * c - mv * s, cy: mu * s + mv * c, side, angle };
}

/**
 * The region for the next frame: the current one kept while the face stays within the
 * thresholds (so a still head reads exactly the same crop, and the crop does not wander
 * with the landmarks' own noise), else the region the mesh asks for.
 */
export function followRegion(current: Region, wanted: Region): Region {
  const moved = Math.hypot(wanted.cx - current.cx, wanted.cy - current.cy) > FOLLOW.moveThreshold * current.side;
  const resized = Math.abs(wanted.side - current.side) > FOLLOW.resizeThreshold * current.side;
  const turned = Math.abs(Math.atan2(Math.sin(wanted.angle - current.angle), Math.cos(wanted.angle - current.angle))) > FOLLOW.turnThreshold;
  return moved || resized || turned ? wanted : current;
}

// ---------------------------------------------------------------------------------------
// Head angles

/**
 * Head rotation from the mesh: x axis from the right to the left face edge (234 -> 454),
 * y axis from the forehead to the chin (10 -> 152), orthonormalised; angles in radians
 * (pitch about x, yaw about y, roll about z; 0 facing the camera). Row-major matrix whose
 * rows are the face's axes in image coordinates.
 */
export function headAngles(landmarks: Float32Array): { pitch: number; yaw: number; roll: number; matrix: number[] } {
  const p = (i: number): [number, number, number] => [landmarks[i * 3], landmarks[i * 3 + 1], landmarks[i * 3 + 2]];
  const sub = (a: number[], b: number[]): [number, number, number] => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
  const norm = (v: number[]): [number, number, number] => {
    const l = Math.hypot(v[0], v[1], v[2]) || 1;
    return [v[0] / l, v[1] / l, v[2] / l];
  };
  const cross = (a: number[], b: number[]): [number, number, number] => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  const x = norm(sub(p(454), p(234)));
  const yRough = norm(sub(p(152), p(10)));
  const z = norm(cross(x, yRough));
  const y = cross(z, x);
  // Rows are the face axes: R maps image directions onto face directions.
  const matrix = [...x, ...y, ...z];
  const pitch = Math.atan2(-y[2], z[2]);
  const yaw = Math.asin(Math.max(-1, Math.min(1, x[2])));
  const roll = Math.atan2(x[1], x[0]);
  return { pitch, yaw, roll, matrix };
}
