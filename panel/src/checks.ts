/**
 * The Checks section: `personalive doctor`'s rows, run by the daemon on request (they open
 * GPU providers and OBS connections, so not on every state change). Problems first, each
 * with its fix; what is fine stays folded under a count.
 */
import type { DoctorCheck } from '../../daemon/protocol.js';
import type { Panel, View } from './app.js';
import { byId, h } from './dom.js';

const ORDER: Record<DoctorCheck['status'], number> = { fail: 0, warn: 1, ok: 2, info: 3 };
const MARK: Record<DoctorCheck['status'], string> = { fail: 'problem', warn: 'attention', ok: 'ok', info: 'info' };

function row(check: DoctorCheck): HTMLLIElement {
  return h('li', { class: `check-row ${check.status}`, 'data-status': check.status },
    h('span', { class: 'badge', 'data-state': check.status }, MARK[check.status]), ' ',
    h('strong', {}, `${check.area}: ${check.name}`), ` ${check.found}`,
    check.fix ? h('div', { class: 'fix' }, `Fix: ${check.fix}`) : null,
  );
}

export function mountChecks(panel: Panel): View {
  const button = byId<HTMLButtonElement>('checks-run');
  const list = byId('checks-list');
  button.addEventListener('click', async () => {
    const result = await panel.act(button, () => panel.client.call('doctor.run', {}));
    if (!result) return;
    const sorted = [...result.checks].sort((a, b) => ORDER[a.status] - ORDER[b.status]);
    const problems = sorted.filter((c) => c.status === 'fail' || c.status === 'warn');
    const fine = sorted.filter((c) => c.status === 'ok' || c.status === 'info');
    list.replaceChildren(
      ...problems.map(row),
      fine.length ? h('li', {}, h('details', { class: 'detail' }, h('summary', {}, `${fine.length} fine`), h('ul', { class: 'checks' }, ...fine.map(row)))) : '',
    );
  });
  return { update: () => undefined };
}
