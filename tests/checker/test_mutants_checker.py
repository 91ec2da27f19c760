"""The checker's exact part stands alone: each test below is a certificate that is false in exactly one way that
only one exact rule of the checker (lumpcheck.checker) sees, checked with z3 off (solver_check='none') and on.

Each test names the mutant it kills (issue 14): the rule was removed by hand, the test failed, the rule restored.
"""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from pathlib import Path

import pytest

from lumpcheck.checker import check
from lumpcheck.io import save_model
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Network, evaluate
from lumpcheck.ir.relation import LayerRelation, NeuronMap, Relation
from lumpcheck.prove.prover import prove
from lumpcheck.prove.records import write_certificate
from lumpcheck.reduction.domain import reduce_on_domain
from exact_nets import dense

RELU = Activation("relu")
SOLVER_CHECKS = ["none", "all"]


def certify(tmp_path: Path, original: Network, reduced: Network, relation, domain: Box | None = None) -> tuple[Path, Path, Path]:
    """Save both nets (float64 ONNX), prove, write the certificate and (whatever the prover said) mark every
    obligation proved: the checker must decide on its own."""
    a, b, c = tmp_path / "original.onnx", tmp_path / "reduced.onnx", tmp_path / "cert.json"
    save_model(original, a, dtype="float64")
    save_model(reduced, b, dtype="float64")
    write_certificate(prove(a, b, relation, domain=domain), c)
    doc = json.loads(c.read_text())
    doc["verdict"] = "proved"
    for ob in doc["obligations"]:
        ob["status"] = "proved"
    c.write_text(json.dumps(doc))
    return a, b, c


def replace_model(path: Path, net: Network, cert: Path, name: str) -> None:
    """Overwrite a model file and give the certificate its new hash (a tampering the hash check cannot see)."""
    save_model(net, path, dtype="float64")
    doc = json.loads(cert.read_text())
    doc["models"][name]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    cert.write_text(json.dumps(doc))


def kept(j: int) -> NeuronMap:
    return NeuronMap(((j, Fraction(1)),))


# ---------------------------------------------------------------- lumping certificates


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_reduced_bias_off_by_one_is_invalid(tmp_path, solver_check):
    """Kills: the checker's exact target comparison ignoring the constant term (reduced bias)."""
    net = dense(([[1], [2]], [0, 0], RELU), ([[1, 1]], [0], IDENTITY))  # neuron 1 = 2 * neuron 0
    red = dense(([[1]], [0], RELU), ([[3]], [0], IDENTITY))
    rel = Relation([LayerRelation([kept(0), NeuronMap(((0, Fraction(2)),), Fraction(0), "proportional")], 1)])
    a, b, c = certify(tmp_path, net, red, rel)
    assert check(c, a, b, solver_check=solver_check).valid
    replace_model(b, dense(([[1]], [1], RELU), ([[3]], [0], IDENTITY)), c, "reduced")
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid
    assert any(r.startswith("layer 1 neuron 0") and "constant term" in r for r in result.reasons), result.reasons


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_constant_neuron_that_depends_on_the_input_is_invalid(tmp_path, solver_check):
    """Kills: the checker's constant rule ignoring the coefficients (only σ(constant term) == offset checked).
    Neuron 1 is relu(x + 1), claimed the constant relu(1) = 1; its outgoing weight is 0, so no other rule sees it."""
    net = dense(([[1], [1]], [0, 1], RELU), ([[1, 0]], [0], IDENTITY))
    red = dense(([[1]], [0], RELU), ([[1]], [0], IDENTITY))
    rel = Relation([LayerRelation([kept(0), NeuronMap((), Fraction(1), "constant")], 1)])
    a, b, c = certify(tmp_path, net, red, rel)
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid
    assert result.reasons[0] == "layer 1 neuron 1: not the constant 1", result.reasons
    assert evaluate(net, [Fraction(1)]) == evaluate(red, [Fraction(1)])  # the claim is false only inside


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_ghost_member_with_a_shifted_bias_is_invalid(tmp_path, solver_check):
    """Kills: the checker's ghost-member rule ignoring the constant term. Neurons 1 (representative, relu(x + 1))
    and 2 (member 2·g) form a ghost class whose outgoing weights cancel (2·1 − 1·2 = 0); neuron 2 is
    relu(2x + 3), not 2·relu(x + 1)."""
    red = dense(([[1]], [0], RELU), ([[1]], [0], IDENTITY))
    rel = Relation([LayerRelation([kept(0), NeuronMap(((1, Fraction(1)),), Fraction(0), "dead"),
                                   NeuronMap(((1, Fraction(2)),), Fraction(0), "dead")], 1, ghosts=1)])
    honest = dense(([[1], [1], [2]], [0, 1, 2], RELU), ([[1, 2, -1]], [0], IDENTITY))
    a, b, c = certify(tmp_path, honest, red, rel)
    assert check(c, a, b, solver_check=solver_check).valid
    shifted = dense(([[1], [1], [2]], [0, 1, 3], RELU), ([[1, 2, -1]], [0], IDENTITY))
    replace_model(a, shifted, c, "original")
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid
    assert any(r.startswith("layer 1 neuron 2: original pre-activation != 2 * that of neuron 1") for r in result.reasons)
    x = [Fraction(-3, 2)]  # relu(2x + 3) = 0 there, 2·relu(x + 1) = 0: they differ only for x > -3/2
    assert evaluate(shifted, [Fraction(0)]) != evaluate(red, [Fraction(0)]) and evaluate(shifted, x) == evaluate(red, x)


