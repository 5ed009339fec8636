/**
 * Tests for the sharp adapter. Inputs are generated with sharp in a temp folder, plus the
 * demo reference and presets when they are present.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { demoDataDir } from '../helpers/system.js';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RgbImage } from '../../daemon/frames.js';
import { backgroundPicture, decodeImageBuffer, fitSquare, loadImageRgb, sniffImageBytes, writePng } from '../../daemon/media/image.js';
import { rejection } from '../helpers/errors.js';

const { dir: DEMO, skip: noDemoData } = demoDataDir();
const REFERENCE = path.join(DEMO, 'reference.png');
const PRESETS = path.join(DEMO, 'presets');

let dir: string;
const f = (name: string): string => path.join(dir, name);

function px(image: RgbImage, x: number, y: number): number[] {
  const i = (y * image.width + x) * 3;
  return [image.data[i], image.data[i + 1], image.data[i + 2]];
}

function near(actual: number[], expected: number[], tolerance: number): boolean {
  return actual.every((value, c) => Math.abs(value - expected[c]) <= tolerance);
}

/** width x height RGB image: left half `left`, right half `right`. */
function halves(width: number, height: number, left: number[], right: number[]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(x < width / 2 ? left : right, (y * width + x) * 3);
  }
  return { data, width, height };
}

function raw(image: RgbImage): ReturnType<typeof sharp> {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
}

/** CRC-32 (IEEE) for patching PNG chunks. */
function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

const RED = [220, 20, 20];
const BLUE = [20, 20, 220];

