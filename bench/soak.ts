/**
 * soak — the live loop for N minutes: the built-in generator on the looped demo video,
 * outputs to the output ring and a null sink (no OBS, no recording). Prints RSS, heap,
 * output rate and capture-to-output latency every minute, and a final JSON line with the
 * growth after warm-up (goal: under 10 % over 30 minutes, no latency creep).
 *
 *   npm run soak -- --minutes 30          (default 2)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startDaemon } from '../daemon/daemon.js';
import { defaultPaths } from '../daemon/config/config.js';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '2' }, 'interval-s': { type: 'string', default: '60' } } });
const minutes = Number(values.minutes);
const intervalS = Number(values['interval-s']);
const data = process.env.PERSONALIVE_DEMO_DATA ?? fileURLToPath(new URL('../../shared/data', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'personalive-soak-'));
const env = { ...process.env, PERSONALIVE_CONFIG_DIR: join(root, 'config'), PERSONALIVE_DATA_DIR: join(root, 'data') };

const daemon = await startDaemon({
  paths: defaultPaths(env),
  overrides: { control: { port: 0 }, obs: { enabled: false }, driving: { kind: 'file', file: join(data, 'driving.mp4') }, output: { ring: { enabled: true, name: `personalive-soak-${process.pid}` } } },
  reference: join(data, 'reference.png'),
  nullSink: true,
  logLevel: 'warn',
});

interface Sample {
  minute: number;
  rssMb: number;
  heapMb: number;
  outputFps: number;
  generatedFps: number;
  latencyP50: number | null;
  latencyP95: number | null;
  inputDrops: number;
  repeats: number;
}
const samples: Sample[] = [];
const started = Date.now();
for (let i = 1; i * intervalS <= minutes * 60; i++) {
  await new Promise((r) => setTimeout(r, started + i * intervalS * 1000 - Date.now()));
  const stats = daemon.loop.stats();
  const memory = process.memoryUsage();
  const sample: Sample = {
    minute: +((i * intervalS) / 60).toFixed(2),
    rssMb: Math.round(memory.rss / 1048576),
    heapMb: Math.round(memory.heapUsed / 1048576),
    outputFps: stats.outputFps,
    generatedFps: stats.generatedFps,
    latencyP50: stats.latencyMs.p50,
    latencyP95: stats.latencyMs.p95,
    inputDrops: stats.drops.input,
    repeats: stats.repeats,
  };
  samples.push(sample);
  process.stdout.write(`${JSON.stringify(sample)}\n`);
}
await daemon.close();
rmSync(root, { recursive: true, force: true });

// Growth is measured after warm-up (JIT, wasm compilation, the first sample) to the last.
const first = samples.length >= 3 ? samples[1] : samples[0];
const last = samples.at(-1);
const growth = (a: number | null | undefined, b: number | null | undefined): number | null => (a && b ? +(((b - a) / a) * 100).toFixed(1) : null);
process.stdout.write(`${JSON.stringify({
  minutes,
  samples: samples.length,
  rssGrowthPct: growth(first?.rssMb, last?.rssMb),
  heapGrowthPct: growth(first?.heapMb, last?.heapMb),
  latencyP95GrowthPct: growth(first?.latencyP95, last?.latencyP95),
  final: last,
  goals: { memoryGrowthPct: 10, latencyCreep: 'none' },
})}\n`);
process.exit(0);
