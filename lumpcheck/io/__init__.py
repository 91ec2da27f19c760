"""Model readers and writers, chosen by file extension (torch and h5py themselves load only when a .pt or .h5 file
is read or written)."""

from __future__ import annotations

from pathlib import Path

from ..errors import LumpcheckError, ModelFormatError, UnsupportedModelError
from ..ir.graph.dag import Graph
from ..ir.graph.radical_chain import NotRadicalChain, radical_network
from ..ir.network import Network
from ..ir.rounding import RoundingReport
from .compressed import format_suffix, is_gzipped
from .keras import read_keras
from .nnet import read_nnet, write_nnet
from .onnx import read_onnx, write_onnx
from .onnx.graph_read import read_graph
from .onnx.signature import OnnxSignature
from .torch import read_torch, save_torch

READABLE = (".onnx", ".nnet", ".pt", ".pth", ".h5", ".hdf5", ".onnx.gz", ".nnet.gz")


def load_model(path: str | Path, arch: list[str] | None = None) -> Network:
    """Read .onnx, .nnet (also gzipped: .onnx.gz, .nnet.gz), PyTorch (.pt/.pth) or Keras (.h5) into the exact IR;
    one-line LumpcheckError on bad input.

    `arch` lists the activations after each Linear of a PyTorch state_dict (e.g. ["relu", "identity"]).
    """
    p = Path(path)
    if not p.exists():
        raise ModelFormatError("no such file", str(p))
    suffix = format_suffix(p)
    if is_gzipped(p) and suffix not in (".onnx", ".nnet"):
        raise UnsupportedModelError(f"gzipped {suffix or 'file'}: lumpcheck reads gzipped .onnx.gz, .nnet.gz and "
                                    ".vnnlib.gz (decompress it first)", str(p))
    if suffix == ".onnx":
        return read_onnx(p)
    if suffix == ".nnet":
        return read_nnet(p)
    if suffix in (".pt", ".pth"):
        return read_torch(p, arch)
    if suffix in (".h5", ".hdf5"):
        return read_keras(p)
    raise UnsupportedModelError(f"unknown model format {suffix!r} (lumpcheck reads {', '.join(READABLE)})", str(p))


def load_any(path: str | Path, arch: list[str] | None = None) -> Network | Graph:
    """The model as a dense `Network` when the dense reader takes it (the fast path, unchanged for dense chains),
    else, for ONNX, as the exact graph IR (CNNs, ResNets, BatchNorm, pooling, softmax, branches). A file neither
    reads is refused with the graph reader's reason (it reads strictly more)."""
    try:
        return load_model(path, arch)
    except UnsupportedModelError:
        if format_suffix(Path(path)) != ".onnx":
            raise
    return read_graph(path)


def load_chain(path: str | Path, arch: list[str] | None = None) -> Network:
    """`load_model`, or for an ONNX dense chain with BatchNorms of irrational scale the exact chain with them folded
    as radical weights (ir/graph/radical_chain.py; what `verify` compares and its certificates are about); a file
    that is neither is refused with load_model's reason."""
    try:
        return load_model(path, arch)
    except UnsupportedModelError:
        if format_suffix(Path(path)) != ".onnx":
            raise
        try:
            return radical_network(read_graph(path))
        except (NotRadicalChain, LumpcheckError):
            pass
        raise


def save_model(net: Network, path: str | Path, dtype: str = "float32", *, signature: OnnxSignature | None = None,
               opset: int | None = None, metadata: dict[str, str] | None = None) -> RoundingReport | None:
    """Write the network as .onnx/.pt (float32 or float64) or .nnet, atomically; returns the rounding report.

    ONNX: `signature` is the interface to keep (io/onnx/signature.py; e.g. the source's `meta["onnx_signature"]`),
    `opset` overrides its opset. ONNX and .nnet: `metadata` is the lumpcheck marker (io/marker.py)."""
    p = Path(path)
    suffix = writable_suffix(p)
    if suffix == ".onnx":
        return write_onnx(net, p, dtype=dtype, opset=opset, signature=signature, metadata=metadata)
    if suffix == ".nnet":
        write_nnet(net, p, metadata)
        return None
    return save_torch(net, p, dtype)


def writable_suffix(path: str | Path) -> str:
    """The lower-cased suffix of a dense model's output path, one `save_model` writes (UnsupportedModelError naming
    the path otherwise: callers ask before any work, with the user's name, not a staged file's)."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".onnx", ".nnet", ".pt", ".pth"):
        what = repr(suffix) if suffix else "without a suffix"
        raise UnsupportedModelError(f"cannot write format {what} (use .onnx, .nnet or .pt)", str(path))
    return suffix
