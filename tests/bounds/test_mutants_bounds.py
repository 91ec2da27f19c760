"""Float bounds (lumpcheck.bounds) on cases built to expose one rounding rule each: the factor n of a dot
product's error bound, back-substitution's error terms.

Each test names the mutant it kills (issue 14): the rule was removed by hand, the test failed, the rule restored.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from lumpcheck.bounds import interval_bounds, symbolic_bounds
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate


# A dot product with heavy cancellation: n terms (1 + δ)·1 then n terms (−1)·1, exact sum n·δ. Summed in float64,
# the running sum reaches ~n, where δ is below half an ulp and is lost at each step: the computed sum is far off
# n·δ, by many times 2^-52·Σ|terms| (the error bound without its factor n). One row per δ, for any BLAS order.
N = 2048
DELTAS = [2.0**-k - 2.0**-52 for k in (44, 46, 48)]


def _cancelling_rows() -> np.ndarray:
    return np.array([np.concatenate([np.full(N, 1.0 + d), np.full(N, -1.0)]) for d in DELTAS])


def _assert_encloses(bounds, exact: list[Fraction]) -> None:
    for s, value in enumerate(exact):
        assert Fraction(bounds.lower[s]) <= value <= Fraction(bounds.upper[s]), (s, float(value), bounds.lower[s],
                                                                               bounds.upper[s])


def test_float_dot_product_bound_encloses_heavy_cancellation():
    """Kills: the dot-product error bound missing its factor n (E = 2^-52·T instead of n·2^-52·T)."""
    w = _cancelling_rows()
    assert np.any((w @ np.ones(2 * N)) != [float(N * Fraction(d)) for d in DELTAS])  # floats do lose δ here
    net = Network([Layer(w, np.zeros(len(DELTAS)), IDENTITY)])
    ones = tuple([Fraction(1)] * (2 * N))
    exact = evaluate(net, ones)
    assert exact == [N * Fraction(d) for d in DELTAS]
    _assert_encloses(interval_bounds(net, Box(ones, ones))[0], exact)


def test_back_substitution_keeps_its_rounding_error_terms():
    """Kills: back-substitution dropping its error terms (E1·max|z|, E2·max|h|). Layer 2's back-substituted
    coefficient on x is the cancelling sum itself (layer 1 copies x into 2N identity neurons), rounded."""
    w = _cancelling_rows()
    net = Network([Layer(np.ones((2 * N, 1)), np.zeros(2 * N), IDENTITY), Layer(w, np.zeros(len(DELTAS)), IDENTITY)])
    point = Box((Fraction(1),), (Fraction(1),))
    exact = evaluate(net, [Fraction(1)])
    symbolic, interval = symbolic_bounds(net, point)[1], interval_bounds(net, point)[1]
    _assert_encloses(symbolic, exact)
    assert np.all(symbolic.upper - symbolic.lower < interval.upper - interval.lower)  # back-substitution decides


@pytest.mark.parametrize("scale", [1.0, 2.0**-600, 2.0**600])
def test_cancellation_bounds_hold_at_extreme_magnitudes(scale):
    """The same sums scaled far from 1 (products near underflow or overflow): still enclosed."""
    w = _cancelling_rows() * scale
    net = Network([Layer(w, np.zeros(len(DELTAS)), IDENTITY)])
    ones = tuple([Fraction(1)] * (2 * N))
    _assert_encloses(interval_bounds(net, Box(ones, ones))[0], evaluate(net, ones))


# ---------------------------------------------------------------- grid, dispatch, caching, phases, squash precision
# (survivors of the mutation run on the layered layout; each was applied by hand and seen to fail)

RELU = Activation("relu")
THIRD = Fraction(1, 3)


def _net(*layers: tuple[list[list[object]], list[object], Activation], frozen: bool = True) -> Network:
    return Network([Layer(np.array([[Fraction(v) for v in row] for row in w], dtype=object),
                          np.array([Fraction(v) for v in b], dtype=object), act) for w, b, act in layers])


# z0 = x0/3 + x1, z1 = −x0 + 2·x1 − 1/3 (hidden, ReLU), then y = z0' − z1'
GRID_NET = _net(([[THIRD, 1], [-1, 2]], [0, -THIRD], RELU), ([[1, -1]], [0], IDENTITY))
GRID_BOX = Box((Fraction(-1), Fraction(0)), (Fraction(2), Fraction(1, 5)))


def _affine_image(w: list[Fraction], b: Fraction, box: Box) -> tuple[Fraction, Fraction]:
    """Exact range of w·x + b over the box (ground truth: each term at the end of its input's interval)."""
    lo = b + sum(min(c * l, c * u) for c, l, u in zip(w, box.lower, box.upper))
    hi = b + sum(max(c * l, c * u) for c, l, u in zip(w, box.lower, box.upper))
    return lo, hi


@pytest.mark.parametrize("parts", [1, 2, 3, [2, 3]])
def test_split_bounds_of_the_first_layer_are_its_exact_image(parts):
    """Kills split_bounds mutants that widen the cells past the box, or that drop exact=True: the first layer is
    affine in the inputs, so the hull over any grid of cells covering exactly the box is the exact image."""
    from lumpcheck.bounds import split_bounds

    first = split_bounds(GRID_NET, GRID_BOX, parts=parts, exact=True)[0]
    w, b = GRID_NET.layers[0].weight, GRID_NET.layers[0].bias
    for s in range(2):
        lo, hi = _affine_image(list(w[s]), b[s], GRID_BOX)
        assert (first.lower[s], first.upper[s]) == (lo, hi)
        assert type(first.lower[s]) is Fraction and type(first.upper[s]) is Fraction


def test_symbolic_bounds_in_exact_mode_are_fractions_and_exact_on_the_first_layer():
    """Kills symbolic_bounds computing its interval prior in floats when exact=True (the meet then keeps floats)."""
    first = symbolic_bounds(GRID_NET, GRID_BOX, exact=True)[0]
    for s in range(2):
        lo, hi = _affine_image(list(GRID_NET.layers[0].weight[s]), GRID_NET.layers[0].bias[s], GRID_BOX)
        assert (first.lower[s], first.upper[s]) == (lo, hi)
        assert type(first.lower[s]) is Fraction and type(first.upper[s]) is Fraction
    net = _net(([[1], [-1]], [0, 0], RELU), ([[1, 1]], [0], IDENTITY))  # |x| on [−1, 2]: range [0, 2]
    out = symbolic_bounds(net, Box((Fraction(-1),), (Fraction(2),)), exact=True)[-1]
    assert out.lower[0] == 0 and type(out.lower[0]) is Fraction and 2 <= out.upper[0] < 2 + 1e-12


@pytest.mark.parametrize("method", ["interval", "symbolic", "split"])
def test_by_method_runs_the_named_method(method):
    from lumpcheck.bounds import propagate

    parts = 3  # not split_bounds' default
    direct = {"interval": lambda: propagate.interval_bounds(GRID_NET, GRID_BOX),
              "symbolic": lambda: propagate.symbolic_bounds(GRID_NET, GRID_BOX),
              "split": lambda: propagate.split_bounds(GRID_NET, GRID_BOX, parts=parts)}[method]()
    got = propagate.by_method(GRID_NET, GRID_BOX, method, parts)
    assert [(b.lower.tolist(), b.upper.tolist()) for b in got] == [(b.lower.tolist(), b.upper.tolist()) for b in direct]
    with pytest.raises(ValueError, match="unknown bounds method 'lp'"):
        propagate.by_method(GRID_NET, GRID_BOX, "lp", parts)


def test_split_by_method_uses_the_given_parts():
    """by_method must pass `parts` on. y = relu(2 − 2x) + 2·relu(2x + 2) − 2·relu(2x) on [−1, 2] is 2x + 6, 6 − 2x,
    then 4 on the pieces cut at 0 and 1: range [4, 6]. Split in 3 cells (at 0 and 1) every ReLU is stable per
    cell, so the bounds are that range; split_bounds' default 2 cells (cut at 1/2) give a looser upper bound."""
    from lumpcheck.bounds import propagate

    net = _net(([[-2], [2], [2]], [2, 2, 0], RELU), ([[1, 2, -2]], [0], IDENTITY))
    box = Box((Fraction(-1),), (Fraction(2),))
    assert [evaluate(net, [Fraction(x)])[0] for x in (-1, 0, 1, 2)] == [4, 6, 4, 4]
    three = propagate.by_method(net, box, "split", 3)[-1]
    assert 4 - 1e-12 < three.lower[0] <= 4 and 6 <= three.upper[0] < 6 + 1e-12  # float bounds, rounded outward
    assert propagate.split_bounds(net, box)[-1].upper[0] > 6.5
    exact = propagate.split_bounds(net, box, parts=3, exact=True)[-1]  # every cell in Fractions: the range itself
    assert (exact.lower[0], exact.upper[0]) == (4, 6) and type(exact.upper[0]) is Fraction


def test_a_writeable_bias_is_never_served_from_the_cache():
    """Kills working_affine memoising a layer whose bias can still change: after an in-place bias edit the working
    affine must carry the new bias (Layer arrays are read-only; this is working_affine's own contract)."""
    from lumpcheck.bounds.propagate import working_affine

    weight = np.array([[1.0]])
    weight.flags.writeable = False
    bias = np.array([0.0])
    for exact in (False, True):
        bias[0] = 0.0
        assert working_affine(weight, bias, exact=exact).bias.tolist() == [0]
        bias[0] = 5.0
        assert working_affine(weight, bias, exact=exact).bias.tolist() == [5]
    frozen = np.array([7.0])
    frozen.flags.writeable = False
    assert working_affine(weight, frozen, exact=True).bias.tolist() == [Fraction(7)]


def test_stable_phases_cover_every_hidden_layer():
    """Kills stable_phases stopping after the first hidden layer: on [1, 2], layer 1 is (active, inactive) and
    layer 2's z = v0 − 3 (in [−2, −1]) is inactive, v0 + 1 active."""
    from lumpcheck.bounds.propagate import stable_phases

    net = _net(([[1], [-1]], [0, 0], RELU), ([[1, 0], [1, 0]], [-3, 1], RELU), ([[1, 1]], [0], IDENTITY))
    box = Box((Fraction(1),), (Fraction(2),))
    phases = stable_phases(net, interval_bounds(net, box, exact=True))
    assert [p.tolist() for p in phases] == [[1, -1], [-1, 1]]


def test_symbolic_bounds_are_exact_on_a_stably_active_relu():
    """Kills the DeepPoly slope rule taking l = 0 as undecided (slope α = 0 instead of 1): relu(x) − x is 0 on
    [0, 1], and back-substitution through a stably active ReLU is exact."""
    net = _net(([[1]], [0], RELU), ([[1]], [0], IDENTITY))
    net2 = _net(([[1], [1]], [0, 0], Activation("identity")), ([[1, 0], [0, 1]], [0, 0], RELU), ([[1, -1]], [0], IDENTITY))
    box = Box((Fraction(0),), (Fraction(1),))
    assert evaluate(net, [Fraction(1, 2)]) == [Fraction(1, 2)]
    out = symbolic_bounds(net2, box, exact=True)[-1]
    assert (out.lower[0], out.upper[0]) == (0, 0)


@pytest.mark.parametrize("kind, z", [("sigmoid", Fraction(0)), ("sigmoid", Fraction(-3, 2)), ("tanh", Fraction(1, 7)),
                                     ("tanh", Fraction(-5))])
def test_squash_enclosures_are_tight(kind, z):
    """Kills the clamp applied on the wrong side (every upper end near the limit 1): the enclosure of σ on a point
    is within 1e-12 of σ(z) (math.exp as the independent reference)."""
    import math

    from lumpcheck.bounds.squash import squash_enclosure

    ref = 1 / (1 + math.exp(-z)) if kind == "sigmoid" else math.tanh(z)
    lo, hi = squash_enclosure(kind, z, z)
    assert lo <= hi and abs(float(lo) - ref) < 1e-12 and abs(float(hi) - ref) < 1e-12


def test_float_propagation_with_overflow_raises_no_warnings():
    """Overflowing float products are detected and redone exactly, silently (no RuntimeWarning on the way)."""
    import warnings

    net = Network([Layer(np.array([[1e308, 1e308], [1e308, -1e308]]), np.array([0.0, 0.0]), RELU),
                   Layer(np.array([[1e308, -1e308]]), np.array([0.0]), IDENTITY)])
    box = Box((Fraction(1), Fraction(-1)), (Fraction(2), Fraction(3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in (interval_bounds, symbolic_bounds):
            out = f(net, box)
            assert out[0].upper[0] >= Fraction(5 * 10**308) and out[0].lower[1] <= Fraction(-10**308)
