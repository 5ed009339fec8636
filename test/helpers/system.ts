import { execFileSync } from 'node:child_process';

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
