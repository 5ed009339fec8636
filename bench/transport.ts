/**
 * bench:transport — what it costs to move a frame:
 *  - publish into the output ring (POSIX shared memory through koffi): 512x512 and
 *    1280x720, RGB24 (what the daemon writes) and RGBA; target <= 0.5 ms for 512x512;
 *  - read the newest frame out of a ring (what the daemon does with the driving ring);
 *  - RGB24 -> NV12 and -> YUYV at 1280x720 for the virtual cameras (target <= 2 ms each),
 *    native kernel and TypeScript reference, in the same process.
 * Figures are min / median / p95 over the iterations; heap growth over the timed loop
 * shows that nothing is allocated per frame.
 *
 *   npm run bench:transport            (BENCH_ITERATIONS=300 by default)
 *
 * Last line: one JSON object with the figures.
 */
import { performance } from 'node:perf_hooks';
import { PixelFormat } from '../daemon/ffi/ring-layout.js';
import { RingReader, RingWriter, monotonicUs } from '../daemon/transport/ring.js';
import { systemSharedMemory } from '../daemon/ffi/shared-memory.js';
import { colourConverters } from '../daemon/kernels/colour.js';
import { PictureComposer } from '../daemon/kernels/compose.js';
import { stat, type Stat } from './stats.js';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 300);
const WARMUP = 20;

/** Times `run` ITERATIONS times after a warm-up; returns the stats and the heap growth. */
function time(run: (i: number) => void): Stat & { heapGrowthKb: number } {
  const samples: number[] = [];
  let heapBefore = 0;
  for (let i = -WARMUP; i < ITERATIONS; i++) {
    if (i === 0) heapBefore = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    run(i);
    const dt = performance.now() - t0;
    if (i >= 0) samples.push(dt);
  }
  return { ...stat(samples), heapGrowthKb: Math.round((process.memoryUsage().heapUsed - heapBefore) / 1024) };
}

function noise(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = 12345;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

const shm = systemSharedMemory();
const results: Record<string, unknown> = { shm: shm.kind, iterations: ITERATIONS };

for (const [label, width, height, format] of [
  ['publish_512_rgb24', 512, 512, PixelFormat.RGB24],
  ['publish_512_rgba', 512, 512, PixelFormat.RGBA],
  ['publish_720p_rgb24', 1280, 720, PixelFormat.RGB24],
] as const) {
  const name = `personalive-bench-${process.pid}`;
  const writer = new RingWriter(shm, { name, width, height, pixelFormat: format, heartbeatTimer: false });
  const frame = noise(writer.geometry.stride * height);
  results[label] = time(() => writer.publish(frame, monotonicUs()));
  const reader = new RingReader(shm, name);
  results[label.replace('publish', 'read')] = time(() => {
    writer.publish(frame, 0); // untimed share is tiny next to the copy; keeps a new frame ready
    if (!reader.readLatest()) throw new Error('reader saw no new frame');
  });
  reader.close();
  writer.close();
}

const rgb720 = noise(1280 * 720 * 3);
const nv12 = new Uint8Array(1280 * 720 * 3 / 2);
const yuyv = new Uint8Array(1280 * 720 * 2);
for (const converters of [colourConverters('native'), colourConverters('typescript')]) {
  if (converters.implementation === 'typescript' && results.rgb_to_nv12_720p_native === undefined) {
    process.stderr.write('native colour kernels unavailable: only the TypeScript reference is measured\n');
  }
  results[`rgb_to_nv12_720p_${converters.implementation}`] = time(() => converters.rgbToNv12(rgb720, 1280, 720, nv12));
  results[`rgb_to_yuyv_720p_${converters.implementation}`] = time(() => converters.rgbToYuyv(rgb720, 1280, 720, yuyv));
}

// The virtual camera's 16:9 picture: a 512x512 animation scaled into its 720x720 box on a 1280x720 background.
for (const prefer of ['native', 'typescript'] as const) {
  const composer = new PictureComposer(1280, 720, { scale: 1, x: 0.5, y: 0.5 }, undefined, prefer);
  composer.setBackground(noise(1280 * 720 * 3));
  const animation = noise(512 * 512 * 3);
  const picture = new Uint8Array(1280 * 720 * 3);
  results[`compose_720p_${composer.implementation}`] = time(() => composer.compose(animation, 512, picture));
}

const targets = {
  publish512Ms: 0.5,
  convert720Ms: 2,
};
const publish512 = results.publish_512_rgb24 as Stat;
const nv12Best = (results.rgb_to_nv12_720p_native ?? results.rgb_to_nv12_720p_typescript) as Stat;
const yuyvBest = (results.rgb_to_yuyv_720p_native ?? results.rgb_to_yuyv_720p_typescript) as Stat;
process.stdout.write(
  `publish 512x512 RGB24: median ${publish512.median} ms (target ${targets.publish512Ms}), ` +
  `RGB->NV12 720p: ${nv12Best.median} ms, RGB->YUYV 720p: ${yuyvBest.median} ms (target ${targets.convert720Ms}), ` +
  `16:9 picture (512 into 720x720 on 1280x720): ${((results.compose_720p_native ?? results.compose_720p_typescript) as Stat).median} ms\n`,
);
process.stdout.write(`${JSON.stringify({ ...results, targets })}\n`);
