"""Issue 13.3: gzipped inputs as VNN-COMP ships them (.onnx.gz, .vnnlib.gz, also .nnet.gz) read transparently;
a corrupt .gz is a one-line error naming the file (exit 2), not a raw codec error."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lumpcheck.apps.cli import cli
from lumpcheck.errors import ModelFormatError
from lumpcheck.io import load_model, save_model
from lumpcheck.io.vnnlib import read_box
from lumpcheck.ir.activation import RELU
from lumpcheck.ir.network import Layer, Network

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def gzipped(src: Path, dst: Path) -> Path:
    dst.write_bytes(gzip.compress(src.read_bytes()))
    return dst


def same(a: Network, b: Network) -> bool:
    return a.widths == b.widths and all(np.array_equal(x.weight, y.weight) and np.array_equal(x.bias, y.bias)
                                        for x, y in zip(a.layers, b.layers))


def test_format_suffix_looks_through_gz():
    from lumpcheck.io.compressed import format_suffix  # (here: the other tests run, and fail, on a checkout without it)

    assert [format_suffix(p) for p in ("a.onnx.gz", "b.VNNLIB.GZ", "c.nnet", "d.gz", "e")] == [".onnx", ".vnnlib", ".nnet", "", ""]


def test_gzipped_models_and_boxes_read_as_the_plain_files(tmp_path):
    onnx_gz = gzipped(EXAMPLES / "planted_relu.onnx", tmp_path / "m.onnx.gz")
    assert same(load_model(onnx_gz), load_model(EXAMPLES / "planted_relu.onnx"))
    net = Network([Layer(np.array([[0.5, -1.0]]), np.array([0.25]), RELU), Layer(np.array([[2.0]]), np.array([0.0]))])
    save_model(net, tmp_path / "n.nnet")
    assert same(load_model(gzipped(tmp_path / "n.nnet", tmp_path / "n.nnet.gz")), load_model(tmp_path / "n.nnet"))
    box_gz = gzipped(EXAMPLES / "box.vnnlib", tmp_path / "box.vnnlib.gz")
    plain, packed = read_box(EXAMPLES / "box.vnnlib"), read_box(box_gz)
    assert (packed.lower, packed.upper, packed.output_constraints) == (plain.lower, plain.upper, plain.output_constraints)


def test_reduce_certify_check_on_gzipped_vnncomp_files(tmp_path):
    onnx_gz = gzipped(EXAMPLES / "planted_relu.onnx", tmp_path / "m.onnx.gz")
    box_gz = gzipped(EXAMPLES / "box.vnnlib", tmp_path / "box.vnnlib.gz")
    run = CliRunner().invoke
    res = run(cli, ["reduce", str(onnx_gz), "-o", str(tmp_path / "s.onnx"), "--domain", str(box_gz), "--certify",
                    str(tmp_path / "c.json")])
    assert res.exit_code == 0, res.output
    res = run(cli, ["check", str(tmp_path / "c.json"), str(onnx_gz), str(tmp_path / "s.onnx")])
    assert res.exit_code == 0 and "valid" in res.output, res.output
    assert run(cli, ["info", str(onnx_gz), "--domain", str(box_gz)]).exit_code == 0


@pytest.mark.parametrize("name", ["bad.onnx.gz", "bad.vnnlib.gz", "bad.nnet.gz"])
def test_a_corrupt_gz_is_a_one_line_error(tmp_path, name):
    bad = tmp_path / name
    bad.write_bytes(b"\x1f\x8b\x08\x00 truncated")
    with pytest.raises(ModelFormatError, match="not a readable gzip file"):
        read_box(bad) if "vnnlib" in name else load_model(bad)
    args = ["info", str(EXAMPLES / "planted_relu.onnx"), "--domain", str(bad)] if "vnnlib" in name else ["info", str(bad)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2 and name in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_an_unnamed_gzip_file_gets_a_hint(tmp_path):
    hidden = tmp_path / "prop.vnnlib"
    shutil.copy(gzipped(EXAMPLES / "box.vnnlib", tmp_path / "x.gz"), hidden)
    with pytest.raises(ModelFormatError, match="name it .gz"):
        read_box(hidden)
