/**
 * `personalive daemon` as a child process (the built CLI) with the built-in generator on the
 * looped demo video: the control API's security and robustness, a reference swap without
 * a stall, failover from a failing PersonaLive generator, and a clean SIGTERM.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { DaemonState, EventMessage, LiveStats } from '../../daemon/protocol.js';
import { RingReader, monotonicUs } from '../../daemon/transport/ring.js';
import { systemSharedMemory } from '../../daemon/ffi/shared-memory.js';
import { ControlClient } from '../helpers/control-client.js';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { demoDataDir, requireBinary } from '../helpers/system.js';

const demo = demoDataDir();
const ffmpeg = requireBinary('ffmpeg');
const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Why a WebSocket upgrade was refused (HTTP status), or 'open'. */
function tryConnect(url: string, headers: Record<string, string> = {}): Promise<number | 'open'> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(0));
  });
}

/**
 * Records when each new output frame appears in the output ring (the OBS plugin's view),
 * with a coarse signature of its picture (mean of a sparse pixel grid) to find the frame
 * where the portrait changed.
 */
class RingWatcher {
  readonly publishedUs: number[] = [];
  readonly signatures: number[] = [];
  private readonly reader: RingReader;
  private readonly timer: NodeJS.Timeout;
  constructor(name: string) {
    this.reader = new RingReader(systemSharedMemory(), name);
    this.timer = setInterval(() => {
      try {
        const frame = this.reader.readLatest();
        if (!frame) return;
        let sum = 0;
        for (let i = 0; i < frame.pixels.length; i += 3 * 97) sum += frame.pixels[i]! + frame.pixels[i + 1]! + frame.pixels[i + 2]!;
        this.publishedUs.push(frame.publishUs);
        this.signatures.push(sum / (frame.pixels.length / (3 * 97)));
      } catch {
        // not there yet
      }
    }, 2);
  }
  /** The gap (ms) before the frame in [fromUs, toUs] whose picture changed the most from the previous one. */
  switchGapMs(fromUs: number, toUs: number): { gapMs: number; change: number } {
    let best = { gapMs: 0, change: -1 };
    for (let i = 1; i < this.publishedUs.length; i++) {
      if (this.publishedUs[i]! < fromUs || this.publishedUs[i]! > toUs) continue;
      const change = Math.abs(this.signatures[i]! - this.signatures[i - 1]!);
      if (change > best.change) best = { gapMs: (this.publishedUs[i]! - this.publishedUs[i - 1]!) / 1000, change };
    }
    return best;
  }
  state(): string {
    return this.reader.state();
  }
  /** Largest gap (ms) between consecutive frames published in [fromUs, toUs]. */
  largestGapMs(fromUs: number, toUs: number): number {
    const times = this.publishedUs.filter((t) => t >= fromUs && t <= toUs);
    let gap = 0;
    for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
    return gap / 1000;
  }
  close(): void {
    clearInterval(this.timer);
    this.reader.close();
  }
}

const nowUs = monotonicUs;

