"""Relation transfer through channel-wise ops (the rules of channel lumping, each with its proof).

`transfer` maps the relation of an op's input (t_c = fac_c·Y_key + off_c per channel, see `relations.Rel`) to the
relation of its output; every helper states the identity that makes its rule exact.
"""

from __future__ import annotations

from fractions import Fraction
from math import prod

import numpy as np

from ..bounds.graph_interval import channel_phases
from ..ir.exact import as_fractions
from ..ir.graph import kernels as K
from ..ir.graph.dag import Graph, Node
from ..ir.graph.ops import (Act, Affine, AveragePool, BatchNorm, Clip, GlobalPool, Identity, MaxPool, Pad, Reshape,
                            Softmax, Transpose)  # fmt: skip
from ..ir.graph.radical import rational_sqrt
from .channel_relations import Axis, Rel, free_rel, per_channel


def _positive_homogeneous(rel: Rel, tag: tuple, value) -> Rel:
    """σ(c·z) = c·σ(z) for c > 0 (ReLU, LeakyReLU): σ(fY + d) = |f|·σ(±(Y + d/f)), key (k, d/f, sign f)."""
    keys, facs, offs = [], [], []
    for k, f, d in zip(rel.key, rel.fac, rel.off):
        if f == 0:
            keys.append(None), facs.append(Fraction(0)), offs.append(value(d))
        else:
            keys.append((k, d / f, f > 0) + tag), facs.append(abs(f)), offs.append(Fraction(0))
    return Rel(tuple(keys), tuple(facs), tuple(offs))


def _squash(rel: Rel, tag: tuple, kind: str) -> Rel:
    """sigmoid(fY+d) = 1 − sigmoid(−fY−d); tanh(fY+d) = −tanh(−fY−d): equal (f, d) up to sign share a key."""
    keys, facs, offs = [], [], []
    for i, (k, f, d) in enumerate(zip(rel.key, rel.fac, rel.off)):
        if f == 0:
            if d == 0:
                keys.append(None), facs.append(Fraction(0)), offs.append(Fraction(1, 2) if kind == "sigmoid" else Fraction(0))
            else:
                keys.append(("free",) + tag + (i,)), facs.append(Fraction(1)), offs.append(Fraction(0))
        elif f > 0:
            keys.append((k, f, d) + tag), facs.append(Fraction(1)), offs.append(Fraction(0))
        else:
            keys.append((k, -f, -d) + tag), facs.append(Fraction(-1)), offs.append(Fraction(1) if kind == "sigmoid" else Fraction(0))
    return Rel(tuple(keys), tuple(facs), tuple(offs))


def _duplicates(rel: Rel, tag: tuple, params: list, value) -> Rel:
    """Any element-wise map g_c: channels with equal (key, fac, off, params) are equal after it (g is a function)."""
    keys, facs, offs = [], [], []
    for i, (k, f, d) in enumerate(zip(rel.key, rel.fac, rel.off)):
        v = value(d, params[i]) if f == 0 else None
        if f == 0 and v is not None:
            keys.append(None), facs.append(Fraction(0)), offs.append(v)
        else:
            keys.append((k, f, d, params[i]) + tag), facs.append(Fraction(1)), offs.append(Fraction(0))
    return Rel(tuple(keys), tuple(facs), tuple(offs))


def _affine(rel: Rel, scale: list, shift: list) -> Rel:
    """a·(fY + d) + b = (a f)Y + (a d + b), per channel (a = 0: the constant b)."""
    facs = tuple(a * f for a, f in zip(scale, rel.fac))
    offs = tuple(a * d + b for a, d, b in zip(scale, rel.off, shift))
    keys = tuple(None if f == 0 else k for k, f in zip(rel.key, facs))
    return Rel(keys, facs, offs)


