/**
 * The one module that imports onnxruntime-node. Everything else sees GraphSession: named
 * float32 tensors in, named float32 tensors out, and the execution providers that really
 * back the session. float16 graphs are converted at this boundary.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { PersonaLiveError } from '../errors.js';
import { float16ToFloat32, float32ToFloat16 } from '../kernels/float16.js';
import type { Dim, TensorDType } from '../../models/contract.js';
import { DEVICE_KINDS, type DeviceKind } from '../kinds.js';
import { GraphBuilder } from '../../models/onnx/builder.js';

/** The devices a user can ask for (kinds.ts), and the ONNX Runtime providers each one means, in priority order. */
export const DEVICE_PROVIDERS: { readonly [K in DeviceKind]: readonly string[] } = {
  cpu: ['cpu'],
  // Nodes the GPU provider cannot run are placed on the CPU provider by ONNX Runtime itself;
  // that is per-node placement, not a silent fallback of the session (which fails loudly).
  cuda: ['cuda', 'cpu'],
  tensorrt: ['tensorrt', 'cuda', 'cpu'],
  // Dawn on Vulkan (Linux, Windows), D3D12 (Windows) or Metal (macOS): AMD, Intel and Apple GPUs.
  webgpu: ['webgpu', 'cpu'],
};

export type Device = DeviceKind;
const DEVICES = DEVICE_KINDS;

/**
 * @throws PersonaLiveError DEVICE_UNKNOWN listing the valid devices.
 */
export function resolveDevice(value: string): Device {
  if ((DEVICES as readonly string[]).includes(value)) return value as Device;
  throw new PersonaLiveError('DEVICE_UNKNOWN', `unknown device "${value}": expected one of ${DEVICES.join(', ')}`, { device: value, valid: DEVICES });
}

export interface DeviceAvailability {
  device: Device;
  available: boolean;
  /** Why not, when not available: everything found (paths, platform). */
  reason?: string;
  /** The same in a sentence for the panel, with what to do. */
  summary?: string;
}

function bindingFolder(): string {
  const require = createRequire(import.meta.url);
  const packageRoot = dirname(require.resolve('onnxruntime-node/package.json'));
  return join(packageRoot, 'bin', `napi-v6`, process.platform, process.arch);
}

function nvidiaDriverPresent(): boolean {
  if (process.platform === 'linux') return existsSync('/proc/driver/nvidia/version');
  if (process.platform === 'win32') return existsSync('C:\\Windows\\System32\\nvcuda.dll');
  return false;
}

/** Installs onnxruntime-node's CUDA / TensorRT providers (what the installer's GPU step runs). */
export const GPU_INSTALL_COMMAND = 'npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12';

/** What the last WebGPU adapter probe found (null: not probed yet in this process). */
let webGpuProbe: { available: boolean; reason?: string } | null = null;

/** A graph small enough to open anywhere, on any provider: y = x + 1 on four floats. */
export function probeGraph(): Uint8Array {
  const g = new GraphBuilder('personalive-device-probe', { producerName: 'personalive' });
  const y = g.op('Add', [g.input('x', 'float32', [1, 4]), g.floats([1, 1, 1, 1], [1, 4])]);
  g.output(y, 'y', 'float32', [1, 4]);
  return g.toBytes();
}

/**
 * Asks ONNX Runtime's WebGPU provider for an adapter by opening a tiny session with it only
 * (ONNX Runtime has no other way to ask); the answer is kept for the process.
 */
export async function probeWebGpu(): Promise<{ available: boolean; reason?: string }> {
  if (webGpuProbe) return webGpuProbe;
  if (!ort.listSupportedBackends().some((b) => b.name === 'webgpu')) {
    webGpuProbe = { available: false, reason: `this onnxruntime-node build has no webgpu backend on ${process.platform}-${process.arch}` };
    return webGpuProbe;
  }
  try {
    const session = await ort.InferenceSession.create(probeGraph(), { executionProviders: ['webgpu'], logSeverityLevel: 4 });
    await session.release();
    webGpuProbe = { available: true };
  } catch (error) {
    webGpuProbe = { available: false, reason: webGpuReason(error instanceof Error ? error.message : String(error)) };
  }
  return webGpuProbe;
}

