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
import type { DrivingSource, SourceOptions, SourceState } from './types.js';

export function webcamInputArgs(device: string, fps: number): string[] {
  return process.platform === 'linux' ? ['-f', 'v4l2', '-framerate', String(fps), '-i', device] : ['-i', device];
}

export function createWebcamSource(device: string, options: SourceOptions, inputArgs: string[] = webcamInputArgs(device, options.fps)): DrivingSource {
  let child: ChildProcess | null = null;
  let state: SourceState = 'waiting';
  let lastError: string | null = null;
  let stderr = '';
  let closing = false;
  const size = options.size;
  return {
    kind: 'webcam',
    description: `webcam ${device}`,
    async start(onFrame) {
      const { ffmpeg } = findFfmpeg();
      const filter = `scale=${size}:${size}:force_original_aspect_ratio=increase,crop=${size}:${size},setsar=1`;
      child = spawn(ffmpeg, ['-nostdin', '-hide_banner', '-loglevel', 'error', ...inputArgs, '-an', '-vf', filter, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true, detached: true });
      const frames = new RawFrameAssembler(size, size, (w, h) => options.pool.acquire(w, h));
      child.stdout!.on('data', (chunk: Buffer) => {
        for (const frame of frames.push(chunk)) {
          state = 'live';
          frame.captureUs = monotonicUs();
          onFrame(frame);
        }
      });
      child.stderr!.on('data', (chunk) => { stderr = (stderr + String(chunk)).slice(-2000); });
      child.on('exit', (code, signal) => {
        if (closing) return;
        state = 'error';
        lastError = `ffmpeg stopped reading ${device} (exit ${code ?? signal}): ${stderr.trim().split('\n').pop() ?? ''}`;
      });
      await new Promise<void>((resolve, reject) => {
        child!.once('error', (error) => reject(new PersonaLiveError('DRIVING_SOURCE_FAILED', `cannot start ffmpeg for ${device}: ${error.message}`)));
        child!.once('spawn', () => resolve());
      });
    },
    state: () => state,
    error: () => lastError,
    async close() {
      closing = true;
      if (child && child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child!.once('exit', r));
      }
      state = 'stopped';
    },
  };
}
