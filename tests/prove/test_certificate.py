"""Proving and recording: verdicts, engines, z3 coverage policy, SMT-LIB files, JSON schema and round trip."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.errors import LumpcheckError
from lumpcheck.io import save_model
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network
from lumpcheck.ir.relation import LayerRelation, NeuronMap, Relation
from lumpcheck.prove import prover as cert_mod
from lumpcheck.prove import smt
from lumpcheck.prove.derive import derive
from lumpcheck.prove.discharge import exact_ghost
from lumpcheck.prove.obligations import integer_form
from lumpcheck.prove.prover import prove, prove_networks
from lumpcheck.prove.records import certificate_to_dict, read_certificate, write_certificate
from lumpcheck.prove.schema import SCHEMA, schema_errors
from lumpcheck.solver.z3 import solve_script, z3_binary

from planted_relations import planted

SPEC = Path(__file__).parents[2] / "specs" / "certificate.schema.json"


@pytest.fixture()
def pair(tmp_path):
    original, reduced, relation = planted(np.random.default_rng(11), [3, 6, 5, 2], "relu", extra=3, dead_copies=2)
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    save_model(original, a, dtype="float64")
    save_model(reduced, b, dtype="float64")
    return a, b, original, reduced, relation


def _by_id(cert, ob_id):
    return next(o for o in cert.obligations if o.id == ob_id)


def test_proof_records_every_obligation_and_engine(pair, tmp_path):
    a, b, original, _, relation = pair
    cert = prove(a, b, relation)
    assert cert.verdict == "proved" and not cert.failures
    ids = [o.id for o in cert.obligations]
    assert ids[0] == "structure" and {"L1.linear", "L1.ghost", "L1.constant", "L2.linear", "L3.linear"} <= set(ids)
    for o in cert.obligations:
        engines = {r.engine: r.result for r in o.engines}
        if o.kind in ("linear", "ghost", "constant"):
            assert engines == {"exact": "proved", "z3": "unsat"}
        if o.kind == "activation":
            assert engines.get("exact") == "proved"
    assert _by_id(cert, "L3.linear").neurons == list(range(original.output_size))
    assert cert.original.sha256 != cert.reduced.sha256 and cert.original.shape == original.shape_str()


def test_write_read_round_trip_and_schema(pair, tmp_path):
    a, b, _, _, relation = pair
    cert = prove(a, b, relation, domain=Box((Fraction(-1),) * 3, (Fraction(1, 3),) * 3, "box.vnnlib"))
    path = tmp_path / "cert.json"
    write_certificate(cert, path)
    doc = json.loads(path.read_text())
    assert doc["claim"]["domain"] == {"lower": ["-1"] * 3, "upper": ["1/3"] * 3, "source": "box.vnnlib"}
    assert schema_errors(doc) == []
    assert certificate_to_dict(read_certificate(path)) == doc
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, json.loads(SPEC.read_text()))


def test_spec_schema_file_is_the_code_schema():
    assert json.loads(SPEC.read_text()) == json.loads(json.dumps(SCHEMA))


@pytest.mark.parametrize(
    "change, where",
    [
        (lambda d: d["claim"].__setitem__("mode", "loose"), "$.claim.mode"),
        (lambda d: d["relation"][0]["neurons"][0].__setitem__("offset", "0.5"), "$.relation[0].neurons[0].offset"),
        (lambda d: d["relation"][0]["neurons"][0]["terms"][0].__setitem__(0, -1), "$.relation[0].neurons[0].terms[0][0]"),
        (lambda d: d["models"]["original"].__setitem__("sha256", "xyz"), "$.models.original.sha256"),
        (lambda d: d.pop("obligations"), "missing field 'obligations'"),
        (lambda d: d.__setitem__("extra", 1), "unknown field 'extra'"),
        (lambda d: d["obligations"][0].__setitem__("layer", True), "$.obligations[0].layer"),
    ],
)
def test_malformed_certificate_is_rejected_by_reader_and_schema(pair, tmp_path, change, where):
    a, b, _, _, relation = pair
    path = tmp_path / "cert.json"
    write_certificate(prove(a, b, relation, solver_check="none"), path)
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(LumpcheckError, match=r"cert\.json: not a valid certificate: .*" + where.replace("$", r"\$")
                       .replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        read_certificate(path)
    jsonschema = pytest.importorskip("jsonschema")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)


def test_unreadable_certificate_files(tmp_path):
    with pytest.raises(LumpcheckError, match="no such file"):
        read_certificate(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(LumpcheckError, match="bad.json: not JSON"):
        read_certificate(tmp_path / "bad.json")


def test_solver_check_policies(pair, monkeypatch):
    _, _, original, reduced, relation = pair
    none, _, _ = prove_networks(original, reduced, relation, solver_check="none")
    assert all(r.result == "skipped" for o in none for r in o.engines if r.engine == "z3")
    assert all(o.status == "proved" for o in none)  # exact algebra alone is the proof
    every, _, _ = prove_networks(original, reduced, relation, solver_check="all")
    sized = [o for o in every if o.kind in ("linear", "constant")]
    assert sized and all(r.neurons_checked == o.neurons for o in sized for r in o.engines if r.engine == "z3")
    monkeypatch.setattr(cert_mod, "AUTO_TERM_BUDGET", 10)
    sampled, _, _ = prove_networks(original, reduced, relation, solver_check="auto")
    layer1 = next(o for o in sampled if o.id == "L1.linear")
    checked = next(r.neurons_checked for r in layer1.engines if r.engine == "z3")
    assert len(checked) == cert_mod.MIN_SAMPLE < len(layer1.neurons)
    assert checked[0] == layer1.neurons[0] and checked[-1] == layer1.neurons[-1]
    with pytest.raises(LumpcheckError, match="solver check"):
        prove_networks(original, reduced, relation, solver_check="some")


def test_smtlib_files_recheck_with_z3_binary(pair, tmp_path):
    a, b, _, _, relation = pair
    out = tmp_path / "smt"
    cert = prove(a, b, relation, smtlib_dir=out)
    listed = [name for o in cert.obligations for r in o.engines for name in r.smtlib]
    assert sorted(listed) == sorted(p.name for p in out.iterdir())
    assert any(n.startswith("L2.linear") for n in listed) and any(n.startswith("L2.ghost") for n in listed)
    binary = z3_binary()
    if binary is None:
        pytest.skip("no z3 command-line binary found")
    answers = {subprocess.run([binary, str(out / n)], capture_output=True, text=True, check=False).stdout.strip()
               for n in listed}
    assert answers == {"unsat"}


@pytest.mark.parametrize("solver_check", ["auto", "none"])  # the exact algebra decides alone, too
def test_wrong_relation_fails_with_named_neuron_and_coefficient(pair, solver_check):
    _, _, original, reduced, relation = pair
    maps = list(relation.layers[1].maps)
    r = next(i for i, m in enumerate(maps) if m.terms and m.reason != "dead")
    (j, c), = maps[r].terms
    maps[r] = NeuronMap(((j, c * 3),), 0, "proportional")
    records, _, _ = prove_networks(original, reduced, Relation([relation.layers[0], replace(relation.layers[1], maps=maps)]),
                                   solver_check=solver_check)
    failed = {o.id: o.detail for o in records if o.status != "proved"}
    assert set(failed) == {"L2.linear", "L3.linear"}
    assert failed["L2.linear"].startswith(f"neuron {r}: coefficient of h1_")


def test_structure_problems_fail_the_proof(pair):
    _, _, original, reduced, relation = pair
    first = relation.layers[0]
    short = Relation([LayerRelation(first.maps[:-1], 7, first.ghosts), relation.layers[1]])
    records, _, _ = prove_networks(original, reduced, short)
    assert [o.id for o in records] == ["structure"] and records[0].status == "failed"
    assert f"relation maps {len(first.maps) - 1} neurons" in records[0].detail and "reduced width 7" in records[0].detail


def test_multi_term_map_needs_a_domain_and_phase_claims(pair):
    _, _, original, reduced, relation = pair
    maps = list(relation.layers[0].maps)
    r = next(i for i, m in enumerate(maps) if m.terms and m.reason != "dead")
    maps[r] = NeuronMap(((0, 1), (1, 1)), 0, "linear")
    records, _, _ = prove_networks(original, reduced, Relation([replace(relation.layers[0], maps=maps), relation.layers[1]]))
    assert [o.id for o in records] == ["structure"] and records[0].status == "failed"
    assert "input box only" in records[0].detail


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), kind=st.sampled_from(["identity", "relu", "leaky_relu", "tanh", "sigmoid"]),
       delta=st.sampled_from([1.0, -0.5, 2.0**-30]), bias=st.booleans())
def test_prover_never_proves_a_changed_reduced_model(seed, kind, delta, bias):
    rng = np.random.default_rng(seed)
    original, reduced, relation = planted(rng, [2, 3, 3, 2], kind, extra=2)
    layers = list(reduced.layers)
    ell = int(rng.integers(len(layers)))
    w, b = layers[ell].weight.copy(), layers[ell].bias.copy()
    row = int(rng.integers(w.shape[0]))
    if bias:
        b[row] += delta
    else:
        w[row, int(rng.integers(w.shape[1]))] += delta
    layers[ell] = Layer(w, b, layers[ell].activation)
    records, _, _ = prove_networks(original, Network(layers), relation, solver_check="none")
    failed = [o for o in records if o.status != "proved"]
    assert [o.id for o in failed] == [f"L{ell + 1}.linear"]


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=12))
def test_integer_form_is_exact(values):
    arr = np.array(values, dtype=np.float64)
    m, d = integer_form(arr)
    assert [Fraction(int(v), d) for v in m] == [Fraction(v) for v in values]
    frac = np.array([Fraction(v) / 3 for v in values], dtype=object)
    m, d = integer_form(frac)
    assert [Fraction(v, d) for v in m] == list(frac)


def test_prove_accepts_a_reduction(tmp_path):
    lumping = pytest.importorskip("lumpcheck.reduction.lumping", reason="lumpcheck.reduction.lumping not importable yet")
    original, _, _ = planted(np.random.default_rng(2), [3, 5, 4, 2], "tanh", extra=4)
    red = lumping.reduce(original)
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    save_model(original, a, dtype="float64")
    save_model(red.network, b, dtype="float64")
    cert = prove(a, b, red)
    assert cert.verdict == "proved" and cert.domain is None
    assert any(lm.axiom == "tanh_odd" for lm in cert.lemmas)


def _proved(net: Network):
    """reduce(net) and the prover's records for it (all must be proved)."""
    from lumpcheck.reduction.lumping import reduce

    red = reduce(net)
    records, _, _ = prove_networks(net, red.network, red.relation, solver_check="all")
    assert all(o.status == "proved" for o in records), [(o.id, o.detail) for o in records if o.status != "proved"]
    return red, {o.id: o for o in records}


