"""Each channel-lumping rule, including the ones that must NOT fire: BatchNorm with an irrational ratio or offset,
offsets under zero padding, TF (NHWC) exports read from ONNX, and real zoo CNNs widened (Net2Net) or
structurally pruned (ln_structured zeroes whole filters: constants, not dead) — reduced back exactly."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from onnx import helper

from lumpcheck.checker.graph import check_certificate
from lumpcheck.io.onnx.graph_read import read_graph, read_model
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.graph.dag import Graph, Node, TensorSpec
from lumpcheck.ir.graph.evaluate import evaluate_float
from lumpcheck.ir.graph.ops import (Act, AveragePool, BatchNorm, Binary, Conv, MatMul, MaxPool, Reshape, Transpose,
                                    Window)  # fmt: skip
from lumpcheck.prove.graph_prover import certificate_of
from lumpcheck.prove.graph_records import GraphCertificate
from lumpcheck.reduction.channel_lumping import reduce_channels
from zoo_paths import ZOO
from onnx_builders import model, ort_run
from planted_cnn import assert_same_function

W3 = Window((3, 3), (1, 1), (0, 0, 0, 0), (1, 1))


def conv_bn_net(var_b: Fraction, mean_b: Fraction, beta_b: Fraction) -> Graph:
    """Channel 1 = 2 × channel 0 before BatchNorm; BN parameters of channel 1 are the test's."""
    rng = np.random.default_rng(11)
    w0 = rng.uniform(-1, 1, (1, 1, 3, 3))
    w = np.concatenate([w0, 2 * w0, rng.uniform(-1, 1, (1, 1, 3, 3))])
    b = np.array([0.25, 0.5, -0.125])
    bn = BatchNorm(np.array([1.0, 1.0, 0.75]), np.array([0.5, beta_b, 0.25], dtype=object),
                   np.array([0.125, mean_b, 0.0], dtype=object), np.array([0.75, var_b, 1.0], dtype=object), Fraction(1, 4))  # fmt: skip
    nodes = [Node("c", Conv(w, b, W3), ("x",), "c"), Node("bn", bn, ("c",), "bn"), Node("r", Act(Activation("relu")), ("bn",), "r"),
             Node("f", Reshape((1, 3 * 9)), ("r",), "f"), Node("o", MatMul(rng.uniform(-1, 1, (27, 2))), ("f",), "o")]  # fmt: skip
    return Graph((TensorSpec("x", (1, 1, 5, 5)),), tuple(nodes), ("o",))


@pytest.mark.parametrize(
    "var_b,mean_b,beta_b,merges",
    [
        (4 * (Fraction(3, 4) + Fraction(1, 4)) - Fraction(1, 4), Fraction(1, 4), Fraction(1, 2), True),  # s = 1, t = 0
        (2 * (Fraction(3, 4) + Fraction(1, 4)) - Fraction(1, 4), Fraction(1, 4), Fraction(1, 2), False),  # s = √2
        (4 * (Fraction(3, 4) + Fraction(1, 4)) - Fraction(1, 4), Fraction(1, 3), Fraction(1, 2), False),  # t ∝ 1/√(v+ε)·q, irrational
        (4 * (Fraction(3, 4) + Fraction(1, 4)) - Fraction(1, 4), Fraction(1, 4), Fraction(3, 4), False),  # t ≠ 0 through ReLU
    ],
)  # fmt: skip
def test_batchnorm_merges_only_with_rational_ratio_and_zero_offset(var_b, mean_b, beta_b, merges: bool) -> None:
    g = conv_bn_net(var_b, mean_b, beta_b)
    r = reduce_channels(g)
    assert r.channel_counts() == (5, 4 if merges else 5)
    assert_same_function(g, r.reduced)


