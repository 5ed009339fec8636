/**
 * Driving frames from the plugin's Driving Capture filter, through the driving ring.
 * Polls the ring at a few times the frame rate (a poll is a few loads when nothing is new)
 * and converts OBS's BGRA to RGB.
 */
import { PersonaLiveError } from '../errors.js';
import { createColourKernels } from '../kernels/colour.js';
import { PixelFormat } from '../ffi/ring-layout.js';
import { RingReader } from '../transport/ring.js';
import { systemSharedMemory, type SharedMemoryBackend } from '../ffi/shared-memory.js';
import type { DrivingSource, SourceOptions } from './types.js';

export function createRingSource(ringName: string, options: SourceOptions, shm: SharedMemoryBackend = systemSharedMemory()): DrivingSource {
  const kernels = createColourKernels();
  let reader: RingReader | null = null;
  let timer: NodeJS.Timeout | null = null;
  let lastError: string | null = null;

  return {
    kind: 'ring',
    description: `OBS Driving Capture filter (ring "${ringName}")`,
    async start(onFrame) {
      reader = new RingReader(shm, ringName);
      const pollMs = Math.max(2, Math.floor(1000 / options.fps / 3));
      timer = setInterval(() => {
        try {
          const frame = reader!.readLatest();
          if (!frame) return;
          const captured = options.pool.acquire(frame.width, frame.height);
          const rgb = captured.data;
          if (frame.pixelFormat === PixelFormat.BGRA) kernels.bgraToRgb(frame.pixels, frame.width, frame.height, rgb, frame.stride);
          else if (frame.pixelFormat === PixelFormat.RGBA) kernels.rgbaToRgb(frame.pixels, frame.width, frame.height, rgb, frame.stride);
          else for (let y = 0; y < frame.height; y++) rgb.set(frame.pixels.subarray(y * frame.stride, y * frame.stride + frame.width * 3), y * frame.width * 3);
          captured.captureUs = frame.captureUs;
          lastError = null;
          onFrame(captured);
        } catch (error) {
          // A foreign or incompatible object under the name: say so, keep polling (it may be replaced).
          lastError = error instanceof PersonaLiveError ? error.message : String(error);
        }
      }, pollMs);
      timer.unref?.();
    },
    state() {
      if (lastError) return 'error';
      try {
        return reader ? reader.state() : 'stopped';
      } catch (error) {
        lastError = (error as Error).message;
        return 'error';
      }
    },
    error: () => lastError,
    async close() {
      if (timer) clearInterval(timer);
      timer = null;
      reader?.close();
      reader = null;
    },
  };
}
