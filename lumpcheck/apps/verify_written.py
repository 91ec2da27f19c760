"""`lumpcheck verify A B --domain SPEC2`: a VNN-LIB 2.0 property with output assertions, decided as written.

When the file asserts something about the outputs and --mode is not given, the answer is VNN-COMP's: `sat` iff some
input of the file's input region makes its output assertions true (an exact witness), `unsat` iff none does
(equivalence/written.py). With --mode the mode decides and the result says that the file's output assertions were
not used. Every `sat` of a pair on a VNN-LIB file (1.0 or 2.0, command line or Python API) passes
`witness_in_region`: its witness must satisfy one input disjunct as written, strict bounds included.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from ..equivalence.nudge import moved_inside
from ..equivalence.written import Region, verify_written
from ..errors import LumpcheckError, UnsupportedModelError
from ..io.vnnlib import in_region, version2
from ..io.vnnlib2 import Spec2, holds_at, read_vnnlib2
from ..ir.domain import Box
from ..ir.graph.dag import Graph
from ..solver import Verdict
from ..equivalence.mode import written_mode
from ..equivalence.result import VerifyResult
from .deadline import ChildFailed, DeadlineReached, run_until

UNUSED_NOTE = "the file's output assertions were not used: --mode decides (omit --mode to decide the file as written)"
HOW_TO_MODE = "for ε-equivalence of the two networks on the file's input region use --mode epsilon=E"


def spec2_with_outputs(domain: str | None) -> Spec2 | None:
    """The VNN-LIB 2.0 spec at `domain` when it asserts something about the outputs, else None."""
    if domain is None or not version2(domain):
        return None
    spec = read_vnnlib2(domain)
    return spec if spec.outputs is not None else None


def witness_in_region(result: VerifyResult, domain: str | None, point, replay_at=None,
                      box: Box | None = None) -> VerifyResult:
    """A 'sat' whose witness lies outside the property's input region (between the boxes of an `or`, whose hull the
    engines search, or on a strict bound, which the boxes close) becomes 'unknown': the boxes are sound for unsat
    only. point(x) is the witness in the file's coordinates (--domain-space). With replay_at(x) (an exact
    falsify.Replay of the pair at x) and the searched `box`, points moved from the witness towards its centre are
    tried first (equivalence/nudge.py): one in the region whose exact replay violates the mode is the witness."""
    if result.status != Verdict.SAT or result.witness is None or domain is None or \
            in_region(domain, point(result.witness)):
        return result
    moved = None if replay_at is None or box is None else \
        moved_inside(result, lambda x: in_region(domain, point(x)), replay_at, box)
    if moved is not None:
        return moved
    return replace(result, status=Verdict.UNKNOWN, witness=None, output_a=None, output_b=None,
                   message=f"the counterexample found, x = {[str(v) for v in result.witness]}, lies in the closed box "
                           f"the engines searched but not in {Path(domain).name}'s input region as written (it sits on "
                           "a strict bound, or between the boxes of an or); no verdict for the region itself")


def ordered(spec: Spec2, labels: tuple[str, str], paths: tuple[str, str]) -> tuple[str, str]:
    """The two model paths in the spec's network order, when the instance labels name the spec's networks."""
    names = tuple(n.name for n in spec.networks)
    if set(labels) == set(names) and labels != names and len(names) == 2:
        return paths[labels.index(names[0])], paths[labels.index(names[1])]
    return paths


def refuse_unsupported(spec: Spec2, a, b, heads_any: bool, domain_space: str, normalization: str = "keep") -> None:
    """The cases the as-written decision does not cover: one line, exit 3."""
    why = ""
    if spec.output_problem:
        raise UnsupportedModelError(spec.output_problem)
    if isinstance(a, Graph) or isinstance(b, Graph):
        why = "a graph (CNN/ResNet) pair"
    elif heads_any:
        why = "a model ending in Softmax"
    elif domain_space != "input":
        why = "--domain-space normalized (the file's bounds are over the models' own inputs)"
    elif normalization == "drop":
        why = "--normalization drop (the file's bounds are over the models' own inputs, not their bare chains')"
    if why:
        raise UnsupportedModelError(f"{why}: a property with output assertions is decided as written only for dense "
                                    f"chains; give --mode to compare the outputs instead", spec.source)


def decide_written(spec: Spec2, a, b, deadline: float, timeout: float, kw: dict) -> VerifyResult:
    """The as-written verdict of dense chains a, b under the hard deadline (reading already done)."""
    for case in spec.cases:
        if case.box.dim != a.input_size or case.box.dim != b.input_size:
            raise LumpcheckError(f"declares {case.box.dim} inputs but the networks take {a.input_size} and "
                                 f"{b.input_size}", spec.source)
    dnf = spec.pair_outputs(a.output_size, b.output_size)
    regions = [Region(c.box, lambda x, c=c: holds_at(c, x)) for c in spec.cases]

    def work():
        return verify_written(a, b, regions, dnf, max(0.0, deadline - time.monotonic()), **kw)

    try:
        result = run_until(work, deadline)
    except DeadlineReached:
        result = VerifyResult(Verdict.TIMEOUT, written_mode(dnf), "none",
                              f"hard time limit of {timeout:g} s reached (--timeout)")
    except ChildFailed as e:
        raise RuntimeError(str(e)) from None
    if result.status == Verdict.UNSAT and result.engine == "output-assertions":
        result.message += f" ({HOW_TO_MODE})"
    return result
