import type { PacerClock } from '../../daemon/transport/pacer.js';

interface Timer {
  at: number;
  seq: number;
  callback: () => void;
}

/**
 * A PacerClock whose time moves only when a test says so. advance() runs due timers in
 * order, setting the time to each timer's due time (plus `lateUs`, to model a busy event loop).
 */
export class FakeClock implements PacerClock {
  now = 0;
  /** Added to every timer's due time: how late the event loop runs callbacks. */
  lateUs: (seq: number) => number = () => 0;
  private timers: Timer[] = [];
  private seq = 0;

  nowUs(): number {
    return this.now;
  }

  schedule(callback: () => void, delayUs: number): unknown {
    const seq = this.seq++;
    const timer = { at: this.now + Math.max(0, delayUs) + this.lateUs(seq), seq, callback };
    this.timers.push(timer);
    return timer;
  }

  cancel(handle: unknown): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }

  get pending(): number {
    return this.timers.length;
  }

  /** Runs every timer due within `us` from now, in due order, then sets the time to now + us. */
  advance(us: number): void {
    const end = this.now + us;
    for (;;) {
      let next: Timer | null = null;
      for (const t of this.timers) if (t.at <= end && (next === null || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (next === null) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.now = Math.max(this.now, next.at);
      next.callback();
    }
    this.now = end;
  }
}
