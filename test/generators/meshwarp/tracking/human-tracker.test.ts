import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageBuffer, loadImageRgb } from '../../../../daemon/media/image.js';
import { decodeVideoFrames } from '../../../../daemon/media/decode.js';
import type { RgbImage } from '../../../../daemon/frames.js';
import { PersonaLiveError } from '../../../../daemon/errors.js';
import { TRACKER_ENGINES, createHumanTracker, facePriority, meshBox, pickFace, type HumanTracker, type TrackerEngine } from '../../../../daemon/generators/meshwarp/tracking/human-tracker.js';
import { LANDMARK_COUNT, MESH_POINTS, type FaceObservation } from '../../../../daemon/generators/meshwarp/tracking/types.js';
import { demoDataDir, requireBinary } from '../../../helpers/system.js';

const data = demoDataDir();
const ffmpeg = requireBinary('ffmpeg');
const PRESETS = ['portrait-1.jpg', 'portrait-2.jpg', 'portrait-3.jpg', 'portrait-4.jpg', 'portrait-5.jpg'];

/** MediaPipe face mesh indices used for the geometry checks. */
const P = {
  forehead: 10,
  noseTip: 1,
  upperLip: 13,
  lowerLip: 14,
  chin: 152,
  eyeA: [33, 133] as const, // outer and inner corner of the eye on the image's left
  eyeB: [263, 362] as const, // ... and on the image's right
  mouthCorners: [61, 291] as const,
  irisCentres: [468, 473] as const,
};

