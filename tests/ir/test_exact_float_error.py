"""ir.exact.float_with_error: the float nearest an exact rational and a rigorous bound on the difference (used by the
prover's coupling and by the checker for every exact weight)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from lumpcheck.ir.exact import float_with_error


@given(st.one_of(st.fractions(max_denominator=10**30), st.floats(allow_nan=False, allow_infinity=False).map(Fraction),
                 st.integers(-2**80, 2**80).map(lambda n: Fraction(n, 2**1074))))
def test_the_error_bound_holds_and_is_zero_exactly_for_floats(q):
    f, r = float_with_error(q)
    assert abs(q - Fraction(f)) <= Fraction(r)
    assert f == float(q)
    assert (r == 0) == (Fraction(f) == q)
    if Fraction(f) != q:
        assert Fraction(r) <= abs(q - Fraction(f)) * (1 + Fraction(1, 2**52))  # the tightest float above
