/** The plugin's C ring and placeholder self-test (plugin/tests/ring-selftest.c) through CMake's ctest. */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { requireBinary } from '../helpers/system.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cmake = requireBinary('cmake');
const ctest = requireBinary('ctest');

describe.skipIf(cmake.skip || ctest.skip)('plugin C self-test', () => {
  it('builds without warnings and passes its ring + placeholder self-test', () => {
    const build = 'plugin/build-selftest';
    execFileSync('cmake', ['-S', 'plugin', '-B', build, '-DCMAKE_BUILD_TYPE=Debug'], { cwd: repoRoot, stdio: 'pipe' });
    const compile = spawnSync('cmake', ['--build', build, '--clean-first'], { cwd: repoRoot, encoding: 'utf8' });
    expect(compile.status, compile.stderr).toBe(0);
    expect(`${compile.stdout}${compile.stderr}`).not.toMatch(/warning:/); // compilers report on stderr
    const result = execFileSync('ctest', ['--test-dir', build, '--output-on-failure'], { cwd: repoRoot, encoding: 'utf8' });
    expect(result).toMatch(/100% tests passed/);
  }, 120_000);
});
