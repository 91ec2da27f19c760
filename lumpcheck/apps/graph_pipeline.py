"""File-level graph pipeline (CNNs, ResNets, BatchNorm, pooling, softmax): reduce an ONNX model's channels
(exactly, or on a VNN-LIB box), write the reduced model and its certificate.

The reduced model is written in the first float type that holds every parameter exactly (float32, then float64);
the certificate is about exact values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UnsupportedModelError
from ..io.onnx.graph_read import read_graph
from ..io.onnx.graph_write import WriteError, write_graph
from ..ir.domain import Box
from ..ir.graph.dag import Graph
from ..prove.graph_prover import certificate_of
from ..prove.graph_records import write_graph_certificate
from ..prove.records import ModelRecord, sha256_file
from ..reduction.channel_lumping import reduce_channels


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
    records = {name: ModelRecord(str(p), sha256_file(p), graph.summary())
               for name, p, graph in (("original", src, g), ("reduced", dst, r.reduced))}  # fmt: skip
    write_graph_certificate(certificate_of(r, **records, source=box.source if box else ""), certificate)
    before, after = r.channel_counts()
    return ReduceSummary(before, after, g.param_count, r.reduced.param_count, dtype, box is not None)
