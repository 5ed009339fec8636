/**
 * The reference gallery: portraits the streamer swaps between, persisted in the data
 * folder (images under generated names, JPEG thumbnails, an index with the order and the
 * active one). The first nine in order are the hotkey slots 1-9. Every write goes through
 * a temp name and a rename; a client never names a path.
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { PersonaLiveError } from '../errors.js';
import { freePath, writeFileAtomic } from '../util/files.js';
import type { RgbImage } from '../frames.js';
import { decodeImageBuffer, encodeJpeg, sniffImageBytes } from '../media/image.js';
import { HOTKEY_SLOTS, MAX_UPLOAD_BYTES, type ReferenceInfo } from '../protocol.js';

interface StoredReference {
  id: string;
  name: string;
  file: string;
  width: number;
  height: number;
  addedAt: string;
  /** Of the image bytes: adding the same file twice returns the existing entry. */
  sha256: string;
}

interface GalleryIndex {
  version: 1;
  references: StoredReference[];
  activeId: string | null;
}

const THUMBNAIL_SIZE = 160;
const ID_PATTERN = /^[0-9a-f]{16}$/;

/** A display name from a client-supplied file name: no folders, no control characters, short. */
function displayName(name: string | undefined): string {
  const plain = basename(String(name ?? '').replace(/\\/g, '/')).replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return (plain || 'reference').slice(0, 80);
}

export class ReferenceGallery {
  private readonly dir: string;
  private readonly indexFile: string;
  private index: GalleryIndex;
  /** Why the index on disk could not be read (recoverIndex() rebuilds it); null when it was fine. */
  private brokenIndex: string | null = null;

  /**
   * `accept` is asked about every picture before it is stored (the daemon checks for a face);
   * its error refuses the picture and leaves the gallery as it was.
   */
  constructor(dataDir: string, private readonly accept: (image: RgbImage, label: string) => Promise<void> = async () => undefined) {
    this.dir = join(dataDir, 'references');
    this.indexFile = join(this.dir, 'gallery.json');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.index = this.readIndex();
  }

  private readIndex(): GalleryIndex {
    if (!existsSync(this.indexFile)) return { version: 1, references: [], activeId: null };
    try {
      const parsed = JSON.parse(readFileSync(this.indexFile, 'utf8')) as GalleryIndex;
      // Keep only entries whose image is still there (a user may have deleted files by hand).
      const references = (parsed.references ?? []).filter((r) => ID_PATTERN.test(r.id) && existsSync(join(this.dir, r.file)));
      const activeId = references.some((r) => r.id === parsed.activeId) ? parsed.activeId : references[0]?.id ?? null;
      return { version: 1, references, activeId };
    } catch (error) {
      // Saved state never stops a start: recoverIndex() rebuilds it from the pictures on disk.
      this.brokenIndex = (error as Error).message;
      return { version: 1, references: [], activeId: null };
    }
  }

  /**
   * When the index was unreadable (a crash mid-write by another tool, a hand edit), rebuilds
   * it from the pictures in the folder (their names are lost; their order is the order they
   * were added), after keeping the broken file beside it. Returns what to tell the streamer,
   * or null when there was nothing to do. Pictures that no longer decode are left on disk, unlisted.
   */
  async recoverIndex(): Promise<string | null> {
    if (this.brokenIndex === null) return null;
    const keptCopy = freePath(`${this.indexFile}.invalid`);
    copyFileSync(this.indexFile, keptCopy);
    const files = readdirSync(this.dir)
      .filter((file) => /^[0-9a-f]{16}\.(png|jpg|webp)$/.test(file))
      .map((file) => ({ file, mtimeMs: statSync(join(this.dir, file)).mtimeMs }))
      .sort((a, b) => a.mtimeMs - b.mtimeMs);
    const references: StoredReference[] = [];
    for (const { file, mtimeMs } of files) {
      const id = file.slice(0, 16);
      const bytes = await readFile(join(this.dir, file));
      try {
        const image = await decodeImageBuffer(bytes, `Stored reference ${file}`);
        if (!existsSync(join(this.dir, `${id}.thumb.jpg`))) {
          writeFileAtomic(join(this.dir, `${id}.thumb.jpg`), await encodeJpeg(image, THUMBNAIL_SIZE, THUMBNAIL_SIZE, { quality: 80, fit: 'cover' }), 0o600);
        }
        const sha256 = createHash('sha256').update(bytes).digest('hex');
        references.push({ id, name: `recovered ${references.length + 1}`, file, width: image.width, height: image.height, addedAt: new Date(mtimeMs).toISOString(), sha256 });
      } catch {
        // not a picture any more: stays on disk, unlisted
      }
    }
    this.index = { version: 1, references, activeId: references[0]?.id ?? null };
    this.persist();
    const reason = this.brokenIndex;
    this.brokenIndex = null;
    return `The reference gallery's index ${this.indexFile} could not be read (${reason}); rebuilt it from the ${references.length} pictures in ${this.dir} (their names are lost) and kept the broken file as ${keptCopy}`;
  }

  private persist(): void {
    writeFileAtomic(this.indexFile, `${JSON.stringify(this.index, null, 2)}\n`);
  }

