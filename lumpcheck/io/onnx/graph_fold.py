"""Exact constant folding while reading ONNX: nodes whose inputs are all constants become constants.

Float constants are folded by running the *same* converters and op kernels as data, on a `FoldingEmitter`
that evaluates each emitted op exactly instead of recording it (one semantics for both). Integer shape
arithmetic (Shape, Gather, Slice, integer Add/Mul/Div, Range, ConstantOfShape) is folded directly with ONNX's
integer semantics (Div truncates toward zero).
"""

from __future__ import annotations

from fractions import Fraction
from math import prod

import numpy as np
from onnx import numpy_helper

from ...ir.exact import to_fraction
from ...ir.graph.evaluate import apply
from ...ir.graph.kernels import exact_of
from ...ir.graph.ops import Op
from ...ir.graph.radical import rational_sqrt
from .graph_values import FLOAT_TYPES, INT_TYPES, Const, Data, NodeError, Value, constant_of


class FoldingEmitter:
    """Stands in for the reader: each emitted op is evaluated exactly on constant placeholders."""

    def __init__(self, opset: int):
        self.opset = opset
        self.bound: dict[str, np.ndarray] = {}
        self.floats: dict[str, bool] = {}

    def placeholder(self, c: Const) -> Data:
        name = f"#const{len(self.bound)}"
        self.bound[name] = exact_of(c.value) if c.is_float else c.value
        self.floats[name] = c.is_float
        return Data(name, c.shape)

    def emit(self, op: Op, inputs: list[Data], output: str | None = None) -> Data:
        values = [self.bound[d.name] for d in inputs]
        is_float = any(self.floats[d.name] for d in inputs) or not inputs
        try:
            y = apply(op, values, exact=True)
        except (TypeError, ValueError, ZeroDivisionError) as e:
            raise NodeError(f"cannot fold constants exactly ({e})") from None
        y = np.asarray(y)
        if y.dtype == object and any(not isinstance(v, (Fraction, int)) for v in y.reshape(-1)):
            raise NodeError("computes an irrational constant (e.g. sigmoid or sqrt of constants); lumpcheck folds "
                            "constants exactly and needs rational values")  # fmt: skip
        c = constant_of(y) if is_float else Const(y.astype(np.int64) if y.dtype != bool else y, False)
        return self.placeholder(c)

    def materialize(self, v: Value) -> Data:
        return v if isinstance(v, Data) else self.placeholder(v)

    def result(self, v: Value | None) -> Value | None:
        if isinstance(v, Data) and v.name in self.bound:
            value = self.bound[v.name]
            return constant_of(value) if self.floats[v.name] else Const(value, False)
        return v


def ints(c: Value | None, what: str) -> list[int]:
    """Integer contents of a constant (shapes, axes, indices); NodeError if data or non-integral."""
    if c is None:
        raise NodeError(f"{what} is missing")
    if not isinstance(c, Const):
        raise NodeError(f"{what} depends on the input; lumpcheck needs it to be a constant", unsupported=True)
    out = []
    for v in c.value.reshape(-1):
        f = to_fraction(v) if c.is_float else Fraction(int(v))
        if f.denominator != 1:
            raise NodeError(f"{what} holds the non-integer {f}", unsupported=False)
        out.append(int(f))
    return out


def _int_binary(op_type: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if op_type == "Add":
        return a + b
    if op_type == "Sub":
        return a - b
    if op_type == "Mul":
        return a * b
    if np.any(b == 0):
        raise NodeError("integer division by zero", unsupported=False)
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q)  # ONNX integer Div truncates toward zero


def _norm_axes(axes: list[int], rank: int) -> list[int]:
    out = [a + rank if a < 0 else a for a in axes]
    if any(not 0 <= a < rank for a in out):
        raise NodeError(f"axes {axes} out of range for rank {rank}", unsupported=False)
    return out


