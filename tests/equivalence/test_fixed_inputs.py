"""A box that fixes some inputs (lower == upper, e.g. a patch of free pixels in a fixed image): the differential
engine searches over the free inputs only, both networks with the fixed ones folded exactly into their first layer
(ir.network.fix_inputs), and maps its answer back to the caller's inputs. Ground truth: exact evaluation of the
caller's networks at the caller's points (pair_helpers.exact_truth along the one free input)."""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.apps.report_diff import build_diff_report, render_diff
from lumpcheck.checker.difference import check_certificate
from lumpcheck.equivalence.mode import Mode, violated
from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.bab import INPUT_SPLIT_MAX_DIM, INPUT_SPLIT_MAX_DIM_DIFFERENCE
from lumpcheck.equivalence.pair import FixedInputs, verify_pair
from lumpcheck.equivalence.smooth_split import SPLIT_INPUTS, splittable
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate, fix_inputs
from lumpcheck.ir.normalization import Normalization

from pair_helpers import LEAKY, RELU, exact_truth, near_copy, random_net

FIXED = [Fraction(1, 3), Fraction(-2, 7), Fraction(0), Fraction(5, 11)]  # not floats: the fold's biases are exact


def _box(n: int, free: int, lo: Fraction, hi: Fraction, fixed: list[Fraction]) -> Box:
    """n inputs, input `free` in [lo, hi], the others fixed at fixed[0], fixed[1], ... (in order)."""
    values = iter(fixed)
    lower = tuple(lo if i == free else next(values) for i in range(n))
    upper = tuple(hi if i == free else lower[i] for i in range(n))
    return Box(lower, upper)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6))
def test_the_fold_is_the_same_function_on_the_box(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 6))
    net = random_net(rng, [n, int(rng.integers(1, 5)), 2], RELU)
    if seed % 2:  # exact non-float weights (a folded normalisation gives such): the Fraction path
        first = net.layers[0]
        net = Network([Layer(np.array([[Fraction(v) / 3 for v in row] for row in first.weight], dtype=object),
                             first.bias, RELU), *net.layers[1:]])
    free = sorted(set(rng.integers(0, n, int(rng.integers(1, n))).tolist()))
    lower = [Fraction(int(rng.integers(-9, 10)), int(rng.integers(1, 8))) for _ in range(n)]
    upper = [lo + (Fraction(int(rng.integers(1, 5)), 3) if i in free else 0) for i, lo in enumerate(lower)]
    box = Box(tuple(lower), tuple(upper))
    assert box.free == tuple(free)
    folded = fix_inputs(net, box)
    for _ in range(3):
        x = [lo + (hi - lo) * Fraction(int(rng.integers(0, 9)), 8) for lo, hi in zip(lower, upper)]
        assert evaluate(folded, [x[i] for i in free]) == evaluate(net, x)


def test_the_fold_refuses_metadata_and_other_sizes():
    net = random_net(np.random.default_rng(0), [3, 2, 2])
    with pytest.raises(ValueError, match="inputs"):
        fix_inputs(net, Box((Fraction(0),) * 2, (Fraction(1),) * 2))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.sampled_from(["epsilon", "top1", "argmin"]), st.sampled_from(["input", "relu"]))
def test_verdicts_on_boxes_with_fixed_inputs_match_the_exact_truth(seed, kind, strategy):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 5))
    widths = [n] + [int(rng.integers(2, 6)) for _ in range(int(rng.integers(1, 3)))] + [int(rng.integers(2, 4))]
    a = random_net(rng, widths, [RELU, LEAKY][int(rng.integers(2))])
    b = near_copy(rng, near_copy(rng, a, ["noise", "prune", "drop"][int(rng.integers(3))]), "noise")
    free = int(rng.integers(n))
    lo, hi = Fraction(int(rng.integers(-8, 0)), 4), Fraction(int(rng.integers(1, 9)), 4)
    box = _box(n, free, lo, hi, FIXED)
    eps = Fraction(int(rng.integers(0, 40)), 64) if kind == "epsilon" else Fraction(0)
    mode = Mode(kind, eps)
    res = verify_pair(a, b, box, mode, timeout=10, strategy=strategy)
    point = lambda t: [t if i == free else box.lower[i] for i in range(n)]  # noqa: E731
    truth = exact_truth(a, b, lo, hi, mode, point)
    assert res.status != "error", res.message
    if res.status == "sat":
        assert truth, (seed, kind, strategy)
        cex = res.counterexample
        assert len(cex.x) == n and box.contains(cex.x)  # a point of the caller's box, fixed inputs restored
        assert tuple(evaluate(a, cex.x)) == cex.ya and tuple(evaluate(b, cex.x)) == cex.yb
        assert violated(mode, cex.ya, cex.yb)
    elif res.status == "unsat":
        assert not truth, (seed, kind, strategy)
        assert res.stats["fixed_inputs"] == n - 1
        assert res.certificate["inputs"] == "free" and len(res.certificate["claim"]["box"]["lower"]) == n
        assert check_certificate(res.certificate, a, b).valid


