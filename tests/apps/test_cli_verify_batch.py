"""`lumpcheck verify --instances instances.csv`: a VNN-COMP batch of two-network rows end to end, each row within
its own timeout, with VNN-COMP results files (exact witnesses that replay) and a summary."""

from __future__ import annotations

import csv
import json
import re
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import lumpcheck.apps.cli_verify as cli_verify
from lumpcheck.apps.cli import cli
from lumpcheck.io import save_model
from lumpcheck.ir.network import Layer, Network, evaluate

from pair_helpers import near_copy, random_net

V2 = """(vnnlib-version <2.0>)
(declare-network f
  (declare-input X_f float32 [1, 3])
  (declare-output Y_f float32 [1, 3])
)
(declare-network g
  (declare-input X_g float32 [1, 3])
  (declare-output Y_g float32 [1, 3])
)
""" + "".join(f"(assert (>= X_f[0,{i}] -0.5))\n(assert (<= X_f[0,{i}] 0.5))\n(assert (== X_f[0,{i}] X_g[0,{i}]))\n"
              for i in range(3)) + "(assert (> (- Y_f[0,0] Y_g[0,0]) 0.01))\n"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _files(tmp):
    rng = np.random.default_rng(3)
    a = random_net(rng, [3, 10, 10, 3])
    b = near_copy(rng, near_copy(rng, a, "drop"), "noise")
    hard_a = random_net(rng, [20, 60, 60, 60, 5])
    last = hard_a.layers[-1]  # every output shifted by the same 1/8: the same decisions (no sat exists), but no
    hard_b = Network(hard_a.layers[:-1] + [Layer(last.weight, last.bias + 0.125, last.activation)])  # cheap proof
    first = Network([Layer(np.array([[1.0, 0, 0], [0, 0, 0], [0, 0, 0]]), np.zeros(3))])  # (x0, 0, 0)
    second = Network([Layer(np.array([[0.0, 0, 0], [1.0, 0, 0], [0, 0, 0]]), np.zeros(3))])  # (0, x0, 0)
    save_model(first, tmp / "first.onnx", dtype="float64")
    save_model(second, tmp / "second.onnx", dtype="float64")
    (tmp / "onnx").mkdir()
    (tmp / "vnnlib").mkdir()
    for name, net in (("a", a), ("b", b), ("ha", hard_a), ("hb", hard_b)):
        save_model(net, tmp / "onnx" / f"{name}.onnx", dtype="float64")
    save_model(random_net(rng, [2, 4, 3]), tmp / "onnx" / "two_inputs.onnx", dtype="float64")
    (tmp / "vnnlib" / "p2.vnnlib").write_text(V2)
    lines = [f"(declare-const X_{i} Real)" for i in range(3)] + [f"(declare-const Y_{i} Real)" for i in range(3)]
    lines += [f"(assert (>= X_{i} -0.5))\n(assert (<= X_{i} 0.5))" for i in range(3)] + ["(assert (>= Y_0 Y_1))"]
    (tmp / "vnnlib" / "p1.vnnlib").write_text("\n".join(lines) + "\n")
    lines = [f"(declare-const X_{i} Real)" for i in range(20)]
    lines += [f"(assert (>= X_{i} -1))\n(assert (<= X_{i} 1))" for i in range(20)]
    (tmp / "vnnlib" / "p20.vnnlib").write_text("\n".join(lines) + "\n")
    return first, second


def test_a_batch_of_two_network_rows(tmp_path):
    a, b = _files(tmp_path)
    (tmp_path / "instances.csv").write_text(
        "\"[('f', 'onnx/a.onnx'), ('g', 'onnx/a.onnx')]\",vnnlib/p2.vnnlib,60\n"   # the same net: unsat
        "\"[('f', 'first.onnx'), ('g', 'second.onnx')]\",vnnlib/p1.vnnlib,60\n"   # decisions differ for x0 > 0: sat
        "\"[('f', 'onnx/ha.onnx'), ('g', 'onnx/hb.onnx')]\",vnnlib/p20.vnnlib,2\n"  # too hard for 2 s
        "\"[('f', 'onnx/a.onnx'), ('g', 'onnx/two_inputs.onnx')]\",vnnlib/p2.vnnlib,10\n"  # sizes differ: error
    )
    start = time.monotonic()
    res = run("verify", "--instances", tmp_path / "instances.csv", "--mode", "top1", "--results-dir",
              tmp_path / "out")
    elapsed = time.monotonic() - start
    assert res.exit_code == 2, res.output  # some row is an error row
    with open(tmp_path / "out" / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows[:2]] == ["unsat", "sat"]
    assert float(rows[2]["seconds"]) < 2 + 3.0  # its own 2 s timeout (a hard limit), not the others' 60 s
    assert rows[2]["status"] in ("timeout", "unknown", "unsat")  # never sat: the decisions are the same
    assert rows[3]["status"] == "error"
    assert elapsed < 60  # the 60 s rows were decided, not waited out
    texts = [(tmp_path / "out" / r["results_file"]).read_text() for r in rows]
    assert texts[0] == "unsat\n" and texts[3] == "error\n"
    assert texts[2].splitlines()[0] == rows[2]["status"]
    values = dict(re.findall(r"\((\w+) ([^()\s]+)\)", texts[1]))
    x = [Fraction(values[f"X_{i}"]) for i in range(3)]
    assert all(Fraction(-1, 2) <= v <= Fraction(1, 2) for v in x)
    assert x[0] != 0  # where the sets of maximal outputs differ (x0 = 0 is a tie of all three in both)
    assert [Fraction(values[f"Y_{i}"]) for i in range(3)] == evaluate(a, x)
    assert [Fraction(values[f"Y2_{i}"]) for i in range(3)] == evaluate(b, x)
    assert len(res.output.strip().splitlines()) == len(rows) + 1  # one line per row, then the summary line


