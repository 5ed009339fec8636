/**
 * obs-websocket (5.x) client: the one module that imports obs-websocket-js.
 *
 * obs-websocket-js has no call timeout and leaves calls pending when the socket drops
 * (house-style.md, item 9); this wrapper adds both, plus reconnection with backoff, typed
 * errors from the catalogue, and the vendor API (requests to and events from the
 * PersonaLive plugin).
 */
import { EventEmitter } from 'node:events';
import { EventSubscription, OBSWebSocket, OBSWebSocketError, type OBSEventTypes, type OBSRequestTypes, type OBSResponseTypes } from 'obs-websocket-js/json';
import { PersonaLiveError } from '../errors.js';
import { withDeadline } from '../util/deadline.js';

export type { OBSRequestTypes, OBSResponseTypes };

/** The plugin's obs-websocket vendor name (plugin/src/vendor.c). */
export const PERSONALIVE_VENDOR = 'personalive';

export interface ObsClientOptions {
  /** ws://host:port, default ws://127.0.0.1:4455. */
  url?: string;
  password?: string;
  /** Per call, default 5000 ms. */
  callTimeoutMs?: number;
  /** For the connect + identify handshake, default 5000 ms. */
  connectTimeoutMs?: number;
  /** Reconnect after a drop (not after close()); default on, 500 ms doubling to 10 s. */
  reconnect?: false | { initialDelayMs?: number; maxDelayMs?: number };
  /** Event subscriptions; default General | Inputs | Scenes | Filters | Vendors. */
  eventSubscriptions?: number;
}

export interface VendorEvent {
  vendorName: string;
  eventType: string;
  eventData: Record<string, unknown>;
}

export type ObsConnectionState = 'disconnected' | 'connecting' | 'connected' | 'closed';

interface ObsClientEvents {
  state: [ObsConnectionState, PersonaLiveError | null];
  vendorEvent: [VendorEvent];
  obsEvent: [string, unknown];
}

const DEFAULT_SUBSCRIPTIONS = EventSubscription.General | EventSubscription.Inputs | EventSubscription.Scenes | EventSubscription.Filters | EventSubscription.Vendors;
/** obs-websocket close code 4009: authentication failed. */
const CLOSE_AUTHENTICATION_FAILED = 4009;

/** Maps an obs-websocket-js error to a catalogue error. */
function toPersonaLiveError(error: unknown, what: string): PersonaLiveError {
  if (error instanceof PersonaLiveError) return error;
  if (error instanceof OBSWebSocketError) {
    if (error.code === CLOSE_AUTHENTICATION_FAILED) return new PersonaLiveError('OBS_AUTH_FAILED', `${what}: obs-websocket refused the password (${error.message})`, { obsCode: error.code });
    // Request status codes are 100..699; socket close codes are 1000+.
    if (error.code >= 100 && error.code < 1000) return new PersonaLiveError('OBS_REQUEST_FAILED', `${what}: obs-websocket error ${error.code}: ${error.message}`, { obsCode: error.code });
    return new PersonaLiveError('OBS_UNREACHABLE', `${what}: ${error.message || 'connection failed'} (code ${error.code})`, { obsCode: error.code });
  }
  return new PersonaLiveError('OBS_UNREACHABLE', `${what}: ${(error as Error)?.message ?? String(error)}`);
}

/**
 * A connection to OBS that stays up: calls time out, fail fast while disconnected, and are
 * rejected when the socket drops; the connection comes back by itself.
 */
export class ObsClient extends EventEmitter<ObsClientEvents> {
  readonly url: string;
  private readonly socket = new OBSWebSocket();
  private readonly pending = new Set<(error: PersonaLiveError) => void>();
  private current: ObsConnectionState = 'disconnected';
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelayMs: number;
  private lastError: PersonaLiveError | null = null;

  constructor(private readonly options: ObsClientOptions = {}) {
    super();
    this.url = options.url ?? 'ws://127.0.0.1:4455';
    this.reconnectDelayMs = this.reconnectInitialMs();
    this.socket.on('ConnectionClosed', (error) => this.onClosed(error));
    this.socket.on('VendorEvent', (event: OBSEventTypes['VendorEvent']) => {
      this.emit('vendorEvent', { vendorName: event.vendorName, eventType: event.eventType, eventData: event.eventData as Record<string, unknown> });
    });
    for (const name of ['CurrentProgramSceneChanged', 'InputCreated', 'InputRemoved', 'InputNameChanged', 'SceneItemCreated', 'SceneItemRemoved'] as const) {
      this.socket.on(name, (data: unknown) => this.emit('obsEvent', name, data));
    }
  }

  get state(): ObsConnectionState {
    return this.current;
  }

  /** The error behind the last failed connection attempt, if any. */
  get error(): PersonaLiveError | null {
    return this.lastError;
  }

  private reconnectInitialMs(): number {
    return this.options.reconnect === false ? 0 : this.options.reconnect?.initialDelayMs ?? 500;
  }

