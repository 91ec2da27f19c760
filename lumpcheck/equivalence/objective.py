"""The output objective of a differential search: which linear rows of the outputs are bounded, and when a box is
closed, for each mode (ε: ±Δ_i <= ε; top1/argmin: every other class's margin < 0 in both networks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bounds.coupling import Coupling
from .mode import Mode

SLACK = 1e-9
"""A box closes only with this margin (absolute, plus relative to ε), so that an independent re-derivation
whose rounding differs in the last bits still closes it."""


@dataclass
class Objective:
    """The rows bounded at the output and the closing rule, for a batch with decision `classes` (N,).

    Rows are keyed by chain: 'p' over the product's output coordinates [z_B | Δ], 'a' over A's outputs,
    'b' over B's outputs. epsilon: ±Δ_i <= ε. top1/argmin with class c: s·(y_j − y_c) < 0 for j != c in
    both networks (s = +1 for top1, −1 for argmin), A's margins bounded on A's chain and through the
    product chain (y_A = y_B + Δ), the better one counting.
    """

    mode: Mode
    classes: np.ndarray | None = None
    part: str = "all"  # classification modes: 'a' or 'b' bounds one network's margins only

    def rows(self, coupling: Coupling, n: int) -> dict[str, np.ndarray]:
        m = coupling.output_size
        if self.mode.kind == "epsilon":
            zero, eye = np.zeros((m, m)), np.eye(m)
            return {"p": np.vstack([np.hstack([zero, eye]), np.hstack([zero, -eye])])}
        margin = np.broadcast_to(np.eye(m), (n, m, m)).copy()
        margin[np.arange(n), :, self.classes] -= 1.0  # row j: e_j − e_c
        margin *= float(self.mode.sign)
        if self.part != "all":
            return {self.part: margin}
        return {"p": np.concatenate([margin, margin], axis=2), "a": margin, "b": margin}

    def slack(self) -> float:
        return SLACK * (1.0 + float(self.mode.epsilon))

    def gaps(self, uppers: dict[str, np.ndarray]) -> np.ndarray:
        """Per box and row, how far the bound is from closing (< 0: that row is closed)."""
        if self.mode.kind == "epsilon":
            return uppers["p"] - (float(self.mode.epsilon) - self.slack())
        if self.part != "all":
            g = uppers[self.part] + self.slack()
        else:
            g = np.maximum(uppers["b"], np.minimum(uppers["p"], uppers["a"])) + self.slack()
        own = np.arange(g.shape[1])[None, :] == self.classes[:, None]
        return np.where(own, -np.inf, g)

    def part_closed(self, uppers: dict[str, np.ndarray], part: str) -> np.ndarray:
        """Per box: are one network's margins all closed (part 'a' or 'b'; classification modes)?"""
        g = (uppers[part] if part == "b" else np.minimum(uppers["p"], uppers["a"])) + self.slack()
        own = np.arange(g.shape[1])[None, :] == self.classes[:, None]
        return np.all(own | (g < 0), axis=1)

    def closed(self, uppers: dict[str, np.ndarray]) -> np.ndarray:
        """Per box: do the bounds prove the property?"""
        return np.all(self.gaps(uppers) < 0, axis=1)
