"""`lumpcheck verify` with the differential engine: exit codes, --certify checked by `lumpcheck check`, VNN-COMP
results files, argmin, --jobs and --timeout as a hard limit."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper as oh
from onnx import numpy_helper as onh
from click.testing import CliRunner

import lumpcheck
import lumpcheck.apps.cli_verify as cli_verify
from lumpcheck.apps.cli import cli
from lumpcheck.errors import LumpcheckError
from lumpcheck.io import load_any, save_model
from lumpcheck.ir.activation import RELU
from lumpcheck.ir.graph.dag import Graph
from lumpcheck.ir.graph.dense import from_network
from lumpcheck.ir.network import Layer, Network, evaluate
from lumpcheck.ir.normalization import Normalization

from pair_helpers import near_copy, random_net


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _write_box(path, lower, upper):
    lines = [f"(declare-const X_{i} Real)" for i in range(len(lower))]
    lines += [f"(assert (>= X_{i} {lo}))\n(assert (<= X_{i} {hi}))" for i, (lo, hi) in enumerate(zip(lower, upper))]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A 3-10-10-3 ReLU net and a copy with one hidden neuron removed and noisy weights (widths differ)."""
    tmp = tmp_path_factory.mktemp("pair")
    rng = np.random.default_rng(3)
    a = random_net(rng, [3, 10, 10, 3])
    b = near_copy(rng, near_copy(rng, a, "drop"), "noise")
    assert [lay.out_features for lay in b.layers] != [lay.out_features for lay in a.layers]
    save_model(a, tmp / "a.onnx", dtype="float64")
    save_model(b, tmp / "b.onnx", dtype="float64")
    _write_box(tmp / "box.vnnlib", ["-0.5"] * 3, ["0.5"] * 3)
    return tmp, a, b


def _max_difference(a, b, rng, count=300) -> float:
    """The largest |A - B| seen on random points of the box (a lower bound of the true maximum)."""
    points = [[Fraction(float(v)) for v in x] for x in rng.uniform(-0.5, 0.5, (count, 3))]
    return max(float(abs(p - q)) for x in points for p, q in zip(evaluate(a, x), evaluate(b, x)))


def test_unsat_writes_a_certificate_that_check_accepts(pair):
    tmp, a, b = pair
    eps = Fraction(_max_difference(a, b, np.random.default_rng(0)) * 3 + 0.05).limit_denominator(1000)
    res = run("verify", tmp / "a.onnx", tmp / "b.onnx", "--domain", tmp / "box.vnnlib", "--mode", f"epsilon={eps}",
              "--certify", tmp / "c.json", "--results-file", tmp / "r.txt", "--json", "--timeout", "60")
    out = json.loads(res.stdout)
    assert res.exit_code == 0, res.output
    assert out["status"] == "unsat" and out["engine"] == "differential"
    assert (tmp / "r.txt").read_text() == "unsat\n"
    checked = run("check", tmp / "c.json", tmp / "a.onnx", tmp / "b.onnx", "--json")
    assert checked.exit_code == 0, checked.output
    scope = json.loads(checked.stdout)["scope"]
    assert scope["mode"] == "epsilon" and Fraction(scope["epsilon"]) == eps
    # the same certificate does not check against other models (B swapped for A)
    wrong = run("check", tmp / "c.json", tmp / "a.onnx", tmp / "a.onnx")
    assert wrong.exit_code == 1 and "invalid" in wrong.output
    # fields of the wrong type are invalid in one line, never a crash: the claim, its mode, a leaf
    doc = json.loads((tmp / "c.json").read_text())
    for edit in (lambda d: d.update(claim=None), lambda d: d["claim"].update(mode=None),
                 lambda d: d["claim"].update(mode=3), lambda d: d.update(leaves=[None])):
        bad = json.loads(json.dumps(doc))
        edit(bad)
        (tmp / "bad.json").write_text(json.dumps(bad))
        res = run("check", tmp / "bad.json", tmp / "a.onnx", tmp / "b.onnx")
        assert res.exit_code == 1 and res.output.startswith("invalid") and "\n" not in res.output.strip(), res.output


