/**
 * The per-frame pixel kernels of the engine, behind one interface with two
 * implementations: the compiled addon (daemon/kernels/native/kernels.cc, node-addon-api) and the
 * TypeScript references beside it (imageops.ts, ddim.ts). The addon is the one module that loads native
 * code; which implementation runs is always reported (engine stats, bench output). The
 * virtual cameras' colour kernels live in the same addon; daemon/kernels/colour.ts wraps
 * them (createColourKernels).
 *
 * Why native: on a 2-core machine the TypeScript loops cost ~12 ms of CPU per output frame
 * at 512x512 (bench:engine), the target is 2 ms; see the issue notes for the figures.
 */
import { createRequire } from 'node:module';
import { BilinearResizer, clampCropBox, planarToRgbU8 as planarToRgbU8Ts, type Rgb } from './imageops.js';
import { ddimStepWindow as ddimStepWindowTs, type WindowLayout } from './ddim.js';

export type KernelImplementation = 'native' | 'typescript';

export interface PixelKernels {
  readonly implementation: KernelImplementation;
  /** Whole-image bilinear resize, interleaved RGB bytes to planar float: v/255*scale+bias. */
  resizeRgbToPlanar(src: Uint8Array, srcW: number, srcH: number, dstW: number, dstH: number, out: Float32Array, offset: number, channelStride: number, scale: Rgb, bias: Rgb): void;
  /** Crop [y1:y2, x1:x2] (clamped; empty box: the pixel at x1,y1) then resize to dstSize square. */
  cropResizeRgbToPlanar(src: Uint8Array, srcW: number, srcH: number, box: ArrayLike<number>, dstSize: number, out: Float32Array, offset: number, channelStride: number, scale: Rgb, bias: Rgb): void;
  planarToRgbU8(src: Float32Array, layout: 'NCHW' | 'NHWC', index: number, width: number, height: number, range: 'zero1' | 'minus1to1', out: Uint8Array): void;
  ddimStepWindow(sample: Float32Array, eps: Float32Array, frameTimesteps: ArrayLike<number>, layout: WindowLayout, alphas: Float64Array, stepLength: number, outPrev: Float32Array, outX0: Float32Array | null): void;
}

/** The addon's functions (daemon/kernels/native/kernels.cc); wrapped by the kernel classes, never called directly elsewhere. */
export interface Addon {
  resampleRgb(src: Uint8Array, srcW: number, srcH: number, x1: number, y1: number, x2: number, y2: number, dstW: number, dstH: number, out: Float32Array, offset: number, channelStride: number, k: Float64Array, b: Float64Array): void;
  planarToRgb(src: Float32Array, nhwc: number, index: number, width: number, height: number, minus1to1: number, out: Uint8Array): void;
  ddimStep(sample: Float32Array, eps: Float32Array, coef: Float64Array, channels: number, frames: number, plane: number, outPrev: Float32Array, outX0: Float32Array | null): void;
  // Colour kernels (absent from a build made before they were added: checked at load).
  rgbToNv12?(rgb: Uint8Array, width: number, height: number, out: Uint8Array): void;
  rgbToYuyv?(rgb: Uint8Array, width: number, height: number, out: Uint8Array): void;
  quadToRgb?(src: Uint8Array, width: number, height: number, out: Uint8Array, stride: number, redIndex: number): void;
  rgbToQuad?(rgb: Uint8Array, width: number, height: number, out: Uint8Array, redIndex: number, alpha: number): void;
  composePicture?(src: Uint8Array, side: number, out: Uint8Array, outW: number, outH: number, left: number, top: number, size: number, xIndex: Int32Array, xWeight: Uint16Array, yIndex: Int32Array, yWeight: Uint16Array, xAlpha: Uint16Array, yAlpha: Uint16Array): void;
}

let addonCache: { addon: Addon | null; error: string | null } | null = null;

/** Loads the compiled addon once; null (with the reason) when it was not built. */
export function loadAddon(): { addon: Addon | null; error: string | null } {
  if (!addonCache) {
    try {
      const require = createRequire(import.meta.url);
      // Relative to this file in daemon/kernels (sources) or dist/daemon/kernels (built).
      const candidates = ['./native/build/Release/personalive_kernels.node', '../../../daemon/kernels/native/build/Release/personalive_kernels.node'];
      let addon: Addon | null = null;
      let lastError = '';
      for (const candidate of candidates) {
        try {
          addon = require(candidate) as Addon;
          break;
        } catch (error) {
          lastError = (error as Error).message;
        }
      }
      addonCache = addon ? { addon, error: null } : { addon: null, error: `native kernels not built (npm run build:native): ${lastError.split('\n')[0]}` };
    } catch (error) {
      addonCache = { addon: null, error: (error as Error).message };
    }
  }
  return addonCache;
}

