"""The command line: info output, one-line errors with exit codes, help that teaches."""

import json
import re
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

from lumpcheck.apps.cli import cli
from lumpcheck.apps.console import EXIT_USAGE
from lumpcheck.io import save_model
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.network import Layer, Network
from lumpcheck.ir.normalization import Normalization


@pytest.fixture
def small_model(tmp_path):
    rng = np.random.default_rng(0)
    net = Network([Layer(rng.normal(size=(6, 3)), rng.normal(size=6), Activation("relu")), Layer(rng.normal(size=(2, 6)), rng.normal(size=2))])
    path = tmp_path / "small.onnx"
    save_model(net, path, dtype="float64")
    return path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_help_teaches():
    res = run("--help")
    assert res.exit_code == 0
    assert "Exit codes" in res.output and "lumpcheck reduce" in res.output
    res = run("info", "--help")
    assert res.exit_code == 0 and "Example" in res.output


def test_info_table_and_json(small_model):
    res = run("info", small_model)
    assert res.exit_code == 0, res.output
    assert "3-6-2" in res.output and "38 params" in res.output and "relu" in res.output
    res = run("info", small_model, "--json")
    data = json.loads(res.output)
    assert data["widths"] == [3, 6, 2] and data["params"] == 38


def test_missing_file_is_one_line_error(tmp_path):
    res = run("info", tmp_path / "nope.onnx")
    assert res.exit_code == EXIT_USAGE
    assert "nope.onnx" in res.output and "Traceback" not in res.output


def test_corrupt_file_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a protobuf model")
    res = run("info", bad)
    assert res.exit_code != 0 and "bad.onnx" in res.output and "Traceback" not in res.output


def test_unknown_extension(tmp_path):
    f = tmp_path / "model.xyz"
    f.write_text("x")
    res = run("info", f)
    assert res.exit_code != 0 and "unknown model format" in res.output


EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples"


