/** Running the system's own tools for setup and doctor: what they print, or how they exit. */
import { execFileSync } from 'node:child_process';

/** What `binary args` prints on stdout, or null when it cannot run or fails. */
export function outputOf(binary: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 10_000): string | null {
  try {
    return execFileSync(binary, args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'ignore'], timeout: timeoutMs });
  } catch {
    return null;
  }
}

/** The exit status of `command args` (0: it succeeded; 1 when it could not run at all). */
export function exitStatusOf(command: string, args: string[], timeoutMs = 10_000): number {
  try {
    execFileSync(command, args, { stdio: 'ignore', timeout: timeoutMs });
    return 0;
  } catch (error) {
    return typeof (error as { status?: number }).status === 'number' ? (error as { status: number }).status : 1;
  }
}
