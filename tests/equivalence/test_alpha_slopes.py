"""Optimised lower slopes (equivalence/alpha.py) are proposals only: the bounds built on them stay sound against an
exact ground truth, verdicts stay right, certificates recording them check valid, and tampering still fails."""

from __future__ import annotations

import base64
import copy
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.bounds.coupling import couple
from lumpcheck.bounds.difference import run_single
from lumpcheck.checker.difference import check_certificate
from lumpcheck.equivalence import alpha
from lumpcheck.equivalence.mode import Mode
from lumpcheck.equivalence.objective import Objective
from lumpcheck.equivalence.pair import verify_pair
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Network, evaluate

from pair_helpers import LEAKY, RELU, exact_margin_max, near_copy, random_net, relu_top1_case, z3_truth

pytest.importorskip("torch", reason="the slope optimiser needs torch (without it the search keeps DeepPoly's slopes)")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.booleans(), st.booleans())
def test_bounds_with_optimised_slopes_enclose_the_exact_margins(seed, joint, start):
    rng = np.random.default_rng(seed)
    widths = [1] + [int(rng.integers(2, 7)) for _ in range(int(rng.integers(1, 4)))] + [3]
    net = random_net(rng, widths, [RELU, LEAKY][int(rng.integers(2))])
    lo, hi = Fraction(int(rng.integers(-8, 0)), 4), Fraction(int(rng.integers(1, 9)), 4)
    phases = [rng.choice([-1.0, 0.0, 0.0, 0.0, 1.0], size=(1, w)) for w in widths[1:-1]]
    cls = int(rng.integers(3))
    coupling = couple(net, net)
    xl, xu = np.array([[float(lo)]]), np.array([[float(hi)]])
    objective = Objective(Mode("top1"), np.array([cls]), "a")
    rows = objective.rows(coupling, 1)["a"]
    init = [np.where(rng.random((1, w)) < 0.5, np.nan, rng.random((1, w))) for w in widths[1:-1]] if start else None
    proposed = alpha.optimise(coupling.chain_a, xl, xu, rows, [p for p in phases], steps=8, joint=joint, init=init)
    assert all(np.all((s >= 0) & (s <= 1)) for s in proposed)
    pairs = [(p, np.zeros((1, len(net.layers[k].bias)))) for k, p in enumerate(phases)]
    res = run_single(coupling, "a", xl, xu, objective, slopes=[{"a_sl": s} for s in proposed], phases=pairs)
    truth = exact_margin_max(net, lo, hi, cls, [p[0] for p in phases])
    if truth is None:
        return  # an empty region: any bound is sound
    assert not res.empty[0], (seed, "a nonempty region was declared empty")
    for j, exact in enumerate(truth):
        assert Fraction(float(res.uppers["a"][0, j])) >= exact, (seed, j)


def test_the_ground_truth_by_hand():
    """y_0 = relu(x) − relu(x − 1), y_1 = 0 on [−1, 2]: max of y_0 − y_1 is 1 (at x >= 1); under phase x − 1 <= 0
    too; under phase x <= 0 it is 0."""
    from lumpcheck.ir.network import Layer

    net = Network([Layer(np.array([[1.0], [1.0]]), np.array([0.0, -1.0]), RELU),
                   Layer(np.array([[1.0, -1.0], [0.0, 0.0]]), np.zeros(2))])
    assert exact_margin_max(net, Fraction(-1), Fraction(2), 1, [[0, 0]])[0] == 1
    assert exact_margin_max(net, Fraction(-1), Fraction(2), 1, [[0, -1]])[0] == 1
    assert exact_margin_max(net, Fraction(-1), Fraction(2), 1, [[-1, 0]])[0] == 0
    assert exact_margin_max(net, Fraction(3), Fraction(4), 1, [[0, -1]]) is None


# ---------------------------------------------------------------- tighter, never looser


def _worst(coupling, xl, xu, objective, slopes=None) -> float:
    return float(objective.gaps(run_single(coupling, "a", xl, xu, objective, slopes=slopes).uppers).max())


