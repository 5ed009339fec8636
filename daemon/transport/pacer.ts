/**
 * Frame pacing for outputs that a video call reads at a fixed rate (the virtual cameras).
 *
 * Generators deliver irregularly: PersonaLive produces frames in chunks of 4 per model
 * step, and any generator can be late. A camera reader polls at the declared rate and
 * treats silence as a dead source (OBS's DirectShow filter reopens the queue after 10 reads
 * without a new index). So the pacer emits exactly one frame per tick at fps_num/fps_den:
 * the oldest queued frame, or, when the queue is empty, the last frame again.
 *
 * Core and shell: FramePacerCore is pure (time is a number passed in, microseconds), so
 * tests drive it with literal timestamps; FramePacer adds timers through an injectable
 * PacerClock.
 *
 * Scheduling is deadline-based: tick k is due at epoch + k * period, computed from k
 * (not by adding a rounded period), so timer lateness never accumulates into drift. A tick
 * that runs more than a period late skips the deadlines it missed (counted) instead of
 * emitting a burst to catch up: a reader that missed a frame gains nothing from two at once.
 *
 * Latency is bounded by the queue: when it is full the oldest frame is dropped (counted),
 * so a generator that runs faster than the output never builds up delay. A generator that
 * runs exactly at the output rate would keep whatever backlog one hiccup left (every late
 * frame followed by a catch-up adds a frame of standing delay, up to the capacity): so when
 * a frame was left waiting after every tick for a whole second, the oldest is dropped
 * (counted as trimmed), one per second until the standing delay is gone. A chunked
 * generator (4 frames at once) empties the queue once per chunk and is never trimmed.
 */

import { monotonicUs } from '../util/clock.js';

/** Pacing options. The rate is fpsNum/fpsDen frames per second (30000/1001 for 29.97). */
export interface PacerOptions {
  fpsNum: number;
  fpsDen: number;
  /** Frames held between generator and output. Default 4: one PersonaLive chunk. */
  capacity?: number;
}

/** Counters since start (or since resetStats). */
export interface PacerStats {
  /** Ticks that ran (each emitted a fresh frame, repeated one, or had none yet). */
  ticks: number;
  /** Fresh frames emitted. */
  emitted: number;
  /** Ticks that re-emitted the last frame because the queue was empty. */
  repeated: number;
  /** Ticks before the first frame ever arrived (nothing to emit). */
  idle: number;
  /** Frames dropped unseen because the queue was full (oldest first). */
  dropped: number;
  /** Frames dropped to remove standing delay (a frame waited after every tick for a second). */
  trimmed: number;
  /** Deadlines skipped because a tick ran more than a period late. */
  skipped: number;
  /** Frames queued now. */
  queueDepth: number;
  /** Largest queue depth seen. */
  maxQueueDepth: number;
  /** Nominal output interval, microseconds. */
  periodUs: number;
  /** Mean measured interval between ticks, microseconds (0 before two ticks). */
  intervalMeanUs: number;
  /** Root-mean-square deviation of the measured tick interval from the period, microseconds. */
  intervalJitterUs: number;
  /** Longest measured interval between ticks, microseconds. */
  intervalMaxUs: number;
}

/** What one tick produced: the frame to output (null before any frame arrived) and whether it is a repeat. */
export interface TickResult<T> {
  frame: T | null;
  repeated: boolean;
}

/**
 * Validates pacing options.
 * @throws RangeError naming the bad option
 */
export function checkPacerOptions(options: PacerOptions): Required<PacerOptions> {
  const { fpsNum, fpsDen, capacity = 4 } = options;
  if (!Number.isInteger(fpsNum) || fpsNum <= 0 || !Number.isInteger(fpsDen) || fpsDen <= 0) {
    throw new RangeError(`pacer: 'fpsNum' and 'fpsDen' must be positive integers, got ${fpsNum}/${fpsDen}`);
  }
  if (fpsNum / fpsDen > 240) throw new RangeError(`pacer: frame rate ${fpsNum}/${fpsDen} is above 240 fps`);
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > 64) {
    throw new RangeError(`pacer: 'capacity' must be an integer 1-64, got ${capacity}`);
  }
  return { fpsNum, fpsDen, capacity };
}

/**
 * The pure pacing core: a bounded FIFO plus deadline arithmetic. Not re-entrant; one
 * owner calls push() and tick(). `onRelease` is called with each frame the pacer lets go
 * of (dropped, or superseded as the last frame, or cleared), so the owner can recycle
 * pooled buffers; nothing is allocated after construction.
 */
