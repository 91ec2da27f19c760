"""File-level graph pipeline (CNNs, ResNets, BatchNorm, pooling, softmax): reduce an ONNX model's channels
(exactly, or on a VNN-LIB box), write the reduced model and its certificate, and have the independent checker
confirm it (the verdict `proved` is the checker's `valid`, never the reducer's word).

The reduced model is written in the first float type that holds every parameter exactly (float32, then float64),
or in the one asked for, refusing when it would round; the certificate is about exact values. Outputs are staged
and published together (outputs.py): under the requested names only when the check holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..checker.graph import check_graph
from ..errors import LumpcheckError, UnsupportedModelError
from ..io.marker import CERTIFICATE, CLAIM, DOMAIN, domain_value
from ..io.onnx.graph_read import read_graph
from ..io.onnx.graph_write import WriteError, to_model
from ..io.vnnlib import read_box, read_boxes
from ..ir.domain import Box
from ..ir.graph.dag import Graph
from ..prove.graph_prover import certificate_of
from ..prove.graph_records import write_graph_certificate
from ..prove.records import ModelRecord, sha256_file
from ..reduction.channel_lumping import ChannelReduction, reduce_channels
from .outputs import Named, Publication, ReductionTargets, refuse_clashes

DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class ReduceSummary:
    channels_before: int
    channels_after: int
    params_before: int
    params_after: int
    dtype: str
    on_box: bool


@dataclass
class GraphRunResult:
    """What one graph reduction run produced (the CLI's and the zoo's view of it)."""

    reduction: ChannelReduction
    summary: ReduceSummary
    output_path: str
    cert_path: str | None = None
    verdict: str | None = None  # 'proved' (the checker's valid) / 'failed' with --certify, else None
    reasons: list[str] = field(default_factory=list)  # the checker's reasons when failed
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def minimal(self) -> bool:
        return self.summary.params_before == self.summary.params_after and \
            self.summary.channels_before == self.summary.channels_after


def box_for(graph: Graph, box: Box) -> dict:
    """A VNN-LIB box (flattened, exact) as the graph's {input: (lower, upper)} (single-input graphs)."""
    if len(graph.inputs) != 1 or box.dim != graph.inputs[0].size:
        raise UnsupportedModelError(f"box has {box.dim} values but the graph inputs are "
                                    f"{[(s.name, list(s.shape)) for s in graph.inputs]}")  # fmt: skip
    s = graph.inputs[0]
    return {s.name: (np.array(box.lower, dtype=object).reshape(s.shape), np.array(box.upper, dtype=object).reshape(s.shape))}


def graph_box(graph: Graph, domain_path: str | Path) -> Box:
    """The VNN-LIB file's input box (its disjuncts' hull) for a single-input graph (one-line error naming the file
    otherwise)."""
    return read_box(domain_path, n_inputs=_single_input(graph))


def graph_boxes(graph: Graph, domain_path: str | Path) -> tuple[Box, ...]:
    """The VNN-LIB file's input region as its disjuncts' boxes (io.vnnlib.read_boxes) for a single-input graph."""
    return read_boxes(domain_path, n_inputs=_single_input(graph))


def _single_input(graph: Graph) -> int:
    """The size of the graph's one input (a VNN-LIB box is over one input)."""
    if len(graph.inputs) != 1:
        raise UnsupportedModelError(f"a VNN-LIB box is over one input; this graph has {len(graph.inputs)} "
                                    f"({', '.join(s.name for s in graph.inputs)})", graph.meta.source)
    return graph.inputs[0].size


def _write_model(graph: Graph, path: Path, dtype: str, metadata: dict[str, str], shown: str | Path | None = None) -> str:
    """Write `graph` exactly in `dtype` (auto: float32, else float64); the dtype written (errors name `shown`)."""
    for candidate in DTYPES if dtype == "auto" else (dtype,):
        try:
            model, _ = to_model(graph, candidate)
        except WriteError:
            continue
        for key, value in metadata.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        path.write_bytes(model.SerializeToString())
        return candidate
    raise LumpcheckError(f"the reduced graph's merged weights are not {' or '.join(DTYPES if dtype == 'auto' else (dtype,))} "
                         "numbers, so they cannot be written exactly" + (" (try --dtype float64)" if dtype == "float32" else
                         " (graphs have no ε-certificates yet: reduce on a box with a coarser model, or keep the original)"),
                         str(shown or path))


def phased(reduction: ChannelReduction) -> bool:
    """The reduction used ReLU phases stable on its box: the reduced graph equals the original only there."""
    return any(any(v) for _, _, phases in reduction.rounds for v in phases.values())


def marker(model: str, output: str, reduction: ChannelReduction, box: Box | None, cert_name: str | None) -> dict[str, str]:
    """The lumpcheck marker (io/marker.py) of a reduced graph file: the claim, its box, its certificate."""
    original = f"{Path(model).name} (sha256 {sha256_file(model)})"
    if phased(reduction):
        claim = (f"equal to {original} ONLY on the input box in lumpcheck.domain (channels stable there were folded "
                 "or removed); NOT valid outside it")
    else:
        claim = f"equal to {original} on all inputs (exact channel lumping)"
    out = {CLAIM: claim}
    if box is not None:
        out[DOMAIN] = domain_value(box, Path(box.source).name if box.source else "")
    if cert_name:
        out[CERTIFICATE] = (f"{cert_name}; re-check: lumpcheck check {cert_name} {Path(model).name} {Path(output).name}")
    return out


