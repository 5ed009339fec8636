/**
 * The subset of onnx.proto (package `onnx`, proto2) needed to WRITE ONNX models, described
 * in code for protobufjs. Field numbers are those of the official onnx.proto, so the bytes
 * this produces load in any ONNX consumer (checked against onnxruntime-node in the tests).
 *
 * Only writing is a goal: messages hold just the fields a generated graph uses.
 */
import protobuf from 'protobufjs';

/** TensorProto.DataType values used by this project. */
export const OnnxDataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
} as const;

/** AttributeProto.AttributeType values. */
export const OnnxAttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
} as const;

/** The protobufjs JSON descriptor of the written subset (real onnx.proto field ids). */
const ONNX_DESCRIPTOR = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            g: { type: 'GraphProto', id: 6 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            strings: { rule: 'repeated', type: 'bytes', id: 9 },
            tensors: { rule: 'repeated', type: 'TensorProto', id: 10 },
            graphs: { rule: 'repeated', type: 'GraphProto', id: 11 },
            docString: { type: 'string', id: 13 },
            type: { type: 'AttributeType', id: 20 },
          },
          nested: {
            AttributeType: {
              values: {
                UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5,
                FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10,
              },
            },
          },
        },
        ValueInfoProto: {
          fields: {
            name: { type: 'string', id: 1 },
            type: { type: 'TypeProto', id: 2 },
            docString: { type: 'string', id: 3 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            docString: { type: 'string', id: 6 },
            domain: { type: 'string', id: 7 },
          },
        },
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            domain: { type: 'string', id: 4 },
            modelVersion: { type: 'int64', id: 5 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
          },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            docString: { type: 'string', id: 10 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
            valueInfo: { rule: 'repeated', type: 'ValueInfoProto', id: 13 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
            docString: { type: 'string', id: 12 },
          },
        },
        TensorShapeProto: {
          fields: {
            dim: { rule: 'repeated', type: 'Dimension', id: 1 },
          },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: {
                dimValue: { type: 'int64', id: 1 },
                dimParam: { type: 'string', id: 2 },
                denotation: { type: 'string', id: 3 },
              },
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensorType'] } },
          fields: {
            tensorType: { type: 'Tensor', id: 1 },
            denotation: { type: 'string', id: 6 },
          },
          nested: {
            Tensor: {
              fields: {
                elemType: { type: 'int32', id: 1 },
                shape: { type: 'TensorShapeProto', id: 2 },
              },
            },
          },
        },
        OperatorSetIdProto: {
          fields: {
            domain: { type: 'string', id: 1 },
            version: { type: 'int64', id: 2 },
          },
        },
      },
    },
  },
};

/** The protobufjs root holding the `onnx.*` message types. */
export const onnxRoot: protobuf.Root = protobuf.Root.fromJSON(ONNX_DESCRIPTOR);

/** onnx.ModelProto, ready to `encode(...).finish()` or `decode(...)`. */
export const ModelProto: protobuf.Type = onnxRoot.lookupType('onnx.ModelProto');
/** The other message types of the subset (mostly for decoding in tests). */
export const GraphProto: protobuf.Type = onnxRoot.lookupType('onnx.GraphProto');
export const NodeProto: protobuf.Type = onnxRoot.lookupType('onnx.NodeProto');
export const AttributeProto: protobuf.Type = onnxRoot.lookupType('onnx.AttributeProto');
export const TensorProto: protobuf.Type = onnxRoot.lookupType('onnx.TensorProto');
export const ValueInfoProto: protobuf.Type = onnxRoot.lookupType('onnx.ValueInfoProto');
export const TypeProto: protobuf.Type = onnxRoot.lookupType('onnx.TypeProto');
export const TensorShapeProto: protobuf.Type = onnxRoot.lookupType('onnx.TensorShapeProto');
export const OperatorSetIdProto: protobuf.Type = onnxRoot.lookupType('onnx.OperatorSetIdProto');

// Plain-object shapes of the messages (what `ModelProto.fromObject` / `create` take).

/** A TensorProto (initializer) as a plain object. */
export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  /** Little-endian element bytes, exactly product(dims) * element size. */
  rawData: Uint8Array;
}

/** An AttributeProto; `type` is an {@link OnnxAttributeType} value. */
export interface OnnxAttribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: OnnxTensor;
  floats?: number[];
  ints?: number[];
}

/** A NodeProto. */
export interface OnnxNode {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  domain?: string;
  attribute: OnnxAttribute[];
}

/** One dimension: a fixed size or a named dynamic axis. */
export interface OnnxDimension {
  dimValue?: number;
  dimParam?: string;
}

/** A graph input/output declaration (tensor type only). */
export interface OnnxValueInfo {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: OnnxDimension[] } } };
}

/** A GraphProto. */
export interface OnnxGraph {
  name: string;
  node: OnnxNode[];
  initializer: OnnxTensor[];
  input: OnnxValueInfo[];
  output: OnnxValueInfo[];
}

/** A ModelProto. */
export interface OnnxModel {
  irVersion: number;
  producerName: string;
  producerVersion?: string;
  opsetImport: { domain: string; version: number }[];
  graph: OnnxGraph;
}

/** Serialises a model object to ONNX protobuf bytes. */
export function encodeModel(model: OnnxModel): Uint8Array {
  const message = ModelProto.fromObject(model as unknown as Record<string, unknown>);
  return ModelProto.encode(message).finish();
}
