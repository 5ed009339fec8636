/**
 * Where paced output frames go: the plugin's output ring, the virtual camera, a recording
 * file, the panel's preview, or nowhere (soak runs). Each sink takes a frame per tick and
 * never blocks the tick: slow work (ffmpeg, JPEG) is dropped and counted when busy.
 */
import { PersonaLiveError, asPersonaLiveError } from '../errors.js';
import { openMp4Writer, type Mp4Writer } from '../media/ffmpeg.js';
import { PixelFormat } from '../ffi/ring-layout.js';
import { RingWriter } from '../transport/ring.js';
import { systemSharedMemory, type SharedMemoryBackend } from '../ffi/shared-memory.js';
import { createVirtualCameraSink } from '../vcam/platform.js';
import type { VirtualCameraSink } from '../vcam/sink.js';

export interface RgbFrame {
  rgb: Uint8Array;
  width: number;
  height: number;
  /** Capture time of the driving frame it animates (monotonic microseconds). */
  captureUs: number;
}

export interface OutputSink {
  readonly kind: string;
  /** One paced frame; `repeated` when the generator had nothing new. Must not block. */
  write(frame: RgbFrame, repeated: boolean): void;
  status(): Record<string, unknown>;
  close(): Promise<void>;
}

/** The plugin's output ring (RGB24); recreated when the frame size changes. */
export function createRingSink(name: string, fps: number, shm: SharedMemoryBackend = systemSharedMemory()): OutputSink {
  let writer: RingWriter | null = null;
  let written = 0;
  return {
    kind: 'ring',
    write(frame, repeated) {
      if (repeated) {
        writer?.heartbeat(); // OBS keeps the last frame; only tell it we are alive
        return;
      }
      if (!writer || writer.geometry.width !== frame.width || writer.geometry.height !== frame.height) {
        writer?.close();
        writer = new RingWriter(shm, { name, width: frame.width, height: frame.height, pixelFormat: PixelFormat.RGB24, fps: { num: fps, den: 1 } });
      }
      writer.publish(frame.rgb, frame.captureUs);
      written++;
    },
    status: () => ({ name, written, ...(writer ? { width: writer.geometry.width, height: writer.geometry.height } : {}) }),
    async close() {
      writer?.close();
      writer = null;
    },
  };
}

/** The system virtual camera (v4l2loopback / OBS Virtual Camera), paced by its own sink at the output rate. */
export async function createVirtualCameraOutput(options: { width: number; height: number; fps: number; device: string; format: 'YUYV' | 'NV12'; onError: (error: PersonaLiveError) => void }): Promise<OutputSink> {
  const sink: VirtualCameraSink = createVirtualCameraSink({
    width: options.width,
    height: options.height,
    fpsNum: options.fps,
    fpsDen: 1,
    device: options.device === 'auto' ? undefined : options.device,
    format: options.format,
    onError: options.onError,
  });
  await sink.start();
  return {
    kind: 'virtualCamera',
    write(frame, repeated) {
      if (repeated) return; // the camera sink repeats by itself at its declared rate
      sink.write({ rgb: frame.rgb, width: frame.width, height: frame.height, captureUs: frame.captureUs });
    },
    status: () => {
      const s = sink.stats();
      return { written: s.written, writeErrors: s.writeErrors, lastError: s.lastError, repeated: s.pacer.repeated };
    },
    close: () => sink.close(),
  };
}

/**
 * A recording to an MP4 file at the output rate, repeats included (the file plays in real
 * time). Written through ffmpeg under a temp name, renamed at close.
 */
export async function createRecordingSink(path: string, width: number, height: number, fps: number, onError: (error: PersonaLiveError) => void): Promise<OutputSink> {
  const writer: Mp4Writer = await openMp4Writer({ outPath: path, width, height, fpsRational: `${fps}/1`, argument: 'output.recording.path', ownProcessGroup: true });
  /** The frame ffmpeg is taking now; at most one in flight (a busy encoder drops, never queues). */
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
      inFlight = writer.write(frame.rgb).then(
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

/** Keeps the newest frame for the panel's preview (encoded on demand, off the tick). */
export function createPreviewSink(): OutputSink & { latest(): RgbFrame | null } {
  let latest: RgbFrame | null = null;
  let copy: Uint8Array | null = null;
  return {
    kind: 'preview',
    write(frame, repeated) {
      if (repeated) return;
      if (!copy || copy.length !== frame.rgb.length) copy = new Uint8Array(frame.rgb.length);
      copy.set(frame.rgb);
      latest = { rgb: copy, width: frame.width, height: frame.height, captureUs: frame.captureUs };
    },
    latest: () => latest,
    status: () => ({ hasFrame: latest !== null }),
    async close() {
      latest = null;
    },
  };
}

/** Counts frames and drops them (soak runs, benchmarks). */
export function createNullSink(): OutputSink {
  let written = 0;
  return {
    kind: 'null',
    write() {
      written++;
    },
    status: () => ({ written }),
    async close() {},
  };
}
