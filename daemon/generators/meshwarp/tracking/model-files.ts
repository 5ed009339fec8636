/**
 * The face tracker's model files: BlazeFace, FaceMesh and Iris as tfjs graph models
 * (JSON + weight shards), by default the ones the installed @vladmandic/human ships. Both
 * tracker engines (onnx-face-worker.ts and human-worker.ts) find and check them here, so a
 * missing or broken file gets the same message, naming it, whichever engine runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PersonaLiveError } from '../../../errors.js';
import type { TfjsGraphModel } from './tfjs-to-onnx.js';

/** The models the tracker needs: face detector, face mesh, iris. */
export const MODELS = ['blazeface', 'facemesh', 'iris'] as const;
export type ModelName = (typeof MODELS)[number];

/** The folder of the installed @vladmandic/human package. */
export function humanPackageDir(): string {
  const require = createRequire(import.meta.url);
  let humanMain: string;
  try {
    humanMain = require.resolve('@vladmandic/human');
  } catch (error) {
    throw new PersonaLiveError('TRACKER_MODELS_MISSING', 'the face tracker package @vladmandic/human (its models) is not installed; run npm ci.', {}, { cause: error });
  }
  return dirname(dirname(humanMain));
}

/** The default model folder: the models shipped in @vladmandic/human. */
export function defaultModelDir(): string {
  return join(humanPackageDir(), 'models');
}

function readGraphJson(modelDir: string, name: ModelName): TfjsGraphModel & { signature?: { inputs?: Record<string, { tensorShape?: { dim?: { size?: string }[] } }> } } {
  const jsonPath = join(modelDir, `${name}.json`);
  try {
    return JSON.parse(readFileSync(jsonPath, 'utf8'));
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : `cannot be read (${(error as Error).message})`;
    throw new PersonaLiveError('TRACKER_MODELS_MISSING', `face tracker model "${jsonPath}" ${why}. Expected the ${MODELS.join('/')} models of @vladmandic/human in "${modelDir}".`, {
      path: jsonPath,
      modelDir,
    });
  }
}

/**
 * Checks that every model file (graph JSON and weight shards) is there.
 * @returns the mesh model's input side (its z output is in those units)
 * @throws PersonaLiveError TRACKER_MODELS_MISSING naming the file
 */
export function checkModelFiles(modelDir: string): { meshInputSize: number } {
  let meshInputSize = 192;
  for (const name of MODELS) {
    const graph = readGraphJson(modelDir, name);
    for (const shard of graph.weightsManifest ?? []) {
      for (const file of shard.paths ?? []) {
        const path = join(modelDir, file);
        if (!existsSync(path)) {
          throw new PersonaLiveError('TRACKER_MODELS_MISSING', `face tracker model weights "${path}" are missing (named by ${name}.json).`, { path, modelDir });
        }
      }
    }
    if (!graph.modelTopology?.node || !Array.isArray(graph.weightsManifest)) {
      const path = join(modelDir, `${name}.json`);
      throw new PersonaLiveError('TRACKER_MODELS_MISSING', `face tracker model "${path}" is not a tfjs graph model (no modelTopology.node or weightsManifest).`, { path, modelDir });
    }
    if (name === 'facemesh') {
      const size = Number(Object.values(graph.signature?.inputs ?? {})[0]?.tensorShape?.dim?.[1]?.size);
      if (size > 0) meshInputSize = size;
    }
  }
  return { meshInputSize };
}

/** One model's graph and weight shard bytes, in manifest order. */
export function readGraphModel(modelDir: string, name: ModelName): { graph: TfjsGraphModel; shards: Uint8Array[]; path: string } {
  const graph = readGraphJson(modelDir, name);
  const shards = graph.weightsManifest.flatMap((group) => group.paths.map((file) => new Uint8Array(readFileSync(join(modelDir, file)))));
  return { graph, shards, path: join(modelDir, `${name}.json`) };
}
