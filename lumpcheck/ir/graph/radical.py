"""Exact real numbers of the form Σ c_n·√n (c_n rational, n positive integer): what BatchNorm produces.

BatchNormalization multiplies by γ/√(var + ε), irrational in general. Values of a piecewise-linear graph with
BatchNorm are finite sums of rationals times square roots of integers, closed under +, −, × and division by
rationals, so they are computed here exactly; no float ever decides.

Zero test (exact). Write the radicands of a sum over a *coprime base* b_1…b_k (pairwise coprime integers,
obtained by gcd refinement, no factoring), pull out squares (b = c² ⇒ use c), and reduce each √n to
q·√(Π_{i∈S} b_i) with S the bases of odd exponent. For distinct sets S these square roots are linearly
independent over ℚ: write b_i = s_i²·f_i with f_i > 1 squarefree (b_i is not a square); pairwise coprime b_i
give pairwise coprime f_i, so Π_{i∈S} f_i are distinct squarefree integers, and square roots of distinct
squarefree integers are linearly independent (Besicovitch, 1940). So the sum is 0 iff every collected
coefficient is 0.

Sign (exact). isqrt gives ⌊√(n·4^p)⌋/2^p ≤ √n < (⌊√(n·4^p)⌋ + 1)/2^p; summing c·[lo, hi] in Fractions encloses the
value. A nonzero value is separated from 0 at some precision p, so doubling p terminates; zero is caught by
the zero test first.
"""

from __future__ import annotations

from fractions import Fraction
from math import gcd, isqrt
from typing import Mapping

Rational = Fraction | int


def _square_split(n: int) -> tuple[int, int]:
    """n = s²·m with the obvious square part (perfect square or gcd-free); only a partial simplification."""
    r = isqrt(n)
    if r * r == n:
        return r, 1
    return 1, n


