/**
 * The live loop: driving source -> bounded queue -> generator (worker threads) -> pacer ->
 * sinks. It never stalls the output: the pacer emits at the output rate and repeats the
 * last frame whenever the generator is late, busy switching, paused or failed.
 *
 * Everything that changes the generator (a reference swap, a backend toggle, a failover)
 * is prepared in the background while the current generator keeps streaming, then applied
 * by the generator loop between two steps (a chunk boundary), so frames stay in order and
 * nothing waits on the switch.
 */
import { PersonaLiveError, asPersonaLiveError } from '../errors.js';
import type { DaemonConfig } from '../config/config.js';
import { FramePool, drivingFrame, type Frame, type RgbImage } from '../frames.js';
import type { Generator } from '../generators/generator.js';
import { resizeRgbNearest } from '../kernels/imageops.js';
import { FALLBACK_GENERATOR, GENERATORS, type DecoderKind, type DeviceKind, type GeneratorKind } from '../kinds.js';
import type { DaemonState, LiveStats } from '../protocol.js';
import type { Sink } from '../sinks/types.js';
import type { DrivingSource } from '../sources/types.js';
import { FramePacer, systemPacerClock } from '../transport/pacer.js';
import { monotonicUs } from '../util/clock.js';
import { withDeadline } from '../util/deadline.js';
import type { Logger } from '../util/log.js';
import { LatencyWindow, RateMeter, selectEvenlySpaced } from './meters.js';

export interface BackendChoice {
  generator: GeneratorKind;
  device: DeviceKind;
  decoder: DecoderKind;
}

export interface LiveLoopOptions {
  /** Creates (and starts) a generator for a backend choice; the loop fuses the reference. */
  createGenerator(choice: BackendChoice): Promise<Generator>;
  log: Logger;
  /** Something the panel should show (failover, a failed swap...). */
  notice(level: 'info' | 'warning' | 'error', code: string | null, message: string): void;
  /** The loop's state changed (generator, failover, pause). */
  changed(): void;
}

/** Driving frames held for the generator; a slow generator takes the newest evenly spaced. */
const INPUT_QUEUE_CAPACITY = 8;

/** What runs and why: the protocol's generator state. */
export type GeneratorStatus = DaemonState['generator'];

interface ActiveGenerator {
  generator: Generator;
  choice: BackendChoice;
  providers: string[];
}

export class LiveLoop {
  private config: DaemonConfig;
  private active: ActiveGenerator | null = null;
  private requested: BackendChoice;
  private generatorState: GeneratorStatus['status'] = 'starting';
  private failover: GeneratorStatus['failover'] = { active: false, reason: null, since: null };
  private reference: RgbImage | null = null;
  private source: DrivingSource | null = null;
  private readonly sinks = new Map<string, Sink>();
  private pacer: FramePacer<Frame>;
  private queue: Frame[] = [];
  /** Driving frames: sources fill them, the loop releases them once the generator is done. */
  readonly framePool = new FramePool();
  /** Output frames resized to the output size (generators whose size is fixed by their pack). */
  private readonly outputPool = new FramePool();
  private readonly actions: (() => Promise<void>)[] = [];
  private wakeUp: (() => void) | null = null;
  private running = false;
  private paused = false;
  private loopDone: Promise<void> = Promise.resolve();
  private frameIndex = 0;
  private readonly startedUs = monotonicUs();
  private readonly meters = { input: new RateMeter(), generated: new RateMeter(), output: new RateMeter(), latency: new LatencyWindow() };
  private readonly counters = { inputDrops: 0, outputErrors: 0, framesOut: 0 };
  private readonly sinkErrorsLogged = new Set<string>();
  private injectedFault: 'throw' | 'stall' | null = null;
  private switching: Promise<void> | null = null;

  constructor(config: DaemonConfig, private readonly options: LiveLoopOptions) {
    this.config = config;
    this.requested = { generator: config.generator.kind, device: config.generator.device, decoder: config.generator.decoder };
    this.pacer = this.createPacer();
  }

