"""An undecided epsilon search says where max |y_a − y_b| lies as far as it got (`pair.epsilon_bracket`): its upper
end must be a true bound (checked by a monolithic z3 query, which shares no code with the search), its lower end a
difference the floats really saw."""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.bounds.coupling import couple
from lumpcheck.equivalence.bab import Node, Problem, Search, SearchOutcome
from lumpcheck.equivalence.mode import Mode
from lumpcheck.equivalence.pair import epsilon_bracket
from lumpcheck.equivalence.parallel import merge_stats
from lumpcheck.equivalence.undecided import Undecided

from pair_helpers import near_copy, random_box, random_net, sampled_max_difference, z3_truth


def _ends(text: str) -> tuple[float | None, float | None]:
    upper = lower = None
    if "<= " in text:
        upper = float(text.split("<= ")[1].split(" ")[0])
    if "seen in floats is " in text:
        lower = float(text.split("seen in floats is ")[1].split(" ")[0])
    return upper, lower


def test_the_bracket_from_open_and_given_up_regions():
    nodes = [Node(np.zeros(1), np.ones(1), (), gap=g) for g in (0.1, 0.3)]
    outcome = SearchOutcome("timeout", open_nodes=nodes, undecided=[Undecided((), "all", "why", 1 / 3)],
                            stats={"float_peak": -1 / 3})
    text = epsilon_bracket(Mode.parse("epsilon=0.5"), outcome)
    upper, lower = _ends(text)
    # rounded outward to 4 digits: up for the bound (0.8334), down for the difference seen (0.1666)
    assert 0.5 + 1 / 3 <= upper <= 0.8334 and 0.1666 <= lower <= 0.5 - 1 / 3
    assert epsilon_bracket(Mode.parse("top1"), outcome) == ""
    never = SearchOutcome("timeout", open_nodes=[Node(np.zeros(1), np.ones(1), ())], stats={})
    assert epsilon_bracket(Mode.parse("epsilon=0.5"), never) == ""  # nothing bounded, nothing seen: nothing said


def test_a_smaller_whole_box_bound_found_elsewhere_caps_the_upper_end():
    """Kills a bracket that ignores the difference-bound engine's whole-box bound (an MNIST pair's ReLU-split root
    gave <= 5.477 beside that engine's 0.946), or takes it when it is the larger."""
    nodes = [Node(np.zeros(1), np.ones(1), (), gap=1 / 3)]
    outcome = SearchOutcome("timeout", open_nodes=nodes, stats={})
    mode = Mode.parse("epsilon=0.5")
    capped, _ = _ends(epsilon_bracket(mode, outcome, known_bound=0.71234))
    assert 0.71234 <= capped <= 0.7124
    assert "whole box's difference bound" in epsilon_bracket(mode, outcome, known_bound=0.71234)
    assert _ends(epsilon_bracket(mode, outcome, known_bound=2.0))[0] <= 0.8334  # the regions' bound is smaller
    never = SearchOutcome("timeout", open_nodes=[Node(np.zeros(1), np.ones(1), ())], stats={})
    assert _ends(epsilon_bracket(mode, never, known_bound=3.0))[0] == 3.0  # regions never bounded: the known one


def test_the_float_peak_of_tasks_is_their_maximum_even_below_zero():
    """Kills a maximum started at 0: scores below ε are negative, and 0 would report ε itself as seen."""
    stats: dict = {}
    for peak in (-0.4, -0.6):
        merge_stats(stats, {"float_peak": peak})
    assert stats["float_peak"] == -0.4


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.sampled_from(["noise", "prune"]))
def test_an_interrupted_search_brackets_the_true_maximum(seed, kind):
    rng = np.random.default_rng(seed)
    widths = [2] + [int(rng.integers(2, 6)) for _ in range(int(rng.integers(1, 3)))] + [2]
    a = random_net(rng, widths)
    b = near_copy(rng, a, kind)
    box = random_box(rng, 2)
    seen = sampled_max_difference(a, b, box, rng, 500)
    eps = Fraction(1.5 * seen).limit_denominator(1 << 20)  # near the maximum: one batch rarely closes the box
    p = Problem(couple(a, b), box, Mode("epsilon", eps), "input", 4, seed)
    t = time.monotonic()
    out = Search(p, t + 60.0, slice_end=t).run()  # one batch, then the slice ends
    if out.status in ("sat", "unsat"):  # decided in one batch: nothing to bracket
        return
    upper, lower = _ends(epsilon_bracket(p.mode, out))
    assert upper is not None, out.reason
    assert z3_truth(a, b, box, "epsilon", Fraction(upper)) == "unsat", (seed, upper)  # a true bound
    if lower is not None:
        assert lower <= upper
    if lower:  # some input differs by at least that much (up to the floats' rounding)
        assert z3_truth(a, b, box, "epsilon", Fraction(lower) * (1 - Fraction(1, 10**6))) == "sat", (seed, lower)
