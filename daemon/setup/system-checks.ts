/**
 * What this machine has for the virtual camera (v4l2loopback) and the GPU (NVIDIA driver,
 * CUDA libraries, ONNX Runtime's providers opened for real). Everything reads below `root`
 * ('/' normally, a temporary folder in tests) so the answers can be tested for real.
 */
import { execFileSync } from 'node:child_process';
import { exitStatusOf } from './commands.js';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { DEVICE_KINDS, type DeviceKind } from '../kinds.js';
import { deviceAvailability, openGraph, probeGraph } from '../ort/onnx-runtime.js';

export const CAMERA_LABEL = 'PersonaLive';
/** Zoom's snap refuses exclusive_caps=1 devices: a second one without it. */
export const ZOOM_CAMERA_LABEL = 'PersonaLive (Zoom)';
export const MODPROBE_FILE = 'etc/modprobe.d/personalive-v4l2loopback.conf';
export const MODULES_LOAD_FILE = 'etc/modules-load.d/personalive-v4l2loopback.conf';
export const MODULE_OPTIONS = `options v4l2loopback devices=2 video_nr=10,11 card_label="${CAMERA_LABEL}","${ZOOM_CAMERA_LABEL}" exclusive_caps=1,0`;

export interface LoopbackDevice {
  device: string;
  label: string;
}

export interface VirtualCameraFacts {
  /** The module is installed for the running kernel (v4l2loopback-dkms or the distribution's). */
  moduleAvailable: boolean;
  loaded: boolean;
  /** exclusive_caps per device as the loaded module reports it ("Y,N"), null when not loaded. */
  exclusiveCaps: string | null;
  /** Every loopback device, and ours among them. */
  devices: LoopbackDevice[];
  ours: LoopbackDevice | null;
  /** The persistent configuration is in place (modprobe.d options, modules-load.d). */
  persistent: boolean;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function moduleInstalled(root: string): boolean {
  if (root === '/') {
    try {
      execFileSync('modinfo', ['-n', 'v4l2loopback'], { stdio: 'ignore' });
      return true;
    } catch {
      // no modinfo (kmod) or no module: look for the file itself
    }
  }
  const dir = join(root, 'lib/modules', release());
  const stack = [dir];
  while (stack.length) {
    const folder = stack.pop()!;
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      continue;
    }
    for (const name of names) {
      if (/^v4l2loopback\.ko(\.(xz|zst|gz))?$/.test(name)) return true;
      if (!name.includes('.')) stack.push(join(folder, name));
    }
  }
  return false;
}

export function virtualCameraFacts(root = '/'): VirtualCameraFacts {
  const loaded = existsSync(join(root, 'sys/module/v4l2loopback'));
  const devices: LoopbackDevice[] = [];
  const classDir = join(root, 'sys/class/video4linux');
  let nodes: string[] = [];
  try {
    nodes = readdirSync(classDir).filter((n) => /^video\d+$/.test(n)).sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
  } catch {
    // no video devices at all
  }
  for (const node of nodes) {
    // A loopback device is virtual: it has no `device` link to a bus (a USB webcam has one).
    if (loaded && !existsSync(join(classDir, node, 'device'))) devices.push({ device: `/dev/${node}`, label: (read(join(classDir, node, 'name')) ?? '').trim() });
  }
  const modprobe = read(join(root, MODPROBE_FILE));
  return {
    moduleAvailable: loaded || moduleInstalled(root),
    loaded,
    exclusiveCaps: loaded ? (read(join(root, 'sys/module/v4l2loopback/parameters/exclusive_caps'))?.trim() ?? null) : null,
    devices,
    ours: devices.find((d) => d.label === CAMERA_LABEL) ?? null,
    persistent: modprobe !== null && modprobe.includes('v4l2loopback') && read(join(root, MODULES_LOAD_FILE))?.includes('v4l2loopback') === true,
  };
}

/**
 * The processes that have `path` open (a camera device: the writer and the apps reading it),
 * from /proc/<pid>/fd; processes of other users cannot be seen without root and are not listed.
 */
