"""lumpcheck.ir.exact against Fractions: every conversion, every branch of the error-free float transforms."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from lumpcheck.ir.exact import (
    EFT_MAX,
    EFT_MIN,
    FINITE_BLOCK,
    all_finite,
    as_fractions,
    canonical,
    ceil_float,
    decimal_str,
    eft_safe,
    exact_add,
    exact_array,
    exact_equal,
    exact_scale,
    floor_float,
    fraction_str,
    gradual_underflow,
    is_float_exact,
    parse_decimal,
    parse_decimals,
    parse_fractions,
    to_float,
    to_fraction,
    two_product,
)
from lumpcheck.ir.fastpath import proportional_rows

F = Fraction


@pytest.mark.parametrize("value, expected", [
    (F(1, 3), F(1, 3)), (7, F(7)), (np.int64(-5), F(-5)), (np.uint8(200), F(200)), (2**80, F(2**80)),
    (0.1, F(3602879701896397, 2**55)), (np.float32(0.1), F(13421773, 2**27)), ("-3/4", F(-3, 4)),
    (sympy.Rational(-2, 6), F(-1, 3)), (sympy.Integer(4), F(4)), (True, F(1)),
])
def test_to_fraction_of_every_kind(value, expected):
    got = to_fraction(value)
    assert got == expected and type(got) is Fraction


@pytest.mark.parametrize("bad, error", [(float("nan"), ValueError), (np.float32("inf"), ValueError),
                                        (None, TypeError), (1j, TypeError), ([1], TypeError)])
def test_to_fraction_rejects(bad, error):
    with pytest.raises(error):
        to_fraction(bad)


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")  # uint64 beyond float64
def test_exact_array_keeps_floats_and_ints_exact():
    floats = exact_array([0.5, -2.0])
    assert floats.dtype == np.float64 and floats.tolist() == [0.5, -2.0]
    ints = exact_array(np.array([3, -4], dtype=np.int64))
    assert ints.dtype == np.float64 and ints.tolist() == [3.0, -4.0]
    assert exact_array(np.array([True, False])).dtype == np.float64
    big = exact_array(np.array([2**62 + 1, 1], dtype=np.int64))  # not a float64: Fractions
    assert big.dtype == object and big[0] == F(2**62 + 1) and type(big[1]) is Fraction
    ubig = exact_array(np.array([2**64 - 1], dtype=np.uint64))
    assert ubig.dtype == object and ubig[0] == 2**64 - 1
    fr = exact_array(np.array([[F(1, 3), F(1)]], dtype=object))
    assert fr.dtype == object and fr.shape == (1, 2) and fr[0, 0] == F(1, 3)
    assert exact_array(np.array([F(1, 4), F(3)], dtype=object)).dtype == np.float64  # back on the fast path
    assert exact_array(np.array(["1/2", "3"], dtype=object)).tolist() == [0.5, 3.0]
    with pytest.raises(ValueError, match="NaN"):
        exact_array(np.array([1.0, np.nan], dtype=np.float32))


def test_canonical_and_as_fractions():
    arr = np.array([[F(1, 2), F(-3)], [F(0), F(2**-1074)]], dtype=object)
    c = canonical(arr)
    assert c.dtype == np.float64 and c.shape == (2, 2) and c[1, 1] == 2.0**-1074
    same = np.array([1.0, 2.0])
    assert canonical(same) is same
    huge = np.array([F(2) ** 1024, F(1)], dtype=object)  # beyond float64: stays exact
    assert canonical(huge) is huge
    tiny = np.array([F(1, 2**1080)], dtype=object)  # rounds to 0: not exact
    assert canonical(tiny) is tiny
    back = as_fractions(np.array([0.1, 3.0]))
    assert back.dtype == object and back[0] == F(0.1) and type(back[1]) is Fraction
    assert as_fractions(arr) is arr


def test_float_views_and_equality():
    assert is_float_exact(np.array([1.0])) and not is_float_exact(np.array([F(1)], dtype=object))
    rounded = to_float(np.array([[F(1, 3)]], dtype=object))
    assert rounded.dtype == np.float64 and rounded.shape == (1, 1) and rounded[0, 0] == 1 / 3
    floats = np.array([0.5])
    assert to_float(floats) is floats
    assert exact_equal(np.array([0.5, 1.0]), np.array([F(1, 2), F(1)], dtype=object))
    assert not exact_equal(np.array([0.5, 1.0]), np.array([0.5, np.nextafter(1.0, 2)]))
    assert not exact_equal(np.array([F(1, 3)], dtype=object), np.array([1 / 3]))
    assert not exact_equal(np.array([1.0]), np.array([1.0, 1.0]))
    assert exact_equal(np.array([[1.0, 2.0]]), np.array([[1.0, 2.0]]))


def test_rational_and_decimal_text():
    assert fraction_str(F(-3, 4)) == "-3/4" and fraction_str(7) == "7" and fraction_str(F(0)) == "0"
    assert parse_fractions(["1/2", "-3", "0"]) == [F(1, 2), F(-3), F(0)]
    for text, value in [("-0.5", F(-1, 2)), ("1.25e-3", F(1, 800)), (".5", F(1, 2)), ("+7", F(7)), ("3.", F(3)),
                        ("1E+2", F(100)), ("2e400", F(2 * 10**400)), ("1e-0400", F(1, 10**400))]:
        assert parse_decimal(text) == value
    for bad in ["", "1/2", "nan", "inf", "1e", "0x10", "1.2.3", "--1"]:
        with pytest.raises(ValueError, match="not a finite decimal"):
            parse_decimal(bad)
    for bad in ["1e401", "1e-401", "1e10000"]:
        with pytest.raises(ValueError, match="exponent out of range"):
            parse_decimal(bad)
    for value, text in [(F(-1, 2), "-0.5"), (F(3), "3"), (F(-3), "-3"), (F(1, 800), "0.00125"), (F(0), "0"),
                        (F(5, 4), "1.25"), (F(1, 5), "0.2"), (F(1, 1024), "0.0009765625"), (F(-1, 20), "-0.05"),
                        (0.1, "0.1000000000000000055511151231257827021181583404541015625"), (F(250), "250")]:
        assert decimal_str(value) == text
        assert parse_decimal(text) == to_fraction(value)
    for bad in [F(1, 3), F(1, 6), F(7, 30)]:
        with pytest.raises(ValueError, match="no finite decimal"):
            decimal_str(bad)


@given(st.fractions().map(lambda q: q.limit_denominator(10**6)), st.integers(0, 12), st.integers(0, 12))
def test_decimal_round_trip(q, twos, fives):
    x = F(q.numerator, 2**twos * 5**fives)
    assert parse_decimal(decimal_str(x)) == x


_DIGITS = st.text("0123456789", max_size=40)
_EXPONENT = st.one_of(st.just(""), st.builds(lambda e, sign, zeros, n: f"{e}{sign}{'0' * zeros}{n}",
                                             st.sampled_from("eE"), st.sampled_from(["", "+", "-"]),
                                             st.integers(0, 3), st.integers(0, 1000)))
DECIMAL_TEXT = st.builds(lambda sign, whole, dot, frac, exp: f"{sign}{whole}{dot}{frac}{exp}",
                         st.sampled_from(["", "+", "-"]), _DIGITS, st.sampled_from(["", "."]), _DIGITS, _EXPONENT)


def _read_one_by_one(texts):
    """Ground truth: Fraction(text) where parse_decimal's grammar accepts it, else the error parse_decimal raises."""
    try:
        return [parse_decimal(t) for t in texts], None
    except ValueError as e:
        return None, str(e)


