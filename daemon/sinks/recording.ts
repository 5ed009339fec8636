/**
 * A recording to an MP4 file at the output rate, repeats included (the file plays in real
 * time). Written through ffmpeg under a temp name, renamed at close.
 */
import { asPersonaLiveError, type PersonaLiveError } from '../errors.js';
import { openMp4Writer, type Mp4Writer } from '../media/encode.js';
import type { Sink } from './types.js';

export async function createRecordingSink(path: string, width: number, height: number, fps: number, onError: (error: PersonaLiveError) => void): Promise<Sink> {
  const writer: Mp4Writer = await openMp4Writer({ outPath: path, width, height, fpsRational: `${fps}/1`, argument: 'output.recording.path', ownProcessGroup: true });
  /**
   * The frame ffmpeg is taking now, in a buffer of the sink's own (ffmpeg's pipe reads it
   * after write() returns, and the frame's buffer goes back to its pool); at most one in
   * flight (a busy encoder drops, never queues).
   */
  const pending = new Uint8Array(width * height * 3);
  let inFlight: Promise<void> | null = null;
  let written = 0;
  let dropped = 0;
  let failed: PersonaLiveError | null = null;
  let closed = false;
  return {
    kind: 'recording',
    write(frame) {
      if (failed || closed) return;
      if (inFlight || frame.width !== width || frame.height !== height) {
        dropped++;
        return;
      }
      pending.set(frame.data);
      inFlight = writer.write(pending).then(
        () => {
          inFlight = null;
          written++;
        },
        (error: unknown) => {
          failed = asPersonaLiveError(error);
          onError(failed);
        },
      );
    },
    status: () => ({ path, written, dropped, error: failed?.message ?? null }),
    async close() {
      closed = true;
      if (failed) {
        await writer.abort();
        return;
      }
      // Let the frame in flight land, then finalise (rename onto the path).
      await inFlight;
      if (failed) {
        await writer.abort();
        return;
      }
      await writer.finish();
    },
  };
}