def test_all_decided_exits_0_and_timeout_overrides_rows(tmp_path):
    _files(tmp_path)
    (tmp_path / "instances.csv").write_text("\"[('f', 'onnx/a.onnx'), ('g', 'onnx/a.onnx')]\",vnnlib/p2.vnnlib,1e-9\n")
    res = run("verify", "--instances", tmp_path / "instances.csv", "--mode", "argmin", "--timeout", "60", "--json",
              "--results-dir", tmp_path / "out")
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)
    assert row["status"] == "unsat" and row["timeout"] == 60


def test_bad_rows_are_refused_before_anything_runs(tmp_path):
    _files(tmp_path)
    (tmp_path / "instances.csv").write_text("onnx/a.onnx,vnnlib/p1.vnnlib,10\n"
                                            "\"[('f', 'onnx/a.onnx'), ('g', 'onnx/nope.onnx')]\",vnnlib/p1.vnnlib,10\n")
    res = run("verify", "--instances", tmp_path / "instances.csv", "--results-dir", tmp_path / "out")
    assert res.exit_code == 2
    line = res.output.strip()
    assert "\n" not in line and "row 1: 1 network(s)" in line and "row 2:" in line and "nope.onnx" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, words", [
    ("\"[('f', 'onnx/a.onnx'), ('g', 'onnx/a.onnx')]\",vnnlib/p2.vnnlib,abc\n", "line 1: timeout column"),
    ("\"[('f', 'onnx/a.onnx'), ('g', 'onnx/a.onnx')]\",vnnlib/p2.vnnlib,nan\n", "line 1: timeout column"),
    ("\"[('f', 'onnx/a.onnx'), ('g', 'onnx/a.onnx')]\",vnnlib/p2.vnnlib,1e400\n", "line 1: timeout column"),
    ("\"[('f', 'onnx/a.onnx'), ('g', 'onnx/a.onnx')]\",vnnlib/p2.vnnlib,-1\n", "line 1: timeout column"),
    ("\"[('f', 'onnx/a.onnx'), ('g'\",vnnlib/p2.vnnlib,10\n", "line 1: bad network list"),
    (b"\xff\xfe\x00garbage\x9c\n", "not a CSV text file"),
])
def test_a_malformed_instances_file_is_one_line_naming_file_and_line(tmp_path, content, words):
    _files(tmp_path)
    path = tmp_path / "instances.csv"
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    res = run("verify", "--instances", path, "--results-dir", tmp_path / "out")
    assert res.exit_code == 2 and words in res.output and "instances.csv" in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1e300", "abc"])
def test_a_timeout_is_a_positive_finite_number_of_seconds(tmp_path, value):
    _files(tmp_path)
    res = run("verify", tmp_path / "onnx/a.onnx", tmp_path / "onnx/a.onnx", "--timeout", value)
    assert res.exit_code == 2 and "--timeout" in res.output, res.output


def test_instances_and_a_pair_are_exclusive(tmp_path):
    _files(tmp_path)
    (tmp_path / "instances.csv").write_text("\"[('f', 'onnx/a.onnx'), ('g', 'onnx/a.onnx')]\",vnnlib/p2.vnnlib,10\n")
    res = run("verify", tmp_path / "onnx/a.onnx", tmp_path / "onnx/a.onnx", "--instances", tmp_path / "instances.csv")
    assert res.exit_code == 2 and "--instances" in res.output
    res = run("verify", tmp_path / "onnx/a.onnx")
    assert res.exit_code == 2 and "MODEL_A and MODEL_B" in res.output