export function processesUsing(path: string, proc = '/proc'): Array<{ pid: number; name: string }> {
  const found: Array<{ pid: number; name: string }> = [];
  let pids: string[] = [];
  try {
    pids = readdirSync(proc).filter((n) => /^\d+$/.test(n));
  } catch {
    return found;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(join(proc, pid, 'fd'));
    } catch {
      continue; // gone, or another user's
    }
    for (const fd of fds) {
      let target = '';
      try {
        target = readlinkSync(join(proc, pid, 'fd', fd));
      } catch {
        continue;
      }
      if (target === path) {
        found.push({ pid: Number(pid), name: (read(join(proc, pid, 'comm')) ?? '?').trim() });
        break;
      }
    }
  }
  return found;
}

/** The OBS Virtual Camera's DirectShow filter (OBS's own virtualcam-guid.h): registered under HKCR\CLSID by OBS's installer. */
export const OBS_VIRTUAL_CAMERA_CLSID = '{A3FCE0F5-3493-419F-958A-ABA1250EC20B}';

/**
 * Windows: whether the OBS Virtual Camera is registered (the 64-bit view OBS itself checks),
 * asked with `reg query`; `run` returns the exit status (tests put a fake in its place).
 */
export function obsVirtualCameraRegistered(run: (command: string, args: string[]) => number = exitStatusOf): boolean {
  return run('reg', ['query', `HKCR\\CLSID\\${OBS_VIRTUAL_CAMERA_CLSID}`, '/reg:64']) === 0;
}

/** The commands that set the virtual camera up by hand (what setup does with --yes). */
export function virtualCameraCommands(): string[] {
  return [
    `sudo modprobe v4l2loopback devices=2 video_nr=10,11 card_label="${CAMERA_LABEL}","${ZOOM_CAMERA_LABEL}" exclusive_caps=1,0`,
    `echo '${MODULE_OPTIONS}' | sudo tee /${MODPROBE_FILE}`,
    `echo v4l2loopback | sudo tee /${MODULES_LOAD_FILE}`,
  ];
}

export interface GpuFacts {
  /** The NVIDIA kernel driver's version line, or null. */
  driver: string | null;
  /** CUDA / cuDNN libraries the dynamic linker knows, by name (libcudart.so.12...). */
  libraries: string[];
  /** What ONNX Runtime's CUDA 12 build needs and the linker does not have. */
  missingLibraries: string[];
}

const NEEDED_LIBRARIES = ['libcudart.so.12', 'libcublas.so.12', 'libcudnn.so.9'];

export function gpuFacts(root = '/', linkerCache: () => string = () => execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })): GpuFacts {
  const version = read(join(root, 'proc/driver/nvidia/version'));
  let cache = '';
  try {
    cache = linkerCache();
  } catch {
    // no ldconfig: nothing known
  }
  const libraries = [...new Set([...cache.matchAll(/\b(lib(?:cudart|cublas|cublasLt|cudnn|nvinfer)\.so\.\d+)\b/g)].map((m) => m[1]!))].sort();
  return { driver: version ? version.split('\n')[0]!.trim() : null, libraries, missingLibraries: NEEDED_LIBRARIES.filter((l) => !libraries.includes(l)) };
}

export interface ProviderProof {
  device: DeviceKind;
  ok: boolean;
  /** The providers the session really has, or why it could not be opened. */
  detail: string;
}

/** Opens and runs a tiny graph on every device: what really works here, not what is installed. */
export async function proveProviders(devices: readonly DeviceKind[] = DEVICE_KINDS): Promise<ProviderProof[]> {
  const bytes = probeGraph();
  const availability = deviceAvailability();
  const proofs: ProviderProof[] = [];
  for (const device of devices) {
    const known = availability.find((a) => a.device === device);
    if (known && !known.available) {
      proofs.push({ device, ok: false, detail: known.summary ?? known.reason ?? 'unavailable' });
      continue;
    }
    try {
      const session = await openGraph('provider-check', `${device} check graph`, device, { bytes, threads: 1 });
      const out = await session.run({ x: { data: Float32Array.from([1, 2, 3, 4]), dims: [1, 4] } });
      await session.release();
      const y = out.y?.data;
      const right = y !== undefined && y.length === 4 && Math.abs(Number(y[3]) - 5) < 1e-6;
      proofs.push({ device, ok: right, detail: right ? `ran a test graph with ${session.providers.join(' + ')}` : 'the test graph gave a wrong answer' });
    } catch (error) {
      proofs.push({ device, ok: false, detail: (error as Error).message });
    }
  }
  return proofs;
}
