"""Domain reduction: exact on the box (random rational points and corners), not outside it; planted stable
neurons found; linear folding decided exactly; relations compose; ACAS Xu 1_1 on prop_3 (zoo)."""

from __future__ import annotations

import itertools
import json
import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import sympy
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lumpcheck.reduction.domain as dr
from lumpcheck.apps.cli import cli
from lumpcheck.apps.pipeline import run_reduction
from lumpcheck.bounds import interval_bounds, stable_phases
from lumpcheck.checker import CheckResult, check
from lumpcheck.errors import LumpcheckError
from lumpcheck.io import load_model, save_model
from lumpcheck.io.vnnlib import read_box
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate
from lumpcheck.ir.relation import LayerRelation, NeuronMap, Relation
from lumpcheck.prove.prover import prove_networks
from lumpcheck.reduction.domain import compose, identity_relation, reduce_on_domain, solve_in_span
from lumpcheck.reduction.lumping import quotient

RELU = Activation("relu")
LEAKY = Activation("leaky_relu", Fraction(1, 8))
KINDS = ("free", "inactive", "active", "dependent")


def _post_range(act: Activation, lo: Fraction, hi: Fraction) -> Fraction:
    """max |σ(z)| over [lo, hi] (piecewise linear through 0: attained at an end)."""
    return max(abs(act.exact(lo)), abs(act.exact(hi)))


def planted(
    seed: int, act: Activation, widths: list[int], outputs: int = 2, *, dyadic: bool = False, every: dict | None = None
) -> tuple[Network, Box, list[list[str]]]:
    """Random net on the box [-1, 1]^n whose hidden neurons are, by construction, 'free' (random), 'inactive'
    (upper bound < 0), 'active' (lower bound > 0) or 'dependent' (weights an exact combination of two earlier
    active neurons of the layer, biased to be active; with `dyadic`, coefficients k/4, so that folding keeps
    every weight a float). `every` = {hidden layer index: kind} makes a whole layer one kind."""
    rng = np.random.default_rng(seed)
    box = Box(tuple(Fraction(-1) for _ in range(widths[0])), tuple(Fraction(1) for _ in range(widths[0])))
    layers: list[Layer] = []
    kinds: list[list[str]] = []
    reach = [Fraction(1)] * widths[0]  # max |value| of the previous layer on the box
    for n_in, n_out in zip(widths, widths[1:]):
        w = [[Fraction(int(rng.integers(-8, 9)), 8) for _ in range(n_in)] for _ in range(n_out)]
        b = [Fraction(int(rng.integers(-4, 5)), 8) for _ in range(n_out)]
        kind = [KINDS[int(rng.integers(0, 4))] if s > 1 else "active" for s in range(n_out)]
        kind = [every[len(layers)]] * n_out if every and len(layers) in every else kind
        actives = []
        for s in range(n_out):
            if kind[s] == "dependent" and len(actives) >= 2:
                i, j = rng.choice(actives, size=2, replace=False)
                li, lj = Fraction(int(rng.integers(1, 7)), 4 if dyadic else 3), Fraction(int(rng.integers(-6, 7)), 4)
                w[s] = [li * a + lj * c for a, c in zip(w[i], w[j])]
            elif kind[s] == "dependent":
                kind[s] = "active"
            span = sum((abs(x) * r for x, r in zip(w[s], reach)), Fraction(0))
            if kind[s] == "inactive":
                b[s] = -span - Fraction(1, 4)
            elif kind[s] in ("active", "dependent"):
                b[s] = span + Fraction(1, 4)
                actives.append(s)
        layers.append(Layer(np.array(w, dtype=object), np.array(b, dtype=object), act))
        lo_hi = [(b[s] - sum(abs(x) * r for x, r in zip(w[s], reach)), b[s] + sum(abs(x) * r for x, r in zip(w[s], reach)))
                 for s in range(n_out)]
        reach = [_post_range(act, lo, hi) for lo, hi in lo_hi]
        kinds.append(kind)
    w = [[Fraction(int(rng.integers(-8, 9)), 8) or Fraction(1) for _ in range(widths[-1])] for _ in range(outputs)]
    layers.append(Layer(np.array(w, dtype=object), np.zeros(outputs), IDENTITY))
    return Network(layers), box, kinds


def box_points(box: Box, count: int, seed: int) -> list[list[Fraction]]:
    """All corners (up to 32) and `count` random rational points of the box."""
    rng = random.Random(seed)
    corners = [list(c) for c in itertools.islice(itertools.product(*zip(box.lower, box.upper)), 32)]
    inside = [[lo + (hi - lo) * Fraction(rng.randint(0, 997), 997) for lo, hi in zip(box.lower, box.upper)]
              for _ in range(count)]
    return corners + inside


