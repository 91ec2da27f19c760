"""Interval bounds on graphs are sound: every sampled point of the box (and every box corner tried) evaluates
inside the bounds of every tensor — planted CNNs/ResNets with BatchNorm, pooling and padding, Fraction weights,
sigmoid/tanh/softmax graphs from the zoo — and stable ReLU counts never contradict a sample."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.bounds.graph_interval import interval_bounds, stable_counts
from lumpcheck.bounds.graph_symbolic import bounds_by
from lumpcheck.io.onnx.graph_read import read_graph
from lumpcheck.ir.graph.dag import Graph, Node
from lumpcheck.ir.graph.evaluate import evaluate_exact, evaluate_float
from lumpcheck.ir.graph.ops import Conv
from zoo_paths import ZOO
from planted_cnn import Plan, build, plans


def box_around(g: Graph, seed: int, eps: float) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    centre = {s.name: rng.uniform(-1, 1, s.shape) for s in g.inputs}
    return centre, {k: (v - eps, v + eps) for k, v in centre.items()}


def assert_inside(g: Graph, bounds: dict, box: dict, seed: int, samples: int = 12) -> None:
    rng = np.random.default_rng(seed)
    for k in range(samples):
        x = {n: lo + (hi - lo) * (rng.integers(0, 2, lo.shape) if k % 3 == 0 else rng.uniform(0, 1, lo.shape)) for n, (lo, hi) in box.items()}
        values = evaluate_float(g, x, keep_all=True)
        for name, (lo, hi) in bounds.items():
            v = values[name]
            slack = 1e-9 * (1 + np.abs(v))  # float evaluation error of the sample itself
            assert np.all(v >= lo - slack) and np.all(v <= hi + slack), name


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans(), st.sampled_from([0.0, 1e-3, 0.05, 0.5]), st.sampled_from(["interval", "symbolic"]))
def test_bounds_enclose_samples_of_planted_cnns(plan, eps: float, method: str) -> None:
    g = build(plan).graph
    _, box = box_around(g, plan.seed, eps)
    bounds = bounds_by(method)(g, box)
    assert_inside(g, bounds, box, plan.seed)
    for name, inactive, active, total in stable_counts(g, bounds):
        assert inactive + active <= total
    if method == "symbolic":  # intersected with interval bounds: never looser
        for name, (lo, hi) in interval_bounds(g, box).items():
            assert np.all(bounds[name][0] >= lo) and np.all(bounds[name][1] <= hi)


def test_point_box_bounds_contain_the_exact_value_with_fraction_weights() -> None:
    g = build(Plan(bn=True, constants=[1], seed=4)).graph
    nodes = list(g.nodes)
    k = next(i for i, n in enumerate(nodes) if isinstance(n.op, Conv))
    op = nodes[k].op
    w = np.vectorize(lambda v: Fraction(v) + Fraction(1, 3 * 2**40), otypes=[object])(op.weight)  # not floats
    nodes[k] = Node(nodes[k].name, Conv(w, op.bias, op.window, op.group), nodes[k].inputs, nodes[k].output)
    g = g.with_nodes(nodes)
    x = {s.name: np.full(s.shape, Fraction(1, 3), dtype=object) for s in g.inputs}
    exact = evaluate_exact(g, x, keep_all=True)
    bounds = interval_bounds(g, {k: (v, v) for k, v in x.items()})
    for name, (lo, hi) in bounds.items():
        values = exact[name].reshape(-1)
        for v, a, b in zip(values, lo.reshape(-1), hi.reshape(-1)):
            assert Fraction(a) <= v if not hasattr(v, "sign") else (v - Fraction(a)).sign() >= 0, name
            assert v <= Fraction(b) if not hasattr(v, "sign") else (Fraction(b) - v).sign() >= 0, name


@pytest.mark.zoo
@pytest.mark.parametrize("name", ["marabou/resources/onnx/fc_2-2sigmoids-3.onnx", "marabou/resources/onnx/tanh_test.onnx",
                                  "marabou/resources/onnx/softmax-last-layer.onnx", "marabou/resources/onnx/layer-zoo/batchnorm.onnx",
                                  "vnncomp2021/benchmarks/verivital/Convnet_avgpool.onnx", "vnncomp2021/benchmarks/cifar10_resnet/onnx/resnet_2b.onnx"])  # fmt: skip
def test_bounds_enclose_samples_of_zoo_models(name: str) -> None:
    p = ZOO / name
    if not p.exists():
        pytest.skip("needs ../shared/zoo")
    g = read_graph(p)
    _, box = box_around(g, 0, 0.05)
    assert_inside(g, interval_bounds(g, box), box, 1, samples=6)
    if g.inputs[0].size <= 1024:
        assert_inside(g, bounds_by("symbolic")(g, box), box, 2, samples=6)