def test_sat_exits_1_with_an_exactly_replayed_witness_in_the_results_file(pair):
    tmp, a, b = pair
    res = run("verify", tmp / "a.onnx", tmp / "b.onnx", "--domain", tmp / "box.vnnlib", "--mode", "epsilon=1e-9",
              "--results-file", tmp / "sat.txt", "--json", "--timeout", "60")
    assert res.exit_code == 1, res.output
    text = (tmp / "sat.txt").read_text()
    assert text.startswith("sat\n((X_0 ")
    values = dict(re.findall(r"\((\w+) ([^()\s]+)\)", text))
    x = [Fraction(values[f"X_{i}"]) for i in range(3)]
    assert all(Fraction(-1, 2) <= v <= Fraction(1, 2) for v in x)
    ya, yb = evaluate(a, x), evaluate(b, x)
    assert [Fraction(values[f"Y_{i}"]) for i in range(3)] == list(ya)
    assert [Fraction(values[f"Y2_{i}"]) for i in range(3)] == list(yb)
    assert max(abs(p - q) for p, q in zip(ya, yb)) > Fraction(1, 10**9)


def test_argmin_mode_and_jobs(pair):
    tmp, a, b = pair
    res = run("verify", tmp / "a.onnx", tmp / "a.onnx", "--domain", tmp / "box.vnnlib", "--mode", "argmin",
              "--jobs", "2", "--json", "--timeout", "60")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["mode"] == "argmin"


def test_argmin_counterexample_is_a_different_minimal_output(tmp_path):
    """A(x) = (x, 0), B(x) = (0, x) on x in [-1, 1]: argmin differs wherever x != 0."""
    a = Network([Layer(np.array([[1.0], [0.0]]), np.zeros(2))])
    b = Network([Layer(np.array([[0.0], [1.0]]), np.zeros(2))])
    save_model(a, tmp_path / "a.onnx", dtype="float64")
    save_model(b, tmp_path / "b.onnx", dtype="float64")
    _write_box(tmp_path / "box.vnnlib", ["-1"], ["1"])
    res = run("verify", tmp_path / "a.onnx", tmp_path / "b.onnx", "--domain", tmp_path / "box.vnnlib", "--mode",
              "argmin", "--json")
    assert res.exit_code == 1, res.output
    out = json.loads(res.stdout)
    x = Fraction(out["witness"][0])
    assert x != 0  # at x = 0 both tie, which is agreement


def test_timeout_is_a_hard_wall_clock_limit(tmp_path):
    """A pair the engines cannot decide quickly: the command answers timeout (exit 4) close to --timeout."""
    rng = np.random.default_rng(1)
    a = random_net(rng, [20, 60, 60, 60, 5])
    b = near_copy(rng, a, "noise")
    save_model(a, tmp_path / "a.onnx", dtype="float64")
    save_model(b, tmp_path / "b.onnx", dtype="float64")
    _write_box(tmp_path / "box.vnnlib", ["-1"] * 20, ["1"] * 20)
    start = time.monotonic()
    res = run("verify", tmp_path / "a.onnx", tmp_path / "b.onnx", "--domain", tmp_path / "box.vnnlib", "--mode",
              "top1", "--timeout", "2", "--json", "--results-file", tmp_path / "r.txt")
    elapsed = time.monotonic() - start
    assert res.exit_code in (1, 4), res.output
    if res.exit_code == 4:
        assert json.loads(res.stdout)["status"] in ("timeout", "unknown")
        assert (tmp_path / "r.txt").read_text() in ("timeout\n", "unknown\n")
    assert elapsed < 2 + 3.0, elapsed


def test_the_timeout_holds_while_the_property_is_read(tmp_path):
    """A property over 60,000 inputs takes far longer to parse than --timeout 3 (about 1 s per 3,000 inputs): the
    reading in verify's own process is held by the limit too, so the command answers timeout (exit 4, a timeout
    results file) near the limit, not after the parse."""
    n = 60_000
    net = Network([Layer(np.ones((1, n)), np.zeros(1))])
    save_model(net, tmp_path / "a.onnx", dtype="float64")
    _write_box(tmp_path / "box.vnnlib", ["0"] * n, ["1"] * n)
    start = time.monotonic()
    res = run("verify", tmp_path / "a.onnx", tmp_path / "a.onnx", "--domain", tmp_path / "box.vnnlib", "--mode",
              "epsilon=1", "--timeout", "3", "--results-file", tmp_path / "r.txt")
    elapsed = time.monotonic() - start
    assert res.exit_code == 4, res.output
    assert "hard time limit of 3 s reached" in " ".join(res.output.split())
    assert "box.vnnlib" in res.output.replace("\n", "")  # named although it was not read (console wraps the path)
    assert (tmp_path / "r.txt").read_text() == "timeout\n"
    assert elapsed < 3 + 10.0, elapsed  # the parse alone takes tens of seconds (69 s before the limit held it)


