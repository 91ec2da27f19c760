"""Linear relaxations of sigmoid/tanh with nonzero slopes (bounds/squash.py) against mpmath at 60 digits: the
offsets always bound σ(z) − s·z on [l, u] (sound for any slope, any hint) and are tight to ~1e-6 at the chord's
slope, which the symbolic bounds use; and symbolic bounds of random sigmoid/tanh networks contain every sampled
pre-activation."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.bounds import symbolic_bounds
from lumpcheck.bounds.squash import critical_points, squash_relaxation
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network

F = Fraction
mpmath.mp.dps = 60
ends = st.fractions(min_value=-30, max_value=30, max_denominator=1000)


def sigma(kind: str, z) -> mpmath.mpf:
    z = mpmath.mpf(z.numerator) / z.denominator if isinstance(z, Fraction) else mpmath.mpf(z)
    return 1 / (1 + mpmath.exp(-z)) if kind == "sigmoid" else mpmath.tanh(z)


def mp(q: Fraction) -> mpmath.mpf:
    return mpmath.mpf(q.numerator) / q.denominator


def residual_extremes(kind: str, l: Fraction, u: Fraction, s: Fraction) -> tuple[mpmath.mpf, mpmath.mpf]:
    """min and max of σ(z) − s·z on [l, u] from the ends, the critical points and a grid (ground truth)."""
    zs = [mp(l), mp(u)] + [mpmath.mpf(z) for z in critical_points(kind, float(s)) if l < z < u]
    zs += [mp(l) + (mp(u) - mp(l)) * k / 200 for k in range(1, 200)]
    values = [sigma(kind, z) - mp(s) * z for z in zs]
    return min(values), max(values)


@given(st.sampled_from(["sigmoid", "tanh"]), ends, ends, st.floats(0, 1.2), st.floats(0, 1.2))
@settings(max_examples=300, deadline=None)
def test_offsets_bound_the_residual_for_any_slopes(kind, a, b, su, sl):
    l, u = min(a, b), max(a, b)
    su, sl = F(su), F(sl)
    lo, hi, ru, rl = squash_relaxation(kind, l, u, su, sl)
    assert mp(lo) <= sigma(kind, l) and sigma(kind, u) <= mp(hi)
    assert residual_extremes(kind, l, u, su)[1] <= mp(ru)
    assert mp(rl) <= residual_extremes(kind, l, u, sl)[0]


@given(st.sampled_from(["sigmoid", "tanh"]), ends, ends)
@settings(max_examples=200, deadline=None)
def test_offsets_at_the_chord_slope_are_tight(kind, a, b):
    l, u = min(a, b), max(a, b)
    if u - l < F(1, 100):
        return
    s = F(float((sigma(kind, u) - sigma(kind, l)) / (mp(u) - mp(l))))
    _, _, ru, rl = squash_relaxation(kind, l, u, s, s)
    low, high = residual_extremes(kind, l, u, s)
    assert mp(ru) - high <= mpmath.mpf(10) ** -6 and low - mp(rl) <= mpmath.mpf(10) ** -6


def test_negative_slopes_and_unbounded_spans_are_refused():
    with pytest.raises(ValueError):
        squash_relaxation("sigmoid", F(-1), F(1), F(-1, 8), F(0))
    with pytest.raises(ValueError):
        squash_relaxation("tanh", F(-5000), F(5000), F(1, 8), F(1, 8))


@given(st.sampled_from(["sigmoid", "tanh"]), st.integers(0, 10**6), st.sampled_from([0.05, 0.5, 3.0]))
@settings(max_examples=20, deadline=None)
def test_symbolic_bounds_contain_sampled_pre_activations(kind, seed, radius):
    rng = np.random.default_rng(seed)
    layers = [Layer(rng.normal(0, 1.5, (w, fan)), rng.normal(0, 1, w), act)
              for fan, w, act in ((3, 6, Activation(kind)), (6, 5, Activation(kind)), (5, 2, IDENTITY))]
    net = Network(layers)
    centre = rng.uniform(-1, 1, 3)
    box = Box(tuple(F(float(c - radius)) for c in centre), tuple(F(float(c + radius)) for c in centre))
    bounds = symbolic_bounds(net, box)
    for x in [centre + radius * rng.uniform(-1, 1, 3) for _ in range(30)] + [centre - radius, centre + radius]:
        h = [mpmath.mpf(float(v)) for v in x]
        for layer, lb in zip(layers, bounds):
            z = [sum(mpmath.mpf(float(layer.weight[i, j])) * h[j] for j in range(len(h))) + mpmath.mpf(float(layer.bias[i]))
                 for i in range(layer.out_features)]
            assert all(mp(F(lo)) <= v <= mp(F(hi)) for v, lo, hi in zip(z, lb.lower, lb.upper))
            h = [sigma(kind, v) if layer.activation.kind != "identity" else v for v in z]