class TypeScriptKernels implements PixelKernels {
  readonly implementation = 'typescript' as const;
  private readonly resizer = new BilinearResizer();

  resizeRgbToPlanar(src: Uint8Array, srcW: number, srcH: number, dstW: number, dstH: number, out: Float32Array, offset: number, channelStride: number, scale: Rgb, bias: Rgb): void {
    this.resizer.resizeRgbToPlanar(src, srcW, srcH, dstW, dstH, out, offset, channelStride, scale, bias);
  }

  cropResizeRgbToPlanar(src: Uint8Array, srcW: number, srcH: number, box: ArrayLike<number>, dstSize: number, out: Float32Array, offset: number, channelStride: number, scale: Rgb, bias: Rgb): void {
    this.resizer.cropResizeRgbToPlanar(src, srcW, srcH, box, dstSize, out, offset, channelStride, scale, bias);
  }

  planarToRgbU8(src: Float32Array, layout: 'NCHW' | 'NHWC', index: number, width: number, height: number, range: 'zero1' | 'minus1to1', out: Uint8Array): void {
    planarToRgbU8Ts(src, layout, index, width, height, range, out);
  }

  ddimStepWindow(sample: Float32Array, eps: Float32Array, frameTimesteps: ArrayLike<number>, layout: WindowLayout, alphas: Float64Array, stepLength: number, outPrev: Float32Array, outX0: Float32Array | null): void {
    ddimStepWindowTs(sample, eps, frameTimesteps, layout, alphas, stepLength, outPrev, outX0);
  }
}

class NativeKernels implements PixelKernels {
  readonly implementation = 'native' as const;
  private readonly k = new Float64Array(3);
  private readonly b = new Float64Array(3);
  private readonly box = new Int32Array(4);
  private coef = new Float64Array(0);

  constructor(private readonly addon: Addon) {}

  private affine(scale: Rgb, bias: Rgb): void {
    for (let c = 0; c < 3; c++) {
      this.k[c] = scale[c] / 255;
      this.b[c] = bias[c];
    }
  }

  resizeRgbToPlanar(src: Uint8Array, srcW: number, srcH: number, dstW: number, dstH: number, out: Float32Array, offset: number, channelStride: number, scale: Rgb, bias: Rgb): void {
    this.affine(scale, bias);
    this.addon.resampleRgb(src, srcW, srcH, 0, 0, srcW, srcH, dstW, dstH, out, offset, channelStride, this.k, this.b);
  }

  cropResizeRgbToPlanar(src: Uint8Array, srcW: number, srcH: number, box: ArrayLike<number>, dstSize: number, out: Float32Array, offset: number, channelStride: number, scale: Rgb, bias: Rgb): void {
    const [x1, y1, x2, y2] = clampCropBox(box, srcW, srcH, this.box);
    this.affine(scale, bias);
    this.addon.resampleRgb(src, srcW, srcH, x1, y1, x2, y2, dstSize, dstSize, out, offset, channelStride, this.k, this.b);
  }

  planarToRgbU8(src: Float32Array, layout: 'NCHW' | 'NHWC', index: number, width: number, height: number, range: 'zero1' | 'minus1to1', out: Uint8Array): void {
    this.addon.planarToRgb(src, layout === 'NHWC' ? 1 : 0, index, width, height, range === 'minus1to1' ? 1 : 0, out);
  }

  ddimStepWindow(sample: Float32Array, eps: Float32Array, frameTimesteps: ArrayLike<number>, layout: WindowLayout, alphas: Float64Array, stepLength: number, outPrev: Float32Array, outX0: Float32Array | null): void {
    if (this.coef.length !== 4 * layout.frames) this.coef = new Float64Array(4 * layout.frames);
    for (let f = 0; f < layout.frames; f++) {
      const t = frameTimesteps[f];
      const aT = alphas[t];
      const aPrev = t - stepLength < 0 ? 1 : alphas[t - stepLength];
      this.coef[4 * f] = 1 / Math.sqrt(aT);
      this.coef[4 * f + 1] = Math.sqrt(1 - aT);
      this.coef[4 * f + 2] = Math.sqrt(aPrev);
      this.coef[4 * f + 3] = Math.sqrt(1 - aPrev);
    }
    this.addon.ddimStep(sample, eps, this.coef, layout.channels, layout.frames, layout.plane, outPrev, outX0);
  }
}

/**
 * The kernels to use: native when the addon is built, unless PERSONALIVE_KERNELS=typescript
 * (or `prefer`) asks for the TypeScript reference. Callers report `.implementation`.
 */
export function createPixelKernels(prefer: KernelImplementation | undefined = process.env.PERSONALIVE_KERNELS as KernelImplementation | undefined): PixelKernels {
  if (prefer === 'typescript') return new TypeScriptKernels();
  const { addon } = loadAddon();
  return addon ? new NativeKernels(addon) : new TypeScriptKernels();
}
