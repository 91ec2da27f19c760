"""Certify (or refute) shrinks made by other tools: torch structured pruning, ONNX simplifiers, Net2Net widening.

The pairs come from examples/third_party/build.py (built here, in tmp); torch/onnxsim/onnxoptimizer tests skip
cleanly when the package is missing.
"""

from __future__ import annotations

import importlib.util
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.mode import STRICT
from lumpcheck.io import load_model
from lumpcheck.io.onnx import write_onnx
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import evaluate
from lumpcheck.prove.prover import prove
from lumpcheck.reduction.lumping import reduce

BUILD = Path(__file__).parents[2] / "examples" / "third_party" / "build.py"
TIMEOUT = 20.0


def _load_build():
    spec = importlib.util.spec_from_file_location("third_party_build", BUILD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()
BOX = Box((Fraction(-1),) * build.INPUTS, (Fraction(1),) * build.INPUTS)


def _assert_counterexample(result, a, b) -> None:
    """'sat' with a witness in the box on which the two nets' exact outputs really differ."""
    assert result.status == "sat", result.message
    assert BOX.contains(result.witness)
    assert evaluate(a, result.witness) != evaluate(b, result.witness)


# ---------------------------------------------------------------- (a) torch structured pruning


@pytest.fixture(scope="module")
def pruned():
    pytest.importorskip("torch")
    return build.pruned_mlp()


def test_pruned_rows_are_constants_not_dead(pruned) -> None:
    hidden = pruned.layers[:-1]
    zero_rows = [np.flatnonzero(~np.any(layer.weight != 0, axis=1)) for layer in hidden]
    assert all(len(rows) == 4 for rows in zero_rows)  # amount=0.5 of 8 rows
    assert all(np.all(layer.bias[rows] > 0) for layer, rows in zip(hidden, zero_rows))  # biases kept: relu(b) > 0
    red = reduce(pruned)
    assert [s.reasons.get("constant", 0) for s in red.stats.layers] == [4, 4]
    assert red.network.widths == [4, 4, 4, 3]


def test_exact_shrink_of_pruned_model_is_certified(pruned, tmp_path: Path) -> None:
    red = reduce(pruned)
    original, shrunk = tmp_path / "pruned.onnx", tmp_path / "shrunk.onnx"
    assert write_onnx(pruned, original).exact  # torch's float32 weights
    assert write_onnx(red.network, shrunk, dtype="float64").exact  # folded biases are exact in float64
    cert = prove(original, shrunk, red)
    assert cert.verdict == "proved", [o.id for o in cert.failures]


def test_dropping_pruned_rows_as_dead_is_refuted(pruned) -> None:
    wrong = build.dead_shrink(pruned)
    assert wrong.widths == reduce(pruned).network.widths  # same size as the right shrink, but a different function
    _assert_counterexample(verify(pruned, wrong, BOX, STRICT, TIMEOUT), pruned, wrong)


def test_pruned_state_dict_with_masks_reads_like_the_module() -> None:
    torch = pytest.importorskip("torch")
    from torch.nn.utils import prune

    from lumpcheck.io.torch import read_torch

    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2))
    prune.ln_structured(model[0], name="weight", amount=0.5, n=2, dim=0)  # keeps weight_orig + weight_mask
    state = model.state_dict()
    assert "0.weight_mask" in state
    from_state = read_torch(state, ["relu", "identity"])
    from_module = read_torch(model)
    assert all(np.array_equal(a.weight, b.weight) for a, b in zip(from_state.layers, from_module.layers))
    assert (~np.any(from_state.layers[0].weight != 0, axis=1)).sum() == 3


# ---------------------------------------------------------------- (b) ONNX simplifiers


@pytest.mark.parametrize("tool", ["onnxsim", "onnxoptimizer"])
def test_simplified_onnx_is_equivalent(tool: str, tmp_path: Path) -> None:
    pytest.importorskip(tool)
    source = build.unsimplified_model()
    simplified = getattr(build, f"simplify_{tool}")(source)
    assert len(simplified.graph.node) < len(source.graph.node)  # the tool really rewrote the graph
    a_path, b_path = tmp_path / "source.onnx", tmp_path / "simplified.onnx"
    a_path.write_bytes(source.SerializeToString())
    b_path.write_bytes(simplified.SerializeToString())
    a, b = load_model(a_path), load_model(b_path)
    result = verify(a, b, None, STRICT, TIMEOUT, a_path=a_path, b_path=b_path)
    assert result.status == "unsat", result.message
    assert result.engine == "lumping-match"
    assert all(r.status == "proved" for records in result.proofs.values() for r in records)


# ---------------------------------------------------------------- (c) Net2Net widening


def test_net2net_widening_is_equivalent_on_all_inputs() -> None:
    parent = build.net2net_parent()
    wide = build.net2net_widen(parent, 0, [1, 3])
    assert wide.widths == [4, 7, 4, 2]
    result = verify(parent, wide, None, STRICT, TIMEOUT)
    assert result.status == "unsat", result.message
    assert result.engine == "lumping-match"


def test_net2net_without_splitting_is_refuted() -> None:
    parent = build.net2net_parent()
    broken = build.net2net_widen(parent, 0, [1, 3], split=False)
    _assert_counterexample(verify(parent, broken, BOX, STRICT, TIMEOUT), parent, broken)


def test_build_script_writes_loadable_pairs(tmp_path: Path) -> None:
    notes = build.write_all(tmp_path)
    expected = {"net2net_parent.onnx", "net2net_wide.onnx", "net2net_broken.onnx", "simplify_source.onnx"}
    optional = {"torch": ["pruned", "pruned_shrunk", "pruned_wrong"], "onnxsim": ["simplify_onnxsim"]}
    optional["onnxoptimizer"] = ["simplify_onnxoptimizer"]
    for package, names in optional.items():
        if importlib.util.find_spec(package) is not None:
            expected |= {f"{n}.onnx" for n in names}
        else:
            assert any(package in note for note in notes)
    assert {p.name for p in tmp_path.glob("*.onnx")} == expected
    for name in expected:
        assert load_model(tmp_path / name).input_size == build.INPUTS
    assert (tmp_path / "box.vnnlib").read_text().count("assert") == 2 * build.INPUTS
