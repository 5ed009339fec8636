/**
 * The outputs the daemon drives from the sink registry: a virtual camera whose device is not
 * there yet is said once (not on every size or rate change) and starts by itself when the
 * device appears.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../daemon/config/config.js';
import { PersonaLiveError } from '../../daemon/errors.js';
import type { LiveLoop } from '../../daemon/live/live-loop.js';
import { Outputs } from '../../daemon/live/outputs.js';
import { SINK_REGISTRY } from '../../daemon/sinks/registry.js';
import type { Sink } from '../../daemon/sinks/types.js';

/** The part of the live loop Outputs uses. */
function fakeLoop(): { loop: LiveLoop; sinks: Map<string, Sink> } {
  const sinks = new Map<string, Sink>();
  const loop = {
    async setSink(sink: Sink) { sinks.set(sink.kind, sink); },
    async removeSink(kind: string) { sinks.delete(kind); },
    sinkStatus: (kind: string) => sinks.get(kind)?.status() ?? null,
  } as unknown as LiveLoop;
  return { loop, sinks };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The sink registry with the virtual camera's create() replaced (no device needed). */
function withCamera(create: () => Promise<Sink>): typeof SINK_REGISTRY {
  return { ...SINK_REGISTRY, virtualCamera: { ...SINK_REGISTRY.virtualCamera, create } } as typeof SINK_REGISTRY;
}

describe('Outputs', () => {
  it('says a missing virtual camera once, across rate and size changes, and opens it when the device appears', async () => {
    let deviceThere = false;
    let opened = 0;
    const registry = withCamera(async () => {
      if (!deviceThere) throw new PersonaLiveError('VCAM_UNAVAILABLE', 'no virtual camera device: v4l2loopback is not loaded. Run: sudo modprobe v4l2loopback');
      opened++;
      return { kind: 'virtualCamera', write() {}, status: () => ({ written: 0 }), async close() {} };
    });
    const notices: string[] = [];
    const { loop, sinks } = fakeLoop();
    const outputs = new Outputs(loop, { dataDir: '/nonexistent', notice: (_level, _code, message) => notices.push(message), retryMs: 40, registry });
    const config = (patch: object) => validateConfig({ output: { ring: { enabled: false }, virtualCamera: { enabled: true }, ...patch } }, 'test');
    await outputs.apply(config({ fps: 25 }));
    await outputs.apply(config({ fps: 30 }));
    await outputs.apply(config({ fps: 30, size: 256 }));
    expect(notices).toEqual(['Virtual camera: no virtual camera device: v4l2loopback is not loaded. Run: sudo modprobe v4l2loopback (it starts by itself once it is there)']);
    expect(outputs.states(config({})).virtualCamera).toMatchObject({ state: 'error' });
    await sleep(120); // still not there: retried quietly
    expect(notices).toHaveLength(1);
    deviceThere = true;
    await sleep(120);
    expect(opened).toBe(1);
    expect(sinks.has('virtualCamera')).toBe(true);
    expect(notices.at(-1)).toBe('Virtual camera started');
    expect(outputs.states(config({ fps: 30, size: 256 })).virtualCamera).toMatchObject({ state: 'running', error: null });
    outputs.close();
  });

  it('stops retrying when the virtual camera is switched off or the outputs close', async () => {
    let attempts = 0;
    const registry = withCamera(async () => {
      attempts++;
      throw new PersonaLiveError('VCAM_UNAVAILABLE', 'not loaded');
    });
    const outputs = new Outputs(fakeLoop().loop, { dataDir: '/nonexistent', notice() {}, retryMs: 20, registry });
    await outputs.apply(validateConfig({ output: { ring: { enabled: false }, virtualCamera: { enabled: true } } }, 'test'));
    await sleep(70);
    const before = attempts;
    expect(before).toBeGreaterThan(1);
    await outputs.apply(validateConfig({ output: { ring: { enabled: false }, virtualCamera: { enabled: false } } }, 'test'));
    await sleep(70);
    expect(attempts).toBe(before);
    outputs.close();
  });

  it('the camera picture (placement, background) changes on the running camera; its size reopens it; the output size touches neither', async () => {
    let opened = 0;
    const registry = withCamera(async () => {
      opened++;
      return { kind: 'virtualCamera', write() {}, status: () => ({}), async close() {} };
    });
    const outputs = new Outputs(fakeLoop().loop, { dataDir: '/nonexistent', notice() {}, registry });
    const config = (camera: object, output: object = {}) => validateConfig({ output: { ring: { enabled: false }, virtualCamera: { enabled: true, ...camera }, ...output } }, 'test');
    await outputs.apply(config({}));
    expect(outputs.picture!.box).toEqual({ left: 280, top: 0, size: 720 });
    await outputs.apply(config({ scale: 0.5, x: 0, y: 0 }));
    await outputs.apply(config({ scale: 0.5, x: 0, y: 0, background: 'colour', colour: '#112233' }));
    expect(opened).toBe(1);
    expect(outputs.picture!.box).toEqual({ left: 0, top: 0, size: 360 });
    await outputs.apply(config({ scale: 0.5, x: 0, y: 0, background: 'colour', colour: '#112233' }, { size: 256 }));
    expect(opened).toBe(1);
    await outputs.apply(config({ size: '640x360' }));
    expect(opened).toBe(2);
    expect([outputs.picture!.width, outputs.picture!.height]).toEqual([640, 360]);
    outputs.close();
  });
});