def fold_integer(op_type: str, ins: list[Value | None], attrs: dict, shape_of: dict) -> list[Value] | None:
    """Fold integer/shape ops; None when `op_type` is not one of them (or its inputs are floats)."""
    if op_type == "Shape":
        shape = ins[0].shape
        start, end = attrs.get("start", 0), attrs.get("end", len(shape))
        return [Const(np.array(shape[slice(start, end)], dtype=np.int64), False)]
    if op_type == "Size":
        return [Const(np.array(prod(ins[0].shape), dtype=np.int64), False)]
    if any(not isinstance(v, Const) for v in ins if v is not None):
        return None
    if op_type in ("Add", "Sub", "Mul", "Div") and not any(v.is_float for v in ins):
        return [Const(_int_binary(op_type, ins[0].value, ins[1].value).astype(np.int64), False)]
    if op_type == "Gather":
        data = ins[0]
        idx = np.array(ints(ins[1], "Gather indices"), dtype=np.int64).reshape(ins[1].shape)
        axis = _norm_axes([attrs.get("axis", 0)], data.value.ndim)[0]
        n = data.value.shape[axis]
        if np.any((idx < -n) | (idx >= n)):
            raise NodeError(f"Gather index out of range for size {n}", unsupported=False)
        return [Const(np.take(data.value, np.where(idx < 0, idx + n, idx), axis=axis), data.is_float)]
    if op_type == "Slice":
        return [_slice(ins, attrs, shape_of)]
    if op_type == "ConstantOfShape":
        shape = ints(ins[0], "ConstantOfShape shape")
        value = attrs.get("value")
        fill = constant_of(_tensor(value)) if value is not None else Const(np.zeros(1), True)
        return [Const(np.full(shape, fill.value.reshape(-1)[0], dtype=fill.value.dtype), fill.is_float)]
    if op_type == "Range":
        vals = [ins[i].value.reshape(-1)[0] for i in range(3)]
        if all(not ins[i].is_float for i in range(3)):
            return [Const(np.arange(int(vals[0]), int(vals[1]), int(vals[2]), dtype=np.int64), False)]
        return None
    if op_type == "Cast":
        return [_cast(ins[0], attrs["to"])]
    if op_type == "Sqrt":
        return [_sqrt(ins[0])]
    return None


def _sqrt(c: Const) -> Const:
    """Sqrt of a float constant, exactly: every element must be the square of a rational (e.g. var + eps of a
    BatchNorm fold whose statistics make it exact); an irrational root is refused, never rounded."""
    if not c.is_float:
        raise NodeError("Sqrt of an integer constant", unsupported=False)
    values = [to_fraction(v) for v in np.asarray(c.value, dtype=object).reshape(-1)]
    roots = [rational_sqrt(q) for q in values]
    bad = next((q for q, r in zip(values, roots) if r is None), None)
    if bad is not None:
        raise NodeError(f"Sqrt of the constant {float(bad):.9g} is irrational, so the weights computed from it (e.g. "
                        "onnxoptimizer's fuse_bn_into_conv, which keeps sqrt(var + eps) in the graph) are not rational "
                        "numbers; fold them in float (onnxsim) and compare with `lumpcheck verify`, or keep the "
                        "BatchNormalization, which lumpcheck reads exactly")
    return constant_of(np.array(roots, dtype=object).reshape(np.asarray(c.value).shape))


def _tensor(t) -> np.ndarray:
    return numpy_helper.to_array(t)


def _cast(c: Const, to: int) -> Const:
    if to in FLOAT_TYPES:
        if c.is_float:
            return c  # real semantics: Cast between float types is the identity
        return constant_of(c.value.astype(object) if c.value.dtype != bool else c.value.astype(np.int64))
    if to in INT_TYPES:
        if not c.is_float:
            return Const(c.value.astype(np.int64), False)
        vals = np.array([int(Fraction(v)) for v in c.value.reshape(-1)], dtype=np.int64)  # int() truncates like C
        return Const(vals.reshape(c.shape), False)
    if to == 9:  # BOOL
        return Const(np.array([Fraction(v) != 0 for v in c.value.reshape(-1)]).reshape(c.shape), False)
    raise NodeError(f"Cast to type {to} is not supported")


def _slice(ins: list, attrs: dict, shape_of: dict) -> Const:
    data = ins[0]
    if "starts" in attrs:  # opset < 10
        starts, ends = list(attrs["starts"]), list(attrs["ends"])
        axes = list(attrs.get("axes", range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts, ends = ints(ins[1], "Slice starts"), ints(ins[2], "Slice ends")
        axes = ints(ins[3], "Slice axes") if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
        steps = ints(ins[4], "Slice steps") if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
    index = [slice(None)] * data.value.ndim
    for a, s, e, st in zip(_norm_axes(axes, data.value.ndim), starts, ends, steps):
        if st == 0:
            raise NodeError("Slice step 0", unsupported=False)
        index[a] = slice(*slice(s, e, st).indices(data.value.shape[a]))
    return Const(data.value[tuple(index)], data.is_float)
