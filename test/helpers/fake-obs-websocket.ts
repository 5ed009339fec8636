/**
 * A minimal obs-websocket 5 server on a loopback port for contract tests (the protocol's
 * Hello / Identify / Identified / Request / RequestResponse / Event messages, with the
 * documented authentication). Handlers decide how each request is answered, or not at all.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface FakeRequest {
  requestType: string;
  requestId: string;
  requestData?: Record<string, unknown>;
}

/** Return a response body, an error {code, comment}, or 'ignore' to never answer. */
export type FakeHandler = (request: FakeRequest) => Record<string, unknown> | { error: { code: number; comment: string } } | 'ignore';

const sha256b64 = (text: string): string => createHash('sha256').update(text).digest('base64');

export class FakeObsWebSocket {
  readonly handlers = new Map<string, FakeHandler>();
  readonly received: FakeRequest[] = [];
  private server: WebSocketServer | null = null;
  private readonly sockets = new Set<WebSocket>();
  port = 0;

  constructor(private readonly password: string | null = null) {}

  async start(port = 0): Promise<void> {
    this.server = new WebSocketServer({ host: '127.0.0.1', port });
    await new Promise<void>((resolve) => this.server!.once('listening', () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
    this.server.on('connection', (socket) => this.accept(socket));
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  private accept(socket: WebSocket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    const salt = randomBytes(8).toString('base64');
    const challenge = randomBytes(8).toString('base64');
    const hello: Record<string, unknown> = { obsWebSocketVersion: '5.1.0', rpcVersion: 1 };
    if (this.password !== null) hello.authentication = { salt, challenge };
    socket.send(JSON.stringify({ op: 0, d: hello }));
    socket.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as { op: number; d: Record<string, unknown> };
      if (message.op === 1) {
        if (this.password !== null) {
          const expected = sha256b64(sha256b64(this.password + salt) + challenge);
          if (message.d.authentication !== expected) {
            socket.close(4009, 'Authentication failed.');
            return;
          }
        }
        socket.send(JSON.stringify({ op: 2, d: { negotiatedRpcVersion: 1 } }));
      } else if (message.op === 6) {
        const request = message.d as unknown as FakeRequest;
        this.received.push(request);
        const handler = this.handlers.get(request.requestType);
        const answer = handler ? handler(request) : { error: { code: 204, comment: 'Your request type is not valid.' } };
        if (answer === 'ignore') return;
        const status = 'error' in answer
          ? { result: false, code: (answer.error as { code: number }).code, comment: (answer.error as { comment: string }).comment }
          : { result: true, code: 100 };
        socket.send(JSON.stringify({ op: 7, d: { requestType: request.requestType, requestId: request.requestId, requestStatus: status, responseData: 'error' in answer ? undefined : answer } }));
      }
    });
  }

  /** Sends an event to every identified client. */
  emitEvent(eventType: string, eventData: Record<string, unknown>, eventIntent = 1 << 9): void {
    for (const socket of this.sockets) socket.send(JSON.stringify({ op: 5, d: { eventType, eventIntent, eventData } }));
  }

  /** Drops every connection abruptly (like OBS crashing). */
  dropClients(): void {
    for (const socket of this.sockets) socket.terminate();
  }

  async stop(): Promise<void> {
    this.dropClients();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = null;
  }
}
