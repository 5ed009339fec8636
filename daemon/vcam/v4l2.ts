/**
 * Writer into a v4l2loopback device (Linux): the kernel module creates /dev/videoN nodes
 * that a producer writes frames into and any camera app (Chrome, Zoom, OBS) reads.
 *
 * Finding the device: a configured path, or a scan of /dev/video* for the first node whose
 * driver is "v4l2 loopback" and whose device_caps offer VIDEO_OUTPUT. With exclusive_caps=1
 * (what Chrome/WebRTC need) a loopback node offers OUTPUT only until a producer streams,
 * then CAPTURE only: a loopback node without OUTPUT is one that another program is feeding.
 *
 * Configuring: VIDIOC_G_FMT (output), VIDIOC_S_PARM (frame interval), VIDIOC_S_FMT (size,
 * YUYV or NV12, BT.601 limited range), VIDIOC_STREAMON (some module versions refuse it;
 * ignored). Each frame is then one write() of the whole image; pacing is the caller's
 * (VirtualCameraSink).
 *
 * The device logic runs over V4l2Io (v4l2-abi.ts), so tests drive it with a fake device
 * table; the real calls go through libc with koffi.
 */
import { PersonaLiveError } from '../errors.js';
import { checkFrameSize, createColourKernels, frameBytes, type ColourKernels, type PixelFormat } from '../kernels/colour.js';
import {
  EACCES, EBUSY, ENOENT, SIZEOF, V4L2_BUF_TYPE_VIDEO_OUTPUT, V4L2_CAP_DEVICE_CAPS, V4L2_CAP_VIDEO_OUTPUT, V4L2_COLORSPACE_SMPTE170M,
  V4L2_FIELD_NONE, V4L2_PIX_FMT_NV12, V4L2_PIX_FMT_YUYV, V4L2_QUANTIZATION_LIM_RANGE, V4L2_XFER_FUNC_709, V4L2_YCBCR_ENC_601, VIDIOC,
  decodeCapability, decodePixFormat, encodeOutputParm, encodePixFormat, fourccName, libcV4l2Io, setBufferType,
  type V4l2Io,
} from '../ffi/v4l2-abi.js';
import type { FrameWriter, VirtualCameraConfig } from './writer.js';

/** The driver name v4l2loopback reports in VIDIOC_QUERYCAP. */
export const LOOPBACK_DRIVER = 'v4l2 loopback';

/** The command that creates our device (video_nr=10: Zoom has had trouble with large numbers). */
export function modprobeLine(videoNr = 10): string {
  return `sudo modprobe v4l2loopback exclusive_caps=1 card_label="PersonaLive" video_nr=${videoNr}`;
}

/** What VIDIOC_QUERYCAP says about one node. */
export interface V4l2DeviceInfo {
  path: string;
  driver: string;
  card: string;
  busInfo: string;
  /** device_caps when the driver fills it in, else capabilities. */
  deviceCaps: number;
  isLoopback: boolean;
  canOutput: boolean;
}

/** An open node that passed the checks; the caller owns `fd`. */
export interface OpenedDevice {
  fd: number;
  info: V4l2DeviceInfo;
}

type Probe = { ok: true; device: OpenedDevice } | { ok: false; errno: number; stage: 'open' | 'VIDIOC_QUERYCAP' };

/** Opens `path` and queries its capabilities; the descriptor stays open on success. */
export function probeDevice(io: V4l2Io, path: string, scratch: Uint8Array = new Uint8Array(SIZEOF.capability)): Probe {
  const fd = io.open(path);
  if (fd < 0) return { ok: false, errno: -fd, stage: 'open' };
  scratch.fill(0);
  const rc = io.ioctl(fd, VIDIOC.QUERYCAP, scratch);
  if (rc < 0) {
    io.close(fd);
    return { ok: false, errno: -rc, stage: 'VIDIOC_QUERYCAP' };
  }
  const cap = decodeCapability(scratch);
  const deviceCaps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) !== 0 ? cap.device_caps : cap.capabilities;
  return {
    ok: true,
    device: {
      fd,
      info: {
        path,
        driver: cap.driver,
        card: cap.card,
        busInfo: cap.bus_info,
        deviceCaps,
        isLoopback: cap.driver === LOOPBACK_DRIVER,
        canOutput: (deviceCaps & V4L2_CAP_VIDEO_OUTPUT) !== 0,
      },
    },
  };
}

const errnoText = (io: V4l2Io, errno: number): string => `${io.describeErrno(errno)} (errno ${errno})`;