def assert_equal_on_box(a: Network, b: Network, box: Box, count: int = 20, seed: int = 0) -> None:
    for x in box_points(box, count, seed):
        assert evaluate(a, x) == evaluate(b, x), f"outputs differ at {x}"


# ---------------------------------------------------------------- exact on the box, not outside


@pytest.mark.parametrize("act", [RELU, LEAKY], ids=str)
@pytest.mark.parametrize("seed", range(4))
def test_planted_exact_on_box(act: Activation, seed: int) -> None:
    net, box, kinds = planted(seed, act, [3, 9, 9, 7])
    red = reduce_on_domain(net, box, bounds_method="interval")
    assert_equal_on_box(net, red.network, box, seed=seed)
    assert_equal_on_box(net, quotient(net, red.relation), box, count=5, seed=seed + 1)
    assert red.domain == box
    # every planted inactive ReLU is removed; LeakyReLU ones become linear (slope 1/8) instead
    for lr, kind in zip(red.relation.layers, kinds):
        for m, k in zip(lr.maps, kind):
            if k == "inactive":
                assert m.reason == "inactive" if act.kind == "relu" else m.reason in ("linear", "kept", "duplicate")
            if k == "dependent":
                assert m.reason == "linear"


def test_planted_neurons_are_removed() -> None:
    """Planted inactive neurons and exact linear combinations disappear; the first layer keeps only its free
    neurons and a basis of at most (inputs) linear ones."""
    net, box, kinds = planted(7, RELU, [3, 12, 6])
    red = reduce_on_domain(net, box, bounds_method="interval", iterate=False)
    first = kinds[0]
    linear = sum(k in ("active", "dependent") for k in first)
    assert red.relation.layers[0].reason_counts().get("inactive", 0) == first.count("inactive")
    assert red.network.widths[1] <= first.count("free") + min(linear, 3)


def test_not_equal_outside_the_box() -> None:
    """A planted inactive neuron of layer 1 wakes up far outside the box: the reduced net then differs."""
    for seed in range(10):
        net, box, kinds = planted(seed, RELU, [3, 6, 4])
        red = reduce_on_domain(net, box, bounds_method="interval")
        w = net.layers[0].weight
        points = [[Fraction(100) * w[s][i] for i in range(3)] for s, k in enumerate(kinds[0]) if k == "inactive"]
        points += [[Fraction(-100) * w[s][i] for i in range(3)] for s, k in enumerate(kinds[0]) if k == "active"]
        if any(evaluate(net, x) != evaluate(red.network, x) for x in points):
            return
    pytest.fail("no planted net differs outside its box")


def test_leaky_and_identity_layers() -> None:
    """LeakyReLU's inactive neurons are linear with slope alpha; identity layers fold dependent rows anywhere."""
    net, box, _ = planted(3, LEAKY, [2, 8, 5])
    ident = Network([Layer(net.layers[0].weight, net.layers[0].bias, IDENTITY), *net.layers[1:]])
    for n in (net, ident):
        red = reduce_on_domain(n, box, bounds_method="symbolic")
        assert_equal_on_box(n, red.network, box, count=8)
    red = reduce_on_domain(ident, box, bounds_method="symbolic")
    assert red.network.widths[1] <= 2  # 8 affine functions of 2 inputs: a basis of 2 (and no phase needed)
    assert red.claims.layers[0] == []


def test_slopes() -> None:
    assert RELU.linear_slope(1) == 1 and RELU.linear_slope(-1) == 0 and RELU.linear_slope(0) is None
    assert LEAKY.linear_slope(-1) == Fraction(1, 8) and IDENTITY.linear_slope(0) == 1
    assert Activation("tanh").linear_slope(1) is None


# ---------------------------------------------------------------- claims


def test_claims_cover_every_domain_map() -> None:
    net, box, _ = planted(11, RELU, [3, 10, 10, 4])
    red = reduce_on_domain(net, box, bounds_method="interval")
    bounds = interval_bounds(net, box)
    phases = stable_phases(net, bounds)
    assert red.claims.describe() == "interval"
    for lr, claims, ph in zip(red.relation.layers, red.claims.layers, phases):
        by_neuron = {c.neuron: c for c in claims}
        for r, m in enumerate(lr.maps):
            if m.reason in ("inactive", "linear"):
                assert r in by_neuron
        for c in claims:
            assert c.phase == ph[c.neuron] != 0
            assert (c.bound <= 0) if c.phase < 0 else (c.bound >= 0)


