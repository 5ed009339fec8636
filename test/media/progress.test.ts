import { describe, expect, it } from 'vitest';
import { createProgress, formatDuration, formatProgress, REDRAW_INTERVAL_MS } from '../../daemon/media/progress.js';

function fakeStream(isTTY: boolean, columns = 80): { isTTY: boolean; columns: number; writes: string[]; write(text: string): boolean } {
  const writes: string[] = [];
  return {
    isTTY,
    columns,
    writes,
    write(text: string) {
      writes.push(text);
      return true;
    },
  };
}

describe('formatProgress', () => {
  it('shows bar, done/total, percentage, fps and ETA within the width', () => {
    const line = formatProgress({ done: 50, total: 100, elapsedMs: 5000, width: 70, label: 'animate' });
    expect(line.length).toBe(70);
    expect(line).toMatch(/^animate \[#+-+\] 50\/100 +50% 10\.0 fps ETA 0:05$/);
    const bar = /\[(#+)(-+)\]/.exec(line)!;
    expect(bar[1].length).toBe(bar[2].length);
  });

  it('unknown total: frames and fps only', () => {
    const line = formatProgress({ done: 120, total: null, elapsedMs: 4000, width: 80 });
    expect(line).toBe('120 frames 30.0 fps');
  });

  it('no elapsed time or no frames yet: no NaN or Infinity, ETA unknown', () => {
    const line = formatProgress({ done: 0, total: 10, elapsedMs: 0, width: 60 });
    expect(line).not.toMatch(/NaN|Infinity/);
    expect(line).toContain('0/10');
    expect(line).toContain('ETA --:--');
  });

  it('a narrow terminal drops the bar instead of overflowing', () => {
    const line = formatProgress({ done: 5, total: 1641, elapsedMs: 1000, width: 30 });
    expect(line.length).toBeLessThanOrEqual(30);
    expect(line).not.toContain('[');
  });

  it('done beyond total is shown as 100%', () => {
    expect(formatProgress({ done: 12, total: 10, elapsedMs: 1000, width: 60 })).toContain('100%');
  });

  it('formats durations as m:ss and h:mm:ss', () => {
    expect(formatDuration(75)).toBe('1:15');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(0.4)).toBe('0:00');
  });
});

describe('createProgress', () => {
  it('prints nothing at all when the stream is not a TTY', () => {
    const stream = fakeStream(false);
    const progress = createProgress({ total: 10, stream });
    for (let i = 0; i < 10; i++) progress.tick();
    progress.done();
    expect(stream.writes).toEqual([]);
  });

  it('prints nothing when disabled, even on a TTY', () => {
    const stream = fakeStream(true);
    const progress = createProgress({ total: 10, stream, enabled: false });
    progress.tick();
    progress.done();
    expect(stream.writes).toEqual([]);
  });

  it('on a TTY redraws one line at most every 100 ms and ends it on done()', () => {
    let clock = 0;
    const stream = fakeStream(true, 60);
    const progress = createProgress({ total: 100, label: 'animate', stream, now: () => clock });
    for (let i = 0; i < 50; i++) {
      clock += 5; // 200 frames per second: 50 ticks over 250 ms
      progress.tick();
    }
    // draws at t=5 (first tick), then once 100 ms later each time: t=105, t=205
    expect(stream.writes).toHaveLength(3);
    expect(REDRAW_INTERVAL_MS).toBe(100);
    for (const text of stream.writes) {
      expect(text.startsWith('\r')).toBe(true);
      expect(text.endsWith('\x1b[K')).toBe(true);
      expect(text).not.toContain('\n');
    }
    expect(stream.writes[2]).toContain('41/100');
    progress.tick(50);
    progress.done();
    expect(stream.writes.at(-2)).toContain('100/100');
    expect(stream.writes.at(-1)).toBe('\n');
    const count = stream.writes.length;
    progress.done();
    progress.tick();
    expect(stream.writes).toHaveLength(count);
  });

  it('unknown total on a TTY: frames and fps', () => {
    let clock = 0;
    const stream = fakeStream(true);
    const progress = createProgress({ total: null, stream, now: () => clock });
    clock = 2000;
    progress.tick(50);
    expect(stream.writes[0]).toBe('\r50 frames 25.0 fps\x1b[K');
  });
});
