"""Exact numbers for the IR: float64 arrays hold dyadic rationals exactly; object arrays hold Fractions.

A float *is* a rational, so a float array read from a model is already exact. Derived values that are
not floats (ratios, long sums) live in object arrays of `fractions.Fraction`. Nothing here rounds.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Iterable

import numpy as np

Number = Fraction | int


def to_fraction(x: object) -> Fraction:
    """Exact rational value of a float, int, Fraction, sympy Rational or 'p/q' string (NaN/Inf rejected)."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, (int, np.integer)):
        return Fraction(int(x))
    if isinstance(x, (float, np.floating)):
        f = float(x)
        if not np.isfinite(f):
            raise ValueError(f"non-finite value {f!r} has no exact rational value")
        return Fraction(f)
    if isinstance(x, str):
        return Fraction(x)
    p, q = getattr(x, "p", None), getattr(x, "q", None)  # sympy Rational
    if p is not None and q is not None:
        return Fraction(int(p), int(q))
    raise TypeError(f"cannot convert {type(x).__name__} to an exact rational")


def exact_array(values: object) -> np.ndarray:
    """Canonical exact array: float64 when every value is a float64 exactly, else object array of Fractions."""
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        out = arr.astype(np.float64)
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ValueError("array contains NaN or Inf")
        if arr.dtype.kind in "iu" and np.any(out.astype(arr.dtype) != arr):
            return _fractions(arr)
        return out
    fr = _fractions(arr)
    return canonical(fr)


def _fractions(arr: np.ndarray) -> np.ndarray:
    out = np.empty(arr.shape, dtype=object)
    flat_in, flat_out = arr.reshape(-1), out.reshape(-1)
    for i, v in enumerate(flat_in):
        flat_out[i] = to_fraction(v)
    return out


def canonical(arr: np.ndarray) -> np.ndarray:
    """Turn an object array of Fractions back into float64 when that is exact (keeps the fast path fast)."""
    if arr.dtype != object:
        return arr
    flat = arr.reshape(-1)
    floats = np.empty(flat.shape, dtype=np.float64)
    for i, v in enumerate(flat):
        f = float(v)
        if not np.isfinite(f) or Fraction(f) != v:
            return arr
        floats[i] = f
    return floats.reshape(arr.shape)


def as_fractions(arr: np.ndarray) -> np.ndarray:
    """Object array of Fractions with the exact values of `arr` (float64 or object)."""
    if arr.dtype == object:
        return arr
    return _fractions(arr)


def is_float_exact(arr: np.ndarray) -> bool:
    """True when the array is on the fast path (float64 values are the exact values)."""
    return arr.dtype == np.float64


def to_float(arr: np.ndarray) -> np.ndarray:
    """Nearest float64 view (rounds Fractions; for candidate search and sampling only, never for decisions)."""
    if arr.dtype == object:
        return np.array([float(v) for v in arr.reshape(-1)], dtype=np.float64).reshape(arr.shape)
    return arr.astype(np.float64, copy=False)


def exact_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Exact equality of two exact arrays of the same shape."""
    if a.shape != b.shape:
        return False
    if a.dtype == np.float64 and b.dtype == np.float64:
        return bool(np.array_equal(a, b))
    return bool(np.all(as_fractions(a) == as_fractions(b)))


def fraction_str(x: Fraction | int) -> str:
    """'p/q' (or 'p') text form of an exact rational, as used in certificates."""
    x = Fraction(x)
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def parse_fractions(items: Iterable[str]) -> list[Fraction]:
    """Inverse of `fraction_str` for a list."""
    return [Fraction(s) for s in items]