  private setState(state: ObsConnectionState, error: PersonaLiveError | null = null): void {
    this.current = state;
    if (error) this.lastError = error;
    this.emit('state', state, error);
  }

  /**
   * Connects and identifies. With reconnection on, a failure also schedules retries.
   * @throws PersonaLiveError OBS_UNREACHABLE, OBS_AUTH_FAILED, OBS_TIMEOUT
   */
  async connect(): Promise<void> {
    if (this.current === 'closed') throw new PersonaLiveError('OBS_DISCONNECTED', 'obs-websocket client was closed');
    if (this.current === 'connected') return;
    this.setState('connecting');
    const timeoutMs = this.options.connectTimeoutMs ?? 5000;
    try {
      await withDeadline(
        this.socket.connect(this.url, this.options.password, { rpcVersion: 1, eventSubscriptions: this.options.eventSubscriptions ?? DEFAULT_SUBSCRIPTIONS }),
        timeoutMs,
        () => new PersonaLiveError('OBS_TIMEOUT', `connecting to ${this.url}: no answer in ${timeoutMs} ms`),
      );
    } catch (error) {
      const failure = toPersonaLiveError(error, `connecting to ${this.url}`);
      await this.socket.disconnect().catch(() => undefined);
      if ((this.current as ObsConnectionState) !== 'closed') {
        this.setState('disconnected', failure);
        this.scheduleReconnect();
      }
      throw failure;
    }
    if ((this.current as ObsConnectionState) === 'closed') {
      await this.socket.disconnect().catch(() => undefined);
      return;
    }
    this.reconnectDelayMs = this.reconnectInitialMs();
    this.setState('connected');
  }

  private onClosed(error: OBSWebSocketError): void {
    const failure = new PersonaLiveError('OBS_DISCONNECTED', `connection to ${this.url} closed: ${error.message || `code ${error.code}`}`, { obsCode: error.code });
    for (const reject of this.pending) reject(failure);
    this.pending.clear();
    if (this.current === 'connected') {
      this.setState('disconnected', failure);
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.options.reconnect === false || this.current === 'closed' || this.reconnectTimer) return;
    const maxMs = (this.options.reconnect && this.options.reconnect.maxDelayMs) || 10_000;
    const delay = this.reconnectDelayMs;
    this.reconnectDelayMs = Math.min(maxMs, this.reconnectDelayMs * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect().catch(() => undefined); // connect() reschedules on failure
    }, delay);
    this.reconnectTimer.unref();
  }

  /**
   * One obs-websocket request, typed by obs-websocket-js's protocol types.
   * @throws PersonaLiveError OBS_DISCONNECTED (not connected, or dropped while pending), OBS_TIMEOUT, OBS_REQUEST_FAILED
   */
  call<K extends keyof OBSRequestTypes>(type: K, data?: OBSRequestTypes[K], timeoutMs = this.options.callTimeoutMs ?? 5000): Promise<OBSResponseTypes[K]> {
    if (this.current !== 'connected') {
      return Promise.reject(new PersonaLiveError('OBS_DISCONNECTED', `${type}: not connected to obs-websocket at ${this.url} (${this.current})`));
    }
    return new Promise<OBSResponseTypes[K]>((resolve, reject) => {
      const settle = (error: PersonaLiveError | null, value?: OBSResponseTypes[K]): void => {
        if (!this.pending.delete(fail)) return;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(value as OBSResponseTypes[K]);
      };
      const fail = (error: PersonaLiveError): void => settle(error);
      const timer = setTimeout(() => settle(new PersonaLiveError('OBS_TIMEOUT', `${type}: no answer from obs-websocket in ${timeoutMs} ms`)), timeoutMs);
      this.pending.add(fail);
      this.socket.call(type, data).then(
        (value) => settle(null, value),
        (error: unknown) => settle(toPersonaLiveError(error, type)),
      );
    });
  }

  /**
   * A request to an obs-websocket vendor (the PersonaLive plugin by default).
   * @throws PersonaLiveError as call(); OBS_REQUEST_FAILED with obsCode 600 when the vendor is not registered
   */
  async callVendor(requestType: string, requestData: Record<string, unknown> = {}, vendorName = PERSONALIVE_VENDOR): Promise<Record<string, unknown>> {
    // obs-websocket 5.1.0 answers an empty requestData object with code 403: leave it out.
    const body = Object.keys(requestData).length > 0 ? { vendorName, requestType, requestData: requestData as never } : { vendorName, requestType };
    const response = await this.call('CallVendorRequest', body as OBSRequestTypes['CallVendorRequest']);
    return (response.responseData ?? {}) as Record<string, unknown>;
  }

  /** Stops reconnecting, rejects pending calls and closes the socket. */
  async close(): Promise<void> {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const failure = new PersonaLiveError('OBS_DISCONNECTED', 'obs-websocket client was closed');
    for (const reject of this.pending) reject(failure);
    this.pending.clear();
    this.setState('closed');
    await this.socket.disconnect().catch(() => undefined);
  }
}
