"""What "equivalent" means for `lumpcheck verify`: strict equality, |difference| <= ε, or the same top-1 / argmin set,
and its exact decision at one input (`violated`)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from ..errors import LumpcheckError
from ..ir.exact import fraction_str, to_fraction


KINDS = ("strict", "epsilon", "top1", "argmin")


@dataclass(frozen=True)
class Mode:
    """What 'equivalent' means.

    strict:  y_a(x) = y_b(x) exactly, every output.
    epsilon: max_i |y_a,i(x) − y_b,i(x)| <= ε (exact rational ε >= 0).
    top1:    the SETS of maximal outputs are equal, {i : y_a,i = max y_a} = {i : y_b,i = max y_b}: ties count, so
             a tie in one net and a unique maximum in the other is a disagreement (symmetric and transitive).
    argmin:  the sets of minimal outputs are equal (ACAS Xu advisories are the minimal score); top1 of −y.
    """

    kind: str
    epsilon: Fraction = Fraction(0)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown mode {self.kind!r} (strict, epsilon=E, top1, argmin)")
        object.__setattr__(self, "epsilon", to_fraction(self.epsilon))
        if self.epsilon < 0 or (self.kind != "epsilon" and self.epsilon != 0):
            raise ValueError("ε must be >= 0 and is only meaningful in epsilon mode")

    @property
    def classifies(self) -> bool:
        """Is the property a decision (top1 / argmin) rather than a distance?"""
        return self.kind in ("top1", "argmin")

    @property
    def sign(self) -> int:
        """+1 if the decision is the maximal output, −1 if the minimal one (0 for strict/epsilon)."""
        return {"top1": 1, "argmin": -1}.get(self.kind, 0)

    @classmethod
    def parse(cls, text: str) -> "Mode":
        """'strict', 'top1', 'argmin', or 'epsilon=<exact decimal or p/q>' (e.g. 'epsilon=1e-6', 'epsilon=1/1024')."""
        kind, _, value = text.partition("=")
        try:
            if kind.strip() == "epsilon":
                return cls("epsilon", Fraction(value.strip()))
            if value:
                raise ValueError(f"mode {kind!r} takes no value")
            return cls(kind.strip())
        except (ValueError, ZeroDivisionError) as e:
            raise LumpcheckError(f"bad mode {text!r}: {e}") from None

    def __str__(self) -> str:
        return f"epsilon={fraction_str(self.epsilon)}" if self.kind == "epsilon" else self.kind


STRICT = Mode("strict")
TOP1 = Mode("top1")


def epsilon_mode(eps: object) -> Mode:
    """Mode 'epsilon' with the exact rational ε (a float counts as its exact value)."""
    return Mode("epsilon", to_fraction(eps))


def decision(mode: Mode, y: Sequence[Fraction]) -> frozenset[int]:
    """The indices attaining the max (top1) or min (argmin) of exact outputs y, ties included."""
    best = max(y) if mode.sign > 0 else min(y)
    return frozenset(i for i, v in enumerate(y) if v == best)


def violated(mode: Mode, ya: Sequence[Fraction], yb: Sequence[Fraction]) -> bool:
    """Exact verdict at one input of exact rational outputs: do they violate the mode's property?"""
    if mode.kind in ("strict", "epsilon"):
        return any(abs(p - q) > mode.epsilon for p, q in zip(ya, yb))
    return decision(mode, ya) != decision(mode, yb)
