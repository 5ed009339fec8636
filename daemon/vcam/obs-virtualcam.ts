/**
 * Writer into OBS Virtual Camera's shared-memory queue (Windows): OBS's DirectShow filter
 * (installed with OBS, seen by Zoom / Discord / Meet as "OBS Virtual Camera") reads NV12
 * frames from the named mapping `OBSVirtualCamVideo`. We fill it exactly as OBS's own
 * writer does (obs-studio plugins/win-dshow/shared-memory-queue.c, read to match, not copied):
 *
 *   header @0 (80 bytes): write_idx u32 @0, read_idx u32 @4, state u32 @8, offsets[3] u32 @12,
 *     type u32 @24 (0 video), cx u32 @28, cy u32 @32, pad, interval u64 @40 (100 ns units),
 *     reserved[8] u32 @48 (zero: newer readers treat non-zero words there as an extension)
 *   three slots, each 32-byte aligned: a 32-byte frame header (u64 timestamp @0) then NV12
 *     (Y plane, stride cx; interleaved CbCr, cx*cy/2 bytes)
 *   write: idx = ++write_idx; slot idx % 3; timestamp + NV12; read_idx = idx; state = ready.
 *   close: state = stopping, unmap.
 *
 * The reader polls at the declared interval and drops the queue after 10 polls without a new
 * read_idx, so this writer is meant to be driven by the pacer (VirtualCameraSink). The
 * mapping goes through SharedMemoryBackend, so the same code runs on POSIX shared memory in
 * tests (test/vcam/obs-virtualcam.test.ts reads it back through an independent mapping).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PersonaLiveError } from '../errors.js';
import { systemSharedMemory, type SharedMemoryBackend, type SharedMemoryRegion } from '../ffi/shared-memory.js';
import { checkYuvConversion, createColourKernels, type ColourKernels } from '../kernels/colour.js';
import type { FrameWriter, VirtualCameraConfig } from './writer.js';

/** The mapping OBS's DirectShow filter opens (no Global\ prefix: the session namespace). */
export const OBS_VIRTUALCAM_NAME = 'OBSVirtualCamVideo';

/** Values of the header's `state` word. */
export const ObsQueueState = Object.freeze({ invalid: 0, starting: 1, ready: 2, stopping: 3 } as const);

/** Byte offsets of the header fields (x86-64 and x86 agree: u64 is 8-aligned in both Windows ABIs). */
export const OBS_QUEUE_HEADER = Object.freeze({
  writeIdx: 0,
  readIdx: 4,
  state: 8,
  offsets: 12,
  type: 24,
  cx: 28,
  cy: 32,
  interval: 40,
  reserved: 48,
  size: 80,
} as const);

/** Bytes before the NV12 data in each slot; the timestamp (u64) is its first field. */
export const OBS_FRAME_HEADER_SIZE = 32;

/** Where everything lies in a mapping for one frame size. */
export interface ObsQueueLayout {
  width: number;
  height: number;
  /** NV12 bytes per frame: width*height*3/2. */
  frameBytes: number;
  /** Slot starts (the frame header; NV12 data follows at +OBS_FRAME_HEADER_SIZE). */
  slotOffsets: readonly [number, number, number];
  /** Mapping size in bytes. */
  size: number;
}

const align32 = (n: number): number => Math.ceil(n / 32) * 32;

/**
 * The queue layout for a width x height NV12 stream, as OBS computes it: header aligned to
 * 32, then three (frame header + frame) slots, each start aligned to 32.
 * 1280x720: slots at 96, 1382528, 2764960; 4147392 bytes.
 * @throws RangeError for odd or non-positive sizes, or a mapping over 4 GiB (OBS sizes it with a DWORD)
 */
export function obsQueueLayout(width: number, height: number): ObsQueueLayout {
  if (!Number.isInteger(width) || width <= 0 || width % 2 !== 0 || !Number.isInteger(height) || height <= 0 || height % 2 !== 0) {
    throw new RangeError(`OBS Virtual Camera: 'width' and 'height' must be positive even integers (NV12), got ${width}x${height}`);
  }
  const frameBytes = (width * height * 3) / 2;
  let size = align32(OBS_QUEUE_HEADER.size);
  const offsets: number[] = [];
  for (let i = 0; i < 3; i++) {
    offsets.push(size);
    size = align32(size + OBS_FRAME_HEADER_SIZE + frameBytes);
  }
  if (size > 0xffffffff) throw new RangeError(`OBS Virtual Camera: ${width}x${height} needs a ${size}-byte mapping, over OBS's 4 GiB limit`);
  return { width, height, frameBytes, slotOffsets: [offsets[0], offsets[1], offsets[2]], size };
}