def test_approx_never_claims_equivalence(tmp_path):
    res = run("approx", EXAMPLES / "planted_relu.onnx", "--domain", EXAMPLES / "box.vnnlib", "-t", "0.3", "-o", tmp_path / "a.onnx", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert sum(data["hidden_after"]) < sum(data["hidden_before"])
    assert data["measured_max_deviation"] <= float(__import__("fractions").Fraction(data["certified_epsilon_of_file"]))
    res = run("approx", EXAMPLES / "planted_relu.onnx", "--domain", EXAMPLES / "box.vnnlib", "-t", "0.3", "-o", tmp_path / "b.onnx")
    assert "APPROXIMATE" in res.output and "equivalent" not in res.output and "proved" not in res.output.lower()
    res = run("approx", EXAMPLES / "planted_relu.onnx", "--domain", EXAMPLES / "box.vnnlib", "-t", "0.3", "-o", tmp_path / "c.nnet")
    assert res.exit_code == 0 and "export decimal: all" in " ".join(res.output.split()), res.output  # exact decimals
    printed = re.search(r"certified max \|deviation\| <= (\S+)", " ".join(res.output.split()))[1]
    exact = Fraction(re.search(r"exact bound (\S+?)\)", " ".join(res.output.split()))[1])
    assert Fraction(printed) >= exact  # the short number is rounded up, never to nearest


def test_approx_into_a_format_that_cannot_hold_the_result_is_a_one_line_error(tmp_path):
    """A .nnet holds ReLU chains with finite decimals only: a tanh model is refused with exit 2, not a traceback."""
    rng = np.random.default_rng(3)
    w = rng.normal(size=(4, 2))
    w[1] = 1.001 * w[0]
    net = Network([Layer(w, rng.normal(size=4), Activation("tanh")), Layer(rng.normal(size=(1, 4)), np.zeros(1))])
    save_model(net, tmp_path / "t.onnx", dtype="float64")
    res = run("approx", tmp_path / "t.onnx", "--domain", _box_file(tmp_path / "b.vnnlib", [(-1, 1), (-1, 1)]), "-t", "0.1",
              "-o", tmp_path / "t.nnet")
    assert res.exit_code == 2 and "t.nnet" in res.output and "ReLU" in res.output, res.output


def test_reduce_certify_check_round_trip(tmp_path):
    out, cert = tmp_path / "r.onnx", tmp_path / "c.json"
    res = run("reduce", EXAMPLES / "planted_relu.onnx", "-o", out, "--certify", cert)
    assert res.exit_code == 0, res.output
    assert "proved" in res.output
    res = run("check", cert, EXAMPLES / "planted_relu.onnx", out)
    assert res.exit_code == 0 and "valid" in res.output
    # the near-miss model (one weight one ulp off) is not equivalent: verify finds a replayed counterexample
    res = run("verify", EXAMPLES / "planted_relu.onnx", EXAMPLES / "near_miss_relu.onnx", "--json")
    assert res.exit_code == 1 and json.loads(res.output)["status"] == "sat"


def _box_file(path, intervals) -> str:
    decls = "".join(f"(declare-const X_{i} Real)\n" for i in range(len(intervals)))
    asserts = "".join(f"(assert (>= X_{i} {lo}))\n(assert (<= X_{i} {hi}))\n" for i, (lo, hi) in enumerate(intervals))
    path.write_text(decls + asserts)
    return str(path)


def test_check_names_a_property_file_only_after_comparing_its_box(tmp_path):
    """A box-only certificate records its property file's NAME; `check` says so (it did not read that file) unless
    --domain gives a file whose box it compares: inside the certified box (equal or smaller) -> valid, named;
    reaching outside it on one input -> invalid, naming the input and both intervals."""
    out, cert = tmp_path / "r.onnx", tmp_path / "c.json"
    model, box = EXAMPLES / "planted_relu.onnx", EXAMPLES / "box.vnnlib"
    assert run("reduce", model, "-o", out, "--domain", box, "--certify", cert).exit_code == 0
    res = run("check", cert, model, out)
    assert res.exit_code == 0 and "ONLY on the box the certificate records (4 inputs, said to be box.vnnlib's)" in res.output
    res = run("check", cert, model, out, "--domain", box)
    assert res.exit_code == 0 and "ONLY on the box of box.vnnlib (4 inputs)" in res.output, res.output
    inner = _box_file(tmp_path / "inner.vnnlib", [(-1, 1), (-1, 1), (-0.5, 0.5), (0.5, 1.5)])
    res = run("check", cert, model, out, "--domain", inner, "--json")
    scope = json.loads(res.output)["scope"]
    assert res.exit_code == 0 and scope["domain"]["source_checked"] and scope["domain"]["upper"][3] == "3/2"
    wider = _box_file(tmp_path / "wider.vnnlib", [(-1, 1), (-1, 1), (-0.5, 0.5), (0, 2.0000001)])
    res = run("check", cert, model, out, "--domain", wider)
    assert res.exit_code == 1 and "input 3" in res.output and "not inside the certified [0, 2]" in res.output


def test_a_layer_chain_certificate_compares_the_property_box_without_the_models_clip(tmp_path):
    """x clipped to [0, 1]; hidden relu(x - 2) is inactive on [0, 1] and dropped by `reduce --normalization drop` on
    P = [0, 1] (normalised coordinates, which are the bare chain's). The claim is about the chains, which do not
    clip: Q = [0, 3] must not pass as inside the certified box by being clipped onto [0, 1] first (at x = 3 the
    chains give 4 and 3)."""
    net = Network([Layer(np.array([[1.0], [1.0]]), np.array([-2.0, 0.0]), Activation("relu")),
                   Layer(np.array([[1.0, 1.0]]), np.array([0.0]))], Normalization((0,), (1,), (0,), (1,), (0,), (1,)))
    model, out, cert = tmp_path / "c.nnet", tmp_path / "r.nnet", tmp_path / "c.json"
    save_model(net, model)
    p, q = _box_file(tmp_path / "p.vnnlib", [(0, 1)]), _box_file(tmp_path / "q.vnnlib", [(0, 3)])
    res = run("reduce", model, "-o", out, "--domain", p, "--domain-space", "normalized", "--normalization", "drop",
              "--certify", cert)
    assert res.exit_code == 0, res.output
    assert run("check", cert, model, out, "--domain", p, "--domain-space", "normalized").exit_code == 0
    res = run("check", cert, model, out, "--domain", q, "--domain-space", "normalized")
    assert res.exit_code == 1 and "not inside the certified [0, 1]" in res.output, res.output


def test_report_of_a_certificate_with_fields_of_the_wrong_type_is_one_line(tmp_path):
    out, cert = tmp_path / "r.onnx", tmp_path / "c.json"
    assert run("reduce", EXAMPLES / "planted_relu.onnx", "-o", out, "--certify", cert).exit_code == 0
    doc = json.loads(cert.read_text())
    for edit in (lambda d: d.update(times={"total_seconds": 10**400}), lambda d: d.update(claim=1.5)):
        bad = json.loads(json.dumps(doc))
        edit(bad)
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        res = run("report", tmp_path / "bad.json", "-o", tmp_path / "rep.html")
        assert res.exit_code == 2 and "bad.json" in res.output and len(res.output.strip().splitlines()) == 1, res.output
        assert not (tmp_path / "rep.html").exists()
