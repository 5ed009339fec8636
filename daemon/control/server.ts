/**
 * The control server: one loopback port with the WebSocket control API (the `ws` package),
 * the panel's static files, reference uploads and thumbnails, and the MJPEG preview.
 *
 * Security (the port is reachable by every local program and by web pages in the user's
 * browser): a token on every API call and WebSocket (compared in constant time), the
 * Origin header checked (only this server's own origin, or none for native clients),
 * message and upload sizes bounded, uploads sniffed as images and stored under generated
 * names; clients never name a path. Nothing a client sends can throw out of a handler.
 */
import { timingSafeEqual } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { PersonaLiveError, asPersonaLiveError } from '../errors.js';
import { CONTROL_PATH, MAX_MESSAGE_BYTES, MAX_UPLOAD_BYTES, PROTOCOL_VERSION, type EventMap, type EventName, type Method, type ReferenceInfo, type RequestMap } from '../protocol.js';
import { validateRequest } from './validate.js';
import type { Logger } from '../util/log.js';

export type Handlers = { [M in Method]: (params: RequestMap[M]['params']) => Promise<RequestMap[M]['result']> };

export interface ControlServerOptions {
  host: string;
  port: number;
  token: string;
  panelDir: string;
  handlers: Handlers;
  /** Extra methods outside the protocol (test hooks), enabled by the daemon only when asked. */
  extraHandlers?: Record<string, (params: unknown) => Promise<unknown>>;
  upload(bytes: Uint8Array, name: string): Promise<ReferenceInfo>;
  thumbnail(id: string): Promise<Buffer>;
  /** The latest preview JPEG, or null before the first frame. */
  previewJpeg(): Promise<Buffer | null>;
  previewFps: number;
  log: Logger;
}

/** Hard cap: ws closes the socket beyond it. Between MAX_MESSAGE_BYTES and this, a typed error. */
const HARD_MAX_PAYLOAD = 1024 * 1024;
const CONTENT_TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png' };

