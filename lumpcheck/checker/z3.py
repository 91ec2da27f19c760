"""The kernel's own z3 helpers: exact rationals, piecewise-linear σ, and the verdict on a negated claim.

Independent of lumpcheck/solver (the untrusted solver layer): the checker accepts a claim only when z3 answers
`unsat` for its negation; any other answer (sat, unknown, a timeout) is a reason to reject.
"""

from __future__ import annotations

from fractions import Fraction

import z3

from ..ir.activation import Activation


def z3_unsat(negation: z3.BoolRef, timeout_ms: int) -> z3.CheckSatResult:
    """z3's verdict on a negated claim: `simplify` first (a true identity becomes false), else the solver."""
    if z3.is_false(z3.simplify(negation)):
        return z3.unsat
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    solver.add(negation)
    return solver.check()


def q(x: object) -> z3.ArithRef:
    """Exact z3 rational (never z3.RealVal(float): that would read the decimal print form)."""
    f = Fraction(x)
    return z3.RealVal(f"{f.numerator}/{f.denominator}")


# independent of prove/smt.py:sigma_definition
def sigma(act: Activation, t: z3.ArithRef) -> z3.ArithRef:
    """σ(t) for piecewise-linear σ (identity: t)."""
    if act.kind == "relu":
        return z3.If(t > 0, t, 0)
    if act.kind == "leaky_relu":
        return z3.If(t >= 0, t, q(act.alpha) * t)
    return t
