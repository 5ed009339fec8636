/**
 * Everyday actions that used to lose footage or stop the next start, on the paths users take
 * (the built CLI as a child process): a recording never overwrites an earlier one, closing
 * the terminal (SIGHUP) shuts down as cleanly as Ctrl+C, and a portrait without a face is
 * refused on the command line and at upload, naming the file, and never becomes saved state.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createNetServer } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DaemonState } from '../../daemon/protocol.js';
import { systemSharedMemory } from '../../daemon/ffi/shared-memory.js';
import { RingReader } from '../../daemon/transport/ring.js';
import sharp from 'sharp';
import { backgroundPicture, loadImageRgb } from '../../daemon/media/image.js';
import { ControlClient } from '../helpers/control-client.js';
import { startDaemon } from '../helpers/daemon-process.js';
import { demoDataDir, requireBinary } from '../helpers/system.js';

const demo = demoDataDir();
const ffmpeg = requireBinary('ffmpeg');
const script = requireBinary('script'); // util-linux's pseudo-terminal runner (bsdutils, essential in Debian)
const REPO = fileURLToPath(new URL('../..', import.meta.url));

function frameCount(file: string): number {
  return Number(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file], { encoding: 'utf8' }).trim());
}

/** Runs `personalive daemon ...` to its end (for runs that must fail before they are ready). */
function runDaemonToEnd(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [join(REPO, 'bin/personalive.js'), 'daemon', '--no-obs', '--port', '0', ...args], { timeout: 90_000 }, (error, _stdout, stderr) => {
      resolve({ code: child.exitCode ?? (error ? 1 : 0), stderr });
    });
  });
}