export class FramePacerCore<T> {
  readonly periodUs: number;
  readonly capacity: number;
  private readonly fpsNum: number;
  /** 1e6 * fpsDen: deadline k is epoch + k * usNumerator / fpsNum. */
  private readonly usNumerator: number;
  private readonly ring: (T | null)[];
  private head = 0;
  private depth = 0;
  private last: T | null = null;
  private epochUs = 0;
  private k = 0;
  private started = false;
  private lastTickUs = Number.NaN;
  private readonly counters = { ticks: 0, emitted: 0, repeated: 0, idle: 0, dropped: 0, trimmed: 0, skipped: 0, maxQueueDepth: 0 };
  /** Standing-delay watch: ticks in the current window and the least depth left after a tick. */
  private readonly windowTicks: number;
  private windowCount = 0;
  private windowMinDepth = Number.POSITIVE_INFINITY;
  private intervals = 0;
  private intervalSum = 0;
  private deviationSquares = 0;
  private intervalMax = 0;
  /** Reused by every tick (no allocation per frame). */
  private readonly result: TickResult<T> = { frame: null, repeated: false };

  /** @throws RangeError for invalid options (see checkPacerOptions) */
  constructor(options: PacerOptions, private readonly onRelease: (frame: T) => void = () => {}) {
    const { fpsNum, fpsDen, capacity } = checkPacerOptions(options);
    this.fpsNum = fpsNum;
    this.usNumerator = 1e6 * fpsDen;
    this.periodUs = this.usNumerator / fpsNum;
    this.capacity = capacity;
    this.ring = new Array<T | null>(capacity).fill(null);
    this.windowTicks = Math.max(2, Math.round(fpsNum / fpsDen));
  }

  /** Starts the schedule: the first tick is due at `nowUs`. */
  start(nowUs: number): void {
    this.epochUs = nowUs;
    this.k = 0;
    this.started = true;
    this.lastTickUs = Number.NaN;
  }

  /** When the next tick is due (microseconds on the caller's clock). */
  nextDeadlineUs(): number {
    return this.deadline(this.k);
  }

  /** Queues a frame; when the queue is full the oldest queued frame is dropped (and released). */
  push(frame: T): void {
    if (this.depth === this.capacity) {
      this.counters.dropped++;
      this.onRelease(this.takeOldest());
    }
    this.ring[(this.head + this.depth) % this.capacity] = frame;
    this.depth++;
    if (this.depth > this.counters.maxQueueDepth) this.counters.maxQueueDepth = this.depth;
  }

  /**
   * Runs one tick at `nowUs`: takes the oldest queued frame (it becomes the last frame,
   * releasing the previous one), or repeats the last frame, and advances the deadline.
   * Exactly one frame (or none before the first arrives) per call. The result object is
   * reused: read it before the next tick.
   */
  tick(nowUs: number): TickResult<T> {
    if (!this.started) this.start(nowUs);
    this.measureInterval(nowUs);
    this.counters.ticks++;
    const result = this.result;
    if (this.depth > 0) {
      const next = this.takeOldest();
      const previous = this.last;
      this.last = next;
      if (previous !== null && previous !== next) this.onRelease(previous);
      this.counters.emitted++;
      result.frame = next;
      result.repeated = false;
    } else if (this.last !== null) {
      this.counters.repeated++;
      result.frame = this.last;
      result.repeated = true;
    } else {
      this.counters.idle++;
      result.frame = null;
      result.repeated = false;
    }
    if (result.frame !== null) this.watchStandingDelay();
    this.advance(nowUs);
    return result;
  }

  /** Removes and returns the oldest queued frame (the queue must not be empty). */
  private takeOldest(): T {
    const oldest = this.ring[this.head] as T;
    this.ring[this.head] = null;
    this.head = (this.head + 1) % this.capacity;
    this.depth--;
    return oldest;
  }

  /** Drops the oldest queued frame when one was left waiting after every tick of a window. */
  private watchStandingDelay(): void {
    if (this.depth < this.windowMinDepth) this.windowMinDepth = this.depth;
    if (++this.windowCount < this.windowTicks) return;
    if (this.windowMinDepth >= 1 && this.depth >= 1) {
      this.counters.trimmed++;
      this.onRelease(this.takeOldest());
    }
    this.windowCount = 0;
    this.windowMinDepth = Number.POSITIVE_INFINITY;
  }

  /** Releases every queued frame and the last frame (on stop). */
  clear(): void {
    while (this.depth > 0) this.onRelease(this.takeOldest());
    if (this.last !== null) {
      const last = this.last;
      this.last = null;
      this.onRelease(last);
    }
    this.started = false;
  }