@given(st.lists(DECIMAL_TEXT, max_size=6))
def test_parse_decimals_reads_every_text_as_fraction_of_it_would(texts):
    """Signs, leading zeros, 40-digit mantissas, exponents up to 1000 with leading zeros (beyond the 400 limit:
    the same 'exponent out of range' error), empty parts ('', '.', 'e5': the same 'not a finite decimal' error)."""
    values, error = _read_one_by_one(texts)
    if error is None:
        assert parse_decimals(texts) == values == [Fraction(t) for t in texts]
    else:
        with pytest.raises(ValueError) as info:
            parse_decimals(texts)
        assert str(info.value) == error


@pytest.mark.parametrize("bad", ["nan", "inf", "Infinity", "1_000", " 1", "1 ", "0x10", "1/3", "\u0663", "1e", "1e10000", "1e401",
                                 "1e+010000", "1.2.3", "--1", ""])
def test_parse_decimals_rejects_what_parse_decimal_rejects(bad):
    """Texts Python's Decimal would accept (NaN, Infinity, underscores, spaces, non-ASCII digits) are not decimals
    of a model file: parse_decimals reads them as parse_decimal does (an error, or the same value)."""
    values, error = _read_one_by_one(["0.5", bad])
    if error is None:
        assert parse_decimals(["0.5", bad]) == values
    else:
        with pytest.raises(ValueError, match="not a finite decimal|exponent out of range"):
            parse_decimals(["0.5", bad])


