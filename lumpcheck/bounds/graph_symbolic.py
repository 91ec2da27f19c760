"""Symbolic bounds on graphs: every tensor entry between two linear functions of the box's free inputs.

Representation of tensor T: L, U of shape (n + 1, *shape) — n coefficient rows (one per free input entry) and a
constant row — and slacks el, eu >= 0 with, for every x in the box,
        L·x + L_c − el  <=  T(x)  <=  U·x + U_c + eu.
Linear ops map the rows (W⁺ to L and W⁻ to U for the lower function, and conversely), ReLU/LeakyReLU use
DeepPoly's relaxations (a chord above, slope 0 or 1 below) on the concrete bounds, other ops fall back to
their concrete interval bounds. Concrete bounds are intersected with `bounds.interval_bounds`.

Float soundness (the discipline of `graph_interval`): every float result that a claim depends on is charged.
  * A linear op computes each new row entry as a float sum of at most n' = 2k + 1 products (k the op's fan-in);
    its error is <= n'·2^-52·(|W⁺|·|L| + |W⁻|·|U|) + n'·2^-1072 per entry, whose effect on the function over
    the box is <= that bound applied to the magnitude M = Σ_j |row_j|·max|x_j| + |const|; so the slack grows by
    2·n'·2^-52·(|W|·M) (upward rounded, factor 2 for the computation of M itself) plus the slacks carried by |W|.
  * The ReLU chord uses any float slope s >= 0 with an intercept t >= max_{z∈{l,0,u}} (σ(z) − s·z) computed in
    Fractions (σ − s·z is piecewise linear with its kink at 0), so σ(z) <= s·z + t holds exactly on [l, u]; the
    float products s·row are charged 2^-52·s·M.
  * Concretisation Σ_j min(row_j·lo_j, row_j·hi_j) is a float dot product of n_free terms, charged likewise.
Parameters held as Fractions are used as nearest floats plus |w − fl(w)|·max|x| in the slack (via the concrete
input bounds of the op). When (n + 1)·size exceeds `max_entries`, that tensor falls back to interval bounds.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..ir.exact import as_fractions
from ..ir.graph import kernels as K
from ..ir.graph.dag import Graph
from ..ir.graph.ops import (Act, Affine, AveragePool, BatchNorm, Binary, Conv, GlobalPool, Identity, LeftMatMul, MatMul,
                            Pad, Reshape, Transpose)  # fmt: skip
from .graph_interval import Bounds, enclose, interval_bounds, round_out, sqrt_bounds, step_down, step_up

EPS = 2.0**-52
TINY = 2.0**-1070


class Sym:
    """Lower/upper linear functions (rows × shape, last row the constant) with slacks."""

    __slots__ = ("L", "U", "el", "eu")

    def __init__(self, L: np.ndarray, U: np.ndarray, el: np.ndarray, eu: np.ndarray):
        self.L, self.U, self.el, self.eu = L, U, el, eu


def _magnitude(rows: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Upper bound of Σ_j |row_j|·m_j + |const| per entry (m: max|x_j| per free input, as a column)."""
    a = np.abs(rows)
    n = a.shape[0]
    weights = np.append(m, 1.0) if n == len(m) + 1 else m  # with or without the constant row
    with np.errstate(over="ignore"):
        s = np.tensordot(weights, a, axes=(0, 0))
        return step_up(s * (1 + 2 * n * EPS) + n * TINY)


def concretize(sym: Sym, xlo: np.ndarray, xhi: np.ndarray, m: np.ndarray) -> Bounds:
    """Concrete [lo, hi] of a symbolic tensor over the box (free inputs in [xlo, xhi])."""
    n = xlo.size
    with np.errstate(over="ignore", invalid="ignore"):
        Lp, Ln = np.maximum(sym.L[:-1], 0), np.minimum(sym.L[:-1], 0)
        Up, Un = np.maximum(sym.U[:-1], 0), np.minimum(sym.U[:-1], 0)
        lo = np.tensordot(xlo, Lp, axes=(0, 0)) + np.tensordot(xhi, Ln, axes=(0, 0))
        hi = np.tensordot(xhi, Up, axes=(0, 0)) + np.tensordot(xlo, Un, axes=(0, 0))
        err_l = step_up(4 * (n + 1) * EPS * _magnitude(sym.L[:-1], m) + (n + 1) * TINY) if n else 0.0
        err_u = step_up(4 * (n + 1) * EPS * _magnitude(sym.U[:-1], m) + (n + 1) * TINY) if n else 0.0
        lo = step_down(step_down(step_down(lo - err_l) + sym.L[-1]) - sym.el)
        hi = step_up(step_up(step_up(hi + err_u) + sym.U[-1]) + sym.eu)
    return np.where(np.isfinite(lo), lo, -np.inf), np.where(np.isfinite(hi), hi, np.inf)


