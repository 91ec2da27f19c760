"""`lumpcheck report` on differential certificates (verify --certify): the claim, the split tree, the leaves, how
it is checked; the model files identified by their fingerprints; escaping; refusing to overwrite inputs."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from click.testing import CliRunner

from lumpcheck.apps.cli import cli
from lumpcheck.apps.report_diff import beta_count, build_diff_report, path_text, slope_count
from lumpcheck.equivalence.pair_certificate import encode_betas, encode_slopes
from lumpcheck.io import save_model

from pair_helpers import near_copy, random_net


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A 3-10-10-3 pair with a dropped neuron and noise; top1 and epsilon certificates from verify --certify."""
    tmp = tmp_path_factory.mktemp("diffreport")
    rng = np.random.default_rng(3)
    a = random_net(rng, [3, 10, 10, 3])
    b = near_copy(rng, near_copy(rng, a, "drop"), "noise")
    save_model(a, tmp / "a.onnx", dtype="float64")
    save_model(b, tmp / "b.onnx", dtype="float64")
    lines = [f"(declare-const X_{i} Real)" for i in range(3)]
    lines += [f"(assert (>= X_{i} -0.5))\n(assert (<= X_{i} 0.5))" for i in range(3)]
    (tmp / "box.vnnlib").write_text("\n".join(lines) + "\n")
    for name, mode in (("top1", "top1"), ("eps", "epsilon=1")):
        res = run("verify", tmp / "a.onnx", tmp / "b.onnx", "--domain", tmp / "box.vnnlib", "--mode", mode,
                  "--certify", tmp / f"{name}.json", "--timeout", "60")
        assert res.exit_code == 0, res.output
    return tmp


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data):
        self.parts.append(data)


def test_html_report_shows_claim_tree_leaves_and_check(certs) -> None:
    res = run("report", certs / "top1.json", "-o", certs / "top1.html", "--original", certs / "a.onnx",
              "--reduced", certs / "b.onnx")
    assert res.exit_code == 0, res.output
    assert "model A: matches; model B: matches" in res.output
    page = (certs / "top1.html").read_text()
    parser = _Text()
    parser.feed(page)
    text = " ".join(parser.parts)
    doc = json.loads((certs / "top1.json").read_text())
    assert f"split tree of {len(doc['leaves'])} leaves" in text
    assert "same set of maximal outputs" in text and "input splitting" in text
    assert "lumpcheck check" in text and "re-derives every leaf" in text
    assert text.count("x_") >= len(doc["leaves"])  # every leaf's path is shown
    classes = {leaf["class"] for leaf in doc["leaves"]}
    assert all(f"output {c}" in text for c in classes)


def test_markdown_report_and_swapped_models(certs) -> None:
    res = run("report", certs / "eps.json", "-o", certs / "eps.md", "--original", certs / "b.onnx",
              "--reduced", certs / "a.onnx")
    assert res.exit_code == 0, res.output
    assert "model A: differs" in res.output  # the files given are not the certified networks
    md = (certs / "eps.md").read_text()
    assert md.startswith("# lumpcheck differential certificate report")
    assert "max_i |A_i(x) - B_i(x)| <= 1" in md and "| X_2 | -0.5 | 0.5 | -1/2 .. 1/2 |" in md
    res = run("report", certs / "eps.json", "-o", certs / "eps2.md")
    assert "not given" in res.output and "MODEL_A MODEL_B" in res.output


def test_untrusted_strings_are_escaped(certs) -> None:
    doc = json.loads((certs / "eps.json").read_text())
    doc["leaves"][0]["part"] = "<script>alert(1)</script>"
    doc["claim"]["mode"] = "<b>x</b>"
    bad = certs / "escaped.json"
    bad.write_text(json.dumps(doc))
    assert run("report", bad, "-o", certs / "escaped.html").exit_code == 0
    page = (certs / "escaped.html").read_text()
    assert "<script>" not in page and "<b>x</b>" not in page and "&lt;script&gt;" in page


