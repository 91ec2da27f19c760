"""The checker reads the certificate document strictly: every malformed field gives `invalid` with a reason that
names the field (what, where). And it re-runs exactly the recorded bounds method: a phase claim that only a
tighter method confirms is invalid."""

from __future__ import annotations

import copy
import hashlib
import json
from fractions import Fraction
from pathlib import Path

import pytest

from lumpcheck.checker import FORMAT_VERSION, check
from lumpcheck.errors import LumpcheckError
from lumpcheck.io import save_model
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Network
from lumpcheck.ir.relation import LayerRelation, NeuronMap, Relation
from lumpcheck.prove.prover import prove
from lumpcheck.prove.records import write_certificate
from lumpcheck.reduction.domain import reduce_on_domain
from exact_nets import dense

F = Fraction
RELU = Activation("relu")


def certify(directory: Path, original: Network, reduced: Network, relation, **kw) -> tuple[Path, Path, dict]:
    directory.mkdir(parents=True, exist_ok=True)
    a, b, c = directory / "original.onnx", directory / "reduced.onnx", directory / "cert.json"
    save_model(original, a, dtype="float64")
    save_model(reduced, b, dtype="float64")
    write_certificate(prove(a, b, relation, **kw), c)
    return a, b, json.loads(c.read_text())


def checked(doc: dict, a: Path, b: Path, tmp_path: Path, solver_check: str = "none"):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    return check(path, a, b, solver_check=solver_check)


# one hidden ReLU layer: kept x, proportional 2x, a ghost class {x + 1, 2x + 2} whose outgoing weights cancel, and
# the constant relu(3) = 3
LUMPED = dense(([[1], [2], [1], [2], [0]], [0, 0, 1, 2, 3], RELU), ([[1, 1, 2, -1, 1]], [0], IDENTITY))
QUOTIENT = dense(([[1]], [0], RELU), ([[3]], [3], IDENTITY))
RELATION = Relation([LayerRelation([NeuronMap(((0, F(1)),)), NeuronMap(((0, F(2)),), F(0), "proportional"),
                                    NeuronMap(((1, F(1)),), F(0), "dead"), NeuronMap(((1, F(2)),), F(0), "dead"),
                                    NeuronMap((), F(3), "constant")], 1, ghosts=1)])


@pytest.fixture(scope="module")
def lumped(tmp_path_factory) -> tuple[Path, Path, dict]:
    a, b, doc = certify(tmp_path_factory.mktemp("lumped"), LUMPED, QUOTIENT, RELATION)
    assert doc["verdict"] == "proved"
    return a, b, doc


def test_lumped_certificate_is_valid(lumped, tmp_path):
    a, b, doc = lumped
    for solver_check in ("none", "all", "auto"):
        assert str(checked(doc, a, b, tmp_path, solver_check)) == "valid: equal on all inputs"


def _set(path: str, value):
    """A change setting doc[path] (dotted, integers index lists) to value; value DELETE removes the key."""
    def change(doc):
        *head, last = [int(k) if k.lstrip("-").isdigit() else k for k in path.split(".")]
        for k in head:
            doc = doc[k]
        if value is DELETE:
            del doc[last]
        else:
            doc[last] = value
    return change


