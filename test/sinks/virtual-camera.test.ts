/**
 * The virtual-camera sink behind the live loop's one pacer: a fake writer and a fake clock
 * show that the device gets exactly one frame per period whatever the generator does, and
 * the real OBS queue writer (in-process shared memory) shows the reader's read_idx never
 * stalls.
 */
import { describe, expect, it } from 'vitest';
import { PersonaLiveError } from '../../daemon/errors.js';
import { createColourKernels, frameBytes, type PixelFormat } from '../../daemon/kernels/colour.js';
import { createInProcessSharedMemory } from '../../daemon/ffi/shared-memory.js';
import { OBS_QUEUE_HEADER, ObsVirtualCamWriter, obsQueueLayout } from '../../daemon/vcam/obs-virtualcam.js';
import { drivingFrame, type Frame, type RgbImage } from '../../daemon/frames.js';
import { CameraPictureStage } from '../../daemon/sinks/camera-picture.js';
import { VirtualCameraSink } from '../../daemon/sinks/virtual-camera.js';
import { FramePacer } from '../../daemon/transport/pacer.js';
import { openPlatformWriter } from '../../daemon/vcam/platform.js';
import type { FrameWriter, VirtualCameraConfig } from '../../daemon/vcam/writer.js';
import { FakeClock } from '../fixtures/fake-clock.js';

const W = 16;
const H = 8;
const PERIOD = 40_000; // 25 fps
const kernels = createColourKernels();

class FakeWriter implements FrameWriter {
  readonly kind = 'fake';
  readonly frames: { data: Uint8Array; timestampUs: number }[] = [];
  closed = false;
  fail: (() => void) | null = null;

  constructor(readonly format: PixelFormat, readonly width: number, readonly height: number) {}

  writeFrame(data: Uint8Array, timestampUs: number): void {
    this.fail?.();
    this.frames.push({ data: data.slice(), timestampUs });
  }

  close(): void {
    this.closed = true;
  }
}

/** A solid frame whose red channel encodes `n` (distinct NV12 per n). */
function rgbFrame(n: number): Uint8Array {
  const rgb = new Uint8Array(W * H * 3);
  for (let i = 0; i < rgb.length; i += 3) rgb.set([(n * 40) & 0xff, 100, 50], i);
  return rgb;
}

function converted(n: number, format: PixelFormat = 'NV12'): Buffer {
  const out = new Uint8Array(frameBytes(format, W, H));
  kernels.convert(format, rgbFrame(n), W, H, out);
  return Buffer.from(out);
}

/** A frame as the generator hands it to the pacer (a buffer of its own). */
const frameOf = (n: number, captureUs = 0): Frame => drivingFrame(rgbFrame(n), W, H, n, captureUs);

/** The sink behind a pacer, as the live loop wires them (write errors go to the sink, not the pacer). */
function paced(sink: VirtualCameraSink, clock: FakeClock, capacity = 4): FramePacer<Frame> {
  return new FramePacer<Frame>({ fpsNum: 25, fpsDen: 1, capacity, clock, onFrame: (frame, repeated, nowUs) => sink.write(frame, repeated, nowUs) });
}

function setup(format: PixelFormat = 'NV12', capacity?: number): { sink: VirtualCameraSink; pacer: FramePacer<Frame>; writer: FakeWriter; clock: FakeClock; errors: PersonaLiveError[] } {
  const clock = new FakeClock();
  const writer = new FakeWriter(format, W, H);
  const errors: PersonaLiveError[] = [];
  const sink = new VirtualCameraSink({ width: W, height: H, fpsNum: 25, fpsDen: 1, kernels, openWriter: () => writer, onError: (e) => errors.push(e) });
  const pacer = paced(sink, clock, capacity);
  return { sink, pacer, writer, clock, errors };
}

async function started(s: ReturnType<typeof setup>): Promise<ReturnType<typeof setup>> {
  await s.sink.start();
  s.pacer.start();
  return s;
}

/** Which generated frame (by number) each write carried. */
function identify(writer: FakeWriter, count: number, format: PixelFormat = 'NV12'): number[] {
  const known = Array.from({ length: count }, (_, n) => converted(n, format));
  return writer.frames.map((f) => known.findIndex((k) => k.equals(Buffer.from(f.data))));
}

