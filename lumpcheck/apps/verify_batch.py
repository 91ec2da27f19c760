"""`lumpcheck verify --instances instances.csv`: a VNN-COMP batch of two-network instances.

Each row of the csv names two networks ([('f', 'A.onnx'), ('g', 'B.onnx')], io/vnncomp.py), a VNN-LIB property
(1.0 or 2.0: its input box is read and the outputs compared by --mode; without --mode a 2.0 property with output
assertions is decided as written, apps/verify_written.py, its networks matched to the row's labels) and a timeout. Every row is decided as
`lumpcheck verify A B --domain PROP` would decide it, under a hard wall-clock limit of its own timeout (or --timeout),
and gets a VNN-COMP results file (sat with an exact witness / unsat / timeout / unknown / error) in the results
directory, plus one line of OUT/summary.csv; a certified unsat (differential or domain-match) also gets its
certificate beside it (NNN_....cert.json: `lumpcheck check CERT A B` re-checks it, A and B the models of the
property's first and second network: f and g, unless a 2.0 property declares g first). summary.csv's model_f and
model_g are the models the row labels f and g; a results file's Y_ are the first network's outputs, Y2_ the second's. A row that cannot be run (a bad file, an unsupported layer) is an
'error' row; the batch goes on.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import click

from ..equivalence.falsify import Enclosure
from ..equivalence.result import VerifyResult
from ..errors import LumpcheckError
from ..io.atomic import write_text_atomic
from ..io.vnncomp import Instance, read_instances, results_text
from .console import EXIT_OK, EXIT_UNKNOWN, EXIT_USAGE, out
from .verify_written import ordered, spec2_with_outputs

DEFAULT_DIR = "vnncomp_results"
SUMMARY_FIELDS = ("instance", "model_f", "model_g", "property", "timeout", "status", "engine", "seconds", "results_file",
                  "certificate", "message")


@dataclass(frozen=True)
class Settings:
    """verify's options that apply to every pair."""

    mode: str
    domain_space: str
    jobs: int
    memory_mb: int
    scheduler: str | None
    normalization: str
    arch: str | None
    arch_b: str | None
    mode_given: bool = True  # False: a VNN-LIB 2.0 file's output assertions decide (apps/verify_written.py)
    self_check: bool = True  # an unsat's certificate is re-checked by the independent checker before it is reported


def _rows(csv_path: str) -> list[Instance]:
    """The csv's rows, each naming exactly two existing networks and an existing property (else one error)."""
    rows = read_instances(csv_path)
    problems = []
    for n, row in enumerate(rows, start=1):
        if len(row.models) != 2:
            problems.append(f"row {n}: {len(row.models)} network(s); verify compares two: "
                            "\"[('f', 'A.onnx'), ('g', 'B.onnx')]\",prop.vnnlib,timeout")
        problems += [f"row {n}: {p} does not exist" for p in [m for _, m in row.models] + [row.prop] if not p.is_file()]
    if problems:
        more = f"; … {len(problems) - 5} more" if len(problems) > 5 else ""
        raise LumpcheckError("; ".join(problems[:5]) + more, csv_path)
    if not rows:
        raise LumpcheckError("no instances", csv_path)
    return rows


def _stem(path: Path) -> str:
    """A file's name without its format suffixes (model.onnx.gz -> model; band_0.01.vnnlib -> band_0.01)."""
    name = path.name.removesuffix(".gz")
    return name.rsplit(".", 1)[0] if Path(name).suffix.lower() in (".onnx", ".nnet", ".vnnlib", ".pt", ".pth", ".h5",
                                                                    ".keras") else name


def _name(n: int, row: Instance) -> str:
    stems = [_stem(Path(p)) for _, p in row.models] + [_stem(row.prop)]
    return re.sub(r"[^\w.-]+", "_", f"{n:03d}_" + "_".join(stems)) + ".txt"


