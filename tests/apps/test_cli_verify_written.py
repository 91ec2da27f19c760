"""`lumpcheck verify A B --domain SPEC2` and `--instances` with VNN-LIB 2.0 properties over two networks: decided as
written without --mode (exact witnesses in the results files), by the mode with it; refusals in one line."""

from __future__ import annotations

import csv
import gzip
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from lumpcheck.apps.cli import cli
from lumpcheck.io import load_model, save_model
from lumpcheck.ir.network import evaluate

from pair_helpers import near_copy, random_net

HEAD = """(vnnlib-version <2.0>)
(declare-network f (declare-input X_f float32 [3]) (declare-output Y_f float32 [3]))
(declare-network g (isomorphic-to f) (declare-input X_g float32 [3]) (declare-output Y_g float32 [3]))
""" + "".join(f"(assert (and (<= X_f[{i}] 0.5) (>= X_f[{i}] -0.5)))\n(assert (== X_f[{i}] X_g[{i}]))\n" for i in range(3))
BAND = "(assert (or (> Y_g[0] (+ Y_f[0] 0.05)) (< Y_g[0] (- Y_f[0] 0.05))))\n"  # |Y_g0 - Y_f0| > 0.05: a counterexample
EMPTY = "(assert (and (> Y_g[0] (+ Y_f[0] 0.05)) (< Y_g[0] (- Y_f[0] 0.05))))\n"  # the empty band, as written


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _pair(tmp):
    rng = np.random.default_rng(5)
    a = random_net(rng, [3, 8, 3])
    b = near_copy(rng, near_copy(rng, a, "drop"), "noise")
    for name, net in (("a", a), ("b", b)):
        save_model(net, tmp / f"{name}.onnx", dtype="float64")
    return tmp / "a.onnx", tmp / "b.onnx"


def _results(path):
    """The exact values of a results file: {'X_0': Fraction, ..., 'Y_0': ..., 'Y2_0': ...}."""
    return {k: Fraction(v) for k, v in re.findall(r"\((\w+) ([-0-9./e]+)\)", path.read_text())}


def test_single_pair_as_written_sat_with_exact_witness(tmp_path):
    fa, fb = _pair(tmp_path)
    (tmp_path / "p.vnnlib").write_text(HEAD + BAND)
    res = run("verify", fa, fb, "--domain", tmp_path / "p.vnnlib", "--results-file", tmp_path / "r.txt")
    assert res.exit_code == 1, res.output
    assert "sat (the file's assertions hold at the witness, as written" in " ".join(res.output.split())
    values = _results(tmp_path / "r.txt")
    x = [values[f"X_{i}"] for i in range(3)]
    ya, yb = evaluate(load_model(fa), x), evaluate(load_model(fb), x)
    assert [values[f"Y_{i}"] for i in range(3)] == list(ya) and [values[f"Y2_{i}"] for i in range(3)] == list(yb)
    assert all(-Fraction(1, 2) <= v <= Fraction(1, 2) for v in x) and abs(yb[0] - ya[0]) > Fraction(5, 100)


def test_same_network_is_unsat_and_the_mode_overrides_the_file(tmp_path):
    fa, fb = _pair(tmp_path)
    (tmp_path / "p.vnnlib").write_text(HEAD + BAND)
    res = run("verify", fa, fa, "--domain", tmp_path / "p.vnnlib")
    assert res.exit_code == 0 and "no input satisfies the file's assertions" in " ".join(res.output.split())
    res = run("verify", fa, fb, "--domain", tmp_path / "p.vnnlib", "--mode", "epsilon=100")
    out = " ".join(res.output.split())
    assert res.exit_code == 0 and "equivalent, epsilon=100" in out and "output assertions were not used" in out


def test_the_empty_band_is_unsat_as_written_and_help_names_the_mode(tmp_path):
    fa, fb = _pair(tmp_path)
    (tmp_path / "e.vnnlib").write_text(HEAD + EMPTY)
    res = run("verify", fa, fb, "--domain", tmp_path / "e.vnnlib")
    out = " ".join(res.output.split())
    assert res.exit_code == 0 and "by output-assertions" in out and "--mode epsilon=E" in out
    assert "--mode epsilon=E" in run("verify", "--help").output


