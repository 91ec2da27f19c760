"""One rule at a time, prover and checker side by side: phase claims at their boundaries (upper = 0, lower = 0),
false phase claims, the recorded bounds method, constants that are not constant, linear maps onto ghost classes
and across a layer with ghosts, and the wording of structure problems."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from lumpcheck.checker import check
from lumpcheck.io import save_model
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate
from lumpcheck.ir.relation import LayerRelation, NeuronMap, PhaseClaim, PhaseClaims, Relation
from lumpcheck.prove.discharge import exact_lemma
from lumpcheck.prove.obligations import ActivationLemma, integer_form
from lumpcheck.prove.prover import prove, prove_networks
from lumpcheck.prove.records import write_certificate
from exact_nets import dense

F = Fraction
RELU = Activation("relu")
SOLVER_CHECKS = ["none", "auto", "all"]


def kept(j: int) -> NeuronMap:
    return NeuronMap(((j, F(1)),))


def both(tmp_path: Path, original, reduced, relation, solver_check, domain=None, claims=None):
    """(prover records by id, checker result) for the same claim; the certificate is forged 'proved'."""
    records, _, _ = prove_networks(original, reduced, relation, domain, solver_check=solver_check, claims=claims)
    a, b, c = tmp_path / "a.onnx", tmp_path / "b.onnx", tmp_path / "c.json"
    save_model(original, a, dtype="float64")
    save_model(reduced, b, dtype="float64")
    write_certificate(prove(a, b, relation, domain, claims=claims, solver_check=solver_check), c)
    doc = json.loads(c.read_text())
    doc["verdict"] = "proved"
    for ob in doc["obligations"]:
        ob["status"] = "proved"
    c.write_text(json.dumps(doc))
    return {r.id: (r.status, r.detail) for r in records}, check(c, a, b, solver_check=solver_check)


# ---------------------------------------------------------------- phase claims

HUGE = F(2) ** 1000
WIDE = Box((F(0),), (F(2) ** 40,))


def one_claim(slope: int, bias: object) -> tuple[Network, Network, Relation, PhaseClaims]:
    """On [0, 2^40]: n0 = 2^1000·x (its float bounds overflow, so every bound is computed exactly and rounded
    outward: an exact 0 stays 0) and n1 = relu(slope·x + bias), claimed inactive (slope −1: removed) or active
    (slope 1: folded as 2^-1000·v0 + bias); the output is v1."""
    net = dense(([[HUGE], [slope]], [0, bias], RELU), ([[0, 1]], [0], IDENTITY))
    if slope < 0:
        red = dense(([[HUGE]], [0], RELU), ([[0]], [0], IDENTITY))
        m1, claims = NeuronMap((), F(0), "inactive"), [PhaseClaim(1, -1, F(0))]
    else:
        red = dense(([[HUGE]], [0], RELU), ([[1 / HUGE]], [bias], IDENTITY))
        m1, claims = NeuronMap(((0, 1 / HUGE),), F(bias), "linear"), [PhaseClaim(0, 1, F(0)), PhaseClaim(1, 1, F(0))]
    return net, red, Relation([LayerRelation([kept(0), m1], 1)]), PhaseClaims("interval", 1, [claims])


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
@pytest.mark.parametrize("slope, bias, holds", [(-1, 0, True), (-1, F(1, 2), False), (1, 0, True), (1, F(-1, 2), False)])
def test_phase_claims_at_and_beyond_zero(tmp_path, solver_check, slope, bias, holds):
    """upper = 0 is inactive and lower = 0 active (the claims hold); claims 1/2 beyond are false, in both engines."""
    net, red, rel, claims = one_claim(slope, bias)
    records, result = both(tmp_path, net, red, rel, solver_check, WIDE, claims)
    assert (records["L1.bounds"][0] == "proved") == holds, records
    assert result.valid == holds, result.reasons
    word, side = ("inactive", "upper") if slope < 0 else ("active", "lower")
    if not holds:
        assert result.reasons[0].startswith(f"layer 1 neuron 1: claimed {word}, but the interval bounds are [")
        assert records["L1.bounds"][1] == f"neuron 1: claimed {word}: {side} bound (vs 0): {bias} != 0"
    xs = [F(0), F(1, 4), F(2) ** 40]
    assert holds == all(evaluate(net, [x]) == evaluate(red, [x]) for x in xs)


# ---------------------------------------------------------------- the recorded bounds method

BOX2 = Box((F(-1), F(-1)), (F(1), F(1)))
# z = relu(x + y) + relu(x − y) − 21/8 < 0 on [-1, 1]^2: split(2) proves it inactive, symbolic and interval do not.
SPLIT_ONLY = dense(([[1, 1], [1, -1]], [0, 0], RELU), ([[1, 1], [1, 0]], [F(-21, 8), 0], RELU), ([[1, 1]], [0], IDENTITY))
SPLIT_REDUCED = dense(([[1, 1], [1, -1]], [0, 0], RELU), ([[1, 0]], [0], RELU), ([[1]], [0], IDENTITY))
SPLIT_RELATION = Relation([LayerRelation([kept(0), kept(1)], 2), LayerRelation([NeuronMap((), F(0), "inactive"), kept(0)], 1)])


@pytest.mark.parametrize("method, parts, holds", [("split", 2, True), ("split", 1, False), ("symbolic", 1, False),
                                                  ("symbolic", 2, False), ("interval", 1, False)])
def test_prover_reruns_the_recorded_method(method, parts, holds):
    claims = PhaseClaims(method, parts, [[], [PhaseClaim(0, -1, F(0))]])
    records, _, _ = prove_networks(SPLIT_ONLY, SPLIT_REDUCED, SPLIT_RELATION, BOX2, solver_check="none", claims=claims)
    status = {r.id: r.status for r in records}
    assert (status["L2.bounds"] == "proved") == holds and status["L2.inactive"] == "proved", status


# identity layer then ReLU: z = x − x − 1/2 = −1/2; symbolic bounds see it, interval bounds do not
SYMBOLIC_ONLY = dense(([[1], [1]], [0, 0], IDENTITY), ([[1, -1], [1, 0]], [F(-1, 2), 0], RELU), ([[1, 1]], [0], IDENTITY))
SYMBOLIC_REDUCED = dense(([[1], [1]], [0, 0], IDENTITY), ([[1, 0]], [0], RELU), ([[1]], [0], IDENTITY))
SYMBOLIC_RELATION = Relation([LayerRelation([kept(0), kept(1)], 2), LayerRelation([NeuronMap((), F(0), "inactive"), kept(0)], 1)])


@pytest.mark.parametrize("method, holds", [("symbolic", True), ("split", True), ("interval", False)])
def test_prover_symbolic_only_claim(method, holds):
    claims = PhaseClaims(method, 1, [[], [PhaseClaim(0, -1, F(0))]])
    box = Box((F(-1),), (F(1),))
    records, _, _ = prove_networks(SYMBOLIC_ONLY, SYMBOLIC_REDUCED, SYMBOLIC_RELATION, box, solver_check="none",
                                   claims=claims)
    assert ({r.id: r.status for r in records}["L2.bounds"] == "proved") == holds


# ---------------------------------------------------------------- constants, lemmas


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_constant_claim_on_an_input_dependent_neuron_fails(tmp_path, solver_check):
    """relu(x + 1) claimed the constant relu(1) = 1; its outgoing weight is 0, so only the constant rule sees it."""
    net = dense(([[1], [1]], [0, 1], RELU), ([[1, 0]], [0], IDENTITY))
    red = dense(([[1]], [0], RELU), ([[1]], [0], IDENTITY))
    rel = Relation([LayerRelation([kept(0), NeuronMap((), F(1), "constant")], 1)])
    records, result = both(tmp_path, net, red, rel, solver_check)
    assert records["L1.constant"] == ("failed", "neuron 1: coefficient of x0: 1 != 0")
    assert [s for s, _ in records.values()].count("failed") == 1
    assert result.reasons == ["layer 1 neuron 1: not the constant 1"] + (
        [] if solver_check != "all" else ["layer 1 neuron 1: z3 answers sat (expected unsat)"])


def test_transcendental_lemmas_name_their_only_axiom():
    tanh, sigmoid = Activation("tanh"), Activation("sigmoid")
    assert exact_lemma(ActivationLemma(tanh, F(2), F(0))) == "tanh admits only the axiom tanh_odd (c=-1, o=0)"
    assert exact_lemma(ActivationLemma(sigmoid, F(-1), F(0))) == ("sigmoid admits only the axiom sigmoid_reflection "
                                                                  "(c=-1, o=1)")
    assert exact_lemma(ActivationLemma(tanh, F(-1), F(0))) is None
    assert exact_lemma(ActivationLemma(sigmoid, F(-1), F(1))) is None
    leaky = Activation("leaky_relu", F(1, 4))
    assert exact_lemma(ActivationLemma(leaky, F(-2), F(0))) == "false at z=-1: left side 2, right side 1/2"


# ---------------------------------------------------------------- ghosts: a second ghost class, domain maps onto ghosts

@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_weight_on_the_second_ghost_class_is_named(tmp_path, solver_check):
    """Neurons 1 and 2 are two ghost classes; only the second one's outgoing weight fails to vanish."""
    net = dense(([[1], [1], [2]], [0, 1, 0], RELU), ([[1, 0, 1]], [0], IDENTITY))
    red = dense(([[1]], [0], RELU), ([[1]], [0], IDENTITY))
    rel = Relation([LayerRelation([kept(0), NeuronMap(((1, F(1)),), F(0), "dead"), NeuronMap(((2, F(1)),), F(0), "dead")],
                                  1, ghosts=2)])
    records, result = both(tmp_path, net, red, rel, solver_check)
    assert records["L2.linear"] == ("failed", "neuron 0: coefficient of g1_2: 1 != 0")
    assert result.reasons[0] == "layer 2 neuron 0: original pre-activation != 1 * reduced neuron 0 (weight on ghost class 2 of layer 1)"


