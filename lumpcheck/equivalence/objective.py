"""The output objective of a differential search: which linear rows of the outputs are bounded, and when a box is
closed, for each mode (ε: ±Δ_i <= ε; top1/argmin: every other class's margin < 0 in both networks; delta-top1:
the rule in `Objective`'s docstring; a property as written: every disjunct of its counterexample DNF has an atom
proven false on the box)."""

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
    product chain (y_A = y_B + Δ), the better one counting.
    delta-top1 (classes unused) with L = mode.log_odds (a rational L⁻ <= ln(δ/(1 − δ))): softmax(a)_k > δ implies
    a_k − a_j > L for all j != k. A box is closed when, for EVERY class k, either some j has ub(a_k − a_j) <= L
    (k cannot exceed δ on the box), or every j != k has ub(b_j − b_k) < 0 or ub(Δ_k − Δ_j) <= L (then
    b_k − b_j = (a_k − a_j) − (Δ_k − Δ_j) > L − L = 0 wherever k exceeds δ).
    Rows (index k·m + j): 'a' and the first m² of 'p' are a_k − a_j, 'b' is b_j − b_k, the last m² of 'p' are
    Δ_k − Δ_j. Gap columns: (k, j), closed for every j when k cannot exceed δ.
    written (a dnf of atoms c·[y_A | y_B] op b): the atom c_A·y_A + c_B·y_B is (c_A + c_B)·z_B + c_A·Δ in product
    coordinates; it is false on the box when the row −that has upper bound < −b (for '<=' and '<'; an '=' atom also when the row itself has upper bound < b), and a
    box closes when every disjunct has a false atom. Rows of disjuncts already refuted get gap −inf.
    """

    mode: Mode
    classes: np.ndarray | None = None
    part: str = "all"  # classification modes: 'a' or 'b' bounds one network's margins only

    def rows(self, coupling: Coupling, n: int) -> dict[str, np.ndarray]:
        m = coupling.output_size
        if self.mode.kind == "delta-top1":
            return self._delta_rows(m, n)
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

    def _delta_rows(self, m: int, n: int) -> dict[str, np.ndarray]:
        eye = np.eye(m)
        pairs = np.broadcast_to((eye[:, None, :] - eye[None, :, :]).reshape(m * m, m), (n, m * m, m))  # e_k − e_j
        shifts = np.concatenate([np.zeros_like(pairs), pairs], axis=2)  # Δ_k − Δ_j
        return {"p": np.concatenate([np.concatenate([pairs, pairs], axis=2), shifts], axis=1), "a": pairs.copy(),
                "b": -pairs}

    def _delta_gaps(self, uppers: dict[str, np.ndarray]) -> np.ndarray:
        n, mm = uppers["a"].shape
        m = int(round(mm ** 0.5))
        limit = floor_float(self.mode.log_odds) - self.slack()
        diagonal = np.eye(m, dtype=bool)[None]
        ua = np.where(diagonal, np.inf, np.minimum(uppers["a"], uppers["p"][:, :mm]).reshape(n, m, m))
        cannot = ua.min(axis=2) - limit  # per class k: < 0 when k cannot exceed δ on the box
        agree = np.minimum(uppers["b"] + self.slack(), uppers["p"][:, mm:] - limit).reshape(n, m, m)
        agree = np.where(diagonal | (cannot < 0)[:, :, None], -np.inf, agree)
        return agree.reshape(n, mm)

    def failing_rows(self, gaps: np.ndarray, e: int) -> dict[str, np.ndarray]:
        """Per chain, the rows of box e (gaps: all boxes') that keep it open (what splitting should improve)."""
        g = gaps[e] >= 0
        if self.mode.kind != "delta-top1":
            return {"p": g, "a": g, "b": g}
        m = int(round(len(g) ** 0.5))
        open_class = np.repeat(g.reshape(m, m).any(axis=1), m)  # A's margins of a class not yet closed
        return {"a": open_class, "b": g, "p": np.concatenate([open_class, g])}

    def slack(self) -> float:
        return SLACK * (1.0 + float(self.mode.epsilon))

    def gaps(self, uppers: dict[str, np.ndarray]) -> np.ndarray:
        """Per box and row, how far the bound is from closing (< 0: that row is closed)."""
        if self.mode.written:
            return self._written_gaps(uppers["p"])
        if self.mode.kind == "epsilon":
            return uppers["p"] - (float(self.mode.epsilon) - self.slack())
        if self.mode.kind == "delta-top1":
            return self._delta_gaps(uppers)
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
