"""ONNX <-> exact IR: read dense feed-forward chains exactly; write a Gemm chain with honest rounding.

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

from dataclasses import dataclass, field
from fractions import Fraction
from math import inf, prod
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .. import __version__
from ..atomic import write_bytes_atomic
from ..errors import LumpcheckError, ModelFormatError, UnsupportedModelError
from ..exact import as_fractions, canonical, exact_array
from ..network import IDENTITY, Activation, Layer, Network, Normalization
from ..rounding import FLOAT32_MAX, RoundingReport, nearest_float32, round_network, stored_as_reciprocals, unbounded

SUPPORTED = (
    "lumpcheck reads dense feed-forward chains: Gemm, MatMul, Add/Sub/Mul/Div by constants, "
    "Relu, LeakyRelu, Sigmoid, Tanh, Clip/Max/Min by constants on the raw input, "
    "and Flatten/Reshape/Squeeze/Unsqueeze/Identity/Dropout on batch/singleton dims"
)
_REASONS = {
    "BatchNormalization": "its scale 1/sqrt(var + epsilon) is irrational in general, so it cannot be folded exactly "
    "(fold it into the neighbouring Gemm before export if a rounded model is acceptable)",
    "Softmax": "softmax couples all outputs (it is not an element-wise activation); export the logits instead",
    "LogSoftmax": "log-softmax couples all outputs (it is not an element-wise activation); export the logits instead",
}
_FLOAT_TYPES = {TensorProto.FLOAT16: "float16", TensorProto.FLOAT: "float32", TensorProto.DOUBLE: "float64"}
_READABLE_TYPES = set(_FLOAT_TYPES) | {
    TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64,
    TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64, TensorProto.BOOL,
}  # fmt: skip


@dataclass(frozen=True)
class _Const:
    """A constant tensor as stored (float16/32/64 weights, int64 shapes, bool flags)."""

    value: np.ndarray
    name: str


@dataclass(frozen=True)
class _Stream:
    """The data tensor, known only by its shape (symbolic batch read as its per-sample size, 1)."""

    shape: tuple[int, ...]


_Value = _Const | _Stream


_Map = tuple[np.ndarray, np.ndarray]  # element-wise v -> scale*v + shift, exact


@dataclass
class _Chain:
    """Dense layers read so far, plus the affine maps still waiting for their place.

    `open` is a dense layer (W, b) not yet closed by an activation; `bias_open` says its bias is still to
    come (MatMul, Gemm without C), so constant Adds right after it are that bias. `pending` is the element-wise
    map seen since then (or since the last activation). Where it ends up is decided late: before the first
    layer it becomes the input normalisation (if invertible), after the last one the output normalisation,
    anywhere else it is folded exactly into the neighbouring layer. `clip` is clipping of the raw input
    (per-feature lower and upper bounds, ±inf where there is none).
    """

    width: int
    layers: list[Layer] = field(default_factory=list)
    open: _Map | None = None
    bias_open: bool = False
    pending: _Map | None = None
    clip: tuple[list, list] | None = None
    input_map: _Map | None = None
    output_map: _Map | None = None

    def affine(self, scale: np.ndarray, shift: np.ndarray) -> None:
        """v -> scale*v + shift, element-wise (exact)."""
        if _all_equal(scale, 1) and _all_equal(shift, 0):
            return
        if self.open is not None and self.bias_open and self.pending is None and _all_equal(scale, 1):
            w, b = self.open
            self.open = (w, _affine(b, scale, shift))
            return
        self.bias_open = False
        s, t = self.pending or (np.ones(self.width), np.zeros(self.width))
        self.pending = (canonical(as_fractions(s) * as_fractions(scale)), _affine(t, scale, shift))

    def clamp(self, lower: np.ndarray | None, upper: np.ndarray | None) -> None:
        """Clip to [lower, upper] per feature (None: no bound); only the raw input can be clipped."""
        if self.layers or self.open is not None or self.pending is not None:
            raise UnsupportedModelError(
                "clips data that is not the raw input; lumpcheck reads clipping only as the first step (input clipping)"
            )
        lo, hi = self.clip or ([-inf] * self.width, [inf] * self.width)
        a = [-inf] * self.width if lower is None else list(lower)
        b = [inf] * self.width if upper is None else list(upper)
        # clamp[a,b] after clamp[lo,hi] is clamp[g(lo), g(hi)] with g = clamp[a,b] (monotone, lo <= hi)
        self.clip = (_clamped(lo, a, b), _clamped(hi, a, b))

    def dense(self, weight: np.ndarray, bias: np.ndarray, bias_open: bool) -> None:
        """v -> W v + b: a new layer (a still open one is closed with the identity; matrices are never multiplied)."""
        self._settle()
        if self.open is not None:
            self.layers.append(Layer(*self.open, IDENTITY))
        if self.pending is not None:  # between an activation and this layer: folded into its columns
            s, t = self.pending
            w = as_fractions(weight)
            bias = canonical(as_fractions(bias) + w.dot(as_fractions(t)))
            weight = canonical(w * as_fractions(s)[None, :])
        self.open, self.pending, self.bias_open, self.width = (weight, bias), None, bias_open, weight.shape[0]

    def activate(self, activation: Activation) -> None:
        """Close the pending affine map with `activation` (an identity-weight layer if none is pending)."""
        self._settle()
        if self.open is not None:
            w, b = self.open
        else:
            s, t = self.pending or (np.ones(self.width), np.zeros(self.width))
            w, b = np.diag(s), t
        self.layers.append(Layer(w, b, activation))
        self.open, self.pending, self.bias_open = None, None, False

    def finish(self) -> list[Layer]:
        """All layers (the pending map after the last layer becomes the output map)."""
        if self.layers or self.open is not None:
            self.output_map, self.pending = self.pending, None
        if self.open is not None or not self.layers:
            self.activate(IDENTITY)
        return self.layers

    def _settle(self) -> None:
        """Before a layer: fold the pending map into the open layer's rows, or keep it as input normalisation."""
        if self.pending is None:
            return
        if self.open is not None:
            (w, b), (s, t) = self.open, self.pending
            self.open, self.pending = (canonical(as_fractions(w) * as_fractions(s)[:, None]), _affine(b, s, t)), None
        elif not self.layers and not np.any(self.pending[0] == 0):
            self.input_map, self.pending = self.pending, None

    def normalization(self) -> Normalization | None:
        """The input map, output map and clipping as exact metadata; None when all are the identity.

        x_net = s x + t is (x - mean)/range with range = 1/s, mean = -t/s. Input values are per feature;
        output values are one shared value when they are all equal (as in .nnet), else one per output.
        """
        n_in, n_out = self.layers[0].in_features, self.layers[-1].out_features
        s, t = (as_fractions(v) for v in self.input_map or (np.ones(n_in), np.zeros(n_in)))
        ranges = tuple(1 / Fraction(v) for v in s)
        means = tuple(-Fraction(tv) * r for tv, r in zip(t, ranges))
        out_range, out_mean = (_shared(as_fractions(v)) for v in self.output_map or (np.ones(n_out), np.zeros(n_out)))
        lower, upper = _clip_bounds(self.clip)
        if not lower and set(means) <= {0} and set(ranges) <= {1} and (out_mean, out_range) == ((0,), (1,)):
            return None
        return Normalization(means, ranges, out_mean, out_range, lower, upper)


