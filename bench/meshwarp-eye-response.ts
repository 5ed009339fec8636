/**
 * eval:eye-response — how the face tracker reads the built-in generator's closing eyes: each
 * portrait (../shared/data/reference.png and the presets) drawn with both upper lids at a
 * range of shown closures (the shown opening over the portrait's, placed as MotionTransfer
 * places them), read back in image mode, both eyes averaged, as a fraction of the portrait's
 * own reading. Prints per portrait and the mean over portraits: the measurement behind
 * EYE_RESPONSE in transfer.ts (whose inverse is the eye closure shown for a driver's reading).
 * Last line: one JSON object.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshwarpAnimator } from '../daemon/generators/meshwarp/animator.js';
import { eyeOpenness } from '../daemon/generators/meshwarp/mouth.js';
import { EYELIDS } from '../daemon/generators/meshwarp/topology.js';
import { EYE_RESPONSE } from '../daemon/generators/meshwarp/transfer.js';
import { createHumanTracker } from '../daemon/generators/meshwarp/tracking/human-tracker.js';
import { fitSquare, loadImageRgb } from '../daemon/media/image.js';

const DATA = process.env.PERSONALIVE_DEMO_DATA ?? join(import.meta.dirname, '..', '..', 'shared', 'data');
const SIZE = 512;
const CLOSURES = [0, 0.1, 0.2, 0.28, 0.37, 0.46, 0.55, 0.64, 0.82, 1];

/** The portrait's landmarks with both upper lids at `closure` of its own opening. */
function lidsAtClosure(portrait: Float32Array, closure: number): Float32Array {
  const out = Float32Array.from(portrait);
  for (const side of ['right', 'left'] as const) {
    const { upper, lower } = EYELIDS[side];
    for (let k = 0; k < upper.length; k++) {
      for (let d = 0; d < 3; d++) out[3 * upper[k] + d] = portrait[3 * lower[k] + d] + closure * (portrait[3 * upper[k] + d] - portrait[3 * lower[k] + d]);
    }
  }
  return out;
}

const bothEyes = (l: Float32Array): number => (eyeOpenness(l, 'right') + eyeOpenness(l, 'left')) / 2;
const round = (v: number): number => Number(v.toFixed(3));

const tracker = await createHumanTracker({ mode: 'image' });
const files = ['reference.png', ...(await readdir(join(DATA, 'presets'))).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort().map((f) => join('presets', f))];
const perPortrait: Record<string, (number | null)[]> = {};
const frame = new Uint8Array(SIZE * SIZE * 3);
for (const file of files) {
  const image = await fitSquare(await loadImageRgb(join(DATA, file)), SIZE);
  const face = (await tracker.track(image)).face;
  if (!face) {
    console.log(`${file}: no face found`);
    continue;
  }
  const landmarks = Float32Array.from(face.landmarks);
  const animator = new MeshwarpAnimator(image, landmarks);
  animator.renderShown(landmarks, frame);
  const open = (await tracker.track({ data: frame, width: SIZE, height: SIZE })).face;
  if (!open) continue;
  const readings: (number | null)[] = [];
  for (const c of CLOSURES) {
    animator.renderShown(lidsAtClosure(landmarks, c), frame);
    const read = (await tracker.track({ data: frame, width: SIZE, height: SIZE })).face;
    readings.push(read ? round(bothEyes(read.landmarks) / bothEyes(open.landmarks)) : null);
  }
  perPortrait[file] = readings;
  console.log(`${file}: ${CLOSURES.map((c, k) => `${c} -> ${readings[k] ?? 'lost'}`).join(', ')}`);
}
await tracker.close();
const mean = CLOSURES.map((_, k) => {
  const values = Object.values(perPortrait).map((r) => r[k]).filter((v): v is number => v !== null);
  return round(values.reduce((s, v) => s + v, 0) / Math.max(1, values.length));
});
console.log(`mean: ${CLOSURES.map((c, k) => `${c} -> ${mean[k]}`).join(', ')}`);
console.log(`EYE_RESPONSE in use: ${EYE_RESPONSE.map(([s, r]) => `${s} -> ${r}`).join(', ')}`);
console.log(JSON.stringify({ eval: 'eye-response', closures: CLOSURES, mean, perPortrait, inUse: EYE_RESPONSE }));
