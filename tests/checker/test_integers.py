"""The checker's integer forms and overflow-checked int64 arithmetic, against Fractions (the ground truth)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.checker.integers import int_array, mul, scaled_ints, small_ints

finite = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True)
float32s = st.floats(width=32, allow_nan=False, allow_infinity=False).map(float)
rows = st.one_of(st.lists(finite, min_size=1, max_size=12), st.lists(float32s, min_size=1, max_size=12))


@settings(max_examples=300, deadline=None)
@given(rows)
def test_small_ints_are_exact(values):
    arr = np.array(values, dtype=np.float64)
    ints, den = small_ints(arr)
    assert den > 0 and den & (den - 1) == 0  # a power of two
    assert [Fraction(int(n), den) for n in ints] == [Fraction(v) for v in values]
    assert ints.dtype == object or int(np.abs(ints).max()) < 2**62


@settings(max_examples=300, deadline=None)
@given(rows, st.integers(-(2**70), 2**70))
def test_mul_never_wraps(values, k):
    ints, _ = small_ints(np.array(values, dtype=np.float64))
    product = mul(ints, int_array([k]))
    assert [int(v) for v in product] == [int(n) * k for n in ints]


def test_small_ints_fall_back_to_python_ints_beyond_62_bits():
    wide = np.array([2.0**60, 2.0**-60, 3.0])  # 121 bits apart: no int64 holds both
    ints, den = small_ints(wide)
    assert ints.dtype == object and den == 2**60
    assert [Fraction(int(n), den) for n in ints] == [Fraction(v) for v in wide]
    near = np.array([1.0, np.nextafter(1.0, 2.0)])  # a 1-ulp difference survives the integer form
    a, d = small_ints(near)
    assert a[0] != a[1] and Fraction(int(a[1]), d) - Fraction(int(a[0]), d) == Fraction(2.0**-52)


def test_mul_overflowing_int64_is_done_in_python_ints():
    big = int_array([2**40, -(2**40)])
    assert big.dtype == np.int64
    assert [int(v) for v in mul(big, big)] == [2**80, 2**80]  # int64 would wrap to 0
    assert int_array([2**62]).dtype == object


def test_small_ints_agree_with_scaled_ints():
    arr = np.array([0.1, -2.5, 0.0, 7.0])
    (a, d), (b, e) = small_ints(arr), scaled_ints(arr)
    assert all(Fraction(int(x), d) == Fraction(int(y), e) for x, y in zip(a, b))
