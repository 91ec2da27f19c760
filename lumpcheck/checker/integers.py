"""Exact rational arrays as integers over one common denominator (the checker's own restatement)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


# independent of prove/obligations.py:integer_form (the same fact, restated for the kernel)
def scaled_ints(arr: np.ndarray) -> tuple[np.ndarray, int]:
    """(N, D) with arr == N / D exactly: N an object array of Python ints, D > 0."""
    if arr.dtype == object:
        den = math.lcm(1, *(Fraction(v).denominator for v in arr.flat))
        out = np.empty(arr.shape, dtype=object)
        out.flat[:] = [Fraction(v).numerator * (den // Fraction(v).denominator) for v in arr.flat]
        return out, den
    frac, exp = np.frexp(arr)  # arr = frac · 2**exp, |frac| in [0.5, 1): frac · 2**53 is an exact integer
    ints = (frac * 9007199254740992.0).astype(np.int64)
    exp = np.where(ints == 0, 0, exp.astype(np.int64) - 53)
    low = min(0, int(exp.min(initial=0)))
    pow2 = np.empty(int(exp.max(initial=0)) - low + 1, dtype=object)
    pow2[:] = [1 << n for n in range(len(pow2))]
    return ints.astype(object) * pow2[exp - low], 1 << -low
