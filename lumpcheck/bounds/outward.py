"""Outward-rounded float64 arithmetic for the differential prover (the A1/A2 argument of bounds/propagate.py).

(A1) numpy computes in binary64, round to nearest, gradual underflow (`bounds.arith.check_float_environment`):
     one operation with exact result r and computed v satisfies pred(v) <= r <= succ(v), so `up(v)` >= r
     and `down(v)` <= r.
(A2) a dot product of length n computed by BLAS in any order satisfies |ŝ - s| <= n·2^-52·T̂ + n·2^-1072
     with T̂ = fl(Σ|x_i y_i|) (Higham, Thm 3.1; see propagate.py). `enclose` evaluates that bound with
     upward rounding. Non-finite results raise `FloatOverflow` (the caller answers unknown).
Intervals of coefficients [lo, hi] are used where an exact coefficient is not a float (LeakyReLU slopes
such as 1/100, differences of slopes): the max of c·v over c in [clo, chi] and v in [vl, vu] is at a corner.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .arith import FloatOverflow, round_to_float


ULP_FACTOR = 2.0**-52
TINY = 2.0**-1072


SMALLEST = 2.0**-1074


def up(x: np.ndarray) -> np.ndarray:
    """A float >= succ(x), hence >= the exact result of the operation that produced x (A1).

    x + δ with δ = |x|·2^-52 + 2^-1074 >= ulp(x) exactly, so the rounded sum is >= succ(x) (rounding is
    monotone and succ(x) is a float below the exact sum). Cheaper than nextafter, at most 2 ulps looser.
    Infinite or NaN inputs give non-finite outputs, which callers reject.
    """
    return x + (np.abs(x) * ULP_FACTOR + SMALLEST)


def down(x: np.ndarray) -> np.ndarray:
    """A float <= pred(x) (see `up`)."""
    return x - (np.abs(x) * ULP_FACTOR + SMALLEST)


def enclose(S: np.ndarray, T: np.ndarray, n: int) -> np.ndarray:
    """E >= |exact - S| for S = fl(a sum of n products) and T = fl(the sum of their absolute values) (A2)."""
    if n > 2**40:
        raise ValueError("dot product too long for the error bound")
    E = up(up(T * (n * ULP_FACTOR)) + n * TINY)
    if not (np.all(np.isfinite(S)) and np.all(np.isfinite(E))):
        raise FloatOverflow("float overflow in a bound computation")
    return E


def vecmat_up_nonneg(Y: np.ndarray, Wt: np.ndarray) -> np.ndarray:
    """A float array >= Y @ Wt exactly, for nonnegative Y and Wt (the sum of absolute values is the sum)."""
    S = Y @ Wt
    return up(S + enclose(S, S, Y.shape[-1]))


def matvec_up(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A float array >= X @ y exactly: X (..., R, n), y (..., n) -> (..., R)."""
    S = np.matmul(X, y[..., None])[..., 0]
    T = np.matmul(np.abs(X), np.abs(y)[..., None])[..., 0]
    return up(S + enclose(S, T, X.shape[-1]))


def add_up(*terms: np.ndarray) -> np.ndarray:
    """A float >= the exact sum, each partial sum rounded upward."""
    total = terms[0]
    for t in terms[1:]:
        total = up(total + t)
    return total


def max_product(clo: np.ndarray, chi: np.ndarray, vlo: np.ndarray, vhi: np.ndarray) -> np.ndarray:
    """A float >= max{c·v : c in [clo, chi], v in [vlo, vhi]} (bilinear, so a corner attains it)."""
    with np.errstate(invalid="ignore"):
        m = np.maximum(np.maximum(clo * vlo, clo * vhi), np.maximum(chi * vlo, chi * vhi))
    zero = (clo == 0) & (chi == 0)
    return np.where(zero, 0.0, up(m))


def fraction_interval(q: Fraction) -> tuple[float, float]:
    """Floats lo <= q <= hi, both within one ulp of q."""
    return round_to_float(q, up=False), round_to_float(q, up=True)


def sum_up(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """A float >= the exact sum of the nonnegative x along axis."""
    S = np.sum(x, axis=axis)
    return up(S + enclose(S, S, x.shape[axis]))


def tiny_charge(n: int, magnitudes: np.ndarray) -> np.ndarray:
    """n·2^-1072·Σ magnitudes, rounded up (A2's underflow term, per batch row)."""
    return up(sum_up(magnitudes) * (n * TINY))


def sub_interval(x: np.ndarray, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi] enclosing x − y exactly (a point interval when the float difference is exact)."""
    s = np.subtract(x, y)
    exact = s == 0  # x − y rounds to 0 only when x == y
    return np.where(exact, 0.0, down(s)), np.where(exact, 0.0, up(s))
