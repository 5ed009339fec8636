/** The terminal banner: what is on air, the panel URL to copy, the outputs, how to stop. */
import { describe, expect, it } from 'vitest';
import { readyBanner } from '../../daemon/cli/banner.js';
import type { DaemonState } from '../../daemon/protocol.js';

function state(overrides: Partial<DaemonState['generator']> = {}): DaemonState {
  return {
    generator: { active: 'meshwarp', requested: 'meshwarp', device: 'cpu', decoder: 'tiny', providers: [], status: 'running', failover: { active: false, reason: null, since: null }, ...overrides },
    driving: { description: 'webcam /dev/video0' },
    output: {
      fps: 25,
      size: 512,
      ring: { enabled: true, name: 'personalive-output' },
      virtualCamera: { enabled: true, state: 'error', device: 'auto', error: 'no v4l2loopback device' },
      recording: { enabled: true, path: '/home/me/show.mp4', state: 'recording', error: null },
    },
  } as unknown as DaemonState;
}

describe('readyBanner', () => {
  it('says what runs, from what, where the panel is, and every output with its trouble', () => {
    const lines = readyBanner(state(), 'http://127.0.0.1:7860/panel/?token=abc');
    expect(lines).toContain('PersonaLive is live: Built-in (CPU, no downloads), driven by webcam /dev/video0.');
    expect(lines).toContain('    http://127.0.0.1:7860/panel/?token=abc');
    expect(lines.join('\n')).toContain('OBS source (ring "personalive-output") · virtual camera (error: no v4l2loopback device) · recording to /home/me/show.mp4, 512x512 at 25 fps');
    expect(lines.join('\n')).toContain('Stop with Ctrl+C');
  });

  it('names the execution provider that really runs for the diffusion generator, and a missing portrait', () => {
    expect(readyBanner(state({ active: 'personalive', requested: 'personalive', device: 'cuda', providers: ['CUDAExecutionProvider'] }), 'u')[1]).toBe(
      'PersonaLive is live: PersonaLive diffusion on CUDAExecutionProvider, driven by webcam /dev/video0.',
    );
    expect(readyBanner(state({ status: 'waiting' }), 'u')[1]).toContain('waiting for a portrait (upload one in the panel)');
  });
});