  private createPacer(): FramePacer<Frame> {
    return new FramePacer<Frame>({
      fpsNum: this.config.output.fps,
      fpsDen: 1,
      capacity: 4,
      clock: systemPacerClock,
      onFrame: (frame, repeated, nowUs) => this.emit(frame, repeated, nowUs),
      onRelease: (frame) => this.releaseOutput(frame),
      onError: (error) => this.options.log.error({ err: String(error) }, 'output tick failed'),
    });
  }

  // ---------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Starts the generator with `reference`, then the output ticks and the generator loop.
   * @throws PersonaLiveError when the generator cannot start or the reference has no face
   */
  async start(reference: RgbImage | null): Promise<void> {
    this.setReference(reference);
    if (reference) {
      this.active = await this.buildGenerator(this.requested, reference);
      this.generatorState = 'running';
    } else {
      // First run without a portrait: stream a plain frame until one is uploaded.
      this.generatorState = 'waiting';
      const size = this.config.output.size;
      this.pacer.push(drivingFrame(new Uint8Array(size * size * 3).fill(16), size, size, -1, monotonicUs()));
    }
    this.running = true;
    this.pacer.start();
    this.loopDone = this.runGeneratorLoop();
    this.options.changed();
  }

  /** Stops in reverse order: source, generator loop, generator, pacer, sinks. */
  async close(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.source?.close().catch(() => undefined);
    this.source = null;
    await this.loopDone;
    await this.switching?.catch(() => undefined);
    await this.active?.generator.close().catch(() => undefined);
    this.active = null;
    this.pacer.stop();
    for (const [kind, sink] of this.sinks) {
      await sink.close().catch((error: unknown) => this.options.log.error({ sink: kind, err: String(error) }, 'closing a sink failed'));
    }
    this.sinks.clear();
  }

  // ---------------------------------------------------------------------------------------
  // Inputs and outputs

  /**
   * Replaces the driving source (the old one is closed first; the stream holds meanwhile).
   * The generator's stream state is reset between the two: motion is relative to the
   * driver's first frame, and the new source's face is not the old one's.
   */
  async setSource(source: DrivingSource): Promise<void> {
    const old = this.source;
    this.source = null;
    await old?.close().catch(() => undefined);
    this.dropQueue();
    if (old && this.running && this.active) {
      await this.applyAtBoundary(async () => {
        await this.active?.generator.reset();
      }).catch((error: unknown) => this.options.log.warn({ err: asPersonaLiveError(error).message }, 'generator reset for the new driving source failed'));
    }
    await source.start((frame) => this.onDrivingFrame(frame));
    this.source = source;
    this.options.changed();
  }

  get drivingSource(): DrivingSource | null {
    return this.source;
  }

  /** The portrait on air; the sinks that show it beside the animation (the camera's background) are told. */
  private setReference(image: RgbImage | null): void {
    this.reference = image;
    if (image) for (const sink of this.sinks.values()) sink.referenceChanged?.(image);
  }

  /** Adds or replaces the sink of that kind (closing the old one). */
  async setSink(sink: Sink): Promise<void> {
    const old = this.sinks.get(sink.kind);
    this.sinks.set(sink.kind, sink);
    if (this.reference) sink.referenceChanged?.(this.reference);
    if (old) await old.close();
  }

  async removeSink(kind: string): Promise<void> {
    const old = this.sinks.get(kind);
    this.sinks.delete(kind);
    if (old) await old.close();
  }

  sinkStatus(kind: string): Record<string, unknown> | null {
    return this.sinks.get(kind)?.status() ?? null;
  }

  /**
   * "This is my neutral face": the next driving frame becomes the one motion is measured
   * from (the built-in generator re-anchors; the diffusion generator starts a new stream).
   */
  async calibrate(): Promise<void> {
    const generator = this.active?.generator;
    if (!generator) throw new PersonaLiveError('ENGINE_FAILED', 'no generator is running yet: upload a portrait first');
    if (generator.calibrate) await generator.calibrate();
    else await this.applyAtBoundary(() => generator.reset());
  }

