/**
 * Which generator / device / decoder choices exist here, each with the reason when it is
 * unavailable (the panel shows them disabled with that reason; the API refuses them).
 */
import { loadPack } from '../../models/pack.js';
import { DECODER_KINDS, DECODERS, DEVICES, GENERATOR_KINDS, GENERATORS, type DecoderKind, type DeviceKind, type GeneratorKind } from '../kinds.js';
import type { BackendOption } from '../protocol.js';
import { probedDeviceAvailability } from '../ort/onnx-runtime.js';

export interface BackendOptions {
  generators: BackendOption<GeneratorKind>[];
  devices: BackendOption<DeviceKind>[];
  decoders: BackendOption<DecoderKind>[];
}

/** Reads the pack's manifest (if any) and the execution providers present. */
export async function backendOptions(packDir: string | null): Promise<BackendOptions> {
  let packError: string | null = packDir ? null : 'no model pack configured (generator.packDir); the built-in generator needs none';
  const packSummary = packDir ? 'The model pack cannot be used: run "personalive pack verify" on it.' : 'Needs a model pack (see "Model packs" in the README); the built-in generator needs none.';
  let components: Record<string, unknown> = {};
  if (packDir) {
    try {
      const pack = await loadPack(packDir);
      components = { ...pack.manifest.components };
    } catch (error) {
      packError = `model pack ${packDir}: ${(error as Error).message}`;
    }
  }
  const devices = (await probedDeviceAvailability()).map((d): BackendOption<DeviceKind> => ({
    value: d.device,
    label: DEVICES[d.device].label,
    available: d.available,
    reason: d.available ? null : d.summary ?? d.reason ?? 'Unavailable.',
    detail: d.available ? null : d.reason ?? null,
  }));
  const decoderProblem = (decoder: DecoderKind): { reason: string; detail: string } | null => {
    const component = DECODERS[decoder].component;
    if (packError) return { reason: packSummary, detail: packError };
    return components[component] ? null : { reason: 'Not in this model pack.', detail: `the model pack ${packDir} has no ${component}` };
  };
  return {
    generators: GENERATOR_KINDS.map((g): BackendOption<GeneratorKind> => {
      const problem = GENERATORS[g].needsPack && packError ? { reason: packSummary, detail: packError } : null;
      return { value: g, label: GENERATORS[g].label, available: problem === null, reason: problem?.reason ?? null, detail: problem?.detail ?? null };
    }),
    devices,
    decoders: DECODER_KINDS.map((d): BackendOption<DecoderKind> => {
      const problem = decoderProblem(d);
      return { value: d, label: DECODERS[d].label, available: problem === null, reason: problem?.reason ?? null, detail: problem?.detail ?? null };
    }),
  };
}
