"""The float search of falsify() and the wiring of verify's errors: what the search spends and replays (both are
reported to the user: "N float evaluations, M exact replays"), its reproducibility, its deadline, the random points
that strict mode replays on top of the float-ranked ones, and the ties of the classification modes.

Each test names the mutants it kills (issue 14, replay group): the rule was changed by hand, the test failed, the
rule was restored.
"""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.falsify import TOP_CANDIDATES, falsify
from lumpcheck.equivalence.mode import STRICT, TOP1, epsilon_mode
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Network, evaluate
from lumpcheck.ir.normalization import Normalization
from lumpcheck.ir.semantics import Comparison
from exact_nets import dense

RELU = Activation("relu")
F = Fraction


SQUARE = Box((F(0), F(0)), (F(1), F(1)))
SUM = dense(([[1, 1]], [0], IDENTITY))  # x1 + x2: no float noise on [0, 1]^2 against itself


@pytest.mark.parametrize("mode, replays", [(STRICT, 2 * TOP_CANDIDATES), (epsilon_mode(0), 2 * TOP_CANDIDATES),
                                           (epsilon_mode(F(1, 10**9)), TOP_CANDIDATES), (epsilon_mode(F(1, 10)), 0),
                                           (TOP1, 0)])
def test_search_spends_the_documented_budget(mode, replays):
    """Kills: another number of local-search rounds (default 60) or starts (3), evaluations counted down, strict /
    ε = 0 modes not replaying random points on top of the float-ranked ones (or ε > 0 replaying them too), and the
    hopeless cut (REPLAY_SLACK) wrong either way: a float score of −10^-9 is within float error of a violation (its
    points are replayed), one of −1/10 (ε = 1/10 on equal nets; top1 on a one-output net) is not.
    Budget (falsify's docstring): 2^n corners + `samples` random points, then 3 starts × (1 + rounds × (2n + 1))."""
    n, samples = 2, 64
    found = falsify(SUM, SUM, SQUARE, mode, 60.0, samples=samples)
    assert found.counterexample is None
    assert found.evaluations == 2**n + samples + 3 * (1 + 60 * (2 * n + 1))
    assert found.replays == replays


def test_a_zero_time_budget_spends_no_float_evaluation():
    """Kills: the batches scored after the deadline (`len(batch) or in time`). A spent budget still allows the one
    exact replay that verify's result is allowed (nothing is decided from floats)."""
    found = falsify(SUM, SUM, SQUARE, STRICT, 0.0)
    assert found.evaluations == 0 and found.replays <= 1 and found.counterexample is None


def _tent(n: int) -> Network:
    """relu(1 − Σ |x_i − 1/3|): one bump whose peak (1/3, ..., 1/3) is not a float, so the search only approaches it."""
    w = [[1 if j == i else 0 for j in range(n)] for i in range(n)] + [[-1 if j == i else 0 for j in range(n)]
                                                                      for i in range(n)]
    b = [F(-1, 3)] * n + [F(1, 3)] * n
    return dense((w, b, RELU), ([[-1] * (2 * n)], [1], RELU), ([[1]], [0], IDENTITY))


def test_same_seed_same_search_other_seed_other_search():
    """Kills: the generator not seeded by `seed` (default_rng(None)): a search must be reproducible. The other seed
    shows that the outcome compared does depend on the random points."""
    a, b = _tent(6), dense(([[0] * 6], [0], IDENTITY))
    box = Box((F(0),) * 6, (F(1),) * 6)
    runs = [falsify(a, b, box, epsilon_mode(10), 60.0, samples=64, local_iterations=2, seed=s) for s in (7, 7, 8)]
    assert runs[0].best_score == runs[1].best_score and runs[0].evaluations == runs[1].evaluations
    assert runs[0].best_score != runs[2].best_score


