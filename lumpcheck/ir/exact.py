"""Exact numbers for the IR: float64 arrays hold dyadic rationals exactly; object arrays hold Fractions.

A float *is* a rational, so a float array read from a model is already exact. Derived values that are
not floats (ratios, long sums) live in object arrays of `fractions.Fraction`. Nothing here rounds.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np

Number = Fraction | int
ONE = Fraction(1)
"""Fraction(1), built once (hot loops compare and multiply with it)."""
FLOAT32_MAX = Fraction(float(np.finfo(np.float32).max))
"""The largest float32."""
NO_CLIP = Fraction(2) ** 1024
"""A clip side at or beyond ±NO_CLIP means no bound on that side. No float, float64 included, reaches it, so every
finite clip bound a file holds is a real clip: reading ±FLOAT32_MAX as 'no bound' once dropped a float64 model's
clip at 3.4e38, and `verify` then called it equal to the unclipped model on a box reaching 1e39."""


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
    """Canonical exact array: float64 when every value is a float64 exactly, else object array of Fractions.
    A float64 array is returned as it is (no copy)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        out = arr.astype(np.float64, copy=False)
        if arr.dtype.kind == "f" and not all_finite(arr):
            raise ValueError("array contains NaN or Inf")
        if arr.dtype.kind in "iu" and np.any(out.astype(arr.dtype) != arr):
            return _fractions(arr)
        return out
    fr = _fractions(arr)
    return canonical(fr)


