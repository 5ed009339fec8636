/**
 * The OBS Virtual Camera queue writer, run on Linux over the same code path as on Windows
 * with POSIX shared memory: a reader written here from the documented layout
 * (shared/design/virtual-camera.md), on an independently opened mapping, checks what the
 * DirectShow filter would see. A C program checks the documented header offsets.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PersonaLiveError } from '../../daemon/errors.js';
import { createColourKernels, frameBytes } from '../../daemon/kernels/colour.js';
import { createInProcessSharedMemory, systemSharedMemory, type SharedMemoryRegion } from '../../daemon/ffi/shared-memory.js';
import {
  OBS_FRAME_HEADER_SIZE, OBS_QUEUE_HEADER, OBS_VIRTUALCAM_NAME, ObsQueueState, ObsVirtualCamWriter, obsFrameInterval, obsQueueLayout, obsResolutionFileText,
} from '../../daemon/vcam/obs-virtualcam.js';
import { requireBinary } from '../helpers/system.js';

describe('OBS Virtual Camera queue layout', () => {
  it('matches the documented 1280x720 numbers: slots at 96, 1382528, 2764960; 4147392 bytes', () => {
    expect(obsQueueLayout(1280, 720)).toEqual({ width: 1280, height: 720, frameBytes: 1382400, slotOffsets: [96, 1382528, 2764960], size: 4147392 });
  });

  it('aligns every slot to 32 bytes for sizes that are not multiples of 32', () => {
    const layout = obsQueueLayout(642, 362);
    expect(layout.slotOffsets[0]).toBe(96);
    for (const offset of layout.slotOffsets) expect(offset % 32).toBe(0);
    expect(layout.slotOffsets[1]).toBe(Math.ceil((96 + 32 + layout.frameBytes) / 32) * 32);
    expect(layout.size % 32).toBe(0);
  });

  it('refuses sizes NV12 cannot carry', () => {
    expect(() => obsQueueLayout(1281, 720)).toThrow(/'width' and 'height' must be positive even integers \(NV12\), got 1281x720/);
    expect(() => obsQueueLayout(0, 720)).toThrow(RangeError);
  });

  it('computes the interval in 100 ns units, truncated like OBS, and the resolution file text', () => {
    expect(obsFrameInterval(30, 1)).toBe(333333);
    expect(obsFrameInterval(30000, 1001)).toBe(333666);
    expect(obsFrameInterval(60, 1)).toBe(166666);
    expect(obsResolutionFileText(1280, 720, 333333)).toBe('1280x720x333333');
    expect(() => obsFrameInterval(0, 1)).toThrow(/'fpsNum' and 'fpsDen' must be positive integers/);
  });
});

const cc = requireBinary('cc');

describe.skipIf(cc.skip)('OBS Virtual Camera header offsets against a C struct written from the documentation', () => {
  it('has every field where a C compiler puts it (x86-64 / x86 Windows agree for u32/u64 fields)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'obs-vcam-layout-'));
    try {
      writeFileSync(join(dir, 'layout.c'), `
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
struct queue_header {
  volatile uint32_t write_idx; volatile uint32_t read_idx; volatile uint32_t state;
  uint32_t offsets[3]; uint32_t type; uint32_t cx; uint32_t cy; uint64_t interval; uint32_t reserved[8];
};
#define F(m) printf("\\"%s\\": %zu,", #m, offsetof(struct queue_header, m))
int main(void) {
  printf("{"); F(write_idx); F(read_idx); F(state); F(offsets); F(type); F(cx); F(cy); F(interval); F(reserved);
  printf("\\"size\\": %zu}\\n", sizeof(struct queue_header));
  return 0;
}
`);
      execFileSync('cc', ['-o', join(dir, 'layout'), join(dir, 'layout.c')]);
      const c = JSON.parse(execFileSync(join(dir, 'layout'), { encoding: 'utf8' })) as Record<string, number>;
      expect(OBS_QUEUE_HEADER).toEqual({
        writeIdx: c.write_idx, readIdx: c.read_idx, state: c.state, offsets: c.offsets, type: c.type, cx: c.cx, cy: c.cy,
        interval: c.interval, reserved: c.reserved, size: c.size,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The reader: what the DirectShow filter reads, straight from the documented offsets. */
class DocumentedReader {
  private readonly view: DataView;
  private readonly bytes: Uint8Array;

  constructor(private readonly region: SharedMemoryRegion) {
    this.view = new DataView(region.buffer);
    this.bytes = new Uint8Array(region.buffer);
  }

