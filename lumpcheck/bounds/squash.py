"""Sigmoid and tanh for the sound bounds: rational enclosures of σ (from `exp_enclosure`'s integer units, outward
rounded, not libm) and rigorous offsets of linear relaxations σ(z) ≷ s·z + r on [l, u] for ANY slope s >= 0.

Offsets: f(z) = σ(z) − s·z on [l, u] is cut at 0 and around the points where σ' = s (float estimates, only hints).
σ' is increasing on z < 0 and decreasing on z > 0, so on a piece [a, b] inside one side σ' − s lies between its
values at a and b: when enclosures of both have the same strict sign, f is monotone on the piece and its extremes
are at a and b (σ enclosed there). Any other piece (a wrong or imprecise hint, a piece around a critical point) is
bounded crudely but soundly by monotonicity of σ and of s·z: f <= σ(b) − s·a, f >= σ(a) − s·b. The hints only decide
how tight the result is, never whether it holds.

Also the range of σ' on an interval (`derivative_range`, for the difference bounds' secant slopes), from e^−x
enclosed by a Taylor sum with squarings rounded outward (`exp_enclosure`, also the checker's bound of
exp(L⁻) for delta-top1 claims).
"""

from __future__ import annotations

import math
from fractions import Fraction

from ..ir.activation import Activation
from ..ir.exact import ceil_float, floor_float

SQUASH_PRECISION = 120
"""Significant bits of the enclosures of sigmoid/tanh (and their slopes) at a point (`_point`)."""
SQUASH_CLAMP = Fraction(1024)  # beyond ±this, sigmoid/tanh bounds use their limits (0/-1, 1) or the clamp point
BRACKET = Fraction(1, 2**30)
"""Half-width (relative to max(1, |z*|)) of the piece left around each estimated critical point z*."""


def squash_enclosure(kind: str, l: Fraction, u: Fraction) -> tuple[Fraction, Fraction]:
    """Rational lo <= σ(z) <= hi for all z in [l, u], σ monotone sigmoid or tanh (`_point`'s enclosures)."""
    floor = Fraction(0) if kind == "sigmoid" else Fraction(-1)
    lo = floor if l < -SQUASH_CLAMP else _point(kind, min(l, SQUASH_CLAMP))[0]
    hi = Fraction(1) if u > SQUASH_CLAMP else _point(kind, max(u, -SQUASH_CLAMP))[1]
    return max(lo, floor), min(hi, Fraction(1))


def squash_relaxation(kind: str, l: Fraction, u: Fraction, su: Fraction, sl: Fraction) -> tuple[Fraction, ...]:
    """(min σ, max σ, r_u >= max(σ(z) − su·z), r_l <= min(σ(z) − sl·z)) over z in [l, u], slopes >= 0 (module
    docstring); slopes 0 need only σ's enclosure at the ends."""
    lo, hi = squash_enclosure(kind, l, u)
    if su == 0 and sl == 0:
        return lo, hi, hi, lo
    if su < 0 or sl < 0 or u - l > 2 * SQUASH_CLAMP:
        raise ValueError(f"sigmoid/tanh relaxation slopes must be >= 0 on a bounded span, got {su}, {sl} on [{l}, {u}]")
    points = sorted({l, u} | {p for p in _hints(kind, (su, sl)) if l < p < u})
    at = [_point(kind, p) for p in points]
    pieces = list(zip(points, points[1:], at, at[1:])) or [(l, u, at[0], at[0])]
    ru = max(_piece(piece, su, upper=True) for piece in pieces)
    rl = min(_piece(piece, sl, upper=False) for piece in pieces)
    return lo, hi, ru, rl


def _hints(kind: str, slopes: tuple[Fraction, ...]) -> list[Fraction]:
    """0 and, for each slope, the estimated points where σ' equals it, each with a small bracket around it."""
    out = [Fraction(0)]
    for s in {float(s) for s in slopes}:
        for z in critical_points(kind, s):
            half = BRACKET * max(1, abs(Fraction(z)))
            out += [Fraction(z) - half, Fraction(z) + half]
    return out


