"""Which of the two input-split candidates the look-ahead keeps choosing, so that a search stops paying for
look-aheads whose outcome it can predict (bab.Search._split_input and _look_ahead).

Input splitting proposes two dimensions when its heuristics disagree: the failing rows' sensitivity (|coefficient|
times width, 'score') and the input's width relative to the whole box ('width'). A look-ahead bounds the children
of both splits and keeps the better pair, which doubles the bounding work of such a node. On some pairs one
candidate wins nearly always (ACAS Xu 1_1 vs a copy with one bias changed by 0.001, prop_1: width won 472 of 477
look-aheads; vs its float16 copy: score won 119 of 131), so once the recent outcomes agree, the search splits on
the usual winner directly and looks ahead only every PROBE_EVERY-th time, which keeps the record current.
Only the choice of split changes; bounds, leaves and certificates are those of the nodes actually split.
Measured (benchmarks/DIFFVERIFY.md, 2026-11-30 dspeed section): a gain on the bias pair and on 5_6 prop_1 mag5,
neutral on the float16 pair, a loss on 5_6 prop_1 mag10 (less of the box closed in the same CPU time).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

WINDOW = 32
"""Look-ahead outcomes remembered (the most recent ones)."""
AGREEMENT = 0.85
"""Share of the remembered outcomes one candidate must have won to be used without a look-ahead."""
PROBE_EVERY = 4
"""While a candidate is preferred, every PROBE_EVERY-th disagreement is still looked ahead."""
SCORE, WIDTH = 0, 1


@dataclass
class LookaheadMemory:
    """Recent look-ahead outcomes of one process's searches (SCORE or WIDTH won), and how often it was asked."""

    outcomes: deque = field(default_factory=lambda: deque(maxlen=WINDOW))
    asked: int = 0

    def record(self, winner: int) -> None:
        if winner not in (SCORE, WIDTH):
            raise ValueError(f"look-ahead winner must be {SCORE} (score) or {WIDTH} (width), not {winner!r}")
        self.outcomes.append(winner)

    def choose(self) -> int | None:
        """The candidate to split on without a look-ahead (SCORE or WIDTH), or None: look ahead."""
        self.asked += 1
        if len(self.outcomes) < WINDOW // 2 or self.asked % PROBE_EVERY == 0:
            return None
        for winner in (SCORE, WIDTH):
            if self.outcomes.count(winner) >= AGREEMENT * len(self.outcomes):
                return winner
        return None