const permissionHint = "add your user to the 'video' group (sudo usermod -aG video $USER) and log in again";

function busyError(path: string, card: string): PersonaLiveError {
  return new PersonaLiveError(
    'VCAM_BUSY',
    `the v4l2loopback device ${path} ("${card}") is already fed by another program (with exclusive_caps=1 it then offers no output); stop that program first`,
    { path, card },
  );
}

/**
 * Opens the configured node, or scans /dev/video* for a free v4l2loopback output.
 * @throws PersonaLiveError VCAM_UNAVAILABLE (no loopback device: the message gives the modprobe line;
 *   a configured path that is missing, not V4L2, or not a loopback output; no permission),
 *   VCAM_BUSY (the loopback node is fed by another producer), VCAM_FAILED (an unexpected open error)
 */
export function findLoopbackOutput(io: V4l2Io, configuredPath?: string): OpenedDevice {
  const scratch = new Uint8Array(SIZEOF.capability);
  if (configuredPath !== undefined) return openConfigured(io, configuredPath, scratch);

  const paths = io.listDevices();
  const others: string[] = [];
  const busy: V4l2DeviceInfo[] = [];
  const denied: string[] = [];
  for (const path of paths) {
    const probe = probeDevice(io, path, scratch);
    if (!probe.ok) {
      if (probe.stage === 'open' && probe.errno === EACCES) denied.push(path);
      else others.push(`${path} (${probe.stage}: ${io.describeErrno(probe.errno)})`);
      continue;
    }
    const { info, fd } = probe.device;
    if (info.isLoopback && info.canOutput) return probe.device;
    io.close(fd);
    if (info.isLoopback) busy.push(info);
    else others.push(`${path} (${info.driver}: ${info.card})`);
  }
  if (busy.length > 0) throw busyError(busy[0].path, busy[0].card);
  if (denied.length > 0) {
    throw new PersonaLiveError('VCAM_UNAVAILABLE', `cannot open ${denied.join(', ')}: permission denied; ${permissionHint}`, { devices: paths, denied });
  }
  const loaded = io.moduleLoaded();
  const found = others.length > 0 ? ` Found only: ${others.join('; ')}.` : '';
  const why = loaded ? 'the v4l2loopback module is loaded but offers no output device' : 'the v4l2loopback kernel module is not loaded';
  throw new PersonaLiveError('VCAM_UNAVAILABLE', `no virtual camera device: ${why}.${found} Run: ${modprobeLine()}`, {
    devices: paths, moduleLoaded: loaded, modprobe: modprobeLine(),
  });
}

function openConfigured(io: V4l2Io, path: string, scratch: Uint8Array): OpenedDevice {
  const probe = probeDevice(io, path, scratch);
  const nr = /^\/dev\/video(\d+)$/.exec(path);
  const modprobe = modprobeLine(nr ? Number(nr[1]) : 10);
  if (!probe.ok) {
    const { errno, stage } = probe;
    if (stage === 'open' && errno === ENOENT) {
      throw new PersonaLiveError('VCAM_UNAVAILABLE', `the configured virtual camera device ${path} does not exist. Run: ${modprobe}`, { path, errno, modprobe });
    }
    if (stage === 'open' && errno === EACCES) {
      throw new PersonaLiveError('VCAM_UNAVAILABLE', `cannot open the configured virtual camera device ${path}: permission denied; ${permissionHint}`, { path, errno });
    }
    if (stage === 'open' && errno === EBUSY) throw busyError(path, '');
    if (stage === 'open') {
      throw new PersonaLiveError('VCAM_FAILED', `open("${path}") failed: ${errnoText(io, errno)}`, { path, errno, call: 'open' });
    }
    throw new PersonaLiveError('VCAM_UNAVAILABLE', `the configured virtual camera device ${path} is not a V4L2 device (VIDIOC_QUERYCAP: ${errnoText(io, errno)})`, { path, errno });
  }
  const { info, fd } = probe.device;
  if (info.isLoopback && info.canOutput) return probe.device;
  io.close(fd);
  if (info.isLoopback) throw busyError(path, info.card);
  throw new PersonaLiveError(
    'VCAM_UNAVAILABLE',
    `the configured virtual camera device ${path} is not a v4l2loopback output: its driver is "${info.driver}" ("${info.card}"). Create one with: ${modprobe}`,
    { path, driver: info.driver, card: info.card, modprobe },
  );
}