/** ONNX Runtime's WebGPU failure in one line: "Failed to get a WebGPU adapter: No supported adapters" rather than its source path. */
export function webGpuReason(message: string): string {
  const adapter = /Failed to get a WebGPU adapter:[^\n]*/.exec(message);
  return `ONNX Runtime's WebGPU provider found no GPU: ${adapter ? adapter[0].trim() : message.split('\n')[0]}`;
}

/** deviceAvailability() with WebGPU's adapter really asked for (see probeWebGpu). */
export async function probedDeviceAvailability(): Promise<DeviceAvailability[]> {
  await probeWebGpu();
  return deviceAvailability();
}

/**
 * Which devices this ONNX Runtime build can offer on this machine, with the reason for each
 * one that cannot. WebGPU's answer is only known after probeWebGpu() (probedDeviceAvailability);
 * before it, WebGPU counts as available when bundled, and openGraph says what it finds.
 * The final proof is opening a session (openGraph fails loudly).
 */
export function deviceAvailability(): DeviceAvailability[] {
  const backends = new Set(ort.listSupportedBackends().map((b) => b.name));
  const folder = bindingFolder();
  const library = (name: string): string => join(folder, process.platform === 'win32' ? `onnxruntime_providers_${name}.dll` : `libonnxruntime_providers_${name}.so`);
  return DEVICES.map((device): DeviceAvailability => {
    if (device === 'cpu') return { device, available: true };
    if (device === 'webgpu' && backends.has(device)) {
      if (!webGpuProbe || webGpuProbe.available) return { device, available: true };
      return {
        device,
        available: false,
        reason: webGpuProbe.reason,
        summary: 'No GPU found for WebGPU: it needs a Vulkan (Linux), D3D12 (Windows) or Metal (macOS) GPU driver.',
      };
    }
    if (!backends.has(device)) {
      return { device, available: false, reason: `this onnxruntime-node build has no ${device} backend on ${process.platform}-${process.arch}`, summary: `Not offered by ONNX Runtime on this system (${process.platform}).` };
    }
    if (!existsSync(library(device))) {
      return {
        device,
        available: false,
        reason: `the ${device} provider library is not installed (${library(device)}); install the GPU build with "${GPU_INSTALL_COMMAND}" (needs CUDA 12 and network access)`,
        summary: `GPU support not installed: run ${GPU_INSTALL_COMMAND}`,
      };
    }
    if (!nvidiaDriverPresent()) return { device, available: false, reason: 'no NVIDIA driver found on this machine', summary: 'No NVIDIA GPU driver found on this computer.' };
    return { device, available: true };
  });
}

/** A named float32 tensor as the engine sees it. */
export interface FloatTensor {
  data: Float32Array;
  dims: readonly number[];
  /**
   * The caller never writes `data` again (the reference states, the image embedding): a
   * float16 graph converts it once and reuses the result on every later run.
   */
  constant?: boolean;
}

/** What a graph returns: float32 (float16 converted), or uint8 for byte outputs (RGB frames). */
export interface RuntimeTensor {
  data: Float32Array | Uint8Array;
  dims: readonly number[];
}

/**
 * An output left where the session produced it (GPU memory on webgpu; ONNX Runtime's own
 * buffer elsewhere), fed to a later run as it is: no host round trip, no float16 conversion.
 */
export interface DeviceTensor {
  readonly kept: true;
  readonly dims: readonly number[];
  /** 'gpu-buffer' on webgpu, 'cpu' where the provider has no device-resident outputs. */
  readonly location: string;
  /** The ONNX Runtime tensor (opaque outside this module). */
  readonly handle: unknown;
}

