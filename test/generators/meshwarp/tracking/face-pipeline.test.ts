import { describe, expect, it } from 'vitest';
import {
  DETECTION,
  DETECTOR_SIZE,
  FOLLOW,
  IRIS_OUTPUT_VALUES,
  IRIS_SIZE,
  MESH_SIZE,
  applyIris,
  decodeDetections,
  detectorAnchors,
  detectorSquare,
  eyeCrop,
  followRegion,
  headAngles,
  irisContourPolicy,
  meshToImage,
  regionFromMesh,
  cropToImage,
  sampleRegion,
  sortDetectorOutputs,
  type DetectorOutputs,
} from '../../../../daemon/generators/meshwarp/tracking/face-pipeline.js';
import { LANDMARK_COUNT, MESH_POINTS } from '../../../../daemon/generators/meshwarp/tracking/types.js';

function emptyOutputs(): DetectorOutputs {
  return {
    scores512: new Float32Array(512).fill(-20),
    scores384: new Float32Array(384).fill(-20),
    boxes512: new Float32Array(512 * 16),
    boxes384: new Float32Array(384 * 16),
  };
}

describe('detector decoding', () => {
  it('has the 896 BlazeFace anchors: 16x16 cells x 2, then 8x8 cells x 6', () => {
    const a = detectorAnchors();
    expect(a.length).toBe(896 * 2);
    expect([a[0], a[1], a[2], a[3]]).toEqual([8, 8, 8, 8]);
    expect([a[4], a[5]]).toEqual([24, 8]);
    expect([a[511 * 2], a[511 * 2 + 1]]).toEqual([248, 248]);
    expect([a[512 * 2], a[512 * 2 + 1]]).toEqual([16, 16]);
    expect([a[895 * 2], a[895 * 2 + 1]]).toEqual([240, 240]);
  });

  it('sorts the four raw outputs by size whatever their order, and names a missing one', () => {
    const o = emptyOutputs();
    const sorted = sortDetectorOutputs([o.boxes384, o.scores512, o.boxes512, o.scores384]);
    expect(sorted.scores384).toBe(o.scores384);
    expect(sorted.boxes512).toBe(o.boxes512);
    expect(() => sortDetectorOutputs([o.scores512])).toThrow(/output of 384 values is missing/);
  });

  it('maps a detection to an enlarged square in image pixels, through the padding of a non-square image', () => {
    const raw = emptyOutputs();
    // Fine-layer anchor 2 * (16 * 5 + 3) sits at (56, 88) in detector pixels.
    const index = 2 * (16 * 5 + 3);
    raw.scores512[index] = 4; // sigmoid 0.982
    raw.boxes512.set([2, -4, 40, 50], index * 16);
    const square = detectorSquare(640, 480); // 640 wide: 80 px of padding above and below
    expect(square).toEqual({ cx: 320, cy: 240, side: 640, angle: 0 });
    const [face] = decodeDetections(raw, square, 0.5, 4);
    const scale = 640 / DETECTOR_SIZE;
    const side = 50 * DETECTION.enlarge * scale;
    expect(face.score).toBeCloseTo(1 / (1 + Math.exp(-4)), 5);
    expect(face.box.side).toBeCloseTo(side, 4);
    expect(face.box.cx).toBeCloseTo(58 * scale, 4);
    expect(face.box.cy).toBeCloseTo(84 * scale - 80, 4);
    expect(face.box.angle).toBe(0); // both eye keypoints at the anchor: no tilt

    // Eye keypoints 10 px apart with the right one 10 px lower: a 45-degree tilt.
    raw.boxes512.set([-5, 0, 5, 10], index * 16 + 4);
    expect(decodeDetections(raw, square, 0.5, 4)[0].box.angle).toBeCloseTo(Math.PI / 4, 9);
  });

  it('merges overlapping detections, keeps separate faces strongest first, drops weak ones and caps the count', () => {
    const raw = emptyOutputs();
    const put = (index: number, logit: number): void => {
      raw.scores512[index] = logit;
      raw.boxes512.set([0, 0, 48, 48], index * 16);
    };
    put(2 * (16 * 5 + 5), 3); // face A
    put(2 * (16 * 5 + 5) + 1, 2); // the same face, second anchor of the cell
    put(2 * (16 * 12 + 12), 5); // face B, far away
    put(2 * (16 * 1 + 14), -1); // below 0.5
    const found = decodeDetections(raw, detectorSquare(256, 256), 0.5, 4);
    expect(found.map((f) => Math.round(f.score * 100))).toEqual([99, 95]);
    expect(decodeDetections(raw, detectorSquare(256, 256), 0.5, 1)).toHaveLength(1);
  });
});