/** What configureOutput set up. */
export interface ConfiguredOutput {
  /** Bytes per write(): the driver's sizeimage. */
  sizeimage: number;
  bytesperline: number;
  /** VIDIOC_S_PARM accepted the frame interval (older modules refuse it; readers then assume 30 fps). */
  frameRateSet: boolean;
  /** VIDIOC_STREAMON accepted (only some module versions do; writes work either way). */
  streaming: boolean;
}

/** Bytes per line of the first plane: YUYV 2 per pixel, NV12's Y plane 1. */
const bytesPerLine = (format: PixelFormat, width: number): number => (format === 'YUYV' ? width * 2 : width);

/**
 * Sets the output format and frame interval of an open loopback node.
 * @throws PersonaLiveError VCAM_BUSY (a reader holds another format), VCAM_FAILED (an ioctl failed or the driver chose another format)
 */
export function configureOutput(io: V4l2Io, fd: number, path: string, config: VirtualCameraConfig & { format: PixelFormat }): ConfiguredOutput {
  const { width, height, format, fpsNum, fpsDen } = config;
  const fail = (call: string, errno: number): PersonaLiveError =>
    new PersonaLiveError('VCAM_FAILED', `${call} on ${path} failed: ${errnoText(io, errno)}`, { path, call, errno });

  const fmt = new Uint8Array(SIZEOF.format);
  setBufferType(fmt, V4L2_BUF_TYPE_VIDEO_OUTPUT);
  let rc = io.ioctl(fd, VIDIOC.G_FMT, fmt);
  if (rc < 0) throw fail('VIDIOC_G_FMT', -rc);

  const parm = new Uint8Array(SIZEOF.streamparm);
  setBufferType(parm, V4L2_BUF_TYPE_VIDEO_OUTPUT);
  // Frame interval = fps_den / fps_num seconds.
  encodeOutputParm(parm, { capability: 0, outputmode: 0, timeperframe: { numerator: fpsDen, denominator: fpsNum }, extendedmode: 0, writebuffers: 0 });
  const frameRateSet = io.ioctl(fd, VIDIOC.S_PARM, parm) >= 0;

  const expectedLine = bytesPerLine(format, width);
  const expectedSize = frameBytes(format, width, height);
  const pixelformat = format === 'YUYV' ? V4L2_PIX_FMT_YUYV : V4L2_PIX_FMT_NV12;
  const pix = decodePixFormat(fmt);
  encodePixFormat(fmt, {
    ...pix,
    width,
    height,
    pixelformat,
    field: V4L2_FIELD_NONE,
    bytesperline: expectedLine,
    sizeimage: expectedSize,
    colorspace: V4L2_COLORSPACE_SMPTE170M,
    ycbcr_enc: V4L2_YCBCR_ENC_601,
    quantization: V4L2_QUANTIZATION_LIM_RANGE,
    xfer_func: V4L2_XFER_FUNC_709,
  });
  setBufferType(fmt, V4L2_BUF_TYPE_VIDEO_OUTPUT);
  rc = io.ioctl(fd, VIDIOC.S_FMT, fmt);
  if (rc === -EBUSY) {
    throw new PersonaLiveError('VCAM_BUSY', `${path} is in use at another format (a camera app has it open); close the app and start again`, { path, call: 'VIDIOC_S_FMT', errno: EBUSY });
  }
  if (rc < 0) throw fail('VIDIOC_S_FMT', -rc);
  const set = decodePixFormat(fmt);
  if (set.width !== width || set.height !== height || set.pixelformat !== pixelformat || (set.bytesperline !== 0 && set.bytesperline !== expectedLine) || set.sizeimage < expectedSize) {
    throw new PersonaLiveError(
      'VCAM_FAILED',
      `${path} accepted ${set.width}x${set.height} ${fourccName(set.pixelformat)} (bytesperline ${set.bytesperline}, sizeimage ${set.sizeimage}) instead of ${width}x${height} ${format}`,
      { path, requested: { width, height, format }, got: { ...set, pixelformat: fourccName(set.pixelformat) } },
    );
  }

  const type = new Uint8Array(SIZEOF.int);
  setBufferType(type, V4L2_BUF_TYPE_VIDEO_OUTPUT);
  const streaming = io.ioctl(fd, VIDIOC.STREAMON, type) >= 0;
  return { sizeimage: set.sizeimage, bytesperline: set.bytesperline || expectedLine, frameRateSet, streaming };
}

