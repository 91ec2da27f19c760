"""The reduction relation between an original network and its reduced one: the certificate's core.

For every hidden neuron r of the original network, its value is an affine combination of the reduced
layer's neuron values (see NeuronMap). Inputs and outputs are never remapped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

REASONS = ("kept", "duplicate", "proportional", "negated", "constant", "dead", "inactive", "linear")


def _fraction(x: object) -> Fraction:
    return x if type(x) is Fraction else Fraction(x)  # skip the slow constructor on the hot path (reduce)


@dataclass(frozen=True)
class NeuronMap:
    """How one original neuron is represented: v_r = sum(factor * v'_cls for cls, factor in terms) + offset.

    Lumping gives one term (duplicate/proportional/negated) or none (constant: v_r = offset). Domain
    reductions may give several terms (a stably linear neuron folded onto a basis). Dead neurons have no
    terms: their outgoing weights are all zero, so their value is irrelevant.
    """

    terms: tuple[tuple[int, Fraction], ...]
    offset: Fraction = Fraction(0)
    reason: str = "kept"

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown reason {self.reason!r}")
        object.__setattr__(self, "terms", tuple((int(c), _fraction(f)) for c, f in self.terms))
        object.__setattr__(self, "offset", _fraction(self.offset))

    @property
    def cls(self) -> int | None:
        """The single reduced neuron this one is a multiple of (None for constants, dead, or combinations)."""
        return self.terms[0][0] if len(self.terms) == 1 else None

    @property
    def factor(self) -> Fraction:
        """The factor of the single term (0 when there is none)."""
        return self.terms[0][1] if len(self.terms) == 1 else Fraction(0)


@dataclass
class LayerRelation:
    """The maps of one hidden layer's original neurons, and the width of the reduced layer."""

    maps: list[NeuronMap]
    reduced_width: int

    def classes(self) -> list[list[int]]:
        """Original neurons grouped by reduced neuron (the partition; constants and dead are not in any class)."""
        out: list[list[int]] = [[] for _ in range(self.reduced_width)]
        for r, m in enumerate(self.maps):
            if len(m.terms) == 1:
                out[m.terms[0][0]].append(r)
        return out

    def reason_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for m in self.maps:
            counts[m.reason] = counts.get(m.reason, 0) + 1
        return counts


@dataclass
class Relation:
    """One LayerRelation per hidden layer (layers 1..k-1 of the original network)."""

    layers: list[LayerRelation] = field(default_factory=list)
