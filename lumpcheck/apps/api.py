"""The Python API behind the command line, re-exported lazily by `lumpcheck/__init__.py`:

    reduce_model   what `lumpcheck reduce` does (reduce, write a drop-in model, optionally prove and certify)
    verify         what `lumpcheck verify` does (equivalence of two models lumpcheck did not make)
    check          the independent checker (`lumpcheck check`), from lumpcheck.checker
    load_model     read .onnx/.nnet (also .gz), .pt/.pth, .h5 into the exact IR, from lumpcheck.io
    read_box       the input box of a VNN-LIB file, from lumpcheck.io.vnnlib

Paths may be str or Path. Errors caused by the input raise `lumpcheck.errors.LumpcheckError` (one line naming the
file and node/line); the command line turns them into its exit codes.
"""

from __future__ import annotations

from pathlib import Path

from ..equivalence.engine import verify as run_verify
from ..equivalence.mode import Mode
from ..equivalence.result import VerifyResult
from ..errors import LumpcheckError
from ..io import load_model
from ..io.vnnlib import read_box
from ..ir.domain import Box
from ..ir.network import Network
from ..ir.semantics import model_box
from .pipeline import PipelineResult, run_reduction

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
) -> PipelineResult:
    """Reduce `model` exactly and write the smaller model to `output`, as `lumpcheck reduce` does (same options:
    `domain` is --domain, `certificate` is --certify, `smtlib` is --smtlib, `arch` is --arch as a list).

    Returns a PipelineResult: `.reduction` (the quotient network, its relation and statistics), `.rounding` (what
    writing changed), `.verdict` ('proved' / 'failed' with `certificate`, else None), `.output_path`, `.cert_path`.
    A failed proof does not raise: the files are then kept as NAME.unproved.EXT and CERT.failed.json.
    """
    return run_reduction(model, output, domain_path=domain, dtype=dtype, cert_path=certificate, smtlib_dir=smtlib,
                         normalization=normalization, domain_reduction=domain_reduction, domain_space=domain_space,
                         allow_outside_clip=allow_outside_clip, arch=arch, opset=opset)


def verify(
    a: str | Path | Network,
    b: str | Path | Network,
    *,
    domain: str | Path | Box | None = None,
    mode: str | Mode = "strict",
    timeout: float = 60.0,
    domain_space: str = "input",
    jobs: int = 0,
) -> VerifyResult:
    """Decide whether models `a` and `b` (files or networks) compute the same function, as `lumpcheck verify` does.

    `domain`: a VNN-LIB file or a Box over a's input (None: all of R^n); `mode`: 'strict', 'top1', 'argmin' or
    'epsilon=E' (or a Mode). The result's `.status` is a Verdict: UNSAT (equivalent), SAT (`.witness` is an exact
    input where they differ), UNKNOWN, TIMEOUT or ERROR (`.message` says why); a differential UNSAT carries
    `.certificate` (`lumpcheck.check` re-checks it). `jobs`: worker processes of the differential search (0: none).
    The timeout is checked between steps (the command line's --timeout is a hard limit).
    """
    net_a, net_b = (m if isinstance(m, Network) else load_model(m) for m in (a, b))
    if isinstance(mode, str):
        try:
            mode = Mode.parse(mode)
        except ValueError as e:
            raise LumpcheckError(f"bad mode {mode!r}: {e}") from None
    box = domain
    if isinstance(domain, (str, Path)):
        box = model_box(net_a, read_box(domain, n_inputs=net_a.input_size), domain_space)
    return run_verify(net_a, net_b, box, mode, float(timeout), a_path=None if isinstance(a, Network) else a,
                      b_path=None if isinstance(b, Network) else b, jobs=jobs)

