/** The webcam driving source, with ffmpeg's lavfi test pattern standing in for a V4L2 device. */
import { describe, expect, it } from 'vitest';
import { FramePool, type Frame } from '../../daemon/frames.js';
import { createWebcamSource, webcamInputArgs } from '../../daemon/sources/webcam-source.js';
import { monotonicUs } from '../../daemon/util/clock.js';
import { requireBinary } from '../helpers/system.js';

const ffmpeg = requireBinary('ffmpeg');

describe.skipIf(ffmpeg.skip)('webcam driving source', () => {
  it('delivers whole square RGB frames stamped on arrival, and stops cleanly', async () => {
    const source = createWebcamSource('/dev/video-test', { fps: 20, size: 64, pool: new FramePool() }, ['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=20']);
    const frames: Frame[] = [];
    const started = monotonicUs();
    await source.start((frame) => frames.push(frame));
    const deadline = Date.now() + 10_000;
    while (frames.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await source.close();
    expect(frames.length).toBeGreaterThanOrEqual(5);
    for (const frame of frames) {
      expect({ width: frame.width, height: frame.height, bytes: frame.data.length }).toEqual({ width: 64, height: 64, bytes: 64 * 64 * 3 });
      expect(frame.captureUs).toBeGreaterThanOrEqual(started);
    }
    expect(new Set(frames.map((f) => f.data)).size).toBe(frames.length); // each frame a buffer of its own
    expect(source.state()).toBe('stopped');
    expect(source.error()).toBeNull();
  });

  it('reads a V4L2 device through ffmpeg on Linux', () => {
    if (process.platform === 'linux') expect(webcamInputArgs('/dev/video2', 30)).toEqual(['-f', 'v4l2', '-framerate', '30', '-i', '/dev/video2']);
  });
});
