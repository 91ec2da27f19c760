"""Small exact networks for hand-made test cases."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from lumpcheck.ir.activation import Activation
from lumpcheck.ir.network import Layer, Network


def dense(*layers: tuple[list[list[object]], list[object], Activation]) -> Network:
    """A network from (weights, bias, activation) triples; every entry is read as an exact rational."""
    return Network([Layer(np.array([[Fraction(v) for v in row] for row in w], dtype=object),
                          np.array([Fraction(v) for v in b], dtype=object), act) for w, b, act in layers])