def test_wrong_coefficient_is_reported_with_both_values():
    net = dense(([[1], [2]], [0, 0], RELU), ([[1, 1]], [0], IDENTITY))
    red = dense(([[1]], [0], RELU), ([[3]], [0], IDENTITY))
    rel = Relation([LayerRelation([kept(0), NeuronMap(((0, F(3)),), F(0), "proportional")], 1)])
    records, _, _ = prove_networks(net, red, rel, solver_check="none")
    assert {r.id: r.detail for r in records}["L1.linear"] == "neuron 1: coefficient of x0: 2 != 3"


BOX12 = Box((F(1),), (F(2),))
# layer 1 on [1, 2]: n0 = x kept; n1 = x + 1 the representative of ghost class 1; n2 = 2x + 2 folded onto the ghost
# (2·g, linear); outgoing 2·v1 − v2 cancels. Layer 2: m0 = v0 kept; m1 = 2·v0 + 1 folded onto m0 (linear).
GHOSTLY = dense(([[1], [1], [2]], [0, 1, 2], RELU), ([[1, 0, 0], [2, 0, 0]], [0, 1], RELU), ([[1, 1]], [0], IDENTITY))
GHOSTLY_REDUCED = dense(([[1]], [0], RELU), ([[1]], [0], RELU), ([[3]], [1], IDENTITY))
GHOSTLY_RELATION = Relation([
    LayerRelation([kept(0), NeuronMap(((1, F(1)),), F(0), "dead"), NeuronMap(((1, F(2)),), F(0), "linear")], 1, ghosts=1),
    LayerRelation([kept(0), NeuronMap(((0, F(2)),), F(1), "linear")], 1),
])
GHOSTLY_CLAIMS = PhaseClaims("interval", 1, [[PhaseClaim(1, 1, F(2)), PhaseClaim(2, 1, F(4))],
                                             [PhaseClaim(0, 1, F(1)), PhaseClaim(1, 1, F(3))]])


