/**
 * What the panel says about OBS and the backends, in a streamer's words: what happened and
 * what to do, with the technical detail (the socket error, the library path) kept for a
 * disclosure. Pure, so the wording is tested without a browser.
 */
import type { DaemonState } from '../../daemon/protocol.js';

export interface Said {
  /** One short sentence for a 300 px dock. */
  text: string;
  /** What was really reported, shown behind "Details" (null when there is nothing more). */
  detail: string | null;
}

export function obsStatusWords(obs: DaemonState['obs']): Said {
  if (obs.state === 'disabled') return { text: 'OBS control is off in the configuration (obs.enabled).', detail: null };
  if (obs.state === 'connected') return { text: 'Connected to OBS.', detail: obs.url };
  const detail = obs.error ? `${obs.url}: ${obs.error}` : obs.url;
  if (obs.code === 'OBS_AUTH_FAILED') {
    return { text: 'OBS refused the password. Copy it from OBS (Tools > WebSocket Server Settings > Show Connect Info) into obs.password in the daemon’s configuration.', detail };
  }
  if (obs.state === 'connecting' || !obs.error) return { text: 'Connecting to OBS…', detail };
  return { text: 'OBS is not reachable. Start OBS and turn on its WebSocket server (Tools > WebSocket Server Settings); the daemon keeps trying.', detail };
}
