"""The checker's own proof that a certificate's L⁻ is at most ln(δ/(1 − δ)) (delta-top1 claims).

Independent of the prover (which encloses the logarithm in mpmath intervals): here exp(L⁻) is bounded ABOVE by
exact rational arithmetic and compared with δ/(1 − δ). For x > 0, with y = x / 2^s <= 1/2,
  exp(y) <= Σ_{k=0}^{N} y^k / k! + 2 · y^{N+1} / (N+1)!     (the tail terms shrink at least by y <= 1/2 each),
rounded up to a multiple of 2^-PRECISION_BITS, then squared s times (each square rounded up again): every step
keeps an upper bound of exp(x) = exp(y)^(2^s). For x <= 0, exp(x) <= 1 <= δ/(1 − δ) since δ >= 1/2.
"""

from __future__ import annotations

from fractions import Fraction
from math import ceil

TERMS = 40
PRECISION_BITS = 120


def _round_up(q: Fraction) -> Fraction:
    scale = 2 ** PRECISION_BITS
    return Fraction(ceil(q * scale), scale)


def exp_upper(x: Fraction, cap: Fraction | None = None) -> Fraction:
    """A rational upper bound of exp(x) for a rational x (module docstring). With `cap`, any bound above cap may be
    returned as soon as one is seen (the squarings only grow it): a huge tampered x costs no huge numbers."""
    if x <= 0:
        return Fraction(1)
    if cap is not None and 1 + x > cap:  # exp(x) >= 1 + x
        return 1 + x
    s = 0
    while x / 2 ** s > Fraction(1, 2):
        s += 1
    y = x / 2 ** s
    total, term = Fraction(0), Fraction(1)
    for k in range(TERMS + 1):
        total += term
        term = term * y / (k + 1)  # after the loop: y^{TERMS+1} / (TERMS+1)!
    bound = _round_up(total + 2 * term)
    for _ in range(s):
        if cap is not None and bound > cap:
            return bound
        bound = _round_up(bound * bound)
    return bound


def log_odds_proved(delta: Fraction, lminus: Fraction) -> bool:
    """Is L⁻ <= ln(δ/(1 − δ)) proved, i.e. exp(L⁻) <= δ/(1 − δ)? Requires 1/2 <= δ < 1 (else False)."""
    if not Fraction(1, 2) <= delta < 1:
        return False
    odds = delta / (1 - delta)
    return exp_upper(lminus, cap=odds) <= odds