  /** New output rate: the pacer is replaced at once (frames in it are dropped). */
  setConfig(config: DaemonConfig): void {
    const fpsChanged = config.output.fps !== this.config.output.fps;
    const expressionChanged = JSON.stringify(config.generator.expression) !== JSON.stringify(this.config.generator.expression);
    this.config = config;
    if (expressionChanged) {
      // Followed from the next frame; never waited for here (the output does not stall).
      void this.active?.generator.setExpressionControls?.(config.generator.expression).catch((error: unknown) => {
        const e = asPersonaLiveError(error);
        this.options.notice('error', e.code, `Expression controls: ${e.message}`);
      });
    }
    if (fpsChanged && this.running) {
      this.pacer.stop();
      this.pacer = this.createPacer();
      this.pacer.start();
    }
  }

  private onDrivingFrame(frame: Frame): void {
    this.meters.input.mark(monotonicUs());
    if (this.queue.length >= INPUT_QUEUE_CAPACITY) {
      this.framePool.release(this.queue.shift()!);
      this.counters.inputDrops++;
    }
    this.queue.push(frame);
    this.wakeUp?.();
  }

  /** Gives every waiting driving frame back to the pool. */
  private dropQueue(): void {
    for (const frame of this.queue) this.framePool.release(frame);
    this.queue = [];
  }