def test_optimised_slopes_tighten_a_deeper_network():
    """On random 4-16-16-16-5 nets the certified worst margin with optimised slopes is never worse than with DeepPoly's
    (beyond rounding) and strictly better on most."""
    better = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        net = random_net(rng, [4, 16, 16, 16, 5])
        coupling = couple(net, net)
        xl, xu = -np.full((1, 4), 0.5), np.full((1, 4), 0.5)
        cls = int(np.argmax([float(v) for v in evaluate(net, [Fraction(0)] * 4)]))
        objective = Objective(Mode("top1"), np.array([cls]), "a")
        before = _worst(coupling, xl, xu, objective)
        proposed = alpha.optimise(coupling.chain_a, xl, xu, objective.rows(coupling, 1)["a"], steps=30)
        after = _worst(coupling, xl, xu, objective, [{"a_sl": s} for s in proposed])
        assert after <= before + 1e-9 * (1 + abs(before)), (seed, before, after)
        better += after < before - 1e-6 * (1 + abs(before))
    assert better >= 4


def test_large_magnitudes_are_optimised_in_float64_and_ordinary_ones_in_float32():
    """The optimiser computes in float32 for ordinary nets; scaled by 2^130 per layer (hidden values beyond float32's
    range) it switches to float64 and proposes the same tightening as for the unscaled net (ReLU is positively
    homogeneous: the scaled margins are 2^520 times the unscaled ones, the optimiser's path the same up to rounding)."""
    from lumpcheck.ir.network import Layer

    rng = np.random.default_rng(3)
    net = random_net(rng, [4, 16, 16, 16, 5])
    big = Network([Layer(l.weight * 2.0 ** 130, l.bias * 2.0 ** (130 * (k + 1)), l.activation)
                   for k, l in enumerate(net.layers)])
    xl, xu = -np.full((1, 4), 0.5), np.full((1, 4), 0.5)
    cls = int(np.argmax([float(v) for v in evaluate(net, [Fraction(0)] * 4)]))
    objective = Objective(Mode("top1"), np.array([cls]), "a")
    gains = []
    for n, scale in ((net, 1.0), (big, 2.0 ** 520)):
        coupling = couple(n, n)
        rows = objective.rows(coupling, 1)["a"]
        assert alpha.available()
        model = alpha._Model(coupling.chain_a, xl, xu, None)
        assert model.dtype == (np.float32 if n is net else np.float64)
        before = _worst(coupling, xl, xu, objective)
        proposed = alpha.optimise(coupling.chain_a, xl, xu, rows, steps=30)
        assert all(np.all(np.isfinite(s)) for s in proposed)
        after = _worst(coupling, xl, xu, objective, [{"a_sl": s} for s in proposed])
        gains.append((before - after) / scale)
    assert gains[0] > 1e-6 and abs(gains[1] - gains[0]) <= 1e-2 * gains[0], gains


def test_unsupported_slope_enclosures_and_missing_torch_fall_back(monkeypatch):
    """A leaky ReLU whose slope is not a float (an enclosure) is left to DeepPoly; so is everything without torch."""
    from pair_helpers import LEAKY_ODD

    rng = np.random.default_rng(0)
    net = random_net(rng, [2, 4, 3], LEAKY_ODD)
    coupling = couple(net, net)
    rows = Objective(Mode("top1"), np.array([0]), "a").rows(coupling, 1)["a"]
    assert alpha.optimise(coupling.chain_a, -np.ones((1, 2)), np.ones((1, 2)), rows) is None
    monkeypatch.setattr(alpha, "_torch", False)
    relu = random_net(rng, [2, 4, 3])
    c2 = couple(relu, relu)
    assert not alpha.available()
    assert alpha.optimise(c2.chain_a, -np.ones((1, 2)), np.ones((1, 2)), rows) is None


# ---------------------------------------------------------------- verdicts and certificates


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6))
def test_relu_split_top1_verdicts_match_z3(seed):
    rng = np.random.default_rng(seed)
    a = random_net(rng, [3, 5, 5, 3])
    b = near_copy(rng, a, ["noise", "prune"][int(rng.integers(2))])
    centre = [Fraction(int(rng.integers(-4, 5)), 8) for _ in range(3)]
    r = Fraction(int(rng.integers(1, 5)), 32)
    box = Box(tuple(c - r for c in centre), tuple(c + r for c in centre))
    res = verify_pair(a, b, box, "top1", timeout=30, strategy="relu")
    if res.status in ("sat", "unsat"):
        assert res.status == z3_truth(a, b, box, "top1"), seed
    if res.status == "unsat":
        assert check_certificate(res.certificate, a, b).valid


