"""LP/MILP tightening of sound bounds by z3 optimisation over the exact rational network (untrusted search).

The exact rational network is encoded (weights as exact rationals, the already-sound bounds of earlier layers as
constraints); only an optimum z3 reports as an exact rational is used, rounded outward, and every result is
intersected with the bounds it started from, so it is never looser and never less sound than them. The z3 calls
go through lumpcheck/solver/z3.py (`Optimizer`).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np
import z3

from ..ir.activation import Activation
from ..ir.domain import Box
from ..ir.exact import as_fractions
from ..ir.network import Network
from ..solver.z3 import Optimizer
from .arith import FloatArith, FloatOverflow, check_float_environment, round_to_float, round_to_floats
from .propagate import LayerBounds, Propagation, layer_phases

TIGHTEN_METHODS = ("lp", "milp")


def tighten_bounds(
    net: Network,
    box: Box,
    bounds: Sequence[LayerBounds],
    *,
    neurons: Iterable[tuple[int, int]] | None = None,
    timeout: float = 1.0,
    method: str = "lp",
) -> list[LayerBounds]:
    """Tighten sound `bounds` by per-neuron z3 optimisation over the exact rational network (never looser).

    Layers are processed in order; each is first re-bounded by back-substitution over the tightened
    earlier layers. `neurons` lists (layer, index) pairs to optimise; by default every neuron of a
    relu/leaky_relu layer whose bounds straddle 0. method "lp": triangle relaxation (exact LP);
    "milp": ReLUs as If (exact but exponential). `timeout` is seconds per optimisation; on timeout,
    or when z3 gives no exact optimum, the bound is kept.
    """
    if method not in TIGHTEN_METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(TIGHTEN_METHODS)}")
    if len(bounds) != len(net.layers):
        raise ValueError(f"{len(bounds)} layer bounds given for a network of {len(net.layers)} layers")
    check_float_environment()
    wanted: dict[int, list[int]] | None = None
    if neurons is not None:
        wanted = {}
        for k, i in neurons:
            wanted.setdefault(k, []).append(i)
    given = [LayerBounds(_as_float(b.lower, up=False), _as_float(b.upper, up=True)) for b in bounds]
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            return _tighten(net, box, given, wanted, method, timeout)
    except FloatOverflow:
        return given


def _tighten(
    net: Network, box: Box, given: list[LayerBounds], wanted: dict[int, list[int]] | None, method: str, timeout: float
) -> list[LayerBounds]:
    prop = Propagation(net, box, FloatArith())
    solver = _Encoding(net, box, method, timeout)
    for k, layer in enumerate(net.layers):
        ilo, ihi = prop.interval(k)
        blo, bhi = prop.backsub(k)
        lo = np.maximum(np.maximum(ilo, blo), given[k].lower)
        hi = np.minimum(np.minimum(ihi, bhi), given[k].upper)
        if wanted is not None:
            targets = wanted.get(k, [])
        elif layer.activation.kind in ("relu", "leaky_relu"):
            targets = np.flatnonzero(layer_phases(layer.activation, LayerBounds(lo, hi)) == 0)
        else:
            targets = []
        for i in targets:
            if hi[i] > lo[i]:
                expr = solver.affine(k, i)
                best = solver.optimum(expr, maximize=True)
                if best is not None:
                    hi[i] = min(hi[i], round_to_float(best, up=True))
                best = solver.optimum(expr, maximize=False)
                if best is not None:
                    lo[i] = max(lo[i], round_to_float(best, up=False))
        prop.push(k, lo, hi, relax=True)
        if k < len(net.layers) - 1:
            solver.add_layer(k, lo, hi, prop.h[k])
    return prop.bounds()


def _as_float(values: np.ndarray, up: bool) -> np.ndarray:
    values = np.asarray(values)
    return round_to_floats(values, up) if values.dtype == object else values.astype(np.float64)


class _Encoding:
    """The exact network for z3 Optimize: box, layer equations, and ReLUs as If (milp) or triangles (lp)."""

    def __init__(self, net: Network, box: Box, method: str, timeout: float):
        self.net, self.method = net, method
        self.solver = Optimizer(timeout)
        self.h = [z3.Real(f"x_{i}") for i in range(box.dim)]
        for v, lo, hi in zip(self.h, box.lower, box.upper):
            self.solver.add(v >= self.num(lo), v <= self.num(hi))
        self.weights = [(as_fractions(layer.weight), as_fractions(layer.bias)) for layer in net.layers]

    @staticmethod
    def num(q: Fraction | float) -> z3.ArithRef:
        q = Fraction(q)
        return z3.RealVal(f"{q.numerator}/{q.denominator}")

    def affine(self, k: int, i: int) -> z3.ArithRef:
        """z3 term of neuron i's pre-activation in layer k, over the previous layer's variables."""
        w, b = self.weights[k]
        return z3.Sum([self.num(c) * v for c, v in zip(w[i], self.h) if c] + [self.num(b[i])])

    def optimum(self, expr: z3.ArithRef, maximize: bool) -> Fraction | None:
        """The exact max (or min) of expr, or None on timeout / non-rational optimum."""
        return self.solver.optimum(expr, maximize)

    def add_layer(self, k: int, lo: np.ndarray, hi: np.ndarray, h_bounds: tuple[np.ndarray, np.ndarray]) -> None:
        """Add layer k (pre-activations within their sound bounds, activations encoded) as permanent constraints."""
        act = self.net.layers[k].activation
        out = []
        for i in range(len(lo)):
            z = z3.Real(f"z_{k}_{i}")
            l, u = Fraction(lo[i]), Fraction(hi[i])
            self.solver.add(z == self.affine(k, i), z >= self.num(l), z <= self.num(u))
            if act.kind == "identity":
                out.append(z)
                continue
            h = z3.Real(f"h_{k}_{i}")
            out.append(h)
            self.solver.add(*self._activation(act, z, h, l, u, (h_bounds[0][i], h_bounds[1][i])))
        self.h = out

    def _activation(self, act: Activation, z: z3.ArithRef, h: z3.ArithRef, l: Fraction, u: Fraction,
                    h_bounds: tuple) -> list[z3.BoolRef]:
        """h = σ(z) for z in [l, u]: exact where the phase is fixed or with If (milp), else the triangle (lp)."""
        alpha = self.num(act.alpha)
        if act.kind in ("sigmoid", "tanh"):
            return [h >= self.num(h_bounds[0]), h <= self.num(h_bounds[1])]
        if l >= 0:
            return [h == z]
        if u <= 0:
            return [h == alpha * z]
        if self.method == "milp":
            return [h == z3.If(z >= 0, z, alpha * z)]
        ya, yb = act.exact(l), act.exact(u)
        chord = self.num(ya) + self.num((yb - ya) / (u - l)) * (z - self.num(l))
        if act.alpha <= 1:  # convex: max(z, αz) below the chord
            return [h >= z, h >= alpha * z, h <= chord]
        return [h <= z, h <= alpha * z, h >= chord]  # concave: min(z, αz) above the chord
