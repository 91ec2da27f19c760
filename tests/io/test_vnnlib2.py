"""VNN-LIB 2.0 reader (io/vnnlib2.py): the forms VNN-COMP 2026 writes, exact numbers, and one-line refusals that
name the file and the line."""

from __future__ import annotations

import gzip
from fractions import Fraction

import pytest

from lumpcheck.errors import ModelFormatError, UnsupportedModelError
from lumpcheck.io.vnnlib import read_box
from lumpcheck.io.vnnlib2 import holds_at, read_vnnlib2

HEAD = """(vnnlib-version <2.0>)
(declare-network f
    (declare-input X_f float32 [3])
    (declare-output Y_f float32 [2])
)
(declare-network g
    (isomorphic-to f)
    (declare-input X_g float32 [3])
    (declare-output Y_g float32 [2])
)
"""
TIES = "".join(f"(assert (== X_f[{i}] X_g[{i}]))\n" for i in range(3))
BOX = """(assert (and (<= X_f[0] 0.679857769) (>= X_f[0] 0.6)))
(assert (and (<= X_f[1] 0.5) (>= X_f[1] (- 0.5))))
(assert (== X_f[2] (/ 1 3)))   ; pinned, exactly one third
"""
BAND = "(assert (or (> Y_g[0] (+ Y_f[0] 0.05)) (< Y_g[0] (- Y_f[0] 0.05))))\n"


def write(tmp_path, text, name="p.vnnlib"):
    p = tmp_path / name
    if name.endswith(".gz"):
        p.write_bytes(gzip.compress(text.encode()))
    else:
        p.write_text(text)
    return p


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_isomorphic_pair_box_ties_and_output_dnf(tmp_path):
    spec = read_vnnlib2(write(tmp_path, HEAD + BOX + TIES + BAND + "(assert (< Y_f[1] Y_g[1]))\n"))
    (case,) = spec.cases
    assert case.box.lower == (Fraction(6, 10), Fraction(-1, 2), Fraction(1, 3))
    assert case.box.upper == (Fraction(679857769, 10**9), Fraction(1, 2), Fraction(1, 3))
    assert [t.name for t in spec.output_layout] == ["Y_f", "Y_g"]
    assert [n.relation for n in spec.networks] == [None, ("isomorphic-to", "f")]
    # (or A B) and C  ->  (A and C) or (B and C), atoms over [Y_f0, Y_f1, Y_g0, Y_g1]
    assert len(spec.outputs) == 2 and all(len(conj) == 2 for conj in spec.outputs)
    up = spec.outputs[0][0]  # Y_g0 > Y_f0 + 0.05  as  Y_f0 - Y_g0 < -0.05
    assert (up.coeffs, up.op, up.bound) == ((1, 0, -1, 0), "<", Fraction(-1, 20))
    last = spec.outputs[0][1]  # Y_f1 < Y_g1
    assert (last.coeffs, last.op, last.bound) == ((0, 1, 0, -1), "<", 0)
    assert spec.output_problem == ""


def test_gzip_tensor_indices_real_type_and_nested_or_give_several_boxes(tmp_path):
    text = """; a 4-d input, written flat and as a tensor index
(vnnlib-version <2.0>)
(declare-network f (declare-input X real [1, 1, 1, 2]) (declare-output Y real [1,2]))
(assert (or (and (>= X[0,0,0,0] 0) (<= X[0, 0, 0, 0] 1e-1)) (and (>= X[0] 2) (<= X[0] 3))))
(assert (<= -1 X[0,0,0,1] 1))
(assert (>= Y[0,1] Y[0,0]))
"""
    spec = read_vnnlib2(write(tmp_path, text, "p.vnnlib.gz"))
    assert [c.box.lower for c in spec.cases] == [(0, -1), (2, -1)]
    assert [c.box.upper for c in spec.cases] == [(Fraction(1, 10), 1), (3, 1)]
    assert spec.domain_box().upper == (3, 1)  # the hull, as the 1.0 reader gives for --mode
    assert spec.outputs[0][0].coeffs == (1, -1) and spec.outputs[0][0].op == "<="
    assert read_box(tmp_path / "p.vnnlib.gz", n_inputs=2).lower == (0, -1)


def test_a_bound_on_a_tied_input_of_g_bounds_f(tmp_path):
    spec = read_vnnlib2(write(tmp_path, HEAD + BOX + TIES + "(assert (<= X_g[1] 0.25))\n" + BAND))
    assert spec.cases[0].box.upper[1] == Fraction(1, 4)