/**
 * The header's interval: 100 ns units per frame, truncated like OBS (fps_den * 1e7 / fps_num).
 * @throws RangeError for non-positive or non-integer rates
 */
export function obsFrameInterval(fpsNum: number, fpsDen: number): number {
  if (!Number.isInteger(fpsNum) || fpsNum <= 0 || !Number.isInteger(fpsDen) || fpsDen <= 0) {
    throw new RangeError(`OBS Virtual Camera: 'fpsNum' and 'fpsDen' must be positive integers, got ${fpsNum}/${fpsDen}`);
  }
  return Math.floor((fpsDen * 1e7) / fpsNum);
}

/** Contents of %APPDATA%\obs-virtualcam.txt, which apps that open the camera before any writer exists use to pick a size. */
export function obsResolutionFileText(width: number, height: number, interval: number): string {
  return `${width}x${height}x${interval}`;
}

export interface ObsVirtualCamOptions extends VirtualCameraConfig {
  /** Mapping name; tests pass a unique one. Default OBS_VIRTUALCAM_NAME. */
  name?: string;
  backend?: SharedMemoryBackend;
  kernels?: ColourKernels;
  /**
   * Where to write "WxHxINTERVAL"; null for nowhere. Default: %APPDATA%\obs-virtualcam.txt on
   * Windows (as OBS does when its own camera starts), nowhere elsewhere.
   */
  resolutionFile?: string | null;
}

/** Little-endian u64 as two u32 halves: exact to 2^53 and no BigInt per frame. */
function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % 0x100000000, true);
  view.setUint32(offset + 4, Math.floor(value / 0x100000000), true);
}

function defaultResolutionFile(): string | null {
  return process.platform === 'win32' && process.env.APPDATA ? join(process.env.APPDATA, 'obs-virtualcam.txt') : null;
}

/**
 * One writer of the OBS Virtual Camera queue. Create with open(); only one may exist per
 * mapping name (OBS enforces the same).
 */
export class ObsVirtualCamWriter implements FrameWriter {
  readonly kind = 'obs-virtualcam';
  readonly format = 'NV12' as const;
  readonly width: number;
  readonly height: number;
  readonly layout: ObsQueueLayout;
  readonly name: string;
  /** Frames published so far. */
  framesWritten = 0;
  private region: SharedMemoryRegion | null;
  private readonly header: DataView;
  private readonly slots: readonly Uint8Array[];
  private readonly kernels: ColourKernels;

  private constructor(region: SharedMemoryRegion, private readonly backend: SharedMemoryBackend, layout: ObsQueueLayout, kernels: ColourKernels) {
    this.region = region;
    this.name = region.name;
    this.layout = layout;
    this.width = layout.width;
    this.height = layout.height;
    this.kernels = kernels;
    const buffer = region.buffer;
    this.header = new DataView(buffer, 0, layout.size);
    this.slots = layout.slotOffsets.map((offset) => new Uint8Array(buffer, offset + OBS_FRAME_HEADER_SIZE, layout.frameBytes));
  }

  /**
   * Creates the mapping (exclusively) and writes the header in state "starting".
   * @throws PersonaLiveError VCAM_BUSY when the mapping exists (OBS's own virtual camera or another writer);
   *   VCAM_FAILED when it cannot be created; RangeError for odd sizes or bad rates
   */
  static open(options: ObsVirtualCamOptions): ObsVirtualCamWriter {
    const layout = obsQueueLayout(options.width, options.height);
    const interval = obsFrameInterval(options.fpsNum, options.fpsDen);
    const name = options.name ?? OBS_VIRTUALCAM_NAME;
    const backend = options.backend ?? systemSharedMemory();
    let region: SharedMemoryRegion;
    try {
      region = backend.create(name, layout.size, { exclusive: true });
    } catch (error) {
      if (error instanceof PersonaLiveError && error.details.exists === true) {
        throw new PersonaLiveError('VCAM_BUSY', "OBS's own virtual camera or another program is using OBS Virtual Camera; stop it first", { name }, { cause: error });
      }
      const reason = error instanceof Error ? error.message : String(error);
      throw new PersonaLiveError('VCAM_FAILED', `could not create the OBS Virtual Camera queue "${name}": ${reason}`, { name, size: layout.size }, { cause: error });
    }
    const writer = new ObsVirtualCamWriter(region, backend, layout, options.kernels ?? createColourKernels());
    writer.writeHeader(interval);
    const file = options.resolutionFile === undefined ? defaultResolutionFile() : options.resolutionFile;
    if (file) {
      try {
        writeFileSync(file, obsResolutionFileText(layout.width, layout.height, interval));
      } catch {
        // Only a hint for apps that open the camera before we run; the queue works without it.
      }
    }
    return writer;
  }