def test_certified_unsat_as_written_checks_and_refusals(tmp_path):
    fa, fb = _pair(tmp_path)
    (tmp_path / "p.vnnlib").write_text(HEAD + BAND)
    res = run("verify", fa, fa, "--domain", tmp_path / "p.vnnlib", "--certify", tmp_path / "c.json")
    assert res.exit_code == 0 and "by differential" in " ".join(res.output.split()), res.output
    assert "certificate re-checked: valid" in " ".join(res.output.split())  # --self-check, on by default
    checked = run("check", tmp_path / "c.json", fa, fa)
    assert checked.exit_code == 0 and "no input makes the written output assertions (2 disjuncts) true" in \
        " ".join(checked.output.split()), checked.output
    assert run("check", tmp_path / "c.json", fa, fb).exit_code != 0  # another pair: the claim is about these two
    two = HEAD.replace("(assert (and (<= X_f[0] 0.5) (>= X_f[0] -0.5)))",
                       "(assert (or (and (<= X_f[0] -0.25) (>= X_f[0] -0.5)) (and (<= X_f[0] 0.5) (>= X_f[0] 0.25))))")
    (tmp_path / "two.vnnlib").write_text(two + BAND)
    res = run("verify", fa, fb, "--domain", tmp_path / "two.vnnlib", "--certify", tmp_path / "d.json")
    assert res.exit_code in (0, 1) and not (tmp_path / "d.json").exists()  # decided; a certificate covers one box
    assert res.exit_code == 1 or "no certificate written" in " ".join(res.output.split()), res.output
    cross = HEAD.replace("(assert (== X_f[2] X_g[2]))", "(assert (and (>= X_f[2] X_g[2]) (>= X_g[2] -0.16)))")
    (tmp_path / "q.vnnlib").write_text(cross + BAND)
    res = run("verify", fa, fb, "--domain", tmp_path / "q.vnnlib")
    assert res.exit_code == 3 and "line 9" in res.output and "relates the inputs of networks f and g" in res.output


