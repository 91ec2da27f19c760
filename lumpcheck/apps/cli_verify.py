"""The `lumpcheck verify` and `lumpcheck approx` commands (registered on the group in cli.py)."""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

import click

from ..epsilon.approx import approximate_reduce, export_approx
from ..equivalence.engine import verify as run_verify
from ..equivalence.mode import Mode
from ..errors import LumpcheckError
from ..io.marker import CLAIM, DOMAIN, domain_value
from ..prove.records import sha256_file
from .console import (
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_REFUTED,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    arch_option,
    domain_space_option,
    err,
    load_box,
    load_network,
    normalization_option,
    nullcontext,
    out,
    user_errors,
)
from .outputs import Named, refuse_clashes
from .pipeline import interface, prepare_normalization

VERIFY_EXIT = {"unsat": EXIT_OK, "sat": EXIT_REFUTED, "unknown": EXIT_UNKNOWN, "timeout": EXIT_UNKNOWN, "error": EXIT_USAGE}


@click.command()
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
@arch_option(of="MODEL_A")
@arch_option("--arch-b", of="MODEL_B (default: --arch)")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@user_errors
def verify(model_a, model_b, domain, domain_space, mode, timeout, normalization, arch, arch_b, as_json) -> None:
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
    a = load_network(model_a, arch, "--arch")
    b = load_network(model_b, arch_b or arch, "--arch-b")
    if normalization != "keep":
        a, b = prepare_normalization(a, normalization, model_a), prepare_normalization(b, normalization, model_b)
    try:
        parsed = Mode.parse(mode)
    except ValueError as e:
        raise LumpcheckError(f"bad --mode {mode!r}: {e}") from e
    box = load_box(domain, a, domain_space)
    with err.status("verifying…", spinner="dots") if not as_json else nullcontext():
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
        for side, values in data["onnxruntime"].items():  # keyed "a" / "b"
            shown = ", ".join(f"{v:.9g}" for v in values)
            out.print(f"onnxruntime (float, informative) {side.upper()}(x) ≈ [{shown}]", markup=False, soft_wrap=True)
    if data["times"]:
        out.print("times: " + ", ".join(f"{k} {v:.3f} s" for k, v in data["times"].items()), markup=False)


def approx_marker(model: str, box, epsilon: Fraction) -> dict[str, str]:
    """The marker of an approximate model (io/marker.py): not equal to the original, within ε on the box only."""
    claim = (f"APPROXIMATES {Path(model).name} (sha256 {sha256_file(model)}): max |original - this| <= {epsilon} "
             f"(about {float(epsilon):.3g}) ONLY on the input box in lumpcheck.domain, as bounded by lumpcheck approx "
             "(no certificate file); NOT equal to the original, and NOT valid outside the box")
    return {CLAIM: claim, DOMAIN: domain_value(box, Path(box.source).name if box.source else "")}


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--domain", required=True, type=click.Path(dir_okay=False), help="VNN-LIB file: the input box the error bound holds on.")
@click.option("-t", "--tolerance", required=True, type=float, help="Merge neurons whose normalised incoming vectors differ by at most this.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Approximate model to write (.onnx or .pt).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True, help="Float format of the written weights.")
@click.option("--samples", default=1000, show_default=True, type=int, help="Random box points for the measured deviation.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for the sampled points.")
@click.option("--confirm", "confirm_timeout", type=float, help="Also confirm the bound with `verify` (epsilon mode) within this many seconds.")
@arch_option()
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
    refuse_clashes([Named("MODEL", model), Named("--domain", domain)], [Named("-o", output)])
    net = load_network(model, arch)
    box = load_box(domain, net)
    if tolerance < 0:
        raise LumpcheckError(f"--tolerance must be >= 0, got {tolerance}")
    with err.status("clustering and bounding the deviation…", spinner="dots") if not as_json else nullcontext():
        red = approximate_reduce(net, box, tolerance, samples=samples, seed=seed, confirm_timeout=confirm_timeout)
        signature = interface(net, output, dtype, None, red.network, [])
        report, file_eps = export_approx(red, output, dtype, signature=signature,
                                         marker=lambda eps: approx_marker(model, box, eps))
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
    per_layer = ", ".join(f"{a} -> {b}" for a, b in zip(summary["hidden_before"], red.kept))
    out.print(f"hidden neurons {sum(summary['hidden_before'])} -> {sum(red.kept)} (per layer: {per_layer})")
    out.print(
        f"APPROXIMATE: certified max |deviation| <= {float(file_eps):.6g} on the box of {Path(domain).name} "
        f"(exact bound {summary['certified_epsilon_of_file']}); measured on {samples} points: {red.measured:.6g}",
        markup=False,
        soft_wrap=True,
    )
    if red.confirmation is not None:
        out.print(f"verify (epsilon mode): {red.confirmation.status}")
    out.print(f"export {report.summary()}; wrote {output}", markup=False, soft_wrap=True)