/** What a run can be fed: host data, or a tensor kept from an earlier run. */
export type Feed = FloatTensor | DeviceTensor;

function isKept(feed: Feed): feed is DeviceTensor {
  return (feed as DeviceTensor).kept === true;
}

/** A kept tensor's values on the host, as float32 (downloaded from the GPU when it is there). */
export async function readDeviceTensor(tensor: DeviceTensor): Promise<Float32Array> {
  const handle = tensor.handle as ort.Tensor;
  const data = handle.location === 'cpu' ? handle.data : await handle.getData();
  if (data instanceof Float32Array) return Float32Array.from(data);
  if (data instanceof Uint16Array && handle.type === 'float16') {
    const out = new Float32Array(data.length);
    float16ToFloat32(data, out);
    return out;
  }
  throw new PersonaLiveError('PACK_GRAPH_MISMATCH', `a kept tensor has type ${handle.type}, expected float32 or float16`, { type: handle.type });
}

/** Frees a kept tensor's device memory (a no-op for host-resident ones). */
export function disposeDeviceTensor(tensor: DeviceTensor): void {
  if (tensor.location === 'gpu-buffer') (tensor.handle as ort.Tensor).dispose();
}

export interface TensorInfo {
  name: string;
  dtype: TensorDType | 'other';
  shape: Dim[];
}

export interface GraphSession {
  readonly name: string;
  readonly file: string;
  readonly device: Device;
  /** Providers the session was created with, in priority order (ONNX Runtime refuses to create it otherwise). */
  readonly providers: readonly string[];
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** Runs the graph. Synchronous on the calling thread inside onnxruntime-node: call it from a worker. */
  run(feeds: Record<string, Feed>): Promise<Record<string, RuntimeTensor>>;
  /** Runs the graph and leaves the outputs named in `keep` where they are (see DeviceTensor). */
  runKeeping(feeds: Record<string, Feed>, keep: readonly string[]): Promise<{ outputs: Record<string, RuntimeTensor>; kept: Record<string, DeviceTensor> }>;
  release(): Promise<void>;
}

const ORT_TYPES: Record<string, TensorDType> = { float32: 'float32', float16: 'float16', int64: 'int64', int32: 'int32', uint8: 'uint8' };

function describeValues(list: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return list.map((meta) =>
    meta.isTensor
      ? { name: meta.name, dtype: ORT_TYPES[meta.type] ?? 'other', shape: meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : String(d))) }
      : { name: meta.name, dtype: 'other', shape: [] },
  );
}

/**
 * Opens one ONNX graph on one device: from the file, or from `options.bytes` (a graph built
 * in memory; `file` then only names it in messages).
 * @throws PersonaLiveError DEVICE_UNAVAILABLE (with the available devices) or PACK_GRAPH_INVALID.
 */
