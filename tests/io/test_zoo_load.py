"""Acceptance: every public model in ../shared/zoo loads or is refused with a one-line error (skips without the zoo).

Run with `-rA` or `-s` to see the per-file LOADED/REJECTED lines.
"""

from __future__ import annotations

import importlib.util
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from lumpcheck.errors import LumpcheckError, ModelFormatError, UnsupportedModelError
from lumpcheck.io import load_model
from lumpcheck.ir.network import Network

from test_onnx_io import raw_float

pytestmark = pytest.mark.zoo

ONNX = "marabou/resources/onnx"
ERAN = "vnncomp2021/benchmarks/eran/nets"
LEAKY_01 = f"leaky_relu({Fraction(float(np.float32(0.1)))})"


@lru_cache(maxsize=None)
def load(path: Path) -> Network:
    return load_model(path)


def agrees_with_onnxruntime(path: Path, net: Network, samples: int = 2) -> None:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    batch = shape[0] if len(shape) >= 2 else 1  # axis 0 of a rank >= 2 input is the batch
    rng = np.random.default_rng(0)
    for _ in range(samples):
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        expected = session.run(None, {inp.name: x})[0].reshape(batch, -1)
        got = raw_float(net, x.reshape(batch, -1).astype(np.float64))  # with the normalisation (ERAN's Sub/Div)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_every_zoo_model_loads_or_is_rejected_in_one_line(zoo_model: Path) -> None:
    if zoo_model.suffix == ".nnet" and importlib.util.find_spec("lumpcheck.io.nnet") is None:
        pytest.skip("lumpcheck/io/nnet.py not written yet")
    try:
        net = load(zoo_model)
    except LumpcheckError as e:
        message = str(e)
        assert "\n" not in message and message == e.one_line()
        assert e.path and Path(e.path).name == zoo_model.name and e.where, f"error does not say where: {message}"
        print(f"REJECTED {message}")
        return
    assert net.param_count > 0 and net.source
    if zoo_model.suffix == ".onnx":
        agrees_with_onnxruntime(zoo_model, net)
    print(f"LOADED {zoo_model.name}: {net.shape_str()} {[str(layer.activation) for layer in net.layers]}")


def test_acas_xu_onnx_nets(zoo: Path) -> None:
    files = sorted((zoo / ONNX / "acasxu").glob("*.onnx"))
    assert len(files) == 45
    for path in files:
        net = load(path)
        assert (net.shape_str(), net.param_count) == ("5-50x6-5", 13305), path.name
        assert [layer.activation.kind for layer in net.layers] == ["relu"] * 6 + ["identity"], path.name
    for path in files[::11]:
        agrees_with_onnxruntime(path, load(path))


@pytest.mark.parametrize("hidden", [2, 4, 6])
def test_mnist_fc_nets(zoo: Path, hidden: int) -> None:
    path = zoo / f"vnncomp2021/benchmarks/mnistfc/mnist-net_256x{hidden}.onnx"
    net = load(path)
    assert net.shape_str() == f"784-256x{hidden}-10"
    assert [layer.activation.kind for layer in net.layers] == ["relu"] * hidden + ["identity"]
    agrees_with_onnxruntime(path, net)


def test_eran_relu_net_keeps_its_output_relu(zoo: Path) -> None:
    path = zoo / ERAN / "mnist_relu_9_200.onnx"
    net = load(path)
    assert net.shape_str() == "784-200x8-10" and [layer.activation.kind for layer in net.layers] == ["relu"] * 9
    agrees_with_onnxruntime(path, net)


@pytest.mark.parametrize(
    "name,activations",
    [
        (f"{ONNX}/fc_2-2sigmoids-3.onnx", ["sigmoid", "identity"]),
        (f"{ONNX}/mnist2x5_sigmoid.onnx", ["sigmoid"] * 2 + ["identity"]),
        (f"{ONNX}/robust_model_sigmoid_linear.onnx", ["sigmoid"] * 2 + ["identity"]),
        (f"{ONNX}/tanh_test.onnx", ["identity", "tanh", "tanh", "identity", "tanh"]),
        (f"{ONNX}/mnist5x20_leaky_relu.onnx", [LEAKY_01] * 6 + ["identity"]),
        (f"{ONNX}/layer-zoo/sigmoid.onnx", ["sigmoid"]),
        (f"{ONNX}/layer-zoo/tanh.onnx", ["tanh"]),
        (f"{ONNX}/layer-zoo/leakyRelu.onnx", [f"leaky_relu({Fraction(float(np.float32(0.05)))})"]),
        (f"{ERAN}/ffnnSIGMOID__Point_6x200.onnx", ["sigmoid"] * 6 + ["identity"]),
    ],
)
def test_smooth_and_leaky_nets(zoo: Path, name: str, activations: list[str]) -> None:
    path = zoo / name
    net = load(path)
    assert [str(layer.activation) for layer in net.layers] == activations
    agrees_with_onnxruntime(path, net)


@pytest.mark.parametrize(
    "name,error,fragment",
    [
        (f"{ONNX}/layer-zoo/conv.onnx", UnsupportedModelError, "(Conv): unsupported op"),
        (f"{ONNX}/softmax-last-layer.onnx", UnsupportedModelError, "node 7 'Softmax_7' (Softmax)"),
        (f"{ONNX}/linear2-3_bn1-linear3-1.onnx", UnsupportedModelError, "(BatchNormalization)"),
        (f"{ONNX}/multiInput_add.onnx", UnsupportedModelError, "2 data inputs"),
        (f"{ONNX}/layer-zoo/dropout_training_mode_true.onnx", UnsupportedModelError, "training mode"),
        (f"{ONNX}/layer-zoo/squeeze_with_axes.onnx", ModelFormatError, "declared shape [2, 3] but the graph computes"),
    ],
)
def test_known_rejections(zoo: Path, name: str, error: type[LumpcheckError], fragment: str) -> None:
    with pytest.raises(error) as info:
        load(zoo / name)
    assert fragment in str(info.value)
