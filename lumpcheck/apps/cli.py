"""The `lumpcheck` command line: info, reduce, check, verify, report, zoo (each a thin layer over the Python API)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import onnx.defs
from rich.table import Table

from .. import __version__
from ..checker import check as run_check
from ..errors import LumpcheckError
from ..io.marker import DOMAIN, Marker, marker_of
from ..io.onnx.signature import describe
from . import interrupt
from .deadline import start_clock
from ..ir.graph.dag import Graph
from .cli_graph import graph_info, graph_reduce
from .graph_pipeline import refuse_dense_options
from .graph_unroll import unroll_to_file
from .cli_verify import approx, verify
from .console import (
    SECONDS,
    EXIT_CODES_HELP,
    EXIT_OK,
    EXIT_REFUTED,
    arch_list,
    arch_option,
    domain_space_option,
    err,
    load_any_model,
    load_box,
    normalization_option,
    nullcontext,
    out,
    user_errors,
)
from .outputs import Named, Target, refuse_clashes
from .pipeline import run_reduction
from .report import write_report
from .zoo import run_zoo
from .zoo_jobs import discover, skipped_files
from .zoo_summary import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, Settings


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

    Models: ONNX (dense chains: Gemm/MatMul+Add with Relu, LeakyRelu, Sigmoid, Tanh; graphs: CNNs and ResNets
    with Conv, pooling, BatchNorm, residual Add, Concat, Transpose, Softmax) and ACAS Xu .nnet.
    Domains: VNN-LIB files (their input box). Every weight is read as the exact rational it is; no
    decision anywhere rests on float rounding.
    """


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
        "interface": None if net.meta.get("onnx_signature") is None else describe(net.meta["onnx_signature"]),
        "lumpcheck": marker_of(net.meta).as_dict() or None,
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
@arch_option()
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
    net = load_any_model(model, arch)
    if isinstance(net, Graph):
        graph_info(net, model, domain, domain_space, as_json)
        return
    box = load_box(domain, net, domain_space)
    if as_json:
        click.echo(json.dumps(info_dict(net, box), indent=2))
        return
    out.print(f"[bold]{Path(model).name}[/bold]: {net.shape_str()}, {net.param_count:,} params, {_activations(net)}")
    table = Table("layer", "in", "out", "activation", "params")
    for i, layer in enumerate(net.layers, start=1):
        table.add_row(str(i), str(layer.in_features), str(layer.out_features), str(layer.activation), f"{layer.param_count:,}")
    out.print(table)
    if net.meta.get("onnx_signature") is not None:
        out.print(f"interface: {describe(net.meta['onnx_signature'])}", markup=False, soft_wrap=True)
    if net.normalization is not None:
        out.print("normalisation: input means/ranges and output mean/range kept as metadata (not folded)")
    _print_marker(marker_of(net.meta))
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


def _print_marker(marker: Marker) -> None:
    """The lumpcheck marker of a reduced model: its claim, box and certificate, and a warning if box-only."""
    if not marker.present:
        return
    for key, value in marker.as_dict().items():
        parts = marker.domain_parts() if key == DOMAIN else None
        if parts is not None:
            source, n, text, intact = parts
            shown = text if len(text) <= 300 else text[:299] + "…"
            value = f"box from {source} ({n} inputs){'' if intact else ' [its text does NOT match its hash: edited?]'}: {shown}"
        out.print(f"{key}: {value}", markup=False, soft_wrap=True)
    if marker.only_on_box:
        err.print("lumpcheck: warning: this model is valid ONLY on the box in lumpcheck.domain: outside it, it computes "
                  "something else in general (use the original there)", markup=False, soft_wrap=True)


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


# over 60 lines only by its click options and --help text; the body is 20 lines
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
@arch_option()
@click.option("--opset", type=click.IntRange(min=7, max=onnx.defs.onnx_opset_version()), help="ONNX output: the opset to write (default: the source's, "
              "or 17 for a non-ONNX source). Names, shapes and the input's element type are kept from an ONNX source.")
