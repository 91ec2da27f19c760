"""Element-wise activations of the exact IR, and the facts about them that the rest of lumpcheck uses."""

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
