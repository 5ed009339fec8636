/**
 * Decoding video to RGB24 frames through ffmpeg (files, and raw frames from any ffmpeg
 * input such as a webcam).
 */
import { spawn } from 'node:child_process';
import nodePath from 'node:path';
import { PersonaLiveError } from '../errors.js';
import { drivingFrame, type Frame } from '../frames.js';
import { assertDimension, describeInput, findFfmpeg, shortenStderr, spawnFailure, watchChild } from './ffmpeg.js';
import { probeVideo, type VideoInfo } from './probe.js';

/** Hands out the frame a decoder fills next. */
export type AcquireFrame = (width: number, height: number) => Frame;
const newFrame: AcquireFrame = (width, height) => drivingFrame(new Uint8Array(width * height * 3), width, height, 0, 0);


export interface DecodeOptions {
  width: number;
  height: number;
  /** Stop after this many frames (ffmpeg is told too, so it does not decode the rest). */
  maxFrames?: number;
  env?: NodeJS.ProcessEnv;
  /** How the caller names this input in messages, e.g. '--driving'. */
  argument?: string;
  /** This file's probeVideo result when the caller already has it (saves one ffprobe run). */
  info?: VideoInfo;
  /** Where frames are decoded into (a FramePool's acquire on the live path); a new frame each by default. */
  acquire?: AcquireFrame;
}

// ---------------------------------------------------------------------------------------
// Decoding

/**
 * Decodes a video's first video stream to RGB24 frames of width x height: scaled so the
 * shorter side fits, then centre-cropped to the target aspect, at the probed constant rate.
 * Frames are pulled from ffmpeg's stdout on demand, so a slow consumer slows ffmpeg down.
 * Stopping early (break, return, throw) kills ffmpeg and waits for it to be reaped. Each
 * frame has captureUs = index * 1e6 / fps and a buffer of its own unless `acquire` lends one.
 *
 * @throws PersonaLiveError VIDEO_NOT_FOUND, VIDEO_UNREADABLE (from probing), VIDEO_NO_FRAMES
 *   (nothing decoded, with ffmpeg's words if it failed), FFMPEG_FAILED (exit != 0 after
 *   some frames, with the stderr tail), FFMPEG_MISSING, USAGE (bad width/height/maxFrames).
 */
export async function* decodeVideoFrames(path: string, options: DecodeOptions): AsyncGenerator<Frame, void, undefined> {
  const { width, height, maxFrames } = options;
  const env = options.env ?? process.env;
  assertDimension('width', width, 'decodeVideoFrames');
  assertDimension('height', height, 'decodeVideoFrames');
  if (maxFrames !== undefined && !(Number.isInteger(maxFrames) && maxFrames >= 0)) {
    throw new PersonaLiveError('USAGE', `decodeVideoFrames: 'maxFrames' must be a non-negative integer, got ${String(maxFrames)}.`);
  }
  const name = describeInput('Video', path, options.argument);
  const info = options.info ?? (await probeVideo(path, env, { argument: options.argument }));
  if (maxFrames === 0) return;
  const { ffmpeg } = findFfmpeg(env);
  const absolute = nodePath.resolve(path);

  const filter = [
    `scale=${width}:${height}:force_original_aspect_ratio=increase:flags=lanczos`,
    `crop=${width}:${height}`,
    'setsar=1',
  ].join(',');
  const args = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-i', `file:${absolute}`];
  args.push('-map', '0:V:0', '-an', '-sn', '-dn', '-vf', filter, '-r', info.fpsRational);
  if (maxFrames !== undefined) args.push('-frames:v', String(maxFrames));
  args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1');

  const child = spawn(ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'], env, windowsHide: true });
  const run = watchChild(child);
  const stdout: AsyncIterable<Buffer> = child.stdout!;

  const frames = new RawFrameAssembler(width, height, options.acquire);
  let index = 0;
  let endedNaturally = false;
  try {
    for await (const chunk of stdout) {
      for (const frame of frames.push(chunk)) {
        frame.index = index;
        frame.captureUs = (index * 1e6) / info.fps;
        yield frame;
        index += 1;
        if (maxFrames !== undefined && index >= maxFrames) return;
      }
    }
    endedNaturally = true;
    const exit = await run.exited;
    if (exit.spawnError !== null) throw spawnFailure('ffmpeg', ffmpeg, exit.spawnError);
    const said = shortenStderr(run.stderrTail(), absolute);
    if (index === 0) {
      throw new PersonaLiveError(
        'VIDEO_NO_FRAMES',
        `${name} decodes to zero frames${said ? ` (ffmpeg said "${said}")` : ''}. Expected a video with at least one ` +
          'decodable frame; the file may be truncated or corrupt.',
        { path },
      );
    }
    if (exit.code !== 0) {
      throw new PersonaLiveError(
        'FFMPEG_FAILED',
        `ffmpeg failed while decoding ${name} after ${index} frames (exit ${exit.code ?? exit.signal}): ${said || 'no message'}`,
        { path, framesDecoded: index, exitCode: exit.code, stderr: run.stderrTail() },
      );
    }
    if (frames.partialBytes !== 0) {
      throw new PersonaLiveError(
        'FFMPEG_FAILED',
        `ffmpeg stopped in the middle of frame ${index} of ${name} (${frames.partialBytes} of ${frames.frameBytes} bytes).`,
        { path, framesDecoded: index },
      );
    }
  } finally {
    if (!endedNaturally) await run.stop();
  }
}

/**
 * Cuts a raw video byte stream (ffmpeg's rawvideo pipe) into whole frames. Each byte is
 * copied once, straight into the frame it belongs to; every frame is a buffer of its own
 * (the consumer may keep it).
 */
export class RawFrameAssembler {
  readonly frameBytes: number;
  private frame: Frame;
  private filled = 0;

  /** `acquire` gives the frame to fill next (a pool's, or a new one by default). */
  constructor(readonly width: number, readonly height: number, private readonly acquire: AcquireFrame = newFrame) {
    this.frameBytes = width * height * 3;
    this.frame = acquire(width, height);
  }

  /** Bytes of the frame not finished yet (non-zero at the end of a stream: a truncated frame). */
  get partialBytes(): number {
    return this.filled;
  }

  /** The frames this chunk completes, in order (index and captureUs are the caller's to set). */
  *push(chunk: Uint8Array): Generator<Frame, void, undefined> {
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(this.frameBytes - this.filled, chunk.length - offset);
      this.frame.data.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === this.frameBytes) {
        const done = this.frame;
        this.frame = this.acquire(this.width, this.height);
        this.filled = 0;
        yield done;
      }
    }
  }
}

