/** File writes that never leave a half-written file behind. */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Writes `content` to `file` through a temp name and a rename (never a half-written file). */
export function writeFileAtomic(file: string, content: string | Uint8Array, mode = 0o600): void {
  mkdirSync(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temp, content, { mode });
  chmodSync(temp, mode);
  renameSync(temp, file);
}

/** `base`, or the first of base-2, base-3... (before the extension) that does not exist yet: never over an earlier file. */
export function freePath(base: string): string {
  let path = base;
  for (let n = 2; existsSync(path); n++) path = base.replace(/(\.[^./]+)?$/, `-${n}$1`);
  return path;
}
