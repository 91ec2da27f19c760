"""Issue 13.8: human-readable output in words, not Python reprs; options that would be ignored are refused; error
messages name command-line flags, not Python functions; no empty lines of nothing."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lumpcheck.apps.cli import cli
from lumpcheck.apps.console import EXIT_USAGE
from lumpcheck.errors import LumpcheckError
from lumpcheck.io import save_model
from lumpcheck.ir.activation import RELU
from lumpcheck.ir.network import Layer, Network
from lumpcheck.ir.normalization import Normalization

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REPR = re.compile(r"\{'|'\s*:\s|\[\d+(, \d+)+\]")
"""A dict repr ({'a': …}) or a list-of-ints repr ([11, 8])."""


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_verify_counterexample_output_has_no_reprs_and_a_full_times_line():
    res = run("verify", EXAMPLES / "planted_relu.onnx", EXAMPLES / "near_miss_relu.onnx", "--timeout", "30")
    assert res.exit_code == 1, res.output
    assert "onnxruntime (float, informative) B(x) ≈ [" in res.output
    assert not REPR.search(res.output), res.output
    times = [line for line in res.output.splitlines() if line.startswith("times:")]
    assert len(times) == 1 and times[0].strip() != "times:"


def test_verify_never_prints_an_empty_times_line(tmp_path):
    other = tmp_path / "other.onnx"
    save_model(Network([Layer(np.ones((1, 2)), np.zeros(1))]), other, dtype="float64")
    res = run("verify", EXAMPLES / "planted_relu.onnx", other)  # input sizes differ: decided before any engine runs
    assert "error" in res.output
    assert all(line.strip() != "times:" for line in res.output.splitlines()), res.output


def test_approx_output_has_no_reprs(tmp_path):
    res = run("approx", EXAMPLES / "planted_relu.onnx", "--domain", EXAMPLES / "box.vnnlib", "-t", "0.05", "-o",
              tmp_path / "a.onnx", "--samples", "50")
    assert res.exit_code == 0, res.output
    assert "per layer: 16 -> " in res.output and not REPR.search(res.output), res.output


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_with_a_nnet_output_is_refused_naming_the_option(tmp_path, dtype):
    net = Network([Layer(np.array([[1.0], [2.0]]), np.zeros(2), RELU), Layer(np.array([[1.0, 1.0]]), np.zeros(1))])
    save_model(net, tmp_path / "a.nnet")
    res = run("reduce", tmp_path / "a.nnet", "-o", tmp_path / "b.nnet", "--dtype", dtype)
    assert res.exit_code == EXIT_USAGE and f"--dtype {dtype} does not apply to a .nnet output" in res.output
    assert not (tmp_path / "b.nnet").exists()
    assert run("reduce", tmp_path / "a.nnet", "-o", tmp_path / "b.nnet").exit_code == 0  # auto: fine


def test_normalisation_into_pytorch_names_the_flags_not_a_python_function(tmp_path):
    pytest.importorskip("torch")
    norm = Normalization((0,), (2,), (0,), (1,))
    net = Network([Layer(np.array([[1.0]]), np.zeros(1))], norm)
    with pytest.raises(LumpcheckError) as e:
        save_model(net, tmp_path / "x.pt")
    assert "--normalization fold" in str(e.value) and "fold_normalization" not in str(e.value)


@pytest.mark.parametrize("name", ["out.foo", "out"])
def test_an_output_format_reduce_cannot_write_is_refused_naming_the_users_file(tmp_path, name):
    """Asked before any work: the message names -o as given (not the staged temporary file) and nothing is left."""
    res = run("reduce", EXAMPLES / "planted_relu.onnx", "-o", tmp_path / name)
    assert res.exit_code != 0 and res.exit_code != 70
    assert f"{tmp_path / name}: cannot write format" in res.output, res.output
    assert list(tmp_path.iterdir()) == []
