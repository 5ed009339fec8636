/**
 * Shared-memory frame rings: one writer, any number of readers, nobody blocks.
 * Protocol and layout: plugin/include/personalive-ring.h (seqlock per slot, heartbeat).
 *
 * The daemon writes the output ring (the OBS source reads it) and reads the driving ring
 * (the OBS capture filter writes it). Both sides are here so tests can exercise either
 * end against the plugin.
 */
import { PersonaLiveError } from '../errors.js';
import { monotonicUs } from '../util/clock.js';
import type { SharedMemoryBackend, SharedMemoryRegion } from '../ffi/shared-memory.js';
import {
  HEADER, HEADER_SIZE, PixelFormat, RING_DATA_OFFSET, RING_HEARTBEAT_INTERVAL_MS, RING_MAGIC, RING_MAX_SLOTS,
  RING_STALE_MS, RING_VERSION, SLOT, SLOT_DESCRIPTOR_SIZE, WriterState, pixelFormatBytes, ringGeometry,
  type RingGeometry,
} from '../ffi/ring-layout.js';

export { monotonicUs };

/**
 * Little-endian 64-bit fields as two 32-bit halves: exact up to 2^53, no BigInt per frame.
 * The high half is stored first, so a reader racing a carry sees a time slightly in the
 * future (harmless for a heartbeat) rather than ~71 minutes in the past.
 */
function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset + 4, Math.floor(value / 0x100000000), true);
  view.setUint32(offset, value % 0x100000000, true);
}
/** Reads high, low, high again until both highs agree: no torn value across a carry. */
function getU64(view: DataView, offset: number): number {
  for (;;) {
    const high = view.getUint32(offset + 4, true);
    const low = view.getUint32(offset, true);
    if (view.getUint32(offset + 4, true) === high) return low + high * 0x100000000;
  }
}
const slotOffset = (index: number, field: number): number => HEADER.slots + index * SLOT_DESCRIPTOR_SIZE + field;

export interface RingWriterOptions {
  name: string;
  width: number;
  height: number;
  pixelFormat?: number;
  /** 2..8; 3 lets a reader copy one slot while the writer fills another. */
  slotCount?: number;
  fps?: { num: number; den: number };
  /** Clock override for tests. */
  now?: () => number;
  /** Refresh the heartbeat on a timer while idle (default true). */
  heartbeatTimer?: boolean;
  /** Whether a process id is alive (tests stand in for other processes). */
  isAlive?: (pid: number) => boolean;
}