describe('crops', () => {
  const W = 6;
  const H = 4;
  const image = Uint8Array.from({ length: W * H * 3 }, (_, i) => (i * 7) % 251);

  it('a crop of the whole image at its own size reproduces the pixels (scaled)', () => {
    const out = new Float32Array(4 * 4 * 3);
    sampleRegion(image, W, H, { cx: 3, cy: 2, side: 4, angle: 0 }, 4, 1 / 255, 0, out);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 4; x++) {
        for (let c = 0; c < 3; c++) expect(out[(y * 4 + x) * 3 + c]).toBeCloseTo(image[(y * W + x + 1) * 3 + c] / 255, 6);
      }
    }
  });

  it('mirrors left-right, and reads black (the offset) outside the image', () => {
    const plain = new Float32Array(4 * 4 * 3);
    const mirrored = new Float32Array(4 * 4 * 3);
    sampleRegion(image, W, H, { cx: 3, cy: 2, side: 4, angle: 0 }, 4, 1, 0, plain);
    sampleRegion(image, W, H, { cx: 3, cy: 2, side: 4, angle: 0 }, 4, 1, 0, mirrored, 0, true);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 4; x++) expect(mirrored[(y * 4 + x) * 3]).toBe(plain[(y * 4 + 3 - x) * 3]);
    }
    const outside = new Float32Array(2 * 2 * 3);
    sampleRegion(image, W, H, { cx: 102, cy: 102, side: 4, angle: 0 }, 2, 1 / 127.5, -1, outside);
    expect([...outside].every((v) => v === -1)).toBe(true);
  });

  it('a region turned by 90 degrees reads the image turned (crop rows are image columns)', () => {
    const square = Uint8Array.from({ length: 4 * 4 * 3 }, (_, i) => i % 3 === 0 ? i / 3 : 0); // red = pixel index
    const out = new Float32Array(4 * 4 * 3);
    sampleRegion(square, 4, 4, { cx: 2, cy: 2, side: 4, angle: Math.PI / 2 }, 4, 1, 0, out);
    // Turned clockwise by 90 degrees: crop (i, j) reads image (x = 3 - j, y = i).
    for (let j = 0; j < 4; j++) for (let i = 0; i < 4; i++) expect(out[(j * 4 + i) * 3]).toBeCloseTo(i * 4 + (3 - j), 6);
    // And cropToImage maps crop coordinates back the same way (pixel centres).
    const [x, y] = cropToImage({ cx: 2, cy: 2, side: 4, angle: Math.PI / 2 }, 4, 0.5, 3.5);
    expect(x).toBeCloseTo(0.5, 9);
    expect(y).toBeCloseTo(0.5, 9);
  });

  it('writes at an offset, so two eyes share one batch tensor', () => {
    const out = new Float32Array(2 * 2 * 2 * 3).fill(9);
    sampleRegion(image, W, H, { cx: 1, cy: 1, side: 2, angle: 0 }, 2, 1, 0, out, 12);
    expect(out.slice(0, 12).every((v) => v === 9)).toBe(true);
    expect(out[12]).toBe(image[0]);
  });
});

function frontalFace(cx: number, cy: number, size: number): Float32Array {
  // A flat grid of 468 points spanning `size`, then the key points the angles read.
  const l = new Float32Array(LANDMARK_COUNT * 3);
  for (let i = 0; i < MESH_POINTS; i++) {
    l[i * 3] = cx - size / 2 + ((i % 22) / 21) * size;
    l[i * 3 + 1] = cy - size / 2 + (Math.floor(i / 22) / 21) * size;
  }
  const set = (i: number, x: number, y: number, z: number): void => void l.set([x, y, z], i * 3);
  set(234, cx - size / 2, cy, 0);
  set(454, cx + size / 2, cy, 0);
  set(10, cx, cy - size / 2, 0);
  set(152, cx, cy + size / 2, 0);
  return l;
}

