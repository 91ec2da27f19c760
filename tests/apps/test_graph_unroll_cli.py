"""`lumpcheck reduce CNN --unroll-dense --domain BOX --certify`: the unrolled dense chain is written, reduced on
the box, certified, and `check CERT UNROLLED OUTPUT` is valid; the reduced chain computes the CNN's function on
the box (exactly, in Fractions); refusals exit 3 with the reason, misused options exit 2."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lumpcheck.apps.cli import cli
from lumpcheck.io import load_model
from lumpcheck.io.onnx.graph_write import write_graph
from lumpcheck.ir.graph.evaluate import evaluate_exact
from lumpcheck.ir.network import evaluate
from planted_cnn import Plan, build

EXAMPLES = Path(__file__).parents[2] / "examples"


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def box_file(path: Path, lower: list[Fraction], upper: list[Fraction]) -> Path:
    lines = [f"(declare-const X_{i} Real)" for i in range(len(lower))] + ["(declare-const Y_0 Real)"]
    for i, (lo, hi) in enumerate(zip(lower, upper)):
        lines += [f"(assert (>= X_{i} {float(lo)!r}))", f"(assert (<= X_{i} {float(hi)!r}))"]
    lines.append("(assert (<= Y_0 0.0))")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def cnn_and_box(tmp_path):
    planted = build(Plan(base=2, copies=[Fraction(2)], dead=1, pool="avg", nhwc=True, seed=5))
    src = write_graph(planted.graph, tmp_path / "cnn.onnx", "float64") and tmp_path / "cnn.onnx"
    n = planted.graph.inputs[0].size
    rng = np.random.default_rng(1)
    centre = [Fraction(int(v), 8) for v in rng.integers(-8, 9, n)]
    lower, upper = [c - Fraction(1, 16) for c in centre], [c + Fraction(1, 16) for c in centre]
    return src, planted.graph, box_file(tmp_path / "box.vnnlib", lower, upper), (lower, upper)


def test_unroll_reduce_certify_and_check(cnn_and_box, tmp_path) -> None:
    src, graph, box, (lower, upper) = cnn_and_box
    out, cert = tmp_path / "dense.onnx", tmp_path / "cert.json"
    res = run("reduce", src, "--unroll-dense", "--domain", box, "-o", out, "--certify", cert, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    unrolled = Path(doc["unrolled"]["path"])
    assert unrolled == tmp_path / "dense.unrolled.onnx" and doc["unrolled"]["widths"][0] == graph.inputs[0].size
    chk = run("check", cert, unrolled, out, "--json")
    assert chk.exit_code == 0, chk.output
    assert json.loads(chk.output)["valid"] is True
    reduced = load_model(out)
    assert sum(l.out_features for l in reduced.layers) < sum(doc["unrolled"]["widths"][1:])
    rng = np.random.default_rng(2)
    for _ in range(3):  # inside the box the reduced dense chain is the CNN, exactly
        t = [Fraction(int(v), 64) for v in rng.integers(0, 65, len(lower))]
        x = [lo + (hi - lo) * ti for lo, hi, ti in zip(lower, upper, t)]
        want = evaluate_exact(graph, {"x": np.array(x, dtype=object).reshape(graph.inputs[0].shape)})
        assert evaluate(reduced, x) == list(want[graph.outputs[0]].reshape(-1))


def test_a_one_ulp_change_to_the_unrolled_file_does_not_check(cnn_and_box, tmp_path) -> None:
    import onnx
    from onnx import numpy_helper

    src, _, box, _ = cnn_and_box
    out, cert, unrolled = tmp_path / "dense.onnx", tmp_path / "cert.json", tmp_path / "u.onnx"
    res = run("reduce", src, "--unroll-dense", "--domain", box, "-o", out, "--certify", cert, "--unrolled", unrolled)
    assert res.exit_code == 0, res.output
    m = onnx.load(str(unrolled))
    init = max(m.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    arr = numpy_helper.to_array(init).copy()
    i = np.flatnonzero(arr)[0]
    arr.flat[i] = np.nextafter(arr.flat[i], np.inf)
    init.CopyFrom(numpy_helper.from_array(arr, init.name))
    onnx.save(m, str(tmp_path / "tampered.onnx"))
    chk = run("check", cert, tmp_path / "tampered.onnx", out)
    assert chk.exit_code == 1 and "invalid" in chk.output


def test_refusals_and_misused_options(tmp_path) -> None:
    planted = build(Plan(residual=True, seed=3))
    src = tmp_path / "resnet.onnx"
    write_graph(planted.graph, src, "float64")
    res = run("reduce", src, "--unroll-dense", "-o", tmp_path / "d.onnx")
    assert res.exit_code == 3 and "skip connections" in res.output and "resnet.onnx" in res.output
    res = run("reduce", src, "--unrolled", tmp_path / "u.onnx", "-o", tmp_path / "d.onnx")
    assert res.exit_code == 2 and "--unrolled needs --unroll-dense" in res.output
    res = run("reduce", EXAMPLES / "planted_relu.onnx", "--unroll-dense", "-o", tmp_path / "d.onnx")
    assert res.exit_code == 2 and "already a dense chain" in res.output
    plain = tmp_path / "plain.onnx"
    write_graph(build(Plan(seed=3)).graph, plain, "float64")
    res = run("reduce", plain, "--unroll-dense", "-o", tmp_path / "d.onnx", "--unrolled", plain)
    assert res.exit_code == 2 and "--unrolled" in res.output
    res = run("reduce", plain, "--unroll-dense", "-o", tmp_path / "d.onnx", "--unrolled", tmp_path / "u.nnet")
    assert res.exit_code == 2 and ".onnx" in res.output
