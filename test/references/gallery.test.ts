import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ReferenceGallery } from '../../daemon/references/gallery.js';
import { rejection } from '../helpers/errors.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const temp = useTempDirs('pl-gallery-');

async function png(colour: [number, number, number], size = 64): Promise<Uint8Array> {
  return new Uint8Array(await sharp({ create: { width: size, height: size, channels: 3, background: { r: colour[0], g: colour[1], b: colour[2] } } }).png().toBuffer());
}

describe('reference gallery', () => {
  it('stores uploads under generated names with thumbnails, numbers hotkey slots, and survives a restart', async () => {
    const dir = temp();
    const gallery = new ReferenceGallery(dir);
    const a = await gallery.add(await png([200, 0, 0]), '/home/user/Pictures/../me.png');
    const b = await gallery.add(await png([0, 200, 0]), 'C:\\Users\\me\\second.png');
    expect(a).toMatchObject({ name: 'me.png', slot: 1, width: 64, height: 64, thumbnailUrl: `/api/references/${a.id}/thumbnail.jpg` });
    expect(b).toMatchObject({ name: 'second.png', slot: 2 });
    expect(a.id).toMatch(/^[0-9a-f]{16}$/);
    expect(readdirSync(join(dir, 'references')).sort()).toEqual([`${a.id}.png`, `${a.id}.thumb.jpg`, `${b.id}.png`, `${b.id}.thumb.jpg`, 'gallery.json'].sort());
    expect((await gallery.thumbnail(a.id)).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect((await gallery.loadImage(b.id)).data.subarray(0, 3)).toEqual(Uint8Array.from([0, 200, 0]));
    expect((await gallery.add(await png([200, 0, 0]), 'again.png')).id).toBe(a.id); // same bytes: the same entry
    gallery.setActive(b.id);
    const reopened = new ReferenceGallery(dir);
    expect(reopened.list().map((r) => r.id)).toEqual([a.id, b.id]);
    expect(reopened.activeId).toBe(b.id);
    expect(reopened.idAfterActive(1)).toBe(a.id);
    expect(reopened.idAfterActive(-1)).toBe(a.id);
    expect(reopened.idAtSlot(2)).toBe(b.id);
    expect(reopened.idAtSlot(3)).toBeNull();
  });

  it('refuses non-images, unknown ids and bad orders with specific errors, and loses nothing', async () => {
    const dir = temp();
    const gallery = new ReferenceGallery(dir);
    const a = await gallery.add(await png([1, 2, 3]), 'a.png');
    const text = await rejection(gallery.add(new TextEncoder().encode('not an image at all'), 'notes.txt'));
    expect(text.code).toBe('IMAGE_UNREADABLE');
    expect(text.message).toMatch(/Uploaded file "notes\.txt" is not a PNG, JPEG or WebP image: it looks like a text file/);
    expect((await rejection(gallery.loadImage('0123456789abcdef'))).code).toBe('REFERENCE_NOT_FOUND');
    expect(() => gallery.reorder([a.id, a.id])).toThrow(/params\.ids: expected every gallery id exactly once/);
    expect(gallery.list()).toHaveLength(1);
    expect(gallery.remove(a.id)).toEqual([]);
    expect(readdirSync(join(dir, 'references'))).toEqual(['gallery.json']);
  });

  it('a corrupt index never stops a start: the gallery is rebuilt from the pictures on disk and the broken file is kept', async () => {
    const dir = temp();
    const gallery = new ReferenceGallery(dir);
    const a = await gallery.add(await png([200, 0, 0]), 'me.png');
    const b = await gallery.add(await png([0, 200, 0]), 'second.png');
    const folder = join(dir, 'references');
    rmSync(join(folder, `${b.id}.thumb.jpg`));
    writeFileSync(join(folder, 'gallery.json'), '{"version": 1, "references": [');
    const reopened = new ReferenceGallery(dir);
    expect(reopened.list()).toEqual([]);
    const said = await reopened.recoverIndex();
    expect(said).toMatch(/gallery\.json could not be read \(.*JSON.*\); rebuilt it from the 2 pictures/);
    expect(said).toContain(`kept the broken file as ${join(folder, 'gallery.json.invalid')}`);
    expect(readFileSync(join(folder, 'gallery.json.invalid'), 'utf8')).toBe('{"version": 1, "references": [');
    expect(reopened.list().map((r) => r.id).sort()).toEqual([a.id, b.id].sort());
    expect(reopened.activeId).not.toBeNull();
    expect((await reopened.thumbnail(b.id)).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8])); // a missing thumbnail is made again
    expect(await reopened.recoverIndex()).toBeNull(); // once
    expect(new ReferenceGallery(dir).list()).toHaveLength(2); // and saved
  });
});
