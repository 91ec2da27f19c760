"""Mutation score of the trusted paths (issue 14): a benchmark, not a test (it takes tens of minutes per group).

Each group mutates the soundness-deciding functions of a few modules with mutmut (pip install -e '.[mutation]')
and runs, per mutant, only the tests of the group's test files that reach the mutated function (mutmut's
per-function test selection). The run happens in a scratch copy of the repository (default
$TMPDIR/lumpcheck-mutation/<group>), so the work tree never sees mutmut's files.

    python benchmarks/mutation_score.py                      # every group with a target, one after another
    python benchmarks/mutation_score.py checker bounds -j 2  # some groups, two mutants at a time
    python benchmarks/mutation_score.py --report checker     # print the last run's score and survivors again
    python benchmarks/mutation_score.py --list               # the groups, their functions and tests

Score = killed / (all mutants − equivalent ones); a timeout counts as killed (the mutant changed behaviour),
"no tests" as survived. Equivalent mutants are listed, each with its diff line and a one-line reason, in
benchmarks/mutation_equivalent.json; an entry whose diff no longer matches its mutant is ignored (reported as
stale), so renumbered mutants are never silently excused. Results: benchmarks/MUTATION.md.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EQUIVALENT = Path(__file__).with_name("mutation_equivalent.json")
COPIED = ("lumpcheck", "tests", "examples", "specs", "pyproject.toml", "README.md")
TARGET = 0.95
MESSAGE_LINES = (
    r"^\s*raise \w+\(f?[\"']",  # raise SomeError("...") / raise SomeError(f"...")
    r"^\s*\w+\.append\(f?[\"']",  # out.append(f"...") (a reason's wording; the reason itself is appended)
    r"^\s*return Mismatch\(",  # the prover's report of a failed coefficient (any Mismatch is a failure)
    r"^\s*(run\.note|log\.\w+)\(",  # verify's notes and log lines
)
"""Lines that only word a message. Not mutated: their mutants change what a reason says, never whether a verdict
is given (tests/checker/test_check_document.py pins the checker's wording all the same)."""
KILLED = {"killed", "timeout", "segfault", "caught by type check"}


@dataclass(frozen=True)
class Group:
    """Modules to mutate, the functions in them (mutmut names: x_function, xǁClassǁmethod; fnmatch patterns) and
    the test files whose tests may kill them; `excluded` patterns are left out. `target`: held to the 95% score."""

    files: tuple[str, ...]
    functions: tuple[str, ...]
    tests: tuple[str, ...]
    target: bool = True
    excluded: tuple[str, ...] = ()
    deselect: str = ""
    """A pytest -k expression of slow tests left out (each surviving mutant re-runs every test reaching it)."""


def _in(module: str, *names: str) -> tuple[str, ...]:
    return tuple(f"lumpcheck.{module}.{n}__mutmut_*" for n in names)


SLOW_EPSILON = ("not measured_difference and not planted_export and not float32_epsilon_exceeds and not round_up"
                " and not rounding_check_agrees")
CHECKER_TESTS = ("tests/checker/test_mutants_checker.py", "tests/checker/test_check_dispatch.py",
                 "tests/checker/test_integers.py", "tests/checker/test_modular.py", "tests/checker/test_check_document.py",
                 "tests/checker/test_check_sampling.py", "tests/checker/test_check.py",
                 "tests/checker/test_check_epsilon_document.py", "tests/checker/test_check_epsilon_rounding.py",
                 "tests/prove/test_prover_rules.py", "tests/reduction/test_domain_maps.py",
                 "tests/epsilon/test_mutants_epsilon.py", "tests/epsilon/test_epsilon_bound_agreement.py",
                 "tests/epsilon/test_epsilon_cert.py", "tests/reduction/test_domain_reduce.py",
                 "tests/ir/test_clip_semantics.py")
GROUPS: dict[str, Group] = {
    # the independent checker (the kernel), whole
    "checker": Group(
        ("lumpcheck/checker/document.py", "lumpcheck/checker/result.py", "lumpcheck/checker/strict.py",
         "lumpcheck/checker/layer.py", "lumpcheck/checker/z3.py", "lumpcheck/checker/integers.py",
         "lumpcheck/checker/certificate.py", "lumpcheck/checker/epsilon.py"),
        ("lumpcheck.checker.*",),
        CHECKER_TESTS,
        deselect=SLOW_EPSILON + " and not solve_in_span and not planted_exact_on_box and not cli_reduce"
                 " and not not_equal_outside and not planted_neurons_are_removed and not zoo and not acas"
                 " and not unbounded",  # a test id with 'ε' that mutmut's in-process pytest cannot find again
    ),
    # the prover's obligations: derivation, structure and domain problems, every exact_* discharge, the integer
    # forms (not statements, ids, SMT variable names)
    "prover": Group(
        ("lumpcheck/prove/discharge.py", "lumpcheck/prove/derive.py", "lumpcheck/prove/obligations.py"),
        ("lumpcheck.prove.discharge.*", "lumpcheck.prove.derive.*")
        + _in("prove.obligations", "x_integer_form", "x_int_array", "xǁSubstitutedǁ*", "xǁPreActivationsǁ*",
              "xǁClaimedBoundsǁlayers", "xǁActivationLemmaǁaxiom", "xǁActivationLemmaǁtrivial"),
        ("tests/prove/test_mutants_prover.py", "tests/prove/test_prover_rules.py", "tests/reduction/test_domain_maps.py",
         "tests/prove/test_certificate.py", "tests/reduction/test_domain_reduce.py",
         "tests/reduction/test_lumping_properties.py", "tests/ir/test_clip_semantics.py"),
        deselect="not solve_in_span and not cli_reduce and not not_equal_outside and not planted_neurons_are_removed"
                 " and not planted_structure_found and not idempotent and not options_keep and not exact_add"
                 " and not two_product and not exact_scale and not proportional_rows",
    ),
    "exact": Group(
        ("lumpcheck/ir/exact.py",),
        ("lumpcheck.ir.exact.*",),
        ("tests/ir/test_exact.py", "tests/bounds/test_mutants_bounds.py", "tests/ir/test_network.py",
         "tests/reduction/test_lumping_properties.py"),
        deselect="not cancelling_pairs_become_ghosts",
    ),
    # sound bounds as re-run by the checker (interval, symbolic, split), phases, float arithmetic with error bounds
    "bounds": Group(
        ("lumpcheck/bounds/propagate.py", "lumpcheck/bounds/arith.py"),
        ("lumpcheck.bounds.propagate.*", "lumpcheck.bounds.arith.*"),
        ("tests/bounds/test_mutants_bounds.py", "tests/bounds/test_bounds_rounding.py", "tests/bounds/test_bounds.py"),
        deselect="not tightened_bounds and not acas",
    ),
    # exact replay of falsification hits and z3 models, and verify's other deciding steps: matching, modes, the
    # certified deviation bound (not the float search: `search`)
    "replay": Group(
        ("lumpcheck/equivalence/falsify.py", "lumpcheck/equivalence/engine.py", "lumpcheck/equivalence/match.py",
         "lumpcheck/equivalence/mode.py", "lumpcheck/bounds/deviation.py"),
        _in("equivalence.falsify", "x__lo", "x__hi", "x_exact_outputs", "x__enclose", "x__interval_fractions",
            "x__to_enclosure", "x_decide", "x__abs_diff_exceeds", "x_maximal_set", "x__decide_top1",
            "x__proven_unique_max", "x_replay", "xǁ_Spaceǁexact", "x_falsify")
        + _in("equivalence.engine", "x_verify", "x__shape_problem", "x__falsify", "x__difference_bound",
              "x__lumping_match", "x__certify_reductions", "x__monolithic", "x__pre_bounds", "xǁ_Runǁcounterexample")
        + ("lumpcheck.equivalence.match.*", "lumpcheck.equivalence.mode.*", "lumpcheck.bounds.deviation.*"),
        ("tests/equivalence/test_mutants_replay.py", "tests/equivalence/test_verify_engines.py",
         "tests/bounds/test_certified_epsilon.py", "tests/equivalence/test_falsify.py",
         "tests/equivalence/test_verify.py", "tests/equivalence/test_falsify_search.py",
         "tests/equivalence/test_mode_decisions.py", "tests/equivalence/test_match_cases.py",
         "tests/equivalence/test_verify_wiring.py"),
        excluded=_in("equivalence.mode", "xǁModeǁ__str__"),
    ),
    # the checker's fast exact path: a layer's linear identities decided by residues modulo coprime moduli (CRT)
    "modular": Group(
        ("lumpcheck/checker/modular.py",),
        ("lumpcheck.checker.modular.*",),
        ("tests/checker/test_modular.py", "tests/checker/test_mutants_checker.py", "tests/checker/test_check.py"),
        deselect="not solve_in_span and not planted_exact_on_box and not cli_reduce and not zoo and not acas",
    ),
    # the checker of differential (two-network) unsat certificates: the split tree, the re-derived slopes and the
    # float-sound difference bounds it re-runs on every leaf (difference_bounds is shared with the pair engine)
    "difference": Group(
        ("lumpcheck/checker/difference.py", "lumpcheck/checker/difference_bounds.py",
         "lumpcheck/checker/difference_pass.py"),
        ("lumpcheck.checker.difference.*", "lumpcheck.checker.difference_bounds.*",
         "lumpcheck.checker.difference_pass.*"),
        ("tests/checker/test_difference_check.py", "tests/checker/test_difference_crafted.py",
         "tests/equivalence/test_pair_ground_truth.py", "tests/equivalence/test_pair.py"),
        deselect="not no_wrong_verdict and not deadline_is_hard and not worker_processes",
    ),
    # the checker kernel of graph (CNN/ResNet channel-reduction) certificates: claims re-derived round by round,
    # removal regions, exact boundary maps, the rebuilt graph compared with the reduced one
    "graph_checker": Group(
        ("lumpcheck/checker/graph.py", "lumpcheck/checker/graph_claims.py", "lumpcheck/checker/graph_document.py",
         "lumpcheck/checker/graph_layout.py", "lumpcheck/checker/graph_rebuild.py", "lumpcheck/checker/graph_rules.py"),
        ("lumpcheck.checker.graph.*", "lumpcheck.checker.graph_claims.*", "lumpcheck.checker.graph_document.*",
         "lumpcheck.checker.graph_layout.*", "lumpcheck.checker.graph_rebuild.*", "lumpcheck.checker.graph_rules.*"),
        ("tests/checker/test_graph_check.py", "tests/checker/test_graph_check_rules.py", "tests/checker/test_graph_check_ops.py",
         "tests/reduction/test_graph_lumping_rules.py", "tests/reduction/test_graph_box.py",
         "tests/reduction/test_graph_lumping.py"),
        deselect="not zoo and not oval21 and not planted_cnns_reduce and not net2net_widened",
    ),
    # the graph IR's exact semantics that the graph checker trusts: ops and their shape rules, the DAG, the exact
    # kernels (conv, pools, pads, matmul) and exact evaluation with Radicals (BatchNorm's square roots). Left out:
    # float-only evaluation (evaluate_float and its float branches find candidates for graph_verify, which then
    # decides every candidate by evaluate_exact), and wording (describe, summary, repr).
    "graph_ir": Group(
        ("lumpcheck/ir/graph/evaluate.py", "lumpcheck/ir/graph/kernels.py", "lumpcheck/ir/graph/radical.py",
         "lumpcheck/ir/graph/ops.py", "lumpcheck/ir/graph/dag.py"),
        ("lumpcheck.ir.graph.evaluate.*", "lumpcheck.ir.graph.kernels.*", "lumpcheck.ir.graph.radical.*",
         "lumpcheck.ir.graph.ops.*", "lumpcheck.ir.graph.dag.*"),
        ("tests/ir/test_mutants_graph_ir.py", "tests/ir/test_graph_ir.py", "tests/ir/test_graph_radical.py",
         "tests/io/test_graph_onnx_ops.py", "tests/checker/test_graph_check_ops.py", "tests/checker/test_graph_check.py",
         "tests/reduction/test_batchnorm_fold.py"),
        excluded=_in("ir.graph.evaluate", "x_evaluate_float", "x__float_batchnorm")
        + _in("ir.graph.kernels", "x_float_of")
        + _in("ir.graph.radical", "xǁRadicalǁ__float__", "xǁRadicalǁ__repr__")
        + _in("ir.graph.ops", "xǁ*ǁdescribe") + _in("ir.graph.dag", "xǁGraphǁsummary", "xǁGraphǁparam_count",
                                                      "xǁNodeǁwhere"),
        deselect="not zoo and not oval21 and not planted_cnns_reduce and not net2net_widened",
    ),
    # one meaning of "two models agree on a box" (input clipping and normalisation), which the checker runs too
    "semantics": Group(
        ("lumpcheck/ir/semantics.py", "lumpcheck/ir/normalization.py"),
        ("lumpcheck.ir.semantics.*", "lumpcheck.ir.normalization.*"),
        ("tests/ir/test_clip_semantics.py", "tests/ir/test_semantics_compare.py", "tests/ir/test_network.py",
         "tests/checker/test_check.py", "tests/io/test_onnx_io.py", "tests/io/test_nnet_io.py"),
        excluded=_in("ir.semantics", "x__clip_text", "x_clip_report", "x__num"),  # warnings and wording, no verdict
        deselect="not zoo and not eran and not acas and not solve_in_span and not planted_exact_on_box"
                 " and not cli_reduce",
    ),
    # the activation facts every engine relies on (image, Lipschitz constant, merge factors, slopes, evaluation)
    "activation": Group(
        ("lumpcheck/ir/activation.py",),
        ("lumpcheck.ir.activation.*",),
        ("tests/ir/test_activation_facts.py", "tests/ir/test_activation_exact.py", "tests/ir/test_network.py", "tests/checker/test_check.py",
         "tests/reduction/test_lumping.py", "tests/bounds/test_bounds.py", "tests/bounds/test_certified_epsilon.py"),
        excluded=_in("ir.activation", "xǁActivationǁ__str__"),
        deselect="not zoo and not eran and not acas and not solve_in_span and not planted_exact_on_box"
                 " and not cli_reduce and not tightened_bounds",
    ),
    # trusted, measured, no target yet
    "search": Group(("lumpcheck/equivalence/falsify.py",),
                    _in("equivalence.falsify", "x_float_scores", "x__margin", "xǁ_Spaceǁ*", "xǁ_Poolǁ*", "x__rounded",
                        "x__coordinate_search"),
                    ("tests/equivalence/test_falsify.py", "tests/equivalence/test_mutants_replay.py"), target=False,
                    excluded=_in("equivalence.falsify", "xǁ_Spaceǁexact")),
    "tightening": Group(("lumpcheck/bounds/tighten.py",), ("lumpcheck.bounds.tighten.*",),
                        ("tests/bounds/test_bounds.py",), target=False),
    "lumping": Group(("lumpcheck/reduction/lumping.py", "lumpcheck/reduction/aggregate.py"),
                     ("lumpcheck.reduction.lumping.*", "lumpcheck.reduction.aggregate.*"),
                     ("tests/reduction/test_lumping.py", "tests/reduction/test_lumping_properties.py"), target=False),
    "epsilon": Group(("lumpcheck/epsilon/certificate.py",), ("lumpcheck.epsilon.certificate.*",),
                     ("tests/epsilon/test_mutants_epsilon.py", "tests/epsilon/test_epsilon_bound_agreement.py",
                      "tests/epsilon/test_epsilon_cert.py"),
                     target=False,
                     deselect="not measured_difference and not planted_export and not float32_epsilon_exceeds"),
    "domain_reduce": Group(("lumpcheck/reduction/domain.py",), ("lumpcheck.reduction.domain.*",),
                           ("tests/reduction/test_domain_reduce.py", "tests/reduction/test_domain_maps.py"),
                           target=False),
}


def _workdir(base: Path, name: str) -> Path:
    return base / name


def _prepare(work: Path, group: Group, fresh: bool) -> None:
    """Copy the repository's sources and tests into `work` and configure mutmut for the group there."""
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        src, dst = REPO / name, work / name
        if dst.is_dir():
            shutil.rmtree(dst)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dst)
    tests = [t for t in group.tests if (REPO / t).exists()] + (["-k", group.deselect] if group.deselect else [])
    text = (work / "pyproject.toml").read_text()
    text = text.split("\n[tool.mutmut]")[0]
    text += "\n[tool.mutmut]\n" + "\n".join([
        'source_paths = ["lumpcheck"]',
        f"only_mutate = {json.dumps(list(group.files))}",
        'also_copy = ["examples", "specs", "README.md"]',
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        'pytest_add_cli_args = ["-p", "no:xdist", "-p", "no:cacheprovider"]',
        f"do_not_mutate_patterns = {json.dumps(list(MESSAGE_LINES))}",
    ]) + "\n"
    (work / "pyproject.toml").write_text(text)


