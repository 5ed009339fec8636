/**
 * The ffmpeg adapter: the only module that spawns ffmpeg or ffprobe. Everything here runs
 * the binaries directly (never through a shell) and reports failures as PersonaLiveError
 * with the file, the argument and what was expected.
 *
 * Inputs are passed as `file:<absolute path>` so that a name starting with '-' is not read
 * as an option and a name containing ':' is not read as a protocol.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import nodePath from 'node:path';
import { PersonaLiveError } from '../errors.js';

export interface FfmpegBinaries {
  ffmpeg: string;
  ffprobe: string;
}

export interface VideoInfo {
  /** Display width in pixels (after any rotation metadata, as ffmpeg decodes it). */
  width: number;
  height: number;
  fps: number;
  /** The frame rate as ffmpeg writes it, e.g. '25/1' or '30000/1001'. */
  fpsRational: string;
  durationSec: number | null;
  frameCountEstimate: number | null;
  hasAudio: boolean;
  audioCodec: string | null;
}

export interface DecodedFrame {
  /** RGB24, width*height*3 bytes, a buffer of its own (the consumer may keep it). */
  data: Uint8Array;
  index: number;
  /** index * 1000 / fps. */
  timestampMs: number;
}

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
}

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
  /** Kills ffmpeg and removes the temp files; outPath is never touched. Safe to call twice. */
  abort(): Promise<void>;
}

/** Codecs an MP4 carries that every common player plays: copied instead of re-encoded. */
const MP4_FRIENDLY_AUDIO = new Set(['aac', 'mp3', 'alac']);
const STDERR_KEEP_CHARS = 8192;

// ---------------------------------------------------------------------------------------
// Locating the binaries

/**
 * Finds ffmpeg and ffprobe on env.PATH (no shell involved).
 * @throws PersonaLiveError FFMPEG_MISSING naming the missing binary, the PATH searched and how to install.
 */
export function findFfmpeg(env: NodeJS.ProcessEnv = process.env): FfmpegBinaries {
  const pathValue = env.PATH ?? env.Path ?? '';
  const dirs = pathValue.split(nodePath.delimiter).filter((dir) => dir.length > 0);
  const ffmpeg = lookUpBinary('ffmpeg', dirs, env);
  const ffprobe = lookUpBinary('ffprobe', dirs, env);
  if (ffmpeg !== null && ffprobe !== null) return { ffmpeg, ffprobe };

  const missing = [ffmpeg === null ? 'ffmpeg' : null, ffprobe === null ? 'ffprobe' : null].filter(Boolean).join(' and ');
  const searched = dirs.length > 0 ? dirs.join(nodePath.delimiter) : '(PATH is empty)';
  throw new PersonaLiveError(
    'FFMPEG_MISSING',
    `${missing} not found on PATH (searched: ${searched}). PersonaLive needs both ffmpeg and ffprobe to read ` +
      'the driving video and write the MP4. Install ffmpeg (Debian/Ubuntu: sudo apt-get install ffmpeg; ' +
      'macOS: brew install ffmpeg; Windows: winget install Gyan.FFmpeg) and make sure its folder is on PATH.',
    { missing: missing.split(' and '), path: pathValue },
  );
}

function lookUpBinary(name: string, dirs: string[], env: NodeJS.ProcessEnv): string | null {
  const extensions =
    process.platform === 'win32' ? (env.PATHEXT ?? '.EXE;.CMD;.BAT;.COM').split(';').filter(Boolean) : [''];
  for (const dir of dirs) {
    for (const extension of extensions) {
      const candidate = nodePath.join(dir, name + extension.toLowerCase());
      if (isExecutableFile(candidate)) return candidate;
    }
  }
  return null;
}

