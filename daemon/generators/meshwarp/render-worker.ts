/**
 * The meshwarp render worker: motion transfer and the warp of the reference run here, off
 * the main thread and beside the tracker's worker, so tracking frame N overlaps rendering
 * frame N-1.
 */
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import { asPersonaLiveError, PersonaLiveError } from '../../errors.js';
import { MeshwarpAnimator } from '../../meshwarp/animator.js';
import type { RenderRequest, RenderResponse, RenderResult } from './protocol.js';

let animator: MeshwarpAnimator | null = null;

function handle(request: RenderRequest): RenderResult {
  switch (request.type) {
    case 'reference':
      animator = new MeshwarpAnimator(request.image, request.landmarks);
      return { warp: animator.warpImplementation };
    case 'frame': {
      if (!animator) throw new PersonaLiveError('NO_REFERENCE', 'a driving frame arrived before a reference was fused');
      const t0 = performance.now();
      const data = new Uint8Array(animator.width * animator.height * 3);
      const info = animator.render(request.frame.landmarks, request.frame.timestampMs, data);
      return { data, index: request.frame.index, timestampMs: request.frame.timestampMs, state: info.state, renderMs: performance.now() - t0 };
    }
    case 'reset':
      animator?.reset();
      return null;
    case 'close':
      animator = null;
      return null;
  }
}

parentPort!.on('message', (request: RenderRequest) => {
  let response: RenderResponse;
  const transfer: ArrayBuffer[] = [];
  try {
    const result = handle(request);
    response = { id: request.id, ok: true, result };
    if (result && 'data' in result) transfer.push(result.data.buffer as ArrayBuffer);
  } catch (error) {
    response = { id: request.id, ok: false, error: asPersonaLiveError(error, 'ENGINE_FAILED').toJSON() };
  }
  parentPort!.postMessage(response, transfer);
});
