/**
 * The one image type and the one frame type, from the driving source through the generator
 * and the pacer to every sink (and through `animate`'s decode -> generate -> encode), and
 * a pool that lets the live path reuse frame buffers instead of allocating one per frame.
 * Node-free: the lowest floor of the daemon.
 */

/** An RGB24 image, row-major, 3 bytes per pixel, no padding. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  /**
   * For a portrait photo: the square that is animated (around the face, kernels/compose.ts
   * portraitSquare). The generators crop it and the camera picture pastes the animation back
   * there; absent, the centre square.
   */
  square?: PhotoSquare;
}

/** A square of a photo, in its pixels. */
export interface PhotoSquare {
  left: number;
  top: number;
  size: number;
}

/**
 * A frame: an RGB24 image and the driving frame it belongs to. A generated frame carries the
 * index and capture time of the driving frame it animates, so latency is measured from
 * capture to output with one clock and one unit.
 */
export interface Frame extends RgbImage {
  /** Position in the driving sequence (0-based, increasing); -1 for warm-up frames. */
  index: number;
  /**
   * Capture time, microseconds: monotonic time shared with OBS (monotonicUs()) on the live
   * path, the presentation time from the start of the file for decoded video.
   */
  captureUs: number;
  /**
   * True for the warm-up transition from the reference pose to the first driving pose that
   * the streaming window produces before the first driving frame comes out (its captureUs
   * is the first driving frame's).
   */
  warmup: boolean;
}

/** A driving frame (not warm-up) over `data`. */
export function drivingFrame(data: Uint8Array, width: number, height: number, index: number, captureUs: number): Frame {
  return { data, width, height, index, captureUs, warmup: false };
}

/**
 * Frame buffers reused by size: acquire() hands out a released frame of that size when there
 * is one and allocates only when all are in use, so a steady stream allocates nothing after
 * its first few frames. A frame is released by whoever holds it last (twice is harmless).
 */
export class FramePool {
  private readonly free = new Map<number, Frame[]>();
  /** Frames this pool made: others (a worker's output, a test's) are never taken in. */
  private readonly owned = new WeakSet<Frame>();
  private allocatedCount = 0;

  /** A frame of `width` x `height` whose pixels are whatever its last user left. */
  acquire(width: number, height: number): Frame {
    const bytes = width * height * 3;
    const reused = this.free.get(bytes)?.pop();
    if (reused) {
      reused.width = width;
      reused.height = height;
      reused.index = 0;
      reused.captureUs = 0;
      reused.warmup = false;
      return reused;
    }
    this.allocatedCount++;
    const frame = drivingFrame(new Uint8Array(bytes), width, height, 0, 0);
    this.owned.add(frame);
    return frame;
  }

  /** Gives a frame back for reuse (the caller must not touch it afterwards); a frame from elsewhere is ignored. */
  release(frame: Frame): void {
    if (!this.owned.has(frame)) return;
    const bytes = frame.data.length;
    let list = this.free.get(bytes);
    if (!list) this.free.set(bytes, (list = []));
    if (!list.includes(frame)) list.push(frame);
  }

  /** Whether `frame` came from this pool. */
  owns(frame: Frame): boolean {
    return this.owned.has(frame);
  }

  /** Buffers allocated so far (a steady stream stops adding to it). */
  get allocated(): number {
    return this.allocatedCount;
  }
}