function point(l: Float32Array, i: number): [number, number] {
  return [l[i * 3], l[i * 3 + 1]];
}
function mid(l: Float32Array, [a, b]: readonly [number, number]): [number, number] {
  const [pa, pb] = [point(l, a), point(l, b)];
  return [(pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2];
}
const dist = (a: [number, number], b: [number, number]): number => Math.hypot(a[0] - b[0], a[1] - b[1]);

/** Checks a face the way a person would: everything in its box, features in their places. */
function expectPlausibleFace(face: FaceObservation | null, image: { width: number; height: number }): asserts face is FaceObservation {
  expect(face).not.toBeNull();
  const { landmarks: l, box, score } = face!;
  expect(l.length).toBe(LANDMARK_COUNT * 3);
  expect(l.every(Number.isFinite)).toBe(true);
  expect(score).toBeGreaterThanOrEqual(0.5);
  expect(score).toBeLessThanOrEqual(1);

  const [bx, by, bw, bh] = box;
  expect(bx).toBeGreaterThanOrEqual(0);
  expect(by).toBeGreaterThanOrEqual(0);
  expect(bx + bw).toBeLessThanOrEqual(image.width);
  expect(by + bh).toBeLessThanOrEqual(image.height);
  expect(bw).toBeGreaterThan(image.width * 0.05);
  expect(bh).toBeGreaterThan(image.height * 0.05);
  for (let i = 0; i < LANDMARK_COUNT; i++) {
    const [x, y] = point(l, i);
    expect(x, `landmark ${i} x`).toBeGreaterThanOrEqual(bx - 1);
    expect(x, `landmark ${i} x`).toBeLessThanOrEqual(bx + bw + 1);
    expect(y, `landmark ${i} y`).toBeGreaterThanOrEqual(by - 1);
    expect(y, `landmark ${i} y`).toBeLessThanOrEqual(by + bh + 1);
  }

  const eyeA = mid(l, P.eyeA);
  const eyeB = mid(l, P.eyeB);
  const mouth = mid(l, [P.upperLip, P.lowerLip]);
  const [forehead, nose, chin] = [point(l, P.forehead), point(l, P.noseTip), point(l, P.chin)];
  // Top to bottom: forehead, eyes, nose, mouth, chin.
  expect(forehead[1]).toBeLessThan(Math.min(eyeA[1], eyeB[1]));
  expect(Math.max(eyeA[1], eyeB[1])).toBeLessThan(nose[1]);
  expect(nose[1]).toBeLessThan(mouth[1]);
  expect(mouth[1]).toBeLessThan(chin[1]);
  // Left to right: one eye, nose, the other eye; mouth corners either side of the nose.
  expect(eyeA[0]).toBeLessThan(nose[0]);
  expect(nose[0]).toBeLessThan(eyeB[0]);
  expect(point(l, P.mouthCorners[0])[0]).toBeLessThan(nose[0]);
  expect(point(l, P.mouthCorners[1])[0]).toBeGreaterThan(nose[0]);
  // Eyes apart by a plausible share of the face width; each iris in a different eye.
  const eyeDistance = dist(eyeA, eyeB);
  expect(eyeDistance).toBeGreaterThan(0.25 * bw);
  expect(eyeDistance).toBeLessThan(0.7 * bw);
  const irisEyes = P.irisCentres.map((i) => {
    const c = point(l, i);
    const [da, db] = [dist(c, eyeA), dist(c, eyeB)];
    expect(Math.min(da, db), `iris ${i} lies in an eye`).toBeLessThan(0.2 * eyeDistance);
    return da < db ? 'A' : 'B';
  });
  expect(new Set(irisEyes).size).toBe(2);
  // Depth: the nose tip is nearer the camera (smaller z) than the sides of the face.
  expect(l[P.noseTip * 3 + 2]).toBeLessThan(Math.min(l[234 * 3 + 2], l[454 * 3 + 2]));
}

async function rgbFrom(buffer: Buffer, label: string): Promise<RgbImage> {
  return decodeImageBuffer(buffer, label);
}

describe('face choice (pure)', () => {
  it('prefers a centred face to an equal one in a corner, and a much larger corner face to a small centred one', () => {
    const centred: [number, number, number, number] = [206, 206, 100, 100];
    const corner: [number, number, number, number] = [0, 0, 100, 100];
    expect(facePriority(centred, 512, 512)).toBeCloseTo(10_000, 6);
    expect(facePriority(corner, 512, 512)).toBeLessThan(facePriority(centred, 512, 512));
    expect(pickFace([corner, centred], 512, 512)).toBe(1);
    expect(pickFace([[0, 0, 250, 250], centred], 512, 512)).toBe(0);
    expect(pickFace([], 512, 512)).toBe(-1);
  });

  it('boxes the 468 mesh points only, clamped to the image', () => {
    const l = new Float32Array(LANDMARK_COUNT * 3);
    for (let i = 0; i < MESH_POINTS; i++) (l[i * 3] = 10 + (i % 50)), (l[i * 3 + 1] = -5 + (i % 30));
    for (let i = MESH_POINTS; i < LANDMARK_COUNT; i++) (l[i * 3] = 500), (l[i * 3 + 1] = 500);
    expect(meshBox(l, 512, 512)).toEqual([10, 0, 49, 24]);
  });
});

const BACKENDS: Record<TrackerEngine, RegExp> = {
  onnx: /^onnxruntime cpu \(1 thread per model; MediaPipe blazeface\/facemesh\/iris from @vladmandic\/human\)$/,
  tfjs: /^human \S+\/tfjs-wasm \S+ \((simd|no simd), (single-threaded|\d+ threads)\)$/,
};

describe.skipIf(data.skip).each(TRACKER_ENGINES)('face tracker, engine %s (MediaPipe models of @vladmandic/human)', (engine) => {
  let tracker: HumanTracker;

  beforeAll(async () => {
    tracker = await createHumanTracker(engine === 'onnx' ? {} : { engine });
  }, 60_000);

  afterAll(async () => {
    await tracker?.close();
  });

  it('reports the backend that really runs (onnx is the default)', () => {
    expect(tracker.backend).toMatch(BACKENDS[engine]);
    expect(tracker.mode).toBe('image');
  });

  it('finds one plausible face in reference.png, near the centre', async () => {
    const image = await loadImageRgb(join(data.dir, 'reference.png'));
    const result = await tracker.track(image);
    expect(result.faceCount).toBe(1);
    expect(result.trackMs).toBeGreaterThan(0);
    expectPlausibleFace(result.face, image);
    const [x, y, w, h] = result.face.box;
    expect(Math.abs(x + w / 2 - image.width / 2)).toBeLessThan(image.width * 0.2);
    expect(Math.abs(y + h / 2 - image.height / 2)).toBeLessThan(image.height * 0.25);
    expect(image.data.length, 'the caller keeps its pixels unless it asks to transfer them').toBe(512 * 512 * 3);
    const rotation = result.face!.rotation!;
    expect(Math.abs(rotation.roll)).toBeLessThan(0.3);
    expect(rotation.matrix).toHaveLength(9);
  });

  it.each(PRESETS)('finds one plausible face in preset %s (full resolution)', async (name) => {
    const image = await loadImageRgb(join(data.dir, 'presets', name));
    const result = await tracker.track(image);
    expect(result.faceCount).toBe(1);
    expectPlausibleFace(result.face, image);
  });

  it('returns face null (not an error) for a blank image and for noise', async () => {
    const blank = await tracker.track({ data: new Uint8Array(512 * 512 * 3).fill(128), width: 512, height: 512 });
    expect(blank).toMatchObject({ face: null, faceCount: 0 });
    let s = 12345;
    const noise = new Uint8Array(512 * 512 * 3).map(() => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24));
    const noisy = await tracker.track({ data: noise, width: 512, height: 512 });
    expect(noisy).toMatchObject({ face: null, faceCount: 0 });
  });

  it('chooses the larger, more central of two faces and counts both', async () => {
    const small = await sharp(join(data.dir, 'presets', 'portrait-1.jpg')).resize(176, 176).png().toBuffer();
    const large = await sharp(join(data.dir, 'reference.png')).resize(320, 320).png().toBuffer();
    const composed = await sharp({ create: { width: 512, height: 512, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .composite([
        { input: small, left: 8, top: 300 },
        { input: large, left: 176, top: 96 },
      ])
      .png()
      .toBuffer();
    const result = await tracker.track(await rgbFrom(composed, 'two faces'));
    expect(result.faceCount).toBe(2);
    expectPlausibleFace(result.face, { width: 512, height: 512 });
    const [x, y, w, h] = result.face.box;
    // The chosen face lies inside the large portrait's square (176..496, 96..416).
    expect(x).toBeGreaterThanOrEqual(176);
    expect(y).toBeGreaterThanOrEqual(96);
    expect(x + w).toBeLessThanOrEqual(496);
    expect(y + h).toBeLessThanOrEqual(416);
  });

  it('tracks a grayscale portrait', async () => {
    const gray = await sharp(join(data.dir, 'presets', 'portrait-2.jpg')).grayscale().jpeg().toBuffer();
    const image = await rgbFrom(gray, 'grayscale portrait');
    const result = await tracker.track(image);
    expect(result.faceCount).toBe(1);
    expectPlausibleFace(result.face, image);
  });

  it('tracks a 160x160 portrait, landmarks agreeing with the 512x512 ones scaled down', async () => {
    const full = await loadImageRgb(join(data.dir, 'reference.png'));
    const small = await rgbFrom(await sharp(join(data.dir, 'reference.png')).resize(160, 160).png().toBuffer(), '160x160 reference');
    const [big, little] = [await tracker.track(full), await tracker.track(small)];
    expectPlausibleFace(little.face, small);
    const scale = 160 / 512;
    let sum = 0;
    for (let i = 0; i < MESH_POINTS; i++) {
      const a = point(big.face!.landmarks, i);
      sum += dist([a[0] * scale, a[1] * scale], point(little.face!.landmarks, i));
    }
    // Mean disagreement under 4% of the small face's width.
    expect(sum / MESH_POINTS).toBeLessThan(0.04 * little.face!.box[2]);
  });

  it.skipIf(ffmpeg.skip)(
    'tracks 50 frames of driving.mp4 with no tensor leak and landmarks moving smoothly',
    async () => {
      const frames: Uint8Array[] = [];
      for await (const f of decodeVideoFrames(join(data.dir, 'driving.mp4'), { width: 512, height: 512, maxFrames: 50 })) frames.push(f.data);
      expect(frames).toHaveLength(50);
      await tracker.track({ data: frames[0], width: 512, height: 512 });
      const before = await tracker.stats();
      const tracks: Float32Array[] = [];
      for (const frame of frames) {
        const result = await tracker.track({ data: frame, width: 512, height: 512 }, { transfer: true });
        expect(result.faceCount).toBe(1);
        expectPlausibleFace(result.face, { width: 512, height: 512 });
        tracks.push(result.face.landmarks);
      }
      const after = await tracker.stats();
      expect(after.numTensors).toBe(before.numTensors);
      expect(after.frames - before.frames).toBe(50);
      expect(frames[0].length, 'transfer: true moved the decoded frame to the worker').toBe(0);

      // Smooth: from one frame to the next (40 ms) the mesh moves a few pixels at most, and
      // no frame jumps far from the average of its neighbours.
      const faceWidth = meshBox(tracks[0], 512, 512)[2];
      let moved = 0;
      for (let t = 1; t < tracks.length; t++) {
        let step = 0;
        let kink = 0;
        for (let i = 0; i < MESH_POINTS; i++) {
          step += dist(point(tracks[t], i), point(tracks[t - 1], i));
          if (t + 1 < tracks.length) {
            const [a, b, c] = [point(tracks[t - 1], i), point(tracks[t], i), point(tracks[t + 1], i)];
            kink += dist(b, [(a[0] + c[0]) / 2, (a[1] + c[1]) / 2]);
          }
        }
        moved += step / MESH_POINTS;
        expect(step / MESH_POINTS, `mean landmark step into frame ${t}`).toBeLessThan(0.08 * faceWidth);
        expect(kink / MESH_POINTS, `mean deviation of frame ${t} from its neighbours`).toBeLessThan(0.03 * faceWidth);
      }
      expect(moved / (tracks.length - 1), 'the talking head moves').toBeGreaterThan(0.2);
    },
    60_000,
  );

  it.skipIf(ffmpeg.skip)(
    'video mode agrees with image mode on driving.mp4 frames, then refuses use after close',
    async () => {
      const video = await createHumanTracker({ mode: 'video', engine });
      try {
        expect(video.mode).toBe('video');
        let i = 0;
        for await (const f of decodeVideoFrames(join(data.dir, 'driving.mp4'), { width: 512, height: 512, maxFrames: 12 })) {
          const frame = { data: f.data, width: 512, height: 512 };
          const [a, b] = [await tracker.track(frame), await video.track(frame)];
          expect(b.faceCount).toBe(1);
          expectPlausibleFace(b.face, frame);
          let sum = 0;
          for (let p = 0; p < MESH_POINTS; p++) sum += dist(point(a.face!.landmarks, p), point(b.face!.landmarks, p));
          expect(sum / MESH_POINTS, `frame ${i++}: mean distance between the modes' landmarks`).toBeLessThan(0.05 * a.face!.box[2]);
        }
      } finally {
        await video.close();
      }
      await expect(video.track({ data: new Uint8Array(12), width: 2, height: 2 })).rejects.toMatchObject({ code: 'TRACKER_CLOSED' });
      await video.close();
    },
    60_000,
  );

  it('refuses pixel data that does not match the size, quoting the argument', async () => {
    const error = await tracker.track({ data: new Uint8Array(100), width: 512, height: 512 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PersonaLiveError);
    expect(error).toMatchObject({ code: 'USAGE', message: expect.stringContaining("'data'") });
  });
});

describe.skipIf(data.skip)('face tracker, engine onnx: video mode', () => {
  it('video mode holds its region for a still head: a repeated frame gives identical landmarks', async () => {
    const video = await createHumanTracker({ mode: 'video' });
    try {
      const image = await loadImageRgb(join(data.dir, 'reference.png'));
      const runs: Float32Array[] = [];
      for (let i = 0; i < 6; i++) runs.push((await video.track(image)).face!.landmarks);
      // The first frames settle the region (detector framing, then the mesh's); then it stays.
      expect([...runs[5]]).toEqual([...runs[4]]);
      expect([...runs[4]]).toEqual([...runs[3]]);
    } finally {
      await video.close();
    }
  });

  it('resetStream() makes video mode start over: the next image is read as a fresh tracker reads its first', async () => {
    const other = await loadImageRgb(join(data.dir, 'reference.png'));
    // The same face 6 px to the left: within the region's hold, so a following tracker reads
    // it from the old region, a fresh one from the detector's.
    const portrait = { ...other, data: new Uint8Array(other.data.length) };
    for (let y = 0; y < other.height; y++) {
      const row = y * other.width * 3;
      portrait.data.set(other.data.subarray(row + 6 * 3, row + other.width * 3), row);
    }
    const used = await createHumanTracker({ mode: 'video' });
    const fresh = await createHumanTracker({ mode: 'video' });
    try {
      for (let i = 0; i < 3; i++) await used.track(other);
      const stale = (await used.track(portrait)).face!.landmarks;
      await used.resetStream();
      const afterReset = (await used.track(portrait)).face!.landmarks;
      const first = (await fresh.track(portrait)).face!.landmarks;
      expect([...afterReset]).toEqual([...first]);
      expect([...stale]).not.toEqual([...first]);
    } finally {
      await Promise.all([used.close(), fresh.close()]);
    }
    await expect(used.resetStream()).rejects.toMatchObject({ code: 'TRACKER_CLOSED' });
  });

  it('image mode reads the face from the region its own mesh gives, as video mode does once it follows', async () => {
    // Without the second reading, image mode would equal video mode's first frame (the
    // detector's framing) and differ from its second.
    const image = await loadImageRgb(join(data.dir, 'presets', 'portrait-3.jpg'));
    const still = await createHumanTracker({ mode: 'image' });
    const video = await createHumanTracker({ mode: 'video' });
    try {
      const fromImage = (await still.track(image)).face!.landmarks;
      const firstVideo = (await video.track(image)).face!.landmarks;
      const secondVideo = (await video.track(image)).face!.landmarks;
      expect([...fromImage]).toEqual([...secondVideo]);
      expect([...fromImage]).not.toEqual([...firstVideo]);
    } finally {
      await Promise.all([still.close(), video.close()]);
    }
  });

});

describe('human face tracker: failures', () => {
  it.each(TRACKER_ENGINES)('fails with TRACKER_MODELS_MISSING naming the file when a model is not in the folder (%s)', async (engine) => {
    const dir = await mkdtemp(join(tmpdir(), 'tracker-models-'));
    try {
      await writeFile(join(dir, 'blazeface.json'), JSON.stringify({ weightsManifest: [{ paths: ['blazeface.bin'] }] }));
      const error = await createHumanTracker({ modelDir: dir, engine }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PersonaLiveError);
      expect(error).toMatchObject({ code: 'TRACKER_MODELS_MISSING', message: expect.stringContaining(join(dir, 'blazeface.bin')) });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails with TRACKER_FAILED when the worker dies', async () => {
    const error = await createHumanTracker({ resourceLimits: { maxOldGenerationSizeMb: 8 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PersonaLiveError);
    expect(error).toMatchObject({ code: 'TRACKER_FAILED', message: expect.stringMatching(/face tracker worker (crashed|exited)/) });
  });

  it('fails with TRACKER_FAILED when an image is not answered in time, and stays failed', async () => {
    const slow = await createHumanTracker({ trackTimeoutMs: 1 });
    const image = { data: new Uint8Array(256 * 256 * 3).fill(90), width: 256, height: 256 };
    await expect(slow.track(image)).rejects.toMatchObject({ code: 'TRACKER_FAILED', message: expect.stringContaining('within 1 ms') });
    await expect(slow.track(image)).rejects.toMatchObject({ code: 'TRACKER_FAILED' });
    await slow.close();
    await expect(slow.track(image)).rejects.toMatchObject({ code: 'TRACKER_CLOSED' });
  });

  it('refuses bad options with USAGE', async () => {
    await expect(createHumanTracker({ maxFaces: 0 })).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining("'maxFaces'") });
    await expect(createHumanTracker({ minConfidence: 1.5 })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(createHumanTracker({ mode: 'live' as 'video' })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(createHumanTracker({ engine: 'gpu' as 'onnx' })).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining("'engine'") });
  });
});
