"""The `lumpcheck verify` and `lumpcheck approx` commands (registered on the group in cli.py)."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import replace
from functools import partial
from fractions import Fraction
from pathlib import Path

import click
from click.core import ParameterSource

from ..checker import check
from ..epsilon.approx import approximate_reduce, export_approx
from ..epsilon.certificate import round_up
from ..equivalence.cluster import connect
from ..equivalence.engine import verify as run_verify
from ..equivalence.falsify import Enclosure, replay
from ..equivalence.mode import Mode
from ..equivalence.result import VerifyResult
from ..equivalence.softmax import logits_mode, split_heads, verify_softmax
from ..equivalence.union import decide_boxes, searched_boxes, witness_box
from ..errors import LumpcheckError, UnsupportedModelError
from ..io.atomic import write_text_atomic
from ..io.marker import CLAIM, DOMAIN, domain_value
from ..io.vnncomp import results_text
from ..io.vnnlib import read_box, read_boxes, read_vnnlib, version2
from ..solver import Verdict
from ..prove.records import sha256_file
from .console import (
    SECONDS,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_REFUTED,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    arch_list,
    arch_option,
    domain_space_option,
    err,
    load_any_model,
    load_box,
    load_network,
    normalization_option,
    nullcontext,
    out,
    user_errors,
)
from ..ir.domain import Box
from ..ir.graph.dag import Graph
from ..ir.graph.dense import from_network
from ..ir.semantics import domain_point
from .graph_pipeline import graph_box, graph_boxes
from .graph_verify import verify_graphs
from .radical_verify import radical_pair, verify_radical
from .deadline import ChildFailed, DeadlineReached, alarm_at, command_deadline, run_until
from .verify_batch import Settings, results_of, run_batch
from .verify_written import UNUSED_NOTE, decide_written, refuse_unsupported, spec2_with_outputs, witness_in_region
from .outputs import Named, refuse_clashes
from .pipeline import decimal_report, interface, prepare_domain, prepare_normalization

VERIFY_EXIT = {"unsat": EXIT_OK, "sat": EXIT_REFUTED, "unknown": EXIT_UNKNOWN, "timeout": EXIT_UNKNOWN, "error": EXIT_USAGE}


MODE_HELP = ("What 'equivalent' means: strict (identical outputs), epsilon=E (max_i |A_i(x) - B_i(x)| <= E; E a "
             "decimal or p/q), top1 (the same set of maximal outputs, ties included), argmin (the same set of minimal "
             "outputs: ACAS Xu's advisory), delta-top1=D (D in [0.5, 1), decimal or p/q; asymmetric, A is the reference: "
             "wherever A's softmax confidence in a class exceeds D, that class must be B's unique top output, a tie in "
             "B counting as disagreement; VeryDiff's δ-top-1).")


@click.command()
@click.argument("model_a", type=click.Path(dir_okay=False), required=False)
@click.argument("model_b", type=click.Path(dir_okay=False), required=False)
@click.option("--domain", type=click.Path(dir_okay=False),
              help="VNN-LIB file: compare over its input box (default: all of R^n). A VNN-LIB 2.0 file with output "
                   "assertions over the two networks is decided AS WRITTEN when --mode is not given (see below).")
@domain_space_option
@click.option("--mode", default="strict", show_default=True,
              help=MODE_HELP + " Not given with a VNN-LIB 2.0 --domain that asserts something about the outputs: the "
                   "file's assertions decide (as written); given: the mode decides and the file's output assertions "
                   "are not used.")
@click.option("--timeout", default=60.0, show_default=True, type=SECONDS,
              help="Hard wall-clock limit in seconds for the whole command, counted from the process's start (module "
                   "loading, reading, encoding, search and writing the answer included; the search stops 1.5 s before "
                   "it); when it is reached the answer is timeout (exit 4).")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(min=1),
              help="Processes for the differential search (its leaves are bounded in parallel; 1 = this process).")
@click.option("--memory", "memory_mb", default=2048, show_default=True, type=click.IntRange(min=64),
              help="Memory cap in MB for the differential search: its worker processes and this one together (with "
                   "--jobs 1 this process, checked after every batch); when it is reached the answer is unknown.")
@click.option("--scheduler", metavar="tcp://HOST:PORT",
              help="Spread the differential search's leaves over a dask.distributed cluster (as `zoo --scheduler`; needs "
                   "lumpcheck[dask] on this machine and the workers). Same hard --timeout; results come back here, where "
                   "the verdict and certificate are made (--jobs is then unused). A bad or unreachable address is an "
                   "error (exit 2).")
@click.option("--self-check/--no-self-check", default=True, show_default=True,
              help="Before an 'unsat' with a certificate is reported, `lumpcheck check` re-derives that certificate "
                   "from the model files (the independent checker, within the same --timeout): a certificate it "
                   "refuses turns the verdict into 'unknown' (a prover bug, never a wrong unsat); one it cannot "
                   "finish in time leaves the unsat, noted as not re-checked.")
@click.option("--certify", "certify_path", type=click.Path(dir_okay=False),
              help="Write the certificate of an 'unsat' verdict to this JSON file (differential, domain-match and "
                   "difference-bound verdicts: re-check it with `lumpcheck check F MODEL_A MODEL_B`, render it with `lumpcheck report`). "
                   "Nothing is written for other verdicts. Needs --normalization keep (the models as they are).")
@click.option("--results-file", "results_path", type=click.Path(dir_okay=False),
              help="Also write the verdict in VNN-COMP's results format: sat/unsat/timeout/unknown/error on the "
                   "first line, after sat the witness as ((X_0 v) ... (Y_0 v) ... (Y2_0 v) ...) with exact values.")
@click.option("--instances", type=click.Path(exists=True, dir_okay=False),
              help="VNN-COMP instances.csv: verify every row's pair instead of MODEL_A MODEL_B. A row is "
                   "\"[('f', 'A.onnx'), ('g', 'B.onnx')]\",prop.vnnlib,TIMEOUT (paths relative to the csv; VNN-LIB 1.0 "
                   "or 2.0 properties: the input box is read, the outputs compared by --mode; a 2.0 property with output "
                   "assertions is decided as written when --mode is not given); each row within its own "
                   "timeout (unless --timeout is given), one results file per row (and the certificate of a certified "
                   "unsat) in --results-dir.")
@click.option("--results-dir", type=click.Path(file_okay=False),
              help="With --instances: where the VNN-COMP results files and summary.csv go (default: ./vnncomp_results).")
@normalization_option("compare the models as they are (clipping and normalisation included; they may differ)")
@arch_option(of="MODEL_A")
@arch_option("--arch-b", of="MODEL_B (default: --arch)")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@user_errors
def verify(model_a, model_b, domain, domain_space, mode, timeout, jobs, memory_mb, scheduler, self_check, certify_path,
           results_path, instances, results_dir, normalization, arch, arch_b, as_json) -> None:
    """Decide whether two networks are equivalent on a box: a model and its pruned, quantised or otherwise
    edited copy (widths may differ), or any two networks with the same inputs and outputs.

    \b
    Engines, cheapest first (each one only where it applies; the first verdict wins):
      domain-match      one network reduced on the --domain box (stably inactive ReLUs removed, stably
                        active ones folded, as `reduce --domain` does) matches the other exactly; every
                        step proved (lumpcheck's own box reductions, equal on the box only; widths differ)
      falsify           float search (random, corners, gradient steps); a hit counts only after exact replay
      difference-bound  a certified bound D on |A - B| (same architecture, any activations, sigmoid and tanh
                        included: their derivative ranges on the box bound each layer): epsilon/strict when
                        D <= E; top1/argmin for sigmoid/tanh pairs when A's decision margin exceeds 2·D on
                        the whole box (--certify certificates for both)
      lumping-match     both coarsest lumpings match (lumpcheck's own outputs, proved on all of R^n)
      differential      both networks bounded in lockstep, with bounds on their difference, plus branch and
                        bound over input splits (few inputs, a few more for epsilon) or ReLU phases
                        (many); inputs the box fixes (lower = upper, e.g. all but a patch of pixels) are
                        folded exactly into both networks first and not counted; needs --domain and
                        identity/relu/leaky_relu layers; its unsat comes with a certificate (--certify);
                        its leaves run in --jobs processes or on a Dask cluster (--scheduler)
      monolithic        one exact z3 query (small networks)

    \b
    Verdicts (VNN-COMP's words) and exit codes:
      unsat    equivalent on the box                                      exit 0
      sat      NOT equivalent: an exact witness, replayed exactly          exit 1
      unknown / timeout   undecided                                       exit 4
      error    the models cannot be compared (sizes differ, ...)          exit 2
    An undecided epsilon=E search of the differential engine says where max |A - B| lies as far as it got:
    at most E plus the open regions' bound (sound, rounded up), at least the largest difference its
    float search saw (rounded down; floats, not replayed), e.g. "<= 0.5686 ... seen in floats is 0.0859".

    A --domain whose input region is an `or` of boxes (e.g. ACAS Xu's property 6) is decided box by box, each
    with an equal share of the time left: sat when one box is (its witness lies in that box), unsat when every
    box is (--certify then writes their union, one certificate per box: specs/union-certificate.md). Inputs
    between the boxes are never searched.

    \b
    A VNN-LIB 2.0 --domain over two networks (VNN-COMP 2026: declare-network f and g, inputs tied by
    (== X_f[i] X_g[i])) whose assertions mention the outputs, without --mode, is decided AS WRITTEN (VNN-COMP):
      sat      some input of the file's region makes its output assertions true: an exact
               witness, both outputs replayed exactly against them (also in --results-file)   exit 1
      unsat    no input does (per input box: falsify, the differential engine with the atoms
               as its objective, one exact z3 query for small networks)                       exit 0
    The file is read as it stands: an ε band written (and (> Y_g (+ Y_f e)) (< Y_g (- Y_f e))) is empty, so
    the answer is unsat. For ε-equivalence of the two networks on the file's inputs give --mode epsilon=E (the
    mode then decides; the file's output assertions are not used). An unsat of the differential engine comes
    with a --certify certificate (for an `or` of input boxes, their union) (`lumpcheck check` re-derives it); a relation between the
    two networks' inputs, or any input constraint that is not a bound, is refused (exit 3).

    \b
    A final Softmax over the whole output (the rest a dense chain) is split off and the logits compared:
      top1 / argmin    exactly the logits' (softmax keeps the order of its inputs, ties included); also
                       when only one model ends in a Softmax
      strict           equal logits prove equal outputs; a witness counts if its logit difference is not
                       a constant vector (softmax cancels constants), else unknown
      epsilon=E        logits within 2E prove outputs within E (softmax is 1/2-Lipschitz in the max norm);
                       a witness counts only if interval enclosures of both softmax outputs differ by > E
      strict and epsilon need both models to end in a Softmax (exit 3 otherwise)
      delta-top1=D     is about A's logits (its outputs, or the input of its final Softmax) and B's top
                       output (which B's Softmax keeps): decided on the logits, exactly
    A --certify file is proved on the logits and records which models end in a Softmax; `lumpcheck check`
    splits the Softmax off the model files itself and accepts the outputs' mode only by the facts above.

    Graph (CNN/ResNet) pairs: falsification with exact replay, lumping-match (after folding BatchNorms with
    rational scales exactly), in epsilon mode on a box a certified bound of |A - B| (sound symbolic bounds), else
    unknown (--certify, --jobs and --scheduler apply to dense chains; the hard --timeout and --results-file to
    graph pairs too).
    A dense Gemm/BatchNormalization/ReLU chain with irrational BN scales (e.g. a model and its BN-folded copy)
    goes to the differential engine with each BN folded exactly as radical weights c·sqrt(n) (certificates too).

    \b
    Examples:
      lumpcheck verify acas.onnx acas_pruned.onnx --domain prop_1.vnnlib --mode epsilon=0.05
      lumpcheck verify acas.onnx acas_pruned.onnx --domain prop_3.vnnlib --mode argmin --certify c.json
      lumpcheck check c.json acas.onnx acas_pruned.onnx          # re-check the unsat certificate
      lumpcheck verify acas.onnx acas_pruned.onnx --domain prop_1.vnnlib --mode argmin \\
          --scheduler tcp://10.0.0.5:8786 --timeout 600           # leaves bounded on a Dask cluster
      lumpcheck verify mnist.onnx mnist_fp16.onnx --domain ball.vnnlib --mode top1 --jobs 2 --timeout 100 \\
          --results-file out.txt
      lumpcheck verify --instances acas_pairs/instances.csv --mode argmin --results-dir out/
                     # a VNN-COMP batch of two-network rows: out/NNN_*.txt per row, out/summary.csv; exit 0 when
                     # every row was decided, 4 when some timed out or stayed unknown, 2 when some failed (error)
    """
    mode_given = click.get_current_context().get_parameter_source("mode") != ParameterSource.DEFAULT
    settings = Settings(mode, domain_space, jobs, memory_mb, scheduler, normalization, arch, arch_b, mode_given,
                        self_check)
    if instances:
        if model_a or model_b or domain or certify_path or results_path:
            raise LumpcheckError("--instances runs the pairs its rows name: give no MODEL_A MODEL_B, --domain, "
                                 "--certify or --results-file with it (each instance's results file is in --results-dir)")
        row_timeout = click.get_current_context().get_parameter_source("timeout") == ParameterSource.DEFAULT
        sys.exit(run_batch(instances, results_dir, None if row_timeout else timeout, settings, decide, as_json))
    if not (model_a and model_b):
        raise LumpcheckError("verify needs MODEL_A and MODEL_B (or --instances instances.csv)")
    if results_dir:
        raise LumpcheckError("--results-dir is for --instances; a single pair writes --results-file")
    if certify_path and normalization != "keep":
        raise LumpcheckError(f"--certify needs --normalization keep: with {normalization} the engines compare the "
                             "models' prepared layer chains, and `lumpcheck check` re-derives a certificate from the "
                             "model files as they are, so it could not re-check this one")
    targets = (("--certify", certify_path), ("--results-file", results_path))
    refuse_clashes([Named("MODEL_A", model_a), Named("MODEL_B", model_b), Named("--domain", domain)],
                   [Named(option, path) for option, path in targets if path])
    try:
        result, box, point = decide(model_a, model_b, domain, timeout, settings, quiet=as_json,
                                    certify=bool(certify_path))
    except Exception:  # a user error or a bug: a VNN-COMP harness reads a results file for every instance
        if results_path:
            write_text_atomic(results_path, results_text("error"))
        raise
    _write_outputs(result, certify_path, results_path, point)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print_verify(result, box, domain)
        if certify_path and result.certificate is not None:
            out.print(f"certificate: {certify_path} (check: lumpcheck check {certify_path} {model_a} {model_b})",
                      markup=False, soft_wrap=True)
    sys.exit(VERIFY_EXIT.get(result.status, EXIT_INTERNAL))


def decide(model_a: str, model_b: str, domain: str | None, timeout: float, o: Settings, quiet: bool = False,
           certify: bool = False, row: bool = False):
    """(result, box, point): one pair decided under a hard wall-clock limit of `timeout` s from the command's start
    (module loading, reading and writing the answer included; row: from now, for one row of a batch). certify: a
    certificate is wanted (the radical-chain path builds one only then; the other paths always do). point(x) is a
    witness x in the --domain file's coordinates. The search runs in a child process killed at the deadline
    (`run_until`); the steps in this process (reading, replaying a witness) are held by `alarm_at`, and a limit
    reached there is a timeout (box None: the box may not have been read)."""
    try:
        mode = Mode.parse(o.mode)
    except ValueError as e:
        raise LumpcheckError(f"bad --mode {o.mode!r}: {e}") from e
    deadline = command_deadline(timeout, own_clock=row)
    try:
        with alarm_at(deadline):
            return _decide(model_a, model_b, domain, timeout, o, mode, deadline, quiet, certify)
    except DeadlineReached:
        return VerifyResult(Verdict.TIMEOUT, mode, "none", f"hard time limit of {timeout:g} s reached (--timeout) "
                            "outside the search (reading the models or the property, or replaying a witness)"), None, list


def _decide(model_a: str, model_b: str, domain: str | None, timeout: float, o: Settings, parsed: Mode,
            deadline: float, quiet: bool, certify: bool):
    """decide()'s work, in this process up to the child's search."""
    a = load_any_model(model_a, o.arch, "--arch")
    b = load_any_model(model_b, o.arch_b or o.arch, "--arch-b")
    a, b, heads = split_heads(a, b)
    spec = spec2_with_outputs(domain)
    if spec is not None and not o.mode_given:
        refuse_unsupported(spec, a, b, heads.any, o.domain_space, o.normalization)
        if o.normalization != "keep":
            a, b = prepare_normalization(a, o.normalization, model_a), prepare_normalization(b, o.normalization, model_b)
        kw = dict(a_path=model_a, b_path=model_b, jobs=0 if o.jobs == 1 else o.jobs, memory_mb=o.memory_mb)
        with err.status("verifying…", spinner="dots") if not quiet else nullcontext():
            result = decide_written(spec, a, b, deadline, timeout, kw)
        if o.self_check and result.status == Verdict.UNSAT and result.certificate is not None:
            result = self_checked(result, model_a, model_b, o, deadline, domain)
        return result, spec.domain_box(), list
    radical = None if heads.any or o.normalization != "keep" or o.domain_space != "input" else radical_pair(a, b)
    if radical is not None:
        a, b = radical
    elif isinstance(a, Graph) or isinstance(b, Graph):
        if o.scheduler:
            raise LumpcheckError("--scheduler spreads the differential search of dense chains; a graph (CNN/ResNet) "
                                 "pair is verified in this process", model_a)
        result, box = _verify_graphs(a, b, model_a, model_b, domain, o, parsed, deadline, timeout, quiet)
        return _unused_outputs(witness_in_region(result, domain, list), spec, domain, o), box, list
    source = a  # the file's box and a witness's coordinates are about the model as read (or its radical chain)
    if o.normalization != "keep":
        a, b = prepare_normalization(a, o.normalization, model_a), prepare_normalization(b, o.normalization, model_b)
    if heads.any:
        logits_mode(parsed, heads)  # refuses an unsound mode before any work
    box = load_box(domain, source, o.domain_space)  # over the model's input (clip warnings on stderr)
    if box is not None and o.normalization == "drop":  # over the bare chain's input, as `reduce` reads it
        box = prepare_domain(source, read_box(domain, n_inputs=source.input_size), o.domain_space, "drop")
    boxes = (box,)  # the region's boxes (an `or` of input boxes: each decided on its own), in the searched coordinates
    if box is not None:
        boxes = searched_boxes([prepare_domain(source, piece, o.domain_space, o.normalization)
                                for piece in read_boxes(domain, n_inputs=source.input_size)], box)

    def work(report=None):
        client = connect(o.scheduler, max(0.0, deadline - time.monotonic())) if o.scheduler else None
        kw = dict(a_path=model_a, b_path=model_b, jobs=0 if o.jobs == 1 else o.jobs, memory_mb=o.memory_mb,
                  client=client, progress=report)

        def one(piece: Box | None, seconds: float) -> VerifyResult:
            if radical is not None:
                return verify_radical(a, b, piece, parsed, seconds, jobs=kw["jobs"], memory_mb=o.memory_mb,
                                      client=client, certificate=certify, progress=report)
            if heads.any:
                return verify_softmax(a, b, piece, parsed, heads, seconds, **kw)
            return run_verify(a, b, piece, parsed, seconds, **kw)

        try:
            return decide_boxes(one, boxes, deadline, report)
        finally:
            if client is not None:
                client.close(timeout=1)

    with err.status("verifying…", spinner="dots") if not quiet else nullcontext() as status:
        try:
            result = run_until(work, deadline, None if status is None else
                               (lambda text: status.update(f"verifying… {text}")))
        except DeadlineReached:
            result = VerifyResult(Verdict.TIMEOUT, parsed, "none", f"hard time limit of {timeout:g} s reached (--timeout)")
        except ChildFailed as e:
            raise RuntimeError(str(e)) from None
        if o.self_check and result.status == Verdict.UNSAT and result.certificate is not None:
            if status is not None:
                status.update("verifying… re-checking the certificate (lumpcheck check)")
            result = self_checked(result, model_a, model_b, o, deadline, domain)
    point = partial(domain_point, source, space=o.domain_space, dropped=o.normalization == "drop")
    replay_at = partial(replay, a, b, mode=parsed) if radical is None and not heads.any else None  # the searched pair
    checked = witness_in_region(result, domain, point, replay_at, witness_box(result, boxes, box))
    return _unused_outputs(checked, spec, domain, o), box, point


def self_checked(result: VerifyResult, model_a: str, model_b: str, o: Settings, deadline: float,
                 domain: str | None = None) -> VerifyResult:
    """The unsat `result` after the independent checker re-derived its certificate from the model files (as
    `lumpcheck check C A B --domain P` does, in a child process under the same deadline: the --domain file's region
    must lie inside the certified boxes, and a claim as written must prove the file's own assertions false):
    'unknown' if the checker refuses it, the unsat with a note if it could not finish in time or the models were
    changed before the engines saw them."""
    if o.normalization != "keep" or (o.arch_b and o.arch_b != o.arch):
        return replace(result, message=f"{result.message}; certificate not re-checked (--normalization / --arch-b)")
    with tempfile.TemporaryDirectory(prefix="lumpcheck-self-check-") as tmp:
        path = Path(tmp) / "certificate.json"
        path.write_text(json.dumps(result.certificate), encoding="utf-8")
        try:
            checked = run_until(lambda: check(path, model_a, model_b, original_arch=arch_list(o.arch),
                                              jobs=max(1, o.jobs), domain=domain, domain_space=o.domain_space),
                                deadline)
        except DeadlineReached:
            return replace(result, message=f"{result.message}; certificate not re-checked before --timeout")
    if checked.valid:
        return replace(result, message=f"{result.message}; certificate re-checked: valid")
    return VerifyResult(Verdict.UNKNOWN, result.mode, result.engine,
                        f"the {result.engine} engine's unsat is withdrawn: the independent checker refuses its "
                        f"certificate ({checked.reasons[0] if checked.reasons else 'invalid'}); this is a bug in "
                        "lumpcheck's prover, please report it", times=result.times, details=result.details)


def _unused_outputs(result: VerifyResult, spec, domain: str | None, o: Settings) -> VerifyResult:
    """On a file with output assertions that the mode decided instead (a 2.0 file with --mode, any 1.0 file, whose
    assertions are about one network): say that they were not used."""
    note = UNUSED_NOTE if spec is not None else None
    if note is None and domain is not None and not version2(domain) and read_vnnlib(domain).output_constraint:
        note = (f"the file's output assertions (VNN-LIB 1.0: about one network) were not used: --mode {o.mode} "
                "decides" + ("" if o.mode_given else " (the default)"))
    if note is not None:
        result.message = f"{result.message}; {note}" if result.message else note
    return result


def _write_outputs(result: VerifyResult, certify_path: str | None, results_path: str | None, point) -> None:
    """--certify (only for a certified unsat) and --results-file (the witness in the --domain file's coordinates,
    point(x)), each written atomically."""
    if certify_path and result.status == Verdict.UNSAT:
        if result.certificate is None:
            err.print(f"no certificate written to {certify_path}: this verdict ({result.engine}) comes without one "
                      "(--certify files are written for unsat verdicts of the differential, domain-match and difference-bound "
                      "engines)",
                      markup=False, soft_wrap=True)
        else:
            write_text_atomic(certify_path, json.dumps(result.certificate) + "\n")
    if results_path:
        write_text_atomic(results_path, results_of(result, point))


def _verify_graphs(a, b, model_a, model_b, domain, o: Settings, mode: Mode, deadline: float, timeout: float,
                   quiet: bool):
    """A pair where one model is a graph (CNN/ResNet): apps/graph_verify.py (a dense side becomes a graph), in a
    child process under the command's hard deadline (its engines check their own budgets only between steps, and
    one exact replay of a CIFAR net takes seconds)."""
    if o.normalization != "keep" or o.domain_space != "input":
        raise LumpcheckError("--normalization and --domain-space normalized are for dense chains; a graph pair is "
                             "compared as the models are, on a box over their own input", model_a)
    ga, gb = (m if isinstance(m, Graph) else from_network(m) for m in (a, b))
    box = None if domain is None else graph_box(ga, domain)
    boxes = (box,) if domain is None else searched_boxes(graph_boxes(ga, domain), box)  # an `or`: box by box

    def one(piece: Box | None, seconds: float) -> VerifyResult:
        return verify_graphs(ga, gb, piece, mode, seconds, a_path=model_a, b_path=model_b)

    def work():
        return decide_boxes(one, boxes, deadline)

    with err.status("verifying…", spinner="dots") if not quiet else nullcontext():
        try:
            result = run_until(work, deadline)
        except DeadlineReached:
            result = VerifyResult(Verdict.TIMEOUT, mode, "none", f"hard time limit of {timeout:g} s reached (--timeout)")
        except ChildFailed as e:
            raise RuntimeError(str(e)) from None
    return result, box


def _approx(v) -> str:
    """A float rendering of an exact output (a Fraction, or an enclosure for sigmoid/tanh/softmax outputs)."""
    if isinstance(v, Enclosure):
        lo, hi = f"{float(v.lo):.9g}", f"{float(v.hi):.9g}"
        return lo if lo == hi else f"[{lo}, {hi}]"
    try:
        return f"{float(v):.9g}"
    except TypeError:
        return str(v)


def _print_verify(result, box, domain: str | None) -> None:
    """The verdict for people; box None with a --domain: the limit came before the box was read."""
    source = (box.source if box is not None else None) or domain
    where = "over all of R^n" if box is None and domain is None else f"over the input region of {source or 'the domain'}"
    meaning = {"unsat": "equivalent", "sat": "NOT equivalent: counterexample", "unknown": "undecided", "timeout": "undecided (timeout)", "error": "error"}
    if result.mode.written:
        meaning.update(unsat="no input satisfies the file's assertions", sat="the file's assertions hold at the witness")
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
@click.option("--samples", default=1000, show_default=True, type=click.IntRange(min=1), help="Random box points for the measured deviation.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed for the sampled points.")
@click.option("--confirm", "confirm_timeout", type=SECONDS, help="Also confirm the bound with `verify` (epsilon mode) within this many seconds.")
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
        report = report or decimal_report(red.network)  # a .nnet holds exact decimals: nothing was rounded
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
        f"APPROXIMATE: certified max |deviation| <= {float(round_up(file_eps, 6)):.6g} on the box of {Path(domain).name} "
        f"(exact bound {summary['certified_epsilon_of_file']}); measured on {samples} points: {red.measured:.6g}",
        markup=False,
        soft_wrap=True,
    )
    if red.confirmation is not None:
        out.print(f"verify (epsilon mode): {red.confirmation.status}")
    out.print(f"export {report.summary()}; wrote {output}", markup=False, soft_wrap=True)