def _proved_pair():
    """A 3-input pair proved at epsilon with inputs 0 and 2 fixed, and a fixed value for input 0 where the same
    claim is false (exact truth), found by seed."""
    for seed in range(200):
        rng = np.random.default_rng(seed)
        a = random_net(rng, [3, 4, 4, 2], RELU)
        b = near_copy(rng, a, "prune")
        box = _box(3, 1, Fraction(-1), Fraction(1), [Fraction(1, 3), Fraction(2, 5)])
        mode = Mode("epsilon", Fraction(1, 8))
        res = verify_pair(a, b, box, mode, timeout=10, strategy="input")
        if res.status != "unsat":
            continue
        for k in range(-12, 13):
            v = Fraction(k, 4)
            if exact_truth(a, b, Fraction(-1), Fraction(1), mode, lambda t, v=v: [v, t, Fraction(2, 5)]):
                return a, b, res.certificate, v
    pytest.fail("no seed gave a pair proved on one fixed value and refuted on another")


def test_a_certificate_moved_to_another_fixed_value_where_the_claim_fails_is_invalid():
    """The checker folds the fixed inputs with the claim box's own values: moving input 0 to a value where the
    property is false (exactly) must make the certificate invalid (a checker folding the prover's values, or none,
    would accept it)."""
    a, b, cert, bad = _proved_pair()
    assert check_certificate(cert, a, b).valid
    moved = copy.deepcopy(cert)
    moved["claim"]["box"]["lower"][0] = moved["claim"]["box"]["upper"][0] = str(bad)
    assert not check_certificate(moved, a, b).valid


def test_the_inputs_field_is_checked():
    a, b, cert, _ = _proved_pair()
    for value, reason in (("some", "inputs 'some'"), ("free", "every input")):
        bad = copy.deepcopy(cert)
        bad["inputs"] = value
        if value == "free":  # a box that fixes every input leaves nothing to fold onto
            bad["claim"]["box"]["upper"][1] = bad["claim"]["box"]["lower"][1]
        res = check_certificate(bad, a, b)
        assert not res.valid and reason in res.reasons[0]


def test_split_paths_and_points_are_mapped_back_to_the_callers_inputs():
    box = Box((Fraction(1, 3), Fraction(0), Fraction(1, 2), Fraction(-1)),
              (Fraction(1, 3), Fraction(1), Fraction(1, 2), Fraction(1)))
    net = Network([Layer(np.ones((1, 4)), np.zeros(1), RELU)])
    fixed = FixedInputs(box, net, net)
    assert box.free == (1, 3)
    assert fixed.point((Fraction(1, 4), Fraction(-1, 2))) == (Fraction(1, 3), Fraction(1, 4), Fraction(1, 2), Fraction(-1, 2))
    assert fixed.path((("x", 1, 0.5, 0), ("a", 0, 0, 1), ("x", 0, 0.25, 1))) == \
        (("x", 3, 0.5, 0), ("a", 0, 0, 1), ("x", 1, 0.25, 1))


def test_many_inputs_with_few_free_split_the_input_box():
    """The split strategy counts the free inputs: 40 inputs of which 3 vary is a 3-input search."""
    rng = np.random.default_rng(5)
    a = random_net(rng, [40, 8, 3], RELU)
    b = near_copy(rng, a, "noise")
    lower = [Fraction(int(rng.integers(-4, 5)), 8) for _ in range(40)]
    upper = [lo + (Fraction(1, 4) if i in (3, 17, 31) else 0) for i, lo in enumerate(lower)]
    res = verify_pair(a, b, Box(tuple(lower), tuple(upper)), "epsilon=1", timeout=20)
    assert res.stats["strategy"] == "input" and res.stats["fixed_inputs"] == 37


