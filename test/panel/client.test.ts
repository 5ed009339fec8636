/**
 * The panel's control client (panel/src/client.ts) in headless Chromium against a scripted
 * WebSocket server on port 0: typed results and errors, per-call timeout, pending calls
 * rejected on disconnect, reconnect with backoff, event subscription. No daemon needed.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { findChromium, launchChromium, type ChromiumSession } from '../helpers/chromium.js';

const browserBinary = findChromium();
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** client.ts bundled as in the panel, exposed as window.PanelClient. */
function clientBundle(): string {
  const result = buildSync({
    absWorkingDir: repoRoot,
    entryPoints: ['panel/src/client.ts'],
    bundle: true,
    write: false,
    format: 'iife',
    globalName: 'PanelClient',
    target: ['chrome100'],
  });
  return result.outputFiles[0]!.text;
}

type Reply = (socket: WebSocket, message: { id: number; method: string; params: unknown }) => void;

describe.skipIf(browserBinary.skip)('panel control client in Chromium', () => {
  let browser: ChromiumSession;
  let page: Page;
  let http: Server;
  let server: WebSocketServer;
  let url: string;
  let reply: Reply = () => {};
  const sockets = new Set<WebSocket>();

  beforeAll(async () => {
    // The page comes from the same loopback origin: Chromium blocks about:blank -> loopback sockets.
    http = createServer((req, res) => {
      if (req.url?.startsWith('/api/access')) {
        // As the daemon answers a panel whose token is old.
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: false, error: { code: 'CONTROL_UNAUTHORIZED', message: 'missing or wrong token (use the panel URL the daemon printed)' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>client test</title>');
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const origin = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
    server = new WebSocketServer({ server: http, path: '/control' });
    url = `${origin.replace('http', 'ws')}/control?token=t`;
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('message', (data) => reply(socket, JSON.parse(String(data))));
    });
    browser = await launchChromium(browserBinary.executablePath!);
    page = browser.page;
    await page.goto(`${origin}/`);
    await page.addScriptTag({ content: clientBundle() });
    await page.evaluate(`
      window.events = [];
      window.connections = [];
      window.client = new PanelClient.ControlClient({ url: ${JSON.stringify(url)}, callTimeoutMs: 300, minBackoffMs: 100, maxBackoffMs: 400, stableMs: 300 });
      window.client.onConnection((c) => window.connections.push(c.status));
      window.client.on('stats', (s) => window.events.push(s.framesOut));
      window.client.start();
    `);
    await page.waitForFunction(`window.client.connection.status === 'open'`);
  });

  afterAll(async () => {
    await browser?.close();
    for (const socket of sockets) socket.terminate();
    server?.close();
    http?.close();
  });

  /** Runs client.call in the page; resolves to {ok, value} or {ok:false, code, message}. */
  function call(method: string, params: unknown = {}, timeoutMs?: number): Promise<{ ok: boolean; value?: unknown; code?: string; message?: string; name?: string }> {
    return page.evaluate(`window.client.call(${JSON.stringify(method)}, ${JSON.stringify(params)}${timeoutMs ? `, ${timeoutMs}` : ''})
      .then((value) => ({ ok: true, value }), (e) => ({ ok: false, code: e.code, message: e.message, name: e.name }))`) as Promise<{ ok: boolean; value?: unknown; code?: string; message?: string }>;
  }

  it('a refused socket (old token) says why, with the daemon’s typed error, and stops retrying', async () => {
    const origin = new URL(url.replace('ws', 'http')).origin;
    const refused = await page.evaluate(`new Promise((resolve) => {
      const states = [];
      const c = new PanelClient.ControlClient({ url: ${JSON.stringify(`${origin.replace('http', 'ws')}/refused?token=old`)}, accessUrl: ${JSON.stringify(`${origin}/api/access?token=old`)}, minBackoffMs: 50, maxBackoffMs: 100 });
      c.onConnection((s) => {
        states.push(s.status);
        if (s.status === 'refused') setTimeout(() => { c.close(); resolve({ states, error: s.error }); }, 400);
      });
      c.start();
    })`) as { states: string[]; error: { code: string; message: string } };
    expect(refused.error).toEqual({ code: 'CONTROL_UNAUTHORIZED', message: 'missing or wrong token (use the panel URL the daemon printed)' });
    // One attempt, then the refusal: no reconnect loop behind "Daemon offline, retrying".
    expect(refused.states.filter((state) => state !== 'connecting')).toEqual(['refused']);
  });

  it('sends {id, method, params} and resolves to the result', async () => {
    const seen: unknown[] = [];
    reply = (socket, message) => {
      seen.push(message);
      socket.send(JSON.stringify({ id: message.id, ok: true, result: { paused: true } }));
    };
    expect(await call('animation.setPaused', { paused: true })).toEqual({ ok: true, value: { paused: true } });
    expect(seen).toEqual([{ id: expect.any(Number), method: 'animation.setPaused', params: { paused: true } }]);
  });

  it('rejects with the daemon’s typed error (code and message as sent)', async () => {
    reply = (socket, message) => socket.send(JSON.stringify({ id: message.id, ok: false, error: { code: 'DEVICE_UNAVAILABLE', message: "'device' cuda: no CUDA here" } }));
    expect(await call('backend.set', { device: 'cuda' })).toEqual({ ok: false, name: 'ControlError', code: 'DEVICE_UNAVAILABLE', message: "'device' cuda: no CUDA here" });
  });

  it('matches answers to calls by id, in any order', async () => {
    const held: { socket: WebSocket; id: number; method: string }[] = [];
    reply = (socket, message) => {
      held.push({ socket, id: message.id, method: message.method });
      if (held.length === 2) for (const h of held.reverse()) h.socket.send(JSON.stringify({ id: h.id, ok: true, result: h.method }));
    };
    const results = await page.evaluate(`Promise.all([window.client.call('state.get', {}), window.client.call('obs.listSources', {})])`);
    expect(results).toEqual(['state.get', 'obs.listSources']);
  });

  it('times a call out when the daemon does not answer (CLIENT_TIMEOUT), and ignores the late answer', async () => {
    let late: (() => void) | undefined;
    reply = (socket, message) => { late = () => socket.send(JSON.stringify({ id: message.id, ok: true, result: 'late' })); };
    const started = Date.now();
    const result = await call('state.get', {}, 250);
    expect(result).toMatchObject({ ok: false, code: 'CLIENT_TIMEOUT' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    late?.();
    reply = (socket, message) => socket.send(JSON.stringify({ id: message.id, ok: true, result: 'fresh' }));
    expect(await call('state.get')).toEqual({ ok: true, value: 'fresh' });
  });

  it('delivers events to subscribers', async () => {
    for (const socket of sockets) socket.send(JSON.stringify({ event: 'stats', data: { framesOut: 41 } }));
    for (const socket of sockets) socket.send(JSON.stringify({ event: 'stats', data: { framesOut: 42 } }));
    await page.waitForFunction('window.events.length >= 2');
    expect(await page.evaluate('window.events')).toEqual([41, 42]);
  });

  it('rejects a pending call when the connection drops (CLIENT_DISCONNECTED), then reconnects by itself', async () => {
    await new Promise((resolve) => setTimeout(resolve, 300)); // a stable connection: the backoff starts over
    reply = (socket) => socket.terminate();
    expect(await call('state.get', {}, 5_000)).toMatchObject({ ok: false, code: 'CLIENT_DISCONNECTED' });
    await page.waitForFunction(`window.client.connection.status === 'open'`, undefined, { timeout: 5_000 });
    const history = (await page.evaluate('window.connections')) as string[];
    expect(history.slice(-3)).toEqual(['offline', 'connecting', 'open']);
    reply = (socket, message) => socket.send(JSON.stringify({ id: message.id, ok: true, result: 'again' }));
    expect(await call('state.get')).toEqual({ ok: true, value: 'again' });
  });

  it('rejects at once while offline, and backs off between reconnects that fail or drop at once', async () => {
    // Accept and drop every new connection for a while: the delay still grows to the cap.
    const refuse = (socket: WebSocket): void => socket.terminate();
    server.on('connection', refuse);
    for (const socket of sockets) socket.terminate();
    await page.waitForFunction(`window.client.connection.status === 'offline'`);
    expect(await call('state.get')).toMatchObject({ ok: false, code: 'CLIENT_DISCONNECTED' });
    await page.evaluate('window.offlineSince = Date.now(); window.delays = []; window.client.onConnection((c) => { if (c.status === "offline") window.delays.push(c.retryAt - Date.now()); })');
    await page.waitForFunction('window.delays.length >= 5', undefined, { timeout: 10_000 });
    const delays = (await page.evaluate('window.delays')) as number[];
    // The first entry is the current state (the listener is called at once); then the attempts.
    const attempts = delays.slice(1);
    expect(Math.max(...attempts)).toBeLessThanOrEqual(400 * 1.25 + 20);
    expect(attempts[attempts.length - 1]!).toBeGreaterThanOrEqual(400 * 0.75 - 20);
    server.off('connection', refuse);
    await page.waitForFunction(`window.client.connection.status === 'open'`, undefined, { timeout: 5_000 });
  });
});
