/**
 * The inference worker: owns the ONNX Runtime sessions and the engine. onnxruntime-node's
 * run() computes on the calling thread, so all of it lives here, off the main thread.
 */
import { serveRequests } from '../../util/worker-server.js';
import { PersonaLiveEngine, type EngineGraphs } from './engine.js';
import type { GraphSession } from '../../ort/onnx-runtime.js';
import { checkChecksums, loadPack, openPackGraphs } from '../../../models/pack.js';
import { resolveDecoder } from './decoder.js';
import type { EngineInspection, ReadyInfo, WorkerInit, WorkerRequest, WorkerResult } from './protocol.js';
import type { Frame } from '../../frames.js';

let engine: PersonaLiveEngine | null = null;
let sessions: GraphSession[] = [];
let providers: Record<string, readonly string[]> = {};

async function init(options: WorkerInit): Promise<ReadyInfo> {
  const pack = await loadPack(options.packDir);
  if (options.verifyChecksums) await checkChecksums(pack);
  const decoder = resolveDecoder(pack.manifest, options.decoder);
  const wanted = ['image_encoder', 'vae_encoder', 'reference_unet', 'motion_extractor', 'motion_encoder', 'pose_guider', 'step'] as const;
  const opened = await openPackGraphs(pack, options.device, [...wanted, ...(decoder.component ? [decoder.component] : [])]);
  sessions = Object.values(opened) as GraphSession[];
  providers = Object.fromEntries(sessions.map((s) => [s.name, s.providers]));
  const graphs: EngineGraphs = {
    image_encoder: opened.image_encoder!,
    vae_encoder: opened.vae_encoder!,
    reference_unet: opened.reference_unet!,
    motion_extractor: opened.motion_extractor!,
    motion_encoder: opened.motion_encoder!,
    pose_guider: opened.pose_guider!,
    step: opened.step!,
    decoder: decoder.component ? opened[decoder.component] : undefined,
  };
  engine = new PersonaLiveEngine(pack.manifest, graphs, { decoder: decoder.choice, seed: options.seed });
  return { packName: pack.manifest.name, resolution: pack.manifest.resolution, stepKind: pack.manifest.components.step.kind, decoder: decoder.choice, providers };
}

function requireEngine(): PersonaLiveEngine {
  if (!engine) throw new Error('worker used before init');
  return engine;
}

async function handle(request: WorkerRequest): Promise<WorkerResult> {
  switch (request.type) {
    case 'init':
      return init(request.init);
    case 'fuse':
      await requireEngine().fuseReference(request.image);
      return null;
    case 'push': {
      const out: Frame[] = [];
      for (const frame of request.frames) out.push(...(await requireEngine().push(frame)));
      return out;
    }
    case 'flush':
      return requireEngine().flush();
    case 'reset':
      requireEngine().resetStream();
      return null;
    case 'stats':
      return requireEngine().stats(providers);
    case 'inspect': {
      const e = requireEngine();
      const inspection: EngineInspection = { steps: e.steps, keyframes: e.keyframes, referenceStateLengths: e.referenceStateLengths(), timeSplit: e.timeSplit() };
      return inspection;
    }
    case 'close':
      await Promise.all(sessions.map((s) => s.release()));
      sessions = [];
      engine = null;
      return null;
  }
}

function transferList(result: WorkerResult): ArrayBuffer[] {
  if (!Array.isArray(result)) return [];
  return result.map((frame) => frame.data.buffer as ArrayBuffer);
}

// Requests are handled strictly in order: the engine is a sequential state machine.
serveRequests<WorkerRequest, WorkerResult>(handle, { transferOf: transferList, errorCode: 'ENGINE_FAILED' });
