/**
 * Driving frames from a V4L2 webcam through ffmpeg (-f v4l2), scaled and centre-cropped to
 * a square, stamped on arrival. `inputArgs` lets tests put ffmpeg's lavfi test source in
 * place of a device (there is no camera on CI machines).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { PersonaLiveError } from '../errors.js';
import { RawFrameAssembler } from '../media/decode.js';
import { findFfmpeg } from '../media/ffmpeg.js';
import { monotonicUs } from '../util/clock.js';
import type { Frame } from '../frames.js';
import type { DrivingSource, SourceOptions, SourceState } from './types.js';

export function webcamInputArgs(device: string, fps: number): string[] {
  return process.platform === 'linux' ? ['-f', 'v4l2', '-framerate', String(fps), '-i', device] : ['-i', device];
}

/** How long an unplugged (or busy) camera waits before the next try. */
export const WEBCAM_RETRY_MS = 2000;

/**
 * A camera that goes away (unplugged, taken by another app, ffmpeg killed) is tried again
 * every WEBCAM_RETRY_MS until it is back; meanwhile the state is 'error' with what happened
 * and the stream holds the last picture. Only the first start's spawn failure (no ffmpeg) throws.
 */
export function createWebcamSource(device: string, options: SourceOptions, inputArgs: string[] = webcamInputArgs(device, options.fps)): DrivingSource {
  let child: ChildProcess | null = null;
  let retry: NodeJS.Timeout | null = null;
  let state: SourceState = 'waiting';
  let lastError: string | null = null;
  let closing = false;
  const size = options.size;

  const spawnReader = (onFrame: (frame: Frame) => void): ChildProcess => {
    const { ffmpeg } = findFfmpeg();
    const filter = `scale=${size}:${size}:force_original_aspect_ratio=increase,crop=${size}:${size},setsar=1`;
    const reader = spawn(ffmpeg, ['-nostdin', '-hide_banner', '-loglevel', 'error', ...inputArgs, '-an', '-vf', filter, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true, detached: true });
    const frames = new RawFrameAssembler(size, size, (w, h) => options.pool.acquire(w, h));
    let stderr = '';
    reader.stdout!.on('data', (chunk: Buffer) => {
      for (const frame of frames.push(chunk)) {
        state = 'live';
        lastError = null;
        frame.captureUs = monotonicUs();
        onFrame(frame);
      }
    });
    reader.stderr!.on('data', (chunk) => { stderr = (stderr + String(chunk)).slice(-2000); });
    reader.on('error', () => undefined); // reported through 'exit' (or start()'s spawn check)
    reader.on('exit', (code, signal) => {
      if (closing) return;
      state = 'error';
      const said = stderr.trim().split('\n').pop() ?? '';
      lastError = `webcam ${device} stopped (ffmpeg exit ${code ?? signal}${said ? `: ${said}` : ''}); holding the last picture and trying again every ${WEBCAM_RETRY_MS / 1000} s (plugged out? another app using it?)`;
      retry = setTimeout(() => {
        retry = null;
        if (!closing) child = spawnReader(onFrame);
      }, WEBCAM_RETRY_MS);
      retry.unref();
    });
    return reader;
  };

  return {
    kind: 'webcam',
    description: `webcam ${device}`,
    async start(onFrame) {
      child = spawnReader(onFrame);
      await new Promise<void>((resolve, reject) => {
        child!.once('error', (error) => reject(new PersonaLiveError('DRIVING_SOURCE_FAILED', `cannot start ffmpeg for ${device}: ${error.message}`)));
        child!.once('spawn', () => resolve());
      });
    },
    state: () => state,
    error: () => lastError,
    async close() {
      closing = true;
      if (retry) clearTimeout(retry);
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child!.once('exit', r));
      }
      state = 'stopped';
    },
  };
}