export async function openGraph(
  name: string,
  file: string,
  device: Device,
  options: { threads?: number; bytes?: Uint8Array; /** Outputs to leave on the GPU (webgpu only; others have no device-resident outputs). */ deviceOutputs?: readonly string[] } = {},
): Promise<GraphSession> {
  if (device !== 'cpu') {
    const availability = deviceAvailability();
    const mine = availability.find((a) => a.device === device);
    if (!mine?.available) {
      const available = availability.filter((a) => a.available).map((a) => a.device);
      throw new PersonaLiveError('DEVICE_UNAVAILABLE', `device "${device}" is not available: ${mine?.reason ?? 'unknown reason'}. Available devices: ${available.join(', ')}`, {
        device,
        available,
      });
    }
  }
  const providers = DEVICE_PROVIDERS[device];
  let session: ort.InferenceSession;
  try {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: [...providers],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: options.threads ?? 0,
      logSeverityLevel: 3,
      ...(device === 'webgpu' && options.deviceOutputs?.length
        ? { preferredOutputLocation: Object.fromEntries(options.deviceOutputs.map((output) => [output, 'gpu-buffer' as const])) }
        : {}),
    };
    session = options.bytes ? await ort.InferenceSession.create(options.bytes, sessionOptions) : await ort.InferenceSession.create(file, sessionOptions);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (device === 'webgpu' && /webgpu|adapter|dawn/i.test(message)) {
      webGpuProbe = { available: false, reason: webGpuReason(message) };
      throw new PersonaLiveError('DEVICE_UNAVAILABLE', `${file}: ${webGpuReason(message)}`, { device, file });
    }
    if (device !== 'cpu' && /provider|cuda|tensorrt|library/i.test(message)) {
      throw new PersonaLiveError('DEVICE_UNAVAILABLE', `${file}: ONNX Runtime could not start the ${device} provider: ${message}`, { device, file });
    }
    throw new PersonaLiveError('PACK_GRAPH_INVALID', `${file}: ONNX Runtime cannot load this graph: ${message}`, { file, component: name });
  }
  const inputs = describeValues(session.inputMetadata);
  const outputs = describeValues(session.outputMetadata);
  const halfInputs = new Set(inputs.filter((i) => i.dtype === 'float16').map((i) => i.name));
  const halfBuffers = new Map<string, Uint16Array>();
  // float16 forms of constant feeds, dropped with the arrays they were made from.
  const constantHalves = new WeakMap<Float32Array, Uint16Array>();

  const execute = async (feeds: Record<string, Feed>, keep: readonly string[]): Promise<{ outputs: Record<string, RuntimeTensor>; kept: Record<string, DeviceTensor> }> => {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [key, tensor] of Object.entries(feeds)) {
      if (isKept(tensor)) {
        ortFeeds[key] = tensor.handle as ort.Tensor;
      } else if (halfInputs.has(key) && tensor.constant) {
        let half = constantHalves.get(tensor.data);
        if (!half) {
          half = new Uint16Array(tensor.data.length);
          float32ToFloat16(tensor.data, half);
          constantHalves.set(tensor.data, half);
        }
        ortFeeds[key] = new ort.Tensor('float16', half, tensor.dims);
      } else if (halfInputs.has(key)) {
        let buffer = halfBuffers.get(key);
        if (!buffer || buffer.length !== tensor.data.length) {
          buffer = new Uint16Array(tensor.data.length);
          halfBuffers.set(key, buffer);
        }
        float32ToFloat16(tensor.data, buffer);
        ortFeeds[key] = new ort.Tensor('float16', buffer, tensor.dims);
      } else {
        ortFeeds[key] = new ort.Tensor('float32', tensor.data, tensor.dims);
      }
    }
    const results = await session.run(ortFeeds);
    const out: Record<string, RuntimeTensor> = {};
    const kept: Record<string, DeviceTensor> = {};
    for (const [key, value] of Object.entries(results)) {
      if (keep.includes(key)) {
        kept[key] = { kept: true, dims: value.dims, location: value.location, handle: value };
      } else if (value.type === 'float32') out[key] = { data: value.data as Float32Array, dims: value.dims };
      else if (value.type === 'uint8') out[key] = { data: value.data as Uint8Array, dims: value.dims };
      else if (value.type === 'float16') {
        const data = new Float32Array(value.size);
        float16ToFloat32(value.data as Uint16Array, data);
        out[key] = { data, dims: value.dims };
      } else {
        throw new PersonaLiveError('PACK_GRAPH_MISMATCH', `${file}: output "${key}" has type ${value.type}, expected float32, float16 or uint8`, { file, output: key });
      }
    }
    return { outputs: out, kept };
  };

  return {
    name,
    file,
    device,
    providers,
    inputs,
    outputs,
    async run(feeds) {
      return (await execute(feeds, [])).outputs;
    },
    async runKeeping(feeds, keep) {
      return execute(feeds, keep);
    },
    async release() {
      await session.release();
    },
  };
}
