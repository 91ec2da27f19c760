"""Graph IR → ONNX, keeping input/output names, shapes (symbolic batch dims included) and the opset.

Parameters are written as float32 or float64 tensors. By default a parameter that is not exactly a float of
that type is an error (`rounding="refuse"`); with `rounding="nearest"` it is rounded to nearest (ties to even)
and the `WriteReport` counts the changed values and the largest change, so the caller can certify or
refuse the rounded model. Every IR op has one ONNX spelling per opset range, chosen here.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ...errors import UnsupportedModelError
from ...ir.exact import as_fractions
from ...ir.graph.dag import Graph, Node, fresh_name
from ...ir.graph.ops import (Act, Affine, AveragePool, BatchNorm, Binary, Clip, Concat, Constant, Conv, GlobalPool,
                             Identity, LeftMatMul, MatMul, MaxPool, Op, Pad, Reshape, Softmax, Transpose, Window)  # fmt: skip

DTYPES = {"float32": (np.float32, TensorProto.FLOAT), "float64": (np.float64, TensorProto.DOUBLE)}


class WriteError(UnsupportedModelError):
    """The graph cannot be written as asked (a value not representable, an op not expressible in the opset)."""


@dataclass(frozen=True)
class WriteReport:
    """What writing did to the parameters: how many values were rounded and the largest absolute change."""

    dtype: str
    rounded: int = 0
    max_change: Fraction = Fraction(0)

    @property
    def exact(self) -> bool:
        return self.rounded == 0


def _nearest(q: Fraction, np_type: type) -> float:
    """The float of `np_type` nearest to q (ties: the one float64 rounding picks among the neighbours)."""
    f = np_type(float(q))
    best = f
    for cand in (np.nextafter(f, np_type(-np.inf)), np.nextafter(f, np_type(np.inf))):
        if np.isfinite(cand) and abs(Fraction(float(cand)) - q) < abs(Fraction(float(best)) - q):
            best = cand
    return float(best)


class _Writer:
    def __init__(self, graph: Graph, dtype: str, rounding: str):
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        if rounding not in ("refuse", "nearest"):
            raise ValueError(f"rounding must be 'refuse' or 'nearest', got {rounding!r}")
        self.graph, self.dtype, self.rounding = graph, dtype, rounding
        self.np_type, self.elem = DTYPES[dtype]
        self.opset = graph.meta.opset
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.names: set[str] = set(graph.shapes)
        self.node_names: set[str] = set()
        self.rounded, self.max_change = 0, Fraction(0)
        self.where = ""

    # -- tensors

    def floats(self, arr: np.ndarray, what: str) -> np.ndarray:
        exact = as_fractions(np.asarray(arr)) if np.asarray(arr).dtype == object else None
        if exact is None:
            a = np.asarray(arr, dtype=np.float64)
            out = a.astype(self.np_type)
            bad = out.astype(np.float64) != a
            if not np.any(bad):
                return out
            exact = as_fractions(a)
        out = np.array([_nearest(q, self.np_type) for q in exact.reshape(-1)], dtype=self.np_type).reshape(exact.shape)
        changes = [abs(Fraction(float(o)) - q) for o, q in zip(out.reshape(-1), exact.reshape(-1))]
        n = sum(1 for c in changes if c)
        if n and self.rounding == "refuse":
            raise WriteError(f"{n} value(s) of {what} are not {self.dtype} numbers; write float64, or round with "
                             "rounding='nearest' and certify the change", where=self.where)  # fmt: skip
        self.rounded += n
        self.max_change = max([self.max_change] + changes)
        return out

    def representable(self, exact: np.ndarray) -> bool:
        """Every value of the exact array is a number of the output float type."""
        return all(Fraction(float(self.np_type(float(q)))) == q for q in exact.reshape(-1))

    def init(self, arr: np.ndarray, base: str, integer: bool = False) -> str:
        name = fresh_name(self.names, base)
        value = np.asarray(arr, dtype=np.int64) if integer else self.floats(arr, base)
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def scalar_attr(self, q: Fraction, what: str) -> float:
        f = float(np.float32(float(q)))
        if Fraction(f) != Fraction(q):
            raise WriteError(f"{what} {q} is not a float32 number (ONNX stores this attribute as float32)", where=self.where)
        return f

    def node(self, op_type: str, inputs: list[str], output: str, base: str, **attrs) -> str:
        name = fresh_name(self.node_names, base)
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=name, **attrs))
        return output

    def temp(self, base: str) -> str:
        return fresh_name(self.names, base)


def _window_attrs(w: Window, pool: bool) -> dict:
    attrs = {"kernel_shape": list(w.kernel), "strides": list(w.strides), "pads": list(w.pads)}
    if any(d != 1 for d in w.dilations):
        attrs["dilations"] = list(w.dilations)
    if pool and w.ceil_mode:
        attrs["ceil_mode"] = 1
    return attrs


def _write_act(wr: _Writer, op: Act, x: str, y: str, base: str) -> None:
    a = op.activation
    if a.kind == "identity":
        wr.node("Identity", [x], y, base)
    elif a.kind == "leaky_relu":
        if Fraction(float(np.float32(float(a.alpha)))) == a.alpha:
            wr.node("LeakyRelu", [x], y, base, alpha=float(a.alpha))
        else:  # leaky(x) = max(x, αx) for α <= 1, min(x, αx) for α > 1
            ax = wr.node("Mul", [x, wr.init(np.array(a.alpha, dtype=object), f"{base}/alpha")], wr.temp(f"{base}/ax"), base)
            wr.node("Max" if a.alpha <= 1 else "Min", [x, ax], y, base)
    else:
        wr.node({"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}[a.kind], [x], y, base)


def _write_linear(wr: _Writer, op: Op, node: Node, x: str, y: str, base: str) -> None:
    if isinstance(op, Affine):
        scale = as_fractions(np.asarray(op.scale))
        ones = np.all(scale == 1)
        zeros = np.all(as_fractions(np.asarray(op.shift)) == 0)
        cur = x
        if not ones or (ones and zeros):
            out = y if zeros else wr.temp(f"{base}/scaled")
            if not wr.representable(scale) and np.all(scale != 0) and wr.representable(1 / scale):
                cur = wr.node("Div", [cur, wr.init(1 / scale, f"{base}/divisor")], out, base)  # x·(1/c) = x / c exactly
            else:
                cur = wr.node("Mul", [cur, wr.init(op.scale, f"{base}/scale")], out, base)
        if not zeros:
            wr.node("Add", [cur, wr.init(op.shift, f"{base}/shift")], y, base)
    elif isinstance(op, MatMul):
        xs = wr.graph.shapes[node.inputs[0]]
        w = wr.init(op.weight, f"{base}/weight")
        if op.bias is None:
            wr.node("MatMul", [x, w], y, base)
        elif len(xs) == 2 and op.weight.ndim == 2 and len(op.bias.shape) <= 2:
            wr.node("Gemm", [x, w, wr.init(op.bias, f"{base}/bias")], y, base)
        else:
            t = wr.node("MatMul", [x, w], wr.temp(f"{base}/matmul"), base)
            wr.node("Add", [t, wr.init(op.bias, f"{base}/bias")], y, base)
    elif isinstance(op, LeftMatMul):
        wr.node("MatMul", [wr.init(op.weight, f"{base}/weight"), x], y, base)
    elif isinstance(op, Conv):
        ins = [x, wr.init(op.weight, f"{base}/weight")] + ([wr.init(op.bias, f"{base}/bias")] if op.bias is not None else [])
        wr.node("Conv", ins, y, base, group=op.group, **_window_attrs(op.window, False))
    elif isinstance(op, BatchNorm):
        ins = [x] + [wr.init(getattr(op, k), f"{base}/{k}") for k in ("scale", "bias", "mean", "var")]
        wr.node("BatchNormalization", ins, y, base, epsilon=wr.scalar_attr(op.epsilon, "BatchNorm epsilon"))
    else:
        raise AssertionError(f"not a linear op: {op.kind}")


def _write_shape_op(wr: _Writer, op: Op, node: Node, x: str, y: str, base: str) -> None:
    if isinstance(op, Reshape):
        wr.node("Reshape", [x, wr.init(np.array(op.shape), f"{base}/shape", integer=True)], y, base)
    elif isinstance(op, Transpose):
        wr.node("Transpose", [x], y, base, perm=list(op.perm))
    elif isinstance(op, Concat):
        wr.node("Concat", [x] + list(node.inputs[1:]), y, base, axis=op.axis)
    elif isinstance(op, Pad):
        if wr.opset >= 11:
            value = wr.init(np.array(op.value, dtype=object), f"{base}/value")
            wr.node("Pad", [x, wr.init(np.array(op.pads), f"{base}/pads", integer=True), value], y, base)
        else:
            wr.node("Pad", [x], y, base, pads=list(op.pads), value=wr.scalar_attr(op.value, "Pad value"))
    else:
        raise AssertionError(f"not a shape op: {op.kind}")


def _write_node(wr: _Writer, node: Node) -> None:
    op, y, base = node.op, node.output, node.name or node.output
    x = node.inputs[0] if node.inputs else ""
    wr.where = node.where()
    if isinstance(op, Identity):
        wr.node("Identity", [x], y, base)
    elif isinstance(op, Act):
        _write_act(wr, op, x, y, base)
    elif isinstance(op, (Affine, MatMul, LeftMatMul, Conv, BatchNorm)):
        _write_linear(wr, op, node, x, y, base)
    elif isinstance(op, (Reshape, Transpose, Concat, Pad)):
        _write_shape_op(wr, op, node, x, y, base)
    elif isinstance(op, Clip):
        cur = x
        if op.lower is not None:
            cur = wr.node("Max", [cur, wr.init(op.lower, f"{base}/lower")], y if op.upper is None else wr.temp(f"{base}/lo"), base)
        if op.upper is not None:
            wr.node("Min", [cur, wr.init(op.upper, f"{base}/upper")], y, base)
        if op.lower is None and op.upper is None:
            wr.node("Identity", [x], y, base)
    elif isinstance(op, Softmax):
        rank = len(wr.graph.shapes[x])
        if wr.opset >= 13 and len(op.axes) == 1:
            wr.node("Softmax", [x], y, base, axis=op.axes[0])
        elif wr.opset < 13 and op.axes == tuple(range(op.axes[0], rank)):
            wr.node("Softmax", [x], y, base, axis=op.axes[0])
        else:
            raise WriteError(f"Softmax over axes {list(op.axes)} has no spelling in opset {wr.opset}", where=wr.where)
    elif isinstance(op, MaxPool):
        wr.node("MaxPool", [x], y, base, **_window_attrs(op.window, True))
    elif isinstance(op, AveragePool):
        wr.node("AveragePool", [x], y, base, count_include_pad=int(op.count_include_pad), **_window_attrs(op.window, True))
    elif isinstance(op, GlobalPool):
        wr.node("GlobalAveragePool" if op.mode == "average" else "GlobalMaxPool", [x], y, base)
    elif isinstance(op, Binary):
        wr.node(op.op.capitalize(), list(node.inputs), y, base)
    elif isinstance(op, Constant):
        value = numpy_helper.from_array(wr.floats(op.value, f"{base}/value"), f"{base}/value")
        wr.node("Constant", [], y, base, value=value)
    else:
        raise WriteError(f"no ONNX spelling for op {op.kind}", where=wr.where)


def _value_info(wr: _Writer, name: str, shape: tuple[int, ...]) -> onnx.ValueInfoProto:
    dims = wr.graph.meta.io_dims.get(name)
    if dims is None or len(dims) != len(shape) or any(not isinstance(d, str) and d != s for d, s in zip(dims, shape)):
        dims = shape
    dims = [d if isinstance(d, str) and s == 1 else s for d, s in zip(dims, shape)]
    return helper.make_tensor_value_info(name, wr.elem, dims)


def to_model(graph: Graph, dtype: str = "float32", rounding: str = "refuse") -> tuple[onnx.ModelProto, WriteReport]:
    """The ONNX model of `graph` and what writing its parameters as `dtype` changed."""
    wr = _Writer(graph, dtype, rounding)
    for node in graph.nodes:
        _write_node(wr, node)
    inputs = [_value_info(wr, s.name, s.shape) for s in graph.inputs]
    outputs = [_value_info(wr, o, graph.shapes[o]) for o in graph.outputs]
    g = helper.make_graph(wr.nodes, "lumpcheck", inputs, outputs, wr.inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", wr.opset)], producer_name="lumpcheck")
    model.ir_version = max(7, helper.find_min_ir_version_for([helper.make_opsetid("", wr.opset)]))
    onnx.checker.check_model(model)
    return model, WriteReport(dtype, wr.rounded, wr.max_change)


def write_graph(graph: Graph, path: str | Path, dtype: str = "float32", rounding: str = "refuse") -> WriteReport:
    """Write `graph` as an ONNX file (see `to_model`)."""
    model, report = to_model(graph, dtype, rounding)
    Path(path).write_bytes(model.SerializeToString())
    return report
