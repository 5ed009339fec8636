/** Probing media files with ffprobe: streams, size, frame rate, duration, audio. */
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import nodePath from 'node:path';
import { PersonaLiveError } from '../errors.js';
import { describeInput, errnoText, findFfmpeg, missingText, parseRational, runToEnd, shortenStderr, spawnFailure, type Rational } from './ffmpeg.js';
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

/** Checks the file is there and readable, then runs ffprobe on it. */
export async function probeMedia(path: string, name: string, env: NodeJS.ProcessEnv): Promise<ProbeResult> {
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


/**
 * How much video a (possibly truncated) file holds: its first video stream's packets read
 * to the end, and what they last at the stream's rate. null when ffprobe cannot read it or it
 * holds no video packet (a recording cut before its first fragment).
 */
export async function readableVideoLength(path: string, env: NodeJS.ProcessEnv = process.env): Promise<{ frames: number; seconds: number } | null> {
  const { ffprobe } = findFfmpeg(env);
  const args = ['-v', 'error', '-hide_banner', '-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=nb_read_packets,avg_frame_rate,r_frame_rate', '-of', 'json', `file:${nodePath.resolve(path)}`];
  const result = await runToEnd(ffprobe, args, env);
  if (result.spawnError !== null || result.code !== 0) return null;
  try {
    const stream = (JSON.parse(result.stdout) as { streams?: Array<{ nb_read_packets?: string; avg_frame_rate?: string; r_frame_rate?: string }> }).streams?.[0];
    const frames = Number(stream?.nb_read_packets ?? 0);
    const rate = parseRational(stream?.r_frame_rate) ?? parseRational(stream?.avg_frame_rate);
    if (!(frames > 0) || rate === null) return null;
    return { frames, seconds: frames / rate.value };
  } catch {
    return null;
  }
}
