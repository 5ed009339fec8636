/**
 * What an ONNX file itself declares, read without loading it into ONNX Runtime: the graph's
 * inputs and outputs (names, element types, dims as written) and the external data files
 * its initializers and Constant nodes point to. Used by `pack verify` to say a mismatch in the words of both
 * the file and ONNX Runtime, and to find data files the manifest does not list.
 *
 * Decoded with a reduced schema (real onnx.proto field numbers) that names only those
 * fields, so node lists and inline weights are skipped, not copied.
 */
import protobuf from 'protobufjs';
import type { Dim } from '../contract.js';

const DECLARATION_DESCRIPTOR = {
  nested: {
    Model: { fields: { graph: { type: 'Graph', id: 7 } } },
    Graph: {
      fields: {
        node: { rule: 'repeated', type: 'Node', id: 1 },
        initializer: { rule: 'repeated', type: 'Initializer', id: 5 },
        input: { rule: 'repeated', type: 'ValueInfo', id: 11 },
        output: { rule: 'repeated', type: 'ValueInfo', id: 12 },
      },
    },
    Initializer: {
      fields: {
        name: { type: 'string', id: 8 },
        externalData: { rule: 'repeated', type: 'Entry', id: 13 },
        dataLocation: { type: 'int32', id: 14 },
      },
    },
    // Constant nodes' tensors can be external too (onnx.save_model convert_attribute=True).
    Node: { fields: { attribute: { rule: 'repeated', type: 'Attribute', id: 5 } } },
    Attribute: { fields: { t: { type: 'Initializer', id: 5 } } },
    Entry: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
    ValueInfo: { fields: { name: { type: 'string', id: 1 }, type: { type: 'Type', id: 2 } } },
    Type: { fields: { tensorType: { type: 'TensorType', id: 1 } } },
    TensorType: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'Shape', id: 2 } } },
    Shape: { fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } } },
    Dimension: { fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } } },
  },
};

const ModelDeclaration = protobuf.Root.fromJSON(DECLARATION_DESCRIPTOR).lookupType('Model');

/** TensorProto.DataType names for the element types a pack can have. */
const ELEMENT_TYPES: Record<number, string> = { 1: 'float32', 2: 'uint8', 6: 'int32', 7: 'int64', 10: 'float16', 11: 'float64', 9: 'bool' };

export interface DeclaredTensor {
  name: string;
  dtype: string;
  /** As written: a number, a dim_param name, or '?' for a dimension with neither. */
  shape: Dim[];
}

export interface OnnxDeclaration {
  inputs: DeclaredTensor[];
  outputs: DeclaredTensor[];
  /** External data files named by the initializers, relative to the .onnx file, each once. */
  externalDataFiles: string[];
}

interface DecodedDimension { dimValue?: number | { toNumber(): number }; dimParam?: string }
interface DecodedValueInfo { name?: string; type?: { tensorType?: { elemType?: number; shape?: { dim?: DecodedDimension[] } } } }
interface DecodedInitializer { externalData?: { key?: string; value?: string }[]; dataLocation?: number }
interface DecodedModel {
  graph?: { input?: DecodedValueInfo[]; output?: DecodedValueInfo[]; initializer?: DecodedInitializer[]; node?: { attribute?: { t?: DecodedInitializer }[] }[] };
}

function dimension(dim: DecodedDimension): Dim {
  if (dim.dimParam) return dim.dimParam;
  if (dim.dimValue !== undefined && dim.dimValue !== null) return typeof dim.dimValue === 'number' ? dim.dimValue : dim.dimValue.toNumber();
  return '?';
}

function tensors(list: DecodedValueInfo[] = []): DeclaredTensor[] {
  return list.map((info) => {
    const tensorType = info.type?.tensorType;
    return {
      name: info.name ?? '',
      dtype: ELEMENT_TYPES[tensorType?.elemType ?? 0] ?? `type ${tensorType?.elemType ?? 'unknown'}`,
      shape: (tensorType?.shape?.dim ?? []).map(dimension),
    };
  });
}

const EXTERNAL = 1; // TensorProto.DataLocation.EXTERNAL

/** Decodes the declaration of an ONNX model from its bytes. Throws on bytes that are not a model. */
export function readOnnxDeclaration(bytes: Uint8Array): OnnxDeclaration {
  const model = ModelDeclaration.decode(bytes) as unknown as DecodedModel;
  const files = new Set<string>();
  const attributeTensors = (model.graph?.node ?? []).flatMap((node) => (node.attribute ?? []).flatMap((a) => (a.t ? [a.t] : [])));
  for (const initializer of [...(model.graph?.initializer ?? []), ...attributeTensors]) {
    if (initializer.dataLocation !== EXTERNAL) continue;
    const location = initializer.externalData?.find((entry) => entry.key === 'location')?.value;
    if (location) files.add(location);
  }
  return { inputs: tensors(model.graph?.input), outputs: tensors(model.graph?.output), externalDataFiles: [...files] };
}