def _ghostly(change=None) -> Relation:
    layers = list(GHOSTLY_RELATION.layers)
    if change:
        ell, r, m = change
        maps = list(layers[ell].maps)
        maps[r] = m
        layers[ell] = LayerRelation(maps, layers[ell].reduced_width, layers[ell].ghosts)
    return Relation(layers)


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_linear_maps_onto_a_ghost_and_across_ghosts_are_proved(tmp_path, solver_check):
    for x in (F(1), F(3, 2), F(2)):
        assert evaluate(GHOSTLY, [x]) == evaluate(GHOSTLY_REDUCED, [x])
    records, result = both(tmp_path, GHOSTLY, GHOSTLY_REDUCED, _ghostly(), solver_check, BOX12, GHOSTLY_CLAIMS)
    assert {s for s, _ in records.values()} == {"proved"}, records
    assert result.valid, result.reasons


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
@pytest.mark.parametrize("change, failing", [
    ((0, 2, NeuronMap(((1, F(3)),), F(0), "linear")), "L1.domain"),  # wrong factor on the ghost term
    ((1, 1, NeuronMap(((0, F(2)),), F(2), "linear")), "L2.domain"),  # wrong offset after a layer with ghosts
])
def test_linear_maps_onto_a_ghost_tampered(tmp_path, solver_check, change, failing):
    records, result = both(tmp_path, GHOSTLY, GHOSTLY_REDUCED, _ghostly(change), solver_check, BOX12, GHOSTLY_CLAIMS)
    assert records[failing][0] == "failed", records
    ell, r, _ = change
    assert not result.valid
    assert any(x.startswith(f"layer {ell + 1} neuron {r}: slope x pre-activation != the claimed combination")
               for x in result.reasons), result.reasons


