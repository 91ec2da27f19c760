"""Write the exact IR as an ONNX Gemm chain, every value rounded to the target float type with a report."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ... import __version__
from ...ir.network import Network
from ...ir.normalization import Normalization
from ...ir.rounding import RoundingReport, nearest_float32, round_network, stored_as_reciprocals, unbounded
from ..atomic import write_chunks_atomic
from .lean import chunks, with_raw_data
from .signature import FLOAT_WIDTH, OnnxSignature, describe

_WRITE_TYPES = {"float32": (TensorProto.FLOAT, np.float32), "float64": (TensorProto.DOUBLE, np.float64)}
_ACTIVATION_OPS = {"relu": "Relu", "leaky_relu": "LeakyRelu", "sigmoid": "Sigmoid", "tanh": "Tanh"}


def write_onnx(net: Network, path: str | Path, dtype: str = "float32", opset: int | None = None,
               signature: OnnxSignature | None = None, metadata: dict[str, str] | None = None) -> RoundingReport:
    """Write `net` as a Gemm(transB=1)+activation chain, atomically.

    `signature` (the source model's, see signature.py) is the interface to keep: input/output names, declared
    shapes (batch dimension included; a Flatten/Reshape adapts them to the chain's [batch, n]), the input's element
    type when it is no wider than `dtype` (a Cast widens it, which is exact; a wider input would have to be
    rounded, so it becomes `dtype`), and its opset (`opset` overrides it; raised to what the graph needs). The
    output's element type is `dtype` (a narrowing Cast would round the outputs). Without a signature: 'input'
    [batch, n] -> 'output' [batch, m], opset 17. `metadata` goes into the model's metadata_props.

    Normalisation metadata is written around the chain: Max/Min (input clipping), Sub(mean), Div(range) (or
    Mul(1/range) when only that is exact) before it, Mul(range), Add(mean) after it; identity parts are left
    out. Weights and constants are rounded to `dtype` to nearest; the returned report says exactly what changed.
    """
    if dtype not in _WRITE_TYPES:
        raise ValueError(f"dtype must be one of {', '.join(_WRITE_TYPES)}, got {dtype!r}")
    if net.normalization is not None:
        _check_normalization(net.normalization, net.input_size, net.output_size)
    sig = written_signature(net, dtype, opset, signature)
    rounded, report = round_network(net, dtype)
    model, arrays = _gemm_chain(rounded, dtype, sig)
    del rounded
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    _check(model, arrays)
    skeleton = model.SerializeToString()
    del model
    # the weights' bytes straight from their arrays (a float32 one written as float64: widened block by block)
    write_chunks_atomic(path, chunks(with_raw_data(skeleton, arrays, np.dtype(_WRITE_TYPES[dtype][1]))))
    return report


def _check(model: onnx.ModelProto, arrays: dict[int, np.ndarray]) -> None:
    """onnx's full check (shape inference included) of the model as written, with the initializers whose data is
    held out (`arrays`) declared as graph inputs of their element type and shape: the checker sees every node, type
    and shape, and no copy of the weights. Their bytes are the arrays' own (lean.with_raw_data), sized by the dims."""
    check = onnx.ModelProto()
    check.CopyFrom(model)
    for i in sorted(arrays, reverse=True):
        t = check.graph.initializer[i]
        check.graph.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        del check.graph.initializer[i]
    onnx.checker.check_model(check.SerializeToString(), full_check=True)


def written_signature(net: Network, dtype: str, opset: int | None = None,
                      signature: OnnxSignature | None = None) -> OnnxSignature:
    """The interface `write_onnx` gives `net` written in `dtype` (see there); ValueError for a bad opset or a
    signature whose sizes do not fit the network."""
    elem = _WRITE_TYPES[dtype][0]
    sig = signature or OnnxSignature.default(net.input_size, net.output_size, elem)
    if not sig.fits(net.input_size, net.output_size):
        raise ValueError(f"the interface {describe(sig)} does not fit a network with {net.input_size} inputs and "
                         f"{net.output_size} outputs")
    clips = net.normalization is not None and net.normalization.has_clip
    if opset is not None and clips and opset < 8:
        raise ValueError("input clipping needs opset >= 8 (Max/Min with broadcasting)")
    chosen = max(opset or sig.opset, 8 if clips else 7)  # Max/Min broadcast from opset 8; Gemm with C from 7
    if not 7 <= chosen <= onnx.defs.onnx_opset_version():
        raise ValueError(f"opset must be between 7 and {onnx.defs.onnx_opset_version()}, got {chosen}")
    input_type = sig.input_type if FLOAT_WIDTH[sig.input_type] <= FLOAT_WIDTH[elem] else elem
    return replace(sig, input_type=input_type, output_type=elem, opset=chosen)


def _check_normalization(norm: Normalization, n_in: int, n_out: int) -> None:
    """Sizes the graph can broadcast, and ranges it can divide by (ValueError otherwise)."""
    if len(norm.input_mean) != n_in or len(norm.input_range) != n_in:
        raise ValueError(f"normalisation has {len(norm.input_mean)} input means and {len(norm.input_range)} "
                         f"input ranges for {n_in} inputs")
    if len(norm.output_mean) not in (1, n_out) or len(norm.output_range) not in (1, n_out):
        raise ValueError(f"normalisation output mean/range must have 1 or {n_out} entries")
    if len(norm.input_min) != len(norm.input_max) or len(norm.input_min) not in (0, n_in):
        raise ValueError(f"normalisation input minimums/maximums must both have 0 or {n_in} entries")
    if 0 in norm.input_range:
        raise ValueError("normalisation input range 0 (division by zero)")


@dataclass
class _Graph:
    """Nodes and initializers of a chain being written; `x` names the latest data tensor."""

    np_type: type
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    x: str = "input"
    arrays: dict[int, np.ndarray] = field(default_factory=dict)  # initializer index -> its data, held out

    def op(self, op_type: str, name: str, *constants: tuple[str, object], **attrs: object) -> None:
        """Append op_type(x, constants...) as node `name` with output `name` (the constants' data held out)."""
        for cname, value in constants:
            arr = _floats(value, self.np_type)
            self.arrays[len(self.inits)] = arr
            held = onnx.TensorProto(name=cname, data_type=helper.np_dtype_to_tensor_dtype(np.dtype(self.np_type)))
            held.dims.extend(arr.shape)
            self.inits.append(held)
        inputs = [self.x, *(cname for cname, _ in constants)]
        self.nodes.append(helper.make_node(op_type, inputs, [name], name, **attrs))
        self.x = name

    def reshape(self, name: str, shape: list[int]) -> None:
        """Append Reshape(x, shape) as node `name` (the shape an int64 initializer `name`.shape)."""
        self.inits.append(numpy_helper.from_array(np.array(shape, dtype=np.int64), f"{name}.shape"))
        self.nodes.append(helper.make_node("Reshape", [self.x, f"{name}.shape"], [name], name))
        self.x = name


def _floats(values: object, np_type: type) -> np.ndarray:
    """The (already rounded, so exactly representable) values as a float array of `np_type` or narrower: a float32
    array stays as it is for float64 (the writer widens it block by block, lean.Widened), and is not copied."""
    arr = np.asarray(values)
    if arr.dtype == np.float32:
        return arr
    return (np.vectorize(float, otypes=[np.float64])(arr) if arr.dtype == object else arr).astype(np_type, copy=False)


def _gemm_chain(net: Network, dtype: str, sig: OnnxSignature) -> tuple[onnx.ModelProto, dict[int, np.ndarray]]:
    """The ONNX model of an already rounded network (every value is a `dtype` value) with the interface `sig`, its
    weights held out: the model's initializers at the returned indices have dims and type, their data is the array."""
    elem, np_type = _WRITE_TYPES[dtype]
    g, norm = _Graph(np_type, x=sig.input_name), net.normalization
    if sig.input_type != elem:
        g.op("Cast", "input.cast", to=elem)  # a wider float type: exact
    if len(sig.input_dims) == 1:
        g.reshape("input.flatten", [1, net.input_size])
    elif len(sig.input_dims) > 2:
        g.op("Flatten", "input.flatten", axis=1)
    if norm is not None:
        _input_normalization(g, norm, dtype, sig.opset)
    for i, layer in enumerate(net.layers):
        g.op("Gemm", f"layer{i}.z", (f"layer{i}.weight", layer.stored_weight), (f"layer{i}.bias", layer.stored_bias),
             transB=1)  # as stored: a float32 layer is never widened to float64 here (peak memory)
        kind = layer.activation.kind
        if kind != "identity":
            attrs = {"alpha": _float32_attr(layer.activation.alpha, i)} if kind == "leaky_relu" else {}
            g.op(_ACTIVATION_OPS[kind], f"layer{i}.{kind}", **attrs)
    if norm is not None and any(v != 1 for v in norm.output_range):
        g.op("Mul", "output.scale", ("output.range", norm.output_range))
    if norm is not None and any(v != 0 for v in norm.output_mean):
        g.op("Add", "output.shift", ("output.mean", norm.output_mean))
    if len(sig.output_dims) != 2:
        dims = sig.output_dims
        g.reshape("output.reshape", [-1, *dims[1:]] if len(dims) > 2 else list(dims))  # type: ignore[list-item]
    g.nodes[-1].output[0] = sig.output_name
    graph = helper.make_graph(
        g.nodes,
        "lumpcheck",
        [helper.make_tensor_value_info(sig.input_name, sig.input_type, list(sig.input_dims))],
        [helper.make_tensor_value_info(sig.output_name, sig.output_type, list(sig.output_dims))],
    )
    opsets = [helper.make_opsetid("", sig.opset)]
    # IR version 4 on: initializers need not be graph inputs (the form written here)
    model = helper.make_model(graph, opset_imports=opsets, ir_version=max(4, helper.find_min_ir_version_for(opsets)))
    model.producer_name, model.producer_version = "lumpcheck", __version__
    model.graph.initializer.extend(g.inits)
    return model, g.arrays


def _input_normalization(g: _Graph, norm: Normalization, dtype: str, opset: int) -> None:
    """Clip (Max, Min), Sub(mean), then Div(range) or Mul(1/range) (see rounding.stored_as_reciprocals)."""
    held = norm.clip_held(Fraction(float(np.finfo(np.dtype(g.np_type)).max)))  # sides without a bound, among others
    lower = None if unbounded(norm.input_min, upper=False) else held[0]
    upper = None if unbounded(norm.input_max, upper=True) else held[1]
    if (lower or upper) and opset < 8:
        raise ValueError("input clipping needs opset >= 8 (Max/Min with broadcasting)")
    if lower:
        g.op("Max", "input.clip_min", ("input.min", lower))
    if upper:
        g.op("Min", "input.clip_max", ("input.max", upper))
    if any(v != 0 for v in norm.input_mean):
        g.op("Sub", "input.shift", ("input.mean", norm.input_mean))
    if stored_as_reciprocals(norm.input_range, dtype):
        g.op("Mul", "input.scale", ("input.inverse_range", [1 / v for v in norm.input_range]))
    elif any(v != 1 for v in norm.input_range):
        g.op("Div", "input.scale", ("input.range", norm.input_range))


def _float32_attr(alpha: Fraction, layer: int) -> float:
    """ONNX stores LeakyRelu's alpha as float32: refuse a slope that would change."""
    if Fraction(nearest_float32(alpha)) != alpha:
        raise ValueError(f"layer {layer}: LeakyReLU slope {alpha} is not a float32 value (ONNX stores it as float32)")
    return float(alpha)
