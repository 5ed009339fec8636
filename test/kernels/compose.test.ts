/** The camera's 16:9 picture: where the animation goes, what is behind it, how its edge melts in. */
import { describe, expect, it } from 'vitest';
import { PictureComposer, framedBox, placeBox, portraitSquare } from '../../daemon/kernels/compose.js';

const W = 64;
const H = 36;

function solid(size: number, rgb: [number, number, number]): Uint8Array {
  const out = new Uint8Array(size * size * 3);
  for (let i = 0; i < out.length; i += 3) out.set(rgb, i);
  return out;
}
const pixel = (rgb: Uint8Array, x: number, y: number): number[] => Array.from(rgb.subarray((y * W + x) * 3, (y * W + x) * 3 + 3));

describe('placeBox', () => {
  it('centres a full-height animation, scales it, and moves a box the placement would cut back inside', () => {
    expect(placeBox(1280, 720, { scale: 1, x: 0.5, y: 0.5 })).toEqual({ left: 280, top: 0, size: 720 });
    expect(placeBox(1280, 720, { scale: 0.5, x: 0.5, y: 0.5 })).toEqual({ left: 460, top: 180, size: 360 });
    expect(placeBox(1280, 720, { scale: 0.5, x: 0, y: 1 })).toEqual({ left: 0, top: 360, size: 360 });
    expect(placeBox(1280, 720, { scale: 0.5, x: 1, y: 0 })).toEqual({ left: 920, top: 0, size: 360 });
    expect(placeBox(640, 360, { scale: 0.33, x: 0.25, y: 0.5 }).size % 2).toBe(0);
  });
});

describe('PictureComposer', () => {
  it('shows the background around the animation and the animation, scaled, inside its box', () => {
    const composer = new PictureComposer(W, H, { scale: 0.5, x: 0.5, y: 0.5 }, 4);
    const background = new Uint8Array(W * H * 3).fill(10);
    composer.setBackground(background);
    const out = new Uint8Array(W * H * 3);
    composer.compose(solid(8, [200, 100, 50]), 8, out);
    const box = composer.placementBox;
    expect(box).toEqual({ left: 23, top: 9, size: 18 });
    expect(pixel(out, 2, 2)).toEqual([10, 10, 10]);
    expect(pixel(out, W - 1, H - 1)).toEqual([10, 10, 10]);
    expect(pixel(out, 32, 18)).toEqual([200, 100, 50]); // the centre: fully the animation
  });

  it('feathers the edges that meet the background, not those on the picture\'s own border', () => {
    const composer = new PictureComposer(W, H, { scale: 1, x: 0.5, y: 0.5 }, 4);
    composer.setBackground(new Uint8Array(W * H * 3)); // black
    const out = new Uint8Array(W * H * 3);
    composer.compose(solid(36, [200, 200, 200]), 36, out);
    const { left, size } = composer.placementBox; // full height: top and bottom are the picture's border
    expect(pixel(out, left + size / 2, 0)[0]).toBe(200);
    expect(pixel(out, left + size / 2, H - 1)[0]).toBe(200);
    const edge = pixel(out, left, H / 2)[0]!;
    const inner = pixel(out, left + 2, H / 2)[0]!;
    expect(edge).toBeGreaterThan(0);
    expect(edge).toBeLessThan(inner);
    expect(inner).toBeLessThan(200);
    expect(pixel(out, left + 6, H / 2)[0]).toBe(200);
  });

  it('scales bilinearly: a sharp split between two colours stays in the middle of the box, with one blended column at most each side', () => {
    const composer = new PictureComposer(W, H, { scale: 1, x: 0.5, y: 0.5 }, 1);
    composer.setBackground(new Uint8Array(W * H * 3));
    const side = 12;
    const source = new Uint8Array(side * side * 3);
    for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) source.set(x < side / 2 ? [255, 0, 0] : [0, 0, 255], (y * side + x) * 3);
    const out = new Uint8Array(W * H * 3);
    composer.compose(source, side, out);
    const { left, size } = composer.placementBox;
    const row = Array.from({ length: size }, (_, i) => pixel(out, left + i, H / 2));
    const reds = row.filter((p) => p[0]! > 250).length;
    const blues = row.filter((p) => p[2]! > 250).length;
    expect(Math.abs(reds - blues)).toBeLessThanOrEqual(1);
    expect(size - reds - blues).toBeLessThanOrEqual(4);
  });

  it('a new placement takes effect at the next frame; a background of the wrong size is refused', () => {
    const composer = new PictureComposer(W, H, { scale: 1, x: 0.5, y: 0.5 });
    composer.setPlacement({ scale: 0.5, x: 0, y: 0 });
    expect(composer.placementBox).toEqual({ left: 0, top: 0, size: 18 });
    expect(() => composer.setBackground(new Uint8Array(10))).toThrow(/expected 6912 bytes, got 10/);
  });

  it('the native kernel and the TypeScript loop compose the same bytes (feathered, scaled, off-centre)', () => {
    const native = new PictureComposer(W, H, { scale: 0.7, x: 0.35, y: 0.6 }, 5);
    const typescript = new PictureComposer(W, H, { scale: 0.7, x: 0.35, y: 0.6 }, 5, 'typescript');
    if (native.implementation !== 'native' && process.env.CI === 'true') throw new Error('native kernels must be built under CI');
    expect(typescript.implementation).toBe('typescript');
    const background = new Uint8Array(W * H * 3);
    for (let i = 0; i < background.length; i++) background[i] = (i * 7) & 0xff;
    const source = new Uint8Array(20 * 20 * 3);
    for (let i = 0; i < source.length; i++) source[i] = (i * 13 + 5) & 0xff;
    native.setBackground(background);
    typescript.setBackground(background);
    const a = new Uint8Array(W * H * 3);
    const b = new Uint8Array(W * H * 3);
    native.compose(source, 20, a);
    typescript.compose(source, 20, b);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });
});

describe('portraitSquare and framedBox (a wide photo in its own framing)', () => {
  it('animates the square around the face, as far as the photo allows; the centre square without a face', () => {
    expect(portraitSquare(1600, 900, null)).toEqual({ left: 350, top: 0, size: 900 });
    expect(portraitSquare(1600, 900, [200, 300, 200, 250])).toEqual({ left: 0, top: 0, size: 900 });
    expect(portraitSquare(1600, 900, [1000, 300, 200, 250])).toEqual({ left: 650, top: 0, size: 900 });
    expect(portraitSquare(1600, 900, [1400, 300, 180, 250])).toEqual({ left: 700, top: 0, size: 900 });
    expect(portraitSquare(800, 1000, [100, 50, 200, 200])).toEqual({ left: 0, top: 0, size: 800 });
  });

  it('pastes the animation back where its square is in the photo scaled to cover the picture', () => {
    expect(framedBox(1600, 900, 1280, 720)).toEqual({ left: 280, top: 0, size: 720 });
    expect(framedBox(1600, 900, 1280, 720, { left: 0, top: 0, size: 900 })).toEqual({ left: 0, top: 0, size: 720 });
    expect(framedBox(1600, 900, 1280, 720, { left: 700, top: 0, size: 900 })).toEqual({ left: 560, top: 0, size: 720 });
    // A 4:3 photo is cropped top and bottom: its square reaches past the picture.
    expect(framedBox(1200, 900, 1280, 720)).toEqual({ left: 160, top: -120, size: 960 });
  });
});
