/** The frame pool: reuse by size, no foreign frames taken in, nothing handed out twice. */
import { describe, expect, it } from 'vitest';
import { FramePool, drivingFrame } from '../daemon/frames.js';

describe('FramePool', () => {
  it('hands a released frame out again instead of allocating, per size', () => {
    const pool = new FramePool();
    const a = pool.acquire(4, 2);
    a.index = 7;
    a.captureUs = 123;
    a.warmup = true;
    pool.release(a);
    const b = pool.acquire(4, 2);
    expect(b).toBe(a);
    expect({ index: b.index, captureUs: b.captureUs, warmup: b.warmup }).toEqual({ index: 0, captureUs: 0, warmup: false });
    const other = pool.acquire(8, 8);
    expect(other.data.length).toBe(8 * 8 * 3);
    expect(pool.allocated).toBe(2);
  });

  it('ignores frames it did not make and frames released twice', () => {
    const pool = new FramePool();
    pool.release(drivingFrame(new Uint8Array(24), 4, 2, 0, 0)); // e.g. a worker's output
    const mine = pool.acquire(4, 2);
    expect(pool.owns(mine)).toBe(true);
    pool.release(mine);
    pool.release(mine);
    const first = pool.acquire(4, 2);
    const second = pool.acquire(4, 2);
    expect(first).toBe(mine);
    expect(second).not.toBe(mine); // handed out once only
    expect(pool.allocated).toBe(2);
  });
});
