/**
 * The panel's typed client for the daemon's control WebSocket (daemon/protocol.ts).
 *
 * Every call has an id and a timeout, pending calls reject when the socket closes, and the
 * socket reconnects by itself with exponential backoff; listeners learn the connection
 * state so the UI can say "daemon offline" meanwhile.
 */
import {
  CONTROL_PATH,
  type ErrorPayload,
  type EventMap,
  type EventName,
  type Method,
  type RequestMap,
} from '../../daemon/protocol.js';

/** A failed call: the daemon's typed error, or a client-side one (CLIENT_TIMEOUT, CLIENT_DISCONNECTED). */
export class ControlError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(payload: ErrorPayload) {
    super(payload.message);
    this.name = 'ControlError';
    this.code = payload.code;
    this.details = payload.details ?? {};
  }
}

export type ConnectionState =
  | { status: 'connecting'; attempt: number }
  | { status: 'open' }
  | { status: 'offline'; retryAt: number; attempt: number }
  /** The daemon is up but turned this page away (an old token, a foreign page): retrying would not help. */
  | { status: 'refused'; error: ErrorPayload };

export interface ClientOptions {
  /** ws(s)://host/control?token=... */
  url: string;
  /**
   * http(s)://host/api/access?token=...: asked when the socket is refused before it opens,
   * since a browser's WebSocket cannot read why (CONTROL_UNAUTHORIZED, CONTROL_FORBIDDEN_ORIGIN).
   */
  accessUrl?: string;
  /** Per-call timeout unless a call gives its own (ms). */
  callTimeoutMs?: number;
  /** First reconnect delay; doubles per failed attempt up to maxBackoffMs (ms). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * A connection must stay open this long before the backoff starts over (ms): a daemon that
   * accepts and drops at once must not be hammered at the shortest delay.
   */
  stableMs?: number;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: number;
}

type Listener<T> = (value: T) => void;

/** Where the panel asks why the daemon refused its socket (same host and token). */
export function accessUrl(location: Location, token: string): string {
  return `${location.protocol}//${location.host}/api/access?token=${encodeURIComponent(token)}`;
}

