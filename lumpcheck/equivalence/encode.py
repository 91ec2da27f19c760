"""Monolithic z3 encoding: two piecewise-linear networks on shared inputs, in exact linear real arithmetic.

Every constant is the exact rational of the IR. ReLU/LeakyReLU become `If` terms, except neurons that sound
pre-activation bounds prove stable (always active: linear; never active: zero / α·z). Terms are built
structurally, so z3 hash-conses neurons the two networks have in common (same incoming weights on the
same inputs) into one term. Sigmoid and tanh are not expressible here: `NotEncodable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol, Sequence

import z3

from ..ir.activation import Activation
from ..ir.domain import Box
from ..ir.exact import as_fractions, fraction_str, to_fraction
from ..ir.network import Network
from .mode import Mode


class NotEncodable(Exception):
    """The network uses an activation that linear real arithmetic cannot express exactly."""


class PreBounds(Protocol):
    """Sound bounds lower[s] <= z_s <= upper[s] on one layer's pre-activations (e.g. bounds.LayerBounds)."""

    lower: Sequence
    upper: Sequence


@dataclass
class Encoding:
    """Shared input variables and the constraints whose satisfying assignments are counterexamples."""

    inputs: list[z3.ArithRef]
    constraints: list[z3.BoolRef]
    outputs_a: list[z3.ArithRef]
    outputs_b: list[z3.ArithRef]
    unstable: int  # neurons left as If terms (both nets)
    fixed: int  # neurons made linear or constant by the bounds


def real(value: object) -> z3.ArithRef:
    """An exact z3 rational constant."""
    return z3.RealVal(fraction_str(to_fraction(value)))


def _affine(row: Sequence[Fraction], bias: Fraction, v: Sequence[z3.ArithRef]) -> z3.ArithRef:
    terms = [real(w) * vi for w, vi in zip(row, v) if w != 0]
    if bias != 0 or not terms:
        terms.append(real(bias))
    return terms[0] if len(terms) == 1 else z3.Sum(terms)


def _activate(act: Activation, z: z3.ArithRef, lo: Fraction | None, hi: Fraction | None) -> tuple[z3.ArithRef, bool]:
    """σ(z) as a term, and whether the bounds fixed its phase (only for relu/leaky_relu)."""
    if act.kind == "identity":
        return z, False
    if act.kind not in ("relu", "leaky_relu"):
        raise NotEncodable(f"{act} cannot be encoded exactly in linear real arithmetic")
    negative = real(0) if act.kind == "relu" else real(act.alpha) * z
    if lo is not None and lo >= 0:
        return z, True
    if hi is not None and hi <= 0:
        return negative, True
    return z3.If(z >= 0, z, negative), False


def encode_network(
    net: Network, x: Sequence[z3.ArithRef], bounds: Sequence[PreBounds] | None = None
) -> tuple[list[z3.ArithRef], int, int]:
    """The network's output terms on inputs x; also (#unstable, #fixed) neurons. bounds[ℓ] is layer ℓ's."""
    v: list[z3.ArithRef] = list(x)
    unstable = fixed = 0
    for li, layer in enumerate(net.layers):
        w, b = as_fractions(layer.weight), as_fractions(layer.bias)
        lb = bounds[li] if bounds is not None and li < len(bounds) else None
        out = []
        for s, (row, bs) in enumerate(zip(w, b)):
            lo, hi = (to_fraction(lb.lower[s]), to_fraction(lb.upper[s])) if lb is not None else (None, None)
            term, was_fixed = _activate(layer.activation, _affine(row, bs, v), lo, hi)
            out.append(term)
            if layer.activation.kind != "identity":
                fixed += was_fixed
                unstable += not was_fixed
        v = out
    return v, unstable, fixed


def violation(mode: "Mode", ya: Sequence[z3.ArithRef], yb: Sequence[z3.ArithRef]) -> z3.BoolRef:
    """The negated property: outputs differ (strict), differ by more than ε (epsilon), top-1 (argmin) sets differ,
    (delta-top1, relaxed) A's margins exceed L⁻ for a class that is not B's unique maximum, or (a property taken
    as written) [y_a | y_b] satisfies its dnf."""
    if mode.written:
        y = list(ya) + list(yb)
        return z3.Or([z3.And([atom_term(atom, y) for atom in conj]) for conj in mode.dnf])
    if mode.kind == "strict":
        return z3.Or([p != q for p, q in zip(ya, yb)])
    if mode.kind == "epsilon":
        eps = real(mode.epsilon)
        return z3.Or([z3.Or(p - q > eps, q - p > eps) for p, q in zip(ya, yb)])
    if mode.kind == "delta-top1":
        return _relaxed_delta(mode, ya, yb)
    if mode.kind == "argmin":  # the minimal outputs of y are the maximal ones of −y
        ya, yb = [-y for y in ya], [-y for y in yb]

    def maximal(y: Sequence[z3.ArithRef], i: int) -> z3.BoolRef:
        return z3.And([y[i] >= y[j] for j in range(len(y)) if j != i])

    return z3.Or([maximal(ya, i) != maximal(yb, i) for i in range(len(ya))])


def _relaxed_delta(mode: "Mode", ya: Sequence[z3.ArithRef], yb: Sequence[z3.ArithRef]) -> z3.BoolRef:
    """delta-top1 negated, with softmax(a)_c > δ relaxed to a_c − a_j > L⁻ for all j != c (implied by it, as
    L⁻ <= ln(δ/(1 − δ))): some class c has those margins while c is not B's unique maximum. No model: the
    property holds. A model is only a candidate (exact replay decides)."""
    lminus = real(mode.log_odds)
    m = len(ya)
    return z3.Or([z3.And(z3.And([ya[c] - ya[j] > lminus for j in range(m) if j != c]),
                         z3.Or([yb[j] >= yb[c] for j in range(m) if j != c]))
                  for c in range(m)])
def atom_term(atom, y: Sequence[z3.ArithRef]) -> z3.BoolRef:
    """The linear atom coeffs · y op bound (op '<=', '<' or '=') as an exact z3 formula."""
    terms = [real(c) * v for c, v in zip(atom.coeffs, y) if c != 0]
    s = z3.Sum(terms) if len(terms) > 1 else terms[0] if terms else real(0)
    bound = real(atom.bound)
    return s < bound if atom.op == "<" else s <= bound if atom.op == "<=" else s == bound


def encode_pair(
    a: Network,
    b: Network,
    box: Box | None,
    mode: "Mode",
    bounds_a: Sequence[PreBounds] | None = None,
    bounds_b: Sequence[PreBounds] | None = None,
) -> Encoding:
    """Both nets on shared inputs x, x in the box (all of R^n when box is None), and the negated property."""
    x = [z3.Real(f"x_{i}") for i in range(a.input_size)]
    ya, ua, fa = encode_network(a, x, bounds_a)
    yb, ub, fb = encode_network(b, x, bounds_b)
    constraints: list[z3.BoolRef] = []
    if box is not None:
        for xi, lo, hi in zip(x, box.lower, box.upper):
            constraints += [xi >= real(lo), xi <= real(hi)]
    constraints.append(violation(mode, ya, yb))
    return Encoding(x, constraints, ya, yb, ua + ub, fa + fb)
