/** Encoding RGB24 frames to MP4 (H.264, yuv420p) through ffmpeg, written under a temp name and renamed when complete. */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import nodePath from 'node:path';
import { PersonaLiveError } from '../errors.js';
import { freePath } from '../util/files.js';
import { assertDimension, describeInput, errnoText, findFfmpeg, missingText, parseRational, shortenStderr, spawnFailure, watchChild, type ChildExit } from './ffmpeg.js';
import { probeMedia, readableVideoLength } from './probe.js';

export interface Mp4WriterOptions {
  outPath: string;
  width: number;
  height: number;
  /** Output frame rate as 'num/den' (or an integer string), e.g. VideoInfo.fpsRational. */
  fpsRational: string;
  /** A media file whose first audio stream is muxed in, trimmed to the video's length. */
  audioFrom?: string | null;
  env?: NodeJS.ProcessEnv;
  /** How the caller names the output in messages, e.g. '--out'. */
  argument?: string;
  /**
   * Run ffmpeg in its own process group, so a Ctrl+C in the terminal reaches only the
   * caller, which then finishes the file itself (the live daemon's recording).
   */
  ownProcessGroup?: boolean;
  /**
   * A live recording that a crash must not lose: fragmented MP4 (a fragment every 0.5 s, a
   * keyframe every second), so the temp file plays up to its last fragment whatever
   * happens; the temp is named so the next start finds it (parseRecordingTemp); when ffmpeg
   * fails (killed, disk full) what it wrote is kept beside outPath instead of removed; and
   * the finished file never replaces an existing one (a free numbered name is taken).
   */
  crashSafe?: boolean;
}

export interface Mp4Writer {
  /**
   * Sends one RGB24 frame (width*height*3 bytes). Resolves once ffmpeg's pipe has taken
   * the bytes, so awaiting each call respects backpressure and the caller may reuse `rgb`.
   * @throws PersonaLiveError FFMPEG_FAILED when ffmpeg has died (the temp file is removed).
   */
  write(rgb: Uint8Array): Promise<void>;
  /**
   * Closes the stream, waits for ffmpeg, muxes the audio if any, then renames the temp file
   * onto outPath. Calling it again returns the same result.
   * @throws PersonaLiveError FFMPEG_FAILED (nothing is left at outPath or in the temp name).
   */
  finish(): Promise<{ frames: number; path: string }>;
  /** The file being written (the temp name). */
  readonly tempPath: string;
  /** Kills ffmpeg and removes the temp files; outPath is never touched. Safe to call twice. */
  abort(): Promise<void>;
}

/** Codecs an MP4 carries that every common player plays: copied instead of re-encoded. */
const MP4_FRIENDLY_AUDIO = new Set(['aac', 'mp3', 'alac']);

// ---------------------------------------------------------------------------------------
// Output

/** The temp name of a crash-safe recording of `finalPath`, in its folder. */
function recordingTempPath(finalPath: string): string {
  return nodePath.join(nodePath.dirname(finalPath), `.${nodePath.basename(finalPath)}.recording-${process.pid}-${randomBytes(4).toString('hex')}.mp4`);
}

/** The recording a temp file name belongs to (its final file name and the writer's pid), or null for any other file. */
export function parseRecordingTemp(fileName: string): { finalName: string; pid: number } | null {
  const match = /^\.(.+)\.recording-(\d+)-[0-9a-f]{8}\.mp4$/.exec(fileName);
  return match ? { finalName: match[1]!, pid: Number(match[2]) } : null;
}

/**
 * Puts what a crash-safe recording holds in `temp` at a free path beside `finalPath` (never
 * over an earlier file). A temp with no readable video (cut before its first fragment) is
 * removed. Returns where it went and how long it is, or null when there was nothing to keep.
 */
export async function keepPartialRecording(temp: string, finalPath: string, env: NodeJS.ProcessEnv = process.env): Promise<{ path: string; seconds: number } | null> {
  const length = await readableVideoLength(temp, env);
  if (length === null) {
    await rm(temp, { force: true });
    return null;
  }
  const path = freePath(finalPath);
  await rename(temp, path);
  return { path, seconds: length.seconds };
}