def test_reduce_with_cancelling_duplicates_is_provable():
    """Neurons 0 and 1 are duplicates whose outgoing weights cancel: one ghost class, proved by L1.ghost (the
    members agree) and L2.linear (the ghost's coefficient 1.5 - 1.5 is zero)."""
    w1 = np.array([[1.0, 2.0], [1.0, 2.0], [0.5, -1.0]])
    net = Network([Layer(w1, np.zeros(3), Activation("relu")),
                   Layer(np.array([[1.5, -1.5, 2.0]]), np.array([0.25]))])
    red, records = _proved(net)
    layer = red.relation.layers[0]
    assert (layer.reduced_width, layer.ghosts) == (1, 1) and layer.ghost_representatives() == [0]
    assert [m.terms for m in layer.maps] == [((1, 1),), ((1, 1),), ((0, 1),)]
    assert records["L1.ghost"].neurons == [0, 1] and records["L1.linear"].neurons == [2]
    assert {r.engine: r.result for r in records["L1.ghost"].engines} == {"exact": "proved", "z3": "unsat"}


def test_neuron_feeding_only_dead_neurons_is_provable():
    """Layer 2 neuron 1 has no outgoing weight; layer 1 neuron 2 feeds only it: two singleton ghost classes."""
    w1 = np.array([[1.0, 0.5], [-0.5, 2.0], [0.25, -1.0]])
    w2 = np.array([[1.0, -2.0, 0.0], [0.5, 0.0, 3.0], [-1.0, 1.0, 0.0]])
    w3 = np.array([[1.0, 0.0, 2.0], [0.5, 0.0, -1.0]])
    relu = Activation("relu")
    net = Network([Layer(w1, np.zeros(3), relu), Layer(w2, np.ones(3), relu), Layer(w3, np.zeros(2))])
    red, records = _proved(net)
    assert [(lr.reduced_width, lr.ghosts) for lr in red.relation.layers] == [(2, 1), (2, 1)]
    assert red.relation.layers[0].maps[2].terms == ((2, 1),) and red.relation.layers[1].maps[1].terms == ((2, 1),)
    assert records["L2.linear"].neurons == [0, 2] and records["L2.ghost"].neurons == [1]
    # the layer-2 ghost weighs the layer-1 ghost (3.0): allowed, it is itself removed
    assert records["L2.ghost"].status == "proved"


