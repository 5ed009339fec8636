/**
 * The slice of the V4L2 ABI (linux/videodev2.h) the v4l2loopback writer uses, and the one
 * module that touches koffi for it: struct layouts as koffi types, ioctl request numbers
 * computed from their sizes, byte codecs over Uint8Array, and the libc calls (open, ioctl,
 * write, close) behind the small V4l2Io interface so the device logic in v4l2.ts can be
 * tested against a fake.
 *
 * test/vcam/v4l2-layout.test.ts compiles a C program against the system's videodev2.h and
 * compares every size, offset, constant and request number used here.
 */
import { readdirSync, existsSync } from 'node:fs';
import koffi from 'koffi';
import { PersonaLiveError } from '../errors.js';

// ---------------------------------------------------------------------------------------
// Constants (videodev2.h)

export const V4L2_CAP_VIDEO_CAPTURE = 0x00000001;
export const V4L2_CAP_VIDEO_OUTPUT = 0x00000002;
/** Set in `capabilities` when `device_caps` is filled in (kernels since 3.3). */
export const V4L2_CAP_DEVICE_CAPS = 0x80000000;
export const V4L2_BUF_TYPE_VIDEO_OUTPUT = 2;
export const V4L2_FIELD_NONE = 1;
/** BT.601 (what daemon/kernels/colour.ts produces). */
export const V4L2_COLORSPACE_SMPTE170M = 1;
export const V4L2_YCBCR_ENC_601 = 1;
export const V4L2_QUANTIZATION_LIM_RANGE = 2;
export const V4L2_XFER_FUNC_709 = 1;

/** v4l2_fourcc(a, b, c, d): little-endian packed characters. */
export function fourcc(code: string): number {
  if (code.length !== 4) throw new RangeError(`fourcc: expected 4 characters, got "${code}"`);
  return (code.charCodeAt(0) | (code.charCodeAt(1) << 8) | (code.charCodeAt(2) << 16) | (code.charCodeAt(3) << 24)) >>> 0;
}

/** The characters of a fourcc, for messages. */
export function fourccName(value: number): string {
  return String.fromCharCode(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff);
}

export const V4L2_PIX_FMT_YUYV = fourcc('YUYV');
export const V4L2_PIX_FMT_NV12 = fourcc('NV12');

// ---------------------------------------------------------------------------------------
// Struct layouts. Anonymous koffi types: koffi's named-type registry is per process, and
// test runners may evaluate this module more than once in one.

const u32 = 'uint32_t';

export const v4l2_capability = koffi.struct({
  driver: koffi.array('char', 16),
  card: koffi.array('char', 32),
  bus_info: koffi.array('char', 32),
  version: u32,
  capabilities: u32,
  device_caps: u32,
  reserved: koffi.array(u32, 3),
});

export const v4l2_pix_format = koffi.struct({
  width: u32,
  height: u32,
  pixelformat: u32,
  field: u32,
  bytesperline: u32,
  sizeimage: u32,
  colorspace: u32,
  priv: u32,
  flags: u32,
  // C: union { __u32 ycbcr_enc; __u32 hsv_enc; } (same offset and size).
  ycbcr_enc: u32,
  quantization: u32,
  xfer_func: u32,
});

/**
 * v4l2_format: `type` then the format union. The kernel's union also holds struct
 * v4l2_window, whose pointers give the union pointer alignment (fmt at offset 8 on 64-bit,
 * 4 on 32-bit); the pointer member reproduces that.
 */
export const v4l2_format = koffi.struct({
  type: u32,
  fmt: koffi.union({
    pix: v4l2_pix_format,
    raw_data: koffi.array('uint8_t', 200),
    win_alignment: 'void *',
  }),
});

export const v4l2_fract = koffi.struct({ numerator: u32, denominator: u32 });

export const v4l2_outputparm = koffi.struct({
  capability: u32,
  outputmode: u32,
  timeperframe: v4l2_fract,
  extendedmode: u32,
  writebuffers: u32,
  reserved: koffi.array(u32, 4),
});

