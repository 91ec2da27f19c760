"""verify.certified_epsilon against its formula, case by case (one hidden neuron, every activation and phase), and
against exact differences: sound (never below a measured difference) and as tight as documented."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from lumpcheck.bounds import symbolic_bounds
from lumpcheck.bounds.deviation import certified_epsilon
from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.mode import TOP1, epsilon_mode
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate

F = Fraction
TIGHT = F(1, 2**40)  # float bounds of the pre-activations are a few ulps wide: allow that much relative slack


def one_neuron(act: Activation, w1, b1, w2) -> Network:
    return Network([Layer(np.array([[F(w1)]], dtype=object), np.array([F(b1)], dtype=object), act),
                    Layer(np.array([[F(w2)]], dtype=object), np.array([F(0)], dtype=object), IDENTITY)])


D, E2 = F(1, 2**10), F(1, 2**12)  # bias and output weight perturbations
W2 = 3 + E2  # the rounded output weight carries the hidden difference
CASES = {
    # name: (activation, rounded activation, box, bias, expected bound as a function of M = max |z|)
    "sigmoid": (Activation("sigmoid"), Activation("sigmoid"), (-1, 1), 0, lambda m: W2 * D / 4 + E2 * 1),
    "tanh": (Activation("tanh"), Activation("tanh"), (-1, 1), F(1, 2), lambda m: W2 * D + E2 * min(1, m)),
    "tanh-small": (Activation("tanh"), Activation("tanh"), (F(-1, 4), F(1, 4)), 0, lambda m: W2 * D + E2 * m),
    "relu-active": (Activation("relu"), Activation("relu"), (1, 2), 0, lambda m: W2 * D + E2 * m),
    "relu-inactive": (Activation("relu"), Activation("relu"), (-2, -1), 0, lambda m: E2 * m),
    "relu-both": (Activation("relu"), Activation("relu"), (-1, 1), 0, lambda m: W2 * D + E2 * m),
    "leaky-inactive": (Activation("leaky_relu", F(1, 4)), Activation("leaky_relu", F(5, 16)), (-2, -1), 0,
                       lambda m: W2 * (D / 4 + F(1, 16) * (m + D)) + E2 * m),
    "leaky-steep": (Activation("leaky_relu", 2), Activation("leaky_relu", 2), (-1, 1), 0, lambda m: W2 * 2 * D + E2 * 2 * m),
    "identity": (IDENTITY, IDENTITY, (-3, 1), 0, lambda m: W2 * D + E2 * m),
    # α > 1: active neurons have slope 1, not the Lipschitz constant α (also where lo − δ is below 1)
    "steep-active": (Activation("leaky_relu", 2), Activation("leaky_relu", 2), (F(1, 2), 1), 0,
                     lambda m: W2 * D + E2 * 2 * m),
    "steep-straddle": (Activation("leaky_relu", 2), Activation("leaky_relu", 2), (-D / 2, 1), 0,
                       lambda m: W2 * 2 * D + E2 * 2 * m),  # lo within δ below 0: undecided, Lipschitz 2
    "steep-inactive": (Activation("leaky_relu", 2), Activation("leaky_relu", 2), (-1, F(-1, 2)), 0,
                       lambda m: W2 * 2 * D + E2 * 2 * m),
    # a rounded slope: no Δα term while active; undecided neurons pay Δα·(M + δ) on top of the Lipschitz term
    "leaky-rounded-active": (Activation("leaky_relu", F(1, 4)), Activation("leaky_relu", F(5, 16)), (1, 2), 0,
                             lambda m: W2 * D + E2 * m),
    "leaky-rounded-both": (Activation("leaky_relu", F(1, 4)), Activation("leaky_relu", F(5, 16)), (-1, 1), 0,
                           lambda m: W2 * (D + F(1, 16) * (m + D)) + E2 * m),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_certified_epsilon_follows_its_formula(name):
    """exact: y = 3·σ(x + b); rounded: y' = (3 + E2)·σ'(x + b + D). Bound: (3 + E2)·(σ's difference bound for
    δ = D) + E2·(bound on |σ|), with M = max |x + b| on the box."""
    act, act2, (lo, hi), b, expected = CASES[name]
    exact, rounded = one_neuron(act, 1, b, 3), one_neuron(act2, 1, F(b) + D, 3 + E2)
    box = Box((F(lo),), (F(hi),))
    m = max(abs(F(lo) + F(b)), abs(F(hi) + F(b)))
    bound = certified_epsilon(exact, rounded, box)
    assert expected(m) <= bound <= expected(m) * (1 + TIGHT), (name, float(bound), float(expected(m)))
    if act.piecewise_linear:  # sound: no measured difference exceeds it
        for x in np.linspace(float(lo), float(hi), 9):
            x = [F(x)]
            assert abs(evaluate(exact, x)[0] - evaluate(rounded, x)[0]) <= bound


def _box_with_bound_at(net: Network, target: F, side: str) -> Box:
    """A box [lo, 1] (side 'lower') or [−1, hi] ('upper') whose float pre-activation bound of the one hidden neuron
    is exactly `target`: the box edge is moved ulp by ulp from `target` until outward rounding lands on it."""
    edge = float(target)
    for _ in range(64):
        box = Box((F(edge),), (F(1),)) if side == "lower" else Box((F(-1),), (F(edge),))
        bounds = symbolic_bounds(net, box)[0]
        got = F(bounds.lower[0]) if side == "lower" else F(bounds.upper[0])
        if got == target:
            return box
        edge = float(np.nextafter(edge, np.inf if side == "lower" else -np.inf))
    raise AssertionError(f"no box puts the {side} bound exactly on {target}")


@pytest.mark.parametrize("act, side, expected", [
    (Activation("leaky_relu", 2), "lower", lambda m: W2 * D + E2 * 2 * m),  # lo − δ = 0: still active, slope 1
    (Activation("relu"), "upper", lambda m: E2 * m),  # hi + δ = 0: still inactive, slope 0
])
def test_phase_tests_include_their_edge(act, side, expected):
    """Kills: 'lo − δ > 0' for 'lo − δ >= 0' and 'hi + δ < 0' for 'hi + δ <= 0' in certified_epsilon: a pre-activation
    bound exactly δ from the kink keeps its phase in both nets, so the bound uses the phase's slope, not Lipschitz."""
    exact, rounded = one_neuron(act, 1, 0, 3), one_neuron(act, 1, D, 3 + E2)
    box = _box_with_bound_at(exact, D if side == "lower" else -D, side)
    m = max(abs(box.lower[0]), abs(box.upper[0]))
    bound = certified_epsilon(exact, rounded, box)
    assert expected(m) <= bound <= expected(m) * (1 + TIGHT), (float(bound), float(expected(m)))


