/**
 * bench:meshwarp — the built-in generator end to end at 512x512 (decode excluded):
 * tracking + transfer + render, frames pushed as fast as the generator takes them.
 * Prints sustained frames per second, per-frame latency (push of a driving frame to its
 * output frame) median and p95, and the split per stage. Targets (issue): >= 30 fps,
 * p95 <= 50 ms. Last line: one JSON object.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createMeshwarpGenerator } from '../daemon/generators/meshwarp/index.js';
import { decodeVideoFrames } from '../daemon/media/decode.js';
import { fitSquare, loadImageRgb } from '../daemon/media/image.js';

const DATA = process.env.PERSONALIVE_DEMO_DATA ?? join(import.meta.dirname, '..', '..', 'shared', 'data');
const FRAMES = Number(process.env.BENCH_FRAMES ?? 200);
const WARMUP = 20;
const SIZE = 512;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const frames: Uint8Array[] = [];
for await (const f of decodeVideoFrames(join(DATA, 'driving.mp4'), { width: SIZE, height: SIZE, maxFrames: FRAMES + WARMUP })) frames.push(f.data);
const TRACKERS = process.env.BENCH_TRACKERS ? Number(process.env.BENCH_TRACKERS) : undefined;
const generator = await createMeshwarpGenerator({ size: SIZE, trackers: TRACKERS });
await generator.fuseReference(await fitSquare(await loadImageRgb(join(DATA, 'reference.png')), SIZE));

const pushedAt = new Map<number, number>();
const latencies: number[] = [];
let measuredStart = 0;
let measuredFrames = 0;
const collect = (outs: { index: number }[]): void => {
  const now = performance.now();
  for (const o of outs) {
    if (o.index < WARMUP) continue;
    latencies.push(now - pushedAt.get(o.index)!);
    measuredFrames++;
  }
};
for (let i = 0; i < frames.length; i++) {
  if (i === WARMUP) measuredStart = performance.now();
  pushedAt.set(i, performance.now());
  collect(await generator.push({ data: frames[i], width: SIZE, height: SIZE, index: i, captureUs: i * 40_000, warmup: false }));
}
collect(await generator.flush());
const wallMs = performance.now() - measuredStart;
const stats = await generator.stats();
await generator.close();

const stage = (name: string): number => Number((stats.stages[name].totalMs / stats.stages[name].count).toFixed(2));
const result = {
  bench: 'meshwarp',
  size: SIZE,
  frames: measuredFrames,
  fps: Number(((measuredFrames * 1000) / wallMs).toFixed(2)),
  latencyMsMedian: Number(percentile(latencies, 50).toFixed(1)),
  latencyMsP95: Number(percentile(latencies, 95).toFixed(1)),
  stageMeanMs: { track: stage('track'), render: stage('render') },
  tracker: stats.tracker,
  warp: stats.warp,
  targets: { fps: 30, latencyMsP95: 50 },
  note: 'one tracker (default) returns each frame without pipeline delay; BENCH_TRACKERS=N pipelines N frames on alternate trackers; the render worker follows in frame order',
};
console.log(`meshwarp ${SIZE}x${SIZE}: ${result.fps} fps sustained, latency median ${result.latencyMsMedian} ms, p95 ${result.latencyMsP95} ms; track ${result.stageMeanMs.track} ms, render ${result.stageMeanMs.render} ms per frame (${stats.tracker}; warp ${stats.warp})`);
console.log(JSON.stringify(result));