/** v4l2_streamparm: `type` then union { capture; output; raw_data[200] } (all 4-aligned). */
export const v4l2_streamparm = koffi.struct({
  type: u32,
  parm: koffi.union({
    output: v4l2_outputparm,
    raw_data: koffi.array('uint8_t', 200),
  }),
});

// ---------------------------------------------------------------------------------------
// ioctl request numbers: _IOC(dir, type, nr, size) = dir << dirShift | size << 16 | type << 8 | nr

export interface IocEncoding {
  /** Bits for the argument size (14 in asm-generic; 13 on powerpc, mips, sparc). */
  sizeBits: number;
  none: number;
  read: number;
  write: number;
}

/** The encoding of `arch` (process.arch names). */
export function iocEncoding(arch: string = process.arch): IocEncoding {
  return ['ppc', 'ppc64', 'mips', 'mipsel', 'mips64', 'mips64el', 'sparc', 'sparc64'].includes(arch)
    ? { sizeBits: 13, none: 1, read: 2, write: 4 }
    : { sizeBits: 14, none: 0, read: 2, write: 1 };
}

/** _IOC: multiplication instead of shifts so bit 31 does not make the number negative. */
export function ioc(direction: 'none' | 'r' | 'w' | 'rw', type: string, nr: number, size: number, encoding: IocEncoding = iocEncoding()): number {
  const dir = direction === 'none' ? encoding.none : direction === 'r' ? encoding.read : direction === 'w' ? encoding.write : encoding.read | encoding.write;
  if (size >= 2 ** encoding.sizeBits) throw new RangeError(`ioc: size ${size} does not fit in ${encoding.sizeBits} bits`);
  return dir * 2 ** (16 + encoding.sizeBits) + size * 0x10000 + type.charCodeAt(0) * 0x100 + nr;
}

/** The requests used, from the struct sizes above (videodev2.h: VIDIOC_QUERYCAP = _IOR('V', 0, struct v4l2_capability) ...). */
export const VIDIOC = Object.freeze({
  QUERYCAP: ioc('r', 'V', 0, koffi.sizeof(v4l2_capability)),
  G_FMT: ioc('rw', 'V', 4, koffi.sizeof(v4l2_format)),
  S_FMT: ioc('rw', 'V', 5, koffi.sizeof(v4l2_format)),
  STREAMON: ioc('w', 'V', 18, koffi.sizeof('int')),
  G_PARM: ioc('rw', 'V', 21, koffi.sizeof(v4l2_streamparm)),
  S_PARM: ioc('rw', 'V', 22, koffi.sizeof(v4l2_streamparm)),
});

// ---------------------------------------------------------------------------------------
// Codecs: plain objects <-> ioctl argument bytes

export interface V4l2Capability {
  driver: string;
  card: string;
  bus_info: string;
  version: number;
  capabilities: number;
  device_caps: number;
}

export interface V4l2PixFormat {
  width: number;
  height: number;
  pixelformat: number;
  field: number;
  bytesperline: number;
  sizeimage: number;
  colorspace: number;
  priv: number;
  flags: number;
  ycbcr_enc: number;
  quantization: number;
  xfer_func: number;
}

export const SIZEOF = Object.freeze({
  capability: koffi.sizeof(v4l2_capability),
  format: koffi.sizeof(v4l2_format),
  streamparm: koffi.sizeof(v4l2_streamparm),
  int: koffi.sizeof('int'),
});

const FMT_PIX_OFFSET = koffi.offsetof(v4l2_format, 'fmt');
const PARM_OUTPUT_OFFSET = koffi.offsetof(v4l2_streamparm, 'parm');

export function decodeCapability(bytes: Uint8Array): V4l2Capability {
  const { driver, card, bus_info, version, capabilities, device_caps } = koffi.decode(bytes, v4l2_capability) as V4l2Capability;
  return { driver, card, bus_info, version, capabilities, device_caps };
}

export function encodeCapability(bytes: Uint8Array, cap: V4l2Capability): void {
  koffi.encode(bytes, v4l2_capability, { ...cap, reserved: [0, 0, 0] });
}

/** The buffer `type` word at offset 0 of v4l2_format and v4l2_streamparm. */
export function bufferType(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
}

export function setBufferType(bytes: Uint8Array, type: number): void {
  new DataView(bytes.buffer, bytes.byteOffset, 4).setUint32(0, type, true);
}