describe.skipIf(demo.skip || ffmpeg.skip || script.skip)('daily use: recordings and the terminal', () => {
  const work = mkdtempSync(join(tmpdir(), 'personalive-daily-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('never overwrites an earlier recording, and finishes the new one when the terminal closes (SIGHUP)', async () => {
    const earlier = join(work, 'show.mp4');
    writeFileSync(earlier, 'an earlier recording');
    const daemon = await startDaemon({ args: ['--reference', join(demo.dir, 'reference.png'), '--driving-file', join(demo.dir, 'driving.mp4'), '--no-ring', '--record', earlier] });
    const control = await ControlClient.open(daemon);
    const state = (await control.call<DaemonState>('state.get')).result!;
    const numbered = join(work, 'show-2.mp4');
    expect(state.output.recording).toMatchObject({ state: 'recording', path: numbered });
    await new Promise((r) => setTimeout(r, 3000));
    control.close();
    expect(await daemon.stop('SIGHUP')).toEqual({ code: 0, signal: null });
    expect(readFileSync(earlier, 'utf8')).toBe('an earlier recording');
    expect(frameCount(numbered)).toBeGreaterThan(40);
    expect(daemon.logs()).toContain(`Recording to ${numbered} (${earlier} exists and is kept)`);
    expect(daemon.logs()).toMatch(/"msg":"daemon stopped"/);
  });

  it('on a terminal: a readable banner with the panel URL, readable log lines (not JSON), and Ctrl+C stops cleanly', async () => {
    // `script` gives the daemon a real pseudo-terminal; a Ctrl+C typed into it reaches the daemon as SIGINT.
    // `exec`: script runs the command through $SHELL, and a dash left waiting would die of the
    // same SIGINT (exit 130) whatever the daemon does; with exec the daemon is script's own child.
    const home = join(work, 'tty-home');
    const command = [process.execPath, join(REPO, 'bin/personalive.js'), 'daemon', '--no-obs', '--port', '0', '--no-ring', '--config-dir', join(home, 'config'), '--data-dir', join(home, 'data'),
      '--reference', join(demo.dir, 'reference.png'), '--driving-file', join(demo.dir, 'driving.mp4')].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qfec', `exec ${command}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SHELL: '/bin/sh' } });
    let out = '';
    child.stdout.on('data', (chunk) => { out += String(chunk); });
    const exited = once(child, 'exit') as Promise<[number | null]>;
    const deadline = Date.now() + 60_000;
    while (!out.includes('Log lines follow.') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    child.stdin.write('\x03');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(out).toMatch(/PersonaLive is live: Built-in \(CPU, no downloads\), driven by video file .*driving\.mp4 \(looped\)\./);
    expect(out).toMatch(/^ {4}http:\/\/127\.0\.0\.1:\d+\/panel\/\?token=[0-9a-f]+\r?$/m);
    expect(out).toMatch(/^\d\d:\d\d:\d\d INFO  daemon ready {2}port=\d+ generator=meshwarp driving=file\r?$/m);
    expect(out).toMatch(/^\d\d:\d\d:\d\d INFO  daemon stopped\r?$/m);
    expect(out).not.toContain('{"level"');
  });

  it('keeps one recording of its first size and rate when the output size and rate change, as long as the session ran', async () => {
    const path = join(work, 'changes.mp4');
    const daemon = await startDaemon({ args: ['--reference', join(demo.dir, 'reference.png'), '--driving-file', join(demo.dir, 'driving.mp4'), '--no-ring', '--record', path] });
    const control = await ControlClient.open(daemon);
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 2500));
    const changed = await control.call<DaemonState['output']>('output.set', { size: 256, fps: 15 });
    expect(changed.error).toBeUndefined();
    expect(changed.result!.recording).toMatchObject({ state: 'recording', path });
    await new Promise((r) => setTimeout(r, 2500));
    control.close();
    const stopping = Date.now();
    expect((await daemon.stop()).code).toBe(0);
    const info = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,r_frame_rate', '-of', 'json', path], { encoding: 'utf8' })) as { streams: Array<{ width: number; height: number; r_frame_rate: string }> };
    expect(info.streams[0]).toEqual({ width: 512, height: 512, r_frame_rate: '25/1' });
    // One file, no gap: as long as the session (from the first frame, after start-up, to the stop).
    const seconds = frameCount(path) / 25;
    expect(seconds).toBeGreaterThan((stopping - started) / 1000 - 1.5);
    expect(seconds).toBeLessThan((Date.now() - started) / 1000 + 1);
    expect(readdirSync(work).filter((n) => n.startsWith('changes') || n.startsWith('.changes'))).toEqual(['changes.mp4']);
  });

  it('a daemon killed (SIGKILL) while recording: the next start puts the recording into place, says so, and records beside it', async () => {
    const root = join(work, 'killed-home');
    mkdirSync(root);
    const path = join(work, 'killed.mp4');
    const args = ['--reference', join(demo.dir, 'reference.png'), '--driving-file', join(demo.dir, 'driving.mp4'), '--no-ring', '--record', path];
    const daemon = await startDaemon({ root, args });
    await new Promise((r) => setTimeout(r, 4000));
    expect(await daemon.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(work).some((n) => n.startsWith('.killed.mp4.recording-'))).toBe(true);

    const again = await startDaemon({ root, args });
    expect(again.logs()).toContain(`Recovered a recording that was not finished`);
    expect(again.logs()).toContain(` in ${path}`);
    expect(frameCount(path)).toBeGreaterThan(2 * 25);
    const control = await ControlClient.open(again);
    expect((await control.call<DaemonState>('state.get')).result!.output.recording).toMatchObject({ state: 'recording', path: join(work, 'killed-2.mp4') });
    control.close();
    expect((await again.stop()).code).toBe(0);
    expect(readdirSync(work).filter((n) => n.includes('killed.mp4.recording-'))).toEqual([]);
  });
});