def test_single_pair_reads_a_vnnlib2_domain(tmp_path):
    _files(tmp_path)
    res = run("verify", tmp_path / "onnx/a.onnx", tmp_path / "onnx/a.onnx", "--domain", tmp_path / "vnnlib/p2.vnnlib",
              "--mode", "top1", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["status"] == "unsat"


def test_help_teaches_the_batch():
    res = run("verify", "--help")
    assert "--instances" in res.output and "--results-dir" in res.output and "[('f', 'A.onnx')" in res.output


def test_zoo_points_two_network_rows_to_verify_instances(tmp_path):
    _files(tmp_path)
    (tmp_path / "instances.csv").write_text("\"[('f', 'onnx/a.onnx'), ('g', 'onnx/b.onnx')]\",vnnlib/p2.vnnlib,10\n")
    res = run("zoo", tmp_path / "onnx", "-o", tmp_path / "out", "--domain-map", tmp_path / "instances.csv")
    assert res.exit_code == 2
    assert "line 1" in res.output and "verify --instances" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_certified_unsat_rows_get_their_certificate(tmp_path):
    _files(tmp_path)
    (tmp_path / "instances.csv").write_text("\"[('f', 'onnx/a.onnx'), ('g', 'onnx/b.onnx')]\",vnnlib/p2.vnnlib,60\n")
    res = run("verify", "--instances", tmp_path / "instances.csv", "--mode", "epsilon=10", "--results-dir",
              tmp_path / "out", "--json")
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)
    assert (row["status"], row["engine"]) == ("unsat", "differential") and row["certificate"].endswith(".cert.json")
    checked = run("check", tmp_path / "out" / row["certificate"], tmp_path / "onnx/a.onnx", tmp_path / "onnx/b.onnx")
    assert checked.exit_code == 0 and "valid" in checked.output, checked.output


def test_rows_follow_their_f_g_labels_and_a_failing_row_does_not_stop_the_batch(tmp_path, monkeypatch):
    """A row listing g before f is decided with f as A (Y_) and g as B (Y2_) under --mode too; a row whose decision
    raises a bug's exception is an 'error' row with its results file, and the other rows still run."""
    first, second = _files(tmp_path)
    (tmp_path / "instances.csv").write_text("\"[('g', 'second.onnx'), ('f', 'first.onnx')]\",vnnlib/p1.vnnlib,60\n"
                                            "\"[('f', 'onnx/a.onnx'), ('g', 'onnx/a.onnx')]\",vnnlib/p2.vnnlib,60\n")
    res = run("verify", "--instances", tmp_path / "instances.csv", "--mode", "top1", "--results-dir", tmp_path / "out")
    with open(tmp_path / "out" / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert (Path(rows[0]["model_f"]).name, Path(rows[0]["model_g"]).name) == ("first.onnx", "second.onnx"), rows
    text = (tmp_path / "out" / rows[0]["results_file"]).read_text()
    assert rows[0]["status"] == "sat" and res.exit_code == 0, res.output
    x0 = Fraction(re.search(r"\(X_0 (\S+)\)", text)[1])
    assert Fraction(re.search(r"\(Y_0 (\S+)\)", text)[1]) == evaluate(first, [x0, 0, 0])[0]  # f's output as Y_
    real = cli_verify.decide

    def failing(model_a, *args, **kwargs):
        if model_a.endswith("first.onnx"):
            raise RuntimeError("a bug")
        return real(model_a, *args, **kwargs)

    monkeypatch.setattr(cli_verify, "decide", failing)
    res = run("verify", "--instances", tmp_path / "instances.csv", "--mode", "top1", "--results-dir", tmp_path / "o2")
    with open(tmp_path / "o2" / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["error", "unsat"] and "RuntimeError: a bug" in rows[0]["message"]
    assert (tmp_path / "o2" / rows[0]["results_file"]).read_text() == "error\n" and res.exit_code == 2


def test_summary_names_the_f_and_g_models_by_label_when_the_property_declares_g_first(tmp_path):
    """A row [('g', B), ('f', A)] on a 2.0 property declaring g first: the verdict is the file's (g's output above
    f's: B = x + 10 > A = x, sat), the results file's Y_ are the first declared network's (g's), and summary.csv's
    model_f / model_g are the models labelled f and g."""
    save_model(Network([Layer(np.array([[1.0]]), np.array([0.0]))]), tmp_path / "a.onnx", dtype="float64")
    save_model(Network([Layer(np.array([[1.0]]), np.array([10.0]))]), tmp_path / "b.onnx", dtype="float64")
    (tmp_path / "p.vnnlib").write_text(
        "(vnnlib-version <2.0>)\n(declare-network g (declare-input X_g float64 [1]) (declare-output Y_g float64 [1]))\n"
        "(declare-network f (declare-input X_f float64 [1]) (declare-output Y_f float64 [1]))\n"
        "(assert (== X_g[0] X_f[0]))\n(assert (<= 0 X_f[0] 1))\n(assert (> Y_g[0] Y_f[0]))\n")
    (tmp_path / "instances.csv").write_text("\"[('g', 'b.onnx'), ('f', 'a.onnx')]\",p.vnnlib,60\n")
    res = run("verify", "--instances", tmp_path / "instances.csv", "--results-dir", tmp_path / "out")
    assert res.exit_code == 0, res.output
    with open(tmp_path / "out" / "summary.csv") as f:
        row, = list(csv.DictReader(f))
    assert row["status"] == "sat" and (Path(row["model_f"]).name, Path(row["model_g"]).name) == ("a.onnx", "b.onnx")
    text = (tmp_path / "out" / row["results_file"]).read_text()
    x0 = Fraction(re.search(r"\(X_0 (\S+)\)", text)[1])
    assert Fraction(re.search(r"\(Y_0 (\S+)\)", text)[1]) == x0 + 10  # g's output first, as the file declares
