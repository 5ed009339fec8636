/**
 * GraphBuilder: a small, readable way to write ONNX graphs from TypeScript.
 *
 *     const g = new GraphBuilder('double');
 *     const x = g.input('x', 'float32', ['batch', 3]);
 *     g.output(g.op('Mul', [x, g.scalar(2)]), 'y', 'float32', ['batch', 3]);
 *     const bytes = g.toBytes();
 *
 * Intermediate values get unique names automatically; graph inputs and outputs keep the
 * names you give them. Initializer data is written as little-endian raw_data regardless of
 * the host's byte order.
 */
import type { Dim, TensorDType } from '../contract.js';
import {
  encodeModel,
  OnnxAttributeType,
  OnnxDataType,
  type OnnxAttribute,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from './proto.js';

/** Default IR version (onnxruntime-node 1.30 accepts up to 13). */
export const DEFAULT_IR_VERSION = 9;
/** Default opset of the default ("ai.onnx") domain. */
export const DEFAULT_OPSET = 17;

/** A tagged attribute value; make one with {@link attr}. */
export type AttrValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] };

/**
 * Attribute values accepted by {@link GraphBuilder.node}: a tagged value, a plain integer
 * (INT), an array of integers (INTS) or a string (STRING). Floats must be tagged with
 * `attr.float` / `attr.floats` so that `1` vs `1.0` is never ambiguous.
 */
export type AttrInput = AttrValue | number | number[] | string;

/** Attribute constructors. */
export const attr = {
  int: (value: number): AttrValue => ({ kind: 'int', value }),
  float: (value: number): AttrValue => ({ kind: 'float', value }),
  string: (value: string): AttrValue => ({ kind: 'string', value }),
  ints: (value: number[]): AttrValue => ({ kind: 'ints', value }),
  floats: (value: number[]): AttrValue => ({ kind: 'floats', value }),
};

/** Options of {@link GraphBuilder.node}. */
export interface NodeOptions {
  /** Number of outputs (default 1), each given a fresh unique name. Ignored when `outputs` is set. */
  outputCount?: number;
  /** Explicit output names (use for graph outputs). */
  outputs?: string[];
  /** Node name (default: `<op_type>_<n>`). */
  name?: string;
  /** Operator domain (default: "" = ai.onnx). */
  domain?: string;
}

/** Typed arrays accepted as initializer data. */
export type InitializerData = Float32Array | BigInt64Array | Int32Array;

const DTYPE_TO_ONNX: Record<TensorDType, number> = {
  float32: OnnxDataType.FLOAT,
  float16: OnnxDataType.FLOAT16,
  int64: OnnxDataType.INT64,
  int32: OnnxDataType.INT32,
  uint8: OnnxDataType.UINT8,
};