def _mutmut(work: Path, *args: str, capture: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=work, env=env, text=True,
                          capture_output=capture)


def _selected(name: str, group: Group) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in group.functions) and not any(fnmatch.fnmatch(name, p) for p in group.excluded)


def function_patterns(group: Group) -> list[str]:
    """One mutmut name pattern per selected function of the group's files (x_function / xǁClassǁmethod)."""
    out = []
    for file in group.files:
        module = file.removesuffix(".py").replace("/", ".")
        for node in ast.parse((REPO / file).read_text()).body:
            if isinstance(node, ast.FunctionDef):
                keys = [f"x_{node.name}"]
            elif isinstance(node, ast.ClassDef):
                keys = [f"xǁ{node.name}ǁ{m.name}" for m in node.body if isinstance(m, ast.FunctionDef)]
            else:
                keys = []
            out += [f"{module}.{k}__mutmut_*" for k in keys if _selected(f"{module}.{k}__mutmut_1", group)]
    return out


def unmatched_patterns(group: Group) -> list[str]:
    """The group's function and exclusion patterns that name no function of its files (a typo, or a renamed function)."""
    names = []
    for file in group.files:
        module = file.removesuffix(".py").replace("/", ".")
        for node in ast.parse((REPO / file).read_text()).body:
            if isinstance(node, ast.FunctionDef):
                names.append(f"{module}.x_{node.name}__mutmut_1")
            elif isinstance(node, ast.ClassDef):
                names += [f"{module}.xǁ{node.name}ǁ{m.name}__mutmut_1" for m in node.body if isinstance(m, ast.FunctionDef)]
    return [p for p in group.functions + group.excluded if not any(fnmatch.fnmatch(n, p) for n in names)]


