"""Correct rounding of exact parameters to float32/float64 and the exactness of the rounding report."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.errors import LumpcheckError
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.exact import FLOAT32_MAX, as_fractions
from lumpcheck.ir.network import Layer, Network
from lumpcheck.ir.normalization import Normalization
from lumpcheck.ir.rounding import DTYPES, FloatRangeError, nearest_float32, nearest_float64, round_network

OVERFLOW32 = FLOAT32_MAX + Fraction(2) ** 103  # halfway between FLOAT32_MAX and 2**128


def reference_float32(x: Fraction) -> Fraction:
    """Independent reference: scale to a 24-bit significand and let round() (ties to even) do the rest."""
    if x == 0:
        return Fraction(0)
    a = abs(x)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    quantum = Fraction(2) ** (max(e, -126) - 23)  # subnormals share the smallest normal exponent
    return round(x / quantum) * quantum


def float32_value(x: Fraction) -> Fraction:
    r = nearest_float32(x)
    assert float(np.float32(r)) == r, "result is not a float32 value"
    return Fraction(r)


rationals = st.builds(
    lambda n, d, e: Fraction(n, d) * Fraction(2) ** e,
    st.integers(-(2**90), 2**90),
    st.integers(1, 2**90),
    st.integers(-200, 60),
)
finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@given(rationals)
def test_nearest_float32_matches_reference(x: Fraction) -> None:
    if abs(reference_float32(x)) > FLOAT32_MAX:
        with pytest.raises(OverflowError):
            nearest_float32(x)
    else:
        assert float32_value(x) == reference_float32(x)


@settings(max_examples=300)
@given(finite32, st.integers(0, 100), st.sampled_from([-1, 0, 1]))
def test_nearest_float32_near_midpoints(f: float, k: int, sign: int) -> None:
    """Midpoints between neighbouring float32 values, nudged by far less than a float64 ulp (double-rounding traps)."""
    with np.errstate(over="ignore"):
        lo, hi = np.float32(f), np.nextafter(np.float32(f), np.float32(np.inf))
    if not np.isfinite(hi):
        return
    mid = (Fraction(float(lo)) + Fraction(float(hi))) / 2
    x = mid + sign * (Fraction(float(hi)) - Fraction(float(lo))) * Fraction(1, 2**k)
    if abs(reference_float32(x)) > FLOAT32_MAX:  # nudged past the largest float32: rounds to infinity
        with pytest.raises(OverflowError):
            nearest_float32(x)
    else:
        assert float32_value(x) == reference_float32(x)


def test_double_rounding_trap_is_avoided() -> None:
    """1 + 2**-24 + 2**-80 is above the float32 midpoint; float64 rounds it onto the midpoint, float32 then to even."""
    x = 1 + Fraction(1, 2**24) + Fraction(1, 2**80)
    assert float(np.float32(float(x))) == 1.0  # the naive double rounding goes down...
    assert nearest_float32(x) == float(np.nextafter(np.float32(1), np.float32(2)))  # ...the nearest is up
    net = Network([Layer(np.array([[x, 1 - x]], dtype=object), np.zeros(1))])  # the array path too
    rounded, report = round_network(net, "float32")
    assert list(rounded.layers[0].weight[0]) == [nearest_float32(x), nearest_float32(1 - x)] and report.rounded == 2


def test_ties_go_to_even() -> None:
    one_up = Fraction(float(np.nextafter(np.float32(1), np.float32(2))))
    assert nearest_float32((1 + one_up) / 2) == 1.0
    two_up = Fraction(float(np.nextafter(np.float32(one_up), np.float32(2))))
    assert Fraction(nearest_float32((one_up + two_up) / 2)) == two_up


def test_float32_range_limits() -> None:
    assert Fraction(nearest_float32(OVERFLOW32 - Fraction(1, 2**60))) == FLOAT32_MAX
    with pytest.raises(OverflowError):
        nearest_float32(OVERFLOW32)  # the tie goes to the even 2**128, i.e. infinity
    with pytest.raises(OverflowError):
        nearest_float32(-(Fraction(2) ** 2000))
    smallest = Fraction(2) ** -149
    assert Fraction(nearest_float32(smallest / 2)) == 0  # tie, to even (zero)
    assert Fraction(nearest_float32(smallest / 2 + Fraction(1, 2**300))) == smallest


@given(rationals)
def test_nearest_float64_is_correctly_rounded(x: Fraction) -> None:
    r = nearest_float64(x)
    below, above = np.nextafter(r, -np.inf), np.nextafter(r, np.inf)
    err = abs(Fraction(r) - x)
    assert err <= abs(Fraction(float(below)) - x) and err <= abs(Fraction(float(above)) - x)


def exact_net(rows: list[list[Fraction]], alpha: Fraction = Fraction(1, 10)) -> Network:
    w = np.array(rows, dtype=object)
    layer1 = Layer(w, np.array([Fraction(1, 3)] * w.shape[0], dtype=object), Activation("leaky_relu", alpha))
    layer2 = Layer(np.array([[Fraction(2, 7)] * w.shape[0]], dtype=object), np.array([Fraction(5)], dtype=object))
    return Network([layer1, layer2])


def expected_changes(values: list[Fraction], rounder) -> tuple[int, Fraction, Fraction]:
    changes = [(abs(Fraction(rounder(v)) - v), v) for v in values]
    moved = [(c, v) for c, v in changes if c]
    max_abs = max((c for c, _ in moved), default=Fraction(0))
    return len(moved), max_abs, max((c / abs(v) for c, v in moved), default=Fraction(0))


def all_parameters(net: Network) -> list[Fraction]:
    out: list[Fraction] = []
    for layer in net.layers:
        out += list(as_fractions(layer.weight).reshape(-1)) + list(as_fractions(layer.bias))
        if layer.activation.kind == "leaky_relu":
            out.append(layer.activation.alpha)
    return out


@settings(max_examples=40)
@given(st.lists(st.lists(rationals, min_size=3, max_size=3), min_size=1, max_size=4), st.sampled_from(DTYPES))
def test_round_network_values_and_report(rows: list[list[Fraction]], dtype: str) -> None:
    net = exact_net(rows)
    rounder = nearest_float32 if dtype == "float32" else nearest_float64
    try:
        rounded, report = round_network(net, dtype)
    except FloatRangeError:
        assert any(abs(v) >= OVERFLOW32 for v in all_parameters(net)) and dtype == "float32"
        return
    before, after = all_parameters(net), all_parameters(rounded)
    assert after == [Fraction(rounder(v)) for v in before]
    count, max_abs, max_rel = expected_changes(before, rounder)
    assert (report.total, report.rounded) == (len(before), count)
    assert (report.max_abs_change, report.max_rel_change) == (max_abs, max_rel)
    assert sum(report.per_layer) == report.rounded and len(report.per_layer) == 2
    assert report.exact == (count == 0)
    assert rounded.meta["dtype"] == dtype


@settings(max_examples=40)
@given(st.lists(st.floats(min_value=-1e38, max_value=1e38), min_size=1, max_size=20))
def test_float64_arrays_round_like_the_exact_path(values: list[float]) -> None:
    """The vectorised float64 -> float32 path agrees with exact rounding and exact statistics."""
    w = np.array([values])
    net = Network([Layer(w, np.zeros(1))])
    rounded, report = round_network(net, "float32")
    exact = [Fraction(v) for v in values] + [Fraction(0)]
    assert list(rounded.layers[0].weight[0]) == [nearest_float32(v) for v in exact[:-1]]
    count, max_abs, max_rel = expected_changes(exact, nearest_float32)
    assert (report.rounded, report.max_abs_change, report.max_rel_change) == (count, max_abs, max_rel)


def test_float32_network_is_exact_in_both_dtypes() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    net = Network([Layer(w, np.ones(4, dtype=np.float32), Activation("leaky_relu", Fraction(float(np.float32(0.1)))))])
    for dtype in ("float32", "float64"):
        rounded, report = round_network(net, dtype)
        assert report.exact and report.total == 12 + 4 + 1 and report.max_abs_change == 0
        assert np.array_equal(rounded.layers[0].weight, w.astype(np.float64))
        assert "exact" in report.summary()


def test_overflow_names_the_parameter() -> None:
    w = np.array([[1.0, 3e38 * 2]])
    with pytest.raises(FloatRangeError) as info:
        round_network(Network([Layer(w, np.zeros(1))]), "float32")
    assert isinstance(info.value, LumpcheckError) and "layer 0 weight[0, 1]" in str(info.value)
    with pytest.raises(OverflowError):
        nearest_float64(Fraction(2) ** 1100)
    with pytest.raises(FloatRangeError, match=r"layer 0 bias\[0\]"):
        round_network(Network([Layer(np.ones((1, 1)), np.array([Fraction(2) ** 200], dtype=object))]), "float32")


def test_normalisation_is_rounded_and_counted_and_bad_dtype_refused() -> None:
    """Float files store the normalisation too (ONNX writer): its constants are rounded and reported like weights."""
    norm = Normalization((Fraction(1, 3),), (Fraction(1),), (Fraction(0),), (Fraction(1),))
    net = Network([Layer(np.ones((1, 1)), np.zeros(1))], normalization=norm)
    rounded, report = round_network(net, "float32")
    assert rounded.normalization.input_mean == (Fraction(nearest_float32(Fraction(1, 3))),)
    assert rounded.normalization.input_range == norm.input_range and report.per_layer == [0]
    assert (report.total, report.rounded, report.normalization) == (2 + 4, 1, 1)
    with pytest.raises(ValueError, match="dtype"):
        round_network(net, "float16")


def test_float32_report_is_the_same_in_blocks(monkeypatch):
    """_round_float64_array works in blocks of rows (peak memory): tiny blocks give the same values and report."""
    import lumpcheck.ir.rounding as rounding
    from lumpcheck.ir.activation import IDENTITY
    from lumpcheck.ir.network import Layer, Network

    rng = np.random.default_rng(1)
    w = rng.normal(size=(7, 5)) * 10.0 ** rng.integers(-30, 30, size=(7, 5))
    w[3, 2] = float(np.float32(1.5))  # some exact entries
    net = Network([Layer(w.copy(), rng.normal(size=7), IDENTITY)])
    whole, report = rounding.round_network(net, "float32")
    monkeypatch.setattr(rounding, "ROUNDING_BLOCK", 3)
    blocked, blocked_report = rounding.round_network(net, "float32")
    assert np.array_equal(whole.layers[0].weight, blocked.layers[0].weight) and report == blocked_report
    assert rounding.rounding_report(net, "float32") == report and 0 < report.rounded < w.size + 7
    w = w.copy()
    w[6, 4] = 1e39  # beyond float32: the error names the entry, in whichever block
    with pytest.raises(rounding.FloatRangeError, match=r"layer 0 weight\[6, 4\]"):
        rounding.round_network(Network([Layer(w, np.zeros(7), IDENTITY)]), "float32")


def test_rounding_report_reads_float32_as_stored():
    """A float32 layer is exact in both float types: the report counts it without widening it to float64 (memory)."""
    from lumpcheck.ir.network import Layer, Network
    from lumpcheck.ir.rounding import rounding_report

    w = np.array([[0.1, -2.5], [3.0, 1e-30]], dtype=np.float32)
    net = Network([Layer(w, np.zeros(2, dtype=np.float32)), Layer(np.array([[0.1, 1.0]]), np.array([0.0]))])
    for dtype in ("float32", "float64"):
        report = rounding_report(net, dtype)
        assert report.total == net.param_count and net.layers[0].stored_weight.dtype == np.float32
        assert report.rounded == (1 if dtype == "float32" else 0)  # 0.1 as float64 in the second layer