  list(): ReferenceInfo[] {
    return this.index.references.map((r, i) => ({
      id: r.id,
      name: r.name,
      slot: i < HOTKEY_SLOTS ? i + 1 : null,
      width: r.width,
      height: r.height,
      addedAt: r.addedAt,
      thumbnailUrl: `/api/references/${r.id}/thumbnail.jpg`,
    }));
  }

  get activeId(): string | null {
    return this.index.activeId;
  }

  private find(id: string): StoredReference {
    const found = this.index.references.find((r) => r.id === id);
    if (!found) throw new PersonaLiveError('REFERENCE_NOT_FOUND', `no reference with id "${String(id).slice(0, 40)}" in the gallery`, { id });
    return found;
  }

  /** The id at hotkey slot 1..9 (gallery order), or null. */
  idAtSlot(slot: number): string | null {
    return this.index.references[slot - 1]?.id ?? null;
  }

  /** The id `step` places after (or before) the active one, wrapping around. */
  idAfterActive(step: 1 | -1): string | null {
    const list = this.index.references;
    if (list.length === 0) return null;
    const at = list.findIndex((r) => r.id === this.index.activeId);
    return list[(at + step + list.length) % list.length]!.id;
  }

  /**
   * Adds an image (PNG, JPEG or WebP, at most 20 MB): sniffed, decoded (so a broken file is
   * refused now, not mid-stream), accepted by the daemon's check (a face), stored under a
   * generated name with a thumbnail. `label` names the picture in errors (default: the upload's name).
   * @throws PersonaLiveError CONTROL_MESSAGE_TOO_LARGE, IMAGE_UNREADABLE, the check's error (NO_FACE)
   */
  async add(bytes: Uint8Array, name?: string, label = `Uploaded file "${displayName(name)}"`): Promise<ReferenceInfo> {
    if (bytes.length > MAX_UPLOAD_BYTES) {
      throw new PersonaLiveError('CONTROL_MESSAGE_TOO_LARGE', `${label} is ${(bytes.length / 1e6).toFixed(1)} MB; reference images are limited to ${MAX_UPLOAD_BYTES / 1024 / 1024} MB`, { bytes: bytes.length });
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const existing = this.index.references.find((r) => r.sha256 === sha256);
    if (existing) return this.list().find((r) => r.id === existing.id)!;
    const image = await decodeImageBuffer(bytes, label); // sniffs first: a non-image gets IMAGE_UNREADABLE
    await this.accept(image, label);
    const format = sniffImageBytes(bytes).format!;
    const id = randomBytes(8).toString('hex');
    const file = `${id}.${format === 'jpeg' ? 'jpg' : format}`;
    writeFileAtomic(join(this.dir, file), bytes, 0o600);
    const thumbnail = await encodeJpeg(image, THUMBNAIL_SIZE, THUMBNAIL_SIZE, { quality: 80, fit: 'cover' });
    writeFileAtomic(join(this.dir, `${id}.thumb.jpg`), thumbnail, 0o600);
    const stored: StoredReference = { id, name: displayName(name), file, width: image.width, height: image.height, addedAt: new Date().toISOString(), sha256 };
    this.index.references.push(stored);
    this.persist(); // on air only once the generator took it (setActive)
    return this.list().find((r) => r.id === id)!;
  }

  /** @throws PersonaLiveError REFERENCE_NOT_FOUND */
  async loadImage(id: string): Promise<RgbImage> {
    const stored = this.find(id);
    return decodeImageBuffer(await readFile(join(this.dir, stored.file)), `Reference "${stored.name}"`);
  }

  /** @throws PersonaLiveError REFERENCE_NOT_FOUND */
  async thumbnail(id: string): Promise<Buffer> {
    this.find(id);
    return readFile(join(this.dir, `${id}.thumb.jpg`));
  }

  /** Records which reference is active (after the generator switched to it). */
  setActive(id: string): void {
    this.find(id);
    this.index.activeId = id;
    this.persist();
  }

  /** @throws PersonaLiveError REFERENCE_NOT_FOUND */
  remove(id: string): ReferenceInfo[] {
    const stored = this.find(id);
    this.index.references = this.index.references.filter((r) => r.id !== id);
    if (this.index.activeId === id) this.index.activeId = this.index.references[0]?.id ?? null;
    this.persist();
    rmSync(join(this.dir, stored.file), { force: true });
    rmSync(join(this.dir, `${id}.thumb.jpg`), { force: true });
    return this.list();
  }

  /**
   * New order: `ids` must be exactly the gallery's ids.
   * @throws PersonaLiveError CONTROL_BAD_PARAMS
   */
  reorder(ids: string[]): ReferenceInfo[] {
    const current = new Set(this.index.references.map((r) => r.id));
    if (ids.length !== current.size || new Set(ids).size !== ids.length || !ids.every((id) => current.has(id))) {
      throw new PersonaLiveError('CONTROL_BAD_PARAMS', `params.ids: expected every gallery id exactly once (${current.size} ids), got ${ids.length}`, { field: 'ids' });
    }
    const byId = new Map(this.index.references.map((r) => [r.id, r]));
    this.index.references = ids.map((id) => byId.get(id)!);
    this.persist();
    return this.list();
  }
}