# ---------------------------------------------------------------- domain certificates


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_linear_map_with_a_wrong_constant_term_is_invalid(tmp_path, solver_check):
    """Kills: the checker's domain (linear map) rule ignoring the constant term. On [1, 2], neuron 1 (2x + 1,
    active) is folded onto neuron 0 (x): v1 = 2·v0 + 1. The original file then gets bias 3/2 for neuron 1: the
    next layer uses the map, not neuron 1's own weights, so only the linear-map rule can see the change."""
    box = Box((Fraction(1),), (Fraction(2),))
    net = dense(([[1], [2]], [0, 1], RELU), ([[1, 1]], [0], IDENTITY))
    red = reduce_on_domain(net, box, bounds_method="interval")
    (m0, m1), = [lr.maps for lr in red.relation.layers]
    assert (m1.reason, m1.terms, m1.offset) == ("linear", ((0, Fraction(2)),), Fraction(1))
    a, b, c = certify(tmp_path, net, red.network, red)
    assert check(c, a, b, solver_check=solver_check).valid
    replace_model(a, dense(([[1], [2]], [0, Fraction(3, 2)], RELU), ([[1, 1]], [0], IDENTITY)), c, "original")
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid
    assert any(r.startswith("layer 1 neuron 1") and "constant term" in r for r in result.reasons), result.reasons


# ---------------------------------------------------------------- the scope a valid certificate establishes


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_scope_is_the_claim_of_the_document(tmp_path, solver_check):
    """A valid certificate resting on phase claims establishes equality ONLY on its box: the result's scope (what
    reports and `lumpcheck check` print) carries the document's mode, box, source, semantics and the box-only flag.
    On [1, 2], z1 = −x − 1 is inactive (ReLU): removed, which holds only where x >= −1."""
    net = dense(([[1], [-1]], [0, -1], RELU), ([[1, 1]], [0], IDENTITY))
    box = Box((Fraction(1),), (Fraction(2),), source="specs/unit.vnnlib")
    red = reduce_on_domain(net, box, bounds_method="interval")
    assert red.network.widths != net.widths
    a, b, c = tmp_path / "a.onnx", tmp_path / "b.onnx", tmp_path / "c.json"
    save_model(net, a, dtype="float64")
    save_model(red.network, b, dtype="float64")
    write_certificate(prove(a, b, red), c)
    doc = json.loads(c.read_text())
    result = check(c, a, b, solver_check=solver_check)
    assert result.valid, result.reasons
    scope, claim = result.scope, doc["claim"]
    assert (scope.mode, scope.epsilon, scope.semantics) == ("strict", None, claim["semantics"])
    assert scope.lower == (Fraction(1),) and scope.upper == (Fraction(2),) and scope.box_only
    assert scope.source == claim["domain"].get("source", "") and scope.source.endswith("unit.vnnlib")
    assert scope.to_dict()["epsilon"] is None and "ONLY on the box" in str(result)


def test_scope_without_a_box_is_all_inputs(tmp_path):
    net = dense(([[1], [2]], [0, 0], RELU), ([[1, 1]], [0], IDENTITY))  # neuron 1 = 2 * neuron 0
    red = dense(([[1]], [0], RELU), ([[3]], [0], IDENTITY))
    rel = Relation([LayerRelation([kept(0), NeuronMap(((0, Fraction(2)),), Fraction(0), "proportional")], 1)])
    a, b, c = certify(tmp_path, net, red, rel)
    result = check(c, a, b)
    scope = result.scope
    assert result.valid and (scope.lower, scope.upper, scope.source, scope.box_only) == (None, None, "", False)
    assert str(result) == "valid: equal on all inputs"


def _domain_certificate(tmp_path: Path) -> tuple[Path, Path, Path, dict]:
    """On [1, 2] neuron 1 (z = −x − 1) is inactive and removed: a reduction that rests on a phase claim."""
    net = dense(([[1], [-1]], [0, -1], RELU), ([[1, 1]], [0], IDENTITY))
    red = reduce_on_domain(net, Box((Fraction(1),), (Fraction(2),)), bounds_method="interval")
    a, b, c = tmp_path / "a.onnx", tmp_path / "b.onnx", tmp_path / "c.json"
    save_model(net, a, dtype="float64")
    save_model(red.network, b, dtype="float64")
    write_certificate(prove(a, b, red), c)
    doc = json.loads(c.read_text())
    assert [m["reason"] for m in doc["relation"][0]["neurons"]] == ["kept", "inactive"]
    return a, b, c, doc


def test_an_inactive_map_without_phase_claims_is_invalid(tmp_path):
    a, b, c, doc = _domain_certificate(tmp_path)
    doc["bounds"] = None
    c.write_text(json.dumps(doc))
    result = check(c, a, b, solver_check="none")
    assert not result.valid
    assert "domain maps (inactive/linear) need phase claims in 'bounds' and a claim.domain" in result.reasons


def test_a_split_claim_beyond_the_cell_limit_is_refused_not_run(tmp_path):
    a, b, c, doc = _domain_certificate(tmp_path)
    doc["bounds"]["method"], doc["bounds"]["parts"] = "split", 2**17  # 2^17 cells of the 1-input box
    c.write_text(json.dumps(doc))
    result = check(c, a, b, solver_check="none")
    assert not result.valid
    assert any(r.startswith(f"bounds: split into {2**17}^1 sub-boxes is more than") for r in result.reasons), result.reasons
