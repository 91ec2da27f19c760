"""Domain (linear) maps with every slope source: LeakyReLU phases (slope 1 or α), identity layers (slope 1, no phase
claim needed). The prover and the checker accept the honest certificate and refuse each tampering, z3 on or off."""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from pathlib import Path

import pytest

from lumpcheck.checker import check
from lumpcheck.io import save_model
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Network, evaluate
from lumpcheck.ir.relation import LayerRelation, NeuronMap, PhaseClaim, PhaseClaims, Relation
from lumpcheck.prove.prover import prove, prove_networks
from lumpcheck.prove.records import write_certificate
from lumpcheck.reduction.domain import reduce_on_domain
from exact_nets import dense

F = Fraction
LEAKY = Activation("leaky_relu", F(1, 8))
BOX = Box((F(1),), (F(2),))
SOLVER_CHECKS = ["none", "auto"]


# On [1, 2]: z0 = x active; z1 = −x − 1 inactive, so v1 = (−x − 1)/8 = −v0/8 − 1/8; z2 = x + 3 active: v2 = v0 + 3.
LEAKY_NET = dense(([[1], [-1], [1]], [0, -1, 3], LEAKY), ([[1, 1, 1]], [0], IDENTITY))
# An identity hidden layer folds anywhere: h1 = 2x + 1 = 2·h0 + 1 (no phase claim).
IDENTITY_NET = dense(([[1], [2]], [0, 1], IDENTITY), ([[1, 1]], [0], IDENTITY))


def certificate(directory: Path, net: Network) -> tuple[Path, Path, dict]:
    red = reduce_on_domain(net, BOX, bounds_method="interval")
    a, b, c = directory / "a.onnx", directory / "b.onnx", directory / "c.json"
    save_model(net, a, dtype="float64")
    save_model(red.network, b, dtype="float64")
    write_certificate(prove(a, b, red), c)
    for x in (F(1), F(3, 2), F(2)):
        assert evaluate(net, [x]) == evaluate(red.network, [x])
    return a, b, json.loads(c.read_text())


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    a, b, doc = certificate(tmp_path_factory.mktemp("leaky"), LEAKY_NET)
    maps = doc["relation"][0]["neurons"]
    assert [m["reason"] for m in maps] == ["kept", "linear", "linear"]
    assert (maps[1]["terms"], maps[1]["offset"]) == ([[0, "-1/8"]], "-1/8")
    assert doc["verdict"] == "proved"
    return a, b, doc


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    a, b, doc = certificate(tmp_path_factory.mktemp("identity"), IDENTITY_NET)
    assert [m["reason"] for m in doc["relation"][0]["neurons"]] == ["kept", "linear"]
    assert doc["bounds"]["layers"] == [{"layer": 1, "inactive": [], "active": []}] and doc["verdict"] == "proved"
    return a, b, doc


def checked(doc: dict, a: Path, b: Path, tmp_path: Path, solver_check: str):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    return check(path, a, b, solver_check=solver_check)


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_honest_domain_certificates_are_valid(leaky, identity, tmp_path, solver_check):
    for a, b, doc in (leaky, identity):
        result = checked(doc, a, b, tmp_path, solver_check)
        assert result.valid, result.reasons


def _phase(doc: dict, neuron: int, new: str | None) -> None:
    """Move neuron's phase claim of layer 1 to `new` ('active' / 'inactive'), or drop it (None)."""
    lay = doc["bounds"]["layers"][0]
    entry = next(e for key in ("active", "inactive") for e in lay[key] if e[0] == neuron)
    for key in ("active", "inactive"):
        lay[key] = [e for e in lay[key] if e[0] != neuron]
    if new:
        lay[new].append(entry)


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
@pytest.mark.parametrize("neuron, new, words", [
    (1, "active", "layer 1 neuron 1: claimed active, but the interval bounds are"),
    (0, "inactive", "layer 1 neuron 0: claimed inactive, but the interval bounds are"),
    (1, None, "layer 1 neuron 1: a linear map needs a phase claim for itself and for a witness of each of its classes"),
    (0, None, "layer 1 neuron 1: a linear map needs a phase claim for itself and for a witness of each of its classes"),
])
def test_leaky_phase_claims_decide_the_slopes(leaky, tmp_path, solver_check, neuron, new, words):
    a, b, doc = leaky
    doc = copy.deepcopy(doc)
    _phase(doc, neuron, new)
    result = checked(doc, a, b, tmp_path, solver_check)
    assert not result.valid and any(r.startswith(words) for r in result.reasons), result.reasons


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
@pytest.mark.parametrize("neuron, field, value", [(1, "offset", "-1/4"), (1, "terms", [[0, "-1/4"]]),
                                                  (2, "offset", "2"), (2, "terms", [[0, "2"]])])
