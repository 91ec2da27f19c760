"""The exact decision of each mode at one input, in both places that make it: `mode.violated` (the pair engine's
counterexamples) and falsify's `decide` (the replay of float hits and z3 models), against the definitions in
`Mode`'s docstring written out here. Small integer outputs, so ties are frequent."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.equivalence.falsify import decide
from lumpcheck.equivalence.mode import Mode, decision, violated
from lumpcheck.errors import LumpcheckError

MODES = [Mode("strict"), Mode("epsilon", Fraction(1, 2)), Mode("epsilon", Fraction(2)), Mode("top1"), Mode("argmin")]


def _truth(mode: Mode, ya: list[Fraction], yb: list[Fraction]) -> bool:
    if mode.kind == "strict":
        return ya != yb
    if mode.kind == "epsilon":
        return max(abs(p - q) for p, q in zip(ya, yb)) > mode.epsilon
    pick = max if mode.kind == "top1" else min
    return {i for i, v in enumerate(ya) if v == pick(ya)} != {i for i, v in enumerate(yb) if v == pick(yb)}


@st.composite
def output_pairs(draw):
    n = draw(st.integers(1, 4))
    value = st.integers(-3, 3).map(lambda k: Fraction(k, 2))
    return draw(st.lists(value, min_size=n, max_size=n)), draw(st.lists(value, min_size=n, max_size=n))


@settings(max_examples=300, deadline=None)
@given(output_pairs(), st.sampled_from(MODES))
def test_violated_and_decide_follow_the_definitions(pair, mode):
    ya, yb = pair
    assert violated(mode, ya, yb) == _truth(mode, ya, yb)
    assert decide(mode, ya, yb) == _truth(mode, ya, yb)


def test_argmin_is_not_top1():
    """Kills: argmin decided as top1 (or on the outputs of one side only). Same maximum, different minimum."""
    ya, yb = [Fraction(0), Fraction(1), Fraction(5)], [Fraction(1), Fraction(0), Fraction(5)]
    assert violated(Mode("argmin"), ya, yb) and decide(Mode("argmin"), ya, yb)
    assert not violated(Mode("top1"), ya, yb) and not decide(Mode("top1"), ya, yb)
    assert decision(Mode("argmin"), ya) == frozenset({0}) and decision(Mode("top1"), ya) == frozenset({2})


def test_a_huge_exponent_in_a_mode_is_refused_at_once():
    """Fraction('1e99999999') would compute 10**99999999 (minutes, unguarded by --timeout): modes take exact decimals
    within parse_decimal's exponents, or p/q."""
    for text in ("epsilon=1e99999999", "delta-top1=1e-99999999", "epsilon=1/0", "epsilon="):
        with pytest.raises(LumpcheckError):
            Mode.parse(text)
    assert Mode.parse("epsilon=1/1024").epsilon == Fraction(1, 1024) and Mode.parse("epsilon=1e-3").epsilon == Fraction(1, 1000)
