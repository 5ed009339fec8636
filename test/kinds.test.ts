/** The kinds tables: traits every caller relies on, and the device/decoder rule. */
import { describe, expect, it } from 'vitest';
import { CONFIGURED_SINK_KINDS, DECODER_KINDS, DEVICE_KINDS, GENERATOR_KINDS, GENERATORS, PANEL_TOGGLED_SINK_KINDS, backendChoiceProblem } from '../daemon/kinds.js';

describe('kinds', () => {
  it('lists every kind once, from its table', () => {
    expect(GENERATOR_KINDS).toEqual(['meshwarp', 'personalive']);
    expect(DEVICE_KINDS).toEqual(['cpu', 'cuda', 'tensorrt', 'webgpu']);
    expect(DECODER_KINDS).toEqual(['tiny', 'vae']);
    expect(CONFIGURED_SINK_KINDS).toEqual(['ring', 'virtualCamera', 'recording']);
    expect(PANEL_TOGGLED_SINK_KINDS).toEqual(['virtualCamera', 'recording']);
    for (const kind of GENERATOR_KINDS) expect(GENERATORS[kind].devices).toContain('cpu');
  });

  it('refuses a GPU device or a decoder for the built-in generator instead of pretending', () => {
    expect(backendChoiceProblem('meshwarp', { device: 'cuda' })).toEqual({ field: 'device', message: expect.stringMatching(/^device "cuda" does not apply to the meshwarp generator, which runs on cpu only/) });
    expect(backendChoiceProblem('meshwarp', { decoder: 'tiny' })).toEqual({ field: 'decoder', message: expect.stringMatching(/^the meshwarp generator has no decoder to choose/) });
    expect(backendChoiceProblem('meshwarp', { device: 'cpu' })).toBeNull();
    expect(backendChoiceProblem('personalive', { device: 'tensorrt', decoder: 'vae' })).toBeNull();
  });
});