/** Whether process `pid` exists (EPERM: it does, owned by someone else). */
export function processIsAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Who writes the ring under `name`, if a writer is alive there: what a reader sees as live
 * or waiting (not stopped, heartbeat fresh: RingReader's own rule) from a process that exists.
 */
function liveRingWriter(backend: SharedMemoryBackend, name: string, nowUs: number, isAlive: (pid: number) => boolean): { pid: number; width: number; height: number } | null {
  if (backend.sizeOf(name) === null) return null;
  const reader = new RingReader(backend, name, { now: () => nowUs });
  try {
    const state = reader.state();
    if (state !== 'live' && state !== 'waiting') return null;
    const { writerPid: pid, width, height } = reader.status();
    return isAlive(pid) ? { pid, width, height } : null;
  } catch {
    return null; // not a ring we can read: nobody we could be breaking
  } finally {
    reader.close();
  }
}

export interface RingWriterStats {
  name: string;
  width: number;
  height: number;
  pixelFormat: number;
  framesWritten: number;
  framesDropped: number;
}

/**
 * Creates a ring and publishes frames into it. Creating replaces an object of that name
 * whose writer is gone (POSIX), so readers of an old one see it stop and reopen; a ring
 * another live process writes is refused (two daemons must not break each other's OBS
 * source). Closing unlinks the name only while it is still this writer's ring.
 */
export class RingWriter {
  readonly geometry: RingGeometry;
  readonly name: string;
  private region: SharedMemoryRegion | null;
  private readonly view: DataView;
  private readonly words: Uint32Array;
  private readonly bytes: Uint8Array;
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout | null;
  private frameNumber = 0;
  private framesWritten = 0;
  private framesDropped = 0;

  /** @throws PersonaLiveError USAGE for a bad geometry, RING_IN_USE when another live process writes the ring, SHM_FAILED when the OS refuses */
  constructor(private readonly backend: SharedMemoryBackend, options: RingWriterOptions) {
    const pixelFormat = options.pixelFormat ?? PixelFormat.RGB24;
    const slotCount = options.slotCount ?? 3;
    if (!Number.isInteger(options.width) || !Number.isInteger(options.height) || options.width < 2 || options.height < 2 || options.width > 8192 || options.height > 8192) {
      throw new PersonaLiveError('USAGE', `ring "${options.name}": width and height must be integers in 2..8192, got ${options.width}x${options.height}`);
    }
    if (!Number.isInteger(slotCount) || slotCount < 2 || slotCount > RING_MAX_SLOTS) {
      throw new PersonaLiveError('USAGE', `ring "${options.name}": slotCount must be 2..${RING_MAX_SLOTS}, got ${slotCount}`);
    }
    if (pixelFormatBytes(pixelFormat) === 0) throw new PersonaLiveError('USAGE', `ring "${options.name}": unknown pixel format ${pixelFormat}`);
    this.name = options.name;
    this.now = options.now ?? monotonicUs;
    this.geometry = ringGeometry(options.width, options.height, pixelFormat, slotCount);
    const other = liveRingWriter(backend, options.name, this.now(), options.isAlive ?? processIsAlive);
    if (other && other.pid !== process.pid) {
      throw new PersonaLiveError(
        'RING_IN_USE',
        `ring "${options.name}" is being written by another process (pid ${other.pid}, ${other.width}x${other.height}), probably another PersonaLive daemon: stop it, or give this one its own ring and port (--output-ring NAME --port N, or output.ring.name and control.port)`,
        { name: options.name, pid: other.pid },
      );
    }
    this.region = backend.create(options.name, this.geometry.totalSize);
    this.view = new DataView(this.region.buffer);
    this.words = new Uint32Array(this.region.buffer, 0, RING_DATA_OFFSET / 4);
    this.bytes = new Uint8Array(this.region.buffer);
    this.writeHeader(options.fps ?? { num: 0, den: 1 });
    this.timer = options.heartbeatTimer === false ? null : setInterval(() => this.heartbeat(), RING_HEARTBEAT_INTERVAL_MS);
    this.timer?.unref();
  }

  private writeHeader(fps: { num: number; den: number }): void {
    const v = this.view;
    const g = this.geometry;
    const created = this.now();
    v.setUint32(HEADER.version, RING_VERSION, true);
    v.setUint32(HEADER.header_size, HEADER_SIZE, true);
    v.setUint32(HEADER.data_offset, RING_DATA_OFFSET, true);
    v.setUint32(HEADER.width, g.width, true);
    v.setUint32(HEADER.height, g.height, true);
    v.setUint32(HEADER.stride, g.stride, true);
    v.setUint32(HEADER.pixel_format, g.pixelFormat, true);
    v.setUint32(HEADER.slot_count, g.slotCount, true);
    v.setUint32(HEADER.slot_size, g.slotSize, true);
    v.setUint32(HEADER.fps_num, fps.num, true);
    v.setUint32(HEADER.fps_den, fps.den, true);
    v.setUint32(HEADER.writer_pid, process.pid, true);
    v.setUint32(HEADER.writer_state, WriterState.EMPTY, true);
    setU64(v, HEADER.heartbeat_us, created);
    setU64(v, HEADER.created_us, created);
    // The magic goes last: a reader that sees it sees a complete header.
    Atomics.store(this.words, HEADER.magic / 4, RING_MAGIC);
  }

  private ensureOpen(): void {
    if (!this.region) throw new PersonaLiveError('RING_CLOSED', `ring "${this.name}" was used after close()`);
  }

  /**
   * Publishes one frame: `fill` writes exactly stride*height bytes into the slot (so a
   * conversion can write straight into shared memory). Returns the frame number.
   */
  publishWith(fill: (destination: Uint8Array) => void, captureUs: number): number {
    this.ensureOpen();
    const g = this.geometry;
    const n = this.frameNumber + 1;
    const index = n % g.slotCount;
    const sequenceWord = slotOffset(index, SLOT.sequence) / 4;
    Atomics.store(this.words, sequenceWord, (2 * n - 1) >>> 0);
    fill(this.bytes.subarray(RING_DATA_OFFSET + index * g.slotSize, RING_DATA_OFFSET + index * g.slotSize + g.stride * g.height));
    const v = this.view;
    v.setUint32(slotOffset(index, SLOT.frame_number), n >>> 0, true);
    setU64(v, slotOffset(index, SLOT.capture_us), captureUs);
    const published = this.now();
    setU64(v, slotOffset(index, SLOT.publish_us), published);
    v.setUint32(slotOffset(index, SLOT.width), g.width, true);
    Atomics.store(this.words, sequenceWord, (2 * n) >>> 0);
    Atomics.store(this.words, HEADER.latest_frame / 4, n >>> 0);
    Atomics.store(this.words, HEADER.writer_state / 4, WriterState.RUNNING);
    setU64(v, HEADER.heartbeat_us, published);
    this.frameNumber = n;
    this.framesWritten += 1;
    setU64(v, HEADER.frames_written, this.framesWritten);
    return n;
  }

  /** Publishes tightly packed pixels (stride*height bytes). */
  publish(pixels: Uint8Array, captureUs: number): number {
    const expected = this.geometry.stride * this.geometry.height;
    if (pixels.length !== expected) {
      throw new PersonaLiveError('USAGE', `ring "${this.name}": frame has ${pixels.length} bytes, expected ${expected} (${this.geometry.width}x${this.geometry.height}, stride ${this.geometry.stride})`);
    }
    return this.publishWith((destination) => destination.set(pixels), captureUs);
  }

  /** Counts a frame the writer chose not to publish (readers see it in the header). */
  countDropped(frames = 1): void {
    this.ensureOpen();
    this.framesDropped += frames;
    setU64(this.view, HEADER.frames_dropped, this.framesDropped);
  }

  /** Tells readers the writer is alive while no frame is coming. */
  heartbeat(): void {
    if (!this.region) return;
    setU64(this.view, HEADER.heartbeat_us, this.now());
  }

  stats(): RingWriterStats {
    const g = this.geometry;
    return { name: this.name, width: g.width, height: g.height, pixelFormat: g.pixelFormat, framesWritten: this.framesWritten, framesDropped: this.framesDropped };
  }

  /** Marks the ring stopped (readers show their offline state at once) and removes the name. */
  close(): void {
    if (!this.region) return;
    if (this.timer) clearInterval(this.timer);
    Atomics.store(this.words, HEADER.writer_state / 4, WriterState.STOPPED);
    setU64(this.view, HEADER.heartbeat_us, this.now());
    const createdUs = getU64(this.view, HEADER.created_us);
    const region = this.region;
    this.region = null;
    region.close();
    if (this.stillOurs(createdUs)) this.backend.unlink(this.name);
  }

  /** Whether the object under our name is the one we created (a writer that took over after we went stale replaced it). */
  private stillOurs(createdUs: number): boolean {
    const reader = new RingReader(this.backend, this.name, { now: this.now });
    try {
      const { writerPid, writerCreatedUs } = reader.status();
      return writerPid === process.pid && writerCreatedUs === createdUs;
    } catch {
      return false;
    } finally {
      reader.close();
    }
  }

}

/** One frame copied out of a ring. `pixels` is the reader's reused buffer. */
export interface RingFrame {
  frameNumber: number;
  captureUs: number;
  publishUs: number;
  width: number;
  height: number;
  stride: number;
  pixelFormat: number;
  pixels: Uint8Array;
  /** Frames published since the previous read that this reader never saw. */
  skipped: number;
}

export type RingReaderState = 'absent' | 'waiting' | 'live' | 'stale' | 'stopped';

export interface RingReaderStatus {
  name: string;
  state: RingReaderState;
  writerPid: number;
  /** When the mapped writer created its ring (monotonic us): tells two writers' rings apart. */
  writerCreatedUs: number;
  width: number;
  height: number;
  pixelFormat: number;
  framesRead: number;
  framesSkipped: number;
  tornReads: number;
  reopens: number;
  lastFrame: number;
  heartbeatAgeMs: number | null;
}

export interface RingReaderOptions {
  staleMs?: number;
  now?: () => number;
  /** Minimum time between attempts to (re)open the object by name. */
  reopenIntervalMs?: number;
}

/**
 * Reads the newest complete frame of a named ring; survives the writer dying, restarting
 * and changing the frame size (reopens by name).
 */
export class RingReader {
  private region: SharedMemoryRegion | null = null;
  private view: DataView | null = null;
  private words: Uint32Array | null = null;
  private bytes: Uint8Array | null = null;
  private geometry: RingGeometry | null = null;
  private pixels: Uint8Array = new Uint8Array(0);
  private createdUs = 0;
  private lastFrame = 0;
  private lastOpenAttemptUs = -Infinity;
  private readonly staleUs: number;
  private readonly reopenIntervalUs: number;
  private readonly now: () => number;
  private current: RingReaderState = 'absent';
  private counters = { framesRead: 0, framesSkipped: 0, tornReads: 0, reopens: 0 };
  private closed = false;

  constructor(private readonly backend: SharedMemoryBackend, readonly name: string, options: RingReaderOptions = {}) {
    this.staleUs = (options.staleMs ?? RING_STALE_MS) * 1000;
    this.reopenIntervalUs = (options.reopenIntervalMs ?? 100) * 1000;
    this.now = options.now ?? monotonicUs;
  }

  /** Where the writer stands, after refreshing from shared memory. */
  state(): RingReaderState {
    this.refresh();
    return this.current;
  }

  /**
   * The newest complete frame if it is newer than the last one returned, else null.
   * Never blocks: a slot being overwritten during the copy is detected and retried.
   * @throws PersonaLiveError RING_INVALID when the object under the name is not a ring of this version
   */
  readLatest(): RingFrame | null {
    this.refresh();
    if ((this.current !== 'live' && this.current !== 'waiting') || !this.words || !this.view || !this.bytes || !this.geometry) return null;
    const g = this.geometry;
    for (let attempt = 0; attempt < 4; attempt += 1) {
      const n = Atomics.load(this.words, HEADER.latest_frame / 4);
      if (n === 0 || n === this.lastFrame) return null;
      const index = n % g.slotCount;
      const sequenceWord = slotOffset(index, SLOT.sequence) / 4;
      const before = Atomics.load(this.words, sequenceWord);
      if (before !== (2 * n) >>> 0) continue; // already being overwritten by a newer frame
      const start = RING_DATA_OFFSET + index * g.slotSize;
      this.pixels.set(this.bytes.subarray(start, start + g.stride * g.height));
      const captureUs = getU64(this.view, slotOffset(index, SLOT.capture_us));
      const publishUs = getU64(this.view, slotOffset(index, SLOT.publish_us));
      if (Atomics.load(this.words, sequenceWord) !== before) {
        this.counters.tornReads += 1;
        continue;
      }
      const skipped = this.lastFrame === 0 || n < this.lastFrame ? 0 : n - this.lastFrame - 1;
      this.lastFrame = n;
      this.counters.framesRead += 1;
      this.counters.framesSkipped += skipped;
      return { frameNumber: n, captureUs, publishUs, width: g.width, height: g.height, stride: g.stride, pixelFormat: g.pixelFormat, pixels: this.pixels, skipped };
    }
    return null;
  }

  status(): RingReaderStatus {
    this.refresh();
    const heartbeat = this.view ? getU64(this.view, HEADER.heartbeat_us) : null;
    return {
      name: this.name,
      state: this.current,
      writerPid: this.view ? this.view.getUint32(HEADER.writer_pid, true) : 0,
      writerCreatedUs: this.view ? this.createdUs : 0,
      width: this.geometry?.width ?? 0,
      height: this.geometry?.height ?? 0,
      pixelFormat: this.geometry?.pixelFormat ?? 0,
      ...this.counters,
      lastFrame: this.lastFrame,
      heartbeatAgeMs: heartbeat === null ? null : Math.max(0, (this.now() - heartbeat) / 1000),
    };
  }

  close(): void {
    this.closed = true;
    this.unmap();
  }

  private unmap(): void {
    this.region?.close();
    this.region = null;
    this.view = null;
    this.words = null;
    this.bytes = null;
    this.geometry = null;
  }

  private refresh(): void {
    if (this.closed) throw new PersonaLiveError('RING_CLOSED', `ring "${this.name}" was used after close()`);
    const now = this.now();
    if (this.view) {
      this.current = this.writerStatus(now);
      if (this.current === 'live' || this.current === 'waiting') return;
      // Dead or stopped: a new writer may have created a fresh object under the name.
      if (now - this.lastOpenAttemptUs < this.reopenIntervalUs) return;
      this.lastOpenAttemptUs = now;
      const size = this.backend.sizeOf(this.name);
      if (size === null) {
        this.unmap();
        this.current = 'absent';
        return;
      }
      const probe = this.openHeader();
      if (!probe) return;
      const created = getU64(probe.view, HEADER.created_us);
      probe.region.close();
      if (created === this.createdUs) return; // same dead object: stay stale/stopped
      this.unmap();
      this.counters.reopens += 1;
    } else {
      if (now - this.lastOpenAttemptUs < this.reopenIntervalUs) return;
      this.lastOpenAttemptUs = now;
    }
    this.map();
  }

  /** The mapped writer's state: stopped, stale (heartbeat too old), waiting (no frame yet) or live. */
  private writerStatus(nowUs: number): RingReaderState {
    const writerState = Atomics.load(this.words!, HEADER.writer_state / 4);
    if (writerState === WriterState.STOPPED) return 'stopped';
    if (nowUs - getU64(this.view!, HEADER.heartbeat_us) > this.staleUs) return 'stale';
    return writerState === WriterState.EMPTY ? 'waiting' : 'live';
  }

  private openHeader(): { region: SharedMemoryRegion; view: DataView } | null {
    const region = this.backend.open(this.name, RING_DATA_OFFSET);
    if (!region) return null;
    return { region, view: new DataView(region.buffer) };
  }

  private map(): void {
    const probe = this.openHeader();
    if (!probe) {
      this.current = 'absent';
      return;
    }
    const v = probe.view;
    const magic = v.getUint32(HEADER.magic, true);
    if (magic === 0) {
      // Created but the header is not written yet: try again on the next poll.
      probe.region.close();
      this.current = 'absent';
      return;
    }
    const fail = (field: string, expected: string, got: number): never => {
      probe.region.close();
      throw new PersonaLiveError('RING_INVALID', `shared memory "${this.name}": field ${field}: expected ${expected}, got ${got}`, { name: this.name, field, got });
    };
    if (magic !== RING_MAGIC) fail('magic', `0x${RING_MAGIC.toString(16)}`, magic);
    const version = v.getUint32(HEADER.version, true);
    if (version !== RING_VERSION) fail('version', String(RING_VERSION), version);
    const headerSize = v.getUint32(HEADER.header_size, true);
    if (headerSize !== HEADER_SIZE) fail('header_size', String(HEADER_SIZE), headerSize);
    const width = v.getUint32(HEADER.width, true);
    const height = v.getUint32(HEADER.height, true);
    const pixelFormat = v.getUint32(HEADER.pixel_format, true);
    const slotCount = v.getUint32(HEADER.slot_count, true);
    if (pixelFormatBytes(pixelFormat) === 0) fail('pixel_format', '1 (RGB24), 2 (RGBA) or 3 (BGRA)', pixelFormat);
    if (slotCount < 2 || slotCount > RING_MAX_SLOTS) fail('slot_count', `2..${RING_MAX_SLOTS}`, slotCount);
    if (width < 2 || height < 2 || width > 8192 || height > 8192) fail('width/height', '2..8192', width < 2 || width > 8192 ? width : height);
    const expected = ringGeometry(width, height, pixelFormat, slotCount);
    const stride = v.getUint32(HEADER.stride, true);
    const slotSize = v.getUint32(HEADER.slot_size, true);
    // Writers may pad rows or slots; never less than the packed size.
    if (stride < expected.stride) fail('stride', `>= ${expected.stride}`, stride);
    if (slotSize < stride * height) fail('slot_size', `>= ${stride * height}`, slotSize);
    const createdUs = getU64(v, HEADER.created_us);
    probe.region.close();
    const geometry: RingGeometry = { width, height, stride, pixelFormat, slotCount, slotSize, totalSize: RING_DATA_OFFSET + slotCount * slotSize };
    const region = this.backend.open(this.name, geometry.totalSize);
    if (!region) {
      this.current = 'absent';
      return;
    }
    this.region = region;
    this.view = new DataView(region.buffer);
    this.words = new Uint32Array(region.buffer, 0, RING_DATA_OFFSET / 4);
    this.bytes = new Uint8Array(region.buffer);
    this.geometry = geometry;
    this.createdUs = createdUs;
    this.lastFrame = 0;
    if (this.pixels.length !== stride * height) this.pixels = new Uint8Array(stride * height);
    this.current = this.writerStatus(this.now());
  }
}
