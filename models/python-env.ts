/**
 * The Python the pack exporter runs in: one that imports torch and onnx. Kept apart from
 * exporter.ts so that finding it loads no ONNX Runtime (the tests' helpers use it too).
 */
import { spawnSync } from 'node:child_process';
import { PersonaLiveError } from '../daemon/errors.js';

const PYTHON_CANDIDATES = ['python3', 'python', '/usr/bin/python3'];

/** Finds a Python that imports torch and onnx; says which were tried and why not. */
export function findPython(explicit?: string): string {
  const candidates = explicit ? [explicit] : process.env.PERSONALIVE_PYTHON ? [process.env.PERSONALIVE_PYTHON] : PYTHON_CANDIDATES;
  const tried: string[] = [];
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', 'import torch, onnx'], { encoding: 'utf8', timeout: 60_000 });
    if (probe.status === 0) return python;
    const why = probe.error ? (probe.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : probe.error.message : (probe.stderr.trim().split('\n').pop() ?? `exit ${probe.status}`);
    tried.push(`${python}: ${why}`);
  }
  throw new PersonaLiveError(
    'EXPORT_ENVIRONMENT',
    `no Python with torch and onnx found (${tried.join('; ')}): run the export in upstream's Python environment (its README installs torch 2.1) or pass --python PATH`,
    { tried },
  );
}