def test_leaky_linear_map_tampered(leaky, tmp_path, solver_check, neuron, field, value):
    a, b, doc = leaky
    doc = copy.deepcopy(doc)
    doc["relation"][0]["neurons"][neuron][field] = value
    result = checked(doc, a, b, tmp_path, solver_check)
    assert not result.valid
    assert any(r.startswith(f"layer 1 neuron {neuron}: slope x pre-activation != the claimed combination")
               for r in result.reasons), result.reasons


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
@pytest.mark.parametrize("field, value", [("offset", "2"), ("offset", "0"), ("terms", [[0, "1"]])])
def test_identity_linear_map_tampered(identity, tmp_path, solver_check, field, value):
    a, b, doc = identity
    doc = copy.deepcopy(doc)
    doc["relation"][0]["neurons"][1][field] = value
    result = checked(doc, a, b, tmp_path, solver_check)
    assert not result.valid
    assert any(r.startswith("layer 1 neuron 1: slope x pre-activation != the claimed combination") for r in result.reasons)


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_prover_derives_leaky_slopes(solver_check):
    red = reduce_on_domain(LEAKY_NET, BOX, bounds_method="interval")
    records, _, _ = prove_networks(LEAKY_NET, red.network, red.relation, BOX, solver_check=solver_check, claims=red.claims)
    assert all(r.status == "proved" for r in records), [(r.id, r.detail) for r in records]
    maps = list(red.relation.layers[0].maps)
    maps[1] = NeuronMap(maps[1].terms, F(-1, 4), "linear")  # as if the slope on z <= 0 were 1/4
    lr = LayerRelation(maps, red.relation.layers[0].reduced_width, red.relation.layers[0].ghosts)
    records, _, _ = prove_networks(LEAKY_NET, red.network, Relation([lr]), BOX, solver_check=solver_check,
                                   claims=red.claims)
    failed = {r.id: r.detail for r in records if r.status != "proved"}
    assert set(failed) == {"L1.domain", "L2.linear"} and failed["L1.domain"].startswith("neuron 1: constant term")


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_prover_needs_phase_claims_for_linear_maps(solver_check):
    red = reduce_on_domain(LEAKY_NET, BOX, bounds_method="interval")
    for drop in (0, 1):  # the witness of class 0, or the folded neuron itself
        claims = copy.deepcopy(red.claims)
        claims.layers[0] = [c for c in claims.layers[0] if c.neuron != drop]
        records, _, _ = prove_networks(LEAKY_NET, red.network, red.relation, BOX, solver_check=solver_check,
                                       claims=claims)
        failed = {r.id: r.detail for r in records if r.status != "proved"}
        assert "L1.domain" in failed and "phase claim" in failed["L1.domain"], failed


# ---------------------------------------------------------------- witnesses: whose phase gives a class's slope

HALF = Activation("leaky_relu", F(1, 2))
# On [1, 2]: n0 = x (active), n1 = −x (inactive, v1 = −x/2), n2 = −2x = 2·z1, n3 = −3x (inactive: v3 = −3x/2 = 3·v1).
WITNESSED = dense(([[1], [-1], [-2], [-3]], [0, 0, 0, 0], HALF), ([[1, 1, 1, 1]], [0], IDENTITY))
WITNESSED_REDUCED = dense(([[1], [-1]], [0, 0], HALF), ([[1, 6]], [0], IDENTITY))


def hand_certificate(tmp_path: Path, maps: list[NeuronMap], claims: list[tuple[int, int]], reduced=WITNESSED_REDUCED):

    relation = Relation([LayerRelation(maps, 2)])
    phase_claims = PhaseClaims("interval", 1, [[PhaseClaim(r, p, F(0)) for r, p in claims]])
    records, _, _ = prove_networks(WITNESSED, reduced, relation, BOX, solver_check="none", claims=phase_claims)
    a, b, c = tmp_path / "a.onnx", tmp_path / "b.onnx", tmp_path / "c.json"
    save_model(WITNESSED, a, dtype="float64")
    save_model(reduced, b, dtype="float64")
    write_certificate(prove(a, b, relation, BOX, claims=phase_claims), c)
    doc = json.loads(c.read_text())
    doc["verdict"] = "proved"
    for ob in doc["obligations"]:
        ob["status"] = "proved"
    return {r.id: r.status for r in records}, a, b, doc