def test_the_console_scripts_timeout_counts_from_the_process_start(tmp_path):
    """`lumpcheck verify --timeout 20` as a user runs it, on a pair whose ε = 40 search outlasts it (the float search
    sees differences near 25): interpreter start and module loading count, so the whole process ends within the
    limit (plus scheduling slack) with a timeout results file."""
    rng = np.random.default_rng(1)
    a = random_net(rng, [20, 60, 60, 60, 5])
    save_model(a, tmp_path / "a.onnx", dtype="float64")
    save_model(near_copy(rng, a, "noise"), tmp_path / "b.onnx", dtype="float64")
    _write_box(tmp_path / "box.vnnlib", ["-1"] * 20, ["1"] * 20)
    script = Path(sys.executable).parent / "lumpcheck"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "lumpcheck.apps.cli"]
    start = time.monotonic()
    done = subprocess.run(command + ["verify", str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx"), "--domain",
                                     str(tmp_path / "box.vnnlib"), "--mode", "epsilon=40", "--timeout", "20",
                                     "--results-file", str(tmp_path / "r.txt")], capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - start
    assert done.returncode in (0, 1, 4), done.stderr
    assert done.returncode != 4 or (tmp_path / "r.txt").read_text() == "timeout\n"
    assert elapsed < 20 + 2.5, elapsed


def test_certify_is_refused_quietly_for_engines_without_certificates(tmp_path):
    """Equal models decided by another engine: exit 0 and a note, no certificate file."""
    w = np.array([[1.0, -1.0], [0.5, 2.0]])
    net = Network([Layer(w, np.zeros(2), RELU), Layer(np.eye(2), np.zeros(2))])
    save_model(net, tmp_path / "a.onnx", dtype="float64")
    res = run("verify", tmp_path / "a.onnx", tmp_path / "a.onnx", "--certify", tmp_path / "c.json")
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "c.json").exists()


HAT = Network([Layer(np.array([[1.0], [1.0], [1.0]]), np.array([-1.0, -1.5, -2.0]), RELU),
               Layer(np.array([[1.0, -2.0, 1.0]]), np.array([0.0]))])  # relu(x-1) - 2relu(x-1.5) + relu(x-2)
ZERO = Network([Layer(np.array([[0.0]]), np.array([0.0]))])
OR_REGION = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n" \
            "(assert (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 2) (<= X_0 3))))\n"
WHOLE = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 0))\n(assert (<= X_0 3))\n"


def _verdicts(a, b, region, *options, modes=("strict", "epsilon=1/10")):
    for mode in modes:
        res = run("verify", a, b, "--domain", region, "--mode", mode, "--timeout", "60", "--json", *options)
        yield mode, res.exit_code, json.loads(res.output)


def _unsat_on_the_or_and_sat_on_the_whole(tmp_path, a, b, on_or=("unsat",)):
    """A (a hat on (1, 2)) against B = 0: unsat on OR_REGION (each box decided on its own; `on_or`: the verdicts
    allowed there, never sat), sat on WHOLE."""
    (tmp_path / "or.vnnlib").write_text(OR_REGION)
    for mode, _, out in _verdicts(a, b, tmp_path / "or.vnnlib"):
        assert out["status"] in on_or and out["witness"] is None, (mode, out)
    (tmp_path / "whole.vnnlib").write_text(WHOLE)
    for mode, code, out in _verdicts(a, b, tmp_path / "whole.vnnlib", modes=("strict",)):
        assert code == 1 and out["status"] == "sat", out


def test_a_witness_between_the_boxes_of_an_or_is_not_a_counterexample(tmp_path):
    """A is a ReLU hat, non-zero only on (1, 2); B = 0. On the region X_0 in [0, 1] or [2, 3] they agree exactly,
    but on the hull [0, 3] x = 3/2 separates them: each box of the region is decided on its own, so the answer is
    unsat, never sat; on a region that holds the hat's top the same search says sat."""
    assert evaluate(HAT, [Fraction(3, 2)]) == [Fraction(1, 2)] and evaluate(HAT, [Fraction(1)]) == [0]
    a, b = tmp_path / "hat.onnx", tmp_path / "zero.onnx"
    save_model(HAT, a)
    save_model(ZERO, b)
    _unsat_on_the_or_and_sat_on_the_whole(tmp_path, a, b)