def test_offsets_are_not_folded_through_count_include_pad() -> None:
    """avgpool_include(f·y + d) = f·avgpool(y) + d·ρ with ρ < 1 on the border: channels with equal d/f merge,
    others must not, and constants become multiples of ρ (one shared map)."""
    rng = np.random.default_rng(12)
    w0 = rng.uniform(-1, 1, (1, 1, 3, 3))
    w = np.concatenate([w0, 2 * w0, 2 * w0, np.zeros((2, 1, 3, 3))])
    b = np.array([0.25, 0.5, 0.75, 0.5, 1.5])  # ch1 = 2·ch0 (d/f equal), ch2 = 2·ch0 + 0.25 (not), ch3/ch4 constants
    pool = AveragePool(Window((2, 2), (1, 1), (1, 1, 1, 1), (1, 1)), count_include_pad=True)
    nodes = [Node("c", Conv(w, b, W3), ("x",), "c"), Node("p", pool, ("c",), "p"),
             Node("f", Reshape((1, 5 * 16)), ("p",), "f"), Node("o", MatMul(rng.uniform(-1, 1, (80, 2))), ("f",), "o")]  # fmt: skip
    g = Graph((TensorSpec("x", (1, 1, 5, 5)),), tuple(nodes), ("o",))
    r = reduce_channels(g)
    assert r.channel_counts() == (7, 5)  # {0, 1} merge, 2 stays, {3, 4} share the ρ map
    assert_same_function(g, r.reduced)


