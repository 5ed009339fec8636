/**
 * The image adapter: the only module that imports sharp. Decodes PNG, JPEG and WebP to
 * plain RGB24 arrays, crops/resizes portraits to squares and writes PNGs atomically.
 * Everything else in the codebase sees RgbImage only.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import nodePath from 'node:path';
import sharp from 'sharp';
import { PersonaLiveError } from '../errors.js';
import type { RgbImage } from '../frames.js';

export interface SquareBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Larger inputs are refused before decoding: a portrait never needs them, and they cost GBs. */
export const IMAGE_LIMITS = Object.freeze({ maxSide: 16384, maxPixels: 100_000_000, maxFileBytes: 256 * 1024 * 1024 });

export type SniffedFormat = 'png' | 'jpeg' | 'webp';

// ---------------------------------------------------------------------------------------
// Sniffing

/**
 * Says what some bytes look like from their first bytes: one of the formats we decode, or
 * a phrase for messages such as "a text file" or "an MP4 video". Pure; exported for tests.
 */
export function sniffImageBytes(bytes: Uint8Array): { format: SniffedFormat | null; looksLike: string } {
  const ascii = (start: number, end: number): string => String.fromCharCode(...bytes.subarray(start, end));
  const startsWith = (...values: number[]): boolean => values.every((value, i) => bytes[i] === value);
  if (bytes.length === 0) return { format: null, looksLike: 'an empty file (0 bytes)' };
  if (startsWith(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return { format: 'png', looksLike: 'a PNG image' };
  if (startsWith(0xff, 0xd8, 0xff)) return { format: 'jpeg', looksLike: 'a JPEG image' };
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return { format: 'webp', looksLike: 'a WebP image' };

  const other = (looksLike: string) => ({ format: null, looksLike });
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WAVE') return other('a WAV audio file');
  if (ascii(0, 4) === 'RIFF' && ascii(8, 11) === 'AVI') return other('an AVI video');
  if (ascii(0, 4) === 'GIF8') return other('a GIF image (not supported)');
  if (ascii(0, 2) === 'BM') return other('a BMP image (not supported)');
  if (startsWith(0x49, 0x49, 0x2a, 0x00) || startsWith(0x4d, 0x4d, 0x00, 0x2a)) return other('a TIFF image (not supported)');
  if (ascii(4, 8) === 'ftyp') {
    const brand = ascii(8, 12);
    if (/^(heic|heix|hevc|heim|heis|mif1|msf1)$/.test(brand)) return other('a HEIC/HEIF image (not supported)');
    if (/^avi[fs]$/.test(brand)) return other('an AVIF image (not supported)');
    if (brand === 'qt  ') return other('a QuickTime (MOV) video');
    if (brand.startsWith('M4A')) return other('an M4A audio file');
    return other('an MP4 video');
  }
  if (startsWith(0x1a, 0x45, 0xdf, 0xa3)) return other('a Matroska/WebM video');
  if (ascii(0, 4) === 'OggS') return other('an Ogg media file');
  if (ascii(0, 3) === 'ID3' || startsWith(0xff, 0xfb) || startsWith(0xff, 0xf3)) return other('an MP3 audio file');
  if (ascii(0, 5) === '%PDF-') return other('a PDF document');
  if (startsWith(0x50, 0x4b, 0x03, 0x04)) return other('a ZIP archive');
  if (startsWith(0x1f, 0x8b)) return other('a gzip archive');
  if (startsWith(0x7f, 0x45, 0x4c, 0x46)) return other('an executable (ELF)');
  if (startsWith(0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50)) return other('a JPEG 2000 image (not supported)');

  const head = bytes.subarray(0, 512);
  const textLike = head.every((b) => b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b !== 0x7f));
  if (textLike) {
    const text = new TextDecoder('utf-8', { fatal: false }).decode(head).trimStart();
    if (/^(<\?xml|<svg)/i.test(text)) return other('an SVG/XML text file (not supported)');
    if (/^<!doctype html|^<html/i.test(text)) return other('an HTML page');
    const firstLine = (text.split(/\r?\n/)[0] ?? '').slice(0, 40);
    return other(`a text file (it starts with ${JSON.stringify(firstLine)})`);
  }
  const hex = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return other(`binary data of an unknown kind (first bytes: ${hex})`);
}

// ---------------------------------------------------------------------------------------
// Decoding

/**
 * Loads a PNG, JPEG or WebP file as 8-bit RGB: EXIF orientation applied, alpha flattened
 * onto white, grayscale / palette / 16-bit expanded.
 * @param argument how the caller names this input in messages, e.g. '--reference'.
 * @throws PersonaLiveError IMAGE_NOT_FOUND (missing, a folder, unreadable), IMAGE_UNREADABLE
 *   (not PNG/JPEG/WebP, corrupt, or larger than IMAGE_LIMITS).
 */
export async function loadImageRgb(path: string, options: { argument?: string } = {}): Promise<RgbImage> {
  const label = `Image "${path}"${options.argument ? ` (${options.argument})` : ''}`;
  let bytes: Buffer;
  try {
    const stats = await stat(path);
    if (stats.isDirectory()) {
      throw new PersonaLiveError('IMAGE_NOT_FOUND', `${label} is a folder, not an image file. Expected a PNG, JPEG or WebP file.`, { path });
    }
    if (stats.size > IMAGE_LIMITS.maxFileBytes) {
      throw new PersonaLiveError(
        'IMAGE_UNREADABLE',
        `${label} is ${(stats.size / 1024 / 1024).toFixed(0)} MiB; images over ${IMAGE_LIMITS.maxFileBytes / 1024 / 1024} MiB ` +
          'are refused. Expected a portrait photo of ordinary size.',
        { path, bytes: stats.size },
      );
    }
    bytes = await readFile(path);
  } catch (error) {
    if (error instanceof PersonaLiveError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' || code === 'EPERM' ? 'cannot be read (permission denied)' : `cannot be read (${code ?? String(error)})`;
    throw new PersonaLiveError('IMAGE_NOT_FOUND', `${label} ${why}. Expected the path of a PNG, JPEG or WebP image.`, { path }, { cause: error });
  }
  return decodeImageBuffer(bytes, label);
}

/**
 * Decodes in-memory PNG/JPEG/WebP bytes with the same rules as loadImageRgb.
 * @param label names the source in messages, e.g. 'Uploaded image "me.png"'.
 * @throws PersonaLiveError IMAGE_UNREADABLE.
 */
export async function decodeImageBuffer(bytes: Uint8Array, label: string): Promise<RgbImage> {
  const sniffed = sniffImageBytes(bytes);
  if (sniffed.format === null) {
    throw new PersonaLiveError(
      'IMAGE_UNREADABLE',
      `${label} is not a PNG, JPEG or WebP image: it looks like ${sniffed.looksLike}. Expected a PNG, JPEG or WebP portrait.`,
      { looksLike: sniffed.looksLike },
    );
  }
  const formatName = sniffed.format === 'jpeg' ? 'JPEG' : sniffed.format === 'png' ? 'PNG' : 'WebP';
  const corrupt = (error: unknown): PersonaLiveError =>
    new PersonaLiveError(
      'IMAGE_UNREADABLE',
      `${label} starts like ${sniffed.looksLike} but holds corrupt or truncated ${formatName} data ` +
        `(${error instanceof Error ? error.message.trim() : String(error)}). Expected a complete ${formatName} file; re-export or re-download it.`,
      { format: sniffed.format },
      { cause: error },
    );

  // 'error' refuses truncated and broken data but tolerates the harmless warnings many
  // phone JPEGs trigger (e.g. extraneous bytes before a marker).
  const input = { failOn: 'error' as const, limitInputPixels: IMAGE_LIMITS.maxPixels };
  let width: number;
  let height: number;
  try {
    // The header alone is read here, so no pixel limit yet: that lets the message give the size.
    const meta = await sharp(bytes, { ...input, limitInputPixels: false }).metadata();
    width = meta.width ?? 0;
    height = meta.height ?? 0;
  } catch (error) {
    if (/pixel limit/i.test(String(error))) throw tooLarge(label, null, null);
    throw corrupt(error);
  }
  if (width > IMAGE_LIMITS.maxSide || height > IMAGE_LIMITS.maxSide || width * height > IMAGE_LIMITS.maxPixels) {
    throw tooLarge(label, width, height);
  }
  try {
    const { data, info } = await sharp(bytes, { ...input, autoOrient: true })
      // Transparent pixels carry arbitrary (often black) RGB; the generator expects a photo,
      // and white is what viewers show behind a cut-out portrait, so it keeps the subject's
      // outline as the user saw it instead of a dark halo.
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) {
      throw new PersonaLiveError('INTERNAL', `${label}: sharp returned ${info.channels} channels after conversion to RGB (expected 3).`);
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (error) {
    if (error instanceof PersonaLiveError) throw error;
    throw corrupt(error);
  }
}

function tooLarge(label: string, width: number | null, height: number | null): PersonaLiveError {
  const size = width !== null && height !== null ? `${width}x${height} pixels` : 'larger than the pixel limit';
  return new PersonaLiveError(
    'IMAGE_UNREADABLE',
    `${label} is ${size}; the limit is ${IMAGE_LIMITS.maxSide} px a side and ${IMAGE_LIMITS.maxPixels / 1_000_000} megapixels. ` +
      'Expected a portrait photo: scale it down first.',
    { width, height },
  );
}

// ---------------------------------------------------------------------------------------
// Geometry

/**
 * Crops a square and resizes it to size x size (Lanczos-3). With a box (e.g. a detected
 * face), the box is clamped to the image, grown to a square around its centre (as large as
 * its longer side, at most the image's shorter side) and shifted to stay inside; without
 * one, the image's own `square` (a portrait's, around its face), else the centre square.
 * @throws PersonaLiveError USAGE for a bad size, a box outside the image, or pixel data that
 *   does not match width*height*3.
 */
export async function fitSquare(image: RgbImage, size: number, box?: SquareBox | null): Promise<RgbImage> {
  assertRgbImage(image, 'fitSquare');
  if (!(Number.isInteger(size) && size > 0 && size <= IMAGE_LIMITS.maxSide)) {
    throw new PersonaLiveError('USAGE', `fitSquare: 'size' must be an integer from 1 to ${IMAGE_LIMITS.maxSide}, got ${String(size)}.`);
  }
  const { width: W, height: H } = image;
  let side: number;
  let left: number;
  let top: number;
  if (box) {
    const { x, y, width, height } = box;
    if (![x, y, width, height].every(Number.isFinite) || !(width > 0 && height > 0)) {
      throw new PersonaLiveError(
        'USAGE',
        `fitSquare: 'box' must have finite x, y and positive width, height; got ${JSON.stringify(box)}.`,
      );
    }
    const x0 = Math.max(0, x);
    const y0 = Math.max(0, y);
    const x1 = Math.min(W, x + width);
    const y1 = Math.min(H, y + height);
    if (!(x1 > x0 && y1 > y0)) {
      throw new PersonaLiveError('USAGE', `fitSquare: 'box' ${JSON.stringify(box)} lies outside the ${W}x${H} image.`);
    }
    side = Math.max(1, Math.min(Math.round(Math.max(x1 - x0, y1 - y0)), W, H));
    left = clamp(Math.round((x0 + x1) / 2 - side / 2), 0, W - side);
    top = clamp(Math.round((y0 + y1) / 2 - side / 2), 0, H - side);
  } else if (image.square) {
    // The portrait's own animated square (around its face).
    side = clamp(Math.round(image.square.size), 1, Math.min(W, H));
    left = clamp(Math.round(image.square.left), 0, W - side);
    top = clamp(Math.round(image.square.top), 0, H - side);
  } else {
    side = Math.min(W, H);
    left = Math.floor((W - side) / 2);
    top = Math.floor((H - side) / 2);
  }
  const { data, info } = await sharp(image.data, { raw: { width: W, height: H, channels: 3 } })
    .extract({ left, top, width: side, height: side })
    .resize(size, size, { kernel: 'lanczos3', fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

function assertRgbImage(image: RgbImage, where: string): void {
  const ok =
    Number.isInteger(image.width) &&
    Number.isInteger(image.height) &&
    image.width > 0 &&
    image.height > 0 &&
    image.data instanceof Uint8Array &&
    image.data.length === image.width * image.height * 3;
  if (!ok) {
    throw new PersonaLiveError(
      'USAGE',
      `${where}: 'image' must be RGB24 with data.length = width*height*3; got ${image.width}x${image.height} ` +
        `with ${image.data?.length ?? 'no'} bytes.`,
    );
  }
}

// ---------------------------------------------------------------------------------------
// Writing

/**
 * Writes an RGB image as PNG through a temp file in the same folder and a rename, so a
 * reader never sees a half-written file.
 * @throws PersonaLiveError OUTPUT_NOT_WRITABLE naming the folder, USAGE for malformed pixels.
 */
export async function writePng(image: RgbImage, path: string): Promise<void> {
  assertRgbImage(image, 'writePng');
  const png = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .png()
    .toBuffer();
  const absolute = nodePath.resolve(path);
  const folder = nodePath.dirname(absolute);
  const temp = nodePath.join(folder, `.${nodePath.basename(absolute)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp.png`);
  try {
    await writeFile(temp, png);
    await rename(temp, absolute);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    const code = (error as NodeJS.ErrnoException).code;
    const problem =
      code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST'
        ? `"${path}" is an existing folder`
        : code === 'ENOENT' || code === 'ENOTDIR'
          ? `the folder "${folder}" does not exist`
          : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
            ? `the folder "${folder}" is not writable`
            : `the write in "${folder}" failed (${code ?? String(error)})`;
    throw new PersonaLiveError(
      'OUTPUT_NOT_WRITABLE',
      `Cannot write PNG "${path}": ${problem}. Expected a file path in an existing, writable folder.`,
      { path, folder },
      { cause: error },
    );
  }
}

/**
 * A JPEG of `image` resized to `width` x `height`: `fit` 'cover' crops to fill (thumbnails,
 * cropped around what draws attention), 'fill' stretches (the live preview, already square).
 * Runs on sharp's thread pool, off the caller's thread.
 */
export async function encodeJpeg(image: RgbImage, width: number, height: number, options: { quality: number; fit: 'cover' | 'fill' }): Promise<Buffer> {
  const pipeline = sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.length), { raw: { width: image.width, height: image.height, channels: 3 } });
  const resized = options.fit === 'cover' ? pipeline.resize(width, height, { fit: 'cover', position: 'attention' }) : pipeline.resize(width, height);
  return resized.jpeg({ quality: options.quality }).toBuffer();
}

/** 'photo': the portrait itself, sharp, scaled to cover (a wide photo in its own framing). */
export type BackgroundMode = 'blur' | 'colour' | 'image' | 'photo';

/** '#rrggbb' as bytes, or null. */
export function parseHexColour(text: string): [number, number, number] | null {
  const match = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(text);
  return match ? [parseInt(match[1]!, 16), parseInt(match[2]!, 16), parseInt(match[3]!, 16)] : null;
}

/**
 * The picture behind the animation in a 16:9 camera picture (width*height RGB): the portrait
 * itself, scaled to cover and blurred (its own colours extend it), a colour, or an image of
 * the user's, scaled to cover. Without a portrait yet, 'blur' is the colour.
 * @throws PersonaLiveError IMAGE_NOT_FOUND / IMAGE_UNREADABLE for the background image, naming `argument`
 */
export async function backgroundPicture(
  spec: { mode: BackgroundMode; colour: string; imagePath: string; reference: RgbImage | null; argument?: string; box?: { left: number; top: number; size: number } },
  width: number,
  height: number,
): Promise<Uint8Array> {
  const raw = (image: RgbImage) => sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
  const bytes = async (pipeline: ReturnType<typeof sharp>): Promise<Uint8Array> => {
    const { data } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  };
  const cover = async (image: RgbImage, blur: boolean): Promise<Uint8Array> => {
    if (!blur) return bytes(raw(image).resize(width, height, { fit: 'cover' }));
    // The photo's own surroundings carried outward: the portrait at the animation's place, its
    // edge pixels extended to the picture's edges, then blurred so hard that only colours
    // remain (small, blurred, scaled up smoothly). Same brightness as the photo, so the
    // feathered edge of the animation melts into it; no ghost of the face behind the face.
    const box = spec.box ?? { left: Math.round((width - height) / 2), top: 0, size: height };
    const extended = await bytes(
      raw(image)
        .resize(box.size, box.size, { fit: 'cover' })
        .extend({ left: box.left, top: box.top, right: width - box.left - box.size, bottom: height - box.top - box.size, extendWith: 'copy' }),
    );
    const smallH = Math.max(2, Math.round((64 * height) / width));
    const small = await bytes(sharp(extended, { raw: { width, height, channels: 3 } }).resize(64, smallH, { fit: 'fill' }).blur(3));
    return bytes(sharp(small, { raw: { width: 64, height: smallH, channels: 3 } }).resize(width, height, { fit: 'fill', kernel: 'cubic' }));
  };
  if (spec.mode === 'image' && spec.imagePath) return cover(await loadImageRgb(spec.imagePath, { argument: spec.argument ?? 'background image' }), false);
  if (spec.mode === 'photo' && spec.reference) return cover(spec.reference, false);
  if (spec.mode === 'blur' && spec.reference) return cover(spec.reference, true);
  const rgb = parseHexColour(spec.colour) ?? [24, 24, 24];
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < out.length; i += 3) out.set(rgb, i);
  return out;
}
