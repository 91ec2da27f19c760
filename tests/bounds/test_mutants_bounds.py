"""Float bounds (lumpcheck.bounds) on cases built to expose one rounding rule each: the factor n of a dot
product's error bound, back-substitution's error terms.

Each test names the mutant it kills (issue 14): the rule was removed by hand, the test failed, the rule restored.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from lumpcheck.bounds import interval_bounds, symbolic_bounds
from lumpcheck.ir.activation import IDENTITY
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate


# A dot product with heavy cancellation: n terms (1 + δ)·1 then n terms (−1)·1, exact sum n·δ. Summed in float64,
# the running sum reaches ~n, where δ is below half an ulp and is lost at each step: the computed sum is far off
# n·δ, by many times 2^-52·Σ|terms| (the error bound without its factor n). One row per δ, for any BLAS order.
N = 2048
DELTAS = [2.0**-k - 2.0**-52 for k in (44, 46, 48)]


def _cancelling_rows() -> np.ndarray:
    return np.array([np.concatenate([np.full(N, 1.0 + d), np.full(N, -1.0)]) for d in DELTAS])


def _assert_encloses(bounds, exact: list[Fraction]) -> None:
    for s, value in enumerate(exact):
        assert Fraction(bounds.lower[s]) <= value <= Fraction(bounds.upper[s]), (s, float(value), bounds.lower[s],
                                                                               bounds.upper[s])


def test_float_dot_product_bound_encloses_heavy_cancellation():
    """Kills: the dot-product error bound missing its factor n (E = 2^-52·T instead of n·2^-52·T)."""
    w = _cancelling_rows()
    assert np.any((w @ np.ones(2 * N)) != [float(N * Fraction(d)) for d in DELTAS])  # floats do lose δ here
    net = Network([Layer(w, np.zeros(len(DELTAS)), IDENTITY)])
    ones = tuple([Fraction(1)] * (2 * N))
    exact = evaluate(net, ones)
    assert exact == [N * Fraction(d) for d in DELTAS]
    _assert_encloses(interval_bounds(net, Box(ones, ones))[0], exact)


def test_back_substitution_keeps_its_rounding_error_terms():
    """Kills: back-substitution dropping its error terms (E1·max|z|, E2·max|h|). Layer 2's back-substituted
    coefficient on x is the cancelling sum itself (layer 1 copies x into 2N identity neurons), rounded."""
    w = _cancelling_rows()
    net = Network([Layer(np.ones((2 * N, 1)), np.zeros(2 * N), IDENTITY), Layer(w, np.zeros(len(DELTAS)), IDENTITY)])
    point = Box((Fraction(1),), (Fraction(1),))
    exact = evaluate(net, [Fraction(1)])
    symbolic, interval = symbolic_bounds(net, point)[1], interval_bounds(net, point)[1]
    _assert_encloses(symbolic, exact)
    assert np.all(symbolic.upper - symbolic.lower < interval.upper - interval.lower)  # back-substitution decides


@pytest.mark.parametrize("scale", [1.0, 2.0**-600, 2.0**600])
def test_cancellation_bounds_hold_at_extreme_magnitudes(scale):
    """The same sums scaled far from 1 (products near underflow or overflow): still enclosed."""
    w = _cancelling_rows() * scale
    net = Network([Layer(w, np.zeros(len(DELTAS)), IDENTITY)])
    ones = tuple([Fraction(1)] * (2 * N))
    _assert_encloses(interval_bounds(net, Box(ones, ones))[0], evaluate(net, ones))