def all_finite(arr: np.ndarray) -> bool:
    """No NaN or infinity in a float array: one `np.isfinite` pass per block of rows, so that its bool temporary
    stays small (at most FINITE_BLOCK entries, or one row)."""
    if arr.ndim < 2 or arr.size <= FINITE_BLOCK:
        return bool(np.isfinite(arr).all())
    step = max(1, FINITE_BLOCK // arr[0].size)
    return all(bool(np.isfinite(arr[k : k + step]).all()) for k in range(0, len(arr), step))


FINITE_BLOCK = 1 << 18
"""Entries per `all_finite` pass (a 256 KiB bool temporary: in cache, and nothing next to the arrays' size)."""


def _fractions(arr: np.ndarray) -> np.ndarray:
    out = np.empty(arr.shape, dtype=object)
    out.reshape(-1)[:] = [v if type(v) is Fraction else to_fraction(v) for v in arr.reshape(-1)]
    return out


def canonical(arr: np.ndarray) -> np.ndarray:
    """Turn an object array of Fractions back into float64 when that is exact (keeps the fast path fast)."""
    if arr.dtype != object:
        return arr
    flat = arr.reshape(-1)
    floats = np.empty(flat.shape, dtype=np.float64)
    for i, v in enumerate(flat):
        try:
            f = float(v)
        except OverflowError:  # beyond float64's range: stays an exact Fraction
            return arr
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


def dyadic_ints(values: np.ndarray) -> tuple[np.ndarray, int]:
    """(integers as an object array, s) with values == integers·2^-s exactly (finite float64 values)."""
    mant, exp = np.frexp(values)  # values = mant·2^exp, mant in [0.5, 1)
    ints = (mant * 2.0**53).astype(np.int64)  # exact: 53-bit mantissas
    low = exp.astype(np.int64) - 53
    nonzero = ints != 0
    s = int(-low[nonzero].min()) if nonzero.any() else 0
    shifts = np.where(nonzero, low + s, 0)
    out = np.empty(values.shape, dtype=object)
    flat_out, flat_i, flat_s = out.reshape(-1), ints.reshape(-1), shifts.reshape(-1)
    for i in range(flat_out.size):
        flat_out[i] = int(flat_i[i]) << int(flat_s[i])
    return out, s


def exact_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Exact equality of two exact arrays of the same shape."""
    if a.shape != b.shape:
        return False
    if a.dtype == np.float64 and b.dtype == np.float64:
        return bool(np.array_equal(a, b))
    return bool(np.all(as_fractions(a) == as_fractions(b)))


def ceil_float(x: Fraction) -> float:
    """The smallest float64 >= x (OverflowError beyond the float64 range)."""
    f = float(x)
    return f if Fraction(f) >= x else math.nextafter(f, math.inf)


def float_with_error(q: Fraction) -> tuple[float, float]:
    """(f, r): the float nearest the exact rational q and a float r >= |q − f| (0 when q is a float: a numerator of
    at most 53 bits over a power of two in the normal range, divided exactly)."""
    n, d = q.as_integer_ratio()
    if d & (d - 1) == 0 and abs(n).bit_length() <= 53 and d.bit_length() <= 1021:
        return n / d, 0.0
    f = float(q)
    return f, ceil_float(abs(q - Fraction(f)))


def floor_float(x: Fraction) -> float:
    """The largest float64 <= x (OverflowError beyond the float64 range)."""
    return -ceil_float(-x)


def fraction_str(x: Fraction | int) -> str:
    """'p/q' (or 'p') text form of an exact rational, as used in certificates."""
    x = Fraction(x)
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?")
_MAX_EXPONENT = 400
"""Beyond every float64 both ways (they span 5e-324 .. 1.8e308): a larger exponent is a malformed file, not a weight
or a bound (10**huge would hang; 10**9999 has more digits than Python prints)."""


def parse_decimal(text: str) -> Fraction:
    """Exact value of a decimal literal ('-0.5', '1.25e-3'): the text is the number, no float in between."""
    m = _DECIMAL.fullmatch(text)
    if m is None:
        raise ValueError(f"not a finite decimal number: {text!r}")
    if m.group(1) is not None and abs(int(m.group(1))) > _MAX_EXPONENT:
        raise ValueError(f"exponent out of range in {text!r}")
    return Fraction(text)


_QUOTIENT = re.compile(r"([+-]?[0-9]+)/([0-9]+)")


def parse_exact(text: str) -> Fraction:
    """The rational a user's number spells: a decimal as `parse_decimal` reads it ('0.05', '1e-3'; exponents within
    ±400) or a quotient of integers 'p/q' ('1/1024'). Fraction(text) alone would compute 10**99999999 for
    '1e99999999' (minutes) before any check of its size."""
    text = text.strip()
    m = _QUOTIENT.fullmatch(text)
    if m is not None:
        if int(m[2]) == 0:
            raise ValueError(f"{text!r} divides by zero")
        return Fraction(int(m[1]), int(m[2]))
    return parse_decimal(text)


# ASCII digits and an exponent of at most 400 after leading zeros (_MAX_EXPONENT): every text it matches is one
# that parse_decimal accepts, and Decimal reads it exactly.
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?0*(?:[0-9]{1,2}|[1-3][0-9]{2}|400))?")


def parse_decimals(texts: Sequence[str]) -> list[Fraction]:
    """`parse_decimal` of each text: the same values and the same errors, about 3x faster (the .nnet reader's loop).

    When every text is a plain decimal, each is read by the C `decimal` module, whose constructor is exact (no
    context rounding) and whose `as_integer_ratio` is the reduced p/q; otherwise `parse_decimal` reads them one by
    one and raises on the first bad one."""
    if all(map(_PLAIN_DECIMAL.fullmatch, texts)):
        return [Fraction(*Decimal(t).as_integer_ratio()) for t in texts]
    return [parse_decimal(t) for t in texts]


def decimal_str(x: Fraction | int | float) -> str:
    """Exact finite decimal text of a rational (every float has one); ValueError when none exists (e.g. 1/3)."""
    x = to_fraction(x)
    twos = (x.denominator & -x.denominator).bit_length() - 1
    q, fives = x.denominator >> twos, 0
    while q % 5 == 0:
        q, fives = q // 5, fives + 1
    if q != 1:
        raise ValueError(f"{x} has no finite decimal expansion; round it first")
    digits = max(twos, fives)
    scaled = abs(x.numerator) * 10**digits // x.denominator
    sign = "-" if x < 0 else ""
    if digits == 0:
        return f"{sign}{scaled}"
    whole, frac = divmod(scaled, 10**digits)
    return f"{sign}{whole}.{frac:0{digits}d}"


def parse_fractions(items: Iterable[str]) -> list[Fraction]:
    """Inverse of `fraction_str` for a list."""
    return [Fraction(s) for s in items]


# Error-free float64 transforms: prove a float computation exact without leaving float64 (the fast path).

EFT_MIN = 2.0**-480  # in [EFT_MIN, EFT_MAX] Dekker's product error is exact: no overflow, and every
EFT_MAX = 2.0**480  # intermediate is a multiple of 2**-1074, so even subnormal results are not rounded
_SPLITTER = 2.0**27 + 1.0  # Veltkamp split of a 53-bit significand into two 26-bit halves


def gradual_underflow() -> bool:
    """False when the FPU flushes subnormals (FTZ/DAZ, as some -ffast-math libraries set on import): the
    transforms below assume IEEE gradual underflow, so callers must then use Fractions instead. Asked at every call
    (a library loaded later may set the flags): one numpy multiply, as the arrays' own arithmetic is done."""
    tiny = _TINY * _HALF
    return bool(tiny[0] != 0 and tiny[1] != 0)


_TINY, _HALF = np.array([2.0**-1022, 5e-324]), np.array([0.5, 1.0])  # the smallest normal and subnormal, times 1/2, 1
_TINY.flags.writeable = _HALF.flags.writeable = False


def eft_safe(x: np.ndarray) -> np.ndarray:
    """Mask of entries where `two_product` is error-free: zero, or magnitude within [EFT_MIN, EFT_MAX]."""
    ax = np.abs(x)
    return (ax == 0) | ((ax >= EFT_MIN) & (ax <= EFT_MAX))


def exact_add(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s = fl(a + b) and a mask of the entries where s != a + b (overflow included).

    The sum is exact iff fl(s - a) == b and fl(s - b) == a: if it is exact both differences are floats; if not,
    the difference taken with the operand of larger magnitude is still computed exactly (the Fast2Sum lemma,
    radix 2, round to nearest) and so differs from the other operand.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        s = a + b
        diff = s - a
        inexact = diff != b
        np.subtract(s, b, out=diff)
        inexact |= diff != a
    return s, inexact


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = _SPLITTER * a
    hi = t - (t - a)
    return hi, a - hi


def two_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dekker's TwoProduct: p = fl(a·b) and e with p + e = a·b exactly wherever eft_safe(a) & eft_safe(b)."""
    with np.errstate(over="ignore", invalid="ignore"):  # outside the safe range the result is not used
        p = a * b
        ah, al = _split(a)
        bh, bl = _split(b)
        e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def exact_scale(x: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """c·x in float64 (c broadcast against x) and a mask of the entries NOT proven exact (NaN/overflow included)."""
    c = np.asarray(c, dtype=np.float64)
    ac = np.abs(c)
    if np.all(ac == 1):
        p = x * c
        return p, np.zeros(p.shape, dtype=bool)
    if np.all(np.frexp(ac)[0] == 0.5):  # powers of two: scaling back by 1/c is exact, so it returns x iff c·x was
        with np.errstate(over="ignore", invalid="ignore"):
            p = x * c
            return p, (p / c) != x
    p, e = two_product(x, c)
    return p, (e != 0) | ~(eft_safe(x) & eft_safe(c))
