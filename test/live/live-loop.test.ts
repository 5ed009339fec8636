/**
 * The live loop with fake generators and a fake source (no workers, no ffmpeg): failover
 * rules, reference swaps between steps, frame selection, latency stamps.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../daemon/config/config.js';
import { PersonaLiveError } from '../../daemon/errors.js';
import type { Generator } from '../../daemon/generators/generator.js';
import type { Frame, RgbImage } from '../../daemon/frames.js';
import { LiveLoop, type BackendChoice } from '../../daemon/live/live-loop.js';
import type { Sink } from '../../daemon/sinks/types.js';
import type { DrivingSource } from '../../daemon/sources/types.js';
import { monotonicUs } from '../../daemon/transport/ring.js';

const SIZE = 64;

/** A generator whose push behaviour a test controls; outputs carry the reference's first byte. */
function fakeGenerator(kind: 'meshwarp' | 'personalive', behaviour: { delayMs?: number; fail?: () => boolean } = {}): Generator & { pushed: Frame[]; closed: boolean; resets: number[] } {
  let reference = 0;
  const g = {
    name: kind,
    outputSize: { width: SIZE, height: SIZE },
    pushed: [] as Frame[],
    /** How many frames had been pushed at each reset(). */
    resets: [] as number[],
    closed: false,
    async fuseReference(image: RgbImage) {
      if (image.data[0] === 0) throw new PersonaLiveError('NO_FACE', 'no face was found in the reference image');
      reference = image.data[0]!;
    },
    async push(frame: Frame): Promise<Frame[]> {
      g.pushed.push(frame);
      if (behaviour.fail?.()) throw new PersonaLiveError('ENGINE_FAILED', 'fake failure');
      if (behaviour.delayMs) await new Promise((r) => setTimeout(r, behaviour.delayMs));
      return [{ data: new Uint8Array(SIZE * SIZE * 3).fill(reference), width: SIZE, height: SIZE, index: frame.index, captureUs: frame.captureUs, warmup: false }];
    },
    async flush() { return []; },
    async reset() {
      g.resets.push(g.pushed.length);
    },
    async stats() { return { generator: kind, framesIn: 0, framesOut: 0, warmupFramesOut: 0, steps: 0, keyframes: 0, providers: (kind === 'personalive' ? { step: ['cpu'] } : {}) as Record<string, readonly string[]>, stages: {}, kernels: null }; },
    async close() { g.closed = true; },
  };
  return g;
}

function manualSource(): DrivingSource & { emit(): void } {
  let deliver: ((frame: Frame) => void) | null = null;
  return {
    kind: 'image',
    description: 'test frames',
    async start(onFrame) { deliver = onFrame; },
    state: () => 'live',
    error: () => null,
    async close() { deliver = null; },
    emit() { deliver?.({ data: new Uint8Array(SIZE * SIZE * 3), width: SIZE, height: SIZE, index: 0, captureUs: monotonicUs(), warmup: false }); },
  };
}

function collectingSink(): Sink & { fresh: Frame[] } {
  const fresh: Frame[] = [];
  return { kind: 'null', fresh, write(frame, repeated) { if (!repeated) fresh.push({ ...frame, data: frame.data.slice() }); }, status: () => ({}), async close() {} };
}

const image = (value: number): RgbImage => ({ data: new Uint8Array(SIZE * SIZE * 3).fill(value), width: SIZE, height: SIZE });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(10);
  }
}

const loops: LiveLoop[] = [];
afterEach(async () => {
  while (loops.length) await loops.pop()!.close();
});

function makeLoop(kind: 'meshwarp' | 'personalive', factories: Partial<Record<'meshwarp' | 'personalive', () => Generator>>, failoverAfterMs = 200) {
  const notices: string[] = [];
  const created: BackendChoice[] = [];
  const config = validateConfig({ generator: { kind, packDir: kind === 'personalive' ? '/packs/test' : null, failoverAfterMs }, output: { fps: 50, size: SIZE } }, 'test');
  const loop = new LiveLoop(config, {
    createGenerator: async (choice) => {
      created.push(choice);
      return factories[choice.generator]!();
    },
    log: { info() {}, warn() {}, error() {} },
    notice: (_level, _code, message) => notices.push(message),
    changed() {},
  });
  loops.push(loop);
  return { loop, notices, created };
}

/** Starts `loop` with a reference, a collecting sink and a manual source. */
async function started(loop: LiveLoop, reference: number): Promise<{ sink: ReturnType<typeof collectingSink>; source: ReturnType<typeof manualSource> }> {
  const sink = collectingSink();
  const source = manualSource();
  await loop.start(image(reference));
  await loop.setSink(sink);
  await loop.setSource(source);
  return { sink, source };
}