def _linear_spread(rel: Rel, tag: tuple, mask_key: tuple) -> Rel:
    """A linear map L on positions with L(1) not constant (zero-padded pool/pad): L(fY + d) = f·L(Y + d/f), and a
    constant κ ≠ 0 gives κ·L(1) — channels with equal d/f (or constants) share a key."""
    keys, facs, offs = [], [], []
    for k, f, d in zip(rel.key, rel.fac, rel.off):
        if f == 0:
            keys.append(None if d == 0 else mask_key), facs.append(d), offs.append(Fraction(0))
        else:
            keys.append((k, d / f) + tag), facs.append(f), offs.append(Fraction(0))
    keys = [None if f == 0 else k for k, f in zip(keys, facs)]
    return Rel(tuple(keys), tuple(facs), tuple(offs))


def _max_pool(rel: Rel, tag: tuple) -> Rel:
    """max over a window of fY + d = f·max(Y) + d for f > 0, f·min(Y) + d for f < 0; constants stay constant
    (every window holds an input entry; MaxPool's padding never wins)."""
    keys = tuple(None if f == 0 else (k, f > 0) + tag for k, f in zip(rel.key, rel.fac))
    return Rel(keys, rel.fac, rel.off)


def _pad(rel: Rel, tag: tuple, p: Fraction) -> Rel:
    """pad_p(fY + d) = f·pad_0(Y + (d − p)/f) + p; a constant κ ≠ p becomes (κ − p)·mask + p."""
    keys, facs, offs = [], [], []
    for k, f, d in zip(rel.key, rel.fac, rel.off):
        if f == 0:
            keys.append(None if d == p else ("mask",) + tag), facs.append(Fraction(0) if d == p else d - p), offs.append(p)
        else:
            keys.append((k, (d - p) / f) + tag), facs.append(f), offs.append(p)
    return Rel(tuple(keys), tuple(facs), tuple(offs))


def _bn_constant(gamma: Fraction, beta: Fraction, mean: Fraction, ve: Fraction, d: Fraction) -> Fraction | None:
    """γ(d − μ)/√(var+ε) + β when rational."""
    if d == mean or gamma == 0:
        return beta
    a = rational_sqrt(gamma * gamma / ve)
    return None if a is None else beta + (a if gamma > 0 else -a) * (d - mean)


def _bn_related(p: dict, A: int, B: int, rel: Rel) -> tuple[Fraction, Fraction] | None:
    """(s, t) with y_B = s·y_A + t exactly, when both are rational; None otherwise.

    y_c = a_c(fac_c Y + off_c − μ_c) + β_c with a_c = γ_c/√(v_c+ε). Then y_B = s·y_A + t for all Y iff
    s = a_B fac_B/(a_A fac_A), i.e. s² = fac_B² γ_B² (v_A+ε) / (fac_A² γ_A² (v_B+ε)) with the sign of
    fac_B γ_B/(fac_A γ_A), and t = β_B − s β_A + a_B·q, q = (off_B − μ_B) − (fac_B/fac_A)(off_A − μ_A).
    Squares and signs are compared exactly; a_B must be rational unless q = 0.
    """
    gA, gB, vA, vB = p["g"][A], p["g"][B], p["ve"][A], p["ve"][B]
    fA, fB = rel.fac[A], rel.fac[B]
    s = rational_sqrt(fB * fB * gB * gB * vA / (fA * fA * gA * gA * vB))
    if s is None:
        return None
    if (fB * gB) / (fA * gA) < 0:
        s = -s
    q = (rel.off[B] - p["m"][B]) - (fB / fA) * (rel.off[A] - p["m"][A])
    t = p["b"][B] - s * p["b"][A]
    if q != 0:
        aB = rational_sqrt(gB * gB / vB)
        if aB is None:
            return None
        t += (aB if gB > 0 else -aB) * q
    return s, t


