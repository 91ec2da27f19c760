"""File-level entry points for the graph pipeline (the CLI hook points): reduce an ONNX model, write the reduced
model and its certificate; check a certificate against two ONNX files.

The reduced model is written in the first float type that holds every parameter exactly (float32, then float64):
the certificate is about exact values, so a model that would need rounding is refused here (an ε-certificate for
rounded exports is separate work).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from ..domain import Box
from ..errors import UnsupportedModelError
from .certificate import GraphCertificate
from .check import Verdict, replay, same_graph
from .ir import Graph
from .lump import certificate_of, reduce_channels
from .onnx_read import read_graph, read_model
from .onnx_write import WriteError, to_model, write_graph


@dataclass(frozen=True)
class ReduceSummary:
    channels_before: int
    channels_after: int
    params_before: int
    params_after: int
    dtype: str
    on_box: bool


def box_for(graph: Graph, box: Box) -> dict:
    """A VNN-LIB box (flattened, exact) as the graph's {input: (lower, upper)} (single-input graphs)."""
    if len(graph.inputs) != 1 or box.dim != graph.inputs[0].size:
        raise UnsupportedModelError(f"box has {box.dim} values but the graph inputs are "
                                    f"{[(s.name, list(s.shape)) for s in graph.inputs]}")  # fmt: skip
    s = graph.inputs[0]
    return {s.name: (np.array(box.lower, dtype=object).reshape(s.shape), np.array(box.upper, dtype=object).reshape(s.shape))}


def reduce_file(src: str | Path, dst: str | Path, certificate: str | Path, box: Box | None = None) -> ReduceSummary:
    """Read `src`, reduce its channels (on `box` if given), write the reduced model and the certificate."""
    g = read_graph(src)
    r = reduce_channels(g, box=box_for(g, box) if box is not None else None)
    for dtype in ("float32", "float64"):
        try:
            write_graph(r.reduced, dst, dtype)
            break
        except WriteError:
            continue
    else:
        raise UnsupportedModelError("the reduced model's merged weights are not float64 numbers; exact export is "
                                    "impossible (write it rounded with an ε-certificate instead)", str(dst))  # fmt: skip
    Path(certificate).write_text(certificate_of(r).to_json())
    before, after = r.channel_counts()
    return ReduceSummary(before, after, g.param_count, r.reduced.param_count, dtype, box is not None)


def check_files(original: str | Path, reduced: str | Path, certificate: str | Path) -> Verdict:
    """Check a graph certificate against two ONNX files (read exactly). The rebuilt graph is written and read back
    in the reduced file's float type, so both sides have the writer's op spelling (an Affine written as Mul/Add)."""
    cert = GraphCertificate.from_json(Path(certificate).read_text())
    rebuilt, verdict = replay(read_graph(original), cert)
    if rebuilt is None:
        return verdict
    file_graph = read_graph(reduced)
    model = onnx.load(str(reduced))
    dtype = "float64" if model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE else "float32"
    try:
        spelled = read_model(to_model(rebuilt, dtype)[0], str(reduced))
    except WriteError as e:
        return Verdict(False, f"the rebuilt graph has values the reduced file's {dtype} cannot hold ({e.message})")
    diff = same_graph(spelled, file_graph)
    return Verdict(True) if diff is None else Verdict(False, f"the reduced file is not the rebuilt graph: {diff}")