# ---------------------------------------------------------------- structure problems, worded

ONE = dense(([[1]], [0], RELU), ([[1]], [0], IDENTITY))


def _structure(original, reduced, relation, domain=None, claims=None) -> str:
    records, _, _ = prove_networks(original, reduced, relation, domain, solver_check="none", claims=claims)
    assert records[0].id == "structure" and records[0].status == "failed"
    return records[0].detail


def test_structure_problems_are_worded():
    tanh = dense(([[1]], [0], Activation("tanh")), ([[1]], [0], IDENTITY))
    rel = Relation([LayerRelation([kept(0)], 1)])
    assert _structure(ONE, tanh, rel) == "layer 1: activation relu vs tanh"
    assert _structure(ONE, ONE, Relation([])) == "relation has 0 layers, the network has 1 hidden layers"
    assert _structure(ONE, tanh, Relation([])) == ("layer 1: activation relu vs tanh; relation has 0 layers, the "
                                                   "network has 1 hidden layers")
    inactive = Relation([LayerRelation([NeuronMap((), F(0), "inactive")], 0)])
    zero = dense(([[1]], [0], RELU), ([[0]], [0], IDENTITY))
    zero_red = Network([Layer(np.zeros((0, 1)), np.zeros(0), RELU), Layer(np.zeros((1, 0)), np.zeros(1), IDENTITY)])
    assert _structure(zero, zero_red, inactive) == ("inactive/linear maps hold on an input box only: they need a domain "
                                                    "and phase claims")
    claims = PhaseClaims("interval", 1, [[PhaseClaim(0, -1, F(0))]])
    assert _structure(zero, zero_red, inactive, None, claims) == "phase claims without an input domain"
    box = Box((F(0),), (F(1),))
    assert _structure(zero, zero_red, inactive, box, PhaseClaims("interval", 1, [])) == \
        "phase claims for 0 layers, the network has 1 hidden layers"
    for bad in ([PhaseClaim(0, -1, F(0)), PhaseClaim(0, -1, F(0))], [PhaseClaim(1, -1, F(0))]):
        assert _structure(zero, zero_red, inactive, box, PhaseClaims("interval", 1, [bad])) == \
            "layer 1: phase claims must name distinct neurons of the layer"
    assert _structure(zero, zero_red, inactive, box, PhaseClaims("interval", 1, [[PhaseClaim(0, 0, F(0))]])) == \
        "layer 1: a phase claim is -1 (inactive) or +1 (active)"
    wide = Box((F(0), F(0)), (F(1), F(1)))
    assert _structure(zero, zero_red, inactive, wide, claims) == "the box has 2 inputs, the models 1 and 1"
    ident = dense(([[1]], [0], IDENTITY), ([[1]], [0], IDENTITY))
    assert _structure(ident, ident, rel, box, claims) == "layer 1: phase claims on a identity layer"