def _statuses(work: Path, group: Group, only: set[str] | None = None) -> dict[str, str]:
    """Mutant name -> mutmut status, for the group's functions (or the `only` names), from mutmut's result files."""
    sys.path.insert(0, str(work))
    from mutmut.stats import status_by_exit_code

    out = {}
    for meta in (work / "mutants").rglob("*.meta"):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if _selected(name, group) and (only is None or name in only):
                out[name] = status_by_exit_code[code]
    return out


def _diff(work: Path, name: str) -> str:
    """The mutant's changed lines (-/+), read from mutmut's mutated file in-process (`mutmut show` per mutant is slow)."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    here = Path.cwd()
    os.chdir(work)
    try:
        shown = get_diff_for_mutant(name, path=name.rsplit(".", 1)[0].replace(".", "/") + ".py")
    finally:
        os.chdir(here)
    return "\n".join(line for line in shown.splitlines() if line.startswith(("-", "+")) and
                     not line.startswith(("---", "+++")))


def report(name: str, work: Path, group: Group) -> dict:
    """Score and survivors of the last run of a group (printed; also returned as a dict). After a sampled run only
    the sampled mutants count (listed in work/sample.txt)."""
    sample_file = work / "sample.txt"
    only = set(sample_file.read_text().split()) if sample_file.exists() else None
    statuses = _statuses(work, group, only)
    equivalent = json.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    survivors, excused, stale = [], [], []
    for mutant, status in sorted(statuses.items()):
        if status in KILLED:
            continue
        if status == "not checked":
            survivors.append((mutant, status, "(not run yet)"))
            continue
        diff = _diff(work, mutant)
        entry = equivalent.get(mutant)
        if entry and entry["diff"] == diff:
            excused.append((mutant, entry["reason"]))
        else:
            if entry:
                stale.append(mutant)
            survivors.append((mutant, status, diff))
    killed = sum(counts.get(s, 0) for s in KILLED)
    considered = len(statuses) - len(excused)
    score = killed / considered if considered else 1.0
    print(f"\n== {name}: {killed} killed of {considered} non-equivalent mutants = {score:.1%}"
          f" ({len(statuses)} mutants, {len(excused)} equivalent; {counts})")
    for mutant, status, diff in survivors:
        print(f"-- {status}: {mutant}\n{diff}")
    for mutant in stale:
        print(f"!! stale equivalent entry (its diff changed): {mutant}")
    return {"group": name, "mutants": len(statuses), "equivalent": len(excused), "killed": killed, "score": score,
            "survivors": [m for m, _, _ in survivors], "target": group.target}


def _sampled(work: Path, group: Group, fraction: float) -> list[str]:
    """A deterministic sample of the group's mutants (by a hash of each name): mutmut generates them first."""
    _mutmut(work, "run", "lumpcheck.no_such_function__mutmut_*")  # generates the mutants, then finds nothing to run
    names = sorted(_statuses(work, group))
    return [n for n in names if int(hashlib.sha256(n.encode()).hexdigest()[:8], 16) < fraction * 16**8]


