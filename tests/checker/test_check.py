"""The independent checker: valid certificates pass; every kind of tampering is caught with a named reason."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.checker import check
from lumpcheck.io import save_model
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.network import Layer, Network, evaluate, evaluate_float
from lumpcheck.ir.relation import LayerRelation, Relation
from lumpcheck.prove.prover import prove
from lumpcheck.prove.records import write_certificate

from planted_relations import ACTIVATIONS, FACTORS, dyadic, planted

SOLVER_CHECKS = ["all", "auto", "none"]
"""Tamper tests run with z3 on every identity (all) and without (auto: z3 only on the activation lemmas, and none): the
exact checks must catch every tampering on their own."""


@pytest.fixture(params=SOLVER_CHECKS)
def solver_check(request) -> str:
    return request.param


def write_pair(tmp_path: Path, original: Network, reduced: Network, relation: Relation, name: str = "c",
               solver_check: str = "auto"):
    """Save both models (float64 ONNX), prove (z3 per `solver_check`), write the certificate; return the paths."""
    a, b, c = tmp_path / f"{name}_orig.onnx", tmp_path / f"{name}_red.onnx", tmp_path / f"{name}.json"
    save_model(original, a, dtype="float64")
    save_model(reduced, b, dtype="float64")
    write_certificate(prove(a, b, relation, solver_check=solver_check), c)
    return a, b, c


def _edit(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _pretend_proved(path: Path) -> None:
    """Tamper a failed certificate into claiming success (the checker must not believe it)."""

    def change(doc: dict) -> None:
        doc["verdict"] = "proved"
        for ob in doc["obligations"]:
            ob["status"] = "proved"

    _edit(path, change)


@pytest.mark.parametrize("kind", sorted(FACTORS))
def test_planted_relation_is_valid_for_every_activation(tmp_path, kind):
    rng = np.random.default_rng(len(kind))
    original, reduced, relation = planted(rng, [3, 4, 5, 2], kind)
    a, b, c = write_pair(tmp_path, original, reduced, relation)
    doc = json.loads(c.read_text())
    assert doc["verdict"] == "proved", [o for o in doc["obligations"] if o["status"] != "proved"]
    result = check(c, a, b)
    assert result.valid, result.reasons
    assert str(result) == "valid: equal on all inputs"
    x = rng.integers(-4, 5, size=(3, 3)) / 4
    if original.piecewise_linear:
        assert all(evaluate(original, xi) == evaluate(reduced, xi) for xi in x)
    else:
        assert np.allclose(evaluate_float(original, x), evaluate_float(reduced, x), atol=1e-9)


@pytest.fixture()
def valid(tmp_path):
    original, reduced, relation = planted(np.random.default_rng(7), [3, 5, 4, 2], "relu", extra=4, dead_copies=3)
    a, b, c = write_pair(tmp_path, original, reduced, relation)
    assert check(c, a, b).valid
    return a, b, c, reduced, relation


def _real(layer: LayerRelation) -> list[int]:
    """Neurons of the layer mapped onto a reduced (not ghost) neuron."""
    return [r for r, m in enumerate(layer.maps) if m.terms and m.cls < layer.reduced_width]


def _first_scaled(relation: Relation, factor: Fraction | None = None) -> int:
    layer = relation.layers[0]
    return next(r for r in _real(layer) if factor is None or layer.maps[r].factor != 1)


def test_changed_factor_is_invalid(valid):
    a, b, c, _, relation = valid
    r = _first_scaled(relation, Fraction(2))
    _edit(c, lambda d: d["relation"][0]["neurons"][r]["terms"][0].__setitem__(1, "3"))
    result = check(c, a, b, solver_check="all")
    assert not result.valid
    # both of the checker's engines catch it on their own
    assert any(x.startswith(f"layer 1 neuron {r}: original pre-activation != 3 * reduced") for x in result.reasons)
    assert f"layer 1 neuron {r}: z3 answers sat (expected unsat)" in result.reasons
    assert not check(c, a, b, solver_check="none").valid
    assert not check(c, a, b).valid  # auto: the exact comparison alone


def test_changed_class_is_invalid(valid, solver_check):
    a, b, c, _, relation = valid
    maps = relation.layers[0].maps
    r = next(r for r in _real(relation.layers[0]) if sum(1 for n in maps if n.cls == maps[r].cls) > 1)
    other = (maps[r].cls + 1) % relation.layers[0].reduced_width
    _edit(c, lambda d: d["relation"][0]["neurons"][r]["terms"][0].__setitem__(0, other))
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid
    assert any(f"layer 1 neuron {r}" in x for x in result.reasons), result.reasons


def test_class_out_of_range_and_unused_reduced_neuron_are_invalid(valid, solver_check):
    a, b, c, _, relation = valid
    r = _first_scaled(relation)
    _edit(c, lambda d: d["relation"][0]["neurons"][r]["terms"][0].__setitem__(0, 99))
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid and "relation layer 1 neuron" in result.reasons[0]


def _rewrite_reduced(b: Path, reduced: Network, change) -> None:
    w = reduced.layers[1].weight.copy()
    w[0, 0] = change(w[0, 0])
    save_model(Network([reduced.layers[0], Layer(w, reduced.layers[1].bias, reduced.layers[1].activation),
                        *reduced.layers[2:]]), b, dtype="float64")


@pytest.mark.parametrize("change", [lambda v: v + 1.0, lambda v: np.nextafter(v, np.inf)], ids=["plus-one", "one-ulp"])
def test_changed_reduced_weight_is_invalid(valid, change, solver_check):
    a, b, c, reduced, _ = valid
    _rewrite_reduced(b, reduced, change)
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid and result.reasons[0].startswith("reduced model: sha256")
    import hashlib

    _edit(c, lambda d: d["models"]["reduced"].__setitem__("sha256", hashlib.sha256(b.read_bytes()).hexdigest()))
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid
    assert any(x.startswith("layer 2 neuron") for x in result.reasons), result.reasons


def test_changed_hash_is_invalid(valid, solver_check):
    a, b, c, _, _ = valid
    _edit(c, lambda d: d["models"]["original"].__setitem__("sha256", "0" * 64))
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid and result.reasons == [result.reasons[0]] and "original model: sha256" in str(result)


@pytest.mark.parametrize(
    "domain, words",
    [({"lower": ["0"], "upper": ["1"]}, "domain"), ({"lower": ["1"] * 3, "upper": ["0"] * 3}, "domain"),
     ({"lower": ["0.5"] * 3, "upper": ["1"] * 3}, "not an exact rational")],
)
def test_bad_domain_is_invalid(valid, domain, words, solver_check):
    a, b, c, _, _ = valid
    _edit(c, lambda d: d["claim"].__setitem__("domain", domain))
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid and words in result.reasons[0]


def test_well_formed_domain_keeps_a_lumping_certificate_valid(valid, solver_check):
    a, b, c, _, _ = valid  # lumping holds on all of R^n, so also on any box
    _edit(c, lambda d: d["claim"].__setitem__("domain", {"lower": ["-1"] * 3, "upper": ["1/2"] * 3}))
    assert check(c, a, b, solver_check=solver_check).valid


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda d: d.__setitem__("verdict", "failed"), "verdict"),
        (lambda d: d["claim"].__setitem__("mode", "epsilon"), "claim.epsilon"),  # an ε claim without ε
        (lambda d: d["claim"].__setitem__("mode", "top1"), "not supported"),
        (lambda d: d["obligations"].pop(1), "not listed"),
        (lambda d: d["obligations"][1].__setitem__("status", "failed"), "lists it as failed"),
        (lambda d: d["activation_lemmas"].pop(), "activation lemmas"),
        (lambda d: d["activation_lemmas"][-1].__setitem__("basis", "axiom"), "certificate says"),
        (lambda d: d["relation"][0]["neurons"][0].__setitem__("offset", "0.0"), "not an exact rational"),
        (lambda d: d["relation"][0]["neurons"][0].__setitem__("offset", "2/4"), "lowest terms"),
        (lambda d: d.pop("relation"), "no field 'relation'"),
    ],
)
def test_tampered_document_is_invalid(valid, change, words, solver_check):
    a, b, c, _, _ = valid
    _edit(c, change)
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid and any(words in x for x in result.reasons), result.reasons


def test_not_json_is_invalid(valid, solver_check):
    a, b, c, _, _ = valid
    c.write_text("{ nope")
    assert str(check(c, a, b, solver_check=solver_check)).startswith("invalid: certificate: not JSON")


@pytest.mark.parametrize(
    "kind, bad, words",
    [("relu", (Fraction(-2), Fraction(0)), "activation lemma relu(-2*z)"),
     ("sigmoid", (Fraction(-1), Fraction(0)), "sigmoid admits only"),
     ("sigmoid", (Fraction(-1), Fraction(1, 2)), "sigmoid admits only"),
     ("tanh", (Fraction(-2), Fraction(0)), "tanh admits only"),
     ("leaky_relu", (Fraction(-1), Fraction(0)), "activation lemma leaky_relu(1/8)(-1*z)")],
)
def test_invalid_activation_lemma_is_refuted(tmp_path, kind, bad, words, solver_check):
    original, reduced, relation = planted(np.random.default_rng(3), [2, 3, 2], kind, extra=2, factors=[bad])
    a, b, c = write_pair(tmp_path, original, reduced, relation, solver_check=solver_check)
    doc = json.loads(c.read_text())
    assert doc["verdict"] == "failed"
    failed = [o for o in doc["obligations"] if o["status"] != "proved"]
    assert [o["kind"] for o in failed] == ["activation"]  # the linear algebra itself is consistent
    _pretend_proved(c)
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid and any(words in x for x in result.reasons), result.reasons


def _ghost_members(relation: Relation, ell: int = 0) -> list[int]:
    """Members of ghost classes of hidden layer ell + 1 other than the representatives."""
    layer = relation.layers[ell]
    reps = set(layer.ghost_representatives())
    return [r for r, m in enumerate(layer.maps) if m.reason == "dead" and r not in reps]


def test_live_neuron_made_a_ghost_is_invalid(valid, solver_check):
    """A kept class member declared a new (singleton) ghost: its own obligation is trivial, but its outgoing
    weights do not cancel, so layer 2 weighs the ghost and differs from the reduced network."""
    a, b, c, _, relation = valid
    layer = relation.layers[0]
    maps = layer.maps
    r = next(r for r in _real(layer) if sum(1 for n in maps if n.cls == maps[r].cls) > 1)
    new = layer.reduced_width + layer.ghosts

    def change(d):
        d["relation"][0]["ghosts"] += 1
        d["relation"][0]["neurons"][r] = {"terms": [[new, "1"]], "offset": "0", "reason": "dead"}

    _edit(c, change)
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid
    assert any(x.startswith("layer 2 neuron") and f"weight on ghost class {new} of layer 1" in x for x in result.reasons)
    assert solver_check != "all" or any(x.startswith("layer 2 neuron") and "z3 answers sat" in x for x in result.reasons)


def test_changed_ghost_factor_is_invalid(valid, solver_check):
    a, b, c, _, relation = valid
    r = _ghost_members(relation)[0]
    new = str(relation.layers[0].maps[r].factor * 2)
    _edit(c, lambda d: d["relation"][0]["neurons"][r]["terms"][0].__setitem__(1, new))
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid
    assert any(x.startswith(f"layer 1 neuron {r}: original pre-activation != {new} * that of neuron") for x in
               result.reasons), result.reasons
    assert solver_check != "all" or f"layer 1 neuron {r}: z3 answers sat (expected unsat)" in result.reasons


@pytest.mark.parametrize("delta, words", [(1, "have no representative"), (-1, "must name distinct classes")])
def test_changed_ghost_count_is_invalid(valid, delta, words, solver_check):
    a, b, c, _, _ = valid
    _edit(c, lambda d: d["relation"][0].__setitem__("ghosts", d["relation"][0]["ghosts"] + delta))
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid and any(words in x for x in result.reasons), result.reasons


def _unrepresented(layer: dict) -> None:
    """Give every 1*g + 0 member of the first ghost class offset 1: the class keeps members but no representative."""
    g = layer["reduced_width"]
    for n in layer["neurons"]:
        if n["terms"] == [[g, "1"]] and n["offset"] == "0":
            n["offset"] = "1"


@pytest.mark.parametrize("edit, words", [
    (lambda lr, r: lr["neurons"][r].__setitem__("reason", "kept"), "exactly the dead neurons are members of ghost"),
    (lambda lr, r: lr["neurons"][r].update(terms=[], reason="dead"), "exactly the dead neurons"),
    (lambda lr, r: _unrepresented(lr), "have no representative"),
])
def test_malformed_ghost_maps_are_invalid(valid, edit, words, solver_check):
    a, b, c, _, relation = valid
    rep = relation.layers[0].ghost_representatives()[0]
    _edit(c, lambda d: edit(d["relation"][0], rep))
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid and any(words in x for x in result.reasons), result.reasons


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), kind=st.sampled_from(sorted(FACTORS)), dead=st.integers(0, 3))
def test_planted_cancelling_ghost_classes_are_proved_and_valid(tmp_path_factory, seed, kind, dead):
    original, reduced, relation = planted(np.random.default_rng(seed), [2, 3, 3, 2], kind, extra=2, dead=dead,
                                          dead_copies=3)
    a, b, c = write_pair(tmp_path_factory.mktemp("g"), original, reduced, relation)
    doc = json.loads(c.read_text())
    assert doc["verdict"] == "proved", [o for o in doc["obligations"] if o["status"] != "proved"]
    assert [lr["ghosts"] for lr in doc["relation"]] == [dead, dead]
    result = check(c, a, b)
    assert result.valid, result.reasons


def twin_ladder(rng: np.random.Generator, n_in: int, width: int, depth: int) -> Network:
    """Two identical ReLU streams of `depth` layers; the output is stream 1 minus stream 2 plus a margin."""
    w = dyadic(rng, (width, n_in))
    layers = [Layer(np.vstack([w, w]), np.tile(dyadic(rng, width), 2), ACTIVATIONS["relu"])]
    for _ in range(depth - 1):
        w, bias = dyadic(rng, (width, width)), dyadic(rng, width)
        z = np.zeros_like(w)
        layers.append(Layer(np.block([[w, z], [z, w]]), np.tile(bias, 2), ACTIVATIONS["relu"]))
    out = dyadic(rng, (1, width))
    layers.append(Layer(np.hstack([out, -out]), np.array([1.0]), Activation("identity")))
    return Network(layers)


def test_twin_ladder_reduces_to_a_proved_constant(tmp_path):
    lumping = pytest.importorskip("lumpcheck.reduction.lumping")
    net = twin_ladder(np.random.default_rng(0), 3, 4, 3)
    red = lumping.reduce(net)
    assert red.network.widths == [3, 0, 0, 0, 1]
    assert [(lr.reduced_width, lr.ghosts) for lr in red.relation.layers] == [(0, 4)] * 3
    assert [s.reasons for s in red.stats.layers] == [{"dead": 8}] * 3
    a, b, c = write_pair(tmp_path, net, red.network, red.relation)
    doc = json.loads(c.read_text())
    assert doc["verdict"] == "proved" and {o["id"] for o in doc["obligations"]} >= {"L1.ghost", "L3.ghost", "L4.linear"}
    result = check(c, a, b)
    assert result.valid, result.reasons
    assert evaluate(net, [Fraction(1, 3), Fraction(-2), Fraction(5)]) == [1]


@pytest.mark.zoo
def test_every_zoo_twin_ladder_reduces_proves_and_checks(zoo, tmp_path):
    """All twin-ladder nets of the zoo: reduce to a constant, prove, and the checker accepts (read back as .nnet)."""
    from lumpcheck.io import load_model
    from lumpcheck.reduction.lumping import reduce

    files = sorted((zoo / "marabou/resources/nnet/twin").glob("*.nnet"))
    if not files:
        pytest.skip("no twin-ladder nets in the zoo")
    for i, path in enumerate(files):
        net = load_model(path)
        red = reduce(net)
        assert red.network.widths[1:-1] == [0] * (len(net.widths) - 2)
        assert all(s.reasons == {"dead": s.before} for s in red.stats.layers)
        b, c = tmp_path / f"{i}.nnet", tmp_path / f"{i}.json"
        save_model(red.network, b)
        write_certificate(prove(path, b, red), c)
        result = check(c, path, b)
        assert result.valid, (path.name, result.reasons)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), kind=st.sampled_from(sorted(FACTORS)), delta=st.sampled_from(["1/3", "-1", "2"]),
       solver_check=st.sampled_from(SOLVER_CHECKS))
def test_any_changed_factor_is_invalid(tmp_path_factory, seed, kind, delta, solver_check):
    rng = np.random.default_rng(seed)
    original, reduced, relation = planted(rng, [2, 3, 3, 2], kind, extra=2)
    a, b, c = write_pair(tmp_path_factory.mktemp("h"), original, reduced, relation)
    layer = int(rng.integers(2))
    scaled = [r for r, m in enumerate(relation.layers[layer].maps) if m.terms]
    r = scaled[int(rng.integers(len(scaled)))]
    new = str(relation.layers[layer].maps[r].factor + Fraction(delta))
    new = new if new != "0" else "5"
    _edit(c, lambda d: d["relation"][layer]["neurons"][r]["terms"][0].__setitem__(1, new))
    result = check(c, a, b, solver_check=solver_check)
    assert not result.valid, (kind, layer, r, new, solver_check)


def test_reduce_outputs_check_valid(tmp_path):
    lumping = pytest.importorskip("lumpcheck.reduction.lumping", reason="lumpcheck.reduction.lumping not importable yet")
    for seed, kind in enumerate(sorted(FACTORS)):
        original, _, _ = planted(np.random.default_rng(seed), [3, 5, 4, 2], kind, extra=4)
        red = lumping.reduce(original)
        a, b, c = write_pair(tmp_path, original, red.network, red.relation, name=kind)
        result = check(c, a, b)
        assert result.valid, (kind, result.reasons)


def test_normalisation_is_folded_but_clipping_must_agree(tmp_path):
    from dataclasses import replace

    from lumpcheck.ir.network import fold_normalization
    from lumpcheck.ir.normalization import Normalization

    original, reduced, relation = planted(np.random.default_rng(9), [2, 3, 2], "relu", extra=2)
    one = Fraction(1)
    norm = Normalization((one / 2, -one), (one * 2, one * 4), (one * 3,), (one * 8,), (-one * 5,) * 2, (one * 5,) * 2)
    same_clip = Normalization((0, 0), (1, 1), (0,), (1,), norm.input_min, norm.input_max)
    other_clip = replace(norm, input_max=(one * 6,) * 2)
    folded = fold_normalization(replace(reduced, normalization=norm))
    cases = [(replace(reduced, normalization=norm), True), (replace(folded, normalization=same_clip), True),
             (replace(reduced, normalization=other_clip), False)]
    for i, (red, ok) in enumerate(cases):
        a, b, c = tmp_path / f"{i}a.nnet", tmp_path / f"{i}b.nnet", tmp_path / f"{i}.json"
        save_model(replace(original, normalization=norm), a)
        save_model(red, b)
        cert = prove(a, b, relation)
        assert cert.verdict == ("proved" if ok else "failed")
        assert ok or "clip their inputs differently" in cert.obligations[0].detail
        write_certificate(cert, c)
        _pretend_proved(c)
        result = check(c, a, b)
        assert result.valid == ok, (i, result.reasons)
        assert ok or "clip their inputs differently" in str(result)
