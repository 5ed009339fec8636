/**
 * The virtual camera's 16:9 picture: the square animation placed on a background picture of
 * the camera's size (the blurred portrait, a colour or an image), scaled bilinearly into its
 * box with a feathered edge so the photo melts into its background. Tables for the box are
 * built when the placement or the animation size changes; a frame costs one pass over the
 * picture, no allocation.
 */
import { PersonaLiveError } from '../errors.js';
import type { PhotoSquare } from '../frames.js';
import { loadAddon, type Addon, type KernelImplementation } from './native.js';

export interface Placement {
  /** The animation's height as a share of the picture's (0.2-1). */
  scale: number;
  /** Where the animation's centre sits, as shares of the picture's width and height (0-1). */
  x: number;
  y: number;
}

/** The animation's box in the picture, clipped to it (pixels). */
export interface Box {
  left: number;
  top: number;
  size: number;
}

/** Where a square animation goes in a width x height picture: inside it (moved in where the placement would cut it). */
export function placeBox(width: number, height: number, placement: Placement): Box {
  const size = Math.max(2, Math.round((Math.min(1, Math.max(0.05, placement.scale)) * height) / 2) * 2);
  const clampTo = (centre: number, extent: number, room: number): number => {
    const start = Math.round(centre * room - extent / 2);
    return Math.max(Math.min(start, room - extent), Math.min(0, room - extent), 0);
  };
  return { left: clampTo(placement.x, size, width), top: clampTo(placement.y, size, height), size };
}

/** A photo at least this much wider than tall is shown in its own framing (see framedBox). */
export const WIDE_PHOTO_ASPECT = 1.25;

/** Whether a photo is wide enough to be animated around its face and shown in its own framing. */
export function isWidePhoto(width: number, height: number): boolean {
  return width >= height * WIDE_PHOTO_ASPECT;
}

/**
 * Where the animated centre square of a photoW x photoH photo lands when the whole photo is
 * scaled to cover the width x height picture: the animation goes back where it came from (a
 * paste-back), so a wide photo is animated in its own framing. The box may reach past the
 * picture's edges (a 4:3 photo is cropped top and bottom); compose clips it there.
 */
export function framedBox(photoW: number, photoH: number, width: number, height: number, square: PhotoSquare = portraitSquare(photoW, photoH, null)): Box {
  const scale = Math.max(width / photoW, height / photoH);
  const offsetX = (width - photoW * scale) / 2;
  const offsetY = (height - photoH * scale) / 2;
  // `+ 0` turns a -0 from rounding into 0.
  return { left: Math.round(offsetX + square.left * scale) + 0, top: Math.round(offsetY + square.top * scale) + 0, size: Math.round(square.size * scale) };
}

/**
 * The square of a photo that is animated: as large as the photo's shorter side, centred on
 * the face (x, y, width, height in its pixels) as far as the photo allows, or the centre
 * square without one. A wide photo with the face at one side is animated where the face is.
 */
export function portraitSquare(photoW: number, photoH: number, face: readonly [number, number, number, number] | null): PhotoSquare {
  const size = Math.min(photoW, photoH);
  const cx = face ? face[0] + face[2] / 2 : photoW / 2;
  const cy = face ? face[1] + face[3] / 2 : photoH / 2;
  const clampTo = (v: number, room: number): number => Math.min(Math.max(Math.round(v - size / 2), 0), room - size);
  return { left: clampTo(cx, photoW), top: clampTo(cy, photoH), size };
}

export class PictureComposer {
  private background: Uint8Array;
  private box: Box;
  private sourceSize = 0;
  /** Per output column/row of the box: source index and weight (fixed point, 8 bits). */
  private xIndex = new Int32Array(0);
  private xWeight = new Uint16Array(0);
  private yIndex = new Int32Array(0);
  private yWeight = new Uint16Array(0);
  /** Feather: 0-256 per box column and row (their minimum is the pixel's opacity). */
  private xAlpha = new Uint16Array(0);
  private yAlpha = new Uint16Array(0);

  /** Which implementation composes (the addon's composePicture, or the TypeScript loop below: the same arithmetic). */
  readonly implementation: KernelImplementation;
  private readonly addon: Addon | null;

  constructor(readonly width: number, readonly height: number, placement: Placement, private readonly featherPx = Math.round(width / 32), prefer?: KernelImplementation) {
    const { addon } = prefer === 'typescript' ? { addon: null } : loadAddon();
    this.addon = addon?.composePicture ? addon : null;
    this.implementation = this.addon ? 'native' : 'typescript';
    if (!(Number.isInteger(width) && Number.isInteger(height) && width >= 2 && height >= 2)) throw new PersonaLiveError('INTERNAL', `PictureComposer: bad picture size ${width}x${height}`);
    this.background = new Uint8Array(width * height * 3);
    this.box = placeBox(width, height, placement);
  }

