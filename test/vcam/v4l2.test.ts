/**
 * The v4l2loopback writer's device logic against a fake device table (the kernel module
 * cannot be loaded in a container), and the real "module not loaded" path through libc on
 * this machine, which has no loopback device.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PersonaLiveError } from '../../daemon/errors.js';
import { createColourKernels, frameBytes } from '../../daemon/kernels/colour.js';
import {
  EACCES, EBUSY, EINVAL, ENOENT, ENOTTY, V4L2_BUF_TYPE_VIDEO_OUTPUT, V4L2_CAP_DEVICE_CAPS, V4L2_CAP_VIDEO_CAPTURE, V4L2_CAP_VIDEO_OUTPUT,
  V4L2_PIX_FMT_NV12, V4L2_PIX_FMT_YUYV, VIDIOC, bufferType, decodeOutputParm, decodePixFormat, encodeCapability, encodePixFormat,
  libcV4l2Io, listVideoDevices, type V4l2Io, type V4l2PixFormat,
} from '../../daemon/ffi/v4l2-abi.js';
import { V4l2LoopbackWriter, configureOutput, findLoopbackOutput, modprobeLine } from '../../daemon/vcam/v4l2.js';

interface FakeNode {
  driver: string;
  card: string;
  /** device_caps (capabilities carries DEVICE_CAPS unless `legacyCaps`). */
  caps: number;
  legacyCaps?: boolean;
  openErrno?: number;
  querycapErrno?: number;
  sParmErrno?: number;
  sFmtErrno?: number;
  streamonErrno?: number;
  /** What S_FMT hands back instead of the request. */
  adjust?: (pix: V4l2PixFormat) => V4l2PixFormat;
}

const LOOPBACK = (extra: Partial<FakeNode> = {}): FakeNode => ({ driver: 'v4l2 loopback', card: 'PersonaLive', caps: V4L2_CAP_VIDEO_OUTPUT, ...extra });
const WEBCAM = (extra: Partial<FakeNode> = {}): FakeNode => ({ driver: 'uvcvideo', card: 'Integrated Camera', caps: V4L2_CAP_VIDEO_CAPTURE, ...extra });

/** A device table behind V4l2Io: records every call and each descriptor's life. */
class FakeV4l2 implements V4l2Io {
  readonly open_ = new Map<number, string>();
  readonly calls: string[] = [];
  readonly writes: { fd: number; bytes: Uint8Array; buffer: ArrayBufferLike }[] = [];
  format: V4l2PixFormat | null = null;
  timeperframe: { numerator: number; denominator: number } | null = null;
  writeResult: ((data: Uint8Array) => number) | null = null;
  loaded = true;
  private nextFd = 3;

  constructor(readonly nodes: Record<string, FakeNode>) {}

  listDevices(): string[] {
    return Object.keys(this.nodes);
  }

  open(path: string): number {
    this.calls.push(`open ${path}`);
    const node = this.nodes[path];
    if (!node) return -ENOENT;
    if (node.openErrno) return -node.openErrno;
    const fd = this.nextFd++;
    this.open_.set(fd, path);
    return fd;
  }

  ioctl(fd: number, request: number, arg: Uint8Array): number {
    const path = this.open_.get(fd);
    if (path === undefined) throw new Error(`ioctl on a closed descriptor ${fd}`);
    const node = this.nodes[path];
    const name = Object.entries(VIDIOC).find(([, value]) => value === request)?.[0] ?? request.toString(16);
    this.calls.push(`${name} ${path}`);
    switch (request) {
      case VIDIOC.QUERYCAP:
        if (node.querycapErrno) return -node.querycapErrno;
        encodeCapability(arg, {
          driver: node.driver, card: node.card, bus_info: `platform:${path}`, version: 0x60100,
          capabilities: node.legacyCaps ? node.caps : node.caps | V4L2_CAP_DEVICE_CAPS, device_caps: node.legacyCaps ? 0 : node.caps,
        });
        return 0;
      case VIDIOC.G_FMT:
        expect(bufferType(arg)).toBe(V4L2_BUF_TYPE_VIDEO_OUTPUT);
        encodePixFormat(arg, this.format ?? { width: 320, height: 240, pixelformat: V4L2_PIX_FMT_YUYV, field: 1, bytesperline: 640, sizeimage: 153600, colorspace: 8, priv: 0, flags: 0, ycbcr_enc: 0, quantization: 0, xfer_func: 0 });
        return 0;
      case VIDIOC.S_PARM:
        expect(bufferType(arg)).toBe(V4L2_BUF_TYPE_VIDEO_OUTPUT);
        if (node.sParmErrno) return -node.sParmErrno;
        this.timeperframe = decodeOutputParm(arg).timeperframe;
        return 0;
      case VIDIOC.S_FMT: {
        expect(bufferType(arg)).toBe(V4L2_BUF_TYPE_VIDEO_OUTPUT);
        if (node.sFmtErrno) return -node.sFmtErrno;
        const requested = decodePixFormat(arg);
        this.format = node.adjust ? node.adjust(requested) : requested;
        encodePixFormat(arg, this.format);
        return 0;
      }
      case VIDIOC.STREAMON:
        expect(bufferType(arg)).toBe(V4L2_BUF_TYPE_VIDEO_OUTPUT);
        return node.streamonErrno ? -node.streamonErrno : 0;
      default:
        return -ENOTTY;
    }
  }