describe('VirtualCameraSink behind the pacer, with a fake writer and a fake clock', () => {
  it('spreads a burst of 4 over 4 ticks, one per period, then repeats the last frame', async () => {
    const { sink, pacer, writer, clock } = await started(setup());
    for (let n = 0; n < 4; n++) pacer.push(frameOf(n));
    clock.advance(6 * PERIOD);
    expect(identify(writer, 4)).toEqual([0, 1, 2, 3, 3, 3, 3]);
    expect(writer.frames.map((f) => f.timestampUs)).toEqual([0, 1, 2, 3, 4, 5, 6].map((k) => k * PERIOD));
    const stats = sink.status();
    expect(stats).toMatchObject({ device: 'fake', format: 'NV12', received: 4, written: 7, repeated: 3, writeErrors: 0, kernels: kernels.implementation });
    expect(pacer.stats()).toMatchObject({ emitted: 4, repeated: 3, dropped: 0, queueDepth: 0 });
    // Capture at 0, shown at 0, 40, 80, 120 ms.
    expect(stats.latencyMaxUs).toBe(3 * PERIOD);
    expect(stats.latencyMeanUs).toBe(1.5 * PERIOD);
    pacer.stop();
    await sink.close();
    expect(writer.closed).toBe(true);
  });

  it('a late generator never leaves a tick without a frame (repeats fill the gaps)', async () => {
    const { sink, pacer, writer, clock } = await started(setup('YUYV'));
    for (let n = 0; n < 5; n++) {
      pacer.push(frameOf(n, clock.now));
      clock.advance(3 * PERIOD); // one frame every three periods
    }
    // Ticks at 0, 40, ..., 600 ms (16); frame n arrives just after the tick at n * 120 ms.
    const ids = identify(writer, 5, 'YUYV');
    expect(ids).toEqual([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]);
    expect(pacer.stats()).toMatchObject({ ticks: 16, emitted: 5, repeated: 11, idle: 0 });
    pacer.stop();
    await sink.close();
  });

  it('a generator running ahead loses its oldest frames, not latency', async () => {
    const { sink, pacer, writer, clock } = await started(setup('NV12', 2));
    for (let n = 0; n < 6; n++) pacer.push(frameOf(n));
    clock.advance(2 * PERIOD);
    expect(identify(writer, 6)).toEqual([4, 5, 5]);
    expect(pacer.stats()).toMatchObject({ dropped: 4, emitted: 2 });
    // Only the frames shown were converted.
    expect(sink.status().received).toBe(2);
    pacer.stop();
    await sink.close();
  });

  it('write errors are counted and reported once per run of failures; output resumes', async () => {
    const { sink, pacer, writer, clock, errors } = await started(setup());
    pacer.push(frameOf(1));
    writer.fail = () => {
      throw new PersonaLiveError('VCAM_FAILED', 'write to /dev/video10 failed: No such device (errno 19)');
    };
    clock.advance(3 * PERIOD);
    expect(sink.status()).toMatchObject({ writeErrors: 4, written: 0, lastError: 'write to /dev/video10 failed: No such device (errno 19)' });
    expect(errors).toHaveLength(1);
    writer.fail = null;
    clock.advance(PERIOD);
    expect(sink.status().written).toBe(1);
    writer.fail = () => {
      throw new Error('boom');
    };
    clock.advance(PERIOD);
    expect(errors).toHaveLength(2);
    expect(errors[1].code).toBe('VCAM_FAILED');
    expect(errors[1].message).toBe('virtual camera write failed: boom');
    pacer.stop();
    await sink.close();
  });

  it('refuses a frame of another size with VCAM_FAILED', async () => {
    const { sink } = setup();
    await sink.start();
    expect(() => sink.write(drivingFrame(new Uint8Array(12), 2, 2, 0, 0), false, 0)).toThrow(
      expect.objectContaining({ code: 'VCAM_FAILED', message: 'frame is 2x2 but the virtual camera was started at 16x8' }),
    );
    expect(() => sink.write(drivingFrame(new Uint8Array(5), W, H, 0, 0), false, 0)).toThrow(/'rgb' is 5 bytes/);
    // A refused frame leaves the sink working.
    for (let n = 0; n < 20; n++) sink.write(frameOf(n), false, n * PERIOD);
    expect(sink.status().received).toBe(20);
    await sink.close();
  });

  it('start() passes the writer\'s error through; frames before start or after close are ignored', async () => {
    const busy = new PersonaLiveError('VCAM_BUSY', "OBS's own virtual camera or another program is using OBS Virtual Camera; stop it first");
    const sink = new VirtualCameraSink({ width: W, height: H, fpsNum: 25, fpsDen: 1, openWriter: () => { throw busy; } });
    sink.write(frameOf(0), false, 0);
    await expect(sink.start()).rejects.toBe(busy);
    await sink.close();
    await expect(sink.start()).rejects.toThrow(/started after close\(\)/);
    sink.write(frameOf(0), false, 0);
    expect(sink.status().received).toBe(0);
    expect(() => new VirtualCameraSink({ width: 15, height: 8, fpsNum: 25, fpsDen: 1, openWriter: () => new FakeWriter('NV12', 15, 8) })).toThrow(/positive even integers, got 15x8/);
  });

  it('close() releases the device; ticks after it write nothing', async () => {
    const { sink, pacer, writer, clock } = await started(setup());
    pacer.push(frameOf(0));
    clock.advance(PERIOD);
    await sink.close();
    await sink.close();
    const count = writer.frames.length;
    clock.advance(10 * PERIOD);
    expect(writer.frames.length).toBe(count);
    pacer.stop();
    expect(clock.pending).toBe(0);
    expect(writer.closed).toBe(true);
  });
});

