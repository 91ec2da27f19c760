"""Obligations as standalone SMT-LIB 2 scripts (QF_LRA), for z3 (solver/z3.py: `solve_script`) and for re-checking.

Each script asserts the negation of the obligation (∃ values: claim fails), so `unsat` proves it. The
original pre-activation is written with the previous layer's relation inlined (ghost classes as free
variables), so z3 redoes the substitution algebra itself. The same text is what the prover runs and what is
written for re-checking.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import numpy as np

from ..ir.activation import Activation
from .obligations import (
    ActivationLemma,
    ConstantObligation,
    GhostMember,
    GhostObligation,
    LinearObligation,
    PreActivations,
    Target,
    class_var,
    value_var,
)


def literal(x: object) -> str:
    """Exact SMT-LIB real literal of a rational (float, int or Fraction)."""
    if isinstance(x, (float, np.floating, Fraction)):
        n, d = x.as_integer_ratio()  # exact, in lowest terms (4x faster than Fraction(x); ValueError on nan/inf)
    else:
        f = Fraction(x)
        n, d = f.numerator, f.denominator
    mag = f"{abs(n)}.0" if d == 1 else f"(/ {abs(n)}.0 {d}.0)"
    return f"(- {mag})" if n < 0 else mag


def _sum(parts: Sequence[str]) -> str:
    return "0.0" if not parts else parts[0] if len(parts) == 1 else f"(+ {' '.join(parts)})"


def _scaled(c: object, expr: str) -> str:
    return expr if c == 1 else f"(* {literal(c)} {expr})"


def sigma_definition(act: Activation) -> str:
    """σ as an SMT-LIB function (piecewise-linear activations only)."""
    body = {
        "identity": "t",
        "relu": "(ite (> t 0.0) t 0.0)",
        "leaky_relu": f"(ite (>= t 0.0) t (* {literal(act.alpha)} t))",
    }.get(act.kind)
    if body is None:
        raise ValueError(f"{act} has no SMT-LIB encoding (transcendental)")
    return f"(define-fun sigma ((t Real)) Real {body})"


class _Layer:
    """Text builder for one layer's original and reduced pre-activations (relation of layer ℓ−1 inlined)."""

    def __init__(self, pre: PreActivations):
        self.pre = pre
        prev, width = pre.layer - 1, pre.prev_width
        self.values = [
            _sum([_scaled(c, class_var(prev, j, width)) for j, c in nm.terms] + ([literal(nm.offset)] if nm.offset else []))
            for nm in pre.prev
        ]
        self.declared = [class_var(prev, j, width) for j in range(width + pre.prev_ghosts)]

    def original(self, s: int) -> str:
        row = self.pre.weight[s]
        return _sum([literal(self.pre.bias[s])] + [_scaled(w, self.values[r]) for r, w in enumerate(row) if w != 0])

    def reduced(self, weight, bias, j: int) -> str:
        prev = self.pre.layer - 1
        return _sum([literal(bias[j])] + [_scaled(w, value_var(prev, i)) for i, w in enumerate(weight[j]) if w != 0])

    def header(self, comment: str) -> list[str]:
        return [f"; {comment}", "(set-logic QF_LRA)"] + [f"(declare-fun {v} () Real)" for v in self.declared]


def _script(lines: list[str], claims: list[str]) -> str:
    """Assert that at least one claim fails; unsat means all hold."""
    negated = [f"(not {c})" for c in claims]
    body = negated[0] if len(negated) == 1 else "(or\n  " + "\n  ".join(negated) + ")"
    return "\n".join(lines + [f"(assert {body})", "(check-sat)", "(exit)", ""])


def linear_script(ob: LinearObligation, targets: Sequence[Target] | None = None) -> str:
    """∃ values: some target's original pre-activation differs from factor·(reduced pre-activation)."""
    targets = ob.targets if targets is None else targets
    lay = _Layer(ob.pre)
    lines = lay.header(f"lumpcheck {ob.id} neurons {[t.neuron for t in targets]}: unsat proves {ob.statement()}")
    claims = [
        f"(= {lay.original(t.neuron)} {_scaled(t.factor, lay.reduced(ob.reduced_weight, ob.reduced_bias, t.cls))})"
        for t in targets
    ]
    return _script(lines, claims)


def constant_script(ob: ConstantObligation, constants: Sequence[tuple[int, Fraction]] | None = None) -> str:
    """∃ values: σ(z_s) ≠ offset (piecewise-linear σ), or z_s ≠ 0 (sigmoid/tanh: only σ(0) is rational)."""
    constants = ob.constants if constants is None else constants
    lay = _Layer(ob.pre)
    neurons = [s for s, _ in constants]
    if ob.activation.piecewise_linear:
        lines = lay.header(f"lumpcheck {ob.id} neurons {neurons}: unsat proves {ob.statement()}")
        lines.append(sigma_definition(ob.activation))
        claims = [f"(= (sigma {lay.original(s)}) {literal(o)})" for s, o in constants]
    else:
        lines = lay.header(f"lumpcheck {ob.id} neurons {neurons}: unsat proves z_s == 0 ({ob.activation}(0) is checked exactly)")
        claims = [f"(= {lay.original(s)} 0.0)" for s, _ in constants]
    return _script(lines, claims)


def ghost_script(ob: GhostObligation, members: Sequence[GhostMember] | None = None) -> str:
    """∃ values: some ghost member's original pre-activation differs from factor·(its representative's)."""
    members = ob.members if members is None else members
    lay = _Layer(ob.pre)
    lines = lay.header(f"lumpcheck {ob.id} neurons {[g.neuron for g in members]}: unsat proves {ob.statement()}")
    return _script(lines, [f"(= {lay.original(g.neuron)} {_scaled(g.factor, lay.original(g.rep))})" for g in members])


def lemma_script(lemma: ActivationLemma) -> str:
    """∃z: σ(c·z) ≠ c·σ(z) + offset, for piecewise-linear σ."""
    c, o = literal(lemma.factor), literal(lemma.offset)
    lines = [f"; lumpcheck {lemma.id}: unsat proves {lemma.statement()}", "(set-logic QF_LRA)",
             "(declare-fun z () Real)", sigma_definition(lemma.activation)]
    return _script(lines, [f"(= (sigma (* {c} z)) (+ (* {c} (sigma z)) {o}))"])


def to_smtlib(ob: LinearObligation | ConstantObligation | GhostObligation | ActivationLemma) -> str:
    """Standalone SMT-LIB 2 script of a whole obligation (unsat ⇔ the obligation holds)."""
    if isinstance(ob, LinearObligation):
        return linear_script(ob)
    if isinstance(ob, GhostObligation):
        return ghost_script(ob)
    if isinstance(ob, ConstantObligation):
        return constant_script(ob)
    if isinstance(ob, ActivationLemma):
        return lemma_script(ob)
    raise ValueError(f"{ob.id} ({ob.kind}) has no SMT encoding; it is decided exactly")