def critical_points(kind: str, s: float) -> list[float]:
    """Float estimates of the z with σ'(z) = s (none when s is above max σ' or too small to resolve)."""
    top = 0.25 if kind == "sigmoid" else 1.0
    if not 0 < s < top:
        return []
    if kind == "sigmoid":  # σ(1 − σ) = s
        p = (1 + math.sqrt(1 - 4 * s)) / 2
        z = math.log(p / (1 - p)) if p < 1 else None
    else:  # 1 − tanh² = s
        t = math.sqrt(1 - s)
        z = math.atanh(t) if t < 1 else None
    return [] if z is None or not math.isfinite(z) else [z, -z]


def _point(kind: str, q: Fraction, bits: int = SQUASH_PRECISION) -> tuple[Fraction, Fraction, Fraction, Fraction]:
    """Enclosures (σ lo, σ hi, σ' lo, σ' hi) at the point q (|q| <= SQUASH_CLAMP), dyadic with `bits` significant
    bits (so that σ(−1024) keeps a positive lower bound).

    With E = e^(k|q|) (k = 1 sigmoid, 2 tanh) from `exp_enclosure`'s integer units: the small side s = c/(1 + E)
    (c = 1 sigmoid, 2 tanh) decreases in E, and σ(q) = s or 1 − s (sigmoid, q < 0 or >= 0), 1 − s or s − 1 (tanh,
    q >= 0 or < 0). σ' is even: E/(1 + E)² (sigmoid) or 4E/(1 + E)² (tanh), decreasing in E >= 1. Every quotient is
    rounded down for lower and up for upper bounds."""
    c, k = (1, 1) if kind == "sigmoid" else (2, 2)
    e_lo, e_hi = _exp_unit_bounds(abs(q) * k, bits, None)  # units of 2^-bits
    one = 1 << bits
    s_lo, s_hi = _quotient(c * one, one + e_hi, bits, False), _quotient(c * one, one + e_lo, bits, True)
    d_lo = _quotient(c * c * e_hi * one, (one + e_hi) ** 2, bits, False)
    d_hi = _quotient(c * c * e_lo * one, (one + e_lo) ** 2, bits, True)
    if kind == "sigmoid":
        y = (s_lo, s_hi) if q < 0 else (1 - s_hi, 1 - s_lo)
    else:
        y = (1 - s_hi, 1 - s_lo) if q >= 0 else (s_lo - 1, s_hi - 1)
    return _rounded(y[0], bits, False), _rounded(y[1], bits, True), d_lo, d_hi


def _quotient(num: int, den: int, bits: int, up: bool) -> Fraction:
    """num/den (num, den > 0) rounded down (up: up) to `bits` significant bits, as a dyadic Fraction."""
    shift = max(bits - (num.bit_length() - den.bit_length()), 0)
    q, r = divmod(num << shift, den)
    return Fraction(q + (1 if up and r else 0), 1 << shift)


def _rounded(v: Fraction, bits: int, up: bool) -> Fraction:
    """v rounded down (up: up) to `bits` significant bits (1 − s for a tiny s would otherwise carry s's thousand-bit
    denominator into every later sum)."""
    if v == 0:
        return v
    if v > 0:
        return _quotient(v.numerator, v.denominator, bits, up)
    return -_quotient(-v.numerator, v.denominator, bits, not up)


def _piece(piece: tuple, s: Fraction, upper: bool) -> Fraction:
    """A bound of σ(z) − s·z on the piece [a, b] (upper: from above): at its ends when σ' − s has one strict sign at
    both ends (no piece straddles 0, a cut point whenever l < 0 < u: σ' is monotone on the piece, so f is); else
    σ(b) − s·a (upper) or σ(a) − s·b (lower), by monotonicity of σ and s·z."""
    a, b, pa, pb = piece
    signs = [1 if p[2] > s else -1 if p[3] < s else 0 for p in (pa, pb)]
    if signs[0] == signs[1] != 0:
        ends = (pa[1] - s * a, pb[1] - s * b) if upper else (pa[0] - s * a, pb[0] - s * b)
        return max(ends) if upper else min(ends)
    return pb[1] - s * a if upper else pa[0] - s * b


