/**
 * `personalive animate`: reference portrait + driving video -> H.264 MP4, one output frame
 * per driving frame, driving audio copied. The output appears only when complete.
 */
import type { ExpressionControls } from '../kinds.js';
import { performance } from 'node:perf_hooks';
import { PersonaLiveError } from '../errors.js';
import type { DecoderChoice } from '../generators/personalive/engine.js';
import type { Device } from '../ort/onnx-runtime.js';
import { decodeVideoFrames } from '../media/decode.js';
import { assertWritableOutput, openMp4Writer, type Mp4Writer } from '../media/encode.js';
import { probeVideo } from '../media/probe.js';
import { fitSquare, loadImageRgb } from '../media/image.js';
import { createProgress } from '../media/progress.js';
import type { Generator, GeneratorStats } from '../generators/generator.js';
import type { Frame } from '../frames.js';
import { generatorEntry } from '../generators/registry.js';

export interface AnimateOptions {
  reference: string;
  driving: string;
  out: string;
  generator: string;
  packDir: string | null;
  device: Device;
  decoder?: DecoderChoice;
  maxFrames?: number;
  seed?: number;
  /** Output size for generators that choose it (meshwarp). */
  size?: number;
  progress: boolean;
  /** Aborts the render (Ctrl+C): the temporary output is removed. */
  signal?: AbortSignal;
  /** Expression controls for the built-in generator (absent: all 1, relative head pose). */
  expression?: ExpressionControls;
  /** The driving frame (0-based) that is the driver's neutral face (default: the first). */
  neutralFrame?: number;
}

export interface AnimateSummary {
  out: string;
  frames: number;
  drivingFrames: number;
  wallMs: number;
  fps: number;
  generator: string;
  device: Device;
  decoder: string | null;
  /** Execution providers per graph, as ONNX Runtime created each session. */
  providers: Record<string, readonly string[]>;
  /** Mean milliseconds per call of each stage. */
  stageMs: Record<string, number>;
  audio: boolean;
}

/**
 * Runs the whole offline render.
 * @throws PersonaLiveError for every input, pack, device or ffmpeg problem; nothing is left at `out`.
 */
export async function animate(options: AnimateOptions): Promise<AnimateSummary> {
  const started = performance.now();
  const entry = generatorEntry(options.generator);
  assertWritableOutput(options.out, '--out');
  const video = await probeVideo(options.driving, process.env, { argument: '--driving' });
  const reference = await loadImageRgb(options.reference, { argument: '--reference' });

  const generator: Generator = await entry.create({ packDir: options.packDir, device: options.device, decoder: options.decoder, seed: options.seed, size: options.size });
  if (options.expression) await generator.setExpressionControls?.(options.expression);
  let writer: Mp4Writer | null = null;
  const timings = { decodeMs: 0, encodeMs: 0 };
  try {
    const size = generator.outputSize.width;
    // No face box is known before the generator runs: centre square crop, resized to the model resolution.
    await generator.fuseReference(await fitSquare(reference, size)).catch((error: unknown) => {
      if (error instanceof PersonaLiveError && error.code === 'NO_FACE') {
        throw new PersonaLiveError('NO_FACE', `--reference "${options.reference}": ${error.message}`, { file: options.reference });
      }
      throw error;
    });
    writer = await openMp4Writer({ outPath: options.out, width: size, height: generator.outputSize.height, fpsRational: video.fpsRational, audioFrom: video.hasAudio ? options.driving : null });

    const total = options.maxFrames !== undefined && video.frameCountEstimate !== null ? Math.min(options.maxFrames, video.frameCountEstimate) : options.maxFrames ?? video.frameCountEstimate;
    const progress = createProgress({ total, label: 'animate', enabled: options.progress });
    let expectedIndex = 0;
    const write = async (frames: Frame[]): Promise<void> => {
      for (const frame of frames) {
        if (frame.warmup) continue; // the warm-up transition has no driving frame: offline output skips it
        if (frame.index !== expectedIndex) {
          throw new PersonaLiveError('INTERNAL', `generator emitted driving frame ${frame.index} where ${expectedIndex} was expected`);
        }
        expectedIndex++;
        const t0 = performance.now();
        await writer!.write(frame.data);
        timings.encodeMs += performance.now() - t0;
        progress.tick();
      }
    };

    let drivingFrames = 0;
    let t0 = performance.now();
    for await (const frame of decodeVideoFrames(options.driving, { width: size, height: size, maxFrames: options.maxFrames, info: video })) {
      timings.decodeMs += performance.now() - t0;
      if (options.signal?.aborted) throw new PersonaLiveError('INTERRUPTED', `interrupted after ${drivingFrames} frames; ${options.out} was not written`);
      drivingFrames++;
      // "This is my neutral face" at that frame: motion is measured from it on.
      if (options.neutralFrame !== undefined && frame.index === options.neutralFrame && options.neutralFrame > 0) {
        if (generator.calibrate) await generator.calibrate();
        else await generator.reset();
      }
      await write(await generator.push(frame));
      t0 = performance.now();
    }
    await write(await generator.flush());
    progress.done();
    if (expectedIndex !== drivingFrames) {
      throw new PersonaLiveError('INTERNAL', `generator produced ${expectedIndex} frames for ${drivingFrames} driving frames`);
    }
    const stats = await generator.stats();
    await writer.finish();
    writer = null;
    const wallMs = performance.now() - started;
    return {
      out: options.out,
      frames: expectedIndex,
      drivingFrames,
      wallMs: round(wallMs),
      fps: round((expectedIndex * 1000) / wallMs),
      generator: generator.name,
      device: options.device,
      decoder: stats.decoder ?? null,
      providers: stats.providers,
      stageMs: stageMeans(stats, timings, drivingFrames),
      audio: video.hasAudio,
    };
  } finally {
    if (writer) await writer.abort();
    await generator.close();
  }
}

function stageMeans(stats: GeneratorStats, io: { decodeMs: number; encodeMs: number }, frames: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [stage, t] of Object.entries(stats.stages)) out[stage] = round(t.totalMs / Math.max(1, t.count));
  out.ffmpeg_decode_per_frame = round(io.decodeMs / Math.max(1, frames));
  out.ffmpeg_encode_per_frame = round(io.encodeMs / Math.max(1, frames));
  return out;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
