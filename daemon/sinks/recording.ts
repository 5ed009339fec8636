/**
 * A recording of the output to an MP4 file that keeps the wall clock's time: frame k of the
 * file is what was on air k/fps seconds after the first tick, counted from the ticks' own
 * clock (a tick the encoder missed is made up by repeating the picture, an output rate
 * change does not change the file's rate), so a microphone track recorded beside it stays in
 * sync. Size and rate are fixed at start; frames of another size are scaled into it.
 * Crash-safe (fragmented MP4 under a temp name, see openMp4Writer's crashSafe); renamed into
 * place at close, and recovered by recoverRecordings after a crash.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { asPersonaLiveError, type PersonaLiveError } from '../errors.js';
import type { Frame } from '../frames.js';
import { resizeRgbNearest } from '../kernels/imageops.js';
import { keepPartialRecording, openMp4Writer, parseRecordingTemp, type Mp4Writer } from '../media/encode.js';
import { processIsAlive } from '../transport/ring.js';
import type { Sink } from './types.js';

/** How far the file may fall behind the clock (a stalled encoder) before frames are given up (and counted). */
const MAX_BEHIND_SECONDS = 2;

/**
 * The file's frame count against the clock: at `elapsedUs` after the first tick, frames
 * 0..floor(elapsed*fps) are due (frame k covers [k/fps, (k+1)/fps)).
 */
export function framesDue(elapsedUs: number, fps: number): number {
  return Math.floor((Math.max(0, elapsedUs) * fps) / 1e6 + 1e-9) + 1;
}

export async function createRecordingSink(path: string, width: number, height: number, fps: number, onError: (error: PersonaLiveError) => void): Promise<Sink> {
  const writer: Mp4Writer = await openMp4Writer({ outPath: path, width, height, fpsRational: `${fps}/1`, argument: 'output.recording.path', ownProcessGroup: true, crashSafe: true });
  /**
   * The latest picture (scaled to the file's size), and the one ffmpeg's pipe is reading (the
   * last one written, which is also what a gap repeats). `freshFrom` is the file index at which
   * `latest` went on air while not yet in `encoding` (null when they are the same picture).
   */
  const latest = new Uint8Array(width * height * 3);
  const encoding = new Uint8Array(width * height * 3);
  let freshFrom: number | null = null;
  let startUs: number | null = null;
  let lastTickUs = 0;
  /** Frames handed to ffmpeg (taken or in flight), frames given up to keep within MAX_BEHIND_SECONDS. */
  let queued = 0;
  let written = 0;
  let lost = 0;
  let inFlight: Promise<void> | null = null;
  let failed: PersonaLiveError | null = null;
  let closed = false;

  const take = (frame: Frame, nowUs: number): void => {
    if (frame.width === width && frame.height === height) latest.set(frame.data.subarray(0, latest.length));
    else resizeRgbNearest(frame.data, frame.width, frame.height, latest, width, height);
    freshFrom ??= framesDue(nowUs - startUs!, fps) - 1;
  };

  /**
   * Hands ffmpeg every frame due by the last tick: until the newest picture's time the one
   * before it (a gap repeats what was on air), from then on the newest.
   */
  const pump = (): void => {
    if (failed || inFlight || startUs === null) return;
    let behind = framesDue(lastTickUs - startUs, fps) - queued - lost;
    if (behind <= 0) return;
    const limit = Math.ceil(MAX_BEHIND_SECONDS * fps);
    if (behind > limit) {
      lost += behind - limit;
      behind = limit;
    }
    const next = queued + lost;
    if (freshFrom !== null && (next >= freshFrom || queued === 0)) {
      encoding.set(latest); // nothing in flight reads it now
      freshFrom = null;
    } else if (freshFrom !== null) {
      behind = Math.min(behind, freshFrom - next); // the old picture up to the new one's slot
    }
    queued += behind;
    const batch: Array<Promise<void>> = [];
    for (let i = 0; i < behind; i++) batch.push(writer.write(encoding)); // the same bytes, untouched until all are taken
    const count = behind;
    inFlight = Promise.all(batch).then(
      () => {
        inFlight = null;
        written += count;
        if (!closed) pump();
      },
      (error: unknown) => {
        inFlight = null;
        if (failed) return;
        failed = asPersonaLiveError(error);
        onError(failed);
      },
    );
  };

  return {
    kind: 'recording',
    write(frame, repeated, nowUs) {
      if (failed || closed) return;
      startUs ??= nowUs;
      if (!repeated || queued === 0) take(frame, nowUs);
      lastTickUs = Math.max(lastTickUs, nowUs);
      pump();
    },
    status: () => ({ path, written, pending: failed ? 0 : queued - written, lost, seconds: written / fps, width, height, fps, error: failed?.message ?? null }),
    async close() {
      closed = true;
      // Let the frames in flight land, then the ones still due, then finalise (rename into place).
      while (inFlight) {
        await inFlight;
        if (!failed) pump();
      }
      if (failed) {
        await writer.abort();
        return;
      }
      if (queued === 0) {
        await writer.abort(); // nothing was ever on air: no empty file
        return;
      }
      await writer.finish().catch((error: unknown) => {
        failed = asPersonaLiveError(error);
        onError(failed);
      });
    },
  };
}

/**
 * Puts recordings a daemon left under their temp names (it was killed, crashed, or the power
 * went) into place beside the name they were meant for; they are fragmented MP4, so they play
 * up to their last fragment. A temp whose writer is still alive and writing (modified in the
 * last few seconds) belongs to a running daemon and is left alone. Returns what it did.
 */
export async function recoverRecordings(folders: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Array<{ from: string; to: string | null; seconds: number }>> {
  const done: Array<{ from: string; to: string | null; seconds: number }> = [];
  for (const folder of new Set(folders.map((f) => resolve(f)))) {
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      continue; // not created yet
    }
    for (const name of names) {
      const temp = parseRecordingTemp(name);
      if (!temp) continue;
      const from = join(folder, name);
      if (writerAlive(temp.pid, from)) continue;
      const kept = await keepPartialRecording(from, join(folder, temp.finalName), env).catch(() => null);
      done.push({ from, to: kept?.path ?? null, seconds: kept?.seconds ?? 0 });
    }
  }
  return done;
}

/**
 * A live writer: its pid runs and the file was written lately (a recording writes a fragment
 * every 0.5 s). The time matters too: after a reboot the pid may belong to anyone, this daemon included.
 */
function writerAlive(pid: number, file: string): boolean {
  if (!processIsAlive(pid)) return false;
  try {
    return Date.now() - statSync(file).mtimeMs < 10_000;
  } catch {
    return false;
  }
}
