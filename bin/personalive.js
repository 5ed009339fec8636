#!/usr/bin/env node
// The `personalive` command. Runs the built CLI (npm ci builds it through "prepare").
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const entry = fileURLToPath(new URL('../dist/daemon/cli/main.js', import.meta.url));
if (!existsSync(entry)) {
  process.stderr.write('personalive: the CLI is not built yet: run `npm run build` (npm ci does it) in the repository\n');
  process.exit(1);
}
const { main } = await import(pathToFileURL(entry).href);
const code = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
  stderrIsTty: Boolean(process.stderr.isTTY),
});
process.exitCode = code;
