"""The shared reduce → export → certify flow: what it writes, when it refuses, and that the CLI is a thin layer on it."""

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
import onnx.helper as oh
import pytest
from click.testing import CliRunner

from lumpcheck.apps.cli import cli
from lumpcheck.apps.pipeline import DECIMAL, run_reduction
from lumpcheck.checker import check
from lumpcheck.errors import LumpcheckError
from lumpcheck.io import load_model, save_model
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.network import Layer, Network
from lumpcheck.prove.records import read_certificate, sha256_file

EXAMPLES = Path(__file__).parents[2] / "examples"
PLANTED = EXAMPLES / "planted_relu.onnx"
RANGED = EXAMPLES / "zoo" / "nets" / "ranged.nnet"


def test_reduce_certify_writes_files_that_check(tmp_path):
    out, cert = tmp_path / "small.onnx", tmp_path / "cert.json"
    res = run_reduction(PLANTED, out, cert_path=cert)
    assert res.verdict == "proved" and res.rounding.exact and res.dtype == "float64"
    assert res.reduction.network.widths == load_model(out).widths
    assert res.reduction.network.hidden_neurons < res.reduction.original.hidden_neurons
    doc = read_certificate(cert)
    assert doc.original.sha256 == sha256_file(PLANTED) and doc.reduced.sha256 == sha256_file(out)
    assert check(cert, PLANTED, out).valid


def test_without_certificate_no_proof(tmp_path):
    res = run_reduction(PLANTED, tmp_path / "small.onnx")
    assert res.certificate is None and res.verdict is None and res.cert_path is None
    assert (tmp_path / "small.onnx").is_file()


def test_nnet_to_nnet_keeps_normalisation_and_certifies(tmp_path):
    """Decimal weights are not float64 values, but .nnet holds them exactly: certify, don't refuse."""
    out, cert = tmp_path / "small.nnet", tmp_path / "cert.json"
    res = run_reduction(RANGED, out, cert_path=cert)
    assert res.dtype == DECIMAL and res.rounding.exact and res.verdict == "proved"
    written = load_model(out)
    assert written.normalization == load_model(RANGED).normalization is not None
    assert written.widths[1] < load_model(RANGED).widths[1]
    assert check(cert, RANGED, out).valid


def test_onnx_keeps_normalisation_and_certifies_pytorch_needs_a_choice(tmp_path):
    out, cert = tmp_path / "small.onnx", tmp_path / "cert.json"
    assert run_reduction(RANGED, out, cert_path=cert).verdict == "proved"
    assert load_model(out).normalization == load_model(RANGED).normalization and check(cert, RANGED, out).valid
    with pytest.raises(LumpcheckError, match="--normalization fold"):
        run_reduction(RANGED, tmp_path / "small.pt")
    res = run_reduction(RANGED, tmp_path / "folded.onnx", normalization="fold", cert_path=tmp_path / "folded.json")
    clip = res.reduction.original.normalization  # folding keeps the input clip [-5, 5]^2, and the file holds it
    assert clip.affine_identity and clip.input_min == (-5, -5) and clip.input_max == (5, 5)
    assert load_model(tmp_path / "folded.onnx").normalization == clip
    assert res.verdict == "proved" and check(tmp_path / "folded.json", RANGED, tmp_path / "folded.onnx").valid


def test_refuses_to_certify_a_rounded_export(tmp_path):
    """0.1 is not a float32 value: a float32 export would round, so the file would not be what is proved."""
    relu = Activation("relu")
    net = Network([Layer(np.array([[0.1, 0.2], [0.1, 0.2]]), np.array([0.0, 0.0]), relu), Layer(np.array([[1.0, 1.0]]), np.array([0.0]))])
    src = tmp_path / "m.onnx"
    save_model(net, src, dtype="float64")
    with pytest.raises(LumpcheckError, match="cannot certify strict equality: float32: .*; use --dtype float64, or give an input domain"):
        run_reduction(src, tmp_path / "r.onnx", dtype="float32", cert_path=tmp_path / "c.json")
    assert not (tmp_path / "c.json").exists()
    res = run_reduction(src, tmp_path / "r.onnx", dtype="float32")
    assert not res.rounding.exact and res.rounding.rounded > 0 and res.rounding.max_abs_change > Fraction(0)


def test_domain_is_recorded(tmp_path):
    res = run_reduction(PLANTED, tmp_path / "s.onnx", domain_path=EXAMPLES / "box.vnnlib", cert_path=tmp_path / "c.json")
    assert res.reduction.domain is not None and res.certificate.domain == res.reduction.domain
    assert read_certificate(tmp_path / "c.json").domain.upper[3] == 2


def test_cli_reduce_is_a_thin_wrapper(tmp_path):
    out, cert = tmp_path / "s.onnx", tmp_path / "c.json"
    res = CliRunner().invoke(cli, ["reduce", str(PLANTED), "-o", str(out), "--certify", str(cert)])
    assert res.exit_code == 0, res.output
    assert f"certificate: proved -> {cert}" in res.output and f"wrote {out}" in res.output and "params 323 -> " in res.output
    res = CliRunner().invoke(cli, ["reduce", str(PLANTED), "-o", str(out), "--json"])
    data = json.loads(res.output)
    direct = run_reduction(PLANTED, tmp_path / "t.onnx")
    assert data["params_after"] == direct.reduction.stats.params_after and data["verdict"] is None
    assert data["export"]["dtype"] == direct.dtype


