/**
 * TypeScript mirror of plugin/include/personalive-ring.h, declared as koffi structs so
 * koffi computes sizes and offsets with the C ABI's rules; the ring code reads the plain
 * numbers exported here. test/ffi/ring-layout.test.ts compiles a C program against
 * the header and checks every size and offset against these.
 */
import koffi from 'koffi';

export const RING_MAGIC = 0x52474e50;
export const RING_VERSION = 1;
export const RING_MAX_SLOTS = 8;
export const RING_DATA_OFFSET = 4096;
export const RING_SLOT_ALIGN = 4096;
export const RING_HEARTBEAT_INTERVAL_MS = 200;
export const RING_STALE_MS = 1500;
export const RING_NAME_OUTPUT = 'personalive-output';
export const RING_NAME_DRIVING = 'personalive-driving';

export const PixelFormat = { NONE: 0, RGB24: 1, RGBA: 2, BGRA: 3 } as const;
export type PixelFormatName = Exclude<keyof typeof PixelFormat, 'NONE'>;

export const WriterState = { EMPTY: 0, RUNNING: 1, STOPPED: 2 } as const;

export const RingSlotStruct = koffi.struct('pl_ring_slot', {
  sequence: 'uint32_t',
  frame_number: 'uint32_t',
  capture_us: 'uint64_t',
  publish_us: 'uint64_t',
  width: 'uint32_t',
  reserved: 'uint32_t',
});

export const RingHeaderStruct = koffi.struct('pl_ring_header', {
  magic: 'uint32_t',
  version: 'uint32_t',
  header_size: 'uint32_t',
  data_offset: 'uint32_t',
  width: 'uint32_t',
  height: 'uint32_t',
  stride: 'uint32_t',
  pixel_format: 'uint32_t',
  slot_count: 'uint32_t',
  slot_size: 'uint32_t',
  fps_num: 'uint32_t',
  fps_den: 'uint32_t',
  writer_pid: 'uint32_t',
  writer_state: 'uint32_t',
  latest_frame: 'uint32_t',
  reserved0: 'uint32_t',
  heartbeat_us: 'uint64_t',
  created_us: 'uint64_t',
  frames_written: 'uint64_t',
  frames_dropped: 'uint64_t',
  reserved: koffi.array('uint64_t', 8),
  slots: koffi.array(RingSlotStruct, RING_MAX_SLOTS),
});

type HeaderField = 'magic' | 'version' | 'header_size' | 'data_offset' | 'width' | 'height' | 'stride' | 'pixel_format'
  | 'slot_count' | 'slot_size' | 'fps_num' | 'fps_den' | 'writer_pid' | 'writer_state' | 'latest_frame'
  | 'heartbeat_us' | 'created_us' | 'frames_written' | 'frames_dropped' | 'slots';
type SlotField = 'sequence' | 'frame_number' | 'capture_us' | 'publish_us' | 'width';

const headerOffsets = (fields: readonly HeaderField[]): Record<HeaderField, number> =>
  Object.fromEntries(fields.map((field) => [field, koffi.offsetof(RingHeaderStruct, field)])) as Record<HeaderField, number>;
const slotOffsets = (fields: readonly SlotField[]): Record<SlotField, number> =>
  Object.fromEntries(fields.map((field) => [field, koffi.offsetof(RingSlotStruct, field)])) as Record<SlotField, number>;

/** Byte offsets of the header fields (from koffi, i.e. the C ABI). */
export const HEADER = Object.freeze(headerOffsets([
  'magic', 'version', 'header_size', 'data_offset', 'width', 'height', 'stride', 'pixel_format', 'slot_count',
  'slot_size', 'fps_num', 'fps_den', 'writer_pid', 'writer_state', 'latest_frame', 'heartbeat_us', 'created_us',
  'frames_written', 'frames_dropped', 'slots',
]));
/** Byte offsets inside one slot descriptor. */
export const SLOT = Object.freeze(slotOffsets(['sequence', 'frame_number', 'capture_us', 'publish_us', 'width']));
export const HEADER_SIZE = koffi.sizeof(RingHeaderStruct);
export const SLOT_DESCRIPTOR_SIZE = koffi.sizeof(RingSlotStruct);

/** Bytes per pixel, as pl_pixel_format_bytes(). */
export function pixelFormatBytes(format: number): number {
  if (format === PixelFormat.RGB24) return 3;
  if (format === PixelFormat.RGBA || format === PixelFormat.BGRA) return 4;
  return 0;
}

export interface RingGeometry {
  width: number;
  height: number;
  stride: number;
  pixelFormat: number;
  slotCount: number;
  slotSize: number;
  totalSize: number;
}

/** Geometry of a ring for a frame size and format: tightly packed rows, page-aligned slots. */
export function ringGeometry(width: number, height: number, pixelFormat: number, slotCount: number): RingGeometry {
  const stride = width * pixelFormatBytes(pixelFormat);
  const slotSize = Math.ceil((stride * height) / RING_SLOT_ALIGN) * RING_SLOT_ALIGN;
  return { width, height, stride, pixelFormat, slotCount, slotSize, totalSize: RING_DATA_OFFSET + slotCount * slotSize };
}
