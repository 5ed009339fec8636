/**
 * bench:step-io — what one streaming step moves between the host and the inference device,
 * for the real model's shapes (512x512 unless BENCH_RESOLUTION says otherwise), float32 and
 * float16, with 0 to 3 history keyframes:
 *  - CUDA / TensorRT: onnxruntime-node has no device-resident outputs there, so every input
 *    goes up and every output comes down on every step;
 *  - webgpu: the window state (latents, pose features, motion states) stays on the GPU
 *    (GraphSession.runKeeping), and so do the reference UNet's states until a history
 *    keyframe grows them on the host; so the new chunk's conditions and the frames move, and
 *    the reference states only once there are keyframes.
 * Bytes are exact (from the shapes). Measured here: the host's float32 -> float16 conversion
 * of each step's inputs (what the engine does for a float16 pack), min / median / p95. The
 * PCIe copy time itself needs a GPU, which this machine does not have.
 *
 *   npm run bench:step-io
 *
 * Last line: one JSON object with the figures.
 */
import { performance } from 'node:perf_hooks';
import { float32ToFloat16 } from '../daemon/kernels/float16.js';
import { COMPONENT_IO, WINDOW_STATE_OUTPUTS } from '../models/contract.js';
import { testPackDims } from '../models/test-pack.js';
import { stat } from './stats.js';

const resolution = Number(process.env.BENCH_RESOLUTION ?? 512);
const d = testPackDims({ profile: 'contract', resolution, stepKind: 'unet_work' });
const F = d.chunkFrames;
const W = d.windowFrames;
const H = d.historyFrames;
const h = d.latentSize;
const [tokens, channels] = d.motionEmbedding;

function elements(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Elements of every step input and output, reference states at (1 + keyframes) x their base length. */
function stepTensors(keyframes: number): { inputs: Record<string, number>; outputs: Record<string, number> } {
  const inputs: Record<string, number> = {
    sample: elements([1, d.latentChannels, W, h, h]),
    encoder_hidden_states: elements([1, 1, d.embeddingDim]),
    motion_hidden_states: elements([1, H, tokens, channels]),
    motion: elements([1, 3, F, d.motionCropSize, d.motionCropSize]),
    pose_cond_fea: elements([1, d.poseChannels, H, h, h]),
    pose: elements([1, 3, F, resolution, resolution]),
    new_noise: elements([1, d.latentChannels, F, h, h]),
  };
  for (const state of d.referenceStates) inputs[state.name] = state.length * (1 + keyframes) * state.channels;
  const outputs: Record<string, number> = {
    pred_video: elements([F, resolution, resolution, 3]),
    latents: inputs.sample,
    pose_cond_fea_out: inputs.pose_cond_fea,
    motion_hidden_states_out: inputs.motion_hidden_states,
    motion_out: tokens * channels,
    latent_first: elements([1, d.latentChannels, h, h]),
  };
  for (const name of COMPONENT_IO['step:unet_work'].inputs) if (!(name in inputs)) throw new Error(`bench: no size for input ${name}`);
  return { inputs, outputs };
}

const MB = 1024 * 1024;
const windowInputs = new Set(Object.values(WINDOW_STATE_OUTPUTS));
const windowOutputs = new Set(Object.keys(WINDOW_STATE_OUTPUTS));
const sum = (record: Record<string, number>, keep: (name: string) => boolean = () => true): number =>
  Object.entries(record).filter(([name]) => keep(name)).reduce((total, [, n]) => total + n, 0);

const rows: { keyframes: number; dtype: string; cudaUpMb: number; cudaDownMb: number; webgpuUpMb: number; webgpuDownMb: number; statesUpMb: number }[] = [];
for (const keyframes of [0, 1, 2, 3]) {
  const { inputs, outputs } = stepTensors(keyframes);
  for (const [dtype, bytes] of [['float32', 4], ['float16', 2]] as const) {
    const states = sum(inputs, (n) => d.referenceStates.some((s) => s.name === n));
    rows.push({
      keyframes,
      dtype,
      cudaUpMb: (sum(inputs) * bytes) / MB,
      // pred_video comes down as float; a pack with a bytes output would make it a quarter.
      cudaDownMb: (sum(outputs) * bytes) / MB,
      webgpuUpMb: (sum(inputs, (n) => !windowInputs.has(n) && (keyframes > 0 || !d.referenceStates.some((st) => st.name === n))) * bytes) / MB,
      webgpuDownMb: (sum(outputs, (n) => !windowOutputs.has(n)) * bytes) / MB,
      statesUpMb: (states * bytes) / MB,
    });
  }
}

console.log(`bench:step-io, ${resolution}x${resolution}, one step = ${F} frames out`);
console.log('keyframes dtype    CUDA up MB  CUDA down MB  webgpu up MB  webgpu down MB  (reference states up MB)');
for (const r of rows) {
  console.log(`${String(r.keyframes).padStart(9)} ${r.dtype.padEnd(8)} ${r.cudaUpMb.toFixed(1).padStart(10)} ${r.cudaDownMb.toFixed(1).padStart(13)} ${r.webgpuUpMb.toFixed(1).padStart(13)} ${r.webgpuDownMb.toFixed(1).padStart(15)}  (${r.statesUpMb.toFixed(1)})`);
}

// Measured: the host-side float16 conversion of one step's inputs (no keyframes), as the engine
// does it for a float16 pack: all of them, and only what changes per step. The reference states
// and the image embedding are converted once (FloatTensor.constant). With the fused unet_work
// step the window state is fed back as ONNX Runtime's own (float16) output tensors on every
// device, so only the new chunk's conditions are converted; a denoiser step converts the
// window too, since the engine steps it on the host.
const { inputs } = stepTensors(0);
const constant = new Set(['encoder_hidden_states', ...d.referenceStates.map((s) => s.name)]);
function conversionMs(names: string[]): ReturnType<typeof stat> {
  const sources = names.map((n) => Float32Array.from({ length: inputs[n] }, (_, i) => Math.sin(i)));
  const targets = sources.map((s) => new Uint16Array(s.length));
  const samples: number[] = [];
  for (let i = -3; i < 20; i++) {
    const start = performance.now();
    sources.forEach((s, k) => float32ToFloat16(s, targets[k]));
    if (i >= 0) samples.push(performance.now() - start);
  }
  return stat(samples);
}
const all = conversionMs(Object.keys(inputs));
const changing = conversionMs(Object.keys(inputs).filter((n) => !constant.has(n)));
const changingFused = conversionMs(Object.keys(inputs).filter((n) => !constant.has(n) && !windowInputs.has(n)));
const show = (label: string, s: ReturnType<typeof stat>): void => console.log(`host float32 -> float16 conversion per step, ${label}: min ${s.min.toFixed(1)} / median ${s.median.toFixed(1)} / p95 ${s.p95.toFixed(1)} ms`);
show('every input', all);
show('what changes, denoiser step (window stepped on the host)', changing);
show('what changes, fused unet_work step (window kept)', changingFused);
console.log(JSON.stringify({ resolution, rows, float16ConversionMs: { all, denoiser: changing, fused: changingFused } }));
