/**
 * Backend toggles (generator, device, decoder) built from state.options: an unavailable
 * choice is a disabled option whose reason is both its title and visible text under the
 * selector. Also the failover banner with "Switch back", and which execution provider runs.
 */
import { GENERATORS, type GeneratorTraits } from '../../daemon/kinds.js';
import type { BackendOption, DaemonState, LiveStats, RequestMap } from '../../daemon/protocol.js';
import type { Panel, View } from './app.js';
import { byId, fillSelect, h, setText } from './dom.js';

type Field = 'generator' | 'device' | 'decoder';
const OPTION_LISTS: Record<Field, 'generators' | 'devices' | 'decoders'> = { generator: 'generators', device: 'devices', decoder: 'decoders' };

/** The selector shows what the user asked for (during failover the generator that runs differs). */
function chosen(generator: DaemonState['generator'], name: Field): string {
  return name === 'generator' ? generator.requested : generator[name];
}

export interface BackendsView extends View {
  stats(stats: LiveStats): void;
}

export function mountBackends(panel: Panel): BackendsView {
  const banner = byId('failover-banner');
  const restore = byId<HTMLButtonElement>('failover-restore');
  const provider = byId('backend-provider');
  let fromStats: string | null = null;
  let fromState: string[] = [];

  function renderProvider(): void {
    setText(provider, fromStats ?? (fromState.length > 0 ? fromState.join(', ') : '—'));
  }

  function field(name: Field): (state: DaemonState) => void {
    const select = byId<HTMLSelectElement>(`backend-${name}`);
    const reasons = byId(`backend-${name}-reasons`);
    select.addEventListener('change', async () => {
      const params = { [name]: select.value } as RequestMap['backend.set']['params'];
      const result = await panel.act(select, () => panel.client.call('backend.set', params));
      if (result) panel.patch({ generator: result });
      else {
        const state = panel.state();
        if (state) select.value = chosen(state.generator, name);
      }
    });
    const box = select.closest<HTMLElement>('.field');
    return (state) => {
      // The decoder choice is not offered for a generator that has none (the built-in one). The
      // device list stays: it says which GPU paths exist here; the daemon refuses one that does not apply.
      const traits: GeneratorTraits = GENERATORS[state.generator.requested];
      if (box && name === 'decoder') box.hidden = traits.decoders.length === 0;
      const options = state.options[OPTION_LISTS[name]] as BackendOption[];
      fillSelect(select, options.map((o) => ({
        value: o.value,
        label: o.available ? o.label : `${o.label} (unavailable)`,
        disabled: !o.available,
        title: o.available ? undefined : o.reason ?? 'Unavailable.',
      })), chosen(state.generator, name));
      const unavailable = options.filter((o) => !o.available);
      const signature = JSON.stringify(unavailable);
      if (reasons.dataset.signature !== signature) {
        reasons.dataset.signature = signature;
        // The sentence says what to do; what was really found (paths, manifest errors) waits behind Details.
        reasons.replaceChildren(...unavailable.map((o) => h('li', { 'data-value': o.value },
          h('strong', {}, o.label), `: ${o.reason ?? 'Unavailable.'}`,
          o.detail ? h('details', { class: 'detail' }, h('summary', {}, 'Details'), h('code', {}, o.detail)) : null,
        )));
        reasons.hidden = unavailable.length === 0;
      }
    };
  }
  const fields = (['generator', 'device', 'decoder'] as const).map(field);

  restore.addEventListener('click', async () => {
    const result = await panel.act(restore, () => panel.client.call('failover.restore', {}));
    if (result) panel.patch({ generator: result });
  });

  return {
    update(state: DaemonState): void {
      for (const update of fields) update(state);
      const g = state.generator;
      const label = (kind: string): string => state.options.generators.find((o) => o.value === kind)?.label ?? kind;
      setText(byId('backend-active'), label(g.active));
      const statusLine = byId('backend-status');
      statusLine.dataset.state = g.status;
      setText(statusLine, g.status);
      fromState = g.providers;
      renderProvider();
      banner.hidden = !g.failover.active;
      if (g.failover.active) {
        const since = g.failover.since ? new Date(g.failover.since).toLocaleTimeString() : null;
        setText(byId('failover-text'), `Failover: running ${label(g.active)} instead of ${label(g.requested)}${g.failover.reason ? ` (${g.failover.reason})` : ''}${since ? ` since ${since}` : ''}.`);
      }
    },
    stats(stats: LiveStats): void {
      fromStats = stats.executionProvider;
      renderProvider();
    },
  };
}
