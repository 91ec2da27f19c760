"""Exact rational arrays as integers over one common denominator (the checker's own restatement)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np


# independent of prove/obligations.py:integer_form (the same fact, restated for the kernel)
def scaled_ints(arr: np.ndarray) -> tuple[np.ndarray, int]:
    """(N, D) with arr == N / D exactly: N an object array of Python ints, D > 0."""
    if arr.dtype == object:
        ratios = [(v if type(v) in (Fraction, int) else Fraction(v)).as_integer_ratio() for v in arr.flat]  # p/q, q > 0
        den = math.lcm(1, *(q for _, q in ratios))
        out = np.empty(arr.shape, dtype=object)
        out.flat[:] = [p * (den // q) for p, q in ratios]
        return out, den
    frac, exp = np.frexp(arr)  # arr = frac · 2**exp, |frac| in [0.5, 1): frac · 2**53 is an exact integer
    ints = (frac * 9007199254740992.0).astype(np.int64)
    exp = np.where(ints == 0, 0, exp.astype(np.int64) - 53)
    low = min(0, int(exp.min(initial=0)))
    pow2 = np.empty(int(exp.max(initial=0)) - low + 1, dtype=object)
    pow2[:] = [1 << n for n in range(len(pow2))]
    return ints.astype(object) * pow2[exp - low], 1 << -low


# Overflow-free int64 arithmetic: every operation below checks, from the operands' largest magnitudes, that its
# result fits in 62 bits before it runs in int64, and otherwise runs on Python ints (object arrays). Values are
# the same either way; int64 is only faster. (numpy's int64 arithmetic wraps silently: hence the checks.)

_BITS = 62


def max_bits(arr: np.ndarray) -> int | None:
    """Bit length of the largest |value| of an int64 array (0 when empty); None for object arrays."""
    if arr.dtype != np.int64:
        return None
    return int(np.abs(arr).max(initial=0)).bit_length()  # |x| < 2**62 for every array made here: no abs overflow


def as_objects(arr: np.ndarray) -> np.ndarray:
    """The same integers as an object array of Python ints."""
    return arr if arr.dtype == object else arr.astype(object)


def int_array(values: list[int]) -> np.ndarray:
    """Python ints as an int64 array when each fits in 62 bits, else as an object array."""
    if all(-(1 << _BITS) < v < (1 << _BITS) for v in values):
        return np.array(values, dtype=np.int64)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a * b exactly (broadcast): int64 when |a|·|b| < 2**62 is guaranteed, else Python ints."""
    ba, bb = max_bits(a), max_bits(b)
    if ba is not None and bb is not None and ba + bb <= _BITS:
        return a * b
    return as_objects(a) * as_objects(b)


def small_ints(arr: np.ndarray) -> tuple[np.ndarray, int]:
    """(N, D) with arr == N / D exactly, D > 0: for float arrays D is the smallest power of two that makes every
    value an integer, and N is int64 when all of them fit in 62 bits, else (and for object arrays) Python ints."""
    if arr.dtype == object:
        return scaled_ints(arr)
    frac, exp = np.frexp(arr.astype(np.float64, copy=False))
    ints = (frac * 9007199254740992.0).astype(np.int64)  # value = ints · 2**(exp - 53), |ints| < 2**53, exact
    nonzero = ints != 0
    if not nonzero.any():
        return np.zeros(arr.shape, dtype=np.int64), 1
    tz = np.frexp((ints & -ints)[nonzero].astype(np.float64))[1].astype(np.int64) - 1  # trailing zero bits
    odd = ints[nonzero] >> tz  # exact: the bits shifted out are zeros
    shift = exp[nonzero].astype(np.int64) - 53 + tz  # value = odd · 2**shift
    base = min(0, int(shift.min()))
    up = shift - base
    if int(up.max()) + int(np.abs(odd).max()).bit_length() <= _BITS:
        out = np.zeros(arr.shape, dtype=np.int64)
        out[nonzero] = odd << up
    else:
        pow2 = np.empty(int(up.max()) + 1, dtype=object)
        pow2[:] = [1 << n for n in range(len(pow2))]
        out = np.zeros(arr.shape, dtype=object)
        out[nonzero] = odd.astype(object) * pow2[up]
    return out, 1 << -base


# Exact integer equality by residues (the Chinese remainder theorem): integers x, y with |x| + |y| < 2**bits are
# equal iff x ≡ y modulo each of pairwise coprime moduli whose product is at least 2**bits. Residues of float
# arrays come straight from their bits (odd significand times a power of two), in int64 arithmetic that cannot
# overflow (every modulus is below 2**31, so a product of two residues is below 2**62).


