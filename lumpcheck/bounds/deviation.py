"""A certified bound on how far a rounded copy of a network can be from it on a box (`certified_epsilon`).

Untrusted by the checker (which restates its own ε bound in checker/epsilon.py); used by `verify`'s
difference-bound engine, by approximate lumping's export and as the interval comparison of ε-certificates.
"""

from __future__ import annotations

from fractions import Fraction

from ..errors import LumpcheckError
from ..ir.activation import Activation
from ..ir.domain import Box
from ..ir.exact import as_fractions, ceil_float, to_fraction
from ..ir.network import Network
from .propagate import symbolic_bounds


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
