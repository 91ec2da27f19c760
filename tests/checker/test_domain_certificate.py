"""Certificates of verify's domain-match verdicts (checker/domain_match.py): a proved pair's certificate is valid
against the two models, and every tampering the issue names makes it invalid: a changed permutation, a scale
changed by one ulp, an enlarged box, a dropped phase claim (and the wrong models, the wrong side)."""

from __future__ import annotations

import copy
import json
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lumpcheck.apps.cli import cli
from lumpcheck.apps.report_domain import build_domain_report, render_domain
from lumpcheck.checker.domain_match import check_domain_match, rebuild
from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.mode import STRICT
from lumpcheck.io import save_model
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate
from lumpcheck.reduction.domain import reduce_on_domain

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "equivalence"))
from test_domain_match import BOX, planted, points  # noqa: E402

F = Fraction


def _permuted_rescaled(net: Network, seed: int) -> Network:
    """net with every hidden layer's neurons permuted and scaled by 2 (outputs unchanged)."""
    rng = np.random.default_rng(seed)
    layers = [Layer(np.array(lay.weight, dtype=object), np.array(lay.bias, dtype=object), lay.activation)
              for lay in net.layers]
    for i in range(len(layers) - 1):
        p = rng.permutation(layers[i].out_features)
        layers[i] = Layer(layers[i].weight[p] * 2, layers[i].bias[p] * 2, layers[i].activation)
        layers[i + 1] = Layer(layers[i + 1].weight[:, p] / 2, layers[i + 1].bias, layers[i + 1].activation)
    return Network(layers)


def _certified(a: Network, b: Network, box: Box = BOX) -> dict:
    res = verify(a, b, box, STRICT, 60)
    assert (res.status, res.engine) == ("unsat", "domain-match"), res.message
    assert res.certificate is not None
    return json.loads(json.dumps(res.certificate))  # as written to and read from a file


@pytest.fixture(scope="module")
def pair():
    a = planted(1, [3, 9, 8, 2], BOX)
    b = _permuted_rescaled(reduce_on_domain(a, BOX).network, 0)
    return a, b, _certified(a, b)


def test_valid_both_ways_and_only_on_the_box(pair):
    a, b, cert = pair
    res = check_domain_match(cert, a, b)
    assert res.valid, res.reasons
    assert res.scope.box_only and res.scope.mode == "strict" and res.scope.lower == BOX.lower
    assert "ONLY on the box" in res.scope.text
    back = _certified(b, a)
    assert back["side"] == "b"  # the wider network is the one reduced on the box, whichever argument it is
    assert check_domain_match(back, b, a).valid


def test_nontrivial_matching_is_recorded_and_rebuilds_the_other_network(pair):
    a, b, cert = pair
    assert any(c != "1" for m in cert["matching"] for c in m["scale"])
    assert any(j != t for m in cert["matching"] for j, t in enumerate(m["perm"]))
    r = rebuild(b, cert["matching"])  # R = B up to permutation and scaling: the same function everywhere
    for x in points(Box((F(-9),) * 3, (F(9),) * 3), 20, 3):
        assert evaluate(r, x) == evaluate(b, x)


def _invalid(cert: dict, a: Network, b: Network) -> str:
    res = check_domain_match(cert, a, b)
    assert not res.valid
    return res.reasons[0]


def test_a_changed_permutation_is_invalid(pair):
    a, b, cert = pair
    bad = copy.deepcopy(cert)
    perm = bad["matching"][0]["perm"]
    perm[0], perm[1] = perm[1], perm[0]
    _invalid(bad, a, b)
    bad["matching"][0]["perm"][0] = bad["matching"][0]["perm"][1]  # not a permutation at all
    assert "permutation" in _invalid(bad, a, b)


