import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker from a module next to `base` (an import.meta.url). Built code runs the .js
 * file. When running from TypeScript sources (tests, tsx), a one-line ESM bootstrap first
 * registers tsx's loader inside the worker (Node 20 does not pass --import hooks to
 * workers reliably), then imports the .ts module.
 */
export function startWorker(base: string, moduleName: string, options: WorkerOptions = {}): Worker {
  const fromSource = base.endsWith('.ts');
  const target = new URL(`./${moduleName}.${fromSource ? 'ts' : 'js'}`, base);
  if (!fromSource) return new Worker(target, options);
  const tsxApi = tsxEsmApiUrl();
  const bootstrap = `const { register } = await import(${JSON.stringify(tsxApi)}); register(); await import(${JSON.stringify(target.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), options);
}

/** The ESM build of tsx's register API (tsx is a dev dependency: only source runs need it). */
function tsxEsmApiUrl(): string {
  const require = createRequire(import.meta.url);
  const manifestPath = require.resolve('tsx/package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(join(dirname(manifestPath), manifest.exports['./esm/api'].import.default)).href;
}