  get placementBox(): Box {
    return { ...this.box };
  }

  /** The picture behind the animation (width*height RGB; copied). */
  setBackground(rgb: Uint8Array): void {
    if (rgb.length !== this.background.length) throw new PersonaLiveError('INTERNAL', `PictureComposer.setBackground: expected ${this.background.length} bytes, got ${rgb.length}`);
    this.background.set(rgb);
  }

  setPlacement(placement: Placement): void {
    this.setBox(placeBox(this.width, this.height, placement));
  }

  /** A box of its own (framedBox); it may reach past the picture's edges. */
  setBox(box: Box): void {
    this.box = { ...box };
    this.sourceSize = 0; // tables rebuilt on the next frame
  }

  private buildTables(sourceSize: number): void {
    const { size } = this.box;
    const axis = (index: Int32Array, weight: Uint16Array): void => {
      for (let i = 0; i < size; i++) {
        const s = Math.min(sourceSize - 1, Math.max(0, ((i + 0.5) * sourceSize) / size - 0.5));
        const s0 = Math.min(sourceSize - 2, Math.floor(s));
        index[i] = Math.max(0, s0);
        weight[i] = Math.round((s - Math.max(0, s0)) * 256);
      }
    };
    this.xIndex = new Int32Array(size);
    this.xWeight = new Uint16Array(size);
    this.yIndex = new Int32Array(size);
    this.yWeight = new Uint16Array(size);
    axis(this.xIndex, this.xWeight);
    axis(this.yIndex, this.yWeight);
    // No feather along an edge that is the picture's own edge (nothing behind it to melt into).
    const ramp = (alpha: Uint16Array, start: number, room: number): void => {
      const feather = Math.max(1, Math.min(this.featherPx, size >> 2));
      for (let i = 0; i < size; i++) {
        const fromStart = start + i <= 0 ? feather : i + 0.5;
        const fromEnd = start + size >= room ? feather : size - i - 0.5;
        alpha[i] = Math.round(Math.min(1, fromStart / feather, fromEnd / feather) * 256);
      }
    };
    this.xAlpha = new Uint16Array(size);
    this.yAlpha = new Uint16Array(size);
    ramp(this.xAlpha, this.box.left, this.width);
    ramp(this.yAlpha, this.box.top, this.height);
    this.sourceSize = sourceSize;
  }

  /** Writes the picture for one animation frame (square, side*side RGB) into `out` (width*height RGB). */
  compose(source: Uint8Array, side: number, out: Uint8Array): void {
    if (source.length < side * side * 3 || side < 2) throw new PersonaLiveError('INTERNAL', `PictureComposer.compose: expected a ${side}x${side} RGB frame`);
    if (out.length !== this.background.length) throw new PersonaLiveError('INTERNAL', `PictureComposer.compose: out must be ${this.background.length} bytes`);
    if (side !== this.sourceSize) this.buildTables(side);
    out.set(this.background);
    const { left, top, size } = this.box;
    if (this.addon) {
      this.addon.composePicture!(source, side, out, this.width, this.height, left, top, size, this.xIndex, this.xWeight, this.yIndex, this.yWeight, this.xAlpha, this.yAlpha);
      return;
    }
    const W = this.width;
    const rowBytes = side * 3;
    for (let by = 0; by < size; by++) {
      const y = top + by;
      if (y < 0 || y >= this.height) continue;
      const sy = this.yIndex[by]!;
      const wy = this.yWeight[by]!;
      const ay = this.yAlpha[by]!;
      const row0 = sy * rowBytes;
      const row1 = row0 + rowBytes;
      let d = (y * W + left) * 3;
      for (let bx = 0; bx < size; bx++, d += 3) {
        const x = left + bx;
        if (x < 0 || x >= W) continue;
        const sx = this.xIndex[bx]! * 3;
        const wx = this.xWeight[bx]!;
        const alpha = Math.min(ay, this.xAlpha[bx]!);
        for (let c = 0; c < 3; c++) {
          const a = source[row0 + sx + c]!;
          const b = source[row0 + sx + 3 + c]!;
          const e = source[row1 + sx + c]!;
          const f = source[row1 + sx + 3 + c]!;
          const top0 = a * 256 + (b - a) * wx;
          const bottom0 = e * 256 + (f - e) * wx;
          const value = (top0 * 256 + (bottom0 - top0) * wy) >> 16;
          out[d + c] = alpha >= 256 ? value : (out[d + c]! * (256 - alpha) + value * alpha) >> 8;
        }
      }
    }
  }
}
