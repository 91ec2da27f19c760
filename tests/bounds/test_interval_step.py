"""The interval step of the differential prover (bounds/difference_chain.Chain.interval) and of its checker
(checker/difference_pass, layer 0 of `single_pass`) in midpoint-radius form: W·q + b over a box must lie within
the returned bounds exactly, for weights and boxes of any magnitude (subnormal to 2^500), point boxes, and sums
whose float evaluation cancels (where only the dot product's error term keeps the bound sound)."""

import itertools
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.bounds.coupling import couple
from lumpcheck.bounds.difference_chain import Chain
from lumpcheck.checker.difference_bounds import build_chains
from lumpcheck.checker.difference_pass import single_pass
from lumpcheck.ir.activation import IDENTITY, RELU
from lumpcheck.ir.network import Layer, Network

MAGNITUDES = st.sampled_from([0.0, 2.0**-1074, 3 * 2.0**-1074, 2.0**-1022, 2.0**-60, 1e-17, 0.5, 1.0, 3.0, 1e10, 2.0**500])
FLOATS = st.builds(lambda m, s, f: s * m * f, MAGNITUDES, st.sampled_from([-1.0, 1.0]),
                   st.floats(0.5, 2.0, allow_nan=False, allow_infinity=False))


def _network(weight: np.ndarray, bias: np.ndarray) -> Network:
    """The affine layer under test, followed by an identity output layer (a chain needs two)."""
    out = weight.shape[0]
    return Network([Layer(weight, bias, RELU), Layer(np.eye(out), np.zeros(out), IDENTITY)])


def _exact_range(weight, bias, lo, hi):
    """Per output, the exact minimum and maximum of W·q + b over q in [lo, hi] (a corner per coordinate)."""
    out = []
    for w_row, b in zip(weight, bias):
        top = Fraction(float(b)) + sum(max(Fraction(float(w)) * Fraction(float(l)), Fraction(float(w)) * Fraction(float(h)))
                                       for w, l, h in zip(w_row, lo, hi))
        bottom = Fraction(float(b)) + sum(min(Fraction(float(w)) * Fraction(float(l)), Fraction(float(w)) * Fraction(float(h)))
                                          for w, l, h in zip(w_row, lo, hi))
        out.append((bottom, top))
    return out


def _prover_interval(net: Network, lo, hi):
    chain = Chain(couple(net, net).chain_a, lo[None, :], hi[None, :])
    chain.prepare(0)
    low, high = chain.interval(0)
    return low[0], high[0]


def _checker_interval(net: Network, lo, hi):
    ch = build_chains(net, net, [[]])
    n = len(ch.P[0].b)
    slopes = [{key: np.full((1, n), np.nan) for key in ("p_su", "p_sl", "a_su", "a_sl")}
              | {"p_qu": np.zeros((1, 0)), "p_ql": np.zeros((1, 0))}]
    _, _, bounds = single_pass(ch, "a", lo[None, :], hi[None, :], slopes)
    low, high = bounds[0]
    return low[0], high[0]


def _assert_encloses(weight, bias, lo, hi, label):
    exact = _exact_range(weight, bias, lo, hi)
    net = _network(weight, bias)
    for side, (low, high) in (("prover", _prover_interval(net, lo, hi)), ("checker", _checker_interval(net, lo, hi))):
        for i, (bottom, top) in enumerate(exact):
            assert Fraction(float(low[i])) <= bottom, (label, side, i, "lower bound above the exact minimum")
            assert Fraction(float(high[i])) >= top, (label, side, i, "upper bound below the exact maximum")


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.data())
def test_the_interval_step_encloses_every_affine_image(n_in, n_out, data):
    weight = np.array([[data.draw(FLOATS) for _ in range(n_in)] for _ in range(n_out)])
    bias = np.array([data.draw(FLOATS) for _ in range(n_out)])
    ends = [sorted((data.draw(FLOATS), data.draw(FLOATS))) for _ in range(n_in)]
    if data.draw(st.booleans()):
        ends = [(a, a) for a, _ in ends]  # a point box: the radius is 0, the centre's rounding is all there is
    lo, hi = np.array([e[0] for e in ends]), np.array([e[1] for e in ends])
    _assert_encloses(weight, bias, lo, hi, (weight.tolist(), bias.tolist(), lo.tolist(), hi.tolist()))


def test_a_cancelling_sum_keeps_its_error_term():
    """W·c for c = (2^-60, 1, −1) in every order: a float dot product that adds 1 first loses 2^-60 (the sum is 0),
    and only the error term n·2^-52·|W|·|q| keeps the upper bound above the exact 2^-60; the bounds' ulp-sized
    roundings alone do not (up(0) is 2^-1074)."""
    for order in itertools.permutations([2.0**-60, 1.0, -1.0]):
        point = np.array(order)
        _assert_encloses(np.ones((1, 3)), np.zeros(1), point, point, order)
        _assert_encloses(-np.ones((1, 3)), np.zeros(1), point, point, ("negated", order))
