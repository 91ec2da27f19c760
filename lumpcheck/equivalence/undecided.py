"""Regions a differential search gave up on (neither closed nor refuted), with the reason: recorded, never dropped.

A search with such a region answers 'sat' if a counterexample is found elsewhere, else 'unknown' naming them;
never 'unsat' (bab.Search, parallel.Master)."""

from __future__ import annotations

from dataclasses import dataclass

REASONS_NAMED = 3
"""A verdict's message names the most frequent reasons, at most this many."""

@dataclass(frozen=True)
class Undecided:
    """A region the search gave up on (neither closed nor refuted): its path, claim part and why; gap: how far its
    (or its parent's) bound was from closing it (`bab.Node.gap`; inf: never bounded)."""

    path: tuple
    part: str
    reason: str
    gap: float = float("inf")

    def __post_init__(self) -> None:
        if not self.reason:
            raise ValueError(f"an undecided region needs a reason (path {self.path})")


def summarise_undecided(undecided: list[Undecided]) -> str:
    """'3 regions undecided (2: cannot be split further; 1: float overflow ...)' for a verdict's message."""
    counts: dict[str, int] = {}
    for u in undecided:
        counts[u.reason] = counts.get(u.reason, 0) + 1
    ranked = sorted(counts.items(), key=lambda t: -t[1])
    detail = "; ".join(f"{n}: {reason}" for reason, n in ranked[:REASONS_NAMED])
    if len(ranked) > REASONS_NAMED:
        detail += f"; {len(ranked) - REASONS_NAMED} other reasons"
    return f"{len(undecided)} region{'s' if len(undecided) != 1 else ''} undecided ({detail})"
