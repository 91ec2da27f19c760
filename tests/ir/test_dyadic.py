"""Exact integer evaluation (ir.dyadic) against the Fraction evaluation of ir.network: same exact outputs."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.ir.activation import Activation
from lumpcheck.ir.dyadic import DyadicNetwork
from lumpcheck.ir.exact import exact_array
from lumpcheck.ir.network import Layer, Network, evaluate

ACTS = [Activation("relu"), Activation("identity"), Activation("leaky_relu", Fraction(1, 8)),
        Activation("leaky_relu", Fraction(3, 4))]


def _net(rng: np.random.Generator, widths: list[int], act: Activation, spread: int) -> Network:
    """Float weights of very different magnitudes (exponents within ±spread), some exactly zero."""
    layers = []
    for i, (p, q) in enumerate(zip(widths, widths[1:])):
        w = rng.standard_normal((q, p)) * np.exp2(rng.integers(-spread, spread + 1, (q, p)))
        w[rng.random((q, p)) < 0.2] = 0.0
        b = rng.standard_normal(q) * np.exp2(rng.integers(-spread, spread + 1, q))
        layers.append(Layer(w, b, act if i < len(widths) - 2 else Activation("identity")))
    return Network(layers)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from(ACTS), st.sampled_from([0, 8, 60]))
def test_integer_evaluation_equals_the_fraction_evaluation(seed, act, spread):
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(1, 6)) for _ in range(int(rng.integers(2, 5)))] + [int(rng.integers(1, 4))]
    net = _net(rng, widths, act, spread)
    fast = DyadicNetwork(net)
    assert fast.supported
    X = rng.standard_normal((3, widths[0])) * np.exp2(rng.integers(-spread, spread + 1, (3, widths[0])))
    X[0, 0] = 0.0
    X[1] = np.nextafter(X[1], np.inf)  # odd last bits
    batch = fast.evaluate_batch(X)
    for row, got in zip(X, batch):
        assert got == evaluate(net, [float(v) for v in row])
    assert fast.evaluate(X[2]) == evaluate(net, [float(v) for v in X[2]])


def test_networks_and_inputs_it_does_not_cover_are_refused():
    rng = np.random.default_rng(1)
    net = _net(rng, [2, 3, 2], Activation("relu"), 4)
    odd = Network([Layer(net.layers[0].weight, net.layers[0].bias, Activation("leaky_relu", Fraction(1, 100))),
                   net.layers[1]])
    exact = Network([Layer(exact_array([[Fraction(1, 3), 1]]), exact_array([0]), Activation("relu")),
                     Layer(net.layers[1].weight[:, :1], net.layers[1].bias, Activation("identity"))])
    assert not DyadicNetwork(odd).supported and DyadicNetwork(odd).evaluate([0.5, 0.25]) is None
    assert not DyadicNetwork(exact).supported and DyadicNetwork(exact).evaluate([0.5, 0.25]) is None
    fast = DyadicNetwork(net)
    assert fast.evaluate([np.inf, 0.0]) is None and fast.evaluate([np.nan, 0.0]) is None
    assert fast.evaluate([1.0, 2.0, 3.0]) is None  # wrong size
    assert fast.evaluate([1.0, -2.0]) == evaluate(net, [1.0, -2.0])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from(ACTS), st.integers(54, 900))
def test_huge_weights_and_inputs_are_integers_without_a_denominator(seed, act, k):
    """Every weight, bias and input a multiple of 2^(k−53) >= 2: the common scale 2^-s has s < 0 (audit: this
    crashed with 'negative shift count' on nets with weights around 2^600, in the differential engine's replay)."""
    rng = np.random.default_rng(seed)
    layers = [Layer(np.round(rng.standard_normal((3, 2)) * 8) * 2.0**k, np.round(rng.standard_normal(3)) * 2.0**k, act),
              Layer(np.round(rng.standard_normal((2, 3)) * 8) * 2.0**k, np.round(rng.standard_normal(2)) * 2.0**k,
                    Activation("identity"))]
    net = Network(layers)
    X = np.round(rng.standard_normal((2, 2)) * 8) * 2.0**60
    for row, got in zip(X, DyadicNetwork(net).evaluate_batch(X)):
        assert got == evaluate(net, [float(v) for v in row])
