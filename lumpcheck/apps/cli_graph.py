"""The graph (CNN/ResNet) side of `info` and `reduce`: models the dense reader refuses and the graph reader takes.

Dense chains never come here (cli.py reads them with the dense reader first, unchanged); options that only make
sense for dense chains are refused for graphs with a one-line reason (exit 2).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import onnx
from rich.table import Table

from ..bounds.graph_interval import stable_counts
from ..bounds.graph_symbolic import bounds_by
from ..errors import LumpcheckError
from ..io.compressed import is_gzipped, read_bytes
from ..io.marker import marker_of
from ..ir.graph.dag import Graph
from .console import EXIT_REFUTED, err, out
from .graph_pipeline import GraphRunResult, box_for, graph_box, run_graph_reduction


def file_marker(path: str | Path):
    """The lumpcheck marker in an ONNX file's metadata_props (info shows it for reduced graph models)."""
    p = Path(path)
    model = onnx.load_model_from_string(read_bytes(p, "ONNX model")) if is_gzipped(p) else \
        onnx.load(str(p), load_external_data=False)
    return marker_of({"onnx_metadata": {e.key: e.value for e in model.metadata_props}})


def graph_info_dict(g: Graph, box=None, stable=None) -> dict:
    """Machine-readable summary of a graph model for `info --json`."""
    ops: dict[str, int] = {}
    for node in g.nodes:
        ops[node.op.kind] = ops.get(node.op.kind, 0) + 1
    return {
        "source": g.meta.source,
        "kind": "graph",
        "inputs": [{"name": s.name, "shape": list(s.shape)} for s in g.inputs],
        "outputs": [{"name": o, "shape": list(g.shapes[o])} for o in g.outputs],
        "nodes": len(g.nodes),
        "ops": ops,
        "params": g.param_count,
        "opset": g.meta.opset,
        "domain": None if box is None else {"lower": [str(v) for v in box.lower], "upper": [str(v) for v in box.upper],
                                            "stable_relus": stable},
    }


def _stable(g: Graph, box) -> list[dict] | None:
    if box is None:
        return None
    rows = stable_counts(g, bounds_by("interval")(g, box_for(g, box)))
    return [{"node": n, "inactive": i, "active": a, "positions": t} for n, i, a, t in rows]


def graph_info(g: Graph, model: str, domain: str | None, domain_space: str, as_json: bool) -> None:
    """`lumpcheck info` for a graph model: inputs/outputs, ops, parameters; with --domain the stable ReLUs."""
    if domain is not None and domain_space != "input":
        raise LumpcheckError("--domain-space normalized is for dense chains with a normalisation; a graph's box is "
                             "over its own input", model)
    box = graph_box(g, domain) if domain is not None else None
    stable = _stable(g, box)
    doc = graph_info_dict(g, box, stable)
    marker = file_marker(model)
    doc["lumpcheck"] = marker.as_dict() or None
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    ins = ", ".join(f"{s['name']}{s['shape']}" for s in doc["inputs"])
    outs = ", ".join(f"{s['name']}{s['shape']}" for s in doc["outputs"])
    out.print(f"[bold]{Path(model).name}[/bold]: graph {ins} -> {outs}, {doc['nodes']} nodes, {doc['params']:,} params "
              f"(opset {doc['opset']})")
    table = Table("op", "nodes")
    for kind, n in sorted(doc["ops"].items()):
        table.add_row(kind, str(n))
    out.print(table)
    for key, value in (doc["lumpcheck"] or {}).items():
        out.print(f"{key}: {value}", markup=False, soft_wrap=True)
    if stable is not None:
        st = Table("ReLU", "stably inactive", "stably active", "positions",
                   title=f"on the box of {Path(domain).name} (interval bounds)")
        for row in stable:
            st.add_row(row["node"], str(row["inactive"]), str(row["active"]), str(row["positions"]))
        out.print(st)


def graph_reduce(g: Graph, model: str, output: str, *, domain, no_domain_reduction: bool, dtype: str, cert_path,
                 as_json: bool) -> None:
    """`lumpcheck reduce` for a graph model (channel lumping; on the --domain box unless turned off)."""
    res = run_graph_reduction(model, output, domain_path=domain, cert_path=cert_path, dtype=dtype,
                              domain_reduction=not no_domain_reduction, graph=g)
    if as_json:
        click.echo(json.dumps(graph_reduction_dict(res, model), indent=2))
    else:
        _print_graph_reduction(res)
    if res.verdict == "failed":
        err.print(f"lumpcheck: check FAILED: {res.reasons[0] if res.reasons else 'invalid'}; kept the unproved model "
                  f"as {res.output_path} and the certificate as {res.cert_path}", markup=False, soft_wrap=True)
        sys.exit(EXIT_REFUTED)


def graph_reduction_dict(res: GraphRunResult, model: str) -> dict:
    s = res.summary
    return {"model": model, "kind": "graph", "output": res.output_path, "channels_before": s.channels_before,
            "channels_after": s.channels_after, "params_before": s.params_before, "params_after": s.params_after,
            "dtype": s.dtype, "equal_only_on_domain": any(n.startswith("equal to the original ONLY") for n in res.notes),
            "rounds": len(res.reduction.rounds), "seconds": res.seconds, "certificate": res.cert_path,
            "verdict": res.verdict, "reasons": res.reasons}


def _print_graph_reduction(res: GraphRunResult) -> None:
    s = res.summary
    if res.minimal:
        out.print(f"already minimal: no exact channel lumping ({s.params_before:,} params, {s.channels_before} "
                  f"channels), {res.seconds:.3f} s")
    else:
        kept = s.params_after / s.params_before if s.params_before else 1.0
        out.print(f"channels {s.channels_before} -> {s.channels_after}, params {s.params_before:,} -> "
                  f"{s.params_after:,} ({kept:.1%} kept) in {res.seconds:.3f} s")
    out.print(f"export {s.dtype}: exact (every parameter of the reduced graph is a {s.dtype} value)")
    for note in res.notes:
        out.print(note, markup=False, soft_wrap=True)
    if res.verdict is not None:
        out.print(f"certificate: {res.verdict} (independent checker) -> {res.cert_path}", markup=False, soft_wrap=True)
    out.print(f"wrote {res.output_path}", markup=False, soft_wrap=True)
