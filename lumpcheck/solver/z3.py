"""Every untrusted z3 call: SMT-LIB scripts (the prover's obligations), constraint sets (verify's monolithic
encoding) and exact optimisation (bounds tightening). One result type, `Answer`, and one rule telling a timeout
from any other `unknown` (`_gave_up`).

Untrusted means: a verdict from here never stands alone. The prover decides every obligation with exact algebra
first (z3 is a second engine), `verify` replays every `sat` model exactly, and the tightener only keeps optima
z3 reports as exact rationals, rounded outward.
"""

from __future__ import annotations

import shutil
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import z3

from .verdict import Verdict

SOLVER = "z3"
MODEL_SHOWN = 8
"""A `sat` answer to a script shows at most this many model values."""


@dataclass(frozen=True)
class Answer:
    """One query's outcome: `status` (a Verdict), the seconds it took, for `sat` the model (script queries: up
    to MODEL_SHOWN values as text) or the exact rational inputs (`witness`, constraint queries), and for
    `unknown`/`timeout` z3's reason."""

    status: Verdict
    seconds: float = 0.0
    model: dict[str, str] = field(default_factory=dict)
    witness: tuple[Fraction, ...] | None = None
    reason: str = ""


def solver_version() -> str:
    return z3.get_version_string()


def _gave_up(solver: z3.Solver, start: float) -> Answer:
    """`timeout` when z3 ran out of time (its reason names a timeout or a cancellation), else `unknown`."""
    reason = solver.reason_unknown()
    status = Verdict.TIMEOUT if "timeout" in reason or "canceled" in reason else Verdict.UNKNOWN
    return Answer(status, time.perf_counter() - start, reason=reason)


def solve_script(script: str, timeout_ms: int = 60_000) -> Answer:
    """Run z3 on an SMT-LIB script; sat carries a (short) counterexample.

    z3's equivalence-preserving `simplify` runs first: a true linear identity normalises the negated
    claim to `false` (unsat) far faster than a full solver call; anything else goes to the QF_LRA solver.
    """
    start = time.perf_counter()
    assertions = z3.parse_smt2_string(script)
    goal = z3.Goal()
    goal.add(assertions)
    if all(g.inconsistent() for g in z3.TryFor(z3.Tactic("simplify"), timeout_ms)(goal)):
        return Answer(Verdict.UNSAT, time.perf_counter() - start)
    solver = z3.SolverFor("QF_LRA")
    solver.set("timeout", timeout_ms)
    solver.add(assertions)
    answer = solver.check()
    seconds = time.perf_counter() - start
    if answer == z3.unsat:
        return Answer(Verdict.UNSAT, seconds)
    if answer == z3.sat:
        model = solver.model()
        shown = {str(d): str(model[d]) for d in model.decls() if d.arity() == 0}
        return Answer(Verdict.SAT, seconds, dict(sorted(shown.items())[:MODEL_SHOWN]))
    return _gave_up(solver, start)


def solve_constraints(constraints: Sequence[z3.BoolRef], inputs: Sequence[z3.ArithRef], timeout: float) -> Answer:
    """Check a set of QF_LRA constraints with a z3 timeout (seconds); a model's `inputs` come back as exact
    rationals (`witness`)."""
    start = time.perf_counter()
    solver = z3.SolverFor("QF_LRA")
    solver.set("timeout", max(1, int(timeout * 1000)))
    solver.add(list(constraints))
    answer = solver.check()
    if answer == z3.unsat:
        return Answer(Verdict.UNSAT, time.perf_counter() - start)
    if answer == z3.sat:
        model = solver.model()
        witness = tuple(_rational(model.eval(x, model_completion=True)) for x in inputs)
        return Answer(Verdict.SAT, time.perf_counter() - start, witness=witness)
    return _gave_up(solver, start)


def _rational(value: z3.ExprRef) -> Fraction:
    if not isinstance(value, z3.RatNumRef):
        raise ValueError(f"z3 model value {value} is not a rational")
    return Fraction(value.numerator_as_long(), value.denominator_as_long())


def numeral(value: z3.ExprRef) -> Fraction | None:
    """The exact value of a z3 numeral (None if it is not a rational numeral)."""
    if z3.is_int_value(value):
        return Fraction(value.as_long())
    if z3.is_rational_value(value):
        return Fraction(value.numerator_as_long(), value.denominator_as_long())
    return None


class Optimizer:
    """z3 Optimize over permanent constraints, queried for exact optima one objective at a time."""

    def __init__(self, timeout: float):
        self.opt = z3.Optimize()
        self.opt.set("timeout", max(1, int(timeout * 1000)))

    def add(self, *constraints: z3.BoolRef) -> None:
        self.opt.add(*constraints)

    def optimum(self, expr: z3.ArithRef, maximize: bool) -> Fraction | None:
        """The exact max (or min) of expr, or None on timeout / unbounded / non-rational optimum."""
        self.opt.push()
        try:
            handle = self.opt.maximize(expr) if maximize else self.opt.minimize(expr)
            if self.opt.check() != z3.sat:
                return None
            infinite, value, eps = (numeral(v) for v in (handle.upper_values() if maximize else handle.lower_values()))
            # the optimum is infinite·∞ + value + eps·ε; value bounds it when eps points inward
            if infinite != 0 or value is None or eps is None or (eps > 0 if maximize else eps < 0):
                return None
            return value
        finally:
            self.opt.pop()


def z3_binary() -> str | None:
    """Path of the z3 command-line solver (the z3-solver wheel installs one beside python), if any."""
    found = shutil.which("z3")
    if found:
        return found
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(directory) / "z3"
        if candidate.is_file():
            return str(candidate)
    return None
