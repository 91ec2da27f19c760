"""The ε-checker reads its document strictly: each malformed field of `claim` and `epsilon_proof`, and each
correction that does not fit the reduced file, makes the certificate invalid with a reason naming it."""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from lumpcheck.checker import check
from lumpcheck.checker.epsilon import check_epsilon
from lumpcheck.epsilon.certificate import prove_epsilon
from lumpcheck.io import load_model, save_model
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.exact import fraction_str
from lumpcheck.ir.network import Layer, Network
from lumpcheck.reduction.lumping import reduce

F = Fraction


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> dict:
    """A 2-3-1 ReLU net whose first-layer weights are not float32 values, exported as float32 and certified."""
    d: Path = tmp_path_factory.mktemp("epsdoc")
    w = np.array([[0.1, 0.2], [0.3, -0.7], [1.0, 0.5]])
    net = Network([Layer(w, np.array([0.1, 0.0, -0.25]), Activation("relu")),
                   Layer(np.array([[1.0, -0.5, 0.3]]), np.array([0.0]), IDENTITY)])
    original, reduced = d / "original.onnx", d / "reduced.onnx"
    save_model(net, original, dtype="float64")
    red = reduce(load_model(original))
    save_model(red.network, reduced, dtype="float32")
    box = Box((F(-1), F(-1)), (F(1), F(1)))
    doc = prove_epsilon(original, reduced, red, box, red.network)
    assert doc["verdict"] == "proved" and len(doc["epsilon_proof"]["corrections"]) >= 4
    assert check_epsilon(doc, original, reduced).valid
    return {"doc": doc, "original": original, "reduced": reduced, "dir": d, "reduction": red}


def _proof(key, value):
    def change(doc):
        if value is DELETE:
            del doc["epsilon_proof"][key]
        else:
            doc["epsilon_proof"][key] = value
    return change


def _claim(key, value):
    def change(doc):
        doc["claim"][key] = value
    return change


def _correction(i, entry):
    def change(doc):
        doc["epsilon_proof"]["corrections"][i] = entry(doc["epsilon_proof"]["corrections"][i])
    return change


DELETE = object()
CORR = "certificate: epsilon_proof.corrections[0] is not [layer, row, column or 'bias', 'p/q']"
TAMPERS = [
    (_claim("mode", "strict"), "certificate: claim.mode is not 'epsilon'"),
    (_claim("epsilon", "-1/2"), "certificate: claim.epsilon is negative"),
    (_claim("epsilon", "0.5"), "certificate: claim.epsilon = '0.5' is not an exact rational 'p/q' in lowest terms"),
    (_claim("domain", None), "certificate: an ε claim needs a domain (a rounding error is unbounded on all of R^n)"),
    (lambda d: d.pop("epsilon_proof"), "certificate: epsilon_proof.corrections is missing"),
    (_proof("corrections", {}), "certificate: epsilon_proof.corrections is missing"),
    (_proof("window", DELETE), "certificate: epsilon_proof.window is not a count of layers"),
    (_proof("window", True), "certificate: epsilon_proof.window is not a count of layers"),
    (_proof("window", -1), "certificate: epsilon_proof.window is not a count of layers"),
    (_proof("window", "1"), "certificate: epsilon_proof.window is not a count of layers"),
    (_correction(0, lambda c: c[:3]), CORR),
    (_correction(0, lambda c: [True, *c[1:]]), CORR),
    (_correction(0, lambda c: [c[0], False, *c[2:]]), CORR),
    (_correction(0, lambda c: [c[0], c[1], True, c[3]]), CORR),
    (_correction(0, lambda c: [c[0], c[1], "weight", c[3]]), CORR),
    (_correction(0, lambda c: [c[0], "0", *c[2:]]), CORR),
    (_correction(0, lambda c: [*c[:3], 0.5]), "certificate: epsilon_proof.corrections[0] = 0.5 is not an exact rational "
                                              "'p/q' in lowest terms"),
    (_correction(0, lambda c: [0, *c[1:]]), "correction layer 0 row {1} column {2}: no such parameter in the reduced model"),
    (_correction(0, lambda c: [3, *c[1:]]), "correction layer 3 row {1} column {2}: no such parameter in the reduced model"),
    (_correction(0, lambda c: [c[0], 3, *c[2:]]), "correction layer {0} row 3 column {2}: no such parameter in the reduced model"),
    (_correction(0, lambda c: [c[0], -1, *c[2:]]), "correction layer {0} row -1 column {2}: no such parameter in the reduced model"),
    (_correction(0, lambda c: [c[0], c[1], 2, c[3]]), "correction layer {0} row {1} column 2: no such parameter in the reduced model"),
    (_correction(0, lambda c: [c[0], c[1], -1, c[3]]), "correction layer {0} row {1} column -1: no such parameter in the reduced model"),
]


