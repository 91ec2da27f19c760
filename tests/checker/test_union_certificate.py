"""Union certificates (specs/union-certificate.md): `verify` on an `or` of input boxes decides each box on its own
and certifies the union; `check` accepts it only when every part is valid and all claim the same thing, and
`check --domain P` only when each of P's boxes lies inside a certified one."""

from __future__ import annotations

import copy
import json
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import lumpcheck
from lumpcheck.apps.cli import cli
from lumpcheck.io import save_model
from lumpcheck.ir.activation import RELU
from lumpcheck.ir.network import Layer, Network, evaluate

HAT = Network([Layer(np.array([[1.0], [1.0], [1.0]]), np.array([-1.0, -1.5, -2.0]), RELU),
               Layer(np.array([[1.0, -2.0, 1.0]]), np.array([0.0]))])  # relu(x-1) - 2relu(x-1.5) + relu(x-2)
ZERO = Network([Layer(np.array([[0.0]]), np.array([0.0]))])
HEAD = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n"
OR_REGION = HEAD + "(assert (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 2) (<= X_0 3))))\n"
HULL = HEAD + "(assert (>= X_0 0))\n(assert (<= X_0 3))\n"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def files(tmp_path):
    """The hat (non-zero only on (1, 2)) and zero, the region [0, 1] or [2, 3] where they agree, its hull."""
    save_model(HAT, tmp_path / "hat.onnx", dtype="float64")
    save_model(ZERO, tmp_path / "zero.onnx", dtype="float64")
    (tmp_path / "or.vnnlib").write_text(OR_REGION)
    (tmp_path / "hull.vnnlib").write_text(HULL)
    return tmp_path


def _certify(files, mode="epsilon=1/10"):
    res = run("verify", files / "hat.onnx", files / "zero.onnx", "--domain", files / "or.vnnlib", "--mode", mode,
              "--certify", files / "c.json", "--json")
    assert res.exit_code == 0, res.output
    return json.loads((files / "c.json").read_text())


def _check(files, doc, *options):
    (files / "t.json").write_text(json.dumps(doc))
    return lumpcheck.check(files / "t.json", files / "hat.onnx", files / "zero.onnx", *options)


def test_an_or_region_is_decided_box_by_box_and_its_union_certified(files):
    """On the hull the pair differs (x = 3/2); on the region it agrees: unsat, one part per box, valid, and valid
    against the region's file but not against the hull's."""
    assert evaluate(HAT, [Fraction(3, 2)]) == [Fraction(1, 2)]
    doc = _certify(files)
    assert doc["format"] == "lumpcheck-union-certificate" and len(doc["parts"]) == 2
    result = _check(files, doc)
    assert result.valid and "each of the 2 boxes" in result.scope.text, result
    on_region = lumpcheck.check(files / "t.json", files / "hat.onnx", files / "zero.onnx", domain=files / "or.vnnlib")
    assert on_region.valid and "or.vnnlib" in on_region.scope.text, on_region
    on_hull = lumpcheck.check(files / "t.json", files / "hat.onnx", files / "zero.onnx", domain=files / "hull.vnnlib")
    assert not on_hull.valid and "input 0" in on_hull.reasons[0], on_hull
    res = run("verify", files / "hat.onnx", files / "zero.onnx", "--domain", files / "hull.vnnlib", "--mode",
              "epsilon=1/10", "--json")
    assert res.exit_code == 1 and 1 < Fraction(json.loads(res.stdout)["witness"][0]) < 2, res.output


def test_a_union_without_one_box_does_not_cover_the_region(files):
    doc = _certify(files)
    doc["parts"] = doc["parts"][:1]
    assert _check(files, doc).valid  # a claim on [0, 1] alone is true
    lone = lumpcheck.check(files / "t.json", files / "hat.onnx", files / "zero.onnx", domain=files / "or.vnnlib")
    assert not lone.valid and "[2, 3]" in lone.reasons[0], lone


@pytest.mark.parametrize("tamper", ["nested", "extra key", "no parts", "version", "bool version", "other format",
                                    "mixed epsilon", "part box widened", "part not a dict"])
def test_tampered_unions_are_invalid(files, tamper):
    doc = _certify(files)
    bad = copy.deepcopy(doc)
    if tamper == "nested":
        bad["parts"][1] = copy.deepcopy(doc)
    elif tamper == "extra key":
        bad["claim"] = {}
    elif tamper == "no parts":
        bad["parts"] = []
    elif tamper == "version":
        bad["format_version"] = 2
    elif tamper == "bool version":
        bad["format_version"] = True
    elif tamper == "other format":
        bad["parts"][1] = {"format": "lumpcheck-certificate"}
    elif tamper == "mixed epsilon":  # a second part with a larger ε that is true on its own box: claims differ
        other = _certify(files, "epsilon=1/5")
        bad["parts"][1] = other["parts"][1]
    elif tamper == "part box widened":  # the second part's box grows over the hat: its proof fails there
        claim = bad["parts"][1]["claim"]
        for box in (claim["box"], claim["models"]["domain"]):
            box["lower"][0] = "1"
    elif tamper == "part not a dict":
        bad["parts"][0] = "part"
    assert not _check(files, bad).valid


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(-4, 4), min_size=2, max_size=2), st.integers(0, 6), st.integers(1, 3),
       st.integers(0, 3))
def test_verify_on_or_regions_matches_exact_enumeration(tmp_path_factory, weights, start, width, gap):
    """A two-ReLU net against zero on [s, s+w] or [s+w+g, s+2w+g] (g = 0: touching boxes): unsat exactly when the
    net is zero on both boxes (it is piecewise linear with knots at 1, 2, 3, so the knots and ends decide), and a sat
    witness lies in one of the boxes, where the net is not zero."""
    tmp = tmp_path_factory.mktemp("or")
    net = Network([Layer(np.array([[1.0], [1.0]]), np.array([-2.0, -3.0]), RELU),
                   Layer(np.array([[float(weights[0]), float(weights[1])]]), np.array([0.0]))])
    boxes = [(start, start + width), (start + width + gap, start + 2 * width + gap)]
    points = {Fraction(p) for lo, hi in boxes for p in [lo, hi] + [k for k in (2, 3) if lo <= k <= hi]}
    zero_on_region = all(evaluate(net, [p])[0] == 0 for p in points)
    save_model(net, tmp / "a.onnx", dtype="float64")
    save_model(ZERO, tmp / "b.onnx", dtype="float64")
    disjuncts = " ".join(f"(and (>= X_0 {lo}) (<= X_0 {hi}))" for lo, hi in boxes)
    (tmp / "p.vnnlib").write_text(HEAD + f"(assert (or {disjuncts}))\n")
    res = run("verify", tmp / "a.onnx", tmp / "b.onnx", "--domain", tmp / "p.vnnlib", "--mode", "strict", "--json",
              "--timeout", "60")
    out = json.loads(res.stdout)
    assert out["status"] == ("unsat" if zero_on_region else "sat"), (weights, boxes, out)
    if out["status"] == "sat":
        x = Fraction(out["witness"][0])
        assert any(lo <= x <= hi for lo, hi in boxes) and evaluate(net, [x])[0] != 0


@pytest.mark.parametrize("suffix", ["md", "html"])
def test_report_renders_one_section_per_box(files, suffix):
    _certify(files)
    out = files / f"r.{suffix}"
    res = run("report", files / "c.json", "-o", out, "--original", files / "hat.onnx", "--reduced", files / "zero.onnx")
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "each of the 2 boxes" in text and "Box 1 of 2" in text and "Box 2 of 2" in text
    assert text.count("differential certificate report") == 2
