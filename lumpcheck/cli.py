"""The `lumpcheck` command line: info, reduce, check, verify, report, zoo (each a thin layer over the Python API)."""

from __future__ import annotations

import functools
from fractions import Fraction
import json
import sys
import traceback
from pathlib import Path
from typing import Callable

import click
from rich.console import Console
from rich.table import Table

from . import __version__, interrupt
from .errors import LumpcheckError
from .outputs import Named, Target, refuse_clashes
from .zoo import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT

EXIT_OK = 0
EXIT_REFUTED = 1  # counterexample found / certificate invalid
EXIT_USAGE = 2  # bad input file or arguments
EXIT_UNSUPPORTED = 3  # model outside lumpcheck's scope
EXIT_UNKNOWN = 4  # solver gave up or timed out
EXIT_INTERNAL = 70  # a bug in lumpcheck
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT); SIGTERM gives 143 (128 + signal number)

EXIT_CODES_HELP = f"""
\b
Exit codes:
  {EXIT_OK}   success (reduced / proved / valid)
  {EXIT_REFUTED}   refuted: counterexample found, certificate invalid, or proof failed
  {EXIT_USAGE}   bad input: unreadable model, malformed file, bad option, output over an input
  {EXIT_UNSUPPORTED}   unsupported model (conv, branches, unknown op): nothing to do
  {EXIT_UNKNOWN}   unknown or timeout: the solver could not decide
  {EXIT_INTERNAL}  internal error (a bug: please report it with --debug output)
  {EXIT_INTERRUPTED} interrupted by Ctrl-C (143: by SIGTERM); no partial or temporary files are left
"""

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def user_errors(fn: Callable) -> Callable:
    """Turn LumpcheckError into a one-line message and its exit code; bugs get one line unless --debug."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        debug = bool(ctx.find_root().params.get("debug"))
        try:
            return fn(*args, **kwargs)
        except LumpcheckError as e:
            if debug:
                traceback.print_exc()
            err.print(f"lumpcheck: error: {e.one_line()}", markup=False, soft_wrap=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM (interrupt.py): temporary files are already gone
            name = interrupt.signal_of(e).name
            notes = "".join(f"; {note}" for note in getattr(e, "__notes__", []))
            err.print(f"lumpcheck: interrupted ({name}){notes}", markup=False, soft_wrap=True)
            sys.exit(interrupt.exit_code(e))
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:  # noqa: BLE001 - last line of defence: one line, not a traceback
            if debug:
                traceback.print_exc()
            err.print(f"lumpcheck: internal error: {type(e).__name__}: {e} (rerun with --debug)", markup=False, soft_wrap=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper


@click.group(
    epilog=EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="lumpcheck")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
def cli(debug: bool) -> None:
    """Shrink neural networks without changing what they compute, and prove it.

    \b
    Typical session:
      lumpcheck info model.onnx                       what is in the file
      lumpcheck reduce model.onnx -o small.onnx \\
                --certify cert.json                   exact lumping + proof certificate
      lumpcheck check cert.json model.onnx small.onnx independent re-check

    Models: ONNX (dense chains: Gemm/MatMul+Add with Relu, LeakyRelu, Sigmoid, Tanh) and ACAS Xu .nnet.
    Domains: VNN-LIB files (their input box). Every weight is read as the exact rational it is; no
    decision anywhere rests on float rounding.
    """


def _load(path: str, arch: str | None = None):
    from .io import load_model

    return load_model(path, arch.split(",") if arch else None)


def normalization_option(keep_help: str):
    """The --normalization option: what to do with input/output normalisation metadata (.nnet headers, ONNX Sub/Div)."""
    return click.option(
        "--normalization",
        type=click.Choice(["keep", "fold", "drop"]),
        default="keep",
        show_default=True,
        help=f"Input/output normalisation: keep = {keep_help}; fold = the affine maps into the first/last layer "
        "(exact; input clipping stays, as metadata); drop = the bare layer chain on normalised values (claims "
        "are then about the layer chains).",
    )


ARCH_HELP = "PyTorch state_dict only: the activation after each Linear, e.g. relu,relu,identity."

domain_space_option = click.option(
    "--domain-space",
    type=click.Choice(["input", "normalized"]),
    default="input",
    show_default=True,
    help="Coordinates of the --domain box: input = the model file's own (raw) input, clipped and normalised "
    "by the model as every input is; normalized = the layer chain's coordinates after the model's normalisation "
    "(VNN-COMP's ACAS Xu properties are in these coordinates, an ACAS .nnet's own input is raw).",
)


def _load_box(path: str | None, net, space: str = "input"):
    """The --domain box over the model's own input (converted from `space`); clip warnings on stderr."""
    if path is None:
        return None
    from .io.vnnlib import read_box
    from .ir.semantics import clip_report, model_box

    box = model_box(net, read_box(path, n_inputs=net.input_size), space)
    for line in clip_report(net, box)[0]:
        err.print(f"lumpcheck: warning: {Path(path).name}: {line}: inputs there are clipped; is the box in the "
                  f"model's input units? (see --domain-space)", markup=False, soft_wrap=True)
    return box


