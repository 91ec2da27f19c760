"""The look-ahead memory (equivalence/lookahead.py): input splitting skips look-aheads only once their recent
outcomes agree, still probes regularly, and the searches it steers keep their verdicts."""

from fractions import Fraction

import numpy as np
import pytest

from lumpcheck.bounds.coupling import couple
from lumpcheck.equivalence import lookahead
from lumpcheck.equivalence.bab import Problem, Search
from lumpcheck.equivalence.lookahead import SCORE, WIDTH, LookaheadMemory
from lumpcheck.checker.difference import check_certificate
from lumpcheck.equivalence.mode import Mode, violated
from lumpcheck.equivalence.pair_certificate import build_certificate
from lumpcheck.ir.network import Layer, Network, evaluate

from pair_helpers import near_copy, random_box, random_net, sampled_max_difference


def test_no_preference_before_enough_outcomes():
    m = LookaheadMemory()
    for _ in range(lookahead.WINDOW // 2 - 1):
        m.record(WIDTH)
    assert all(m.choose() is None for _ in range(10))


def test_agreeing_outcomes_are_followed_with_regular_probes():
    m = LookaheadMemory()
    for _ in range(lookahead.WINDOW):
        m.record(SCORE)
    choices = [m.choose() for _ in range(4 * lookahead.PROBE_EVERY)]
    assert choices.count(None) == 4  # every PROBE_EVERY-th request is looked ahead
    assert set(choices) == {None, SCORE}


def test_mixed_outcomes_keep_looking_ahead():
    m = LookaheadMemory()
    for i in range(lookahead.WINDOW):
        m.record(WIDTH if i % 3 else SCORE)  # WIDTH wins 2/3 < AGREEMENT
    assert all(m.choose() is None for _ in range(10))


def test_a_changed_preference_is_noticed():
    """Old outcomes leave the window: after WINDOW agreeing outcomes the other way, the preference flips."""
    m = LookaheadMemory()
    for _ in range(lookahead.WINDOW):
        m.record(SCORE)
    for _ in range(lookahead.WINDOW):
        m.record(WIDTH)
    assert {m.choose() for _ in range(8)} == {None, WIDTH}


def test_bad_outcome_is_refused():
    with pytest.raises(ValueError, match="look-ahead winner"):
        LookaheadMemory().record(2)


def steep_first_input(net: Network) -> Network:
    """The net with input 0's weights scaled by 8 (exact): sensitivity keeps choosing input 0, so the width
    heuristic soon disagrees with it."""
    first = net.layers[0]
    w = first.weight.copy()
    w[:, 0] *= 8
    return Network([Layer(w, first.bias, first.activation)] + list(net.layers[1:]))


@pytest.mark.parametrize("preferred", [SCORE, WIDTH])
def test_search_with_a_preference_keeps_its_verdict(preferred):
    """A memory that prefers one candidate (as after many agreeing look-aheads) changes which splits are made, not
    what is proved: the verdict is the one of a search without a preference, every unsat's certificate is checked
    valid by the independent checker, every sat's witness replays exactly."""
    rng = np.random.default_rng(11)
    asked = 0
    for _ in range(3):
        a = steep_first_input(random_net(rng, [3, 8, 8, 2]))
        b = near_copy(rng, a, "noise")
        box = random_box(rng, 3)
        eps = Fraction(int(np.ceil(sampled_max_difference(a, b, box, rng) * 1.1 * 64)), 64)  # tight: deep trees
        mode = Mode("epsilon", eps)
        plain = Search(Problem(couple(a, b), box, mode, strategy="input"), float("inf")).run()
        problem = Problem(couple(a, b), box, mode, strategy="input")
        for _ in range(lookahead.WINDOW):
            problem.lookahead.record(preferred)
        out = Search(problem, float("inf")).run()
        asked += problem.lookahead.asked
        assert out.status == plain.status
        if out.status == "unsat":
            assert sum(Fraction(1, 2 ** len(leaf.path)) for leaf in out.leaves) == 1
            assert check_certificate(build_certificate(problem, out, a, b), a, b).valid
        else:
            cex = out.counterexample
            assert out.status == "sat" and violated(mode, evaluate(a, cex.x), evaluate(b, cex.x))
    assert asked > 0  # the heuristics disagreed somewhere: the preference was used
