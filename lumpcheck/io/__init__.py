"""Model readers and writers, chosen by file extension."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelFormatError, UnsupportedModelError
from ..ir.network import Network

if TYPE_CHECKING:
    from ..ir.rounding import RoundingReport

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
        from .onnx import read_onnx

        return read_onnx(p)
    if suffix == ".nnet":
        from .nnet import read_nnet

        return read_nnet(p)
    if suffix in (".pt", ".pth"):
        from .torch import read_torch

        return read_torch(p, arch)
    if suffix in (".h5", ".hdf5"):
        from .keras import read_keras

        return read_keras(p)
    raise UnsupportedModelError(f"unknown model format {suffix!r} (lumpcheck reads {', '.join(READABLE)})", str(p))


def save_model(net: Network, path: str | Path, dtype: str = "float32") -> "RoundingReport | None":
    """Write the network as .onnx/.pt (float32 or float64) or .nnet, atomically; returns the rounding report."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        from .onnx import write_onnx

        return write_onnx(net, p, dtype=dtype)
    if suffix == ".nnet":
        from .nnet import write_nnet

        write_nnet(net, p)
        return None
    if suffix in (".pt", ".pth"):
        from .torch import save_torch

        return save_torch(net, p, dtype)
    raise UnsupportedModelError(f"cannot write format {suffix!r} (use .onnx, .nnet or .pt)", str(p))
