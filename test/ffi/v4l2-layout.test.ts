/**
 * The koffi mirror of linux/videodev2.h against the real header: a C program prints the
 * size and offset of every struct and field the v4l2loopback writer uses, the constants and
 * the ioctl request numbers. Under CI=true a missing C compiler fails the suite (requireBinary).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';
import { beforeAll, describe, expect, it } from 'vitest';
import * as abi from '../../daemon/ffi/v4l2-abi.js';
import { requireBinary } from '../helpers/system.js';

const onLinux = process.platform === 'linux';
const cc = onLinux ? requireBinary('cc') : { skip: true };

const FIELDS: Record<string, [koffi.IKoffiCType, string[]]> = {
  v4l2_capability: [abi.v4l2_capability, ['driver', 'card', 'bus_info', 'version', 'capabilities', 'device_caps', 'reserved']],
  v4l2_pix_format: [abi.v4l2_pix_format, ['width', 'height', 'pixelformat', 'field', 'bytesperline', 'sizeimage', 'colorspace', 'priv', 'flags', 'ycbcr_enc', 'quantization', 'xfer_func']],
  v4l2_format: [abi.v4l2_format, ['type', 'fmt']],
  v4l2_fract: [abi.v4l2_fract, ['numerator', 'denominator']],
  v4l2_outputparm: [abi.v4l2_outputparm, ['capability', 'outputmode', 'timeperframe', 'extendedmode', 'writebuffers', 'reserved']],
  v4l2_streamparm: [abi.v4l2_streamparm, ['type', 'parm']],
};

const CONSTANTS: Record<string, number> = {
  V4L2_CAP_VIDEO_CAPTURE: abi.V4L2_CAP_VIDEO_CAPTURE,
  V4L2_CAP_VIDEO_OUTPUT: abi.V4L2_CAP_VIDEO_OUTPUT,
  V4L2_CAP_DEVICE_CAPS: abi.V4L2_CAP_DEVICE_CAPS,
  V4L2_BUF_TYPE_VIDEO_OUTPUT: abi.V4L2_BUF_TYPE_VIDEO_OUTPUT,
  V4L2_FIELD_NONE: abi.V4L2_FIELD_NONE,
  V4L2_COLORSPACE_SMPTE170M: abi.V4L2_COLORSPACE_SMPTE170M,
  V4L2_YCBCR_ENC_601: abi.V4L2_YCBCR_ENC_601,
  V4L2_QUANTIZATION_LIM_RANGE: abi.V4L2_QUANTIZATION_LIM_RANGE,
  V4L2_XFER_FUNC_709: abi.V4L2_XFER_FUNC_709,
  V4L2_PIX_FMT_YUYV: abi.V4L2_PIX_FMT_YUYV,
  V4L2_PIX_FMT_NV12: abi.V4L2_PIX_FMT_NV12,
  VIDIOC_QUERYCAP: abi.VIDIOC.QUERYCAP,
  VIDIOC_G_FMT: abi.VIDIOC.G_FMT,
  VIDIOC_S_FMT: abi.VIDIOC.S_FMT,
  VIDIOC_STREAMON: abi.VIDIOC.STREAMON,
  VIDIOC_G_PARM: abi.VIDIOC.G_PARM,
  VIDIOC_S_PARM: abi.VIDIOC.S_PARM,
  EBUSY: abi.EBUSY,
  ENOENT: abi.ENOENT,
  EACCES: abi.EACCES,
  ENOTTY: abi.ENOTTY,
  EINVAL: abi.EINVAL,
};

/** Compiles and runs the probe; returns "name value" pairs. */
function probeHeader(): Map<string, number> {
  const lines: string[] = [];
  for (const [struct, [, fields]] of Object.entries(FIELDS)) {
    lines.push(`  P("sizeof ${struct}", sizeof(struct ${struct}));`);
    for (const field of fields) {
      lines.push(`  P("offsetof ${struct}.${field}", offsetof(struct ${struct}, ${field}));`);
      lines.push(`  P("sizeof ${struct}.${field}", sizeof(((struct ${struct} *)0)->${field}));`);
    }
  }
  lines.push('  P("sizeof v4l2_format.fmt.pix", sizeof(((struct v4l2_format *)0)->fmt.pix));');
  lines.push('  P("offsetof v4l2_format.fmt.pix", offsetof(struct v4l2_format, fmt.pix));');
  lines.push('  P("offsetof v4l2_streamparm.parm.output", offsetof(struct v4l2_streamparm, parm.output));');
  lines.push('  P("offsetof v4l2_streamparm.parm.output.timeperframe", offsetof(struct v4l2_streamparm, parm.output.timeperframe));');
  for (const name of Object.keys(CONSTANTS)) lines.push(`  P("${name}", ${name});`);
  const source = `#include <stdio.h>
#include <stddef.h>
#include <errno.h>
#include <linux/videodev2.h>
#define P(name, value) printf("%s %llu\\n", name, (unsigned long long)(value))
int main(void) {
${lines.join('\n')}
  return 0;
}
`;
  const dir = mkdtempSync(join(tmpdir(), 'v4l2-layout-'));
  try {
    writeFileSync(join(dir, 'probe.c'), source);
    try {
      execFileSync('cc', ['-o', join(dir, 'probe'), join(dir, 'probe.c')], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      const stderr = String((error as { stderr?: Buffer }).stderr ?? '');
      throw new Error(`cc could not compile against <linux/videodev2.h> (install the Linux UAPI headers, e.g. linux-libc-dev): ${stderr}`);
    }
    const out = execFileSync(join(dir, 'probe'), { encoding: 'utf8' });
    return new Map(out.trim().split('\n').map((line) => {
      const at = line.lastIndexOf(' ');
      return [line.slice(0, at), Number(line.slice(at + 1))] as const;
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(cc.skip)('v4l2 ABI mirror against <linux/videodev2.h>', () => {
  let c = new Map<string, number>();
  beforeAll(() => {
    c = probeHeader();
  });
  const get = (name: string): number => {
    const value = c.get(name);
    if (value === undefined) throw new Error(`the C probe printed no "${name}"`);
    return value;
  };

  it.each(Object.entries(FIELDS))('struct %s: size, and offset and size of every field used', (struct, [type, fields]) => {
    expect(koffi.sizeof(type), `sizeof ${struct}`).toBe(get(`sizeof ${struct}`));
    for (const field of fields) {
      expect(koffi.offsetof(type, field), `offsetof ${struct}.${field}`).toBe(get(`offsetof ${struct}.${field}`));
    }
  });

  it('field sizes (arrays, nested structs and unions) match', () => {
    // koffi has no sizeof for a member; the member types are known here.
    const member: Record<string, number> = {
      'v4l2_capability.driver': 16, 'v4l2_capability.card': 32, 'v4l2_capability.bus_info': 32, 'v4l2_capability.reserved': 12,
      'v4l2_format.fmt': koffi.sizeof(abi.v4l2_format) - koffi.offsetof(abi.v4l2_format, 'fmt'),
      'v4l2_outputparm.timeperframe': koffi.sizeof(abi.v4l2_fract), 'v4l2_outputparm.reserved': 16,
      'v4l2_streamparm.parm': koffi.sizeof(abi.v4l2_streamparm) - koffi.offsetof(abi.v4l2_streamparm, 'parm'),
    };
    for (const [name, size] of Object.entries(member)) expect(size, `sizeof ${name}`).toBe(get(`sizeof ${name}`));
    expect(koffi.sizeof(abi.v4l2_pix_format)).toBe(get('sizeof v4l2_format.fmt.pix'));
    expect(koffi.offsetof(abi.v4l2_format, 'fmt')).toBe(get('offsetof v4l2_format.fmt.pix'));
    expect(koffi.offsetof(abi.v4l2_streamparm, 'parm')).toBe(get('offsetof v4l2_streamparm.parm.output'));
    expect(koffi.offsetof(abi.v4l2_streamparm, 'parm') + koffi.offsetof(abi.v4l2_outputparm, 'timeperframe')).toBe(get('offsetof v4l2_streamparm.parm.output.timeperframe'));
  });

  it.each(Object.entries(CONSTANTS))('%s = %i', (name, value) => {
    expect(value.toString(16)).toBe(get(name).toString(16));
  });

  it('SIZEOF and the codecs agree with the header', () => {
    expect(abi.SIZEOF).toEqual({ capability: get('sizeof v4l2_capability'), format: get('sizeof v4l2_format'), streamparm: get('sizeof v4l2_streamparm'), int: 4 });
    const fmt = new Uint8Array(abi.SIZEOF.format);
    const pix = { width: 1, height: 2, pixelformat: 3, field: 4, bytesperline: 5, sizeimage: 6, colorspace: 7, priv: 8, flags: 9, ycbcr_enc: 10, quantization: 11, xfer_func: 12 };
    abi.encodePixFormat(fmt, pix);
    const view = new DataView(fmt.buffer);
    expect(view.getUint32(get('offsetof v4l2_format.fmt.pix') + get('offsetof v4l2_pix_format.sizeimage'), true)).toBe(6);
    expect(abi.decodePixFormat(fmt)).toEqual(pix);
    const parm = new Uint8Array(abi.SIZEOF.streamparm);
    abi.encodeOutputParm(parm, { capability: 0, outputmode: 0, timeperframe: { numerator: 1001, denominator: 30000 }, extendedmode: 0, writebuffers: 0 });
    const tpf = get('offsetof v4l2_streamparm.parm.output.timeperframe');
    expect([new DataView(parm.buffer).getUint32(tpf, true), new DataView(parm.buffer).getUint32(tpf + 4, true)]).toEqual([1001, 30000]);
  });
});

describe('ioctl encoding', () => {
  it('computes _IOC for the generic and the powerpc/mips/sparc layouts', () => {
    const generic = abi.iocEncoding('x64');
    expect(abi.ioc('r', 'V', 0, 104, generic)).toBe(0x80685600);
    expect(abi.ioc('rw', 'V', 4, 208, generic)).toBe(0xc0d05604);
    expect(abi.ioc('w', 'V', 18, 4, generic)).toBe(0x40045612);
    expect(abi.ioc('none', 'V', 1, 0, generic)).toBe(0x5601);
    const ppc = abi.iocEncoding('ppc64');
    // powerpc: read is 2, write 4, 13 size bits; _IOR('V', 0, 104) = 0x40685600.
    expect(abi.ioc('r', 'V', 0, 104, ppc)).toBe(0x40685600);
    expect(abi.ioc('w', 'V', 18, 4, ppc)).toBe(0x80045612);
    expect(() => abi.ioc('r', 'V', 0, 1 << 14, generic)).toThrow(/does not fit in 14 bits/);
  });

  it('fourcc packs little-endian', () => {
    expect(abi.fourcc('YUYV')).toBe(0x56595559);
    expect(abi.fourccName(abi.V4L2_PIX_FMT_NV12)).toBe('NV12');
  });
});