DELETE = object()
N0 = "relation.0.neurons"
LUMPED_TAMPERS = [
    (_set("format", "other"), f"certificate: not a lumpcheck-certificate version {FORMAT_VERSION}"),
    (_set("format_version", 1), f"certificate: not a lumpcheck-certificate version {FORMAT_VERSION}"),
    (_set("format_version", True), "certificate: $.format_version has the wrong type"),
    (_set("format", DELETE), "certificate: $ has no field 'format'"),
    (_set("claim", []), "certificate: $.claim has the wrong type"),
    (_set("claim.mode", DELETE), "certificate: claim has no field 'mode'"),
    (_set("claim.mode", "top1"), "certificate: mode 'top1' is not supported by this checker (only strict)"),
    (_set("claim.epsilon", "1/2"), "certificate: mode 'strict' is not supported by this checker (only strict)"),
    (_set("verdict", "failed"), "certificate: its verdict is not 'proved'"),
    (_set("verdict", DELETE), "certificate: $ has no field 'verdict'"),
    (_set("models", DELETE), "certificate: $ has no field 'models'"),
    (_set("models.reduced", DELETE), "certificate: models has no field 'reduced'"),
    (_set("models.original.sha256", DELETE), "certificate: models.original has no field 'sha256'"),
    (_set("models.reduced.sha256", 7), "certificate: models.reduced.sha256 has the wrong type"),
    (_set("claim.domain", {"lower": ["0"]}), "certificate: claim.domain has no field 'upper'"),
    (_set("claim.domain", {"lower": ["0"], "upper": ["1/3", "0.5"]}),
     "certificate: claim.domain.upper = '0.5' is not an exact rational 'p/q' in lowest terms"),
    (_set("claim.domain", {"lower": ["2/4"], "upper": ["1"]}),
     "certificate: claim.domain.lower = '2/4' is not an exact rational 'p/q' in lowest terms"),
    (_set("claim.domain", {"lower": ["2"], "upper": ["1"]}), "domain: must give lower <= upper for each of the 1 inputs"),
    (_set("relation", {}), "certificate: $.relation has the wrong type"),
    (_set("relation.0.layer", 2), "certificate: relation[0] is not layer 1"),
    (_set("relation.0.layer", DELETE), "certificate: relation[0] has no field 'layer'"),
    (_set("relation.0.neurons", DELETE), "certificate: relation[0] has no field 'neurons'"),
    (_set("relation.0.reduced_width", -1), "certificate: relation[0] has a negative reduced width or ghost count"),
    (_set("relation.0.ghosts", -1), "certificate: relation[0] has a negative reduced width or ghost count"),
    (_set("relation.0.ghosts", "1"), "certificate: relation[0].ghosts has the wrong type"),
    (_set(f"{N0}.1.terms", [[0, "2", "x"]]), "certificate: relation[0].neurons[1].terms has an entry that is not [neuron, 'p/q']"),
    (_set(f"{N0}.1.terms", [[True, "2"]]), "certificate: relation[0].neurons[1].terms has an entry that is not [neuron, 'p/q']"),
    (_set(f"{N0}.1.terms", ["0"]), "certificate: relation[0].neurons[1].terms has an entry that is not [neuron, 'p/q']"),
    (_set(f"{N0}.1.terms", [[0, 2]]), "certificate: relation[0].neurons[1].terms = 2 is not an exact rational 'p/q' in lowest terms"),
    (_set(f"{N0}.1.reason", "merged"), "certificate: relation[0].neurons[1].reason 'merged' is unknown"),
    (_set(f"{N0}.4.offset", "3.0"), "certificate: relation[0].neurons[4].offset = '3.0' is not an exact rational 'p/q' in lowest terms"),
    (_set(f"{N0}.4.offset", DELETE), "certificate: relation[0].neurons[4].offset = None is not an exact rational 'p/q' in lowest terms"),
    (_set("activation_lemmas.0.alpha", "1/1"), "certificate: activation_lemmas[0].alpha = '1/1' is not an exact rational 'p/q' in lowest terms"),
    (_set("activation_lemmas.0.factor", DELETE), "certificate: activation_lemmas[0].factor = None is not an exact rational 'p/q' in lowest terms"),
    (_set("activation_lemmas.0.offset", "x"), "certificate: activation_lemmas[0].offset = 'x' is not an exact rational 'p/q' in lowest terms"),
    (_set("activation_lemmas.0.activation", 1), "certificate: activation_lemmas[0].activation has the wrong type"),
    (_set("activation_lemmas.0.basis", DELETE), "certificate: activation_lemmas[0] has no field 'basis'"),
    (_set("obligations.1.id", "structure"), "certificate: obligation structure is listed twice"),
    (_set("obligations.1.status", DELETE), "certificate: obligations[1] has no field 'status'"),
    (_set("obligations.1.neurons", "all"), "certificate: obligations[1].neurons has the wrong type"),
    (_set("obligations.1.id", DELETE), "certificate: obligations[1] has no field 'id'"),
    (_set("bounds", {"method": "lp", "parts": 1, "layers": []}),
     "certificate: bounds method 'lp' with 1 parts is not one the checker re-runs"),
    (_set("bounds", {"method": "split", "parts": 0, "layers": []}),
     "certificate: bounds method 'split' with 0 parts is not one the checker re-runs"),
    (_set("bounds", {"method": "interval", "parts": 1}), "certificate: bounds has no field 'layers'"),
    (_set("bounds", {"parts": 1, "layers": []}), "certificate: bounds has no field 'method'"),
    (_set("bounds", {"method": "interval", "layers": []}), "certificate: bounds has no field 'parts'"),
]


