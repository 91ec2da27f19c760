"""reduction/batchnorm_fold.py: a BatchNorm after a Conv folds only when every 1/√(var + ε) is rational and the Conv
has no other reader; the folded graph computes exactly the same function (exact evaluation, random rational inputs).
Traps: one channel's var one ulp off a square (irrational root) and a Conv output read twice never fold."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.ir.activation import Activation
from lumpcheck.ir.graph.dag import Graph, Node, TensorSpec
from lumpcheck.ir.graph.evaluate import evaluate_exact
from lumpcheck.ir.graph.ops import Act, BatchNorm, Binary, Conv, Window
from lumpcheck.reduction.batchnorm_fold import fold_batchnorms

SQUARES = [Fraction(1, 4), Fraction(1), Fraction(9, 4), Fraction(4), Fraction(25, 16)]
WINDOW = Window((3, 3), (1, 1), (1, 1, 1, 1), (1, 1))


def cnn(rng: np.random.Generator, roots_sq: list[Fraction], eps: Fraction, second_reader: bool = False) -> Graph:
    n = len(roots_sq)
    w = rng.integers(-8, 9, (n, 2, 3, 3)) / 8
    bn = BatchNorm(np.array([Fraction(int(v), 4) for v in rng.integers(1, 9, n)], dtype=object),
                   np.array([Fraction(int(v), 8) for v in rng.integers(-8, 9, n)], dtype=object),
                   np.array([Fraction(int(v), 8) for v in rng.integers(-8, 9, n)], dtype=object),
                   np.array([q - eps for q in roots_sq], dtype=object), eps)  # fmt: skip
    nodes = [Node("conv", Conv(w, rng.integers(-8, 9, n) / 8, WINDOW), ("x",), "c"),
             Node("bn", bn, ("c",), "n"), Node("relu", Act(Activation("relu")), ("n",), "y")]
    outputs = ("y",)
    if second_reader:
        nodes.append(Node("join", Binary("add"), ("y", "c"), "z"))
        outputs = ("z",)
    return Graph((TensorSpec("x", (1, 2, 4, 4)),), tuple(nodes), outputs)


def same_function(a: Graph, b: Graph, rng: np.random.Generator) -> bool:
    x = np.array([Fraction(int(v), 16) for v in rng.integers(-32, 33, 32)], dtype=object).reshape(1, 2, 4, 4)
    ya, yb = evaluate_exact(a, {"x": x})[a.outputs[0]], evaluate_exact(b, {"x": x})[b.outputs[0]]
    return list(ya.reshape(-1)) == list(yb.reshape(-1))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.sampled_from(SQUARES), min_size=1, max_size=4), st.sampled_from([Fraction(0), Fraction(1, 1024)]),
       st.integers(0, 2**32 - 1))
def test_rational_batchnorm_folds_exactly(roots_sq, eps, seed) -> None:
    rng = np.random.default_rng(seed)
    g = cnn(rng, roots_sq, eps)
    folded, n = fold_batchnorms(g)
    assert n == 1 and [node.op.kind for node in folded.nodes] == ["Conv", "Act"]
    assert same_function(g, folded, rng)


def test_one_channel_one_ulp_off_a_square_does_not_fold() -> None:
    rng = np.random.default_rng(0)
    near = Fraction(np.nextafter(np.float64(4), np.inf))  # var + ε one ulp above 4: √ irrational
    g = cnn(rng, [Fraction(1), near, Fraction(1, 4)], Fraction(0))
    assert fold_batchnorms(g)[1] == 0


def test_conv_read_by_another_node_does_not_fold() -> None:
    rng = np.random.default_rng(1)
    g = cnn(rng, [Fraction(1), Fraction(4)], Fraction(0), second_reader=True)
    folded, n = fold_batchnorms(g)
    assert n == 0 and folded is g
