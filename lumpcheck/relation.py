"""The reduction relation between an original network and its reduced one: the certificate's core.

For every hidden neuron r of the original network: v_r = factor * v'_[cls] + offset, where v'_[cls] is the
value of reduced neuron `cls` of the same layer (cls None: v_r = offset is a constant, or r is dead — its
outgoing weights are all zero, so its value does not matter). Inputs and outputs are never remapped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

REASONS = ("kept", "duplicate", "proportional", "negated", "constant", "dead", "inactive", "linear")


@dataclass(frozen=True)
class NeuronMap:
    """How one original neuron is represented in the reduced layer (see module docstring)."""

    cls: int | None
    factor: Fraction = Fraction(1)
    offset: Fraction = Fraction(0)
    reason: str = "kept"

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown reason {self.reason!r}")
        if self.cls is None and self.factor != 0 and self.reason != "dead":
            raise ValueError("a neuron without a class must have factor 0 (constant) or be dead")


@dataclass
class LayerRelation:
    """The maps of one hidden layer's original neurons, and the width of the reduced layer."""

    maps: list[NeuronMap]
    reduced_width: int

    def classes(self) -> list[list[int]]:
        """Original neurons grouped by reduced neuron (the partition; constants and dead are not in any class)."""
        out: list[list[int]] = [[] for _ in range(self.reduced_width)]
        for r, m in enumerate(self.maps):
            if m.cls is not None:
                out[m.cls].append(r)
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
