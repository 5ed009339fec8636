/**
 * Video sinks: where generated frames go. The virtual-camera sink combines a device writer
 * (OBS Virtual Camera's shared-memory queue on Windows, v4l2loopback on Linux) with the
 * frame pacer, so the camera reader gets one frame per declared interval whatever the
 * generator does: bursts are spread out, a late generator's last frame is repeated, and a
 * generator that runs ahead loses its oldest frames instead of adding delay.
 *
 * Frames are converted to the writer's wire format when they arrive (on the caller's
 * thread), into a pool of buffers allocated once at start(); a tick only hands a ready
 * buffer to the writer, so repeats cost no conversion. The caller may reuse its RGB buffer
 * as soon as write() returns.
 */
import { PersonaLiveError } from '../errors.js';
import { createColourKernels, frameBytes, type ColourKernels, type PixelFormat } from '../kernels/colour.js';
import { FramePacer, systemPacerClock, type PacerClock, type PacerStats } from '../transport/pacer.js';

/** One generated frame: packed RGB24, rows of width*3 bytes. */
export interface VideoFrame {
  rgb: Uint8Array;
  width: number;
  height: number;
  /** When the frame's input was captured, microseconds on the pacer clock (monotonic); used for latency stats. */
  captureUs: number;
}

export interface VideoSinkStats {
  kind: string;
  width: number;
  height: number;
  format: PixelFormat;
  /** Colour kernel implementation that converts frames. */
  kernels: 'native' | 'typescript';
  /** Frames accepted by write(). */
  received: number;
  /** Frames handed to the device (fresh and repeated). */
  written: number;
  writeErrors: number;
  lastError: string | null;
  /** Capture-to-output latency of fresh frames, microseconds (0 before the first). */
  latencyLastUs: number;
  latencyMeanUs: number;
  latencyMaxUs: number;
  pacer: PacerStats;
}

/** A destination for generated frames with an explicit lifecycle. */
export interface VideoSink {
  readonly kind: string;
  /** Opens the device. @throws PersonaLiveError VCAM_UNAVAILABLE, VCAM_BUSY or VCAM_FAILED */
  start(): Promise<void>;
  /** Hands over one frame; returns at once. @throws PersonaLiveError VCAM_FAILED when the frame's size differs from the sink's */
  write(frame: VideoFrame): void;
  /** Stops output and releases the device (idempotent). */
  close(): Promise<void>;
  stats(): VideoSinkStats;
}

/**
 * The device side of a virtual camera: takes frames already in its wire format. Both
 * writers also offer writeRgb for callers without a pacer.
 */
export interface FrameWriter {
  readonly kind: string;
  readonly format: PixelFormat;
  readonly width: number;
  readonly height: number;
  /** Publishes one frame of frameBytes(format, width, height) bytes. @throws PersonaLiveError VCAM_FAILED */
  writeFrame(data: Uint8Array, timestampUs: number): void;
  /** Releases the device; the writer is unusable afterwards (idempotent). */
  close(): void;
}

/** What a writer factory is asked to open. */
export interface VirtualCameraConfig {
  width: number;
  height: number;
  fpsNum: number;
  fpsDen: number;
}

export interface VirtualCameraSinkOptions extends VirtualCameraConfig {
  /** Opens the device (e.g. (c) => ObsVirtualCamWriter.open(c) or V4l2LoopbackWriter.open(c)). */
  openWriter: (config: VirtualCameraConfig) => FrameWriter | Promise<FrameWriter>;
  /** Pacer queue length (default 4: one PersonaLive chunk). */
  capacity?: number;
  clock?: PacerClock;
  kernels?: ColourKernels;
  /** Told about the first write error of each run of failures (the sink keeps going). */
  onError?: (error: PersonaLiveError) => void;
}

interface PooledFrame {
  readonly data: Uint8Array;
  captureUs: number;
}

/**
 * A paced virtual camera: write() converts and queues, the pacer's ticks publish.
 * Create with the writer factory of the platform; start() opens it.
 */
export class VirtualCameraSink implements VideoSink {
  readonly kind: string;
  private writer: FrameWriter | null = null;
  private pacer: FramePacer<PooledFrame> | null = null;
  private free: PooledFrame[] = [];
  private readonly kernels: ColourKernels;
  private readonly clock: PacerClock;
  private format: PixelFormat = 'NV12';
  private received = 0;
  private written = 0;
  private writeErrors = 0;
  private lastError: string | null = null;
  private failing = false;
  private latencyLast = 0;
  private latencySum = 0;
  private latencyCount = 0;
  private latencyMax = 0;
  private closed = false;