def test_report_names_the_callers_inputs():
    """A report of a certificate on the free inputs names the split inputs as the claim's box numbers them."""
    a, b, cert, _ = _proved_pair()  # inputs 0 and 2 fixed: searched input 0 is the box's input 1
    doc = copy.deepcopy(cert)
    doc["leaves"][0]["path"] = [["x", 0, (0.5).hex(), 0]]
    text = render_diff(build_diff_report(doc, "cert.json"), "md")
    assert "x_1 <= 0.5" in text and "x_0 <=" not in text
    assert "2 of 3 inputs are fixed by the box" in text


def test_smooth_input_splitting_counts_the_free_inputs():
    n = SPLIT_INPUTS + 5
    a = random_net(np.random.default_rng(1), [n, 4, 2], RELU)
    few = Box((Fraction(0),) * n, (Fraction(1),) * 2 + (Fraction(0),) * (n - 2))
    assert splittable(a, Mode("epsilon", Fraction(1, 10)), few)
    assert not splittable(a, Mode("epsilon", Fraction(1, 10)), Box((Fraction(0),) * n, (Fraction(1),) * n))


@pytest.mark.parametrize("mode, strategy", [("epsilon=1/2", "input"), ("top1", "relu")])
def test_twenty_inputs_split_the_box_for_epsilon_and_the_phases_for_top1(mode, strategy):
    """Between INPUT_SPLIT_MAX_DIM and INPUT_SPLIT_MAX_DIM_DIFFERENCE free inputs: a bound on the difference itself
    (epsilon) splits the input box, a decision (top1: each network's in its own tree) the ReLU phases."""
    assert INPUT_SPLIT_MAX_DIM < 20 <= INPUT_SPLIT_MAX_DIM_DIFFERENCE
    rng = np.random.default_rng(2)
    a = random_net(rng, [20, 6, 3], RELU)
    box = Box((Fraction(-1, 8),) * 20, (Fraction(1, 8),) * 20)
    res = verify_pair(a, near_copy(rng, a, "noise"), box, mode, timeout=20)
    assert res.stats["strategy"] == strategy and "fixed_inputs" not in res.stats


def _clipped_pair():
    """A clips its three inputs to [0, 1] (a model's meaning), B is the same layer chain without the clip."""
    rng = np.random.default_rng(11)
    chain = random_net(rng, [3, 6, 2], RELU)
    clip = Normalization((F0,) * 3, (F1,) * 3, (F0,), (F1,), (F0,) * 3, (F1,) * 3)
    return Network(chain.layers, normalization=clip), chain


F0, F1 = Fraction(0), Fraction(1)


@pytest.mark.parametrize("fixed0, free1, b_clips, equal", [
    (Fraction(1, 2), (Fraction(0), Fraction(1, 2)), False, True),  # everything inside the clip range: A = B
    (Fraction(3, 2), (Fraction(0), Fraction(1, 2)), False, False),  # a FIXED input outside it: A sees 1, B 3/2
    (Fraction(1, 2), (Fraction(-1), Fraction(1, 2)), False, False),  # the free input partly outside it
    (Fraction(3, 2), (Fraction(-1), Fraction(1, 2)), True, True),  # both clip: both see 1 and max(x_1, 0)
])
def test_fixed_inputs_respect_the_models_input_clip(fixed0, free1, b_clips, equal):
    """Clipping is part of a model: a fixed input is folded at its clipped value for a model that clips and at its
    own value for one that does not. Ground truth: the models evaluated exactly along the free input (evaluate
    applies the clip)."""
    a, b = _clipped_pair()
    if b_clips:  # B: A's clip, its output moved by 1/256 < ε everywhere
        last = a.layers[-1]
        b = Network([*a.layers[:-1], Layer(last.weight, last.bias + 1 / 256, last.activation)], normalization=a.normalization)
    third = Fraction(1, 3)
    box = Box((fixed0, free1[0], third), (fixed0, free1[1], third))
    eps = Fraction(1, 100)
    res = verify(a, b, box, Mode("epsilon", eps), 30.0, engines=("differential",))
    ts = [free1[0] + (free1[1] - free1[0]) * Fraction(k, 64) for k in range(65)]
    gaps = [max(abs(p - q) for p, q in zip(evaluate(a, [fixed0, t, third]), evaluate(b, [fixed0, t, third]))) for t in ts]
    assert (max(gaps) > eps) != equal  # the case is what it says (sampled exactly)
    if equal:
        assert res.status == "unsat" and check_certificate(res.certificate, a, b).valid, res.message
        assert res.certificate["inputs"] == "free"
    else:
        assert res.status == "sat" and box.contains(res.witness), res.message
        ya, yb = evaluate(a, list(res.witness)), evaluate(b, list(res.witness))
        assert max(abs(p - q) for p, q in zip(ya, yb)) > eps
