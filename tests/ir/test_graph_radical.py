"""Radical numbers (Σ c·√n) decide zero and sign exactly: checked against sympy's exact algebra and mpmath."""

from __future__ import annotations

from fractions import Fraction

import mpmath
import sympy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.ir.graph.radical import Radical, coprime_base

fractions = st.fractions(min_value=-50, max_value=50, max_denominator=20)
radicands = st.integers(1, 200)
terms = st.dictionaries(radicands, fractions, min_size=1, max_size=5)


def as_sympy(r) -> sympy.Expr:
    return r.sympy() if isinstance(r, Radical) else sympy.Rational(r.numerator, r.denominator)


@settings(max_examples=40, deadline=None)
@given(terms, terms)
def test_arithmetic_matches_sympy(a: dict, b: dict) -> None:
    x, y = Radical.make(a), Radical.make(b)
    for got, want in ((x + y, as_sympy(x) + as_sympy(y)), (x - y, as_sympy(x) - as_sympy(y)), (x * y, as_sympy(x) * as_sympy(y))):
        assert sympy.simplify(as_sympy(got) - want) == 0


@settings(max_examples=200, deadline=None)
@given(terms)
def test_sign_matches_high_precision(t: dict) -> None:
    x = Radical.make(t)
    mpmath.mp.dps = 60
    value = sum(mpmath.mpf(c.numerator) / c.denominator * mpmath.sqrt(n) for n, c in t.items())
    sign = x.sign() if isinstance(x, Radical) else (x > 0) - (x < 0)
    if abs(value) > mpmath.mpf(10) ** -40:
        assert sign == (1 if value > 0 else -1)
    else:
        assert sign == 0 and sympy.simplify(as_sympy(x)) == 0


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40), st.integers(1, 60), fractions)
def test_sums_that_are_zero_by_construction_are_zero(a: int, b: int, c: Fraction) -> None:
    # c·√(a²b) − c·a·√b = 0, and (√a)(√b) − √(ab) = 0, written with different radicands
    z = Radical({a * a * b: c}) - Radical({b: c * a})
    assert z == 0 and not (z < 0) and not (z > 0)
    assert Radical.sqrt(a) * Radical.sqrt(b) - Radical.sqrt(a * b) == 0


def test_one_ulp_from_sqrt2_is_not_sqrt2() -> None:
    near = Fraction(float.fromhex("0x1.6a09e667f3bcdp+0"))  # the float nearest √2
    assert Radical.sqrt(2) != near and (Radical.sqrt(2) > near) == (2 > near * near)


def test_inverse_sqrt_squares_back() -> None:
    for q in (Fraction(1, 3), Fraction(2), Fraction(9, 7), Fraction(1, 1 << 40) + 5):
        r = Radical.inverse_sqrt(q)
        assert r * r * q == 1


def test_coprime_base_is_pairwise_coprime_and_generates() -> None:
    nums = [12, 18, 50, 7 * 49, 1 << 20, 3 * 5 * 7 * 11]
    base = coprime_base(nums)
    from math import gcd

    assert all(gcd(a, b) == 1 for i, a in enumerate(base) for b in base[i + 1 :])
    for n in nums:
        for b in base:
            while n % b == 0:
                n //= b
        assert n == 1 or int(n**0.5) ** 2 == n


@settings(max_examples=200, deadline=None)
@given(terms=st.dictionaries(st.integers(1, 10**6), st.fractions(min_value=-10**6, max_value=10**6), min_size=1,
                             max_size=4),
       bits=st.sampled_from([1, 8, 96]))
def test_float_and_error_and_scaled_bounds_enclose_the_value(terms, bits):
    """|v − f| <= r and lo/den <= v <= hi/den, decided with exact radical comparisons (any precision is sound)."""
    v = Radical.make(terms)
    if not isinstance(v, Radical):
        return
    f, r = v.float_and_error(bits)
    assert v - Fraction(f) <= Fraction(r) and Fraction(f) - v <= Fraction(r)
    lo, hi, den = v.scaled_bounds(bits)
    assert Fraction(lo, den) <= v <= Fraction(hi, den)
    assert bits < 96 or float(v) == pytest.approx(f, rel=1e-12, abs=1e-300)  # near, at a fine precision
