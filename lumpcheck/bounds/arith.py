"""Float64 arithmetic with rigorous error bounds, and its exact counterpart, for bound propagation (propagate.py).

Sound under assumptions A1 (round to nearest with gradual underflow, checked by `check_float_environment`) and A2
(any summation order of a dot product) of propagate.py's docstring: every result is an upper bound of the exact
value (`FloatArith.upper`), or comes with terms whose upper bound covers its rounding errors (`substitute`).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np

from ..ir.exact import as_fractions


class FloatOverflow(ArithmeticError):
    """A float intermediate overflowed, so the float-sound computation cannot go on. propagate.py catches it and
    redoes the computation exactly; the differential bounds (difference.py) pass it to their caller, which answers
    unknown for that branch."""


# ---------------------------------------------------------------- outward rounding (A1, A2)


def _up(x: np.ndarray) -> np.ndarray:
    """A float >= nextafter(x, +inf) for finite x (or +inf), elementwise: fl(x + fl(fl(|x|·2^-52) + 2^-1074)).

    Under A1 (round to nearest, monotone, exact on representable results): for a normal x with 2^e <= |x|,
    fl(|x|·2^-52) >= 2^(e-52) = ulp(x) >= succ(x) - x (2^(e-52) is a float), and adding 2^-1074 keeps it >= that;
    for a subnormal or zero x, succ(x) - x = 2^-1074 <= the addend. So the exact sum is >= succ(x), a float, and
    rounds to >= succ(x). A few cheap passes instead of libm's nextafter per element."""
    step = np.abs(x)
    step *= 2.0**-52
    step += 2.0**-1074
    step += x
    return step


def check_float_environment() -> None:
    """Raise RuntimeError unless numpy rounds to nearest with gradual underflow (assumption A1)."""
    one = np.ones(64)
    tiny = np.full(64, 2.0**-1022)
    nearest = np.all(one + 2.0**-54 == 1.0) and np.all(one + 3 * 2.0**-54 == 1.0 + 2.0**-52)
    nearest = nearest and np.all(-one - 3 * 2.0**-54 == -1.0 - 2.0**-52)
    gradual = np.all(tiny * 0.5 == 2.0**-1023) and np.all((tiny * 0.5) * 2.0 == tiny)
    gradual = gradual and (tiny[:2] * 0.5) @ np.full(2, 0.5) == 2.0**-1023
    if not (nearest and gradual):
        raise RuntimeError("floating-point environment is not round-to-nearest with subnormals; float bounds would be unsound")


def round_to_float(q: Fraction, up: bool) -> float:
    """The float nearest q on the requested side (q <= result if up, result <= q otherwise)."""
    if isinstance(q, float) and math.isinf(q):
        return q if (q > 0) == up else math.copysign(np.finfo(np.float64).max, q)
    return round_ratio(*q.as_integer_ratio(), up)


def round_ratio(n: int, d: int, up: bool) -> float:
    """`round_to_float` of n/d (d > 0) from the two integers: no Fraction is built (CPython's int / int is correctly
    rounded, and f = a/b < n/d iff a·d < n·b)."""
    try:
        f = n / d
    except OverflowError:
        f = math.inf if n > 0 else -math.inf
    if math.isinf(f):
        return f if (f > 0) == up else math.copysign(np.finfo(np.float64).max, f)
    step = math.inf if up else -math.inf
    a, b = f.as_integer_ratio()
    while (a * d < n * b) if up else (a * d > n * b):
        f = math.nextafter(f, step)
        if math.isinf(f):  # n/d is beyond the largest float, within half an ulp of it (so n / d did not overflow)
            return f
        a, b = f.as_integer_ratio()
    return f


def round_to_floats(values: Iterable[Fraction], up: bool) -> np.ndarray:
    return np.array([round_to_float(q, up) for q in values], dtype=np.float64)


def residuals_up(values: Iterable[Fraction], nearest: np.ndarray) -> np.ndarray:
    """Per entry a float >= |v - f| exactly, f the float `nearest` holds for v (|n·b - a·d| / (d·b) for v = n/d and
    f = a/b, rounded up)."""
    out = []
    for v, f in zip(values, nearest.tolist()):
        n, d = v.as_integer_ratio()
        a, b = f.as_integer_ratio()
        out.append(round_ratio(abs(n * b - a * d), d * b, True))
    return np.array(out, dtype=np.float64)


