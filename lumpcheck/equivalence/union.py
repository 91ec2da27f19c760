"""Equivalence on a union of boxes (a VNN-LIB `or` of input boxes, e.g. ACAS Xu's property 6): each box decided on
its own, so that a counterexample between the boxes (in their hull, outside the region) is never searched for, and
a proof needs to hold on the boxes only.

An `unsat` needs every box `unsat`; its certificate is the union of the boxes' certificates
(specs/union-certificate.md, checked by checker/union.py). A `sat` of one box is the answer (its witness lies in
that box, replayed exactly by the engine that found it).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable, Sequence

from ..checker.document import UNION_FORMAT, UNION_FORMAT_VERSION
from ..ir.domain import Box
from ..solver import Verdict
from .result import VerifyResult


MAX_BOXES = 32
"""Regions of more boxes are searched as their hull (a sound superset for unsat; a witness between the boxes is then
no counterexample): each box's share of the time would be too small to decide it."""


def searched_boxes(boxes: Sequence[Box], hull: Box) -> tuple[Box, ...]:
    """The boxes to decide one by one: the region's own, or only their hull beyond MAX_BOXES."""
    return tuple(boxes) if len(boxes) <= MAX_BOXES else (hull,)


BOX_KEY = "region_box"
"""details key of a `sat` of decide_boxes: the index of the box whose search found it."""


def witness_box(result: VerifyResult, boxes: Sequence[Box], hull: Box | None) -> Box | None:
    """The box a `sat` result's search ran on: its own box of the region, else the hull (one box searched)."""
    return boxes[result.details[BOX_KEY]] if BOX_KEY in result.details else hull


def union_certificate(parts: Sequence[dict]) -> dict:
    """The certificate of a claim on each box of a union: one pair certificate per box."""
    return {"format": UNION_FORMAT, "format_version": UNION_FORMAT_VERSION, "parts": list(parts)}


FIRST_ROUND = 0.1
"""The share of the time a first round gives all boxes (a slice each) before the rest goes to the boxes still
undecided: a counterexample that a later box's falsifier finds at once does not wait behind an earlier box's
long search."""


def decide_boxes(decide_box: Callable[[Box, float], VerifyResult], boxes: Sequence[Box], deadline: float,
                 progress: Callable[[str], None] | None = None) -> VerifyResult:
    """One verdict on the union of `boxes` by decide_box(box, seconds): a first round gives each box an equal slice
    of FIRST_ROUND of the time before `deadline` (time.monotonic()); a second round decides the boxes not yet
    `unsat` anew, each with an equal share of the time left (what one leaves over goes to the next). `sat` as soon as
    a box is `sat` (details[BOX_KEY] is its index); `unsat` when every box is, with the union of their certificates
    when each has one; else `error` when a box's answer is (the models cannot be compared), `timeout` when some box
    ran out of time, `unknown` otherwise, naming each box's verdict. One box is simply decide_box(box, the time
    left), so callers need no case of their own for a region that is a box."""
    if len(boxes) == 1:
        return decide_box(boxes[0], max(0.0, deadline - time.monotonic()))
    results: dict[int, VerifyResult] = {}
    runs: list[VerifyResult] = []  # every call, for the engines' times
    first = FIRST_ROUND * max(0.0, deadline - time.monotonic()) / len(boxes)
    for slice_ in (first, None):
        todo = [i for i in range(len(boxes)) if i not in results or results[i].status != Verdict.UNSAT]
        for n, i in enumerate(todo):
            if progress is not None:
                progress(f"box {i + 1} of {len(boxes)}")
            seconds = slice_ if slice_ is not None else (deadline - time.monotonic()) / (len(todo) - n)
            results[i] = result = decide_box(boxes[i], max(0.0, seconds))
            runs.append(result)
            if result.status == Verdict.SAT:
                where = f"box {i + 1} of the region's {len(boxes)} (an `or` of input boxes, each decided on its own)"
                return replace(result, message=f"{where}: {result.message}" if result.message else where,
                               times=_times(runs), details={**result.details, BOX_KEY: i})
    ordered = [results[i] for i in range(len(boxes))]
    error = next((r for r in ordered if r.status == Verdict.ERROR), None)
    if error is not None:  # the models cannot be compared: that is the answer
        return replace(error, times=_times(runs))
    engines = sorted({r.engine for r in ordered})
    each = "; ".join(f"box {i + 1}: {r.status} by {r.engine}" +
                     (f" ({r.message})" if r.message and r.status != Verdict.UNSAT else "") for i, r in enumerate(ordered))
    intro = f"the region's {len(boxes)} boxes (an `or` of input boxes) decided one by one"
    if all(r.status == Verdict.UNSAT for r in ordered):
        parts = [r.certificate for r in ordered]
        certificate = union_certificate(parts) if all(p is not None for p in parts) else None
        return VerifyResult(Verdict.UNSAT, ordered[0].mode, "+".join(engines), f"{intro}, each unsat: {each}",
                            times=_times(runs), certificate=certificate)
    status = Verdict.TIMEOUT if any(r.status == Verdict.TIMEOUT for r in ordered) else Verdict.UNKNOWN
    return VerifyResult(status, ordered[0].mode, "+".join(engines), f"{intro}: {each}", times=_times(runs))


def _times(results: Sequence[VerifyResult]) -> dict[str, float]:
    """Each engine's seconds, summed over the boxes."""
    total: dict[str, float] = {}
    for r in results:
        for name, seconds in r.times.items():
            total[name] = total.get(name, 0.0) + seconds
    return total
