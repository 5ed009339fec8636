import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { PersonaLiveError } from '../../daemon/errors.js';
import { RingReader, RingWriter, monotonicUs } from '../../daemon/transport/ring.js';
import { HEADER, PixelFormat, RING_STALE_MS, SLOT, SLOT_DESCRIPTOR_SIZE } from '../../daemon/ffi/ring-layout.js';
import { createInProcessSharedMemory, systemSharedMemory } from '../../daemon/ffi/shared-memory.js';

function fakeClock(start = 1_000_000): { now: () => number; advanceMs: (ms: number) => void } {
  let t = start;
  return { now: () => t, advanceMs: (ms) => { t += ms * 1000; } };
}

const frameOf = (length: number, value: number): Uint8Array => new Uint8Array(length).fill(value);

describe('frame ring (in-process memory, fake clock)', () => {
  it('a reader gets the newest complete frame with its number and capture timestamp, once', () => {
    const memory = createInProcessSharedMemory();
    const clock = fakeClock();
    const writer = new RingWriter(memory, { name: 'r1', width: 4, height: 2, now: clock.now, heartbeatTimer: false });
    const reader = new RingReader(memory, 'r1', { now: clock.now });
    expect(reader.state()).toBe('waiting');
    expect(reader.readLatest()).toBeNull();
    const pixels = Uint8Array.from({ length: 24 }, (_, i) => i * 3);
    writer.publish(pixels, 123_456);
    const frame = reader.readLatest();
    expect(frame).toMatchObject({ frameNumber: 1, captureUs: 123_456, publishUs: clock.now(), width: 4, height: 2, stride: 12, pixelFormat: PixelFormat.RGB24, skipped: 0 });
    expect([...frame!.pixels]).toEqual([...pixels]);
    expect(reader.readLatest()).toBeNull();
    expect(reader.state()).toBe('live');
  });

  it('skips to the newest frame when the reader is slow, and counts what it skipped', () => {
    const memory = createInProcessSharedMemory();
    const writer = new RingWriter(memory, { name: 'r2', width: 2, height: 2, heartbeatTimer: false });
    const reader = new RingReader(memory, 'r2');
    writer.publish(frameOf(12, 1), 1);
    expect(reader.readLatest()?.frameNumber).toBe(1);
    for (let v = 2; v <= 6; v += 1) writer.publish(frameOf(12, v), v);
    const frame = reader.readLatest()!;
    expect(frame.frameNumber).toBe(6);
    expect(frame.skipped).toBe(4);
    expect(frame.pixels[0]).toBe(6);
    expect(reader.status()).toMatchObject({ framesRead: 2, framesSkipped: 4, tornReads: 0 });
  });

  it('never returns a slot whose sequence says it is being written', () => {
    const memory = createInProcessSharedMemory();
    const writer = new RingWriter(memory, { name: 'r3', width: 2, height: 2, slotCount: 2, heartbeatTimer: false });
    const reader = new RingReader(memory, 'r3');
    writer.publish(frameOf(12, 9), 1);
    const words = new Uint32Array(memory.open('r3', 4096)!.buffer, 0, 1024);
    const sequenceWord = (HEADER.slots + (1 % 2) * SLOT_DESCRIPTOR_SIZE + SLOT.sequence) / 4;
    Atomics.store(words, sequenceWord, 3); // frame 2 "in progress" over frame 1's slot (lapped)
    expect(reader.readLatest()).toBeNull();
    Atomics.store(words, sequenceWord, 2);
    expect(reader.readLatest()?.pixels[0]).toBe(9);
  });

  it('publishWith lets a conversion write straight into the slot', () => {
    const memory = createInProcessSharedMemory();
    const writer = new RingWriter(memory, { name: 'r4', width: 3, height: 2, pixelFormat: PixelFormat.BGRA, heartbeatTimer: false });
    const reader = new RingReader(memory, 'r4');
    writer.publishWith((slot) => {
      expect(slot.length).toBe(24);
      slot.set([1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255, 1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255]);
    }, 5);
    expect([...reader.readLatest()!.pixels].slice(12)).toEqual([1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255]);
  });

  it('reports a writer whose heartbeat stopped as stale, and live again when it beats', () => {
    const memory = createInProcessSharedMemory();
    const clock = fakeClock();
    const writer = new RingWriter(memory, { name: 'r5', width: 2, height: 2, now: clock.now, heartbeatTimer: false });
    const reader = new RingReader(memory, 'r5', { now: clock.now });
    writer.publish(frameOf(12, 1), clock.now());
    clock.advanceMs(RING_STALE_MS - 10);
    expect(reader.state()).toBe('live');
    clock.advanceMs(20);
    expect(reader.state()).toBe('stale');
    writer.publish(frameOf(12, 2), clock.now());
    expect(reader.readLatest()?.pixels[0]).toBe(2);
    expect(reader.state()).toBe('live');
    expect(reader.status().heartbeatAgeMs).toBe(0);
  });

  it('sees a clean close as stopped, then absent, then follows a new writer with a new size', () => {
    const memory = createInProcessSharedMemory();
    const clock = fakeClock();
    const first = new RingWriter(memory, { name: 'r6', width: 2, height: 2, now: clock.now, heartbeatTimer: false });
    const reader = new RingReader(memory, 'r6', { now: clock.now, reopenIntervalMs: 100 });
    first.publish(frameOf(12, 1), 1);
    expect(reader.readLatest()?.width).toBe(2);
    first.close();
    expect(reader.state()).toBe('stopped');
    clock.advanceMs(150);
    expect(reader.state()).toBe('absent');
    const second = new RingWriter(memory, { name: 'r6', width: 8, height: 4, pixelFormat: PixelFormat.RGBA, now: clock.now, heartbeatTimer: false });
    second.publish(frameOf(8 * 4 * 4, 7), 2);
    clock.advanceMs(150);
    const frame = reader.readLatest()!;
    expect(frame).toMatchObject({ width: 8, height: 4, pixelFormat: PixelFormat.RGBA, frameNumber: 1 });
    expect(frame.pixels.length).toBe(128);
    second.close();
  });

  it('rejects an object that is not a ring of this version with the field that is wrong', () => {
    const memory = createInProcessSharedMemory();
    const region = memory.create('r7', 8192);
    new DataView(region.buffer).setUint32(HEADER.magic, 0xdeadbeef, true);
    const reader = new RingReader(memory, 'r7');
    expect(() => reader.state()).toThrow(/shared memory "r7": field magic: expected 0x52474e50, got 3735928559/);
    const writer = new RingWriter(memory, { name: 'r8', width: 2, height: 2, heartbeatTimer: false });
    new DataView(memory.open('r8', 4096)!.buffer).setUint32(HEADER.version, 99, true);
    try {
      new RingReader(memory, 'r8').state();
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PersonaLiveError);
      expect((error as PersonaLiveError).code).toBe('RING_INVALID');
      expect((error as PersonaLiveError).message).toMatch(/field version: expected 1, got 99/);
    }
    writer.close();
  });

  it('refuses bad writer geometry and wrong frame sizes with specific messages', () => {
    const memory = createInProcessSharedMemory();
    expect(() => new RingWriter(memory, { name: 'g', width: 0, height: 2 })).toThrow(/width and height must be integers in 2..8192, got 0x2/);
    expect(() => new RingWriter(memory, { name: 'g', width: 4, height: 4, slotCount: 9 })).toThrow(/slotCount must be 2..8, got 9/);
    const writer = new RingWriter(memory, { name: 'g', width: 4, height: 4, heartbeatTimer: false });
    expect(() => writer.publish(new Uint8Array(10), 0)).toThrow(/frame has 10 bytes, expected 48 \(4x4, stride 12\)/);
    writer.close();
    expect(() => writer.publish(new Uint8Array(48), 0)).toThrow(/used after close/);
  });
});