def test_inactive_test_widens_by_delta():
    """z = x on [−1, −2^-20] is inactive, the rounded z' = x + 2^-10 is not at the top: the outputs differ by about
    2^-10 there; a test 'hi <= 0' without δ would claim 0 (ReLU: α = 0)."""
    exact = one_neuron(Activation("relu"), 1, 0, 1)
    rounded = one_neuron(Activation("relu"), 1, D, 1)
    box = Box((F(-1),), (F(-1, 2**20),))
    x = [F(-1, 2**20)]
    gap = abs(evaluate(exact, x)[0] - evaluate(rounded, x)[0])
    assert gap == D - F(1, 2**20) and certified_epsilon(exact, rounded, box) >= gap


def test_difference_bound_engine_decides_with_the_bound():
    exact, rounded = one_neuron(Activation("relu"), 1, 0, 3), one_neuron(Activation("relu"), 1, D, 3)
    box = Box((F(1),), (F(2),))
    result = verify(exact, rounded, box, epsilon_mode(3 * D), 30.0, engines=("difference-bound",))
    assert (result.status, result.engine) == ("unsat", "difference-bound")
    assert result.message == f"certified max |y_a - y_b| <= {3 * D.numerator}/{D.denominator} (≈ {float(3 * D):.3g}) <= ε"
    below = verify(exact, rounded, box, epsilon_mode(2 * D), 30.0, engines=("difference-bound",))
    assert below.status == "unknown" and "not decided by that bound alone" in below.message
    for mode, where in ((TOP1, box), (epsilon_mode(3 * D), None)):
        skipped = verify(exact, rounded, where, mode, 30.0, engines=("difference-bound",))
        assert skipped.status == "unknown" and "certified" not in skipped.message
    other = Network([exact.layers[0], Layer(np.array([[F(3)], [F(1)]], dtype=object), np.zeros(2, dtype=object))])
    assert verify(other, other, box, epsilon_mode(0), 30.0, engines=("difference-bound",)).status == "unsat"


def test_exact_bound_is_not_rounded_up_further():
    """Identity layer, bias-only perturbation: the bound is exactly 3·2^-10, a float already (no extra ulp)."""
    exact, rounded = one_neuron(IDENTITY, 1, 0, 3), one_neuron(IDENTITY, 1, D, 3)
    assert certified_epsilon(exact, rounded, Box((F(-1),), (F(1),))) == 3 * D
