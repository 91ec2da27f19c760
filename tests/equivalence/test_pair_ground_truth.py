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

from pair_helpers import LEAKY, LEAKY_ODD, RELU, near_copy, random_net


def _pre_activations(net: Network, x: Fraction) -> list[Fraction]:
    """Every neuron's exact pre-activation at x, layer after layer (hidden and output)."""
    values, h = [], [x]
    for layer in net.layers:
        z = [sum((Fraction(w) * v for w, v in zip(row, h)), Fraction(0)) + Fraction(b)
             for row, b in zip(layer.weight, layer.bias)]
        values += z
        h = [layer.activation.exact(v) for v in z]
    return values


def _refine(knots: list[Fraction], signals) -> list[Fraction]:
    """Add the exact zero of every signal that is linear between consecutive knots and changes sign there."""
    out = set(knots)
    values = [signals(k) for k in knots]
    for (x0, v0), (x1, v1) in zip(zip(knots, values), zip(knots[1:], values[1:])):
        for s0, s1 in zip(v0, v1):
            if (s0 < 0 < s1) or (s1 < 0 < s0):
                out.add(x0 + (x1 - x0) * s0 / (s0 - s1))
    return sorted(out)


def exact_truth(a: Network, b: Network, lo: Fraction, hi: Fraction, mode: Mode) -> bool:
    """Is the property violated somewhere on [lo, hi]? (Exact, for one-input networks.)"""
    knots = [lo, hi]
    for depth in range(1, max(len(a.layers), len(b.layers)) + 1):  # layer l is linear between layer-(l-1) knots
        knots = _refine(knots, lambda x: _pre_activations(a, x) + _pre_activations(b, x))
    def output_gaps(x):
        ya, yb = evaluate(a, [x]), evaluate(b, [x])
        pairs = [ya[i] - ya[j] for i in range(len(ya)) for j in range(i)]
        return pairs + [yb[i] - yb[j] for i in range(len(yb)) for j in range(i)] + [p - q for p, q in zip(ya, yb)] \
            + [p - q - mode.epsilon for p, q in zip(ya, yb)] + [q - p - mode.epsilon for p, q in zip(ya, yb)]
    knots = _refine(knots, output_gaps)
    points = knots + [(x0 + x1) / 2 for x0, x1 in zip(knots, knots[1:])]
    return any(violated(mode, evaluate(a, [x]), evaluate(b, [x])) for x in points)


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
