"""Keras HDF5 models (.h5) read with h5py alone, no TensorFlow: Sequential models of Dense layers.

The file's `model_config` attribute (JSON) gives the layer order and activations; `model_weights/<layer>`
holds each layer's arrays, named by the group's `weight_names` attribute. Both the Keras 1 layout (config a
list, `output_dim`, weights `dense_1_W`) and Keras 2/3 (config `{"layers": [...]}`, `units`, `kernel:0`) are
read. Kernels are stored (in, out); float32 values are taken exactly. h5py is imported lazily
(`pip install lumpcheck[keras]`).
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LumpcheckError, ModelFormatError, UnsupportedModelError
from ..ir.activation import IDENTITY, Activation
from ..ir.network import Layer, Network
from ..ir.rounding import nearest_float32

_ACTIVATIONS = {"linear": "identity", "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}
_PASS_THROUGH = ("InputLayer", "Dropout", "Flatten")


def _h5py():
    try:
        import h5py
    except ImportError:
        raise LumpcheckError("Keras .h5 support needs h5py: pip install 'lumpcheck[keras]'") from None
    return h5py


def read_keras(path: str | Path) -> Network:
    """The exact IR of a Keras Sequential .h5 model of Dense (+ Activation/ReLU/LeakyReLU/Dropout/Flatten) layers."""
    h5py = _h5py()
    p = Path(path)
    if not p.is_file():
        raise ModelFormatError("no such file", str(p))
    if not h5py.is_hdf5(str(p)):
        raise ModelFormatError("not an HDF5 file (a Keras 3 .keras archive? save with model.save('m.h5'))", str(p))
    with h5py.File(str(p), "r") as f:
        layers_config = _layers_config(f, str(p))
        if "model_weights" not in f:
            raise ModelFormatError("no 'model_weights' group", str(p))
        dtypes: set[str] = set()
        layers = _read_layers(layers_config, f["model_weights"], str(p), dtypes)
        dtype = "float32" if dtypes <= {"float16", "float32"} else "float64"
        meta = {"format": "keras-h5", "keras_version": _text(f.attrs.get("keras_version", "")), "dtype": dtype}
    if not layers:
        raise UnsupportedModelError("no Dense layer found", str(p))
    return Network(layers, source=str(p), meta=meta)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _layers_config(f, path: str) -> list[dict]:
    """The Sequential model's layer list from the `model_config` JSON attribute."""
    if "model_config" not in f.attrs:
        raise ModelFormatError(
            "no 'model_config' attribute: a weights-only file (model.save_weights)? save the whole model "
            "with model.save('m.h5')",
            path,
        )
    try:
        config = json.loads(_text(f.attrs["model_config"]))
    except json.JSONDecodeError as e:
        raise ModelFormatError(f"model_config is not valid JSON: {e}", path) from None
    if config.get("class_name") != "Sequential":
        raise UnsupportedModelError(
            f"a {config.get('class_name')!r} model; lumpcheck reads Keras Sequential models", path, "model_config"
        )
    inner = config.get("config")
    layers = inner if isinstance(inner, list) else (inner or {}).get("layers")  # Keras 1: a bare list
    if not isinstance(layers, list):
        raise ModelFormatError("model_config has no layer list", path, "model_config")
    return layers


