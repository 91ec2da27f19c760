"""Issue 13.1: a reduced model is a drop-in replacement (same input/output names, shapes, element type and opset as
its source; a .nnet source gives an ONNX model that takes float32 feeds) and carries the lumpcheck marker (claim,
box, certificate) that `info` shows, with a warning when it is valid only on that box."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from lumpcheck.apps.cli import cli
from lumpcheck.apps.pipeline import run_reduction
from lumpcheck.checker import check
from lumpcheck.io import load_model, save_model
from lumpcheck.io.marker import CERTIFICATE, CLAIM, DOMAIN, box_digest, marker_of
from lumpcheck.ir.activation import RELU
from lumpcheck.ir.network import Layer, Network, evaluate
from lumpcheck.ir.normalization import Normalization

REPO = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(13)


def source_model(path: Path) -> Path:
    """'0' float32 [1, 6, 1] -> Flatten -> Gemm+Relu (neurons 3..5 duplicate 0..2) -> Gemm -> '12' float32 [1, 3], opset 13."""
    w = np.float32(RNG.integers(-4, 5, size=(3, 6)) / 4)
    w1, b1 = np.concatenate([w, w]), np.float32(np.tile(RNG.integers(-2, 3, size=3) / 2, 2))
    w2, b2 = np.float32(RNG.integers(-4, 5, size=(3, 6)) / 4), np.float32([0.5, -1, 0.25])
    nodes = [helper.make_node("Flatten", ["0"], ["f"], axis=1), helper.make_node("Gemm", ["f", "w1", "b1"], ["g"], transB=1),
             helper.make_node("Relu", ["g"], ["r"]), helper.make_node("Gemm", ["r", "w2", "b2"], ["12"], transB=1)]
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))]
    graph = helper.make_graph(nodes, "source", [helper.make_tensor_value_info("0", TensorProto.FLOAT, [1, 6, 1])],
                              [helper.make_tensor_value_info("12", TensorProto.FLOAT, [1, 3])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    path.write_bytes(m.SerializeToString())
    return path


def run(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def interface(path: Path) -> tuple:
    m = onnx.load(str(path))
    def io(v):
        t = v.type.tensor_type
        return v.name, t.elem_type, [d.dim_value if d.HasField("dim_value") else d.dim_param for d in t.shape.dim]
    return io(m.graph.input[0]), io(m.graph.output[0]), [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")]


def test_reduced_onnx_keeps_the_source_interface_and_answers_the_same_feeds(tmp_path):
    src = source_model(tmp_path / "src.onnx")
    out = tmp_path / "small.onnx"
    res = run_reduction(src, out, cert_path=tmp_path / "c.json")
    assert res.verdict == "proved" and load_model(out).widths == [6, 3, 3]
    assert interface(out) == interface(src) == (("0", TensorProto.FLOAT, [1, 6, 1]), ("12", TensorProto.FLOAT, [1, 3]), [13])
    x = RNG.uniform(-2, 2, size=(1, 6, 1)).astype(np.float32)
    np.testing.assert_allclose(run(out, x), run(src, x), rtol=1e-6, atol=1e-6)
    assert check(tmp_path / "c.json", src, out).valid


def test_opset_is_kept_unless_asked_otherwise(tmp_path):
    src = source_model(tmp_path / "src.onnx")
    res = CliRunner().invoke(cli, ["reduce", str(src), "-o", str(tmp_path / "s.onnx"), "--opset", "17"])
    assert res.exit_code == 0, res.output
    assert interface(tmp_path / "s.onnx")[2] == [17] and interface(tmp_path / "s.onnx")[0] == interface(src)[0]


def test_an_interface_that_drops_the_batch_axis_is_replaced_with_a_note(tmp_path):
    """'x' [1, 2, 1, 3] -> Squeeze (every unit axis) -> 'y' [2, 3] (as Marabou's layer-zoo squeeze.onnx): 6 features in
    and out per sample, but the output declares no batch axis, so the source's interface cannot be kept: the output
    gets lumpcheck's own, with a note saying why (not an internal error)."""
    graph = helper.make_graph([helper.make_node("Squeeze", ["x"], ["y"])], "squeeze",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    src = tmp_path / "squeeze.onnx"
    src.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7).SerializeToString())
    out, cert = tmp_path / "r.onnx", tmp_path / "c.json"
    res = CliRunner().invoke(cli, ["reduce", str(src), "-o", str(out), "--certify", str(cert)])
    assert res.exit_code == 0, res.output
    assert "cannot be kept" in res.output and "[2, 3]" in res.output
    assert check(cert, src, out).valid
    x = RNG.standard_normal((1, 2, 1, 3)).astype(np.float32)
    np.testing.assert_array_equal(run(out, x.reshape(1, 6)).reshape(2, 3), run(src, x))


def test_nnet_source_gives_an_onnx_model_that_takes_float32_feeds(tmp_path):
    """ACAS-like .nnet weights are decimals no float holds: float64 weights, but a float32 input (widened exactly)."""
    w1 = np.array([[0.1, -0.3], [0.1, -0.3], [0.7, 0.2]])
    net = Network([Layer(w1, np.array([0.05, 0.05, -0.1]), RELU), Layer(np.array([[0.3, 0.2, -0.9]]), np.array([0.01]))],
                  Normalization((0, 0), (1, 1), (0,), (1,), (-1, -1), (1, 1)))
    src = tmp_path / "net.nnet"
    save_model(net, src)
    out = tmp_path / "net.onnx"
    res = run_reduction(src, out, domain_path=box_file(tmp_path, 2), cert_path=tmp_path / "c.json")
    assert res.verdict == "proved"
    (name, elem, dims), (_, out_elem, _), _ = interface(out)
    assert elem == TensorProto.FLOAT and dims[-1] == 2
    x = np.array([[0.25, -0.5]], dtype=np.float32)
    got = run(out, x)  # a float32 feed works
    want = [float(v) for v in evaluate(load_model(src), [0.25, -0.5])]  # layers only: clip is inactive on this point
    np.testing.assert_allclose(got.reshape(-1), want, rtol=1e-6)


