/** The plugin's output ring (RGB24): what the "PersonaLive Output" source in OBS shows. */
import { PixelFormat } from '../ffi/ring-layout.js';
import { systemSharedMemory, type SharedMemoryBackend } from '../ffi/shared-memory.js';
import { RingWriter } from '../transport/ring.js';
import type { Sink } from './types.js';

/** Recreates the ring when the frame size changes. */
export function createRingSink(name: string, fps: number, shm: SharedMemoryBackend = systemSharedMemory()): Sink {
  let writer: RingWriter | null = null;
  let written = 0;
  return {
    kind: 'ring',
    write(frame, repeated) {
      if (repeated) {
        writer?.heartbeat(); // OBS keeps the last frame; only tell it we are alive
        return;
      }
      if (!writer || writer.geometry.width !== frame.width || writer.geometry.height !== frame.height) {
        writer?.close();
        writer = new RingWriter(shm, { name, width: frame.width, height: frame.height, pixelFormat: PixelFormat.RGB24, fps: { num: fps, den: 1 } });
      }
      writer.publish(frame.data, frame.captureUs);
      written++;
    },
    status: () => ({ name, written, ...(writer ? { width: writer.geometry.width, height: writer.geometry.height } : {}) }),
    async close() {
      writer?.close();
      writer = null;
    },
  };
}
