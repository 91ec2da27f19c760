"""PyTorch in and out: an nn.Sequential of dense layers, or a state_dict plus its architecture.

Files are opened only with `torch.load(weights_only=True)`, which unpickles tensors and plain containers and
never runs code from the file; a pickled full module is refused with a hint to save its state_dict. A float32
or float64 tensor's values are dyadic rationals, so weights are taken exactly (as float64). torch is imported
lazily: the core package never needs it (`pip install lumpcheck[torch]`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LumpcheckError, ModelFormatError, UnsupportedModelError
from ..ir.activation import IDENTITY, Activation
from ..ir.exact import to_fraction
from ..ir.network import Layer, Network
from ..ir.rounding import RoundingReport, nearest_float32, round_network
from .atomic import write_bytes_atomic

if TYPE_CHECKING:
    import torch

class ArchitectureNeeded(ModelFormatError):
    """A PyTorch state_dict was given without its architecture (the command line's --arch, `arch=` in Python)."""


FORMAT = "lumpcheck-torch"  # marker of the self-describing files `save_torch` writes
_PASS_THROUGH = ("Identity", "Dropout", "Flatten")
_ACTIVATION_MODULES = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "Sigmoid": "sigmoid", "Tanh": "tanh"}
_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")
_SAVE_HINT = (
    "save the weights instead: torch.save(model.state_dict(), path), then read them with the architecture "
    "(the nn.Sequential to load into, or the activation after each Linear, e.g. relu,relu,identity)"
)


def _torch():
    """The torch module, or a one-line error telling how to install it."""
    try:
        import torch
    except ImportError:
        raise LumpcheckError("PyTorch support needs torch: pip install 'lumpcheck[torch]'") from None
    return torch


def read_torch(source: Any, arch: Any = None) -> Network:
    """The exact IR of an nn.Sequential, a state_dict (+ `arch`), or a .pt/.pth file holding either.

    `arch` is an nn.Sequential to load the state_dict into, or the activation after each Linear layer
    ('relu', 'leaky_relu(1/100)', 'sigmoid', 'tanh', 'identity', or Activation objects). Files written by
    `save_torch` carry their activations and need no `arch`.
    """
    torch = _torch()
    path = None
    if isinstance(source, (str, Path)):
        path = str(source)
        source = _load(torch, Path(source))
    if isinstance(source, torch.nn.Module):
        return _from_module(torch, source, path or f"torch:{type(source).__name__}")
    if isinstance(source, Mapping):
        return _from_mapping(torch, source, arch, path or "torch:state_dict")
    raise UnsupportedModelError(
        f"expected an nn.Sequential, a state_dict or a file holding one, got {type(source).__name__}", path
    )


