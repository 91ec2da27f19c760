"""What "equivalent" means for `lumpcheck verify`: strict equality, |difference| <= ε, or the same top-1 set."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..errors import LumpcheckError
from ..ir.exact import fraction_str, to_fraction


@dataclass(frozen=True)
class Mode:
    """What 'equivalent' means.

    strict:  y_a(x) = y_b(x) exactly, every output.
    epsilon: max_i |y_a,i(x) − y_b,i(x)| <= ε (exact rational ε >= 0).
    top1:    the SETS of maximal outputs are equal, {i : y_a,i = max y_a} = {i : y_b,i = max y_b}: ties count, so
             a tie in one net and a unique maximum in the other is a disagreement (symmetric and transitive).
    """

    kind: str
    epsilon: Fraction = Fraction(0)

    def __post_init__(self) -> None:
        if self.kind not in ("strict", "epsilon", "top1"):
            raise ValueError(f"unknown mode {self.kind!r} (strict, epsilon, top1)")
        object.__setattr__(self, "epsilon", to_fraction(self.epsilon))
        if self.epsilon < 0 or (self.kind != "epsilon" and self.epsilon != 0):
            raise ValueError("ε must be >= 0 and is only meaningful in epsilon mode")

    @classmethod
    def parse(cls, text: str) -> "Mode":
        """'strict', 'top1', or 'epsilon=<exact decimal or p/q>' (e.g. 'epsilon=1e-6', 'epsilon=1/1024')."""
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
