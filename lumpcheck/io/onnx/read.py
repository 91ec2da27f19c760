"""Read a dense feed-forward ONNX model into the exact IR.

The reader interprets the graph abstractly, like onnx's reference evaluator (one small function per op,
a dispatch table), but every tensor is either a constant or *the* data stream, and the stream carries no
numbers: ops on it extend a chain of exact dense layers. The network is read as a function of one
sample: axis 0 of a rank >= 2 input is the batch axis (a symbolic batch dimension counts as 1) and the
features are the rest of the tensor in C order. Constants are exact (float16/32/64 values are rationals);
folding (Gemm alpha/beta, element-wise maps between layers) is done in Fractions, so nothing is rounded on
reading. Element-wise maps on the raw input (clipping, Sub/Div/Mul/Add by constants) and after the last layer
are kept as `Normalization` metadata instead, which the writer emits again: folding them would turn float
weights into non-float rationals that no float file can hold.
"""

from __future__ import annotations

from math import prod
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto

from ...errors import LumpcheckError, ModelFormatError, UnsupportedModelError
from ...ir.network import Network
from ..compressed import is_gzipped, read_bytes
from .chain import Chain
from .lean import lean_load
from .signature import signature_of
from .ops import (CONSTANT_OPS, FLOAT_TYPES, MALFORMED, OPS, REASONS, SUPPORTED, Const, Reader, Stream, Value,
                  default_opset, malformed, tensor_const, well_typed)