@pytest.mark.parametrize("change, reason", TAMPERS, ids=[r for _, r in TAMPERS])
def test_malformed_epsilon_document_is_invalid(export, change, reason):
    doc = copy.deepcopy(export["doc"])
    first = doc["epsilon_proof"]["corrections"][0]
    assert first[2] != "bias" and first[0] == 1  # a first-layer weight (so column 2 does not exist)
    change(doc)
    result = check_epsilon(doc, export["original"], export["reduced"], solver_check="none")
    assert not result.valid
    assert reason.format(*first) in result.reasons, result.reasons


def test_bias_corrections_are_checked_like_weights(export):
    doc = copy.deepcopy(export["doc"])
    biases = [c for c in doc["epsilon_proof"]["corrections"] if c[2] == "bias"]
    assert biases, "the export should round a bias (0.1 is not a float32)"
    layer, row, _, value = biases[0]
    doc["epsilon_proof"]["corrections"].append([layer, row, "bias", value])
    result = check_epsilon(doc, export["original"], export["reduced"], solver_check="none")
    assert f"correction layer {layer} row {row} column bias: listed twice" in result.reasons
    far = copy.deepcopy(export["doc"])
    entry = next(c for c in far["epsilon_proof"]["corrections"] if c[2] == "bias")
    entry[3] = "1/3"
    result = check_epsilon(far, export["original"], export["reduced"], solver_check="none")
    assert any(r.startswith(f"correction layer {entry[0]} row {entry[1]} column bias: float32 value ") and
               r.endswith(" is not 1/3 rounded") for r in result.reasons), result.reasons


def test_correction_equal_to_the_stored_value_is_refused(export):
    """A 'correction' that changes nothing is not a rounding the file made (each listed parameter must differ)."""
    doc = copy.deepcopy(export["doc"])
    net = load_model(export["reduced"])
    fixed = {(c[0], c[1], c[2]) for c in doc["epsilon_proof"]["corrections"]}
    ell, r, c = next((ell, r, c) for ell, lay in enumerate(net.layers, start=1) for r in range(lay.out_features)
                     for c in range(lay.in_features) if (ell, r, c) not in fixed)
    stored = F(net.layers[ell - 1].weight[r, c])
    doc["epsilon_proof"]["corrections"].append([ell, r, c, f"{stored.numerator}/{stored.denominator}"
                                                if stored.denominator != 1 else str(stored.numerator)])
    result = check_epsilon(doc, export["original"], export["reduced"], solver_check="none")
    assert any(x.startswith(f"correction layer {ell} row {r} column {c}: float32 value") for x in result.reasons)


def test_dtype_and_file_kind_must_match(export, tmp_path):
    doc = copy.deepcopy(export["doc"])
    doc["epsilon_proof"]["dtype"] = "float64"
    result = check_epsilon(doc, export["original"], export["reduced"], solver_check="none")
    assert result.reasons[0] == "reduced model: the file is float32, the certificate says float64"
    nnet = tmp_path / "reduced.nnet"
    save_model(load_model(export["reduced"]), nnet)
    import hashlib

    doc = copy.deepcopy(export["doc"])
    doc["models"]["reduced"]["sha256"] = hashlib.sha256(nnet.read_bytes()).hexdigest()
    result = check_epsilon(doc, export["original"], nnet, solver_check="none")
    assert result.reasons == ["reduced model: ε-certificates are for float32/float64 ONNX files without "
                              "normalisation metadata"]


def test_every_misfit_correction_is_reported_up_to_five(export):
    doc = copy.deepcopy(export["doc"])
    fixes = doc["epsilon_proof"]["corrections"]
    fixes[0] = [9, 0, 0, fixes[0][3]]  # no such layer
    fixes.append(list(fixes[1]))  # listed twice
    fixes.append([1, 0, 7, "1"])  # no such column
    result = check_epsilon(doc, export["original"], export["reduced"], solver_check="none")
    misfits = [r for r in result.reasons if r.startswith("correction layer")]
    assert misfits == ["correction layer 9 row 0 column 0: no such parameter in the reduced model",
                       f"correction layer {fixes[1][0]} row {fixes[1][1]} column {fixes[1][2]}: listed twice",
                       "correction layer 1 row 0 column 7: no such parameter in the reduced model"]
    many = copy.deepcopy(export["doc"])
    many["epsilon_proof"]["corrections"] += [[5, r, 0, "1"] for r in range(7)]
    result = check_epsilon(many, export["original"], export["reduced"], solver_check="none")
    assert len([r for r in result.reasons if r.startswith("correction layer 5")]) == 5


def test_check_dispatches_epsilon_certificates_with_the_solver_policy(export, tmp_path):
    """check() hands an ε-certificate to the ε-checker with the caller's solver_check: 'none' runs no z3."""
    doc = copy.deepcopy(export["doc"])
    entry = doc["epsilon_proof"]["corrections"][0]
    entry[3] = fraction_str(F(entry[3]) + F(1, 2**80))  # still rounds to the file's value: the strict part breaks
    path = tmp_path / "eps.json"
    path.write_text(json.dumps(doc))
    none = check(path, export["original"], export["reduced"], solver_check="none")
    every = check(path, export["original"], export["reduced"], solver_check="all")
    assert none.valid is False and every.valid is False
    assert not any("z3 answers" in r for r in none.reasons) and any("z3 answers" in r for r in every.reasons)
