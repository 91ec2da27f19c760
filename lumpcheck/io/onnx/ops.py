"""The ONNX op table: one small function per op, each extending the dense chain (chain.py) or computing a constant.

Every tensor is a `Const` (exact numbers as stored) or *the* data `Stream`, known only by its shape; the stream
carries no numbers. Shapes are per sample: axis 0 of a rank >= 2 input is the batch axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import inf, isfinite, prod
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ...errors import ModelFormatError, UnsupportedModelError
from ...ir.activation import Activation
from ...ir.exact import as_fractions, canonical, exact_array
from .chain import Chain
from .signature import FLOAT_WIDTH

SUPPORTED = (
    "lumpcheck reads dense feed-forward chains: Gemm, MatMul, Add/Sub/Mul/Div by constants, "
    "Relu, LeakyRelu, Sigmoid, Tanh, Clip/Max/Min by constants on the raw input, "
    "Flatten/Reshape/Squeeze/Unsqueeze/Identity/Dropout on batch/singleton dims, "
    "Cast of the raw input to a wider float type, and Constant"
)
REASONS = {
    "BatchNormalization": "its scale 1/sqrt(var + epsilon) is irrational in general, so it cannot be folded exactly "
    "(fold it into the neighbouring Gemm before export if a rounded model is acceptable)",
    "Softmax": "softmax couples all outputs (it is not an element-wise activation); export the logits instead",
    "LogSoftmax": "log-softmax couples all outputs (it is not an element-wise activation); export the logits instead",
}
FLOAT_TYPES = {TensorProto.FLOAT16: "float16", TensorProto.FLOAT: "float32", TensorProto.DOUBLE: "float64"}
_READABLE_TYPES = set(FLOAT_TYPES) | {
    TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64,
    TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64, TensorProto.BOOL,
}  # fmt: skip


@dataclass(frozen=True)
class Const:
    """A constant tensor as stored (float16/32/64 weights, int64 shapes, bool flags)."""

    value: np.ndarray
    name: str


@dataclass(frozen=True)
class Stream:
    """The data tensor, known only by its shape (symbolic batch read as its per-sample size, 1)."""

    shape: tuple[int, ...]


Value = Const | Stream



@dataclass
class Reader:
    """State of one read: where we are, the chain, and the batch size of the data (1 unless fixed in the file)."""

    opset: int
    batch: int
    chain: Chain
    current: str  # name of the latest stream tensor (the only one that may be consumed)
    consumers: dict[str, int]
    graph_outputs: set[str]
    input_name: str = ""  # the graph's data input (the raw input, before any op)
    input_type: int = TensorProto.FLOAT


Op = Callable[[onnx.NodeProto, list[Value | None], Reader], list[Value]]



# ---------------------------------------------------------------- values and shapes


def tensor_const(t: onnx.TensorProto, name: str, path: str | None = None, where: str | None = None,
                 array: np.ndarray | None = None) -> Const:
    """Exact constant from a TensorProto (or its `array`, already read from the file by lean.py); NaN/Inf and exotic
    element types are errors naming the tensor."""
    if t.data_type not in _READABLE_TYPES:
        kind = TensorProto.DataType.Name(t.data_type) if t.data_type in TensorProto.DataType.values() else t.data_type
        message = f"tensor '{name}' has element type {kind} (lumpcheck reads float16/32/64 weights)"
        raise UnsupportedModelError(message, path, where)
    try:
        arr = numpy_helper.to_array(t) if array is None else array
    except Exception as e:  # malformed raw data, missing external file
        raise ModelFormatError(f"tensor '{name}' cannot be decoded: {e}", path, where) from None
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = "NaN" if np.any(np.isnan(arr)) else "Inf"
        raise ModelFormatError(f"tensor '{name}' contains {bad}; weights must be finite", path, where)
    return Const(arr, name)


def _numbers(c: Const) -> np.ndarray:
    """Exact numeric array of a constant: float32 as stored (every float32 is exact; tensor_const checked that it is
    finite), else float64 or Fractions."""
    if c.value.dtype.kind not in "fiu":
        raise ModelFormatError(f"tensor '{c.name}' of type {c.value.dtype} used as numbers")
    return c.value if c.value.dtype == np.float32 else exact_array(c.value)


def int_list(c: Const) -> list[int]:
    if c.value.dtype.kind not in "iu":
        raise ModelFormatError(f"tensor '{c.name}' must hold integers")
    return [int(v) for v in c.value.reshape(-1)]


def _per_sample(c: Const, shape: tuple[int, ...], batch: int) -> np.ndarray:
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


def _split(args: list[Value | None], positions: int = 2) -> tuple[Stream, int]:
    """The stream argument and its position, which must be one of the first `positions`."""
    for i, a in enumerate(args):
        if isinstance(a, Stream):
            if i >= positions:
                raise UnsupportedModelError(f"the data is input {i} (only inputs 0..{positions - 1} may be data)")
            return a, i
    raise AssertionError("op run without a data input")


def _arg(args: list[Value | None], i: int) -> Value:
    """Input i, which must be present."""
    if i >= len(args) or args[i] is None:
        raise ModelFormatError(f"input {i} is missing")
    return args[i]  # type: ignore[return-value]


def _const(args: list[Value | None], i: int) -> Const:
    """Input i, which must be a constant."""
    c = _arg(args, i)
    if not isinstance(c, Const):
        raise UnsupportedModelError(f"input {i} must be a constant")
    return c


MALFORMED = (IndexError, KeyError, TypeError, AttributeError, ZeroDivisionError, OverflowError, RuntimeError,
             MemoryError)
"""What an op's reader raises on a node whose inputs or attributes are missing, of the wrong type or absurd in size
(both ONNX readers turn it into a ModelFormatError naming the node)."""


def default_opset(model: onnx.ModelProto, source: str) -> int:
    """The model's default-domain (ai.onnx) opset version; one-line errors when it has none, or one newer than the
    installed onnx knows (an operator's meaning, attributes and defaults are those of its opset: read by older
    rules it could mean something else, and the writers could not record it)."""
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise ModelFormatError("no opset import for the default ONNX domain (truncated or corrupt file?)", source)
    newest = onnx.defs.onnx_opset_version()
    if versions[0] > newest:
        raise UnsupportedModelError(f"opset {versions[0]} is newer than the installed onnx {onnx.__version__} knows "
                                    f"(up to {newest}): upgrade onnx, or export the model with opset {newest} or "
                                    "lower", source)
    return int(versions[0])


def well_typed(model: onnx.ModelProto, nodes, source: str) -> None:
    """onnx's own type inference in strict mode on the model's types alone (its initializers as typed inputs, so no
    weight data is needed; `nodes` in a dependency order), run after a reader accepted the model so that its own
    messages name unsupported nodes first. An operator whose inputs' element types differ (a float16 weight on a
    float32 input) has no ONNX meaning, and onnxruntime refuses to load it: a one-line ModelFormatError."""
    g = model.graph
    typed = [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in g.initializer]
    names = {t.name for t in g.initializer}
    graph = helper.make_graph(list(nodes), g.name or "g", [vi for vi in g.input if vi.name not in names] + typed,
                              list(g.output))
    shell = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    try:
        onnx.shape_inference.infer_shapes(shell, check_type=True, strict_mode=True)
    except onnx.shape_inference.InferenceError as e:
        first = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
        raise ModelFormatError(f"not valid ONNX (onnx's type inference: {first})", source) from None


def malformed(e: BaseException) -> str:
    """The one-line reason for a MALFORMED exception."""
    if isinstance(e, MemoryError):
        return "a tensor of this node is too large to hold in memory"
    what = {KeyError: "a required attribute is missing", IndexError: "a required input is missing"}.get(type(e))
    return f"{what or 'an input or attribute has the wrong type or value'} ({type(e).__name__}: {e})"


def attributes(node: onnx.NodeProto) -> dict:
    """The node's attributes by name. Float attributes must be finite (ModelFormatError naming the attribute), except
    a Clip side without bound (min=-inf, max=inf: ONNX's no clipping), which is left out, as if absent."""
    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        floats = value if isinstance(value, list) else [value]
        if any(isinstance(v, float) and not isfinite(v) for v in floats):
            if node.op_type == "Clip" and (a.name, value) in (("min", -inf), ("max", inf)):
                continue
            raise ModelFormatError(f"attribute {a.name}={value!r} is not a finite number")
        out[a.name] = value
    return out


def _reshaped(x: Value, shape: tuple[int, ...], r: Reader) -> Value:
    """A reshape of a constant, or of the stream when it keeps the batch axis (any reshape keeps C order)."""
    if prod(shape) != prod(x.value.shape if isinstance(x, Const) else x.shape):
        raise ModelFormatError(f"cannot reshape {_shape_of(x)} to {list(shape)}")
    if isinstance(x, Const):
        return Const(x.value.reshape(shape), x.name)
    if r.batch > 1 and (not shape or shape[0] != r.batch):
        raise UnsupportedModelError(f"reshapes the batch dimension (size {r.batch}): {list(x.shape)} -> {list(shape)}")
    return Stream(shape)


def _shape_of(x: Value) -> list[int]:
    return list(x.value.shape if isinstance(x, Const) else x.shape)



# ---------------------------------------------------------------- ops


def _constant(node: onnx.NodeProto, args: list[Value | None], r: Reader) -> list[Value]:
    name = node.output[0]
    for a in node.attribute:
        if a.name == "value":
            return [tensor_const(a.t, name)]
        if a.name in ("value_float", "value_floats"):
            return [Const(np.array(helper.get_attribute_value(a), dtype=np.float32), name)]
        if a.name in ("value_int", "value_ints"):
            return [Const(np.array(helper.get_attribute_value(a), dtype=np.int64), name)]
    raise UnsupportedModelError("only dense numeric constants are supported")


def _gemm(node: onnx.NodeProto, args: list[Value | None], r: Reader) -> list[Value]:
    """Y = alpha * A' B' + beta * C (A' = A or A^T, B' = B or B^T); the data is A or B, the other a constant."""
    at = attributes(node)
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
    return [Stream(out_shape)]


def _matmul(node: onnx.NodeProto, args: list[Value | None], r: Reader) -> list[Value]:
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
    return [Stream(out_shape)]


def _matrix(c: Const) -> np.ndarray:
    if c.value.ndim != 2:
        raise UnsupportedModelError(f"the weight '{c.name}' must be a matrix, got shape {list(c.value.shape)}")
    return _numbers(c)


def _scaled(arr: np.ndarray, factor: Fraction) -> np.ndarray:
    return arr if factor == 1 else canonical(as_fractions(arr) * factor)


def _elementwise(kind: str) -> Op:
    """Add/Sub/Mul/Div of the data and a constant: an exact element-wise affine map."""

    def op(node: onnx.NodeProto, args: list[Value | None], r: Reader) -> list[Value]:
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


def _clip(node: onnx.NodeProto, args: list[Value | None], r: Reader) -> list[Value]:
    """Clip(x, min, max) of the raw input (either bound may be absent): input clipping."""
    x, _ = _split(args, 1)
    if r.opset < 11:
        at = attributes(node)
        bounds = [None if at.get(k) is None else np.full(r.chain.width, Fraction(at[k])) for k in ("min", "max")]
    else:
        present = [i < len(args) and args[i] is not None for i in (1, 2)]
        bounds = [as_fractions(_per_sample(_const(args, i), x.shape, r.batch)) if ok else None
                  for i, ok in zip((1, 2), present)]
    r.chain.clamp(*bounds)
    return [x]


def _extremum(kind: str) -> Op:
    """Max/Min of the raw input and a constant: one side of input clipping."""

    def op(node: onnx.NodeProto, args: list[Value | None], r: Reader) -> list[Value]:
        if len(args) != 2:
            raise UnsupportedModelError(f"{kind} of {len(args)} inputs (lumpcheck reads {kind}(data, constant))")
        x, pos = _split(args)
        bound = as_fractions(_per_sample(_const(args, 1 - pos), x.shape, r.batch))
        r.chain.clamp(*((bound, None) if kind == "Max" else (None, bound)))
        return [x]

    return op


def _activation(kind: str) -> Op:
    def op(node: onnx.NodeProto, args: list[Value | None], r: Reader) -> list[Value]:
        # LeakyRelu's alpha attribute is a float32; its exact value is the rational it stores.
        alpha = Fraction(attributes(node).get("alpha", float(np.float32(0.01)))) if kind == "leaky_relu" else Fraction(0)
        r.chain.activate(Activation(kind, alpha))
        return [_arg(args, 0)]

    return op


def _identity(node: onnx.NodeProto, args: list[Value | None], r: Reader) -> list[Value]:
    return [_arg(args, 0)]


def _cast(node: onnx.NodeProto, args: list[Value | None], r: Reader) -> list[Value]:
    """Cast of the raw input to a float type at least as wide as its declared one: exact on every value it can
    hold, so the identity (a later or narrowing Cast would round, and is refused)."""
    x = _arg(args, 0)
    to = attributes(node).get("to")
    if isinstance(x, Const):
        raise UnsupportedModelError("Cast of a constant (simplify the model first, e.g. onnxsim)")
    if r.current != r.input_name or to not in FLOAT_WIDTH or FLOAT_WIDTH[to] < FLOAT_WIDTH.get(r.input_type, 99):
        raise UnsupportedModelError("Cast rounds unless it widens the raw input to a float type at least as wide "
                                    "(lumpcheck reads only that Cast)")
    return [x]


def _dropout(node: onnx.NodeProto, args: list[Value | None], r: Reader) -> list[Value]:
    """Inference-mode Dropout is the identity; training mode is random, and its mask must not be used."""
    training = False
    if r.opset < 7:
        training = not attributes(node).get("is_test", 0)
    elif len(args) > 2 and args[2] is not None:
        training = bool(_const(args, 2).value.reshape(-1)[0])
    if training:
        raise UnsupportedModelError("Dropout in training mode is random")
    mask = node.output[1] if len(node.output) > 1 else ""
    if mask and (r.consumers.get(mask) or mask in r.graph_outputs):
        raise UnsupportedModelError("the Dropout mask output is used")
    return [_arg(args, 0)]


def _flatten(node: onnx.NodeProto, args: list[Value | None], r: Reader) -> list[Value]:
    x = _arg(args, 0)
    shape = _shape_of(x)
    axis = attributes(node).get("axis", 1)
    if not -len(shape) <= axis <= len(shape):
        raise ModelFormatError(f"axis {axis} out of range for shape {shape}")
    axis += len(shape) if axis < 0 else 0
    return [_reshaped(x, (prod(shape[:axis]), prod(shape[axis:])), r)]


def _reshape(node: onnx.NodeProto, args: list[Value | None], r: Reader) -> list[Value]:
    x = _arg(args, 0)
    shape = _shape_of(x)
    target = attributes(node).get("shape") if r.opset < 5 else int_list(_const(args, 1))
    allow_zero = attributes(node).get("allowzero", 0)
    out = [shape[i] if d == 0 and not allow_zero and i < len(shape) else d for i, d in enumerate(target)]
    if out.count(-1) > 1 or any(d < -1 for d in out):
        raise ModelFormatError(f"invalid target shape {list(target)}")
    if -1 in out:
        known = prod(d for d in out if d != -1)
        if known == 0 or prod(shape) % known:
            raise ModelFormatError(f"cannot reshape {shape} to {list(target)}")
        out[out.index(-1)] = prod(shape) // known
    return [_reshaped(x, tuple(out), r)]


def _axes(node: onnx.NodeProto, args: list[Value | None], r: Reader) -> list[int] | None:
    if r.opset < 13:
        return attributes(node).get("axes")
    return int_list(_const(args, 1)) if len(args) > 1 and args[1] is not None else None


def _squeeze(node: onnx.NodeProto, args: list[Value | None], r: Reader) -> list[Value]:
    x = _arg(args, 0)
    shape = _shape_of(x)
    axes = _axes(node, args, r)
    if axes is not None and any(not -len(shape) <= a < len(shape) for a in axes):
        raise ModelFormatError(f"axes {axes} out of range for shape {shape}")
    drop = {i for i, d in enumerate(shape) if d == 1} if axes is None else {a % len(shape) for a in axes}
    if any(shape[a] != 1 for a in drop):
        raise ModelFormatError(f"cannot squeeze axes {sorted(drop)} of shape {shape}")
    return [_reshaped(x, tuple(d for i, d in enumerate(shape) if i not in drop), r)]


def _unsqueeze(node: onnx.NodeProto, args: list[Value | None], r: Reader) -> list[Value]:
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


OPS: dict[str, Op] = {
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
    "Cast": _cast,
    "Dropout": _dropout,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
}
CONSTANT_OPS = {"Constant", "Identity", "Dropout", "Flatten", "Reshape", "Squeeze", "Unsqueeze"}  # fine on constants
