#!/usr/bin/env node
/**
 * Builds the dock panel into dist/panel/ (served by the daemon at /panel/):
 * panel/src/main.ts bundled with the protocol into panel.js (+ source map), and the static
 * index.html and styles.css copied beside it. Everything is local: no CDN, no fonts.
 * Target chrome100: OBS 29's browser dock is CEF on Chromium 103.
 *
 *   node panel/build.mjs            build once (exit 1 on any error)
 *   node panel/build.mjs --watch    rebuild on change (development)
 */
import { build, context } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/panel`;
const STATIC_FILES = ['index.html', 'styles.css'];

/** @type {import('esbuild').BuildOptions} */
const options = {
  absWorkingDir: root,
  entryPoints: ['panel/src/main.ts'],
  outfile: `${outdir}/panel.js`,
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome100'],
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
  // A regular expression that Chromium 100 cannot run must fail the build, not just warn.
  logOverride: { 'unsupported-regexp': 'error' },
};

async function copyStatic() {
  await mkdir(outdir, { recursive: true });
  await Promise.all(STATIC_FILES.map((name) => copyFile(`${root}panel/${name}`, `${outdir}/${name}`)));
}

try {
  if (process.argv.includes('--watch')) {
    const ctx = await context({ ...options, plugins: [{ name: 'copy-static', setup(b) { b.onEnd(() => copyStatic().catch((e) => console.error(e))); } }] });
    await ctx.watch();
    console.log(`panel: watching, output in ${outdir}`);
  } else {
    const result = await build(options);
    if (result.errors.length > 0) process.exit(1);
    await copyStatic();
  }
} catch (error) {
  // esbuild has already printed its diagnostics; anything else (a missing static file) is printed here.
  if (!(error && typeof error === 'object' && 'errors' in error)) console.error(error);
  process.exit(1);
}