def _activations(net) -> str:
    kinds: list[str] = []
    for layer in net.layers[:-1]:
        if str(layer.activation) not in kinds:
            kinds.append(str(layer.activation))
    out_act = str(net.layers[-1].activation)
    return f"{', '.join(kinds) or 'none'} (hidden); {out_act} (output)"


def info_dict(net, box) -> dict:
    """Machine-readable summary of a network (and domain) for `info --json`."""
    return {
        "source": net.source,
        "shape": net.shape_str(),
        "widths": net.widths,
        "params": net.param_count,
        "hidden_neurons": net.hidden_neurons,
        "layers": [
            {"in": layer.in_features, "out": layer.out_features, "activation": str(layer.activation)}
            for layer in net.layers
        ],
        "normalization": net.normalization is not None,
        "meta": {k: v for k, v in net.meta.items() if isinstance(v, (str, int, float, bool))},
        "domain": None
        if box is None
        else {"lower": [str(v) for v in box.lower], "upper": [str(v) for v in box.upper], **_chain_box(net, box)},
    }


def _chain_box(net, box) -> dict:
    """The box as the layer chain sees it (clipped, normalised), when the model has a normalisation."""
    if net.normalization is None:
        return {}
    chain = net.normalization.input_box(box)
    return {"normalized": {"lower": [str(v) for v in chain.lower], "upper": [str(v) for v in chain.upper]}}


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--domain", "domain", type=click.Path(dir_okay=False), help="VNN-LIB file whose input box to show.")
@domain_space_option
@click.option("--arch", help=ARCH_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of tables.")
@user_errors
def info(model: str, domain: str | None, domain_space: str, arch: str | None, as_json: bool) -> None:
    """Show a model's layers, widths, activations and parameter count.

    \b
    Example:
      lumpcheck info examples/planted_relu.onnx
      lumpcheck info acas_1_1.onnx --domain prop_3.vnnlib
      lumpcheck info ACASXU_1_1.nnet --domain prop_3.vnnlib --domain-space normalized
    """
    net = _load(model, arch)
    box = _load_box(domain, net, domain_space)
    if as_json:
        click.echo(json.dumps(info_dict(net, box), indent=2))
        return
    out.print(f"[bold]{Path(model).name}[/bold]: {net.shape_str()}, {net.param_count:,} params, {_activations(net)}")
    table = Table("layer", "in", "out", "activation", "params")
    for i, layer in enumerate(net.layers, start=1):
        table.add_row(str(i), str(layer.in_features), str(layer.out_features), str(layer.activation), f"{layer.param_count:,}")
    out.print(table)
    if net.normalization is not None:
        out.print("normalisation: input means/ranges and output mean/range kept as metadata (not folded)")
    if box is not None:
        norm = net.normalization
        chain = None if norm is None else norm.input_box(box)
        columns = ["input", "lower", "upper"] + ([] if chain is None else ["clip range", "normalised lower",
                                                                           "normalised upper"])
        bt = Table(*columns, title=f"domain from {Path(domain).name}"
                   + ("" if chain is None else " (model input; then as the layer chain sees it: clipped, normalised)"))
        for i, (lo, hi) in enumerate(zip(box.lower, box.upper)):
            if i >= 20:
                bt.add_row("…", f"({box.dim - 20} more)", "")
                break
            row = [f"X_{i}", f"{float(lo):.6g}", f"{float(hi):.6g}"]
            if chain is not None:
                a, b = norm.clip_bounds(i)
                row += [f"[{'-inf' if a is None else f'{float(a):.6g}'}, {'inf' if b is None else f'{float(b):.6g}'}]",
                        f"{float(chain.lower[i]):.6g}", f"{float(chain.upper[i]):.6g}"]
            bt.add_row(*row)
        out.print(bt)


def reduction_dict(red, report, out_path: str, cert_path: str | None, verdict: str | None) -> dict:
    """Machine-readable summary of a reduction for `reduce --json`."""
    st = red.stats
    return {
        "model": red.original.source,
        "output": out_path,
        "shape_before": red.original.shape_str(),
        "shape_after": red.network.shape_str(),
        "params_before": st.params_before,
        "params_after": st.params_after,
        "seconds": st.seconds,
        "domain": None if red.domain is None else red.domain.source or "box",
        "equal_only_on_domain": getattr(red, "claims", None) is not None,
        "layers": [{"layer": ls.layer, "before": ls.before, "after": ls.after, "reasons": ls.reasons} for ls in st.layers],
        "export": {
            "dtype": report.dtype,
            "rounded": report.rounded,
            "total": report.total,
            "max_abs_change": str(report.max_abs_change),
            "max_rel_change": str(report.max_rel_change),
        },
        "certificate": cert_path,
        "verdict": verdict,
    }


def _print_reduction(red, report) -> None:
    st = red.stats
    table = Table("layer", "before", "after", "why", title=f"{red.original.shape_str()} -> {red.network.shape_str()}")
    for ls in st.layers:
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(ls.reasons.items()) if reason != "kept") or "minimal"
        table.add_row(str(ls.layer), str(ls.before), str(ls.after), why)
    out.print(table)
    ratio = st.params_after / st.params_before if st.params_before else 1.0
    if st.params_after == st.params_before:
        out.print(f"already minimal: no exact lumping ({st.params_before:,} params), {st.seconds:.3f} s")
    else:
        out.print(f"params {st.params_before:,} -> {st.params_after:,} ({ratio:.1%} kept) in {st.seconds:.3f} s")
    if report.exact:
        out.print(f"export {report.dtype}: exact (every weight of the quotient is a {report.dtype} value)")
    else:
        out.print(f"[yellow]export {report.summary()}[/yellow]; the exact quotient is what is proved")


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Reduced model to write (.onnx or .nnet). With --certify it appears only when the proof holds (else as NAME.unproved.EXT).")
@click.option("--domain", type=click.Path(dir_okay=False), help="VNN-LIB file: reduce on its input box (stably inactive ReLUs removed, stably linear neurons folded); the result equals MODEL ONLY on that box.")
@click.option("--no-domain-reduction", is_flag=True, help="With --domain: lump only (valid everywhere) and prove over the box.")
@domain_space_option
@click.option("--allow-outside-clip", is_flag=True, help="Certify even when the --domain box lies wholly outside the model's input clip range on some input (refused by default: usually a units mistake).")
@click.option(
    "--dtype",
    type=click.Choice(["auto", "float32", "float64"]),
    default="auto",
    show_default=True,
    help="Float format of the written weights; auto = the source's format if the quotient is exact in it, else float64.",
)
@click.option("--certify", "cert_path", type=click.Path(dir_okay=False), help="Prove the reduction and write the certificate (JSON) here (on a failed proof: CERT.failed.json).")
@click.option("--smtlib", "smtlib_dir", type=click.Path(file_okay=False), help="With --certify: also write every obligation as SMT-LIB 2 into this new (or .smt2-only) directory, replaced as a whole (on a failed proof: DIR.unproved).")
@normalization_option("keep it as metadata (.nnet and .onnx hold it; .pt needs fold or drop)")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of tables.")
@user_errors
def reduce(model, output, domain, no_domain_reduction, domain_space, allow_outside_clip, dtype, cert_path, smtlib_dir,
           normalization, as_json) -> None:
    """Find the coarsest exact lumping of MODEL and write the smaller model.

    Merges duplicate neurons (any activation), positively proportional ones (ReLU, LeakyReLU, identity),
    negated ones (tanh; sigmoid via 1 - sigmoid), folds constant neurons into the next bias and drops
    dead ones. The reduced model computes exactly the same function (with --domain: on that input box
    only, where it also drops stably inactive ReLUs and folds stably linear neurons); with --certify it is proved
    layer by layer (z3 + exact rational algebra) and a certificate is written that
    `lumpcheck check` re-verifies independently.

    Never destroys or half-writes: an output that names an input (or another output, symlinks included) is
    refused, and the outputs appear together at the end. With --certify they appear under the requested
    names only if the proof holds; a failed proof exits 1, prints the failing obligations and keeps the files
    as NAME.unproved.EXT, CERT.failed.json (and DIR.unproved). Ctrl-C exits 130 and leaves nothing behind.

    \b
    Examples:
      lumpcheck reduce model.onnx -o small.onnx
      lumpcheck reduce model.onnx -o small.onnx --certify cert.json --smtlib obligations/
      lumpcheck reduce acas.nnet -o small.onnx --normalization drop --dtype float64
      lumpcheck reduce ACASXU_1_1.nnet -o small.nnet --domain prop_3.vnnlib \
                --domain-space normalized --certify cert.json

    The model's input clipping and normalisation are part of what it computes: a --domain box is over
    the model's own input (or, with --domain-space normalized, over its layer chain's coordinates) and
    is clipped and normalised as every input is. A box reaching beyond the clip range gets a warning.
    """
    from .pipeline import run_reduction

    proving = cert_path and not as_json
    with err.status("proving layer by layer (exact algebra + z3)…", spinner="dots") if proving else _nullcontext():
        res = run_reduction(model, output, domain_path=domain, dtype=dtype, cert_path=cert_path,
                            smtlib_dir=smtlib_dir, normalization=normalization,
                            domain_reduction=not no_domain_reduction, domain_space=domain_space,
                            allow_outside_clip=allow_outside_clip)
    if proving:
        out.print(f"certificate: {res.verdict} -> {res.cert_path}", markup=False, soft_wrap=True)
    failed = res.verdict not in (None, "proved")
    if as_json:
        doc = reduction_dict(res.reduction, res.rounding, res.output_path, res.cert_path, res.verdict)
        doc["failures"] = [{"id": o.id, "detail": o.detail} for o in res.certificate.failures] if failed else []
        click.echo(json.dumps(doc, indent=2))
    else:
        _print_reduction(res.reduction, res.rounding)
        for note in res.notes:
            out.print(note, markup=False, soft_wrap=True)
        out.print(f"wrote {res.output_path}", markup=False, soft_wrap=True)
    if failed:
        _print_failed_proof(res, output, cert_path, smtlib_dir)
        sys.exit(EXIT_REFUTED)