def derivative_range(act: Activation, lo: Fraction, hi: Fraction) -> tuple[Fraction, Fraction]:
    """Floats (as Fractions) d0 <= σ'(z) <= d1 for every z in [lo, hi], σ sigmoid or tanh.

    σ'(z) = g(e^−|z|) for sigmoid and 4·g(e^−2|z|) for tanh, with g(e) = e/(1 + e)² increasing on [0, 1]: the
    maximum is at the point of [lo, hi] nearest 0, the minimum at the farthest; e^−x is enclosed by `exp_neg`."""
    near = Fraction(0) if lo <= 0 <= hi else min(abs(lo), abs(hi))
    far = max(abs(lo), abs(hi))
    k, scale = (1, 1) if act.kind == "sigmoid" else (2, 4)
    low, high = exp_neg(k * far)[0], exp_neg(k * near)[1]
    return Fraction(floor_float(scale * low / (1 + low) ** 2)), Fraction(ceil_float(scale * high / (1 + high) ** 2))


EXP_BITS = 120
"""`exp_enclosure` rounds every step outward to a multiple of 2^-bits, by default 2^-EXP_BITS."""


def exp_enclosure(x: Fraction, cap: Fraction | None = None, bits: int = EXP_BITS) -> tuple[Fraction, Fraction]:
    """lo <= e^x <= hi for a rational x >= 0, as multiples of 2^-bits. x is rounded outward to that grid first (lo
    from the grid point below, hi from the one above: e^x increases); then, with y = x/2^s <= 1/2, e^y lies between a
    Taylor sum S (cut once a term t is at most one unit) and S + 2·t (the later terms shrink at least by y <= 1/2
    each), and e^x = (e^y)^(2^s). Every term, sum and square is an integer count of units rounded down for lo and
    up for hi. With `cap`, a returned hi > cap means only 'e^x is not shown to be <= cap' (the squarings stop once a
    value exceeds cap, lo staying a lower bound; or e^x >= 1 + x > cap): a huge, maybe tampered, x costs no huge
    numbers."""
    if x < 0:
        raise ValueError(f"exp_enclosure needs x >= 0, not {x}")
    if cap is not None and 1 + x > cap:
        return 1 + x, 1 + x
    lo, hi = _exp_unit_bounds(x, bits, cap)
    return Fraction(lo, 1 << bits), Fraction(hi, 1 << bits)


def _exp_unit_bounds(x: Fraction, bits: int, cap: Fraction | None) -> tuple[int, int]:
    """exp_enclosure's (lo, hi) in units of 2^-bits: x rounded down to the grid for lo, up for hi."""
    n, d = x.numerator << bits, x.denominator
    return _exp_units(n // d, bits, False, cap), _exp_units(-(-n // d), bits, True, cap)


def _exp_units(units: int, bits: int, up: bool, cap: Fraction | None) -> int:
    """A lower (up=False) or upper bound of e^(units/2^bits) in units of 2^-bits (exp_enclosure's method); with cap,
    the squarings stop once the value exceeds it."""
    s = 0
    while units > 1 << (bits + s - 1):
        s += 1
    scale = 1 << (bits + s)  # y = units / scale <= 1/2
    total, term, k = 0, 1 << bits, 0
    while term > (1 if up else 0):
        total, k = total + term, k + 1
        term = -(-term * units // (scale * k)) if up else term * units // (scale * k)
    value = total + 2 * term if up else total
    for _ in range(s):
        if cap is not None and value * cap.denominator > cap.numerator << bits:
            break
        value = -(-value * value >> bits) if up else value * value >> bits
    return value


def exp_neg(x: Fraction) -> tuple[Fraction, Fraction]:
    """Floats (as Fractions) lo <= e^−x <= hi for x >= 0, from `exp_enclosure`; beyond x = 700, (0, 2^−1000)."""
    if x > 700:
        return Fraction(0), Fraction(1, 2**1000)
    low, high = exp_enclosure(x, bits=64)
    return Fraction(floor_float(1 / high)), Fraction(ceil_float(1 / low))