function sameToken(given: string | null, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function errorPayload(error: unknown): { code: string; message: string; details?: Record<string, unknown> } {
  const e = asPersonaLiveError(error);
  return { code: e.code, message: e.message, details: e.details };
}

export class ControlServer {
  private http: Server | null = null;
  private wss: WebSocketServer | null = null;
  private readonly clients = new Set<WebSocket>();
  private readonly previewClients = new Set<ServerResponse>();
  private previewTimer: NodeJS.Timeout | null = null;
  private boundPort = 0;

  constructor(private readonly options: ControlServerOptions) {}

  get port(): number {
    return this.boundPort;
  }

  get panelUrl(): string {
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `http://${host}:${this.boundPort}/panel/?token=${this.options.token}`;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** @throws PersonaLiveError PORT_IN_USE */
  async start(): Promise<void> {
    this.http = createServer((req, res) => {
      this.route(req, res).catch((error: unknown) => {
        this.options.log.error({ err: String(error), url: req.url }, 'http handler failed');
        if (!res.headersSent) this.sendJson(res, 500, { ok: false, error: errorPayload(error) });
        else res.destroy();
      });
    });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: HARD_MAX_PAYLOAD });
    this.http.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const refusal = this.checkAccess(req, url);
      if (refusal || url.pathname !== CONTROL_PATH) {
        const status = refusal ? refusal.status : 404;
        // The typed error as the body, for clients that can read it (a browser's WebSocket
        // cannot: the panel asks GET /api/access for the same answer).
        const body = JSON.stringify({ ok: false, error: refusal ? { code: refusal.code, message: refusal.message } : { code: 'NOT_FOUND', message: `no such path ${url.pathname}` } });
        socket.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : status === 401 ? 'Unauthorized' : 'Forbidden'}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        return;
      }
      this.wss!.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
    });
    await new Promise<void>((resolve, reject) => {
      this.http!.once('error', (error: NodeJS.ErrnoException) => {
        reject(error.code === 'EADDRINUSE'
          ? new PersonaLiveError('PORT_IN_USE', `control port ${this.options.port} on ${this.options.host} is in use, probably by another PersonaLive daemon: stop it, or give this one its own port and ring (--port N --output-ring NAME, or control.port and output.ring.name)`, { port: this.options.port })
          : error);
      });
      this.http!.listen(this.options.port, this.options.host, () => resolve());
    });
    this.boundPort = (this.http.address() as AddressInfo).port;
    this.previewTimer = setInterval(() => void this.pushPreview(), 1000 / this.options.previewFps);
    this.previewTimer.unref();
  }

  /** The origins a browser may connect from: this server's own. */
  private allowedOrigins(): Set<string> {
    const port = this.boundPort;
    return new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`, `http://[::1]:${port}`]);
  }

  /** null when allowed; else the HTTP status, the typed error and why. */
  private checkAccess(req: IncomingMessage, url: URL): { status: number; code: 'CONTROL_FORBIDDEN_ORIGIN' | 'CONTROL_UNAUTHORIZED'; message: string } | null {
    const origin = req.headers.origin;
    if (origin !== undefined && !this.allowedOrigins().has(origin)) {
      return { status: 403, code: 'CONTROL_FORBIDDEN_ORIGIN', message: `origin ${origin} is not allowed (only the daemon's own panel may connect)` };
    }
    const auth = req.headers.authorization;
    const given = url.searchParams.get('token') ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : null);
    if (!sameToken(given, this.options.token)) return { status: 401, code: 'CONTROL_UNAUTHORIZED', message: 'missing or wrong token (use the panel URL the daemon printed)' };
    return null;
  }

  private sendJson(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    res.setHeader('x-content-type-options', 'nosniff');
    if (req.method === 'GET' && (url.pathname === '/panel' || url.pathname.startsWith('/panel/'))) {
      this.serveStatic(url.pathname.slice('/panel'.length) || '/', res);
      return;
    }
    if (!url.pathname.startsWith('/api/')) {
      this.sendJson(res, 404, { ok: false, error: { code: 'NOT_FOUND', message: `no such path ${url.pathname}` } });
      return;
    }
    const refusal = this.checkAccess(req, url);
    if (refusal) {
      this.sendJson(res, refusal.status, { ok: false, error: { code: refusal.code, message: refusal.message } });
      req.resume();
      return;
    }
    if (req.method === 'GET' && url.pathname === '/api/access') {
      // Lets the panel learn why its socket was refused (a browser cannot read the upgrade's answer).
      this.sendJson(res, 200, { ok: true, result: { protocol: PROTOCOL_VERSION } });
      return;
    }
    if (req.method === 'POST' && url.pathname === '/api/references') {
      await this.handleUpload(req, res, url);
      return;
    }
    const thumbnail = /^\/api\/references\/([0-9a-f]{16})\/thumbnail\.jpg$/.exec(url.pathname);
    if (req.method === 'GET' && thumbnail) {
      try {
        const jpeg = await this.options.thumbnail(thumbnail[1]!);
        res.writeHead(200, { 'content-type': 'image/jpeg', 'cache-control': 'private, max-age=3600', 'content-length': jpeg.length });
        res.end(jpeg);
      } catch (error) {
        this.sendJson(res, 404, { ok: false, error: errorPayload(error) });
      }
      return;
    }
    if (req.method === 'GET' && url.pathname === '/api/preview.mjpg') {
      res.writeHead(200, { 'content-type': 'multipart/x-mixed-replace; boundary=frame', 'cache-control': 'no-store', connection: 'close' });
      this.previewClients.add(res);
      res.on('close', () => this.previewClients.delete(res));
      return;
    }
    if (req.method === 'GET' && url.pathname === '/api/state') {
      this.sendJson(res, 200, { ok: true, result: await this.options.handlers['state.get']({}) });
      return;
    }
    this.sendJson(res, 404, { ok: false, error: { code: 'NOT_FOUND', message: `no such endpoint ${req.method} ${url.pathname}` } });
  }

  private serveStatic(path: string, res: ServerResponse): void {
    const relative = normalize(path === '/' ? '/index.html' : path).replace(/^([/\\])+/, '');
    const file = join(this.options.panelDir, relative);
    // Only files inside the panel folder.
    if (!file.startsWith(this.options.panelDir + sep) || !existsSync(file) || !statSync(file).isFile()) {
      this.sendJson(res, 404, { ok: false, error: { code: 'NOT_FOUND', message: existsSync(this.options.panelDir) ? `no panel file ${path}` : `the panel is not built (${this.options.panelDir} missing): run npm run build` } });
      return;
    }
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-cache',
      // The panel loads nothing from elsewhere.
      'content-security-policy': "default-src 'self'; img-src 'self' blob: data:; connect-src 'self' ws: ; style-src 'self' 'unsafe-inline'",
    });
    createReadStream(file).pipe(res);
  }

  private async handleUpload(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const declared = Number(req.headers['content-length'] ?? NaN);
    const tooLarge = (): void => {
      this.sendJson(res, 413, { ok: false, error: { code: 'CONTROL_MESSAGE_TOO_LARGE', message: `reference images are limited to ${MAX_UPLOAD_BYTES / 1024 / 1024} MB` } });
    };
    if (Number.isFinite(declared) && declared > MAX_UPLOAD_BYTES) {
      tooLarge();
      req.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_UPLOAD_BYTES) {
        tooLarge();
        req.destroy();
        return;
      }
      chunks.push(chunk as Buffer);
    }
    try {
      const reference = await this.options.upload(new Uint8Array(Buffer.concat(chunks)), url.searchParams.get('name') ?? 'reference');
      this.sendJson(res, 201, { ok: true, result: reference });
    } catch (error) {
      const payload = errorPayload(error);
      this.sendJson(res, payload.code === 'INTERNAL' ? 500 : 400, { ok: false, error: payload });
    }
  }

  private async pushPreview(): Promise<void> {
    if (this.previewClients.size === 0) return;
    const jpeg = await this.options.previewJpeg().catch(() => null);
    if (!jpeg) return;
    const head = `--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`;
    for (const res of this.previewClients) {
      // A slow viewer skips frames rather than buffering them.
      if (res.writableLength > 4 * jpeg.length) continue;
      res.write(head);
      res.write(jpeg);
      res.write('\r\n');
    }
  }

  private accept(ws: WebSocket): void {
    this.clients.add(ws);
    ws.on('close', () => this.clients.delete(ws));
    ws.on('error', () => this.clients.delete(ws));
    ws.on('message', (data, isBinary) => void this.onMessage(ws, data, isBinary));
  }

  private async onMessage(ws: WebSocket, data: RawData, isBinary: boolean): Promise<void> {
    const reply = (message: unknown): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
    };
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer | ArrayBuffer).byteLength;
    if (size > MAX_MESSAGE_BYTES) {
      reply({ id: null, ok: false, error: { code: 'CONTROL_MESSAGE_TOO_LARGE', message: `control messages are limited to ${MAX_MESSAGE_BYTES} bytes, got ${size} (upload images with POST /api/references)` } });
      return;
    }
    let message: { id?: unknown; method?: unknown; params?: unknown };
    try {
      if (isBinary) throw new Error('binary frames are not part of the protocol');
      message = JSON.parse(String(data)) as typeof message;
      if (message === null || typeof message !== 'object' || Array.isArray(message)) throw new Error('a message is a JSON object');
    } catch (error) {
      reply({ id: null, ok: false, error: { code: 'CONTROL_BAD_MESSAGE', message: `not a control message: ${(error as Error).message}` } });
      return;
    }
    const id = typeof message.id === 'number' || (typeof message.id === 'string' && message.id.length <= 64) ? message.id : null;
    if (id === null) {
      reply({ id: null, ok: false, error: { code: 'CONTROL_BAD_MESSAGE', message: 'a request needs an "id" (number or short string)' } });
      return;
    }
    try {
      const extra = this.options.extraHandlers ?? {};
      const { method, params } = validateRequest(message.method, message.params, Object.keys(extra));
      const handler = (extra[method] ?? this.options.handlers[method]) as (p: unknown) => Promise<unknown>;
      const result = await handler(params);
      reply({ id, ok: true, result });
    } catch (error) {
      const payload = errorPayload(error);
      if (payload.code === 'INTERNAL') this.options.log.error({ err: String(error), method: message.method }, 'control handler failed');
      reply({ id, ok: false, error: payload });
    }
  }

  /** Sends an event to every connected client. */
  broadcast<E extends EventName>(event: E, data: EventMap[E]): void {
    if (this.clients.size === 0) return;
    const text = JSON.stringify({ event, data });
    for (const ws of this.clients) if (ws.readyState === ws.OPEN && ws.bufferedAmount < 1024 * 1024) ws.send(text);
  }

  async close(): Promise<void> {
    if (this.previewTimer) clearInterval(this.previewTimer);
    for (const res of this.previewClients) res.end();
    this.previewClients.clear();
    for (const ws of this.clients) ws.close(1001, 'daemon shutting down');
    this.wss?.close();
    this.http?.closeAllConnections?.();
    await new Promise<void>((resolve) => (this.http ? this.http.close(() => resolve()) : resolve()));
    this.http = null;
  }
}
