"""`reduce --unroll-dense`: a CNN chain unrolled into an exact dense Gemm+activation chain (ir/graph/unroll.py),
written as its own ONNX file, then reduced on the --domain box by the dense pipeline, unchanged.

What is certified, and by whom: the unrolling is exact by construction (each Gemm row is a copy of the conv's
weights at one position; see ir/graph/unroll.py) and the written file is read back and compared with the built
chain value by value (so writing rounded nothing). The box reduction of the unrolled chain is proved and certified
by the dense prover, and `lumpcheck check CERT UNROLLED OUTPUT` re-checks it independently: the certificate binds
the unrolled file (its SHA-256), not the CNN.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


from ..errors import LumpcheckError, UnsupportedModelError
from ..io import load_model, save_model
from ..ir.exact import exact_equal
from ..ir.graph.dag import Graph
from ..ir.graph.unroll import UnrollError, unroll
from ..ir.network import Network
from .outputs import Named, refuse_clashes
from .pipeline import choose_dtype


@dataclass(frozen=True)
class Unrolled:
    """The unrolled dense chain, where it was written, and the dense widths (input first)."""

    path: str
    network: Network
    widths: tuple[int, ...]

    def note(self, model: str) -> str:
        return (f"unrolled {Path(model).name} into a dense chain {' -> '.join(map(str, self.widths))} "
                f"({len(self.network.layers)} Gemm layers), written to {self.path}; the certificate is for that file: "
                f"lumpcheck check CERT {self.path} OUTPUT")


def default_unrolled_path(output: str | Path) -> str:
    p = Path(output)
    return str(p.with_name(p.name.split(".")[0] + ".unrolled.onnx"))


def _same(a: Network, b: Network) -> bool:
    if len(a.layers) != len(b.layers):
        return False
    return all(x.activation == y.activation and exact_equal(x.weight, y.weight) and exact_equal(x.bias, y.bias)
               for x, y in zip(a.layers, b.layers))


def unroll_to_file(model: str, graph: Graph, output: str, cert_path: str | None, unrolled_path: str | None) -> Unrolled:
    """Unroll `graph` exactly and write it as ONNX (float32 when every weight is one, else float64); refuse with a
    one-line reason (exit 3) what cannot be unrolled exactly or written without rounding."""
    try:
        net = unroll(graph)
    except UnrollError as exc:
        raise UnsupportedModelError(f"--unroll-dense: {exc}", model) from None
    dtype, report = choose_dtype("auto", "float32", net)
    if not report.exact:
        raise UnsupportedModelError("--unroll-dense: the unrolled chain has weights that are not float64 numbers (e.g. "
                                    "1/9 from a 3×3 average pool, or a folded scale); an exact dense file cannot hold "
                                    "them", model)
    path = unrolled_path or default_unrolled_path(output)
    if not path.lower().endswith(".onnx"):
        raise LumpcheckError(f"--unrolled {path}: the unrolled chain is written as ONNX (name it .onnx)", model)
    outputs = [Named("--unrolled", path), Named("-o", output)] + ([Named("--certify", cert_path)] if cert_path else [])
    refuse_clashes([Named("MODEL", model)], outputs)
    save_model(net, path, dtype=dtype)
    back = load_model(path)
    if not _same(net, back):  # soundness guard: the certificate will bind the file, which must be the exact unrolling
        raise LumpcheckError("internal: the written unrolled chain does not read back exactly", path)
    widths = (net.input_size,) + tuple(layer.out_features for layer in net.layers)
    return Unrolled(path, back, widths)