def _print_failed_proof(res, output: str, cert_path: str, smtlib_dir: str | None) -> None:
    """Why the proof failed (the failing obligations) and where the unproved files were kept instead."""
    failures = res.certificate.failures
    err.print(f"lumpcheck: proof FAILED: {len(failures)} of {len(res.certificate.obligations)} obligations do not hold",
              markup=False, soft_wrap=True)
    for o in failures[:5]:
        detail = " ".join((o.detail or o.statement).split())
        err.print(f"  {o.id}: {detail[:300]}", markup=False, soft_wrap=True)
    if len(failures) > 5:
        err.print(f"  … {len(failures) - 5} more in {res.cert_path}", markup=False, soft_wrap=True)
    kept = f"kept the unproved model as {res.output_path} and the failed certificate as {res.cert_path}"
    if res.smtlib_dir:
        kept += f" (SMT-LIB files in {res.smtlib_dir})"
    requested = " / ".join(str(p) for p in (output, cert_path, smtlib_dir) if p)
    err.print(f"{kept}; nothing written under {requested}", markup=False, soft_wrap=True)


def _nullcontext():
    import contextlib

    return contextlib.nullcontext()


@cli.command()
@click.argument("certificate", type=click.Path(dir_okay=False))
@click.argument("original", type=click.Path(dir_okay=False))
@click.argument("reduced", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON result.")
@user_errors
def check(certificate, original, reduced, as_json) -> None:
    """Independently re-check a certificate against the two model files.

    Re-reads both models, checks their SHA-256 hashes, re-derives every obligation from the models
    and the certificate (not from the reducer's code), discharges them with exact rational algebra and
    z3, and prints `valid: SCOPE` or `invalid: reason` (exit code 1). SCOPE says what holds: e.g.
    `equal on all inputs`, `equal ONLY on the box of prop_3.vnnlib (5 inputs), not outside it`, or
    `|original - reduced| <= 4.8e-05 on the box ...` for an ε-certificate. The models' input
    clipping and normalisation are part of what is compared.

    \b
    Example:
      lumpcheck check cert.json model.onnx small.onnx
    """
    from .checker import check as run_check

    result = run_check(certificate, original, reduced)
    if as_json:
        scope = None if result.scope is None else result.scope.to_dict()
        click.echo(json.dumps({"valid": result.valid, "scope": scope, "reasons": result.reasons}, indent=2))
    elif result.valid:
        out.print(str(result), markup=False, soft_wrap=True)
    else:
        out.print(f"invalid: {result.reasons[0]}", markup=False, soft_wrap=True)
        for reason in result.reasons[1:5]:
            out.print(f"  also: {reason}", markup=False, soft_wrap=True)
    sys.exit(EXIT_OK if result.valid else EXIT_REFUTED)


@cli.command()
@click.argument("certificate", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Report file to write (.html or .md).")
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), help="Report format (default: from the output's suffix, else html).")
@click.option("--original", type=click.Path(dir_okay=False), help="Original model file (default: the path in the certificate).")
@click.option("--reduced", type=click.Path(dir_okay=False), help="Reduced model file (default: the path in the certificate).")
@user_errors
def report(certificate, output, fmt, original, reduced) -> None:
    """Write a readable proof report for a certificate: one self-contained HTML page, or Markdown.

    Shows the verdict in one line (what was proved, over which domain, by which solver, and whether the
    model files on disk still match the certified hashes), a per-layer table and bar chart, every
    obligation's result, the hashes, and the `lumpcheck check` command that re-verifies it all.
    Refuses an OUTPUT that is the certificate or one of the model files (symlinks included).

    \b
    Examples:
      lumpcheck report cert.json -o report.html
      lumpcheck report cert.json -o report.md --original model.onnx --reduced small.onnx
    """
    from .report import write_report

    result = write_report(certificate, output, fmt, original, reduced)
    out.print(result.verdict_line, markup=False, soft_wrap=True)
    out.print(f"wrote {output}", markup=False, soft_wrap=True)


