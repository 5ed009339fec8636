/**
 * The reference gallery: thumbnails in gallery order with their hotkey slot (1-9), the
 * active one marked aria-current. Click / Enter / Space swaps; ↑ ↓ buttons and drag and drop
 * reorder; ✕ deletes after an inline confirm (OBS docks may suppress window.confirm);
 * image files dropped on the gallery or picked with "Add images…" are uploaded.
 */
import type { DaemonState, ReferenceInfo } from '../../daemon/protocol.js';
import type { Panel, View } from './app.js';
import { byId, h, renderKeepingFocus } from './dom.js';
import { UploadQueue } from './upload.js';

/** Marks an internal reorder drag, so it is not mistaken for a file drop. */
const DRAG_TYPE = 'application/x-personalive-reference';

/** The daemon's rule for slots, applied locally while a reorder is on its way. */
function withSlots(references: ReferenceInfo[]): ReferenceInfo[] {
  return references.map((reference, index) => ({ ...reference, slot: index < 9 ? index + 1 : null }));
}

function moved<T>(items: T[], from: number, to: number): T[] {
  const copy = items.slice();
  const [item] = copy.splice(from, 1);
  copy.splice(to, 0, item!);
  return copy;
}

export function mountGallery(panel: Panel): View {
  const list = byId<HTMLOListElement>('gallery');
  const empty = byId('gallery-empty');
  const input = byId<HTMLInputElement>('upload-input');
  const uploads = new UploadQueue(panel, byId('upload-status'));
  let references: ReferenceInfo[] = [];
  let activeId: string | null = null;
  let confirmingId: string | null = null;
  let dragId: string | null = null;
  let signature = '';

  byId('upload-button').addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    if (input.files) uploads.add(input.files);
    input.value = '';
  });

  const focusKey = (key: string): void => list.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(key)}"]`)?.focus();

  async function reorder(next: ReferenceInfo[], focusAfter?: () => void): Promise<void> {
    const before = references;
    references = withSlots(next);
    render();
    focusAfter?.();
    const result = await panel.act(list, () => panel.client.call('references.reorder', { ids: next.map((r) => r.id) }));
    if (result) panel.patch({ references: result.references });
    else {
      references = before;
      render();
    }
  }

  function move(id: string, delta: -1 | 1): void {
    const from = references.findIndex((r) => r.id === id);
    const to = from + delta;
    if (from < 0 || to < 0 || to >= references.length) return;
    void reorder(moved(references, from, to), () => {
      // Stay on the same arrow while it can still move; at an end, switch to the other one.
      const up = list.querySelector<HTMLButtonElement>(`[data-focus-key="up:${CSS.escape(id)}"]`);
      if (delta === -1 && up && !up.disabled) up.focus();
      else if (delta === -1) focusKey(`down:${id}`);
      const down = list.querySelector<HTMLButtonElement>(`[data-focus-key="down:${CSS.escape(id)}"]`);
      if (delta === 1 && down && !down.disabled) down.focus();
      else if (delta === 1) focusKey(`up:${id}`);
    });
  }

  async function activate(id: string, button: HTMLElement): Promise<void> {
    const result = await panel.act(button, () => panel.client.call('references.activate', { id }));
    if (result) panel.patch({ activeReferenceId: result.activeReferenceId });
  }

  async function remove(reference: ReferenceInfo, button: HTMLElement): Promise<void> {
    const index = references.findIndex((r) => r.id === reference.id);
    const result = await panel.act(button, () => panel.client.call('references.delete', { id: reference.id }));
    confirmingId = null;
    if (result) {
      panel.patch({ references: result.references });
      const neighbour = result.references[Math.min(index, result.references.length - 1)];
      if (neighbour) focusKey(`select:${neighbour.id}`);
      else byId('upload-button').focus();
    } else render();
  }

  function confirmRow(reference: ReferenceInfo): HTMLElement {
    const cancel = (): void => {
      confirmingId = null;
      render();
      focusKey(`delete:${reference.id}`);
    };
    return h('div', { class: 'ref-confirm', role: 'group', 'aria-label': `Delete ${reference.name}?`, onkeydown: (e) => {
      // The keys the panel README promises: Escape cancels; Delete (Backspace on a Mac keyboard) confirms.
      const key = (e as KeyboardEvent).key;
      if (key === 'Escape') cancel();
      else if (key === 'Delete' || key === 'Backspace') {
        e.preventDefault();
        void remove(reference, (e.currentTarget as HTMLElement).querySelector<HTMLElement>('button.danger')!);
      }
    } },
      h('span', { class: 'ref-confirm-text' }, `Delete “${reference.name}”?`),
      h('button', { type: 'button', class: 'danger', 'data-focus-key': `confirm:${reference.id}`, onclick: (e) => void remove(reference, e.currentTarget as HTMLElement) }, 'Delete'),
      h('button', { type: 'button', 'data-focus-key': `cancel:${reference.id}`, onclick: cancel }, 'Cancel'),
    );
  }

  function item(reference: ReferenceInfo, index: number): HTMLLIElement {
    const active = reference.id === activeId;
    const slotText = reference.slot === null ? 'no hotkey slot' : `slot ${reference.slot}`;
    const select = h('button', {
      type: 'button', class: 'ref-select', 'data-id': reference.id, 'data-focus-key': `select:${reference.id}`,
      'aria-current': active ? 'true' : null,
      'aria-label': `${reference.name}, ${slotText}${active ? ', active' : ''}`,
      title: active ? `${reference.name} (active)` : `Use ${reference.name}`,
      onclick: (e) => void activate(reference.id, e.currentTarget as HTMLElement),
    },
      h('span', { class: 'slot', 'aria-hidden': 'true' }, reference.slot === null ? '–' : String(reference.slot)),
      h('img', { class: 'thumb', alt: '', draggable: 'false', loading: 'lazy', width: 48, height: 48, src: panel.tokenUrl(reference.thumbnailUrl) }),
      h('span', { class: 'ref-text' },
        h('span', { class: 'ref-name' }, reference.name),
        h('span', { class: 'ref-meta' }, active ? 'Active' : `${reference.width}×${reference.height}`),
      ),
    );
    const actions = confirmingId === reference.id ? confirmRow(reference) : h('div', { class: 'ref-actions' },
      h('button', { type: 'button', class: 'icon-button', 'aria-label': `Move ${reference.name} up`, title: 'Move up', 'data-focus-key': `up:${reference.id}`, disabled: index === 0, onclick: () => move(reference.id, -1) }, '↑'),
      h('button', { type: 'button', class: 'icon-button', 'aria-label': `Move ${reference.name} down`, title: 'Move down', 'data-focus-key': `down:${reference.id}`, disabled: index === references.length - 1, onclick: () => move(reference.id, 1) }, '↓'),
      h('button', { type: 'button', class: 'icon-button danger', 'aria-label': `Delete ${reference.name}`, title: 'Delete', 'data-focus-key': `delete:${reference.id}`, onclick: () => {
        confirmingId = reference.id;
        render();
        focusKey(`cancel:${reference.id}`);
      } }, '✕'),
    );
    const classes = ['ref', active ? 'active' : '', confirmingId === reference.id ? 'confirming' : ''].filter(Boolean).join(' ');
    const li = h('li', { class: classes, 'data-id': reference.id, draggable: 'true' }, select, actions);
    li.addEventListener('dragstart', (e) => {
      dragId = reference.id;
      e.dataTransfer?.setData(DRAG_TYPE, reference.id);
      if (e.dataTransfer) e.dataTransfer.effectAllowed = 'move';
      li.classList.add('dragging');
    });
    li.addEventListener('dragend', () => {
      dragId = null;
      li.classList.remove('dragging');
      clearDropMarks();
    });
    return li;
  }

  function clearDropMarks(): void {
    list.classList.remove('file-over');
    for (const li of Array.from(list.querySelectorAll('.drop-before, .drop-after'))) li.classList.remove('drop-before', 'drop-after');
  }

  /** Where a reorder drop lands: before or after the row under the pointer. */
  function dropTarget(e: DragEvent): { li: HTMLLIElement; after: boolean } | null {
    const li = (e.target as Element | null)?.closest?.('li.ref') as HTMLLIElement | null;
    if (!li) return null;
    const rect = li.getBoundingClientRect();
    return { li, after: e.clientY > rect.top + rect.height / 2 };
  }

  const isFileDrag = (e: DragEvent): boolean => Array.from(e.dataTransfer?.types ?? []).includes('Files');
  const dropZone = byId('gallery-drop');
  dropZone.addEventListener('dragover', (e) => {
    if (isFileDrag(e)) {
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
      list.classList.add('file-over');
      return;
    }
    if (!dragId) return;
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'move';
    clearDropMarks();
    const target = dropTarget(e);
    target?.li.classList.add(target.after ? 'drop-after' : 'drop-before');
  });
  dropZone.addEventListener('dragleave', (e) => {
    if (!dropZone.contains(e.relatedTarget as Node | null)) clearDropMarks();
  });
  dropZone.addEventListener('drop', (e) => {
    e.preventDefault();
    clearDropMarks();
    if (isFileDrag(e)) {
      uploads.add(e.dataTransfer?.files ?? []);
      return;
    }
    const id = dragId ?? e.dataTransfer?.getData(DRAG_TYPE);
    const target = dropTarget(e);
    if (!id || !target || target.li.dataset.id === id) return;
    const from = references.findIndex((r) => r.id === id);
    let to = references.findIndex((r) => r.id === target.li.dataset.id) + (target.after ? 1 : 0);
    if (from < to) to--;
    if (from >= 0 && from !== to) void reorder(moved(references, from, to));
  });

  function render(): void {
    renderKeepingFocus(list, () => {
      list.replaceChildren(...references.map(item));
    });
    empty.hidden = references.length > 0;
  }

  return {
    update(state: DaemonState): void {
      const next = JSON.stringify([state.references, state.activeReferenceId]);
      if (next === signature) return;
      signature = next;
      references = state.references;
      activeId = state.activeReferenceId;
      if (confirmingId && !references.some((r) => r.id === confirmingId)) confirmingId = null;
      render();
    },
  };
}