export function decodePixFormat(format: Uint8Array): V4l2PixFormat {
  return koffi.decode(format, FMT_PIX_OFFSET, v4l2_pix_format) as V4l2PixFormat;
}

export function encodePixFormat(format: Uint8Array, pix: V4l2PixFormat): void {
  koffi.encode(format, FMT_PIX_OFFSET, v4l2_pix_format, pix);
}

export interface V4l2OutputParm {
  capability: number;
  outputmode: number;
  timeperframe: { numerator: number; denominator: number };
  extendedmode: number;
  writebuffers: number;
}

export function decodeOutputParm(streamparm: Uint8Array): V4l2OutputParm {
  const { capability, outputmode, timeperframe, extendedmode, writebuffers } = koffi.decode(streamparm, PARM_OUTPUT_OFFSET, v4l2_outputparm) as V4l2OutputParm;
  return { capability, outputmode, timeperframe, extendedmode, writebuffers };
}

export function encodeOutputParm(streamparm: Uint8Array, parm: V4l2OutputParm): void {
  koffi.encode(streamparm, PARM_OUTPUT_OFFSET, v4l2_outputparm, { ...parm, reserved: [0, 0, 0, 0] });
}

// ---------------------------------------------------------------------------------------
// System calls

/** The calls the writer makes, as plain numbers: fake them to test the device logic. */
export interface V4l2Io {
  /** Paths of the /dev/video* nodes, in numeric order. */
  listDevices(): string[];
  /** A descriptor (>= 0), or -errno. Opens read-write. */
  open(path: string): number;
  /** 0, or -errno. `arg` is read and written in place. */
  ioctl(fd: number, request: number, arg: Uint8Array): number;
  /** Bytes written, or -errno. */
  write(fd: number, data: Uint8Array): number;
  close(fd: number): void;
  /** Whether the v4l2loopback module is loaded (/sys/module/v4l2loopback). */
  moduleLoaded(): boolean;
  /** strerror(errno). */
  describeErrno(errno: number): string;
}

export const ENOENT = 2;
export const EACCES = 13;
export const EBUSY = 16;
export const EINVAL = 22;
export const ENOTTY = 25;

/** /dev/video* in numeric order (video2 before video10). */
export function listVideoDevices(dir = '/dev'): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((name) => /^video\d+$/.test(name))
    .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))
    .map((name) => `${dir}/${name}`);
}

let libcIo: V4l2Io | null = null;

/**
 * The real calls, through libc (Linux only).
 * @throws PersonaLiveError VCAM_UNAVAILABLE on other systems
 */
export function libcV4l2Io(): V4l2Io {
  if (libcIo) return libcIo;
  if (process.platform !== 'linux') {
    throw new PersonaLiveError('VCAM_UNAVAILABLE', `v4l2loopback is Linux only; this is ${process.platform}`, { platform: process.platform });
  }
  const libc = koffi.load('libc.so.6');
  const open = libc.func('int open(const char *path, int flags, ...)');
  const ioctl = libc.func('int ioctl(int fd, unsigned long request, ...)');
  const write = libc.func('intptr_t write(int fd, const void *buf, size_t count)');
  const close = libc.func('int close(int fd)');
  const strerror = libc.func('const char *strerror(int errnum)');
  const O_RDWR = 2;
  const O_CLOEXEC = 0o2000000;
  libcIo = {
    listDevices: () => listVideoDevices(),
    open(path) {
      const fd = open(path, O_RDWR | O_CLOEXEC) as number;
      return fd >= 0 ? fd : -koffi.errno();
    },
    ioctl(fd, request, arg) {
      const rc = ioctl(fd, request, 'void *', arg) as number;
      return rc >= 0 ? 0 : -koffi.errno();
    },
    write(fd, data) {
      const n = Number(write(fd, data, data.length) as number | bigint);
      return n >= 0 ? n : -koffi.errno();
    },
    close(fd) {
      close(fd);
    },
    moduleLoaded: () => existsSync('/sys/module/v4l2loopback'),
    describeErrno: (errno) => strerror(errno) as string,
  };
  return libcIo;
}
