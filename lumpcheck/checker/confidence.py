"""The checker's own proof that a certificate's L⁻ is at most ln(δ/(1 − δ)) (delta-top1 claims).

Independent of the prover (which encloses the logarithm in mpmath intervals): here exp(L⁻) is bounded ABOVE by
exact rational arithmetic (a Taylor sum of exp(x/2^s) squared s times, rounded up at every step: the kernel's
bounds.squash.exp_enclosure) and compared with δ/(1 − δ). For x <= 0, exp(x) <= 1 <= δ/(1 − δ) since δ >= 1/2.
"""

from __future__ import annotations

from fractions import Fraction

from ..bounds.squash import exp_enclosure


def exp_upper(x: Fraction, cap: Fraction | None = None) -> Fraction:
    """A rational upper bound of exp(x) for a rational x (bounds.squash.exp_enclosure). With `cap`, a value above
    cap may be returned as soon as one is seen: it then means only 'not shown to be <= cap'."""
    return Fraction(1) if x <= 0 else exp_enclosure(x, cap)[1]


def log_odds_proved(delta: Fraction, lminus: Fraction) -> bool:
    """Is L⁻ <= ln(δ/(1 − δ)) proved, i.e. exp(L⁻) <= δ/(1 − δ)? Requires 1/2 <= δ < 1 (else False)."""
    if not Fraction(1, 2) <= delta < 1:
        return False
    odds = delta / (1 - delta)
    return exp_upper(lminus, cap=odds) <= odds