def _clamped(values: list, lower: list, upper: list) -> list:
    return [min(max(v, a), b) for v, a, b in zip(values, lower, upper)]


def _shared(values: np.ndarray) -> tuple[Fraction, ...]:
    """(v,) when all values equal v, else all of them."""
    first = Fraction(values[0])
    return (first,) if all(v == first for v in values) else tuple(Fraction(v) for v in values)


def _clip_bounds(clip: tuple[list, list] | None) -> tuple[tuple[Fraction, ...], tuple[Fraction, ...]]:
    """Clip bounds as Normalization holds them: () for no clipping, else both sides, a missing bound ±FLOAT32_MAX.

    Bounds at or beyond ±FLOAT32_MAX on their open side mean 'no clipping' (the .nnet convention, see
    rounding.unbounded); ONNX's own default for a missing Clip bound is the float type's extreme value.
    """
    if clip is None or (unbounded(clip[0], upper=False) and unbounded(clip[1], upper=True)):
        return (), ()
    lower = tuple(-FLOAT32_MAX if v == -inf else Fraction(v) for v in clip[0])
    return lower, tuple(FLOAT32_MAX if v == inf else Fraction(v) for v in clip[1])


def _affine(v: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    return canonical(as_fractions(v) * as_fractions(scale) + as_fractions(shift))


def _all_equal(arr: np.ndarray, value: int) -> bool:
    return bool(np.all(arr == value))


@dataclass
class _Reader:
    """State of one read: where we are, the chain, and the batch size of the data (1 unless fixed in the file)."""

    opset: int
    batch: int
    chain: _Chain
    current: str  # name of the latest stream tensor (the only one that may be consumed)
    consumers: dict[str, int]
    graph_outputs: set[str]


_Op = Callable[[onnx.NodeProto, list[_Value | None], _Reader], list[_Value]]


# ---------------------------------------------------------------- reading


def read_onnx(path: str | Path) -> Network:
    """Read a dense feed-forward ONNX model into the exact IR; one-line LumpcheckError on anything else."""
    p = Path(path)
    model = _load(p)
    graph = model.graph
    opset = _default_opset(model, p)
    if not graph.node:
        raise ModelFormatError("empty graph (no nodes)", str(p), "graph")
    values: dict[str, _Value] = {}
    for init in graph.initializer:
        values[init.name] = _tensor_const(init, init.name, str(p), f"initializer '{init.name}'")
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
    values[data_inputs[0].name] = _Stream(shape)
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    r = _Reader(opset, batch, _Chain(prod(shape) // batch), data_inputs[0].name, consumers, {graph.output[0].name})
    for i in _topological_order(graph, set(values), str(p)):
        _run_node(graph.node[i], i, values, r, str(p))
    out = graph.output[0]
    if isinstance(values.get(out.name), _Const):
        raise UnsupportedModelError("is a constant (it does not depend on the input)", str(p), f"output '{out.name}'")
    if out.name != r.current:
        where = f"output '{out.name}'"
        raise UnsupportedModelError("is not the end of the data chain (branching graph?)", str(p), where)
    _check_declared_shape(out, values[out.name].shape, str(p))
    meta = {"dtype": _source_dtype(graph), "opset": opset}
    layers = r.chain.finish()
    return Network(layers, r.chain.normalization(), source=str(p), meta=meta)


def _load(p: Path) -> onnx.ModelProto:
    if not p.is_file():
        raise ModelFormatError("no such file", str(p))
    try:
        return onnx.load(str(p))
    except Exception as e:  # protobuf raises DecodeError, RuntimeWarning-like errors, OSError for external data
        message = f"not a readable ONNX model (truncated or corrupt?): {type(e).__name__}: {e}"
        raise ModelFormatError(message, str(p)) from None


def _default_opset(model: onnx.ModelProto, p: Path) -> int:
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise ModelFormatError("no opset import for the default ONNX domain (truncated or corrupt file?)", str(p))
    return int(versions[0])


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


def _run_node(node: onnx.NodeProto, index: int, values: dict[str, _Value], r: _Reader, path: str) -> None:
    """Check the chain discipline (one stream, consumed once), run the op, store its outputs."""
    where = _node_where(node, index)
    args = [values[name] if name else None for name in node.input]
    streams = [name for name, a in zip(node.input, args) if isinstance(a, _Stream)]
    op = _OPS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    try:
        if op is None:
            reason = _REASONS.get(node.op_type)
            raise UnsupportedModelError(f"unsupported op ({reason})" if reason else f"unsupported op ({SUPPORTED})")
        if len(streams) > 1:
            raise UnsupportedModelError("merges two data paths (branching graphs are not supported)")
        if streams and streams[0] != r.current:
            raise UnsupportedModelError(
                f"reads '{streams[0]}', which another node already consumed (branching graphs are not supported)"
            )
        if not streams and node.op_type not in _CONSTANT_OPS:
            raise UnsupportedModelError(
                "computes on constants only; constant folding is not supported (simplify the model first, e.g. onnxsim)"
            )
        outputs = op(node, args, r)
    except LumpcheckError as e:
        raise type(e)(e.message, path, where) from None
    for name, value in zip(node.output, outputs):
        if name:
            values[name] = value
            if isinstance(value, _Stream):
                r.current = name


# ---------------------------------------------------------------- values and shapes


def _tensor_const(t: onnx.TensorProto, name: str, path: str | None = None, where: str | None = None) -> _Const:
    """Exact constant from a TensorProto; NaN/Inf and exotic element types are errors naming the tensor."""
    if t.data_type not in _READABLE_TYPES:
        kind = TensorProto.DataType.Name(t.data_type) if t.data_type in TensorProto.DataType.values() else t.data_type
        message = f"tensor '{name}' has element type {kind} (lumpcheck reads float16/32/64 weights)"
        raise UnsupportedModelError(message, path, where)
    try:
        arr = numpy_helper.to_array(t)
    except Exception as e:  # malformed raw data, missing external file
        raise ModelFormatError(f"tensor '{name}' cannot be decoded: {e}", path, where) from None
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = "NaN" if np.any(np.isnan(arr)) else "Inf"
        raise ModelFormatError(f"tensor '{name}' contains {bad}; weights must be finite", path, where)
    return _Const(arr, name)


def _input_shape(info: onnx.ValueInfoProto, path: str) -> tuple[tuple[int, ...], int]:
    """Concrete shape of the data input and its batch size (axis 0 of a rank >= 2 input; symbolic -> 1)."""
    where = f"input '{info.name}'"
    tensor = info.type.tensor_type
    if not info.type.HasField("tensor_type") or not tensor.HasField("shape") or not tensor.shape.dim:
        raise ModelFormatError("has no tensor shape", path, where)
    if tensor.elem_type not in _FLOAT_TYPES:
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


def _numbers(c: _Const) -> np.ndarray:
    """Exact numeric array of a constant (float64 or Fractions)."""
    if c.value.dtype.kind not in "fiu":
        raise ModelFormatError(f"tensor '{c.name}' of type {c.value.dtype} used as numbers")
    return exact_array(c.value)


def _ints(c: _Const) -> list[int]:
    if c.value.dtype.kind not in "iu":
        raise ModelFormatError(f"tensor '{c.name}' must hold integers")
    return [int(v) for v in c.value.reshape(-1)]


def _per_sample(c: _Const, shape: tuple[int, ...], batch: int) -> np.ndarray:
    """Constant broadcast onto the data shape, as one exact value per feature (same for every sample)."""
    arr = _numbers(c)
    try:
        full = np.broadcast_shapes(arr.shape, shape)
    except ValueError:
        full = None
    if full != shape:
        message = f"constant '{c.name}' of shape {list(arr.shape)} does not fit data of shape {list(shape)}"
        raise ModelFormatError(message)
    b = np.broadcast_to(arr, shape)
    if batch > 1:
        if not np.all(b == b[:1]):
            raise UnsupportedModelError(f"constant '{c.name}' differs across the batch dimension (size {batch})")
        b = b[0]
    return np.array(b.reshape(-1))


def _split(args: list[_Value | None], positions: int = 2) -> tuple[_Stream, int]:
    """The stream argument and its position, which must be one of the first `positions`."""
    for i, a in enumerate(args):
        if isinstance(a, _Stream):
            if i >= positions:
                raise UnsupportedModelError(f"the data is input {i} (only inputs 0..{positions - 1} may be data)")
            return a, i
    raise AssertionError("op run without a data input")


def _arg(args: list[_Value | None], i: int) -> _Value:
    """Input i, which must be present."""
    if i >= len(args) or args[i] is None:
        raise ModelFormatError(f"input {i} is missing")
    return args[i]  # type: ignore[return-value]


def _const(args: list[_Value | None], i: int) -> _Const:
    """Input i, which must be a constant."""
    c = _arg(args, i)
    if not isinstance(c, _Const):
        raise UnsupportedModelError(f"input {i} must be a constant")
    return c


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _reshaped(x: _Value, shape: tuple[int, ...], r: _Reader) -> _Value:
    """A reshape of a constant, or of the stream when it keeps the batch axis (any reshape keeps C order)."""
    if prod(shape) != prod(x.value.shape if isinstance(x, _Const) else x.shape):
        raise ModelFormatError(f"cannot reshape {_shape_of(x)} to {list(shape)}")
    if isinstance(x, _Const):
        return _Const(x.value.reshape(shape), x.name)
    if r.batch > 1 and (not shape or shape[0] != r.batch):
        raise UnsupportedModelError(f"reshapes the batch dimension (size {r.batch}): {list(x.shape)} -> {list(shape)}")
    return _Stream(shape)


def _shape_of(x: _Value) -> list[int]:
    return list(x.value.shape if isinstance(x, _Const) else x.shape)


# ---------------------------------------------------------------- ops


def _constant(node: onnx.NodeProto, args: list[_Value | None], r: _Reader) -> list[_Value]:
    name = node.output[0]
    for a in node.attribute:
        if a.name == "value":
            return [_tensor_const(a.t, name)]
        if a.name in ("value_float", "value_floats"):
            return [_Const(np.array(helper.get_attribute_value(a), dtype=np.float32), name)]
        if a.name in ("value_int", "value_ints"):
            return [_Const(np.array(helper.get_attribute_value(a), dtype=np.int64), name)]
    raise UnsupportedModelError("only dense numeric constants are supported")


def _gemm(node: onnx.NodeProto, args: list[_Value | None], r: _Reader) -> list[_Value]:
    """Y = alpha * A' B' + beta * C (A' = A or A^T, B' = B or B^T); the data is A or B, the other a constant."""
    at = _attrs(node)
    alpha, beta = Fraction(at.get("alpha", 1.0)), Fraction(at.get("beta", 1.0))
    trans_a, trans_b = at.get("transA", 0), at.get("transB", 0)
    x, pos = _split(args)
    if len(x.shape) != 2:
        raise ModelFormatError(f"Gemm needs a 2-D input, got shape {list(x.shape)}")
    w_const = _const(args, 1 - pos)
    w = _matrix(w_const)
    rows, cols = x.shape
    if pos == 0:  # y = x A' ... with the sample as the single row of A'
        if trans_a:
            if cols != 1 or r.batch != 1:
                raise UnsupportedModelError(f"transA=1 on data of shape {list(x.shape)} mixes samples")
            k, out_rows = rows, 1
        else:
            if rows != r.batch:
                raise UnsupportedModelError(f"data of shape {list(x.shape)} is not one row per sample")
            k, out_rows = cols, rows
        mat = w.T if trans_b else w  # (K, N)
        weight, out_shape = mat.T, (out_rows, mat.shape[1])
    else:  # y = A' x with the sample as the single column of B'
        if r.batch != 1 or (rows if trans_b else cols) != 1:
            raise UnsupportedModelError(f"data of shape {list(x.shape)} (transB={trans_b}) is not a single column")
        k = cols if trans_b else rows
        weight = w.T if trans_a else w  # (M, K)
        out_shape = (weight.shape[0], 1)
    if weight.shape[1] != k:
        raise ModelFormatError(f"data has {k} features but the weight '{w_const.name}' expects {weight.shape[1]}")
    has_c = len(args) > 2 and args[2] is not None
    bias = _per_sample(_const(args, 2), out_shape, r.batch) if has_c else np.zeros(weight.shape[0])
    r.chain.dense(_scaled(weight, alpha), _scaled(bias, beta), bias_open=not has_c)
    return [_Stream(out_shape)]


def _matmul(node: onnx.NodeProto, args: list[_Value | None], r: _Reader) -> list[_Value]:
    """x W (x a row per sample, any leading singleton dims) or W x (x a 1-D vector or a single column)."""
    x, pos = _split(args)
    w_const = _const(args, 1 - pos)
    w = _matrix(w_const)
    shape = x.shape
    if pos == 0:
        if prod(shape[:-1]) != r.batch:
            raise UnsupportedModelError(f"MatMul on data of shape {list(shape)} acts on several rows per sample")
        weight, out_shape = w.T, shape[:-1] + (w.shape[1],)
        k = shape[-1]
    else:
        if r.batch != 1 or (len(shape) >= 2 and (shape[-1] != 1 or prod(shape[:-2]) != 1)):
            raise UnsupportedModelError(f"MatMul(W, x) on data of shape {list(shape)} is not a single column")
        weight = w
        k = shape[0] if len(shape) == 1 else shape[-2]
        out_shape = (w.shape[0],) if len(shape) == 1 else shape[:-2] + (w.shape[0], 1)
    if weight.shape[1] != k:
        raise ModelFormatError(f"data has {k} features but the weight '{w_const.name}' expects {weight.shape[1]}")
    r.chain.dense(weight, np.zeros(weight.shape[0]), bias_open=True)
    return [_Stream(out_shape)]


def _matrix(c: _Const) -> np.ndarray:
    if c.value.ndim != 2:
        raise UnsupportedModelError(f"the weight '{c.name}' must be a matrix, got shape {list(c.value.shape)}")
    return _numbers(c)


def _scaled(arr: np.ndarray, factor: Fraction) -> np.ndarray:
    return arr if factor == 1 else canonical(as_fractions(arr) * factor)


def _elementwise(kind: str) -> _Op:
    """Add/Sub/Mul/Div of the data and a constant: an exact element-wise affine map."""

    def op(node: onnx.NodeProto, args: list[_Value | None], r: _Reader) -> list[_Value]:
        x, pos = _split(args)
        other = _const(args, 1 - pos)
        c = _per_sample(other, x.shape, r.batch)
        ones, zeros = np.ones(c.shape), np.zeros(c.shape)
        if kind == "Add":
            scale, shift = ones, c
        elif kind == "Mul":
            scale, shift = c, zeros
        elif kind == "Sub":
            scale, shift = (ones, -as_fractions(c)) if pos == 0 else (-ones, c)
        elif pos == 1:
            raise UnsupportedModelError("divides by the data (not an affine map)")
        elif np.any(c == 0):
            raise ModelFormatError(f"divides by zero (constant '{other.name}')")
        else:
            scale, shift = np.array([1 / Fraction(v) for v in as_fractions(c)], dtype=object), zeros
        r.chain.affine(scale, shift)
        return [x]

    return op


def _clip(node: onnx.NodeProto, args: list[_Value | None], r: _Reader) -> list[_Value]:
    """Clip(x, min, max) of the raw input (either bound may be absent): input clipping."""
    x, _ = _split(args, 1)
    if r.opset < 11:
        at = _attrs(node)
        bounds = [None if at.get(k) is None else np.full(r.chain.width, Fraction(at[k])) for k in ("min", "max")]
    else:
        present = [i < len(args) and args[i] is not None for i in (1, 2)]
        bounds = [as_fractions(_per_sample(_const(args, i), x.shape, r.batch)) if ok else None
                  for i, ok in zip((1, 2), present)]
    r.chain.clamp(*bounds)
    return [x]


def _extremum(kind: str) -> _Op:
    """Max/Min of the raw input and a constant: one side of input clipping."""

    def op(node: onnx.NodeProto, args: list[_Value | None], r: _Reader) -> list[_Value]:
        if len(args) != 2:
            raise UnsupportedModelError(f"{kind} of {len(args)} inputs (lumpcheck reads {kind}(data, constant))")
        x, pos = _split(args)
        bound = as_fractions(_per_sample(_const(args, 1 - pos), x.shape, r.batch))
        r.chain.clamp(*((bound, None) if kind == "Max" else (None, bound)))
        return [x]

    return op


def _activation(kind: str) -> _Op:
    def op(node: onnx.NodeProto, args: list[_Value | None], r: _Reader) -> list[_Value]:
        # LeakyRelu's alpha attribute is a float32; its exact value is the rational it stores.
        alpha = Fraction(_attrs(node).get("alpha", float(np.float32(0.01)))) if kind == "leaky_relu" else Fraction(0)
        r.chain.activate(Activation(kind, alpha))
        return [_arg(args, 0)]

    return op


def _identity(node: onnx.NodeProto, args: list[_Value | None], r: _Reader) -> list[_Value]:
    return [_arg(args, 0)]


def _dropout(node: onnx.NodeProto, args: list[_Value | None], r: _Reader) -> list[_Value]:
    """Inference-mode Dropout is the identity; training mode is random, and its mask must not be used."""
    training = False
    if r.opset < 7:
        training = not _attrs(node).get("is_test", 0)
    elif len(args) > 2 and args[2] is not None:
        training = bool(_const(args, 2).value.reshape(-1)[0])
    if training:
        raise UnsupportedModelError("Dropout in training mode is random")
    mask = node.output[1] if len(node.output) > 1 else ""
    if mask and (r.consumers.get(mask) or mask in r.graph_outputs):
        raise UnsupportedModelError("the Dropout mask output is used")
    return [_arg(args, 0)]


def _flatten(node: onnx.NodeProto, args: list[_Value | None], r: _Reader) -> list[_Value]:
    x = _arg(args, 0)
    shape = _shape_of(x)
    axis = _attrs(node).get("axis", 1)
    if not -len(shape) <= axis <= len(shape):
        raise ModelFormatError(f"axis {axis} out of range for shape {shape}")
    axis += len(shape) if axis < 0 else 0
    return [_reshaped(x, (prod(shape[:axis]), prod(shape[axis:])), r)]


def _reshape(node: onnx.NodeProto, args: list[_Value | None], r: _Reader) -> list[_Value]:
    x = _arg(args, 0)
    shape = _shape_of(x)
    target = _attrs(node).get("shape") if r.opset < 5 else _ints(_const(args, 1))
    allow_zero = _attrs(node).get("allowzero", 0)
    out = [shape[i] if d == 0 and not allow_zero and i < len(shape) else d for i, d in enumerate(target)]
    if out.count(-1) > 1 or any(d < -1 for d in out):
        raise ModelFormatError(f"invalid target shape {list(target)}")
    if -1 in out:
        known = prod(d for d in out if d != -1)
        if known == 0 or prod(shape) % known:
            raise ModelFormatError(f"cannot reshape {shape} to {list(target)}")
        out[out.index(-1)] = prod(shape) // known
    return [_reshaped(x, tuple(out), r)]


def _axes(node: onnx.NodeProto, args: list[_Value | None], r: _Reader) -> list[int] | None:
    if r.opset < 13:
        return _attrs(node).get("axes")
    return _ints(_const(args, 1)) if len(args) > 1 and args[1] is not None else None


def _squeeze(node: onnx.NodeProto, args: list[_Value | None], r: _Reader) -> list[_Value]:
    x = _arg(args, 0)
    shape = _shape_of(x)
    axes = _axes(node, args, r)
    if axes is not None and any(not -len(shape) <= a < len(shape) for a in axes):
        raise ModelFormatError(f"axes {axes} out of range for shape {shape}")
    drop = {i for i, d in enumerate(shape) if d == 1} if axes is None else {a % len(shape) for a in axes}
    if any(shape[a] != 1 for a in drop):
        raise ModelFormatError(f"cannot squeeze axes {sorted(drop)} of shape {shape}")
    return [_reshaped(x, tuple(d for i, d in enumerate(shape) if i not in drop), r)]


def _unsqueeze(node: onnx.NodeProto, args: list[_Value | None], r: _Reader) -> list[_Value]:
    x = _arg(args, 0)
    shape = _shape_of(x)
    axes = _axes(node, args, r)
    rank = len(shape) + len(axes or [])
    new = sorted(a % rank for a in axes or [])
    if not new or len(set(new)) != len(new) or any(not -rank <= a < rank for a in axes or []):
        raise ModelFormatError(f"invalid axes {axes} for shape {shape}")
    out = list(shape)
    for a in new:
        out.insert(a, 1)
    return [_reshaped(x, tuple(out), r)]


_OPS: dict[str, _Op] = {
    "Constant": _constant,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Add": _elementwise("Add"),
    "Sub": _elementwise("Sub"),
    "Mul": _elementwise("Mul"),
    "Div": _elementwise("Div"),
    "Clip": _clip,
    "Max": _extremum("Max"),
    "Min": _extremum("Min"),
    "Relu": _activation("relu"),
    "LeakyRelu": _activation("leaky_relu"),
    "Sigmoid": _activation("sigmoid"),
    "Tanh": _activation("tanh"),
    "Identity": _identity,
    "Dropout": _dropout,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
}
_CONSTANT_OPS = {"Constant", "Identity", "Dropout", "Flatten", "Reshape", "Squeeze", "Unsqueeze"}  # fine on constants


# ---------------------------------------------------------------- writing

_WRITE_TYPES = {"float32": (TensorProto.FLOAT, np.float32), "float64": (TensorProto.DOUBLE, np.float64)}
_ACTIVATION_OPS = {"relu": "Relu", "leaky_relu": "LeakyRelu", "sigmoid": "Sigmoid", "tanh": "Tanh"}


def write_onnx(net: Network, path: str | Path, dtype: str = "float32", opset: int = 17) -> RoundingReport:
    """Write `net` as a Gemm(transB=1)+activation chain ('input' [batch, n] -> 'output'), atomically.

    Normalisation metadata is written around the chain: Max/Min (input clipping), Sub(mean), Div(range) (or
    Mul(1/range) when only that is exact) before it, Mul(range), Add(mean) after it; identity parts are left
    out. Weights and constants are rounded to `dtype` to nearest; the returned report says exactly what changed.
    """
    if dtype not in _WRITE_TYPES:
        raise ValueError(f"dtype must be one of {', '.join(_WRITE_TYPES)}, got {dtype!r}")
    if not 7 <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(f"opset must be between 7 and {onnx.defs.onnx_opset_version()}, got {opset}")
    if net.normalization is not None:
        _check_normalization(net.normalization, net.input_size, net.output_size)
    rounded, report = round_network(net, dtype)
    model = _gemm_chain(rounded, dtype, opset)
    onnx.checker.check_model(model, full_check=True)
    write_bytes_atomic(path, model.SerializeToString())
    return report


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

    def op(self, op_type: str, name: str, *constants: tuple[str, object], **attrs: object) -> None:
        """Append op_type(x, constants...) as node `name` with output `name`."""
        for cname, value in constants:
            self.inits.append(numpy_helper.from_array(_floats(value, self.np_type), cname))
        inputs = [self.x, *(cname for cname, _ in constants)]
        self.nodes.append(helper.make_node(op_type, inputs, [name], name, **attrs))
        self.x = name


def _floats(values: object, np_type: type) -> np.ndarray:
    """The (already rounded, so exactly representable) values as a `np_type` array."""
    arr = np.asarray(values)
    return (np.vectorize(float, otypes=[np.float64])(arr) if arr.dtype == object else arr).astype(np_type)


def _gemm_chain(net: Network, dtype: str, opset: int) -> onnx.ModelProto:
    """The ONNX model of an already rounded network (every value is a `dtype` value)."""
    elem, np_type = _WRITE_TYPES[dtype]
    g, norm = _Graph(np_type), net.normalization
    if norm is not None:
        _input_normalization(g, norm, dtype, opset)
    for i, layer in enumerate(net.layers):
        g.op("Gemm", f"layer{i}.z", (f"layer{i}.weight", layer.weight), (f"layer{i}.bias", layer.bias), transB=1)
        kind = layer.activation.kind
        if kind != "identity":
            attrs = {"alpha": _float32_attr(layer.activation.alpha, i)} if kind == "leaky_relu" else {}
            g.op(_ACTIVATION_OPS[kind], f"layer{i}.{kind}", **attrs)
    if norm is not None and any(v != 1 for v in norm.output_range):
        g.op("Mul", "output.scale", ("output.range", norm.output_range))
    if norm is not None and any(v != 0 for v in norm.output_mean):
        g.op("Add", "output.shift", ("output.mean", norm.output_mean))
    g.nodes[-1].output[0] = "output"
    graph = helper.make_graph(
        g.nodes,
        "lumpcheck",
        [helper.make_tensor_value_info("input", elem, ["batch", net.input_size])],
        [helper.make_tensor_value_info("output", elem, ["batch", net.output_size])],
        g.inits,
    )
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))
    model.producer_name, model.producer_version = "lumpcheck", __version__
    return model


def _input_normalization(g: _Graph, norm: Normalization, dtype: str, opset: int) -> None:
    """Clip (Max, Min), Sub(mean), then Div(range) or Mul(1/range) (see rounding.stored_as_reciprocals)."""
    lower = None if unbounded(norm.input_min, upper=False) else norm.input_min
    upper = None if unbounded(norm.input_max, upper=True) else norm.input_max
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