export interface V4l2LoopbackOptions extends VirtualCameraConfig {
  /** A /dev/videoN to use instead of scanning. */
  device?: string;
  /** Wire format (default YUYV: every consumer takes it). */
  format?: PixelFormat;
  io?: V4l2Io;
  kernels?: ColourKernels;
}

/** One producer on a v4l2loopback node. Create with open(). */
export class V4l2LoopbackWriter implements FrameWriter {
  readonly kind = 'v4l2loopback';
  /** Frames written so far. */
  framesWritten = 0;
  /** Write buffer (sizeimage bytes) reused by writeRgb, and by writeFrame when the driver pads. */
  private readonly buffer: Uint8Array;
  private readonly bytes: number;
  private fd: number;

  private constructor(
    private readonly io: V4l2Io,
    fd: number,
    readonly device: V4l2DeviceInfo,
    readonly format: PixelFormat,
    readonly width: number,
    readonly height: number,
    readonly output: ConfiguredOutput,
    private readonly kernels: ColourKernels,
  ) {
    this.fd = fd;
    this.bytes = frameBytes(format, width, height);
    this.buffer = new Uint8Array(output.sizeimage);
  }

  /**
   * Finds (or opens the configured) loopback node and configures it.
   * @throws PersonaLiveError VCAM_UNAVAILABLE, VCAM_BUSY, VCAM_FAILED (see findLoopbackOutput, configureOutput);
   *   RangeError for sizes the format cannot carry
   */
  static open(options: V4l2LoopbackOptions): V4l2LoopbackWriter {
    const format = options.format ?? 'YUYV';
    const { width, height, fpsNum, fpsDen } = options;
    checkFrameSize(format, width, height, 'v4l2loopback');
    if (!Number.isInteger(fpsNum) || fpsNum <= 0 || !Number.isInteger(fpsDen) || fpsDen <= 0) {
      throw new RangeError(`v4l2loopback: 'fpsNum' and 'fpsDen' must be positive integers, got ${fpsNum}/${fpsDen}`);
    }
    const io = options.io ?? libcV4l2Io();
    const { fd, info } = findLoopbackOutput(io, options.device);
    try {
      const output = configureOutput(io, fd, info.path, { width, height, fpsNum, fpsDen, format });
      return new V4l2LoopbackWriter(io, fd, info, format, width, height, output, options.kernels ?? createColourKernels());
    } catch (error) {
      io.close(fd);
      throw error;
    }
  }

  /** The node written to. */
  get path(): string {
    return this.device.path;
  }

  /**
   * Writes one frame already in the wire format (frameBytes long; longer buffers are cut).
   * @throws PersonaLiveError VCAM_FAILED when write() fails or is short, or after close(); RangeError when `data` is too short
   */
  writeFrame(data: Uint8Array, _timestampUs: number): void {
    if (data.length < this.bytes) {
      throw new RangeError(`v4l2loopback: 'data' is ${data.length} bytes, expected at least ${this.bytes} for ${this.width}x${this.height} ${this.format}`);
    }
    if (this.buffer.length === this.bytes) {
      this.writeAll(data.length === this.bytes ? data : data.subarray(0, this.bytes));
    } else {
      this.buffer.set(data.subarray(0, this.bytes));
      this.writeAll(this.buffer);
    }
  }

  /**
   * Converts an RGB24 frame into the reused buffer and writes it.
   * @throws PersonaLiveError VCAM_FAILED; RangeError when `rgb` is too short
   */
  writeRgb(rgb: Uint8Array, _timestampUs: number): void {
    this.kernels.convert(this.format, rgb, this.width, this.height, this.buffer);
    this.writeAll(this.buffer);
  }

  close(): void {
    if (this.fd < 0) return;
    this.io.close(this.fd);
    this.fd = -1;
  }

  private writeAll(data: Uint8Array): void {
    if (this.fd < 0) throw new PersonaLiveError('VCAM_FAILED', `${this.path} was written after close()`, { path: this.path });
    const n = this.io.write(this.fd, data);
    if (n < 0) {
      throw new PersonaLiveError('VCAM_FAILED', `write to ${this.path} failed: ${errnoText(this.io, -n)}`, { path: this.path, call: 'write', errno: -n });
    }
    if (n !== data.length) {
      throw new PersonaLiveError('VCAM_FAILED', `write to ${this.path} was short: ${n} of ${data.length} bytes`, { path: this.path, call: 'write', written: n, expected: data.length });
    }
    this.framesWritten++;
  }
}
