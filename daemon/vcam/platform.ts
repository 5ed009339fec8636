/**
 * Which virtual camera a platform has: a table and a resolver (the one place that names
 * both writers).
 */
import { PersonaLiveError } from '../errors.js';
import type { ColourKernels, PixelFormat } from '../kernels/colour.js';
import { ObsVirtualCamWriter } from './obs-virtualcam.js';
import type { FrameWriter, VirtualCameraConfig } from './writer.js';
import { V4l2LoopbackWriter } from './v4l2.js';

export interface PlatformWriterOptions {
  /** v4l2loopback: a /dev/videoN instead of scanning. */
  device?: string;
  /** v4l2loopback: YUYV (default) or NV12. OBS Virtual Camera is always NV12. */
  format?: PixelFormat;
  kernels?: ColourKernels;
}

/** Platform -> writer. macOS has no writer yet (OBS's camera there is a CoreMediaIO extension fed over XPC). */
export const VIRTUAL_CAMERA_WRITERS: Readonly<Record<string, (config: VirtualCameraConfig, options: PlatformWriterOptions) => FrameWriter>> = Object.freeze({
  win32: (config, options) => ObsVirtualCamWriter.open({ ...config, kernels: options.kernels }),
  linux: (config, options) => V4l2LoopbackWriter.open({ ...config, device: options.device, format: options.format, kernels: options.kernels }),
});

/**
 * Opens this platform's virtual camera writer.
 * @throws PersonaLiveError VCAM_UNAVAILABLE on a platform without one (naming those that have one); the writer's own errors
 */
export function openPlatformWriter(config: VirtualCameraConfig, options: PlatformWriterOptions = {}, platform: string = process.platform): FrameWriter {
  const open = VIRTUAL_CAMERA_WRITERS[platform];
  if (!open) {
    throw new PersonaLiveError('VCAM_UNAVAILABLE', `no virtual camera on ${platform}: supported on ${Object.keys(VIRTUAL_CAMERA_WRITERS).join(', ')}`, { platform });
  }
  return open(config, options);
}
