/**
 * Driving frames from a video file, looped, in real time at the file's own rate (a
 * stand-in for a camera: demos, tests, soak runs). Decoding runs ahead by at most one
 * frame (ffmpeg's pipe applies backpressure).
 */
import { PersonaLiveError, asPersonaLiveError } from '../errors.js';
import { decodeVideoFrames } from '../media/decode.js';
import { probeVideo } from '../media/probe.js';
import { monotonicUs } from '../util/clock.js';
import type { DrivingSource, SourceOptions, SourceState } from './types.js';

export function createFileSource(path: string, options: SourceOptions): DrivingSource {
  let running = false;
  let state: SourceState = 'waiting';
  let lastError: string | null = null;
  let loop: Promise<void> | null = null;

  return {
    kind: 'file',
    description: `video file ${path} (looped)`,
    async start(onFrame) {
      if (!path) throw new PersonaLiveError('DRIVING_SOURCE_FAILED', 'driving.kind is "file" but driving.file is empty: set the video path in the configuration');
      const info = await probeVideo(path, process.env, { argument: 'driving.file' });
      running = true;
      const periodUs = 1e6 / info.fps;
      loop = (async () => {
        let next = monotonicUs();
        while (running) {
          try {
            for await (const decoded of decodeVideoFrames(path, { width: options.size, height: options.size, info, argument: 'driving.file', acquire: (w, h) => options.pool.acquire(w, h) })) {
              if (!running) {
                options.pool.release(decoded);
                break;
              }
              const wait = next - monotonicUs();
              if (wait > 1000) await new Promise((r) => setTimeout(r, wait / 1000));
              if (!running) {
                options.pool.release(decoded);
                break;
              }
              // A decoder that fell far behind restarts the schedule instead of bursting.
              const now = monotonicUs();
              next = Math.max(next + periodUs, now);
              state = 'live';
              decoded.captureUs = now;
              onFrame(decoded);
            }
          } catch (error) {
            state = 'error';
            lastError = asPersonaLiveError(error).message;
            running = false;
          }
        }
        if (state !== 'error') state = 'stopped';
      })();
    },
    state: () => state,
    error: () => lastError,
    async close() {
      running = false;
      await loop;
    },
  };
}
