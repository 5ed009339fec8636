/**
 * The meshwarp render worker: motion transfer and the warp of the reference run here, off
 * the main thread and beside the tracker's worker, so tracking frame N overlaps rendering
 * frame N-1.
 */
import { performance } from 'node:perf_hooks';
import { PersonaLiveError } from '../../errors.js';
import { serveRequests } from '../../util/worker-server.js';
import { definedOnly } from '../../util/objects.js';
import { MeshwarpAnimator } from './animator.js';
import type { RenderRequest, RenderResult } from './protocol.js';

let animator: MeshwarpAnimator | null = null;

function handle(request: RenderRequest): RenderResult {
  switch (request.type) {
    case 'reference':
      animator = new MeshwarpAnimator(request.image, request.landmarks, definedOnly({ depthScale: request.depthScale, verticalDepthScale: request.verticalDepthScale, controls: request.controls }), request.smoothing);
      return { warp: animator.warpImplementation };
    case 'frame': {
      if (!animator) throw new PersonaLiveError('NO_REFERENCE', 'a driving frame arrived before a reference was fused');
      const t0 = performance.now();
      // Rendered into the buffer the host sent back for reuse, when it has one of the size.
      const bytes = animator.width * animator.height * 3;
      const data = request.buffer?.byteLength === bytes ? new Uint8Array(request.buffer) : new Uint8Array(bytes);
      // The animator's smoothing and easing run on a millisecond clock.
      const info = animator.render(request.frame.landmarks, request.frame.captureUs / 1000, data, request.frame.mouth ?? null);
      return { data, index: request.frame.index, captureUs: request.frame.captureUs, state: info.state, renderMs: performance.now() - t0 };
    }
    case 'reset':
      animator?.reset();
      return null;
    case 'controls':
      animator?.setControls(request.controls);
      return null;
    case 'calibrate':
      animator?.calibrate();
      return null;
    case 'close':
      animator = null;
      return null;
  }
}

serveRequests<RenderRequest, RenderResult>(handle, {
  transferOf: (result) => (result && 'data' in result ? [result.data.buffer as ArrayBuffer] : []),
  errorCode: 'ENGINE_FAILED',
});
