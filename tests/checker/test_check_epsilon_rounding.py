"""The ε-checker's rounding test at the edges of float32: binade boundaries (neighbours at different distances),
ties (either way), and the largest float32 (one neighbour is infinite)."""

from __future__ import annotations

import copy
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from lumpcheck.checker.epsilon import check_epsilon
from lumpcheck.epsilon.certificate import prove_epsilon
from lumpcheck.io import load_model, save_model
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.exact import fraction_str
from lumpcheck.ir.network import Layer, Network
from lumpcheck.reduction.lumping import reduce

F = Fraction
MAX32 = F(float(np.finfo(np.float32).max))
TIE = 1 + 3 * F(2) ** -24  # half-way between the float32 values 1 + 2^-23 and 1 + 2^-22: ties to even, 1 + 2^-22
HUGE = -(MAX32 + F(2) ** 100)  # beyond the largest float32, but nearer to it than half an ulp: rounds to -MAX32
WEIGHTS = [[TIE, F(1, 2)], [HUGE, F(1)], [F(1), -HUGE]]


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> dict:
    d: Path = tmp_path_factory.mktemp("edges")
    net = Network([Layer(np.array(WEIGHTS, dtype=object), np.zeros(3, dtype=object), Activation("relu")),
                   Layer(np.array([[F(1), F(1, 2**100), F(1)]], dtype=object), np.zeros(1, dtype=object), IDENTITY)])
    original, reduced = d / "original.onnx", d / "reduced.onnx"
    save_model(net, original, dtype="float64")
    red = reduce(load_model(original))
    save_model(red.network, reduced, dtype="float32")
    written = load_model(reduced)
    assert F(written.layers[0].weight[0, 0]) == 1 + F(2) ** -22 and F(written.layers[0].weight[1, 0]) == -MAX32
    doc = prove_epsilon(original, reduced, red, Box((F(-1), F(-1)), (F(1), F(1))), red.network)
    fixes = {(c[0], c[1], c[2]): F(c[3]) for c in doc["epsilon_proof"]["corrections"]}
    assert fixes[(1, 0, 0)] == TIE and fixes[(1, 1, 0)] == HUGE and fixes[(1, 2, 1)] == -HUGE
    return {"doc": doc, "original": original, "reduced": reduced}


def test_ties_and_the_largest_float32_round_as_exported(export):
    result = check_epsilon(export["doc"], export["original"], export["reduced"], solver_check="none")
    assert result.valid, result.reasons


@pytest.mark.parametrize("row, col, value, ok", [
    (2, 0, 1 - 3 * F(2) ** -26, False),  # stored 1: below it the spacing halves; 1 − 1.5·2^-25 rounds down
    (2, 0, 1 - F(2) ** -26, True),
    (2, 0, 1 + F(2) ** -24, True),  # the upper tie of 1 (even): either way
    (2, 0, 1 + F(2) ** -24 + F(2) ** -60, False),
    (0, 0, TIE + F(2) ** -60, True),  # just above the lower tie of 1 + 2^-22 (the tie itself: the fixture)
    (0, 0, TIE - F(2) ** -60, False),
    (1, 0, -(MAX32 + F(2) ** 103), True),  # the tie beyond the largest float32 (the virtual next value 2^128)
    (1, 0, -(MAX32 + F(2) ** 103 + 1), False),
    (1, 0, -(MAX32 - F(2) ** 103), True),
    (1, 0, -(MAX32 - F(2) ** 103 - 1), False),
    (2, 1, MAX32 + F(2) ** 103, True),  # the same at the largest positive float32
    (2, 1, MAX32 + F(2) ** 103 + 1, False),
    (2, 1, MAX32 - F(2) ** 103, True),
    (2, 1, MAX32 - F(2) ** 103 - 1, False),
])
def test_rounding_test_at_the_edges(export, row, col, value, ok):
    doc = copy.deepcopy(export["doc"])
    fixes = doc["epsilon_proof"]["corrections"]
    entry = next((c for c in fixes if (c[0], c[1], c[2]) == (1, row, col)), None)
    if entry is None:
        entry = [1, row, col, "0"]
        fixes.append(entry)
    entry[3] = fraction_str(value)
    result = check_epsilon(doc, export["original"], export["reduced"], solver_check="none")
    rounding = [r for r in result.reasons if r.startswith(f"correction layer 1 row {row} column {col}:")]
    assert (not rounding) == ok, result.reasons
