"""Certified bounds on how far two networks of one architecture (e.g. a model and its rounded copy) can be apart
on a box: `certified_epsilon` (forward intervals) and `difference_bound` (differences substituted back through the
layers, exact integers; at least as tight).

Untrusted by the checker (which restates its own bound in checker/epsilon.py, with the kernel's
`squash.derivative_range`); used by `verify`'s difference-bound engine (any activations,
sigmoid and tanh included), by approximate lumping's export and by ε-certificates.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import LumpcheckError
from ..ir.activation import Activation
from ..ir.domain import Box
from ..ir.exact import as_fractions, ceil_float, to_fraction
from ..ir.network import Layer, Network
from .propagate import symbolic_bounds
from .squash import derivative_range

WINDOW_BUDGET = 100_000_000
"""Integer multiply-adds (about 5 s) `difference_bound` may spend; larger nets substitute fewer layers back."""


def certified_epsilon(exact: Network, rounded: Network, box: Box) -> Fraction:
    """Sound upper bound on max_i |y_exact,i − y_rounded,i| over the box, for two nets of one architecture.

    Layer by layer, with l <= z <= u the exact net's pre-activation bounds (bounds.symbolic_bounds),
    X >= |exact values| and D >= |exact − rounded values|: |Δz| <= |W'|·D + |W − W'|·X + |b − b'| =: δ.
    Then D <- slope·δ + |Δα|·(max(|l|,|u|) + δ), where both nets' pre-activations lie in [l − δ, u + δ]:
    ReLU/LeakyReLU with u + δ <= 0 have slope α (0 for ReLU), with l − δ >= 0 slope 1 (and no Δα term),
    otherwise σ's Lipschitz constant; Δα is a rounded LeakyReLU slope. Exact Fractions, every bound rounded up.
    """
    require_same_architecture(exact, rounded)
    if box.dim != exact.input_size:
        raise LumpcheckError(f"the box has {box.dim} inputs, the networks {exact.input_size}")
    x_bound = [_up(max(abs(lo), abs(hi))) for lo, hi in zip(box.lower, box.upper)]
    d_bound = [Fraction(0)] * len(x_bound)
    for le, lr, lb in zip(exact.layers, rounded.layers, symbolic_bounds(exact, box)):
        we, be = as_fractions(le.weight), as_fractions(le.bias)
        wr, br = as_fractions(lr.weight), as_fractions(lr.bias)
        dalpha = abs(le.activation.alpha - lr.activation.alpha)
        lower, upper = [to_fraction(v) for v in lb.lower], [to_fraction(v) for v in lb.upper]
        new_d = []
        for s in range(le.out_features):
            delta = sum(
                (abs(wr[s, r]) * d_bound[r] + _up(abs(we[s, r] - wr[s, r])) * x_bound[r] for r in range(len(x_bound))),
                _up(abs(be[s] - br[s])),
            )
            new_d.append(_up(_difference_after(le.activation, lower[s], upper[s], delta, dalpha)))
        d_bound = new_d
        x_bound = [_up(_magnitude_after(le.activation, max(abs(lo), abs(hi)))) for lo, hi in zip(lower, upper)]
    return max(d_bound, default=Fraction(0))


def secant_slopes(act: Activation, lo: Fraction, hi: Fraction, t: Fraction) -> tuple[Fraction, Fraction]:
    """Range of the secant slope (σ(z) − σ(z'))/(z − z') for z in [lo, hi], |z − z'| <= t."""
    if act.kind == "identity":
        return Fraction(1), Fraction(1)
    if act.kind in ("sigmoid", "tanh"):  # mean value theorem: a value of σ' on [lo − t, hi + t]
        return derivative_range(act, lo - t, hi + t)
    alpha = act.alpha  # relu (alpha 0) / leaky_relu: slopes alpha (z <= 0) and 1 (z >= 0)
    if lo - t >= 0:
        return Fraction(1), Fraction(1)
    if hi + t <= 0:
        return alpha, alpha
    return min(alpha, Fraction(1)), max(alpha, Fraction(1))


def _integers(values: Any) -> tuple[np.ndarray, int]:
    """(N, den) with values == N / den exactly: N an object array of Python ints (from floats, ints or Fractions)."""
    arr = np.asarray(values)
    pairs = [v.as_integer_ratio() for v in arr.reshape(-1).tolist()]
    den = math.lcm(1, *(d for _, d in pairs))
    out = np.empty(arr.shape, dtype=object)
    out.flat[:] = [n * (den // d) for n, d in pairs]
    return out, den


def _difference(exact: Layer, rounded: Layer) -> tuple[np.ndarray, int]:
    """G = [W − W' | b − b'] as (integers, den)."""
    (qn, qd), (rn, rd) = (_integers(np.column_stack([l.weight, l.bias])) for l in (exact, rounded))
    den = math.lcm(qd, rd)
    return qn * (den // qd) - rn * (den // rd), den


def _reach(c: np.ndarray, scale: int, box: tuple[np.ndarray, np.ndarray, int]) -> np.ndarray:
    """Per row of C = c / scale, max |C·h| over h in the box (lower, upper ends as integers / den); Fractions."""
    lo, hi, den = box
    pos, neg = np.where(c > 0, c, 0), np.where(c < 0, c, 0)
    top, bottom = pos.dot(hi) + neg.dot(lo), pos.dot(lo) + neg.dot(hi)
    return np.array([Fraction(max(abs(x), abs(y)), scale * den) for x, y in zip(top, bottom)], dtype=object)


def _weigh(a: np.ndarray, scale: int, v: tuple[np.ndarray, int]) -> np.ndarray:
    """|a / scale| · v for v = (integers, den) >= 0, as Fractions."""
    return np.array([Fraction(x, scale * v[1]) for x in np.abs(a).dot(v[0])], dtype=object)


def _with_one(lower: list[Fraction], upper: list[Fraction]) -> tuple[np.ndarray, np.ndarray, int]:
    """The box of (h, 1) for lower <= h <= upper, as (lower ints, upper ints, den)."""
    ints, den = _integers([*lower, 1, *upper, 1])
    return ints[: len(lower) + 1], ints[len(lower) + 1:], den


def difference_bound(
    exact: Network, rounded: Network, box: Box, window: int | None = None
) -> tuple[Fraction, list[Fraction]]:
    """(B, per-layer δ): B >= max_i |y_exact,i − y_rounded,i| on the box; δ_ℓ >= max_s |z_ℓ,s − z'_ℓ,s|.

    t_ℓ = z_ℓ − z'_ℓ = W'_ℓ·d_{ℓ−1} + e_ℓ with d = h − h' (d_0 = 0), e_ℓ = G_ℓ·(h_{ℓ−1}, 1), G_ℓ = [W − W' | b − b'],
    h in the exact net's intervals (symbolic bounds [l, u] through σ). Per neuron d = s·t with the secant slope s
    in [s0, s1] (`secant_slopes`): d = m·t + ν, m = (s0 + s1)/2, |ν| <= r·T, r = (s1 − s0)/2. Substituting back to
    layer 0: T_ℓ = reach(G_ℓ) + Σ_j |A_j|·(r_j∘T_j) + reach((A_j∘m_j)·G_j), A_{ℓ−1} = W'_ℓ,
    A_{j−1} = (A_j∘m_j)·W'_j, reach(C) = max |C·(h_{j−1}, 1)| per row. Substitution stops after `window` layers
    (None: all) with |A_j|·D_j, D_j = max|s|·T_j >= |d_j|. Exact (integers over common denominators); at least
    as tight as forward intervals (bounds.deviation.certified_epsilon, which is window 0 with cruder magnitudes).
    """
    if exact.widths != rounded.widths or [l.activation for l in exact.layers] != [l.activation for l in rounded.layers]:
        raise LumpcheckError(f"architectures differ: {exact.shape_str()} vs {rounded.shape_str()} (or activations differ)")
    if box.dim != exact.input_size:
        raise LumpcheckError(f"the box has {box.dim} inputs, the networks {exact.input_size}", box.source or None)
    inputs = _with_one(list(box.lower), list(box.upper))
    earlier: list[tuple] = []  # per layer, as (integers, den): W', m, r∘T, G, the box of (h_{ℓ−1}, 1), D
    deltas: list[Fraction] = []
    out = Fraction(0)
    for le, lr, lb in zip(exact.layers, rounded.layers, symbolic_bounds(exact, box)):
        wr, g = _integers(lr.weight), _difference(le, lr)
        t = _reach(g[0], g[1], inputs)
        a, den = wr  # A = a / den in integers: the n³ products stay cheap
        for j, ((wi, wd), (mi, md), rt, (gi, gd), box_j, dd) in enumerate(reversed(earlier)):
            if j == window:
                t = t + _weigh(a, den, dd)
                break
            t = t + _weigh(a, den, rt)
            a, den = a * mi[None, :], den * md
            t = t + _reach(a.dot(gi), den * gd, box_j)
            if j < len(earlier) - 1:  # the coefficients on d_0 = 0 are never needed
                a, den = a.dot(wi), den * wd
        zlo, zhi = [Fraction(v) for v in lb.lower], [Fraction(v) for v in lb.upper]
        s = [secant_slopes(le.activation, l, u, ts) for l, u, ts in zip(zlo, zhi, t)]
        d = [max(abs(s0), abs(s1)) * ts for (s0, s1), ts in zip(s, t)]
        earlier.append((wr, _integers([(s0 + s1) / 2 for s0, s1 in s]),
                        _integers([(s1 - s0) / 2 * ts for (s0, s1), ts in zip(s, t)]), g, inputs, _integers(d)))
        deltas.append(max(t, default=Fraction(0)))
        out = max(d, default=Fraction(0))
        images = [le.activation.image(l, u) for l, u in zip(zlo, zhi)]
        inputs = _with_one([v[0] for v in images], [v[1] for v in images])
    return out, deltas


def substitution_window(net: Network, budget: int = WINDOW_BUDGET) -> int:
    """The most layers `difference_bound` may substitute back while its products stay within `budget` terms."""
    widths = net.widths
    for window in range(len(net.layers) - 1, 0, -1):
        cost = sum(2 * widths[ell + 1] * widths[j] * widths[j - 1]
                   for ell in range(len(net.layers)) for j in range(max(1, ell - window + 1), ell + 1))
        if cost <= budget:
            return window
    return 0


def _difference_after(act: Activation, lo: Fraction, hi: Fraction, delta: Fraction, dalpha: Fraction) -> Fraction:
    """Bound on |σ(z) − σ'(z')| for z in [lo, hi] and |z − z'| <= delta (σ': LeakyReLU slope off by dalpha)."""
    if act.kind in ("relu", "leaky_relu"):
        if lo - delta >= 0:  # both active: identity
            return delta
        if hi + delta <= 0:  # both inactive: α·z − α'·z' = α·(z − z') + (α − α')·z'
            return abs(act.alpha) * delta + dalpha * (max(abs(lo), abs(hi)) + delta)
    return act.lipschitz * delta + dalpha * (max(abs(lo), abs(hi)) + delta)


def _up(x: Fraction) -> Fraction:
    """The smallest float64 >= x, as a Fraction (keeps denominators powers of two: the bound stays cheap to carry)."""
    return Fraction(ceil_float(x))


def _magnitude_after(act: Activation, mz: Fraction) -> Fraction:
    """A bound on |σ(z)| given |z| <= mz."""
    if act.kind == "sigmoid":
        return Fraction(1)
    if act.kind == "tanh":
        return min(Fraction(1), mz)
    return act.lipschitz * mz  # σ(0) = 0 and σ is L-Lipschitz


def require_same_architecture(a: Network, b: Network) -> None:
    """Same widths and activation kinds (LeakyReLU slopes may differ, e.g. by rounding)."""
    if a.widths != b.widths or [l.activation.kind for l in a.layers] != [l.activation.kind for l in b.layers]:
        raise LumpcheckError(f"architectures differ: {a.shape_str()} vs {b.shape_str()} (or activations differ)")