describe('mesh and iris decoding', () => {
  it('maps mesh crop pixels to image pixels, z in the same scale', () => {
    const mesh = new Float32Array(MESH_POINTS * 3);
    mesh.set([0, 0, 0, MESH_SIZE, MESH_SIZE / 2, -10]);
    const out = new Float32Array(LANDMARK_COUNT * 3);
    meshToImage(mesh, { cx: 292, cy: 242, side: 384, angle: 0 }, out);
    expect([...out.slice(0, 6)]).toEqual([100, 50, 0, 484, 242, -20]);
    meshToImage(mesh, { cx: 292, cy: 242, side: 384, angle: Math.PI }, out);
    expect(out[0]).toBeCloseTo(484, 4); // a region turned upside down: the crop's corner is the image's far corner
    expect(out[1]).toBeCloseTo(434, 4);
  });

  it('crops each eye around its corners, the image-right eye mirrored, and maps the iris model back', () => {
    const l = new Float32Array(LANDMARK_COUNT * 3);
    l.set([300, 200, 0], 263 * 3); // left eye outer corner
    l.set([260, 204, 0], 362 * 3); // inner corner
    const crop = eyeCrop(l, 'left');
    expect(crop.mirror).toBe(true);
    expect(crop.box.side).toBeCloseTo(Math.hypot(40, 4) * 2.3, 5);
    expect(crop.box.cx).toBeCloseTo(280, 5);
    expect(crop.box.angle).toBeCloseTo(Math.atan2(-4, 40), 9); // inner corner (260, 204) to outer (300, 200)
    expect(eyeCrop(l, 'right').mirror).toBe(false);

    const output = new Float32Array(IRIS_OUTPUT_VALUES);
    output.set([16, 32, 4], 71 * 3); // iris centre, a quarter in from the crop's left edge
    output.set([10, 30, 6], 9 * 3); // first upper-lid point
    const before = l[466 * 3 + 2];
    applyIris(l, output, 0, 'left', crop, 'all');
    const s = crop.box.side / IRIS_SIZE;
    // Mirrored crop: x = 16 in the crop is 48 from the region's left edge (then turned).
    const [ix, iy] = cropToImage(crop.box, IRIS_SIZE, 48, 32);
    expect(l[MESH_POINTS * 3]).toBeCloseTo(ix, 4);
    expect(l[MESH_POINTS * 3 + 1]).toBeCloseTo(iy, 4);
    expect(l[466 * 3]).toBeCloseTo(cropToImage(crop.box, IRIS_SIZE, 54, 30)[0], 4);
    expect(l[466 * 3 + 2]).toBeCloseTo((6 * s + before) / 2, 4);
  });

  it('refines both eyes facing the camera, only the nearer eye lids when turned', () => {
    const l = new Float32Array(LANDMARK_COUNT * 3);
    expect(irisContourPolicy(l, 384)).toEqual({ left: 'all', right: 'all' });
    l[263 * 3 + 2] = -80; // the left eye corner much nearer the camera
    expect(irisContourPolicy(l, 384)).toEqual({ left: 'lids', right: 'none' });
    l[263 * 3 + 2] = 80;
    expect(irisContourPolicy(l, 384)).toEqual({ left: 'none', right: 'lids' });
  });
});

describe('following the head', () => {
  it('frames the mesh like the detector does', () => {
    const face = frontalFace(256, 240, 200);
    face.set([200, 220, 0], 33 * 3); // eye corners level: upright
    face.set([312, 220, 0], 263 * 3);
    const r = regionFromMesh(face);
    expect(r.side).toBeCloseTo(200 * FOLLOW.sideOverMesh, 4);
    expect(r.cx).toBeCloseTo(256, 4);
    expect(r.cy).toBeCloseTo(240, 4);
    expect(r.angle).toBeCloseTo(0, 9);
    face.set([312, 240, 0], 263 * 3); // the head tilted: the region turns with it
    expect(regionFromMesh(face).angle).toBeCloseTo(Math.atan2(20, 112), 9);
  });

  it('keeps the region for small moves (the same crop for a still head), follows larger ones', () => {
    const current = { cx: 250, cy: 250, side: 300, angle: 0 };
    const nudged = { cx: 253, cy: 251, side: 302, angle: 0.01 };
    expect(followRegion(current, nudged)).toBe(current);
    const moved = { cx: 260, cy: 250, side: 300, angle: 0 };
    expect(followRegion(current, moved)).toBe(moved);
    const grown = { cx: 250, cy: 250, side: 315, angle: 0 };
    expect(followRegion(current, grown)).toBe(grown);
    const tilted = { cx: 250, cy: 250, side: 300, angle: 0.05 };
    expect(followRegion(current, tilted)).toBe(tilted);
  });
});

describe('head angles', () => {
  it('is zero facing the camera and recovers a known yaw, pitch and roll', () => {
    const a = headAngles(frontalFace(256, 256, 200));
    expect(a.pitch).toBeCloseTo(0, 6);
    expect(a.yaw).toBeCloseTo(0, 6);
    expect(a.roll).toBeCloseTo(0, 6);
    expect(a.matrix).toHaveLength(9);

    const rotate = (l: Float32Array, f: (p: [number, number, number]) => [number, number, number]): Float32Array => {
      const out = Float32Array.from(l);
      for (let i = 0; i < LANDMARK_COUNT; i++) out.set(f([l[i * 3] - 256, l[i * 3 + 1] - 256, l[i * 3 + 2]]).map((v, k) => v + (k < 2 ? 256 : 0)), i * 3);
      return out;
    };
    const t = 0.3;
    const yawed = rotate(frontalFace(256, 256, 200), ([x, y, z]) => [x * Math.cos(t) - z * Math.sin(t), y, x * Math.sin(t) + z * Math.cos(t)]);
    expect(Math.abs(headAngles(yawed).yaw)).toBeCloseTo(t, 5);
    const rolled = rotate(frontalFace(256, 256, 200), ([x, y, z]) => [x * Math.cos(t) - y * Math.sin(t), x * Math.sin(t) + y * Math.cos(t), z]);
    expect(headAngles(rolled).roll).toBeCloseTo(t, 5);
    const pitched = rotate(frontalFace(256, 256, 200), ([x, y, z]) => [x, y * Math.cos(t) - z * Math.sin(t), y * Math.sin(t) + z * Math.cos(t)]);
    expect(Math.abs(headAngles(pitched).pitch)).toBeCloseTo(t, 5);
  });
});
