import { describe, expect, it } from 'vitest';
import { LatencyWindow, RateMeter, selectEvenlySpaced } from '../../daemon/live/meters.js';
import { resizeRgbNearest } from '../../daemon/kernels/imageops.js';

describe('live loop measurement and selection cores', () => {
  it('takes evenly spaced frames that always include the newest', () => {
    expect(selectEvenlySpaced(0, 4)).toEqual([]);
    expect(selectEvenlySpaced(3, 4)).toEqual([0, 1, 2]);
    expect(selectEvenlySpaced(8, 1)).toEqual([7]);
    expect(selectEvenlySpaced(10, 4)).toEqual([2, 4, 7, 9]);
    expect(selectEvenlySpaced(8, 4)).toEqual([1, 3, 5, 7]);
  });

  it('measures a rate over its window', () => {
    const meter = new RateMeter(2_000_000);
    for (let i = 0; i <= 50; i++) meter.mark(i * 40_000); // 25 per second for 2 s
    expect(meter.rate(2_000_000)).toBeCloseTo(25, 0);
    expect(meter.rate(10_000_000)).toBe(0); // nothing in the last 2 s
  });

  it('gives p50/p95 of the latest samples only', () => {
    const window = new LatencyWindow(100);
    expect(window.percentiles()).toEqual({ p50: null, p95: null });
    for (let i = 1; i <= 100; i++) window.add(i);
    expect(window.percentiles()).toEqual({ p50: 51, p95: 96 });
    for (let i = 0; i < 100; i++) window.add(500);
    expect(window.percentiles()).toEqual({ p50: 500, p95: 500 });
  });

  it('resizes RGB by nearest neighbour', () => {
    const src = Uint8Array.from([10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42]); // 2x2
    const dst = new Uint8Array(4 * 4 * 3);
    resizeRgbNearest(src, 2, 2, dst, 4, 4);
    expect([...dst.subarray(0, 3)]).toEqual([10, 11, 12]);
    expect([...dst.subarray(3 * 3, 3 * 3 + 3)]).toEqual([20, 21, 22]);
    expect([...dst.subarray((15) * 3, 16 * 3)]).toEqual([40, 41, 42]);
  });
});