@given(st.sampled_from([np.float32, np.float64]), st.sampled_from([(7,), (3, 5), (0, 4), (700, 401), (2, 300, 500)]),
       st.sampled_from([None, np.nan, np.inf, -np.inf]), st.floats(0, 1), st.booleans())
def test_all_finite_is_isfinite_all_over_every_block(dtype, shape, bad, where, strided):
    """Blocks of rows (arrays beyond FINITE_BLOCK entries) cover every row: one NaN or infinity anywhere (the last
    row of the last block included) is found; finite extremes and subnormals are finite."""
    arr = np.zeros(shape, dtype=dtype)
    flat = arr.reshape(-1)
    if flat.size:
        flat[::7] = np.finfo(dtype).max
        flat[1::5] = -np.finfo(dtype).smallest_subnormal
        if bad is not None:
            flat[min(int(where * flat.size), flat.size - 1)] = bad
    view = arr[..., ::2] if strided and arr.ndim > 1 else arr
    assert all_finite(view) == bool(np.isfinite(view).all())
    assert all_finite(arr) == (bad is None or not flat.size)


def test_all_finite_blocks_are_rows_of_the_largest_arrays():
    rows = FINITE_BLOCK // 100 + 3  # a last block of three rows
    arr = np.ones((rows, 100), dtype=np.float32)
    arr[-1, -1] = np.nan
    assert not all_finite(arr)
    arr[-1, -1], arr[0, 0] = 1.0, -np.inf
    assert not all_finite(arr)
    wide = np.ones((2, FINITE_BLOCK + 1))  # rows larger than a block: one row per pass
    wide[1, FINITE_BLOCK] = np.inf
    assert not all_finite(wide) and all_finite(wide[:1])


def test_gradual_underflow_on_this_machine():
    assert gradual_underflow() is True


def test_eft_safe_boundaries():
    x = np.array([0.0, -0.0, EFT_MIN, -EFT_MIN, EFT_MAX, -EFT_MAX, np.nextafter(EFT_MIN, 0), np.nextafter(EFT_MAX, np.inf),
                  5e-324, np.inf, np.nan, 1.0])
    assert eft_safe(x).tolist() == [True, True, True, True, True, True, False, False, False, False, False, True]


def test_exact_add_cases():
    a = np.array([1.0, 1.0, 1e308, 2.0**53, 0.1, -0.5])
    b = np.array([2.0, 2.0**-60, 1e308, 1.0, 0.2, 0.5])
    s, inexact = exact_add(a, b)
    assert s.tolist()[:1] == [3.0] and inexact.tolist() == [False, True, True, True, True, False]


@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(allow_nan=False, allow_infinity=False))
def test_two_product_error_term_is_exact_when_safe(a, b):
    p, e = two_product(np.array([a]), np.array([b]))
    assert p[0] == a * b
    if eft_safe(np.array([a]))[0] and eft_safe(np.array([b]))[0]:
        assert F(float(p[0])) + F(float(e[0])) == F(a) * F(b)


