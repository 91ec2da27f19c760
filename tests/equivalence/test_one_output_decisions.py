"""top1/argmin of networks with ONE output: every input has the decision {0} in both, so the pair is equivalent.

Found by the red-team audit: the differential engine's attack crashed (IndexError, exit 70) on such pairs instead
of answering; now it answers 'unknown' and the pipeline goes on to z3, which proves 'unsat'."""

from fractions import Fraction

import numpy as np
import pytest

from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.mode import Mode
from lumpcheck.equivalence.pair import verify_pair
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network

RELU, IDENTITY = Activation("relu"), Activation("identity")


def _pair():
    a = Network([Layer(np.array([[1.0]]), np.array([0.0]), RELU), Layer(np.array([[1.0]]), np.array([0.0]), IDENTITY)])
    b = Network([Layer(np.array([[1.0 + 2.0**-52]]), np.array([0.0]), RELU),
                 Layer(np.array([[1.0]]), np.array([0.0]), IDENTITY)])
    return a, b, Box((Fraction(0),), (Fraction(1),))


@pytest.mark.parametrize("mode", ["top1", "argmin"])
def test_one_output_decision_pairs_are_unsat_not_a_crash(mode):
    a, b, box = _pair()
    assert verify_pair(a, b, box, mode, timeout=10).status == "unknown"
    res = verify(a, b, box, Mode.parse(mode), 30)
    assert res.status == "unsat", res.message


def test_one_output_strict_difference_is_still_found():
    a, b, box = _pair()
    res = verify(a, b, box, Mode.parse("strict"), 30)
    assert res.status == "sat" and res.witness is not None and res.witness[0] > 0
