import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findPython } from '../../models/python-env.js';

/**
 * Whether a system binary (ffmpeg, obs, chromium...) is on PATH. Under CI=true a missing
 * binary is a failure, never a silent skip: call this at the top of a suite and pass the
 * result to describe.skipIf only outside CI.
 */
export function hasBinary(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Throws under CI when the binary is missing; otherwise reports whether to skip. */
export function requireBinary(name: string): { skip: boolean } {
  const present = hasBinary(name);
  if (!present && process.env.CI === 'true') {
    throw new Error(`${name} is required by this test suite under CI=true but is not on PATH (.ci/run must install it)`);
  }
  return { skip: !present };
}

/**
 * The shared demo data (reference portrait, driving video, presets): `../shared/data` beside
 * the repository, as on developers' machines and in CI. Under CI=true its absence is a failure.
 */
export function demoDataDir(): { dir: string; skip: boolean } {
  const dir = process.env.PERSONALIVE_DEMO_DATA ?? fileURLToPath(new URL('../../../shared/data', import.meta.url));
  const present = existsSync(`${dir}/driving.mp4`) && existsSync(`${dir}/reference.png`);
  if (!present && process.env.CI === 'true') throw new Error(`demo data not found at ${dir} (CI=true requires ../shared/data beside the repository)`);
  return { dir, skip: !present };
}

/**
 * A Python with torch and onnx for the pack exporter's tests (Debian's python3-torch and
 * python3-onnx in CI). Under CI=true its absence is a failure, never a skip.
 */
export function requirePythonWithTorch(): { python: string | null; skip: boolean } {
  try {
    const python = findPython(); // the exporter's own search: $PERSONALIVE_PYTHON, python3, python, /usr/bin/python3
    execFileSync(python, ['-c', 'import omegaconf'], { stdio: 'ignore', timeout: 60_000 });
    return { python, skip: false };
  } catch {
    if (process.env.CI === 'true') throw new Error('no Python with torch, onnx and omegaconf under CI=true (.ci/run must install python3-torch, python3-onnx, python3-omegaconf)');
    return { python: null, skip: true };
  }
}

/**
 * Mounts a tmpfs of `size` (e.g. '256k') on `mountPoint` for a disk-full test and returns its
 * unmount; returns null where mounting is not allowed (not root) so the test can skip, except
 * under CI=true, which runs as root, where it throws.
 */
export function mountSmallDisk(mountPoint: string, size: string): (() => void) | null {
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mountPoint], { encoding: 'utf8' });
  if (mounted.status !== 0) {
    if (process.env.CI === 'true') throw new Error(`mounting a tmpfs failed under CI=true: ${mounted.stderr}`);
    return null;
  }
  return () => void spawnSync('umount', [mountPoint]);
}