describe.skipIf(demo.skip || ffmpeg.skip)('daily use: OBS closed', () => {
  it('says once that obs-websocket is unavailable, not on every retry', async () => {
    const free = createNetServer().listen(0, '127.0.0.1');
    await once(free, 'listening');
    const port = (free.address() as { port: number }).port;
    free.close();
    const daemon = await startDaemon({ obs: { url: `ws://127.0.0.1:${port}`, password: 'x' }, args: ['--reference', join(demo.dir, 'reference.png'), '--driving-file', join(demo.dir, 'driving.mp4'), '--no-ring'] });
    await new Promise((r) => setTimeout(r, 5000)); // retries at about 0.5, 1.5 and 3.5 s
    const said = daemon.logs().split('\n').filter((line) => line.includes('obs-websocket unavailable'));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain('ECONNREFUSED');
    expect((await daemon.stop()).code).toBe(0);
  });
});

describe.skipIf(demo.skip || ffmpeg.skip || process.platform !== 'linux')('daily use: a virtual camera that is not there yet', () => {
  it('is said once, not again on every rate or size change', async () => {
    // No v4l2loopback device on this machine (a test machine never has one loaded).
    const daemon = await startDaemon({ args: ['--reference', join(demo.dir, 'reference.png'), '--driving-file', join(demo.dir, 'driving.mp4'), '--no-ring', '--virtual-camera'] });
    const control = await ControlClient.open(daemon);
    for (const fps of [20, 30]) expect((await control.call('output.set', { fps })).ok).toBe(true);
    expect((await control.call('output.set', { size: 256 })).ok).toBe(true);
    const state = (await control.call<DaemonState>('state.get')).result!;
    expect(state.output.virtualCamera).toMatchObject({ enabled: true, state: 'error' });
    const said = daemon.logs().split('\n').filter((line) => line.includes('"msg":"Virtual camera: '));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain('it starts by itself once it is there');
    control.close();
    expect((await daemon.stop()).code).toBe(0);
  });
});

describe.skipIf(demo.skip || ffmpeg.skip)('daily use: a webcam that is not there (unplugged)', () => {
  it('streams on with the last picture, says so once in the log and the panel, and keeps trying', async () => {
    const daemon = await startDaemon({ args: ['--reference', join(demo.dir, 'reference.png'), '--webcam', '/dev/video-unplugged', '--no-ring'] });
    await new Promise((r) => setTimeout(r, 5500)); // two retries at least
    const control = await ControlClient.open(daemon);
    const state = (await control.call<DaemonState>('state.get')).result!;
    control.close();
    expect(state.generator.status).toBe('running');
    expect(state.driving).toMatchObject({ kind: 'webcam', state: 'error' });
    expect(state.driving.error).toMatch(/^webcam \/dev\/video-unplugged stopped \(ffmpeg exit 1: .*\); holding the last picture and trying again every 2 s/);
    const said = daemon.logs().split('\n').filter((line) => line.includes('Driving source: webcam /dev/video-unplugged stopped'));
    expect(said).toHaveLength(1);
    expect((await daemon.stop()).code).toBe(0);
  });
});