@cli.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Output directory (summary, index.html, models/).")
@click.option("--domain-map", type=click.Path(exists=True, dir_okay=False), help="VNN-COMP instances.csv: onnx_path,vnnlib_path,timeout per row (relative to the csv).")
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(min=1), help="Models processed at the same time.")
@click.option("--timeout", type=float, help=f"Seconds per model  [default: {DEFAULT_TIMEOUT:g}; domain-map rows: their timeout column].")
@click.option("--memory-mb", default=DEFAULT_MEMORY_MB, show_default=True, type=click.IntRange(min=0), help="Address-space cap per model process (0: none).")
@click.option("--scheduler", help="Run on a dask.distributed cluster, e.g. tcp://HOST:8786 (needs lumpcheck[dask]; shared filesystem).")
@click.option("--force", is_flag=True, help="Redo every model, ignoring earlier results in the output directory.")
@user_errors
def zoo(directory, output, domain_map, jobs, timeout, memory_mb, scheduler, force) -> None:
    """Reduce, certify and check every .onnx/.nnet model under DIRECTORY, each in its own process.

    One bad model never stops the run: each gets a row with status reduced, minimal, failed (a proof or
    check did not hold), unsupported, error or timeout. Writes OUTPUT/summary.csv, summary.json, index.html
    and per model OUTPUT/models/NAME/ (reduced model in the original's format, cert.json, report.html, log).
    Rerunning skips models whose files and settings are unchanged, so an interrupted run can be resumed.
    OUTPUT must not hold DIRECTORY or any model or domain. Ctrl-C (or SIGTERM) kills the model processes,
    removes the unfinished models' files, writes the summary of the finished ones and exits 130 (143).
    Exit code 1 when some proof or check failed, else 0.

    \b
    Examples:
      lumpcheck zoo models/ -o zoo_out --jobs 4 --timeout 600
      lumpcheck zoo benchmarks/acasxu -o out --domain-map benchmarks/acasxu/instances.csv
      lumpcheck zoo models/ -o /shared/out --scheduler tcp://10.0.0.5:8786
    """
    from .zoo import Settings, discover, run_zoo

    refuse_clashes([Named("DIRECTORY", directory), Named("--domain-map", domain_map)], [Target("-o", output, directory=True)])
    jobs_list = discover(directory, domain_map, csv_timeouts=timeout is None, exclude=[output])
    settings = Settings(timeout=timeout or DEFAULT_TIMEOUT, memory_mb=memory_mb or None)
    if scheduler:
        result = _run_on_dask(scheduler, jobs_list, output, settings, force)
    else:
        result = run_zoo(jobs_list, output, settings=settings, jobs=jobs, progress=True, force=force)
    table = Table("status", "rows", title=f"{len(result.rows)} jobs in {result.wall_seconds:.1f} s")
    for kind, n in result.counts.items():
        table.add_row(kind, str(n))
    out.print(table)
    resumed = sum(r.resumed for r in result.rows)
    if resumed:
        out.print(f"{resumed} taken from the earlier run (unchanged files and settings; --force redoes them)")
    out.print(f"wrote {Path(output) / 'index.html'}", markup=False, soft_wrap=True)
    sys.exit(EXIT_REFUTED if result.counts.get("failed") else EXIT_OK)