def results_of(result: VerifyResult, point: Callable = list) -> str:
    """The VNN-COMP results file of a verdict: a sat's witness in the property file's coordinates (point(x)) and
    both outputs, exactly where they are rational (an enclosure of an irrational output, e.g. through a softmax or a
    sigmoid, as its midpoint: a float reading)."""
    outputs = [tuple(Fraction(v.lo + v.hi) / 2 if isinstance(v, Enclosure) else v for v in ys or ())
               for ys in (result.output_a, result.output_b)]
    return results_text(str(result.status), point(result.witness) if result.witness else (), *outputs)


def _one(row: Instance, timeout: float, settings: Settings, decide: Callable):
    """(status, engine, message, results file text, certificate, (model f, model g) in the property's order) of one
    row; a user error is an 'error' row, and so is a bug (with its type), so that the other rows still run."""
    (la, fa), (lb, fb) = row.models
    labels, (fa, fb) = ((lb, la), (fb, fa)) if (la, lb) == ("g", "f") else ((la, lb), (fa, fb))  # f: A, Y_; g: B, Y2_
    # (unless a 2.0 property declares g first: then its order)
    try:
        spec = None if settings.mode_given else spec2_with_outputs(str(row.prop))
        if spec is not None:  # the spec's outputs are [Y_f | Y_g] in its own order: the row's labels say which is which
            fa, fb = ordered(spec, labels, (fa, fb))
        result, _, point = decide(str(fa), str(fb), str(row.prop), timeout, settings, quiet=True, row=True)
    except LumpcheckError as e:
        return "error", "none", e.one_line(), results_text("error"), None, (fa, fb)
    except Exception as e:  # noqa: BLE001 - one row's internal error must not lose the batch
        return "error", "none", f"internal error: {type(e).__name__}: {e}", results_text("error"), None, (fa, fb)
    cert = result.certificate if str(result.status) == "unsat" else None
    return str(result.status), result.engine, result.message, results_of(result, point), cert, (fa, fb)


def run_batch(csv_path: str, results_dir: str | None, timeout: float | None, settings: Settings, decide: Callable,
              as_json: bool) -> int:
    """Decide every row; write the results files and summary.csv; the exit code (0 all decided, 4 some timeout or
    unknown, 2 some error)."""
    rows = _rows(csv_path)
    target = Path(results_dir or DEFAULT_DIR)
    target.mkdir(parents=True, exist_ok=True)
    summary = []
    for n, row in enumerate(rows, start=1):
        limit = row.timeout if timeout is None else timeout
        start = time.monotonic()
        status, engine, message, text, cert, (fa, fb) = _one(row, limit, settings, decide)
        labelled = dict(row.models)
        f_model, g_model = (labelled["f"], labelled["g"]) if set(labelled) == {"f", "g"} else (fa, fb)
        seconds = time.monotonic() - start
        name = _name(n, row)
        write_text_atomic(target / name, text)
        cert_name = name.removesuffix(".txt") + ".cert.json" if cert is not None else ""
        if cert is not None:
            write_text_atomic(target / cert_name, json.dumps(cert) + "\n")
        if cert is not None and (str(fa), str(fb)) != (str(f_model), str(g_model)):
            message += f"; the certificate is about A = {Path(fa).name}, B = {Path(fb).name} (the property's order)"
        summary.append({"instance": n, "model_f": str(f_model), "model_g": str(g_model),
                        "property": str(row.prop), "timeout": limit, "status": status, "engine": engine,
                        "seconds": round(seconds, 3), "results_file": name, "certificate": cert_name,
                        "message": message})
        if not as_json:
            out.print(f"[{n}/{len(rows)}] {Path(fa).name} vs {Path(fb).name} on {row.prop.name}: "
                      f"{status} ({engine}, {seconds:.1f} s of {limit:g})", markup=False, soft_wrap=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS)
    writer.writeheader()
    writer.writerows(summary)
    write_text_atomic(target / "summary.csv", buf.getvalue())
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        out.print(f"wrote {len(rows)} results files and {target / 'summary.csv'}", markup=False, soft_wrap=True)
    statuses = {r["status"] for r in summary}
    return EXIT_USAGE if "error" in statuses else EXIT_UNKNOWN if statuses & {"timeout", "unknown"} else EXIT_OK
