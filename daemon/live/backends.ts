/**
 * Which generator / device / decoder choices exist here, each with the reason when it is
 * unavailable (the panel shows them disabled with that reason; the API refuses them).
 */
import { loadPack } from '../../models/pack.js';
import { DECODER_KINDS, DECODERS, DEVICES, GENERATOR_KINDS, GENERATORS, type DecoderKind, type DeviceKind, type GeneratorKind } from '../kinds.js';
import type { BackendOption } from '../protocol.js';
import { deviceAvailability } from '../ort/onnx-runtime.js';

export interface BackendOptions {
  generators: BackendOption<GeneratorKind>[];
  devices: BackendOption<DeviceKind>[];
  decoders: BackendOption<DecoderKind>[];
}

/** Reads the pack's manifest (if any) and the execution providers present. */
export async function backendOptions(packDir: string | null): Promise<BackendOptions> {
  let packError: string | null = packDir ? null : 'no model pack configured (generator.packDir); the built-in generator needs none';
  let components: Record<string, unknown> = {};
  if (packDir) {
    try {
      const pack = await loadPack(packDir);
      components = { ...pack.manifest.components };
    } catch (error) {
      packError = `model pack ${packDir}: ${(error as Error).message}`;
    }
  }
  const devices = deviceAvailability().map((d): BackendOption<DeviceKind> => ({ value: d.device, label: DEVICES[d.device].label, available: d.available, reason: d.available ? null : d.reason ?? 'unavailable' }));
  const decoderReason = (decoder: DecoderKind): string | null => {
    const component = DECODERS[decoder].component;
    return packError ?? (components[component] ? null : `the model pack has no ${component}`);
  };
  return {
    generators: GENERATOR_KINDS.map((g): BackendOption<GeneratorKind> => {
      const reason = GENERATORS[g].needsPack ? packError : null;
      return { value: g, label: GENERATORS[g].label, available: reason === null, reason };
    }),
    devices,
    decoders: DECODER_KINDS.map((d): BackendOption<DecoderKind> => ({ value: d, label: DECODERS[d].label, available: decoderReason(d) === null, reason: decoderReason(d) })),
  };
}