  stats(): PacerStats {
    return {
      ...this.counters,
      queueDepth: this.depth,
      periodUs: this.periodUs,
      intervalMeanUs: this.intervals > 0 ? this.intervalSum / this.intervals : 0,
      intervalJitterUs: this.intervals > 0 ? Math.sqrt(this.deviationSquares / this.intervals) : 0,
      intervalMaxUs: this.intervalMax,
    };
  }

  /** Zeroes the counters and interval statistics (not the queue). */
  resetStats(): void {
    for (const key of Object.keys(this.counters) as (keyof typeof this.counters)[]) this.counters[key] = 0;
    this.intervals = 0;
    this.intervalSum = 0;
    this.deviationSquares = 0;
    this.intervalMax = 0;
  }

  private deadline(k: number): number {
    return this.epochUs + (k * this.usNumerator) / this.fpsNum;
  }

  private advance(nowUs: number): void {
    this.k++;
    if (this.deadline(this.k) <= nowUs) {
      // More than a period late: resume at the first deadline still ahead.
      const next = Math.floor(((nowUs - this.epochUs) * this.fpsNum) / this.usNumerator) + 1;
      this.counters.skipped += next - this.k;
      this.k = next;
    }
  }

  private measureInterval(nowUs: number): void {
    if (!Number.isNaN(this.lastTickUs)) {
      const interval = nowUs - this.lastTickUs;
      const deviation = interval - this.periodUs;
      this.intervals++;
      this.intervalSum += interval;
      this.deviationSquares += deviation * deviation;
      if (interval > this.intervalMax) this.intervalMax = interval;
    }
    this.lastTickUs = nowUs;
  }
}

/** Time and timers for the pacer shell; FakeClock-style implementations drive tests. */
export interface PacerClock {
  /** Monotonic microseconds. */
  nowUs(): number;
  /** Calls `callback` once after about `delayUs` microseconds; returns a handle for cancel(). */
  schedule(callback: () => void, delayUs: number): unknown;
  cancel(handle: unknown): void;
}

/**
 * Monotonic microseconds (process.hrtime's clock, CLOCK_MONOTONIC / QPC) and setTimeout
 * (millisecond resolution: the jitter stats show what it costs).
 */
export const systemPacerClock: PacerClock = {
  nowUs: monotonicUs,
  schedule: (callback, delayUs) => setTimeout(callback, Math.max(0, Math.round(delayUs / 1000))),
  cancel: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface FramePacerOptions<T> extends PacerOptions {
  /** Receives each tick's frame; `repeated` when the generator had nothing new. Not called before the first frame. */
  onFrame: (frame: T, repeated: boolean, nowUs: number) => void;
  /** Called with each frame the pacer lets go of (see FramePacerCore). */
  onRelease?: (frame: T) => void;
  /** Called when onFrame throws; the pacer keeps ticking. Default: ignore. */
  onError?: (error: unknown) => void;
  clock?: PacerClock;
}

/**
 * The pacer with timers: start() ticks at the declared rate until stop(). A throwing
 * onFrame is reported to onError and never stops the ticks (a call must not see a stall
 * because one write failed).
 */
export class FramePacer<T> {
  readonly core: FramePacerCore<T>;
  private readonly clock: PacerClock;
  private timer: unknown = null;
  private running = false;
  private readonly onFrame: FramePacerOptions<T>['onFrame'];
  private readonly onError: (error: unknown) => void;
  private readonly tickBound = (): void => this.tick();

  /** @throws RangeError for invalid options */
  constructor(options: FramePacerOptions<T>) {
    this.core = new FramePacerCore<T>(options, options.onRelease);
    this.clock = options.clock ?? systemPacerClock;
    this.onFrame = options.onFrame;
    this.onError = options.onError ?? (() => {});
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Starts ticking; the first tick is immediate (it emits nothing until a frame arrives). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.core.start(this.clock.nowUs());
    this.timer = this.clock.schedule(this.tickBound, 0);
  }

  push(frame: T): void {
    this.core.push(frame);
  }

  /** Stops ticking and releases every held frame. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    if (this.timer !== null) this.clock.cancel(this.timer);
    this.timer = null;
    this.core.clear();
  }

  stats(): PacerStats {
    return this.core.stats();
  }

  private tick(): void {
    if (!this.running) return;
    const now = this.clock.nowUs();
    const { frame, repeated } = this.core.tick(now);
    if (frame !== null) {
      try {
        this.onFrame(frame, repeated, now);
      } catch (error) {
        this.onError(error);
      }
    }
    if (this.running) this.timer = this.clock.schedule(this.tickBound, this.core.nextDeadlineUs() - this.clock.nowUs());
  }
}