@pytest.mark.parametrize("change, reason", LUMPED_TAMPERS, ids=[r for _, r in LUMPED_TAMPERS])
def test_malformed_document_is_invalid_with_a_named_field(lumped, tmp_path, change, reason):
    a, b, doc = lumped
    doc = copy.deepcopy(doc)
    change(doc)
    result = checked(doc, a, b, tmp_path)
    assert result.valid is False and result.reasons[0] == reason, result.reasons


def test_not_a_document(lumped, tmp_path):
    a, b, _ = lumped
    for text in ("[]", "null", "7"):
        (tmp_path / "c.json").write_text(text)
        assert str(check(tmp_path / "c.json", a, b)) == "invalid: certificate: $ has no field 'format'"
    (tmp_path / "c.json").write_bytes(b"\xff\xfe")
    result = check(tmp_path / "c.json", a, b)
    assert result.valid is False and str(result).startswith("invalid: certificate: not JSON (")
    with pytest.raises(LumpcheckError, match="no such file"):
        check(tmp_path / "missing.json", a, b)
    with pytest.raises(LumpcheckError, match="solver check must be all, auto or none, not 'some'"):
        check(tmp_path / "c.json", a, b, solver_check="some")


def test_models_are_checked_by_hash(lumped, tmp_path):
    a, b, doc = lumped
    bad = copy.deepcopy(doc)
    bad["models"]["reduced"]["sha256"] = "0" * 64
    result = checked(bad, a, b, tmp_path)
    digest = hashlib.sha256(b.read_bytes()).hexdigest()
    assert result.reasons[0] == f"reduced model: sha256 of {b} is {digest[:12]}…, the certificate says {'0' * 12}…"
    assert len(result.reasons) == 1
    with pytest.raises(LumpcheckError, match="missing.onnx"):
        checked(doc, a, tmp_path / "missing.onnx", tmp_path)


def test_listed_obligations_must_match(lumped, tmp_path):
    a, b, doc = lumped
    ids = [o["id"] for o in doc["obligations"]]
    assert ids == ["structure", "L1.linear", "L1.ghost", "L1.constant", "L2.linear", "act.relu:c=1:o=0", "act.relu:c=2:o=0"]
    extra = copy.deepcopy(doc)
    extra["obligations"].append({**extra["obligations"][1], "id": "L9.linear"})
    assert checked(extra, a, b, tmp_path).reasons == ["obligation L9.linear is listed but does not follow from the relation"]
    moved = copy.deepcopy(doc)
    moved["obligations"][2]["neurons"] = [2]
    assert checked(moved, a, b, tmp_path).reasons == [
        "obligation L1.ghost: certificate lists it as proved for neurons [2], re-derived for [2, 3]"]
    dropped = copy.deepcopy(doc)
    dropped["obligations"].pop(3)
    assert checked(dropped, a, b, tmp_path).reasons == ["obligation L1.constant is not listed in the certificate"]
    two = next(i for i, lm in enumerate(doc["activation_lemmas"]) if lm["factor"] == "2")
    lemma = copy.deepcopy(doc)
    lemma["activation_lemmas"][two]["factor"] = "3"
    assert checked(lemma, a, b, tmp_path).reasons[0].startswith("activation lemmas: certificate lists 2, the relation uses 2")
    basis = copy.deepcopy(doc)
    basis["activation_lemmas"][two]["basis"] = "trivial"
    assert checked(basis, a, b, tmp_path).reasons == [
        "activation lemma relu(2*z) == 2*relu(z) + 0: certificate says ('trivial', None), expected ('theorem', None)"]