def _single_pass_case():
    """A top1 ReLU-split instance proved with one-network leaves, some of them closed only by optimised slopes."""
    case = relu_top1_case(lambda res: res.stats.get("alpha_closed", 0) > 0 and len(res.certificate["leaves"]) > 2)
    if case is None:
        pytest.skip("no random instance had leaves closed by optimised slopes")
    return case


@pytest.fixture(scope="module")
def single_case():
    return _single_pass_case()


def test_certificates_with_optimised_slopes_check_valid(single_case):
    a, b, _, res = single_case
    assert check_certificate(res.certificate, a, b).valid


def set_lower_slopes(blob: str, value: float) -> tuple[str, int]:
    """A recorded slopes blob (pair_certificate.encode_slopes) with every lower slope set to value, and how many."""
    raw, pos, count = bytearray(base64.b64decode(blob)), 0, 0
    while pos < len(raw):
        n_p, n_a = (int(v) for v in np.frombuffer(bytes(raw[pos:pos + 8]), "<i4"))
        pos += 8 + 4 * n_p
        vals = np.frombuffer(bytes(raw[pos:pos + 16 * n_p]), "<f4").reshape(n_p, 4).copy()
        vals[:, 1] = value
        raw[pos:pos + 16 * n_p] = vals.astype("<f4").tobytes()
        pos += 16 * n_p + 4 * n_a
        vals = np.frombuffer(bytes(raw[pos:pos + 8 * n_a]), "<f4").reshape(n_a, 2).copy()
        vals[:, 1] = value
        raw[pos:pos + 8 * n_a] = vals.astype("<f4").tobytes()
        pos += 8 * n_a
        count += n_p + n_a
    return base64.b64encode(bytes(raw)).decode(), count


def _set_single_slopes(doc: dict, value: float) -> int:
    """Overwrite every recorded lower slope of every one-network leaf with value; returns how many were set."""
    count = 0
    for leaf in doc["leaves"]:
        if leaf["pass"] == "single":
            leaf["slopes"], n = set_lower_slopes(leaf["slopes"], value)
            count += n
    return count


def test_slopes_far_outside_zero_one_do_not_check(single_case):
    """Lower slopes of 1e6 are still sound relaxations (offsets are re-derived), so the leaves no longer close."""
    a, b, _, res = single_case
    doc = copy.deepcopy(res.certificate)
    assert _set_single_slopes(doc, 1e6) > 0
    assert not check_certificate(doc, a, b).valid


def test_a_changed_leaf_does_not_check(single_case):
    """A one-network leaf claiming another class, or restricted to one phase of a neuron (its region shrinks, the
    box is no longer covered): invalid."""
    a, b, _, res = single_case
    doc = copy.deepcopy(res.certificate)
    leaf = next(l for l in doc["leaves"] if l["pass"] == "single")
    leaf["class"] = (leaf["class"] + 1) % 3
    assert not check_certificate(doc, a, b).valid
    doc = copy.deepcopy(res.certificate)
    leaf = next(l for l in doc["leaves"] if l["pass"] == "single")
    leaf["path"] = leaf["path"] + [[leaf["part"], 0, 0, 1]]
    assert not check_certificate(doc, a, b).valid


def test_without_torch_the_search_keeps_deeppoly_slopes(single_case, monkeypatch):
    """The optimiser is optional: with torch hidden the search runs with DeepPoly's slopes only (no optimiser time)
    and its verdict is never wrong; on this instance it is weaker (the optimised slopes closed leaves it cannot)."""
    a, b, box, _ = single_case
    monkeypatch.setattr(alpha, "_torch", False)
    res = verify_pair(a, b, box, "top1", timeout=60, strategy="relu")
    assert "alpha_s" not in res.stats and "alpha_closed" not in res.stats
    assert res.status != "sat"
    if res.status == "unsat":
        assert check_certificate(res.certificate, a, b).valid