def test_strict_bounds_are_closed_in_the_box_but_checked_exactly(tmp_path):
    spec = read_vnnlib2(write(tmp_path, HEAD + BOX.replace("(>= X_f[0] 0.6)", "(> X_f[0] 0.6)") + TIES + BAND))
    (case,) = spec.cases
    assert case.box.lower[0] == Fraction(6, 10)
    inside = (Fraction(65, 100), Fraction(0), Fraction(1, 3))
    assert holds_at(case, inside)
    assert not holds_at(case, (Fraction(6, 10),) + inside[1:])  # on the strict bound: outside as written
    assert not holds_at(case, inside[:2] + (Fraction(1, 3) + Fraction(1, 10**30),))  # off the pinned value


def test_box_only_file_has_no_outputs(tmp_path):
    spec = read_vnnlib2(write(tmp_path, HEAD + BOX + TIES))
    assert spec.outputs is None


def test_network_without_input_declaration(tmp_path):
    text = HEAD.replace("    (declare-input X_g float32 [3])\n", "") + BOX
    assert read_vnnlib2(write(tmp_path, text)).output_problem == ""  # nothing reads Y_g: fine
    spec = read_vnnlib2(write(tmp_path, text + BAND))
    assert spec.cases[0].box.lower[0] == Fraction(6, 10)  # the box still reads (for --mode)
    assert "network g declares no input" in spec.output_problem and f"line {line_of(text + BAND, 'Y_g[0]')}" in \
        spec.output_problem


@pytest.mark.parametrize("extra, match, cls", [
    ("(assert (and (>= X_f[0] X_g[0]) (>= X_g[0] -0.16)))\n", "relates the inputs of networks f and g",
     UnsupportedModelError),
    ("(assert (<= (+ X_f[0] X_f[1]) 1))\n", "is not a bound on one input", UnsupportedModelError),
    ("(assert (or (<= X_f[0] 0.65) (<= Y_f[0] 0)))\n", "mixes input and output constraints under `or`",
     UnsupportedModelError),
    ("(assert (<= (+ X_f[0] Y_f[0]) 0))\n", "relates inputs and outputs", UnsupportedModelError),
    ("(assert (== X_f[0] X_g[1]))\n", "ties different entries", UnsupportedModelError),
    ("(assert (<= X_f[7] 1))\n", r"index \[7\] does not fit X_f", ModelFormatError),
    ("(assert (<= Z[0] 1))\n", "Z is used but not declared", ModelFormatError),
    ("(assert (distinct Y_f[0] Y_g[0]))\n", "unsupported operator 'distinct'", UnsupportedModelError),
])
def test_refusals_name_file_line_and_construct(tmp_path, extra, match, cls):
    text = HEAD + BOX + TIES + extra + BAND
    p = write(tmp_path, text)
    with pytest.raises(cls, match=match) as info:
        read_vnnlib2(p)
    assert str(p) in str(info.value) and f"line {line_of(text, extra.strip())}" in str(info.value)
    assert "\n" not in str(info.value)


def test_untied_or_unbounded_inputs_are_refused(tmp_path):
    with pytest.raises(UnsupportedModelError, match=r"X_g\[2\] is not tied"):
        read_vnnlib2(write(tmp_path, HEAD + BOX + TIES.replace("(assert (== X_f[2] X_g[2]))\n", "") + BAND))
    with pytest.raises(ModelFormatError, match=r"X_f\[1\] has no lower bound"):
        read_vnnlib2(write(tmp_path, HEAD + BOX.replace("(>= X_f[1] (- 0.5))", "") + TIES + BAND))
    with pytest.raises(ModelFormatError, match="unsatisfiable"):
        read_vnnlib2(write(tmp_path, HEAD + BOX + "(assert (>= X_f[1] 0.75))\n" + TIES))
    with pytest.raises(ModelFormatError, match=r"X_f\[1\] has a lower bound of magnitude above 1e300"):
        read_vnnlib2(write(tmp_path, HEAD + BOX.replace("(>= X_f[1] (- 0.5))", "(>= X_f[1] (- 1e309))") + TIES + BAND))


def test_a_tensor_too_large_to_hold_is_refused_where_declared(tmp_path):
    with pytest.raises(ModelFormatError, match="X_f has 100000000000 entries") as info:
        read_vnnlib2(write(tmp_path, HEAD.replace("X_f float32 [3]", "X_f float32 [100000, 1000000]") + BOX))
    assert "line" in str(info.value)
