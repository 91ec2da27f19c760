"""Tests that kill the mutants of the graph IR's exact semantics (issue 14, group `graph_ir` of
benchmarks/mutation_score.py): shape rules that must refuse or accept, exact values of Clip, sigmoid, Concat of
mixed exact kinds, ceil-mode pooling geometry (onnxruntime as the reference), Radical enclosures and comparisons.
Each was seen to fail on its mutant once."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy
from onnx import helper

from lumpcheck.ir.activation import Activation
from lumpcheck.ir.graph.dag import Graph, Node, TensorSpec
from lumpcheck.ir.graph.evaluate import evaluate_exact, exact_equal_arrays
from lumpcheck.ir.graph.ops import (Act, BatchNorm, Clip, Concat, Conv, MatMul, Reshape, ShapeError, Softmax,
                                    Window)  # fmt: skip
from lumpcheck.ir.graph.radical import Radical
from onnx_builders import check_against_ort, model, ort_run


def graph(shape: tuple[int, ...], *nodes: Node) -> Graph:
    return Graph((TensorSpec("x", shape),), nodes, (nodes[-1].output,))


def one(op, inputs=("x",), out="y") -> Node:
    return Node(out, op, tuple(inputs), out)


# -- shape rules: a wrong shape is refused, a right one accepted


def test_batchnorm_refuses_a_channel_count_that_differs() -> None:
    bn = BatchNorm(np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), Fraction(0))
    with pytest.raises(ShapeError, match="3 channels"):
        bn.infer([(1, 2, 4)])
    assert bn.infer([(1, 3, 4)]) == (1, 3, 4)


def test_concat_refuses_shapes_that_differ_just_after_the_axis() -> None:
    with pytest.raises(ShapeError, match="concatenate"):
        Concat(1).infer([(1, 2, 3), (1, 2, 4)])
    assert Concat(1).infer([(1, 2, 3), (1, 5, 3)]) == (1, 7, 3)


def test_matmul_inner_sizes_are_the_last_axis() -> None:
    op = MatMul(np.ones((4, 3)))
    with pytest.raises(ShapeError, match="inner sizes"):
        op.infer([(1, 5)])
    assert op.infer([(1, 2, 4, 4)]) == (1, 2, 4, 3)  # axis 1 (2) is a batch axis, not the inner one


def test_softmax_over_axis_zero_is_accepted() -> None:
    assert Softmax((0,)).infer([(2, 4)]) == (2, 4)
    with pytest.raises(ShapeError):
        Softmax((2,)).infer([(2, 4)])


def test_attributes_are_normalised_to_int_tuples() -> None:
    assert Reshape([1, np.int64(48)]).shape == (1, 48)
    w = Window([3, 3], [1, 1], [1, 1, 1, 1], [np.int64(2), 2])
    assert w.dilations == (2, 2) and all(type(d) is int for d in w.dilations)


def test_with_nodes_takes_new_outputs_and_params_are_counted() -> None:
    bn = BatchNorm(np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), Fraction(1, 2))
    g = graph((1, 2, 3), one(bn, out="b"), one(Act(Activation("relu")), ("b",), "r"))
    assert g.with_nodes(g.nodes, outputs=("b",)).outputs == ("b",)
    assert g.param_count == 8  # scale, bias, mean, var: 2 each


# -- exact values


def test_exact_clip_keeps_a_rational_lower_bound_exact() -> None:
    third = np.array([Fraction(1, 3)], dtype=object)
    g = graph((1, 2), one(Clip(third, np.array([Fraction(2, 3)], dtype=object))))
    y = evaluate_exact(g, {"x": [Fraction(-1), Fraction(1)]})["y"]
    assert list(y.reshape(-1)) == [Fraction(1, 3), Fraction(2, 3)]
    assert all(type(v) is Fraction for v in y.reshape(-1))


def test_exact_sigmoid_at_zero_is_one_half() -> None:
    y = evaluate_exact(graph((1, 1), one(Act(Activation("sigmoid")))), {"x": [Fraction(0)]})["y"]
    assert sympy.simplify(y.reshape(-1)[0] - sympy.Rational(1, 2)) == 0


def test_a_scalar_input_is_read_as_its_one_value() -> None:
    g = graph((1,), one(MatMul(np.array([[3.0]]))))
    assert evaluate_exact(g, {"x": Fraction(1, 7)})["y"].reshape(-1)[0] == Fraction(3, 7)


def test_concat_of_radicals_and_transcendental_values_sums_exactly() -> None:
    """BatchNorm gives √-values (Radicals), sigmoid sympy values: a 1×1 conv over their concatenation adds them."""
    bn = BatchNorm(np.ones(1), np.zeros(1), np.zeros(1), np.array([2.0]), Fraction(0))
    w = Window((1, 1), (1, 1), (0, 0, 0, 0), (1, 1))
    g = Graph((TensorSpec("x", (1, 1, 1, 1)),), (one(bn, out="b"), one(Act(Activation("sigmoid")), out="s"),
              one(Concat(1), ("b", "s"), "c"), one(Conv(np.ones((1, 2, 1, 1)), None, w), ("c",), "y")), ("y",))  # fmt: skip
    y = evaluate_exact(g, {"x": [[[[Fraction(1)]]]]})["y"].reshape(-1)[0]
    want = 1 / sympy.sqrt(2) + 1 / (1 + sympy.exp(-1))
    assert sympy.simplify(sympy.sympify(y) - want) == 0


def test_exact_equal_arrays_decides_symbolic_values_by_value() -> None:
    e = sympy.exp(1)
    a = np.array([1 / (1 + 1 / e), Fraction(1, 2)], dtype=object)
    b = np.array([e / (e + 1), Fraction(1, 2)], dtype=object)
    assert exact_equal_arrays(a, b)  # equal numbers written differently
    assert not exact_equal_arrays(a, np.array([e / (e + 1), Fraction(1, 3)], dtype=object))


# -- ceil-mode pooling geometry, against onnxruntime


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("pads", [[0, 0, 1, 1], [0, 0, 0, 0]])
def test_ceil_mode_windows_that_would_start_in_the_end_pad_are_dropped(op: str, pads: list[int]) -> None:
    """5×4 input, kernel 2, stride 2, ceil mode: the overhang is on the first axis only; with an end pad of 1 the
    last window along the second axis would start in the pad, and ONNX drops it."""
    node = helper.make_node(op, ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], pads=pads, ceil_mode=1)
    m = model([node], {"x": [1, 1, 5, 4]}, {"y": None})
    g = check_against_ort(m, np.random.default_rng(0))
    x = np.arange(20, dtype=np.float64).reshape(1, 1, 5, 4)
    exact = evaluate_exact(g, {"x": np.vectorize(Fraction, otypes=[object])(x)})["y"]
    want = ort_run(m, {"x": x})["y"]
    assert exact.shape == want.shape == (1, 1, 3, 2)
    np.testing.assert_allclose(exact.astype(np.float64), want, rtol=1e-6)


# -- Radical enclosures and comparisons


@pytest.mark.parametrize("c", [Fraction(1, 2), Fraction(-1, 2), Fraction(3), Fraction(-3)])
def test_radical_enclosure_contains_the_value(c: Fraction) -> None:
    """c·√2 with |c| <= 1 and > 1, both signs: lo <= c·√2 <= hi, checked by squaring against 2c²."""
    lo, hi = Radical({2: c}).enclosure(10)
    assert lo < hi
    if c > 0:
        assert lo * lo < 2 * c * c < hi * hi
    else:
        assert hi * hi < 2 * c * c < lo * lo
    assert hi - lo <= abs(c) * Fraction(2, 1 << 10)


def test_radical_comparison_with_a_small_rational_difference() -> None:
    r = Radical({2: 1})
    s = r + Fraction(1, 2)
    assert s > r and r < s and s != r and not s <= r
    assert (r + Fraction(1, 2**70)) > r  # beyond the first 64-bit enclosure: decided by the rational difference
