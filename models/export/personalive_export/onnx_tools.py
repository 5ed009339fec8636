"""ONNX post-processing after torch.onnx.export: fixed output dims, float16, and one external
data file per component. Pure functions on onnx ModelProto, plus save/hash helpers."""
import hashlib
import os

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

# Protobuf cannot hold a message over 2 GB; keep a margin for the graph itself.
PROTOBUF_LIMIT = 2 * 1024 ** 3
EXTERNAL_DATA_THRESHOLD = int(1.5 * 1024 ** 3)


def fix_output_dims(model, shapes, dynamic_axes):
    """Writes each output's dims from the shapes the eager forward produced, except the axes
    that are dynamic by design (named in dynamic_axes[output]), which get their names. torch
    marks many outputs symbolic ('Slice_123_o0') where the contract has fixed sizes."""
    for output in model.graph.output:
        if output.name not in shapes:
            continue
        named = dynamic_axes.get(output.name, {})
        dims = output.type.tensor_type.shape.dim
        del dims[:]
        for axis, size in enumerate(shapes[output.name]):
            dim = dims.add()
            if axis in named:
                dim.dim_param = named[axis]
            else:
                dim.dim_value = int(size)
    return model


def _to_half(tensor):
    values = numpy_helper.to_array(tensor).astype(np.float32)
    half = np.clip(values, -65504, 65504).astype(np.float16)
    converted = numpy_helper.from_array(half, tensor.name)
    tensor.CopyFrom(converted)


def _retype(value_info):
    tensor_type = value_info.type.tensor_type
    if tensor_type.elem_type == TensorProto.FLOAT:
        tensor_type.elem_type = TensorProto.FLOAT16


# Inputs that ONNX defines as float32 only, whatever the model's type: (op, input index).
FLOAT32_ONLY_INPUTS = {("Resize", 2)}


def to_float16(model):
    """Converts a float32 graph to float16: weights, constants, casts, graph inputs/outputs and
    intermediate types. Inputs that must stay float32 (Resize scales) get a Cast to float32.
    Values beyond float16's range are clipped (as upstream's fp16 tracing would overflow)."""
    graph = model.graph
    for tensor in graph.initializer:
        if tensor.data_type == TensorProto.FLOAT:
            _to_half(tensor)
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.TENSOR and attribute.t.data_type == TensorProto.FLOAT:
                _to_half(attribute.t)
            if node.op_type == "Cast" and attribute.name == "to" and attribute.i == TensorProto.FLOAT:
                attribute.i = TensorProto.FLOAT16
    for value_info in list(graph.input) + list(graph.output) + list(graph.value_info):
        _retype(value_info)
    # Each Cast goes just before the node that reads it: its input is already available there,
    # so the node order stays topological.
    nodes = []
    for node in graph.node:
        for index, name in enumerate(node.input):
            if (node.op_type, index) in FLOAT32_ONLY_INPUTS and name:
                cast_name = f"{name}__float32_for_{node.name or node.op_type}_{index}"
                nodes.append(onnx.helper.make_node("Cast", [name], [cast_name], to=TensorProto.FLOAT, name=cast_name))
                node.input[index] = cast_name
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def _tensor_bytes(tensor):
    return len(tensor.raw_data) or numpy_helper.to_array(tensor).nbytes


def weight_bytes(model):
    """Bytes of the graph's weights, initializers and Constant-node tensors (torch's constant
    folding leaves hundreds of MB in Constant nodes: 296 MB of the reduced step graph's 1.8 GB);
    what protobuf would have to hold (ByteSize() itself fails past 2 GB)."""
    total = sum(_tensor_bytes(t) for t in model.graph.initializer)
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.TENSOR:
                total += _tensor_bytes(attribute.t)
    return total


def save_component(model, path, threshold=None):
    """Saves the graph; its weights go to one external data file beside it (path + '.data') when
    they weigh more than threshold bytes (default: well before protobuf's 2 GB limit).
    Returns the data file's name or None."""
    data_name = os.path.basename(path) + ".data"
    data_path = os.path.join(os.path.dirname(path), data_name)
    if os.path.exists(data_path):
        os.remove(data_path)  # save_model appends to an existing data file
    external = weight_bytes(model) > (EXTERNAL_DATA_THRESHOLD if threshold is None else threshold)
    if external:
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location=data_name, size_threshold=1024, convert_attribute=True)
        # Tensors under 1 KB stay in the graph; a graph with only such tensors has no data file.
        return data_name if os.path.exists(data_path) else None
    onnx.save_model(model, path)
    return None


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
