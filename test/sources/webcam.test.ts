/** The webcam driving source, with ffmpeg's lavfi test pattern standing in for a V4L2 device. */
import { spawnSync } from 'node:child_process';
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

  it('a camera that goes away (ffmpeg killed, as when it is unplugged) is said, and comes back by itself', async () => {
    const source = createWebcamSource('/dev/video-test', { fps: 20, size: 64, pool: new FramePool() }, ['-f', 'lavfi', '-i', 'testsrc=size=98x62:rate=20']);
    let frames = 0;
    await source.start(() => { frames++; });
    const waitFor = async (what: () => boolean): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!what() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(what()).toBe(true);
    };
    await waitFor(() => frames >= 3 && source.state() === 'live');
    expect(spawnSync('pkill', ['-KILL', '-f', 'testsrc=size=98x62']).status).toBe(0);
    await waitFor(() => source.state() === 'error');
    expect(source.error()).toMatch(/^webcam \/dev\/video-test stopped \(ffmpeg exit SIGKILL\); holding the last picture and trying again every 2 s/);
    const before = frames;
    await waitFor(() => source.state() === 'live' && frames > before + 2);
    expect(source.error()).toBeNull();
    await source.close();
    expect(source.state()).toBe('stopped');
    expect(spawnSync('pgrep', ['-f', 'testsrc=size=98x62']).status).toBe(1); // no reader left behind
  });

  it('reads a V4L2 device through ffmpeg on Linux', () => {
    if (process.platform === 'linux') expect(webcamInputArgs('/dev/video2', 30)).toEqual(['-f', 'v4l2', '-framerate', '30', '-i', '/dev/video2']);
  });
});