def test_instances_with_a_gzipped_spec_and_labels_in_either_order(tmp_path):
    fa, fb = _pair(tmp_path)
    shifted = HEAD + "(assert (> Y_g[1] (+ Y_f[1] 0.001)))\n"  # g's output 1 above f's: depends on which model is g
    (tmp_path / "s.vnnlib.gz").write_bytes(gzip.compress(shifted.encode()))
    (tmp_path / "e.vnnlib.gz").write_bytes(gzip.compress((HEAD + EMPTY).encode()))
    a, b = load_model(fa), load_model(fb)
    grid = [[Fraction(i, 4) - Fraction(1, 2) for i in idx] for idx in np.ndindex(5, 5, 5)]
    above = any(evaluate(b, x)[1] > evaluate(a, x)[1] + Fraction(1, 1000) for x in grid)
    below = any(evaluate(a, x)[1] > evaluate(b, x)[1] + Fraction(1, 1000) for x in grid)
    assert above and below  # both orders have counterexamples on the grid ...
    (tmp_path / "instances.csv").write_text(
        "\"[('f', 'a.onnx'), ('g', 'b.onnx')]\",s.vnnlib.gz,60\n"
        "\"[('g', 'b.onnx'), ('f', 'a.onnx')]\",s.vnnlib.gz,60\n"  # the same instance, labels listed the other way
        "\"[('f', 'a.onnx'), ('g', 'a.onnx')]\",s.vnnlib.gz,60\n"   # Y_g = Y_f: never above
        "\"[('f', 'a.onnx'), ('g', 'b.onnx')]\",e.vnnlib.gz,60\n"
    )
    res = run("verify", "--instances", tmp_path / "instances.csv", "--results-dir", tmp_path / "out")
    assert res.exit_code == 0, res.output
    with open(tmp_path / "out" / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["sat", "sat", "unsat", "unsat"]
    assert [(Path(r["model_f"]).name, Path(r["model_g"]).name) for r in rows[:2]] == [("a.onnx", "b.onnx")] * 2
    for row in rows[:2]:  # ... and each witness is one for g = b.onnx, f = a.onnx, whichever way the row lists them
        values = _results(tmp_path / "out" / row["results_file"])
        x = [values[f"X_{i}"] for i in range(3)]
        assert evaluate(b, x)[1] > evaluate(a, x)[1] + Fraction(1, 1000)
        assert values["Y_1"] == evaluate(a, x)[1] and values["Y2_1"] == evaluate(b, x)[1]


def test_each_output_tensor_belongs_to_its_own_network(tmp_path):
    """A(x) = x, B(x) = x + 10 on [0, 1]. A file that declares only g's output and asserts Y_g > 5 holds everywhere
    (sat; read as A's output it would be unsat). A declared output whose size is not its model's is an error naming
    the tensor, whichever network declares it."""
    from lumpcheck.ir.network import Layer, Network
    save_model(Network([Layer(np.array([[1.0]]), np.array([0.0]))]), tmp_path / "a.onnx", dtype="float64")
    save_model(Network([Layer(np.array([[1.0]]), np.array([10.0]))]), tmp_path / "b.onnx", dtype="float64")
    tie = "(assert (== X_f[0] X_g[0]))\n(assert (>= X_f[0] 0))\n(assert (<= X_f[0] 1))\n"
    only_g = ("(vnnlib-version <2.0>)\n(declare-network f (declare-input X_f float64 [1]))\n"
              "(declare-network g (declare-input X_g float64 [1]) (declare-output Y_g float64 [1]))\n" + tie)
    (tmp_path / "g.vnnlib").write_text(only_g + "(assert (> Y_g[0] 5))\n")
    res = run("verify", tmp_path / "a.onnx", tmp_path / "b.onnx", "--domain", tmp_path / "g.vnnlib", "--results-file",
              tmp_path / "r.txt")
    assert res.exit_code == 1 and (tmp_path / "r.txt").read_text().startswith("sat"), res.output
    values = _results(tmp_path / "r.txt")
    assert values["Y2_0"] == values["X_0"] + 10 > 5
    (tmp_path / "g.vnnlib").write_text(only_g + "(assert (< Y_g[0] 5))\n")  # never: unsat
    res = run("verify", tmp_path / "a.onnx", tmp_path / "b.onnx", "--domain", tmp_path / "g.vnnlib")
    assert res.exit_code == 0, res.output
    for f_out, g_out, name in (("[2]", "[1]", "Y_f"), ("[1]", "[3]", "Y_g")):
        (tmp_path / "s.vnnlib").write_text(
            f"(vnnlib-version <2.0>)\n(declare-network f (declare-input X_f float64 [1]) (declare-output Y_f float64 "
            f"{f_out}))\n(declare-network g (declare-input X_g float64 [1]) (declare-output Y_g float64 {g_out}))\n"
            + tie + "(assert (> Y_g[0] 5))\n")
        res = run("verify", tmp_path / "a.onnx", tmp_path / "b.onnx", "--domain", tmp_path / "s.vnnlib",
                  "--results-file", tmp_path / "r.txt")
        assert res.exit_code == 2 and f"output {name}" in res.output, res.output
        assert (tmp_path / "r.txt").read_text() == "error\n"


def _line_pair(tmp_path):
    from lumpcheck.ir.network import Layer, Network
    save_model(Network([Layer(np.array([[1.0]]), np.array([0.0]))]), tmp_path / "a.onnx", dtype="float64")
    save_model(Network([Layer(np.array([[0.0]]), np.array([0.0]))]), tmp_path / "b.onnx", dtype="float64")
    return tmp_path / "a.onnx", tmp_path / "b.onnx"


HEAD1 = ("(vnnlib-version <2.0>)\n(declare-network f (declare-input X_f float64 [1]) (declare-output Y_f float64 [1]))\n"
         "(declare-network g (declare-input X_g float64 [1]) (declare-output Y_g float64 [1]))\n"
         "(assert (== X_f[0] X_g[0]))\n")


def test_a_witness_on_a_strict_bound_moves_inside_as_written(tmp_path):
    """A(x) = x, B = 0 on 0 < x < 1, asserting Y_f > Y_g + 1 - 2^-30: true only within 2^-30 of the excluded bound,
    where the search's corner sits; the witness is moved inside and replayed exactly (sat, strictly inside)."""
    fa, fb = _line_pair(tmp_path)
    (tmp_path / "p.vnnlib").write_text(HEAD1 + "(assert (> X_f[0] 0))\n(assert (< X_f[0] 1))\n"
                                       f"(assert (> Y_f[0] (+ Y_g[0] (/ {2**30 - 1} {2**30}))))\n")
    res = run("verify", fa, fb, "--domain", tmp_path / "p.vnnlib", "--results-file", tmp_path / "r.txt")
    assert res.exit_code == 1, res.output
    x = _results(tmp_path / "r.txt")["X_0"]
    assert 1 - Fraction(1, 2**30) < x < 1


def test_an_or_region_as_written_is_certified_by_a_union(tmp_path):
    """Y_f > Y_g + 5 never holds for A(x) = x, B = 0 on [0, 1] or [2, 3]: unsat with one part per box, valid; a part
    proving other assertions false (Y_f > Y_g + 100, true of its box too) makes the union invalid."""
    import json
    import lumpcheck
    fa, fb = _line_pair(tmp_path)
    region = "(assert (or (and (>= X_f[0] 0) (<= X_f[0] 1)) (and (>= X_f[0] 2) (<= X_f[0] 3))))\n"
    for bound, name in (("5", "c.json"), ("100", "d.json")):
        (tmp_path / "p.vnnlib").write_text(HEAD1 + region + f"(assert (> Y_f[0] (+ Y_g[0] {bound})))\n")
        res = run("verify", fa, fb, "--domain", tmp_path / "p.vnnlib", "--certify", tmp_path / name)
        assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["format"] == "lumpcheck-union-certificate" and len(doc["parts"]) == 2
    assert lumpcheck.check(tmp_path / "c.json", fa, fb).valid
    doc["parts"][1] = json.loads((tmp_path / "d.json").read_text())["parts"][1]
    (tmp_path / "t.json").write_text(json.dumps(doc))
    result = lumpcheck.check(tmp_path / "t.json", fa, fb)
    assert not result.valid and "claim.dnf" in result.reasons[0], result


def test_check_domain_compares_a_claim_as_written_with_the_files_assertions(tmp_path):
    """A certificate proving Y_f > Y_g + 5 false is valid against its own file, and against a file that adds a
    disjunct no outputs satisfy (dropped by the prover); against a file asserting Y_f > Y_g + 1/2 (true at x = 1) it
    is invalid, although its own claim holds."""
    import lumpcheck
    fa, fb = _line_pair(tmp_path)
    box = "(assert (>= X_f[0] 0))\n(assert (<= X_f[0] 1))\n"
    (tmp_path / "p.vnnlib").write_text(HEAD1 + box + "(assert (> Y_f[0] (+ Y_g[0] 5)))\n")
    res = run("verify", fa, fb, "--domain", tmp_path / "p.vnnlib", "--certify", tmp_path / "c.json")
    assert res.exit_code == 0, res.output
    assert lumpcheck.check(tmp_path / "c.json", fa, fb, domain=tmp_path / "p.vnnlib").valid
    (tmp_path / "q.vnnlib").write_text(HEAD1 + box + "(assert (or (> Y_f[0] (+ Y_g[0] 5)) "
                                       "(and (> Y_f[0] 1) (< Y_f[0] 0))))\n")
    assert lumpcheck.check(tmp_path / "c.json", fa, fb, domain=tmp_path / "q.vnnlib").valid
    (tmp_path / "r.vnnlib").write_text(HEAD1 + box + "(assert (> Y_f[0] (+ Y_g[0] 0.5)))\n")
    result = lumpcheck.check(tmp_path / "c.json", fa, fb, domain=tmp_path / "r.vnnlib")
    assert not result.valid and "not among those the certificate proves false" in result.reasons[0], result