function isExecutableFile(candidate: string): boolean {
  try {
    if (!statSync(candidate).isFile()) return false;
    accessSync(candidate, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// Probing

interface ProbeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  duration?: string;
  nb_frames?: string;
  disposition?: { attached_pic?: number };
  tags?: { rotate?: string };
  side_data_list?: Array<{ rotation?: number }>;
}

interface ProbeResult {
  streams: ProbeStream[];
  format?: { duration?: string; format_name?: string };
}

/**
 * Reads a video's geometry, rate, duration and audio with ffprobe.
 *
 * fpsRational comes from avg_frame_rate, falling back to r_frame_rate; when the two agree
 * within 1% the nominal r_frame_rate wins, because an MP4 edit list skews the average
 * (the demo driving.mp4 reports avg 41025/1643 for frames that are exactly 25 fps).
 *
 * @throws PersonaLiveError VIDEO_NOT_FOUND (missing, a folder, unreadable), VIDEO_UNREADABLE
 *   (not media, or no video stream), FFMPEG_MISSING.
 */
export async function probeVideo(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  options: { argument?: string } = {},
): Promise<VideoInfo> {
  const name = describeInput('Video', path, options.argument);
  const probe = await probeMedia(path, name, env);
  const video = probe.streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  if (video === undefined) {
    throw new PersonaLiveError(
      'VIDEO_UNREADABLE',
      `${name} has no video stream (ffprobe found: ${listStreams(probe.streams)}). Expected a video file ` +
        'with at least one video stream (MP4, MOV, WebM, MKV...).',
      { path },
    );
  }
  let width = video.width ?? 0;
  let height = video.height ?? 0;
  if (!(width > 0 && height > 0)) {
    throw new PersonaLiveError(
      'VIDEO_UNREADABLE',
      `${name}: ffprobe reports no frame size for its video stream (${video.codec_name ?? 'unknown codec'}). ` +
        'Expected a video with a positive width and height.',
      { path },
    );
  }
  const rotation = Number(video.tags?.rotate ?? video.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? 0);
  if (Math.abs(rotation) % 180 === 90) [width, height] = [height, width];

  const rate = chooseFrameRate(video);
  if (rate === null) {
    throw new PersonaLiveError(
      'VIDEO_UNREADABLE',
      `${name}: ffprobe reports no usable frame rate (avg_frame_rate=${video.avg_frame_rate ?? 'none'}, ` +
        `r_frame_rate=${video.r_frame_rate ?? 'none'}). Expected a video with a known frame rate.`,
      { path },
    );
  }
  const durationSec = positiveNumber(video.duration) ?? positiveNumber(probe.format?.duration);
  const packets = positiveNumber(video.nb_frames);
  // nb_frames counts packets, including any an edit list hides; duration*fps is what decodes.
  const frameCountEstimate = durationSec !== null ? Math.round(durationSec * rate.value) : packets;
  const audio = probe.streams.find((s) => s.codec_type === 'audio');
  return {
    width,
    height,
    fps: rate.value,
    fpsRational: rate.text,
    durationSec,
    frameCountEstimate,
    hasAudio: audio !== undefined,
    audioCodec: audio?.codec_name ?? null,
  };
}

interface Rational {
  num: number;
  den: number;
  value: number;
  text: string;
}

function parseRational(text: string | undefined): Rational | null {
  if (text === undefined) return null;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(\d+(?:\.\d+)?))?\s*$/.exec(text);
  if (match === null) return null;
  const num = Number(match[1]);
  const den = match[2] === undefined ? 1 : Number(match[2]);
  if (!(num > 0 && den > 0) || !Number.isFinite(num / den)) return null;
  return { num, den, value: num / den, text: `${match[1]}/${match[2] ?? '1'}` };
}

function chooseFrameRate(stream: ProbeStream): Rational | null {
  const average = parseRational(stream.avg_frame_rate);
  const nominal = parseRational(stream.r_frame_rate);
  if (average !== null && nominal !== null && Math.abs(average.value - nominal.value) / nominal.value < 0.01) {
    return nominal;
  }
  return average ?? nominal;
}

function positiveNumber(text: string | number | undefined): number | null {
  if (text === undefined) return null;
  const value = Number(text);
  return Number.isFinite(value) && value > 0 ? value : null;
}

function listStreams(streams: ProbeStream[]): string {
  if (streams.length === 0) return 'no streams at all';
  return streams.map((s) => `${s.codec_type ?? 'unknown'} (${s.codec_name ?? 'unknown codec'})`).join(', ');
}

function describeInput(kind: string, path: string, argument: string | undefined): string {
  return `${kind} "${path}"${argument ? ` (${argument})` : ''}`;
}

/** Checks the file is there and readable, then runs ffprobe on it. */
async function probeMedia(path: string, name: string, env: NodeJS.ProcessEnv): Promise<ProbeResult> {
  assertReadableFile(path, name);
  const { ffprobe } = findFfmpeg(env);
  const absolute = nodePath.resolve(path);
  const args = ['-v', 'error', '-hide_banner', '-print_format', 'json', '-show_streams', '-show_format', `file:${absolute}`];
  const result = await runToEnd(ffprobe, args, env);
  if (result.spawnError !== null) throw spawnFailure('ffprobe', ffprobe, result.spawnError);
  if (result.code !== 0) {
    const said = shortenStderr(result.stderr, absolute) || `exit code ${result.code ?? result.signal}`;
    throw new PersonaLiveError(
      'VIDEO_UNREADABLE',
      `${name} could not be read as a video: ffprobe said "${said}". Expected a video file ffmpeg can decode ` +
        '(MP4, MOV, WebM, MKV...).',
      { path, ffprobe: said },
    );
  }
  try {
    const parsed = JSON.parse(result.stdout) as Partial<ProbeResult>;
    return { streams: Array.isArray(parsed.streams) ? parsed.streams : [], format: parsed.format };
  } catch (error) {
    throw new PersonaLiveError('VIDEO_UNREADABLE', `${name}: ffprobe printed output that is not JSON.`, { path }, { cause: error });
  }
}

function assertReadableFile(path: string, name: string): void {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (error) {
    throw new PersonaLiveError(
      'VIDEO_NOT_FOUND',
      `${name} ${missingText(error)}. Expected the path of a video file such as an MP4.`,
      { path },
      { cause: error },
    );
  }
  if (stats.isDirectory()) {
    throw new PersonaLiveError('VIDEO_NOT_FOUND', `${name} is a folder, not a video file. Expected the path of a video file such as an MP4.`, {
      path,
    });
  }
  try {
    accessSync(path, constants.R_OK);
  } catch (error) {
    throw new PersonaLiveError('VIDEO_NOT_FOUND', `${name} cannot be read (${errnoText(error)}). Expected a readable video file.`, { path }, {
      cause: error,
    });
  }
}

// ---------------------------------------------------------------------------------------
// Decoding

/**
 * Decodes a video's first video stream to RGB24 frames of width x height: scaled so the
 * shorter side fits, then centre-cropped to the target aspect, at the probed constant rate.
 * Frames are pulled from ffmpeg's stdout on demand, so a slow consumer slows ffmpeg down.
 * Stopping early (break, return, throw) kills ffmpeg and waits for it to be reaped.
 *
 * @throws PersonaLiveError VIDEO_NOT_FOUND, VIDEO_UNREADABLE (from probing), VIDEO_NO_FRAMES
 *   (nothing decoded, with ffmpeg's words if it failed), FFMPEG_FAILED (exit != 0 after
 *   some frames, with the stderr tail), FFMPEG_MISSING, USAGE (bad width/height/maxFrames).
 */
export async function* decodeVideoFrames(path: string, options: DecodeOptions): AsyncGenerator<DecodedFrame, void, undefined> {
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

  const frames = new RawFrameAssembler(width * height * 3);
  let index = 0;
  let endedNaturally = false;
  try {
    for await (const chunk of stdout) {
      for (const data of frames.push(chunk)) {
        yield { data, index, timestampMs: (index * 1000) / info.fps };
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
  private frame: Uint8Array;
  private filled = 0;

  constructor(readonly frameBytes: number) {
    this.frame = new Uint8Array(frameBytes);
  }

  /** Bytes of the frame not finished yet (non-zero at the end of a stream: a truncated frame). */
  get partialBytes(): number {
    return this.filled;
  }

  /** The frames this chunk completes, in order. */
  *push(chunk: Uint8Array): Generator<Uint8Array, void, undefined> {
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(this.frameBytes - this.filled, chunk.length - offset);
      this.frame.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === this.frameBytes) {
        const done = this.frame;
        this.frame = new Uint8Array(this.frameBytes);
        this.filled = 0;
        yield done;
      }
    }
  }
}

function assertDimension(field: string, value: number, where: string, even = false): void {
  if (!(Number.isInteger(value) && value > 0 && value <= 16384) || (even && value % 2 !== 0)) {
    const expected = even ? 'an even integer from 2 to 16384 (H.264 with yuv420p needs even sizes)' : 'an integer from 1 to 16384';
    throw new PersonaLiveError('USAGE', `${where}: '${field}' must be ${expected}, got ${String(value)}.`, { [field]: value });
  }
}

// ---------------------------------------------------------------------------------------
// Output

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
  const videoTemp = nodePath.join(folder, `${stem}${audio ? '.video' : ''}.tmp.mp4`);
  const muxTemp = audio ? nodePath.join(folder, `${stem}.tmp.mp4`) : null;
  const temps = [videoTemp, ...(muxTemp ? [muxTemp] : [])];

  // RGB -> BT.709 limited range, tagged as such, so players and our decoder agree on colours.
  const args = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y'];
  args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-framerate', rate.text, '-i', 'pipe:0');
  args.push('-map', '0:v:0', '-vf', 'scale=out_color_matrix=bt709:out_range=tv,format=yuv420p');
  args.push('-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18', '-pix_fmt', 'yuv420p');
  args.push('-colorspace', 'bt709', '-color_primaries', 'bt709', '-color_trc', 'bt709', '-color_range', 'tv');
  args.push('-movflags', '+faststart', '-f', 'mp4', `file:${videoTemp}`);

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
      await removeTemps();
      failure = make();
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
      try {
        await rename(muxTemp ?? videoTemp, finalPath);
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
      return { frames, path: finalPath };
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

  return { write, finish, abort };
}

// ---------------------------------------------------------------------------------------
// Child-process plumbing

interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  spawnError: Error | null;
}

/**
 * Collects a child's stderr tail and exit, and offers stop(): SIGTERM, SIGKILL after a
 * grace period, then wait for 'close' so the process is reaped (no zombie).
 */
function watchChild(child: ChildProcess): { exited: Promise<ChildExit>; stderrTail(): string; stop(): Promise<void> } {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_KEEP_CHARS);
  });
  child.stderr?.on('error', () => {});
  let settled = false;
  const exited = new Promise<ChildExit>((resolve) => {
    // 'error' is kept listening for good: a failed kill() emits it too and must not go unhandled.
    child.on('error', (error) => {
      if (child.pid === undefined && !settled) {
        settled = true;
        resolve({ code: null, signal: null, spawnError: error });
      }
    });
    child.on('close', (code, signal) => {
      if (!settled) {
        settled = true;
        resolve({ code, signal, spawnError: null });
      }
    });
  });
  const stop = async (): Promise<void> => {
    if (!settled && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    } else {
      await exited;
    }
  };
  return { exited, stderrTail: () => stderr, stop };
}

