import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, PersonaLiveError, asPersonaLiveError } from '../daemon/errors.js';

describe('error catalogue', () => {
  const docs = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

  it.each(Object.keys(ERROR_CATALOGUE))('documents %s in docs/errors.md with its exit code', (code) => {
    const row = docs.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
    expect(row, `docs/errors.md has no row for ${code}`).toBeDefined();
    const exit = ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE].exitCode;
    expect(row!.split('|')[2].trim()).toBe(String(exit));
  });

  it('documents no code that does not exist', () => {
    const documented = [...docs.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERROR_CATALOGUE).sort());
  });

  it('round-trips through JSON across threads', () => {
    const e = new PersonaLiveError('PACK_FILE_MISSING', 'x.onnx: file missing', { file: 'x.onnx' });
    const back = PersonaLiveError.fromJSON(JSON.parse(JSON.stringify(e)));
    expect(back).toBeInstanceOf(PersonaLiveError);
    expect(back.code).toBe('PACK_FILE_MISSING');
    expect(back.details).toEqual({ file: 'x.onnx' });
    expect(back.exitCode).toBe(2);
  });

  it('wraps foreign errors as INTERNAL unless told otherwise', () => {
    expect(asPersonaLiveError(new Error('boom')).code).toBe('INTERNAL');
    expect(asPersonaLiveError('boom', 'ENGINE_FAILED').code).toBe('ENGINE_FAILED');
  });
});