def _linear(sym: Sym, apply, w: np.ndarray, fan_in: int, m: np.ndarray) -> Sym:
    """T' = W·T for a linear map given by `apply(W, batch)` (batch axis first), W float, any sign."""
    wp, wn, wa = np.maximum(w, 0), np.minimum(w, 0), np.abs(w)
    with np.errstate(over="ignore", invalid="ignore"):
        L = apply(wp, sym.L) + apply(wn, sym.U)
        U = apply(wp, sym.U) + apply(wn, sym.L)
        n2 = 2 * fan_in + 1
        mag = apply(wa, np.maximum(_magnitude(sym.L, m), _magnitude(sym.U, m))[None])[0]
        round_err = step_up(step_up(2 * n2 * EPS) * mag + n2 * TINY)
        el = step_up(apply(wp, sym.el[None])[0] + apply(-wn, sym.eu[None])[0])
        eu = step_up(apply(wp, sym.eu[None])[0] + apply(-wn, sym.el[None])[0])
        # the slacks were propagated in floats too: charge their own sums
        el, eu = step_up(step_up(el * (1 + 2 * n2 * EPS)) + round_err), step_up(step_up(eu * (1 + 2 * n2 * EPS)) + round_err)
    return Sym(L, U, el, eu)


def _add_const(sym: Sym, lo: np.ndarray, hi: np.ndarray) -> Sym:
    """T + b with b in [lo, hi] (floats enclosing the exact constant): one rounding per entry, charged."""
    L, U = sym.L.copy(), sym.U.copy()
    L[-1] = L[-1] + lo
    U[-1] = U[-1] + hi
    el = step_up(sym.el + np.abs(L[-1]) * EPS + TINY)
    eu = step_up(sym.eu + np.abs(U[-1]) * EPS + TINY)
    return Sym(L, U, el, eu)


