/** Tiny DOM helpers: the panel uses plain elements, no framework. */

type Attrs = Record<string, string | number | boolean | null | undefined | ((event: Event) => void)>;
export type Child = Node | string | null | undefined | false;

/**
 * Creates an element. Attributes: `on<event>` functions become listeners, `class` and
 * other strings become attributes, `true` a bare attribute, false/null/undefined nothing.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (typeof value === 'function') element.addEventListener(name.slice(2).toLowerCase(), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  element.append(...children.filter((child): child is Node | string => child !== null && child !== undefined && child !== false));
  return element;
}

/** The element with this id, of this type (the static skeleton in index.html). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`personalive panel: #${id} is missing from index.html`);
  return element as T;
}

/** Sets text only when it changed (keeps screen readers and layout quiet). */
export function setText(element: Element, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

/**
 * Re-renders a container and puts the focus back on the element with the same
 * data-focus-key (re-rendering a list would otherwise drop the keyboard user's focus).
 */
export function renderKeepingFocus(container: HTMLElement, render: () => void): void {
  const active = document.activeElement;
  const key = active instanceof HTMLElement && container.contains(active) ? active.dataset.focusKey : undefined;
  render();
  if (key === undefined) return;
  const again = container.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(key)}"]`);
  if (again && document.activeElement !== again) again.focus();
}

/** Fills a <select> with options only when they changed, then selects `value`. */
export function fillSelect(select: HTMLSelectElement, options: { value: string; label: string; disabled?: boolean; title?: string }[], value: string): void {
  const signature = JSON.stringify(options);
  if (select.dataset.signature !== signature) {
    select.replaceChildren(...options.map((o) => h('option', { value: o.value, disabled: o.disabled ?? false, title: o.title }, o.label)));
    select.dataset.signature = signature;
  }
  // Set selectedness directly: assigning .value cannot select a disabled placeholder option.
  for (const option of Array.from(select.options)) option.selected = option.value === value;
}

/** A panel preference (OBS keeps a dock's localStorage between runs); storage may be off. */
export function readSetting(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

export function writeSetting(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Storage disabled: the preference lasts for this page only.
  }
}
