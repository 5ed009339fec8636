/** Driving frames from a still image, repeated at the configured rate (a face that holds still). */
import { PersonaLiveError } from '../errors.js';
import { fitSquare, loadImageRgb } from '../media/image.js';
import { monotonicUs } from '../util/clock.js';
import type { DrivingSource, SourceOptions, SourceState } from './types.js';

export function createImageSource(path: string, options: SourceOptions): DrivingSource {
  let timer: NodeJS.Timeout | null = null;
  let state: SourceState = 'waiting';
  return {
    kind: 'image',
    description: `still image ${path}`,
    async start(onFrame) {
      if (!path) throw new PersonaLiveError('DRIVING_SOURCE_FAILED', 'driving.kind is "image" but driving.image is empty: set the image path in the configuration');
      const image = await fitSquare(await loadImageRgb(path, { argument: 'driving.image' }), options.size);
      state = 'live';
      timer = setInterval(() => {
        const frame = options.pool.acquire(image.width, image.height);
        frame.data.set(image.data);
        frame.captureUs = monotonicUs();
        onFrame(frame);
      }, 1000 / options.fps);
    },
    state: () => state,
    error: () => null,
    async close() {
      if (timer) clearInterval(timer);
      timer = null;
      state = 'stopped';
    },
  };
}
