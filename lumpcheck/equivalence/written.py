"""A two-network property decided as a VNN-LIB 2.0 file writes it (VNN-COMP semantics).

The file's assertions describe a counterexample: `sat` iff some input x in the input region makes the output
assertions (a DNF of exact linear atoms over [y_a(x) | y_b(x)]) true, `unsat` iff none does. The region is a union
of boxes (`Region`s: a box and the exact membership test of its written constraints, strict bounds included).

Steps: disjuncts whose atoms no outputs at all satisfy are dropped (an exact z3 query over free outputs; when
none is left the answer is `unsat` without looking at the networks); then each box in turn is decided by
engine.verify with the mode `written_mode(dnf)` (falsification with exact replay, the differential engine with the
atoms as its objective, the monolithic z3 query for small networks). A
`sat` counts only when its witness, replayed exactly on the models, also satisfies the box's written constraints
(a witness on a strict bound is moved inside when a point there, replayed exactly, still satisfies the assertions:
equivalence/nudge.py); several boxes are decided as union.decide_boxes decides them, `unsat` needing every box
`unsat`. The differential engine's certificate (its claim: the DNF of the disjuncts kept is false on the box) comes
with an `unsat`: for several boxes, their union (specs/union-certificate.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Callable, Sequence

import z3

from ..ir.domain import Box
from ..ir.network import Network
from ..solver import Verdict
from .encode import atom_term
from .engine import verify
from .falsify import replay
from .mode import written_mode
from .nudge import moved_inside
from .result import VerifyResult
from .union import decide_boxes

ENGINES = ("falsify", "differential", "monolithic")
"""The engines that decide a property as written (the others compare the two networks with each other)."""


@dataclass(frozen=True)
class Region:
    """One input disjunct: its closed box and the exact test of its written constraints (strict bounds included)."""

    box: Box
    member: Callable[[Sequence[Fraction]], bool]


def satisfiable_disjuncts(dnf) -> tuple[tuple, ...]:
    """The disjuncts some outputs satisfy (exact: z3 over free rational outputs); the others can never hold."""
    kept = []
    for conj in dnf:
        width = len(conj[0].coeffs) if conj else 0
        y = [z3.Real(f"y_{i}") for i in range(width)]
        solver = z3.Solver()
        solver.add(*[atom_term(atom, y) for atom in conj])
        if solver.check() != z3.unsat:  # sat or unknown: kept (dropping needs a proof)
            kept.append(conj)
    return tuple(kept)


def verify_written(a: Network, b: Network, regions: Sequence[Region], dnf, timeout: float, **kw) -> VerifyResult:
    """Decide the property as written within `timeout` s (module docstring); `kw` as engine.verify's."""
    deadline = time.monotonic() + timeout
    mode = written_mode(dnf)
    live = satisfiable_disjuncts(dnf)
    if not live:
        return VerifyResult(Verdict.UNSAT, mode, "output-assertions", "no outputs at all satisfy the output "
                            "assertions (every disjunct's atoms contradict each other): no input can")
    notes = [f"{len(dnf) - len(live)} of {len(dnf)} disjuncts can never hold (dropped)"] if len(live) < len(dnf) else []
    mode = written_mode(live)
    by_box = {id(region.box): region for region in regions}  # decide_boxes hands back the boxes it is given

    def one(box: Box, seconds: float) -> VerifyResult:
        """One box: a sat only with its witness in the box's region as written (moved inside when it sits on a
        strict bound and a point inside still satisfies the assertions, replayed exactly)."""
        res = verify(a, b, box, mode, seconds, engines=ENGINES, **kw)
        member = by_box[id(box)].member
        if res.status != Verdict.SAT or member(res.witness):
            return res
        return moved_inside(res, member, lambda x: replay(a, b, x, mode), box) or \
            VerifyResult(Verdict.UNKNOWN, mode, res.engine, "the witness lies on a strict input bound of the file "
                         "(outside the region as written)", details=res.details, times=res.times)

    boxes = [region.box for region in regions]
    res = decide_boxes(one, boxes, deadline)
    if res.status == Verdict.UNSAT:
        where = "the input box" if len(regions) == 1 else f"any of the {len(regions)} input boxes"
        return replace(res, message=f"no input in {where} satisfies the output assertions" +
                       "".join(f"; {n}" for n in notes) + (f" ({res.message})" if len(regions) > 1 else ""))
    if notes:
        res.message = "; ".join(notes + ([res.message] if res.message else []))
    return res