def _enclose(S: np.ndarray, T: np.ndarray, n: int) -> np.ndarray:
    """E >= |exact - S| for S = fl(Σ of n products) and T = fl(Σ of their absolute values) (A2)."""
    if n > 2**40:
        raise ValueError("dot product too long for the error bound")
    E = _up(_up(T * (n * 2.0**-52)) + n * 2.0**-1072)
    if not (np.all(np.isfinite(S)) and np.all(np.isfinite(E))):
        raise FloatOverflow
    return E


def enclose_difference(v: np.ndarray, s: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L, U) with L <= v - s·p <= U exactly, elementwise, for finite float arrays: the two-term dot product
    [v, -s]·[1, p] enclosed by `_enclose` (A1, A2 with n = 2). FloatOverflow if anything overflows."""
    S = v - s * p
    E = _enclose(S, np.abs(v) + np.abs(s * p), 2)
    U, L = _up(S + E), -_up(E - S)
    if not (np.all(np.isfinite(U)) and np.all(np.isfinite(L))):
        raise FloatOverflow
    return L, U


def _finite(X: np.ndarray) -> bool:
    """Every entry finite (NaN propagates through max and min)."""
    return X.size == 0 or bool(np.isfinite(X.max()) and np.isfinite(X.min()))


def apply(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """X @ y per row, X (rows, n) or batched (..., rows, n), y (n,) or batched (..., n)."""
    if y.ndim == 1:
        return X @ y
    return np.matmul(X, y[..., None])[..., 0]


NONPOSITIVE = "X <= 0"
"""Third element of an `upper` term (X, y, NONPOSITIVE): every entry of X is <= 0 (e.g. min(A, 0))."""


class FloatArith:
    """Float64 arithmetic with rigorous error bounds (assumptions A1, A2)."""

    exact = False
    one = np.ones(1)

    def upper(self, terms: Sequence[tuple]) -> np.ndarray:
        """A float >= Σ_t X_t @ y_t exactly, per row (and batch entry). Each row is one dot product of length
        n = Σ_t n_t, evaluated as fl(Σ_t fl(X_t @ y_t)): some order of its rounded products and sums, so A2 bounds
        its error by `_enclose` of fl(Σ_t fl(|X_t| @ |y_t|)) with that n. A term may be (X, y, |X|) when the caller
        has |X| at hand; if that is X itself (X >= 0) and y >= 0, X @ y is already a computed |X| @ |y|. A term
        (X, y, NONPOSITIVE) says X <= 0: then, if y >= 0, -(X @ y) is a computed |X| @ |y| (each product and partial
        sum is the negated one, exactly: rounding to nearest is symmetric)."""
        S = T = 0.0
        for t in terms:
            x, v = t[0], t[1]
            ax = t[2] if len(t) > 2 else None
            s = apply(x, v)
            if ax is x and np.all(v >= 0):
                S, T = S + s, T + s
            elif ax is NONPOSITIVE and np.all(v >= 0):
                S, T = S + s, T - s
            else:
                S, T = S + s, T + apply(np.abs(x) if ax is None or ax is NONPOSITIVE else ax, np.abs(v))
        U = _up(S + _enclose(S, T, sum(t[0].shape[-1] for t in terms)))
        if not np.all(np.isfinite(U)):
            raise FloatOverflow
        return U

    def substitute(self, Ap: np.ndarray, An: np.ndarray, su: np.ndarray, sl: np.ndarray, W: np.ndarray,
                   zabs: np.ndarray, habs: np.ndarray, extra: np.ndarray | None = None,
                   errors: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
        """One back-substitution step for A = Ap + An (Ap >= 0 >= An, at each entry one of them ±0; finite) and
        slopes su (where A >= 0) and sl (elsewhere), s for short: D = fl(A∘s), computed as fl(fl(Ap∘su) + fl(An∘sl))
        (one addend is a product with ±0, so ±0 and exact: the sum is exactly the other, rounded, product), |D|,
        S = fl(D @ W), and terms whose `upper` is >= the rounding error charged on inputs bounded by zabs, habs
        (>= 0), per row i (and batch entry), exactly:

            Σ_l |(A∘s)_il - D_il|·zabs_l + Σ_k |(D @ W)_ik - S_ik|·habs_k + Σ_l |D_il|·extra_l.

        Proof (A1, A2; m = the length of D's rows = W's rows, m <= 2^40). D_il is one rounded product: A2 with
        n = 1 (T̂ = |D_il|) gives |(A∘s)_il - D_il| <= 2^-52·|D_il| + 2^-1072. S_ik is a length-m dot product: by A2
        with the exact T (Higham Thm 3.1, γ_m <= m·2^-52 for m·2^-53 <= 1/2), |(D@W)_ik - S_ik| <=
        m·2^-52·Σ_l |D_il||W_lk| + m·2^-1072. Summed against zabs and habs:
            error_i <= Σ_l |D_il|·(2^-52·zabs_l + m·2^-52·Σ_k |W_lk|·habs_k + extra_l) + 2^-1072·(Σ_l zabs_l + m·Σ_k habs_k).
        g = upper(|W| @ habs) >= Σ_k |W_lk|·habs_k exactly, so v (below, every op rounded up by `_up`) is >= the
        bracket, and c >= the last term (Σ_l zabs_l <= len·max zabs; len·2^-1072 and m·len·2^-1072 are exact floats
        for len, m·len < 2^50). The returned terms are [(|D|, v), (c, 1)]: `upper` of them bounds Σ_l |D_il|·v_l + c.
        Instead of the elementwise error matrices |A∘s - D| and |D@W - S| and a second product |D| @ |W|, this costs
        one product |W| @ habs and one |D| @ v per step. v and c do not depend on A: `errors` = (v, c) from
        `substitute_errors(W, zabs, habs, extra)`, when the caller has them (every step through one layer shares
        them). FloatOverflow if D or S is not finite."""
        v, c = self.substitute_errors(W, zabs, habs, extra) if errors is None else errors
        D = Ap * su
        D += An * sl
        S = np.matmul(D, W)  # batched D (B, rows, m): one product per entry, kept small so BLAS does not thread
        aD = np.abs(D)
        if not (aD.size == 0 or np.isfinite(aD.max())) or not _finite(S):
            raise FloatOverflow
        return D, aD, S, [(aD, v, aD), (c, self.one, c)]

    def substitute_errors(self, W: np.ndarray, zabs: np.ndarray, habs: np.ndarray,
                          extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(v, c) of `substitute`'s error terms Σ_l |D_il|·v_l + c (see there), c shaped to broadcast against rows."""
        m = W.shape[-2]
        if m > 2**40 or m * habs.shape[-1] >= 2**50 or zabs.shape[-1] >= 2**50:
            raise ValueError("dot product too long for the error bound")
        aW = np.abs(W)
        g = self.upper([(aW, habs, aW)])  # |W| >= 0 and habs >= 0: the product is its own absolute-value sum
        v = _up(_up(zabs * 2.0**-52) + _up(g * (m * 2.0**-52)))
        if extra is not None:
            v = _up(v + extra)
        c = _up(_up(zabs.max(axis=-1, initial=0.0) * (zabs.shape[-1] * 2.0**-1072))
                + _up(habs.max(axis=-1, initial=0.0) * (m * habs.shape[-1] * 2.0**-1072)))
        return v, c[..., None, None]

    def fractions(self, values: Sequence[Fraction], up: bool) -> np.ndarray:
        return round_to_floats(values, up)

    def slopes(self, s: np.ndarray) -> np.ndarray:
        return s


class ExactArith:
    """Fraction arithmetic: no rounding, no error terms."""

    exact = True
    one = np.array([Fraction(1)], dtype=object)

    def upper(self, terms: Sequence[tuple]) -> np.ndarray:
        return sum((apply(t[0], t[1]) for t in terms[1:]), apply(terms[0][0], terms[0][1]))

    def substitute(self, Ap: np.ndarray, An: np.ndarray, su: np.ndarray, sl: np.ndarray, W: np.ndarray,
                   zabs: np.ndarray, habs: np.ndarray, extra: np.ndarray | None = None,
                   errors: None = None) -> tuple[np.ndarray, None, np.ndarray, list]:
        """D = Ap∘su + An∘sl and D @ W exactly: no rounding error to charge (extra is None on the exact path)."""
        D = Ap * su + An * sl
        return D, None, np.matmul(D, W), []

    def substitute_errors(self, W: np.ndarray, zabs: np.ndarray, habs: np.ndarray, extra: None = None) -> None:
        return None

    def fractions(self, values: Sequence[Fraction], up: bool) -> np.ndarray:
        return np.array(list(values), dtype=object)

    def slopes(self, s: np.ndarray) -> np.ndarray:
        return as_fractions(s)