/**
 * Checks that outPath can be created: its folder exists, is a folder and is writable, and
 * outPath itself is not a folder.
 * @throws PersonaLiveError OUTPUT_NOT_WRITABLE naming the folder (or the path) and the argument.
 */
export function assertWritableOutput(outPath: string, argument = 'output'): void {
  const absolute = nodePath.resolve(outPath);
  const folder = nodePath.dirname(absolute);
  const details = { outPath, folder };
  let folderStats: Stats;
  try {
    folderStats = statSync(folder);
  } catch (error) {
    throw new PersonaLiveError(
      'OUTPUT_NOT_WRITABLE',
      `The folder "${folder}" for ${argument} "${outPath}" ${missingText(error)}. Create it first or ` +
        'choose a path in an existing folder.',
      details,
      { cause: error },
    );
  }
  if (!folderStats.isDirectory()) {
    throw new PersonaLiveError(
      'OUTPUT_NOT_WRITABLE',
      `"${folder}" (the folder part of ${argument} "${outPath}") is a file, not a folder. Expected a path in an existing folder.`,
      details,
    );
  }
  try {
    accessSync(folder, constants.W_OK);
  } catch (error) {
    throw new PersonaLiveError(
      'OUTPUT_NOT_WRITABLE',
      `The folder "${folder}" for ${argument} "${outPath}" is not writable (${errnoText(error)}). Choose a folder you can write to.`,
      details,
      { cause: error },
    );
  }
  let target: Stats | null = null;
  try {
    target = statSync(absolute);
  } catch {
    // Not there yet: the usual case.
  }
  if (target?.isDirectory()) {
    throw new PersonaLiveError(
      'OUTPUT_NOT_WRITABLE',
      `${argument} "${outPath}" is an existing folder. Expected a file path such as "${nodePath.join(outPath, 'out.mp4')}".`,
      details,
    );
  }
}

/**
 * Starts an H.264 MP4 encode fed with RGB24 frames. The video goes to a hidden temp file in
 * the output folder and is renamed onto outPath only after ffmpeg succeeded, so a failed or
 * aborted run never leaves a half-written outPath (and an older outPath survives until then).
 *
 * With audioFrom, its first audio stream is muxed in a second, stream-copy pass cut to the
 * video's exact length (frames / fps): unlike -shortest, that never drops video frames when
 * the audio is the shorter stream. mp4-friendly codecs are copied, others encoded to AAC.
 *
 * @throws PersonaLiveError USAGE (bad size or rate), OUTPUT_NOT_WRITABLE, FFMPEG_MISSING,
 *   VIDEO_NOT_FOUND / VIDEO_UNREADABLE (audioFrom cannot be probed).
 */
