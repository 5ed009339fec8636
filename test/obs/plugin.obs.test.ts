/**
 * The PersonaLive plugin inside a real OBS 29 (headless under Xvfb), driven through
 * obs-websocket like the daemon drives it: frames written by the daemon's ring writer
 * appear in the output source, the capture filter feeds the daemon's ring reader, hotkeys
 * arrive as vendor events, and either side dying leaves the other running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VendorEvent } from '../../daemon/obs/obs-client.js';
import { PixelFormat } from '../../daemon/ffi/ring-layout.js';
import { RingReader, RingWriter, monotonicUs } from '../../daemon/transport/ring.js';
import { systemSharedMemory } from '../../daemon/ffi/shared-memory.js';
import { eventually } from '../helpers/eventually.js';
import { requireObs, screenshotPixels, startObs, type ObsInstance } from '../helpers/obs-harness.js';

const obsAvailable = requireObs();
const shm = systemSharedMemory();
const ringName = (label: string): string => `personalive-obs-test-${process.pid}-${label}`;
/** The placeholder's background (plugin/src/placeholder.c). */
const PLACEHOLDER_RGB = [24, 24, 32];
const writerScript = fileURLToPath(new URL('../fixtures/ring-writer.ts', import.meta.url));

/** A test frame: left half one colour, right half another. */
function twoColourFrame(width: number, height: number, left: number[], right: number[]): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) rgb.set(x < width / 2 ? left : right, (y * width + x) * 3);
  }
  return rgb;
}

