"""Certify (or refute) CNN shrinks made by other tools: torch ln_structured channel pruning, BatchNorm folding by
onnxoptimizer and onnxsim, Net2Net channel widening. The pairs come from examples/third_party/build_cnn.py (built
here, in tmp); each test skips cleanly when its package is missing."""

from __future__ import annotations

import importlib.util
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from lumpcheck.apps.graph_pipeline import run_graph_reduction
from lumpcheck.apps.graph_verify import difference_bound, verify_graphs
from lumpcheck.equivalence.mode import STRICT, Mode
from lumpcheck.errors import UnsupportedModelError
from lumpcheck.io.onnx.graph_read import read_graph
from lumpcheck.ir.domain import Box
from lumpcheck.ir.graph.evaluate import evaluate_exact
from lumpcheck.reduction.batchnorm_fold import fold_batchnorms

BUILD = Path(__file__).parents[2] / "examples" / "third_party" / "build_cnn.py"
TIMEOUT = 20.0


def _load_build():
    spec = importlib.util.spec_from_file_location("third_party_build_cnn", BUILD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("third_party_cnn")
    build.write_all(out)
    return out


def need(path: Path, package: str) -> Path:
    if not path.exists():
        pytest.skip(f"{package} not installed: {path.name} was not built")
    return path


def verdict(a: Path, b: Path):
    return verify_graphs(read_graph(a), read_graph(b), None, STRICT, TIMEOUT, a_path=a, b_path=b)


def assert_witness(result, a: Path, b: Path) -> None:
    """'sat' with a witness that separates the two files in exact arithmetic (recomputed here)."""
    assert result.status == "sat", result.message
    outs = []
    for p in (a, b):
        g = read_graph(p)
        s = g.inputs[0]
        outs.append(list(evaluate_exact(g, {s.name: np.array(result.witness, dtype=object).reshape(s.shape)})[g.outputs[0]].reshape(-1)))
    assert outs[0] != outs[1]
    for exact, reported in zip(outs[0], result.output_a):  # a Fraction, or a rigorous enclosure of a BN radical
        assert exact == reported if isinstance(reported, Fraction) else reported.lo <= exact <= reported.hi


def test_ln_structured_pruned_channels_are_constants_folded_not_dead(pairs, tmp_path) -> None:
    src = need(pairs / "cnn_pruned.onnx", "torch")
    res = run_graph_reduction(src, tmp_path / "small.onnx", cert_path=tmp_path / "cert.json")
    assert res.verdict == "proved", res.reasons
    model = onnx.load(str(src))
    w0 = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == "w0"))
    b0 = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == "b0"))
    zeroed = [k for k in range(len(w0)) if not w0[k].any()]
    assert len(zeroed) == 3 and res.summary.channels_before - res.summary.channels_after == 3
    doc = json.loads((tmp_path / "cert.json").read_text())
    claims = {c[0]: c for c in doc["rounds"][0]["claims"]["r0"]}  # after the ReLU: relu(b) = b > 0
    for k in zeroed:
        assert claims[k][1] is None and Fraction(claims[k][3]) == Fraction(float(b0[k])) > 0  # a constant, not dead
    assert verdict(src, tmp_path / "small.onnx").status == "unsat"


def test_dropping_pruned_channels_as_dead_is_refuted(pairs) -> None:
    src = need(pairs / "cnn_pruned.onnx", "torch")
    assert_witness(verdict(src, pairs / "cnn_pruned_wrong.onnx"), src, pairs / "cnn_pruned_wrong.onnx")


def test_float_bn_fold_by_onnxsim_is_never_called_exact(pairs) -> None:
    folded = need(pairs / "cnn_bn_onnxsim.onnx", "onnxsim")
    result = verdict(pairs / "cnn_bn.onnx", folded)
    assert result.status != "unsat"
    assert_witness(result, pairs / "cnn_bn.onnx", folded)


def test_onnxoptimizer_fold_with_irrational_roots_is_refused_saying_why(pairs) -> None:
    folded = need(pairs / "cnn_bn_onnxoptimizer.onnx", "onnxoptimizer")
    with pytest.raises(UnsupportedModelError, match="Sqrt of the constant .* is irrational"):
        read_graph(folded)


