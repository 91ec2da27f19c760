"""The graph IR refuses malformed graphs when built, with messages naming the node and the shapes."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from lumpcheck.ir.activation import Activation
from lumpcheck.ir.graph.dag import Graph, GraphError, Node, TensorSpec, prune
from lumpcheck.ir.graph.ops import Act, Affine, BatchNorm, Binary, Conv, MatMul, Reshape, Window

X = TensorSpec("x", (1, 2, 4, 4))
W3 = Window((3, 3), (1, 1), (1, 1, 1, 1), (1, 1))


def conv(cin: int, cout: int) -> Conv:
    return Conv(np.ones((cout, cin, 3, 3)), np.zeros(cout), W3)


def test_shapes_are_inferred() -> None:
    g = Graph((X,), (Node("c", conv(2, 3), ("x",), "c"), Node("f", Reshape((1, 48)), ("c",), "f")), ("f",))
    assert g.shapes["c"] == (1, 3, 4, 4) and g.shapes["f"] == (1, 48)


@pytest.mark.parametrize(
    "nodes,outputs,fragment",
    [
        ((Node("c", conv(3, 3), ("x",), "c"),), ("c",), "cannot take shape [1, 2, 4, 4]"),
        ((Node("r", Reshape((1, 5)), ("x",), "r"),), ("r",), "cannot reshape"),
        ((Node("a", Act(Activation("relu")), ("b",), "a"), Node("b", Act(Activation("relu")), ("x",), "b")), ("a",), "before they are defined"),
        ((Node("a", Act(Activation("relu")), ("x",), "x"),), ("x",), "already defined"),
        ((Node("a", Act(Activation("relu")), ("x",), "a"),), ("zz",), "not computed"),
        ((Node("j", Binary("add"), ("x", "m"), "j"), Node("m", MatMul(np.ones((4, 3))), ("x",), "m")), ("j",), "before"),
    ],
)  # fmt: skip
def test_malformed_graphs_are_refused(nodes, outputs, fragment: str) -> None:
    with pytest.raises(GraphError, match=None) as info:
        Graph((X,), nodes, outputs)
    assert fragment in str(info.value), str(info.value)


def test_op_parameters_are_checked_and_frozen() -> None:
    with pytest.raises(ValueError, match="kernel"):
        Conv(np.ones((2, 2, 3, 3)), None, Window((2, 2), (1, 1), (0, 0, 0, 0), (1, 1)))
    with pytest.raises(ValueError, match="positive"):
        BatchNorm(np.ones(2), np.zeros(2), np.zeros(2), np.array([-1.0, 1.0]), Fraction(1, 2))
    op = Affine(np.array([Fraction(1, 3)], dtype=object), np.zeros(1))
    assert op.scale.dtype == object and op.shift.dtype == np.float64  # exact: 1/3 stays a Fraction
    with pytest.raises(ValueError):
        op.shift[0] = 1.0  # read-only


def test_prune_drops_unused_nodes_only() -> None:
    nodes = (Node("a", Act(Activation("relu")), ("x",), "a"), Node("b", Act(Activation("tanh")), ("x",), "b"))
    g = prune(Graph((X,), nodes, ("a",)))
    assert [n.output for n in g.nodes] == ["a"] and g.input_names == ("x",)