  write(fd: number, data: Uint8Array): number {
    if (!this.open_.has(fd)) throw new Error(`write on a closed descriptor ${fd}`);
    this.writes.push({ fd, bytes: data.slice(), buffer: data.buffer });
    return this.writeResult ? this.writeResult(data) : data.length;
  }

  close(fd: number): void {
    if (!this.open_.delete(fd)) throw new Error(`close of a descriptor not open: ${fd}`);
  }

  moduleLoaded(): boolean {
    return this.loaded;
  }

  describeErrno(errno: number): string {
    return { [ENOENT]: 'No such file or directory', [EACCES]: 'Permission denied', [EBUSY]: 'Device or resource busy', [EINVAL]: 'Invalid argument', [ENOTTY]: 'Inappropriate ioctl for device' }[errno] ?? `error ${errno}`;
  }
}

function caught(call: () => unknown): PersonaLiveError {
  try {
    call();
  } catch (error) {
    if (error instanceof PersonaLiveError) return error;
    throw error;
  }
  throw new Error('expected a PersonaLiveError');
}

const MODPROBE = 'sudo modprobe v4l2loopback exclusive_caps=1 card_label="PersonaLive" video_nr=10';

describe('finding the loopback device (fake devices)', () => {
  it('picks the first v4l2loopback node that offers output, skipping webcams, and closes the others', () => {
    const io = new FakeV4l2({ '/dev/video0': WEBCAM(), '/dev/video1': WEBCAM({ caps: 0x00800000 }), '/dev/video10': LOOPBACK(), '/dev/video11': LOOPBACK() });
    const { fd, info } = findLoopbackOutput(io);
    expect(info).toMatchObject({ path: '/dev/video10', driver: 'v4l2 loopback', card: 'PersonaLive', isLoopback: true, canOutput: true });
    expect([...io.open_.entries()]).toEqual([[fd, '/dev/video10']]);
    expect(io.calls).not.toContain('open /dev/video11');
  });

  it('reads the capabilities word when the driver does not fill device_caps', () => {
    const io = new FakeV4l2({ '/dev/video3': LOOPBACK({ legacyCaps: true }) });
    expect(findLoopbackOutput(io).info.canOutput).toBe(true);
  });

  it('VCAM_UNAVAILABLE with the exact modprobe line when there is no device and the module is not loaded', () => {
    const io = new FakeV4l2({});
    io.loaded = false;
    const error = caught(() => findLoopbackOutput(io));
    expect(error.code).toBe('VCAM_UNAVAILABLE');
    expect(error.message).toBe(`no virtual camera device: the v4l2loopback kernel module is not loaded. Run: ${MODPROBE}`);
    expect(error.details).toMatchObject({ modprobe: MODPROBE, moduleLoaded: false, devices: [] });
  });

  it('VCAM_UNAVAILABLE naming what it found when only webcams exist', () => {
    const io = new FakeV4l2({ '/dev/video0': WEBCAM(), '/dev/video1': WEBCAM({ querycapErrno: ENOTTY }) });
    io.loaded = false;
    const error = caught(() => findLoopbackOutput(io));
    expect(error.code).toBe('VCAM_UNAVAILABLE');
    expect(error.message).toContain('Found only: /dev/video0 (uvcvideo: Integrated Camera); /dev/video1 (VIDIOC_QUERYCAP: Inappropriate ioctl for device).');
    expect(error.message).toContain(`Run: ${MODPROBE}`);
    expect(io.open_.size).toBe(0);
  });

  it('VCAM_BUSY when the only loopback node has no output (another producer holds it under exclusive_caps=1)', () => {
    const io = new FakeV4l2({ '/dev/video10': LOOPBACK({ caps: V4L2_CAP_VIDEO_CAPTURE }) });
    const error = caught(() => findLoopbackOutput(io));
    expect(error.code).toBe('VCAM_BUSY');
    expect(error.message).toMatch(/^the v4l2loopback device \/dev\/video10 \("PersonaLive"\) is already fed by another program/);
    expect(io.open_.size).toBe(0);
  });

  it('VCAM_UNAVAILABLE with the group fix when the nodes cannot be opened', () => {
    const io = new FakeV4l2({ '/dev/video10': LOOPBACK({ openErrno: EACCES }) });
    const error = caught(() => findLoopbackOutput(io));
    expect(error.code).toBe('VCAM_UNAVAILABLE');
    expect(error.message).toMatch(/cannot open \/dev\/video10: permission denied; add your user to the 'video' group/);
  });

  describe('a configured path', () => {
    it('is used without scanning when it is a loopback output', () => {
      const io = new FakeV4l2({ '/dev/video0': LOOPBACK(), '/dev/video7': LOOPBACK() });
      expect(findLoopbackOutput(io, '/dev/video7').info.path).toBe('/dev/video7');
      expect(io.calls.filter((c) => c.startsWith('open'))).toEqual(['open /dev/video7']);
    });

    it('that does not exist: VCAM_UNAVAILABLE with the modprobe line for that number', () => {
      const error = caught(() => findLoopbackOutput(new FakeV4l2({}), '/dev/video42'));
      expect(error.code).toBe('VCAM_UNAVAILABLE');
      expect(error.message).toBe(`the configured virtual camera device /dev/video42 does not exist. Run: ${modprobeLine(42)}`);
    });

    it('that is a webcam: VCAM_UNAVAILABLE naming its driver', () => {
      const io = new FakeV4l2({ '/dev/video0': WEBCAM() });
      const error = caught(() => findLoopbackOutput(io, '/dev/video0'));
      expect(error.code).toBe('VCAM_UNAVAILABLE');
      expect(error.message).toMatch(/^the configured virtual camera device \/dev\/video0 is not a v4l2loopback output: its driver is "uvcvideo" \("Integrated Camera"\)/);
      expect(io.open_.size).toBe(0);
    });

    it('that is not a V4L2 device: VCAM_UNAVAILABLE quoting the ioctl error', () => {
      const io = new FakeV4l2({ '/dev/null': WEBCAM({ querycapErrno: ENOTTY }) });
      const error = caught(() => findLoopbackOutput(io, '/dev/null'));
      expect(error.code).toBe('VCAM_UNAVAILABLE');
      expect(error.message).toBe('the configured virtual camera device /dev/null is not a V4L2 device (VIDIOC_QUERYCAP: Inappropriate ioctl for device (errno 25))');
    });

    it('that another producer feeds: VCAM_BUSY', () => {
      const io = new FakeV4l2({ '/dev/video10': LOOPBACK({ caps: V4L2_CAP_VIDEO_CAPTURE }), '/dev/video11': LOOPBACK({ openErrno: EBUSY }) });
      expect(caught(() => findLoopbackOutput(io, '/dev/video10')).code).toBe('VCAM_BUSY');
      expect(caught(() => findLoopbackOutput(io, '/dev/video11')).code).toBe('VCAM_BUSY');
    });
  });
});