def test_tf_nhwc_export_with_bias_after_transpose_reduces_through_the_reader() -> None:
    rng = np.random.default_rng(13)
    w0 = rng.uniform(-1, 1, (2, 2, 3, 3)).astype(np.float32)
    w = np.concatenate([w0, 2 * w0[:1], 0.5 * w0[1:]])  # channels 2, 3 are copies of 0, 1
    bias = rng.uniform(-1, 1, 2).astype(np.float32)
    bias = np.concatenate([bias, 2 * bias[:1], 0.5 * bias[1:]])
    inits = {"W": w, "B": bias, "shape": np.array([-1, 4 * 4 * 4], dtype=np.int64), "D": rng.uniform(-1, 1, (64, 3)).astype(np.float32)}
    nodes = [
        helper.make_node("Transpose", ["x"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "W"], ["c"]),
        helper.make_node("Transpose", ["c"], ["nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Add", ["nhwc", "B"], ["biased"]),
        helper.make_node("Relu", ["biased"], ["r"]),
        helper.make_node("Reshape", ["r", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "D"], ["y"]),
    ]
    m = model(nodes, {"x": [1, 6, 6, 2]}, {"y": None}, inits)
    g = read_model(m)
    r = reduce_channels(g)
    assert r.channel_counts() == (7, 5)
    assert_same_function(g, r.reduced, samples=1)
    x = {"x": rng.uniform(-1, 1, (1, 6, 6, 2)).astype(np.float32).astype(np.float64)}
    np.testing.assert_allclose(evaluate_float(r.reduced, x)["y"], ort_run(m, x)["y"], rtol=1e-4, atol=1e-5)


def _layout_chain(nodes: list[Node], tensor: str) -> tuple[list[int], str]:
    """Indices of the Transpose/Reshape nodes leading to `tensor`, and the tensor before them."""
    by_output = {n.output: k for k, n in enumerate(nodes)}
    chain = []
    while tensor in by_output and isinstance(nodes[by_output[tensor]].op, (Transpose, Reshape)):
        chain.append(by_output[tensor])
        tensor = nodes[chain[-1]].inputs[0]
    return chain[::-1], tensor


def _flat_layout(nodes: list[Node], chain: list[int], shape: tuple) -> list[tuple[int, int]]:
    """(channel, position) of every flattened entry, pushing index tensors of an NCHW `shape` through `chain`."""
    _, c, h, w = shape
    ch = np.broadcast_to(np.arange(c).reshape(1, c, 1, 1), shape)
    pos = np.broadcast_to(np.arange(h * w).reshape(1, 1, h, w), shape)
    for k in chain:
        op = nodes[k].op
        if isinstance(op, Transpose):
            ch, pos = np.transpose(ch, op.perm), np.transpose(pos, op.perm)
        else:
            ch, pos = ch.reshape(op.shape[0], -1), pos.reshape(op.shape[0], -1)
    return list(zip(ch.reshape(-1).tolist(), pos.reshape(-1).tolist()))


def widen(g: Graph, conv_name: str, c: int, factor: float) -> Graph:
    """Net2Net: add a channel = factor × channel c to Conv `conv_name`; channel c's outgoing weights are halved
    and the new channel gets the other half divided by factor (exact in floats for powers of two)."""
    nodes = list(g.nodes)
    i = next(k for k, n in enumerate(nodes) if n.name == conv_name)
    op = nodes[i].op
    n_old = op.out_channels
    w = np.concatenate([op.weight, op.weight[c : c + 1] * factor])
    b = np.concatenate([op.bias, op.bias[c : c + 1] * factor])
    nodes[i] = Node(nodes[i].name, Conv(w, b, op.window, op.group), nodes[i].inputs, nodes[i].output)
    k = next(k for k in range(i + 1, len(nodes)) if isinstance(nodes[k].op, (Conv, MatMul)))
    node = nodes[k]
    if isinstance(node.op, Conv):
        cw = np.concatenate([node.op.weight, node.op.weight[:, c : c + 1] * (0.5 / factor)], axis=1)
        cw[:, c] *= 0.5
        nodes[k] = Node(node.name, Conv(cw, node.op.bias, node.op.window, node.op.group), node.inputs, node.output)
        return Graph(g.inputs, tuple(nodes), g.outputs, g.meta)
    chain, start = _layout_chain(nodes, node.inputs[0])
    old_shape = g.shapes[start]
    new_shape = (old_shape[0], n_old + 1) + old_shape[2:]
    old = {cp: r for r, cp in enumerate(_flat_layout(nodes, chain, old_shape))}
    for j in chain:
        if isinstance(nodes[j].op, Reshape):
            nodes[j] = Node(nodes[j].name, Reshape((nodes[j].op.shape[0], int(np.prod(new_shape)) // nodes[j].op.shape[0])), nodes[j].inputs, nodes[j].output)
    rows = []
    for ch, pos in _flat_layout(nodes, chain, new_shape):
        if ch == n_old:
            rows.append(node.op.weight[old[(c, pos)]] * (0.5 / factor))
        else:
            rows.append(node.op.weight[old[(ch, pos)]] * (0.5 if ch == c else 1.0))
    nodes[k] = Node(node.name, MatMul(np.array(rows), node.op.bias), node.inputs, node.output)
    return Graph(g.inputs, tuple(nodes), g.outputs, g.meta)


ZOO_CNNS = ["vnncomp2021/benchmarks/oval21/nets/cifar_base_kw.onnx", "vnncomp2021/benchmarks/marabou-cifar10/nets/cifar10_small.onnx",
            "vnncomp2021/benchmarks/verivital/Convnet_maxpool.onnx"]  # fmt: skip


def _zoo(name: str) -> Graph:
    p = ZOO / name
    if not p.exists():
        pytest.skip(f"{p} not found (needs ../shared/zoo)")
    return read_graph(p)


@pytest.mark.zoo
@pytest.mark.parametrize("name", ZOO_CNNS)
def test_net2net_widened_zoo_cnn_reduces_back_to_its_size(name: str) -> None:
    g = _zoo(name)
    convs = [n.name for n in g.nodes if isinstance(n.op, Conv)]
    wide = widen(widen(g, convs[0], 1, 2.0), convs[-1], 0, 0.5)
    x = {s.name: np.random.default_rng(0).uniform(-1, 1, s.shape) for s in g.inputs}
    base = evaluate_float(g, x)[g.outputs[0]]
    np.testing.assert_allclose(evaluate_float(wide, x)[g.outputs[0]], base, rtol=1e-12, atol=1e-12)
    r = reduce_channels(wide)
    assert r.channel_counts() == (reduce_channels(g).channel_counts()[0] + 2, reduce_channels(g).channel_counts()[1])
    assert r.reduced.param_count == g.param_count
    np.testing.assert_allclose(evaluate_float(r.reduced, x)[g.outputs[0]], base, rtol=1e-12, atol=1e-12)
    verdict = check_certificate(wide, r.reduced, json.loads(certificate_of(r).to_json()))
    assert verdict.valid, verdict.reasons


@pytest.mark.zoo
@pytest.mark.parametrize("zero_bias", [False, True])
def test_structured_pruning_zeroed_filters_are_constants_not_dead(zero_bias: bool) -> None:
    """torch ln_structured zeroes whole filters; with a bias left they are constant channels (relu(b)), which a
    padded consumer cannot fold into its bias: they share one map. With the bias zeroed too they vanish."""
    g = _zoo(ZOO_CNNS[0])
    nodes = list(g.nodes)
    op = nodes[0].op
    w, b = op.weight.copy(), op.bias.copy()
    b[2], b[5] = 0.25, 0.5
    w[[2, 5]] = 0
    if zero_bias:
        b[[2, 5]] = 0
    nodes[0] = Node(nodes[0].name, Conv(w, b, op.window, op.group), nodes[0].inputs, nodes[0].output)
    pruned = Graph(g.inputs, tuple(nodes), g.outputs, g.meta)
    r = reduce_channels(pruned)
    assert check_certificate(pruned, r.reduced, certificate_of(r).to_dict()).valid
    before, after = r.channel_counts()
    assert before - after == (2 if zero_bias else 1)
    x = {s.name: np.random.default_rng(1).uniform(-1, 1, s.shape) for s in g.inputs}
    np.testing.assert_allclose(evaluate_float(r.reduced, x)[g.outputs[0]], evaluate_float(pruned, x)[g.outputs[0]], rtol=1e-12, atol=1e-12)


def _pool_net(pool) -> Graph:
    rng = np.random.default_rng(14)
    w0 = rng.uniform(-1, 1, (1, 1, 3, 3))
    w = np.concatenate([w0, -w0, rng.uniform(-1, 1, (1, 1, 3, 3))])
    nodes = [Node("c", Conv(w, np.array([0.5, -0.5, 0.25]), W3), ("x",), "c"), Node("p", pool, ("c",), "p"),
             Node("f", Reshape((1, 3 * 4)), ("p",), "f"), Node("o", MatMul(rng.uniform(-1, 1, (12, 2))), ("f",), "o")]  # fmt: skip
    return Graph((TensorSpec("x", (1, 1, 6, 6)),), tuple(nodes), ("o",))


@pytest.mark.parametrize("pool,merges", [(AveragePool(Window((2, 2), (2, 2), (0, 0, 0, 0), (1, 1))), True),
                                         (MaxPool(Window((2, 2), (2, 2), (0, 0, 0, 0), (1, 1))), False)])  # fmt: skip
def test_negated_channel_merges_through_avgpool_but_not_maxpool(pool, merges: bool) -> None:
    g = _pool_net(pool)
    r = reduce_channels(g)
    assert r.channel_counts() == (5, 4 if merges else 5)
    assert_same_function(g, r.reduced)
    assert check_certificate(g, r.reduced, certificate_of(r).to_dict()).valid


@pytest.mark.parametrize("u_factor,merges", [(2.0, True), (3.0, False)])
def test_residual_join_merges_only_with_the_same_factor_in_both_branches(u_factor: float, merges: bool) -> None:
    rng = np.random.default_rng(15)
    wa = rng.uniform(-1, 1, (1, 1, 3, 3))
    wt = np.concatenate([wa, 2 * wa, rng.uniform(-1, 1, (1, 1, 3, 3))])
    wb = rng.uniform(-1, 1, (1, 1, 3, 3))
    wu = np.concatenate([wb, u_factor * wb, rng.uniform(-1, 1, (1, 1, 3, 3))])
    same = Window((3, 3), (1, 1), (1, 1, 1, 1), (1, 1))
    nodes = [Node("t", Conv(wt, np.array([0.5, 1.0, 0.0]), same), ("x",), "t"),
             Node("u", Conv(wu, np.array([0.25, 0.25 * u_factor, 0.0]), same), ("x",), "u"),
             Node("v", Binary("add"), ("t", "u"), "v"), Node("r", Act(Activation("relu")), ("v",), "r"),
             Node("f", Reshape((1, 3 * 25)), ("r",), "f"), Node("o", MatMul(rng.uniform(-1, 1, (75, 2))), ("f",), "o")]  # fmt: skip
    g = Graph((TensorSpec("x", (1, 1, 5, 5)),), tuple(nodes), ("o",))
    r = reduce_channels(g)
    assert r.channel_counts() == (8, 6 if merges else 8)
    assert_same_function(g, r.reduced)
    assert check_certificate(g, r.reduced, certificate_of(r).to_dict()).valid
