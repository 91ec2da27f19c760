"""decide_boxes (equivalence/union.py): how a region of several boxes is decided from its boxes' verdicts."""

from __future__ import annotations

import time
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.equivalence.mode import Mode
from lumpcheck.equivalence.result import VerifyResult
from lumpcheck.equivalence.union import BOX_KEY, FIRST_ROUND, MAX_BOXES, decide_boxes, searched_boxes
from lumpcheck.ir.domain import Box
from lumpcheck.solver import Verdict

MODE = Mode.parse("epsilon=1/10")
BOXES = [Box((Fraction(i),), (Fraction(i) + 1,)) for i in range(4)]


def scripted(answers: dict[int, list[str]], calls: list):
    """A decide_box that answers box i's calls in turn from answers[i] (unsat ones with a certificate)."""
    def decide_box(box, seconds):
        i = int(box.lower[0])
        calls.append((i, seconds))
        status = answers[i].pop(0)
        return VerifyResult(status, MODE, f"engine{i}", f"box {i} said {status}",
                            witness=(box.lower[0],) if status == "sat" else None, times={"e": 1.0},
                            certificate={"part": i} if status == "unsat" else None)
    return decide_box


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["unsat", "sat", "unknown", "timeout"]), min_size=2, max_size=2),
                min_size=2, max_size=4))
def test_the_region_is_unsat_only_when_every_box_is_and_sat_as_soon_as_one_is(script):
    """Against each box's two scripted answers (first round, second round): sat iff some answer met is sat, with
    that box's witness; unsat iff every box ends unsat, certified by exactly their parts; a box unsat in the first
    round is not decided again."""
    boxes = BOXES[:len(script)]
    calls: list = []
    answers = {i: list(pair) for i, pair in enumerate(script)}
    result = decide_boxes(scripted(answers, calls), boxes, time.monotonic() + 100)
    # ground truth, replayed from the script: round 1 asks every box in order, round 2 those not unsat
    expected_calls, final, sat_box = [], {}, None
    for rnd in (0, 1):
        for i in range(len(boxes)):
            if rnd == 1 and final[i] == "unsat":
                continue
            expected_calls.append(i)
            final[i] = script[i][rnd]
            if final[i] == "sat":
                sat_box = i
                break
        if sat_box is not None:
            break
    assert [i for i, _ in calls] == expected_calls, (script, calls)
    if sat_box is not None:
        assert result.status == Verdict.SAT and result.witness == (Fraction(sat_box),)
        assert result.details[BOX_KEY] == sat_box
    elif all(v == "unsat" for v in final.values()):
        assert result.status == Verdict.UNSAT
        assert result.certificate["parts"] == [{"part": i} for i in range(len(boxes))]
    else:
        assert result.status == (Verdict.TIMEOUT if "timeout" in final.values() else Verdict.UNKNOWN)
        assert result.certificate is None and result.witness is None


def test_the_first_round_reaches_every_box_with_a_slice():
    """A box whose search would take all its share does not keep a later box's quick counterexample waiting: the
    first round gives each box FIRST_ROUND of the time, split evenly."""
    calls: list = []
    result = decide_boxes(scripted({0: ["timeout", "timeout"], 1: ["sat"]}, calls), BOXES[:2], time.monotonic() + 100)
    assert result.status == Verdict.SAT and [i for i, _ in calls] == [0, 1]
    assert all(abs(seconds - FIRST_ROUND * 100 / 2) < 1 for _, seconds in calls), calls


def test_many_boxes_are_searched_as_their_hull():
    hull = Box((Fraction(0),), (Fraction(MAX_BOXES + 1),))
    many = [Box((Fraction(i),), (Fraction(i) + 1,)) for i in range(MAX_BOXES + 1)]
    assert searched_boxes(many[:MAX_BOXES], hull) == tuple(many[:MAX_BOXES])
    assert searched_boxes(many, hull) == (hull,)


def test_a_region_of_one_box_is_that_box_with_all_the_time():
    """One box: decide_box's own answer, unchanged (no union certificate, no box index), from one call given the
    whole time left."""
    for status in ("unsat", "sat", "unknown", "timeout"):
        calls: list = []
        result = decide_boxes(scripted({0: [status]}, calls), BOXES[:1], time.monotonic() + 100)
        assert len(calls) == 1 and abs(calls[0][1] - 100) < 1 and result.status == status
        assert BOX_KEY not in result.details and result.message == f"box 0 said {status}"
        assert result.certificate == ({"part": 0} if status == "unsat" else None)
