"""VNN-COMP interop: two-network instance rows, VNN-LIB 2.0 input boxes (io/vnnlib2.py), results files."""

from fractions import Fraction

import numpy as np
import pytest

from lumpcheck.equivalence.pair import verify_pair
from lumpcheck.io.vnncomp import read_instances, results_text, write_results
from lumpcheck.io.vnnlib2 import read_vnnlib2
from lumpcheck.ir.domain import Box
from lumpcheck.errors import LumpcheckError
from lumpcheck.ir.network import Layer, Network

SPEC = """; two networks, inputs tied
(vnnlib-version <2.0>)
(declare-network f
  (declare-input X_f float32 [1, 2])
  (declare-output Y_f float32 [1, 2])
)
(declare-network g
  (equal-to f)
  (declare-input X_g float32 [1, 2])
  (declare-output Y_g float32 [1, 2])
)
(assert (>= X_f[0,0] -1))
(assert (<= X_f[0,0] 0.5))
(assert (<= -0.25 X_f[0,1]))
(assert (>= 2.5 X_f[0,1]))
(assert (== X_f[0,0] X_g[0,0]))
(assert (== X_g[0,1] X_f[0,1]))
(assert (<= Y_g[0,0] (+ Y_f[0,0] 0.01)))
"""


def test_vnnlib2_box_with_tied_inputs(tmp_path):
    p = tmp_path / "p.vnnlib"
    p.write_text(SPEC)
    box = read_vnnlib2(p).domain_box()
    assert box.lower == (Fraction(-1), Fraction(-1, 4)) and box.upper == (Fraction(1, 2), Fraction(5, 2))


def test_vnnlib2_untied_second_network_is_refused(tmp_path):
    p = tmp_path / "p.vnnlib"
    p.write_text(SPEC.replace("(assert (== X_g[0,1] X_f[0,1]))", ""))
    with pytest.raises(LumpcheckError, match=r"X_g\[1\] is not tied to X_f\[1\]"):
        read_vnnlib2(p)


def test_two_network_instances(tmp_path):
    (tmp_path / "instances.csv").write_text(
        "\"[('f', 'onnx/a.onnx'), ('g', 'onnx/b.onnx')]\",vnnlib/p.vnnlib,100\n"
        "onnx/c.onnx,vnnlib/q.vnnlib,30\n"
    )
    rows = read_instances(tmp_path / "instances.csv")
    assert [label for label, _ in rows[0].models] == ["f", "g"]
    assert rows[0].models[1][1] == tmp_path / "onnx" / "b.onnx" and rows[0].timeout == 100
    assert rows[1].models == (("f", tmp_path / "onnx" / "c.onnx"),)


def test_results_file_lists_inputs_and_both_outputs(tmp_path):
    a = Network([Layer(np.array([[1.0]]), np.zeros(1))])
    b = Network([Layer(np.array([[0.5]]), np.zeros(1))])
    res = verify_pair(a, b, Box((Fraction(0),), (Fraction(1),)), "epsilon=1/4", timeout=10)
    text = results_text(res.status, res.counterexample.x, res.counterexample.ya, res.counterexample.yb)
    assert text.startswith("sat\n((X_0 ") and "(Y_0 " in text and "(Y2_0 " in text
    x = Fraction(text.split("(X_0 ")[1].split(")")[0])
    assert x > Fraction(1, 2)  # |x − x/2| > 1/4
    unsat = verify_pair(a, b, Box((Fraction(0),), (Fraction(1),)), "epsilon=3/5", timeout=10)
    write_results(tmp_path / "out.txt", unsat.status)
    assert (tmp_path / "out.txt").read_text() == "unsat\n"
