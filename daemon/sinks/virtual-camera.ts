/**
 * The system virtual camera (OBS Virtual Camera's shared-memory queue on Windows,
 * v4l2loopback on Linux) as a sink. The live loop's pacer calls it once per output tick, so
 * the camera reader gets one frame per declared interval whatever the generator does: a new
 * frame is converted to the writer's wire format into one buffer allocated at start(), and a
 * repeated tick hands the same buffer to the device again (repeats cost no conversion).
 */
import { PersonaLiveError } from '../errors.js';
import type { Frame, RgbImage } from '../frames.js';
import type { CameraPictureStage } from './camera-picture.js';
import { createColourKernels, frameBytes, type ColourKernels, type PixelFormat } from '../kernels/colour.js';
import type { FrameWriter, VirtualCameraConfig } from '../vcam/writer.js';
import type { Sink } from './types.js';

export type VirtualCameraStats = {
  /** The writer's kind ('v4l2loopback', 'obs-virtualcam', ...). */
  device: string;
  width: number;
  height: number;
  format: PixelFormat;
  /** Colour kernel implementation that converts frames. */
  kernels: 'native' | 'typescript';
  /** New frames converted. */
  received: number;
  /** Frames handed to the device (new and repeated). */
  written: number;
  repeated: number;
  writeErrors: number;
  lastError: string | null;
  /** Capture-to-output latency of new frames, microseconds (0 before the first). */
  latencyLastUs: number;
  latencyMeanUs: number;
  latencyMaxUs: number;
  framing: 'photo' | 'placed';
};

export interface VirtualCameraSinkOptions extends VirtualCameraConfig {
  /** The camera picture (16:9) the square animation frames are placed in; frames of the camera's size go out as they are. */
  stage?: CameraPictureStage;
  /** Opens the device (e.g. (c) => ObsVirtualCamWriter.open(c) or V4l2LoopbackWriter.open(c)). */
  openWriter: (config: VirtualCameraConfig) => FrameWriter | Promise<FrameWriter>;
  kernels?: ColourKernels;
  /** Told about the first write error of each run of failures (the sink keeps going). */
  onError?: (error: PersonaLiveError) => void;
}

/** Create with the platform's writer factory (vcam/platform.ts); start() opens it. */
export class VirtualCameraSink implements Sink {
  readonly kind = 'virtualCamera' as const;
  private writer: FrameWriter | null = null;
  private wire: Uint8Array | null = null;
  private hasFrame = false;
  private readonly kernels: ColourKernels;
  private format: PixelFormat = 'NV12';
  private readonly counts = { received: 0, written: 0, repeated: 0, writeErrors: 0 };
  private lastError: string | null = null;
  private failing = false;
  private readonly latency = { last: 0, sum: 0, count: 0, max: 0 };
  private closed = false;

  /** @throws RangeError for invalid sizes */
  constructor(private readonly options: VirtualCameraSinkOptions) {
    if (!Number.isInteger(options.width) || options.width <= 0 || options.width % 2 !== 0 || !Number.isInteger(options.height) || options.height <= 0 || options.height % 2 !== 0) {
      throw new RangeError(`virtual camera: 'width' and 'height' must be positive even integers, got ${options.width}x${options.height}`);
    }
    this.kernels = options.kernels ?? createColourKernels();
  }

  /** A new portrait: the camera picture's background follows it. */
  referenceChanged(image: RgbImage): void {
    this.options.stage?.referenceChanged(image);
  }

  /**
   * Opens the writer.
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
    this.wire = new Uint8Array(frameBytes(writer.format, width, height));
    await this.options.stage?.ready(); // the first frames show the background, not black
  }

  /** @throws PersonaLiveError VCAM_FAILED for a frame of another size; RangeError for a short buffer */
  write(frame: Frame, repeated: boolean, nowUs: number): void {
    const writer = this.writer;
    const wire = this.wire;
    if (!writer || !wire) return; // not started or closed: frames are dropped, like a camera nobody opened
    if (!repeated) {
      const { width, height } = this.options;
      const shown = this.options.stage ? this.options.stage.picture(frame) : frame;
      if (shown.width !== width || shown.height !== height) {
        throw new PersonaLiveError('VCAM_FAILED', `frame is ${frame.width}x${frame.height} but the virtual camera was started at ${width}x${height}`, {
          frameWidth: frame.width, frameHeight: frame.height, width, height,
        });
      }
      this.kernels.convert(this.format, shown.data, width, height, wire);
      this.hasFrame = true;
      this.counts.received++;
    }
    if (!this.hasFrame) return;
    try {
      writer.writeFrame(wire, nowUs);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.counts.written++;
    this.failing = false;
    if (repeated) {
      this.counts.repeated++;
      return;
    }
    const latency = nowUs - frame.captureUs;
    this.latency.last = latency;
    this.latency.sum += latency;
    this.latency.count++;
    if (latency > this.latency.max) this.latency.max = latency;
  }

  async close(): Promise<void> {
    this.closed = true;
    const writer = this.writer;
    this.writer = null;
    this.wire = null;
    writer?.close();
  }

  status(): VirtualCameraStats {
    const { width, height } = this.options;
    return {
      device: this.writer?.kind ?? 'closed',
      width,
      height,
      format: this.format,
      kernels: this.kernels.implementation,
      ...this.counts,
      lastError: this.lastError,
      latencyLastUs: this.latency.last,
      latencyMeanUs: this.latency.count > 0 ? this.latency.sum / this.latency.count : 0,
      latencyMaxUs: this.latency.max,
      framing: this.options.stage?.framing ?? 'placed',
    };
  }

  private fail(error: unknown): void {
    this.counts.writeErrors++;
    const wrapped = error instanceof PersonaLiveError ? error : new PersonaLiveError('VCAM_FAILED', `virtual camera write failed: ${(error as Error)?.message ?? String(error)}`, {}, { cause: error });
    this.lastError = wrapped.message;
    // Report once per run of failures, not once per frame.
    if (!this.failing) this.options.onError?.(wrapped);
    this.failing = true;
  }
}
