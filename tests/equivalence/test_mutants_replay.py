"""Falsification replay and verify's deciding steps: a float hit, a z3 model or a difference bound becomes a verdict
only through exact arithmetic. Cases built so that one missing rule gives a wrong 'sat' or 'unsat'.

Each test names the mutant it kills (issue 14): the rule was removed by hand, the test failed, the rule restored.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import lumpcheck.equivalence.engine
from lumpcheck.bounds.deviation import certified_epsilon
from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.falsify import falsify
from lumpcheck.equivalence.mode import STRICT, epsilon_mode
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate
from lumpcheck.solver import Verdict
from lumpcheck.solver.z3 import Answer
from exact_nets import dense

RELU = Activation("relu")


THIRDS = Box((Fraction(1, 3),), (Fraction(2, 3),))
KINK = dense(([[-3]], [1], RELU), ([[1]], [0], IDENTITY))  # relu(1 − 3x): 0 on [1/3, 2/3], > 0 just below 1/3
ZERO = dense(([[0]], [0], RELU), ([[0]], [0], IDENTITY))


def test_witness_is_clamped_into_a_non_dyadic_box():
    """Kills: replaying the float point itself instead of its value clamped into the box. float(1/3) < 1/3, and
    relu(1 − 3x) > 0 there: unclamped, the box corner would be a (false) counterexample."""
    below = Fraction(float(Fraction(1, 3)))
    assert below < Fraction(1, 3) and evaluate(KINK, [below]) != evaluate(ZERO, [below])
    found = falsify(KINK, ZERO, THIRDS, STRICT, 5.0, samples=64, local_iterations=5)
    assert found.counterexample is None and found.replays > 0
    assert found.evaluations >= 64  # every sample was evaluated (and counted)
    assert verify(KINK, ZERO, THIRDS, STRICT, 10.0, engines=("falsify",)).status == "unknown"


def test_undecided_replay_is_not_a_counterexample():
    """Kills: an undecided replay (overlapping tanh enclosures) reported as a violation. A net against itself
    has identical enclosures: never separated, never a counterexample."""
    rng = np.random.default_rng(5)
    tanh = Network([Layer(rng.normal(size=(4, 2)), rng.normal(size=4), Activation("tanh")),
                    Layer(rng.normal(size=(1, 4)), rng.normal(size=1), IDENTITY)])
    box = Box((Fraction(-1),) * 2, (Fraction(1),) * 2)
    found = falsify(tanh, tanh, box, STRICT, 5.0, samples=32, local_iterations=3)
    assert found.counterexample is None and found.replays > 0
    assert verify(tanh, tanh, box, STRICT, 10.0, engines=("falsify",)).status == "unknown"


@pytest.mark.parametrize("witness, why", [((Fraction(1, 2),), "the nets agree there"),
                                          ((Fraction(0),), "outside the box, where they differ")])
def test_bogus_z3_model_is_an_error_not_sat(monkeypatch, witness, why):
    """Kills: 'sat' reported from a z3 model without exact replay (or without the box check). The solver is
    stubbed to return a model that is no counterexample: verify must say 'error'."""
    monkeypatch.setattr(lumpcheck.equivalence.engine, "solve_constraints", lambda constraints, inputs, timeout: Answer(Verdict.SAT, witness=witness))
    result = verify(KINK, ZERO, THIRDS, STRICT, 10.0, engines=("monolithic",))
    assert result.status == "error" and "does not replay" in result.message, (why, result.status)
    assert result.witness == witness and result.engine == "monolithic"
    assert list(result.output_a) == evaluate(KINK, list(witness)) and list(result.output_b) == evaluate(ZERO, list(witness))


def test_certified_epsilon_widens_the_active_test_by_delta():
    """Kills: certified_epsilon's 'both active' test ignoring δ (lo >= 0 instead of lo − δ >= 0). LeakyReLU α = 2,
    z = x on [2^-20, 1] is active, but the rounded z' = x − 2^-10 is not: at x = 2^-20 the outputs differ by
    2^-9 − 2^-20, more than δ = 2^-10."""
    leaky = Activation("leaky_relu", 2)
    exact = dense(([[1]], [0], leaky), ([[1]], [0], IDENTITY))
    rounded = dense(([[1]], [Fraction(-1, 2**10)], leaky), ([[1]], [0], IDENTITY))
    box = Box((Fraction(1, 2**20),), (Fraction(1),))
    x = [Fraction(1, 2**20)]
    gap = abs(evaluate(exact, x)[0] - evaluate(rounded, x)[0])
    assert gap == Fraction(1, 2**9) - Fraction(1, 2**20)
    assert certified_epsilon(exact, rounded, box) >= gap
    assert verify(exact, rounded, box, epsilon_mode(Fraction(1, 2**10)), 10.0,
                  engines=("difference-bound",)).status != "unsat"


# ------------------------------------------------------------ enclosures: the finer precision and kinked neurons

TANH = Activation("tanh")
HALF = [Fraction(1, 2)]


def _tanh_half_within(bits: int) -> Fraction:
    """A rational r with 2^-(bits+2) <= |tanh(1/2) − r| <= 2^-bits: closer than a 256-bit enclosure can resolve,
    farther than a 1024-bit one."""
    from mpmath import mp, mpf, tanh

    with mp.workprec(2 * bits):
        t = tanh(mpf(1) / 2)
        r = Fraction(int(mp.nint(t * 2**bits)), 2**bits) + Fraction(1, 2 ** (bits + 1))
        man, exp = t.man_exp
        assert Fraction(1, 2 ** (bits + 2)) <= abs(man * Fraction(2) ** exp - r) <= Fraction(1, 2**bits)
    return r


@pytest.mark.parametrize("swap", [False, True], ids=["tanh-first", "tanh-second"])
def test_undecided_replay_is_refined_at_the_finer_precision_on_both_sides(swap):
    """Kills: replay's second pass evaluating one side at the first (256-bit) precision again, and a loop that
    stops refining when only one network is piecewise linear. tanh(1/2) and a constant r within 2^-402..2^-400 of
    it: 256-bit enclosures overlap r, 1024-bit ones do not, so only the refined replay proves the violation."""
    from lumpcheck.equivalence.falsify import REPLAY_PRECISIONS, exact_outputs, replay

    assert REPLAY_PRECISIONS == (256, 1024)
    tanh = dense(([[1]], [0], TANH), ([[1]], [0], IDENTITY))
    r = _tanh_half_within(400)
    const = dense(([[0]], [r], IDENTITY))
    coarse = exact_outputs(tanh, HALF, 256)[0]
    assert coarse.lo <= r <= coarse.hi  # the first precision cannot decide
    a, b = (const, tanh) if swap else (tanh, const)
    assert replay(a, b, HALF, STRICT).violated is True
    twin = dense(([[0]], [0], TANH), ([[0]], [r], IDENTITY))  # a tanh net too, with the constant output r
    a, b = (twin, tanh) if swap else (tanh, twin)
    assert replay(a, b, HALF, STRICT).violated is True


def test_active_kink_inside_a_tanh_network_is_enclosed_tightly():
    """Kills: the enclosure of a piecewise-linear neuron always including σ(0) = 0 (only right where its input
    interval straddles 0). relu(tanh(0) + 1) = 1 exactly; with 0 added its enclosure [0, 1] would overlap 1/2."""
    from lumpcheck.equivalence.falsify import replay

    net = dense(([[1]], [0], TANH), ([[1]], [1], RELU), ([[1]], [0], IDENTITY))
    shifted = dense(([[1]], [0], TANH), ([[1]], [1], RELU), ([[1]], [Fraction(1, 2)], IDENTITY))
    assert replay(net, shifted, [Fraction(0)], STRICT).violated is True


def test_kink_straddled_by_an_enclosure_includes_its_value_at_zero():
    """Kills: leaving σ(0) out of a piecewise-linear neuron's enclosure when its input interval straddles 0 (or
    testing the straddle against 1, or adding 1). h1 − h2 = tanh(x) − tanh(x) = 0, but interval arithmetic encloses
    it as [−w, w]; LeakyReLU(−1/2) maps the endpoints to w/2 and w, both above the true value 0. Without 0 in the
    enclosure, a net that outputs 0 would be a (false) counterexample."""
    from lumpcheck.equivalence.falsify import exact_outputs, replay

    negative = Activation("leaky_relu", Fraction(-1, 2))
    net = dense(([[1], [1]], [0, 0], TANH), ([[1, -1]], [0], negative), ([[1]], [0], IDENTITY))
    zero = dense(([[1], [1]], [0, 0], TANH), ([[1, -1]], [0], negative), ([[0]], [0], IDENTITY))
    x = [Fraction(1, 3)]
    assert evaluate(net, [Fraction(0)]) == [0]  # the true value at any x is 0
    y = exact_outputs(net, x)[0]
    assert y.lo <= 0 <= y.hi and y.hi > 0  # straddles: enclosure of an irrational cancellation
    assert exact_outputs(zero, x) == (Fraction(0),)
    assert replay(net, zero, x, STRICT).violated is None


# ---------------------------------------------------------------- a counterexample is a model input, replayed on the models

def _normalised(net: Network) -> Network:
    """The same chain behind an input map x ↦ (x − 3)/2 (model inputs 3 + 2·y for chain inputs y)."""
    from lumpcheck.ir.normalization import Normalization

    norm = Normalization((Fraction(3),), (Fraction(2),), (Fraction(0),), (Fraction(1),), (), ())
    return Network(net.layers, normalization=norm)


@pytest.mark.parametrize("engine", ["falsify", "monolithic"])
def test_counterexample_is_a_model_input_with_the_models_outputs(engine):
    """Kills: a witness of the comparison form (the normalised chain input) reported as the model input, and any
    output left out. Ground truth: the models evaluated at the witness. relu(y) vs relu(y) − relu(y − 1/2) differ
    for y > 1/2, i.e. model inputs x > 4; the box [0, 5] over x."""
    a = _normalised(dense(([[1]], [0], RELU), ([[1]], [0], IDENTITY)))
    b = _normalised(dense(([[1], [1]], [0, Fraction(-1, 2)], RELU), ([[1, -1]], [0], IDENTITY)))
    box = Box((Fraction(0),), (Fraction(5),))
    result = verify(a, b, box, STRICT, 20.0, engines=(engine,))
    assert result.status == "sat" and result.engine == engine, (result.status, result.message)
    (x,) = result.witness
    assert box.contains(result.witness) and x > 4
    assert list(result.output_a) == evaluate(a, [x]) and list(result.output_b) == evaluate(b, [x])
    assert result.output_a != result.output_b


def test_a_shape_problem_is_an_error_of_the_shape_check():
    one, two = dense(([[1]], [0], IDENTITY)), dense(([[1, 1]], [0], IDENTITY))
    for a, b, box, words in ((one, two, None, "input sizes differ: 1 vs 2"),
                             (one, dense(([[1]], [0], RELU), ([[1], [1]], [0, 0], IDENTITY)), None, "output sizes differ"),
                             (one, one, Box((Fraction(0),) * 2, (Fraction(1),) * 2), "the domain box has 2 inputs")):
        result = verify(a, b, box, STRICT, 5.0)
        assert (result.status, result.engine) == ("error", "shape-check") and result.message.startswith(words), result


@pytest.mark.parametrize("mode", [STRICT, epsilon_mode(0)])
def test_a_difference_below_float_resolution_is_found_by_exact_replay(mode):
    """b = a + 2^-80 differs everywhere by less than float64 can show against 1: in strict mode (or ε = 0) the
    exact replay of the search's points must still find it."""
    a = dense(([[1]], [1], IDENTITY))
    b = dense(([[1]], [1 + Fraction(1, 2**80)], IDENTITY))
    box = Box((Fraction(0),), (Fraction(1),))
    assert evaluate(a, [Fraction(1, 2)]) != evaluate(b, [Fraction(1, 2)])
    found = falsify(a, b, box, mode, 5.0, samples=16, local_iterations=2)
    assert found.counterexample is not None
    assert box.contains(found.counterexample.x) and found.counterexample.violated
