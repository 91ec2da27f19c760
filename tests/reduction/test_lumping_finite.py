"""The quotient `reduce` builds is finite and exact where aggregating merged neurons overflows float64.

`reduce` builds its quotient's Layers without a finiteness pass (`Layer(..., finite=True)`): the fact is proven by
construction (`reduction.aggregate.Incoming`). These tests make every way to inf happen -- a product c·w beyond
float64, a sum of two finite products beyond it, sums that come back into range -- and check that every quotient
array is finite (float64) or exact Fractions, and that the quotient computes exactly what the original does.
A kernel that let an overflow through unflagged fails here (no Layer check would stop it any more)."""

from fractions import Fraction

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from lumpcheck import evaluate, reduce
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.network import Layer, Network

RELU = Activation("relu")
BIG = 2.0**1022


def _finite_and_exact(net: Network, inputs: list[list[Fraction]]) -> Network:
    red = reduce(net).network
    for layer in red.layers:
        for arr in (layer.stored_weight, layer.stored_bias):
            if arr.dtype == object:
                assert all(type(v) is Fraction for v in arr.reshape(-1))
            else:
                assert arr.dtype in (np.float32, np.float64) and np.isfinite(arr).all()
        Layer(layer.stored_weight, layer.stored_bias, layer.activation)  # the checked constructor agrees
    for x in inputs:
        assert evaluate(red, x) == evaluate(net, x)
    return red


def _net(first: np.ndarray, second: np.ndarray, second_bias: np.ndarray) -> Network:
    """2 inputs -> ReLU hidden layer `first` (the last column its bias) -> identity output `second`."""
    return Network([Layer(first[:, :-1], first[:, -1], RELU), Layer(second, second_bias, IDENTITY)])


X = [[Fraction(1, 3), Fraction(2)], [Fraction(-5, 2), Fraction(7, 4)]]
BASE_AND_DOUBLE = np.array([[1.0, -2.0, 0.25], [2.0, -4.0, 0.5]])  # neuron 1 = 2·neuron 0: merged, factor 2


def test_sum_of_two_finite_products_beyond_float64_becomes_a_fraction():
    # aggregated column: 1.5·2^1023 + 2·(1.5·2^1022) = 3·2^1023 > DBL_MAX, both products finite
    red = _finite_and_exact(_net(BASE_AND_DOUBLE, np.array([[1.5 * 2 * BIG, 1.5 * BIG]]), np.array([0.0])), X)
    assert red.widths == [2, 1, 1]
    assert red.layers[1].stored_weight.dtype == object
    assert red.layers[1].stored_weight[0, 0] == Fraction(3) * 2**1023


def test_product_beyond_float64_becomes_a_fraction():
    # 2 · 1.75·2^1023 overflows; the aggregate 0.5 + 3.5·2^1023 is no float
    red = _finite_and_exact(_net(BASE_AND_DOUBLE, np.array([[0.5, 1.75 * 2 * BIG]]), np.array([0.0])), X)
    assert red.layers[1].stored_weight[0, 0] == Fraction(1, 2) + Fraction(7, 2) * 2**1023


def test_overflowing_parts_that_cancel_stay_float():
    # a sum that would overflow is not formed: 1.5·2^1023 + 2·(-1.5·2^1022) = 0 exactly, as float64
    second = np.array([[1.5 * 2 * BIG, -1.5 * BIG], [1.0, 0.0]])
    red = _finite_and_exact(_net(BASE_AND_DOUBLE, second, np.array([0.0, 0.0])), X)
    assert red.layers[1].stored_weight.dtype == np.float64 and red.layers[1].stored_weight.tolist() == [[0.0], [1.0]]


def test_largest_finite_aggregate_stays_float():
    # 2^1022 + 2·2^1021... = 2^1023 and (2 - 2^-52)·2^1022 + 2·2^-52·2^1021 = 2^1023: at the edge, exact, finite
    tiny = 2.0**-52 * 2.0**1021
    red = _finite_and_exact(_net(BASE_AND_DOUBLE, np.array([[BIG, BIG / 2], [(2 - 2.0**-52) * BIG, tiny]]),
                                 np.array([0.0, 1.0])), X)
    w = red.layers[1].stored_weight
    assert w.dtype == np.float64 and w.tolist() == [[2.0**1023], [2.0**1023]]


def test_factor_beyond_float64_is_aggregated_exactly():
    # neuron 1 = 2^2000 · neuron 0 (tiny and huge weights): the factor is no float, its column is done with Fractions
    first = np.array([[2.0**-1000, 3 * 2.0**-1000, 0.0], [2.0**1000, 3 * 2.0**1000, 0.0]])
    red = _finite_and_exact(_net(first, np.array([[1.0, 1.0]]), np.array([0.0])), X)
    assert red.widths == [2, 1, 1]
    assert red.layers[1].stored_weight[0, 0] == 1 + Fraction(2) ** 2000


MANTISSAS = st.sampled_from([1.0, 1.5, 1.75, 2 - 2.0**-52, -1.0, -1.5, -(2 - 2.0**-52)])


@st.composite
def overflow_prone(draw) -> Network:
    """A ReLU layer with planted copies times 2^k (k in -1..3) of a few base rows, read by an output layer whose
    weights are m·2^e with e near the top of float64 (or small): aggregated columns overflow, cancel or fit."""
    bases = draw(st.integers(1, 3))
    rows = [draw(st.lists(st.sampled_from([-3, -2, -1, 1, 2, 3]), min_size=3, max_size=3)) for _ in range(bases)]
    copies = draw(st.lists(st.tuples(st.integers(0, bases - 1), st.integers(-1, 3)), min_size=1, max_size=4))
    first = np.array(rows + [[v * 2.0**k for v in rows[b]] for b, k in copies], dtype=np.float64)
    outs = draw(st.integers(1, 3))
    big = st.builds(lambda m, e: m * 2.0**e, MANTISSAS, st.integers(1010, 1023))
    small = st.sampled_from([0.0, 0.5, -3.0, 2.0**-1074])
    second = np.array([[draw(st.one_of(big, small)) for _ in range(len(first))] for _ in range(outs)])
    return _net(first, second, np.array([draw(st.one_of(big, small)) for _ in range(outs)]))


@settings(max_examples=150, deadline=None)
@given(overflow_prone())
def test_quotient_finite_and_exact_on_overflow_prone_aggregations(net: Network):
    red = _finite_and_exact(net, X)
    event("some aggregate beyond float64" if red.layers[1].stored_weight.dtype == object else "all aggregates floats")