describe('configuring the output (fake devices)', () => {
  const config = { width: 1280, height: 720, fpsNum: 30000, fpsDen: 1001 };

  it('sets YUYV at the size, frame interval fps_den/fps_num, BT.601 limited range, and streams', () => {
    const io = new FakeV4l2({ '/dev/video10': LOOPBACK() });
    const { fd } = findLoopbackOutput(io);
    const out = configureOutput(io, fd, '/dev/video10', { ...config, format: 'YUYV' });
    expect(out).toEqual({ sizeimage: 1280 * 720 * 2, bytesperline: 2560, frameRateSet: true, streaming: true });
    expect(io.format).toMatchObject({ width: 1280, height: 720, pixelformat: V4L2_PIX_FMT_YUYV, field: 1, bytesperline: 2560, sizeimage: 1843200, colorspace: 1, ycbcr_enc: 1, quantization: 2 });
    expect(io.timeperframe).toEqual({ numerator: 1001, denominator: 30000 });
    expect(io.calls.slice(-4)).toEqual(['G_FMT /dev/video10', 'S_PARM /dev/video10', 'S_FMT /dev/video10', 'STREAMON /dev/video10']);
  });

  it('sets NV12 with a Y-plane stride of width', () => {
    const io = new FakeV4l2({ '/dev/video10': LOOPBACK() });
    const { fd } = findLoopbackOutput(io);
    configureOutput(io, fd, '/dev/video10', { ...config, format: 'NV12' });
    expect(io.format).toMatchObject({ pixelformat: V4L2_PIX_FMT_NV12, bytesperline: 1280, sizeimage: 1382400 });
  });

  it('carries on when STREAMON or S_PARM are refused (older modules), and says so', () => {
    const io = new FakeV4l2({ '/dev/video10': LOOPBACK({ streamonErrno: EINVAL, sParmErrno: EINVAL }) });
    const { fd } = findLoopbackOutput(io);
    expect(configureOutput(io, fd, '/dev/video10', { ...config, format: 'YUYV' })).toMatchObject({ frameRateSet: false, streaming: false });
  });

  it('S_FMT refused with EBUSY (a reader holds another format): VCAM_BUSY', () => {
    const io = new FakeV4l2({ '/dev/video10': LOOPBACK({ sFmtErrno: EBUSY }) });
    const error = caught(() => V4l2LoopbackWriter.open({ ...config, io }));
    expect(error.code).toBe('VCAM_BUSY');
    expect(error.message).toBe('/dev/video10 is in use at another format (a camera app has it open); close the app and start again');
    expect(io.open_.size).toBe(0);
  });

  it('S_FMT failing otherwise: VCAM_FAILED naming the ioctl and errno, descriptor closed', () => {
    const io = new FakeV4l2({ '/dev/video10': LOOPBACK({ sFmtErrno: EINVAL }) });
    const error = caught(() => V4l2LoopbackWriter.open({ ...config, io }));
    expect(error.code).toBe('VCAM_FAILED');
    expect(error.message).toBe('VIDIOC_S_FMT on /dev/video10 failed: Invalid argument (errno 22)');
    expect(error.details).toMatchObject({ call: 'VIDIOC_S_FMT', errno: EINVAL, path: '/dev/video10' });
    expect(io.open_.size).toBe(0);
  });

  it('a driver that picks another size: VCAM_FAILED saying what it chose', () => {
    const io = new FakeV4l2({ '/dev/video10': LOOPBACK({ adjust: (pix) => ({ ...pix, width: 640, height: 480, sizeimage: 614400, bytesperline: 1280 }) }) });
    const error = caught(() => V4l2LoopbackWriter.open({ ...config, io }));
    expect(error.code).toBe('VCAM_FAILED');
    expect(error.message).toMatch(/^\/dev\/video10 accepted 640x480 YUYV \(bytesperline 1280, sizeimage 614400\) instead of 1280x720 YUYV$/);
    expect(io.open_.size).toBe(0);
  });
});