describe.skipIf(obsAvailable.skip)('the OBS plugin in a real headless OBS', () => {
  let instance: ObsInstance;
  const cleanups: (() => void)[] = [];

  const screenshot = async (sourceName: string) => {
    const { imageData } = await instance.client.call('GetSourceScreenshot', { sourceName, imageFormat: 'png' });
    return screenshotPixels(imageData);
  };
  const pixel = (shot: { width: number; rgba: Uint8Array }, x: number, y: number): number[] => {
    const i = (y * shot.width + x) * 4;
    return [shot.rgba[i], shot.rgba[i + 1], shot.rgba[i + 2]];
  };
  const createOutputSource = async (inputName: string, ring: string, holdMs = 300): Promise<void> => {
    await instance.client.call('CreateInput', { sceneName: 'Scene', inputName, inputKind: 'personalive_output_source', inputSettings: { ring_name: ring, hold_ms: holdMs } });
  };

  beforeAll(async () => {
    instance = await startObs();
  }, 120_000);

  afterAll(async () => {
    for (const cleanup of cleanups) cleanup();
    await instance?.stop();
    // Writers killed on purpose (and OBS itself) cannot remove their objects.
    for (const label of ['out', 'out-2', 'drv', 'crash']) shm.unlink(ringName(label));
  });

  it('loads the plugin and lists its source and filter kinds', async () => {
    expect(instance.log()).toMatch(/\[personalive\] version \S+ loaded/);
    const { inputKinds } = await instance.client.call('GetInputKindList', { unversioned: false });
    expect(inputKinds).toContain('personalive_output_source');
    const filter = await instance.client.call('GetSourceFilterDefaultSettings', { filterKind: 'personalive_driving_filter' });
    expect(filter.defaultFilterSettings).toMatchObject({ ring_name: 'personalive-driving', fps: 25, width: 512, height: 512, crop: false });
    const source = await instance.client.call('GetInputDefaultSettings', { inputKind: 'personalive_output_source' });
    expect(source.defaultInputSettings).toMatchObject({ ring_name: 'personalive-output', hold_ms: 1000 });
  });

  it('shows the frames the daemon writes into the output ring, pixel for pixel', async () => {
    const ring = ringName('out');
    const writer = new RingWriter(shm, { name: ring, width: 64, height: 48, pixelFormat: PixelFormat.RGB24, fps: { num: 30, den: 1 } });
    cleanups.push(() => writer.close());
    await createOutputSource('PL Output', ring);
    const frames = [
      [[255, 0, 0], [0, 0, 255]],
      [[10, 200, 30], [250, 250, 250]],
      [[0, 0, 0], [128, 64, 32]],
    ];
    for (const [left, right] of frames) {
      const rgb = twoColourFrame(64, 48, left!, right!);
      const shot = await eventually(`frame ${JSON.stringify([left, right])} in the screenshot`, async () => {
        writer.publish(rgb, monotonicUs());
        const s = await screenshot('PL Output');
        return pixel(s, 5, 5).join() === left!.join() ? s : null;
      });
      expect([shot.width, shot.height]).toEqual([64, 48]);
      for (const [x, y] of [[0, 0], [31, 47], [10, 20]]) expect(pixel(shot, x!, y!)).toEqual(left);
      for (const [x, y] of [[32, 0], [63, 47], [50, 20]]) expect(pixel(shot, x!, y!)).toEqual(right);
    }
  });

  it('feeds a colour source through the Driving Capture filter into the daemon\'s reader', async () => {
    const ring = ringName('drv');
    await instance.client.call('CreateInput', { sceneName: 'Scene', inputName: 'PL Colour', inputKind: 'color_source_v3', inputSettings: { color: 0xff20c040, width: 320, height: 240 } });
    await instance.client.call('CreateSourceFilter', { sourceName: 'PL Colour', filterName: 'PL Capture', filterKind: 'personalive_driving_filter', filterSettings: { ring_name: ring, fps: 20, width: 64, height: 48 } });
    const reader = new RingReader(shm, ring);
    cleanups.push(() => reader.close());
    const numbers: number[] = [];
    while (numbers.length < 5) {
      const frame = await eventually('a driving frame', async () => reader.readLatest());
      expect({ width: frame.width, height: frame.height, format: frame.pixelFormat }).toEqual({ width: 64, height: 48, format: PixelFormat.BGRA });
      // color_source_v3 stores ABGR: 0xff20c040 is R=0x40 G=0xc0 B=0x20, staged as BGRA.
      for (let i = 0; i < frame.pixels.length; i += 4 * 37) expect([...frame.pixels.subarray(i, i + 4)]).toEqual([0x20, 0xc0, 0x40, 255]);
      expect(Math.abs(monotonicUs() - frame.captureUs)).toBeLessThan(2_000_000); // OBS and the daemon share the clock
      numbers.push(frame.frameNumber);
    }
    for (let i = 1; i < numbers.length; i++) expect(numbers[i]).toBeGreaterThan(numbers[i - 1]!);
    await instance.client.call('SetInputSettings', { inputName: 'PL Colour', inputSettings: { color: 0xff0000ff } });
    const red = await eventually('the new colour', async () => {
      const frame = reader.readLatest();
      return frame && frame.pixels[2] === 255 && frame.pixels[1] === 0 ? frame : null;
    });
    expect([...red.pixels.subarray(0, 4)]).toEqual([0, 0, 255, 255]);
  });

  it('sends a hotkey press as a VendorEvent and answers the status vendor request', async () => {
    const received = new Promise<VendorEvent>((resolve) => instance.client.once('vendorEvent', resolve));
    await instance.client.call('TriggerHotkeyByName', { hotkeyName: 'personalive.reference.slot3' });
    const event = await Promise.race([received, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no VendorEvent in 5 s')), 5000))]);
    expect(event).toEqual({ vendorName: 'personalive', eventType: 'HotkeyPressed', eventData: { hotkey: 'personalive.reference.slot3', action: 'reference.slot', slot: 3 } });
    const next = new Promise<VendorEvent>((resolve) => instance.client.once('vendorEvent', resolve));
    await instance.client.call('TriggerHotkeyByName', { hotkeyName: 'personalive.reference.next' });
    expect((await next).eventData).toMatchObject({ action: 'reference.next' });
    const neutral = new Promise<VendorEvent>((resolve) => instance.client.once('vendorEvent', resolve));
    await instance.client.call('TriggerHotkeyByName', { hotkeyName: 'personalive.expression.calibrate' });
    expect((await neutral).eventData).toEqual({ hotkey: 'personalive.expression.calibrate', action: 'expression.calibrate' });

    const data = (await instance.client.callVendor('GetStatus')) as { outputs: Record<string, unknown>[]; filters: Record<string, unknown>[]; ringVersion: number };
    expect(data.ringVersion).toBe(1);
    const output = data.outputs.find((o) => o.ring === ringName('out'));
    expect(output).toMatchObject({ connected: true, width: 64, height: 48 });
    expect(output!.framesShown as number).toBeGreaterThan(0);
    const filter = data.filters.find((f) => f.ring === ringName('drv'));
    expect(filter).toBeDefined();
    expect(filter!.framesWritten as number).toBeGreaterThan(4);
  });

  it('shows the offline placeholder when the writer process is killed, and resumes with a new writer', async () => {
    const ring = ringName('crash');
    const startWriter = async (): Promise<ChildProcess> => {
      const child = spawn(process.execPath, ['--import', 'tsx', writerScript, ring, '64', '48', '30'], { stdio: ['ignore', 'pipe', 'inherit'] });
      await once(child.stdout!, 'data');
      cleanups.push(() => child.kill('SIGKILL'));
      return child;
    };
    const isWriterFrame = (s: { width: number; rgba: Uint8Array }): boolean => {
      const [r, g, b] = pixel(s, 3, 3);
      return r === g && g === b && [r, g, b].join() !== PLACEHOLDER_RGB.join();
    };
    const writer = await startWriter();
    await createOutputSource('PL Crash', ring, 300);
    await eventually('frames from the writer process', async () => isWriterFrame(await screenshot('PL Crash')));
    writer.kill('SIGKILL');
    await once(writer, 'exit');
    const killedAt = Date.now();
    await eventually('the offline placeholder', async () => pixel(await screenshot('PL Crash'), 1, 1).join() === PLACEHOLDER_RGB.join(), 8000);
    const placeholderAfterMs = Date.now() - killedAt;
    expect(placeholderAfterMs).toBeLessThan(5000);
    const placeholder = await screenshot('PL Crash');
    const lightPixels = (() => {
      let count = 0;
      for (let i = 0; i < placeholder.rgba.length; i += 4) if (placeholder.rgba[i]! > 200) count++;
      return count;
    })();
    expect(lightPixels).toBeGreaterThan(50); // the "PERSONALIVE DAEMON OFFLINE" text
    expect((await instance.client.call('GetVersion')).obsVersion).toMatch(/^29\./);
    await startWriter();
    await eventually('frames from the new writer', async () => isWriterFrame(await screenshot('PL Crash')));
  });

  it('keeps the daemon side running and aware when OBS is killed mid-stream', async () => {
    const ring = ringName('out');
    const writer = new RingWriter(shm, { name: `${ring}-2`, width: 64, height: 48, fps: { num: 30, den: 1 } });
    cleanups.push(() => writer.close());
    await instance.client.call('SetInputSettings', { inputName: 'PL Output', inputSettings: { ring_name: `${ring}-2` } });
    const driving = new RingReader(shm, ringName('drv'));
    cleanups.push(() => driving.close());
    await eventually('live driving frames', async () => driving.readLatest());
    const frame = new Uint8Array(64 * 48 * 3).fill(77);
    let published = 0;
    const timer = setInterval(() => {
      writer.publish(frame, monotonicUs());
      published++;
    }, 33);
    cleanups.push(() => clearInterval(timer));
    const disconnected = new Promise<string>((resolve) => instance.client.on('state', (state) => { if (state === 'disconnected') resolve(state); }));
    await new Promise((r) => setTimeout(r, 300));
    await instance.kill();
    expect(await disconnected).toBe('disconnected');
    const publishedAtKill = published;
    await eventually('the driving ring going stale', async () => driving.state() === 'stale', 5000);
    expect(published).toBeGreaterThan(publishedAtKill + 10); // the writer never blocked on the dead reader
    expect(writer.stats().framesWritten).toBe(published);
    clearInterval(timer);
  });
});