describe('live loop', () => {
  it('fails over from a PersonaLive generator that misses its deadline, keeps streaming, and goes back on request', async () => {
    // A PersonaLive generator whose push never answers once `hang` is set (a hung GPU).
    let hang = false;
    const stalled = fakeGenerator('personalive');
    const push = stalled.push.bind(stalled);
    stalled.push = (frame) => (hang ? new Promise(() => undefined) : push(frame));
    const { loop, notices } = makeLoop('personalive', { personalive: () => stalled, meshwarp: () => fakeGenerator('meshwarp') });
    const { sink, source } = await started(loop, 7);
    source.emit();
    await until('a first frame', () => sink.fresh.length > 0);
    hang = true;
    source.emit();
    await until('failover to the built-in generator', () => loop.generatorStatus().active === 'meshwarp' && loop.generatorStatus().status === 'running');
    expect(loop.generatorStatus().failover.active).toBe(true);
    expect(loop.generatorStatus().failover.reason).toMatch(/produced nothing for 200 ms/);
    expect(notices.some((n) => /Switched to the built-in generator/.test(n))).toBe(true);
    const before = sink.fresh.length;
    source.emit();
    await until('frames from the built-in generator', () => sink.fresh.length > before);
    expect(sink.fresh.at(-1)!.data[0]).toBe(7); // the same reference
    // Rebuilding what runs (a new output size) keeps the failover and the request to go back.
    await loop.rebuildActive();
    expect(loop.generatorStatus()).toMatchObject({ active: 'meshwarp', requested: 'personalive', failover: { active: true } });
    hang = false;
    await loop.restoreRequested();
    expect(loop.generatorStatus()).toMatchObject({ active: 'personalive', failover: { active: false } });
  });

  it('waits for a slow built-in generator instead of restarting it, and restarts it when it throws', async () => {
    let throwNext = false;
    const gens: ReturnType<typeof fakeGenerator>[] = [];
    const { loop, created } = makeLoop('meshwarp', {
      meshwarp: () => {
        const g = fakeGenerator('meshwarp', { delayMs: 500, fail: () => { const t = throwNext; throwNext = false; return t; } });
        gens.push(g);
        return g;
      },
    });
    const { sink, source } = await started(loop, 3);
    source.emit();
    await until('the slow frame', () => sink.fresh.length === 1, 3000);
    expect(created).toHaveLength(1); // 500 ms > failoverAfterMs (200) and no restart
    throwNext = true;
    source.emit();
    await until('a restarted built-in generator', () => created.length === 2 && loop.generatorStatus().status === 'running');
    expect(gens[0]!.closed).toBe(true);
  });

  it('swaps the reference between two steps and keeps the old one when the new one is refused', async () => {
    const { loop } = makeLoop('meshwarp', { meshwarp: () => fakeGenerator('meshwarp') });
    const { sink, source } = await started(loop, 5);
    source.emit();
    await until('a frame', () => sink.fresh.length >= 1);
    await loop.swapReference(image(9));
    source.emit();
    await until('a frame with the new reference', () => sink.fresh.at(-1)?.data[0] === 9);
    await expect(loop.swapReference(image(0))).rejects.toMatchObject({ code: 'NO_FACE' });
    source.emit();
    await sleep(100);
    expect(sink.fresh.at(-1)!.data[0]).toBe(9);
  });

  it('resets the generator\'s stream state when the driving source changes, before the new source\'s first frame', async () => {
    const generator = fakeGenerator('meshwarp');
    const { loop } = makeLoop('meshwarp', { meshwarp: () => generator });
    const { sink, source } = await started(loop, 5);
    expect(generator.resets).toEqual([]); // the first source starts a stream: nothing to forget
    source.emit();
    await until('a frame', () => sink.fresh.length >= 1);
    const next = manualSource();
    await loop.setSource(next);
    expect(generator.resets).toEqual([generator.pushed.length]);
    next.emit();
    await until('a frame from the new source', () => generator.pushed.length > generator.resets[0]!);
    expect(generator.resets).toHaveLength(1);
  });

  it('gives a slow generator the newest frame and counts the frames it skipped', async () => {
    const slow = fakeGenerator('meshwarp', { delayMs: 150 });
    const { loop } = makeLoop('meshwarp', { meshwarp: () => slow });
    const { sink, source } = await started(loop, 5);
    source.emit();
    await sleep(20);
    for (let i = 0; i < 5; i++) source.emit(); // arrive while the first push is busy
    await until('two frames', () => sink.fresh.length >= 2, 3000);
    expect(slow.pushed.map((f) => f.index)).toEqual([0, 1]);
    expect(loop.stats().drops.input).toBe(4);
    const latency = loop.stats().latencyMs;
    expect(latency.p50).toBeGreaterThan(100); // capture to output includes the 150 ms push
  });

  it('reuses buffers on the live path: driving frames come back to the pool, output frames to the generator', async () => {
    const generator = fakeGenerator('meshwarp');
    const recycled: Frame[] = [];
    generator.recycle = (frame) => recycled.push(frame);
    const { loop } = makeLoop('meshwarp', { meshwarp: () => generator });
    const sink = collectingSink();
    await loop.start(image(3));
    await loop.setSink(sink);
    // A source that fills frames from the loop's pool, as the real ones do.
    let deliver: ((frame: Frame) => void) | null = null;
    await loop.setSource({ kind: 'image', description: 'pooled', async start(onFrame) { deliver = onFrame; }, state: () => 'live', error: () => null, async close() { deliver = null; } });
    for (let i = 0; i < 40; i++) {
      const frame = loop.framePool.acquire(SIZE, SIZE);
      frame.captureUs = monotonicUs();
      deliver!(frame);
      await until(`output ${i + 1}`, () => sink.fresh.length > i);
    }
    // 40 frames went through; a handful of buffers served them all.
    expect(loop.framePool.allocated).toBeLessThanOrEqual(3);
    // Every output the pacer let go of went back to the generator that drew it (the newest is still on screen).
    expect(recycled.length).toBeGreaterThanOrEqual(35);
    expect(new Set(recycled).size).toBe(recycled.length);
  });

  it('reports the device that really runs: the built-in generator on the CPU whatever the saved device says', async () => {
    const config = validateConfig({ generator: { kind: 'meshwarp', device: 'cuda' }, output: { fps: 50, size: SIZE } }, 'test');
    const loop = new LiveLoop(config, { createGenerator: async () => fakeGenerator('meshwarp'), log: { info() {}, warn() {}, error() {} }, notice() {}, changed() {} });
    loops.push(loop);
    await loop.start(image(4));
    expect(loop.generatorStatus()).toMatchObject({ active: 'meshwarp', device: 'cpu' });
    expect(loop.stats().executionProvider).toBe('built-in (CPU)');
  });
});
