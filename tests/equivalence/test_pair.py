"""verify_pair against an independent ground truth (monolithic z3 over the exact networks): never a wrong verdict."""

import time
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.equivalence.pair import verify_pair
from lumpcheck.checker.difference import check_certificate
from lumpcheck.equivalence.mode import Mode, violated
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, Normalization, evaluate

from pair_helpers import LEAKY, LEAKY_ODD, RELU, near_copy, random_box, random_net, sampled_max_difference, z3_truth


def _instance(seed: int, kind: str):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 4))
    widths = [n] + [int(rng.integers(2, 6)) for _ in range(int(rng.integers(1, 3)))] + [int(rng.integers(2, 4))]
    act = [RELU, LEAKY, LEAKY_ODD][int(rng.integers(3))]
    a = random_net(rng, widths, act)
    b = near_copy(rng, a, ["noise", "prune", "drop"][int(rng.integers(3))])
    box = random_box(rng, n)
    eps = Fraction(0)
    if kind == "epsilon":
        eps = Fraction(sampled_max_difference(a, b, box, rng) * float(rng.uniform(0.7, 1.6))).limit_denominator(512)
    return a, b, box, eps


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.sampled_from(["epsilon", "top1", "argmin"]))
def test_no_wrong_verdict(seed, kind):
    a, b, box, eps = _instance(seed, kind)
    mode = Mode(kind, eps)
    res = verify_pair(a, b, box, mode, timeout=20)
    truth = z3_truth(a, b, box, kind, eps)
    if res.status in ("sat", "unsat") and truth in ("sat", "unsat"):
        assert res.status == truth, (seed, kind, res.status, truth)
    if res.status == "sat":
        cex = res.counterexample
        assert box.contains(cex.x)
        assert tuple(evaluate(a, cex.x)) == cex.ya and tuple(evaluate(b, cex.x)) == cex.yb
        assert violated(mode, cex.ya, cex.yb)
    if res.status == "unsat":
        assert check_certificate(res.certificate, a, b).valid


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.sampled_from(["epsilon", "top1", "argmin"]))
def test_no_wrong_verdict_with_neuron_splitting(seed, kind):
    """The ReLU-splitting strategy (separate per-network trees for top1/argmin) against the same ground truth."""
    a, b, box, eps = _instance(seed, kind)
    res = verify_pair(a, b, box, Mode(kind, eps), timeout=20, strategy="relu")
    truth = z3_truth(a, b, box, kind, eps)
    if res.status in ("sat", "unsat") and truth in ("sat", "unsat"):
        assert res.status == truth, (seed, kind, res.status, truth)
    if res.status == "unsat":
        assert check_certificate(res.certificate, a, b).valid


def test_epsilon_equal_to_the_exact_maximum_is_unsat_and_one_ulp_less_is_sat():
    """y_A − y_B = x/4 on [0, 1]: max difference exactly 1/4. ε = 1/4 holds; ε = 1/4 − 2^-60 fails."""
    one = np.array([[1.0]])
    a = Network([Layer(one, np.zeros(1), RELU), Layer(one, np.zeros(1))])
    b = Network([Layer(np.array([[0.75]]), np.zeros(1), RELU), Layer(one, np.zeros(1))])
    box = Box((Fraction(0),), (Fraction(1),))
    below = verify_pair(a, b, box, Mode("epsilon", Fraction(1, 4) - Fraction(1, 2**60)), timeout=10)
    assert below.status == "sat" and below.counterexample.x == (Fraction(1),)
    at = verify_pair(a, b, box, Mode("epsilon", Fraction(1, 4)), timeout=5)
    assert at.status in ("unsat", "timeout", "unknown")  # never sat: no input exceeds 1/4
    if at.status == "unsat":
        assert check_certificate(at.certificate, a, b).valid


def test_ties_are_disagreements_in_argmin():
    """A: outputs (x, 0); B: (x, 0) + (0, 1/8): at x = 0 A ties, B does not, so argmin sets differ."""
    w = np.array([[1.0], [0.0]])
    a = Network([Layer(w, np.zeros(2))])
    b = Network([Layer(w, np.array([0.0, 0.125]))])
    box = Box((Fraction(-1),), (Fraction(1),))
    res = verify_pair(a, b, box, "argmin", timeout=10)
    assert res.status == "sat"
    assert violated(Mode("argmin"), res.counterexample.ya, res.counterexample.yb)


def test_normalisation_metadata_is_refused():
    rng = np.random.default_rng(0)
    a = random_net(rng, [2, 3, 2])
    norm = Normalization((Fraction(0),) * 2, (Fraction(1),) * 2, (Fraction(0),), (Fraction(1),))
    b = Network(a.layers, norm)
    with pytest.raises(ValueError, match="normalisation"):
        verify_pair(a, b, random_box(rng, 2), "top1", timeout=5)


def test_deadline_is_hard_with_worker_processes():
    """A pair the engine cannot decide quickly: the call returns within its timeout (plus process teardown)."""
    rng = np.random.default_rng(1)
    a = random_net(rng, [6, 40, 40, 40, 3])
    b = near_copy(rng, a, "noise")
    box = Box((Fraction(-8),) * 6, (Fraction(8),) * 6)
    start = time.monotonic()
    res = verify_pair(a, b, box, Mode("epsilon", Fraction(1, 10**6)), timeout=3, workers=2)
    elapsed = time.monotonic() - start
    assert res.status in ("timeout", "sat", "unknown")
    assert elapsed < 3 + 2.0


def test_memory_cap_holds_in_this_process():
    """Kills the in-process search ignoring its memory cap (only worker processes were watched): with a cap below
    this process's resident memory the search stops after its first batch and answers unknown, naming the cap,
    where it otherwise runs on to its deadline."""
    rng = np.random.default_rng(7)
    a = random_net(rng, [2, 6, 6, 2])
    b = near_copy(rng, a, "noise")
    box = random_box(rng, 2)
    eps = Fraction(sampled_max_difference(a, b, box, rng) * 1.05).limit_denominator(10**6)
    free = verify_pair(a, b, box, Mode("epsilon", eps), timeout=30, strategy="input", batch=1)
    assert free.stats["batches"] > 1, free.stats  # the root alone does not decide it
    capped = verify_pair(a, b, box, Mode("epsilon", eps), timeout=30, memory_mb=1, strategy="input", batch=1)
    assert capped.status == "unknown" and "memory cap of 1 MB" in capped.message, capped.message
    assert capped.stats["batches"] == 1


def test_worker_processes_reach_the_same_verdict():
    rng = np.random.default_rng(7)
    a = random_net(rng, [2, 6, 6, 2])
    b = near_copy(rng, a, "noise")
    box = random_box(rng, 2)
    eps = Fraction(sampled_max_difference(a, b, box, rng) * 1.3).limit_denominator(256)
    seq = verify_pair(a, b, box, Mode("epsilon", eps), timeout=30)
    par = verify_pair(a, b, box, Mode("epsilon", eps), timeout=30, workers=2)
    assert seq.status == par.status
    if par.status == "unsat":
        assert check_certificate(par.certificate, a, b).valid
