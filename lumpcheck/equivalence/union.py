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


def union_certificate(parts: Sequence[dict]) -> dict:
    """The certificate of a claim on each box of a union: one pair certificate per box."""
    return {"format": UNION_FORMAT, "format_version": UNION_FORMAT_VERSION, "parts": list(parts)}


def decide_boxes(decide_box: Callable[[Box, float], VerifyResult], boxes: Sequence[Box], deadline: float,
                 progress: Callable[[str], None] | None = None) -> VerifyResult:
    """One verdict on the union of `boxes`: decide_box(box, seconds) on each in turn, each given an equal share of the
    time left before `deadline` (time.monotonic()); what one box leaves over goes to the next. `sat` as soon as a box
    is `sat` (details['box'] is its index); `unsat` when every box is, with the union of their certificates when
    each has one; else `timeout` when some box ran out of time, `unknown` otherwise, naming each box's verdict."""
    results: list[VerifyResult] = []
    for i, box in enumerate(boxes):
        if progress is not None:
            progress(f"box {i + 1} of {len(boxes)}")
        result = decide_box(box, max(0.0, (deadline - time.monotonic()) / (len(boxes) - i)))
        results.append(result)
        if result.status == Verdict.SAT:
            return replace(result, message=f"box {i + 1} of the region's {len(boxes)} (an `or` of input boxes, each "
                                           f"decided on its own): {result.message}".rstrip(": "),
                           times=_times(results), details={**result.details, "box": i})
    engines = sorted({r.engine for r in results})
    each = "; ".join(f"box {i + 1}: {r.status} by {r.engine}" +
                     (f" ({r.message})" if r.message and r.status != Verdict.UNSAT else "") for i, r in enumerate(results))
    intro = f"the region's {len(boxes)} boxes (an `or` of input boxes) decided one by one"
    if all(r.status == Verdict.UNSAT for r in results):
        parts = [r.certificate for r in results]
        certificate = union_certificate(parts) if all(p is not None for p in parts) else None
        return VerifyResult(Verdict.UNSAT, results[0].mode, "+".join(engines), f"{intro}, each unsat: {each}",
                            times=_times(results), certificate=certificate)
    status = Verdict.TIMEOUT if any(r.status == Verdict.TIMEOUT for r in results) else Verdict.UNKNOWN
    return VerifyResult(status, results[0].mode, "+".join(engines), f"{intro}: {each}", times=_times(results))


def _times(results: Sequence[VerifyResult]) -> dict[str, float]:
    """Each engine's seconds, summed over the boxes."""
    total: dict[str, float] = {}
    for r in results:
        for name, seconds in r.times.items():
            total[name] = total.get(name, 0.0) + seconds
    return total
