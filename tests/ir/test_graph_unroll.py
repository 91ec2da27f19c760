"""The dense unrolling of CNN chains (ir/graph/unroll.py): exactly the graph's function (Fractions, on random
rational points), within float tolerance of onnxruntime on the source, refusals with their reason."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.ir.graph.dag import Graph, Node, TensorSpec
from lumpcheck.ir.graph.evaluate import evaluate_exact
from lumpcheck.ir.graph.ops import Act, Affine, AveragePool, Conv, GlobalPool, MatMul, MaxPool, Pad, Reshape, Transpose, Window
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.graph.unroll import UnrollError, unroll
from lumpcheck.ir.network import evaluate
from lumpcheck.reduction.batchnorm_fold import rational_scale

from planted_cnn import Plan, build, plans, rational_inputs


def _assert_exact(g: Graph, samples: int = 2) -> None:
    net = unroll(g)
    for seed in range(samples):
        x = rational_inputs(g, seed)
        want = evaluate_exact(g, x)[g.outputs[0]].reshape(-1)
        got = evaluate(net, list(x[g.inputs[0].name].reshape(-1)))
        assert list(got) == list(want)


@settings(max_examples=25, deadline=None)
@given(plans(residual=False))
def test_planted_cnns_unroll_to_the_same_function_exactly(plan: Plan) -> None:
    g = build(plan).graph
    bns = [n.op for n in g.nodes if n.op.kind == "BatchNorm"]
    if any(rational_scale(bn) is None for bn in bns):  # the BN comes before the pooling: refused first
        with pytest.raises(UnrollError, match="irrational"):
            unroll(g)
    elif plan.pool == "max" and plan.act != "relu":  # max(u, v) = relu(u) + relu(v − u) needs u >= 0
        with pytest.raises(UnrollError, match="max-pooling is unrolled only right after a ReLU"):
            unroll(g)
    else:
        _assert_exact(g)


@st.composite
def small_cnns(draw) -> Graph:
    """Conv (strides, pads, dilations, groups) -> ReLU -> [Pad | AvgPool | GlobalAvg | -] -> [NHWC] -> MatMul."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    group = draw(st.sampled_from([1, 2]))
    cin, cout, hw = 2 * group, 2 * group, draw(st.integers(5, 7))
    k, s, p, d = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(0, 2)), draw(st.integers(1, 2))
    w = rng.integers(-8, 9, (cout, cin // group, k, k)) / 8.0
    nodes = [Node("scale", Affine(np.array([0.5, 2.0] * group).reshape(1, cin, 1, 1), np.array(0.25)), ("x",), "scale"),
             Node("conv", Conv(w, rng.integers(-4, 5, cout) / 4.0, Window((k, k), (s, s), (p,) * 4, (d, d)), group),
                  ("scale",), "conv"),
             Node("relu", Act(Activation("relu")), ("conv",), "relu")]
    tail = draw(st.sampled_from(["none", "pad", "avg", "avg_incl", "global"]))
    ops = {"pad": Pad((0, 0, 1, 0, 0, 0, 0, 1)), "global": GlobalPool("average"),
           "avg": AveragePool(Window((2, 2), (2, 2), (0, 0, 1, 1), (1, 1)), False),
           "avg_incl": AveragePool(Window((2, 2), (1, 1), (1, 1, 0, 0), (1, 1)), True)}
    if tail != "none":
        nodes.append(Node(tail, ops[tail], ("relu",), tail))
    g0 = Graph((TensorSpec("x", (1, cin, hw, hw)),), tuple(nodes), (nodes[-1].output,))
    shape = g0.shapes[nodes[-1].output]
    last = nodes[-1].output
    if draw(st.booleans()):
        nodes.append(Node("nhwc", Transpose((0, 2, 3, 1)), (last,), "nhwc"))
        last = "nhwc"
    n = int(np.prod(shape))
    nodes.append(Node("flat", Reshape((1, n)), (last,), "flat"))
    nodes.append(Node("fc", MatMul(rng.integers(-8, 9, (n, 3)) / 4.0, rng.integers(-2, 3, 3) / 2.0), ("flat",), "fc"))
    return Graph((TensorSpec("x", (1, cin, hw, hw)),), tuple(nodes), ("fc",))


@settings(max_examples=40, deadline=None)
@given(small_cnns())
def test_conv_geometry_unrolls_exactly(g: Graph) -> None:
    _assert_exact(g, samples=3)


def test_rows_are_copies_of_the_conv_weights() -> None:
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    g = Graph((TensorSpec("x", (1, 1, 3, 3)),), (Node("c", Conv(w, np.array([0.5]), Window((2, 2), (1, 1), (0,) * 4, (1, 1))), ("x",), "c"),), ("c",))
    net = unroll(g)
    assert net.layers[0].weight[0].tolist() == [1, 2, 0, 3, 4, 0, 0, 0, 0]
    assert net.layers[0].weight[3].tolist() == [0, 0, 0, 0, 1, 2, 0, 3, 4]
    assert net.layers[0].bias.tolist() == [0.5] * 4


def test_max_pool_becomes_relu_layers_exactly() -> None:
    """2×2 max-pool (stride 1, so windows overlap, and one −∞ pad) after a ReLU: exact on points with ties too."""
    w = np.array([[[[1.0]]], [[[-1.0]]]])
    nodes = (Node("c", Conv(w, np.array([0.0, 0.5]), Window((1, 1), (1, 1), (0,) * 4, (1, 1))), ("x",), "c"),
             Node("r", Act(Activation("relu")), ("c",), "r"),
             Node("m", MaxPool(Window((2, 2), (1, 1), (1, 0, 0, 0), (1, 1))), ("r",), "m"))
    g = Graph((TensorSpec("x", (1, 1, 3, 3)),), nodes, ("m",))
    _assert_exact(g, samples=4)
    x = np.array([Fraction(v) for v in [1, 1, 0, 2, 2, -1, 0, 0, 3]], dtype=object).reshape(1, 1, 3, 3)
    assert evaluate(unroll(g), list(x.reshape(-1))) == list(evaluate_exact(g, {"x": x})["m"].reshape(-1))


def test_residual_and_softmax_are_refused_with_the_reason() -> None:
    plan = Plan(residual=True, bn=False)
    with pytest.raises(UnrollError, match="no branches or skip connections"):
        unroll(build(plan).graph)


ZOO_CHAINS = ("oval21/nets/cifar_base_kw.onnx", "oval21/nets/cifar_deep_kw.onnx", "marabou-cifar10/nets/cifar10_small.onnx",
              "verivital/Convnet_avgpool.onnx", "verivital/Convnet_maxpool.onnx")
ZOO_REFUSED = (("cifar10_resnet/onnx/resnet_2b.onnx", "skip connections"),)


@pytest.mark.parametrize("name", ZOO_CHAINS)
def test_zoo_cnns_unroll_within_float_tolerance_of_onnxruntime(zoo, name: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    from lumpcheck.io.onnx.graph_read import read_graph
    from lumpcheck.ir.network import evaluate_float

    path = zoo / "vnncomp2021" / "benchmarks" / name
    if not path.exists():
        pytest.skip(f"{path} not in the zoo")
    g = read_graph(path)
    net = unroll(g)
    sess = ort.InferenceSession(str(path))
    rng = np.random.default_rng(0)
    for _ in range(2):
        x = rng.uniform(0, 1, g.inputs[0].shape).astype(np.float32)
        want = sess.run(None, {sess.get_inputs()[0].name: x})[0].reshape(-1)
        got = evaluate_float(net, x.reshape(1, -1).astype(np.float64)).reshape(-1)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))


@pytest.mark.parametrize("name,reason", ZOO_REFUSED)
def test_zoo_cnns_refused_with_the_reason(zoo, name: str, reason: str) -> None:
    from lumpcheck.io.onnx.graph_read import read_graph

    path = zoo / "vnncomp2021" / "benchmarks" / name
    if not path.exists():
        pytest.skip(f"{path} not in the zoo")
    with pytest.raises(UnrollError, match=reason):
        unroll(read_graph(path))