def test_no_float_format_holds_folded_preprocessing(tmp_path):
    """x/3 between layers folded into layer 2 gives weights w/3: no float holds them, so no float64 hint."""
    init = [onnx.numpy_helper.from_array(np.array([3.0], dtype=np.float32), "three"),
            onnx.numpy_helper.from_array(np.array([[1.0, 2.0], [3.0, 5.0]], dtype=np.float32), "w1"),
            onnx.numpy_helper.from_array(np.zeros(2, dtype=np.float32), "b1"),
            onnx.numpy_helper.from_array(np.array([[1.0, 1.0]], dtype=np.float32), "w2"),
            onnx.numpy_helper.from_array(np.zeros(1, dtype=np.float32), "b2")]
    nodes = [oh.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1), oh.make_node("Relu", ["h"], ["a"]),
             oh.make_node("Div", ["a", "three"], ["as"]), oh.make_node("Gemm", ["as", "w2", "b2"], ["y"], transB=1)]
    graph = oh.make_graph(nodes, "div3", [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2])],
                          [oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 1])], init)
    src = tmp_path / "div3.onnx"
    onnx.save(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)]), src)
    with pytest.raises(LumpcheckError, match="no file format holds it exactly") as e:
        run_reduction(src, tmp_path / "r.onnx", cert_path=tmp_path / "c.json")
    assert ".nnet" not in str(e.value)  # w/3 has no finite decimal expansion either: .nnet is no way out


def test_folded_normalisation_without_finite_decimals_is_refused_for_nnet(tmp_path):
    """ranged.nnet divides its inputs by 2 and 4: folded, its weights keep finite decimals and a .nnet holds them.
    With a range of 3 they do not: the refusal names the layer and the options that work, and nothing is written."""
    res = run_reduction(RANGED, tmp_path / "folded.nnet", normalization="fold", cert_path=tmp_path / "f.json")
    assert res.verdict == "proved" and check(tmp_path / "f.json", RANGED, tmp_path / "folded.nnet").valid
    lines = RANGED.read_text().splitlines()
    assert lines[7] == "2,4,10,"  # the ranges line
    thirds = tmp_path / "thirds" / "ranged3.nnet"
    thirds.parent.mkdir()
    thirds.write_text("\n".join(lines[:7] + ["3,4,10,"] + lines[8:]) + "\n")
    for cert in (None, tmp_path / "thirds" / "c.json"):
        with pytest.raises(LumpcheckError, match=r"cannot write a \.nnet exactly: layer 1 weights hold .* "
                                                 r"--normalization keep") as e:
            run_reduction(thirds, tmp_path / "thirds" / "folded.nnet", normalization="fold", cert_path=cert)
        assert str(tmp_path / "thirds" / "folded.nnet") in str(e.value)
        assert sorted(p.name for p in thirds.parent.iterdir()) == ["ranged3.nnet"]
    box = tmp_path / "box.vnnlib"  # on a box too: the unfolded domain reduction still carries the folded map
    box.write_text("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(assert (<= X_0 1))\n(assert (>= X_0 -1))\n"
                   "(assert (<= X_1 1))\n(assert (>= X_1 -1))\n")
    with pytest.raises(LumpcheckError, match=r"cannot write a \.nnet exactly"):
        run_reduction(thirds, tmp_path / "thirds" / "folded.nnet", normalization="fold", domain_path=box)
    res = run_reduction(thirds, tmp_path / "thirds" / "kept.nnet", cert_path=tmp_path / "thirds" / "k.json")
    assert res.verdict == "proved" and check(tmp_path / "thirds" / "k.json", thirds, tmp_path / "thirds" / "kept.nnet").valid


def test_released_original_writes_the_same_file_and_a_certificate_keeps_it(tmp_path):
    """keep_original=False (the CLI's choice: peak memory) writes the same bytes and reports the same shapes; with a
    certificate asked for, the original is kept whole (the proof needs it) and the proof holds."""
    kept = run_reduction(PLANTED, tmp_path / "kept.onnx")
    source = load_model(PLANTED)
    released = run_reduction(PLANTED, tmp_path / "released.onnx", source=source, keep_original=False)
    assert (tmp_path / "released.onnx").read_bytes() == (tmp_path / "kept.onnx").read_bytes()
    assert released.rounding == kept.rounding and source.layers == []
    assert released.reduction.original == kept.reduction.original.outline()
    assert released.reduction.original.shape_str() == kept.reduction.original.shape_str()
    source = load_model(PLANTED)
    certified = run_reduction(PLANTED, tmp_path / "c.onnx", cert_path=tmp_path / "c.json", source=source,
                              keep_original=False)
    assert certified.verdict == "proved" and isinstance(certified.reduction.original, Network)
    assert source.layers and check(tmp_path / "c.json", PLANTED, tmp_path / "c.onnx").valid
