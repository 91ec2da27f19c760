"""coord_dot_up (the input step of every back-substitution): an upper bound of Σ_i C[i, e, r]·v[e, i] for
sign-definite C, computed with batched matrix products; checked against exact rational sums, including huge,
tiny and cancelling magnitudes."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.bounds.difference_chain import coord_dot_up

MAGNITUDES = st.sampled_from([1.0, 1e-300, 1e-160, 1e150, 3.0])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 3), st.integers(1, 4), MAGNITUDES, MAGNITUDES,
       st.sampled_from([1, -1]))
def test_the_bound_is_above_the_exact_sum(seed, n, boxes, rows, cmag, vmag, sign):
    rng = np.random.default_rng(seed)
    C = sign * np.abs(rng.standard_normal((n, boxes, rows))) * cmag
    C[rng.random(C.shape) < 0.2] = 0.0
    v = rng.standard_normal((boxes, n)) * vmag  # mixed signs: the products cancel
    got = coord_dot_up(C, v, sign)
    for e in range(boxes):
        for r in range(rows):
            exact = sum(Fraction(float(C[i, e, r])) * Fraction(float(v[e, i])) for i in range(n))
            assert Fraction(float(got[e, r])) >= exact
            scale = sum(abs(Fraction(float(C[i, e, r])) * Fraction(float(v[e, i]))) for i in range(n))
            assert Fraction(float(got[e, r])) - exact <= scale * Fraction(4 * n + 4, 2**52) + Fraction(n + 1, 2**1000)


def test_a_one_ulp_low_sum_is_caught():
    """A sum that rounds down must still be bounded from above: 1 + 2^-53 (one product rounds to 1)."""
    C = np.array([[[1.0]], [[1.0]]])
    v = np.array([[1.0, 2.0**-53]])
    got = coord_dot_up(C, v, 1)
    assert Fraction(float(got[0, 0])) >= 1 + Fraction(1, 2**53)
