/**
 * Integration tests for the ffmpeg adapter against the real ffmpeg/ffprobe. Inputs are
 * generated per run with lavfi (testsrc2, color, sine) in a temp folder.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PersonaLiveError } from '../../daemon/errors.js';
import { decodeVideoFrames } from '../../daemon/media/decode.js';
import type { Frame } from '../../daemon/frames.js';
import { assertWritableOutput, openMp4Writer } from '../../daemon/media/encode.js';
import { findFfmpeg } from '../../daemon/media/ffmpeg.js';
import { probeVideo } from '../../daemon/media/probe.js';
import { requireBinary, demoDataDir } from '../helpers/system.js';
import { rejection } from '../helpers/errors.js';

const { skip } = requireBinary('ffmpeg');
const { dir: DEMO, skip: noDemoData } = demoDataDir();
const DRIVING = path.join(DEMO, 'driving.mp4');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

let dir: string;
const f = (name: string): string => path.join(dir, name);

function ffmpeg(...args: string[]): void {
  execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

interface Probed {
  streams: Array<{ codec_type: string; codec_name: string; pix_fmt?: string; nb_read_frames?: string; avg_frame_rate: string; duration?: string }>;
}

/** ffprobe with an exact frame count, independent of the code under test. */
function countProbe(file: string): Probed {
  const json = execFileSync('ffprobe', [
    '-v', 'error', '-count_frames', '-show_entries',
    'stream=codec_type,codec_name,pix_fmt,nb_read_frames,avg_frame_rate,duration', '-of', 'json', file,
  ]);
  return JSON.parse(json.toString()) as Probed;
}

async function collect(gen: AsyncGenerator<Frame>): Promise<Frame[]> {
  const frames: Frame[] = [];
  for await (const frame of gen) frames.push(frame);
  return frames;
}

function pixel(frame: { data: Uint8Array }, width: number, x: number, y: number): number[] {
  const i = (y * width + x) * 3;
  return [frame.data[i], frame.data[i + 1], frame.data[i + 2]];
}

function expectColour(actual: number[], expected: number[], tolerance: number): void {
  for (let c = 0; c < 3; c++) {
    if (Math.abs(actual[c] - expected[c]) > tolerance) {
      throw new Error(`colour ${JSON.stringify(actual)} is not within ${tolerance} of ${JSON.stringify(expected)}`);
    }
  }
}

function solidFrame(width: number, height: number, rgb: number[]): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return data;
}

/** Pids whose command line mentions `needle`, and zombie children of this process (Linux /proc). */
function processesMentioning(needle: string): { running: string[]; zombies: string[] } {
  const running: string[] = [];
  const zombies: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)) running.push(pid);
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' && Number(ppid) === process.pid) zombies.push(pid);
    } catch {
      // the process ended while we looked
    }
  }
  return { running, zombies };
}

/** A folder whose ffmpeg is a shell script (stderr message, exit 1) and whose ffprobe is the real one. */
function fakeFfmpegDir(name: string, script: string): string {
  const fake = f(name);
  mkdirSync(fake);
  writeFileSync(path.join(fake, 'ffmpeg'), `#!/bin/sh\nPATH=/usr/bin:/bin\n${script}\n`);
  chmodSync(path.join(fake, 'ffmpeg'), 0o755);
  symlinkSync(findFfmpeg().ffprobe, path.join(fake, 'ffprobe'));
  return fake;
}

