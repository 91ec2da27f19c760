"""Evaluate a graph: in float64 (fast; candidates and sampling, never decisions) or exactly.

Exact evaluation computes the real-number function the graph denotes. Piecewise-linear graphs stay in
Fractions. BatchNorm contributes γ/√(var + ε): values become `Radical`s (exact sums of rationals times square
roots, with exact sign tests), so ReLU, max and comparisons after BatchNorm are still decided exactly.
Sigmoid, tanh and softmax values are transcendental: they (and everything after them) become sympy
expressions; a ReLU/max on such a value asks sympy for the sign, which uses error-tracked numerical
evaluation and raises if it cannot decide (e.g. an exact zero it cannot prove).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Callable, Mapping

import numpy as np

from ..exact import to_fraction
from . import kernels as K
from .dag import Graph, Node
from .ops import (Act, Affine, AveragePool, BatchNorm, Binary, Clip, Concat, Constant, Conv, GlobalPool, Identity,
                  LeftMatMul, MatMul, MaxPool, Op, Pad, Reshape, Softmax, Transpose)  # fmt: skip
from .radical import Radical


class ExactnessError(ArithmeticError):
    """An exact decision (a sign after a transcendental op) could not be made; nothing was guessed."""


def _sympy_value(v: object):
    import sympy

    if isinstance(v, Radical):
        return v.sympy()
    if isinstance(v, (Fraction, int)):
        f = Fraction(v)
        return sympy.Rational(f.numerator, f.denominator)
    return v


def _is_symbolic(v: object) -> bool:
    return not isinstance(v, (Fraction, int, Radical))


def _to_sympy(x: np.ndarray) -> np.ndarray:
    return np.vectorize(_sympy_value, otypes=[object])(x)


def _sign(v: object) -> int:
    """Exact sign of a Fraction/Radical; sympy's own decision (error-tracked evalf) for symbolic values."""
    if isinstance(v, (Fraction, int)):
        return (v > 0) - (v < 0)
    if isinstance(v, Radical):
        return v.sign()
    if v.is_zero:
        return 0
    if v.is_positive:
        return 1
    if v.is_negative:
        return -1
    raise ExactnessError(f"cannot decide the sign of {v}")


def _exact_max(a: object, b: object) -> object:
    if _is_symbolic(a) or _is_symbolic(b):
        return a if _sign(_sympy_value(a) - _sympy_value(b)) >= 0 else b
    return a if a >= b else b


_emax = np.frompyfunc(_exact_max, 2, 1)
_emin = np.frompyfunc(lambda a, b: b if _exact_max(a, b) is a else a, 2, 1)


def _exact_act(op: Act, x: np.ndarray) -> np.ndarray:
    act = op.activation
    if act.piecewise_linear:
        if act.kind == "identity":
            return x
        alpha = act.alpha if act.kind == "leaky_relu" else Fraction(0)

        def pl(v: object) -> object:
            return v if _sign(v) >= 0 else alpha * v

        return np.frompyfunc(pl, 1, 1)(x)
    import sympy

    fn = (lambda z: 1 / (1 + sympy.exp(-z))) if act.kind == "sigmoid" else sympy.tanh
    return np.frompyfunc(fn, 1, 1)(_to_sympy(x))


def _exact_batchnorm(op: BatchNorm, x: np.ndarray) -> np.ndarray:
    c = op.channels
    factor = np.array([to_fraction(g) * Radical.inverse_sqrt(to_fraction(v) + op.epsilon)
                       for g, v in zip(op.scale, op.var)], dtype=object)  # fmt: skip
    shape = (1, c) + (1,) * (x.ndim - 2)
    mean = K.exact_of(op.mean).reshape(shape)
    bias = K.exact_of(op.bias).reshape(shape)
    if _has_symbolic(x):
        factor = _to_sympy(factor)
    return (x - mean) * factor.reshape(shape) + bias


def _float_batchnorm(op: BatchNorm, x: np.ndarray) -> np.ndarray:
    shape = (1, op.channels) + (1,) * (x.ndim - 2)
    f = lambda a: K.float_of(a).reshape(shape)  # noqa: E731
    return (x - f(op.mean)) / np.sqrt(f(op.var) + float(op.epsilon)) * f(op.scale) + f(op.bias)


def _softmax(op: Softmax, x: np.ndarray, exact: bool) -> np.ndarray:
    if exact:
        import sympy

        e = np.frompyfunc(sympy.exp, 1, 1)(_to_sympy(x))
        return e / e.sum(axis=op.axes, keepdims=True)
    e = np.exp(x - x.max(axis=op.axes, keepdims=True))
    return e / e.sum(axis=op.axes, keepdims=True)


def _param(arr: np.ndarray | None, exact: bool) -> np.ndarray | None:
    if arr is None:
        return None
    return K.exact_of(arr) if exact else K.float_of(arr)


def _clip(op: Clip, x: np.ndarray, exact: bool) -> np.ndarray:
    lo, hi = _param(op.lower, exact), _param(op.upper, exact)
    if exact:
        if lo is not None:
            x = _emax(x, lo)
        if hi is not None:
            x = _emin(x, hi)
        return x
    if lo is not None:
        x = np.maximum(x, lo)
    if hi is not None:
        x = np.minimum(x, hi)
    return x


