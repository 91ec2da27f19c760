"""`sat` witnesses of models with non-dyadic input normalisation (.nnet means and ranges such as 1/3 and 7/10) are
reported as float64s when the float point is still a counterexample (replayed exactly), so that VNN-COMP results
files hold plain decimals; the witness stays exact and in the box."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.mode import epsilon_mode
from lumpcheck.io.vnncomp import results_text
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate
from lumpcheck.ir.normalization import Normalization

F = Fraction


def _model(bias: float) -> Network:
    norm = Normalization((F(1, 3), F(-2, 7)), (F(7, 10), F(5, 3)), (F(0),), (F(1),))
    return Network([Layer(np.array([[1.0, -2.0], [0.5, 1.0]]), np.array([0.1, -0.2]), Activation("relu")),
                    Layer(np.array([[1.0, 1.0]]), np.array([bias]), IDENTITY)], norm)


def test_witness_is_a_float_point_and_a_true_counterexample():
    a, b = _model(0.0), _model(0.25)
    box = Box((F(-1), F(-1)), (F(1), F(1)))
    res = verify(a, b, box, epsilon_mode(F(1, 10)), 60)
    assert res.status == "sat", res.message
    x = res.witness
    assert all(F(float(v)) == v for v in x) and box.contains(tuple(x))
    assert abs(evaluate(a, x)[0] - evaluate(b, x)[0]) > F(1, 10)
    text = results_text("sat", x, evaluate(a, x), evaluate(b, x))
    for line in text.splitlines()[1:]:
        float(line.strip(" ()").split()[1])  # every value parses as a float
