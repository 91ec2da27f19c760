"""Sound interval bounds for every tensor of a graph over an input box (float64, rounded outward).

Every returned bound encloses the *exact rational* graph on the box: lo <= exact value <= hi, entry by entry.
Soundness of the float arithmetic (the argument of `lumpcheck/bounds.py`, restated for graph ops):
(A1) IEEE binary64, round to nearest, gradual underflow (checked by `check_float_environment`): one operation
     with exact result r and computed v satisfies pred(v) <= r <= succ(v); so after each element-wise op the
     upper bound is stepped up (`step_up`) and the lower bound down (`step_down`).
(A2) A Conv/MatMul/pool sum of n products computed in any order (BLAS, tensordot) is off by at most
     γ_n·T + n·2^-1073 with T = Σ|w_i x_i| (Higham, Thm 3.1, with underflow); with T̂ the float value of the
     same sum of absolute values, |error| <= n·2^-52·T̂ + n·2^-1072 for n <= 2^40 (see lumpcheck/bounds.py).
     We charge twice that, with n' = 2n + 1 terms for the two partial sums (W⁺ on one bound, W⁻ on the other)
     and their addition, and round E upward.
Weights that are Fractions are used as nearest floats plus |w − fl(w)| (rounded up) times max|x|.
BatchNorm's factor γ/√(var+ε) is enclosed by exact rational square-root bounds rounded outward; sigmoid and
tanh (monotone) by mpmath interval arithmetic at the float endpoints; softmax by its monotonicity in each
logit, also with mpmath. Non-finite results make a bound ±inf (still sound).
"""

from __future__ import annotations

from fractions import Fraction
from math import isqrt

import numpy as np

from ..ir.exact import as_fractions
from ..ir.graph import kernels as K
from ..ir.graph.dag import Graph
from ..ir.graph.ops import (Act, Affine, AveragePool, BatchNorm, Binary, Clip, Concat, Constant, Conv, GlobalPool,
                            Identity, LeftMatMul, MatMul, MaxPool, Pad, Reshape, Softmax, Transpose)  # fmt: skip
from .arith import check_float_environment

Bounds = tuple[np.ndarray, np.ndarray]
_INF = np.inf


def step_up(x: np.ndarray) -> np.ndarray:
    """The next float above (an upper bound of the exact result of the last rounded operation, A1)."""
    return np.nextafter(x, _INF)


def step_down(x: np.ndarray) -> np.ndarray:
    """The next float below."""
    return np.nextafter(x, -_INF)


def round_out(q: Fraction, up: bool) -> float:
    """The float nearest to q in the given direction (>= q if up, <= q otherwise)."""
    f = float(q)
    if up and Fraction(f) < q:
        f = float(np.nextafter(f, _INF))
    if not up and Fraction(f) > q:
        f = float(np.nextafter(f, -_INF))
    return f


def enclose(values: np.ndarray) -> Bounds:
    """Float lower/upper bounds of an exact array (float64 values are their own bounds)."""
    if values.dtype != object:
        v = values.astype(np.float64)
        return v, v
    lo = np.array([round_out(Fraction(v), False) for v in values.reshape(-1)]).reshape(values.shape)
    hi = np.array([round_out(Fraction(v), True) for v in values.reshape(-1)]).reshape(values.shape)
    return lo, hi


