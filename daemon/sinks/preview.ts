/** Keeps the newest frame for the panel's preview (encoded on demand, off the tick). */
import type { Frame } from '../frames.js';
import type { Sink } from './types.js';

export function createPreviewSink(): Sink & { latest(): Frame | null } {
  let latest: Frame | null = null;
  return {
    kind: 'preview',
    write(frame, repeated) {
      if (repeated) return;
      // One copy buffer, reused while the size holds.
      if (!latest || latest.data.length !== frame.data.length) latest = { ...frame, data: new Uint8Array(frame.data.length) };
      latest.data.set(frame.data);
      latest.width = frame.width;
      latest.height = frame.height;
      latest.index = frame.index;
      latest.captureUs = frame.captureUs;
    },
    latest: () => latest,
    status: () => ({ hasFrame: latest !== null }),
    async close() {
      latest = null;
    },
  };
}
