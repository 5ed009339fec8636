/**
 * Converts a TensorFlow.js graph model (model.json + weight shards) into ONNX bytes, for the
 * handful of operators that the face tracker's convolutional models use (blazeface, facemesh,
 * iris of @vladmandic/human).
 *
 * Why: the same models run 4-6x faster in ONNX Runtime's CPU provider (MLAS kernels) than in
 * tfjs-wasm, which is single-threaded and scalar-heavy under Node (bench:tracking). The
 * conversion is pure and takes milliseconds, so it happens when the tracker starts; nothing
 * converted is written to disk.
 *
 * Layout: TF graphs are NHWC, ONNX convolutions are NCHW. The graph input is transposed once
 * to NCHW, every 4-D value stays NCHW inside, and values leave NCHW (back to NHWC) only where
 * TF semantics depend on the layout: Reshape and graph outputs. Constant operands (weights,
 * paddings, axes) are rewritten for NCHW where they are consumed.
 */
import { GraphBuilder } from '../../../../models/onnx/builder.js';

/** The parts of a tfjs graph-model JSON this converter reads. */
export interface TfjsGraphModel {
  modelTopology: { node: TfjsNode[] };
  weightsManifest: { paths: string[]; weights: TfjsWeightSpec[] }[];
}

interface TfjsNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfjsAttr>;
}

interface TfjsAttr {
  s?: string;
  i?: string | number;
  f?: number;
  list?: { s?: string[]; i?: (string | number)[] };
  shape?: { dim?: { size: string | number }[] };
}

interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  quantization?: { dtype: 'float16' | 'uint8' | 'uint16'; scale?: number; min?: number };
}

interface Constant {
  values: Float32Array | Int32Array;
  shape: number[];
}

/** A value of the ONNX graph being built, with the layout its 4-D data is in. */
interface Value {
  name: string;
  /** 'nchw': a TF NHWC tensor held transposed; 'tf': the TF layout as is (rank != 4 or after Reshape). */
  layout: 'nchw' | 'tf';
  rank: number;
}

export interface ConvertedGraph {
  bytes: Uint8Array;
  /** ONNX input name (the TF placeholder's name); NHWC float32, batch dynamic where the TF graph's is. */
  input: string;
  /** ONNX output names in the order of the TF graph's Identity outputs (Identity, Identity_1, ...). */
  outputs: string[];
}

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];
/** TF axis of an NHWC tensor -> the same axis once held NCHW. */
const NHWC_AXIS_IN_NCHW = [0, 2, 3, 1];

function fail(model: string, node: TfjsNode | null, message: string): never {
  throw new Error(`${model}: ${node ? `node "${node.name}" (${node.op}): ` : ''}${message}`);
}

function decodeString(value: string | undefined): string {
  return value === undefined ? '' : Buffer.from(value, 'base64').toString('latin1');
}

