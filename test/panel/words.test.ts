/** The panel's words for OBS: what happened and what to do, the raw error kept for Details. */
import { describe, expect, it } from 'vitest';
import { obsStatusWords } from '../../panel/src/words.js';

const url = 'ws://127.0.0.1:4455';

describe('obsStatusWords', () => {
  it('OBS closed: says to start OBS and turn its WebSocket server on, not "connect ECONNREFUSED"', () => {
    const said = obsStatusWords({ state: 'disconnected', url, error: 'connecting: connect ECONNREFUSED 127.0.0.1:4455 (code 1006)', code: 'OBS_UNREACHABLE' });
    expect(said.text).toBe('OBS is not reachable. Start OBS and turn on its WebSocket server (Tools > WebSocket Server Settings); the daemon keeps trying.');
    expect(said.text).not.toContain('ECONNREFUSED');
    expect(said.detail).toBe(`${url}: connecting: connect ECONNREFUSED 127.0.0.1:4455 (code 1006)`);
  });

  it('a wrong password: says where to copy the right one from', () => {
    const said = obsStatusWords({ state: 'disconnected', url, error: 'obs-websocket refused the password (Authentication failed.)', code: 'OBS_AUTH_FAILED' });
    expect(said.text).toContain('OBS refused the password');
    expect(said.text).toContain('obs.password');
  });

  it('connected, connecting and switched off are each one plain sentence', () => {
    expect(obsStatusWords({ state: 'connected', url, error: null, code: null })).toEqual({ text: 'Connected to OBS.', detail: url });
    expect(obsStatusWords({ state: 'connecting', url, error: null, code: null }).text).toBe('Connecting to OBS…');
    expect(obsStatusWords({ state: 'disabled', url, error: null, code: null })).toEqual({ text: 'OBS control is off in the configuration (obs.enabled).', detail: null });
  });
});