describe.skipIf(demo.skip || ffmpeg.skip)('daily use: a second daemon', () => {
  it('refuses the output ring a running daemon writes, says what to change, and leaves the first one streaming', async () => {
    const ring = `personalive-second-${process.pid}`;
    const first = await startDaemon({ args: ['--reference', join(demo.dir, 'reference.png'), '--driving-file', join(demo.dir, 'driving.mp4'), '--output-ring', ring] });
    const home = mkdtempSync(join(tmpdir(), 'personalive-second-'));
    try {
      const second = await runDaemonToEnd(['--config-dir', join(home, 'config'), '--data-dir', join(home, 'data'), '--reference', join(demo.dir, 'reference.png'), '--driving-file', join(demo.dir, 'driving.mp4'), '--output-ring', ring]);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`error RING_IN_USE: ring "${ring}" is being written by another process (pid ${first.child.pid}`);
      expect(second.stderr).toContain('--output-ring NAME --port N');
      // The same port (its own ring): refused too, saying both things to change.
      const samePort = await runDaemonToEnd(['--config-dir', join(home, 'config'), '--data-dir', join(home, 'data'), '--driving-file', join(demo.dir, 'driving.mp4'), '--output-ring', `${ring}-b`, '--port', String(first.port)]);
      expect(samePort.code).toBe(1);
      expect(samePort.stderr).toContain(`error PORT_IN_USE: control port ${first.port} on 127.0.0.1 is in use, probably by another PersonaLive daemon`);
      expect(samePort.stderr).toContain('--port N --output-ring NAME');
      // The first daemon's ring was neither replaced nor unlinked by the refused one.
      const reader = new RingReader(systemSharedMemory(), ring);
      const frame = await (async () => {
        for (let i = 0; i < 100; i++) {
          const f = reader.readLatest();
          if (f) return f;
          await new Promise((r) => setTimeout(r, 20));
        }
        return null;
      })();
      expect(frame).not.toBeNull();
      expect(reader.state()).toBe('live');
      reader.close();
    } finally {
      rmSync(home, { recursive: true, force: true });
      await first.stop();
    }
  });
});

