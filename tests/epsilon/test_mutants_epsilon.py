"""ε-certificates: the prover's difference bound (lumpcheck.epsilon.certificate) and the independent checker's
(lumpcheck.checker.epsilon) on cases where one rule decides: the secant slope's perturbation t, and ε compared
with the bound exactly (never as floats).

Each test names the mutant it kills (issue 14): the rule was removed by hand, the test failed, the rule restored.
"""

from __future__ import annotations

import copy
from fractions import Fraction
from pathlib import Path

import pytest

from lumpcheck.checker.epsilon import check_epsilon
from lumpcheck.epsilon.certificate import apply_corrections, difference_bound, prove_epsilon
from lumpcheck.io import load_model, save_model
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.exact import fraction_str
from lumpcheck.ir.network import Network, evaluate
from lumpcheck.reduction.lumping import reduce
from exact_nets import dense

RELU = Activation("relu")
F = Fraction


def two_kinks(b1: F, b2: F) -> Network:
    """relu(x + b1) − relu(x + b2)."""
    return dense(([[1], [1]], [b1, b2], RELU), ([[1, -1]], [0], IDENTITY))


@pytest.mark.parametrize("window", [None, 0])
def test_prover_secant_slope_widens_by_the_perturbation(window):
    """Kills: epsilon's secant slope ignoring t (lo >= 0 instead of lo − t >= 0). ReLUs z = x and z = x + 1 on
    [2^-20, 1] are active, output h1 − h2 = −1; the reduced biases are 2^-10 lower, so relu(x − 2^-10) is not
    active at x = 2^-20: true gap 1023/2^20. With slope 1 for both neurons the two shifts would cancel (bound 0)."""
    exact = two_kinks(F(0), F(1))
    rounded = two_kinks(F(-1, 2**10), F(1) - F(1, 2**10))
    box = Box((F(1, 2**20),), (F(1),))
    x = [F(1, 2**20)]
    gap = abs(evaluate(exact, x)[0] - evaluate(rounded, x)[0])
    assert gap == F(1023, 2**20)
    bound, deltas = difference_bound(exact, rounded, box, window)
    assert bound >= gap and deltas[0] == F(1, 2**10)


# The same case as a float32 export: the original (float64) holds biases a float32 cannot, rounding shifts both
# by t = 2^-40, and the box starts 2^-50 above neuron 1's kink, so relu(x + b1 − t) is not active there.
T = F(1, 2**40)
B1 = F(1, 2**10) + T  # float32: 2^-10
B2 = 1 + F(1, 2**10) + T  # float32: 1 + 2^-10
LOW = -B1 + F(1, 2**50)


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> dict:
    """The ε-certificate of a float32 export of relu(x + b1) − relu(x + b2) on [LOW, 1] (no neuron merges)."""
    d: Path = tmp_path_factory.mktemp("eps")
    original, reduced = d / "original.onnx", d / "reduced.onnx"
    save_model(two_kinks(B1, B2), original, dtype="float64")
    red = reduce(load_model(original))
    save_model(red.network, reduced, dtype="float32")
    box = Box((LOW,), (F(1),))
    doc = prove_epsilon(original, reduced, red, box, red.network)
    assert doc["verdict"] == "proved" and len(doc["epsilon_proof"]["corrections"]) == 2
    written = load_model(reduced)
    fixes = [(ell, row, col, F(v)) for ell, row, col, v in doc["epsilon_proof"]["corrections"]]
    quotient = apply_corrections(written, fixes)
    gap = abs(evaluate(quotient, [LOW])[0] - evaluate(written, [LOW])[0])
    assert gap == T - F(1, 2**50)
    bound, _ = difference_bound(quotient, written, box, doc["epsilon_proof"]["window"])
    return {"doc": doc, "original": original, "reduced": reduced, "gap": gap, "bound": bound}


def with_epsilon(doc: dict, epsilon: F) -> dict:
    doc = copy.deepcopy(doc)
    doc["claim"]["epsilon"] = fraction_str(epsilon)
    return doc


def test_certificate_is_valid_as_proved(export):
    assert check_epsilon(export["doc"], export["original"], export["reduced"]).valid


def test_checker_secant_slope_widens_by_the_perturbation(export):
    """Kills: the checker's secant span ignoring t (lo >= 0 instead of lo >= t): it would bound |Q − R| by 0 here,
    and accept an ε below the true gap."""
    false_claim = with_epsilon(export["doc"], export["gap"] / 2)
    result = check_epsilon(false_claim, export["original"], export["reduced"], solver_check="none")
    assert not result.valid and "cannot establish" in result.reasons[0]


def test_epsilon_is_compared_with_the_bound_exactly(export):
    """Kills: the checker comparing its bound with ε as floats. ε = bound is valid; ε = bound − 10^-40 (the same
    float) is not."""
    bound = export["bound"]
    assert float(bound - F(1, 10**40)) == float(bound)
    args = (export["original"], export["reduced"])
    assert check_epsilon(with_epsilon(export["doc"], bound), *args, solver_check="none").valid
    result = check_epsilon(with_epsilon(export["doc"], bound - F(1, 10**40)), *args, solver_check="none")
    assert not result.valid and "cannot establish" in result.reasons[0]


# The mirror image: neuron 1 = relu(x − b1) is inactive on the box, its top 2^-50 below the kink; rounding moves
# the bias up by t = 2^-40, so relu(x − b1 + t) is not inactive there. Slope 0 for both neurons would bound by 0.
@pytest.fixture(scope="module")
def inactive_export(tmp_path_factory) -> dict:
    d: Path = tmp_path_factory.mktemp("eps_inactive")
    original, reduced = d / "original.onnx", d / "reduced.onnx"
    save_model(two_kinks(-B1, -B2), original, dtype="float64")
    red = reduce(load_model(original))
    save_model(red.network, reduced, dtype="float32")
    top = B1 - F(1, 2**50)
    box = Box((F(-1),), (top,))
    doc = prove_epsilon(original, reduced, red, box, red.network)
    written = load_model(reduced)
    quotient = apply_corrections(written, [(e, r, c, F(v)) for e, r, c, v in doc["epsilon_proof"]["corrections"]])
    gap = abs(evaluate(quotient, [top])[0] - evaluate(written, [top])[0])
    assert gap == T - F(1, 2**50)
    bound, _ = difference_bound(quotient, written, box, doc["epsilon_proof"]["window"])
    assert bound >= gap  # kills the prover's 'hi <= 0' without t
    return {"doc": doc, "original": original, "reduced": reduced, "gap": gap}


def test_checker_inactive_span_widens_by_the_perturbation(inactive_export):
    """Kills: the checker's 'both inactive' test ignoring t (hi <= 0 or hi <= +t instead of hi <= −t)."""
    e = inactive_export
    assert check_epsilon(e["doc"], e["original"], e["reduced"]).valid
    result = check_epsilon(with_epsilon(e["doc"], e["gap"] / 2), e["original"], e["reduced"], solver_check="none")
    assert not result.valid and "cannot establish" in result.reasons[0]
