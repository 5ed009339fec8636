/**
 * Which generator / device / decoder choices exist here, each with the reason when it is
 * unavailable (the panel shows them disabled with that reason; the API refuses them).
 */
import { loadPack } from '../../models/pack.js';
import type { BackendOption, DecoderKind, DeviceKind, GeneratorKind } from '../protocol.js';
import { deviceAvailability } from '../ort/onnx-runtime.js';

export interface BackendOptions {
  generators: BackendOption<GeneratorKind>[];
  devices: BackendOption<DeviceKind>[];
  decoders: BackendOption<DecoderKind>[];
}

const DEVICE_LABELS: Record<DeviceKind, string> = { cpu: 'CPU', cuda: 'CUDA (NVIDIA)', tensorrt: 'TensorRT (NVIDIA)' };

/** Reads the pack's manifest (if any) and the execution providers present. */
export async function backendOptions(packDir: string | null): Promise<BackendOptions> {
  let packError: string | null = packDir ? null : 'no model pack configured (generator.packDir); the built-in generator needs none';
  let decoders: { vae: boolean; tiny: boolean } = { vae: false, tiny: false };
  if (packDir) {
    try {
      const pack = await loadPack(packDir);
      decoders = { vae: Boolean(pack.manifest.components.vae_decoder), tiny: Boolean(pack.manifest.components.tiny_decoder) };
    } catch (error) {
      packError = `model pack ${packDir}: ${(error as Error).message}`;
    }
  }
  const devices = deviceAvailability().map((d): BackendOption<DeviceKind> => ({ value: d.device, label: DEVICE_LABELS[d.device], available: d.available, reason: d.available ? null : d.reason ?? 'unavailable' }));
  const decoderReason = (present: boolean, name: string): string | null => (packError ? packError : present ? null : `the model pack has no ${name}`);
  return {
    generators: [
      { value: 'meshwarp', label: 'Built-in (CPU, no downloads)', available: true, reason: null },
      { value: 'personalive', label: 'PersonaLive diffusion', available: packError === null, reason: packError },
    ],
    devices,
    decoders: [
      { value: 'tiny', label: 'TinyVAE (fast)', available: decoderReason(decoders.tiny, 'tiny_decoder') === null, reason: decoderReason(decoders.tiny, 'tiny_decoder') },
      { value: 'vae', label: 'Full VAE (quality)', available: decoderReason(decoders.vae, 'vae_decoder') === null, reason: decoderReason(decoders.vae, 'vae_decoder') },
    ],
  };
}