def _hidden_difference() -> tuple[Network, Network]:
    """On x < 0 both compute 0.3·relu(−x) exactly (a as fl(0.1)·h + fl(0.2)·h, b with the exact sum as one weight), but
    their floats differ by rounding: positive float scores where nothing differs. On x > 0, b = (1 + 2^-80)·relu(x)
    differs from a = relu(x) by less than float64 shows: float score 0 where everything differs."""
    p1, p2 = F(0.1), F(0.2)
    a = dense(([[-1], [-1], [1]], [0, 0, 0], RELU), ([[p1, p2, 1]], [0], IDENTITY))
    b = dense(([[-1], [1]], [0, 0], RELU), ([[p1 + p2, 1 + F(1, 2**80)]], [0], IDENTITY))
    return a, b


@pytest.mark.parametrize("mode", [STRICT, epsilon_mode(0)])
def test_strict_mode_replays_random_points_that_the_float_ranking_misses(mode):
    """Kills: `tiny` false (or wrongly computed) in strict / ε = 0 mode. Float rounding noise on x < 0 outranks the
    real difference on x > 0 (float score 0 there), so the float-ranked points all replay as equal: only the random
    points that strict mode also replays find the difference."""
    a, b = _hidden_difference()
    box = Box((F(-1),), (F(1),))
    assert evaluate(a, [F(-1, 3)]) == evaluate(b, [F(-1, 3)]) and evaluate(a, [F(1, 2)]) != evaluate(b, [F(1, 2)])
    found = falsify(a, b, box, mode, 60.0, samples=256, local_iterations=4)
    assert found.best_score > 0 and len(found.discarded) >= 1  # the noise was ranked first and did not replay
    assert found.counterexample is not None and found.counterexample.violated
    (x,) = found.counterexample.x
    assert 0 < x <= 1


def test_a_tie_that_does_not_replay_is_reported_in_classification_modes_only():
    """Kills: the tie rule (a float score of exactly 0 is a hit in top1/argmin, float_scores' docstring) applied to
    the wrong modes. Two equal outputs: every point is a float tie under top1, and replays as no violation (same
    maximal sets); under strict a score of 0 is no hit and nothing is reported."""
    twin = dense(([[1], [1]], [0, 0], IDENTITY))
    box = Box((F(0),), (F(1),))
    top1 = falsify(twin, twin, box, TOP1, 60.0, samples=16, local_iterations=2)
    assert top1.counterexample is None and top1.best_score == 0
    assert len(top1.discarded) == top1.replays and all(re.match(r"float score -?0 at", d) for d in top1.discarded)
    strict = falsify(twin, twin, box, STRICT, 60.0, samples=16, local_iterations=2)
    assert strict.counterexample is None and strict.discarded == []


def test_a_comparison_error_is_an_error_of_the_shape_check():
    """Kills: verify's ComparisonError branch with another status, engine or message. An output map (range 2) cannot
    be folded through a ReLU output layer."""
    net = dense(([[1]], [0], RELU))
    scaled = Network(net.layers, normalization=Normalization((F(0),), (F(1),), (F(0),), (F(2),)))
    result = verify(scaled, net, None, STRICT, 5.0)
    assert (result.status, result.engine) == ("error", "shape-check"), result
    assert result.message.startswith("the models' output normalisations cannot be compared"), result.message


def test_a_chain_counterexample_that_does_not_replay_on_the_models_is_an_internal_error(monkeypatch):
    """Kills: the internal-error result without its engine, witness or outputs. A bug is simulated in the mapping
    back to model inputs (every witness is mapped to x = 0, where the models agree): the result must be 'error',
    name the engine, and carry the mapped point with the models' exact outputs there."""
    a = dense(([[1]], [0], RELU), ([[1]], [0], IDENTITY))
    b = dense(([[1], [1]], [0, F(-1, 2)], RELU), ([[1, -1]], [0], IDENTITY))  # differs for x > 1/2
    monkeypatch.setattr(Comparison, "model_input", lambda self, y: (F(0),))
    result = verify(a, b, Box((F(0),), (F(1),)), STRICT, 20.0, engines=("falsify",))
    assert (result.status, result.engine) == ("error", "falsify"), result
    assert result.message.startswith("internal error: a counterexample of the layer chains does not replay")
    assert tuple(result.witness) == (F(0),)
    assert list(result.output_a) == evaluate(a, [F(0)]) and list(result.output_b) == evaluate(b, [F(0)])
