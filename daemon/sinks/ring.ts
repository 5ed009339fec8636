/** The plugin's output ring (RGB24): what the "PersonaLive Output" source in OBS shows. */
import { PixelFormat } from '../ffi/ring-layout.js';
import { systemSharedMemory, type SharedMemoryBackend } from '../ffi/shared-memory.js';
import { RingWriter } from '../transport/ring.js';
import type { Sink } from './types.js';

/**
 * Opens the ring at width x height now, so a ring another daemon writes is refused at start
 * (RING_IN_USE), not on the first frame; recreates it when the frame size changes.
 * @throws PersonaLiveError RING_IN_USE, SHM_FAILED
 */
export function createRingSink(name: string, fps: number, width: number, height: number, shm: SharedMemoryBackend = systemSharedMemory()): Sink {
  const open = (w: number, h: number): RingWriter => new RingWriter(shm, { name, width: w, height: h, pixelFormat: PixelFormat.RGB24, fps: { num: fps, den: 1 } });
  let writer: RingWriter | null = open(width, height);
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
        writer = open(frame.width, frame.height);
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