def test_the_region_check_reads_the_witness_in_the_files_coordinates(tmp_path):
    """The same hat behind an input normalisation x -> (x - 10) / 2, the or-region given in normalised coordinates
    (--domain-space normalized): the engines search model inputs [10, 16], and x = 13 (normalised 3/2) is in no
    box of the region. Under --normalization drop the file is over the bare chain's inputs: the same answer."""
    norm = Normalization((10,), (2,), (0,), (1,))
    a, b = tmp_path / "hat.nnet", tmp_path / "zero.nnet"
    save_model(Network(HAT.layers, norm), a)
    save_model(Network(ZERO.layers, norm), b)
    (tmp_path / "or.vnnlib").write_text(OR_REGION)
    for options in (("--domain-space", "normalized"), ("--normalization", "drop")):
        for mode, _, out in _verdicts(a, b, tmp_path / "or.vnnlib", *options):
            assert out["status"] == "unsat" and out["witness"] is None, (options, mode, out)
    (tmp_path / "whole.vnnlib").write_text(WHOLE)
    results = tmp_path / "r.txt"
    for mode, code, out in _verdicts(a, b, tmp_path / "whole.vnnlib", "--domain-space", "normalized",
                                     "--results-file", results, modes=("strict",)):
        assert code == 1 and out["status"] == "sat" and 10 <= Fraction(out["witness"][0]) <= 16, out
        x0 = Fraction(re.search(r"\(X_0 (\S+)\)", results.read_text())[1])  # in the file's coordinates
        assert x0 == (Fraction(out["witness"][0]) - 10) / 2 and 0 <= x0 <= 3


def test_outputs_never_overwrite_inputs_and_errors_still_write_a_results_file(tmp_path):
    """--results-file/--certify naming a model or the --domain file is refused before anything runs (the file is
    untouched); a pair that cannot be read still gets an 'error' results file, as a VNN-COMP harness expects."""
    a = tmp_path / "a.onnx"
    save_model(HAT, a)
    (tmp_path / "whole.vnnlib").write_text(WHOLE)
    before = a.read_bytes()
    for option in ("--results-file", "--certify"):
        res = run("verify", a, a, "--domain", tmp_path / "whole.vnnlib", option, a)
        assert res.exit_code != 0 and "MODEL_A" in res.output and a.read_bytes() == before, res.output
    res = run("verify", a, tmp_path / "missing.onnx", "--results-file", tmp_path / "r.txt")
    assert res.exit_code != 0 and (tmp_path / "r.txt").read_text() == "error\n", res.output



def test_an_internal_error_replaces_a_stale_results_file_with_error(tmp_path, monkeypatch):
    a = tmp_path / "a.onnx"
    save_model(HAT, a)
    (tmp_path / "r.txt").write_text("unsat\n")  # from an earlier run

    def bug(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli_verify, "decide", bug)
    res = run("verify", a, a, "--results-file", tmp_path / "r.txt")
    assert res.exit_code == 70 and (tmp_path / "r.txt").read_text() == "error\n", res.output


def test_a_witness_on_a_strict_bound_is_not_a_counterexample(tmp_path):
    """X_0 >= 1 and X_0 < 1 is an empty region whose closed box is the point 1, where A(x) = x and B = 0 differ:
    no input of the region separates them, so the answer is never sat; with X_0 <= 1 it is sat at x = 1."""
    a, b = tmp_path / "identity.onnx", tmp_path / "zero.onnx"
    save_model(Network([Layer(np.array([[1.0]]), np.array([0.0]))]), a)
    save_model(ZERO, b)
    for op, sat in (("<", False), ("<=", True)):
        region = tmp_path / "point.vnnlib"
        region.write_text(f"(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 1))\n(assert ({op} X_0 1))\n")
        for mode, code, out in _verdicts(a, b, region):
            assert (out["status"] == "sat") == sat and (code == 1) == sat, (op, mode, out)
            assert sat or out["witness"] is None


