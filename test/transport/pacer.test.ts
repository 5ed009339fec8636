/**
 * The frame pacer: one frame per tick at the declared rate whatever the generator does.
 * The core is driven with literal timestamps; the shell with a fake clock; one short run
 * on real timers checks the system clock wiring.
 */
import { describe, expect, it } from 'vitest';
import { FramePacer, FramePacerCore, checkPacerOptions, systemPacerClock } from '../../daemon/transport/pacer.js';
import { FakeClock } from '../fixtures/fake-clock.js';

const PERIOD = 40_000; // 25 fps

/** Runs `ticks` ticks exactly on their deadlines; `before(k)` runs ahead of tick k. Returns the emitted frames (null: none). */
function run<T>(pacer: FramePacerCore<T>, ticks: number, before: (k: number, nowUs: number) => void = () => {}): (T | null)[] {
  const out: (T | null)[] = [];
  for (let k = 0; k < ticks; k++) {
    const now = pacer.nextDeadlineUs();
    before(k, now);
    out.push(pacer.tick(now).frame);
  }
  return out;
}

describe('FramePacerCore', () => {
  it('spreads a burst of 4 over 4 ticks, one per tick, then repeats the last', () => {
    const pacer = new FramePacerCore<number>({ fpsNum: 25, fpsDen: 1 });
    pacer.start(0);
    for (const f of [1, 2, 3, 4]) pacer.push(f);
    const depths: number[] = [];
    const out = run(pacer, 6, () => depths.push(pacer.stats().queueDepth));
    expect(out).toEqual([1, 2, 3, 4, 4, 4]);
    expect(depths).toEqual([4, 3, 2, 1, 0, 0]);
    expect(pacer.stats()).toMatchObject({ ticks: 6, emitted: 4, repeated: 2, dropped: 0, skipped: 0, queueDepth: 0, maxQueueDepth: 4 });
  });

  it('a chunked generator (4 frames every 4 periods) is emitted in order with no drops and no repeats', () => {
    const pacer = new FramePacerCore<number>({ fpsNum: 25, fpsDen: 1 });
    pacer.start(0);
    let next = 0;
    // The chunk lands 10 ms before every fourth tick.
    const out = run(pacer, 40, (k) => {
      if (k % 4 === 0) for (let i = 0; i < 4; i++) pacer.push(next++);
    });
    expect(out).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(pacer.stats()).toMatchObject({ emitted: 40, repeated: 0, dropped: 0, trimmed: 0, maxQueueDepth: 4 });
  });

  it('removes the standing delay a hiccup leaves behind a generator that runs exactly at the output rate', () => {
    const pacer = new FramePacerCore<number>({ fpsNum: 25, fpsDen: 1 });
    pacer.start(0);
    let next = 0;
    const depths: number[] = [];
    // One frame per tick, except that frames 10-12 arrive together before tick 12 (a late
    // generator catching up): two frames of delay that the steady rate alone never drains.
    const out = run(pacer, 100, (k) => {
      depths.push(pacer.stats().queueDepth); // left waiting after tick k - 1
      if (k === 10 || k === 11) return;
      if (k === 12) for (let i = 0; i < 3; i++) pacer.push(next++);
      else pacer.push(next++);
    });
    expect(depths).toHaveLength(100);
    // Before the hiccup each frame goes out on the tick it arrives; after it, two frames
    // wait until a trim per second takes the delay back to nothing.
    expect(depths.slice(0, 11)).toEqual(new Array(11).fill(0));
    expect(depths.slice(14, 20)).toEqual(new Array(6).fill(2));
    expect(depths.slice(-20)).toEqual(new Array(20).fill(0));
    expect(pacer.stats()).toMatchObject({ trimmed: 2, dropped: 0 });
    // Trims only skip frames: the output stays in order.
    for (let i = 1; i < out.length; i++) expect(out[i]!).toBeGreaterThanOrEqual(out[i - 1]!);
  });

  it('a late generator (one frame every 2.5 periods) gets its last frame repeated on the empty ticks', () => {
    const pacer = new FramePacerCore<number>({ fpsNum: 25, fpsDen: 1 });
    pacer.start(0);
    let produced = 0;
    let nextAt = 0;
    const out = run(pacer, 20, (_k, now) => {
      while (nextAt <= now) {
        pacer.push(produced++);
        nextAt += 2.5 * PERIOD;
      }
    });
    // A frame on every tick: never a gap the reader would see as a dead source.
    expect(out.every((f) => f !== null)).toBe(true);
    expect(out.slice(0, 8)).toEqual([0, 0, 0, 1, 1, 2, 2, 2]);
    const stats = pacer.stats();
    expect(stats.emitted).toBe(produced);
    expect(stats.repeated).toBe(20 - produced);
    expect(stats.dropped).toBe(0);
  });

  it('ticks before the first frame emit nothing and are counted as idle', () => {
    const pacer = new FramePacerCore<number>({ fpsNum: 25, fpsDen: 1 });
    pacer.start(0);
    expect(run(pacer, 2)).toEqual([null, null]);
    pacer.push(7);
    expect(run(pacer, 2)).toEqual([7, 7]);
    expect(pacer.stats()).toMatchObject({ idle: 2, emitted: 1, repeated: 1 });
  });

  it('overflow drops the oldest frames, counts them and releases them', () => {
    const released: number[] = [];
    const pacer = new FramePacerCore<number>({ fpsNum: 25, fpsDen: 1, capacity: 4 }, (f) => released.push(f));
    pacer.start(0);
    for (let f = 0; f < 7; f++) pacer.push(f);
    expect(released).toEqual([0, 1, 2]);
    expect(run(pacer, 5)).toEqual([3, 4, 5, 6, 6]);
    // Each frame is released once it stops being the last one shown.
    expect(released).toEqual([0, 1, 2, 3, 4, 5]);
    expect(pacer.stats()).toMatchObject({ dropped: 3, emitted: 4, repeated: 1, queueDepth: 0, maxQueueDepth: 4 });
    pacer.clear();
    expect(released).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('deadlines come from the tick count, so late ticks do not drift the schedule (29.97 fps)', () => {
    const pacer = new FramePacerCore<number>({ fpsNum: 30000, fpsDen: 1001 });
    pacer.start(1_000_000);
    pacer.push(1);
    for (let k = 0; k < 1000; k++) {
      // Every tick runs 0-20 ms late (under one period): the deadline grid stays put.
      pacer.tick(pacer.nextDeadlineUs() + (k % 3) * 10_000);
    }
    expect(pacer.nextDeadlineUs()).toBeCloseTo(1_000_000 + (1000 * 1e6 * 1001) / 30000, 3);
    expect(pacer.stats().skipped).toBe(0);
    expect(pacer.stats().ticks).toBe(1000);
  });

  it('a tick more than a period late skips the missed deadlines instead of bursting', () => {
    const pacer = new FramePacerCore<number>({ fpsNum: 25, fpsDen: 1 });
    pacer.start(0);
    for (const f of [1, 2, 3, 4]) pacer.push(f);
    expect(pacer.tick(0).frame).toBe(1);
    // The event loop stalls for 3.5 periods: one tick runs, emitting one frame.
    const result = pacer.tick(3.5 * PERIOD);
    expect(result.frame).toBe(2);
    expect(pacer.nextDeadlineUs()).toBe(4 * PERIOD);
    expect(pacer.stats()).toMatchObject({ skipped: 2, emitted: 2, queueDepth: 2 });
  });

  it('measures the output interval: zero jitter on time, the RMS deviation when not', () => {
    const pacer = new FramePacerCore<number>({ fpsNum: 25, fpsDen: 1 });
    pacer.start(0);
    pacer.push(1);
    run(pacer, 5);
    expect(pacer.stats()).toMatchObject({ intervalMeanUs: PERIOD, intervalJitterUs: 0, intervalMaxUs: PERIOD, periodUs: PERIOD });
    pacer.resetStats();
    // Alternately 1 ms late and on time: intervals of 41 and 39 ms.
    for (let k = 0; k < 10; k++) pacer.tick(pacer.nextDeadlineUs() + ((k + 1) % 2) * 1000);
    const stats = pacer.stats();
    expect(stats.intervalMeanUs).toBeCloseTo(PERIOD, 0);
    expect(stats.intervalJitterUs).toBeCloseTo(1000, 6);
    expect(stats.intervalMaxUs).toBe(PERIOD + 1000);
  });

  it.each([
    [{ fpsNum: 0, fpsDen: 1 }, /'fpsNum' and 'fpsDen' must be positive integers, got 0\/1/],
    [{ fpsNum: 30, fpsDen: 1.5 }, /'fpsNum' and 'fpsDen' must be positive integers/],
    [{ fpsNum: 1000, fpsDen: 1 }, /above 240 fps/],
    [{ fpsNum: 30, fpsDen: 1, capacity: 0 }, /'capacity' must be an integer 1-64, got 0/],
  ])('refuses options %j', (options, message) => {
    expect(() => checkPacerOptions(options)).toThrow(message);
    expect(() => new FramePacerCore(options)).toThrow(RangeError);
  });
});

describe('FramePacer (fake clock)', () => {
  it('emits one frame per period from a burst, then repeats, and stops cleanly', () => {
    const clock = new FakeClock();
    const seen: [number, boolean, number][] = [];
    const pacer = new FramePacer<number>({ fpsNum: 25, fpsDen: 1, clock, onFrame: (f, repeated, now) => seen.push([f, repeated, now]) });
    pacer.start();
    for (const f of [10, 11, 12, 13]) pacer.push(f);
    clock.advance(5 * PERIOD);
    expect(seen).toEqual([
      [10, false, 0], [11, false, PERIOD], [12, false, 2 * PERIOD], [13, false, 3 * PERIOD], [13, true, 4 * PERIOD], [13, true, 5 * PERIOD],
    ]);
    pacer.stop();
    expect(clock.pending).toBe(0);
    clock.advance(10 * PERIOD);
    expect(seen).toHaveLength(6);
    expect(pacer.isRunning).toBe(false);
  });

  it('keeps the deadline grid when timers fire late (no drift)', () => {
    const clock = new FakeClock();
    clock.lateUs = (seq) => (seq % 2) * 3000;
    const times: number[] = [];
    const pacer = new FramePacer<number>({ fpsNum: 25, fpsDen: 1, clock, onFrame: (_f, _r, now) => times.push(now) });
    pacer.start();
    pacer.push(1);
    clock.advance(100 * PERIOD);
    // Every tick lands on its deadline or 3 ms after it: tick 100 is still due at 100 periods.
    times.forEach((t, k) => expect(t - k * PERIOD).toBeGreaterThanOrEqual(0));
    times.forEach((t, k) => expect(t - k * PERIOD).toBeLessThanOrEqual(3000));
    expect(times.length).toBeGreaterThanOrEqual(100);
    expect(pacer.stats().intervalJitterUs).toBeGreaterThan(0);
  });

  it('a throwing onFrame is reported and the ticks go on', () => {
    const clock = new FakeClock();
    const errors: unknown[] = [];
    let calls = 0;
    const pacer = new FramePacer<number>({
      fpsNum: 25, fpsDen: 1, clock,
      onFrame: () => {
        calls++;
        if (calls <= 2) throw new Error('device gone');
      },
      onError: (e) => errors.push(e),
    });
    pacer.start();
    pacer.push(1);
    clock.advance(4 * PERIOD);
    expect(calls).toBe(5);
    expect(errors).toHaveLength(2);
    pacer.stop();
  });
});

describe('FramePacer (real timers)', () => {
  it('ticks at about the declared rate on setTimeout and reports the jitter it measured', async () => {
    const ticks: number[] = [];
    const pacer = new FramePacer<number>({ fpsNum: 50, fpsDen: 1, onFrame: (_f, _r, now) => ticks.push(now) });
    pacer.push(1);
    pacer.start();
    await new Promise((resolve) => setTimeout(resolve, 400));
    pacer.stop();
    const stats = pacer.stats();
    // 20 ms period over 400 ms: ~20 ticks; loose bounds for a loaded CI machine.
    expect(stats.ticks + stats.skipped).toBeGreaterThanOrEqual(12);
    expect(stats.ticks).toBeGreaterThanOrEqual(8);
    expect(stats.ticks).toBeLessThanOrEqual(22);
    expect(stats.intervalMeanUs).toBeGreaterThan(15_000);
    expect(ticks.length).toBe(stats.ticks);
    expect(Number.isFinite(stats.intervalJitterUs)).toBe(true);
    expect(ticks[0]).toBeLessThanOrEqual(systemPacerClock.nowUs());
  });

  it('systemPacerClock is on process.hrtime\'s clock (the one frames are stamped with)', () => {
    const hr = Number(process.hrtime.bigint() / 1000n);
    expect(Math.abs(systemPacerClock.nowUs() - hr)).toBeLessThan(5_000);
  });
});
