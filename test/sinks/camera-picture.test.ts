/**
 * A wide reference photo animated in its own framing, end to end without a device: the
 * built-in generator animates the photo's centre square on the demo video, the virtual-camera
 * sink pastes it back into the whole photo at 1280x720 and hands NV12 to the OBS Virtual
 * Camera queue writer (in-process shared memory), whose slots are read back here. Outside the
 * animation the picture is the photo itself (sharp, not blurred); across the seam there is
 * no step; the face moves.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInProcessSharedMemory } from '../../daemon/ffi/shared-memory.js';
import type { Frame, RgbImage } from '../../daemon/frames.js';
import { createMeshwarpGenerator, type MeshwarpGenerator } from '../../daemon/generators/meshwarp/index.js';
import { framedBox } from '../../daemon/kernels/compose.js';
import { decodeVideoFrames } from '../../daemon/media/decode.js';
import { backgroundPicture, loadImageRgb } from '../../daemon/media/image.js';
import { CameraPictureStage } from '../../daemon/sinks/camera-picture.js';
import { VirtualCameraSink } from '../../daemon/sinks/virtual-camera.js';
import { OBS_QUEUE_HEADER, ObsVirtualCamWriter, obsQueueLayout } from '../../daemon/vcam/obs-virtualcam.js';
import type { FrameWriter, VirtualCameraConfig } from '../../daemon/vcam/writer.js';
import { demoDataDir, requireBinary } from '../helpers/system.js';

const demo = demoDataDir();
const ffmpeg = requireBinary('ffmpeg');
const W = 1280;
const H = 720;
const SIZE = 512;

describe.skipIf(demo.skip || ffmpeg.skip)('a wide reference photo in its own framing through the 1280x720 camera picture', () => {
  let generator: MeshwarpGenerator;
  let wide: RgbImage;
  beforeAll(async () => {
    // A 16:9 photo: the portrait with its own wall extended to both sides (as a wider shot would show it).
    const portrait = await loadImageRgb(join(demo.dir, 'reference.png'));
    const side = Math.round((portrait.height * 16) / 9);
    const { data, info } = await sharp(portrait.data, { raw: { width: portrait.width, height: portrait.height, channels: 3 } })
      .extend({ left: Math.floor((side - portrait.width) / 2), right: Math.ceil((side - portrait.width) / 2), extendWith: 'copy' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    wide = { data: new Uint8Array(data), width: info.width, height: info.height };
    generator = await createMeshwarpGenerator({ size: SIZE });
    await generator.fuseReference(wide); // the generator animates the photo's centre square
  }, 120_000);
  afterAll(async () => generator?.close());

  it('is the photo outside the animation, has no seam, and moves', async () => {
    const memory = createInProcessSharedMemory();
    const openWriter = (config: VirtualCameraConfig): FrameWriter => ObsVirtualCamWriter.open({ ...config, name: 'wide', backend: memory, resolutionFile: null });
    const stage = new CameraPictureStage(W, H, {
      placement: { scale: 0.5, x: 0.2, y: 0.5 }, // ignored for a wide photo
      framing: (reference) => framedBox(reference.width, reference.height, W, H),
      background: (reference, box) => backgroundPicture({ mode: 'photo', colour: '#000000', imagePath: '', reference, box }, W, H),
    });
    const sink = new VirtualCameraSink({ width: W, height: H, fpsNum: 25, fpsDen: 1, openWriter, stage });
    await sink.start();
    sink.referenceChanged(wide);
    await stage.ready(); // the background is made beside the stream
    expect(sink.status().framing).toBe('photo');
    const layout = obsQueueLayout(W, H);
    const queue = new Uint8Array(memory.open('wide', layout.size)!.buffer);
    const view = new DataView(queue.buffer);
    const lumaPlane = (): Uint8Array => {
      const slot = layout.slotOffsets[view.getUint32(OBS_QUEUE_HEADER.readIdx, true) % 3]! + 32;
      return queue.slice(slot, slot + W * H);
    };
    const expected = await backgroundPicture({ mode: 'photo', colour: '#000000', imagePath: '', reference: wide }, W, H);
    const box = framedBox(wide.width, wide.height, W, H);
    expect(box).toEqual({ left: 280, top: 0, size: 720 });
    const planes: Uint8Array[] = [];
    let n = 0;
    for await (const f of decodeVideoFrames(join(demo.dir, 'driving.mp4'), { width: SIZE, height: SIZE, maxFrames: 40 })) {
      for (const out of await generator.push(f as Frame)) {
        sink.write(out, false, ++n);
        if (n % 13 === 0) planes.push(lumaPlane());
      }
    }
    for (const out of await generator.flush()) sink.write(out, false, ++n);
    planes.push(lumaPlane());
    const last = planes.at(-1)!;
    const y = (rgb: Uint8Array, i: number): number => (66 * rgb[3 * i]! + 129 * rgb[3 * i + 1]! + 25 * rgb[3 * i + 2]! + 128 >> 8) + 16;
    // Outside the box: the photo itself (BT.601 limited luma of the cover-scaled photo, within rounding).
    let outsideError = 0;
    let count = 0;
    for (let row = 0; row < H; row += 7) for (const col of [10, 100, 200, 1100, 1200, 1270]) { outsideError += Math.abs(last[row * W + col]! - y(expected, row * W + col)); count++; }
    expect(outsideError / count).toBeLessThan(3);
    // Across the seam (the box's left and right edges): no step bigger than the photo's own texture.
    let step = 0;
    for (let row = 40; row < H - 40; row++) for (const edge of [box.left, box.left + box.size - 1]) step += Math.abs(last[row * W + edge - 2]! - last[row * W + edge + 2]!);
    expect(step / ((H - 80) * 2)).toBeLessThan(6);
    // The face moves: the centre of the box differs between early and late frames.
    let moved = 0;
    for (let row = 150; row < 550; row++) for (let col = 500; col < 780; col++) moved += Math.abs(planes[0]![row * W + col]! - last[row * W + col]!);
    expect(moved / (400 * 280)).toBeGreaterThan(0.5);
    await sink.close();
  }, 120_000);
});