function intList(a: TfjsAttr | undefined): number[] {
  return (a?.list?.i ?? []).map(Number);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Decodes the weight shards (concatenated per manifest group) into named constants. */
export function decodeWeights(model: string, graph: TfjsGraphModel, shards: Uint8Array[]): Map<string, Constant> {
  const constants = new Map<string, Constant>();
  let shardIndex = 0;
  for (const group of graph.weightsManifest) {
    const parts = shards.slice(shardIndex, shardIndex + group.paths.length);
    shardIndex += group.paths.length;
    const total = parts.reduce((n, p) => n + p.length, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let offset = 0;
    for (const spec of group.weights) {
      const count = spec.shape.reduce((a, b) => a * b, 1);
      const q = spec.quantization;
      const width = q ? (q.dtype === 'uint8' ? 1 : 2) : 4;
      if (offset + count * width > bytes.length) fail(model, null, `weights of "${spec.name}" run past the end of the shards (${bytes.length} bytes)`);
      const values = spec.dtype === 'int32' ? new Int32Array(count) : new Float32Array(count);
      for (let i = 0; i < count; i++) {
        const p = offset + i * width;
        if (!q) values[i] = spec.dtype === 'int32' ? view.getInt32(p, true) : view.getFloat32(p, true);
        else if (q.dtype === 'float16') values[i] = halfToFloat(view.getUint16(p, true));
        else {
          const raw = q.dtype === 'uint8' ? view.getUint8(p) : view.getUint16(p, true);
          values[i] = raw * (q.scale ?? 1) + (q.min ?? 0);
        }
      }
      constants.set(spec.name, { values, shape: spec.shape });
      offset += count * width;
    }
  }
  return constants;
}

/**
 * Converts a graph. `shards` are the bytes of the manifest's files in manifest order.
 * @throws Error naming the model and node on an operator or attribute this converter does not support.
 */
export function convertTfjsGraph(model: string, graph: TfjsGraphModel, shards: Uint8Array[]): ConvertedGraph {
  const constants = decodeWeights(model, graph, shards);
  const builder = new GraphBuilder(model, { producerName: 'personalive-tfjs-to-onnx', opset: 17 });
  const values = new Map<string, Value>();
  let inputName = '';
  const identityOutputs: { index: number; name: string; rank: number }[] = [];

  const constant = (node: TfjsNode, ref: string): Constant => {
    const found = constants.get(ref.split(':')[0]);
    if (!found) fail(model, node, `input "${ref}" is not a constant with weights`);
    return found;
  };
  const value = (node: TfjsNode, ref: string): Value => {
    const found = values.get(ref.split(':')[0]);
    if (!found) fail(model, node, `input "${ref}" is not computed before this node (or is an unsupported constant use)`);
    return found;
  };
  const toNchw = (v: Value): string => (v.layout === 'nchw' ? v.name : builder.op('Transpose', [v.name], { perm: NHWC_TO_NCHW }));
  const toTf = (v: Value): string => (v.layout === 'tf' ? v.name : builder.op('Transpose', [v.name], { perm: NCHW_TO_NHWC }));
  const floats = (c: Constant, dims: number[]): string => builder.initializer(Float32Array.from(c.values), dims);

  /** TF HWIO (or depthwise H W C M) kernel -> ONNX OIHW (depthwise: C*M, 1, H, W). */
  const kernel = (node: TfjsNode, c: Constant, depthwise: boolean): { name: string; outChannels: number; group: number; size: [number, number] } => {
    if (c.shape.length !== 4) fail(model, node, `kernel must be 4-D, got [${c.shape.join(',')}]`);
    const [kh, kw, ci, co] = c.shape;
    const outChannels = depthwise ? ci * co : co;
    const out = new Float32Array(c.values.length);
    for (let y = 0; y < kh; y++) {
      for (let x = 0; x < kw; x++) {
        for (let i = 0; i < ci; i++) {
          for (let o = 0; o < co; o++) {
            const from = ((y * kw + x) * ci + i) * co + o;
            // Depthwise output channel i*M+o reads input channel i only.
            const to = depthwise ? (((i * co + o) * kh + y) * kw + x) : (((o * ci + i) * kh + y) * kw + x);
            out[to] = c.values[from];
          }
        }
      }
    }
    const dims = depthwise ? [outChannels, 1, kh, kw] : [co, ci, kh, kw];
    return { name: builder.initializer(out, dims), outChannels, group: depthwise ? ci : 1, size: [kh, kw] };
  };

  const spatial = (node: TfjsNode, key: 'strides' | 'dilations' | 'ksize'): [number, number] => {
    const list = intList(node.attr?.[key]);
    if (list.length === 0) return [1, 1];
    if (list.length !== 4 || list[0] !== 1 || list[3] !== 1) fail(model, node, `${key} [${list.join(',')}] is not a spatial NHWC list`);
    return [list[1], list[2]];
  };
  const padding = (node: TfjsNode): Record<string, string> => {
    const format = decodeString(node.attr?.data_format?.s) || 'NHWC';
    if (format !== 'NHWC') fail(model, node, `data_format ${format} is not supported (NHWC only)`);
    const mode = decodeString(node.attr?.padding?.s);
    if (mode === 'SAME') return { auto_pad: 'SAME_UPPER' };
    if (mode === 'VALID') return { auto_pad: 'VALID' };
    return fail(model, node, `padding "${mode}" is not supported (SAME or VALID)`);
  };

  const convolution = (node: TfjsNode, depthwise: boolean): string => {
    const inputs = node.input ?? [];
    const x = toNchw(value(node, inputs[0]));
    const k = kernel(node, constant(node, inputs[1]), depthwise);
    const attributes = { ...padding(node), strides: spatial(node, 'strides'), dilations: spatial(node, 'dilations'), group: k.group, kernel_shape: k.size };
    if (node.op === 'DepthwiseConv2dNative') return builder.op('Conv', [x, k.name], attributes);
    const fused = (node.attr?.fused_ops?.list?.s ?? []).map(decodeString);
    if (fused[0] !== 'BiasAdd') fail(model, node, `fused ops [${fused.join(', ')}] are not supported (BiasAdd first)`);
    const bias = constant(node, inputs[2]);
    let y = builder.op('Conv', [x, k.name, floats(bias, [k.outChannels])], attributes);
    for (const extra of fused.slice(1)) {
      if (extra === 'Relu') y = builder.op('Relu', [y]);
      else if (extra === 'Prelu') y = builder.op('PRelu', [y, floats(constant(node, inputs[3]), [k.outChannels, 1, 1])]);
      else fail(model, node, `fused op ${extra} is not supported`);
    }
    return y;
  };

  for (const node of graph.modelTopology.node) {
    const inputs = node.input ?? [];
    let out: Value | null = null;
    switch (node.op) {
      case 'Const':
        if (!constants.has(node.name)) fail(model, node, 'constant without weights in the manifest');
        break;
      case 'Placeholder': {
        const dims = (node.attr?.shape?.shape?.dim ?? []).map((d) => Number(d.size));
        if (dims.length !== 4 || dims[3] !== 3) fail(model, node, `input shape [${dims.join(',')}] is not an NHWC RGB image`);
        inputName = node.name;
        // A fixed batch stays fixed (blazeface reshapes to batch 1); -1 becomes a dynamic axis.
        builder.input(node.name, 'float32', [dims[0] > 0 ? dims[0] : 'batch', dims[1], dims[2], 3]);
        out = { name: builder.op('Transpose', [node.name], { perm: NHWC_TO_NCHW }), layout: 'nchw', rank: 4 };
        break;
      }
      case '_FusedConv2D':
        out = { name: convolution(node, false), layout: 'nchw', rank: 4 };
        break;
      case 'DepthwiseConv2dNative':
        out = { name: convolution(node, true), layout: 'nchw', rank: 4 };
        break;
      case 'AddV2': {
        const [a, b] = inputs.map((ref) => value(node, ref));
        if (a.layout !== b.layout) fail(model, node, 'adds values of different layouts');
        out = { name: builder.op('Add', [a.name, b.name]), layout: a.layout, rank: Math.max(a.rank, b.rank) };
        break;
      }
      case 'Relu':
      case 'Sigmoid': {
        const a = value(node, inputs[0]);
        out = { name: builder.op(node.op, [a.name]), layout: a.layout, rank: a.rank };
        break;
      }
      case 'Prelu': {
        const a = value(node, inputs[0]);
        const alpha = constant(node, inputs[1]);
        const channels = alpha.values.length;
        out = { name: builder.op('PRelu', [toNchw(a), floats(alpha, [channels, 1, 1])]), layout: 'nchw', rank: 4 };
        break;
      }
      case 'MaxPool':
        out = {
          name: builder.op('MaxPool', [toNchw(value(node, inputs[0]))], { ...padding(node), kernel_shape: spatial(node, 'ksize'), strides: spatial(node, 'strides') }),
          layout: 'nchw',
          rank: 4,
        };
        break;
      case 'Pad': {
        const x = toNchw(value(node, inputs[0]));
        const pads = constant(node, inputs[1]);
        if (pads.shape.join(',') !== '4,2') fail(model, node, `paddings of shape [${pads.shape.join(',')}], expected [4,2]`);
        const before = NHWC_TO_NCHW.map((axis) => pads.values[axis * 2]);
        const after = NHWC_TO_NCHW.map((axis) => pads.values[axis * 2 + 1]);
        out = { name: builder.op('Pad', [x, builder.int64s([...before, ...after])], { mode: 'constant' }), layout: 'nchw', rank: 4 };
        break;
      }
      case 'Reshape': {
        const shape = constant(node, inputs[1]);
        out = { name: builder.op('Reshape', [toTf(value(node, inputs[0])), builder.int64s([...shape.values])]), layout: 'tf', rank: shape.values.length };
        break;
      }
      case 'ConcatV2': {
        const parts = inputs.slice(0, -1).map((ref) => value(node, ref));
        let axis = constant(node, inputs[inputs.length - 1]).values[0];
        const allNchw = parts.every((p) => p.layout === 'nchw');
        if (allNchw) axis = NHWC_AXIS_IN_NCHW[axis < 0 ? axis + 4 : axis];
        out = { name: builder.op('Concat', parts.map((p) => (allNchw ? p.name : toTf(p))), { axis }), layout: allNchw ? 'nchw' : 'tf', rank: parts[0].rank };
        break;
      }
      case 'Identity': {
        const match = /^Identity(?:_(\d+))?$/.exec(node.name);
        if (!match) {
          out = value(node, inputs[0]);
          break;
        }
        const source = value(node, inputs[0]);
        builder.node('Identity', [toTf(source)], {}, { outputs: [node.name] });
        identityOutputs.push({ index: Number(match[1] ?? 0), name: node.name, rank: source.rank });
        break;
      }
      default:
        fail(model, node, 'operator not supported by the tfjs-to-onnx converter');
    }
    if (out) values.set(node.name, out);
  }
  if (!inputName) fail(model, null, 'the graph has no Placeholder input');
  if (identityOutputs.length === 0) fail(model, null, 'the graph has no Identity outputs');
  identityOutputs.sort((a, b) => a.index - b.index);
  // Output dims are left symbolic: the graph defines them.
  for (const o of identityOutputs) builder.output(o.name, o.name, 'float32', Array.from({ length: o.rank }, (_, i) => `${o.name}_d${i}`));
  return { bytes: builder.toBytes(), input: inputName, outputs: identityOutputs.map((o) => o.name) };
}