def test_auto_method_splits_small_inputs() -> None:
    net, box, _ = planted(2, RELU, [3, 6, 3])
    assert reduce_on_domain(net, box).claims.method == "split"
    wide, wbox, _ = planted(2, RELU, [10, 4, 3])
    assert reduce_on_domain(wide, wbox).claims.method == "symbolic"


def test_user_errors() -> None:
    net, box, _ = planted(0, RELU, [3, 4, 2])
    with pytest.raises(LumpcheckError, match="unknown bounds method"):
        reduce_on_domain(net, box, bounds_method="lp")
    with pytest.raises(LumpcheckError, match="inputs"):
        reduce_on_domain(net, Box((Fraction(0),), (Fraction(1),)))


# ---------------------------------------------------------------- exact linear algebra and composition


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.integers(-5, 5), min_size=4, max_size=4), min_size=1, max_size=3),
       st.lists(st.fractions(max_denominator=7), min_size=3, max_size=3),
       st.lists(st.integers(-5, 5), min_size=4, max_size=4))
def test_solve_in_span(basis: list[list[int]], lam: list[Fraction], other: list[int]) -> None:
    rows = [[Fraction(v) for v in row] for row in basis]
    target = [sum((c * row[i] for c, row in zip(lam, rows)), Fraction(0)) for i in range(4)]
    found, maybe = solve_in_span(rows, [target, [Fraction(v) for v in other]])
    assert found is not None
    assert [sum((c * row[i] for c, row in zip(found, rows)), Fraction(0)) for i in range(4)] == target
    in_span = maybe is not None
    if in_span:
        assert [sum((c * row[i] for c, row in zip(maybe, rows)), Fraction(0)) for i in range(4)] == other
    else:  # really outside the span: the exact rank grows
        assert sympy.Matrix(basis + [other]).rank() > sympy.Matrix(basis).rank()


def _values(relation: Relation, reduced: list[list[Fraction]], ghosts: list[list[Fraction]]) -> list[list[Fraction]]:
    """Original values per layer given reduced values and ghost values (ghosts follow the reduced neurons)."""
    out = []
    for lr, v, g in zip(relation.layers, reduced, ghosts):
        full = v + g
        out.append([sum((c * full[k] for k, c in m.terms), m.offset) for m in lr.maps])
    return out


def test_compose_substitutes_maps_and_ghosts() -> None:
    first = Relation([LayerRelation([
        NeuronMap(((0, Fraction(2)),), Fraction(0), "proportional"),
        NeuronMap(((0, Fraction(1)), (1, Fraction(-3))), Fraction(1), "linear"),
        NeuronMap(((2, Fraction(1)),), Fraction(5), "dead"),
        NeuronMap(((1, Fraction(1)),), Fraction(0), "kept"),
    ], 2, ghosts=1)])
    second = Relation([LayerRelation([
        NeuronMap(((0, Fraction(1, 2)),), Fraction(0), "proportional"),
        NeuronMap(((1, Fraction(1)),), Fraction(2), "dead"),
    ], 1, ghosts=1)])
    both = compose(first, second)
    lr = both.layers[0]
    assert (lr.reduced_width, lr.ghosts) == (1, 2)
    assert [m.reason for m in lr.maps] == ["duplicate", "linear", "dead", "dead"]
    v2, g2, g1 = Fraction(7), Fraction(-2), Fraction(3)
    middle = _values(second, [[v2]], [[g2]])[0]
    assert _values(both, [[v2]], [[g2, g1]])[0] == _values(first, [middle], [[g1]])[0]


def test_identity_relation_composes_neutrally() -> None:
    net, box, _ = planted(5, RELU, [3, 7, 7, 3])
    red = reduce_on_domain(net, box, bounds_method="interval")
    ident = identity_relation(net)
    assert compose(ident, red.relation) == red.relation


# ---------------------------------------------------------------- ACAS Xu (zoo)


def _acas(zoo) -> tuple[Network, Box]:
    net = load_model(zoo / "marabou/resources/onnx/acasxu/ACASXU_experimental_v2a_1_1.onnx")
    return net, read_box(zoo / "vnncomp2021/benchmarks/acasxu/prop_3.vnnlib", net.input_size)