describe.skipIf(demo.skip || ffmpeg.skip)('daily use: portraits without a face', () => {
  const work = mkdtempSync(join(tmpdir(), 'personalive-noface-'));
  const plain = join(work, 'plain.png');
  const root = join(work, 'home');

  beforeAll(() => {
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'color=c=gray:s=256x256', '-frames:v', '1', plain]);
    mkdirSync(root);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('refuses --reference without a face, naming the file, and the next plain start still works', async () => {
    const dirs = ['--config-dir', join(root, 'config'), '--data-dir', join(root, 'data')];
    const refused = await runDaemonToEnd([...dirs, '--reference', plain, '--driving-file', join(demo.dir, 'driving.mp4'), '--no-ring']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('error NO_FACE');
    expect(refused.stderr).toContain(plain);
    // Nothing was stored: a plain start comes up and waits for a portrait.
    const daemon = await startDaemon({ root, args: ['--driving-file', join(demo.dir, 'driving.mp4'), '--no-ring'] });
    const control = await ControlClient.open(daemon);
    const state = (await control.call<DaemonState>('state.get')).result!;
    expect(state.generator.status).toBe('waiting');
    expect(state.references).toEqual([]);
    // An upload without a face is refused with its name, and takes no hotkey slot.
    const upload = await fetch(`${daemon.baseUrl}/api/references?name=plain.png`, { method: 'POST', headers: { authorization: `Bearer ${daemon.token}` }, body: readFileSync(plain) });
    expect(upload.status).toBe(400);
    const body = (await upload.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('NO_FACE');
    expect(body.error.message).toContain('"plain.png"');
    expect((await control.call<DaemonState>('state.get')).result!.references).toEqual([]);
    control.close();
    expect((await daemon.stop()).code).toBe(0);
  });

  it('skips a stored reference that no longer shows a face at start, says which, and starts with the next good one', async () => {
    const daemon = await startDaemon({ root, args: ['--reference', join(demo.dir, 'reference.png'), '--driving-file', join(demo.dir, 'driving.mp4'), '--no-ring'] });
    await daemon.stop();
    // An older version stored a faceless picture and made it active.
    const gallery = join(root, 'data', 'references');
    const index = JSON.parse(readFileSync(join(gallery, 'gallery.json'), 'utf8')) as { references: { id: string; name: string }[]; activeId: string | null };
    const good = index.references[0]!;
    writeFileSync(join(gallery, 'fedcba9876543210.png'), readFileSync(plain));
    index.references.unshift({ ...good, id: 'fedcba9876543210', name: 'old-plain.png', file: 'fedcba9876543210.png', sha256: '0'.repeat(64) } as never);
    index.activeId = 'fedcba9876543210';
    writeFileSync(join(gallery, 'gallery.json'), JSON.stringify(index));
    expect(existsSync(join(gallery, 'fedcba9876543210.png'))).toBe(true);

    const again = await startDaemon({ root, args: ['--driving-file', join(demo.dir, 'driving.mp4'), '--no-ring'] });
    const control = await ControlClient.open(again);
    const state = (await control.call<DaemonState>('state.get')).result!;
    expect(state.generator.status).toBe('running');
    expect(state.activeReferenceId).toBe(good.id);
    expect(again.logs()).toContain('Skipped reference \\"old-plain.png\\" at start');
    control.close();
    expect((await again.stop()).code).toBe(0);
  });
});

describe.skipIf(demo.skip || ffmpeg.skip)('daily use: saved state that went bad', () => {
  const work = mkdtempSync(join(tmpdir(), 'personalive-saved-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('a corrupt gallery index and a config with a bad field: the daemon still starts, with the portrait, and says what it skipped and where the copies are', async () => {
    const root = join(work, 'home');
    mkdirSync(root);
    const first = await startDaemon({ root, args: ['--reference', join(demo.dir, 'reference.png'), '--driving-file', join(demo.dir, 'driving.mp4'), '--no-ring'] });
    const stopped = await first.stop();
    expect(stopped, first.logs().slice(-3000)).toEqual({ code: 0, signal: null });
    writeFileSync(join(root, 'data', 'references', 'gallery.json'), '{"references": [{"id": ');
    writeFileSync(join(root, 'config', 'config.json'), JSON.stringify({ output: { fps: 'fast', size: 256 } }));

    const again = await startDaemon({ root, args: ['--driving-file', join(demo.dir, 'driving.mp4'), '--no-ring'] });
    const control = await ControlClient.open(again);
    const state = (await control.call<DaemonState>('state.get')).result!;
    control.close();
    expect(state.generator.status).toBe('running');
    expect(state.references).toHaveLength(1);
    expect(state.output).toMatchObject({ fps: 25, size: 256 });
    const logs = again.logs();
    expect(logs).toContain('Configuration: ' + join(root, 'config', 'config.json') + ': field output.fps: expected an integer');
    expect(logs).toContain(`kept in ${join(root, 'config', 'config.json.invalid')}`);
    expect(logs).toContain('rebuilt it from the 1 pictures');
    expect(readFileSync(join(root, 'data', 'references', 'gallery.json.invalid'), 'utf8')).toBe('{"references": [{"id": ');
    expect((await again.stop()).code).toBe(0);
  });
});

describe.skipIf(demo.skip || ffmpeg.skip)('daily use: the camera picture for OBS and recordings', () => {
  const work = mkdtempSync(join(tmpdir(), 'personalive-picture-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('with output.picture "camera" the OBS source ring and the recording carry the 16:9 camera picture', async () => {
    const root = join(work, 'home');
    mkdirSync(join(root, 'config'), { recursive: true });
    writeFileSync(join(root, 'config', 'config.json'), JSON.stringify({ output: { picture: 'camera', virtualCamera: { size: '640x360', background: 'colour', colour: '#204060' } } }));
    const ring = `personalive-picture-${process.pid}`;
    const path = join(work, 'picture.mp4');
    const daemon = await startDaemon({ root, args: ['--reference', join(demo.dir, 'reference.png'), '--driving-file', join(demo.dir, 'driving.mp4'), '--output-ring', ring, '--record', path] });
    const reader = new RingReader(systemSharedMemory(), ring);
    let frame: ReturnType<RingReader['readLatest']> = null;
    for (let i = 0; i < 200 && !frame; i++) {
      frame = reader.readLatest();
      if (!frame) await new Promise((r) => setTimeout(r, 25));
    }
    expect(frame).not.toBeNull();
    expect([frame!.width, frame!.height]).toEqual([640, 360]);
    // Beside the animation: the configured colour (#204060), in RGB24.
    const left = Array.from(frame!.pixels.subarray(180 * frame!.stride + 30, 180 * frame!.stride + 33));
    expect(left).toEqual([0x20, 0x40, 0x60]);
    reader.close();
    await new Promise((r) => setTimeout(r, 1500));
    expect((await daemon.stop()).code).toBe(0);
    const info = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'json', path], { encoding: 'utf8' })) as { streams: Array<{ width: number; height: number }> };
    expect(info.streams[0]).toEqual({ width: 640, height: 360 });
  });

  it('a wide photo with the face at one side: animated around the face, shown in its own framing (the rest of the photo still, no seam)', async () => {
    const root = join(work, 'wide-home');
    mkdirSync(join(root, 'config'), { recursive: true });
    writeFileSync(join(root, 'config', 'config.json'), JSON.stringify({ output: { picture: 'camera', virtualCamera: { size: '640x360' } } }));
    // The portrait with its own wall carried on to the right: a 2.2:1 photo whose centre square
    // misses the face (it is at the far left), so only a square around the face animates it.
    const wide = join(work, 'wide.png');
    const portrait = await loadImageRgb(join(demo.dir, 'reference.png'));
    const extra = Math.round(portrait.height * 2.2) - portrait.width;
    await sharp(portrait.data, { raw: { width: portrait.width, height: portrait.height, channels: 3 } }).extend({ right: extra, extendWith: 'copy' }).png().toFile(wide);
    const ring = `personalive-wide-${process.pid}`;
    const daemon = await startDaemon({ root, args: ['--reference', wide, '--driving-file', join(demo.dir, 'driving.mp4'), '--output-ring', ring, '--no-obs'] });
    const photo = await loadImageRgb(wide);
    const still = await backgroundPicture({ mode: 'photo', colour: '#000000', imagePath: '', reference: photo }, 640, 360);
    const reader = new RingReader(systemSharedMemory(), ring);
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 400 && frames.length < 3; i++) {
      const f = reader.readLatest();
      if (f && (frames.length === 0 || i % 40 === 0)) frames.push(f.pixels.slice(0, 640 * 360 * 3));
      await new Promise((r) => setTimeout(r, 25));
    }
    reader.close();
    expect(frames.length).toBe(3);
    const control = await ControlClient.open(daemon);
    control.close();
    const at = (rgb: Uint8Array, x: number, y: number): number => (rgb[(y * 640 + x) * 3]! + rgb[(y * 640 + x) * 3 + 1]! + rgb[(y * 640 + x) * 3 + 2]!) / 3;
    // The photo covers 640x360 scaled by 360/512 (792 wide, 76 px cut each side); the square
    // around the face is the photo's left 512x512: in the picture x -76..284.
    // Right of it: the photo, still.
    let rightError = 0;
    let n = 0;
    for (let y = 10; y < 350; y += 10) for (let x = 330; x < 640; x += 20) { rightError += Math.abs(at(frames[2]!, x, y) - at(still, x, y)); n++; }
    expect(rightError / n).toBeLessThan(4);
    // Across the seam at x = 284: no step beyond the photo's own.
    let seam = 0;
    for (let y = 20; y < 340; y++) seam += Math.abs(at(frames[2]!, 281, y) - at(frames[2]!, 287, y)) - Math.abs(at(still, 281, y) - at(still, 287, y));
    expect(seam / 320).toBeLessThan(4);
    // The face (x 20..200 in the picture) moves between the first and the last frame.
    let moved = 0;
    for (let y = 60; y < 300; y += 2) for (let x = 20; x < 200; x += 2) moved += Math.abs(at(frames[0]!, x, y) - at(frames[2]!, x, y));
    expect(moved / (120 * 90)).toBeGreaterThan(0.5);
    expect((await daemon.stop()).code).toBe(0);
  });
});
