"""Exact evaluation of float-weight ReLU networks on float inputs with Python integers (no Fractions).

Every float64 is a dyadic rational m·2^e. A layer whose weights and biases are float64 arrays is stored as
integer matrices scaled by one power of two each (W = W_int·2^-s_w, b = b_int·2^-s_b); a vector of floats
likewise. Then W·v + b = (W_int·v_int·2^(S − s_w − s_v) + b_int·2^(S − s_b))·2^-S with S = max(s_w + s_v, s_b),
computed exactly in Python integers, and ReLU / identity / leaky ReLU with a dyadic slope keep the form. The
result equals `ir.network.evaluate` exactly (tests compare the two); it is many times faster because no
greatest common divisor is taken before the end. Networks it does not cover (exact Fraction weights,
normalisation metadata, other activations) are refused with None, and callers use `evaluate`.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import numpy as np

from .exact import dyadic_ints, is_float_exact
from .network import Network


def _alpha(kind: str, alpha: Fraction) -> tuple[int, int] | None:
    """(a, s) with the activation's negative slope == a·2^-s; None when not dyadic or not piecewise linear here."""
    if kind in ("relu", "identity"):
        return (0, 0) if kind == "relu" else (1, 0)
    if kind != "leaky_relu":
        return None
    q = alpha.denominator
    if q & (q - 1):
        return None
    return alpha.numerator, q.bit_length() - 1


class DyadicNetwork:
    """A network prepared for exact integer evaluation; `supported` is False when `evaluate` must be used."""

    def __init__(self, net: Network):
        self.layers = []
        self.supported = net.normalization is None
        for layer in net.layers:
            slope = _alpha(layer.activation.kind, layer.activation.alpha)
            if not (self.supported and slope is not None and is_float_exact(layer.weight) and is_float_exact(layer.bias)):
                self.supported = False
                self.layers = []
                return
            self.layers.append((*dyadic_ints(layer.weight), *dyadic_ints(layer.bias), layer.activation.kind, slope))
        self.input_size = net.input_size

    def evaluate(self, x: Sequence[float]) -> list[Fraction] | None:
        """The exact outputs at the float input x, or None when the network or x is not covered."""
        X = np.asarray(x, dtype=np.float64).reshape(1, -1)
        out = self.evaluate_batch(X)
        return None if out is None else out[0]

    def evaluate_batch(self, X: np.ndarray) -> list[list[Fraction]] | None:
        """Exact outputs for each row of the float batch X (k, n_in); None when not covered."""
        X = np.asarray(X)
        if not self.supported or X.dtype != np.float64 or X.ndim != 2 or X.shape[1] != self.input_size:
            return None
        if not np.all(np.isfinite(X)):
            return None
        v, s_v = dyadic_ints(X.T)  # (n_in, k)
        for w, s_w, b, s_b, kind, (a, s_a) in self.layers:
            z = w.dot(v)
            S = max(s_w + s_v, s_b)
            z = z * (1 << (S - s_w - s_v)) + (b * (1 << (S - s_b)))[:, None]
            if kind == "identity":
                v, s_v = z, S
            else:  # negative side times a·2^-s_a, positive side rescaled to the same exponent
                v = np.where(z >= 0, z * (1 << s_a), z * a)
                s_v = S + s_a
        if s_v < 0:  # every value a multiple of 2^-s_v > 1 (huge weights or inputs): integers, no denominator
            return [[Fraction(int(val) << -s_v) for val in col] for col in v.T]
        den = 1 << s_v
        return [[Fraction(int(val), den) for val in col] for col in v.T]
