/** The one worker client: answers, errors carried across, crashes, hangs and closing. */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { createWorkerClient } from '../../daemon/util/worker-client.js';

/** A worker that echoes, fails, never answers or exits, as each request asks. */
function testWorker(): Worker {
  return new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.on('message', (m) => {
       if (m.type === 'echo') parentPort.postMessage({ id: m.id, ok: true, result: m.value });
       if (m.type === 'fail') parentPort.postMessage({ id: m.id, ok: false, error: { code: 'NO_FACE', message: 'no face was found' } });
       if (m.type === 'exit') process.exit(3);
       // 'hang': no answer
     });`,
    { eval: true },
  );
}

type Req = { type: 'echo'; value: number } | { type: 'fail' } | { type: 'hang' } | { type: 'exit' };

describe('createWorkerClient', () => {
  it('answers in order and carries a PersonaLiveError across', async () => {
    const client = createWorkerClient<Req, number>(testWorker(), { label: 'test worker' });
    expect(await Promise.all([client.call({ type: 'echo', value: 1 }), client.call({ type: 'echo', value: 2 })])).toEqual([1, 2]);
    await expect(client.call({ type: 'fail' })).rejects.toMatchObject({ code: 'NO_FACE', message: 'no face was found' });
    expect(client.failure).toBeNull();
    await client.terminate();
  });

  it('stops a worker that does not answer in time and fails every call after it', async () => {
    const client = createWorkerClient<Req, number>(testWorker(), { label: 'test worker', failureCode: 'TRACKER_FAILED', timeoutMs: 5_000 });
    // Answered while the worker is well (awaited first: a loaded machine may take longer than 50 ms to start a worker).
    expect(await client.call({ type: 'echo', value: 1 })).toBe(1);
    await expect(client.call({ type: 'hang' }, { timeoutMs: 50, what: 'a frame' })).rejects.toMatchObject({
      code: 'TRACKER_FAILED',
      message: 'the test worker did not answer a frame within 50 ms; its worker was stopped',
    });
    await expect(client.call({ type: 'echo', value: 2 })).rejects.toMatchObject({ code: 'TRACKER_FAILED' });
    expect(client.failure?.code).toBe('TRACKER_FAILED');
    await client.terminate();
  });

  it('rejects what is pending when the worker exits, and names the exit code', async () => {
    const client = createWorkerClient<Req, number>(testWorker(), { label: 'test worker' });
    const hanging = client.call({ type: 'hang' });
    void client.call({ type: 'exit' }).catch(() => undefined);
    await expect(hanging).rejects.toMatchObject({ code: 'ENGINE_FAILED', message: 'test worker worker exited unexpectedly (code 3)' });
    await client.terminate();
  });

  it('after terminate(), calls reject with the closed code', async () => {
    const client = createWorkerClient<Req, number>(testWorker(), { label: 'face tracker', closedCode: 'TRACKER_CLOSED' });
    const hanging = expect(client.call({ type: 'hang' })).rejects.toMatchObject({ code: 'TRACKER_CLOSED', message: 'the face tracker is closed' });
    await client.terminate();
    await hanging;
    await expect(client.call({ type: 'echo', value: 1 })).rejects.toMatchObject({ code: 'TRACKER_CLOSED' });
    expect(client.closed).toBe(true);
    expect(client.failure).toBeNull();
  });
});
