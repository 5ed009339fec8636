/** The notice area: daemon `notice` events and the panel's own errors, dismissable, aria-live. */
import type { NoticeLevel } from './app.js';
import { h } from './dom.js';

const MAX_NOTICES = 5;
/** Info notices go away by themselves; warnings and errors stay until dismissed. */
const INFO_LIFETIME_MS = 8_000;

export class Notices {
  constructor(private readonly container: HTMLElement) {}

  add(level: NoticeLevel, message: string, code: string | null = null): void {
    // The same message again (e.g. a repeated failure) moves to the top instead of stacking.
    for (const item of Array.from(this.container.children)) {
      if ((item as HTMLElement).dataset.key === `${level}:${code}:${message}`) item.remove();
    }
    const item = h('div', { class: `notice notice-${level}`, 'data-key': `${level}:${code}:${message}`, 'data-level': level },
      h('span', { class: 'notice-level' }, level === 'info' ? 'Info' : level === 'warning' ? 'Warning' : 'Error'),
      h('span', { class: 'notice-text' }, message, code ? h('span', { class: 'notice-code' }, ` (${code})`) : null),
      h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Dismiss notice', title: 'Dismiss', onclick: () => this.dismiss(item) }, '×'),
    );
    this.container.prepend(item);
    while (this.container.children.length > MAX_NOTICES) this.container.lastElementChild?.remove();
    if (level === 'info') window.setTimeout(() => item.remove(), INFO_LIFETIME_MS);
  }

  private dismiss(item: HTMLElement): void {
    // Keep the keyboard user in the notice list (or hand focus back to the page).
    const next = (item.nextElementSibling ?? item.previousElementSibling)?.querySelector('button');
    item.remove();
    if (next instanceof HTMLElement) next.focus();
  }
}
