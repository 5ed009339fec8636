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
  sampleSquare,
  sortDetectorOutputs,
  type DetectorOutputs,
} from '../../daemon/tracking/face-pipeline.js';
import { LANDMARK_COUNT, MESH_POINTS } from '../../daemon/tracking/types.js';

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
    expect(square).toEqual({ x: 0, y: -80, side: 640 });
    const [face] = decodeDetections(raw, square, 0.5, 4);
    const scale = 640 / DETECTOR_SIZE;
    const side = 50 * DETECTION.enlarge * scale;
    expect(face.score).toBeCloseTo(1 / (1 + Math.exp(-4)), 5);
    expect(face.box.side).toBeCloseTo(side, 4);
    expect(face.box.x + side / 2).toBeCloseTo(58 * scale, 4);
    expect(face.box.y + side / 2).toBeCloseTo(84 * scale - 80, 4);
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
    sampleSquare(image, W, H, { x: 1, y: 0, side: 4 }, 4, 1 / 255, 0, out);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 4; x++) {
        for (let c = 0; c < 3; c++) expect(out[(y * 4 + x) * 3 + c]).toBeCloseTo(image[(y * W + x + 1) * 3 + c] / 255, 6);
      }
    }
  });

  it('mirrors left-right, and reads black (the offset) outside the image', () => {
    const plain = new Float32Array(4 * 4 * 3);
    const mirrored = new Float32Array(4 * 4 * 3);
    sampleSquare(image, W, H, { x: 1, y: 0, side: 4 }, 4, 1, 0, plain);
    sampleSquare(image, W, H, { x: 1, y: 0, side: 4 }, 4, 1, 0, mirrored, 0, true);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 4; x++) expect(mirrored[(y * 4 + x) * 3]).toBe(plain[(y * 4 + 3 - x) * 3]);
    }
    const outside = new Float32Array(2 * 2 * 3);
    sampleSquare(image, W, H, { x: 100, y: 100, side: 4 }, 2, 1 / 127.5, -1, outside);
    expect([...outside].every((v) => v === -1)).toBe(true);
  });

  it('writes at an offset, so two eyes share one batch tensor', () => {
    const out = new Float32Array(2 * 2 * 2 * 3).fill(9);
    sampleSquare(image, W, H, { x: 0, y: 0, side: 2 }, 2, 1, 0, out, 12);
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
    meshToImage(mesh, { x: 100, y: 50, side: 384 }, out);
    expect([...out.slice(0, 6)]).toEqual([100, 50, 0, 484, 242, -20]);
  });

  it('crops each eye around its corners, the image-right eye mirrored, and maps the iris model back', () => {
    const l = new Float32Array(LANDMARK_COUNT * 3);
    l.set([300, 200, 0], 263 * 3); // left eye outer corner
    l.set([260, 204, 0], 362 * 3); // inner corner
    const crop = eyeCrop(l, 'left');
    expect(crop.mirror).toBe(true);
    expect(crop.box.side).toBeCloseTo(40 * 2.3, 5);
    expect(crop.box.x + crop.box.side / 2).toBeCloseTo(280, 5);
    expect(eyeCrop(l, 'right').mirror).toBe(false);

    const output = new Float32Array(IRIS_OUTPUT_VALUES);
    output.set([16, 32, 4], 71 * 3); // iris centre, a quarter in from the crop's left edge
    output.set([10, 30, 6], 9 * 3); // first upper-lid point
    const before = l[466 * 3 + 2];
    applyIris(l, output, 0, 'left', crop, 'all');
    const s = crop.box.side / IRIS_SIZE;
    // Mirrored crop: x = 16 in the crop is 48 from the left of the image region.
    expect(l[MESH_POINTS * 3]).toBeCloseTo(crop.box.x + 48 * s, 4);
    expect(l[MESH_POINTS * 3 + 1]).toBeCloseTo(crop.box.y + 32 * s, 4);
    expect(l[466 * 3]).toBeCloseTo(crop.box.x + 54 * s, 4);
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
    const r = regionFromMesh(frontalFace(256, 240, 200));
    expect(r.side).toBeCloseTo(200 * FOLLOW.sideOverMesh, 4);
    expect(r.x + r.side / 2).toBeCloseTo(256, 4);
    expect(r.y + r.side / 2).toBeCloseTo(240, 4);
  });

  it('keeps the region for small moves (the same crop for a still head), follows larger ones', () => {
    const current = { x: 100, y: 100, side: 300 };
    const nudged = { x: 103, y: 101, side: 302 };
    expect(followRegion(current, nudged)).toBe(current);
    const moved = { x: 110, y: 100, side: 300 };
    expect(followRegion(current, moved)).toBe(moved);
    const grown = { x: 95, y: 95, side: 315 };
    expect(followRegion(current, grown)).toBe(grown);
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