def test_acas_1_1_prop_3(zoo) -> None:
    net, box = _acas(zoo)
    red = reduce_on_domain(net, box)
    interval_inactive = sum(int(np.sum(p == -1)) for p in stable_phases(net, interval_bounds(net, box)))
    removed = net.hidden_neurons - red.network.hidden_neurons
    assert removed > interval_inactive
    assert red.relation.layers[0].reason_counts().get("linear", 0) > 0  # active first-layer ReLUs fold onto 5 inputs
    assert_equal_on_box(net, red.network, box, count=6)


# ---------------------------------------------------------------- certificates


def _write(net: Network, box: Box, directory) -> tuple:
    """The net as float64 ONNX (exact: dyadic weights) and the box as a VNN-LIB file."""
    model, prop = directory / "net.onnx", directory / "prop.vnnlib"
    assert save_model(net, model, dtype="float64").exact
    lines = [f"(declare-const X_{i} Real)" for i in range(box.dim)] + ["(declare-const Y_0 Real)"]
    lines += [f"(assert (>= X_{i} {float(lo)}))\n(assert (<= X_{i} {float(hi)}))"
              for i, (lo, hi) in enumerate(zip(box.lower, box.upper))]
    prop.write_text("\n".join(lines) + "\n")
    return model, prop


def _certified(net: Network, box: Box, directory, **kw):
    """Domain-reduce through the file flow, prove, and re-check: (pipeline result, checker result, cert path)."""
    model, prop = _write(net, box, directory)
    out, cert = directory / "reduced.onnx", directory / "cert.json"
    res = run_reduction(model, out, domain_path=prop, cert_path=cert, **kw)
    return res, check(res.cert_path, model, res.output_path), Path(res.cert_path)  # *.failed / *.unproved if not proved


def _tampered(cert_path, change) -> CheckResult:
    """Re-check the certificate after `change` edited its JSON document (z3 off; z3 on gives the same verdict)."""
    doc = json.loads(cert_path.read_text())
    reduced = doc["models"]["reduced"]["path"]  # reduced.onnx, or reduced.unproved.onnx after a failed proof
    change(doc)
    bad = cert_path.with_name("tampered.json")
    bad.write_text(json.dumps(doc))
    paths = (bad, cert_path.with_name("net.onnx"), reduced)
    exact_only = check(*paths, solver_check="none")  # the exact checks alone; z3 on must agree
    assert check(*paths).valid == exact_only.valid
    return exact_only


def test_certificate_proved_and_checked(tmp_path) -> None:
    net, box, _ = planted(21, RELU, [3, 9, 8, 3], dyadic=True)
    res, verdict, cert = _certified(net, box, tmp_path, bounds_method="interval")
    assert res.verdict == "proved" and verdict.valid, verdict
    assert len(res.notes) == 1 and "ONLY on the input box" in res.notes[0]  # folding kept: weights stay floats
    reasons = {m.reason for lr in res.reduction.relation.layers for m in lr.maps}
    assert {"inactive", "linear"} <= reasons
    assert {"bounds", "inactive", "domain"} <= {o.kind for o in res.certificate.obligations}
    assert (res.certificate.domain.lower, res.certificate.domain.upper) == (box.lower, box.upper)


@pytest.mark.parametrize("act", [RELU, LEAKY], ids=str)
@pytest.mark.parametrize("seed", range(3))
def test_rational_folds_proved_in_memory(act: Activation, seed: int) -> None:
    """Folds with rational (non-float) coefficients: the exact quotient is proved (no file can hold it)."""
    net, box, _ = planted(seed, act, [3, 9, 8, 3])
    red = reduce_on_domain(net, box, bounds_method="symbolic")
    records, _, _ = prove_networks(net, red.network, red.relation, box, claims=red.claims)
    assert all(r.status == "proved" for r in records), [(r.id, r.detail) for r in records if r.status != "proved"]
    assert "domain" in {r.kind for r in records}


def test_folding_skipped_when_the_file_cannot_hold_it(tmp_path) -> None:
    net, box, _ = planted(4, RELU, [2, 10, 4], dyadic=True)  # > 2 linear neurons on 2 inputs: rational folds
    folded = reduce_on_domain(net, box).network
    assert any(layer.weight.dtype == object for layer in folded.layers)
    res, verdict, _ = _certified(net, box, tmp_path)
    assert verdict.valid and any("folding skipped" in n for n in res.notes)
    assert not any(m.reason == "linear" for lr in res.reduction.relation.layers for m in lr.maps)


