/**
 * Generator registry: one factory per kind of kinds.ts (the traits are written there). The
 * built-in CPU generator registers here too.
 */
import { PersonaLiveError } from '../errors.js';
import type { DecoderChoice } from './personalive/engine.js';
import type { Device } from '../ort/onnx-runtime.js';
import { GENERATOR_KINDS, GENERATORS, type GeneratorKind, type GeneratorTraits } from '../kinds.js';
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

export interface GeneratorEntry extends GeneratorTraits {
  create(options: GeneratorOptions): Promise<Generator>;
}

const FACTORIES: { readonly [K in GeneratorKind]: (options: GeneratorOptions) => Promise<Generator> } = {
  meshwarp: (options) => createMeshwarpGenerator({ size: options.size }),
  async personalive(options) {
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
};

/** Each generator kind with its traits (kinds.ts) and its factory. */
export const GENERATOR_REGISTRY: { readonly [K in GeneratorKind]: GeneratorEntry } = Object.freeze(
  Object.fromEntries(GENERATOR_KINDS.map((kind): [GeneratorKind, GeneratorEntry] => [kind, Object.freeze({ ...(GENERATORS[kind] as GeneratorTraits), create: FACTORIES[kind] })])) as { [K in GeneratorKind]: GeneratorEntry },
);

/** @throws PersonaLiveError GENERATOR_UNKNOWN listing the registered generators. */
export function generatorEntry(name: string): GeneratorEntry {
  const entry = (GENERATOR_REGISTRY as Record<string, GeneratorEntry | undefined>)[name];
  if (!entry) {
    throw new PersonaLiveError('GENERATOR_UNKNOWN', `unknown generator "${name}": expected one of ${GENERATOR_KINDS.join(', ')}`, { generator: name, valid: GENERATOR_KINDS });
  }
  return entry;
}
