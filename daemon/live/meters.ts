/**
 * Small measurement cores for the live loop: a rate over a sliding window and latency
 * percentiles over the last N samples. Fixed-size arrays, nothing allocated per sample.
 */

/** Events per second over the last `windowUs` microseconds. */
export class RateMeter {
  private readonly times: Float64Array;
  private head = 0;
  private count = 0;

  constructor(private readonly windowUs = 2_000_000, capacity = 512) {
    this.times = new Float64Array(capacity);
  }

  mark(nowUs: number): void {
    this.times[this.head] = nowUs;
    this.head = (this.head + 1) % this.times.length;
    if (this.count < this.times.length) this.count++;
  }

  /** Events per second in the window ending at `nowUs`. */
  rate(nowUs: number): number {
    let inWindow = 0;
    let oldest = nowUs;
    for (let i = 0; i < this.count; i++) {
      const t = this.times[(this.head - 1 - i + this.times.length) % this.times.length]!;
      if (nowUs - t > this.windowUs) break;
      inWindow++;
      oldest = t;
    }
    if (inWindow < 2) return inWindow === 1 ? 1e6 / this.windowUs : 0;
    // Rate over the span the samples cover, so a fresh start reads true at once.
    const span = Math.max(nowUs - oldest, 1);
    return Math.round(((inWindow - 1) * 1e6 * 10) / Math.min(span, this.windowUs)) / 10;
  }
}

/** p50 / p95 of the last `capacity` samples (milliseconds in, milliseconds out). */
export class LatencyWindow {
  private readonly samples: Float64Array;
  private readonly scratch: Float64Array;
  private head = 0;
  private count = 0;

  constructor(capacity = 250) {
    this.samples = new Float64Array(capacity);
    this.scratch = new Float64Array(capacity);
  }

  add(ms: number): void {
    this.samples[this.head] = ms;
    this.head = (this.head + 1) % this.samples.length;
    if (this.count < this.samples.length) this.count++;
  }

  get size(): number {
    return this.count;
  }

  percentiles(): { p50: number | null; p95: number | null } {
    if (this.count === 0) return { p50: null, p95: null };
    const view = this.scratch.subarray(0, this.count);
    view.set(this.samples.subarray(0, this.count));
    view.sort();
    const at = (q: number): number => Math.round(view[Math.min(this.count - 1, Math.floor(q * this.count))]! * 10) / 10;
    return { p50: at(0.5), p95: at(0.95) };
  }
}

/**
 * Which of `available` queued frames (oldest first) to give a generator that takes
 * `wanted` per step: evenly spaced, always including the newest, so a slow generator
 * follows the motion at a lower rate instead of falling behind. Returns queue indices.
 */
export function selectEvenlySpaced(available: number, wanted: number): number[] {
  if (available <= 0 || wanted <= 0) return [];
  if (available <= wanted) return Array.from({ length: available }, (_, i) => i);
  const picks: number[] = [];
  const step = available / wanted;
  for (let i = wanted - 1; i >= 0; i--) picks.push(available - 1 - Math.floor(i * step));
  return picks;
}