def _split(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest floats of the weights and an upper bound of |w − fl(w)|."""
    if weight.dtype != object:
        return weight.astype(np.float64), np.zeros(weight.shape)
    wf = np.array([float(v) for v in weight.reshape(-1)]).reshape(weight.shape)
    res = np.array([round_out(abs(Fraction(v) - Fraction(f)), True) for v, f in zip(weight.reshape(-1), wf.reshape(-1))])
    return wf, res.reshape(weight.shape)


def _linear(apply, weight: np.ndarray, n: int, lo: np.ndarray, hi: np.ndarray) -> Bounds:
    """Bounds of apply(W, x) for x in [lo, hi] (apply linear in W and in x, a sum of n products per entry)."""
    w, res = _split(weight)
    wp, wn = np.maximum(w, 0), np.minimum(w, 0)
    with np.errstate(over="ignore", invalid="ignore"):
        s_hi = apply(wp, hi) + apply(wn, lo)
        s_lo = apply(wp, lo) + apply(wn, hi)
        m = np.maximum(np.abs(lo), np.abs(hi))
        t = apply(np.abs(w), m)
        terms = 2 * n + 1
        err = step_up(step_up(step_up(2.0 * terms * 2.0**-52) * t) + 2.0 * terms * 2.0**-1072)
        if np.any(res):
            extra = apply(res, m)
            err = step_up(err + step_up(step_up(extra) + step_up(2.0 * terms * 2.0**-52) * extra))
        hi_out, lo_out = step_up(s_hi + err), step_down(s_lo - err)
    hi_out[~np.isfinite(hi_out)] = _INF
    lo_out[~np.isfinite(lo_out)] = -_INF
    return lo_out, hi_out


def _add_bias(b: Bounds, bias: np.ndarray | None, shape: tuple) -> Bounds:
    if bias is None:
        return b
    blo, bhi = enclose(np.asarray(bias))
    return step_down(b[0] + blo.reshape(shape)), step_up(b[1] + bhi.reshape(shape))


def _mul_interval(lo: np.ndarray, hi: np.ndarray, slo: np.ndarray, shi: np.ndarray) -> Bounds:
    """[lo, hi]·[slo, shi] rounded outward (the four corner products)."""
    with np.errstate(invalid="ignore"):
        corners = [lo * slo, lo * shi, hi * slo, hi * shi]
    c = np.stack(np.broadcast_arrays(*corners))
    c = np.where(np.isnan(c), 0.0, c)  # 0·inf: the exact product of a finite factor is finite; inf covers it
    return step_down(c.min(axis=0)), step_up(c.max(axis=0))


def sqrt_bounds(q: Fraction, bits: int = 80) -> tuple[Fraction, Fraction]:
    """Rationals lo <= √q <= hi (isqrt of q·4^bits)."""
    s = 1 << bits
    r = isqrt(q.numerator * s * s // q.denominator)
    return Fraction(r, s), Fraction(r + 2, s)


def _batchnorm(op: BatchNorm, lo: np.ndarray, hi: np.ndarray) -> Bounds:
    """(x − μ)·γ/√(v+ε) + β with the factor enclosed exactly (√ bounds in rationals), then rounded outward."""
    shape = (1, op.channels) + (1,) * (lo.ndim - 2)
    flo, fhi = [], []
    for g, v in zip(as_fractions(np.asarray(op.scale)), as_fractions(np.asarray(op.var))):
        slo, shi = sqrt_bounds(Fraction(v) + op.epsilon)
        a, b = Fraction(g) / shi, Fraction(g) / slo
        flo.append(round_out(min(a, b), False)), fhi.append(round_out(max(a, b), True))
    mlo, mhi = (x.reshape(shape) for x in enclose(np.asarray(op.mean)))
    clo, chi = step_down(lo - mhi), step_up(hi - mlo)
    plo, phi = _mul_interval(clo, chi, np.array(flo).reshape(shape), np.array(fhi).reshape(shape))
    return _add_bias((plo, phi), op.bias, shape)


def _endpoint(v, upper: bool) -> Fraction:
    """The exact rational value of an mpmath interval's lower or upper endpoint."""
    import mpmath

    p, q = mpmath.libmp.to_rational(v._mpi_[1 if upper else 0])
    return Fraction(p, q)


def _mp_monotone(fn, lo: np.ndarray, hi: np.ndarray) -> Bounds:
    import mpmath

    iv = mpmath.iv
    iv.prec = 80

    def one(x: float, up: bool) -> float:
        if not np.isfinite(x):
            v = fn(iv.mpf(1e308) if x > 0 else iv.mpf(-1e308))
        else:
            v = fn(iv.mpf(x))
        return round_out(_endpoint(v, up), up)

    return (np.vectorize(lambda x: one(x, False))(lo).astype(np.float64), np.vectorize(lambda x: one(x, True))(hi).astype(np.float64))


def _act(op: Act, lo: np.ndarray, hi: np.ndarray) -> Bounds:
    a = op.activation
    if a.kind == "identity":
        return lo, hi
    if a.kind == "relu":
        return np.maximum(lo, 0), np.maximum(hi, 0)
    if a.kind == "leaky_relu":  # monotone for alpha >= 0; otherwise bound both pieces
        alo, ahi = round_out(a.alpha, False), round_out(a.alpha, True)
        neg = _mul_interval(np.minimum(lo, 0), np.minimum(hi, 0), np.array(alo), np.array(ahi))
        return np.minimum(np.maximum(lo, 0), neg[0]), np.maximum(np.maximum(hi, 0), neg[1])
    import mpmath

    if a.kind == "sigmoid":
        return _mp_monotone(lambda x: 1 / (1 + mpmath.iv.exp(-x)), lo, hi)
    return _mp_monotone(lambda x: 1 - 2 / (mpmath.iv.exp(2 * x) + 1), lo, hi)  # mpmath.iv has no tanh


def _softmax(op: Softmax, lo: np.ndarray, hi: np.ndarray) -> Bounds:
    """softmax_i increases with x_i and decreases with the others: e^lo_i/(e^lo_i + Σ_j e^hi_j) <= y_i <= …"""
    import mpmath

    iv = mpmath.iv
    iv.prec = 80
    moved_lo, moved_hi = (np.moveaxis(a, op.axes, range(-len(op.axes), 0)) for a in (lo, hi))
    flat_lo = moved_lo.reshape(-1, int(np.prod([lo.shape[a] for a in op.axes])))
    flat_hi = moved_hi.reshape(flat_lo.shape)
    out_lo, out_hi = np.zeros(flat_lo.shape), np.ones(flat_lo.shape)
    for r in range(flat_lo.shape[0]):
        if not (np.all(np.isfinite(flat_lo[r])) and np.all(np.isfinite(flat_hi[r]))):
            continue
        elo = [iv.exp(iv.mpf(float(v))) for v in flat_lo[r]]
        ehi = [iv.exp(iv.mpf(float(v))) for v in flat_hi[r]]
        s_lo, s_hi = sum(elo, iv.mpf(0)), sum(ehi, iv.mpf(0))
        for i in range(flat_lo.shape[1]):
            low = elo[i] / (elo[i] + s_hi - ehi[i])
            high = ehi[i] / (ehi[i] + s_lo - elo[i])
            out_lo[r, i] = max(0.0, round_out(_endpoint(low, False), False))
            out_hi[r, i] = min(1.0, round_out(_endpoint(high, True), True))
    shape = moved_lo.shape
    back = lambda a: np.moveaxis(a.reshape(shape), range(-len(op.axes), 0), op.axes)  # noqa: E731
    return back(out_lo), back(out_hi)


def _average_pool(op: AveragePool, lo: np.ndarray, hi: np.ndarray) -> Bounds:
    """mean over a window: monotone; the float sum and division are charged as in (A2) with n = window size."""
    n = int(np.prod(op.window.kernel))
    m = np.maximum(np.abs(lo), np.abs(hi))
    with np.errstate(over="ignore", invalid="ignore"):
        err = step_up(step_up(4.0 * (n + 1) * 2.0**-52) * K.average_pool(m, op.window, op.count_include_pad) + 4.0 * (n + 1) * 2.0**-1072)
        a, b = step_down(K.average_pool(lo, op.window, op.count_include_pad) - err), step_up(K.average_pool(hi, op.window, op.count_include_pad) + err)
    return np.where(np.isfinite(a), a, -_INF), np.where(np.isfinite(b), b, _INF)


def _global_average(lo: np.ndarray, hi: np.ndarray) -> Bounds:
    n = int(np.prod(lo.shape[2:]))
    m = np.maximum(np.abs(lo), np.abs(hi))
    axes = tuple(range(2, lo.ndim))
    with np.errstate(over="ignore", invalid="ignore"):
        err = step_up(step_up(4.0 * (n + 1) * 2.0**-52) * m.mean(axis=axes, keepdims=True) + 4.0 * (n + 1) * 2.0**-1072)
        a = step_down(lo.mean(axis=axes, keepdims=True) - err)
        b = step_up(hi.mean(axis=axes, keepdims=True) + err)
    return np.where(np.isfinite(a), a, -_INF), np.where(np.isfinite(b), b, _INF)


def _affine(op: Affine, lo: np.ndarray, hi: np.ndarray) -> Bounds:
    slo, shi = enclose(np.asarray(op.scale))
    p = _mul_interval(lo, hi, slo, shi)
    tlo, thi = enclose(np.asarray(op.shift))
    return step_down(p[0] + tlo), step_up(p[1] + thi)


def _conv_apply(op: Conv):
    def apply(w: np.ndarray, x: np.ndarray) -> np.ndarray:
        return K.conv(x, w, None, op.window, op.group)

    return apply


def _node_bounds(op, ins: list[Bounds], out_shape: tuple) -> Bounds:
    lo, hi = ins[0] if ins else (None, None)
    if isinstance(op, Identity):
        return lo, hi
    if isinstance(op, Reshape):
        return lo.reshape(op.shape), hi.reshape(op.shape)
    if isinstance(op, Transpose):
        return np.transpose(lo, op.perm), np.transpose(hi, op.perm)
    if isinstance(op, Act):
        return _act(op, lo, hi)
    if isinstance(op, Affine):
        return _affine(op, lo, hi)
    if isinstance(op, Clip):
        clo = enclose(np.asarray(op.lower))[0] if op.lower is not None else -_INF
        chi = enclose(np.asarray(op.upper))[1] if op.upper is not None else _INF
        return np.minimum(np.maximum(lo, clo), chi), np.minimum(np.maximum(hi, clo), chi)
    if isinstance(op, BatchNorm):
        return _batchnorm(op, lo, hi)
    if isinstance(op, Softmax):
        return _softmax(op, lo, hi)
    if isinstance(op, MatMul):
        n = op.weight.shape[0]
        b = _linear(lambda w, x: np.matmul(x, w), op.weight, n, lo, hi)
        return _add_bias(b, op.bias, out_shape) if op.bias is None or op.bias.size == np.prod(out_shape) else _add_bias(b, np.broadcast_to(op.bias, out_shape), out_shape)
    if isinstance(op, LeftMatMul):
        return _linear(lambda w, x: np.matmul(w, x), op.weight, op.weight.shape[1], lo, hi)
    if isinstance(op, Conv):
        n = int(np.prod(op.weight.shape[1:]))
        b = _linear(_conv_apply(op), op.weight, n, lo, hi)
        return _add_bias(b, op.bias, (1, op.out_channels) + (1,) * (len(out_shape) - 2)) if op.bias is not None else b
    if isinstance(op, MaxPool):
        return K.max_pool(lo, op.window), K.max_pool(hi, op.window)
    if isinstance(op, AveragePool):
        return _average_pool(op, lo, hi)
    if isinstance(op, GlobalPool):
        return (K.global_pool(lo, "max"), K.global_pool(hi, "max")) if op.mode == "max" else _global_average(lo, hi)
    if isinstance(op, Pad):
        vlo, vhi = round_out(op.value, False), round_out(op.value, True)
        return K.pad_constant(lo, op.pads, vlo), K.pad_constant(hi, op.pads, vhi)
    if isinstance(op, Binary):
        (alo, ahi), (blo, bhi) = ins
        if op.op == "add":
            return step_down(alo + blo), step_up(ahi + bhi)
        if op.op == "sub":
            return step_down(alo - bhi), step_up(ahi - blo)
        f = np.maximum if op.op == "max" else np.minimum
        return f(alo, blo), f(ahi, bhi)
    if isinstance(op, Concat):
        return np.concatenate([b[0] for b in ins], axis=op.axis), np.concatenate([b[1] for b in ins], axis=op.axis)
    if isinstance(op, Constant):
        return enclose(np.asarray(op.value))
    raise TypeError(f"no bound rule for {op.kind}")


def interval_bounds(graph: Graph, box: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, Bounds]:
    """Sound float bounds of every tensor for inputs in the box {input: (lower, upper)} (exact or float arrays)."""
    check_float_environment()
    out: dict[str, Bounds] = {}
    for spec in graph.inputs:
        lo, hi = box[spec.name]
        lo_f = enclose(np.asarray(lo, dtype=object) if np.asarray(lo).dtype == object else np.asarray(lo, dtype=np.float64))[0]
        hi_f = enclose(np.asarray(hi, dtype=object) if np.asarray(hi).dtype == object else np.asarray(hi, dtype=np.float64))[1]
        out[spec.name] = (lo_f.reshape(spec.shape), hi_f.reshape(spec.shape))
    for node in graph.nodes:
        lo, hi = _node_bounds(node.op, [out[x] for x in node.inputs], graph.shapes[node.output])
        out[node.output] = (np.asarray(lo, dtype=np.float64).reshape(graph.shapes[node.output]),
                            np.asarray(hi, dtype=np.float64).reshape(graph.shapes[node.output]))  # fmt: skip
    return out


def channel_phases(lo: np.ndarray, hi: np.ndarray, axis: int, inner: int, channels: int) -> tuple:
    """Per channel of a pre-activation tensor: 'inactive' (<= 0 at every position), 'active' (>= 0), or None."""
    n = lo.shape[axis]
    ch = (np.arange(n) // inner) % channels
    neg = np.moveaxis(hi <= 0, axis, 0).reshape(n, -1).all(axis=1)
    pos = np.moveaxis(lo >= 0, axis, 0).reshape(n, -1).all(axis=1)
    out = []
    for c in range(channels):
        sel = ch == c
        out.append("inactive" if neg[sel].all() else "active" if pos[sel].all() else None)
    return tuple(out)


def stable_counts(graph: Graph, bounds: dict[str, Bounds]) -> list[tuple[str, int, int, int]]:
    """Per ReLU/LeakyReLU node: (node output, stably inactive positions, stably active positions, positions)."""
    out = []
    for node in graph.nodes:
        if isinstance(node.op, Act) and node.op.activation.kind in ("relu", "leaky_relu"):
            lo, hi = bounds[node.inputs[0]]
            out.append((node.output, int(np.sum(hi <= 0)), int(np.sum(lo >= 0)), lo.size))
    return out
