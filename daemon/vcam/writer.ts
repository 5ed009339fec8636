/** The device side of a virtual camera: what each platform's writer (v4l2loopback, OBS Virtual Camera) offers. */
import type { PixelFormat } from '../kernels/colour.js';

/**
 * Takes frames already in its wire format. Both writers also offer writeRgb for callers
 * that convert nothing themselves.
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