  get writeIdx(): number { return this.view.getUint32(0, true); }
  get readIdx(): number { return this.view.getUint32(4, true); }
  get state(): number { return this.view.getUint32(8, true); }
  offset(i: number): number { return this.view.getUint32(12 + 4 * i, true); }
  get type(): number { return this.view.getUint32(24, true); }
  get cx(): number { return this.view.getUint32(28, true); }
  get cy(): number { return this.view.getUint32(32, true); }
  get interval(): bigint { return this.view.getBigUint64(40, true); }
  reserved(i: number): number { return this.view.getUint32(48 + 4 * i, true); }

  /** The frame read_idx points at: its timestamp and NV12 bytes (copied). */
  current(): { slot: number; timestamp: bigint; nv12: Uint8Array } {
    const slot = this.readIdx % 3;
    const start = this.offset(slot);
    const size = (this.cx * this.cy * 3) / 2;
    return { slot, timestamp: this.view.getBigUint64(start, true), nv12: this.bytes.slice(start + 32, start + 32 + size) };
  }

  slotBytes(slot: number): Uint8Array {
    const start = this.offset(slot) + 32;
    return this.bytes.slice(start, start + (this.cx * this.cy * 3) / 2);
  }

  close(): void {
    this.region.close();
  }
}

function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 101) & 0xff;
  return bytes;
}

const shm = systemSharedMemory();
let counter = 0;
const names: string[] = [];
function uniqueName(): string {
  const name = `personalive-test-obsvcam-${process.pid}-${counter++}`;
  names.push(name);
  return name;
}

afterEach(() => {
  for (const name of names.splice(0)) shm.unlink(name);
});