def _coprime_moduli(count: int) -> tuple[int, ...]:
    out: list[int] = []
    m = (1 << 31) - 1
    while len(out) < count:
        if all(math.gcd(m, k) == 1 for k in out):
            out.append(m)
        m -= 2
    return tuple(out)


MODULI = _coprime_moduli(48)
"""Pairwise coprime moduli in (2**30, 2**31), enough for integers of up to 48·30 bits."""


def moduli_for(bits: int) -> tuple[int, ...] | None:
    """The fewest leading MODULI whose product is >= 2**bits (None when all of them are not enough)."""
    product = 1
    for k, m in enumerate(MODULI, start=1):
        product *= m
        if product >= 1 << bits:
            return MODULI[:k]
    return None


@dataclass(frozen=True)
class FloatParts:
    """A float array as integers over one power-of-two denominator: arr == odd · 2**up / den exactly, elementwise;
    `bits` bounds the integers: |odd · 2**up| < 2**bits."""

    odd: np.ndarray  # int32 for float32 arrays (|odd| < 2**24), else int64 (|odd| < 2**53); 0 for zero entries
    up: np.ndarray  # int16 >= 0 (a float64 spans fewer than 2**11 binary exponents)
    den: int
    bits: int


PARTS_BLOCK = 1 << 20
"""float_parts and residues work on blocks of this many entries (their temporaries stay small: peak memory)."""


def float_parts(arr: np.ndarray) -> FloatParts | None:
    """FloatParts of a float32/float64 array; None for object arrays (Fractions) and non-finite values."""
    if arr.dtype not in (np.float32, np.float64) or not np.all(np.isfinite(arr)):
        return None
    mant = 24 if arr.dtype == np.float32 else 53
    flat = arr.reshape(-1)
    odd = np.empty(flat.size, dtype=np.int32 if mant == 24 else np.int64)
    up = np.zeros(flat.size, dtype=np.int16)  # first the shifts exp - mant + tz (|·| < 1200), then made >= 0
    base = 0
    for lo in range(0, flat.size, PARTS_BLOCK):
        blk = slice(lo, lo + PARTS_BLOCK)
        frac, exp = np.frexp(flat[blk])
        ints = (frac * np.array(1 << mant, dtype=arr.dtype)).astype(np.int64)  # |ints| < 2**mant, exact
        nonzero = ints != 0
        tz = np.frexp((ints & -ints).astype(np.float64))[1].astype(np.int64) - 1  # trailing zero bits (0 for zeros)
        odd[blk] = np.where(nonzero, ints >> np.where(nonzero, tz, 0), 0)
        shift = np.where(nonzero, exp.astype(np.int64) - mant + tz, 0)
        up[blk] = shift
        if nonzero.any():
            base = min(base, int(shift[nonzero].min()))
    nonzero = odd != 0
    if not nonzero.any():
        zeros = np.zeros(arr.shape, dtype=np.int64)
        return FloatParts(zeros, zeros.astype(np.int16), 1, 0)
    up -= np.int16(base)
    up[~nonzero] = 0
    bits = int(up[nonzero].max()) + int(np.abs(odd).max()).bit_length()
    return FloatParts(odd.reshape(arr.shape), up.reshape(arr.shape), 1 << -base, bits)


@functools.lru_cache(maxsize=256)
def _powers_of_two(m: int, n: int) -> np.ndarray:
    out = np.empty(n, dtype=np.int64)
    v = 1
    for i in range(n):
        out[i] = v
        v = v * 2 % m
    return out


def residues(parts: FloatParts, m: int) -> np.ndarray:
    """(odd · 2**up) mod m in [0, m), as int64 (m < 2**31: the product of two residues fits), block by block."""
    table = _powers_of_two(m, int(parts.up.max(initial=0)) + 1)
    out = np.empty(parts.odd.shape, dtype=np.int64)
    odd, up, flat = parts.odd.reshape(-1), parts.up.reshape(-1), out.reshape(-1)
    for lo in range(0, flat.size, PARTS_BLOCK):
        blk = slice(lo, lo + PARTS_BLOCK)
        flat[blk] = (odd[blk].astype(np.int64) % m) * table[up[blk]] % m
    return out


def residue_list(values: list[int], m: int) -> np.ndarray:
    """Python ints mod m, as int64."""
    return np.array([v % m for v in values], dtype=np.int64)
