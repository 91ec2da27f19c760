"""The facts that live on Activation (image, Lipschitz constant, merge factors, stable slopes), each checked against
an independent ground truth: exact evaluation for piecewise-linear σ, mpmath at 200 digits for sigmoid and tanh."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.ir.activation import Activation
from lumpcheck.ir.network import Layer

KINDS = [Activation("identity"), Activation("relu"), Activation("leaky_relu", Fraction(1, 8)),
         Activation("leaky_relu", Fraction(3)), Activation("sigmoid"), Activation("tanh")]
rationals = st.fractions(min_value=-40, max_value=40, max_denominator=1000)


def value(act: Activation, z: Fraction) -> mpmath.mpf:
    """σ(z) to 200 digits (exact for piecewise-linear σ)."""
    x = mpmath.mpf(z.numerator) / z.denominator
    if act.kind == "sigmoid":
        return 1 / (1 + mpmath.exp(-x))
    if act.kind == "tanh":
        return mpmath.tanh(x)
    v = act.exact(z)
    return mpmath.mpf(v.numerator) / v.denominator


def mp(q: Fraction) -> mpmath.mpf:
    return mpmath.mpf(q.numerator) / q.denominator


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(KINDS), rationals, rationals, st.lists(st.fractions(0, 1), min_size=1, max_size=5))
def test_image_encloses_every_value_on_the_interval(act, a, b, ts):
    lo, hi = min(a, b), max(a, b)
    low, high = act.image(lo, hi)
    with mpmath.workdps(200):
        for z in [lo, hi, *(lo + t * (hi - lo) for t in ts)] + ([Fraction(0)] if lo < 0 < hi else []):
            assert mp(low) <= value(act, z) <= mp(high), (act, lo, hi, z)
    if act.piecewise_linear:  # exact: the bounds are attained
        assert {low, high} <= {act.exact(z) for z in (lo, hi, Fraction(0)) if lo <= z <= hi}


def test_sigmoid_image_is_tighter_than_its_range():
    low, high = Activation("sigmoid").image(Fraction(-1), Fraction(1))
    assert (low, high) == (Fraction(1, 4), Fraction(3, 4))
    assert Activation("sigmoid").image(Fraction(-10), Fraction(10)) == (Fraction(0), Fraction(1))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(KINDS), rationals, rationals)
def test_lipschitz_constant_bounds_every_difference_quotient(act, x, y):
    if act.piecewise_linear:  # exactly
        assert abs(act.exact(x) - act.exact(y)) <= act.lipschitz * abs(x - y)
        return
    with mpmath.workdps(200):
        assert abs(value(act, x) - value(act, y)) <= mp(act.lipschitz) * abs(mp(x) - mp(y))


def test_lipschitz_constants_are_the_best_ones():
    assert [a.lipschitz for a in KINDS] == [1, 1, 1, 3, Fraction(1, 4), 1]


@pytest.mark.parametrize("act", KINDS, ids=str)
@pytest.mark.parametrize("c", [Fraction(1), Fraction(-1), Fraction(2), Fraction(1, 3), Fraction(-3)])
def test_merge_offset_is_exactly_the_identity_that_holds(act, c):
    """σ(c·z) = c·σ(z) + o for all z when merge_offset gives o; some z refutes every offset when it gives None."""
    o = act.merge_offset(c)
    zs = [Fraction(k, 4) for k in range(-12, 13)]
    with mpmath.workdps(200):
        gaps = [value(act, c * z) - mp(c) * value(act, z) for z in zs]
        if o is not None:
            assert all(abs(g - mp(o)) < mpmath.mpf(10) ** -150 for g in gaps), (act, c, o)
        else:
            assert max(gaps) - min(gaps) > mpmath.mpf(10) ** -6, (act, c)  # not even a constant offset works
    assert act.merge_mode == {"identity": "any", "relu": "pos", "leaky_relu": "pos"}.get(act.kind, "sign")
    assert act.merge_offset(Fraction(0)) is None  # a zero factor is a constant neuron, never a merge


@pytest.mark.parametrize("act", KINDS, ids=str)
def test_linear_slope_is_the_slope_on_each_stable_side(act):
    for phase, zs in ((1, [Fraction(1, 3), Fraction(5)]), (-1, [Fraction(-1, 3), Fraction(-5)])):
        slope = act.linear_slope(phase)
        if slope is None:
            assert not act.piecewise_linear
        else:
            assert all(act.exact(z) == slope * z for z in zs)
    assert act.linear_slope(0) == (Fraction(1) if act.kind == "identity" else None)


def test_layer_is_frozen_read_only_and_checked_when_built():
    layer = Layer(np.ones((2, 3)), np.zeros(2), Activation("relu"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.weight = np.zeros((2, 3))  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        layer.weight[0, 0] = 2.0
    with pytest.raises(ValueError, match="bias shape"):
        Layer(np.ones((2, 3)), np.zeros(3))
    with pytest.raises(TypeError, match="must be an Activation"):
        Layer(np.ones((2, 3)), np.zeros(2), "relu")  # type: ignore[arg-type]