def test_cancelling_negated_sigmoid_pair_moves_its_offset_to_the_next_bias():
    """v1 = 1 - v0 with equal outgoing weights w: the class cancels (w - w = 0) but contributes w·1 to the bias."""
    w1 = np.array([[0.5, -1.25], [-0.5, 1.25], [0.75, 2.0]])
    net = Network([Layer(w1, np.array([0.25, -0.25, 1.0]), Activation("sigmoid")),
                   Layer(np.array([[0.75, 0.75, 1.0], [-0.5, -0.5, 0.0]]), np.array([0.5, 0.25]))])
    red, records = _proved(net)
    assert [(m.terms, m.offset, m.reason) for m in red.relation.layers[0].maps] == [
        (((1, 1),), 0, "dead"), (((1, -1),), 1, "dead"), (((0, 1),), 0, "kept")]
    assert list(red.network.layers[1].bias) == [0.5 + 0.75, 0.25 - 0.5]
    lemma = next(o for o in records.values() if o.kind == "activation" and "c=-1:o=1" in o.id)
    assert [r.engine for r in lemma.engines] == ["axiom"]


@pytest.mark.parametrize("solver_check", ["auto", "none"])
def test_ghost_member_with_wrong_factor_fails_with_named_neuron(solver_check):
    original, reduced, relation = planted(np.random.default_rng(5), [3, 4, 3, 2], "identity", dead_copies=3)
    maps = list(relation.layers[0].maps)
    r = next(i for i, m in enumerate(maps) if m.reason == "dead" and i not in relation.layers[0].ghost_representatives())
    (g, c), = maps[r].terms
    maps[r] = NeuronMap(((g, c * 2),), maps[r].offset, "dead")
    obligations = derive(original, reduced, Relation([replace(relation.layers[0], maps=maps), relation.layers[1]]))
    ghost = next(ob for ob in obligations if ob.id == "L1.ghost")
    assert exact_ghost(ghost).neuron == r
    assert solve_script(smt.ghost_script(ghost)).status == "sat"
    records, _, _ = prove_networks(original, reduced, Relation([replace(relation.layers[0], maps=maps), relation.layers[1]]),
                                   solver_check=solver_check)
    failed = {o.id for o in records if o.status != "proved"}
    assert {"L1.ghost", "L2.linear"} <= failed <= {"L1.ghost", "L2.linear", "L2.ghost", "L2.constant"}


@pytest.mark.parametrize("change, words", [
    (lambda lr: replace(lr, ghosts=lr.ghosts + 1), "have no member with map 1*g + 0"),
    (lambda lr: replace(lr, ghosts=lr.ghosts - 1), "class out of range"),
    (lambda lr: replace(lr, maps=[NeuronMap(m.terms, m.offset, "kept") for m in lr.maps]), "exactly the dead neurons"),
])
def test_ghost_structure_problems(pair, change, words):
    _, _, original, reduced, relation = pair
    records, _, _ = prove_networks(original, reduced, Relation([change(relation.layers[0]), relation.layers[1]]))
    assert records[0].status == "failed" and words in records[0].detail
