"""Differential certificates of BatchNorm folding pairs (radical weights): the checker rebuilds the radical chain from
the model file itself, re-derives every leaf with its own enclosures, and refuses tampered claims and other models.
Also: a product layer mixing exact Fractions with floats keeps every difference exact (its residual covers it)."""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
import onnx
from click.testing import CliRunner

from lumpcheck.apps.cli import cli
from lumpcheck.checker.difference import check_certificate
from lumpcheck.checker.difference_bounds import build_chains
from lumpcheck.equivalence.mode import Mode
from lumpcheck.equivalence.pair import verify_pair
from lumpcheck.io import load_chain, save_model
from lumpcheck.ir.domain import Box
from lumpcheck.ir.graph.radical_chain import radical_network
from lumpcheck.ir.network import Layer, Network

from bn_pair_helpers import RELU, bn_pair, grid, max_difference

BOX = Box((Fraction(-1), Fraction(-1)), (Fraction(1), Fraction(1)))


def _certified(tmp_path, seed=3, mode="epsilon=1/1000"):
    graph, b = bn_pair(np.random.default_rng(seed), [2, 4, 4, 2], np.float32, tmp_path / "bn.onnx")
    a = radical_network(graph)
    res = verify_pair(a, b, BOX, Mode.parse(mode), 30, certificate=True)
    assert res.status == "unsat", res.message
    return graph, a, b, res.certificate


def test_radical_certificate_is_valid_and_tampering_is_caught(tmp_path):
    graph, a, b, doc = _certified(tmp_path)
    assert check_certificate(doc, a, b).valid
    worst, _ = max_difference(graph, b, grid(BOX.lower, BOX.upper, 5))
    false_eps = copy.deepcopy(doc)  # an ε the pair exceeds on the grid: the leaves cannot prove it
    false_eps["claim"]["mode"] = f"epsilon={worst.enclosure(60)[0] / 2}"
    assert not check_certificate(false_eps, a, b).valid
    wrong_hash = copy.deepcopy(doc)
    wrong_hash["claim"]["a"]["sha256"] = "0" * 64
    assert not check_certificate(wrong_hash, a, b).valid
    swapped = check_certificate(doc, b, a)  # the folded copy is not the radical chain the claim names
    assert not swapped.valid and "sha256" in swapped.reasons[0]


def test_check_rebuilds_the_radical_chain_from_the_files(tmp_path):
    _, a, b, _ = _certified(tmp_path)
    save_model(b, tmp_path / "fold.onnx", "float32")
    assert load_chain(tmp_path / "bn.onnx").layers[0].weight.dtype == object  # radical weights, from the file
    box = tmp_path / "box.vnnlib"
    box.write_text("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
                   + "".join(f"(assert (>= X_{i} -1))\n(assert (<= X_{i} 1))\n" for i in range(2)))
    files = [str(tmp_path / "bn.onnx"), str(tmp_path / "fold.onnx")]
    run = CliRunner().invoke(cli, ["verify", *files, "--domain", str(box), "--mode", "top1", "--certify",
                                   str(tmp_path / "c.json")])
    if run.exit_code != 0:  # top1 may be refuted on this box; epsilon is certified below either way
        assert run.exit_code == 1 and run.output.startswith("sat"), run.output
    run = CliRunner().invoke(cli, ["verify", *files, "--domain", str(box), "--mode", "epsilon=0.001", "--certify",
                                   str(tmp_path / "c.json")])
    assert run.exit_code == 0, run.output
    checked = CliRunner().invoke(cli, ["check", str(tmp_path / "c.json"), *files])
    assert checked.exit_code == 0 and "layer chains" not in checked.output, checked.output  # about the models
    m = onnx.load(str(tmp_path / "bn.onnx"))  # another running variance: another model, the claim is not about it
    var = next(t for t in m.graph.initializer if t.name == "v0")
    values = onnx.numpy_helper.to_array(var).copy()
    values[0] *= np.float32(1.5)
    var.CopyFrom(onnx.numpy_helper.from_array(values, "v0"))
    onnx.save(m, str(tmp_path / "bn2.onnx"))
    other = CliRunner().invoke(cli, ["check", str(tmp_path / "c.json"), str(tmp_path / "bn2.onnx"), files[1]])
    assert other.exit_code == 1 and "sha256" in other.output, other.output


def test_mixed_fraction_and_float_product_rows_are_exact(tmp_path):
    """A with Fraction weights (1/3 is no float) against a float B: the checker's difference rows W_A − W_B are
    formed exactly, so |exact − float| <= residual for every entry (a float in an object array would round)."""
    third = np.array([[Fraction(1, 3), Fraction(-2, 7)], [Fraction(5, 11), Fraction(1, 3)]], dtype=object)
    a = Network([Layer(third, np.array([Fraction(1, 3), Fraction(0)], dtype=object), RELU),
                 Layer(np.array([[1.0, -1.0]]), np.zeros(1))])
    bw = np.array([[float(v) for v in row] for row in third]) * (1 + 2.0**-40)
    b = Network([Layer(bw, np.array([1 / 3, 0.0]), RELU), Layer(np.array([[1.0, -1.0]]), np.zeros(1))])
    ch = build_chains(a, b, [[(0, 0), (1, 1)]])
    first, nb = ch.P[0], 2
    for t in range(2):
        for col in range(2):
            exact = third[t, col] - Fraction(bw[t, col])
            assert abs(exact - Fraction(first.W[nb + t, col])) <= Fraction(first.wres[nb + t, col])
        exact_b = Fraction(1, 3) * (1 if t == 0 else 0) - Fraction([1 / 3, 0.0][t])
        res = 0 if first.bres is None else first.bres[nb + t]
        assert abs(exact_b - Fraction(first.b[nb + t])) <= Fraction(res)
