"""The "written" claim of a differential certificate: no input of the box makes a DNF of linear output atoms true.

claim.dnf is a list of disjuncts, each a list of atoms {"coeffs": ["p/q", ...] over [y_A | y_B], "op": "<=" | "<" |
"=", "bound": "p/q"} (a VNN-LIB 2.0 file's output assertions: they describe counterexamples). A leaf proves the claim
when every disjunct has an atom proven false on it: with y_A = z_B + Δ, the atom's form c_A·y_A + c_B·y_B is the
product-chain row r = [c_A + c_B | c_A] over [z_B | Δ]; `<=` / `<` atoms are false where −r < −bound is proven, '='
atoms also where r < bound is. Rows are used as binary64 numbers, so every coefficient and sum must be one exactly
(else the claim is refused); thresholds are rounded down (a proven float bound below them is below the exact one).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .difference_bounds import q_interval
from .document import Malformed, parse_rational

OPS = ("<=", "<", "=")


class WrittenClaimError(Exception):
    """The claim's DNF is malformed or cannot be checked exactly."""


def parse_dnf(raw, n_out: int) -> list[list[tuple[tuple[Fraction, ...], str, Fraction]]]:
    """The claim's DNF as exact atoms (coeffs over [y_A | y_B] of 2·n_out entries, op, bound)."""
    if not isinstance(raw, list):
        raise WrittenClaimError("claim: 'dnf' must be a list of disjuncts")
    out = []
    for conj in raw:
        atoms = []
        for atom in conj:
            try:
                coeffs = tuple(parse_rational(v, "claim.dnf coefficient") for v in atom["coeffs"])
                op, bound = atom["op"], parse_rational(atom["bound"], "claim.dnf bound")
            except (KeyError, TypeError, ValueError, ZeroDivisionError, Malformed) as e:
                raise WrittenClaimError(f"claim: malformed atom {atom!r} ({e})") from None
            if len(coeffs) != 2 * n_out or op not in OPS:
                raise WrittenClaimError(f"claim: atom needs {2 * n_out} coefficients and an op in {OPS}")
            atoms.append((coeffs, op, bound))
        if not atoms:
            raise WrittenClaimError("claim: a disjunct without atoms always holds: nothing can prove it false")
        out.append(atoms)
    return out


def rows(dnf, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R over [z_B | Δ] (rows, 2·n_out), thresholds t (floats <= the exact ones), disjunct index per row)."""
    R, t, k = [], [], []
    for d, conj in enumerate(dnf):
        for coeffs, op, bound in conj:
            ca, cb = coeffs[:n_out], coeffs[n_out:]
            exact = [p + q for p, q in zip(ca, cb)] + list(ca)
            try:
                inexact = any(Fraction(float(v)) != v for v in exact)
            except OverflowError:
                inexact = True
            if inexact:
                raise WrittenClaimError("claim: an atom's product-chain row is not exact in binary64")
            row = np.array([float(v) for v in exact])
            for sign in ((-1, 1) if op == "=" else (-1,)):
                R.append(sign * row)
                t.append(q_interval(sign * bound)[0])
                k.append(d)
    return np.array(R).reshape(len(R), 2 * n_out), np.array(t), np.array(k, dtype=int)


def leaves_closed(uppers: np.ndarray, thresholds: np.ndarray, disjunct: np.ndarray, count: int) -> np.ndarray:
    """Per leaf (uppers: (n, rows)): does every disjunct have a row proven below its threshold?"""
    if count == 0:  # an empty disjunction is false everywhere
        return np.ones(len(uppers), dtype=bool)
    false_rows = uppers < thresholds[None, :]
    return np.all(np.stack([np.any(false_rows[:, disjunct == d], axis=1) for d in range(count)], axis=1), axis=1)
