"""Graph checker: per-node obligations for channel claims, re-derived independently of the prover.

A pair relation between channels m and ρ of one tensor is ("lin", r, o): t_m = r·t_ρ + o at every position,
or ("const", κ_m, κ_ρ): both are constants. `derive` maps the pair relation on an op's input to the one on
its output (None: nothing follows); `producer_rows` aggregates a Conv/MatMul's weights over the input claims.
Every rule is a one-line identity, stated at the function. Exact arithmetic only (Fractions; BatchNorm through
squares of rationals). Independent of reduction/channel_transfer.py's functions (same facts, re-stated for checking).
"""

from __future__ import annotations

from fractions import Fraction
from math import isqrt, prod

import numpy as np

from ..ir.exact import as_fractions
from ..ir.graph import kernels as K
from ..ir.graph.ops import (Act, Affine, AveragePool, BatchNorm, Binary, Clip, GlobalPool, Identity, MaxPool, Op, Pad,
                            Reshape, Softmax, Transpose)  # fmt: skip
from .graph_document import Claim

Pair = tuple  # ("lin", r, o) | ("const", km, kr)


def exact_root(q: Fraction) -> Fraction | None:
    """√q if rational (q >= 0)."""
    if q < 0:
        return None
    a, b = isqrt(q.numerator), isqrt(q.denominator)
    return Fraction(a, b) if a * a == q.numerator and b * b == q.denominator else None


def relate(claims: dict[int, Claim], m: int, rho: int) -> Pair | None:
    """The pair relation of channels m, ρ implied by the tensor's claims (reps must be unclaimed channels)."""
    cm, cr = claims.get(m), claims.get(rho)
    if cm is not None and cm.rep is None:
        return ("const", cm.offset, cr.offset) if cr is not None and cr.rep is None else None
    if cr is not None and cr.rep is None:
        return None
    rep_m, rm, om = (cm.rep, cm.factor, cm.offset) if cm else (m, Fraction(1), Fraction(0))
    rep_r, rr, orr = (cr.rep, cr.factor, cr.offset) if cr else (rho, Fraction(1), Fraction(0))
    if rep_m != rep_r:
        return None
    r = rm / rr  # t_m = rm·X + om, t_ρ = rr·X + orr  ⇒  t_m = (rm/rr)(t_ρ − orr) + om
    return ("lin", r, om - r * orr)


def matches(claim: Claim, pair: Pair | None) -> bool:
    """Does a derived pair relation (against claim.rep) establish the claim exactly?"""
    if pair is None:
        return False
    if pair[0] == "lin":
        return pair[1] == claim.factor and pair[2] == claim.offset
    return claim.offset == pair[1] - claim.factor * pair[2]  # two constants: any factor with the matching offset


