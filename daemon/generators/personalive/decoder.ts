import { PersonaLiveError } from '../../errors.js';
import type { PackManifest } from '../../../models/contract.js';
import type { DecoderChoice } from './engine.js';

export interface ResolvedDecoder {
  choice: DecoderChoice;
  /** The pack component to open, or null when the step graph decodes itself (unet_work). */
  component: 'vae_decoder' | 'tiny_decoder' | null;
}

/**
 * Picks the decoder: a "denoiser" step graph uses a split-out decoder (TinyVAE by default
 * for speed, full VAE on request); the fused "unet_work" graph has the full VAE built in.
 * @throws PersonaLiveError DECODER_UNAVAILABLE saying what the pack has.
 */
export function resolveDecoder(manifest: PackManifest, requested: DecoderChoice | undefined): ResolvedDecoder {
  const { components } = manifest;
  if (components.step.kind === 'unet_work') {
    if (requested === 'tiny') {
      throw new PersonaLiveError('DECODER_UNAVAILABLE', `decoder "tiny" is not available with pack "${manifest.name}": its step graph is the fused unet_work with the full VAE built in; TinyVAE needs a pack with a "denoiser" step graph and a tiny_decoder`, {
        requested,
        available: ['vae'],
      });
    }
    return { choice: 'vae', component: null };
  }
  const available: DecoderChoice[] = [];
  if (components.tiny_decoder) available.push('tiny');
  if (components.vae_decoder) available.push('vae');
  const choice = requested ?? available[0];
  if (!choice || !available.includes(choice)) {
    throw new PersonaLiveError('DECODER_UNAVAILABLE', `decoder "${requested}" is not in pack "${manifest.name}"; it has: ${available.join(', ') || 'none'}`, { requested, available });
  }
  return { choice, component: choice === 'tiny' ? 'tiny_decoder' : 'vae_decoder' };
}
