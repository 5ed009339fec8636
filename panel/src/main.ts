/**
 * The dock panel's entry point. Served at /panel/?token=<token>: it reads the token from its
 * own URL, opens ws(s)://<same host>/control?token=<token>, and renders the daemon's state.
 */
import type { DaemonState } from '../../daemon/protocol.js';
import type { NoticeLevel, Panel, View } from './app.js';
import { mountBackends } from './backends.js';
import { ControlClient, ControlError, accessUrl, controlUrl, type ConnectionState } from './client.js';
import { byId, readSetting, setText, writeSetting } from './dom.js';
import { mountDriving, mountObs } from './driving.js';
import { mountGallery } from './gallery.js';
import { Notices } from './notices.js';
import { mountOutput } from './output.js';
import { mountChecks } from './checks.js';
import { mountExpression } from './expression.js';
import { mountStats } from './stats.js';

function errorMessage(error: unknown): { message: string; code: string | null } {
  if (error instanceof ControlError) return { message: error.message, code: error.code };
  return { message: error instanceof Error ? error.message : String(error), code: null };
}

/** Remembers which sections the user folded (OBS keeps a dock's storage between runs). */
function persistSections(): void {
  for (const details of Array.from(document.querySelectorAll<HTMLDetailsElement>('details[data-section]'))) {
    const key = `personalive.section.${details.dataset.section}`;
    const saved = readSetting(key);
    if (saved !== null) details.open = saved === 'open';
    details.addEventListener('toggle', () => writeSetting(key, details.open ? 'open' : 'closed'));
  }
}

function boot(): void {
  const notices = new Notices(byId('notices'));
  const main = byId('main');
  const token = new URLSearchParams(location.search).get('token') ?? '';
  if (!token) {
    main.inert = true;
    setText(byId('connection'), 'no token');
    notices.add('error', 'This page needs the daemon’s token: use the panel URL the daemon prints (http://127.0.0.1:<port>/panel/?token=…) as the dock’s URL.', 'PANEL_NO_TOKEN');
    return;
  }

  const client = new ControlClient({ url: controlUrl(location, token), accessUrl: accessUrl(location, token) });
  let state: DaemonState | null = null;
  const busy = new WeakSet<HTMLElement>();
  const views: View[] = [];

  function render(): void {
    if (!state) return;
    for (const view of views) {
      try {
        view.update(state);
      } catch (error) {
        console.error('personalive panel: a view failed to render', error);
      }
    }
  }

  const panel: Panel = {
    client,
    token,
    state: () => state,
    patch(change) {
      if (!state) return;
      state = { ...state, ...change };
      render();
    },
    tokenUrl(path) {
      const url = new URL(path, `${location.origin}/`);
      url.searchParams.set('token', token);
      return url.href;
    },
    notify: (level: NoticeLevel, message: string, code: string | null = null) => notices.add(level, message, code),
    async act(control, action) {
      // Busy controls are marked, not disabled: disabling would throw the keyboard focus away.
      if (control && busy.has(control)) return undefined;
      if (control) {
        busy.add(control);
        control.setAttribute('aria-busy', 'true');
      }
      try {
        return await action();
      } catch (error) {
        const { message, code } = errorMessage(error);
        notices.add('error', message, code);
        return undefined;
      } finally {
        if (control) {
          busy.delete(control);
          control.removeAttribute('aria-busy');
        }
      }
    },
  };

  const backends = mountBackends(panel);
  const stats = mountStats(panel);
  views.push(mountGallery(panel), mountDriving(panel), mountObs(panel), backends, mountOutput(panel), mountExpression(panel), mountChecks(panel));

  const pause = byId<HTMLButtonElement>('pause-toggle');
  views.push({
    update(s) {
      pause.dataset.paused = String(s.paused);
      setText(pause, s.paused ? 'Resume' : 'Pause');
      pause.title = s.paused ? 'The portrait is frozen: resume the animation' : 'Freeze the portrait (the output keeps its last frame)';
      byId('paused-badge').hidden = !s.paused;
      setText(byId('version'), `${s.version} (protocol ${s.protocol})`);
    },
  });
  pause.addEventListener('click', async () => {
    if (!state) return;
    const result = await panel.act(pause, () => client.call('animation.setPaused', { paused: !state!.paused }));
    if (result) panel.patch({ paused: result.paused });
  });

  client.on('state', (next) => {
    state = next;
    render();
  });
  client.on('stats', (next) => {
    backends.stats(next);
    stats.stats(next);
  });
  client.on('notice', (notice) => notices.add(notice.level, notice.message, notice.code));

  const banner = byId('offline-banner');
  let countdown: number | null = null;
  function showConnection(connection: ConnectionState): void {
    const badge = byId('connection');
    badge.dataset.state = connection.status;
    setText(badge, connection.status === 'open' ? 'online' : connection.status === 'connecting' ? 'connecting…' : connection.status === 'refused' ? 'refused' : 'offline');
    main.inert = connection.status !== 'open' || !state;
    pause.disabled = connection.status !== 'open';
    // What is outside <main> and acts on the daemon is stale while offline.
    document.body.classList.toggle('offline', connection.status !== 'open');
    if (countdown !== null) window.clearInterval(countdown);
    countdown = null;
    banner.hidden = connection.status !== 'offline' && connection.status !== 'refused';
    setText(byId('offline-title'), connection.status === 'refused' ? 'The daemon refused this panel.' : 'Daemon offline.');
    if (connection.status === 'refused') {
      // What to do first; the daemon's own words behind it.
      const what = connection.error.code === 'CONTROL_FORBIDDEN_ORIGIN'
        ? 'This page is not the daemon’s own panel: open the panel URL the daemon printed.'
        : 'This panel’s link is out of date (the daemon’s token changed): open the panel URL the daemon printed and use it as the dock’s URL.';
      setText(byId('offline-retry'), `${what} (${connection.error.code}: ${connection.error.message})`);
    }
    if (connection.status === 'offline') {
      const tick = (): void => setText(byId('offline-retry'), `Retrying in ${Math.max(0, Math.ceil((connection.retryAt - Date.now()) / 1000))} s.`);
      tick();
      countdown = window.setInterval(tick, 1000);
    }
  }
  byId('offline-retry-now').addEventListener('click', () => client.retryNow());

  client.onConnection(async (connection) => {
    showConnection(connection);
    stats.connected(connection.status === 'open');
    if (connection.status !== 'open') return;
    try {
      state = await client.call('state.get', {});
      main.inert = false;
      render();
    } catch (error) {
      const { message, code } = errorMessage(error);
      notices.add('error', `Could not read the daemon’s state: ${message}`, code);
    }
  });

  persistSections();
  client.start();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