DENSE_ONLY = (
    ("--smtlib", "graph certificates are checked by `lumpcheck check`; no SMT-LIB obligations are written for graphs"),
    ("--normalization", "a graph keeps its normalisation nodes as part of the model"),
    ("--domain-space normalized", "a graph's box is over its own input"),
    ("--opset", "a graph is written in its source's opset"),
)


def refuse_dense_options(model: str | Path, *, smtlib_dir=None, normalization: str = "keep",
                         domain_space: str = "input", opset=None) -> None:
    """Options of `reduce` that have no meaning for a graph model: refused naming the option (exit 2)."""
    used = (smtlib_dir is not None, normalization != "keep", domain_space != "input", opset is not None)
    for hit, (option, why) in zip(used, DENSE_ONLY):
        if hit:
            raise LumpcheckError(f"{option} is not available for graph (CNN/ResNet) models: {why}", str(model))


def run_graph_reduction(model: str | Path, output: str | Path, *, domain_path: str | Path | None = None,
                        cert_path: str | Path | None = None, dtype: str = "auto", domain_reduction: bool = True,
                        bounds: str = "interval", graph: Graph | None = None) -> GraphRunResult:
    """Reduce the graph model's channels (on the --domain box unless `domain_reduction` is off), write the reduced
    model and, with `cert_path`, the certificate, checked by the independent checker before publishing."""
    targets = ReductionTargets.of(output, cert_path)
    refuse_clashes([Named("MODEL", model), Named("--domain", domain_path)], targets.all)
    if Path(output).suffix.lower() != ".onnx":
        raise LumpcheckError(f"a graph (CNN/ResNet) model is written as .onnx only, not {Path(output).suffix or 'no suffix'}",
                             str(output))
    start = time.perf_counter()
    g = graph if graph is not None else read_graph(model)
    box = graph_box(g, domain_path) if domain_path is not None else None
    r = reduce_channels(g, box=box_for(g, box) if box is not None and domain_reduction else None, bounds=bounds)
    notes = []
    if phased(r):
        notes.append(f"equal to the original ONLY on the input box of {Path(box.source).name if box.source else 'the domain'} "
                     f"(channels stable there by {bounds} bounds were folded or removed); not outside it")
    with Publication(targets.all) as publication:
        staged = targets.staged(publication)
        written = _write_model(r.reduced, staged.model, dtype,
                               marker(str(model), str(output), r, box, None if cert_path is None else Path(cert_path).name),
                               output)
        verdict, reasons = None, []
        if staged.cert is not None:
            records = {"original": ModelRecord(str(model), sha256_file(model), g.summary()),
                       "reduced": ModelRecord(str(targets.model.final(True)), sha256_file(staged.model), r.reduced.summary())}
            cert = certificate_of(r, **records, source=box.source if box is not None and r.box is not None else "",
                                  seconds=time.perf_counter() - start)
            write_graph_certificate(cert, staged.cert)
            checked = check_graph(cert.to_dict(), model, staged.model)
            verdict, reasons = ("proved" if checked.valid else "failed"), list(checked.reasons)
        where = publication.publish(ok=verdict in (None, "proved"))
    if dtype == "auto" and written != DTYPES[0]:
        notes.append(f"written in {written}, inputs included: the merged weights are not {DTYPES[0]} numbers, so a "
                     f"{DTYPES[0]} file could not hold them exactly. Runtimes without {written} kernels cannot run it "
                     f"(onnxruntime's CPU Conv, for one); graphs have no ε-certificates for a rounded {DTYPES[0]} copy yet")
    before, after = r.channel_counts()
    summary = ReduceSummary(before, after, g.param_count, r.reduced.param_count, written, r.box is not None)
    cert_out = None if targets.cert is None else str(where[targets.cert.path])
    return GraphRunResult(r, summary, str(where[targets.model.path]), cert_out, verdict, reasons,
                          time.perf_counter() - start, notes)


def reduce_file(src: str | Path, dst: str | Path, certificate: str | Path, box: Box | None = None) -> ReduceSummary:
    """Read `src`, reduce its channels (on `box` if given), write the reduced model and the certificate (no check)."""
    g = read_graph(src)
    r = reduce_channels(g, box=box_for(g, box) if box is not None else None)
    dtype = _write_model(r.reduced, Path(dst), "auto", {})
    records = {name: ModelRecord(str(p), sha256_file(p), graph.summary())
               for name, p, graph in (("original", src, g), ("reduced", dst, r.reduced))}  # fmt: skip
    write_graph_certificate(certificate_of(r, **records, source=box.source if box else ""), certificate)
    before, after = r.channel_counts()
    return ReduceSummary(before, after, g.param_count, r.reduced.param_count, dtype, box is not None)
