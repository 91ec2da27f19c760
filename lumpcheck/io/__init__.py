"""Model readers and writers, chosen by file extension (torch and h5py themselves load only when a .pt or .h5 file
is read or written)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelFormatError, UnsupportedModelError
from ..ir.network import Network
from ..ir.rounding import RoundingReport
from .keras import read_keras
from .nnet import read_nnet, write_nnet
from .onnx import read_onnx, write_onnx
from .torch import read_torch, save_torch

READABLE = (".onnx", ".nnet", ".pt", ".pth", ".h5", ".hdf5")


def load_model(path: str | Path, arch: list[str] | None = None) -> Network:
    """Read .onnx, .nnet, PyTorch (.pt/.pth) or Keras (.h5) into the exact IR; one-line LumpcheckError on bad input.

    `arch` lists the activations after each Linear of a PyTorch state_dict (e.g. ["relu", "identity"]).
    """
    p = Path(path)
    if not p.exists():
        raise ModelFormatError("no such file", str(p))
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        return read_onnx(p)
    if suffix == ".nnet":
        return read_nnet(p)
    if suffix in (".pt", ".pth"):
        return read_torch(p, arch)
    if suffix in (".h5", ".hdf5"):
        return read_keras(p)
    raise UnsupportedModelError(f"unknown model format {suffix!r} (lumpcheck reads {', '.join(READABLE)})", str(p))


def save_model(net: Network, path: str | Path, dtype: str = "float32") -> RoundingReport | None:
    """Write the network as .onnx/.pt (float32 or float64) or .nnet, atomically; returns the rounding report."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        return write_onnx(net, p, dtype=dtype)
    if suffix == ".nnet":
        write_nnet(net, p)
        return None
    if suffix in (".pt", ".pth"):
        return save_torch(net, p, dtype)
    raise UnsupportedModelError(f"cannot write format {suffix!r} (use .onnx, .nnet or .pt)", str(p))
