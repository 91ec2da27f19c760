"""A witness on the closed boundary of a region it must lie in (a strict bound the boxes close, the gap of an `or`)
moved inside, where a violation with a margin still holds: the move is found in floats' spirit but decided exactly
(the caller's exact replay at the moved point)."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Callable, Sequence

from ..ir.domain import Box
from .falsify import Replay
from .result import VerifyResult

NUDGES = tuple(Fraction(1, 2**k) for k in (60, 40, 24, 12, 6, 3, 1))
"""Fractions t of the way from the witness towards the box's centre that are tried, smallest first: a violation
that holds at the witness with a margin (|A − B| > ε, A ≠ B) holds close by too."""


def moved_inside(result: VerifyResult, inside: Callable[[Sequence[Fraction]], bool],
                 replay_at: Callable[[Sequence[Fraction]], Replay], box: Box) -> VerifyResult | None:
    """The `sat` result with its witness moved t (NUDGES) of the way towards `box`'s centre, at the first point that
    is `inside` the region and whose exact replay violates the property; None when no such point is found."""
    centre = [(lo + hi) / 2 for lo, hi in zip(box.lower, box.upper)]
    for t in NUDGES:
        x = tuple(v + t * (c - v) for v, c in zip(result.witness, centre))
        if inside(x) and (rep := replay_at(x)).violated is True:
            return replace(result, witness=rep.x, output_a=rep.ya, output_b=rep.yb, onnxruntime={},
                           message=f"{result.message}; the counterexample found sat on the region's closed boundary "
                                   f"(a strict bound or between the boxes of an or): moved {t} of the way towards "
                                   "the box's centre, into the region, and replayed exactly there")
    return None