@pytest.mark.parametrize("layer", [0, 1])
def test_a_scale_changed_by_one_ulp_is_invalid(pair, layer):
    a, b, cert = pair
    bad = copy.deepcopy(cert)
    c = float(Fraction(bad["matching"][layer]["scale"][0]))
    bad["matching"][layer]["scale"][0] = str(Fraction(np.nextafter(c, np.inf)))
    assert Fraction(bad["matching"][layer]["scale"][0]) - Fraction(cert["matching"][layer]["scale"][0]) > 0
    _invalid(bad, a, b)


def test_an_inadmissible_scale_is_invalid(pair):
    a, b, cert = pair
    bad = copy.deepcopy(cert)
    bad["matching"][0]["scale"][0] = "-" + bad["matching"][0]["scale"][0]  # ReLU does not commute with c < 0
    assert "admissible" in _invalid(bad, a, b)


def _enlarge(box: dict, factor: int) -> dict:
    return {side: [str(Fraction(v) * factor) for v in box[side]] for side in ("lower", "upper")}


def test_an_enlarged_box_is_invalid():
    """A pair proved on a small box, whose certificate's box is enlarged to one where they differ."""
    small = Box((F(-1, 4),) * 3, (F(1, 4),) * 3)
    a = planted(4, [3, 9, 8, 2], small)
    b = reduce_on_domain(a, small).network
    assert any(evaluate(a, x) != evaluate(b, x) for x in points(BOX, 200, 1))
    cert = _certified(a, b, small)
    assert check_domain_match(cert, a, b).valid
    outer = copy.deepcopy(cert)  # the claim only
    outer["claim"]["box"] = outer["claim"]["models"]["domain"] = _enlarge(cert["claim"]["box"], 4)
    _invalid(outer, a, b)
    every = copy.deepcopy(outer)  # and the reduction's own domain: its phase claims no longer hold
    every["reduction"]["claim"]["domain"] = _enlarge(cert["reduction"]["claim"]["domain"], 4)
    _invalid(every, a, b)


def test_a_dropped_phase_claim_is_invalid(pair):
    a, b, cert = pair
    layers = cert["reduction"]["bounds"]["layers"]
    k, kind = next((k, kind) for k, lay in enumerate(layers) for kind in ("inactive", "active") if lay[kind])
    bad = copy.deepcopy(cert)
    bad["reduction"]["bounds"]["layers"][k][kind].pop(0)
    _invalid(bad, a, b)
    none = copy.deepcopy(cert)
    none["reduction"]["bounds"] = None
    _invalid(none, a, b)


def test_other_models_or_the_wrong_side_are_invalid(pair):
    a, b, cert = pair
    assert "not the certified network" in _invalid(cert, a, a)
    flipped = copy.deepcopy(cert)
    flipped["side"] = "b"
    _invalid(flipped, a, b)


