"""Checker kernel for graph certificates (specs/certificate-graph.md): verify a channel reduction of a graph
(CNNs, ResNets, BatchNorm, pooling, softmax) against the original and reduced graphs.

Trusted: the graph IR and its exact kernels (`ir/graph`), the ONNX graph reader and writer (`io/onnx`), and the
sound graph bounds (`bounds/graph_interval`, `bounds/graph_symbolic`) for ReLU phases claimed on a box. Not
used: the reducer (reduction/channel_*) or the prover. For every round the checker
  1. re-derives every claim of G_i from the claims on its op's inputs (graph_claims.py; producer rows exactly
     proportional, channel-wise ops by the identities in graph_rules.py) — a claim it cannot derive is invalid;
  2. recomputes each removal's region (graph_rebuild.py) and rejects it if the channels could escape (graph
     output, an op mixing channels that is not a listed Conv/MatMul boundary);
  3. turns each removed channel into an exact map at every boundary from the verified claims (zero padding:
     offsets must be 0), or for dead channels checks their weights are 0 in every remaining row;
  4. rebuilds G_{i+1} itself.
The last rebuilt graph must be the reduced graph (for files: the reduced file, compared through the writer's
spelling, or for an ε-claim the file plus the certificate's corrections, with |difference| <= ε checked on the
box by graph_epsilon.py). Soundness: kept channels keep their values by induction over the topological order
(channel-wise ops act channel by channel); each boundary sees the removed channels as the verified affine maps.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import onnx

from ..errors import LumpcheckError
from ..io.onnx.graph_read import read_graph, read_model
from ..io.onnx.graph_write import WriteError, to_model
from ..ir.graph.dag import Graph, GraphError
from .document import Malformed
from .graph_claims import verify_claims, verify_phases
from .graph_document import GraphDocument, Round, parse_graph_document
from .graph_layout import Invalid, layouts
from .graph_rebuild import boundary_maps, check_dead, rebuild, region_of, same_graph
from .result import CheckResult


def _check_round(g: Graph, rnd: Round, box: dict | None, method: str) -> Graph:
    lays = layouts(g)
    claims = {t: {c.channel: c for c in cs} for t, cs in rnd.claims.items()}
    verify_claims(g, lays, claims, verify_phases(g, lays, rnd, box, method))
    regions = [region_of(rem, g, lays) for rem in rnd.removals]
    kept_rows = {p: list(reg.removal.kept) for reg in regions for p in reg.removal.producers}
    maps = {}
    for reg in regions:
        if reg.removal.kind == "dead":
            check_dead(reg, kept_rows)
        else:
            maps.update(boundary_maps(reg, claims))
    try:
        return rebuild(g, regions, maps)
    except GraphError as e:  # the removals leave inconsistent shapes: no graph, so no claim about one
        raise Invalid(f"the rebuilt graph is inconsistent: {e}") from None


def replay(original: Graph, doc: GraphDocument) -> Graph:
    """Check every round and return the reduced graph the certificate describes (Invalid naming the round)."""
    g = original
    for i, rnd in enumerate(doc.rounds):
        try:
            g = _check_round(g, rnd, doc.box, doc.bounds)
        except Invalid as e:
            raise Invalid(f"round {i}: {e}") from None
    before = (original.inputs, [original.shapes[o] for o in original.outputs])
    after = (g.inputs, [g.shapes[o] for o in g.outputs])
    if before != after:  # removals act inside the graph: a changed interface means a region reached past its layout
        raise Invalid(f"the rebuilt graph's inputs/outputs {after} differ from the original's {before}")
    return g


def _parsed(doc: Any) -> GraphDocument:
    return doc if isinstance(doc, GraphDocument) else parse_graph_document(doc)


def check_certificate(original: Graph, reduced: Graph, doc: Any) -> CheckResult:
    """In memory: valid iff every round checks and the last rebuilt graph is exactly `reduced` (strict claims;
    `doc` is the JSON document or its parsed form)."""
    try:
        parsed = _parsed(doc)
        rebuilt = replay(original, parsed)
    except (Malformed, Invalid) as e:
        return CheckResult(False, [str(e)])
    diff = same_graph(rebuilt, reduced)
    if diff is not None:
        return CheckResult(False, [f"the rebuilt graph is not the reduced graph: {diff}"])
    return CheckResult(True, [], parsed.scope())


def _sha256(path: str | Path) -> str:
    with open(path, "rb") as fh:  # streamed: a model is not held in memory to be hashed
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _file_dtype(path: str | Path) -> str:
    model = onnx.load(str(path), load_external_data=False)
    elem = model.graph.input[0].type.tensor_type.elem_type if model.graph.input else onnx.TensorProto.FLOAT
    return "float64" if elem == onnx.TensorProto.DOUBLE else "float32"


def _hash_problems(doc: GraphDocument, original: str | Path, reduced: str | Path) -> list[str]:
    out = []
    for name, path in (("original", original), ("reduced", reduced)):
        want = doc.hashes.get(name)
        if want is not None and _sha256(path) != want:
            out.append(f"{name} model: sha256 of {path} is {_sha256(path)[:12]}…, the certificate says {want[:12]}…")
    return out


def _compare_files(rebuilt: Graph, reduced: str | Path, doc: GraphDocument) -> list[str]:
    """The reduced file against the rebuilt graph: spelled as the writer spells it (strict), or the file plus
    the certificate's corrections equal to it and within ε of the file on the box (ε-claims)."""
    file_graph = read_graph(reduced)
    if doc.epsilon is not None or doc.unroll:
        return ["ε-claims and unrolled graphs are not supported by this checker yet"]
    dtype = _file_dtype(reduced)
    try:
        spelled = read_model(to_model(rebuilt, dtype)[0], str(reduced))
    except WriteError as e:
        return [f"the rebuilt graph has values the reduced file's {dtype} cannot hold ({e.message})"]
    diff = same_graph(spelled, file_graph)
    return [] if diff is None else [f"the reduced file is not the rebuilt graph: {diff}"]


def check_graph(doc: Any, original_path: str | Path, reduced_path: str | Path) -> CheckResult:
    """Verify a graph certificate document against the two ONNX files (read exactly; hashes checked)."""
    try:
        parsed = parse_graph_document(doc)
    except Malformed as e:
        return CheckResult(False, [str(e)])
    for path in (original_path, reduced_path):
        if not Path(path).is_file():
            raise LumpcheckError("no such file", str(path))
    reasons = _hash_problems(parsed, original_path, reduced_path)
    try:
        rebuilt = replay(read_graph(original_path), parsed)
    except Invalid as e:
        return CheckResult(False, reasons + [str(e)])
    reasons += _compare_files(rebuilt, reduced_path, parsed)
    return CheckResult(not reasons, reasons, None if reasons else parsed.scope())
