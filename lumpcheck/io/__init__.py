"""Model readers and writers, chosen by file extension."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelFormatError, UnsupportedModelError
from ..network import Network

if TYPE_CHECKING:
    from ..rounding import RoundingReport

READABLE = (".onnx", ".nnet")


def load_model(path: str | Path) -> Network:
    """Read an .onnx or .nnet file into the exact IR; raises a one-line LumpcheckError on bad input."""
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
    raise UnsupportedModelError(f"unknown model format {suffix!r} (lumpcheck reads {', '.join(READABLE)})", str(p))


def save_model(net: Network, path: str | Path, dtype: str = "float32") -> "RoundingReport | None":
    """Write the network as .onnx (float32 or float64) or .nnet, atomically; returns the ONNX rounding report."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        from .onnx import write_onnx

        return write_onnx(net, p, dtype=dtype)
    if suffix == ".nnet":
        from .nnet import write_nnet

        write_nnet(net, p)
        return None
    raise UnsupportedModelError(f"cannot write format {suffix!r} (use .onnx or .nnet)", str(p))
