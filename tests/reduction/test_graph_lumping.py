"""Channel lumping on planted CNNs/ResNets: reduces to the planted size, computes exactly the original function
(exact evaluation on random rational inputs, BatchNorm included), and never merges a near miss."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from lumpcheck.checker.graph import check_certificate
from lumpcheck.io.onnx.graph_write import to_model
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.graph.dag import Graph, Node, TensorSpec, params
from lumpcheck.ir.graph.evaluate import evaluate_exact, evaluate_float, exact_equal_arrays
from lumpcheck.ir.graph.ops import Act, Conv, MatMul, Reshape, Window
from lumpcheck.prove.graph_prover import certificate_of
from lumpcheck.reduction.channel_lumping import reduce_channels
from onnx_builders import assert_close, ort_run
from planted_cnn import Plan, assert_same_function, build, plans, rational_inputs

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(plans())
def test_planted_cnns_reduce_to_the_planted_size_exactly(plan: Plan) -> None:
    planted = build(plan)
    r = reduce_channels(planted.graph)
    assert r.channel_counts()[1] == planted.expected, (planted.kinds, plan)
    assert r.reduced.param_count <= planted.graph.param_count
    assert_same_function(planted.graph, r.reduced)
    assert check_certificate(planted.graph, r.reduced, certificate_of(r).to_dict()).valid


@settings(max_examples=8, deadline=None)
@given(plans())
def test_reduced_planted_cnns_match_onnxruntime(plan: Plan) -> None:
    r = reduce_channels(build(plan).graph)
    m, report = to_model(r.reduced, "float32", rounding="nearest")  # onnxruntime has no float64 Conv on CPU
    largest = max(abs(Fraction(v)) for node in r.reduced.nodes for arr in params(node.op) for v in np.ravel(arr))
    assert report.max_change <= largest / 2**24  # round to nearest float32: relative error <= 2^-24
    x = {k: np.vectorize(float)(v) for k, v in rational_inputs(r.reduced, 5).items()}
    got = ort_run(m, x)
    want = evaluate_float(r.original, x)
    assert_close(got["logits"], want["logits"], rtol=1e-4)


@pytest.mark.parametrize("bn", [False, True])
def test_near_miss_channel_is_never_merged(bn: bool) -> None:
    plain = reduce_channels(build(Plan(copies=[], near_miss=False, bn=bn)).graph).channel_counts()[1]
    near = reduce_channels(build(Plan(copies=[], near_miss=True, bn=bn)).graph).channel_counts()[1]
    assert near == plain + 1


def test_negative_factor_through_relu_is_not_merged_but_linear_consumers_merge_it() -> None:
    rng = np.random.default_rng(3)
    w = rng.uniform(-1, 1, (1, 4)).astype(np.float32).astype(np.float64)
    w1 = np.concatenate([w.T, -w.T], axis=1)  # (4, 2): output 1 = −output 0
    head = rng.uniform(-1, 1, (2, 2))
    for act, merged in (("relu", False), ("identity", True)):
        nodes = [Node("d1", MatMul(w1, np.array([0.5, -0.5])), ("x",), "d1"), Node("a", Act(Activation(act)), ("d1",), "a"),
                 Node("d2", MatMul(head), ("a",), "d2")]  # fmt: skip
        g = Graph((TensorSpec("x", (1, 4)),), tuple(nodes), ("d2",))
        r = reduce_channels(g)
        assert r.channel_counts()[1] == (3 if merged else 4)
        assert_same_function(g, r.reduced)


def test_constant_channels_under_zero_padding_keep_one_shared_map() -> None:
    """Two constant channels feeding a padded Conv: folding them into a bias would be wrong on the border;
    they merge into one channel (κ_B/κ_A · channel A), and the function stays exactly the same."""
    rng = np.random.default_rng(4)
    w1 = rng.uniform(-1, 1, (3, 1, 1, 1))
    w1[1:] = 0
    b1 = np.array([0.25, 0.5, 1.5])
    w2 = rng.uniform(-1, 1, (2, 3, 3, 3))
    nodes = [Node("c1", Conv(w1, b1, Window((1, 1), (1, 1), (0, 0, 0, 0), (1, 1))), ("x",), "c1"),
             Node("r", Act(Activation("relu")), ("c1",), "r"),
             Node("c2", Conv(w2, None, Window((3, 3), (1, 1), (1, 1, 1, 1), (1, 1))), ("r",), "c2"),
             Node("f", Reshape((1, 32)), ("c2",), "f"), Node("o", MatMul(rng.uniform(-1, 1, (32, 2))), ("f",), "o")]  # fmt: skip
    g = Graph((TensorSpec("x", (1, 1, 4, 4)),), tuple(nodes), ("o",))
    r = reduce_channels(g)
    assert r.channel_counts() == (7, 6)
    assert_same_function(g, r.reduced)