def _float_params(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest floats and an upper bound of the residual |w − fl(w)|."""
    if arr.dtype != object:
        return arr.astype(np.float64), np.zeros(arr.shape)
    f = np.array([float(v) for v in arr.reshape(-1)]).reshape(arr.shape)
    r = np.array([round_out(abs(Fraction(v) - Fraction(x)), True) for v, x in zip(arr.reshape(-1), f.reshape(-1))]).reshape(arr.shape)
    return f, r


def _residual_slack(sym: Sym, apply, res: np.ndarray, in_bounds: Bounds) -> Sym:
    """Add |residual weights|·max|input| (concrete) to both slacks: the part of W the floats dropped."""
    if not np.any(res):
        return sym
    big = np.maximum(np.abs(in_bounds[0]), np.abs(in_bounds[1]))
    extra = step_up(apply(res, big[None])[0] * (1 + 1e-12) + TINY)
    return Sym(sym.L, sym.U, step_up(sym.el + extra), step_up(sym.eu + extra))


def _relu(sym: Sym, op: Act, lo: np.ndarray, hi: np.ndarray, m: np.ndarray) -> Sym | None:
    """DeepPoly for σ = ReLU/LeakyReLU(α >= 0) on concrete input bounds [lo, hi] (see the module docstring)."""
    alpha = op.activation.alpha if op.activation.kind == "leaky_relu" else Fraction(0)
    if alpha < 0 or alpha > 1:
        return None
    af = float(alpha)
    inactive, active = hi <= 0, lo >= 0
    unstable = ~(inactive | active)
    s_up = np.where(active, 1.0, np.where(inactive, af, 0.0))  # upper slope
    s_lo = s_up.copy()
    t_up = np.zeros(lo.shape)
    t_lo = np.zeros(lo.shape)
    idx = np.flatnonzero(unstable.reshape(-1))
    lf, hf = lo.reshape(-1), hi.reshape(-1)
    su, sl, tu, tl = s_up.reshape(-1), s_lo.reshape(-1), t_up.reshape(-1), t_lo.reshape(-1)
    for i in idx:
        l, u = Fraction(float(lf[i])), Fraction(float(hf[i]))
        chord = float((u - alpha * l) / (u - l)) if np.isfinite(lf[i]) and np.isfinite(hf[i]) else 1.0
        lam = 1.0 if (np.isfinite(hf[i]) and np.isfinite(lf[i]) and hf[i] > -lf[i]) else af
        su[i], sl[i] = chord, lam
        pts = [p for p in (l, Fraction(0), u)]
        sig = lambda z: z if z >= 0 else alpha * z  # noqa: E731
        tu[i] = round_out(max(sig(z) - Fraction(chord) * z for z in pts), True) if np.isfinite(lf[i]) and np.isfinite(hf[i]) else np.inf
        tl[i] = round_out(min(sig(z) - Fraction(lam) * z for z in pts), False) if np.isfinite(lf[i]) and np.isfinite(hf[i]) else -np.inf
    if np.any(~np.isfinite(tu)) or np.any(~np.isfinite(tl)):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        U = sym.U * s_up[None]
        L = sym.L * s_lo[None]
        U[-1] = U[-1] + t_up
        L[-1] = L[-1] + t_lo
        eu = step_up(s_up * sym.eu + 2 * EPS * s_up * _magnitude(sym.U, m) + 2 * EPS * np.abs(U[-1]) + 2 * TINY)
        el = step_up(s_lo * sym.el + 2 * EPS * s_lo * _magnitude(sym.L, m) + 2 * EPS * np.abs(L[-1]) + 2 * TINY)
    return Sym(L, U, el, eu)


def _concrete(b: Bounds, rows: int) -> Sym:
    """A tensor known only by its concrete bounds: zero coefficient rows, constants lo / hi."""
    L = np.zeros((rows,) + b[0].shape)
    U = np.zeros((rows,) + b[0].shape)
    L[-1], U[-1] = b[0], b[1]
    z = np.zeros(b[0].shape)
    return Sym(L, U, z, z.copy())


def _batch_apply(op):
    """The op's linear part applied to a batch (rows first), and its fan-in; None if not linear."""
    if isinstance(op, Conv):

        def conv(w: np.ndarray, x: np.ndarray) -> np.ndarray:  # x: rows × (N, C, *S); rows folded into the batch
            r, rest = x.shape[0], x.shape[1:]
            y = K.conv(x.reshape((r * rest[0],) + rest[1:]), w, None, op.window, op.group)
            return y.reshape((r, rest[0]) + y.shape[1:])

        return conv, int(np.prod(op.weight.shape[1:])), op.weight
    if isinstance(op, MatMul) and op.weight.ndim == 2:
        return (lambda w, x: np.matmul(x, w)), op.weight.shape[0], op.weight
    if isinstance(op, LeftMatMul):
        return (lambda w, x: np.matmul(w, x)), op.weight.shape[1], op.weight
    return None


def _step(node, sym_in: list, b_in: list, out_b: Bounds, m: np.ndarray, rows: int) -> Sym:
    op = node.op
    x = sym_in[0] if sym_in else None
    if isinstance(op, Identity):
        return x
    if isinstance(op, Reshape):
        return Sym(x.L.reshape((rows,) + op.shape), x.U.reshape((rows,) + op.shape), x.el.reshape(op.shape), x.eu.reshape(op.shape))
    if isinstance(op, Transpose):
        perm = (0,) + tuple(p + 1 for p in op.perm)
        return Sym(np.transpose(x.L, perm), np.transpose(x.U, perm), np.transpose(x.el, op.perm), np.transpose(x.eu, op.perm))
    if isinstance(op, Pad) and op.value == 0:
        pads = (0,) + op.pads[: len(op.pads) // 2] + (0,) + op.pads[len(op.pads) // 2 :]
        return Sym(K.pad_constant(x.L, pads, 0.0), K.pad_constant(x.U, pads, 0.0), K.pad_constant(x.el, op.pads, 0.0), K.pad_constant(x.eu, op.pads, 0.0))
    if isinstance(op, Act) and op.activation.kind in ("relu", "leaky_relu"):
        out = _relu(x, op, *b_in[0], m)
        return out if out is not None else _concrete(out_b, rows)
    if isinstance(op, Act) and op.activation.kind == "identity":
        return x
    lin = _batch_apply(op)
    if lin is not None:
        apply, fan_in, weight = lin
        wf, res = _float_params(weight)
        out = _residual_slack(_linear(x, apply, wf, fan_in, m), apply, res, b_in[0])
        bias = getattr(op, "bias", None)
        if bias is not None:
            blo, bhi = enclose(np.asarray(bias))
            shape = out.el.shape
            blo = np.broadcast_to(blo.reshape((1, -1) + (1,) * (len(shape) - 2)) if isinstance(op, Conv) else blo, shape)
            bhi = np.broadcast_to(bhi.reshape((1, -1) + (1,) * (len(shape) - 2)) if isinstance(op, Conv) else bhi, shape)
            out = _add_const(out, blo, bhi)
        return out
    if isinstance(op, Affine):
        shape = b_in[0][0].shape
        sf, sres = _float_params(np.asarray(op.scale))
        sf = np.broadcast_to(sf, shape)
        out = _residual_slack(_linear(x, lambda w, v: v * w, sf, 1, m), lambda w, v: v * w, np.broadcast_to(sres, shape), b_in[0])
        tlo, thi = enclose(np.asarray(op.shift))
        return _add_const(out, np.broadcast_to(tlo, shape), np.broadcast_to(thi, shape))
    if isinstance(op, BatchNorm):
        return _batchnorm(x, op, b_in[0], m)
    if isinstance(op, AveragePool) or (isinstance(op, GlobalPool) and op.mode == "average"):
        return _pool(x, op, m)
    if isinstance(op, Binary) and op.op in ("add", "sub"):
        a, b = sym_in
        if op.op == "add":
            L, U, el, eu = a.L + b.L, a.U + b.U, a.el + b.el, a.eu + b.eu
        else:
            L, U, el, eu = a.L - b.U, a.U - b.L, a.el + b.eu, a.eu + b.el
        with np.errstate(over="ignore"):
            el = step_up(el + 2 * EPS * (_magnitude(a.L, m) + _magnitude(b.U if op.op == "sub" else b.L, m)) + TINY)
            eu = step_up(eu + 2 * EPS * (_magnitude(a.U, m) + _magnitude(b.L if op.op == "sub" else b.U, m)) + TINY)
        return Sym(L, U, el, eu)
    return _concrete(out_b, rows)


def _batchnorm(x: Sym, op: BatchNorm, b_in: Bounds, m: np.ndarray) -> Sym:
    """y = f·(x − μ) + β + (a − f)(x − μ) with f the nearest float of a = γ/√(v+ε); the last term is bounded by
    |a − f|·max|x − μ| (concrete) and added to both slacks."""
    shape = b_in[0].shape
    cshape = (1, op.channels) + (1,) * (len(shape) - 2)
    f, delta = [], []
    for g, v in zip(as_fractions(np.asarray(op.scale)), as_fractions(np.asarray(op.var))):
        slo, shi = sqrt_bounds(Fraction(v) + op.epsilon)
        a_lo, a_hi = sorted((Fraction(g) / shi, Fraction(g) / slo))
        mid = float((a_lo + a_hi) / 2)
        f.append(mid), delta.append(round_out(max(a_hi - Fraction(mid), Fraction(mid) - a_lo), True))
    fw = np.broadcast_to(np.array(f).reshape(cshape), shape)
    mlo, mhi = (np.broadcast_to(v.reshape(cshape), shape) for v in enclose(np.asarray(op.mean)))
    centred = _add_const(x, -mhi, -mlo)
    out = _linear(centred, lambda w, v: v * w, fw, 1, m)
    big = step_up(np.maximum(np.abs(step_down(b_in[0] - mhi)), np.abs(step_up(b_in[1] - mlo))))
    extra = step_up(np.broadcast_to(np.array(delta).reshape(cshape), shape) * big * (1 + 4 * EPS) + TINY)
    out = Sym(out.L, out.U, step_up(out.el + extra), step_up(out.eu + extra))
    blo, bhi = (np.broadcast_to(v.reshape(cshape), shape) for v in enclose(np.asarray(op.bias)))
    return _add_const(out, blo, bhi)


def _pool(x: Sym, op, m: np.ndarray) -> Sym:
    """Average pools are linear with nonnegative weights 1/count (rounded): lower rows map to lower rows."""
    if isinstance(op, GlobalPool):
        axes = tuple(range(2, x.el.ndim))
        n = int(np.prod([x.el.shape[a] for a in axes]))

        def apply(v: np.ndarray) -> np.ndarray:
            return v.mean(axis=tuple(a + 1 for a in axes), keepdims=True) if v.ndim == x.L.ndim else v.mean(axis=axes, keepdims=True)
    else:
        n = int(np.prod(op.window.kernel))

        def apply(v: np.ndarray) -> np.ndarray:
            if v.ndim == x.L.ndim:  # rows × (N, C, *S): fold rows into the batch axis
                r, rest = v.shape[0], v.shape[1:]
                out = K.average_pool(v.reshape((r * rest[0],) + rest[1:]), op.window, op.count_include_pad)
                return out.reshape((r, rest[0]) + out.shape[1:])
            return K.average_pool(v, op.window, op.count_include_pad)
    with np.errstate(over="ignore", invalid="ignore"):
        L, U = apply(x.L), apply(x.U)
        mag = apply(np.maximum(_magnitude(x.L, m), _magnitude(x.U, m)))
        err = step_up(4 * (n + 2) * EPS * mag + (n + 2) * TINY)
        el = step_up(apply(x.el) * (1 + 4 * (n + 2) * EPS) + err)
        eu = step_up(apply(x.eu) * (1 + 4 * (n + 2) * EPS) + err)
    return Sym(L, U, el, eu)


def symbolic_bounds(graph: Graph, box: dict, max_entries: int = 12_000_000) -> dict[str, Bounds]:
    """Sound bounds of every tensor: symbolic (as above) intersected with interval bounds."""
    interval = interval_bounds(graph, box)
    free_lo, free_hi, sym = [], [], {}
    n_free = sum(int(np.sum(interval[s.name][0] < interval[s.name][1])) for s in graph.inputs)
    rows = n_free + 1
    offset = 0
    for s in graph.inputs:
        lo, hi = interval[s.name]
        free = (lo < hi).reshape(-1)
        L = np.zeros((rows,) + s.shape)
        flat = L.reshape(rows, -1)
        idx = np.flatnonzero(free)
        flat[offset + np.arange(len(idx)), idx] = 1.0
        U = L.copy()
        L.reshape(rows, -1)[-1, ~free] = lo.reshape(-1)[~free]
        U.reshape(rows, -1)[-1, ~free] = hi.reshape(-1)[~free]
        sym[s.name] = Sym(L, U, np.zeros(s.shape), np.zeros(s.shape))
        free_lo.append(lo.reshape(-1)[free]), free_hi.append(hi.reshape(-1)[free])
        offset += len(idx)
    xlo, xhi = np.concatenate(free_lo) if free_lo else np.zeros(0), np.concatenate(free_hi) if free_hi else np.zeros(0)
    m = np.maximum(np.abs(xlo), np.abs(xhi))
    out = dict(interval)
    for node in graph.nodes:
        shape = graph.shapes[node.output]
        if rows * int(np.prod(shape)) > max_entries:
            sym[node.output] = None
            continue
        ins = [sym.get(x) for x in node.inputs]
        b_in = [out[x] for x in node.inputs]
        if any(v is None for v in ins):
            ins = [v if v is not None else _concrete(b, rows) for v, b in zip(ins, b_in)]
        s = _step(node, ins, b_in, out[node.output], m, rows)
        lo, hi = concretize(s, xlo, xhi, m)
        ilo, ihi = interval[node.output]
        out[node.output] = (np.maximum(lo, ilo), np.minimum(hi, ihi))
        sym[node.output] = s
    return out


BOUNDS_METHODS = ("interval", "symbolic")


def bounds_by(method: str):
    """The bound function for a method name ('interval' or 'symbolic'); ValueError naming the choices."""
    if method == "interval":
        return interval_bounds
    if method == "symbolic":
        return symbolic_bounds
    raise ValueError(f"unknown bounds method {method!r}; choose one of {', '.join(BOUNDS_METHODS)}")
