/**
 * What `personalive daemon` prints on a terminal once it is ready: what is on air and from
 * what, the panel URL (the one thing a streamer must copy), the outputs, how to stop. Pure:
 * built from the daemon's state.
 */
import { GENERATORS } from '../kinds.js';
import type { DaemonState } from '../protocol.js';

export function readyBanner(state: DaemonState, panelUrl: string): string[] {
  const generator = state.generator;
  const running = generator.status === 'waiting' ? 'waiting for a portrait (upload one in the panel)' : `${GENERATORS[generator.active].label}`;
  const device = GENERATORS[generator.active].devices.length > 1 ? ` on ${generator.providers.length ? generator.providers.join(' + ') : generator.device}` : '';
  const outputs: string[] = [];
  if (state.output.ring.enabled) outputs.push(`OBS source (ring "${state.output.ring.name}")`);
  if (state.output.virtualCamera.enabled) outputs.push(`virtual camera (${state.output.virtualCamera.state}${state.output.virtualCamera.error ? `: ${state.output.virtualCamera.error}` : ''})`);
  if (state.output.recording.enabled) outputs.push(state.output.recording.path ? `recording to ${state.output.recording.path}` : `recording (${state.output.recording.error ?? state.output.recording.state})`);
  return [
    '',
    `PersonaLive is live: ${running}${device}, driven by ${state.driving.description}.`,
    '  Panel, to add in OBS as a dock (Docks > Custom Browser Docks..., name "PersonaLive", paste, Apply):',
    `    ${panelUrl}`,
    `  Outputs: ${outputs.length ? outputs.join(' · ') : 'none (turn one on in the panel)'}, ${state.output.size}x${state.output.size} at ${state.output.fps} fps`,
    '  Stop with Ctrl+C. Log lines follow.',
    '',
  ];
}