@pytest.mark.parametrize("tool", ["onnxoptimizer", "onnxsim"])
def test_exact_bn_fold_by_the_tools_is_equivalent(pairs, tool) -> None:
    folded = need(pairs / f"cnn_bn_exact_{tool}.onnx", tool)
    result = verdict(pairs / "cnn_bn_exact.onnx", folded)
    assert result.status == "unsat" and result.engine == "lumping-match" and "BatchNorm" in result.message


def test_net2net_widening_is_equivalent_and_the_broken_one_is_refuted(pairs, tmp_path) -> None:
    parent, wide, broken = (pairs / f"cnn_net2net_{k}.onnx" for k in ("parent", "wide", "broken"))
    assert verdict(parent, wide).status == "unsat"
    assert_witness(verdict(parent, broken), parent, broken)
    res = run_graph_reduction(wide, tmp_path / "w.onnx", cert_path=tmp_path / "w.json")
    assert res.verdict == "proved" and res.summary.channels_after == res.summary.channels_before - 2


def test_fold_batchnorms_is_exact_and_leaves_irrational_scales(pairs) -> None:
    g = read_graph(pairs / "cnn_bn_exact.onnx")
    folded, n = fold_batchnorms(g)
    assert n == 1 and not any(node.op.kind == "BatchNorm" for node in folded.nodes)
    rng = np.random.default_rng(0)
    s = g.inputs[0]
    for _ in range(2):
        x = np.array([Fraction(int(v), 64) for v in rng.integers(-64, 65, s.size)], dtype=object).reshape(s.shape)
        ya, yb = (evaluate_exact(h, {s.name: x})[h.outputs[0]] for h in (g, folded))
        assert list(ya.reshape(-1)) == list(yb.reshape(-1))
    irrational = read_graph(pairs / "cnn_bn.onnx")
    assert fold_batchnorms(irrational)[1] == 0


def small_box(eps: Fraction, centre: Fraction = Fraction(1, 4)) -> Box:
    return Box(tuple(centre - eps for _ in range(build.INPUTS)), tuple(centre + eps for _ in range(build.INPUTS)))


def test_float_bn_fold_gets_a_certified_epsilon_on_a_small_box(pairs) -> None:
    folded = need(pairs / "cnn_bn_onnxsim.onnx", "onnxsim")
    a, b = read_graph(pairs / "cnn_bn.onnx"), read_graph(folded)
    box = small_box(Fraction(1, 100))
    result = verify_graphs(a, b, box, Mode.parse("epsilon=1e-4"), TIMEOUT)
    assert result.status == "unsat" and result.engine == "difference-bound", result.message
    bound = difference_bound(a, b, box)
    rng = np.random.default_rng(1)
    s = a.inputs[0]
    for _ in range(2):  # the exact difference at box points never exceeds the certified bound
        x = np.array([lo + (hi - lo) * Fraction(int(k), 16) for lo, hi, k in zip(box.lower, box.upper, rng.integers(0, 17, s.size))],
                     dtype=object).reshape(s.shape)
        ya, yb = (evaluate_exact(g, {s.name: x})[g.outputs[0]].reshape(-1) for g in (a, b))
        for p, q in zip(ya, yb):
            assert -bound <= p - q <= bound
    # strictly they differ, and an ε below the bound is not certified
    assert verify_graphs(a, b, box, STRICT, TIMEOUT).status == "sat"
    assert verify_graphs(a, b, box, Mode("epsilon", bound / 4), TIMEOUT).status in ("sat", "unknown")


def test_epsilon_mode_never_certifies_a_broken_widening(pairs) -> None:
    parent, broken = (read_graph(pairs / f"cnn_net2net_{k}.onnx") for k in ("parent", "broken"))
    result = verify_graphs(parent, broken, small_box(Fraction(1, 100)), Mode.parse("epsilon=1e-4"), TIMEOUT)
    assert result.status == "sat", result.message
