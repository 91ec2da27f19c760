"""The prover's chain substitutes 'linear' coordinates (equal slopes in every box) and charges their tiny offsets
through |C·slope| (bounds/difference_chain.py `fix`): sound only when |slope| >= 1 or the offset is 0. The checker
had the same rule and accepted ε = 10^-305 for a difference reaching 10^-295 (tests/checker/test_difference_batch.py);
here the prover's bound must reach the true maximum for any given slopes."""

from __future__ import annotations

import numpy as np
import pytest

from lumpcheck.bounds.coupling import Pairing, couple
from lumpcheck.bounds.difference import run
from lumpcheck.equivalence.mode import Mode
from lumpcheck.equivalence.objective import Objective
from lumpcheck.ir.activation import IDENTITY, RELU
from lumpcheck.ir.network import Layer, Network


def _net(out_weight: float) -> Network:
    return Network([Layer(np.array([[1.0]]), np.array([0.0]), RELU), Layer(np.array([[out_weight]]), np.array([0.0]), IDENTITY)])


@pytest.mark.parametrize("slope", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("radius", [1e-295, 1e-300, 1e-3])
def test_a_tiny_offset_under_a_given_slope_is_kept(slope, radius):
    """a − b = relu(x) on x in [−r, r] (maximum r), a's open neuron given slopes (s, s): the offset relu(x) − s·x is
    up to max(1 − s, s)·r; its bound must stay >= r whatever s (it was 0 for s = 0 and r <= 1e-290)."""
    c = couple(_net(1.0), _net(0.0), Pairing(((),)))
    x = np.array([[radius]])
    given = {"a_su": np.array([[slope]]), "a_sl": np.array([[slope]])}
    res = run(c, -x, x, Objective(Mode.parse("epsilon=0")), slopes=[given])
    assert res.uppers["p"].max() >= radius
