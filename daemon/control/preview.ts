/** The panel's live preview: the newest output frame as a JPEG, encoded at most once per frame, off the tick. */
import type { Frame } from '../frames.js';
import { encodeJpeg } from '../media/image.js';

export function createPreviewEncoder(latest: () => Frame | null, size: () => number): () => Promise<Buffer | null> {
  let cache: { captureUs: number; jpeg: Buffer } | null = null;
  return async () => {
    const frame = latest();
    if (!frame) return null;
    if (cache?.captureUs === frame.captureUs) return cache.jpeg;
    const jpeg = await encodeJpeg(frame, size(), size(), { quality: 70, fit: 'fill' });
    cache = { captureUs: frame.captureUs, jpeg };
    return jpeg;
  };
}