# ---------------------------------------------------------------- the recorded bounds method is the one re-run

BOX2 = Box((F(-1), F(-1)), (F(1), F(1)))
# h1 = relu(x + y), h2 = relu(x − y) on [-1, 1]^2; z = h1 + h2 − 21/8 <= 2 − 21/8 < 0 everywhere. Interval bounds give
# z <= 4 − 21/8, symbolic (triangle relaxation) 3 − 21/8 > 0; split in 2 parts per input: at most 5/2 − 21/8 < 0.
SPLIT_ONLY = dense(([[1, 1], [1, -1]], [0, 0], RELU), ([[1, 1], [1, 0]], [F(-21, 8), 0], RELU),
                   ([[1, 1]], [0], IDENTITY))
# identity layer: h1 = h2 = x; z = h1 − h2 − 1/2 = −1/2. Interval bounds: z in [−5/2, 3/2]; symbolic: exactly −1/2.
SYMBOLIC_ONLY = dense(([[1], [1]], [0, 0], IDENTITY), ([[1, -1], [1, 0]], [F(-1, 2), 0], RELU), ([[1, 1]], [0], IDENTITY))
BOX1 = Box((F(-1),), (F(1),))


@pytest.fixture(scope="module")
def split_only(tmp_path_factory):
    red = reduce_on_domain(SPLIT_ONLY, BOX2, bounds_method="split")
    assert [m.reason for m in red.relation.layers[1].maps][0] == "inactive" and red.claims.parts == 2
    a, b, doc = certify(tmp_path_factory.mktemp("split"), SPLIT_ONLY, red.network, red)
    assert doc["verdict"] == "proved" and doc["bounds"]["method"] == "split"
    return a, b, doc


@pytest.fixture(scope="module")
def symbolic_only(tmp_path_factory):
    red = reduce_on_domain(SYMBOLIC_ONLY, BOX1, bounds_method="symbolic")
    assert [m.reason for m in red.relation.layers[1].maps][0] == "inactive"
    a, b, doc = certify(tmp_path_factory.mktemp("symbolic"), SYMBOLIC_ONLY, red.network, red)
    assert doc["verdict"] == "proved" and doc["bounds"]["method"] == "symbolic"
    return a, b, doc


@pytest.mark.parametrize("method, parts, valid", [("split", 2, True), ("split", 3, True), ("split", 1, False),
                                                  ("symbolic", 1, False), ("symbolic", 2, False),
                                                  ("interval", 1, False), ("interval", 2, False)])
def test_split_only_claim_needs_the_split_method(split_only, tmp_path, method, parts, valid):
    a, b, doc = split_only
    doc = copy.deepcopy(doc)
    doc["bounds"].update(method=method, parts=parts)
    result = checked(doc, a, b, tmp_path)
    assert result.valid == valid, result.reasons
    if not valid:
        assert result.reasons[0].startswith(f"layer 2 neuron 0: claimed inactive, but the {method} bounds are ")


@pytest.mark.parametrize("method, valid", [("symbolic", True), ("split", True), ("interval", False)])
def test_symbolic_only_claim_is_refuted_by_interval_bounds(symbolic_only, tmp_path, method, valid):
    a, b, doc = symbolic_only
    doc = copy.deepcopy(doc)
    doc["bounds"]["method"] = method
    result = checked(doc, a, b, tmp_path)
    assert result.valid == valid, result.reasons