def test_through_the_command_line_check_and_report(tmp_path):
    """reduce --domain, then verify --certify on the pair: the certificate checks and renders."""
    model, prop, reduced = tmp_path / "a.onnx", tmp_path / "box.vnnlib", tmp_path / "b.onnx"
    assert save_model(planted(6, [3, 12, 10, 3], BOX), model, dtype="float64").exact
    lines = [f"(declare-const X_{i} Real)" for i in range(3)]
    lines += [f"(assert (>= X_{i} -1))\n(assert (<= X_{i} 1))" for i in range(3)]
    prop.write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    res = runner.invoke(cli, ["reduce", str(model), "-o", str(reduced), "--domain", str(prop)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["verify", str(model), str(reduced), "--domain", str(prop), "--certify",
                              str(tmp_path / "c.json"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["engine"] == "domain-match"
    checked = runner.invoke(cli, ["check", str(tmp_path / "c.json"), str(model), str(reduced)])
    assert checked.exit_code == 0 and "valid: equal ONLY on the box" in checked.output, checked.output
    wrong = runner.invoke(cli, ["check", str(tmp_path / "c.json"), str(model), str(model)])
    assert wrong.exit_code == 1 and "invalid" in wrong.output
    for suffix in ("html", "md"):
        out = tmp_path / f"r.{suffix}"
        rep = runner.invoke(cli, ["report", str(tmp_path / "c.json"), "-o", str(out), "--original", str(model),
                                  "--reduced", str(reduced)])
        assert rep.exit_code == 0, rep.output
        text = out.read_text()
        assert "domain-match" in text and "model A: matches" in text and "model B: matches" in text
        assert "removed (inactive)" in text and "lumpcheck check" in text


def test_acas_reduced_on_prop_3_certificate_checks(zoo, tmp_path):
    """A real network: ACAS Xu 1_1 reduced on prop_3's box; verify --certify's certificate is valid for the pair and
    invalid for the original against itself."""
    model = zoo / "marabou/resources/onnx/acasxu/ACASXU_experimental_v2a_1_1.onnx"
    prop = zoo / "vnncomp2021/benchmarks/acasxu/prop_3.vnnlib"
    reduced, cert = tmp_path / "reduced.onnx", tmp_path / "c.json"
    runner = CliRunner()
    assert runner.invoke(cli, ["reduce", str(model), "-o", str(reduced), "--domain", str(prop)]).exit_code == 0
    res = runner.invoke(cli, ["verify", str(model), str(reduced), "--domain", str(prop), "--certify", str(cert),
                              "--json", "--timeout", "100"])
    assert res.exit_code == 0 and json.loads(res.stdout)["engine"] == "domain-match", res.output
    checked = runner.invoke(cli, ["check", str(cert), str(model), str(reduced)])
    assert checked.exit_code == 0 and "valid: equal ONLY on the box" in checked.output, checked.output
    doc = json.loads(cert.read_text())
    doc["reduction"]["bounds"]["layers"][0]["inactive"].pop()  # a dropped phase claim
    cert.write_text(json.dumps(doc))
    assert runner.invoke(cli, ["check", str(cert), str(model), str(reduced)]).exit_code == 1


def _duplicated(net: Network) -> Network:
    """net with hidden neuron 0 of the first layer split in two equal halves (same function, one more neuron)."""
    first, second = net.layers[0], net.layers[1]
    w, b = np.array(first.weight, dtype=object), np.array(first.bias, dtype=object)
    w2 = np.array(second.weight, dtype=object)
    half = w2[:, :1] * Fraction(1, 2)
    layers = [Layer(np.vstack([w, w[:1]]), np.concatenate([b, b[:1]]), first.activation),
              Layer(np.hstack([half, w2[:, 1:], half]), np.array(second.bias, dtype=object), second.activation)]
    return Network(layers + list(net.layers[2:]))


@pytest.fixture(scope="module")
def lumped_pair():
    a = planted(1, [3, 9, 8, 2], BOX)
    b = _duplicated(reduce_on_domain(a, BOX).network)
    cert = _certified(a, b)
    return a, b, cert


def test_a_match_through_the_other_networks_lumping_is_certified(lumped_pair):
    a, b, cert = lumped_pair
    assert cert["lumping"] is not None  # matched through B's coarsest lumping
    res = check_domain_match(cert, a, b)
    assert res.valid, res.reasons
    for x in points(BOX, 20, 5):
        assert evaluate(a, x) == evaluate(b, x)
    text = render_domain(build_domain_report(cert, "c.json"), "md")
    assert "B's coarsest lumping" in text and "B -> B'" in text


def test_a_tampered_lumping_is_invalid(lumped_pair):
    a, b, cert = lumped_pair
    bad = copy.deepcopy(cert)  # one weight of the recorded lumped network changed
    row = bad["lumping"]["network"]["layers"][1]["weight"][0]
    row[0] = str(Fraction(row[0]) + Fraction(1, 2**40))
    assert "lumping" in _invalid(bad, a, b)
    dropped = copy.deepcopy(cert)  # the lumping left out: R is then rebuilt from B, whose widths differ
    dropped["lumping"] = None
    _invalid(dropped, a, b)
    wrong = copy.deepcopy(cert)  # a lumping certificate that proves nothing about B
    wrong["lumping"]["certificate"]["relation"][0]["neurons"].pop()
    _invalid(wrong, a, b)