describe.skipIf(skip)('ffmpeg adapter', () => {
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'personalive-ffmpeg-'));
    const x264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];
    // 320x240 (4:3), 10 fps, 2 s: with a 440 Hz tone, and without audio.
    ffmpeg('-f', 'lavfi', '-i', 'testsrc2=s=320x240:r=10:d=2', '-f', 'lavfi', '-i', 'sine=f=440:d=2', ...x264, '-c:a', 'aac', '-shortest', f('av.mp4'));
    ffmpeg('-f', 'lavfi', '-i', 'testsrc2=s=320x240:r=10:d=2', ...x264, f('v.mp4'));
    ffmpeg('-f', 'lavfi', '-i', 'sine=f=440:d=1', '-c:a', 'aac', f('audio-only.m4a'));
    ffmpeg('-f', 'lavfi', '-i', 'testsrc2=s=320x240:r=10:d=2', '-f', 'lavfi', '-i', 'sine=f=440:d=2', ...x264, '-c:a', 'flac', '-shortest', f('flac.mkv'));
    ffmpeg('-f', 'lavfi', '-i', 'testsrc2=s=320x240:r=25:d=10', ...x264, f('long.mp4'));
    // Green with a red band (x < 30) and a blue band (x >= 290): a 4:3 -> 1:1 centre crop keeps x 40..280 only.
    ffmpeg(
      '-f', 'lavfi', '-i',
      'color=c=0x00FF00:s=320x240:r=10:d=1,drawbox=x=0:y=0:w=30:h=240:color=0xFF0000:t=fill,drawbox=x=290:y=0:w=30:h=240:color=0x0000FF:t=fill',
      '-c:v', 'libx264', '-crf', '8', '-pix_fmt', 'yuv420p', f('bands.mp4'),
    );
    // Five red frames, then five 0x3366CC frames.
    ffmpeg(
      '-f', 'lavfi', '-i', 'color=c=0xFF0000:s=160x120:r=10:d=0.5', '-f', 'lavfi', '-i', 'color=c=0x3366CC:s=160x120:r=10:d=0.5',
      '-filter_complex', '[0:v][1:v]concat=n=2:v=1[v]', '-map', '[v]', '-c:v', 'libx264', '-crf', '8', '-pix_fmt', 'yuv420p', f('sequence.mp4'),
    );
    // A video stream in the header but the sample data cut off: probes fine, decodes nothing.
    ffmpeg('-f', 'lavfi', '-i', 'testsrc2=s=64x64:r=10:d=1', ...x264, '-movflags', '+faststart', f('whole.mp4'));
    const whole = readFileSync(f('whole.mp4'));
    writeFileSync(f('truncated.mp4'), whole.subarray(0, whole.indexOf('mdat') + 20));
    writeFileSync(f('notes.txt'), 'These are my notes, not a video.\n');
    mkdirSync(f('empty-path'));
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('findFfmpeg', () => {
    it('finds both binaries on PATH', () => {
      const found = findFfmpeg();
      expect(path.basename(found.ffmpeg)).toMatch(/^ffmpeg(\.exe)?$/);
      expect(path.basename(found.ffprobe)).toMatch(/^ffprobe(\.exe)?$/);
    });

    it('missing ffmpeg: FFMPEG_MISSING names the PATH searched and how to install', () => {
      const empty = f('empty-path');
      let error: unknown;
      try {
        findFfmpeg({ PATH: empty });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(PersonaLiveError);
      expect((error as PersonaLiveError).code).toBe('FFMPEG_MISSING');
      const message = (error as PersonaLiveError).message;
      expect(message).toContain('ffmpeg and ffprobe not found on PATH');
      expect(message).toContain(empty);
      expect(message).toContain('apt-get install ffmpeg');
      expect(message).toContain('brew install ffmpeg');
      expect(message).toContain('winget');
    });

    it('missing ffprobe only: the message names ffprobe', () => {
      const half = f('only-ffmpeg');
      mkdirSync(half);
      symlinkSync(findFfmpeg().ffmpeg, path.join(half, 'ffmpeg'));
      expect(() => findFfmpeg({ PATH: half })).toThrow(/^ffprobe not found on PATH/);
    });

    it('missing ffmpeg: probe, decode and writer all report FFMPEG_MISSING', async () => {
      const env = { PATH: f('empty-path') };
      expect((await rejection(probeVideo(f('v.mp4'), env))).code).toBe('FFMPEG_MISSING');
      expect((await rejection(collect(decodeVideoFrames(f('v.mp4'), { width: 8, height: 8, env })))).code).toBe('FFMPEG_MISSING');
      expect((await rejection(openMp4Writer({ outPath: f('x.mp4'), width: 8, height: 8, fpsRational: '10/1', env }))).code).toBe(
        'FFMPEG_MISSING',
      );
    });
  });

  describe('probeVideo', () => {
    it('reads size, rate, duration and audio of a clip with audio', async () => {
      const info = await probeVideo(f('av.mp4'));
      expect(info).toMatchObject({ width: 320, height: 240, fps: 10, fpsRational: '10/1', hasAudio: true, audioCodec: 'aac' });
      expect(info.durationSec).toBeCloseTo(2, 1);
      expect(info.frameCountEstimate).toBe(20);
    });

    it('reports no audio for a silent clip', async () => {
      const info = await probeVideo(f('v.mp4'));
      expect(info).toMatchObject({ width: 320, height: 240, fps: 10, hasAudio: false, audioCodec: null });
    });

    it('accepts a file name that starts with "-" and contains ":"', async () => {
      copyFileSync(f('v.mp4'), f('-odd:name.mp4'));
      const info = await probeVideo(f('-odd:name.mp4'));
      expect(info.width).toBe(320);
    });

    it.skipIf(noDemoData)('reads the demo driving.mp4 as 512x512 at 25/1 without audio', async () => {
      const info = await probeVideo(DRIVING);
      expect(info).toMatchObject({ width: 512, height: 512, fps: 25, fpsRational: '25/1', hasAudio: false, audioCodec: null });
      expect(info.durationSec).toBeCloseTo(61.27, 1);
      expect(info.frameCountEstimate).toBeGreaterThan(1500);
      expect(info.frameCountEstimate).toBeLessThan(1560);
    });

    it('video not found: VIDEO_NOT_FOUND names the file', async () => {
      const missing = f('no-such-video.mp4');
      const error = await rejection(probeVideo(missing, process.env, { argument: '--driving' }));
      expect(error.code).toBe('VIDEO_NOT_FOUND');
      expect(error.message).toContain(missing);
      expect(error.message).toContain('--driving');
      expect(error.message).toContain('does not exist');
    });

    it('a folder given as video: VIDEO_NOT_FOUND says it is a folder', async () => {
      const error = await rejection(probeVideo(dir));
      expect(error.code).toBe('VIDEO_NOT_FOUND');
      expect(error.message).toContain('is a folder');
    });

    it('a text file given as video: VIDEO_UNREADABLE quotes ffprobe', async () => {
      const error = await rejection(probeVideo(f('notes.txt')));
      expect(error.code).toBe('VIDEO_UNREADABLE');
      expect(error.message).toContain('notes.txt');
      expect(error.message).toMatch(/ffprobe said ".*Invalid data found when processing input/);
      expect(error.message.length).toBeLessThan(600);
    });

    it('an audio-only file: VIDEO_UNREADABLE says there is no video stream and what there is', async () => {
      const error = await rejection(probeVideo(f('audio-only.m4a')));
      expect(error.code).toBe('VIDEO_UNREADABLE');
      expect(error.message).toContain('audio-only.m4a');
      expect(error.message).toContain('has no video stream');
      expect(error.message).toContain('audio (aac)');
    });
  });

  describe('decodeVideoFrames', () => {
    it('decodes every frame as its own RGB24 buffer with index and timestamp', async () => {
      const frames = await collect(decodeVideoFrames(f('v.mp4'), { width: 64, height: 64 }));
      expect(frames).toHaveLength(20);
      frames.forEach((frame, i) => {
        expect(frame.index).toBe(i);
        expect(frame.captureUs).toBeCloseTo(i * 100_000, 3);
        expect(frame.data).toBeInstanceOf(Uint8Array);
        expect(frame.data.length).toBe(64 * 64 * 3);
      });
      expect(new Set(frames.map((frame) => frame.data.buffer)).size).toBe(20);
      // testsrc2 moves: consecutive frames differ
      expect(Buffer.compare(Buffer.from(frames[0].data), Buffer.from(frames[1].data))).not.toBe(0);
    });

    it('stops after maxFrames', async () => {
      const frames = await collect(decodeVideoFrames(f('av.mp4'), { width: 32, height: 32, maxFrames: 5 }));
      expect(frames.map((frame) => frame.index)).toEqual([0, 1, 2, 3, 4]);
    });

    it('uses a probe result passed in (timestamps follow its rate)', async () => {
      const info = { ...(await probeVideo(f('v.mp4'))), fps: 20, fpsRational: '20/1' };
      const frames = await collect(decodeVideoFrames(f('v.mp4'), { width: 32, height: 32, info }));
      // Resampled to 20 fps: about twice the frames (the last may fall past the end), 50 ms apart.
      expect(frames.length).toBeGreaterThanOrEqual(39);
      expect(frames.length).toBeLessThanOrEqual(40);
      expect(frames[1].captureUs).toBe(50_000);
    });

    it('centre-crops a 4:3 video to a square target (the side bands are cut away)', async () => {
      const [frame] = await collect(decodeVideoFrames(f('bands.mp4'), { width: 64, height: 64, maxFrames: 1 }));
      for (const x of [3, 16, 32, 48, 60]) {
        for (const y of [2, 32, 61]) expectColour(pixel(frame, 64, x, y), [0, 255, 0], 16);
      }
    });

    it('keeps the whole frame when the target has the same aspect', async () => {
      const [frame] = await collect(decodeVideoFrames(f('bands.mp4'), { width: 160, height: 120, maxFrames: 1 }));
      expectColour(pixel(frame, 160, 5, 60), [255, 0, 0], 16);
      expectColour(pixel(frame, 160, 80, 60), [0, 255, 0], 16);
      expectColour(pixel(frame, 160, 154, 60), [0, 0, 255], 16);
    });

    it('pixels round-trip: known solid colours decode to their RGB values', async () => {
      const frames = await collect(decodeVideoFrames(f('sequence.mp4'), { width: 32, height: 32 }));
      expect(frames).toHaveLength(10);
      for (const frame of frames.slice(0, 5)) expectColour(pixel(frame, 32, 16, 16), [255, 0, 0], 8);
      for (const frame of frames.slice(5)) expectColour(pixel(frame, 32, 16, 16), [0x33, 0x66, 0xcc], 8);
    });

    it.skipIf(noDemoData)('decodes the demo driving.mp4 at 512x512', async () => {
      const frames = await collect(decodeVideoFrames(DRIVING, { width: 512, height: 512, maxFrames: 3 }));
      expect(frames.map((frame) => [frame.index, frame.captureUs])).toEqual([[0, 0], [1, 40_000], [2, 80_000]]);
    });

    it.skipIf(process.platform !== 'linux')('early break from the decoder kills ffmpeg (no process left, no zombie)', async () => {
      const unique = f(`long-${process.pid}.mp4`);
      copyFileSync(f('long.mp4'), unique);
      const started = Date.now();
      let seen = 0;
      for await (const frame of decodeVideoFrames(unique, { width: 256, height: 256 })) {
        expect(frame.index).toBe(seen);
        seen += 1;
        if (seen === 3) {
          expect(processesMentioning(unique).running.length).toBe(1);
          break;
        }
      }
      expect(seen).toBe(3);
      expect(processesMentioning(unique)).toEqual({ running: [], zombies: [] });
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it.skipIf(process.platform !== 'linux')('return() on the generator and a throwing consumer also kill ffmpeg', async () => {
      const unique = f(`long-return-${process.pid}.mp4`);
      copyFileSync(f('long.mp4'), unique);
      const gen = decodeVideoFrames(unique, { width: 64, height: 64 });
      await gen.next();
      await gen.return(undefined);
      expect(processesMentioning(unique).running).toEqual([]);

      await expect(
        (async () => {
          for await (const _frame of decodeVideoFrames(unique, { width: 64, height: 64 })) throw new Error('consumer failed');
        })(),
      ).rejects.toThrow('consumer failed');
      expect(processesMentioning(unique)).toEqual({ running: [], zombies: [] });
    });

    it('a video with no frames: VIDEO_NO_FRAMES names the file', async () => {
      const error = await rejection(collect(decodeVideoFrames(f('truncated.mp4'), { width: 32, height: 32 })));
      expect(error.code).toBe('VIDEO_NO_FRAMES');
      expect(error.message).toContain('truncated.mp4');
      expect(error.message).toContain('decodes to zero frames');
    });

    it('an audio-only file given to the decoder: VIDEO_UNREADABLE (no video stream)', async () => {
      const error = await rejection(collect(decodeVideoFrames(f('audio-only.m4a'), { width: 32, height: 32 })));
      expect(error.code).toBe('VIDEO_UNREADABLE');
      expect(error.message).toContain('has no video stream');
    });

    it('video not found: the decoder reports VIDEO_NOT_FOUND before spawning anything', async () => {
      const error = await rejection(collect(decodeVideoFrames(f('gone.mp4'), { width: 32, height: 32, argument: '--driving' })));
      expect(error.code).toBe('VIDEO_NOT_FOUND');
      expect(error.message).toMatch(/gone\.mp4" \(--driving\) does not exist/);
    });

    it('bad target size: USAGE names the argument', async () => {
      const error = await rejection(collect(decodeVideoFrames(f('v.mp4'), { width: 0, height: 32 })));
      expect(error.code).toBe('USAGE');
      expect(error.message).toContain("'width'");
    });

    it.skipIf(process.platform === 'win32')('ffmpeg failing mid-stream: FFMPEG_FAILED with the stderr tail', async () => {
      const fake = fakeFfmpegDir('fake-decoder', `head -c ${32 * 32 * 3} /dev/zero\necho "simulated decoder failure at frame 1" >&2\nexit 1`);
      const frames: Frame[] = [];
      const error = await rejection(
        (async () => {
          for await (const frame of decodeVideoFrames(f('v.mp4'), { width: 32, height: 32, env: { PATH: fake } })) frames.push(frame);
        })(),
      );
      expect(frames).toHaveLength(1);
      expect(error.code).toBe('FFMPEG_FAILED');
      expect(error.message).toContain('after 1 frames');
      expect(error.message).toContain('simulated decoder failure at frame 1');
    });
  });

  describe('assertWritableOutput', () => {
    it('accepts a new file in an existing folder and an existing file', () => {
      expect(() => assertWritableOutput(f('new.mp4'))).not.toThrow();
      expect(() => assertWritableOutput(f('v.mp4'))).not.toThrow();
    });

    it('output folder not existing: OUTPUT_NOT_WRITABLE names the folder', () => {
      const folder = f('no-such-folder');
      expect(() => assertWritableOutput(path.join(folder, 'out.mp4'), '--out')).toThrow(
        expect.objectContaining({ code: 'OUTPUT_NOT_WRITABLE', message: expect.stringContaining(`"${folder}" for --out`) }),
      );
    });

    it('output path is a folder: OUTPUT_NOT_WRITABLE', () => {
      expect(() => assertWritableOutput(dir)).toThrow(
        expect.objectContaining({ code: 'OUTPUT_NOT_WRITABLE', message: expect.stringContaining('is an existing folder') }),
      );
    });

    it('folder part is a file: OUTPUT_NOT_WRITABLE', () => {
      expect(() => assertWritableOutput(path.join(f('notes.txt'), 'out.mp4'))).toThrow(
        expect.objectContaining({ code: 'OUTPUT_NOT_WRITABLE', message: expect.stringContaining('is a file, not a folder') }),
      );
    });

    // root may write anywhere: as root, the check runs in a child process that dropped to the
    // unprivileged uid 65534 (nobody), against the built module.
    it.skipIf(process.platform === 'win32')('output folder not writable: OUTPUT_NOT_WRITABLE names the folder', () => {
      const locked = f('locked');
      mkdirSync(locked);
      chmodSync(locked, 0o555);
      chmodSync(path.dirname(locked), 0o755);
      try {
        if (!isRoot) {
          expect(() => assertWritableOutput(path.join(locked, 'out.mp4'))).toThrow(
            expect.objectContaining({ code: 'OUTPUT_NOT_WRITABLE', message: expect.stringContaining(`"${locked}"`) }),
          );
          return;
        }
        const built = new URL('../../dist/daemon/media/encode.js', import.meta.url);
        expect(existsSync(built), 'run `npm run build` first (npm test does)').toBe(true);
        const script = `import(${JSON.stringify(built.href)}).then((m) => { try { m.assertWritableOutput(${JSON.stringify(path.join(locked, 'out.mp4'))}); console.log('no error'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); } });`;
        const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8' });
        const result = JSON.parse(stdout.trim());
        expect(result.code).toBe('OUTPUT_NOT_WRITABLE');
        expect(result.message).toContain(`"${locked}"`);
      } finally {
        chmodSync(locked, 0o755);
      }
    });
  });

  describe('openMp4Writer', () => {
    const W = 64;
    const H = 48;
    const colours = [
      [200, 30, 30],
      [30, 200, 30],
      [30, 30, 200],
      [128, 128, 128],
      [240, 240, 240],
    ];

    function outDir(name: string): string {
      const out = f(name);
      mkdirSync(out);
      return out;
    }

    it('writes H.264 yuv420p at the given rate with the exact frame count and no audio', async () => {
      const out = path.join(outDir('w-plain'), 'out.mp4');
      const writer = await openMp4Writer({ outPath: out, width: W, height: H, fpsRational: '10/1' });
      for (let i = 0; i < 15; i++) await writer.write(solidFrame(W, H, colours[i % colours.length]));
      expect(await writer.finish()).toEqual({ frames: 15, path: out });
      const probed = countProbe(out);
      expect(probed.streams).toHaveLength(1);
      expect(probed.streams[0]).toMatchObject({ codec_type: 'video', codec_name: 'h264', pix_fmt: 'yuv420p', nb_read_frames: '15', avg_frame_rate: '10/1' });
      const info = await probeVideo(out);
      expect(info).toMatchObject({ width: W, height: H, fpsRational: '10/1', hasAudio: false });
      expect(readdirSync(path.dirname(out))).toEqual(['out.mp4']);
    });

    it('pixels round-trip through the writer and the decoder', async () => {
      const out = path.join(outDir('w-roundtrip'), 'rt.mp4');
      const writer = await openMp4Writer({ outPath: out, width: W, height: H, fpsRational: '25/1' });
      for (const colour of colours) await writer.write(solidFrame(W, H, colour));
      await writer.finish();
      const frames = await collect(decodeVideoFrames(out, { width: W, height: H }));
      expect(frames).toHaveLength(colours.length);
      frames.forEach((frame, i) => expectColour(pixel(frame, W, W / 2, H / 2), colours[i], 6));
    });

    it('muxes the source audio (copied AAC) trimmed to the video length', async () => {
      const out = path.join(outDir('w-audio'), 'out.mp4');
      const writer = await openMp4Writer({ outPath: out, width: W, height: H, fpsRational: '10/1', audioFrom: f('av.mp4') });
      for (let i = 0; i < 12; i++) await writer.write(solidFrame(W, H, colours[i % 5]));
      await writer.finish();
      const probed = countProbe(out);
      const video = probed.streams.find((s) => s.codec_type === 'video');
      const audio = probed.streams.find((s) => s.codec_type === 'audio');
      expect(video).toMatchObject({ codec_name: 'h264', nb_read_frames: '12' });
      expect(audio).toMatchObject({ codec_name: 'aac' });
      expect(Number(audio!.duration)).toBeLessThan(1.2 + 0.05);
      expect(Number(audio!.duration)).toBeGreaterThan(1.0);
      expect(readdirSync(path.dirname(out))).toEqual(['out.mp4']);
    });

    it('keeps every video frame when the audio is shorter than the video', async () => {
      const out = path.join(outDir('w-long'), 'out.mp4');
      const writer = await openMp4Writer({ outPath: out, width: W, height: H, fpsRational: '10/1', audioFrom: f('av.mp4') });
      for (let i = 0; i < 30; i++) await writer.write(solidFrame(W, H, colours[i % 5]));
      await writer.finish();
      const video = countProbe(out).streams.find((s) => s.codec_type === 'video');
      expect(video?.nb_read_frames).toBe('30');
    });

    it('re-encodes audio that MP4 players do not take (FLAC) to AAC', async () => {
      const out = path.join(outDir('w-flac'), 'out.mp4');
      const writer = await openMp4Writer({ outPath: out, width: W, height: H, fpsRational: '10/1', audioFrom: f('flac.mkv') });
      for (let i = 0; i < 10; i++) await writer.write(solidFrame(W, H, colours[0]));
      await writer.finish();
      expect((await probeVideo(out)).audioCodec).toBe('aac');
    });

    it('adds no audio when audioFrom has none', async () => {
      const out = path.join(outDir('w-silent'), 'out.mp4');
      const writer = await openMp4Writer({ outPath: out, width: W, height: H, fpsRational: '10/1', audioFrom: f('v.mp4') });
      for (let i = 0; i < 5; i++) await writer.write(solidFrame(W, H, colours[1]));
      await writer.finish();
      expect((await probeVideo(out)).hasAudio).toBe(false);
    });

    it('abort leaves no files, and an older output stays untouched until a finish', async () => {
      const folder = outDir('w-abort');
      const out = path.join(folder, 'out.mp4');
      writeFileSync(out, 'previous render');
      const writer = await openMp4Writer({ outPath: out, width: W, height: H, fpsRational: '10/1', audioFrom: f('av.mp4') });
      // ffmpeg opens its output after its encoder has buffered some frames: write until it shows.
      let temps: string[] = [];
      for (let i = 0; i < 300 && temps.length === 0; i++) {
        await writer.write(solidFrame(W, H, colours[i % 5]));
        temps = readdirSync(folder).filter((entry) => entry !== 'out.mp4');
      }
      expect(temps).toHaveLength(1);
      expect(temps[0]).toMatch(/^\.out\.mp4\.\d+-[0-9a-f]+\.video\.tmp\.mp4$/);
      expect(readFileSync(out, 'utf8')).toBe('previous render');
      await writer.abort();
      await writer.abort();
      expect(readdirSync(folder)).toEqual(['out.mp4']);
      expect(readFileSync(out, 'utf8')).toBe('previous render');
      await expect(writer.write(solidFrame(W, H, colours[2]))).rejects.toMatchObject({ code: 'INTERNAL' });

      const again = await openMp4Writer({ outPath: out, width: W, height: H, fpsRational: '10/1' });
      await again.write(solidFrame(W, H, colours[2]));
      await again.finish();
      expect(readdirSync(folder)).toEqual(['out.mp4']);
      expect((await probeVideo(out)).width).toBe(W);
    });

    it('abort with nothing written leaves no files', async () => {
      const folder = outDir('w-abort-empty');
      const writer = await openMp4Writer({ outPath: path.join(folder, 'out.mp4'), width: W, height: H, fpsRational: '10/1' });
      await writer.abort();
      expect(readdirSync(folder)).toEqual([]);
    });

    it.skipIf(process.platform === 'win32')('ffmpeg failing while encoding: FFMPEG_FAILED with the stderr tail, no files left', async () => {
      const fake = fakeFfmpegDir('fake-encoder', 'echo "simulated encoder failure: No space left on device" >&2\nexit 1');
      const folder = outDir('w-fail');
      const out = path.join(folder, 'out.mp4');
      const writer = await openMp4Writer({ outPath: out, width: W, height: H, fpsRational: '10/1', env: { PATH: fake } });
      const error = await rejection(
        (async () => {
          for (let i = 0; i < 20; i++) await writer.write(solidFrame(W, H, colours[0]));
          await writer.finish();
        })(),
      );
      expect(error.code).toBe('FFMPEG_FAILED');
      expect(error.message).toContain('out.mp4');
      expect(error.message).toContain('simulated encoder failure: No space left on device');
      expect(readdirSync(folder)).toEqual([]);
      await writer.abort();
    });

    it('output directory not existing: OUTPUT_NOT_WRITABLE before ffmpeg starts', async () => {
      const error = await rejection(
        openMp4Writer({ outPath: f('missing-dir/out.mp4'), width: W, height: H, fpsRational: '10/1', argument: '--out' }),
      );
      expect(error.code).toBe('OUTPUT_NOT_WRITABLE');
      expect(error.message).toContain('missing-dir');
      expect(error.message).toContain('--out');
    });

    it('odd size or bad rate: USAGE names the argument and what was expected', async () => {
      const odd = await rejection(openMp4Writer({ outPath: f('odd.mp4'), width: 63, height: H, fpsRational: '10/1' }));
      expect(odd.code).toBe('USAGE');
      expect(odd.message).toMatch(/'width' must be an even integer.*got 63/);
      const rate = await rejection(openMp4Writer({ outPath: f('odd.mp4'), width: W, height: H, fpsRational: 'fast' }));
      expect(rate.code).toBe('USAGE');
      expect(rate.message).toContain("'fpsRational'");
    });

    it('a frame of the wrong size is refused without breaking the writer', async () => {
      const folder = outDir('w-size');
      const writer = await openMp4Writer({ outPath: path.join(folder, 'out.mp4'), width: W, height: H, fpsRational: '10/1' });
      await expect(writer.write(new Uint8Array(10))).rejects.toThrow(/expected 9216 bytes \(64x48 RGB24\), got 10 bytes/);
      await writer.write(solidFrame(W, H, colours[0]));
      expect((await writer.finish()).frames).toBe(1);
    });
  });
});