def per_channel_values(arr: np.ndarray, shape: tuple, axis: int, inner: int, channels: int) -> list | None:
    """Per-channel value of a parameter broadcast to `shape` (None if it varies inside a channel)."""
    full = np.moveaxis(np.broadcast_to(as_fractions(np.asarray(arr)), shape), axis, 0)
    vals: list = [None] * channels
    for i in range(shape[axis]):
        c = (i // inner) % channels
        block = full[i].reshape(-1)
        if any(v != block[0] for v in block):
            return None
        if vals[c] is None:
            vals[c] = block[0]
        elif vals[c] != block[0]:
            return None
    return vals


def _clamp(v: Fraction, lo: Fraction | None, hi: Fraction | None) -> Fraction:
    if lo is not None and v < lo:
        v = lo
    return hi if hi is not None and v > hi else v


def _bn_pair(op: BatchNorm, m: int, rho: int, pair: Pair) -> Pair | None:
    """y = γ(x − μ)/√(v+ε) + β. From x_m = r·x_ρ + o: y_m = s·y_ρ + t with s = a_m r/a_ρ and
    t = β_m − s β_ρ + a_m(r μ_ρ + o − μ_m); s via s² = r²γ_m²(v_ρ+ε)/(γ_ρ²(v_m+ε)) and its sign; a_m rational or
    its multiplier zero."""
    g, b, mu = (as_fractions(np.asarray(x)) for x in (op.scale, op.bias, op.mean))
    ve = [Fraction(v) + op.epsilon for v in as_fractions(np.asarray(op.var))]

    def a(c: int) -> Fraction | None:
        root = exact_root(g[c] * g[c] / ve[c])
        return None if root is None else (root if g[c] >= 0 else -root)

    if pair[0] == "const":
        vals = []
        for c, k in ((m, pair[1]), (rho, pair[2])):
            if k == mu[c] or g[c] == 0:
                vals.append(b[c])
            elif a(c) is not None:
                vals.append(a(c) * (k - mu[c]) + b[c])
            else:
                return None
        return ("const", vals[0], vals[1])
    _, r, o = pair
    if g[m] == 0 or g[rho] == 0:
        return None
    s = exact_root(r * r * g[m] * g[m] * ve[rho] / (g[rho] * g[rho] * ve[m]))
    if s is None:
        return None
    s = s if r * g[m] / g[rho] > 0 else -s
    q = r * mu[rho] + o - mu[m]
    t = b[m] - s * b[rho]
    if q != 0:
        am = a(m)
        if am is None:
            return None
        t += am * q
    return ("lin", s, t)


def _pl_value(op: Act, k: Fraction) -> Fraction | None:
    act = op.activation
    if act.kind in ("identity", "relu", "leaky_relu"):
        return act.exact(k)
    if k == 0:
        return Fraction(1, 2) if act.kind == "sigmoid" else Fraction(0)
    return None


def _act_pair(op: Act, pair: Pair) -> Pair | None:
    kind = op.activation.kind
    if pair[0] == "const":
        vm, vr = _pl_value(op, pair[1]), _pl_value(op, pair[2])
        return None if vm is None or vr is None else ("const", vm, vr)
    _, r, o = pair
    if kind == "identity":
        return pair
    if kind in ("relu", "leaky_relu"):  # σ(r·x) = r·σ(x) for r > 0
        return ("lin", r, Fraction(0)) if r > 0 and o == 0 else None
    if o == 0 and r == 1:
        return pair
    if o == 0 and r == -1:  # sigmoid(−x) = 1 − sigmoid(x); tanh(−x) = −tanh(x)
        return ("lin", Fraction(-1), Fraction(1) if kind == "sigmoid" else Fraction(0))
    return None


def _stable_pair(op: Act, pair: Pair, pm: str | None, pr: str | None) -> Pair | None:
    """On the box, a stable channel is y = s·x with s = 1 (active) or α (inactive; ReLU: 0)."""
    if pm is None or pr is None:
        return None
    alpha = op.activation.alpha if op.activation.kind == "leaky_relu" else Fraction(0)
    sm, sr = (Fraction(1) if p == "active" else alpha for p in (pm, pr))
    if pair[0] == "const":
        return ("const", sm * pair[1], sr * pair[2])
    if sr == 0:
        return ("const", Fraction(0), Fraction(0)) if sm == 0 else None
    return ("lin", sm * pair[1] / sr, sm * pair[2])


def derive(op: Op, pair: Pair, m: int, rho: int, ctx: dict) -> Pair | None:
    """Output pair relation of channels m, ρ of a channel-wise op, from the input pair relation.

    ctx: 'uniform' (AveragePool: pool(1) = 1 everywhere), 'affine' (per-channel scale/shift lists),
    'bounds' (Clip per-channel (lo, hi)), 'softmax_n' (entries per softmax group), 'phases' (verified ReLU
    phases per channel on the certificate's box)."""
    if isinstance(op, (Identity, Reshape, Transpose)) or (isinstance(op, GlobalPool) and op.mode == "average"):
        return pair  # linear with L(1) = 1
    if isinstance(op, Act):
        phases = ctx.get("phases")
        if phases is not None and (phases[m] is not None or phases[rho] is not None):
            return _stable_pair(op, pair, phases[m], phases[rho])
        return _act_pair(op, pair)
    if isinstance(op, Affine):
        (a, b) = ctx["affine"]
        if pair[0] == "const":
            return ("const", a[m] * pair[1] + b[m], a[rho] * pair[2] + b[rho])
        if a[rho] == 0:
            return ("const", b[m], b[rho]) if a[m] == 0 else None
        r = a[m] * pair[1] / a[rho]  # a_m(r x + o) + b_m = (a_m r/a_ρ)(y_ρ − b_ρ) + a_m o + b_m
        return ("lin", r, a[m] * pair[2] + b[m] - r * b[rho])
    if isinstance(op, Clip):
        lo, hi = ctx["bounds"]
        if pair[0] == "const":
            return ("const", _clamp(pair[1], lo[m], hi[m]), _clamp(pair[2], lo[rho], hi[rho]))
        return pair if pair[1:] == (1, 0) and lo[m] == lo[rho] and hi[m] == hi[rho] else None
    if isinstance(op, BatchNorm):
        return _bn_pair(op, m, rho, pair)
    if isinstance(op, MaxPool) or (isinstance(op, GlobalPool) and op.mode == "max"):
        return pair if pair[0] == "const" or pair[1] > 0 else None  # max(r x + o) = r·max(x) + o for r > 0
    if isinstance(op, AveragePool):
        if ctx["uniform"]:
            return pair
        if pair[0] == "const":  # κ·ρ(pos): constants are multiples of one map
            return ("lin", pair[1] / pair[2], Fraction(0)) if pair[2] != 0 else (("const", 0, 0) if pair[1] == 0 else None)
        return pair if pair[2] == 0 else None
    if isinstance(op, Pad):
        if not any(op.pads):
            return pair
        p = op.value
        if pair[0] == "const":  # (κ − p)·mask + p
            if pair[1] == p and pair[2] == p:
                return pair
            if pair[2] == p:
                return None
            r = (pair[1] - p) / (pair[2] - p)
            return ("lin", r, p - r * p)
        return pair if p == pair[1] * p + pair[2] else None  # the border value p obeys the relation too
    if isinstance(op, Softmax):  # softmax over positions ignores a per-channel shift
        if pair[0] == "const":
            n = Fraction(1, ctx["softmax_n"])
            return ("const", n, n)
        return ("lin", Fraction(1), Fraction(0)) if pair[1] == 1 else None
    return None


def join(op: Binary, a: Pair | None, b: Pair | None) -> Pair | None:
    """v = t ± u (or max/min) from the pair relations on both inputs."""
    if a is None or b is None:
        return None
    sign = -1 if op.op == "sub" else 1
    if op.op in ("max", "min"):
        if a[0] == "const" and b[0] == "const":
            f = max if op.op == "max" else min
            return ("const", f(a[1], b[1]), f(a[2], b[2]))
        return a if a[0] == "lin" and a == b and a[1] > 0 else None
    if a[0] == "const" and b[0] == "const":
        return ("const", a[1] + sign * b[1], a[2] + sign * b[2])
    if a[0] == "lin" and b[0] == "lin":
        return ("lin", a[1], a[2] + sign * b[2]) if a[1] == b[1] else None
    lin, const = (a, b) if a[0] == "lin" else (b, a)
    r = lin[1]
    shift = const[1] - r * const[2]  # a constant pair obeys any factor r with this offset
    if lin is a:  # v_m = r t_ρ + o ± κ_m, v_ρ = t_ρ ± κ_ρ
        return ("lin", r, lin[2] + sign * shift)
    return ("lin", r, sign * lin[2] + shift)  # v_m = κ_m ± (r u_ρ + o), v_ρ = κ_ρ ± u_ρ


def pool_uniform(op: AveragePool, spatial: tuple) -> bool:
    return bool(np.array_equal(K.pool_counts(spatial, op.window, False), K.pool_counts(spatial, op.window, op.count_include_pad)))


def softmax_entries(op: Softmax, shape: tuple) -> int:
    return prod(shape[a] for a in op.axes)
