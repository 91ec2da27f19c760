"""Softmax confidence against a threshold δ, decided rigorously (the δ-top-1 mode, VeryDiff's `--top-1-delta`).

p = softmax(z), p_c = 1 / (1 + S_c) with S_c = Σ_{j≠c} e^{z_j − z_c}. Hence p_c > δ iff S_c < (1 − δ)/δ, and
p_c > δ implies z_c − z_j > ln(δ/(1 − δ)) = L for every j ≠ c (one term of S_c alone is below (1 − δ)/δ).
Both are decided here in mpmath interval arithmetic (outward rounding: every true value is enclosed):
  * `exceeds(lo, hi, c, δ)`: True when the enclosure of S_c lies below (1 − δ)/δ, False when above or at it,
    None when it straddles (refined once at a higher precision first). An exact tie (every z_j − z_c = 0, so
    S_c = m − 1 is rational) is decided exactly; otherwise S_c is transcendental (Lindemann–Weierstrass) and
    never equals the rational threshold, so enough precision decides it.
  * `log_odds_lower(δ)`: a rational L⁻ <= L (the lower end of an interval enclosure of L, rounded down to a
    multiple of 2^-GRID_BITS, then one more step down): using L⁻ for L only enlarges the premise
    "z_c − z_j > L for all j", so every property proved with it holds with L. The checker re-proves
    L⁻ <= L by its own means (checker/confidence.py: a rational Taylor bound of exp).
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import Sequence

import numpy as np

PRECISIONS = (128, 512)
GRID_BITS = 40
"""L⁻ is a multiple of 2^-GRID_BITS at least one step below the enclosure of L (short, and far enough below L
that the checker's exact test of exp(L⁻) <= δ/(1 − δ) is decided with few Taylor terms)."""


def check_delta(delta: Fraction) -> None:
    """ValueError unless 1/2 <= δ < 1 (below 1/2 two classes could both exceed δ; δ = 1 is never exceeded)."""
    if not Fraction(1, 2) <= delta < 1:
        raise ValueError(f"δ = {delta} must satisfy 0.5 <= δ < 1")


@lru_cache(maxsize=64)
def log_odds_lower(delta: Fraction) -> Fraction:
    """A rational L⁻ <= ln(δ/(1 − δ)), proven by an outward-rounded interval enclosure (module docstring)."""
    check_delta(delta)
    if delta == Fraction(1, 2):
        return Fraction(0)  # ln 1 = 0 exactly
    from mpmath import iv

    saved = iv.prec
    iv.prec = PRECISIONS[0]
    try:
        ratio = delta / (1 - delta)
        enclosure = iv.log(iv.mpf(ratio.numerator) / iv.mpf(ratio.denominator))
        lower = _exact(enclosure._mpi_[0])
    finally:
        iv.prec = saved
    grid = 2 ** GRID_BITS
    return Fraction(math.floor(lower * grid) - 1, grid)


def exceeds(lo: Sequence[Fraction], hi: Sequence[Fraction], c: int, delta: Fraction) -> bool | None:
    """Is softmax(z)_c > δ for every z with lo <= z <= hi (True), for none (False), or undecided (None)?
    Exact z: lo == hi. An enclosure answers True only if the whole enclosure exceeds δ, False only if none does."""
    check_delta(delta)
    threshold = (1 - delta) / delta
    d_lo = [lo[j] - hi[c] for j in range(len(lo)) if j != c]  # z_j − z_c ranges over [d_lo, d_hi]
    d_hi = [hi[j] - lo[c] for j in range(len(lo)) if j != c]
    if all(v == 0 for v in d_lo + d_hi):
        return len(d_lo) < threshold  # S_c = m − 1 exactly
    for prec in PRECISIONS:
        s_lo, s_hi = _exp_sum(d_lo, d_hi, prec)
        if s_hi < threshold:
            return True
        if s_lo >= threshold:
            return False
    return None


def log_confidence(y: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Per row, log softmax(y)_c in floats (shifted by the row's maximum: no overflow). Steers searches only."""
    top = y.max(axis=1)
    return y[np.arange(len(y)), c] - top - np.log(np.exp(y - top[:, None]).sum(axis=1))


def delta_score(delta: Fraction, ya: np.ndarray, yb: np.ndarray) -> np.ndarray:
    """Float score per row, min(log p_c − log δ, max_{j≠c} y_B,j − y_B,c) with c A's float decision: >= 0 where A
    seems confident above δ in c while B does not pick c alone (a tie in B counts). Steers searches only."""
    c = np.argmax(ya, axis=1)
    confident = log_confidence(ya, c) - math.log(float(delta))
    other = np.where(np.arange(yb.shape[1])[None, :] == c[:, None], -np.inf, yb).max(axis=1)
    return np.minimum(confident, other - yb[np.arange(len(yb)), c])


def _exp_sum(d_lo: Sequence[Fraction], d_hi: Sequence[Fraction], prec: int) -> tuple[Fraction, Fraction]:
    """Rational bounds of Σ_j e^{d_j} over d_lo <= d <= d_hi (e^x increasing: lower ends, upper ends)."""
    from mpmath import iv

    saved = iv.prec
    iv.prec = prec
    try:
        def down(q: Fraction):
            return (iv.mpf(q.numerator) / iv.mpf(q.denominator)).a

        def up(q: Fraction):
            return (iv.mpf(q.numerator) / iv.mpf(q.denominator)).b

        total_lo = sum((iv.exp(iv.mpf([down(v), down(v)])) for v in d_lo), iv.mpf(0))
        total_hi = sum((iv.exp(iv.mpf([up(v), up(v)])) for v in d_hi), iv.mpf(0))
        return _exact(total_lo._mpi_[0]), _exact(total_hi._mpi_[1])
    finally:
        iv.prec = saved


def _exact(t) -> Fraction:
    """The exact rational value of an mpmath mpf tuple (finite: mpf exponents are unbounded)."""
    from mpmath.libmp import finf, fnan, fninf

    if t in (finf, fninf, fnan):
        raise ArithmeticError("interval enclosure is not finite")
    sign, man, exp, _ = t
    return (-1) ** sign * Fraction(int(man)) * Fraction(2) ** int(exp)