@click.option("--unroll-dense", is_flag=True, help="Graph (CNN) models: unroll the chain into an exact dense Gemm+ReLU "
              "chain (each row the conv at one position), write it (see --unrolled) and reduce THAT with the dense "
              "pipeline: on --domain every stably inactive neuron goes and stably active ones fold. The certificate "
              "binds the unrolled file. Max-pooling after a ReLU becomes ReLU layers (max(u,v) = u + relu(v-u)). Refused with the reason: branches/residuals, irrational BN.")
@click.option("--unrolled", "unrolled_path", type=click.Path(dir_okay=False), help="With --unroll-dense: where to write "
              "the unrolled, unreduced dense chain (.onnx; default: OUTPUT's stem + .unrolled.onnx).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of tables.")
@user_errors
def reduce(model, output, domain, no_domain_reduction, domain_space, allow_outside_clip, dtype, cert_path, smtlib_dir,
           normalization, arch, opset, unroll_dense, unrolled_path, as_json) -> None:
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
      lumpcheck reduce cifar_base_kw.onnx --unroll-dense --domain prop.vnnlib -o dense.onnx \
                --certify cert.json     # then: lumpcheck check cert.json dense.unrolled.onnx dense.onnx

    The model's input clipping and normalisation are part of what it computes: a --domain box is over
    the model's own input (or, with --domain-space normalized, over its layer chain's coordinates) and
    is clipped and normalised as every input is. A box reaching beyond the clip range gets a warning.
    """
    source, original_model = load_any_model(model, arch), model
    unrolled = None
    if unrolled_path is not None and not unroll_dense:
        raise LumpcheckError("--unrolled needs --unroll-dense (it names where the unrolled dense chain goes)", model)
    if unroll_dense:
        if not isinstance(source, Graph):
            raise LumpcheckError("--unroll-dense is for graph (CNN) models; this one is already a dense chain: drop "
                                 "the option", model)
        refuse_dense_options(model, normalization=normalization, domain_space=domain_space)
        unrolled = unroll_to_file(model, source, output, cert_path, unrolled_path)
        model, source = unrolled.path, unrolled.network
    if isinstance(source, Graph):
        refuse_dense_options(model, smtlib_dir=smtlib_dir, normalization=normalization, domain_space=domain_space,
                             opset=opset)
        graph_reduce(source, model, output, domain=domain, no_domain_reduction=no_domain_reduction, dtype=dtype,
                     cert_path=cert_path, as_json=as_json)
        return
    proving = cert_path and not as_json
    with err.status("proving layer by layer (exact algebra + z3)…", spinner="dots") if proving else nullcontext():
        res = run_reduction(model, output, domain_path=domain, dtype=dtype, cert_path=cert_path,
                            smtlib_dir=smtlib_dir, normalization=normalization,
                            domain_reduction=not no_domain_reduction, domain_space=domain_space,
                            allow_outside_clip=allow_outside_clip, arch=arch_list(arch), opset=opset,
                            source=source, keep_original=False)  # only its outline is shown: peak memory
    if proving:
        out.print(f"certificate: {res.verdict} -> {res.cert_path}", markup=False, soft_wrap=True)
    failed = res.verdict not in (None, "proved")
    if as_json:
        doc = reduction_dict(res.reduction, res.rounding, res.output_path, res.cert_path, res.verdict)
        doc["failures"] = [{"id": o.id, "detail": o.detail} for o in res.certificate.failures] if failed else []
        if unrolled is not None:
            doc["unrolled"] = {"model": original_model, "path": unrolled.path, "widths": list(unrolled.widths)}
        click.echo(json.dumps(doc, indent=2))
    else:
        _print_reduction(res.reduction, res.rounding)
        for note in ([unrolled.note(original_model)] if unrolled else []) + res.notes:
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


@cli.command()
@click.argument("certificate", type=click.Path(dir_okay=False))
@click.argument("original", type=click.Path(dir_okay=False))
@click.argument("reduced", type=click.Path(dir_okay=False))
@arch_option(of="ORIGINAL")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON result.")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(min=1),
              help="Processes re-deriving the leaves of a differential certificate (e.g. as many as `verify --jobs` "
                   "used); the verdict does not depend on it.")
@click.option("--domain", type=click.Path(dir_okay=False),
              help="A VNN-LIB property whose input region must lie inside the certified box (box by box for an "
                   "`or`); SCOPE then names this file (without it, SCOPE names only the file the certificate "
                   "records, which is not re-read). Its output assertions are compared only for a claim as written "
                   "(verify on a VNN-LIB 2.0 file without --mode): it must prove the file's own assertions false.")
@domain_space_option
@user_errors
def check(certificate, original, reduced, arch, as_json, jobs, domain, domain_space) -> None:
    """Independently re-check a certificate against the two model files.

    Re-reads both models, checks their SHA-256 hashes, re-derives every obligation from the models
    and the certificate (not from the reducer's code), discharges them with exact rational algebra and
    z3, and prints `valid: SCOPE` or `invalid: reason` (exit code 1). SCOPE says what holds: e.g.
    `equal on all inputs`, `equal ONLY on the box the certificate records (5 inputs, said to be prop_3.vnnlib's),
    not outside it`, or `|original - reduced| <= 4.8e-05 on the box ...` for an ε-certificate; with `--domain
    prop_3.vnnlib`, whose box must lie inside the certified one, `... ONLY on the box of prop_3.vnnlib ...`.
    The models' input clipping and normalisation are part of what is compared.

    Also checks the certificate of an `unsat` verdict of `lumpcheck verify --certify` (ORIGINAL, REDUCED =
    the verified models A and B): it re-derives the bound of every leaf of the split tree from the recorded
    slopes and checks that the leaves tile the box; the models are identified by their parameters. A
    domain-match certificate of `verify --certify` (A = B on the box through A's reduction on the box): it
    rebuilds the reduced network from B and the recorded permutation/scales and re-checks the reduction.

    \b
    Example:
      lumpcheck check cert.json model.onnx small.onnx
      lumpcheck check pair-cert.json model.onnx pruned.onnx
      lumpcheck check cert.json model.onnx small.onnx --domain prop_3.vnnlib
    """
    result = run_check(certificate, original, reduced, original_arch=arch_list(arch), jobs=jobs, domain=domain,
                       domain_space=domain_space)
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

    A differential certificate (`verify --certify`) gets its own report: the claim (mode, box, the two
    networks' fingerprints; pass the models as --original A --reduced B to see whether the files match), the
    split tree (strategy, leaves, depth, splits per input or layer, decision classes), every leaf, and how
    `lumpcheck check` re-derives each leaf's bound exactly. A domain-match certificate gets its own report too
    (which network was reduced on the box, per layer what was removed, folded and merged, the matching), and so
    does a difference-bound one (the ε claim, the engine's bound, how the checker re-derives its own).

    \b
    Examples:
      lumpcheck report cert.json -o report.html
      lumpcheck report diff.json -o diff.html --original a.onnx --reduced b.onnx
      lumpcheck report cert.json -o report.md --original model.onnx --reduced small.onnx
    """
    result = write_report(certificate, output, fmt, original, reduced)
    out.print(result.verdict_line, markup=False, soft_wrap=True)
    out.print(f"wrote {output}", markup=False, soft_wrap=True)


@cli.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Output directory (summary, index.html, models/).")
@click.option("--domain-map", type=click.Path(exists=True, dir_okay=False), help="VNN-COMP instances.csv: onnx_path,vnnlib_path,timeout per row (relative to the csv; x.onnx.gz is taken for a missing x.onnx). Every file it names must exist: the missing ones are listed and nothing starts (exit 2).")
@domain_space_option
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(min=1), help="Models processed at the same time.")
@click.option("--timeout", type=SECONDS, help=f"Seconds per model  [default: {DEFAULT_TIMEOUT:g}; domain-map rows: their timeout column].")
@click.option("--memory-mb", default=DEFAULT_MEMORY_MB, show_default=True, type=click.IntRange(min=0), help="Address-space cap per model process (0: none).")
@click.option("--scheduler", help="Run on a dask.distributed cluster, e.g. tcp://HOST:8786 (needs lumpcheck[dask]; shared filesystem).")
@click.option("--force", is_flag=True, help="Redo every model, ignoring earlier results in the output directory.")
@click.option("--skip-missing", is_flag=True, help="Leave out (and count) --domain-map rows naming a file that does "
              "not exist, instead of refusing the run (e.g. a benchmark copied with only some of its specs).")
@user_errors
def zoo(directory, output, domain_map, domain_space, jobs, timeout, memory_mb, scheduler, force, skip_missing) -> None:
    """Reduce, certify and check every .onnx/.nnet model (also .gz) under DIRECTORY, each in its own process.

    One bad model never stops the run: each gets a row whose status is one of reduced, minimal, failed (a
    proof or check did not hold), unsupported, error or timeout, and whose reason column says why. Writes
    OUTPUT/summary.csv, summary.json, index.html and per model OUTPUT/models/NAME/ (reduced model in the
    original's format, cert.json, report.html, log). PyTorch and Keras files under DIRECTORY are not run, and
    are named (reduce them one by one). Progress: a bar on a terminal, else one line per finished model.
    Rerunning skips models whose files and settings are unchanged, so an interrupted run can be resumed.
    OUTPUT must not hold DIRECTORY or any model or domain. Ctrl-C (or SIGTERM) kills the model processes,
    removes the unfinished models' files, writes the summary of the finished ones and exits 130 (143).
    Exit code 1 when some proof or check failed; else 4 when some model errored or timed out; else 0
    (unsupported models are outside lumpcheck's scope and do not fail a run).

    \b
    Examples:
      lumpcheck zoo models/ -o zoo_out --jobs 4 --timeout 600
      lumpcheck zoo benchmarks/acasxu -o out --domain-map benchmarks/acasxu/instances.csv
      lumpcheck zoo models/ -o /shared/out --scheduler tcp://10.0.0.5:8786
    """
    refuse_clashes([Named("DIRECTORY", directory), Named("--domain-map", domain_map)], [Target("-o", output, directory=True)])
    missing: list[str] | None = [] if skip_missing else None
    jobs_list = discover(directory, domain_map, csv_timeouts=timeout is None, exclude=[output], missing_rows=missing)
    if missing:
        out.print(f"zoo: left out the --domain-map rows naming {len(missing)} missing file(s) (--skip-missing): "
                  + "; ".join(missing[:5]) + (f"; … {len(missing) - 5} more" if len(missing) > 5 else ""),
                  markup=False, soft_wrap=True)
    skipped = skipped_files(directory, exclude=[output])
    if skipped:
        out.print(f"zoo: not running {len(skipped)} file(s): " + "; ".join(f"{s.file} ({s.reason})" for s in skipped),
                  markup=False, soft_wrap=True)
    settings = Settings(timeout=timeout or DEFAULT_TIMEOUT, memory_mb=memory_mb or None, domain_space=domain_space)
    if scheduler:
        result = _run_on_dask(scheduler, jobs_list, output, settings, force, skipped)
    else:
        result = run_zoo(jobs_list, output, settings=settings, jobs=jobs, progress=True, force=force, skipped=skipped)
    table = Table("status", "rows", title=f"{len(result.rows)} jobs in {result.wall_seconds:.1f} s")
    for kind, n in result.counts.items():
        table.add_row(kind, str(n))
    out.print(table)
    resumed = sum(r.resumed for r in result.rows)
    if resumed:
        out.print(f"{resumed} taken from the earlier run (unchanged files and settings; --force redoes them)")
    out.print(f"wrote {Path(output) / 'index.html'}", markup=False, soft_wrap=True)
    sys.exit(result.exit_code)


def _run_on_dask(address: str, jobs_list, output: str, settings, force: bool, skipped):
    """Schedule the zoo's jobs on a dask.distributed cluster (workers must see the same filesystem)."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise LumpcheckError("--scheduler needs dask.distributed: pip install 'lumpcheck[dask]'") from None
    try:
        client = Client(address, timeout="15s")
    except (OSError, TimeoutError, ValueError) as e:  # ValueError: not an address (tcp://HOST:PORT)
        raise LumpcheckError(f"cannot reach the dask scheduler at {address}: {e}") from None
    with client:
        return run_zoo(jobs_list, output, client.get_executor(pure=False), settings=settings, progress=True, force=force,
                       skipped=skipped)


cli.add_command(verify)
cli.add_command(approx)


def main() -> None:
    """Console-script entry point: Ctrl-C and SIGTERM become exit codes 130 and 143 (interrupt.py); a hard
    --timeout counts from the process's start (module loading included)."""
    interrupt.install()
    start_clock()
    cli(prog_name="lumpcheck")


if __name__ == "__main__":
    main()