def test_a_witness_on_a_strict_bound_moves_inside_when_the_violation_does(tmp_path):
    """On 0 < x < 1 with A(x) = x and B = 0, |A - B| > 99/100 holds just inside the excluded bound 1, where the
    search's witness sits: it is moved inwards and replayed exactly (sat, x strictly inside). With A = [relu(x), 1]
    and B = [0, 1] the top-1 decisions differ only AT x = 1 (A's tie): no point of the region separates them, and
    the moved points replay equal, so the answer is never sat."""
    a, b = tmp_path / "identity.onnx", tmp_path / "zero.onnx"
    save_model(Network([Layer(np.array([[1.0]]), np.array([0.0]))]), a)
    save_model(ZERO, b)
    region = tmp_path / "open.vnnlib"
    region.write_text("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (> X_0 0))\n(assert (< X_0 1))\n")
    for mode, code, out in _verdicts(a, b, region, "--results-file", tmp_path / "r.txt", modes=("epsilon=99/100",)):
        assert code == 1 and out["status"] == "sat", out
        x0 = Fraction(re.search(r"\(X_0 (\S+)\)", (tmp_path / "r.txt").read_text())[1])
        assert Fraction(out["witness"][0]) == x0 and Fraction(99, 100) < x0 < 1
    api = lumpcheck.verify(a, b, domain=region, mode="epsilon=99/100", timeout=60)  # the Python API moves it too
    assert api.status == "sat" and Fraction(99, 100) < api.witness[0] < 1, api
    tie, other = tmp_path / "tie.onnx", tmp_path / "other.onnx"
    for path, w in ((tie, 1.0), (other, 0.0)):
        save_model(Network([Layer(np.array([[1.0]]), np.array([0.0]), RELU),
                            Layer(np.array([[w], [0.0]]), np.array([0.0, 1.0]))]), path)
    for mode, code, out in _verdicts(tie, other, region, modes=("top1",)):
        assert out["status"] != "sat" and code != 1, out


def test_the_region_check_covers_graph_pairs(tmp_path):
    """The hat as a 1x1-convolution graph (the CNN path of verify) against B = 0 on the or-region: each box is
    searched on its own, so the hat's top (in no box of the region) is never a witness: never sat (unknown where
    the graph engines cannot prove equality on a box; epsilon's certified bound can), sat on the whole."""
    a, b = tmp_path / "hat_cnn.onnx", tmp_path / "zero.onnx"
    _hat_cnn(a)
    save_model(ZERO, b)
    assert isinstance(load_any(a), Graph)
    _unsat_on_the_or_and_sat_on_the_whole(tmp_path, a, b, on_or=("unsat", "unknown"))


def _hat_cnn(path, scale: float = 1.0):
    """scale times the hat as a 1x1-convolution graph over a [1, 1, 1, 1] input."""
    conv1 = oh.make_node("Conv", ["x", "w1", "b1"], ["h"], kernel_shape=[1, 1])
    conv2 = oh.make_node("Conv", ["r", "w2", "b2"], ["c"], kernel_shape=[1, 1])
    graph = oh.make_graph(
        [conv1, oh.make_node("Relu", ["h"], ["r"]), conv2, oh.make_node("Flatten", ["c"], ["y"])], "hat",
        [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 1, 1])],
        [oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 1])],
        [onh.from_array(np.array([1, 1, 1], np.float32).reshape(3, 1, 1, 1), "w1"),
         onh.from_array(np.array([-1, -1.5, -2], np.float32), "b1"),
         onh.from_array(scale * np.array([1, -2, 1], np.float32).reshape(1, 3, 1, 1), "w2"),
         onh.from_array(np.array([0], np.float32), "b2")])
    onnx.save(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 13)]), path)


def test_a_dense_chain_against_a_cnn_of_another_input_shape_is_compared(tmp_path):
    """The dense hat (input [1, 1]) against the zero CNN (input [1, 1, 1, 1], the same size): on [0, 1] both are 0,
    and the difference bound of the joint graph (B's input reshaped) proves it; on [0, 3] the hat's top is found."""
    _hat_cnn(tmp_path / "zero_cnn.onnx", 0.0)
    save_model(HAT, tmp_path / "hat.onnx")
    _write_box(tmp_path / "low.vnnlib", ["0"], ["1"])
    (tmp_path / "whole.vnnlib").write_text(WHOLE)
    for region, status in (("low", "unsat"), ("whole", "sat")):
        res = run("verify", tmp_path / "hat.onnx", tmp_path / "zero_cnn.onnx", "--domain", tmp_path / f"{region}.vnnlib",
                  "--mode", "epsilon=1/10", "--json")
        assert json.loads(res.stdout)["status"] == status, res.output


