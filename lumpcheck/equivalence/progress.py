"""How far a differential search is, for progress displays (never for verdicts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Progress:
    """Leaves closed, nodes open, and the share of the box the closed leaves cover (the least over the claim's
    parts: a classification mode closes A's and B's trees separately)."""

    leaves: int
    open: int
    covered: float

    @property
    def text(self) -> str:
        return f"{self.covered:.1%} of the box closed ({self.leaves} leaves, {self.open} open)"


def progress_of(leaves: Sequence, open_nodes: int) -> Progress:
    """A leaf at split depth d covers 2^-d of the box for its part ('a', 'b', or 'all': both)."""
    shares = {"a": 0.0, "b": 0.0, "all": 0.0}
    for leaf in leaves:
        shares[leaf.part if leaf.part in shares else "all"] += 2.0 ** -len(leaf.path)
    split = any(leaf.part in ("a", "b") for leaf in leaves)
    covered = min(shares["a"], shares["b"]) + shares["all"] if split else shares["all"]
    return Progress(len(leaves), open_nodes, min(covered, 1.0))