const writerScript = fileURLToPath(new URL('../fixtures/ring-writer.ts', import.meta.url));

function startWriter(name: string, width: number, height: number, fps: number, slots = 3): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', writerScript, name, String(width), String(height), String(fps), String(slots)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', () => resolve(child));
  });
}

async function waitFor<T>(what: string, probe: () => T | null | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('frame ring ownership (two writers, one name)', () => {
  /** Makes the ring under `name` look written by process `pid`. */
  function claimAs(memory: ReturnType<typeof createInProcessSharedMemory>, name: string, pid: number): void {
    const region = memory.open(name, 4096)!;
    new DataView(region.buffer).setUint32(HEADER.writer_pid, pid, true);
    region.close();
  }

  it('refuses a ring that another live process writes, naming it and what to change', () => {
    const memory = createInProcessSharedMemory();
    const clock = fakeClock();
    const first = new RingWriter(memory, { name: 'shared', width: 4, height: 2, now: clock.now, heartbeatTimer: false });
    claimAs(memory, 'shared', 424242);
    const second = (): RingWriter => new RingWriter(memory, { name: 'shared', width: 4, height: 2, now: clock.now, heartbeatTimer: false, isAlive: (pid) => pid === 424242 });
    let error: PersonaLiveError | null = null;
    try {
      second();
    } catch (e) {
      error = e as PersonaLiveError;
    }
    expect(error).toMatchObject({ code: 'RING_IN_USE', details: { name: 'shared', pid: 424242 } });
    expect(error!.message).toContain('ring "shared" is being written by another process (pid 424242, 4x2)');
    expect(error!.message).toContain('--output-ring NAME --port N');
    // The first writer's ring is untouched.
    expect(new RingReader(memory, 'shared', { now: clock.now }).state()).toBe('waiting');
    first.close();
  });

  it('takes over a ring whose writer died or went silent', () => {
    const memory = createInProcessSharedMemory();
    const clock = fakeClock();
    new RingWriter(memory, { name: 'left', width: 4, height: 2, now: clock.now, heartbeatTimer: false });
    claimAs(memory, 'left', 424242);
    // The process is gone.
    expect(() => new RingWriter(memory, { name: 'left', width: 4, height: 2, now: clock.now, heartbeatTimer: false, isAlive: () => false }).close()).not.toThrow();
    new RingWriter(memory, { name: 'left', width: 4, height: 2, now: clock.now, heartbeatTimer: false });
    claimAs(memory, 'left', 424242);
    // Alive, but its heartbeat is older than the stale limit (a stopped process).
    clock.advanceMs(RING_STALE_MS + 1);
    expect(() => new RingWriter(memory, { name: 'left', width: 4, height: 2, now: clock.now, heartbeatTimer: false, isAlive: () => true }).close()).not.toThrow();
  });

  it('a closing writer unlinks only a ring that is still its own', () => {
    const memory = createInProcessSharedMemory();
    const clock = fakeClock();
    const old = new RingWriter(memory, { name: 'mine', width: 4, height: 2, now: clock.now, heartbeatTimer: false });
    clock.advanceMs(1);
    const replacement = new RingWriter(memory, { name: 'mine', width: 6, height: 2, now: clock.now, heartbeatTimer: false });
    old.close();
    expect(memory.sizeOf('mine')).not.toBeNull();
    const reader = new RingReader(memory, 'mine', { now: clock.now });
    replacement.publish(new Uint8Array(36), 1);
    expect(reader.readLatest()).toMatchObject({ width: 6 });
    replacement.close();
    expect(memory.sizeOf('mine')).toBeNull();
  });
});

describe('frame ring across processes (POSIX shared memory through koffi)', () => {
  const children: ChildProcess[] = [];
  const name = `personalive-test-${process.pid}`;
  afterEach(() => {
    for (const child of children) child.kill('SIGKILL');
    systemSharedMemory().unlink(name);
  });

  it('a reader never sees a torn frame while another process writes as fast as it can into 2 slots', async () => {
    const writer = await startWriter(name, 256, 256, 1000, 2);
    children.push(writer);
    const reader = new RingReader(systemSharedMemory(), name);
    await waitFor('the first frame', () => reader.readLatest());
    let frames = 0;
    let lastNumber = 0;
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      const frame = reader.readLatest();
      if (!frame) continue;
      const expected = frame.frameNumber % 251;
      // Every byte of a frame carries the same value: a torn copy would mix two frames.
      const first = frame.pixels[0];
      let uniform = first === expected;
      for (let i = 0; i < frame.pixels.length && uniform; i += 97) uniform = frame.pixels[i] === expected;
      expect(uniform).toBe(true);
      expect(frame.frameNumber).toBeGreaterThan(lastNumber);
      lastNumber = frame.frameNumber;
      frames += 1;
      await new Promise((r) => setImmediate(r));
    }
    expect(frames).toBeGreaterThan(20);
    expect(reader.status()).toMatchObject({ state: 'live', writerPid: writer.pid, width: 256, height: 256 });
    reader.close();
  });

  it('detects a killed writer by its heartbeat, then follows a new writer', async () => {
    const first = await startWriter(name, 64, 32, 50);
    children.push(first);
    const reader = new RingReader(systemSharedMemory(), name);
    const frame = await waitFor('a frame', () => reader.readLatest());
    expect(frame.pixels.length).toBe(64 * 32 * 3);
    expect(monotonicUs() - frame.captureUs).toBeLessThan(1_000_000); // same clock in both processes
    first.kill('SIGKILL');
    await once(first, 'exit');
    const killedAt = Date.now();
    await waitFor('the stale state', () => reader.state() === 'stale', RING_STALE_MS + 3000);
    const detectionMs = Date.now() - killedAt;
    expect(detectionMs).toBeLessThan(RING_STALE_MS + 1000);
    const second = await startWriter(name, 32, 32, 50);
    children.push(second);
    const resumed = await waitFor('frames from the new writer', () => reader.readLatest(), 5000);
    expect(resumed.width).toBe(32);
    expect(reader.status()).toMatchObject({ state: 'live', writerPid: second.pid, reopens: 1 });
    second.kill('SIGTERM');
    await once(second, 'exit');
    await waitFor('the stopped state', () => ['stopped', 'absent'].includes(reader.state()), 2000);
    reader.close();
  });
});
