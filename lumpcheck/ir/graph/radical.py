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

    def enclosure(self, bits: int) -> tuple[Fraction, Fraction]:
        """Rational lo <= value <= hi from √n enclosures with `bits` fractional bits."""
        lo = hi = Fraction(0)
        scale = 1 << bits
        for n, c in self.terms.items():
            r = isqrt(n * scale * scale)
            a, b = Fraction(r, scale), Fraction(r + 1, scale)
            if r * r == n * scale * scale:
                b = a
            lo += c * (a if c > 0 else b)
            hi += c * (b if c > 0 else a)
        return lo, hi

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
        lo, hi = self.enclosure(80)
        return float((lo + hi) / 2)

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