def test_the_python_api_checks_the_region_too(tmp_path):
    """lumpcheck.verify with a VNN-LIB file: the same region check as the command line (dense and graph pairs)."""
    a, b = tmp_path / "hat.onnx", tmp_path / "zero.onnx"
    save_model(HAT, a)
    save_model(ZERO, b)
    (tmp_path / "or.vnnlib").write_text(OR_REGION)
    (tmp_path / "whole.vnnlib").write_text(WHOLE)
    for pair in ((a, b), (from_network(HAT), ZERO)):
        assert lumpcheck.verify(*pair, domain=tmp_path / "whole.vnnlib", timeout=60).status == "sat"
        result = lumpcheck.verify(*pair, domain=tmp_path / "or.vnnlib", timeout=60)
        assert result.status != "sat" and result.witness is None, result


def test_the_output_assertions_of_a_vnnlib_1_file_are_said_to_be_unused(tmp_path):
    """A VNN-LIB 1.0 property's output assertions are about one network; verify compares two under --mode (strict by
    default) and says that it did not use them."""
    a = tmp_path / "hat.onnx"
    save_model(HAT, a)
    (tmp_path / "p.vnnlib").write_text(WHOLE + "(assert (>= Y_0 1))\n")
    res = run("verify", a, a, "--domain", tmp_path / "p.vnnlib", "--json")
    assert res.exit_code == 0 and "output assertions (VNN-LIB 1.0" in json.loads(res.stdout)["message"], res.output
    (tmp_path / "q.vnnlib").write_text(WHOLE)
    assert "output assertions" not in json.loads(run("verify", a, a, "--domain", tmp_path / "q.vnnlib", "--json").stdout)["message"]


@pytest.mark.parametrize("normalization", ["keep", "fold", "drop"])
@pytest.mark.parametrize("space", ["input", "normalized"])
def test_every_normalization_reads_the_box_and_writes_the_witness_in_the_files_coordinates(tmp_path, normalization,
                                                                                            space):
    """A(x) = relu((clip(x, 0, 100) - 10) / 2), B = 0, the box [0, 1] with ε = 1/2. In input coordinates A is 0 on
    it (unsat); in normalised ones A reaches 1 there (sat, at normalised 1 = model input 12). Under fold the model
    keeps only its clip, under drop the bare chain is compared: the box and the results file's X must still be the
    file's (a folded model once read the normalised box as raw inputs: a wrong unsat)."""
    norm = Normalization((10,), (2,), (0,), (1,), (0,), (100,))
    a, b = tmp_path / "a.nnet", tmp_path / "b.nnet"
    for path, w in ((a, 1.0), (b, 0.0)):
        save_model(Network([Layer(np.array([[1.0]]), np.array([0.0]), RELU),
                            Layer(np.array([[w]]), np.array([0.0]))], norm), path)
    _write_box(tmp_path / "box.vnnlib", ["0"], ["1"])
    res = run("verify", a, b, "--domain", tmp_path / "box.vnnlib", "--domain-space", space, "--normalization",
              normalization, "--mode", "epsilon=1/2", "--json", "--results-file", tmp_path / "r.txt")
    out = json.loads(res.stdout)
    assert out["status"] == ("unsat" if space == "input" else "sat"), out
    if space == "normalized":
        assert re.search(r"\(X_0 (\S+)\)", (tmp_path / "r.txt").read_text())[1] == "1"


@pytest.mark.parametrize("normalization", ["fold", "drop"])
def test_a_certificate_is_asked_only_of_the_models_as_they_are(tmp_path, normalization):
    """--normalization fold|drop compares prepared chains that `check` (which reads the model files as they are)
    cannot rebuild: such a certificate used to be written, announced with its check command, and refused by it."""
    a = tmp_path / "a.onnx"
    save_model(HAT, a)
    res = run("verify", a, a, "--normalization", normalization, "--certify", tmp_path / "c.json")
    assert res.exit_code == 2 and "--certify needs --normalization keep" in res.output, res.output
    assert not (tmp_path / "c.json").exists()


def test_the_python_api_refuses_normalized_boxes_for_graph_pairs(tmp_path):
    _hat_cnn(tmp_path / "hat_cnn.onnx")
    (tmp_path / "whole.vnnlib").write_text(WHOLE)
    with pytest.raises(LumpcheckError, match="domain_space='normalized' is for dense chains"):
        lumpcheck.verify(tmp_path / "hat_cnn.onnx", ZERO, domain=tmp_path / "whole.vnnlib", domain_space="normalized")
