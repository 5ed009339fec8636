/**
 * A control-API connection for tests (the daemon's WebSocket protocol, daemon/protocol.ts):
 * it keeps every message it receives (responses and events) so a test can wait for one.
 */
import WebSocket from 'ws';
import type { DaemonProcess } from './daemon-process.js';

export interface ControlReply<T> {
  ok: boolean;
  result?: T;
  error?: { code: string; message: string };
}

export class ControlClient {
  readonly messages: Record<string, unknown>[] = [];
  private nextId = 1;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.messages.push(JSON.parse(String(data)) as Record<string, unknown>));
  }

  static async open(daemon: DaemonProcess, headers: Record<string, string> = {}): Promise<ControlClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${daemon.port}/control?token=${daemon.token}`, { headers });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new ControlClient(ws);
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  async call<T = unknown>(method: string, params: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<ControlReply<T>> {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return (await this.waitFor((m) => m.id === id, timeoutMs)) as unknown as ControlReply<T>;
  }

  async waitFor(match: (message: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(match);
      if (found) return found;
      if (Date.now() > deadline || this.ws.readyState > WebSocket.OPEN) throw new Error(`no matching message in ${timeoutMs} ms (socket state ${this.ws.readyState})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.ws.close();
  }

  /** One request on a connection of its own (opened, answered, closed). */
  static async callOnce<T = unknown>(daemon: DaemonProcess, method: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<ControlReply<T>> {
    const client = await ControlClient.open(daemon);
    try {
      return await client.call<T>(method, params, timeoutMs);
    } finally {
      client.close();
    }
  }
}
