"""The output objective of a differential search: which linear rows of the outputs are bounded, and when a box is
closed, for each mode (ε: ±Δ_i <= ε; top1/argmin: every other class's margin < 0 in both networks; a property as
written: every disjunct of its counterexample DNF has an atom proven false on the box)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..bounds.coupling import Coupling
from ..ir.exact import floor_float
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
    product chain (y_A = y_B + Δ), the better one counting. written (a dnf of atoms c·[y_A | y_B] op b): the
    atom c_A·y_A + c_B·y_B is (c_A + c_B)·z_B + c_A·Δ in product coordinates; it is false on the box when the row
    −that has upper bound < −b (for '<=' and '<'; an '=' atom also when the row itself has upper bound < b), and a
    box closes when every disjunct has a false atom. Rows of disjuncts already refuted get gap −inf.
    """

    mode: Mode
    classes: np.ndarray | None = None
    part: str = "all"  # classification modes: 'a' or 'b' bounds one network's margins only

    def rows(self, coupling: Coupling, n: int) -> dict[str, np.ndarray]:
        m = coupling.output_size
        if self.mode.written:
            return {"p": written_rows(self.mode, m)[0]}
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
        if self.mode.written:
            return self._written_gaps(uppers["p"])
        if self.mode.kind == "epsilon":
            return uppers["p"] - (float(self.mode.epsilon) - self.slack())
        if self.part != "all":
            g = uppers[self.part] + self.slack()
        else:
            g = np.maximum(uppers["b"], np.minimum(uppers["p"], uppers["a"])) + self.slack()
        own = np.arange(g.shape[1])[None, :] == self.classes[:, None]
        return np.where(own, -np.inf, g)

    def _written_gaps(self, upper: np.ndarray) -> np.ndarray:
        _, thresholds, disjunct = written_rows(self.mode, None)
        g = upper - (thresholds - SLACK * (1.0 + np.abs(thresholds)))[None, :]
        refuted = np.zeros((len(upper), len(self.mode.dnf)), dtype=bool)
        for k in range(len(self.mode.dnf)):
            refuted[:, k] = np.any(g[:, disjunct == k] < 0, axis=1)
        return np.where(refuted[:, disjunct], -np.inf, g)

    def part_closed(self, uppers: dict[str, np.ndarray], part: str) -> np.ndarray:
        """Per box: are one network's margins all closed (part 'a' or 'b'; classification modes)?"""
        g = (uppers[part] if part == "b" else np.minimum(uppers["p"], uppers["a"])) + self.slack()
        own = np.arange(g.shape[1])[None, :] == self.classes[:, None]
        return np.all(own | (g < 0), axis=1)

    def closed(self, uppers: dict[str, np.ndarray]) -> np.ndarray:
        """Per box: do the bounds prove the property?"""
        if self.mode.written and any(not conj for conj in self.mode.dnf):
            return np.zeros(len(uppers["p"]), dtype=bool)  # a disjunct without atoms always holds
        return np.all(self.gaps(uppers) < 0, axis=1)


def written_unfit(mode: Mode, m: int) -> str:
    """Why the differential search cannot take this written property ('' when it can): its rows must be exact
    floats (coefficients and the sums c_A + c_B), as the bound passes take them as they are."""
    for conj in mode.dnf:
        for atom in conj:
            ca, cb = atom.coeffs[:m], atom.coeffs[m:]
            if any(Fraction(float(v)) != v for v in (*ca, *cb, *(p + q for p, q in zip(ca, cb)))):
                return "an output atom's coefficients are not exact floats"
            if abs(atom.bound) > 2 ** 1000:
                return "an output atom's constant is beyond the float range"
    return ""


def written_rows(mode: Mode, m: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows R over [z_B | Δ], thresholds t, disjunct index per row): an atom is false where R·p < t is proven.

    m: the output size of each network (None: taken from the atoms, which span [y_A | y_B])."""
    rows, thresholds, disjunct = [], [], []
    for k, conj in enumerate(mode.dnf):
        for atom in conj:
            c = np.array([float(v) for v in atom.coeffs])
            half = len(c) // 2 if m is None else m
            ca, cb = c[:half], c[half:]
            row = np.concatenate([ca + cb, ca])  # c_A·y_A + c_B·y_B with y_A = z_B + Δ, y_B = z_B
            for sign in ((-1, 1) if atom.op == "=" else (-1,)):
                rows.append(sign * row)
                thresholds.append(floor_float(sign * atom.bound))  # R·p < t' <= t exactly: the atom is false
                disjunct.append(k)
    if not rows:
        return np.zeros((0, 2 * (m or 0))), np.zeros(0), np.zeros(0, dtype=int)
    return np.array(rows), np.array(thresholds), np.array(disjunct)