describe('image adapter', () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'personalive-image-'));
    const img = halves(40, 20, RED, BLUE);
    await raw(img).png().toFile(f('rgb.png'));
    await raw(img).jpeg({ quality: 95 }).toFile(f('rgb.jpg'));
    await raw(img).webp({ lossless: true }).toFile(f('rgb.webp'));
    await raw(img).greyscale().png().toFile(f('grey.png'));
    await sharp({ create: { width: 4, height: 3, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .toColourspace('grey16')
      .png()
      .toFile(f('grey16.png'));
    await sharp({ create: { width: 4, height: 4, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toFile(f('transparent.png'));
    await sharp({ create: { width: 4, height: 4, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0.5 } } }).png().toFile(f('half.png'));
    await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 10, g: 100, b: 200 } } })
      .png({ palette: true, colours: 4 })
      .toFile(f('palette.png'));
    // Stored 40x20 (red left, blue right) with EXIF orientation 6: shown rotated 90 degrees clockwise.
    await raw(img).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toFile(f('rotated.jpg'));
    const png = readFileSync(f('rgb.png'));
    writeFileSync(f('truncated.png'), png.subarray(0, Math.floor(png.length / 2)));
    writeFileSync(f('notes.txt'), 'hello, this is not an image\nsecond line\n');
    writeFileSync(f('empty.png'), new Uint8Array(0));
    writeFileSync(f('clip.mp4'), Buffer.from('000000186674797069736f6d0000020069736f6d69736f32', 'hex'));
    await sharp({ create: { width: 2, height: 2, channels: 3, background: '#888' } }).gif().toFile(f('anim.gif'));
    // A real PNG whose header claims 20000x20000: refused from the header, before decoding.
    const huge = Buffer.from(png);
    huge.writeUInt32BE(20000, 16);
    huge.writeUInt32BE(20000, 20);
    huge.writeUInt32BE(crc32(huge.subarray(12, 29)), 29);
    writeFileSync(f('huge.png'), huge);
    await sharp({ create: { width: 16385, height: 1, channels: 3, background: '#000' } }).png().toFile(f('wide.png'));
    mkdirSync(f('folder.png'));
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('loadImageRgb', () => {
    it('decodes PNG exactly to RGB24', async () => {
      const image = await loadImageRgb(f('rgb.png'));
      expect([image.width, image.height, image.data.length]).toEqual([40, 20, 40 * 20 * 3]);
      expect(image.data).toBeInstanceOf(Uint8Array);
      expect(px(image, 0, 0)).toEqual(RED);
      expect(px(image, 39, 19)).toEqual(BLUE);
    });

    it('decodes JPEG (approximately) and lossless WebP (exactly)', async () => {
      const jpeg = await loadImageRgb(f('rgb.jpg'));
      expect(near(px(jpeg, 5, 10), RED, 12)).toBe(true);
      expect(near(px(jpeg, 35, 10), BLUE, 12)).toBe(true);
      const webp = await loadImageRgb(f('rgb.webp'));
      expect(px(webp, 5, 10)).toEqual(RED);
      expect(px(webp, 35, 10)).toEqual(BLUE);
    });

    it('expands grayscale and 16-bit grayscale to 8-bit RGB', async () => {
      const grey = await loadImageRgb(f('grey.png'));
      expect(grey.data.length).toBe(40 * 20 * 3);
      const [r, g, b] = px(grey, 5, 5);
      expect(r).toBe(g);
      expect(g).toBe(b);
      const grey16 = await loadImageRgb(f('grey16.png'));
      expect([grey16.width, grey16.height, grey16.data.length]).toEqual([4, 3, 36]);
      expect(near(px(grey16, 1, 1), [128, 128, 128], 1)).toBe(true);
    });

    it('flattens alpha onto white and expands palette images', async () => {
      expect(px(await loadImageRgb(f('transparent.png')), 0, 0)).toEqual([255, 255, 255]);
      expect(near(px(await loadImageRgb(f('half.png')), 1, 1), [128, 128, 128], 1)).toBe(true);
      const palette = await loadImageRgb(f('palette.png'));
      expect(palette.data.length).toBe(4 * 4 * 3);
      expect(near(px(palette, 2, 2), [10, 100, 200], 4)).toBe(true);
    });

    it('honours EXIF orientation 6: a 40x20 stored image loads as 20x40, rotated clockwise', async () => {
      const image = await loadImageRgb(f('rotated.jpg'));
      expect([image.width, image.height]).toEqual([20, 40]);
      // Clockwise rotation moves the stored left half (red) to the top.
      expect(near(px(image, 10, 5), RED, 16)).toBe(true);
      expect(near(px(image, 10, 34), BLUE, 16)).toBe(true);
    });

    it.skipIf(noDemoData)('loads the demo reference.png and the preset portraits', async () => {
      const reference = await loadImageRgb(REFERENCE);
      expect([reference.width, reference.height]).toEqual([512, 512]);
      for (const name of readdirSync(PRESETS).filter((entry) => entry.endsWith('.jpg'))) {
        const preset = await loadImageRgb(path.join(PRESETS, name));
        expect(preset.data.length).toBe(preset.width * preset.height * 3);
      }
    });

    it('image not found: IMAGE_NOT_FOUND names the file and the argument', async () => {
      const error = await rejection(loadImageRgb(f('missing.png'), { argument: '--reference' }));
      expect(error.code).toBe('IMAGE_NOT_FOUND');
      expect(error.message).toContain(`"${f('missing.png')}" (--reference) does not exist`);
    });

    it('a folder given as image: IMAGE_NOT_FOUND says it is a folder', async () => {
      const error = await rejection(loadImageRgb(f('folder.png')));
      expect(error.code).toBe('IMAGE_NOT_FOUND');
      expect(error.message).toContain('is a folder');
    });

    it('a text file given as image: IMAGE_UNREADABLE says it looks like a text file', async () => {
      const error = await rejection(loadImageRgb(f('notes.txt')));
      expect(error.code).toBe('IMAGE_UNREADABLE');
      expect(error.message).toContain('notes.txt');
      expect(error.message).toContain('looks like a text file');
      expect(error.message).toContain('hello, this is not an image');
      expect(error.message).toContain('Expected a PNG, JPEG or WebP');
    });

    it('an empty file: IMAGE_UNREADABLE says it is empty', async () => {
      const error = await rejection(loadImageRgb(f('empty.png')));
      expect(error.code).toBe('IMAGE_UNREADABLE');
      expect(error.message).toContain('empty.png');
      expect(error.message).toContain('an empty file');
    });

    it('corrupt image (truncated PNG bytes): IMAGE_UNREADABLE says corrupt PNG data', async () => {
      const error = await rejection(loadImageRgb(f('truncated.png')));
      expect(error.code).toBe('IMAGE_UNREADABLE');
      expect(error.message).toContain('truncated.png');
      expect(error.message).toContain('corrupt or truncated PNG data');
    });

    it('an MP4 given as image: IMAGE_UNREADABLE says it looks like an MP4 video', async () => {
      const error = await rejection(loadImageRgb(f('clip.mp4')));
      expect(error.code).toBe('IMAGE_UNREADABLE');
      expect(error.message).toContain('looks like an MP4 video');
    });

    it('a GIF: IMAGE_UNREADABLE, formats other than PNG/JPEG/WebP are refused', async () => {
      const error = await rejection(loadImageRgb(f('anim.gif')));
      expect(error.code).toBe('IMAGE_UNREADABLE');
      expect(error.message).toContain('a GIF image (not supported)');
    });

    it('absurd sizes: IMAGE_UNREADABLE gives the size and the limit', async () => {
      const huge = await rejection(loadImageRgb(f('huge.png')));
      expect(huge.code).toBe('IMAGE_UNREADABLE');
      expect(huge.message).toContain('20000x20000 pixels');
      expect(huge.message).toContain('16384 px a side and 100 megapixels');
      const wide = await rejection(loadImageRgb(f('wide.png')));
      expect(wide.message).toContain('16385x1 pixels');
    });
  });

  describe('decodeImageBuffer', () => {
    it('decodes in-memory bytes with the same rules', async () => {
      const image = await decodeImageBuffer(new Uint8Array(readFileSync(f('rotated.jpg'))), 'Uploaded image "me.jpg"');
      expect([image.width, image.height]).toEqual([20, 40]);
    });

    it('names the label in errors', async () => {
      const error = await rejection(decodeImageBuffer(new TextEncoder().encode('{"not": "an image"}'), 'Uploaded image "me.png"'));
      expect(error.code).toBe('IMAGE_UNREADABLE');
      expect(error.message).toMatch(/^Uploaded image "me\.png" is not a PNG, JPEG or WebP image: it looks like a text file/);
    });
  });

  describe('sniffImageBytes', () => {
    it('recognises common non-image files', () => {
      const bytes = (hex: string): Uint8Array => Buffer.from(hex, 'hex');
      expect(sniffImageBytes(bytes('1a45dfa3a3428681')).looksLike).toBe('a Matroska/WebM video');
      expect(sniffImageBytes(bytes('255044462d312e34')).looksLike).toBe('a PDF document');
      expect(sniffImageBytes(bytes('0000001c667479706865696300000000')).looksLike).toContain('HEIC');
      expect(sniffImageBytes(bytes('00010203fffefdfc')).looksLike).toContain('first bytes: 00 01 02 03');
      expect(sniffImageBytes(new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg">')).looksLike).toContain('SVG');
      expect(sniffImageBytes(bytes('89504e470d0a1a0a')).format).toBe('png');
      expect(sniffImageBytes(bytes('ffd8ffe0')).format).toBe('jpeg');
    });
  });

  describe('fitSquare', () => {
    /** 100x60 red image with a blue 20x20 square at x 60..80, y 10..30. */
    function target(): RgbImage {
      const image = halves(100, 60, RED, RED);
      for (let y = 10; y < 30; y++) for (let x = 60; x < 80; x++) image.data.set(BLUE, (y * 100 + x) * 3);
      return image;
    }

    it('without a box: the centre square, resized', async () => {
      const out = await fitSquare(halves(80, 40, RED, BLUE), 16);
      expect([out.width, out.height, out.data.length]).toEqual([16, 16, 16 * 16 * 3]);
      // Centre square x 20..60: left half of it red, right half blue.
      expect(near(px(out, 2, 8), RED, 8)).toBe(true);
      expect(near(px(out, 13, 8), BLUE, 8)).toBe(true);
    });

    it('without a box, a portrait\'s own square (around its face): that square, not the centre', async () => {
      const image = halves(80, 40, RED, BLUE);
      image.square = { left: 0, top: 0, size: 40 }; // all red
      const out = await fitSquare(image, 8);
      expect(near(px(out, 1, 4), RED, 8) && near(px(out, 6, 4), RED, 8)).toBe(true);
    });

    it('with a box: crops the box', async () => {
      const out = await fitSquare(target(), 8, { x: 60, y: 10, width: 20, height: 20 });
      for (const [x, y] of [[1, 1], [4, 4], [6, 6]]) expect(near(px(out, x, y), BLUE, 8)).toBe(true);
    });

    it('expands a non-square box to a square around its centre', async () => {
      // 20x10 box centred on (70, 20) becomes the 20x20 blue square.
      const out = await fitSquare(target(), 8, { x: 60, y: 15, width: 20, height: 10 });
      expect(near(px(out, 1, 1), BLUE, 8)).toBe(true);
      expect(near(px(out, 6, 6), BLUE, 8)).toBe(true);
    });

    it('clamps a box that sticks out of the image', async () => {
      const out = await fitSquare(target(), 10, { x: 90, y: -10, width: 30, height: 30 });
      expect([out.width, out.height]).toEqual([10, 10]);
    });

    it('a box outside the image: USAGE names the box and the image size', async () => {
      const error = await rejection(fitSquare(target(), 8, { x: 500, y: 0, width: 10, height: 10 }));
      expect(error.code).toBe('USAGE');
      expect(error.message).toContain("'box'");
      expect(error.message).toContain('outside the 100x60 image');
    });

    it('a bad size or malformed pixels: USAGE', async () => {
      expect((await rejection(fitSquare(target(), 0))).message).toContain("'size' must be an integer");
      expect((await rejection(fitSquare({ data: new Uint8Array(5), width: 2, height: 2 }, 4))).code).toBe('USAGE');
    });
  });

  describe('writePng', () => {
    it('writes atomically and round-trips exactly', async () => {
      const folder = f('out');
      mkdirSync(folder);
      const image = halves(12, 6, RED, BLUE);
      await writePng(image, path.join(folder, 'a.png'));
      expect(readdirSync(folder)).toEqual(['a.png']);
      const back = await loadImageRgb(path.join(folder, 'a.png'));
      expect([back.width, back.height]).toEqual([12, 6]);
      expect(Buffer.from(back.data).equals(Buffer.from(image.data))).toBe(true);
    });

    it('output folder not existing: OUTPUT_NOT_WRITABLE names the folder', async () => {
      const error = await rejection(writePng(halves(2, 2, RED, BLUE), f('nowhere/a.png')));
      expect(error.code).toBe('OUTPUT_NOT_WRITABLE');
      expect(error.message).toContain(`the folder "${f('nowhere')}" does not exist`);
    });
  });
});

describe('backgroundPicture (the camera picture behind the animation)', () => {
  it('a colour, the portrait blurred to cover the 16:9 picture (its colours, none of its detail), or a clear error for a missing image', async () => {
    const colour = await backgroundPicture({ mode: 'colour', colour: '#102030', imagePath: '', reference: null }, 64, 36);
    expect(colour.length).toBe(64 * 36 * 3);
    expect(Array.from(colour.subarray(0, 3))).toEqual([16, 32, 48]);
    // A portrait: red left half, blue right half (sharp edge), 20x20.
    const data = new Uint8Array(20 * 20 * 3);
    for (let y = 0; y < 20; y++) for (let x = 0; x < 20; x++) data.set(x < 10 ? [220, 0, 0] : [0, 0, 220], (y * 20 + x) * 3);
    const blurred = await backgroundPicture({ mode: 'blur', colour: '#000000', imagePath: '', reference: { data, width: 20, height: 20 } }, 64, 36);
    expect(blurred.length).toBe(64 * 36 * 3);
    const at = (x: number, y: number): number[] => Array.from(blurred.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3));
    expect(at(2, 18)[0]).toBeGreaterThan(at(2, 18)[2]!); // red side stays reddish
    expect(at(61, 18)[2]).toBeGreaterThan(at(61, 18)[0]!);
    const middle = at(32, 18);
    expect(middle[0]).toBeGreaterThan(30); // blurred: the two colours mix at the split
    expect(middle[2]).toBeGreaterThan(30);
    expect(Array.from((await backgroundPicture({ mode: 'blur', colour: '#0a0a0a', imagePath: '', reference: null }, 8, 8)).subarray(0, 3))).toEqual([10, 10, 10]);
    const missing = await rejection(backgroundPicture({ mode: 'image', colour: '#000000', imagePath: '/nonexistent/bg.png', reference: null, argument: 'output.virtualCamera.image' }, 8, 8));
    expect(missing.code).toBe('IMAGE_NOT_FOUND');
    expect(missing.message).toContain('output.virtualCamera.image');
  });
});