describe('ObsVirtualCamWriter on POSIX shared memory', () => {
  const W = 64;
  const H = 36;
  const config = { width: W, height: H, fpsNum: 30, fpsDen: 1, resolutionFile: null };

  it('uses the name OBS reads by default', () => {
    expect(OBS_VIRTUALCAM_NAME).toBe('OBSVirtualCamVideo');
  });

  it('creates the header in state "starting", then each write rotates slots, advances both indexes and sets "ready"', () => {
    const name = uniqueName();
    const writer = ObsVirtualCamWriter.open({ ...config, name, backend: shm });
    const layout = obsQueueLayout(W, H);
    const region = shm.open(name, layout.size);
    expect(region).not.toBeNull();
    const reader = new DocumentedReader(region!);
    try {
      expect(shm.sizeOf(name)).toBe(layout.size);
      expect(reader.state).toBe(1);
      expect([reader.writeIdx, reader.readIdx]).toEqual([0, 0]);
      expect([reader.offset(0), reader.offset(1), reader.offset(2)]).toEqual([...layout.slotOffsets]);
      expect(reader.offset(0)).toBe(96);
      expect([reader.type, reader.cx, reader.cy]).toEqual([0, W, H]);
      expect(reader.interval).toBe(333333n);
      for (let i = 0; i < 8; i++) expect(reader.reserved(i)).toBe(0);

      const frames = [1, 2, 3, 4].map((seed) => pattern(frameBytes('NV12', W, H), seed));
      const written: { slot: number; nv12: Uint8Array }[] = [];
      frames.forEach((frame, i) => {
        const timestampUs = 5_000_000 + i * 33_333.5;
        writer.writeFrame(frame, timestampUs);
        const idx = i + 1;
        expect(reader.state).toBe(2);
        expect(reader.writeIdx).toBe(idx);
        expect(reader.readIdx).toBe(idx);
        const current = reader.current();
        expect(current.slot).toBe(idx % 3);
        expect(current.timestamp).toBe(BigInt(Math.round(timestampUs * 1000)));
        expect(Buffer.from(current.nv12).equals(Buffer.from(frame))).toBe(true);
        written.push(current);
      });
      // Slots 1, 2, 0, then 1 again: frame 4 replaced frame 1; frames 2 and 3 are intact.
      expect(written.map((w) => w.slot)).toEqual([1, 2, 0, 1]);
      expect(Buffer.from(reader.slotBytes(2)).equals(Buffer.from(frames[1]))).toBe(true);
      expect(Buffer.from(reader.slotBytes(0)).equals(Buffer.from(frames[2]))).toBe(true);
      expect(writer.framesWritten).toBe(4);

      writer.close();
      expect(reader.state).toBe(3);
      expect(reader.readIdx).toBe(4);
      expect(writer.closed).toBe(true);
      expect(() => writer.writeFrame(frames[0], 0)).toThrow(expect.objectContaining({ code: 'VCAM_FAILED', message: expect.stringMatching(/written after close\(\)/) }));
      writer.close();
    } finally {
      writer.close();
      reader.close();
    }
  });

  it('writeRgb converts straight into the slot: the reader sees the colour kernels\' NV12', () => {
    const name = uniqueName();
    const kernels = createColourKernels();
    const writer = ObsVirtualCamWriter.open({ ...config, name, backend: shm, kernels });
    const reader = new DocumentedReader(shm.open(name, obsQueueLayout(W, H).size)!);
    try {
      const rgb = pattern(W * H * 3, 9);
      const expected = new Uint8Array(frameBytes('NV12', W, H));
      kernels.rgbToNv12(rgb, W, H, expected);
      writer.writeRgb(rgb, 1);
      expect(reader.current().slot).toBe(1);
      expect(Buffer.from(reader.current().nv12).equals(Buffer.from(expected))).toBe(true);
      // A bad frame is refused before a slot is taken.
      expect(() => writer.writeRgb(new Uint8Array(10), 2)).toThrow(/'rgb' is 10 bytes/);
      expect(() => writer.writeFrame(new Uint8Array(10), 2)).toThrow(/'nv12' is 10 bytes, expected at least 3456 for 64x36 NV12/);
      expect(reader.writeIdx).toBe(1);
    } finally {
      writer.close();
      reader.close();
    }
  });

  it('a second writer on the same name gets VCAM_BUSY, and the first keeps working', () => {
    const name = uniqueName();
    const first = ObsVirtualCamWriter.open({ ...config, name, backend: shm });
    try {
      let error: unknown;
      try {
        ObsVirtualCamWriter.open({ ...config, name, backend: shm });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(PersonaLiveError);
      expect((error as PersonaLiveError).code).toBe('VCAM_BUSY');
      expect((error as PersonaLiveError).message).toBe("OBS's own virtual camera or another program is using OBS Virtual Camera; stop it first");
      expect((error as PersonaLiveError).details.name).toBe(name);
      first.writeFrame(pattern(frameBytes('NV12', W, H), 1), 0);
      expect(first.framesWritten).toBe(1);
    } finally {
      first.close();
    }
  });

  it('close() removes the POSIX name, so the camera can be opened again', () => {
    const name = uniqueName();
    ObsVirtualCamWriter.open({ ...config, name, backend: shm }).close();
    expect(shm.sizeOf(name)).toBeNull();
    ObsVirtualCamWriter.open({ ...config, name, backend: shm }).close();
  });

  it('writes the resolution file when asked', () => {
    const dir = mkdtempSync(join(tmpdir(), 'obs-vcam-res-'));
    try {
      const file = join(dir, 'obs-virtualcam.txt');
      ObsVirtualCamWriter.open({ ...config, fpsNum: 30000, fpsDen: 1001, name: uniqueName(), backend: shm, resolutionFile: file }).close();
      expect(readFileSync(file, 'utf8')).toBe(`${W}x${H}x333666`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('behaves the same on the in-process backend (busy included)', () => {
    const memory = createInProcessSharedMemory();
    const writer = ObsVirtualCamWriter.open({ ...config, name: 'vcam', backend: memory });
    expect(() => ObsVirtualCamWriter.open({ ...config, name: 'vcam', backend: memory })).toThrow(expect.objectContaining({ code: 'VCAM_BUSY' }));
    const frame = pattern(frameBytes('NV12', W, H), 5);
    writer.writeFrame(frame, 0);
    const bytes = new Uint8Array(memory.open('vcam', obsQueueLayout(W, H).size)!.buffer);
    const slot1 = obsQueueLayout(W, H).slotOffsets[1] + OBS_FRAME_HEADER_SIZE;
    expect(Buffer.from(bytes.subarray(slot1, slot1 + frame.length)).equals(Buffer.from(frame))).toBe(true);
    expect(new DataView(bytes.buffer).getUint32(OBS_QUEUE_HEADER.state, true)).toBe(ObsQueueState.ready);
    writer.close();
  });

  it('a shared-memory failure other than "exists" is VCAM_FAILED naming the queue', () => {
    const memory = createInProcessSharedMemory();
    expect(() => ObsVirtualCamWriter.open({ ...config, name: 'bad name!', backend: memory })).toThrow(
      expect.objectContaining({ code: 'VCAM_FAILED', message: expect.stringMatching(/could not create the OBS Virtual Camera queue "bad name!"/) }),
    );
  });
});