/** The ONNX TensorProto.DataType number of a contract dtype. */
export function onnxDataType(dtype: TensorDType): number {
  return DTYPE_TO_ONNX[dtype];
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Little-endian bytes of a typed array (independent of the host's byte order). */
export function littleEndianBytes(data: InitializerData): Uint8Array {
  const out = new Uint8Array(data.length * data.BYTES_PER_ELEMENT);
  const view = new DataView(out.buffer);
  if (data instanceof Float32Array) {
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  } else if (data instanceof Int32Array) {
    for (let i = 0; i < data.length; i++) view.setInt32(i * 4, data[i], true);
  } else {
    for (let i = 0; i < data.length; i++) view.setBigInt64(i * 8, data[i], true);
  }
  return out;
}

function toAttribute(name: string, input: AttrInput): OnnxAttribute {
  let value: AttrValue;
  if (typeof input === 'string') value = attr.string(input);
  else if (typeof input === 'number') value = attr.int(input);
  else if (Array.isArray(input)) value = attr.ints(input);
  else value = input;
  switch (value.kind) {
    case 'int':
      if (!Number.isInteger(value.value)) throw new Error(`attribute ${name}: ${value.value} is not an integer (use attr.float)`);
      return { name, type: OnnxAttributeType.INT, i: value.value };
    case 'ints':
      for (const v of value.value) {
        if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer (use attr.floats)`);
      }
      return { name, type: OnnxAttributeType.INTS, ints: [...value.value] };
    case 'float':
      return { name, type: OnnxAttributeType.FLOAT, f: value.value };
    case 'floats':
      return { name, type: OnnxAttributeType.FLOATS, floats: [...value.value] };
    case 'string':
      return { name, type: OnnxAttributeType.STRING, s: new TextEncoder().encode(value.value) };
  }
}

function valueInfo(name: string, dtype: TensorDType, shape: readonly Dim[]): OnnxValueInfo {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnxDataType(dtype),
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Builds one ONNX graph (single default-domain opset) and serialises it. */
export class GraphBuilder {
  readonly name: string;
  private readonly nodes: OnnxNode[] = [];
  private readonly initializers: OnnxTensor[] = [];
  private readonly inputs: OnnxValueInfo[] = [];
  private readonly outputs: OnnxValueInfo[] = [];
  private readonly usedNames = new Set<string>();
  private readonly counters = new Map<string, number>();

  /**
   * @param name graph name
   * @param options opset (default {@link DEFAULT_OPSET}), IR version (default
   *   {@link DEFAULT_IR_VERSION}), producer name written into the model
   */
  constructor(
    name: string,
    private readonly options: { opset?: number; irVersion?: number; producerName?: string } = {},
  ) {
    this.name = name;
  }

  /** A fresh unique value name starting with `prefix`. */
  uniqueName(prefix: string): string {
    let n = this.counters.get(prefix) ?? 0;
    let candidate: string;
    do {
      candidate = `${prefix}_${n++}`;
    } while (this.usedNames.has(candidate));
    this.counters.set(prefix, n);
    this.usedNames.add(candidate);
    return candidate;
  }

  private claim(name: string): string {
    if (this.usedNames.has(name)) throw new Error(`graph ${this.name}: value name "${name}" is already used`);
    this.usedNames.add(name);
    return name;
  }

  /** Declares a graph input; returns its name. String dims become named dynamic axes. */
  input(name: string, dtype: TensorDType, shape: readonly Dim[]): string {
    this.inputs.push(valueInfo(this.claim(name), dtype, shape));
    return name;
  }

  /**
   * Declares a graph output named `name`. When `value` is a different existing value, an
   * Identity node copies it into `name`; when `value === name` the value must be produced by a
   * node whose `outputs` option named it.
   */
  output(value: string, name: string, dtype: TensorDType, shape: readonly Dim[]): string {
    if (value !== name) this.node('Identity', [value], {}, { outputs: [name] });
    this.outputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  /**
   * Adds an initializer (a constant tensor) and returns its name.
   * @param data element values; the length must equal product(dims)
   * @param dims tensor shape ([] for a scalar)
   * @param name explicit name (default: an automatic `const_<n>`)
   */
  initializer(data: InitializerData, dims: readonly number[], name?: string): string {
    if (data.length !== product(dims)) {
      throw new Error(`graph ${this.name}: initializer has ${data.length} values for dims [${dims.join(',')}]`);
    }
    const tensorName = name === undefined ? this.uniqueName('const') : this.claim(name);
    const dataType = data instanceof Float32Array ? OnnxDataType.FLOAT : data instanceof Int32Array ? OnnxDataType.INT32 : OnnxDataType.INT64;
    this.initializers.push({ name: tensorName, dims: [...dims], dataType, rawData: littleEndianBytes(data) });
    return tensorName;
  }

  /** A float32 initializer from plain numbers. */
  floats(values: readonly number[] | Float32Array, dims: readonly number[] = [values.length], name?: string): string {
    return this.initializer(Float32Array.from(values), dims, name);
  }

  /** An int64 initializer from plain integers (e.g. shapes, axes, slice bounds). */
  int64s(values: readonly number[], dims: readonly number[] = [values.length], name?: string): string {
    return this.initializer(BigInt64Array.from(values.map((v) => BigInt(v))), dims, name);
  }

  /** A float32 scalar (rank-0) initializer. */
  scalar(value: number, name?: string): string {
    return this.initializer(Float32Array.of(value), [], name);
  }

  /** An int64 scalar (rank-0) initializer. */
  scalarInt64(value: number, name?: string): string {
    return this.initializer(BigInt64Array.of(BigInt(value)), [], name);
  }

  /**
   * Adds a node; returns the names of its outputs.
   * @param opType operator (e.g. "Conv")
   * @param inputs input value names ("" for an omitted optional input)
   * @param attributes attribute values (see {@link AttrInput})
   */
  node(opType: string, inputs: readonly string[], attributes: Record<string, AttrInput> = {}, options: NodeOptions = {}): string[] {
    const outputs = options.outputs
      ? options.outputs.map((o) => this.claim(o))
      : Array.from({ length: options.outputCount ?? 1 }, () => this.uniqueName(opType.toLowerCase()));
    const index = this.nodes.length;
    this.nodes.push({
      input: [...inputs],
      output: outputs,
      name: options.name ?? `${opType}_${index}`,
      opType,
      domain: options.domain ?? '',
      attribute: Object.entries(attributes).map(([key, value]) => toAttribute(key, value)),
    });
    return outputs;
  }

  /** Adds a single-output node and returns its output name. */
  op(opType: string, inputs: readonly string[], attributes: Record<string, AttrInput> = {}, options: Omit<NodeOptions, 'outputCount'> = {}): string {
    const outputs = this.node(opType, inputs, attributes, options);
    if (outputs.length !== 1) throw new Error(`op(${opType}) must have exactly one output`);
    return outputs[0];
  }

  /** The model as a plain object (see ./proto.ts). */
  toModel(): OnnxModel {
    return {
      irVersion: this.options.irVersion ?? DEFAULT_IR_VERSION,
      producerName: this.options.producerName ?? 'personalive-graph-builder',
      opsetImport: [{ domain: '', version: this.options.opset ?? DEFAULT_OPSET }],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
  }

  /** Serialised ONNX model bytes (deterministic for the same sequence of calls). */
  toBytes(): Uint8Array {
    if (this.outputs.length === 0) throw new Error(`graph ${this.name} has no outputs`);
    return encodeModel(this.toModel());
  }
}
