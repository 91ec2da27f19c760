"""Keras .h5 reading with h5py alone: Keras 1 and 2 layouts, exact weights, refusals that name the layer."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from lumpcheck.errors import ModelFormatError, UnsupportedModelError
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.network import evaluate_float

h5py = pytest.importorskip("h5py")

from lumpcheck.io.keras import read_keras  # noqa: E402

ZOO = Path(__file__).parents[2].parent / "shared" / "zoo"


def zoo_file(*parts: str) -> Path:
    path = ZOO.joinpath(*parts)
    if not path.is_file():
        pytest.skip("../shared/zoo not found: zoo acceptance tests need the shared model zoo beside the repo")
    return path


def write_keras2(path: Path, layers: list[tuple[str, dict, list[np.ndarray]]], class_name: str = "Sequential") -> None:
    """A Keras 2 style .h5: config {'layers': [...]}, weights under model_weights/<name>/<name>/kernel:0."""
    entries = [{"class_name": k, "config": c} for k, c, _ in layers]
    config = {"class_name": class_name, "config": {"name": "m", "layers": entries}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config).encode()
        f.attrs["keras_version"] = b"2.2.4-tf"
        group = f.create_group("model_weights")
        for _, cfg, arrays in layers:
            g = group.create_group(cfg["name"])
            names = [f"{cfg['name']}/{'kernel' if a.ndim == 2 else 'bias'}:0" for a in arrays]
            for name, a in zip(names, arrays):
                g.create_dataset(name, data=a)
            g.attrs["weight_names"] = np.array([n.encode() for n in names])


def dense(name: str, units: int, activation: str = "linear", use_bias: bool = True) -> dict:
    return {"name": name, "units": units, "activation": activation, "use_bias": use_bias}


def f32(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def test_keras2_dense_chain_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    k1, b1, k2, b2, k3 = f32(rng, (6, 5)), f32(rng, 5), f32(rng, (5, 4)), f32(rng, 4), f32(rng, (4, 2))
    layers = [
        ("InputLayer", {"name": "in", "batch_input_shape": [None, 2, 3]}, []),
        ("Flatten", {"name": "flat", "data_format": "channels_last"}, []),
        ("Dense", dense("d1", 5), [k1, b1]),
        ("Activation", {"name": "act", "activation": "tanh"}, []),
        ("Dropout", {"name": "drop", "rate": 0.5}, []),
        ("Dense", dense("d2", 4), [k2, b2]),
        ("LeakyReLU", {"name": "leaky", "alpha": 0.3}, []),
        ("Dense", dense("d3", 2, "sigmoid", use_bias=False), [k3]),
    ]
    write_keras2(tmp_path / "m.h5", layers)
    net = read_keras(tmp_path / "m.h5")
    assert net.widths == [6, 5, 4, 2]
    assert [layer.activation for layer in net.layers] == [
        Activation("tanh"),
        Activation("leaky_relu", Fraction(float(np.float32(0.3)))),  # Keras computes in float32
        Activation("sigmoid"),
    ]
    assert np.array_equal(net.layers[0].weight, k1.T.astype(np.float64))
    assert not net.layers[2].bias.any()
    x = rng.standard_normal((7, 6))
    h = np.tanh(x @ k1 + b1)
    z = h @ k2 + b2
    h = np.where(z >= 0, z, np.float32(0.3) * z)
    assert np.allclose(evaluate_float(net, x), 1 / (1 + np.exp(-(h @ k3))), atol=1e-12)


def test_keras1_layout(tmp_path: Path) -> None:
    """Keras 1: config is a bare list, `output_dim`, and weights named dense_1_W / dense_1_b."""
    rng = np.random.default_rng(1)
    w, b = f32(rng, (3, 2)), f32(rng, 2)
    layer = {"name": "dense_1", "output_dim": 2, "activation": "relu", "bias": True}
    config = {"class_name": "Sequential", "config": [{"class_name": "Dense", "config": layer}]}
    with h5py.File(tmp_path / "k1.h5", "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        g = f.create_group("model_weights").create_group("dense_1")
        g.create_dataset("dense_1_W", data=w)
        g.create_dataset("dense_1_b", data=b)
        g.attrs["weight_names"] = np.array([b"dense_1_W", b"dense_1_b"])
    net = read_keras(tmp_path / "k1.h5")
    assert net.layers[0].activation == Activation("relu")
    assert np.array_equal(net.layers[0].bias, b.astype(np.float64))


@pytest.mark.parametrize(
    "layers, where, match",
    [
        ([("Conv2D", {"name": "c1"}, [])], "layer 'c1' (Conv2D)", "unsupported layer"),
        ([("Dense", dense("d", 2, "softmax"), [np.ones((3, 2), np.float32), np.zeros(2, np.float32)])], "layer 'd' (Dense)",
         "softmax"),
        ([("ReLU", {"name": "r"}, [])], "layer 'r' (ReLU)", "must follow"),
        ([("Dense", dense("d", 2), [np.ones((3, 2), np.float32)])], "layer 'd' (Dense)", "no bias array"),
    ],
)
def test_refusals_name_the_layer(tmp_path: Path, layers, where: str, match: str) -> None:
    write_keras2(tmp_path / "bad.h5", layers)
    with pytest.raises((UnsupportedModelError, ModelFormatError), match=match) as e:
        read_keras(tmp_path / "bad.h5")
    assert e.value.where == where


def test_functional_weights_only_and_non_hdf5_files(tmp_path: Path) -> None:
    write_keras2(tmp_path / "f.h5", [], class_name="Functional")
    with pytest.raises(UnsupportedModelError, match="Sequential"):
        read_keras(tmp_path / "f.h5")
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.attrs["layer_names"] = np.array([b"dense"])
    with pytest.raises(ModelFormatError, match="weights-only"):
        read_keras(tmp_path / "w.h5")
    (tmp_path / "m.keras").write_bytes(b"PK\x03\x04 zip")
    with pytest.raises(ModelFormatError, match="not an HDF5 file"):
        read_keras(tmp_path / "m.keras")


def test_zoo_keras1_dense_network() -> None:
    path = zoo_file("sisl-nnet", "nnet", "KerasTestNetwork.h5")
    net = read_keras(path)
    assert net.shape_str() == "5-45x6-5"
    assert [layer.activation.kind for layer in net.layers] == ["relu"] * 6 + ["identity"]
    with h5py.File(path, "r") as f:
        kernel = f["model_weights/dense_7/dense_7_W"][()]
    assert np.array_equal(net.layers[-1].weight, kernel.T.astype(np.float64))


def test_zoo_conv_model_refused_naming_the_layer() -> None:
    with pytest.raises(UnsupportedModelError) as e:
        read_keras(zoo_file("marabou", "resources", "keras", "cnn_max_mnist2.h5"))
    assert e.value.where == "layer 'conv2d_14' (Conv2D)"


@pytest.mark.parametrize(
    "h5, onnx_name",
    [("fc_2-2sigmoids-3.h5", "fc_2-2sigmoids-3.onnx"), ("robust_mnist_sigmoid_linear.h5", "robust_model_sigmoid_linear.onnx")],
)
def test_zoo_keras_equals_its_onnx_export(h5: str, onnx_name: str) -> None:
    from lumpcheck.io import load_model
    from lumpcheck.ir.exact import exact_equal

    a = read_keras(zoo_file("marabou", "resources", "keras", h5))
    b = load_model(zoo_file("marabou", "resources", "onnx", onnx_name))
    assert a.widths == b.widths
    for la, lb in zip(a.layers, b.layers):
        assert la.activation == lb.activation
        assert exact_equal(la.weight, lb.weight) and exact_equal(la.bias, lb.bias)
