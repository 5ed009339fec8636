/** The obs-websocket wrapper against a fake obs-websocket server on a loopback port. */
import { afterEach, describe, expect, it } from 'vitest';
import { ObsClient, type VendorEvent } from '../../daemon/obs/obs-client.js';
import { FakeObsWebSocket } from '../helpers/fake-obs-websocket.js';
import { rejection } from '../helpers/errors.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function fakeServer(password: string | null = 'secret'): Promise<FakeObsWebSocket> {
  const server = new FakeObsWebSocket(password);
  await server.start();
  cleanups.push(() => server.stop());
  return server;
}

function client(server: FakeObsWebSocket, options: ConstructorParameters<typeof ObsClient>[0] = {}): ObsClient {
  const obs = new ObsClient({ url: server.url, password: 'secret', ...options });
  cleanups.push(() => obs.close());
  return obs;
}

describe('ObsClient (obs-websocket wrapper)', () => {
  it('authenticates, calls a request and returns its typed response', async () => {
    const server = await fakeServer();
    server.handlers.set('GetVersion', () => ({ obsVersion: '29.0.2', obsWebSocketVersion: '5.1.0' }));
    const obs = client(server);
    await obs.connect();
    expect(obs.state).toBe('connected');
    const version = await obs.call('GetVersion');
    expect(version.obsVersion).toBe('29.0.2');
  });

  it('refuses a wrong password with OBS_AUTH_FAILED', async () => {
    const server = await fakeServer();
    const error = await rejection(client(server, { password: 'wrong', reconnect: false }).connect());
    expect(error.code).toBe('OBS_AUTH_FAILED');
  });

  it('says OBS_UNREACHABLE when nothing listens', async () => {
    const server = await fakeServer();
    const url = server.url;
    await server.stop();
    const obs = new ObsClient({ url, reconnect: false, connectTimeoutMs: 2000 });
    cleanups.push(() => obs.close());
    const error = await rejection(obs.connect());
    expect(error.code).toBe('OBS_UNREACHABLE');
  });

  it('times out a call that gets no answer (OBS_TIMEOUT) and stays usable', async () => {
    const server = await fakeServer();
    server.handlers.set('GetStats', () => 'ignore');
    server.handlers.set('GetVersion', () => ({ obsVersion: '29.0.2' }));
    const obs = client(server, { callTimeoutMs: 200 });
    await obs.connect();
    const started = Date.now();
    const error = await rejection(obs.call('GetStats'));
    expect(error.code).toBe('OBS_TIMEOUT');
    expect(error.message).toMatch(/GetStats: no answer from obs-websocket in 200 ms/);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await obs.call('GetVersion')).obsVersion).toBe('29.0.2');
  });

  it('rejects pending calls when the connection drops, fails fast while down, and reconnects by itself', async () => {
    const server = await fakeServer();
    server.handlers.set('GetStats', () => 'ignore');
    server.handlers.set('GetVersion', () => ({ obsVersion: '29.0.2' }));
    const obs = client(server, { callTimeoutMs: 10_000, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    await obs.connect();
    const pending = obs.call('GetStats');
    const states: string[] = [];
    obs.on('state', (state) => states.push(state));
    await new Promise((r) => setTimeout(r, 50));
    server.dropClients();
    const error = await rejection(pending);
    expect(error.code).toBe('OBS_DISCONNECTED');
    expect((await rejection(obs.call('GetVersion'))).code).toBe('OBS_DISCONNECTED');
    const deadline = Date.now() + 5000;
    while (obs.state !== 'connected' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(obs.state).toBe('connected');
    expect(states).toEqual(expect.arrayContaining(['disconnected', 'connecting', 'connected']));
    expect((await obs.call('GetVersion')).obsVersion).toBe('29.0.2');
  });

  it('turns a request error into OBS_REQUEST_FAILED with OBS code and comment', async () => {
    const server = await fakeServer();
    server.handlers.set('CallVendorRequest', () => ({ error: { code: 600, comment: 'No vendor was found by that name.' } }));
    const obs = client(server);
    await obs.connect();
    const error = await rejection(obs.callVendor('GetStatus'));
    expect(error.code).toBe('OBS_REQUEST_FAILED');
    expect(error.details.obsCode).toBe(600);
    expect(error.message).toMatch(/No vendor was found/);
    expect(server.received.at(-1)?.requestData).toEqual({ vendorName: 'personalive', requestType: 'GetStatus' }); // no empty requestData: obs-websocket 5.1.0 refuses it (403)
  });

  it('delivers vendor events', async () => {
    const server = await fakeServer();
    const obs = client(server);
    await obs.connect();
    const received = new Promise<VendorEvent>((resolve) => obs.once('vendorEvent', resolve));
    server.emitEvent('VendorEvent', { vendorName: 'personalive', eventType: 'HotkeyPressed', eventData: { action: 'reference.next' } });
    expect(await received).toEqual({ vendorName: 'personalive', eventType: 'HotkeyPressed', eventData: { action: 'reference.next' } });
  });
});
