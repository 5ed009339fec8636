/**
 * The virtual camera and GPU checks, run for real on this machine and on prepared temporary
 * roots (a kernel module file, v4l2loopback's sysfs entries, an NVIDIA driver file), and the
 * virtual-camera step of setup writing its persistent files under such a root.
 */
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultPaths } from '../../daemon/config/config.js';
import { runSetup, runUninstall } from '../../daemon/setup/setup.js';
import { MODPROBE_FILE, MODULES_LOAD_FILE, gpuFacts, obsVirtualCameraRegistered, processesUsing, proveProviders, virtualCameraCommands, virtualCameraFacts } from '../../daemon/setup/system-checks.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const temp = useTempDirs('pl-system-');
function put(root: string, path: string, text = ''): void {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), text);
}

describe('virtual camera facts', () => {
  it('an empty system: no module, nothing loaded, nothing persistent', () => {
    expect(virtualCameraFacts(temp())).toEqual({ moduleAvailable: false, loaded: false, exclusiveCaps: null, devices: [], ours: null, persistent: false });
  });

  it('a module installed but not loaded, then loaded with our device beside a USB webcam', () => {
    const root = temp();
    put(root, `lib/modules/${release()}/updates/dkms/v4l2loopback.ko.xz`);
    expect(virtualCameraFacts(root)).toMatchObject({ moduleAvailable: true, loaded: false });
    put(root, 'sys/module/v4l2loopback/parameters/exclusive_caps', 'Y,N\n');
    put(root, 'sys/class/video4linux/video0/name', 'Integrated Camera\n');
    mkdirSync(join(root, 'sys/class/video4linux/video0/device')); // a real camera hangs off a bus
    put(root, 'sys/class/video4linux/video10/name', 'PersonaLive\n');
    put(root, 'sys/class/video4linux/video11/name', 'PersonaLive (Zoom)\n');
    const facts = virtualCameraFacts(root);
    expect(facts).toMatchObject({ loaded: true, exclusiveCaps: 'Y,N', ours: { device: '/dev/video10', label: 'PersonaLive' }, persistent: false });
    expect(facts.devices.map((d) => d.device)).toEqual(['/dev/video10', '/dev/video11']);
  });

  it('this machine, for real: answers without throwing, and the commands it prints name the Zoom device', () => {
    const facts = virtualCameraFacts();
    expect(typeof facts.moduleAvailable).toBe('boolean');
    expect(virtualCameraCommands()[0]).toBe('sudo modprobe v4l2loopback devices=2 video_nr=10,11 card_label="PersonaLive","PersonaLive (Zoom)" exclusive_caps=1,0');
  });
});

describe('who has a device open', () => {
  it('finds this process holding a file open (as a camera app holds /dev/videoN), and nobody for a file nobody holds', () => {
    const dir = temp();
    const held = join(dir, 'video10');
    writeFileSync(held, '');
    const fd = openSync(held, 'r');
    try {
      expect(processesUsing(held)).toEqual([{ pid: process.pid, name: expect.any(String) }]);
      expect(processesUsing(join(dir, 'video11'))).toEqual([]);
    } finally {
      closeSync(fd);
    }
  });
});

describe('the OBS Virtual Camera on Windows', () => {
  it('asks the registry for OBS\'s own filter CLSID in the 64-bit view, and answers by reg\'s exit status', () => {
    const asked: string[][] = [];
    expect(obsVirtualCameraRegistered((command, args) => { asked.push([command, ...args]); return 0; })).toBe(true);
    expect(asked).toEqual([['reg', 'query', 'HKCR\\CLSID\\{A3FCE0F5-3493-419F-958A-ABA1250EC20B}', '/reg:64']]);
    expect(obsVirtualCameraRegistered(() => 1)).toBe(false);
  });
});

describe('GPU facts', () => {
  it('reads the NVIDIA driver and names the CUDA libraries ONNX Runtime needs that are missing', () => {
    const root = temp();
    expect(gpuFacts(root, () => '').driver).toBeNull();
    put(root, 'proc/driver/nvidia/version', 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14\nGCC version: 12\n');
    const cache = '\tlibcudart.so.12 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcudart.so.12\n\tlibcublas.so.12 (libc6,x86-64) => /x/libcublas.so.12\n';
    expect(gpuFacts(root, () => cache)).toEqual({ driver: 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14', libraries: ['libcublas.so.12', 'libcudart.so.12'], missingLibraries: ['libcudnn.so.9'] });
  });

  it('proves providers by running a graph: the CPU runs it, a GPU provider that is not here says why', async () => {
    const proofs = await proveProviders(['cpu', 'cuda']);
    expect(proofs[0]).toEqual({ device: 'cpu', ok: true, detail: 'ran a test graph with cpu' });
    if (!proofs[1]!.ok) expect(proofs[1]!.detail).toMatch(/GPU support not installed|Not offered by ONNX Runtime|No NVIDIA GPU driver/);
  });
});

describe('setup: the virtual camera step under a temporary root', () => {
  it('without --yes prints the commands; with --yes writes the persistent files; --uninstall removes them', async () => {
    const root = temp();
    const home = temp();
    put(root, `lib/modules/${release()}/extra/v4l2loopback.ko`);
    const env = { PATH: '/nonexistent', HOME: home, PERSONALIVE_CONFIG_DIR: join(home, 'pl') }; // no obs, no flatpak on this PATH
    const paths = defaultPaths(env);
    const lines: string[] = [];
    const base = { env, paths, repoRoot: process.cwd(), gpu: false, root, say: (l: string) => lines.push(l) };
    const asked = await runSetup({ ...base, yes: false });
    expect(asked.results.find((r) => r.step.startsWith('OBS'))).toMatchObject({ outcome: 'todo', message: expect.stringContaining('OBS Studio was not found') });
    expect(asked.results.find((r) => r.step.startsWith('virtual camera'))).toMatchObject({ outcome: 'todo', message: expect.stringContaining(virtualCameraCommands()[0]!) });
    const done = await runSetup({ ...base, yes: true });
    expect(done.results.find((r) => r.step.startsWith('virtual camera'))!.outcome).toBe('changed');
    expect(readFileSync(join(root, MODPROBE_FILE), 'utf8')).toBe('options v4l2loopback devices=2 video_nr=10,11 card_label="PersonaLive","PersonaLive (Zoom)" exclusive_caps=1,0\n');
    expect(readFileSync(join(root, MODULES_LOAD_FILE), 'utf8')).toBe('v4l2loopback\n');
    expect(virtualCameraFacts(root).persistent).toBe(true);
    const undone = runUninstall(paths);
    expect(undone).toContain(`removed ${join(root, MODPROBE_FILE)}`);
    expect(virtualCameraFacts(root).persistent).toBe(false);
  });
});
