"""The vectorised float relaxation (ReLU, identity) encloses the exact Fraction relaxation it replaces on the
float path: images equal, relaxation constants rounded outward and within a few ulps of the exact ones."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.bounds.arith import FloatOverflow, enclose_difference
from lumpcheck.bounds.propagate import float_relaxation, neuron_relaxation
from lumpcheck.ir.activation import Activation

FLOATS = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.floats(-1e-300, 1e-300, allow_nan=False, allow_infinity=False),  # subnormal neighbourhood
    st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.1, 2.0**-1074, -(2.0**-1074), 1 / 3]),
)
SLOPES = st.one_of(st.floats(-4, 4, allow_nan=False), st.sampled_from([0.0, 1.0, 0.5, 1 / 3, 0.1]))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["relu", "identity"]), st.lists(st.tuples(FLOATS, FLOATS, SLOPES, SLOPES), min_size=1, max_size=6))
def test_float_relaxation_encloses_the_exact_one(kind, rows):
    act = Activation(kind)
    lo = np.array([min(a, b) for a, b, _, _ in rows])
    hi = np.array([max(a, b) for a, b, _, _ in rows])
    su, sl = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
    try:
        h_lo, h_hi, mu, ml = float_relaxation(act, lo, hi, su, sl)
    except FloatOverflow:  # the caller redoes everything exactly
        return
    for i in range(len(rows)):
        e_lo, e_hi, e_mu, e_ml = neuron_relaxation(act, Fraction(lo[i]), Fraction(hi[i]), Fraction(su[i]),
                                                   Fraction(sl[i]))
        assert Fraction(h_lo[i]) == e_lo and Fraction(h_hi[i]) == e_hi
        assert Fraction(mu[i]) >= e_mu and Fraction(ml[i]) <= e_ml
        scale = Fraction(max(abs(lo[i]), abs(hi[i]))) * (1 + Fraction(max(abs(su[i]), abs(sl[i])))) + 1
        slack = scale * Fraction(2) ** -48 + Fraction(2) ** -1000  # tight: a few ulps of the operands
        assert Fraction(mu[i]) - e_mu <= slack and e_ml - Fraction(ml[i]) <= slack


def test_enclose_difference_catches_a_rounding_that_nearest_would_miss():
    """0.1 - (1/3)·0.3 is not a float: the enclosure is strictly around the exact value, never at the nearest."""
    v, s, p = np.array([0.1]), np.array([1 / 3]), np.array([0.3])
    exact = Fraction(0.1) - Fraction(1 / 3) * Fraction(0.3)
    lower, upper = enclose_difference(v, s, p)
    assert Fraction(lower[0]) < exact < Fraction(upper[0])
    nearest = v - s * p
    assert Fraction(nearest[0]) != exact


def test_enclose_difference_overflow_is_reported():
    with pytest.raises(FloatOverflow):
        with np.errstate(over="ignore"):
            enclose_difference(np.array([1e308]), np.array([-4.0]), np.array([1e308]))


def test_other_activations_are_refused():
    with pytest.raises(ValueError):
        float_relaxation(Activation("leaky_relu", Fraction(1, 2)), np.zeros(1), np.ones(1), np.ones(1), np.ones(1))