def _binary(op: Binary, a: np.ndarray, b: np.ndarray, exact: bool) -> np.ndarray:
    if op.op == "add":
        return a + b
    if op.op == "sub":
        return a - b
    if exact:
        return _emax(a, b) if op.op == "max" else _emin(a, b)
    return np.maximum(a, b) if op.op == "max" else np.minimum(a, b)


def apply(op: Op, xs: list[np.ndarray], exact: bool) -> np.ndarray:
    """One op on evaluated inputs (float64 arrays, or exact object arrays when `exact`)."""
    x = xs[0] if xs else None
    p = lambda a: _param(a, exact)  # noqa: E731
    if isinstance(op, Identity):
        return x
    if isinstance(op, Act):
        return _exact_act(op, x) if exact else op.activation.float(x)
    if isinstance(op, Affine):
        return x * p(op.scale) + p(op.shift)
    if isinstance(op, Clip):
        return _clip(op, x, exact)
    if isinstance(op, BatchNorm):
        return _exact_batchnorm(op, x) if exact else _float_batchnorm(op, x)
    if isinstance(op, Softmax):
        return _softmax(op, x, exact)
    if isinstance(op, MatMul):
        y = K.matmul(x, p(op.weight))
        return y if op.bias is None else y + p(op.bias)
    if isinstance(op, LeftMatMul):
        return K.matmul(p(op.weight), x)
    if isinstance(op, Conv):
        return K.conv(x, p(op.weight), p(op.bias), op.window, op.group)
    if isinstance(op, MaxPool):
        return K.max_pool(x, op.window)
    if isinstance(op, AveragePool):
        return K.average_pool(x, op.window, op.count_include_pad)
    if isinstance(op, GlobalPool):
        return K.global_pool(x, op.mode)
    if isinstance(op, Pad):
        return K.pad_constant(x, op.pads, op.value if exact else float(op.value))
    if isinstance(op, Binary):
        return _binary(op, xs[0], xs[1], exact)
    if isinstance(op, Concat):
        if exact:
            xs = [_to_sympy(a) for a in xs] if any(_has_symbolic(a) for a in xs) else xs
        return np.concatenate(xs, axis=op.axis)
    if isinstance(op, Constant):
        return p(op.value)
    if isinstance(op, Transpose):
        return np.transpose(x, op.perm)
    if isinstance(op, Reshape):
        return np.reshape(x, op.shape)
    raise TypeError(f"no kernel for op {op.kind}")


def _has_symbolic(a: np.ndarray) -> bool:
    return a.dtype == object and any(_is_symbolic(v) for v in a.reshape(-1))


def _prepare(graph: Graph, inputs: Mapping[str, object], convert: Callable[[object], np.ndarray]) -> dict:
    values: dict[str, np.ndarray] = {}
    for spec in graph.inputs:
        if spec.name not in inputs:
            raise ValueError(f"missing input {spec.name!r} (graph inputs: {list(graph.input_names)})")
        arr = convert(inputs[spec.name])
        if arr.size != spec.size:
            raise ValueError(f"input {spec.name!r} has {arr.size} values, expected shape {list(spec.shape)}")
        values[spec.name] = arr.reshape(spec.shape)
    return values


def _run(graph: Graph, values: dict, exact: bool, keep: bool) -> dict:
    for node in graph.nodes:
        values[node.output] = _apply_node(node, values, exact)
    return values if keep else {o: values[o] for o in graph.outputs}


def _apply_node(node: Node, values: dict, exact: bool) -> np.ndarray:
    try:
        return apply(node.op, [values[n] for n in node.inputs], exact)
    except ExactnessError as e:
        raise ExactnessError(f"{node.where()}: {e}") from None


def evaluate_float(graph: Graph, inputs: Mapping[str, object], *, keep_all: bool = False) -> dict[str, np.ndarray]:
    """float64 forward pass: {output name: array}. Inputs are arrays (or nested lists) of the input shapes."""
    values = _prepare(graph, inputs, lambda v: np.asarray(v, dtype=np.float64))
    return _run(graph, values, False, keep_all)


def evaluate_exact(graph: Graph, inputs: Mapping[str, object], *, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Exact forward pass on rational inputs: object arrays of Fractions, Radicals or sympy expressions."""

    def convert(v: object) -> np.ndarray:
        arr = np.asarray(v, dtype=object)
        return np.frompyfunc(to_fraction, 1, 1)(arr).astype(object) if arr.ndim else np.array(to_fraction(v))

    values = _prepare(graph, inputs, convert)
    return _run(graph, values, True, keep_all)


def exact_equal_arrays(a: np.ndarray, b: np.ndarray) -> bool:
    """Exact equality of two exactly evaluated arrays (Fractions/Radicals; sympy values via simplification)."""
    if a.shape != b.shape:
        return False
    for u, v in zip(a.reshape(-1), b.reshape(-1)):
        if _is_symbolic(u) or _is_symbolic(v):
            import sympy

            if sympy.simplify(_sympy_value(u) - _sympy_value(v)) != 0:
                return False
        elif u != v:
            return False
    return True