def _batchnorm(rel: Rel, op: BatchNorm, tag: tuple) -> Rel:
    """Re-key after BatchNorm: within one input key, channels whose outputs are rationally affinely related to a
    representative (checked by `_bn_related`, no square root evaluated) share a new key; y_rep is Y."""
    f = [Fraction(v) for v in as_fractions(np.asarray(op.scale))]
    p = {"g": f, "b": list(as_fractions(op.bias)), "m": list(as_fractions(op.mean)),
         "ve": [Fraction(v) + op.epsilon for v in as_fractions(op.var)]}  # fmt: skip
    n = len(rel.key)
    keys: list = [None] * n
    facs: list = [Fraction(0)] * n
    offs: list = [Fraction(0)] * n
    reps: dict = {}
    for c in range(n):
        if rel.fac[c] == 0 or p["g"][c] == 0:
            d = rel.off[c] if rel.fac[c] == 0 else p["m"][c]
            v = _bn_constant(p["g"][c], p["b"][c], p["m"][c], p["ve"][c], d)
            if v is not None:
                offs[c] = v
                continue
            keys[c], facs[c] = ("free",) + tag + (c,), Fraction(1)
            continue
        for r in reps.get(rel.key[c], []):
            st = _bn_related(p, r, c, rel)
            if st is not None:
                keys[c], facs[c], offs[c] = ("bn", r) + tag, st[0], st[1]
                break
        else:
            reps.setdefault(rel.key[c], []).append(c)
            keys[c], facs[c] = ("bn", c) + tag, Fraction(1)
    return Rel(tuple(keys), tuple(facs), tuple(offs))


def join_rel(a: Rel, b: Rel, tag: tuple, sign: int) -> Rel:
    """v = t ± u: v_c = f_t Y_kt + (±f_u) Y_ku + (d_t ± d_u); channels with equal (k_t, k_u, f_u/f_t) share a key."""
    keys, facs, offs = [], [], []
    for kt, ft, dt, ku, fu, du in zip(a.key, a.fac, a.off, b.key, b.fac, b.off):
        fu, du = sign * fu, sign * du
        off = dt + du
        if ft == 0 and fu == 0:
            keys.append(None), facs.append(Fraction(0))
        elif ft == 0:
            keys.append((None, ku) + tag), facs.append(fu)
        elif fu == 0:
            keys.append((kt, None) + tag), facs.append(ft)
        else:
            keys.append((kt, ku, fu / ft) + tag), facs.append(ft)
        offs.append(off)
    return Rel(tuple(keys), tuple(facs), tuple(offs))


def extremum_rel(a: Rel, b: Rel, tag: tuple, op: str) -> Rel:
    """max(fY + d, fY' + d) = f·max(Y, Y') + d for f > 0 (min likewise); constants give constants."""
    keys, facs, offs = [], [], []
    for i, (kt, ft, dt, ku, fu, du) in enumerate(zip(a.key, a.fac, a.off, b.key, b.fac, b.off)):
        if ft == 0 and fu == 0:
            keys.append(None), facs.append(Fraction(0)), offs.append(max(dt, du) if op == "max" else min(dt, du))
        elif ft == fu and ft > 0 and dt == du:
            keys.append((kt, ku) + tag), facs.append(ft), offs.append(dt)
        else:
            keys.append(("free",) + tag + (i,)), facs.append(Fraction(1)), offs.append(Fraction(0))
    return Rel(tuple(keys), tuple(facs), tuple(offs))


def _with_phases(rel: Rel, out: Rel, phases: tuple, alpha: Fraction) -> Rel:
    """On a box, a channel whose pre-activation is <= 0 everywhere is σ(x) = α·x (ReLU: the constant 0), one that is
    >= 0 everywhere is x: a per-channel linear map s·(fY + d) = (s f)Y + s d on the *input* key (stable channels of
    one input class stay related whatever their factor's sign)."""
    keys, facs, offs = list(out.key), list(out.fac), list(out.off)
    for c, ph in enumerate(phases):
        if ph is None:
            continue
        s = Fraction(1) if ph == "active" else alpha
        f, d = s * rel.fac[c], s * rel.off[c]
        keys[c], facs[c], offs[c] = (None if f == 0 else ("stable", rel.key[c])), f, d
    return Rel(tuple(keys), tuple(facs), tuple(offs))