  private emit(frame: Frame, repeated: boolean, nowUs: number): void {
    this.meters.output.mark(nowUs);
    this.counters.framesOut++;
    if (!repeated) this.meters.latency.add((nowUs - frame.captureUs) / 1000);
    for (const [kind, sink] of this.sinks) {
      try {
        sink.write(frame, repeated, nowUs);
      } catch (error) {
        this.counters.outputErrors++;
        if (!this.sinkErrorsLogged.has(kind)) {
          this.sinkErrorsLogged.add(kind);
          this.options.log.error({ sink: kind, err: asPersonaLiveError(error).message }, 'output sink failed (logged once; counting)');
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // The generator loop

  private async runGeneratorLoop(): Promise<void> {
    while (this.running) {
      while (this.actions.length > 0) {
        const action = this.actions.shift()!;
        await action().catch((error: unknown) => this.options.log.error({ err: asPersonaLiveError(error).message }, 'switch failed'));
      }
      if (this.paused || !this.active || this.queue.length === 0 || this.generatorState === 'failed' || this.generatorState === 'waiting') {
        await new Promise<void>((resolve) => {
          this.wakeUp = resolve;
          setTimeout(resolve, 100).unref?.(); // re-check actions and failover timers now and then
        });
        this.wakeUp = null;
        continue;
      }
      const picks = selectEvenlySpaced(this.queue.length, GENERATORS[this.active.choice.generator].framesPerWake);
      const frames = picks.map((i) => this.queue[i]!);
      this.counters.inputDrops += this.queue.length - picks.length;
      for (const [i, frame] of this.queue.entries()) if (!picks.includes(i)) this.framePool.release(frame);
      this.queue = [];
      for (const frame of frames) {
        if (this.running && this.active) await this.step(this.active, frame);
        this.framePool.release(frame);
      }
    }
  }

  private async step(active: ActiveGenerator, frame: Frame): Promise<void> {
    // Numbered across sources: a generator sees one increasing sequence.
    frame.index = this.frameIndex++;
    let outputs: Frame[];
    try {
      outputs = await this.pushWithDeadline(active, frame);
    } catch (error) {
      await this.onGeneratorFailure(active, asPersonaLiveError(error, 'ENGINE_FAILED'));
      return;
    }
    for (const output of outputs) {
      this.meters.generated.mark(monotonicUs());
      this.pacer.push(this.toOutputFrame(output));
    }
  }

  private pushWithDeadline(active: ActiveGenerator, frame: Frame): Promise<Frame[]> {
    const fault = this.injectedFault;
    this.injectedFault = null;
    if (fault === 'throw') return Promise.reject(new PersonaLiveError('ENGINE_FAILED', 'injected generator fault (test hook)'));
    const push = fault === 'stall' ? new Promise<Frame[]>(() => undefined) : active.generator.push(frame);
    // The deadline is for a generator that can hang (a GPU): the built-in one has nothing
    // to fail over to, and restarting it on a busy CPU only makes a slow stream stop. A slow
    // built-in push is waited for (the output repeats meanwhile); a throw still restarts it.
    if (!GENERATORS[active.choice.generator].failoverDeadline && fault !== 'stall') return push;
    const deadlineMs = this.config.generator.failoverAfterMs;
    return withDeadline(push, deadlineMs, () => new PersonaLiveError('ENGINE_FAILED', `the ${active.choice.generator} generator produced nothing for ${deadlineMs} ms (generator.failoverAfterMs)`));
  }

  private toOutputFrame(output: Frame): Frame {
    const size = this.config.output.size;
    if (output.width === size && output.height === size) return output;
    const resized = this.outputPool.acquire(size, size);
    resizeRgbNearest(output.data, output.width, output.height, resized.data, size, size);
    resized.index = output.index;
    resized.captureUs = output.captureUs;
    resized.warmup = output.warmup;
    this.active?.generator.recycle?.(output);
    return resized;
  }

  /** A frame every sink is done with: back to the pool it came from (resized) or to the generator that drew it. */
  private releaseOutput(frame: Frame): void {
    this.outputPool.release(frame);
    if (!this.outputPool.owns(frame)) this.active?.generator.recycle?.(frame);
  }

  private async onGeneratorFailure(active: ActiveGenerator, error: PersonaLiveError): Promise<void> {
    if (this.active !== active) return;
    this.options.log.error({ generator: active.choice.generator, code: error.code, err: error.message }, 'generator failed');
    // Abandon it: a stalled worker may never answer; close in the background.
    this.active = null;
    void active.generator.close().catch(() => undefined);
    const fallback: BackendChoice = { generator: FALLBACK_GENERATOR, device: 'cpu', decoder: active.choice.decoder };
    const reason = `${active.choice.generator} on ${active.choice.device} failed: ${error.message}`;
    this.failover = { active: true, reason, since: new Date().toISOString() };
    this.generatorState = 'starting';
    this.options.notice('warning', error.code, `Switched to the built-in generator: ${reason}`);
    this.options.changed();
    try {
      this.active = await this.buildGenerator(fallback, this.reference!);
      this.generatorState = 'running';
      this.options.log.warn({ from: active.choice.generator, to: FALLBACK_GENERATOR }, 'failover: the built-in generator keeps the stream alive');
    } catch (fallbackError) {
      this.generatorState = 'failed';
      this.options.notice('error', asPersonaLiveError(fallbackError).code, `The built-in generator could not start either: ${asPersonaLiveError(fallbackError).message}`);
    }
    this.options.changed();
  }

  private async buildGenerator(choice: BackendChoice, reference: RgbImage): Promise<ActiveGenerator> {
    const generator = await this.options.createGenerator(choice);
    try {
      await generator.setExpressionControls?.(this.config.generator.expression);
      if (generator.prepareReference && generator.activateReference) await generator.activateReference(await generator.prepareReference(reference));
      else await generator.fuseReference(reference);
      const stats = await generator.stats();
      const providers = [...new Set(Object.values(stats.providers).flat())];
      return { generator, choice, providers };
    } catch (error) {
      await generator.close().catch(() => undefined);
      throw error;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Switches (prepared in the background, applied between two steps)

  private applyAtBoundary(action: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.actions.push(() => action().then(resolve, reject));
      this.wakeUp?.();
    });
  }

  /**
   * Swaps the reference: prepared beside the running stream, switched between two steps.
   * A bad image (no face...) leaves the current reference in place.
   * @throws PersonaLiveError NO_FACE, IMAGE_UNREADABLE, ENGINE_FAILED
   */
  async swapReference(image: RgbImage): Promise<void> {
    if (!this.active && this.generatorState === 'waiting') {
      // The first reference: start the generator with it.
      this.generatorState = 'starting';
      this.options.changed();
      try {
        const started = await this.buildGenerator(this.requested, image);
        await this.applyAtBoundary(async () => {
          this.active = started;
          this.setReference(image);
          this.generatorState = 'running';
        });
      } catch (error) {
        this.generatorState = 'waiting';
        throw error;
      } finally {
        this.options.changed();
      }
      return;
    }
    const active = this.active;
    if (!active) throw new PersonaLiveError('ENGINE_FAILED', 'no generator is running (a backend switch or failover is in progress); try again in a moment');
    const generator = active.generator;
    if (generator.prepareReference && generator.activateReference) {
      const prepared = await generator.prepareReference(image);
      await this.applyAtBoundary(async () => {
        if (this.active?.generator !== generator) throw new PersonaLiveError('ENGINE_FAILED', 'the generator changed while the reference was being prepared; try again');
        await generator.activateReference!(prepared);
        this.setReference(image);
      });
    } else {
      await this.applyAtBoundary(async () => {
        if (this.active?.generator !== generator) throw new PersonaLiveError('ENGINE_FAILED', 'the generator changed while the reference was being prepared; try again');
        await generator.fuseReference(image);
        this.setReference(image);
      });
    }
  }

  /**
   * Switches generator / device / decoder: the new one starts and fuses the current
   * reference in the background, then replaces the old one between two steps.
   * @throws PersonaLiveError from the generator's start (DEVICE_UNAVAILABLE, PACK_*, ...)
   */
  async switchBackend(choice: BackendChoice): Promise<void> {
    await this.replaceGenerator(choice, true);
  }

  /**
   * Builds the running backend again (e.g. for a new output size) the same way, keeping
   * what the user asked for and any failover in place.
   */
  async rebuildActive(): Promise<void> {
    await this.replaceGenerator(this.active?.choice ?? this.requested, false);
  }

  private async replaceGenerator(choice: BackendChoice, isRequest: boolean): Promise<void> {
    if (this.switching) throw new PersonaLiveError('ENGINE_FAILED', 'another backend switch is in progress; try again when it is done');
    const work = (async () => {
      const next = await this.buildGenerator(choice, this.reference!);
      await this.applyAtBoundary(async () => {
        const old = this.active;
        this.active = next;
        this.generatorState = 'running';
        if (isRequest) {
          this.requested = choice;
          this.failover = { active: false, reason: null, since: null };
        }
        void old?.generator.close().catch(() => undefined);
      });
      this.options.log.info({ ...choice, providers: next.providers }, 'backend switched');
      this.options.changed();
    })();
    this.switching = work;
    try {
      await work;
    } finally {
      this.switching = null;
    }
  }

  /** Leaves failover: starts the requested backend again. */
  async restoreRequested(): Promise<void> {
    await this.switchBackend(this.requested);
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    if (paused) this.dropQueue();
    this.wakeUp?.();
    this.options.changed();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Test hook (PERSONALIVE_TEST_HOOKS=1): the next push throws, or never answers. */
  injectFault(mode: 'throw' | 'stall'): void {
    this.injectedFault = mode;
  }

  // ---------------------------------------------------------------------------------------
  // Reporting

  generatorStatus(): GeneratorStatus {
    const choice = this.active?.choice ?? this.requested;
    // The device that really runs: the built-in generator runs on the CPU whatever the
    // PersonaLive setting (kept for when the user switches back) says.
    const devices: readonly DeviceKind[] = GENERATORS[choice.generator].devices;
    return {
      active: choice.generator,
      requested: this.requested.generator,
      device: devices.includes(choice.device) ? choice.device : devices[0]!,
      decoder: choice.decoder,
      providers: this.active?.providers ?? [],
      status: this.generatorState,
      failover: { ...this.failover },
      expression: { ...this.config.generator.expression },
    };
  }

  stats(): LiveStats {
    const now = monotonicUs();
    const pacer = this.pacer.stats();
    const status = this.generatorStatus();
    const provider = status.providers.join(', ') || (GENERATORS[status.active].needsPack ? 'unknown' : 'built-in (CPU)');
    return {
      inputFps: this.meters.input.rate(now),
      generatedFps: this.meters.generated.rate(now),
      outputFps: this.meters.output.rate(now),
      latencyMs: this.meters.latency.percentiles(),
      drops: { input: this.counters.inputDrops, output: pacer.dropped },
      repeats: pacer.repeated,
      framesOut: this.counters.framesOut,
      generator: status.active,
      executionProvider: provider,
      failover: status.failover.active,
      uptimeS: Math.round((now - this.startedUs) / 1e5) / 10,
      rssMb: Math.round(process.memoryUsage().rss / 1048576),
    };
  }
}