describe.skipIf(demo.skip || ffmpeg.skip)('personalive daemon (child process, built-in generator, looped demo video)', () => {
  let daemon: DaemonProcess;
  let control: ControlClient;
  let watcher: RingWatcher;
  const ring = `personalive-live-test-${process.pid}`;
  const work = mkdtempSync(join(tmpdir(), 'personalive-live-'));
  const recording = join(work, 'recording.mp4');

  beforeAll(async () => {
    daemon = await startDaemon({
      args: ['--reference', join(demo.dir, 'reference.png'), '--driving-file', join(demo.dir, 'driving.mp4'), '--output-ring', ring, '--record', recording],
      keep: true,
    });
    control = await ControlClient.open(daemon);
    watcher = new RingWatcher(ring);
  }, 120_000);

  afterAll(async () => {
    control?.close();
    watcher?.close();
    if (daemon?.child.exitCode === null) await daemon.stop('SIGKILL');
    systemSharedMemory().unlink(ring);
    rmSync(work, { recursive: true, force: true });
  });

  it('refuses a connection without the token, with a wrong token, or from a foreign web origin', async () => {
    const base = `ws://127.0.0.1:${daemon.port}/control`;
    expect(await tryConnect(base)).toBe(401);
    expect(await tryConnect(`${base}?token=${'0'.repeat(64)}`)).toBe(401);
    expect(await tryConnect(`${base}?token=${daemon.token}`, { Origin: 'https://evil.example' })).toBe(403);
    expect(await tryConnect(`${base}?token=${daemon.token}`, { Origin: `http://127.0.0.1:${daemon.port}` })).toBe('open');
    // Why, in the typed error the panel shows (a browser asks /api/access; its socket cannot read the refusal).
    const access = async (token: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`${daemon.baseUrl}/api/access?token=${token}`, { headers });
      return { status: response.status, body: (await response.json()) as { ok: boolean; error?: { code: string } } };
    };
    expect(await access('0'.repeat(64))).toMatchObject({ status: 401, body: { ok: false, error: { code: 'CONTROL_UNAUTHORIZED' } } });
    expect(await access(daemon.token, { Origin: 'https://evil.example' })).toMatchObject({ status: 403, body: { ok: false, error: { code: 'CONTROL_FORBIDDEN_ORIGIN' } } });
    expect(await access(daemon.token)).toMatchObject({ status: 200, body: { ok: true } });
    const http = await fetch(`${daemon.baseUrl}/api/state`);
    expect(http.status).toBe(401);
    expect(((await http.json()) as { error: { code: string } }).error.code).toBe('CONTROL_UNAUTHORIZED');
  });

  it('answers malformed, unknown, badly typed and oversized messages with typed errors and keeps running', async () => {
    control.sendRaw('{this is not json');
    expect(await control.waitFor((m) => (m.error as { code?: string })?.code === 'CONTROL_BAD_MESSAGE')).toBeTruthy();
    expect((await control.call('no.such.method')).error?.code).toBe('CONTROL_UNKNOWN_METHOD');
    const bad = await control.call('output.set', { fps: 'fast' });
    expect(bad.error).toMatchObject({ code: 'CONTROL_BAD_PARAMS' });
    expect(bad.error!.message).toMatch(/params\.fps: expected an integer from 1 to 120, got "fast"/);
    // Sink switches come from the kinds that have one: the output ring is not switched from a client.
    expect((await control.call('output.set', { ring: false })).error?.message).toBe('output.set: params.ring is not a parameter (expected fps, size, picture, virtualCamera, recording)');
    // A decoder without a pack is refused with the reason (it used to be accepted).
    expect((await control.call('backend.set', { decoder: 'vae' })).error).toMatchObject({ code: 'DECODER_UNAVAILABLE', message: expect.stringContaining('no model pack configured') });
    expect((await control.call('references.activate', { id: '../../etc/passwd' })).error?.code).toBe('CONTROL_BAD_PARAMS');
    expect((await control.call('driving.set', { kind: 'file', file: '/etc/passwd' })).error?.message).toMatch(/params\.file is not a parameter/);
    control.sendRaw(JSON.stringify({ id: 99, method: 'state.get', params: { pad: 'x'.repeat(100_000) } }));
    expect(await control.waitFor((m) => (m.error as { code?: string })?.code === 'CONTROL_MESSAGE_TOO_LARGE')).toBeTruthy();
    // Past the hard limit the socket is closed (ws 1009); the daemon stays up.
    const big = await ControlClient.open(daemon);
    const closed = new Promise<number>((resolve) => big.ws.once('close', (code) => resolve(code)));
    big.sendRaw(Buffer.alloc(2 * 1024 * 1024, 0x20));
    expect(await closed).toBe(1009);
    const state = await control.call<DaemonState>('state.get');
    expect(state.ok).toBe(true);
    expect(daemon.child.exitCode).toBeNull();
  });

  it('streams paced frames into the output ring with measured latency', async () => {
    const stats = (await control.waitFor((m) => m.event === 'stats' && ((m as unknown as EventMessage<'stats'>).data.framesOut > 50), 60_000)) as unknown as EventMessage<'stats'>;
    const s: LiveStats = stats.data;
    expect(s.generator).toBe('meshwarp');
    expect(s.executionProvider).toBe('built-in (CPU)');
    expect(s.outputFps).toBeGreaterThan(15);
    expect(s.latencyMs.p50).toBeGreaterThan(0);
    const deadline = Date.now() + 20_000;
    while (watcher.publishedUs.length <= 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(watcher.publishedUs.length).toBeGreaterThan(5);
  });

  it('uploads images only: a non-image gets IMAGE_UNREADABLE, a portrait is added with a thumbnail', async () => {
    const text = await fetch(`${daemon.baseUrl}/api/references?name=notes.txt`, { method: 'POST', headers: { authorization: `Bearer ${daemon.token}` }, body: 'hello, this is not an image' });
    expect(text.status).toBe(400);
    const error = ((await text.json()) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('IMAGE_UNREADABLE');
    expect(error.message).toMatch(/notes\.txt.*looks like a text file/);
    const preset = join(demo.dir, 'presets', firstPreset(join(demo.dir, 'presets')));
    const upload = await fetch(`${daemon.baseUrl}/api/references?name=${encodeURIComponent('../../evil/preset.jpg')}`, { method: 'POST', headers: { authorization: `Bearer ${daemon.token}` }, body: readFileSync(preset) });
    expect(upload.status).toBe(201);
    const added = ((await upload.json()) as { result: { id: string; name: string; slot: number; thumbnailUrl: string } }).result;
    expect(added.name).toBe('preset.jpg'); // no folders from the client
    expect(added.slot).toBe(2);
    const thumbnail = await fetch(`${daemon.baseUrl}${added.thumbnailUrl}?token=${daemon.token}`);
    expect(thumbnail.headers.get('content-type')).toBe('image/jpeg');
    expect(existsSync(join(daemon.dataDir, 'references', `${added.id}.jpg`))).toBe(true);
  });

  it('swaps the reference mid-stream without a gap longer than one frame interval beyond the normal cadence', async () => {
    const state = (await control.call<DaemonState>('state.get')).result!;
    const next = state.references.find((r) => r.id !== state.activeReferenceId)!;
    await new Promise((r) => setTimeout(r, 6000));
    const before = nowUs();
    const normalGapMs = watcher.largestGapMs(before - 6_000_000, before);
    const swap = await control.call('references.activate', { id: next.id });
    expect(swap.ok, JSON.stringify(swap.error)).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    const after = nowUs();
    // The frame where the portrait changed, and how long the picture held before it.
    const change = watcher.switchGapMs(before, after);
    const frameIntervalMs = 1000 / 25;
    // The figures for the record (the issue asks for them): printed by the test run.
    process.stdout.write(`reference swap: gap before the first new-portrait frame ${change.gapMs.toFixed(1)} ms; largest gap in the swap window ${watcher.largestGapMs(before, after).toFixed(1)} ms; normal cadence (largest gap in the 6 s before) ${normalGapMs.toFixed(1)} ms\n`);
    expect(change.change).toBeGreaterThan(5); // a different portrait, not motion noise
    expect(change.gapMs).toBeLessThanOrEqual(normalGapMs + frameIntervalMs);
    expect((await control.call<DaemonState>('state.get')).result!.activeReferenceId).toBe(next.id);
  });

  it('keeps the old reference and says why when the new one has no face', async () => {
    const blank = join(work, 'blank.png');
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'color=c=gray:s=256x256', '-frames:v', '1', blank]);
    const activeBefore = (await control.call<DaemonState>('state.get')).result!.activeReferenceId;
    // Refused at the upload already (it used to be stored, take a hotkey slot, and fail at the swap).
    const upload = await fetch(`${daemon.baseUrl}/api/references?name=blank.png`, { method: 'POST', headers: { authorization: `Bearer ${daemon.token}` }, body: readFileSync(blank) });
    expect(upload.status).toBe(400);
    expect(((await upload.json()) as { error: { code: string } }).error.code).toBe('NO_FACE');
    const after = (await control.call<DaemonState>('state.get')).result!;
    expect(after.activeReferenceId).toBe(activeBefore);
    expect(after.references.some((r) => r.name === 'blank.png')).toBe(false);
  });

  it('refuses an unavailable backend with the reason, and persists a valid edit', async () => {
    const device = await control.call('backend.set', { device: 'cuda' });
    expect(device.error?.code).toBe('DEVICE_UNAVAILABLE');
    expect(device.error?.message).toMatch(/cuda is not available: /);
    const generator = await control.call('backend.set', { generator: 'personalive' });
    expect(generator.error?.code).toBe('GENERATOR_NEEDS_PACK');
    const fps = await control.call('output.set', { fps: 20 });
    expect(fps.ok, JSON.stringify(fps.error)).toBe(true);
    const saved = JSON.parse(readFileSync(join(daemon.configDir, 'config.json'), 'utf8')) as { output: { fps: number } };
    expect(saved.output.fps).toBe(20);
  });

  it('camera.set changes the 16:9 camera picture and saves it; a background image without a configured file, or a scale out of range, is refused', async () => {
    const set = await control.call<DaemonState['output']['virtualCamera']>('camera.set', { scale: 0.7, x: 0.3, background: 'colour', colour: '#112233' });
    expect(set.result).toMatchObject({ size: '1280x720', scale: 0.7, x: 0.3, y: 0.5, background: 'colour', colour: '#112233' });
    const saved = JSON.parse(readFileSync(join(daemon.configDir, 'config.json'), 'utf8')) as { output: DaemonState['output'] };
    expect(saved.output.virtualCamera).toMatchObject({ scale: 0.7, background: 'colour' });
    expect((await control.call('camera.set', { background: 'image' })).error).toMatchObject({ code: 'CONTROL_BAD_PARAMS', message: expect.stringContaining('set output.virtualCamera.image in the configuration file first') });
    expect((await control.call('camera.set', { scale: 3 })).error?.message).toMatch(/camera\.set: params\.scale: expected a number from 0\.2 to 1/);
    expect((await control.call('camera.set', { image: '/etc/passwd' })).error?.message).toMatch(/params\.image is not a parameter/);
    const square = await control.call<DaemonState['output']>('output.set', { picture: 'camera' });
    expect(square.result?.picture).toBe('camera');
    expect((await control.call<DaemonState['output']>('output.set', { picture: 'square' })).result?.picture).toBe('square');
    expect((await control.call('output.set', { picture: 'round' })).error?.message).toMatch(/params\.picture: expected one of "square", "camera"/);
  });

  it('expression controls and "this is my neutral face" on the control API: followed live, saved, bad values refused', async () => {
    const set = await control.call<DaemonState['generator']['expression']>('expression.set', { mouth: 1.5, head: 0.5, headPose: 'absolute' });
    expect(set.result).toEqual({ mouth: 1.5, eyes: 1, brows: 1, head: 0.5, headPose: 'absolute' });
    expect((await control.call<DaemonState>('state.get')).result!.generator.expression).toMatchObject({ mouth: 1.5, headPose: 'absolute' });
    const saved = JSON.parse(readFileSync(join(daemon.configDir, 'config.json'), 'utf8')) as { generator: { expression: unknown } };
    expect(saved.generator.expression).toMatchObject({ mouth: 1.5, head: 0.5 });
    expect((await control.call('expression.set', { mouth: 3 })).error?.message).toMatch(/expression\.set: params\.mouth: expected a number from 0 to 2/);
    expect((await control.call('expression.calibrate', {})).result).toEqual({ calibrated: true });
    // The stream goes on after the calibration.
    const before = (await control.call<DaemonState>('state.get')).result!;
    expect(before.generator.status).toBe('running');
    await control.call('expression.set', { mouth: 1, head: 1, headPose: 'relative' });
  });

  it('shuts down cleanly on SIGTERM: exit 0, the recording complete, the output ring marked stopped', async () => {
    const result = await daemon.stop('SIGTERM');
    expect(result).toEqual({ code: 0, signal: null });
    expect(existsSync(recording)).toBe(true);
    const frames = Number(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', recording], { encoding: 'utf8' }).trim());
    expect(frames).toBeGreaterThan(50);
    expect(['stopped', 'absent']).toContain(watcher.state());
    expect(daemon.logs()).toMatch(/"msg":"daemon stopped"/);
  });
});

