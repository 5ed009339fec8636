/**
 * Does a portrait show a face? Asked before a picture enters the reference gallery (every
 * path: command line, upload) and before a stored one goes on air at start, so a picture
 * without one is refused with its name instead of failing the generator later. Uses the
 * built-in generator's tracker in image mode at a low priority, started on first use and
 * stopped again when idle (its worker and models are not kept for a whole stream).
 */
import { PersonaLiveError } from '../../errors.js';
import type { RgbImage } from '../../frames.js';
import { createHumanTracker, type HumanTracker } from './tracking/human-tracker.js';

export interface FaceCheck {
  /**
   * Returns the face's box (x, y, width, height, image pixels).
   * @throws PersonaLiveError NO_FACE naming `label`; TRACKER_* when the tracker cannot run
   */
  require(image: RgbImage, label: string): Promise<[number, number, number, number]>;
  /** Whether the tracker is started (it stops `idleMs` after the last check). */
  readonly running: boolean;
  close(): Promise<void>;
}

export function createFaceCheck(idleMs = 30_000): FaceCheck {
  let tracker: Promise<HumanTracker> | null = null;
  let inFlight = 0;
  let idleTimer: NodeJS.Timeout | null = null;
  const stop = async (): Promise<void> => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = null;
    const started = tracker;
    tracker = null;
    await started?.then((t) => t.close(), () => undefined);
  };
  return {
    async require(image, label) {
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = null;
      inFlight++;
      try {
        tracker ??= createHumanTracker({ mode: 'image', niceness: 10 });
        const found = await (await tracker).track(image);
        if (!found.face) {
          throw new PersonaLiveError('NO_FACE', `${label} shows no face the tracker can find: use a portrait with the face clearly visible, facing the camera`, { image: label });
        }
        return found.face.box;
      } finally {
        inFlight--;
        if (inFlight === 0 && tracker) {
          idleTimer = setTimeout(() => void stop(), idleMs);
          idleTimer.unref?.();
        }
      }
    },
    get running() {
      return tracker !== null;
    },
    close: stop,
  };
}
