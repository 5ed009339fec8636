/**
 * The worker side shared by both tracker engines (onnx-face-worker.ts, human-worker.ts): the
 * request loop of human-tracker.ts's protocol (the worker's nice value applied at init), with
 * the input pixels and the landmarks moved back to the host instead of copied.
 */
import { setPriority } from 'node:os';
import { serveRequests } from '../../../util/worker-server.js';
import type { TrackerReady, TrackerRequest, TrackerResult, TrackerStats, TrackerWorkerInit, WorkerTrackResult } from './human-tracker.js';

export interface TrackerEngineWorker {
  init(options: TrackerWorkerInit): Promise<TrackerReady>;
  track(data: Uint8Array, width: number, height: number): Promise<WorkerTrackResult>;
  stats(): TrackerStats;
  /** Forgets the stream state (video mode's followed region); optional: engines without any. */
  resetStream?(): void;
  close(): Promise<void> | void;
}

function transferList(result: TrackerResult): ArrayBuffer[] {
  if (!result || !('returned' in result)) return [];
  const list = [result.returned];
  if (result.face) list.push(result.face.landmarks.buffer as ArrayBuffer);
  return list;
}

export function serveTrackerWorker(engine: TrackerEngineWorker): void {
  const handle = async (request: TrackerRequest): Promise<TrackerResult> => {
    switch (request.type) {
      case 'init':
        // On Linux the nice value is per thread: this lowers only this worker (both engines
        // run their models on the calling thread). Elsewhere it would lower the whole
        // process, so it is skipped there.
        if (request.init.niceness && process.platform === 'linux') setPriority(0, request.init.niceness);
        return engine.init(request.init);
      case 'track':
        return engine.track(request.data, request.width, request.height);
      case 'stats':
        return engine.stats();
      case 'reset':
        engine.resetStream?.();
        return null;
      case 'close':
        await engine.close();
        return null;
    }
  };
  serveRequests<TrackerRequest, TrackerResult>(handle, { transferOf: transferList, errorCode: 'TRACKER_FAILED' });
}