function firstPreset(dir: string): string {
  const name = readdirSync(dir).sort().find((n) => /\.(png|jpe?g|webp)$/i.test(n));
  if (!name) throw new Error(`no preset portraits in ${dir}`);
  return name;
}

describe.skipIf(demo.skip || ffmpeg.skip)('failover from the PersonaLive generator (tiny test pack on CPU)', () => {
  let daemon: DaemonProcess;
  let control: ControlClient;
  const work = mkdtempSync(join(tmpdir(), 'personalive-failover-'));
  const pack = join(work, 'pack');

  beforeAll(async () => {
    execFileSync(process.execPath, [join(REPO, 'bin/personalive.js'), 'pack', 'make-test', pack, '--resolution', '256'], { stdio: 'pipe' });
    daemon = await startDaemon({ args: ['--reference', join(demo.dir, 'reference.png'), '--driving-file', join(demo.dir, 'driving.mp4'), '--pack', pack, '--no-ring', '--size', '256'] });
    control = await ControlClient.open(daemon);
  }, 120_000);

  afterAll(async () => {
    control?.close();
    await daemon?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('switches to the built-in generator when the diffusion generator throws, says so, keeps streaming, and switches back on request', async () => {
    const before = (await control.call<DaemonState>('state.get')).result!;
    expect(before.generator).toMatchObject({ active: 'personalive', providers: ['cpu'] });
    expect((await control.call('test.injectFault', { mode: 'throw' })).ok).toBe(true);
    const notice = await control.waitFor((m) => m.event === 'notice' && /Switched to the built-in generator/.test(String((m.data as { message: string }).message)), 30_000);
    expect(notice).toBeTruthy();
    const during = await control.waitFor((m) => m.event === 'state' && (m.data as DaemonState).generator.active === 'meshwarp' && (m.data as DaemonState).generator.status === 'running', 60_000);
    expect((during.data as DaemonState).generator.failover).toMatchObject({ active: true });
    expect((during.data as DaemonState).generator.failover.reason).toMatch(/injected generator fault/);
    const framesAt = (await control.waitFor((m) => m.event === 'stats')).data as LiveStats;
    await new Promise((r) => setTimeout(r, 1500));
    const later = control.messages.filter((m) => m.event === 'stats').at(-1)!.data as LiveStats;
    expect(later.framesOut).toBeGreaterThan(framesAt.framesOut);
    expect(later.failover).toBe(true);
    expect(daemon.logs()).toMatch(/failover: the built-in generator keeps the stream alive/);
    const restored = await control.call<DaemonState['generator']>('failover.restore');
    expect(restored.ok, JSON.stringify(restored.error)).toBe(true);
    expect(restored.result).toMatchObject({ active: 'personalive', failover: { active: false } });
  });
});

describe.skipIf(demo.skip || ffmpeg.skip)('first run: no reference yet', () => {
  let daemon: DaemonProcess;
  let control: ControlClient;

  beforeAll(async () => {
    daemon = await startDaemon({ args: ['--driving-file', join(demo.dir, 'driving.mp4'), '--no-ring'] });
    control = await ControlClient.open(daemon);
  }, 120_000);

  afterAll(async () => {
    control?.close();
    await daemon?.stop();
  });

  it('starts without a portrait, waits, and goes on air with the first upload', async () => {
    const waiting = (await control.call<DaemonState>('state.get')).result!;
    expect(waiting.generator.status).toBe('waiting');
    expect(waiting.references).toEqual([]);
    expect(waiting.activeReferenceId).toBeNull();
    const upload = await fetch(`${daemon.baseUrl}/api/references?name=me.png`, { method: 'POST', headers: { authorization: `Bearer ${daemon.token}` }, body: readFileSync(join(demo.dir, 'reference.png')) });
    expect(upload.status).toBe(201);
    const id = ((await upload.json()) as { result: { id: string } }).result.id;
    const running = (await control.call<DaemonState>('state.get')).result!;
    expect(running.generator.status).toBe('running');
    expect(running.activeReferenceId).toBe(id);
  });
});
