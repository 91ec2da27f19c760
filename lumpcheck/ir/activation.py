"""Element-wise activations of the exact IR, and the facts about them that the rest of lumpcheck uses.

One place for each fact: evaluation (exact, symbolic, float), the Lipschitz constant, a rational enclosure of the
image of an interval, the factors c with σ(c·z) = c·σ(z) + offset (what lumping may merge), and the slope on a
stable phase. The checker restates the few it needs independently (marked there).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .exact import to_fraction

ACTIVATIONS = ("identity", "relu", "leaky_relu", "sigmoid", "tanh")
PIECEWISE_LINEAR = ("identity", "relu", "leaky_relu")


@dataclass(frozen=True)
class Activation:
    """An element-wise activation; `alpha` is LeakyReLU's negative slope (exact)."""

    kind: str
    alpha: Fraction = Fraction(0)

    def __post_init__(self) -> None:
        if self.kind not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.kind!r}; known: {', '.join(ACTIVATIONS)}")
        object.__setattr__(self, "alpha", to_fraction(self.alpha))

    @property
    def piecewise_linear(self) -> bool:
        return self.kind in PIECEWISE_LINEAR

    def __str__(self) -> str:
        return f"leaky_relu({self.alpha})" if self.kind == "leaky_relu" else self.kind

    @property
    def lipschitz(self) -> Fraction:
        """The best Lipschitz constant of σ on R: 1/4 (sigmoid), max(1, |α|) (LeakyReLU), 1 (the others)."""
        if self.kind == "sigmoid":
            return Fraction(1, 4)
        if self.kind == "leaky_relu":
            return max(Fraction(1), abs(self.alpha))
        return Fraction(1)

    @property
    def merge_mode(self) -> str:
        """Which factors c the activation admits in σ(c·z) = c·σ(z) + offset: 'any' nonzero c (identity), 'pos'
        (c > 0: positively homogeneous ReLU, LeakyReLU) or 'sign' (c = ±1: tanh is odd, σ(−z) = 1 − σ(z))."""
        return {"identity": "any", "relu": "pos", "leaky_relu": "pos"}.get(self.kind, "sign")

    def merge_offset(self, factor: Fraction) -> Fraction | None:
        """The offset o with σ(c·z) = c·σ(z) + o for every z (c = factor), or None when there is none: any c ≠ 0
        for identity, c > 0 for ReLU/LeakyReLU, c = ±1 for tanh (o = 0) and sigmoid (o = 1 for c = −1)."""
        if factor == 1 or (self.kind == "identity" and factor != 0) or (self.piecewise_linear and factor > 0):
            return Fraction(0)
        if factor == -1 and self.kind in ("tanh", "sigmoid"):
            return Fraction(int(self.kind == "sigmoid"))
        return None

    def linear_slope(self, phase: int) -> Fraction | None:
        """σ's slope on a box where a neuron has this phase (+1 active, −1 inactive, 0 unknown): identity 1 always;
        ReLU/LeakyReLU 1 or α by the phase; None where σ is not linear there."""
        if self.kind == "identity":
            return Fraction(1)
        if self.kind in ("relu", "leaky_relu") and phase:
            return Fraction(1) if phase > 0 else self.alpha
        return None

    def image(self, lo: Fraction, hi: Fraction) -> tuple[Fraction, Fraction]:
        """Rational bounds of σ(z) for z in [lo, hi]: exact for piecewise-linear σ (the extremes lie at lo, hi or
        the kink 0); for sigmoid/tanh from monotonicity, their ranges and |σ(z) − σ(0)| <= L·|z| on each side of 0
        (σ(z) = 1/2 + z/4 is the tangent at 0, which sigmoid lies above for z < 0 and below for z > 0)."""
        if self.piecewise_linear:
            values = [self.exact(p) for p in ([lo, hi, Fraction(0)] if lo < 0 < hi else [lo, hi])]
            return min(values), max(values)
        if self.kind == "sigmoid":
            half = Fraction(1, 2)
            return max(Fraction(0), half + min(lo, Fraction(0)) / 4), min(Fraction(1), half + max(hi, Fraction(0)) / 4)
        return max(Fraction(-1), min(lo, Fraction(0))), min(Fraction(1), max(hi, Fraction(0)))

    def exact(self, z: Fraction) -> Fraction:
        """σ(z) for rational z; only piecewise-linear activations have rational values in general."""
        if self.kind == "identity":
            return z
        if self.kind == "relu":
            return z if z > 0 else Fraction(0)
        if self.kind == "leaky_relu":
            return z if z >= 0 else self.alpha * z
        if self.kind == "sigmoid" and z == 0:
            return Fraction(1, 2)
        if self.kind == "tanh" and z == 0:
            return Fraction(0)
        raise ValueError(f"{self} of {z} is irrational; use evaluate_symbolic")

    def symbolic(self, z):  # sympy expression in, sympy expression out
        """σ(z) as an exact sympy expression (for sigmoid/tanh)."""
        import sympy

        if self.kind == "sigmoid":
            return 1 / (1 + sympy.exp(-z))
        if self.kind == "tanh":
            return sympy.tanh(z)
        if self.kind == "identity":
            return z
        if self.kind == "relu":
            return z if z > 0 else sympy.Integer(0)
        alpha = sympy.Rational(self.alpha.numerator, self.alpha.denominator)
        return z if z >= 0 else alpha * z

    def float(self, z: np.ndarray) -> np.ndarray:
        """σ(z) in floating point (candidate search, sampling; never decides)."""
        if self.kind == "identity":
            return z
        if self.kind == "relu":
            return np.maximum(z, 0)
        if self.kind == "leaky_relu":
            return np.where(z >= 0, z, float(self.alpha) * z)
        if self.kind == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        return np.tanh(z)


IDENTITY = Activation("identity")
RELU = Activation("relu")