PHASE_TAMPERS = [
    (_set("bounds.layers.0.layer", 2), "certificate: bounds.layers[0] is not layer 1"),
    (_set("bounds.layers.1.layer", 3), "certificate: bounds.layers[1] is not layer 2"),
    (_set("bounds.layers.1.inactive", [[0, "-1/8"], [0, "-1/8"]]), "certificate: bounds.layers[1] claims neuron 0 twice"),
    (_set("bounds.layers.1.inactive", [[0]]), "certificate: bounds.layers[1].inactive has an entry that is not [neuron, 'p/q']"),
    (_set("bounds.layers.1.inactive", [["0", "-1"]]), "certificate: bounds.layers[1].inactive has an entry that is not [neuron, 'p/q']"),
    (_set("bounds.layers.1.inactive", [[0, -1]]), "certificate: bounds.layers[1].inactive = -1 is not an exact rational 'p/q' in lowest terms"),
    (_set("bounds.layers.1.active", DELETE), "certificate: bounds.layers[1] has no field 'active'"),
    (_set("bounds.layers.1", []), "certificate: bounds.layers[1] has no field 'layer'"),
    (_set("bounds.layers.1.inactive", [[5, "-1"]]), "bounds layer 2: a claimed neuron is out of range"),
    (_set("bounds.layers.1.inactive", []), "layer 2 neuron 0: inactive needs a claimed phase -1 and a ReLU (or "
                                           "LeakyReLU with alpha 0), not phase 0 of relu"),
    (lambda d: d["bounds"]["layers"].pop(), "bounds: phase claims for 1 layers, 2 hidden layers"),
    (_set("bounds.layers.0.active", [[0, "0"]]), "layer 1 neuron 0: claimed active, but the split bounds are "),
]


@pytest.mark.parametrize("change, reason", PHASE_TAMPERS, ids=[r for _, r in PHASE_TAMPERS])
def test_malformed_phase_claims_are_invalid(split_only, tmp_path, change, reason):
    a, b, doc = split_only
    doc = copy.deepcopy(doc)
    change(doc)
    result = checked(doc, a, b, tmp_path)
    assert not result.valid and reason in result.reasons[0], result.reasons


def test_constant_with_an_irrational_value_is_invalid(tmp_path):
    """sigmoid(1) is irrational: no rational offset is its value (only sigmoid(0) = 1/2 is)."""
    sigmoid = Activation("sigmoid")
    for bias, valid in ((1, False), (0, True)):
        net = dense(([[1], [0]], [0, bias], sigmoid), ([[1, 0]], [0], IDENTITY))
        red = dense(([[1]], [0], sigmoid), ([[1]], [0], IDENTITY))
        rel = Relation([LayerRelation([NeuronMap(((0, F(1)),)), NeuronMap((), F(1, 2), "constant")], 1)])
        a, b, doc = certify(tmp_path / str(bias), net, red, rel)
        doc["verdict"] = "proved"
        for ob in doc["obligations"]:
            ob["status"] = "proved"
        result = checked(doc, a, b, tmp_path)
        assert result.valid == valid, result.reasons
        assert valid or result.reasons == ["layer 1 neuron 1: not the constant 1/2"]


def test_lemma_false_only_at_zero_is_refused_with_its_point(tmp_path):
    """relu(−z) = −relu(z) + 1 holds at z = ±1 and fails at 0: the checker names the point and both sides."""
    net = dense(([[1], [-1]], [0, 0], RELU), ([[1, 1]], [0], IDENTITY))
    red = dense(([[1]], [0], RELU), ([[0]], [1], IDENTITY))
    rel = Relation([LayerRelation([NeuronMap(((0, F(1)),)), NeuronMap(((0, F(-1)),), F(1), "negated")], 1)])
    a, b, doc = certify(tmp_path / "lemma", net, red, rel)
    assert doc["verdict"] == "failed"
    doc["verdict"] = "proved"
    for ob in doc["obligations"]:
        ob["status"] = "proved"
    result = checked(doc, a, b, tmp_path)
    assert "activation lemma relu(-1*z) == -1*relu(z) + 1 is not admitted: at z=0: 0 vs 1" in result.reasons, result.reasons
