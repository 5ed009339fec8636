/**
 * Generator registry: one entry per kind. The built-in CPU generator registers here too.
 */
import { PersonaLiveError } from '../errors.js';
import type { DecoderChoice } from './personalive/engine.js';
import type { Device } from '../ort/onnx-runtime.js';
import type { Generator } from './generator.js';
import { createPersonaLiveGenerator } from './personalive/index.js';
import { createMeshwarpGenerator } from './meshwarp/index.js';

export interface GeneratorOptions {
  packDir?: string | null;
  device: Device;
  decoder?: DecoderChoice;
  seed?: number;
  verifyChecksums?: boolean;
  /** Output size of generators that choose it (meshwarp); the PersonaLive pack fixes its own. */
  size?: number;
}

export interface GeneratorEntry {
  description: string;
  needsPack: boolean;
  create(options: GeneratorOptions): Promise<Generator>;
}

export const GENERATORS: Record<string, GeneratorEntry> = {
  meshwarp: {
    description: 'built-in CPU generator: face-mesh tracking and mesh-warp rendering (no downloads)',
    needsPack: false,
    create: (options) => createMeshwarpGenerator({ size: options.size }),
  },
  personalive: {
    description: 'PersonaLive streaming diffusion generator on ONNX Runtime (needs a model pack)',
    needsPack: true,
    async create(options) {
      if (!options.packDir) {
        throw new PersonaLiveError('GENERATOR_NEEDS_PACK', 'the personalive generator needs a model pack: pass --pack DIR (see README "Model packs"; `personalive pack make-test DIR` writes a tiny test pack)');
      }
      return createPersonaLiveGenerator({
        packDir: options.packDir,
        device: options.device,
        decoder: options.decoder,
        seed: options.seed,
        verifyChecksums: options.verifyChecksums ?? true,
      });
    },
  },
};

/** @throws PersonaLiveError GENERATOR_UNKNOWN listing the registered generators. */
export function generatorEntry(name: string): GeneratorEntry {
  const entry = GENERATORS[name];
  if (!entry) {
    throw new PersonaLiveError('GENERATOR_UNKNOWN', `unknown generator "${name}": expected one of ${Object.keys(GENERATORS).join(', ')}`, { generator: name, valid: Object.keys(GENERATORS) });
  }
  return entry;
}