  /** @throws RangeError for invalid sizes or rates */
  constructor(private readonly options: VirtualCameraSinkOptions) {
    if (!Number.isInteger(options.width) || options.width <= 0 || options.width % 2 !== 0 || !Number.isInteger(options.height) || options.height <= 0 || options.height % 2 !== 0) {
      throw new RangeError(`virtual camera: 'width' and 'height' must be positive even integers, got ${options.width}x${options.height}`);
    }
    this.kernels = options.kernels ?? createColourKernels();
    this.clock = options.clock ?? systemPacerClock;
    this.kind = 'virtual-camera';
  }

  /**
   * Opens the writer and starts the ticks.
   * @throws PersonaLiveError from the writer factory (VCAM_UNAVAILABLE, VCAM_BUSY, VCAM_FAILED); VCAM_FAILED after close()
   */
  async start(): Promise<void> {
    if (this.closed) throw new PersonaLiveError('VCAM_FAILED', 'the virtual camera sink was started after close()');
    if (this.writer) return;
    const { width, height, fpsNum, fpsDen } = this.options;
    const writer = await this.options.openWriter({ width, height, fpsNum, fpsDen });
    if (this.closed) {
      writer.close();
      throw new PersonaLiveError('VCAM_FAILED', 'the virtual camera sink was closed while it started');
    }
    this.writer = writer;
    this.format = writer.format;
    const bytes = frameBytes(writer.format, width, height);
    const capacity = this.options.capacity ?? 4;
    // Queue + the frame on screen + the one being filled: never short of a free buffer.
    this.free = Array.from({ length: capacity + 2 }, () => ({ data: new Uint8Array(bytes), captureUs: 0 }));
    this.pacer = new FramePacer<PooledFrame>({
      fpsNum,
      fpsDen,
      capacity,
      clock: this.clock,
      onFrame: (frame, repeated, nowUs) => this.present(frame, repeated, nowUs),
      onRelease: (frame) => this.free.push(frame),
      onError: (error) => this.fail(error),
    });
    this.pacer.start();
  }

  /** @throws PersonaLiveError VCAM_FAILED for a frame of another size; RangeError for a short buffer */
  write(frame: VideoFrame): void {
    const pacer = this.pacer;
    if (!pacer) return; // not started or closed: frames are dropped silently, like a camera nobody opened
    const { width, height } = this.options;
    if (frame.width !== width || frame.height !== height) {
      throw new PersonaLiveError('VCAM_FAILED', `frame is ${frame.width}x${frame.height} but the virtual camera was started at ${width}x${height}`, {
        frameWidth: frame.width, frameHeight: frame.height, width, height,
      });
    }
    const slot = this.free.pop();
    if (!slot) return; // unreachable with capacity + 2 buffers; never block the generator
    try {
      this.kernels.convert(this.format, frame.rgb, width, height, slot.data);
    } catch (error) {
      this.free.push(slot);
      throw error;
    }
    slot.captureUs = frame.captureUs;
    this.received++;
    pacer.push(slot);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pacer?.stop();
    this.pacer = null;
    const writer = this.writer;
    this.writer = null;
    writer?.close();
  }

  stats(): VideoSinkStats {
    const { width, height, fpsNum, fpsDen } = this.options;
    const pacer = this.pacer?.stats() ?? emptyPacerStats(fpsNum, fpsDen);
    return {
      kind: this.writer?.kind ?? this.kind,
      width,
      height,
      format: this.format,
      kernels: this.kernels.implementation,
      received: this.received,
      written: this.written,
      writeErrors: this.writeErrors,
      lastError: this.lastError,
      latencyLastUs: this.latencyLast,
      latencyMeanUs: this.latencyCount > 0 ? this.latencySum / this.latencyCount : 0,
      latencyMaxUs: this.latencyMax,
      pacer,
    };
  }

  private present(frame: PooledFrame, repeated: boolean, nowUs: number): void {
    const writer = this.writer;
    if (!writer) return;
    writer.writeFrame(frame.data, nowUs);
    this.written++;
    this.failing = false;
    if (!repeated) {
      const latency = nowUs - frame.captureUs;
      this.latencyLast = latency;
      this.latencySum += latency;
      this.latencyCount++;
      if (latency > this.latencyMax) this.latencyMax = latency;
    }
  }

  private fail(error: unknown): void {
    this.writeErrors++;
    const wrapped = error instanceof PersonaLiveError ? error : new PersonaLiveError('VCAM_FAILED', `virtual camera write failed: ${(error as Error)?.message ?? String(error)}`, {}, { cause: error });
    this.lastError = wrapped.message;
    // Report once per run of failures, not once per frame.
    if (!this.failing) this.options.onError?.(wrapped);
    this.failing = true;
  }
}

function emptyPacerStats(fpsNum: number, fpsDen: number): PacerStats {
  return {
    ticks: 0, emitted: 0, repeated: 0, idle: 0, dropped: 0, trimmed: 0, skipped: 0, queueDepth: 0, maxQueueDepth: 0,
    periodUs: (1e6 * fpsDen) / fpsNum, intervalMeanUs: 0, intervalJitterUs: 0, intervalMaxUs: 0,
  };
}