def coprime_base(numbers: list[int]) -> list[int]:
    """Pairwise coprime non-square integers > 1 generating every input multiplicatively (gcd refinement).

    Each refinement step replaces coprime-violating b, x by b/g, g, x/g (g = gcd > 1), which lowers the product
    of all pending numbers, so the loop ends; square roots of perfect squares keep the prime sets, hence coprimality.
    """
    base: list[int] = []
    work = [n for n in numbers if n > 1]
    while work:
        x = work.pop()
        if x == 1:
            continue
        for i, b in enumerate(base):
            g = gcd(x, b)
            if g > 1:
                base.pop(i)
                work += [b // g, g, x // g]
                break
        else:
            base.append(x)
    out = []
    for b in base:
        while True:
            r = isqrt(b)
            if r * r != b:
                break
            b = r
        out.append(b)
    return out


def _reduce(n: int, base: list[int]) -> tuple[int, frozenset[int]]:
    """√n = q·√(Π base[S]) with integer q: returns (q, S)."""
    q, odd = 1, set()
    for i, b in enumerate(base):
        e = 0
        while n % b == 0:
            n //= b
            e += 1
        q *= b ** (e // 2)
        if e % 2:
            odd.add(i)
    assert n == 1, f"radicand left {n} after dividing by the coprime base {base}"
    return q, frozenset(odd)


class Radical:
    """Σ c_n·√n exactly; `terms` maps radicand n >= 1 (1 = rational part) to a nonzero Fraction."""

    __slots__ = ("terms",)

    def __init__(self, terms: Mapping[int, Rational]):
        self.terms = {int(n): Fraction(c) for n, c in terms.items() if c != 0}

    # -- construction

    @staticmethod
    def make(terms: Mapping[int, Rational]) -> "Radical | Fraction":
        """A Radical, or a plain Fraction when only the rational part is left (keeps Fraction arrays fast)."""
        r = Radical(terms)
        if not r.terms:
            return Fraction(0)
        if set(r.terms) == {1}:
            return r.terms[1]
        return r

    @staticmethod
    def sqrt(q: Rational) -> "Radical | Fraction":
        """√q for rational q >= 0, as (1/den)·√(num·den)."""
        q = Fraction(q)
        if q < 0:
            raise ValueError(f"square root of the negative number {q}")
        n = q.numerator * q.denominator
        s, m = _square_split(n)
        return Radical.make({m: Fraction(s, q.denominator)})

    @staticmethod
    def inverse_sqrt(q: Rational) -> "Radical | Fraction":
        """1/√q for rational q > 0, as √q / q."""
        q = Fraction(q)
        if q <= 0:
            raise ValueError(f"1/√q needs q > 0, got {q}")
        root = Radical.sqrt(q)
        return root / q

    # -- arithmetic

    @staticmethod
    def _terms(x: object) -> dict[int, Fraction] | None:
        if isinstance(x, Radical):
            return x.terms
        if isinstance(x, (Fraction, int)):
            return {1: Fraction(x)} if x != 0 else {}
        return None

    def __add__(self, other: object):
        t = Radical._terms(other)
        if t is None:
            return NotImplemented
        out = dict(self.terms)
        for n, c in t.items():
            out[n] = out.get(n, 0) + c
        return Radical.make(out)

    __radd__ = __add__

    def __neg__(self):
        return Radical.make({n: -c for n, c in self.terms.items()})

    def __pos__(self):
        return self

    def __sub__(self, other: object):
        t = Radical._terms(other)
        if t is None:
            return NotImplemented
        return self + Radical.make({n: -c for n, c in t.items()})

    def __rsub__(self, other: object):
        return (-self) + other

    def __mul__(self, other: object):
        if isinstance(other, (Fraction, int)):  # the common case (scaling a row): no radicand products
            return Radical.make({n: c * other for n, c in self.terms.items()})
        t = Radical._terms(other)
        if t is None:
            return NotImplemented
        out: dict[int, Fraction] = {}
        for n, c in self.terms.items():
            for m, d in t.items():
                g = gcd(n, m)
                k = (n // g) * (m // g)
                s, k = _square_split(k)
                out[k] = out.get(k, 0) + c * d * g * s
        return Radical.make(out)

    __rmul__ = __mul__

    def __truediv__(self, other: object):
        if isinstance(other, (Fraction, int)):
            if other == 0:
                raise ZeroDivisionError("Radical divided by zero")
            return Radical.make({n: c / other for n, c in self.terms.items()})
        return NotImplemented

    # -- exact decisions

    def is_zero(self) -> bool:
        base = coprime_base([n for n in self.terms if n > 1])
        collected: dict[frozenset[int], Fraction] = {}
        for n, c in self.terms.items():
            q, s = _reduce(n, base)
            collected[s] = collected.get(s, 0) + c * q
        return all(v == 0 for v in collected.values())

    def scaled_bounds(self, bits: int) -> tuple[int, int, int]:
        """Integers (lo, hi, den) with lo/den <= value <= hi/den, den = lcm of the coefficients' denominators · 2^bits:
        each √n is enclosed by [r, r + 1]/2^bits, r = isqrt(n·4^bits) (r exactly when n·4^bits = r²)."""
        den = 1
        for c in self.terms.values():
            den = den * c.denominator // gcd(den, c.denominator)
        lo = hi = 0
        for n, c in self.terms.items():
            m = n << (2 * bits)
            r = isqrt(m)
            k = c.numerator * (den // c.denominator)
            a, b = k * r, k * (r if r * r == m else r + 1)
            lo += min(a, b)
            hi += max(a, b)
        return lo, hi, den << bits

    def enclosure(self, bits: int) -> tuple[Fraction, Fraction]:
        """Rational lo <= value <= hi from √n enclosures with `bits` fractional bits."""
        lo, hi, den = self.scaled_bounds(bits)
        return Fraction(lo, den), Fraction(hi, den)

    def float_and_error(self, bits: int = 96) -> tuple[float, float]:
        """(f, r): a float f near the value v and a float r >= |v − f|, from `scaled_bounds` in integers only.

        With [lo, hi]/den enclosing v and m = (lo + hi)/(2·den): |v − m| <= t = (hi − lo)/(2·den), f = fl(m) (Python's
        int/int division rounds correctly) so |m − f| <= |f|·2^-53 + 2^-1075. r = fl(fl(fl(t)·(1 + 2^-50)) + |f|·2^-52
        + 2^-1074)·(1 + 2^-40): each rounding loses at most a factor (1 − 2^-53), which the factors (1 + 2^-50),
        2 (in 2^-52) and (1 + 2^-40) repay, and |f|·2^-52 underflows by at most 2^-1075, which 2^-1074 repays.
        OverflowError beyond the float range."""
        lo, hi, den = self.scaled_bounds(bits)
        f = (lo + hi) / (2 * den)
        t = (hi - lo) / (2 * den)
        r = (t * (1 + 2.0**-50) + abs(f) * 2.0**-52 + 2.0**-1074) * (1 + 2.0**-40)
        return f, r

    def sign(self) -> int:
        bits = 64
        lo, hi = self.enclosure(bits)
        if lo > 0 or hi < 0:
            return 1 if lo > 0 else -1
        if self.is_zero():
            return 0
        while True:
            bits *= 2
            lo, hi = self.enclosure(bits)
            if lo > 0:
                return 1
            if hi < 0:
                return -1

    def _cmp(self, other: object) -> int | None:
        d = self - other if Radical._terms(other) is not None else None
        if d is None or d is NotImplemented:
            return None
        return d.sign() if isinstance(d, Radical) else (d > 0) - (d < 0)

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        c = self._cmp(other)
        return NotImplemented if c is None else c == 0

    def __lt__(self, other: object):
        c = self._cmp(other)
        return NotImplemented if c is None else c < 0

    def __le__(self, other: object):
        c = self._cmp(other)
        return NotImplemented if c is None else c <= 0

    def __gt__(self, other: object):
        c = self._cmp(other)
        return NotImplemented if c is None else c > 0

    def __ge__(self, other: object):
        c = self._cmp(other)
        return NotImplemented if c is None else c >= 0

    __hash__ = None  # type: ignore[assignment]

    def __float__(self) -> float:
        lo, hi, den = self.scaled_bounds(80)
        return (lo + hi) / (2 * den)

    def sympy(self):
        """The same number as a sympy expression (for symbolic continuation through sigmoid/softmax)."""
        import sympy

        return sympy.Add(*[sympy.Rational(c.numerator, c.denominator) * sympy.sqrt(n) for n, c in self.terms.items()])

    def __repr__(self) -> str:
        parts = [f"{c}" if n == 1 else f"{c}·√{n}" for n, c in sorted(self.terms.items())]
        return "Radical(" + " + ".join(parts) + ")"


def rational_sqrt(q: Fraction) -> Fraction | None:
    """√q when q >= 0 is the square of a rational (then `Radical.sqrt` gives a Fraction), else None."""
    if q < 0:
        return None
    root = Radical.sqrt(q)
    return root if isinstance(root, Fraction) else None