def _read_layers(layers_config: list[dict], weights, path: str, dtypes: set[str]) -> list[Layer]:
    """Dense layers with their activations; pass-through layers skipped, anything else refused by name. The
    stored float types are added to `dtypes`."""
    out: list[Layer] = []
    for entry in layers_config:
        kind, config = entry.get("class_name"), entry.get("config") or {}
        name = config.get("name", "?")
        where = f"layer '{name}' ({kind})"
        if kind == "Dense":
            weight, bias = _dense_weights(weights, name, config, path, where, dtypes)
            out.append(Layer(weight, bias, _activation(config.get("activation", "linear"), path, where)))
        elif kind in ("Activation", "ReLU", "LeakyReLU"):
            if not out or out[-1].activation is not IDENTITY:
                raise UnsupportedModelError("an activation must follow a linear Dense layer", path, where)
            out[-1] = Layer(out[-1].weight, out[-1].bias, _activation_layer(kind, config, path, where))
        elif kind == "Flatten" and config.get("data_format") == "channels_first":
            raise UnsupportedModelError("Flatten with data_format channels_first reorders inputs", path, where)
        elif kind not in _PASS_THROUGH:
            raise UnsupportedModelError(
                "unsupported layer (lumpcheck reads Dense, Activation, ReLU, LeakyReLU, Dropout, Flatten, InputLayer)",
                path,
                where,
            )
    for i in range(1, len(out)):
        if out[i].in_features != out[i - 1].out_features:
            raise ModelFormatError(f"Dense layer {i} takes {out[i].in_features} inputs, not {out[i - 1].out_features}", path)
    return out


def _activation(name: Any, path: str, where: str) -> Activation:
    kind = _ACTIVATIONS.get(name if isinstance(name, str) else json.dumps(name))
    if kind is None:
        raise UnsupportedModelError(f"activation {name!r} (supported: {', '.join(_ACTIVATIONS)})", path, where)
    return IDENTITY if kind == "identity" else Activation(kind)


def _activation_layer(kind: str, config: dict, path: str, where: str) -> Activation:
    """An Activation/ReLU/LeakyReLU layer; Keras computes in float32, so a slope is its float32 value."""
    if kind == "Activation":
        return _activation(config.get("activation"), path, where)
    if kind == "ReLU" and (config.get("max_value") is not None or float(config.get("threshold", 0) or 0) != 0):
        raise UnsupportedModelError("ReLU with max_value or threshold", path, where)
    default = 0.3 if kind == "LeakyReLU" else 0.0
    slope = config.get("negative_slope", config.get("alpha", default))
    slope = default if slope is None else float(slope)
    if slope == 0:
        return Activation("relu")
    return Activation("leaky_relu", Fraction(nearest_float32(Fraction(slope))))


def _dense_weights(
    weights, name: str, config: dict, path: str, where: str, dtypes: set[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(weight (out, in), bias) of a Dense layer: the 2-D kernel transposed and the 1-D bias (zeros if unused)."""
    if name not in weights:
        raise ModelFormatError("has no weights in 'model_weights'", path, where)
    group = weights[name]
    arrays = [_array(group, _text(n), path, where, dtypes) for n in group.attrs.get("weight_names", [])]
    kernels = [a for a in arrays if a.ndim == 2]
    biases = [a for a in arrays if a.ndim == 1]
    if len(kernels) != 1 or len(biases) > 1 or len(arrays) != len(kernels) + len(biases):
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise ModelFormatError(f"expected a 2-D kernel and at most one bias, found arrays of shapes {shapes}", path, where)
    weight = kernels[0].T
    use_bias = config.get("use_bias", config.get("bias", True))
    if biases:
        bias = biases[0]
    elif use_bias:
        raise ModelFormatError("the config says use_bias but no bias array is stored", path, where)
    else:
        bias = np.zeros(weight.shape[0])
    if bias.shape != (weight.shape[0],):
        raise ModelFormatError(f"bias of shape {bias.shape} for a kernel of shape {kernels[0].shape}", path, where)
    return weight, bias


def _array(group, name: str, path: str, where: str, dtypes: set[str]) -> np.ndarray:
    """One stored weight array as exact float64 (float16/32/64 widen exactly)."""
    if name not in group:
        raise ModelFormatError(f"weight '{name}' listed but not stored", path, where)
    data = group[name][()]
    if data.dtype.kind != "f":
        raise UnsupportedModelError(f"weight '{name}' has dtype {data.dtype} (only floats are read)", path, where)
    dtypes.add(str(data.dtype))
    arr = np.asarray(data, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ModelFormatError(f"weight '{name}' contains NaN or Inf", path, where)
    return arr