describe('VirtualCameraSink over the OBS queue writer (in-process shared memory)', () => {
  it('read_idx advances on every tick even while the generator is silent', async () => {
    const memory = createInProcessSharedMemory();
    const clock = new FakeClock();
    const openWriter = (config: VirtualCameraConfig): FrameWriter => ObsVirtualCamWriter.open({ ...config, name: 'vcam', backend: memory, resolutionFile: null });
    const sink = new VirtualCameraSink({ width: W, height: H, fpsNum: 25, fpsDen: 1, kernels, openWriter });
    await sink.start();
    const pacer = paced(sink, clock);
    pacer.start();
    const header = new DataView(memory.open('vcam', obsQueueLayout(W, H).size)!.buffer);
    pacer.push(frameOf(1));
    const readIdx: number[] = [];
    for (let k = 0; k < 12; k++) {
      clock.advance(PERIOD);
      readIdx.push(header.getUint32(OBS_QUEUE_HEADER.readIdx, true));
    }
    // The DirectShow filter drops a queue after 10 polls without a new index: it never sees one.
    expect(readIdx).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    pacer.stop();
    await sink.close();
    expect(header.getUint32(OBS_QUEUE_HEADER.state, true)).toBe(3);
  });
});

describe('the 16:9 camera picture (1280x720 NV12 through the OBS Virtual Camera queue)', () => {
  it('places a square animation on the background the picture asks for, and a new placement on the running camera moves it', async () => {
    const memory = createInProcessSharedMemory();
    const openWriter = (config: VirtualCameraConfig): FrameWriter => ObsVirtualCamWriter.open({ ...config, name: 'vcam-720', backend: memory, resolutionFile: null });
    const grey = new Uint8Array(1280 * 720 * 3).fill(40);
    const made: Array<RgbImage | null> = [];
    const picture = { placement: { scale: 1, x: 0.5, y: 0.5 }, background: async (reference: RgbImage | null) => { made.push(reference); return grey; } };
    const stage = new CameraPictureStage(1280, 720, picture);
    const sink = new VirtualCameraSink({ width: 1280, height: 720, fpsNum: 25, fpsDen: 1, kernels, openWriter, stage });
    await sink.start();
    expect(made).toEqual([null]); // a first background before any portrait
    const layout = obsQueueLayout(1280, 720);
    const queue = new Uint8Array(memory.open('vcam-720', layout.size)!.buffer);
    const view = new DataView(queue.buffer);
    /** The luma (Y) at (x, y) of the frame the reader would take now. */
    const luma = (x: number, y: number): number => {
      const slot = layout.slotOffsets[view.getUint32(OBS_QUEUE_HEADER.readIdx, true) % 3]! + 32;
      return queue[slot + y * 1280 + x]!;
    };
    const white = drivingFrame(new Uint8Array(512 * 512 * 3).fill(235), 512, 512, 0, 0);
    sink.write(white, false, 1);
    expect(luma(640, 360)).toBeGreaterThan(200); // the animation, centred, full height
    expect(luma(100, 360)).toBeLessThan(60); // the background beside it
    expect(luma(1180, 360)).toBeLessThan(60);
    stage.setPicture({ ...picture, placement: { scale: 0.5, x: 0, y: 0 } });
    await stage.ready();
    sink.write(white, false, 2);
    expect(luma(100, 100)).toBeGreaterThan(200); // moved to the top left
    expect(luma(640, 600)).toBeLessThan(60);
    const portrait: RgbImage = { data: new Uint8Array(4 * 4 * 3), width: 4, height: 4 };
    sink.referenceChanged(portrait);
    await stage.ready();
    expect(made.at(-1)).toBe(portrait); // a portrait gets its own (blurred) background
    await sink.close();
  });
});

describe('openPlatformWriter', () => {
  it('names the supported platforms when there is no virtual camera', () => {
    expect(() => openPlatformWriter({ width: W, height: H, fpsNum: 25, fpsDen: 1 }, {}, 'darwin')).toThrow(
      expect.objectContaining({ code: 'VCAM_UNAVAILABLE', message: 'no virtual camera on darwin: supported on win32, linux' }),
    );
  });
});
