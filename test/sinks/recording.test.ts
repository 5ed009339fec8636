/**
 * The live recording sink against real ffmpeg: the file keeps the wall clock (a microphone
 * recorded beside it stays in sync), keeps its size and rate whatever the output does, and
 * never loses what was recorded when ffmpeg dies, the disk fills or the daemon is killed.
 * Ticks carry simulated clock times (the sink counts frames against them), so a 60 s session
 * runs in a few seconds.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PersonaLiveError } from '../../daemon/errors.js';
import { drivingFrame, type Frame } from '../../daemon/frames.js';
import { createRecordingSink, framesDue, recoverRecordings } from '../../daemon/sinks/recording.js';
import type { Sink } from '../../daemon/sinks/types.js';
import { eventually } from '../helpers/eventually.js';
import { mountSmallDisk, requireBinary } from '../helpers/system.js';

const ffmpeg = requireBinary('ffmpeg');
const work = mkdtempSync(join(tmpdir(), 'pl-recording-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function probe(file: string): { frames: number; width: number; height: number; rate: string } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames,width,height,r_frame_rate', '-of', 'json', file], { encoding: 'utf8' });
  const s = (JSON.parse(out) as { streams: Array<{ nb_read_frames: string; width: number; height: number; r_frame_rate: string }> }).streams[0]!;
  return { frames: Number(s.nb_read_frames), width: s.width, height: s.height, rate: s.r_frame_rate };
}

/** The RGB of frame `index` of `file`, at its centre. */
function pixelAt(file: string, index: number): [number, number, number] {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-vf', `select=eq(n\\,${index}),crop=2:2:(iw-2)/2:(ih-2)/2`, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
  return [raw[0]!, raw[1]!, raw[2]!];
}

function solid(size: number, rgb: readonly [number, number, number]): Frame {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return drivingFrame(data, size, size, 0, 0);
}