  /**
   * Publishes one NV12 frame (frameBytes long; longer buffers are cut). The slot's timestamp
   * is `timestampUs` in nanoseconds, like OBS's frame timestamps (the filter ignores it).
   * @throws PersonaLiveError VCAM_FAILED after close(); RangeError when `nv12` is too short
   */
  writeFrame(nv12: Uint8Array, timestampUs: number): void {
    if (nv12.length < this.layout.frameBytes) {
      throw new RangeError(`OBS Virtual Camera: 'nv12' is ${nv12.length} bytes, expected at least ${this.layout.frameBytes} for ${this.width}x${this.height} NV12`);
    }
    const index = this.beginSlot();
    this.slots[index % 3].set(nv12.length === this.layout.frameBytes ? nv12 : nv12.subarray(0, this.layout.frameBytes));
    this.endSlot(index, timestampUs);
  }

  /**
   * Converts an RGB24 frame straight into the next slot (no intermediate copy) and publishes it.
   * @throws PersonaLiveError VCAM_FAILED after close(); RangeError when `rgb` is too short
   */
  writeRgb(rgb: Uint8Array, timestampUs: number): void {
    // Validate before taking a slot, so a bad frame leaves the queue as it was.
    checkYuvConversion('NV12', rgb, this.width, this.height, this.slots[0]);
    const index = this.beginSlot();
    this.kernels.rgbToNv12(rgb, this.width, this.height, this.slots[index % 3]);
    this.endSlot(index, timestampUs);
  }

  /** Marks the queue "stopping" (readers let go of it), unmaps it and, on POSIX, removes the name. */
  close(): void {
    const region = this.region;
    if (!region) return;
    this.region = null;
    this.header.setUint32(OBS_QUEUE_HEADER.state, ObsQueueState.stopping, true);
    region.close();
    // POSIX keeps a name until it is unlinked (a later open would find it busy); readers'
    // mappings stay valid. Windows drops it with the last handle (no-op here).
    this.backend.unlink(this.name);
  }

  /** Whether close() has run. */
  get closed(): boolean {
    return this.region === null;
  }

  private writeHeader(interval: number): void {
    const h = this.header;
    const H = OBS_QUEUE_HEADER;
    for (let i = 0; i < 3; i++) h.setUint32(H.offsets + 4 * i, this.layout.slotOffsets[i], true);
    h.setUint32(H.type, 0, true);
    h.setUint32(H.cx, this.width, true);
    h.setUint32(H.cy, this.height, true);
    setU64(h, H.interval, interval);
    // The state goes last: a reader that sees "starting" sees a complete header.
    h.setUint32(H.state, ObsQueueState.starting, true);
  }

  private beginSlot(): number {
    if (!this.region) throw new PersonaLiveError('VCAM_FAILED', `OBS Virtual Camera queue "${this.name}" was written after close()`, { name: this.name });
    const index = (this.header.getUint32(OBS_QUEUE_HEADER.writeIdx, true) + 1) >>> 0;
    this.header.setUint32(OBS_QUEUE_HEADER.writeIdx, index, true);
    return index;
  }

  private endSlot(index: number, timestampUs: number): void {
    // Stores reach the reader in program order (x86 is TSO), as with OBS's volatile header.
    setU64(this.header, this.layout.slotOffsets[index % 3], Math.round(timestampUs * 1000));
    this.header.setUint32(OBS_QUEUE_HEADER.readIdx, index, true);
    this.header.setUint32(OBS_QUEUE_HEADER.state, ObsQueueState.ready, true);
    this.framesWritten++;
  }
}