def test_tampered_phase_claim_is_invalid(tmp_path, monkeypatch) -> None:
    """A reduction that treats an unstable neuron as inactive, with a certificate forged to say 'proved', is
    caught by the checker's own bounds."""
    net, box, _ = planted(21, RELU, [3, 9, 8, 3], dyadic=True)
    phases = stable_phases(net, interval_bounds(net, box))
    r = int(np.flatnonzero(phases[0] == 0)[0])

    def wrong(net_: Network, bounds: list) -> list[np.ndarray]:
        out = stable_phases(net_, bounds)
        out[0][r] = -1
        return out

    monkeypatch.setattr(dr, "stable_phases", wrong)
    res, verdict, cert = _certified(net, box, tmp_path, bounds_method="interval")
    assert res.reduction.relation.layers[0].maps[r].reason == "inactive"
    assert res.verdict == "failed" and not verdict.valid  # the prover re-runs the bounds too

    def forge(doc: dict) -> None:
        doc["verdict"] = "proved"
        for ob in doc["obligations"]:
            ob["status"] = "proved"

    bad = _tampered(cert, forge)
    assert not bad.valid and any(f"neuron {r}: claimed inactive" in why for why in bad.reasons), bad.reasons


def test_tampered_linear_coefficient_is_invalid(tmp_path) -> None:
    net, box, _ = planted(21, RELU, [3, 9, 8, 3], dyadic=True)
    _, verdict, cert = _certified(net, box, tmp_path, bounds_method="interval")
    assert verdict.valid

    def change_coefficient(doc: dict) -> None:
        for lay in doc["relation"]:
            for m in lay["neurons"]:
                if m["reason"] == "linear" and m["terms"]:
                    m["terms"][0][1] = str(Fraction(m["terms"][0][1]) + Fraction(1, 1024))
                    return
        raise AssertionError("no linear map")

    bad = _tampered(cert, change_coefficient)
    assert not bad.valid and any("claimed combination" in why for why in bad.reasons)


def test_prover_rejects_a_changed_fold() -> None:
    net, box, _ = planted(21, RELU, [3, 9, 8, 3], dyadic=True)
    red = reduce_on_domain(net, box, bounds_method="interval")
    records, _, _ = prove_networks(net, red.network, red.relation, box, claims=red.claims)
    assert all(r.status == "proved" for r in records)
    layers = list(red.relation.layers)
    r = next(i for i, m in enumerate(layers[0].maps) if m.reason == "linear")
    m = layers[0].maps[r]
    layers[0] = LayerRelation([*layers[0].maps[:r], NeuronMap(m.terms, m.offset + 1, "linear"), *layers[0].maps[r + 1:]],
                              layers[0].reduced_width, layers[0].ghosts)
    records, _, _ = prove_networks(net, red.network, Relation(layers), box, claims=red.claims)
    failed = [o for o in records if o.status != "proved"]
    assert failed[0].id == "L1.domain" and f"neuron {r}" in failed[0].detail and "constant term" in failed[0].detail


def test_dead_basis_becomes_a_ghost_term(tmp_path) -> None:
    """A whole inactive second layer kills every first-layer class: folded maps keep ghost terms, and the
    (constant) quotient is still proved and checked."""
    net, box, _ = planted(0, RELU, [3, 7, 5], dyadic=True, every={1: "inactive"})
    red = reduce_on_domain(net, box, bounds_method="interval")
    first = red.relation.layers[0]
    assert first.reduced_width == 0 and first.ghosts > 0
    assert any(m.reason == "linear" and m.terms for m in first.maps)
    assert_equal_on_box(net, red.network, box, count=4)
    res, verdict, _ = _certified(net, box, tmp_path, bounds_method="interval")
    assert res.reduction.network.widths == red.network.widths
    assert res.verdict == "proved" and verdict.valid, verdict


def test_cli_reduce_on_domain_and_verify_outside(tmp_path) -> None:
    net, box, _ = planted(21, RELU, [3, 9, 8, 3], dyadic=True)
    model, prop = _write(net, box, tmp_path)
    out, cert = tmp_path / "small.onnx", tmp_path / "cert.json"
    res = CliRunner().invoke(cli, ["reduce", str(model), "--domain", str(prop), "-o", str(out), "--certify", str(cert)])
    assert res.exit_code == 0, res.output
    assert "ONLY on the input box" in res.output and "proved" in res.output
    assert CliRunner().invoke(cli, ["check", str(cert), str(model), str(out)]).exit_code == 0
    larger = tmp_path / "larger.vnnlib"
    larger.write_text(prop.read_text().replace("-1.0", "-100.0").replace(" 1.0", " 100.0"))
    res = CliRunner().invoke(cli, ["verify", str(model), str(out), "--domain", str(larger), "--timeout", "30"])
    assert res.exit_code == 1 and "counterexample" in res.output, res.output