describe('V4l2LoopbackWriter (fake devices)', () => {
  const W = 64;
  const H = 36;

  it('writeRgb converts with the colour kernels into one reused buffer and writes whole frames', () => {
    const io = new FakeV4l2({ '/dev/video10': LOOPBACK() });
    const kernels = createColourKernels();
    const writer = V4l2LoopbackWriter.open({ width: W, height: H, fpsNum: 30, fpsDen: 1, io, kernels });
    expect([writer.kind, writer.format, writer.path]).toEqual(['v4l2loopback', 'YUYV', '/dev/video10']);
    const frames = [1, 2].map((seed) => Uint8Array.from({ length: W * H * 3 }, (_, i) => (i * 7 + seed * 13) & 0xff));
    for (const rgb of frames) writer.writeRgb(rgb, 0);
    expect(io.writes).toHaveLength(2);
    frames.forEach((rgb, i) => {
      const expected = new Uint8Array(frameBytes('YUYV', W, H));
      kernels.rgbToYuyv(rgb, W, H, expected);
      expect(Buffer.from(io.writes[i].bytes).equals(Buffer.from(expected))).toBe(true);
    });
    expect(io.writes[0].buffer).toBe(io.writes[1].buffer);
    expect(writer.framesWritten).toBe(2);
    writer.close();
    writer.close();
    expect(io.open_.size).toBe(0);
    expect(() => writer.writeRgb(frames[0], 0)).toThrow(expect.objectContaining({ code: 'VCAM_FAILED', message: '/dev/video10 was written after close()' }));
  });

  it('writeFrame passes prepared NV12 through unchanged', () => {
    const io = new FakeV4l2({ '/dev/video10': LOOPBACK() });
    const writer = V4l2LoopbackWriter.open({ width: W, height: H, fpsNum: 30, fpsDen: 1, io, format: 'NV12' });
    const nv12 = Uint8Array.from({ length: frameBytes('NV12', W, H) + 10 }, (_, i) => i & 0xff);
    writer.writeFrame(nv12, 0);
    expect(Buffer.from(io.writes[0].bytes).equals(Buffer.from(nv12.subarray(0, frameBytes('NV12', W, H))))).toBe(true);
    expect(() => writer.writeFrame(new Uint8Array(5), 0)).toThrow(/'data' is 5 bytes, expected at least 3456 for 64x36 NV12/);
    writer.close();
  });

  it('a failed or short write() is VCAM_FAILED naming the device', () => {
    const io = new FakeV4l2({ '/dev/video10': LOOPBACK() });
    const writer = V4l2LoopbackWriter.open({ width: W, height: H, fpsNum: 30, fpsDen: 1, io });
    io.writeResult = () => -EINVAL;
    expect(() => writer.writeRgb(new Uint8Array(W * H * 3), 0)).toThrow(expect.objectContaining({ code: 'VCAM_FAILED', message: 'write to /dev/video10 failed: Invalid argument (errno 22)' }));
    io.writeResult = (data) => data.length - 1;
    expect(() => writer.writeRgb(new Uint8Array(W * H * 3), 0)).toThrow(expect.objectContaining({ code: 'VCAM_FAILED', message: `write to /dev/video10 was short: ${W * H * 2 - 1} of ${W * H * 2} bytes` }));
    writer.close();
  });

  it('refuses sizes the format cannot carry before touching a device', () => {
    const io = new FakeV4l2({ '/dev/video10': LOOPBACK() });
    expect(() => V4l2LoopbackWriter.open({ width: 63, height: 36, fpsNum: 30, fpsDen: 1, io })).toThrow(/v4l2loopback: 'width' must be even/);
    expect(() => V4l2LoopbackWriter.open({ width: 64, height: 35, fpsNum: 30, fpsDen: 1, io, format: 'NV12' })).toThrow(/'width' and 'height' must be even/);
    expect(() => V4l2LoopbackWriter.open({ width: 64, height: 36, fpsNum: 0, fpsDen: 1, io })).toThrow(/'fpsNum' and 'fpsDen' must be positive integers/);
    expect(io.calls).toEqual([]);
  });
});