def _load(torch, p: Path) -> Any:
    """torch.load with weights_only=True; every failure becomes a one-line ModelFormatError."""
    if not p.is_file():
        raise ModelFormatError("no such file", str(p))
    try:
        with warnings.catch_warnings():  # torch warns before refusing TorchScript; the refusal says it all
            warnings.simplefilter("ignore")
            return torch.load(str(p), weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - UnpicklingError, RuntimeError (TorchScript), zip errors, ...
        text = str(e)
        if "TorchScript" in text:
            message = f"is a TorchScript archive, which lumpcheck does not execute; {_SAVE_HINT}"
            raise ModelFormatError(message, str(p)) from None
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if found:
            raise ModelFormatError(
                f"holds a pickled {found.group(1)} (a full module?), and lumpcheck loads files only with "
                f"torch.load(weights_only=True), which never runs code from the file; {_SAVE_HINT}",
                str(p),
            ) from None
        reason = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        detail = reason.group(1).strip() if reason else (text.splitlines()[0] if text else type(e).__name__)
        raise ModelFormatError(f"not a readable PyTorch file ({detail})", str(p)) from None


# ---------------------------------------------------------------- nn.Module


def _flat_modules(seq, prefix: str = "") -> list[tuple[str, Any]]:
    """(name, module) of a Sequential's leaves in order, nested Sequentials inlined."""
    out = []
    for name, m in seq.named_children():
        full = f"{prefix}{name}"
        out += _flat_modules(m, f"{full}.") if type(m).__name__ == "Sequential" else [(full, m)]
    return out


def _from_module(torch, module, source: str) -> Network:
    """Linear layers each followed by at most one activation; pass-through modules are skipped."""
    if not isinstance(module, torch.nn.Sequential):
        raise UnsupportedModelError(
            f"{type(module).__name__} is not an nn.Sequential: its forward() order is unknown; pass its state_dict "
            "with the list of activations instead",
            source,
        )
    layers: list[tuple[np.ndarray, np.ndarray, Activation]] = []
    for name, m in _flat_modules(module):
        kind = type(m).__name__
        where = f"module {name} ({kind})"
        if isinstance(m, torch.nn.Linear):
            bias = m.bias if m.bias is not None else torch.zeros(m.out_features, dtype=m.weight.dtype)
            layers.append((_exact(m.weight, source, where), _exact(bias, source, where), IDENTITY))
        elif kind in _ACTIVATION_MODULES:
            if not layers or layers[-1][2] is not IDENTITY:
                raise UnsupportedModelError("an activation must follow a Linear layer (one per layer)", source, where)
            slope = getattr(m, "negative_slope", 0.0)
            activation = _activation(_ACTIVATION_MODULES[kind], slope, _dtype_of(layers))
            layers[-1] = (*layers[-1][:2], activation)
        elif kind == "Flatten" and (m.start_dim, m.end_dim) != (1, -1):
            raise UnsupportedModelError("only Flatten(start_dim=1, end_dim=-1) is supported", source, where)
        elif kind not in _PASS_THROUGH:
            raise UnsupportedModelError(
                "unsupported module (lumpcheck reads Linear, ReLU, LeakyReLU, Sigmoid, Tanh, Flatten, Identity, "
                "Dropout)",
                source,
                where,
            )
    return _network(layers, source, "torch")


def _dtype_of(layers: list[tuple[np.ndarray, np.ndarray, Activation]]) -> str:
    """The float type the preceding Linear was stored in (decides how torch rounds a LeakyReLU slope)."""
    return "float32" if layers and layers[-1][0].dtype == np.float32 else "float64"


def _activation(kind: str, slope: float, dtype: str) -> Activation:
    """LeakyReLU's slope as the kernel uses it: torch casts it to the tensor's dtype."""
    if kind != "leaky_relu":
        return Activation(kind)
    alpha = Fraction(slope)
    return Activation(kind, Fraction(nearest_float32(alpha)) if dtype == "float32" else alpha)


def _exact(tensor, source: str, where: str) -> np.ndarray:
    """A float tensor's exact values (float16/bfloat16/float32 widen exactly); float32 kept as float32 for now."""
    torch = _torch()
    t = tensor.detach().cpu()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.to(torch.float32)  # exact: every half/bfloat16 value is a float32 value
    if t.dtype not in (torch.float32, torch.float64):
        raise UnsupportedModelError(f"parameter of dtype {t.dtype} (only floating-point weights are read)", source, where)
    arr = t.numpy().copy()
    if not np.all(np.isfinite(arr)):
        raise ModelFormatError("parameter contains NaN or Inf", source, where)
    return arr


# ---------------------------------------------------------------- state_dict


def _from_mapping(torch, data: Mapping, arch: Any, source: str) -> Network:
    """A state_dict, a checkpoint dict holding one, or a `save_torch` file."""
    if data.get("format") == FORMAT:
        return _from_state_dict(torch, data["state_dict"], list(data["activations"]), source)
    for key in _CHECKPOINT_KEYS:
        inner = data.get(key)
        if isinstance(inner, (list, tuple)) and len(inner) == 1:
            inner = inner[0]  # e.g. {'state_dict': [OrderedDict]} checkpoints
        if isinstance(inner, Mapping):
            return _from_mapping(torch, inner, arch, source)
    if arch is None:
        raise ArchitectureNeeded(
            "a state_dict does not say which activation follows each Linear layer; pass the architecture "
            "(an nn.Sequential to load into, or a list such as relu,relu,identity)",
            source,
        )
    if isinstance(arch, torch.nn.Module):
        try:
            arch.load_state_dict(_merged_pruning(torch, data, source), strict=True)
        except RuntimeError as e:
            raise ModelFormatError(f"does not fit the given architecture: {str(e).splitlines()[0]}", source) from None
        return _from_module(torch, arch, source)
    return _from_state_dict(torch, data, list(arch), source)


def _merged_pruning(torch, data: Mapping, source: str) -> dict:
    """`torch.nn.utils.prune` state: `<p>_orig` times `<p>_mask` is the pruned parameter (exact: the mask is 0/1)."""
    out = {}
    for key, value in data.items():
        if key.endswith("_mask"):
            continue
        if key.endswith("_orig"):
            base = key[: -len("_orig")]
            mask = data.get(f"{base}_mask")
            if mask is None:
                raise ModelFormatError(f"'{key}' has no matching '{base}_mask'", source)
            if not torch.all((mask == 0) | (mask == 1)):
                raise UnsupportedModelError(f"'{base}_mask' is not a 0/1 mask", source)
            out[base] = torch.where(mask.bool(), value, torch.zeros_like(value))
        else:
            out[key] = value
    return out


def _from_state_dict(torch, data: Mapping, activations: list, source: str) -> Network:
    """Linear layers named by '<prefix>.weight' (2-D) / '<prefix>.bias', in the state_dict's order."""
    params = _merged_pruning(torch, data, source)
    prefixes: list[str] = []
    for key, value in params.items():
        if not isinstance(value, torch.Tensor):
            raise UnsupportedModelError(f"entry '{key}' is a {type(value).__name__}, not a tensor", source)
        prefix, _, leaf = key.rpartition(".")
        if leaf == "weight" and value.dim() == 2:
            prefixes.append(prefix)
        elif not (leaf == "bias" and value.dim() == 1):
            raise UnsupportedModelError(
                f"entry '{key}' (shape {tuple(value.shape)}) is not a Linear weight or bias", source
            )
    biases = {k.rpartition(".")[0] for k in params if k.rpartition(".")[2] == "bias"}
    stray = biases - set(prefixes)
    if stray:
        raise ModelFormatError(f"bias '{sorted(stray)[0]}.bias' has no weight", source)
    if len(activations) != len(prefixes):
        raise ModelFormatError(
            f"{len(prefixes)} Linear layers but {len(activations)} activations were given", source
        )
    layers = []
    for prefix, spec in zip(prefixes, activations):
        where = f"layer '{prefix}'"
        weight = _exact(params[f"{prefix}.weight"], source, where)
        bias_t = params.get(f"{prefix}.bias")
        bias = np.zeros(weight.shape[0], weight.dtype) if bias_t is None else _exact(bias_t, source, where)
        dtype = "float32" if weight.dtype == np.float32 else "float64"
        layers.append((weight, bias, parse_activation(spec, dtype, source)))
    return _network(layers, source, "torch")


def parse_activation(spec: str | Activation, dtype: str = "float64", source: str | None = None) -> Activation:
    """'relu', 'identity'/'linear', 'sigmoid', 'tanh', 'leaky_relu' (slope 0.01) or 'leaky_relu(<exact rational>)'.

    A bare 'leaky_relu' means torch's default slope 0.01 as the kernel uses it (rounded to `dtype`); an explicit
    slope is taken exactly as written.
    """
    if isinstance(spec, Activation):
        return spec
    text = str(spec).strip().lower()
    if text in ("linear", "none", ""):
        text = "identity"
    if text == "leaky_relu":
        return _activation("leaky_relu", 0.01, dtype)
    if text.startswith("leaky_relu(") and text.endswith(")"):
        try:
            return Activation("leaky_relu", to_fraction(text[len("leaky_relu(") : -1].strip()))
        except (ValueError, ZeroDivisionError):
            pass
    try:
        return Activation(text)
    except ValueError as e:
        raise UnsupportedModelError(f"bad activation {spec!r}: {e}", source) from None


def _network(layers: list[tuple[np.ndarray, np.ndarray, Activation]], source: str, fmt: str) -> Network:
    if not layers:
        raise UnsupportedModelError("no Linear layer found", source)
    for i in range(1, len(layers)):
        if layers[i][0].shape[1] != layers[i - 1][0].shape[0]:
            raise ModelFormatError(
                f"layer {i} takes {layers[i][0].shape[1]} inputs but layer {i - 1} gives {layers[i - 1][0].shape[0]}",
                source,
            )
    dtype = "float32" if all(w.dtype == np.float32 and b.dtype == np.float32 for w, b, _ in layers) else "float64"
    net_layers = [Layer(w.astype(np.float64), b.astype(np.float64), act) for w, b, act in layers]
    return Network(net_layers, source=source, meta={"format": fmt, "dtype": dtype})


# ---------------------------------------------------------------- writing


def to_torch(net: Network, dtype: str = "float32") -> tuple["torch.nn.Sequential", RoundingReport]:
    """An nn.Sequential computing `net` with every parameter rounded to `dtype`, and what the rounding changed."""
    rounded, report = _rounded(net, dtype)
    return _sequential(rounded, dtype), report


def save_torch(net: Network, path: str | Path, dtype: str = "float32") -> RoundingReport:
    """Write a self-describing .pt file (state_dict + activations; loads with weights_only=True), atomically."""
    import io

    torch = _torch()
    rounded, report = _rounded(net, dtype)
    data = {
        "format": FORMAT,
        "activations": [str(layer.activation) for layer in rounded.layers],
        "state_dict": _sequential(rounded, dtype).state_dict(),
    }
    buffer = io.BytesIO()
    torch.save(data, buffer)
    write_bytes_atomic(path, buffer.getvalue())
    return report


def _rounded(net: Network, dtype: str) -> tuple[Network, RoundingReport]:
    if net.normalization is not None:
        raise LumpcheckError(
            "the network has input/output normalisation metadata, which an nn.Sequential cannot hold: write .onnx or "
            ".nnet instead, or reduce with --normalization fold (exact, raw inputs and outputs) or --normalization drop "
            "(the layer chain on normalised values)"
        )
    return round_network(net, dtype)


def _sequential(rounded: Network, dtype: str) -> "torch.nn.Sequential":
    """Linear (+ activation) modules holding the already rounded parameters (every value a `dtype` value)."""
    torch = _torch()
    t_dtype = torch.float32 if dtype == "float32" else torch.float64
    modules: list = []
    for layer in rounded.layers:
        linear = torch.nn.Linear(layer.in_features, layer.out_features, dtype=t_dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(layer.weight, dtype=np.float64)))  # a writable copy
            linear.bias.copy_(torch.from_numpy(np.array(layer.bias, dtype=np.float64)))
        modules.append(linear)
        kind = layer.activation.kind
        if kind == "leaky_relu":
            modules.append(torch.nn.LeakyReLU(float(layer.activation.alpha)))
        elif kind != "identity":
            modules.append({"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}[kind]())
    return torch.nn.Sequential(*modules).eval()