def test_report_refuses_to_overwrite_its_inputs(certs) -> None:
    res = run("report", certs / "eps.json", "-o", certs / "eps.json")
    assert res.exit_code == 2 and "eps.json" in res.output
    res = run("report", certs / "eps.json", "-o", certs / "a.onnx", "--original", certs / "a.onnx")
    assert res.exit_code == 2


def test_paths_in_words_and_slope_counts() -> None:
    assert path_text([["x", 3, (0.25).hex(), 0], ["x", 0, (-1.5).hex(), 1]]) == "x_3 <= 0.25, x_0 >= -1.5"
    assert path_text([["a", 2, 7, 1], ["b", 1, 0, -1]]) == "A L2.7 active, B L1.0 inactive"
    assert path_text([]) == "(the whole box)"
    records = ({"p_idx": [1, 4], "p_vals": np.zeros((2, 4)), "a_idx": [0], "a_vals": np.zeros((1, 2))},
               {"p_idx": [], "p_vals": np.zeros((0, 4)), "a_idx": [2, 3, 5], "a_vals": np.zeros((3, 2))})
    assert slope_count(encode_slopes(records)) == 6
    assert slope_count(base64.b64encode(b"\x01\x00").decode()) == -1
    assert slope_count("not base64!") == -1
    assert beta_count(encode_betas(((0, 3, np.ones(10)), (2, 1, np.zeros(10))), 10)) == 2
    assert beta_count("") == 0
    assert beta_count(encode_betas(((0, 3, np.ones(10)),), 10)[:-4]) == -1


def test_relu_split_paths_count_per_layer(tmp_path) -> None:
    """A hand-made certificate document with ReLU-phase paths: splits counted per network layer."""
    doc = {"format": "lumpcheck-diff-certificate", "version": 1, "strategy": "relu", "hidden": "root",
           "claim": {"mode": "top1", "box": {"lower": ["0"], "upper": ["1"]}, "a": {"sha256": "0" * 64, "shape": "1-2-2"},
                     "b": {"sha256": "1" * 64, "shape": "1-2-2"}},
           "leaves": [{"path": [["a", 1, 0, 1]], "part": "all", "pass": "pair", "class": 1, "empty": False, "slopes": ""},
                      {"path": [["a", 1, 0, -1], ["b", 1, 1, 1]], "part": "all", "pass": "pair", "class": 1,
                       "empty": False, "slopes": ""},
                      {"path": [["a", 1, 0, -1], ["b", 1, 1, -1]], "part": "all", "pass": "single", "class": 1,
                       "empty": True, "slopes": ""}]}
    report = build_diff_report(doc, tmp_path / "c.json")
    assert report.splits == {"A layer 1": 1, "B layer 1": 1} and report.internal == 2
    assert report.depths == [1, 2, 2]
    assert re.search(r"3 leaves", report.verdict_line)


def test_written_claims_read_as_unsat_as_written(tmp_path) -> None:
    """A property taken as written is not 'A and B have …': the verdict says no input satisfies its assertions."""
    atom = {"coeffs": ["1", "-1"], "op": "<", "bound": "-1/20"}
    doc = {"format": "lumpcheck-diff-certificate", "version": 1, "strategy": "input", "hidden": "leaf",
           "claim": {"mode": "written", "dnf": [[atom], [dict(atom, coeffs=["-1", "1"])]],
                     "box": {"lower": ["0"], "upper": ["1"]}, "a": {"sha256": "0" * 64, "shape": "1-2-1"},
                     "b": {"sha256": "1" * 64, "shape": "1-2-1"}},
           "leaves": [{"path": [], "part": "all", "pass": "pair", "class": 0, "empty": False, "slopes": ""}]}
    report = build_diff_report(doc, tmp_path / "c.json")
    assert report.verdict_line.startswith("unsat (as written): no input makes the written output assertions true "
                                          "(2 disjuncts")
    assert "A and B have" not in report.verdict_line