const loopbackPresent = existsSync('/sys/module/v4l2loopback');

describe.runIf(process.platform === 'linux')('the real device path on this machine (libc through koffi)', () => {
  it.skipIf(loopbackPresent)('with no v4l2loopback module: VCAM_UNAVAILABLE with the exact modprobe line', () => {
    const error = caught(() => V4l2LoopbackWriter.open({ width: 640, height: 480, fpsNum: 30, fpsDen: 1 }));
    expect(error.code).toBe('VCAM_UNAVAILABLE');
    expect(error.message).toMatch(/^no virtual camera device: the v4l2loopback kernel module is not loaded\./);
    expect(error.message.endsWith(`Run: ${MODPROBE}`)).toBe(true);
    expect(error.details.devices).toEqual(listVideoDevices());
  });

  it('a configured path that does not exist, and one that is not a V4L2 device', () => {
    expect(existsSync('/dev/video97')).toBe(false);
    const missing = caught(() => V4l2LoopbackWriter.open({ width: 640, height: 480, fpsNum: 30, fpsDen: 1, device: '/dev/video97' }));
    expect(missing.code).toBe('VCAM_UNAVAILABLE');
    expect(missing.message).toBe(`the configured virtual camera device /dev/video97 does not exist. Run: ${modprobeLine(97)}`);
    const notV4l2 = caught(() => V4l2LoopbackWriter.open({ width: 640, height: 480, fpsNum: 30, fpsDen: 1, device: '/dev/null' }));
    expect(notV4l2.code).toBe('VCAM_UNAVAILABLE');
    expect(notV4l2.message).toMatch(/^the configured virtual camera device \/dev\/null is not a V4L2 device \(VIDIOC_QUERYCAP: .+ \(errno 25\)\)$/);
  });

  it('libc write() reports bytes written, and errors as -errno', () => {
    const io = libcV4l2Io();
    const fd = io.open('/dev/null');
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(io.write(fd, new Uint8Array(1000))).toBe(1000);
    expect(io.ioctl(fd, VIDIOC.QUERYCAP, new Uint8Array(104))).toBe(-ENOTTY);
    io.close(fd);
    expect(io.write(-1, new Uint8Array(1))).toBe(-9); // EBADF
    expect(io.open('/dev/video97')).toBe(-ENOENT);
  });
});