def test_exact_scale_branches():
    x = np.array([3.0, 0.1, 1e308, 2.0**-1074])
    p, bad = exact_scale(x, np.float64(-1.0))
    assert p.tolist() == [-3.0, -0.1, -1e308, -(2.0**-1074)] and not bad.any()
    p, bad = exact_scale(x, np.float64(2.0))  # power of two: exact unless it overflows
    assert bad.tolist() == [False, False, True, False]
    p, bad = exact_scale(x, np.float64(0.5))  # ... or loses the subnormal's last bit
    assert bad.tolist() == [False, False, False, True]
    p, bad = exact_scale(np.array([3.0, 0.1, 2.0**-500]), np.float64(3.0))  # general: TwoProduct decides
    assert p[0] == 9.0 and bad.tolist() == [False, True, True]  # the last is outside the error-free range
    p, bad = exact_scale(np.array([[1.0, 3.0]]), np.array([[0.5, -1.0]]))  # mixed factors, broadcast
    assert p.tolist() == [[0.5, -3.0]] and bad.tolist() == [[False, False]]


def test_proportional_rows_branches():
    x = np.array([
        [2.0, 4.0],  # equal pivots, equal rows
        [2.0, 4.0],  # equal pivots, rows differ
        [4.0, 8.0],  # pivot ratio 2 (power of two, scaled up)
        [1.0, 3.0],  # pivot ratio 1/2, wrong second entry
        [-4.0, -8.0],  # ratio -2
        [0.0, 1.0],  # zero pivot
        [3.0, 0.75],  # general ratio, exact
        [3.0, 1e-300],  # general ratio, outside the error-free range: decided with Fractions
        [3.0, 3e-300],
    ])
    y = np.array([
        [2.0, 4.0], [2.0, 5.0], [2.0, 4.0], [2.0, 5.0], [2.0, 4.0], [0.0, 1.0], [1.0, 0.25], [1.0, 1e-300],
        [1.0, 1e-300],
    ])
    got = proportional_rows(x, y, np.zeros(len(x), dtype=int)).tolist()
    truth = [all(F(a) * F(yr[0]) == F(b) * F(xr[0]) for a, b in zip(xr, yr)) and xr[0] != 0 and yr[0] != 0
             for xr, yr in zip(x, y)]
    assert got == truth == [True, False, True, False, True, False, True, False, F(3e-300) == 3 * F(1e-300)]
    assert proportional_rows(np.array([[1.0, 2.0**1023]]), np.array([[2.0**-2, 2.0**1021]]),
                             np.array([0])).tolist() == [True]  # ratio 4 with the largest binade
    assert proportional_rows(np.array([[1.0, 1e308]]), np.array([[2.0**-4, 1e308]]), np.array([0])).tolist() == [False]


def test_to_float_keeps_the_shape():
    arr = np.array([[F(1, 3), F(2)], [F(-1, 2), F(10**400)]], dtype=object)
    with pytest.raises(OverflowError):
        to_float(arr)
    ok = to_float(arr[:, :1])
    assert ok.shape == (2, 1) and ok.tolist() == [[1 / 3], [-0.5]]


def test_decimal_text_of_long_denominators():
    """Denominators 2^a·5^b beyond float precision: the fives are counted in integers."""
    for x in (F(1, 5**30), F(7, 2**70 * 5**40), F(-3, 10**25)):
        assert parse_decimal(decimal_str(x)) == x
    assert decimal_str(F(1, 5**30)) == "0." + "0" * 20 + str(2**30)  # 1/5^30 = 2^30/10^30


