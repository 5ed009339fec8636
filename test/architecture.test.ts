/**
 * The import picture: every module of daemon/ and models/ sits on a floor, and imports only
 * from its own floor or below. An arrow that runs back up (a kernel importing a generator,
 * the live loop importing the control server) fails here with the file and the import.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('..', import.meta.url));

/** Floors, lowest first; a module's floor is that of the longest matching prefix. */
const FLOORS: readonly (readonly string[])[] = [
  ['daemon/errors.ts', 'daemon/frames.ts', 'daemon/kinds.ts', 'daemon/protocol.ts', 'daemon/util/'],
  ['daemon/kernels/', 'daemon/ffi/'],
  ['daemon/ort/', 'daemon/media/', 'daemon/transport/', 'daemon/config/', 'daemon/references/', 'daemon/obs/', 'models/'],
  ['daemon/generators/'],
  ['daemon/sources/', 'daemon/sinks/', 'daemon/vcam/'],
  ['daemon/live/'],
  ['daemon/control/', 'daemon/setup/'],
  ['daemon/daemon.ts', 'daemon/cli/'],
];

function floorOf(path: string): number {
  let best = -1;
  let bestLength = -1;
  FLOORS.forEach((prefixes, floor) => {
    for (const prefix of prefixes) {
      if (path.startsWith(prefix) && prefix.length > bestLength) {
        best = floor;
        bestLength = prefix.length;
      }
    }
  });
  return best;
}

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === 'build' || name === 'node_modules') continue;
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts')) out.push(relative(REPO, path));
  }
  return out;
}

function relativeImports(file: string): string[] {
  const text = readFileSync(join(REPO, file), 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g)) {
    found.push(relative(REPO, resolve(dirname(join(REPO, file)), match[1]!.replace(/\.js$/, '.ts'))));
  }
  return found;
}

describe('the import picture', () => {
  const files = [...sources(join(REPO, 'daemon')), ...sources(join(REPO, 'models'))];

  it('puts every module on a floor', () => {
    expect(files.filter((f) => floorOf(f) < 0)).toEqual([]);
  });

  it('has no arrow running back up', () => {
    const upward: string[] = [];
    for (const file of files) {
      for (const target of relativeImports(file)) {
        if (floorOf(target) > floorOf(file)) upward.push(`${file} (floor ${floorOf(file)}) imports ${target} (floor ${floorOf(target)})`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('keeps the panel to the Node-free vocabulary of the daemon', () => {
    const panel = sources(join(REPO, 'panel/src'));
    const reached = new Set(panel.flatMap(relativeImports).filter((t) => t.startsWith('daemon/')));
    expect([...reached].sort()).toEqual(['daemon/kinds.ts', 'daemon/protocol.ts'].filter((f) => reached.has(f)));
    for (const file of reached) expect(readFileSync(join(REPO, file), 'utf8')).not.toMatch(/from 'node:/);
  });

  it('detects an upward arrow (the check can fail)', () => {
    expect(floorOf('daemon/kernels/native.ts')).toBeLessThan(floorOf('daemon/generators/personalive/scheduler.ts'));
    expect(floorOf('daemon/live/live-loop.ts')).toBeLessThan(floorOf('daemon/control/server.ts'));
  });
});