@pytest.mark.parametrize("maps, width, ghosts, words", [
    ([kept(0), NeuronMap(((0, F(0)),), F(0), "proportional")], 1, 0, "layer 1 neuron 1: repeated class or zero factor in its terms"),
    ([NeuronMap(((0, F(1)), (0, F(2))), F(0), "linear")], 1, 0, "layer 1 neuron 0: repeated class or zero factor in its terms"),
    ([kept(0), NeuronMap(((0, F(1)), (1, F(1))), F(0), "kept")], 2, 0,
     "layer 1 neuron 1: only a domain map (reason 'linear') may have several terms"),
    ([kept(0), NeuronMap(((0, F(1)),), F(0), "dead")], 1, 0, "layer 1 neuron 1: exactly the dead neurons are members of ghost classes"),
    ([kept(0), NeuronMap((), F(1), "inactive")], 1, 0, "layer 1 neuron 1: an inactive neuron has no terms and offset 0"),
    ([kept(0), NeuronMap(((0, F(1)),), F(0), "inactive")], 1, 0, "layer 1 neuron 1: an inactive neuron has no terms and offset 0"),
    ([kept(0), NeuronMap((), F(0), "constant")], 2, 0, "layer 1: reduced neurons [1] are not used by any original neuron"),
    ([kept(0), kept(0)], 1, -1, "layer 1: negative number of ghost classes -1"),
    ([kept(0), kept(1), NeuronMap(((2, F(1)),), F(1), "dead")], 2, 1,
     "layer 1: ghost classes [2] have no member with map 1*g + 0 (representative)"),
    ([kept(0), kept(1), NeuronMap(((2, F(1)),), F(0), "dead"), NeuronMap(((3, F(1)),), F(1), "dead")], 2, 2,
     "layer 1: ghost classes [3] have no member with map 1*g + 0 (representative)"),
])
def test_relation_shape_problems_are_worded(maps, width, ghosts, words):
    n = len(maps)
    original = dense(([[1]] * n, [0] * n, RELU), ([[1] * n], [0], IDENTITY))
    reduced = dense(([[1]] * width, [0] * width, RELU), ([[1] * width], [0], IDENTITY))
    detail = _structure(original, reduced, Relation([LayerRelation(maps, width, ghosts)]))
    assert words in detail.split("; "), detail



def test_integer_form_of_the_smallest_subnormals_is_exact():

    values = np.array([[5e-324, 0.0], [1.0, -(2.0**-1074) * 3]])
    ints, den = integer_form(values)
    assert [[F(int(v), den) for v in row] for row in ints] == [[F(v) for v in row] for row in values]
    assert integer_form(np.zeros((0, 2)))[1] == 1


def test_smt_literals_of_floats_equal_those_of_their_fractions():
    """prove/smt.literal takes floats through as_integer_ratio (lowest terms, like Fraction): same text."""
    from lumpcheck.prove.smt import literal

    rng = np.random.default_rng(0)
    values = [0.0, -0.0, 1.0, -3.0, 0.1, 5e-324, -2.5e-300, 1e300, *rng.normal(size=50) * 10.0 ** rng.integers(-40, 40, 50)]
    for x in values:
        assert literal(x) == literal(np.float64(x)) == literal(F(x)), x
    assert literal(F(-7, 3)) == "(- (/ 7.0 3.0))" and literal(4) == "4.0"