def test_float32_exact_nnet_weights_give_a_float32_model(tmp_path):
    net = Network([Layer(np.array([[0.5, -0.25], [0.5, -0.25]]), np.array([0.125, 0.125]), RELU),
                   Layer(np.array([[1.0, 2.0]]), np.array([0.0]))])
    src = tmp_path / "net.nnet"
    save_model(net, src)
    run_reduction(src, tmp_path / "net.onnx")
    m = onnx.load(str(tmp_path / "net.onnx"))
    assert {t.data_type for t in m.graph.initializer} == {TensorProto.FLOAT}
    assert m.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT


def box_file(tmp_path: Path, n: int) -> Path:
    p = tmp_path / "box.vnnlib"
    lines = [f"(declare-const X_{i} Real)" for i in range(n)] + ["(declare-const Y_0 Real)"]
    lines += [f"(assert (>= X_{i} -0.5))\n(assert (<= X_{i} 0.5))" for i in range(n)]
    p.write_text("\n".join(lines) + "\n")
    return p


def test_the_marker_names_claim_box_and_certificate_and_info_warns(tmp_path):
    src = REPO / "examples" / "planted_relu.onnx"
    out, cert = tmp_path / "small.onnx", tmp_path / "cert.json"
    res = run_reduction(src, out, domain_path=REPO / "examples" / "box.vnnlib", cert_path=cert)
    assert res.verdict == "proved"
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert set(props) == {CLAIM, DOMAIN, CERTIFICATE}
    assert "ONLY" in props[CLAIM] and res.reduction.original.source in str(src)
    m = re.fullmatch(r"box sha256:([0-9a-f]{64}) from box\.vnnlib \(4 inputs\): (.*)", props[DOMAIN])
    assert m and box_digest(m[2]) == m[1] and "X_2 in [-1/2, 1/2]" in m[2]
    assert props[CERTIFICATE].startswith("cert.json") and check(cert, src, out).valid
    res = CliRunner().invoke(cli, ["info", str(out)])
    assert res.exit_code == 0 and "lumpcheck.claim" in res.stdout and "ONLY" in res.stdout
    assert "valid ONLY on the box" in res.stderr
    everywhere = tmp_path / "everywhere.onnx"
    run_reduction(src, everywhere)
    marker = marker_of(load_model(everywhere).meta)
    assert "on all inputs" in marker.claim and not marker.domain and not marker.only_on_box


def test_nnet_outputs_carry_the_marker_as_comments(tmp_path):
    net = Network([Layer(np.array([[1.0], [2.0]]), np.array([0.0, 0.0]), RELU), Layer(np.array([[1.0, 1.0]]), np.array([0.0]))])
    src = tmp_path / "a.nnet"
    save_model(net, src)
    run_reduction(src, tmp_path / "b.nnet", domain_path=box_file(tmp_path, 1), cert_path=tmp_path / "c.json")
    text = (tmp_path / "b.nnet").read_text()
    assert "// lumpcheck.claim: " in text and "// lumpcheck.domain: box sha256:" in text
    run_reduction(tmp_path / "b.nnet", tmp_path / "c.nnet")  # reduced again: one marker, the new one
    assert (tmp_path / "c.nnet").read_text().count("lumpcheck.claim") == 1


def readme_main_command() -> list[list[str]]:
    """The `lumpcheck ...` steps of the README's main command (the first bash block after 'Main job')."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"Main job.*?```bash\n(.*?)\n```", text, re.DOTALL)
    assert block, "README: no main command block"
    return [shlex.split(step) for step in block[1].split("&&") if step.strip().startswith("lumpcheck ")]


def test_readme_main_command_shows_the_marker_in_info(tmp_path, monkeypatch):
    """Acceptance: the README's main command, run in a fresh directory beside the examples, ends with `info` of the
    reduced model showing the marker."""
    steps = readme_main_command()
    assert steps[-1][:2] == ["lumpcheck", "info"], "the README's main command should end with lumpcheck info"
    (tmp_path / "examples").symlink_to(REPO / "examples")
    monkeypatch.chdir(tmp_path)
    for step in steps:
        res = CliRunner().invoke(cli, step[1:])
        assert res.exit_code == 0, (step, res.stdout, res.stderr)
    assert "lumpcheck.claim" in res.stdout and "lumpcheck.domain" in res.stdout and "lumpcheck.certificate" in res.stdout


def test_approximate_models_keep_the_interface_and_say_they_are_approximate(tmp_path):
    src = source_model(tmp_path / "src.onnx")
    box = tmp_path / "box.vnnlib"
    box.write_text("\n".join([f"(declare-const X_{i} Real)" for i in range(6)] + ["(declare-const Y_0 Real)"]
                             + [f"(assert (>= X_{i} -1))\n(assert (<= X_{i} 1))" for i in range(6)]) + "\n")
    out = tmp_path / "approx.onnx"
    res = CliRunner().invoke(cli, ["approx", str(src), "--domain", str(box), "-t", "0.1", "-o", str(out), "--samples", "20"])
    assert res.exit_code == 0, res.output
    assert interface(out) == interface(src)
    marker = marker_of(load_model(out).meta)
    assert marker.claim.startswith("APPROXIMATES src.onnx") and marker.only_on_box and marker.domain_parts()[3]