def _retag(rel: Rel, tag: tuple) -> Rel:
    """A per-channel map L with L(fY + d) = f·L(Y) + d (positions-linear, L(1) = 1): same fac/off, new variable."""
    return Rel(tuple(None if f == 0 else (k,) + tag for k, f in zip(rel.key, rel.fac)), rel.fac, rel.off)


def _pool_counts_uniform(op: AveragePool, spatial: tuple[int, ...]) -> bool:
    """True when AveragePool(1) = 1 everywhere (no zero pad is counted), so constants and offsets pass through."""
    real = K.pool_counts(spatial, op.window, False)
    used = K.pool_counts(spatial, op.window, op.count_include_pad)
    return bool(np.array_equal(real, used))


def _clamp(d: Fraction, bounds: tuple) -> Fraction:
    lo, hi = bounds
    if lo is not None and d < lo:
        d = lo
    if hi is not None and d > hi:
        d = hi
    return d


def transfer(node: Node, graph: Graph, rel: Rel, ax: Axis, bounds: dict | None, phases: dict) -> Rel:
    """The output relation of a carrying op from its input relation (rules proved in the helpers); with sound
    `bounds` on a box, the ReLU phases used are recorded in `phases`."""
    op, tag = node.op, (node.output,)
    shape = graph.shapes[node.output]
    if isinstance(op, (Identity, Reshape, Transpose)):
        return rel
    if isinstance(op, Act):
        kind = op.activation.kind
        if kind == "identity":
            return rel
        if kind in ("relu", "leaky_relu"):
            out = _positive_homogeneous(rel, tag, op.activation.exact)
            if bounds is not None:
                found = channel_phases(*bounds[node.inputs[0]], ax.axis, ax.inner, ax.channels)
                phases[node.output] = found
                out = _with_phases(rel, out, found, op.activation.alpha if kind == "leaky_relu" else Fraction(0))
            return out
        return _squash(rel, tag, kind)
    if isinstance(op, Affine):
        scale, shift = per_channel(op.scale, shape, ax), per_channel(op.shift, shape, ax)
        return free_rel(node.output, ax.channels) if scale is None or shift is None else _affine(rel, scale, shift)
    if isinstance(op, Clip):
        lo = per_channel(op.lower, shape, ax) if op.lower is not None else [None] * ax.channels
        hi = per_channel(op.upper, shape, ax) if op.upper is not None else [None] * ax.channels
        if lo is None or hi is None:
            return free_rel(node.output, ax.channels)
        return _duplicates(rel, tag, list(zip(lo, hi)), _clamp)
    if isinstance(op, BatchNorm):
        return _batchnorm(rel, op, tag)
    if isinstance(op, MaxPool) or (isinstance(op, GlobalPool) and op.mode == "max"):
        return _max_pool(rel, tag)
    if isinstance(op, GlobalPool) or (isinstance(op, AveragePool) and _pool_counts_uniform(op, graph.shapes[node.inputs[0]][2:])):
        return _retag(rel, tag)
    if isinstance(op, AveragePool):
        return _linear_spread(rel, tag, ("mask",) + tag)
    if isinstance(op, Pad):
        return rel if not any(op.pads) else _pad(rel, tag, op.value)
    if isinstance(op, Softmax):  # softmax over positions ignores a per-channel shift: softmax(fY + d) = softmax(fY)
        n = prod(shape[i] for i in op.axes)
        keys = tuple(None if f == 0 else (k, f) + tag for k, f in zip(rel.key, rel.fac))
        facs = tuple(Fraction(0) if f == 0 else Fraction(1) for f in rel.fac)
        return Rel(keys, facs, tuple(Fraction(1, n) if f == 0 else Fraction(0) for f in rel.fac))
    raise AssertionError(f"no transfer rule for {op.kind}")
