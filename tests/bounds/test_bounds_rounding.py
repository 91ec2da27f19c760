"""Bounds at their edges: phases at exactly 0, sigmoid at the clamp, and back-substitution slopes that make the
symbolic bounds exact where the documentation says they are (stable neurons, LeakyReLU chords)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from lumpcheck.bounds import interval_bounds, layer_phases, symbolic_bounds
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate
from exact_nets import dense

F = Fraction


def test_phases_at_exactly_zero():
    """upper = 0 is inactive, lower = 0 active (exact bounds on [0, 1]^2)."""
    net = dense(([[-1, -1], [1, 1], [1, -1]], [0, 0, 0], Activation("relu")), ([[1, 1, 1]], [0], IDENTITY))
    box = Box((F(0), F(0)), (F(1), F(1)))
    bounds = interval_bounds(net, box, exact=True)[0]
    assert [(b.lower, b.upper) for b in [bounds]][0][1].tolist() == [0, 2, 1]
    assert layer_phases(Activation("relu"), bounds).tolist() == [-1, 1, 0]
    assert layer_phases(Activation("leaky_relu", F(1, 3)), bounds).tolist() == [-1, 1, 0]


def test_sigmoid_at_the_clamp_keeps_its_positive_lower_bound():
    """sigmoid(−1024) > 0: the clamp to the limit 0 starts strictly beyond −1024."""
    net = dense(([[1]], [0], Activation("sigmoid")), ([[1]], [0], IDENTITY))
    out = interval_bounds(net, Box((F(-1024),), (F(0),)), exact=True)[1]
    assert 0 < out.lower[0] < F(1, 10**400) and out.upper[0] >= F(1, 2)
    beyond = interval_bounds(net, Box((F(-1025),), (F(0),)), exact=True)[1]
    assert beyond.lower[0] == 0


def test_stable_neurons_back_substitute_with_slope_one():
    """h1 = h2 = relu(x + 2) on [−1, 1] (always active): h1 − h2 = 0 exactly, and so are the symbolic bounds."""
    net = dense(([[1], [1]], [2, 2], Activation("relu")), ([[1, -1]], [0], IDENTITY))
    out = symbolic_bounds(net, Box((F(-1),), (F(1),)), exact=True)[1]
    assert (out.lower[0], out.upper[0]) == (0, 0)


def test_leaky_chord_is_exact_at_both_ends():
    """σ = LeakyReLU(1/2) on [−1, 1]: the chord through (−1, −1/2) and (1, 1) has slope 3/4, so
    max(σ(x) − 3x/4) = 1/4 is what back-substitution finds."""
    net = dense(([[1]], [0], Activation("leaky_relu", F(1, 2))), ([[1]], [0], IDENTITY))
    box = Box((F(-1),), (F(1),))
    leaky = Activation("leaky_relu", F(1, 2))
    probe = dense(([[1], [1]], [0, 2], leaky), ([[1, F(-3, 4)]], [F(3, 2)], IDENTITY))  # σ(x) − 3/4·(x + 2) + 3/2
    assert symbolic_bounds(net, box, exact=True)[1].upper[0] == 1
    out = symbolic_bounds(probe, box, exact=True)[1]
    assert out.upper[0] == F(1, 4)


def test_underflowing_products_are_covered_by_the_absolute_error_term():
    """16 products just below half the smallest subnormal each round to 0: the float sum is 0, the relative error
    bound (a multiple of Σ|products| = 0) is 0, and only the absolute term n·2^-1072 covers the exact 8·2^-1074."""

    n = 16
    net = Network([Layer(np.full((1, n), 2.0**-600), np.zeros(1), IDENTITY)])
    x = (1 - 2.0**-52) * 2.0**-475
    point = tuple([F(x)] * n)
    exact = evaluate(net, point)[0]
    assert 0 < exact and float(np.full(n, 2.0**-600) @ np.full(n, x)) == 0.0
    b = interval_bounds(net, Box(point, point))[0]
    assert F(b.lower[0]) <= exact <= F(b.upper[0])


def test_concave_leaky_takes_the_tangent_above():
    """LeakyReLU(2) is concave: above it the tangent (slope 1 here, u >= −l) is exact, so σ(x) − x <= 0 is found."""
    steep = Activation("leaky_relu", 2)
    probe = dense(([[1], [1]], [0, 2], steep), ([[1, -1]], [2], IDENTITY))  # σ(x) − (x + 2) + 2
    out = symbolic_bounds(probe, Box((F(-1),), (F(1),)), exact=True)[1]
    assert out.upper[0] == 0
