/**
 * The worker side of createWorkerClient: handles requests strictly in order (the state
 * behind them is sequential), answers each with its id, moves the buffers `transferOf`
 * names instead of copying them, and turns any throw into a PersonaLiveError response.
 */
import { parentPort } from 'node:worker_threads';
import { asPersonaLiveError, type ErrorCode } from '../errors.js';
import type { WorkerResponse } from './worker-client.js';

export function serveRequests<Req extends { id: number }, Res>(
  handle: (request: Req) => Promise<Res> | Res,
  options: { transferOf?: (result: Res) => ArrayBuffer[]; errorCode: ErrorCode },
): void {
  const port = parentPort;
  if (!port) throw new Error('serveRequests() must run inside a worker thread');
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (request: Req) => {
    queue = queue.then(async () => {
      try {
        const result = await handle(request);
        const response: WorkerResponse<Res> = { id: request.id, ok: true, result };
        port.postMessage(response, options.transferOf?.(result) ?? []);
      } catch (error) {
        const response: WorkerResponse<Res> = { id: request.id, ok: false, error: asPersonaLiveError(error, options.errorCode).toJSON() };
        port.postMessage(response);
      }
    });
  });
}
