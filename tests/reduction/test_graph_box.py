"""Channel reduction on an input box: ReLU channels stable on the box (sound interval bounds) become linear,
so more channels go; equality holds exactly inside the box (not outside), and the certificate's box and
phases are re-verified by the checker (an enlarged box or a wrong phase is invalid)."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from lumpcheck.bounds.graph_interval import interval_bounds
from lumpcheck.checker.graph import check_certificate
from lumpcheck.io.vnnlib import read_box
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.graph.dag import Graph, Node, TensorSpec
from lumpcheck.ir.graph.evaluate import evaluate_exact, evaluate_float, exact_equal_arrays
from lumpcheck.ir.graph.ops import Act, Conv, MatMul, Reshape, Window
from lumpcheck.prove.graph_prover import certificate_of
from lumpcheck.prove.graph_records import GraphCertificate, Round
from lumpcheck.reduction.channel_lumping import reduce_channels
from zoo_paths import ZOO

UNIT = Window((3, 3), (1, 1), (0, 0, 0, 0), (1, 1))


def net() -> Graph:
    """ch0 random; ch1 = ch0 + 3 (an offset: merges only where both are active); ch2 tiny weights, bias −5 (dead on
    [0, 1] inputs but not everywhere); ch3 = −ch0 − 3 (negative factor: merges only where ch0's copy is inactive)."""
    rng = np.random.default_rng(21)
    w0 = rng.uniform(0.1, 1, (1, 1, 3, 3))
    w = np.concatenate([w0, w0, np.full((1, 1, 3, 3), 0.25), -w0])
    b = np.array([3.0, 6.0, -5.0, -3.0])
    nodes = [Node("c", Conv(w, b, UNIT), ("x",), "c"), Node("r", Act(Activation("relu")), ("c",), "r"),
             Node("f", Reshape((1, 4 * 9)), ("r",), "f"), Node("o", MatMul(rng.uniform(-1, 1, (36, 2))), ("f",), "o")]  # fmt: skip
    return Graph((TensorSpec("x", (1, 1, 5, 5)),), tuple(nodes), ("o",))


def unit_box(g: Graph, lo=0, hi=1) -> dict:
    s = g.inputs[0]
    return {s.name: (np.full(s.shape, Fraction(lo), dtype=object), np.full(s.shape, Fraction(hi), dtype=object))}


def inside(g: Graph, seed: int, lo=0, hi=1) -> dict:
    rng = np.random.default_rng(seed)
    to = np.vectorize(lambda v: Fraction(int(v), 64), otypes=[object])
    return {s.name: to(rng.integers(64 * lo, 64 * hi + 1, s.shape)) for s in g.inputs}


def test_box_reduction_removes_more_and_is_exact_on_the_box_only() -> None:
    g = net()
    assert reduce_channels(g).channel_counts() == (6, 6)  # nothing is exact everywhere
    r = reduce_channels(g, box=unit_box(g))
    assert r.channel_counts() == (6, 3)  # ch1 → ch0 (+3 offset folded), ch2 dead, ch3 inactive → constant 0
    for seed in range(3):
        x = inside(g, seed)
        assert exact_equal_arrays(evaluate_exact(g, x)["o"], evaluate_exact(r.reduced, x)["o"])
    outside = {"x": np.full((1, 1, 5, 5), Fraction(-5), dtype=object)}
    assert not exact_equal_arrays(evaluate_exact(g, outside)["o"], evaluate_exact(r.reduced, outside)["o"])


def test_box_certificate_checks_and_its_box_and_phases_are_verified() -> None:
    g = net()
    r = reduce_channels(g, box=unit_box(g))
    cert = certificate_of(r)
    assert check_certificate(g, r.reduced, cert.to_dict()).valid
    wider = {k: (lo, tuple(v + 4 for v in hi)) for k, (lo, hi) in cert.box.items()}
    verdict = check_certificate(g, r.reduced, dataclasses.replace(cert, box=wider).to_dict())
    assert not verdict.valid and "interval bounds" in verdict.reasons[0]
    rnd = next(i for i, x in enumerate(cert.rounds) if x.phases)
    name, ph = next(iter(cert.rounds[rnd].phases.items()))
    flipped = tuple("active" if p == "inactive" else "inactive" if p == "active" else p for p in ph)
    rounds = list(cert.rounds)
    rounds[rnd] = Round(cert.rounds[rnd].claims, cert.rounds[rnd].removals, {name: flipped})
    assert not check_certificate(g, r.reduced, dataclasses.replace(cert, rounds=tuple(rounds)).to_dict()).valid
    assert not check_certificate(g, r.reduced, dataclasses.replace(cert, box=None).to_dict()).valid
    assert not check_certificate(g, r.reduced, dataclasses.replace(cert, bounds="guess").to_dict()).valid


def test_symbolic_bounds_certificate_checks() -> None:
    g = net()
    r = reduce_channels(g, box=unit_box(g), bounds="symbolic")
    cert = certificate_of(r)
    assert cert.bounds == "symbolic" and check_certificate(g, r.reduced, cert.to_dict()).valid


@pytest.mark.zoo
def test_oval21_instance_box_reduction_is_certified() -> None:
    onnx_path = ZOO / "vnncomp2021/benchmarks/oval21/nets/cifar_base_kw.onnx"
    specs = sorted((ZOO / "vnncomp2021/benchmarks/oval21/vnnlib").glob("*.vnnlib")) if onnx_path.exists() else []
    if not specs:
        pytest.skip("oval21 benchmark not in ../shared/zoo")
    from lumpcheck.io.onnx.graph_read import read_graph

    g = read_graph(onnx_path)
    spec = g.inputs[0]
    b = read_box(specs[0], spec.size)
    box = {spec.name: (np.array(b.lower, dtype=object).reshape(spec.shape), np.array(b.upper, dtype=object).reshape(spec.shape))}
    r = reduce_channels(g, box=box)
    assert check_certificate(g, r.reduced, certificate_of(r).to_dict()).valid
    bounds = interval_bounds(g, box)
    rng = np.random.default_rng(0)
    lo, hi = (np.array(v, dtype=float).reshape(spec.shape) for v in (b.lower, b.upper))
    for _ in range(3):
        x = {spec.name: lo + (hi - lo) * rng.uniform(0, 1, spec.shape)}
        np.testing.assert_allclose(evaluate_float(r.reduced, x)[g.outputs[0]], evaluate_float(g, x)[g.outputs[0]], rtol=1e-9, atol=1e-9)
        assert np.all(evaluate_float(g, x)[g.outputs[0]] <= bounds[g.outputs[0]][1])
