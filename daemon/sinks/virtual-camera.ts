/**
 * The system virtual camera (OBS Virtual Camera's shared-memory queue on Windows,
 * v4l2loopback on Linux) as a sink. The live loop's pacer calls it once per output tick, so
 * the camera reader gets one frame per declared interval whatever the generator does: a new
 * frame is converted to the writer's wire format into one buffer allocated at start(), and a
 * repeated tick hands the same buffer to the device again (repeats cost no conversion).
 */
import { PersonaLiveError } from '../errors.js';
import type { Frame, RgbImage } from '../frames.js';
import { PictureComposer, type Box, type Placement } from '../kernels/compose.js';
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

/**
 * The camera's own picture (16:9): square animation frames are placed on a background
 * (kernels/compose.ts); frames already of the camera's size go out as they are.
 */
export interface CameraPicture {
  placement: Placement;
  /**
   * The background for a portrait (null before there is one) around the animation's box; the
   * sink keeps the last one while a new one is made.
   */
  background(reference: RgbImage | null, box: Box): Promise<Uint8Array>;
  /** The animation's box when the portrait is shown in its own framing (a wide photo), else null (the placement). */
  framing?(reference: RgbImage): Box | null;
}

export interface VirtualCameraSinkOptions extends VirtualCameraConfig {
  picture?: CameraPicture;
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
  private readonly composer: PictureComposer | null;
  /** The composed RGB picture (allocated at start() when there is a picture). */
  private composed: Uint8Array | null = null;
  /** Which reference the background is for (a newer one wins when two are made at once). */
  private backgroundFor = 0;
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
    this.composer = options.picture ? new PictureComposer(options.width, options.height, options.picture.placement) : null;
    this.picture = options.picture ?? null;
  }

  private picture: CameraPicture | null;
  private lastReference: RgbImage | null = null;
  /** 'photo': a wide portrait shown in its own framing; 'placed': the animation at the configured placement. */
  private framing: 'photo' | 'placed' = 'placed';

  /** New placement or background, on the running camera: the next frame shows it (the old background stays until the new one is made). */
  setPicture(picture: CameraPicture): void {
    if (!this.composer) return;
    this.picture = picture;
    this.layOut(this.lastReference);
    this.makeBackground(this.lastReference);
  }

  /** A new portrait: its background is made beside the stream (the old one stays until it is ready). */
  referenceChanged(image: RgbImage): void {
    this.lastReference = image;
    this.layOut(image);
    this.makeBackground(image);
  }

  /** Where the animation goes for this portrait: its own framing (a wide photo) or the placement. */
  private layOut(image: RgbImage | null): void {
    if (!this.composer || !this.picture) return;
    const framed = image ? this.picture.framing?.(image) ?? null : null;
    this.framing = framed ? 'photo' : 'placed';
    if (framed) this.composer.setBox(framed);
    else this.composer.setPlacement(this.picture.placement);
  }

  private makeBackground(image: RgbImage | null): void {
    if (!this.picture || !this.composer) return;
    const mine = ++this.backgroundFor;
    void this.picture.background(image, this.composer.placementBox).then(
      (rgb) => {
        if (mine === this.backgroundFor && !this.closed) this.composer!.setBackground(rgb);
      },
      (error: unknown) => this.fail(error),
    );
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
    if (this.composer && this.options.picture) {
      this.composed = new Uint8Array(width * height * 3);
      // A first background without a portrait (a colour or the user's image); referenceChanged brings the portrait's.
      if (this.backgroundFor === 0 && this.picture) this.composer.setBackground(await this.picture.background(null, this.composer.placementBox));
    }
  }

  /** @throws PersonaLiveError VCAM_FAILED for a frame of another size; RangeError for a short buffer */
  write(frame: Frame, repeated: boolean, nowUs: number): void {
    const writer = this.writer;
    const wire = this.wire;
    if (!writer || !wire) return; // not started or closed: frames are dropped, like a camera nobody opened
    if (!repeated) {
      const { width, height } = this.options;
      let rgb = frame.data;
      if (frame.width !== width || frame.height !== height) {
        if (!this.composer || !this.composed || frame.width !== frame.height) {
          throw new PersonaLiveError('VCAM_FAILED', `frame is ${frame.width}x${frame.height} but the virtual camera was started at ${width}x${height}`, {
            frameWidth: frame.width, frameHeight: frame.height, width, height,
          });
        }
        this.composer.compose(frame.data, frame.width, this.composed);
        rgb = this.composed;
      }
      this.kernels.convert(this.format, rgb, width, height, wire);
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
      framing: this.framing,
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
