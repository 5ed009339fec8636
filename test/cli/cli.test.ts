/**
 * The `personalive` command line end to end: animate with a tiny generated pack on short
 * generated videos (with and without audio), the built bin, and failures named for the
 * failure with their codes, messages and exit codes.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { main } from '../../daemon/cli/main.js';
import { buildTestPack } from '../../models/test-pack.js';
import { requireBinary } from '../helpers/system.js';

const run = promisify(execFile);
const { skip } = requireBinary('ffmpeg');
const REPO = new URL('../..', import.meta.url).pathname;

let root: string;
let pack: string;
let portrait: string;
let clipWithAudio: string;
let clipSilent: string;

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => (stdout += `${t}\n`), stderr: (t) => (stderr += `${t}\n`), stderrIsTty: false });
  return { code, stdout, stderr };
}

function probe(path: string): { frames: number; fps: string; codec: string; audio: boolean; width: number } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_type,codec_name,nb_read_frames,r_frame_rate,width', '-of', 'json', path], { encoding: 'utf8' });
  const streams = JSON.parse(out).streams as { codec_type: string; codec_name: string; nb_read_frames?: string; r_frame_rate: string; width?: number }[];
  const video = streams.find((s) => s.codec_type === 'video')!;
  return { frames: Number(video.nb_read_frames), fps: video.r_frame_rate, codec: video.codec_name, audio: streams.some((s) => s.codec_type === 'audio'), width: video.width! };
}

async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.includes('.tmp'));
}

describe.skipIf(skip)('personalive CLI', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'personalive-cli-'));
    pack = join(root, 'pack');
    await buildTestPack(pack, { resolution: 64 });
    portrait = join(root, 'portrait.jpg');
    await sharp({ create: { width: 120, height: 90, channels: 3, background: { r: 200, g: 150, b: 120 } } }).jpeg().toFile(portrait);
    clipWithAudio = join(root, 'with-audio.mp4');
    clipSilent = join(root, 'silent.mp4');
    // 23 frames at 12.5 fps: not a multiple of the 4-frame chunk, non-square, with and without audio.
    await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25/2', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-frames:v', '23', '-t', '1.84', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', clipWithAudio]);
    await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=96x96:rate=10', '-frames:v', '10', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', clipSilent]);
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('animate writes one output frame per driving frame at the driving rate, with the driving audio', async () => {
    const out = join(root, 'out-audio.mp4');
    const result = await cli(['animate', '--reference', portrait, '--driving', clipWithAudio, '--pack', pack, '--out', out, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ frames: 23, drivingFrames: 23, generator: 'personalive', device: 'cpu', decoder: 'tiny', audio: true });
    expect(summary.providers.step).toEqual(['cpu']);
    expect(summary.stageMs.step).toBeGreaterThan(0);
    expect(summary.fps).toBeGreaterThan(0);
    const info = probe(out);
    expect(info).toMatchObject({ frames: 23, fps: '25/2', codec: 'h264', audio: true, width: 64 });
    expect(await leftovers(root)).toEqual([]);
  });

  it('animate without audio in the driving video writes video only; --max-frames limits the frames', async () => {
    const out = join(root, 'out-silent.mp4');
    const result = await cli(['animate', '--reference', portrait, '--driving', clipSilent, '--pack', pack, '--out', out, '--max-frames', '7', '--decoder', 'vae']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('7 frames');
    expect(probe(out)).toMatchObject({ frames: 7, fps: '10/1', audio: false });
  });

  it('the built bin runs as `personalive` (npx personalive from the repository root)', async () => {
    const { stdout } = await run(process.execPath, [join(REPO, 'bin/personalive.js'), 'help']);
    expect(stdout).toContain('personalive animate --reference IMG --driving VIDEO --out OUT.mp4');
    const devices = await run(process.execPath, [join(REPO, 'bin/personalive.js'), 'devices', '--json']);
    const list = JSON.parse(devices.stdout).devices;
    expect(list[0]).toEqual({ device: 'cpu', available: true });
    // WebGPU is asked for an adapter, and says exactly what it found (no GPU on CI machines).
    const webgpu = list.find((d: { device: string }) => d.device === 'webgpu');
    if (!webgpu.available) expect(webgpu.reason).toMatch(/Failed to get a WebGPU adapter: No supported adapters|no webgpu backend/);
  });

  it('pack make-test then pack verify through the CLI', async () => {
    const dir = join(root, 'cli-pack');
    const made = await cli(['pack', 'make-test', dir, '--resolution', '128', '--step', 'unet_work']);
    expect(made.code).toBe(0);
    expect(made.stdout).toContain('NOT a real animation model');
    const verified = await cli(['pack', 'verify', dir, '--json']);
    expect(verified.code).toBe(0);
    const report = JSON.parse(verified.stdout);
    expect(report).toMatchObject({ ok: true, resolution: 128, stepKind: 'unet_work', device: 'cpu' });
    const text = await cli(['pack', 'verify', dir]);
    expect(text.stdout).toMatch(/step\s+unet_work\.onnx.*sha256 ok.*providers cpu/);
  });

  it('--json on failure: a JSON error object on stdout (code, exit code, message, details), the line on stderr', async () => {
    const failed = await cli(['pack', 'verify', join(root, 'no-such-pack'), '--json']);
    expect(failed.code).toBe(2);
    const answer = JSON.parse(failed.stdout);
    expect(answer).toMatchObject({ ok: false, error: { code: 'PACK_MANIFEST_MISSING', exitCode: 2 } });
    expect(answer.error.message).toContain('no-such-pack');
    expect(failed.stderr).toContain('PACK_MANIFEST_MISSING');
  });

  describe('failures, named for the failure', () => {
    const animateArgs = (overrides: Record<string, string>): string[] => {
      const args: Record<string, string> = { reference: portrait, driving: clipSilent, pack, out: join(root, 'never.mp4'), ...overrides };
      return ['animate', ...Object.entries(args).flatMap(([k, v]) => [`--${k}`, v])];
    };

    it('missing pack file: exit 2, PACK_FILE_MISSING', async () => {
      const broken = join(root, 'broken-pack');
      await buildTestPack(broken, { resolution: 64 });
      await rm(join(broken, 'pose_guider.onnx'));
      const r = await cli(animateArgs({ pack: broken }));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('error PACK_FILE_MISSING');
      expect(r.stderr).toContain('pose_guider.onnx');
      expect(existsSync(join(root, 'never.mp4'))).toBe(false);
    });

    it('expression controls out of range or for the diffusion generator: exit 2, USAGE naming the option', async () => {
      const outOfRange = await cli(animateArgs({ generator: 'meshwarp', pack: '', mouth: '3' }));
      expect(outOfRange.code).toBe(2);
      expect(outOfRange.stderr).toContain('error USAGE: --mouth must be a number from 0 to 2 (1: as the driver does it), got "3"');
      const diffusion = await cli(animateArgs({ head: '0.5' }));
      expect(diffusion.code).toBe(2);
      expect(diffusion.stderr).toContain('error USAGE: --head: the expression controls apply to the built-in generator (meshwarp), not to personalive');
      const pose = await cli(animateArgs({ generator: 'meshwarp', pack: '', 'head-pose': 'sideways' }));
      expect(pose.stderr).toContain('--head-pose must be relative or absolute, got "sideways"');
      const neutral = await cli(animateArgs({ generator: 'meshwarp', pack: '', 'neutral-frame': '1.5' }));
      expect(neutral.code).toBe(2);
      expect(neutral.stderr).toContain('--neutral-frame must be a frame number (0 or more), got "1.5"');
    });

    it('unknown device: exit 2, DEVICE_UNKNOWN', async () => {
      const r = await cli(animateArgs({ device: 'metal' }));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('error DEVICE_UNKNOWN: unknown device "metal": expected one of cpu, cuda, tensorrt, webgpu');
    });

    it('unavailable device: exit 2, DEVICE_UNAVAILABLE with the available devices', async () => {
      const r = await cli(animateArgs({ device: 'cuda' }));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('error DEVICE_UNAVAILABLE');
      expect(r.stderr).toContain('Available devices: cpu');
    });

    it('corrupt image: exit 2, IMAGE_UNREADABLE naming the file', async () => {
      const bad = join(root, 'corrupt.png');
      const good = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#808080' } }).png().toBuffer();
      await writeFile(bad, good.subarray(0, 40));
      const r = await cli(animateArgs({ reference: bad }));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('error IMAGE_UNREADABLE');
      expect(r.stderr).toContain(bad);
    });

    it('a text file given as image: exit 2, IMAGE_UNREADABLE saying it looks like text', async () => {
      const text = join(root, 'notes.png');
      await writeFile(text, 'these are my notes, not a picture\n');
      const r = await cli(animateArgs({ reference: text }));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('error IMAGE_UNREADABLE');
      expect(r.stderr).toMatch(/text/i);
    });

    it('a video with no frames: VIDEO_NO_FRAMES or VIDEO_UNREADABLE naming the file, nothing written', async () => {
      const audioOnly = join(root, 'audio-only.mp4');
      await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=300', '-t', '1', '-c:a', 'aac', audioOnly]);
      const r = await cli(animateArgs({ driving: audioOnly }));
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/error VIDEO_(NO_FRAMES|UNREADABLE)/);
      expect(r.stderr).toContain(audioOnly);
      expect(existsSync(join(root, 'never.mp4'))).toBe(false);
    });

    it('missing ffmpeg (PATH without it): exit 1, FFMPEG_MISSING', async () => {
      const empty = join(root, 'empty-bin');
      await mkdir(empty, { recursive: true });
      const saved = process.env.PATH;
      process.env.PATH = empty;
      try {
        const r = await cli(animateArgs({}));
        expect(r.code).toBe(1);
        expect(r.stderr).toContain('error FFMPEG_MISSING');
        expect(r.stderr).toContain('apt-get install ffmpeg');
      } finally {
        process.env.PATH = saved;
      }
    });

    it('output directory missing: exit 2, OUTPUT_NOT_WRITABLE naming the folder', async () => {
      const r = await cli(animateArgs({ out: join(root, 'no-such-dir', 'x.mp4') }));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('error OUTPUT_NOT_WRITABLE');
      expect(r.stderr).toContain(join(root, 'no-such-dir'));
    });

    it('personalive generator without a pack: exit 2, GENERATOR_NEEDS_PACK', async () => {
      const args = ['animate', '--generator', 'personalive', '--reference', portrait, '--driving', clipSilent, '--out', join(root, 'never.mp4')];
      const saved = process.env.PERSONALIVE_PACK;
      delete process.env.PERSONALIVE_PACK;
      try {
        const r = await cli(args);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain('error GENERATOR_NEEDS_PACK');
      } finally {
        if (saved !== undefined) process.env.PERSONALIVE_PACK = saved;
      }
    });

    it('bad option values: exit 2, USAGE quoting the option', async () => {
      expect((await cli(animateArgs({ 'max-frames': 'lots' }))).stderr).toContain('--max-frames must be a positive integer, got "lots"');
      expect((await cli(animateArgs({ decoder: 'fast' }))).stderr).toContain('--decoder must be one of "tiny", "vae", got "fast"');
      expect((await cli(animateArgs({ generator: 'magic' }))).stderr).toContain('error GENERATOR_UNKNOWN: unknown generator "magic"');
      expect((await cli(['animate', '--driving', clipSilent])).stderr).toContain('missing required option --reference');
      expect((await cli(['frobnicate'])).code).toBe(2);
    });

    it('a device or decoder that does not apply to the built-in generator: exit 2, said, never "device cuda" on the CPU', async () => {
      const cuda = await cli(animateArgs({ generator: 'meshwarp', device: 'cuda' }));
      expect(cuda.code).toBe(2);
      expect(cuda.stderr).toContain('error USAGE: --device: device "cuda" does not apply to the meshwarp generator, which runs on cpu only');
      const vae = await cli(animateArgs({ generator: 'meshwarp', decoder: 'vae' }));
      expect(vae.code).toBe(2);
      expect(vae.stderr).toContain('--decoder: the meshwarp generator has no decoder to choose');
    });

    it('interrupted with SIGINT mid-render: exit 130, no output and no temporary file left', async () => {
      const longClip = join(root, 'long.mp4');
      await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=64x64:rate=25', '-frames:v', '3000', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', longClip]);
      const outDir = join(root, 'interrupt');
      await mkdir(outDir);
      const out = join(outDir, 'out.mp4');
      const child = spawn(process.execPath, [join(REPO, 'bin/personalive.js'), 'animate', '--reference', portrait, '--driving', longClip, '--pack', pack, '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      // Wait until the render is under way (the temporary output exists), then interrupt.
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && (await readdir(outDir)).length === 0) await new Promise((r) => setTimeout(r, 50));
      expect((await readdir(outDir)).length).toBeGreaterThan(0);
      child.kill('SIGINT');
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(stderr).toContain('error INTERRUPTED');
      expect(code).toBe(130);
      expect(await readdir(outDir)).toEqual([]);
    });
  });
});