KEPT = [NeuronMap(((0, F(1)),)), NeuronMap(((1, F(1)),))]
MEMBER = NeuronMap(((1, F(2)),), F(0), "proportional")


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_the_first_claimed_member_is_the_witness(tmp_path, solver_check):
    """Class 1 = {n1 (no phase claim), n2 = 2·n1 (claimed inactive)}: n2 vouches for the class's slope 1/2, so
    v3 = 3·v1 (slopes 1/2 on both sides) is proved and checked."""
    for x in (F(1), F(3, 2), F(2)):
        assert evaluate(WITNESSED, [x]) == evaluate(WITNESSED_REDUCED, [x])
    maps = [*KEPT, MEMBER, NeuronMap(((1, F(3)),), F(0), "linear")]
    status, a, b, doc = hand_certificate(tmp_path, maps, [(0, 1), (2, -1), (3, -1)])
    assert set(status.values()) == {"proved"}, status
    result = checked(doc, a, b, tmp_path, solver_check)
    assert result.valid, result.reasons


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_an_unrelated_claim_is_no_witness(tmp_path, solver_check):
    """The false map v2 = 1·v1 (truly v2 = 2·v1) with no claim on class 1's only member: refused. Taking the slope
    of the first claimed neuron (n0, active: 1) instead would make it look true."""
    reduced = dense(([[1], [-1]], [0, 0], HALF), ([[1, 2]], [0], IDENTITY))
    maps = [*KEPT, NeuronMap(((1, F(1)),), F(0), "linear"), NeuronMap(((1, F(3)),), F(0), "linear")]
    status, a, b, doc = hand_certificate(tmp_path, maps, [(0, 1), (2, -1), (3, -1)], reduced)
    assert status["L1.domain"] == "failed"
    result = checked(doc, a, b, tmp_path, solver_check)
    assert not result.valid
    assert result.reasons[0] == ("layer 1 neuron 2: a linear map needs a phase claim for itself and for a witness of "
                                 "each of its classes")


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_domain_mismatch_names_the_term(leaky, tmp_path, solver_check):
    a, b, doc = leaky
    for field, value, what in (("offset", "0", "constant term"), ("terms", [[0, "2"]], "coefficient 0")):
        bad = copy.deepcopy(doc)
        bad["relation"][0]["neurons"][2][field] = value
        result = checked(bad, a, b, tmp_path, solver_check)
        assert f"layer 1 neuron 2: slope x pre-activation != the claimed combination ({what})" in result.reasons


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_a_ghost_without_a_phase_claim_gives_no_slope(tmp_path, solver_check):
    """n1 = −x is a ghost class (its own representative, no phase claim); the map v2 = 1·g is false on [1, 2]
    (v2 = −x, g = v1 = −x/2) yet would hold if the ghost's slope defaulted to 1. The networks differ (2x vs x), so
    proving it would be a wrong 'proved'; with the true claim n1 inactive the map is refuted too."""
    original = dense(([[1], [-1], [-2]], [0, 0, 0], HALF), ([[1, 2, -2]], [0], IDENTITY))
    reduced = dense(([[1]], [0], HALF), ([[1]], [0], IDENTITY))
    assert evaluate(original, [F(1)]) != evaluate(reduced, [F(1)])
    hidden = [HALF.exact(z) for z in (F(-1), F(-2))]  # v1, v2 at x = 1
    assert hidden[1] != 1 * hidden[0]  # the map v2 = 1·g is false
    maps = [NeuronMap(((0, F(1)),)), NeuronMap(((1, F(1)),), F(0), "dead"), NeuronMap(((1, F(1)),), F(0), "linear")]
    relation = Relation([LayerRelation(maps, 1, 1)])
    for claims in ([(0, 1), (2, -1)], [(0, 1), (1, -1), (2, -1)]):
        phase_claims = PhaseClaims("interval", 1, [[PhaseClaim(r, p, F(0)) for r, p in claims]])
        records, _, _ = prove_networks(original, reduced, relation, BOX, solver_check=solver_check,
                                       claims=phase_claims)
        assert any(r.status != "proved" for r in records), [(r.id, r.status) for r in records]
        assert {r.id: r.status for r in records}["L1.domain"] != "proved"