def run(name: str, work: Path, group: Group, jobs: int, fresh: bool, survivors_only: bool = False,
        sample: float | None = None) -> dict:
    """Run mutmut on the group (fresh, or keeping earlier results); `survivors_only`: re-test only the mutants that
    survived the last run (note: mutmut resets every result when a group's test list changed); `sample`: only
    that fraction of the mutants (an estimate; the report then counts the sample only)."""
    names = function_patterns(group)
    if survivors_only:
        equivalent = json.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
        names = [m for m, s in _statuses(work, group).items() if s not in KILLED
                 and not (m in equivalent and equivalent[m]["diff"] == _diff(work, m))]
        if not names:
            return report(name, work, group)
    _prepare(work, group, fresh and not survivors_only)
    if not survivors_only:
        (work / "sample.txt").unlink(missing_ok=True)
    if sample is not None:
        names = _sampled(work, group, sample)
        (work / "sample.txt").write_text("\n".join(names) + "\n")
    start = time.monotonic()
    res = _mutmut(work, "run", "--max-children", str(jobs), *names, capture=True)
    if res.returncode != 0:
        print(res.stdout[-3000:], res.stderr[-3000:], sep="\n")
        raise SystemExit(f"mutmut failed for group {name} (exit {res.returncode})")
    print(f"{name}: mutmut ran in {time.monotonic() - start:.0f} s")
    return report(name, work, group)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="*", help=f"groups to run (default: those with a target); known: {', '.join(GROUPS)}")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="mutants tested at a time (default 1)")
    parser.add_argument("--base", type=Path, default=Path(tempfile.gettempdir()) / "lumpcheck-mutation",
                        help="scratch directory (one sub-directory per group)")
    parser.add_argument("--keep", action="store_true", help="reuse the last run's mutants (mutmut re-tests only changes)")
    parser.add_argument("--survivors", action="store_true", help="re-test only the last run's survivors (new tests)")
    parser.add_argument("--sample", type=float, help="test only this fraction of the mutants (a quick estimate)")
    parser.add_argument("--report", action="store_true", help="only print the last run's results")
    parser.add_argument("--list", action="store_true", help="print the groups and exit")
    parser.add_argument("--equivalents", action="store_true", help="print the equivalent mutants as a Markdown table")
    args = parser.parse_args()
    if args.equivalents:
        entries = json.loads(EQUIVALENT.read_text())
        print("| mutant | change | why it is equivalent |\n|---|---|---|")
        for mutant, entry in entries.items():
            plus = [line[1:].strip() for line in entry["diff"].splitlines() if line.startswith("+")]
            change = " / ".join(plus).replace("|", "\\|")
            print(f"| `{mutant.removeprefix('lumpcheck.')}` | `{change}` | {entry['reason'].replace('|', '/')} |")
        return
    if args.list:
        for name, g in GROUPS.items():
            for pattern in unmatched_patterns(g):
                print(f"!! {name}: {pattern} names no function")
            functions = [p.split(".")[-1].removesuffix("__mutmut_*") for p in function_patterns(g)]
            print(f"{name}{'' if g.target else ' (no target)'}: {', '.join(g.files)}\n  functions: "
                  f"{', '.join(functions)}\n  tests: {', '.join(g.tests)}")
        return
    names = args.groups or [n for n, g in GROUPS.items() if g.target]
    unknown = set(names) - set(GROUPS)
    if unknown:
        raise SystemExit(f"unknown groups {sorted(unknown)}; known: {', '.join(GROUPS)}")
    results = []
    for name in names:
        work = _workdir(args.base, name)
        if args.report:
            results.append(report(name, work, GROUPS[name]))
        else:
            results.append(run(name, work, GROUPS[name], args.jobs, fresh=not args.keep, survivors_only=args.survivors,
                               sample=args.sample))
    print("\n| group | mutants | equivalent | killed | score |\n|---|---|---|---|---|")
    for r in results:
        mark = "" if not r["target"] else (" ✓" if r["score"] >= TARGET else " ✗")
        print(f"| {r['group']} | {r['mutants']} | {r['equivalent']} | {r['killed']} | {r['score']:.1%}{mark} |")
    if any(r["target"] and r["score"] < TARGET for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
