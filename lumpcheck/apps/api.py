"""The Python API behind the command line, re-exported lazily by `lumpcheck/__init__.py`:

    reduce_model   what `lumpcheck reduce` does (reduce, write a drop-in model, optionally prove and certify);
                   graph models (CNNs, ResNets) go through the graph pipeline, as on the command line
    verify         what `lumpcheck verify` does (equivalence of two models lumpcheck did not make; graphs too)
    check          the independent checker (`lumpcheck check`), from lumpcheck.checker
    load_model     read .onnx/.nnet (also .gz), .pt/.pth, .h5 into the exact IR, from lumpcheck.io
    read_box       the input box of a VNN-LIB file, from lumpcheck.io.vnnlib

Paths may be str or Path. Errors caused by the input raise `lumpcheck.errors.LumpcheckError` (one line naming the
file and node/line); the command line turns them into its exit codes.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from ..equivalence.cluster import connect
from ..equivalence.engine import verify as run_verify
from ..equivalence.falsify import replay
from ..equivalence.softmax import split_heads, verify_softmax
from ..equivalence.union import decide_boxes, searched_boxes, witness_box
from ..equivalence.mode import Mode
from ..equivalence.result import VerifyResult
from ..errors import LumpcheckError
from ..io import load_any
from ..io.vnnlib import read_box, read_boxes
from ..ir.domain import Box
from ..ir.graph.dag import Graph
from ..ir.graph.dense import from_network
from ..ir.network import Network
from ..ir.semantics import domain_point, model_box
from .graph_pipeline import GraphRunResult, graph_box, graph_boxes, refuse_dense_options, run_graph_reduction
from .graph_verify import verify_graphs
from .pipeline import PipelineResult, run_reduction
from .verify_written import witness_in_region

__all__ = ["reduce_model", "verify"]


def reduce_model(
    model: str | Path,
    output: str | Path,
    *,
    domain: str | Path | None = None,
    certificate: str | Path | None = None,
    smtlib: str | Path | None = None,
    dtype: str = "auto",
    normalization: str = "keep",
    domain_reduction: bool = True,
    domain_space: str = "input",
    allow_outside_clip: bool = False,
    arch: list[str] | None = None,
    opset: int | None = None,
) -> PipelineResult | GraphRunResult:
    """Reduce `model` exactly and write the smaller model to `output`, as `lumpcheck reduce` does (same options:
    `domain` is --domain, `certificate` is --certify, `smtlib` is --smtlib, `arch` is --arch as a list).

    Returns a PipelineResult: `.reduction` (the quotient network, its relation and statistics), `.rounding` (what
    writing changed), `.verdict` ('proved' / 'failed' with `certificate`, else None), `.output_path`, `.cert_path`.
    A failed proof does not raise: the files are then kept as NAME.unproved.EXT and CERT.failed.json.
    A graph model (CNN/ResNet: the dense reader refuses it) gives a GraphRunResult (`.reduction`, `.summary`,
    `.verdict` = the independent checker's, `.output_path`, `.cert_path`).
    """
    source = load_any(model, arch)
    if isinstance(source, Graph):
        refuse_dense_options(model, smtlib_dir=smtlib, normalization=normalization, domain_space=domain_space,
                             opset=opset)
        return run_graph_reduction(model, output, domain_path=domain, cert_path=certificate, dtype=dtype,
                                   domain_reduction=domain_reduction, graph=source)
    return run_reduction(model, output, domain_path=domain, dtype=dtype, cert_path=certificate, smtlib_dir=smtlib,
                         normalization=normalization, domain_reduction=domain_reduction, domain_space=domain_space,
                         allow_outside_clip=allow_outside_clip, arch=arch, opset=opset, source=source)


def verify(
    a: str | Path | Network | Graph,
    b: str | Path | Network | Graph,
    *,
    domain: str | Path | Box | None = None,
    mode: str | Mode = "strict",
    timeout: float = 60.0,
    domain_space: str = "input",
    jobs: int = 0,
    scheduler: str | None = None,
) -> VerifyResult:
    """Decide whether models `a` and `b` (files or networks) compute the same function, as `lumpcheck verify` does.

    `domain`: a VNN-LIB file or a Box over a's input (None: all of R^n); `mode`: 'strict', 'top1', 'argmin',
    'epsilon=E' or 'delta-top1=D' (A the reference; or a Mode). The result's `.status` is a Verdict: UNSAT (equivalent), SAT (`.witness` is an exact
    input where they differ), UNKNOWN, TIMEOUT or ERROR (`.message` says why); a differential or domain-match
    UNSAT carries `.certificate` (`lumpcheck.check` re-checks it). `jobs`: worker processes of the differential
    search (0: none); `scheduler`: a Dask scheduler address (tcp://HOST:PORT) whose cluster runs it instead.
    The timeout is checked between steps (the command line's --timeout is a hard limit).
    """
    net_a, net_b = (m if isinstance(m, (Network, Graph)) else load_any(m) for m in (a, b))
    if isinstance(mode, str):
        try:
            mode = Mode.parse(mode)
        except ValueError as e:
            raise LumpcheckError(f"bad mode {mode!r}: {e}") from None
    net_a, net_b, heads = split_heads(net_a, net_b)
    region = str(domain) if isinstance(domain, (str, Path)) else None
    if isinstance(net_a, Graph) or isinstance(net_b, Graph):
        if domain_space != "input":
            raise LumpcheckError("domain_space='normalized' is for dense chains; a graph pair is compared on a box over "
                                 "the models' own input")
        ga, gb = (m if isinstance(m, Graph) else from_network(m) for m in (net_a, net_b))
        paths = dict(a_path=None if isinstance(a, (Network, Graph)) else a,
                     b_path=None if isinstance(b, (Network, Graph)) else b)
        boxes = searched_boxes(graph_boxes(ga, region), graph_box(ga, region)) if region else (domain,)  # box by box
        result = decide_boxes(lambda piece, seconds: verify_graphs(ga, gb, piece, mode, seconds, **paths), boxes,
                              time.monotonic() + float(timeout))
        return witness_in_region(result, region, list)
    box = model_box(net_a, read_box(domain, n_inputs=net_a.input_size), domain_space) if region else domain
    boxes = searched_boxes([model_box(net_a, piece, domain_space) for piece in read_boxes(region, net_a.input_size)],
                           box) if region else (box,)  # an `or` of input boxes: each on its own (equivalence/union.py)
    client = connect(scheduler, float(timeout)) if scheduler else None
    kw = dict(a_path=None if isinstance(a, (Network, Graph)) else a, b_path=None if isinstance(b, (Network, Graph)) else b,
              jobs=jobs, client=client)

    def one(piece: Box | None, seconds: float) -> VerifyResult:
        if heads.any:  # a final Softmax: decided on the logits (equivalence/softmax.py)
            return verify_softmax(net_a, net_b, piece, mode, heads, seconds, **kw)
        return run_verify(net_a, net_b, piece, mode, seconds, **kw)

    try:
        result = decide_boxes(one, boxes, time.monotonic() + float(timeout))
    finally:
        if client is not None:
            client.close(timeout=1)
    replay_at = None if heads.any else partial(replay, net_a, net_b, mode=mode)  # the searched pair, exactly
    return witness_in_region(result, region, lambda x: domain_point(net_a, x, domain_space), replay_at,
                             witness_box(result, boxes, box))

