/**
 * Reference uploads: POST /api/references?name=... with the raw bytes and the bearer token.
 * Files go one at a time; the daemon's typed error (e.g. IMAGE_UNREADABLE for a non-image)
 * is shown as the daemon wrote it. Nothing is filtered here: the daemon is the judge.
 */
import { MAX_UPLOAD_BYTES, type ReferenceInfo } from '../../daemon/protocol.js';
import type { Panel } from './app.js';
import { h } from './dom.js';

/** Success lines go away by themselves; errors stay until the next upload. */
const SUCCESS_LIFETIME_MS = 6_000;

export type UploadOutcome =
  | { ok: true; reference: ReferenceInfo | null }
  | { ok: false; code: string | null; message: string };

/** The display name the daemon stores: the file name without its extension. */
export function displayName(fileName: string): string {
  const name = fileName.replace(/\.[^./\\]{1,5}$/, '').trim();
  return name || fileName;
}

/** Reads the daemon's error body: {ok: false, error: {code, message}}, {code, message}, or plain text. */
async function readError(response: Response): Promise<{ code: string | null; message: string }> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: unknown; code?: unknown; message?: unknown };
    const error = (body.error && typeof body.error === 'object' ? body.error : body) as { code?: unknown; message?: unknown };
    if (typeof error.message === 'string') return { code: typeof error.code === 'string' ? error.code : null, message: error.message };
  } catch {
    // Not JSON: fall through to the text.
  }
  return { code: null, message: text.trim() || `The daemon refused the upload (HTTP ${response.status} ${response.statusText}).` };
}

/** Reads a success body: {ok: true, result: ReferenceInfo} (or a bare ReferenceInfo); else null. */
async function readReference(response: Response): Promise<ReferenceInfo | null> {
  try {
    const body = (await response.json()) as { result?: ReferenceInfo } & Partial<ReferenceInfo>;
    const reference = body.result ?? body;
    return typeof reference.id === 'string' ? (reference as ReferenceInfo) : null;
  } catch {
    return null;
  }
}

export async function uploadReference(panel: Panel, file: File): Promise<UploadOutcome> {
  if (file.size > MAX_UPLOAD_BYTES) {
    return { ok: false, code: 'CLIENT_TOO_LARGE', message: `${file.name} is ${(file.size / 1048576).toFixed(1)} MB; the largest reference image is ${MAX_UPLOAD_BYTES / 1048576} MB.` };
  }
  let response: Response;
  try {
    response = await fetch(new URL(`/api/references?name=${encodeURIComponent(displayName(file.name))}`, location.origin).href, {
      method: 'POST',
      headers: { Authorization: `Bearer ${panel.token}`, 'Content-Type': file.type || 'application/octet-stream' },
      body: file,
    });
  } catch {
    return { ok: false, code: 'CLIENT_DISCONNECTED', message: 'The upload could not reach the daemon (is it running?).' };
  }
  if (!response.ok) return { ok: false, ...(await readError(response)) };
  return { ok: true, reference: await readReference(response) };
}

/**
 * The upload status line under the gallery: a progress bar while files go up, then the
 * outcome. Errors stay (with the daemon's message verbatim) until the next upload.
 */
export class UploadQueue {
  private busy = false;
  private readonly queue: File[] = [];

  constructor(private readonly panel: Panel, private readonly status: HTMLElement) {}

  add(files: Iterable<File>): void {
    const list = Array.from(files);
    if (list.length === 0) return;
    if (!this.busy) this.status.replaceChildren();
    this.queue.push(...list);
    if (!this.busy) void this.drain();
  }

  /** The daemon announces the new reference with a `state` event; read it if that has not come. */
  private async refresh(reference: ReferenceInfo | null): Promise<void> {
    if (reference && this.panel.state()?.references.some((r) => r.id === reference.id)) return;
    try {
      const state = await this.panel.client.call('state.get', {});
      this.panel.patch({ references: state.references, activeReferenceId: state.activeReferenceId });
    } catch {
      // Offline: the next connection reads the whole state anyway.
    }
  }

  private async drain(): Promise<void> {
    this.busy = true;
    let done = 0;
    while (this.queue.length > 0) {
      const file = this.queue.shift()!;
      const total = done + 1 + this.queue.length;
      const progress = h('div', { class: 'upload-progress' },
        h('progress', { 'aria-label': `Uploading ${file.name}` }),
        h('span', {}, `Uploading ${file.name}${total > 1 ? ` (${done + 1} of ${total})` : ''}…`),
      );
      this.status.append(progress);
      const outcome = await uploadReference(this.panel, file);
      progress.remove();
      done++;
      if (outcome.ok) {
        await this.refresh(outcome.reference);
        const line = h('p', { class: 'upload-result upload-ok', 'data-file': file.name }, `Added ${outcome.reference?.name ?? displayName(file.name)}.`);
        this.status.append(line);
        window.setTimeout(() => line.remove(), SUCCESS_LIFETIME_MS);
      } else {
        this.status.append(h('p', { class: 'upload-result upload-error', role: 'alert', 'data-file': file.name, 'data-code': outcome.code ?? '' },
          h('span', { class: 'upload-file' }, `${file.name}: `),
          h('span', { class: 'upload-message' }, outcome.message),
        ));
      }
    }
    this.busy = false;
  }
}