def test_float_transforms_raise_no_warnings():
    """Overflow and inf − inf are expected inside the transforms: flagged as inexact, never warned about."""
    import warnings

    big = np.array([1e308, np.inf, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s, inexact = exact_add(big, np.array([1e308, -np.inf, 2.0]))
        assert inexact.tolist() == [True, True, False]
        p, e = two_product(np.array([1e300]), np.array([1e300]))
        assert np.isinf(p[0])
        p, bad = exact_scale(np.array([1e308, 0.5]), np.float64(4.0))
        assert bad.tolist() == [True, False]
        p, bad = exact_scale(np.array([1e300, 0.5]), np.float64(3e10))
        assert bad.tolist() == [True, False]


def test_proportional_rows_with_zero_pivots_and_mixed_rows():
    """Each row decided on its own: zero pivots never proportional; rows of one branch do not share a verdict."""
    x = np.array([[0.0, 0.0], [1.0, 2.0], [0.0, 0.0], [0.25, 1.0],  # zero pivots (x, y or both)
                  [4.0, 8.0], [4.0, 9.0],  # two rows of ratio 2 (rescaled up): true, false
                  [1.0, 2.0], [1.0, 2.5],  # two rows of ratio 1/2 (rescaled down): true, false
                  [3.0, 6.0], [3.0, 6.5]])  # two general rows: true, false
    y = np.array([[1.0, 2.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.0],
                  [2.0, 4.0], [2.0, 4.0], [2.0, 4.0], [2.0, 4.0], [1.0, 2.0], [1.0, 2.0]])
    got = proportional_rows(x, y, np.zeros(len(x), dtype=int)).tolist()
    assert got == [False, False, False, False, True, False, True, False, True, False]


def test_proportional_rows_overflowing_rescale_is_silent_and_false():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = proportional_rows(np.array([[2.0, 1e308]]), np.array([[1.0, 1e308]]), np.array([0]))
    assert got.tolist() == [False]


def test_to_fraction_needs_both_parts_of_a_rational():
    class HalfRational:
        p = 1

    with pytest.raises(TypeError, match="cannot convert HalfRational to an exact rational"):
        to_fraction(HalfRational())


def test_proportional_rows_compares_the_low_parts_of_the_products():
    """Kills (issue 14): proportional_rows comparing only the high parts fl(x·y[p]) == fl(y·x[p]) of TwoProduct.
    Rows [3, fl(3a)] and [1, a] (a = 0.1): fl(3a) != 3a exactly, yet fl(1·fl(3a)) == fl(3·a)."""
    a = 0.1
    x, y = np.array([[3.0, 3 * a]]), np.array([[1.0, a]])
    assert Fraction(3 * a) != 3 * Fraction(a) and 3 * a * 1.0 == 3.0 * a  # the high parts agree
    assert proportional_rows(x, y, np.array([0])).tolist() == [False]
    assert proportional_rows(y, x, np.array([0])).tolist() == [False]
    exact = np.array([[3.0, 0.75]])  # 3 · [1, 0.25] is exact: proportional
    assert proportional_rows(exact, np.array([[1.0, 0.25]]), np.array([0])).tolist() == [True]


def _smallest_float_above(x: Fraction) -> float:
    """Ground truth for ceil_float, by bisection over the ordered float64s (their bit patterns as integers)."""
    import struct

    def as_float(k: int) -> float:  # k >= 0: non-negative floats; k < 0: the negative ones, mirrored
        bits = struct.unpack("<d", struct.pack("<q", abs(k)))[0]
        return bits if k >= 0 else -bits

    lo, hi = -(0x7FEFFFFFFFFFFFFF), 0x7FEFFFFFFFFFFFFF  # -max float .. +max float
    while lo < hi:  # the least k with as_float(k) >= x
        mid = (lo + hi) // 2
        if Fraction(as_float(mid)) >= x:
            hi = mid
        else:
            lo = mid + 1
    return as_float(lo)


@pytest.mark.parametrize("x", [F(1, 3), F(-1, 3), F(1, 2), F(-1, 2), F(0), F(1, 10), F(-1, 10), F(2**60 + 1),
                               F(1, 2**1074), F(-1, 2**1074), F(1, 2**1080), F(3602879701896397, 2**55)])
def test_ceil_and_floor_float_are_the_nearest_floats_outward(x):
    up, down = ceil_float(x), floor_float(x)
    assert up == _smallest_float_above(x) and Fraction(up) >= x
    assert down == -_smallest_float_above(-x) and Fraction(down) <= x
    assert (up == down) == (Fraction(up) == x)  # a float is its own ceiling and floor; otherwise they are adjacent


@given(st.fractions(min_value=-10**6, max_value=10**6, max_denominator=10**9))
def test_ceil_float_is_the_smallest_float_not_below(x):
    assert ceil_float(x) == _smallest_float_above(x)
    assert floor_float(x) == -_smallest_float_above(-x)