function noise(size: number, seed: number): Frame {
  const data = new Uint8Array(size * size * 3);
  let x = seed * 2654435761;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return drivingFrame(data, size, size, 0, 0);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Ticks `sink` at `fps` from `fromS` to `toS` (simulated seconds), each once ffmpeg has taken
 * what is due (as real time would let it), so the simulated clock runs as fast as the encoder.
 */
async function run(sink: Sink, frame: Frame, fromS: number, toS: number, fps: number): Promise<void> {
  for (let t = fromS; t <= toS + 1e-9; t += 1 / fps) {
    sink.write(frame, false, Math.round(t * 1e6));
    for (let waited = 0; (sink.status().pending as number) > 0 && waited < 5000; waited++) await sleep(1);
  }
}

describe('framesDue', () => {
  it('counts frames against the clock, so a missed tick is made up instead of shortening the file', () => {
    expect(framesDue(0, 25)).toBe(1);
    expect(framesDue(39_999, 25)).toBe(1);
    expect(framesDue(40_000, 25)).toBe(2);
    expect(framesDue(60e6, 25)).toBe(1501);
    expect(framesDue(-5, 25)).toBe(1);
  });
});

describe.skipIf(ffmpeg.skip)('the recording sink', () => {
  it('keeps the wall clock over a 60 s session with a 2 s stall and rate changes (within one frame), repeating the picture on air', async () => {
    const path = join(work, 'clock.mp4');
    const errors: PersonaLiveError[] = [];
    const sink = await createRecordingSink(path, 64, 64, 25, (e) => errors.push(e));
    await run(sink, solid(64, [200, 30, 30]), 0, 20, 25); // red at the file's own rate
    // 20 s .. 22 s: no tick at all (a generator failover); then 15 fps, then 30 fps.
    await run(sink, solid(64, [30, 200, 30]), 22, 40, 15);
    await run(sink, solid(64, [30, 30, 200]), 40 + 1 / 30, 60, 30);
    await sink.close();
    expect(errors).toEqual([]);
    const file = probe(path);
    expect(file).toMatchObject({ width: 64, height: 64, rate: '25/1' });
    expect(Math.abs(file.frames / 25 - 60)).toBeLessThanOrEqual(1 / 25 + 1e-9);
    expect(sink.status()).toMatchObject({ lost: 0 });
    // The stall shows the last picture (red) until the next one (green at 22 s).
    expect(pixelAt(path, 21 * 25)[0]).toBeGreaterThan(150);
    expect(pixelAt(path, 23 * 25)[1]).toBeGreaterThan(150);
    expect(pixelAt(path, 50 * 25)[2]).toBeGreaterThan(150);
  });

  it('keeps its size when the output size changes mid-recording: frames are scaled into it, one file, no gap', async () => {
    const path = join(work, 'size.mp4');
    const sink = await createRecordingSink(path, 64, 64, 25, () => undefined);
    await run(sink, solid(64, [200, 30, 30]), 0, 2, 25);
    await run(sink, solid(32, [30, 200, 30]), 2 + 1 / 25, 4, 25);
    await run(sink, solid(128, [30, 30, 200]), 4 + 1 / 25, 6, 25);
    await sink.close();
    const file = probe(path);
    expect(file).toMatchObject({ width: 64, height: 64 });
    expect(file.frames).toBe(framesDue(6e6, 25));
    expect(pixelAt(path, 75)[1]).toBeGreaterThan(150);
    expect(pixelAt(path, 140)[2]).toBeGreaterThan(150);
    expect(readdirSync(work).filter((n) => n.startsWith('size'))).toEqual(['size.mp4']);
  });

  it('never writes an empty file when nothing was ever on air', async () => {
    const path = join(work, 'empty.mp4');
    const sink = await createRecordingSink(path, 64, 64, 25, () => undefined);
    await sink.close();
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(work).filter((n) => n.includes('empty'))).toEqual([]);
  });

  it('ffmpeg killed mid-recording: the footage recorded before it is kept, playable, under the recording name, and the error says where', async () => {
    const folder = join(work, 'killed');
    mkdirSync(folder);
    const path = join(folder, 'show.mp4');
    const errors: PersonaLiveError[] = [];
    const sink = await createRecordingSink(path, 64, 64, 25, (e) => errors.push(e));
    await run(sink, noise(64, 1), 0, 5, 25);
    const temp = readdirSync(folder).find((n) => n.includes('.recording-'))!;
    await eventually('a fragment on disk', async () => statSync(join(folder, temp)).size > 20_000);
    expect(spawnSync('pkill', ['-KILL', '-f', join(folder, temp)]).status).toBe(0);
    let t = 5;
    await eventually('the failure to be told', async () => {
      await run(sink, noise(64, 2), t, (t += 0.2), 25); // time goes on: more frames are due
      return errors.length === 1;
    });
    await sink.close();
    expect(errors[0]!.code).toBe('FFMPEG_FAILED');
    expect(errors[0]!.message).toContain(`kept in "${path}"`);
    expect(readdirSync(folder)).toEqual(['show.mp4']);
    expect(probe(path).frames).toBeGreaterThanOrEqual(3 * 25);
  });

  it('a daemon killed while recording: the next start puts the orphaned recording into place, beside an existing file, and leaves a live one alone', async () => {
    const folder = join(work, 'orphans');
    mkdirSync(folder);
    writeFileSync(join(folder, 'show.mp4'), 'an earlier recording');
    // An orphan: a fragmented MP4 under a recording temp name whose writer (pid) is gone, its
    // last fragment cut off as a kill leaves it.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const orphan = join(folder, `.show.mp4.recording-${dead}-0123abcd.mp4`);
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=64x64:rate=25', '-t', '3', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+empty_moov+default_base_moof', '-frag_duration', '500000', '-f', 'mp4', orphan]);
    truncateSync(orphan, statSync(orphan).size - 3000);
    // An empty orphan (killed before its first fragment), and a live recording of this process.
    writeFileSync(join(folder, `.cut.mp4.recording-${dead}-0badcafe.mp4`), '');
    const live = join(folder, `.live.mp4.recording-${process.pid}-00c0ffee.mp4`);
    writeFileSync(live, 'being written');

    const recovered = await recoverRecordings([folder, folder]);
    expect(recovered).toHaveLength(2);
    const put = recovered.find((r) => r.to !== null)!;
    expect(put).toMatchObject({ from: orphan, to: join(folder, 'show-2.mp4') });
    expect(put.seconds).toBeGreaterThan(1.5);
    expect(probe(join(folder, 'show-2.mp4')).frames).toBeGreaterThan(10);
    expect(readdirSync(folder).sort()).toEqual(['.live.mp4.recording-' + process.pid + '-00c0ffee.mp4', 'show-2.mp4', 'show.mp4']);
  });

  it('the disk fills up while recording (a 256 KB tmpfs): the stream is told once, the footage that fit is kept and plays', async (context) => {
    const mountPoint = join(work, 'small-disk');
    mkdirSync(mountPoint);
    const unmount = mountSmallDisk(mountPoint, '256k');
    if (!unmount) return context.skip();
    try {
      const path = join(mountPoint, 'show.mp4');
      const errors: PersonaLiveError[] = [];
      const sink = await createRecordingSink(path, 64, 64, 25, (e) => errors.push(e));
      for (let second = 0; errors.length === 0 && second < 120; second++) await run(sink, noise(64, second), second, second + 1 - 1 / 25, 25);
      await sink.close();
      expect(errors).toHaveLength(1);
      expect(errors[0]!.code).toBe('FFMPEG_FAILED');
      expect(errors[0]!.message).toMatch(/No space left on device/);
      expect(errors[0]!.message).toContain(`kept in "${path}"`);
      expect(readdirSync(mountPoint)).toEqual(['show.mp4']);
      expect(probe(path).frames).toBeGreaterThan(25);
    } finally {
      unmount();
    }
  });
});