/** The control URL for a page served at http(s)://host/panel/?token=...: same host, ws(s). */
export function controlUrl(location: Location, token: string): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${CONTROL_PATH}?token=${encodeURIComponent(token)}`;
}

export class ControlClient {
  private readonly options: Required<ClientOptions>;
  private socket: WebSocket | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<EventName, Set<Listener<never>>>();
  private readonly connectionListeners = new Set<Listener<ConnectionState>>();
  private attempt = 0;
  private reconnectTimer: number | null = null;
  private closed = false;
  private state: ConnectionState = { status: 'connecting', attempt: 0 };

  constructor(options: ClientOptions) {
    this.options = { callTimeoutMs: 10_000, minBackoffMs: 500, maxBackoffMs: 10_000, stableMs: 5_000, accessUrl: '', ...options };
  }

  get connection(): ConnectionState {
    return this.state;
  }

  /** Opens the socket (and keeps reopening it until close()). */
  start(): void {
    this.closed = false;
    this.open();
  }

  /** Closes for good: no reconnect; pending calls reject. */
  close(): void {
    this.closed = true;
    if (this.reconnectTimer !== null) window.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.socket?.close(1000, 'panel closed');
    this.socket = null;
    this.rejectAll('the panel closed its connection');
  }

  /**
   * Calls a method and resolves to its typed result.
   * @throws ControlError with the daemon's code and message, CLIENT_TIMEOUT after the
   *   timeout, or CLIENT_DISCONNECTED when offline or when the socket closes before the answer.
   */
  call<K extends Method>(method: K, params: RequestMap[K]['params'], timeoutMs = this.options.callTimeoutMs): Promise<RequestMap[K]['result']> {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new ControlError({ code: 'CLIENT_DISCONNECTED', message: `Cannot ${method}: the daemon is offline.` }));
    }
    const id = this.nextId++;
    return new Promise<RequestMap[K]['result']>((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this.pending.delete(id);
        reject(new ControlError({ code: 'CLIENT_TIMEOUT', message: `The daemon did not answer ${method} within ${Math.round(timeoutMs / 1000)} s.` }));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends EventName>(event: E, listener: Listener<EventMap[E]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set!.delete(listener as Listener<never>);
  }

  /** Subscribes to connection changes (called at once with the current state). */
  onConnection(listener: Listener<ConnectionState>): () => void {
    this.connectionListeners.add(listener);
    listener(this.state);
    return () => this.connectionListeners.delete(listener);
  }

  private setState(state: ConnectionState): void {
    this.state = state;
    for (const listener of this.connectionListeners) listener(state);
  }

  private open(): void {
    this.setState({ status: 'connecting', attempt: this.attempt });
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.options.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    let openedAt: number | null = null;
    socket.onopen = () => {
      openedAt = Date.now();
      this.setState({ status: 'open' });
    };
    socket.onmessage = (message) => this.receive(message.data);
    // onerror is always followed by onclose; the reconnect is handled there.
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (openedAt !== null && Date.now() - openedAt >= this.options.stableMs) this.attempt = 0;
      this.rejectAll('the connection to the daemon closed');
      if (this.closed) return;
      if (openedAt === null && this.options.accessUrl) void this.askWhyRefused();
      else this.scheduleReconnect();
    };
  }

  /** After a socket that never opened: a refusal (401/403) stops the retries; anything else (offline) retries. */
  private async askWhyRefused(): Promise<void> {
    let refusal: ErrorPayload | null = null;
    try {
      const response = await fetch(this.options.accessUrl, { cache: 'no-store' });
      if (response.status === 401 || response.status === 403) {
        const body = (await response.json()) as { error?: ErrorPayload };
        refusal = body.error ?? { code: 'CONTROL_UNAUTHORIZED', message: `the daemon refused this page (HTTP ${response.status})` };
      }
    } catch {
      // The daemon is not reachable: offline, retry as usual.
    }
    if (this.closed) return;
    if (refusal) this.setState({ status: 'refused', error: refusal });
    else this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const base = Math.min(this.options.maxBackoffMs, this.options.minBackoffMs * 2 ** this.attempt);
    // Jitter so several docks do not hammer a restarting daemon in lockstep.
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.attempt++;
    this.setState({ status: 'offline', retryAt: Date.now() + delay, attempt: this.attempt });
    this.reconnectTimer = window.setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.closed) this.open();
    }, delay);
  }

  /** Reconnects now instead of waiting for the backoff (the "Retry now" button). */
  retryNow(): void {
    if (this.closed || (this.state.status !== 'offline' && this.state.status !== 'refused')) return;
    if (this.reconnectTimer !== null) window.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.open();
  }

  private rejectAll(reason: string): void {
    for (const [id, pending] of this.pending) {
      window.clearTimeout(pending.timer);
      pending.reject(new ControlError({ code: 'CLIENT_DISCONNECTED', message: `No answer: ${reason}.` }));
      this.pending.delete(id);
    }
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') return;
    let message: unknown;
    try {
      message = JSON.parse(data);
    } catch {
      console.warn('personalive panel: ignored a non-JSON control message');
      return;
    }
    if (!message || typeof message !== 'object') return;
    if ('event' in message) {
      const { event, data: payload } = message as { event: EventName; data: unknown };
      for (const listener of this.listeners.get(event) ?? []) {
        try {
          (listener as Listener<unknown>)(payload);
        } catch (error) {
          console.error(`personalive panel: a "${event}" listener failed`, error);
        }
      }
      return;
    }
    if ('id' in message && 'ok' in message) {
      const response = message as { id: unknown; ok: boolean; result?: unknown; error?: ErrorPayload };
      const pending = typeof response.id === 'number' ? this.pending.get(response.id) : undefined;
      if (!pending) {
        // An error with id null is the daemon refusing a message it could not parse.
        if (!response.ok && response.error) console.warn('personalive panel: daemon error without a call', response.error);
        return;
      }
      this.pending.delete(response.id as number);
      window.clearTimeout(pending.timer);
      if (response.ok) pending.resolve(response.result);
      else pending.reject(new ControlError(response.error ?? { code: 'CLIENT_BAD_RESPONSE', message: 'The daemon answered with an error but gave no details.' }));
    }
  }
}
