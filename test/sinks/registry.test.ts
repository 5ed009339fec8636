/** The sink registry's recording path rule: an existing recording is never overwritten. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePath } from '../../daemon/util/files.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const temp = useTempDirs('pl-rec-');

describe('freePath', () => {
  it('never overwrites an existing recording: the next free number is chosen', () => {
    const dir = temp();
    const base = join(dir, 'show.mp4');
    expect(freePath(base)).toBe(base);
    writeFileSync(base, 'first');
    expect(freePath(base)).toBe(join(dir, 'show-2.mp4'));
    writeFileSync(join(dir, 'show-2.mp4'), 'second');
    expect(freePath(base)).toBe(join(dir, 'show-3.mp4'));
    expect(freePath(join(dir, 'noext'))).toBe(join(dir, 'noext'));
    writeFileSync(join(dir, 'noext'), 'x');
    expect(freePath(join(dir, 'noext'))).toBe(join(dir, 'noext-2'));
  });
});
