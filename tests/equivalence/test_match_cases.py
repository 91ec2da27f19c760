"""verify's structural match (equivalence/match.py) on the cases its hashing could get wrong: a sigmoid layer holding a
neuron and its negation (σ(−z) ≠ −σ(z): only c = 1 pairs them), an all-zero neuron on the Fraction path, and a layer
with Fraction weights but a float64 bias (no float fast path). Ground truth: the identity match of a net with itself."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from lumpcheck.equivalence.match import LayerMatch, match_networks
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.network import Layer, Network

F = Fraction


def _identity_match(width: int) -> list[LayerMatch]:
    return [LayerMatch(tuple(range(width)), (F(1),) * width)]


def test_sigmoid_neuron_and_its_negation_are_matched_with_themselves():
    """Kills: the sigmoid rows hashed up to sign (or scale): v and −v then share a key and b's v may take a's −v,
    which no admissible factor relates (σ(−z) = 1 − σ(z)), so the match of a net with itself would fail."""
    w = np.array([[1.0, 2.0], [-1.0, -2.0], [3.0, 0.5]])
    net = Network([Layer(w, np.array([0.5, -0.5, 0.0]), Activation("sigmoid")),
                   Layer(np.array([[1.0, 1.0, 1.0]]), np.array([0.0]), IDENTITY)])
    assert match_networks(net, net) == _identity_match(3)


def test_an_all_zero_neuron_is_matched_on_the_fraction_path():
    """Kills: the normalisation of an all-zero incoming vector failing (no nonzero lead)."""
    w = np.array([[F(1), F(2)], [F(0), F(0)], [F(1, 3), F(-1)]], dtype=object)
    b = np.array([F(1), F(0), F(2)], dtype=object)
    net = Network([Layer(w, b, Activation("relu")), Layer(np.array([[F(1), F(1), F(1)]], dtype=object),
                                                          np.array([F(0)], dtype=object), IDENTITY)])
    assert match_networks(net, net) == _identity_match(3)


def test_fraction_weights_with_a_float_bias_take_the_fraction_path():
    """Kills: the float fast path taken when only the bias is float64 (the Fraction weights cannot be hashed as
    float bits)."""
    w = np.array([[F(1, 3), F(2)], [F(-1), F(1, 7)]], dtype=object)
    net = Network([Layer(w, np.array([0.25, -1.0]), Activation("relu")),
                   Layer(np.array([[F(1), F(-1)]], dtype=object), np.array([0.0]), IDENTITY)])
    assert match_networks(net, net) == _identity_match(2)