def read_onnx(path: str | Path) -> Network:
    """Read a dense feed-forward ONNX model into the exact IR; one-line LumpcheckError on anything else."""
    p = Path(path)
    model, arrays = _load(p)
    graph = model.graph
    opset = default_opset(model, str(p))
    if not graph.node:
        raise ModelFormatError("empty graph (no nodes)", str(p), "graph")
    values: dict[str, Value] = {}
    for init, arr in zip(graph.initializer, arrays):
        values[init.name] = tensor_const(init, init.name, str(p), f"initializer '{init.name}'", arr)
        init.ClearField("raw_data")  # the array holds the numbers now: free the file's copy (peak memory)
    del arrays
    data_inputs = [v for v in graph.input if v.name not in values]
    if len(data_inputs) != 1:
        names = ", ".join(repr(v.name) for v in data_inputs)
        raise UnsupportedModelError(
            f"{len(data_inputs)} data inputs ({names}); lumpcheck reads single-input chains", str(p), "graph"
        )
    if len(graph.output) != 1:
        names = ", ".join(repr(v.name) for v in graph.output)
        raise UnsupportedModelError(
            f"{len(graph.output)} outputs ({names}); lumpcheck reads single-output chains", str(p), "graph"
        )
    shape, batch = _input_shape(data_inputs[0], str(p))
    values[data_inputs[0].name] = Stream(shape)
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    r = Reader(opset, batch, Chain(prod(shape) // batch), data_inputs[0].name, consumers, {graph.output[0].name},
               data_inputs[0].name, data_inputs[0].type.tensor_type.elem_type)
    remaining = dict(consumers)
    order = _topological_order(graph, set(values), str(p))
    for i in order:
        _run_node(graph.node[i], i, values, r, str(p))
        _release_constants(graph.node[i], values, remaining, graph.output[0].name)
    out = graph.output[0]
    if isinstance(values.get(out.name), Const):
        raise UnsupportedModelError("is a constant (it does not depend on the input)", str(p), f"output '{out.name}'")
    if out.name != r.current:
        where = f"output '{out.name}'"
        raise UnsupportedModelError("is not the end of the data chain (branching graph?)", str(p), where)
    _check_declared_shape(out, values[out.name].shape, str(p))
    meta = {"dtype": _source_dtype(graph), "opset": opset, "onnx_signature": signature_of(model, opset),
            "onnx_metadata": {p.key: p.value for p in model.metadata_props}}
    layers = r.chain.finish()
    if layers[0].in_features == 0 or layers[-1].out_features == 0:
        raise ModelFormatError(f"the chain has {layers[0].in_features} inputs and {layers[-1].out_features} outputs; a "
                               "model needs at least one of each", str(p), "graph")
    well_typed(model, [graph.node[i] for i in order], str(p))
    return Network(layers, r.chain.normalization(), source=str(p), meta=meta)


def _load(p: Path) -> tuple[onnx.ModelProto, list[np.ndarray | None]]:
    """The model and its initializers' arrays where lean.py read them (None: from the model's own data)."""
    if not p.is_file():
        raise ModelFormatError("no such file", str(p))
    if not is_gzipped(p):
        try:
            return lean_load(p)
        except Exception:  # anything lean.py cannot follow: onnx.load reads it (or names the problem)
            pass
    try:
        model = onnx.load_model_from_string(read_bytes(p, "ONNX model")) if is_gzipped(p) else onnx.load(str(p))
        return model, [None] * len(model.graph.initializer)
    except LumpcheckError:
        raise
    except Exception as e:  # protobuf raises DecodeError, RuntimeWarning-like errors, OSError for external data
        message = f"not a readable ONNX model (truncated or corrupt?): {type(e).__name__}: {e}"
        raise ModelFormatError(message, str(p)) from None


def _node_where(node: onnx.NodeProto, index: int) -> str:
    op = f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type
    return f"node {index} '{node.name}' ({op})" if node.name else f"node {index} ({op})"


def _topological_order(graph: onnx.GraphProto, available: set[str], path: str) -> list[int]:
    """Node indices in an order where every input is produced before use (some exporters emit unsorted graphs)."""
    done, order, pending = set(available), [], list(range(len(graph.node)))
    while pending:
        waiting = []
        for i in pending:
            node = graph.node[i]
            if all(name == "" or name in done for name in node.input):
                order.append(i)
                for name in node.output:
                    if name in done and name != "":
                        raise ModelFormatError(f"tensor '{name}' is produced twice", path, _node_where(node, i))
                    done.add(name)
            else:
                waiting.append(i)
        if len(waiting) == len(pending):
            node = graph.node[waiting[0]]
            missing = next(n for n in node.input if n != "" and n not in done)
            raise ModelFormatError(
                f"input '{missing}' is never produced (or the graph has a cycle)", path, _node_where(node, waiting[0])
            )
        pending = waiting
    return order


def _run_node(node: onnx.NodeProto, index: int, values: dict[str, Value], r: Reader, path: str) -> None:
    """Check the chain discipline (one stream, consumed once), run the op, store its outputs."""
    where = _node_where(node, index)
    args = [values[name] if name else None for name in node.input]
    streams = [name for name, a in zip(node.input, args) if isinstance(a, Stream)]
    op = OPS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    try:
        if op is None:
            reason = REASONS.get(node.op_type)
            raise UnsupportedModelError(f"unsupported op ({reason})" if reason else f"unsupported op ({SUPPORTED})")
        if len(streams) > 1:
            raise UnsupportedModelError("merges two data paths (branching graphs are not supported)")
        if streams and streams[0] != r.current:
            raise UnsupportedModelError(
                f"reads '{streams[0]}', which another node already consumed (branching graphs are not supported)"
            )
        if not streams and node.op_type not in CONSTANT_OPS:
            raise UnsupportedModelError(
                "computes on constants only; constant folding is not supported (simplify the model first, e.g. onnxsim)"
            )
        outputs = op(node, args, r)
    except LumpcheckError as e:
        raise type(e)(e.message, path, where) from None
    except MALFORMED as e:
        raise ModelFormatError(malformed(e), path, where) from None
    for name, value in zip(node.output, outputs):
        if name:
            values[name] = value
            if isinstance(value, Stream):
                r.current = name



def _release_constants(node: onnx.NodeProto, values: dict[str, Value], remaining: dict[str, int], output: str) -> None:
    """Forget the constants no later node reads (their numbers live in the chain's layers now: peak memory)."""
    for name in node.input:
        if name in remaining:
            remaining[name] -= 1
            if remaining[name] == 0 and name != output and isinstance(values.get(name), Const):
                del values[name]


def _input_shape(info: onnx.ValueInfoProto, path: str) -> tuple[tuple[int, ...], int]:
    """Concrete shape of the data input and its batch size (axis 0 of a rank >= 2 input; symbolic -> 1)."""
    where = f"input '{info.name}'"
    tensor = info.type.tensor_type
    if not info.type.HasField("tensor_type") or not tensor.HasField("shape") or not tensor.shape.dim:
        raise ModelFormatError("has no tensor shape", path, where)
    if tensor.elem_type not in FLOAT_TYPES:
        kind = TensorProto.DataType.Name(tensor.elem_type)
        raise UnsupportedModelError(f"has element type {kind}, not a float", path, where)
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in tensor.shape.dim]
    batch = 1
    if len(dims) >= 2:
        batch = dims[0] or 1
        dims[0] = batch
    if any(d <= 0 for d in dims):
        shown = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]
        raise ModelFormatError(f"has shape {shown}; lumpcheck needs fixed feature dimensions", path, where)
    return tuple(dims), batch


def _check_declared_shape(info: onnx.ValueInfoProto, shape: tuple[int, ...], path: str) -> None:
    """The output shape we derived must agree with the declared one wherever that is concrete."""
    if not info.type.tensor_type.HasField("shape"):
        return
    declared = [d.dim_value if d.HasField("dim_value") else None for d in info.type.tensor_type.shape.dim]
    if len(declared) != len(shape) or any(d is not None and d != s for d, s in zip(declared, shape)):
        shown = [d if d is not None else "?" for d in declared]
        message = f"declared shape {shown} but the graph computes {list(shape)}"
        raise ModelFormatError(message, path, f"output '{info.name}'")


def _source_dtype(graph: onnx.GraphProto) -> str:
    """'float64' when any float tensor (or the input) is double, else 'float32' (float16 fits in float32)."""
    types = [t.data_type for t in graph.initializer] + [i.type.tensor_type.elem_type for i in graph.input]
    for node in graph.node:
        types += [a.t.data_type for a in node.attribute if a.type == onnx.AttributeProto.TENSOR]
    return "float64" if TensorProto.DOUBLE in types else "float32"
