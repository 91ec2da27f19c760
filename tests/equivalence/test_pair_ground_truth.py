"""verify_pair against an exact ground truth that shares no code with any engine: for one input the networks are
piecewise linear on [lo, hi], so every property is decided exactly on the knots where some neuron or output
difference changes sign (found by exact linear interpolation between knots, refined layer by layer) and on the
midpoints between them. Only ir.network.evaluate (exact rational evaluation) is used."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.checker.difference import check_certificate
from lumpcheck.equivalence.mode import Mode, violated
from lumpcheck.equivalence.pair import verify_pair
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate

from pair_helpers import LEAKY, LEAKY_ODD, RELU, exact_truth, near_copy, random_net


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.sampled_from(["epsilon", "top1", "argmin"]), st.sampled_from(["input", "relu"]))
def test_verdicts_match_the_exact_piecewise_linear_truth(seed, kind, strategy):
    rng = np.random.default_rng(seed)
    widths = [1] + [int(rng.integers(2, 6)) for _ in range(int(rng.integers(1, 3)))] + [int(rng.integers(2, 4))]
    a = random_net(rng, widths, [RELU, LEAKY, LEAKY_ODD][int(rng.integers(3))])
    b = near_copy(rng, near_copy(rng, a, ["noise", "prune", "drop"][int(rng.integers(3))]), "noise")
    lo, hi = Fraction(int(rng.integers(-8, 0)), 4), Fraction(int(rng.integers(1, 9)), 4)
    eps = Fraction(int(rng.integers(0, 40)), 64) if kind == "epsilon" else Fraction(0)
    mode = Mode(kind, eps)
    res = verify_pair(a, b, Box((lo,), (hi,)), mode, timeout=10, strategy=strategy)
    truth = exact_truth(a, b, lo, hi, mode)
    if res.status == "sat":
        assert truth, (seed, kind, strategy)
        cex = res.counterexample
        assert lo <= cex.x[0] <= hi
        assert tuple(evaluate(a, cex.x)) == cex.ya and tuple(evaluate(b, cex.x)) == cex.yb  # replayed exactly
        assert violated(mode, cex.ya, cex.yb)
    elif res.status == "unsat":
        assert not truth, (seed, kind, strategy)
        assert check_certificate(res.certificate, a, b).valid


def test_the_ground_truth_by_hand():
    """A(x) = 300·relu(x − c) with c = float(1/3) < 1/3, B = 0: |A − B| > 1/10 exactly when x > c + 1/3000."""
    a = Network([Layer(np.array([[1.0]]), np.array([-1 / 3]), RELU), Layer(np.array([[300.0]]), np.zeros(1))])
    b = Network([Layer(np.array([[1.0]]), np.array([-1 / 3]), RELU), Layer(np.array([[0.0]]), np.zeros(1))])
    c = Fraction(1 / 3)
    eps = Mode("epsilon", Fraction(1, 10))
    assert not exact_truth(a, b, Fraction(0), c + Fraction(1, 3000), eps)
    assert exact_truth(a, b, Fraction(0), c + Fraction(1, 2999), eps)