async function runToEnd(
  binary: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError: Error | null; stdout: string; stderr: string }> {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env, windowsHide: true });
  const run = watchChild(child);
  let stdout = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (text: string) => {
    stdout += text;
  });
  const exit = await run.exited;
  return { ...exit, stdout, stderr: run.stderrTail() };
}

function spawnFailure(name: string, binary: string, error: Error): PersonaLiveError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'EACCES') {
    return new PersonaLiveError(
      'FFMPEG_MISSING',
      `${name} at "${binary}" could not be started (${code}). Install ffmpeg (apt-get install ffmpeg, brew install ffmpeg, ` +
        'winget install Gyan.FFmpeg) and make sure it is on PATH.',
      { binary },
      { cause: error },
    );
  }
  return new PersonaLiveError('FFMPEG_FAILED', `${name} at "${binary}" could not be started: ${error.message}`, { binary }, { cause: error });
}

/** The last few meaningful stderr lines, on one line, without our long file: paths. */
function shortenStderr(stderr: string, absolutePath: string, maxChars = 400): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((line) => line.split(`file:${absolutePath}`).join(nodePath.basename(absolutePath)).trim())
    .filter((line) => line.length > 0);
  let text = lines.slice(-4).join(' | ');
  if (text.length > maxChars) text = `...${text.slice(-(maxChars - 3))}`;
  return text;
}

/** 'does not exist' for ENOENT, otherwise 'cannot be accessed (<reason>)'. */
function missingText(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' ? 'does not exist' : `cannot be accessed (${errnoText(error)})`;
}

function errnoText(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or folder';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a folder';
    default:
      return code ?? (error instanceof Error ? error.message : String(error));
  }
}
