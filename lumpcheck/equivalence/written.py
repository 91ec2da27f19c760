"""A two-network property decided as a VNN-LIB 2.0 file writes it (VNN-COMP semantics).

The file's assertions describe a counterexample: `sat` iff some input x in the input region makes the output
assertions (a DNF of exact linear atoms over [y_a(x) | y_b(x)]) true, `unsat` iff none does. The region is a union
of boxes (`Region`s: a box and the exact membership test of its written constraints, strict bounds included).

Steps: disjuncts whose atoms no outputs at all satisfy are dropped (an exact z3 query over free outputs; when
none is left the answer is `unsat` without looking at the networks); then each box in turn is decided by
engine.verify with the mode `written_mode(dnf)` (falsification with exact replay, the differential engine with the
atoms as its objective, the monolithic z3 query for small networks). A
`sat` counts only when its witness, replayed exactly on the models, also satisfies the box's written constraints;
`unsat` needs every box `unsat`; for one box, the differential engine's certificate (its claim: the DNF of the
disjuncts kept is false on the box) comes with it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

import z3

from ..ir.domain import Box
from ..ir.network import Network
from ..solver import Verdict
from .encode import atom_term
from .engine import verify
from .mode import written_mode
from .result import VerifyResult

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
    undecided: list[VerifyResult] = []
    decided_by: list[str] = []
    certificate = None
    for k, region in enumerate(regions):
        share = max(0.0, deadline - time.monotonic()) / (len(regions) - k)
        res = verify(a, b, region.box, mode, share, engines=ENGINES, **kw)
        if res.status == Verdict.SAT:
            if region.member(res.witness):
                return _with(res, notes, len(regions), k)
            res = VerifyResult(Verdict.UNKNOWN, mode, res.engine, "the witness lies on a strict input bound of the "
                               "file (outside the region as written)", details=res.details, times=res.times)
        if res.status != Verdict.UNSAT:
            undecided.append(res)
        else:
            certificate = res.certificate if len(regions) == 1 else None  # a certificate covers one box
            if res.engine not in decided_by:
                decided_by.append(res.engine)
    if not undecided:
        where = "the input box" if len(regions) == 1 else f"any of the {len(regions)} input boxes"
        return VerifyResult(Verdict.UNSAT, mode, "+".join(decided_by), f"no input in {where} satisfies the output "
                            "assertions" + "".join(f"; {n}" for n in notes), certificate=certificate)
    worst = next((r for r in undecided if r.status == Verdict.ERROR), None) or \
        next((r for r in undecided if r.status == Verdict.TIMEOUT), undecided[0])
    return _with(worst, notes, len(regions), None)


def _with(res: VerifyResult, notes: list[str], count: int, index: int | None) -> VerifyResult:
    """res with the orchestration's notes (and, for several boxes, which box) prepended to its message."""
    extra = list(notes)
    if count > 1 and index is not None:
        extra.insert(0, f"input box {index + 1} of {count}")
    if extra:
        res.message = "; ".join(extra + ([res.message] if res.message else []))
    return res