export async function openMp4Writer(options: Mp4WriterOptions): Promise<Mp4Writer> {
  const { outPath, width, height } = options;
  const env = options.env ?? process.env;
  const argument = options.argument ?? 'output';
  assertDimension('width', width, 'openMp4Writer', true);
  assertDimension('height', height, 'openMp4Writer', true);
  const rate = parseRational(options.fpsRational);
  if (rate === null || rate.value > 1000) {
    throw new PersonaLiveError(
      'USAGE',
      `openMp4Writer: 'fpsRational' must be a positive rate such as '25/1' or '30000/1001', got ${JSON.stringify(options.fpsRational)}.`,
    );
  }
  const crashSafe = options.crashSafe === true;
  if (crashSafe && options.audioFrom) throw new PersonaLiveError('USAGE', 'openMp4Writer: a crash-safe recording takes no audioFrom (the audio pass needs the finished video).');
  const binaries = findFfmpeg(env);
  assertWritableOutput(outPath, argument);

  let audio: { path: string; streamIndex: number; copy: boolean } | null = null;
  if (options.audioFrom) {
    const name = describeInput('Audio source', options.audioFrom, 'audioFrom');
    const probe = await probeMedia(options.audioFrom, name, env);
    const stream = probe.streams.find((s) => s.codec_type === 'audio');
    if (stream !== undefined) {
      audio = {
        path: nodePath.resolve(options.audioFrom),
        streamIndex: stream.index,
        copy: MP4_FRIENDLY_AUDIO.has(stream.codec_name ?? ''),
      };
    }
  }

  const finalPath = nodePath.resolve(outPath);
  const folder = nodePath.dirname(finalPath);
  const stem = `.${nodePath.basename(finalPath)}.${process.pid}-${randomBytes(4).toString('hex')}`;
  const videoTemp = crashSafe ? recordingTempPath(finalPath) : nodePath.join(folder, `${stem}${audio ? '.video' : ''}.tmp.mp4`);
  const muxTemp = audio ? nodePath.join(folder, `${stem}.tmp.mp4`) : null;
  const temps = [videoTemp, ...(muxTemp ? [muxTemp] : [])];

  // RGB -> BT.709 limited range, tagged as such, so players and our decoder agree on colours.
  const args = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y'];
  args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-framerate', rate.text, '-i', 'pipe:0');
  args.push('-map', '0:v:0', '-vf', 'scale=out_color_matrix=bt709:out_range=tv,format=yuv420p');
  args.push('-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18', '-pix_fmt', 'yuv420p');
  args.push('-colorspace', 'bt709', '-color_primaries', 'bt709', '-color_trc', 'bt709', '-color_range', 'tv');
  if (crashSafe) {
    // Measured: SIGKILL 5 s into an encode left 4.2 s playable with 0.5 s fragments (3 s with a
    // fragment per keyframe). Written out as each fragment completes (-flush_packets).
    args.push('-force_key_frames', 'expr:gte(t,n_forced*1)', '-movflags', '+empty_moov+default_base_moof', '-frag_duration', '500000', '-flush_packets', '1');
    args.push('-f', 'mp4', `file:${videoTemp}`);
  } else {
    args.push('-movflags', '+faststart', '-f', 'mp4', `file:${videoTemp}`);
  }

  const child = spawn(binaries.ffmpeg, args, { stdio: ['pipe', 'ignore', 'pipe'], env, windowsHide: true, detached: options.ownProcessGroup === true });
  const run = watchChild(child);
  const stdin = child.stdin!;
  stdin.on('error', () => {
    // EPIPE when ffmpeg dies: reported through write()'s callback and the exit status.
  });

  const frameBytes = width * height * 3;
  let frames = 0;
  let state: 'open' | 'finishing' | 'done' | 'aborted' | 'failed' = 'open';
  let failure: PersonaLiveError | null = null;
  let finishing: Promise<{ frames: number; path: string }> | null = null;
  let muxRun: ReturnType<typeof watchChild> | null = null;

  const removeTemps = async (): Promise<void> => {
    await Promise.all(temps.map((temp) => rm(temp, { force: true })));
  };

  const fail = async (make: () => PersonaLiveError): Promise<never> => {
    if (failure === null) {
      await run.stop();
      const error = make();
      if (crashSafe) {
        // What was recorded before the failure is the user's footage: keep it.
        const kept = await keepPartialRecording(videoTemp, finalPath, env).catch(() => null);
        failure = kept
          ? new PersonaLiveError(error.code, `${error.message.replace(/\.?$/, '.')} The ${kept.seconds.toFixed(1)} s recorded before it are kept in "${kept.path}".`, { ...error.details, keptPath: kept.path, keptSeconds: kept.seconds }, { cause: error })
          : error;
      } else {
        await removeTemps();
        failure = error;
      }
      state = 'failed';
    }
    throw failure;
  };

  const ffmpegFailed = (stage: string, exit: ChildExit, stderr: string): PersonaLiveError => {
    if (exit.spawnError !== null) return spawnFailure('ffmpeg', binaries.ffmpeg, exit.spawnError);
    const said = shortenStderr(stderr, videoTemp) || 'no message';
    return new PersonaLiveError(
      'FFMPEG_FAILED',
      `ffmpeg failed while ${stage} ${argument} "${outPath}" after ${frames} frames ` +
        `(exit ${exit.code ?? exit.signal}): ${said}`,
      { outPath, frames, exitCode: exit.code, stderr },
    );
  };

  const write = async (rgb: Uint8Array): Promise<void> => {
    if (failure !== null) throw failure;
    if (state !== 'open') {
      throw new PersonaLiveError('INTERNAL', `Mp4Writer.write() called after ${state === 'aborted' ? 'abort()' : 'finish()'} for "${outPath}".`);
    }
    if (!(rgb instanceof Uint8Array) || rgb.length !== frameBytes) {
      throw new PersonaLiveError(
        'INTERNAL',
        `Mp4Writer.write(rgb): expected ${frameBytes} bytes (${width}x${height} RGB24), got ` +
          `${rgb instanceof Uint8Array ? `${rgb.length} bytes` : typeof rgb}.`,
      );
    }
    const error = await new Promise<Error | null | undefined>((resolve) => stdin.write(rgb, resolve));
    if (error) {
      const exit = await run.exited;
      return fail(() => ffmpegFailed('encoding', exit, run.stderrTail()));
    }
    frames += 1;
  };

  const mux = async (): Promise<void> => {
    if (audio === null || muxTemp === null) return;
    const seconds = ((frames * rate.den) / rate.num).toFixed(6);
    const muxArgs = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y'];
    muxArgs.push('-i', `file:${videoTemp}`, '-i', `file:${audio.path}`);
    muxArgs.push('-map', '0:v:0', '-map', `1:${audio.streamIndex}`, '-c:v', 'copy');
    muxArgs.push(...(audio.copy ? ['-c:a', 'copy'] : ['-c:a', 'aac', '-b:a', '192k']));
    muxArgs.push('-t', seconds, '-movflags', '+faststart', '-f', 'mp4', `file:${muxTemp}`);
    muxRun = watchChild(spawn(binaries.ffmpeg, muxArgs, { stdio: ['ignore', 'ignore', 'pipe'], env, windowsHide: true }));
    const exit = await muxRun.exited;
    if (exit.spawnError !== null || exit.code !== 0) {
      const stderr = muxRun.stderrTail();
      await fail(() => ffmpegFailed('adding the audio of "' + (options.audioFrom ?? '') + '" to', exit, stderr));
    }
    await rm(videoTemp, { force: true });
  };

  const finish = (): Promise<{ frames: number; path: string }> => {
    if (finishing !== null) return finishing;
    if (failure !== null) return Promise.reject(failure);
    if (state === 'aborted') {
      return Promise.reject(new PersonaLiveError('INTERNAL', `Mp4Writer.finish() called after abort() for "${outPath}".`));
    }
    state = 'finishing';
    finishing = (async () => {
      if (frames === 0) {
        await fail(() => new PersonaLiveError('INTERNAL', `Mp4Writer.finish() called before any frame was written to "${outPath}".`));
      }
      await new Promise<void>((resolve) => stdin.end(resolve));
      const exit = await run.exited;
      if (exit.spawnError !== null || exit.code !== 0) await fail(() => ffmpegFailed('encoding', exit, run.stderrTail()));
      await mux();
      if ((state as string) === 'aborted') throw new PersonaLiveError('INTERNAL', `Mp4Writer for "${outPath}" was aborted during finish().`);
      const target = crashSafe ? freePath(finalPath) : finalPath;
      try {
        await rename(muxTemp ?? videoTemp, target);
      } catch (error) {
        await removeTemps();
        failure = new PersonaLiveError(
          'OUTPUT_NOT_WRITABLE',
          `Could not move the finished video onto ${argument} "${outPath}" (${errnoText(error)}).`,
          { outPath },
          { cause: error },
        );
        state = 'failed';
        throw failure;
      }
      state = 'done';
      return { frames, path: target };
    })();
    return finishing;
  };

  const abort = async (): Promise<void> => {
    if (state === 'done' || state === 'aborted') return;
    state = 'aborted';
    stdin.destroy();
    await Promise.all([run.stop(), muxRun?.stop()]);
    await removeTemps();
  };

  return { write, finish, abort, tempPath: videoTemp };
}

