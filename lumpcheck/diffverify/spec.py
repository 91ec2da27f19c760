"""What 'equivalent' means for two networks A and B on a box, and its exact decision at one input.

Modes (outputs y_A, y_B; all comparisons exact):
- epsilon=E: max_i |y_A,i − y_B,i| <= E.
- top1:      the SETS of maximal outputs are equal (a tie in one network and not in the other disagrees).
- argmin:    the sets of minimal outputs are equal (ACAS Xu advisories are the minimal score).
A violation is an input of the box where the property fails; 'unsat' means none exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from ..ir.exact import fraction_str, to_fraction

KINDS = ("epsilon", "top1", "argmin")


@dataclass(frozen=True)
class DiffMode:
    """The compared property; `epsilon` is meaningful only for kind 'epsilon'."""

    kind: str
    epsilon: Fraction = Fraction(0)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown mode {self.kind!r}; known: epsilon=E, top1, argmin")
        object.__setattr__(self, "epsilon", to_fraction(self.epsilon))
        if self.epsilon < 0 or (self.kind != "epsilon" and self.epsilon != 0):
            raise ValueError(f"ε = {self.epsilon} given for mode {self.kind}: ε must be >= 0 and only epsilon mode takes one")

    @classmethod
    def parse(cls, text: str) -> "DiffMode":
        """'epsilon=<decimal or p/q>', 'top1' or 'argmin' (as `lumpcheck verify --mode` spells them)."""
        kind, _, value = str(text).partition("=")
        kind = kind.strip()
        if kind == "epsilon":
            try:
                return cls("epsilon", Fraction(value.strip()))
            except (ValueError, ZeroDivisionError):
                raise ValueError(f"bad ε in mode {text!r}: expected a decimal or p/q such as epsilon=0.05") from None
        if value:
            raise ValueError(f"mode {kind!r} takes no value (got {text!r})")
        return cls(kind)

    @property
    def classifies(self) -> bool:
        return self.kind in ("top1", "argmin")

    @property
    def sign(self) -> int:
        """+1 if the decision is the maximal output, −1 if the minimal one (0 for epsilon)."""
        return {"top1": 1, "argmin": -1}.get(self.kind, 0)

    def __str__(self) -> str:
        return f"epsilon={fraction_str(self.epsilon)}" if self.kind == "epsilon" else self.kind


def decision(mode: DiffMode, y: Sequence[Fraction]) -> frozenset[int]:
    """The indices attaining the max (top1) or min (argmin) of exact outputs y, ties included."""
    best = max(y) if mode.sign > 0 else min(y)
    return frozenset(i for i, v in enumerate(y) if v == best)


def violated(mode: DiffMode, ya: Sequence[Fraction], yb: Sequence[Fraction]) -> bool:
    """Exact verdict at one input: do the outputs violate the mode's property?"""
    if mode.kind == "epsilon":
        return any(abs(p - q) > mode.epsilon for p, q in zip(ya, yb))
    return decision(mode, ya) != decision(mode, yb)