def _run_on_dask(address: str, jobs_list, output: str, settings, force: bool):
    """Schedule the zoo's jobs on a dask.distributed cluster (workers must see the same filesystem)."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise LumpcheckError("--scheduler needs dask.distributed: pip install 'lumpcheck[dask]'") from None
    from .zoo import run_zoo

    try:
        client = Client(address, timeout="15s")
    except (OSError, TimeoutError) as e:
        raise LumpcheckError(f"cannot reach the dask scheduler at {address}: {e}") from None
    with client:
        return run_zoo(jobs_list, output, client.get_executor(pure=False), settings=settings, progress=True, force=force)


VERIFY_EXIT = {"unsat": EXIT_OK, "sat": EXIT_REFUTED, "unknown": EXIT_UNKNOWN, "timeout": EXIT_UNKNOWN, "error": EXIT_USAGE}


@cli.command()
@click.argument("model_a", type=click.Path(dir_okay=False))
@click.argument("model_b", type=click.Path(dir_okay=False))
@click.option("--domain", type=click.Path(dir_okay=False), help="VNN-LIB file: compare over its input box (default: all of R^n).")
@domain_space_option
@click.option(
    "--mode",
    default="strict",
    show_default=True,
    help="strict (identical outputs), epsilon=E (max |difference| <= E, E decimal or p/q), top1 (same set of maximal outputs).",
)
@click.option("--timeout", default=60.0, show_default=True, type=float, help="Seconds for the whole check.")
@normalization_option("compare the models as they are (clipping and normalisation included; they may differ)")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@user_errors
def verify(model_a, model_b, domain, domain_space, mode, timeout, normalization, as_json) -> None:
    """Decide whether two networks compute the same function (e.g. a hand-pruned model vs its original).

    Tries, in order: falsification (random/corner sampling in float, every hit replayed in exact
    arithmetic), a certified bound on the difference (epsilon mode), matching both networks' coarsest
    lumpings (neuron permutation + scaling, proved layer by layer), and a monolithic z3 encoding.
    Results use VNN-COMP's words: unsat = equivalent, sat = counterexample (an exact input witness,
    replayed exactly and in onnxruntime), unknown, timeout, error.

    \b
    Examples:
      lumpcheck verify model.onnx pruned.onnx --domain prop.vnnlib
      lumpcheck verify model.onnx model_fp16.onnx --domain prop.vnnlib --mode epsilon=1e-3
      lumpcheck verify model.onnx small.onnx --mode top1 --timeout 300
    """
    from .verify import Mode
    from .verify import verify as run_verify

    from .pipeline import prepare_normalization

    a = prepare_normalization(_load(model_a), normalization, model_a) if normalization != "keep" else _load(model_a)
    b = prepare_normalization(_load(model_b), normalization, model_b) if normalization != "keep" else _load(model_b)
    try:
        parsed = Mode.parse(mode)
    except ValueError as e:
        raise LumpcheckError(f"bad --mode {mode!r}: {e}") from e
    box = _load_box(domain, a, domain_space)
    with err.status("verifying…", spinner="dots") if not as_json else _nullcontext():
        result = run_verify(a, b, box, parsed, timeout, a_path=model_a, b_path=model_b)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print_verify(result, box)
    sys.exit(VERIFY_EXIT.get(result.status, EXIT_INTERNAL))


def _approx(v) -> str:
    """A float rendering of an exact output (a Fraction, or an enclosure for sigmoid/tanh nets)."""
    try:
        return f"{float(v):.9g}"
    except TypeError:
        return str(v)


def _print_verify(result, box) -> None:
    where = "over all of R^n" if box is None else f"over the box of {box.source or 'the domain'}"
    meaning = {"unsat": "equivalent", "sat": "NOT equivalent: counterexample", "unknown": "undecided", "timeout": "undecided (timeout)", "error": "error"}
    out.print(f"[bold]{result.status}[/bold] ({meaning.get(result.status, '')}, {result.mode}, {where}) by {result.engine}")
    if result.message:
        out.print(result.message, markup=False, soft_wrap=True)
    data = result.to_dict()
    if data["witness"] is not None:
        out.print("witness x ≈ [" + ", ".join(f"{float(v):.9g}" for v in result.witness) + "]", markup=False, soft_wrap=True)
        out.print("exact A(x) ≈ [" + ", ".join(_approx(v) for v in result.output_a) + "]", markup=False, soft_wrap=True)
        out.print("exact B(x) ≈ [" + ", ".join(_approx(v) for v in result.output_b) + "]", markup=False, soft_wrap=True)
        diffs = [abs(a - b) for a, b in zip(result.output_a, result.output_b) if isinstance(a, Fraction) and isinstance(b, Fraction)]
        if diffs:
            out.print(f"max |A(x) - B(x)| = {float(max(diffs)):.3g} (exact, nonzero: {max(diffs) != 0})")
        out.print("(exact rational witness and outputs: rerun with --json)")
        if data["onnxruntime"]:
            out.print(f"onnxruntime: {data['onnxruntime']}", markup=False, soft_wrap=True)
    out.print("times: " + ", ".join(f"{k} {v:.3f}s" for k, v in data["times"].items()))


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--domain", required=True, type=click.Path(dir_okay=False), help="VNN-LIB file: the input box the error bound holds on.")
@click.option("-t", "--tolerance", required=True, type=float, help="Merge neurons whose normalised incoming vectors differ by at most this.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Approximate model to write (.onnx or .pt).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True, help="Float format of the written weights.")
@click.option("--samples", default=1000, show_default=True, type=int, help="Random box points for the measured deviation.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for the sampled points.")
@click.option("--confirm", "confirm_timeout", type=float, help="Also confirm the bound with `verify` (epsilon mode) within this many seconds.")
@click.option("--arch", help=ARCH_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@user_errors
def approx(model, domain, tolerance, output, dtype, samples, seed, confirm_timeout, arch, as_json) -> None:
    """Approximate (relaxed) lumping with a CERTIFIED error bound on a box.

    After the exact lumping, neurons whose normalised incoming vectors are within --tolerance are merged
    too. The result is not equivalent: lumpcheck derives, in exact arithmetic, a sound bound ε on
    max |original(x) - approximate(x)| over the box (including the export's rounding) and reports it
    beside the deviation measured on random points (always <= ε). Refuses an OUTPUT that is MODEL or the domain.

    \b
    Example:
      lumpcheck approx mnist.onnx --domain prop.vnnlib -t 0.05 -o small.onnx
    """
    from .approx import approximate_reduce, export_approx

    refuse_clashes([Named("MODEL", model), Named("--domain", domain)], [Named("-o", output)])
    net = _load(model, arch)
    box = _load_box(domain, net)
    if tolerance < 0:
        raise LumpcheckError(f"--tolerance must be >= 0, got {tolerance}")
    with err.status("clustering and bounding the deviation…", spinner="dots") if not as_json else _nullcontext():
        red = approximate_reduce(net, box, tolerance, samples=samples, seed=seed, confirm_timeout=confirm_timeout)
        report, file_eps = export_approx(red, output, dtype)
    summary = {
        "model": model,
        "output": output,
        "tolerance": tolerance,
        "hidden_before": net.widths[1:-1],
        "hidden_after": red.kept,
        "certified_epsilon": str(red.epsilon),
        "certified_epsilon_of_file": str(file_eps),
        "measured_max_deviation": red.measured,
        "samples": samples,
        "confirmation": None if red.confirmation is None else red.confirmation.status,
        "export": report.summary(),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    out.print(f"hidden neurons {sum(summary['hidden_before'])} -> {sum(red.kept)} (per layer {red.kept})")
    out.print(
        f"APPROXIMATE: certified max |deviation| <= {float(file_eps):.6g} on the box of {Path(domain).name} "
        f"(exact bound {summary['certified_epsilon_of_file']}); measured on {samples} points: {red.measured:.6g}",
        markup=False,
        soft_wrap=True,
    )
    if red.confirmation is not None:
        out.print(f"verify (epsilon mode): {red.confirmation.status}")
    out.print(f"export {report.summary()}; wrote {output}", markup=False, soft_wrap=True)


def main() -> None:
    """Console-script entry point: Ctrl-C and SIGTERM become exit codes 130 and 143 (interrupt.py)."""
    interrupt.install()
    cli(prog_name="lumpcheck")


if __name__ == "__main__":
    main()
