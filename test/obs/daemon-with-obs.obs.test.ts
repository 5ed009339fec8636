/**
 * The daemon and a real OBS together, as a streamer uses them: the daemon connects to
 * obs-websocket, puts its output source into the scene (frames flow daemon -> ring ->
 * plugin), puts the capture filter on a source (frames flow plugin -> ring -> daemon), and
 * a hotkey pressed in OBS swaps the reference in the daemon.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DaemonState } from '../../daemon/protocol.js';
import { systemSharedMemory } from '../../daemon/ffi/shared-memory.js';
import { ControlClient } from '../helpers/control-client.js';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { eventually } from '../helpers/eventually.js';
import { requireObs, screenshotPixels, startObs, type ObsInstance } from '../helpers/obs-harness.js';
import { demoDataDir } from '../helpers/system.js';

const obsAvailable = requireObs();
const demo = demoDataDir();
const PLACEHOLDER_RGB = [24, 24, 32];

const call = <T>(daemon: DaemonProcess, method: string, params: Record<string, unknown> = {}) => ControlClient.callOnce<T>(daemon, method, params);

describe.skipIf(obsAvailable.skip || demo.skip)('the daemon driving a real OBS through obs-websocket', () => {
  let obs: ObsInstance;
  let daemon: DaemonProcess;
  const outputRing = `personalive-e2e-out-${process.pid}`;

  beforeAll(async () => {
    obs = await startObs();
    daemon = await startDaemon({
      args: ['--reference', join(demo.dir, 'reference.png'), '--driving-file', join(demo.dir, 'driving.mp4'), '--output-ring', outputRing],
      obs: { url: `ws://127.0.0.1:${obs.port}`, password: obs.password },
    });
  }, 180_000);

  afterAll(async () => {
    await daemon?.stop();
    await obs?.stop();
    systemSharedMemory().unlink(outputRing);
    systemSharedMemory().unlink('personalive-driving');
  });

  it('connects to obs-websocket and adds its output source to the current scene, where its frames appear', async () => {
    await eventually('the daemon connected to OBS', async () => (await call<DaemonState>(daemon, 'state.get')).result?.obs.state === 'connected', 20_000);
    const added = await call<{ sceneName: string; inputName: string }>(daemon, 'obs.addOutputSource');
    expect(added.result).toEqual({ sceneName: 'Scene', inputName: 'PersonaLive Output' });
    const { inputSettings } = await obs.client.call('GetInputSettings', { inputName: 'PersonaLive Output' });
    expect(inputSettings.ring_name).toBe(outputRing);
    const shot = await eventually('animated frames (not the placeholder) in OBS', async () => {
      const { imageData } = await obs.client.call('GetSourceScreenshot', { sourceName: 'PersonaLive Output', imageFormat: 'png' });
      const s = await screenshotPixels(imageData);
      const centre = ((s.height / 2) * s.width + s.width / 2) * 4;
      return s.width === 512 && [s.rgba[centre], s.rgba[centre + 1], s.rgba[centre + 2]].join() !== PLACEHOLDER_RGB.join() ? s : null;
    }, 20_000);
    expect(shot.height).toBe(512);
  });

  it('puts the Driving Capture filter on a source the user picks and takes its frames as the driving input', async () => {
    await obs.client.call('CreateInput', { sceneName: 'Scene', inputName: 'Camera stand-in', inputKind: 'color_source_v3', inputSettings: { color: 0xff808080, width: 640, height: 480 } });
    const listed = await call<{ sources: { name: string; kind: string }[] }>(daemon, 'obs.listSources');
    expect(listed.result!.sources).toEqual(expect.arrayContaining([{ name: 'Camera stand-in', kind: 'color_source_v3' }]));
    const filter = await call(daemon, 'obs.addDrivingFilter', { sourceName: 'Camera stand-in' });
    expect(filter.ok, JSON.stringify(filter.error)).toBe(true);
    const state = await eventually('the driving ring live in the daemon', async () => {
      const s = (await call<DaemonState>(daemon, 'state.get')).result!;
      return s.driving.kind === 'ring' && s.driving.state === 'live' ? s : null;
    }, 20_000);
    expect(state.driving.description).toMatch(/Driving Capture filter/);
  });

  it('swaps the reference when a PersonaLive hotkey is pressed in OBS', async () => {
    const presets = readdirSync(join(demo.dir, 'presets')).filter((n) => /\.(png|jpe?g)$/i.test(n)).sort();
    const upload = await fetch(`${daemon.baseUrl}/api/references?name=${presets[0]}`, { method: 'POST', headers: { authorization: `Bearer ${daemon.token}` }, body: readFileSync(join(demo.dir, 'presets', presets[0]!)) });
    const added = ((await upload.json()) as { result: { id: string; slot: number } }).result;
    expect(added.slot).toBe(2);
    await obs.client.call('TriggerHotkeyByName', { hotkeyName: 'personalive.reference.slot2' });
    await eventually('the reference in slot 2 on air', async () => (await call<DaemonState>(daemon, 'state.get')).result?.activeReferenceId === added.id, 30_000);
    await obs.client.call('TriggerHotkeyByName', { hotkeyName: 'personalive.reference.previous' });
    await eventually('the previous reference back on air', async () => (await call<DaemonState>(daemon, 'state.get')).result?.activeReferenceId !== added.id, 30_000);
  });
});
