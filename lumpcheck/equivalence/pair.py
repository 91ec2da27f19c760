"""`verify_pair`: are two near-copies equivalent (ε, top-1, argmin, δ-top-1) on a box? With a certificate for 'unsat'.

One hard wall-clock deadline covers the whole call (pairing and encoding included). Verdicts as in
VNN-COMP: 'unsat' (no counterexample exists: equivalent), 'sat' (an exactly replayed counterexample),
'unknown', 'timeout', 'error'. 'unsat' comes only from closed branch-and-bound leaves whose bounds are
sound by construction; a region the search gives up on (cannot be split further, float overflow, a worker out of
memory) does not stop the others: the answer is 'sat' if a counterexample is found anywhere, else 'unknown' with
every such region and its reason in `undecided` (never 'unsat' while one is open); the certificate lets `lumpcheck.checker.difference.check_certificate` re-derive every leaf independently.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from typing import Callable

from ..bounds.arith import check_float_environment
from ..bounds.coupling import Pairing, couple
from ..ir.domain import Box
from ..ir.exact import fraction_str
from ..ir.network import Network, evaluate, fix_inputs
from ..solver.verdict import Verdict
from .bab import Problem, Search, SearchOutcome
from .undecided import Undecided
from .cluster import cluster_search
from .mode import TOP1, Mode
from .pair_certificate import build_certificate, network_identity, path_json
from .pair_falsify import Counterexample
from .parallel import Limits, parallel_search
from .progress import Progress

UNDECIDED_LISTED = 1000
"""At most this many undecided regions in `to_dict` (their number is in stats['undecided'])."""

DELTA_SHARE = 0.6
"""delta-top1 with ReLU splitting: its own search gets this share of the time; if undecided, a top1 search (which
proves each network's decision in its own tree, with optimised slopes) gets the rest, as top1 implies delta-top1."""


@dataclass
class DiffResult:
    """The verdict; for 'sat' the exact counterexample, for 'unsat' (optionally) a certificate."""

    status: Verdict
    mode: Mode
    message: str = ""
    counterexample: Counterexample | None = None
    certificate: dict | None = None
    stats: dict = field(default_factory=dict)
    seconds: float = 0.0
    undecided: tuple[Undecided, ...] = ()

    def __post_init__(self) -> None:
        self.status = Verdict(self.status)  # ValueError naming the value for an unknown verdict

    def to_dict(self) -> dict:
        """JSON-ready summary (exact numbers as 'p/q'); the certificate is not included."""
        cex = self.counterexample
        return {
            "status": str(self.status),
            "mode": str(self.mode),
            "message": self.message,
            "witness": None if cex is None else [fraction_str(v) for v in cex.x],
            "output_a": None if cex is None else [_text(v) for v in cex.ya],
            "output_b": None if cex is None else [_text(v) for v in cex.yb],
            "seconds": round(self.seconds, 6),
            "stats": {k: v for k, v in self.stats.items() if isinstance(v, (int, float, str, bool))},
            "undecided": [{"part": u.part, "path": path_json(u.path), "reason": u.reason}
                          for u in self.undecided[:UNDECIDED_LISTED]],
        }


@dataclass(frozen=True)
class FixedInputs:
    """The caller's box has fixed inputs (lower == upper): the search runs on the free ones (`Box.free`), both
    networks with the fixed ones folded exactly into their first layer (ir.network.fix_inputs: the same function
    on the box). Its points, split paths and certificate are mapped back to the caller's inputs here."""

    box: Box  # the caller's box
    a: Network  # the caller's networks
    b: Network

    def point(self, x: tuple) -> tuple[Fraction, ...]:
        """A point of the free inputs as a point of the caller's box."""
        full = list(self.box.lower)
        for i, v in zip(self.box.free, x):
            full[i] = v
        return tuple(full)

    def path(self, path: tuple) -> tuple:
        """A split path with its input splits renumbered to the caller's inputs."""
        free = self.box.free
        return tuple((e[0], free[e[1]], *e[2:]) if e[0] == "x" else e for e in path)


def fixed_inputs(a: Network, b: Network, box: Box) -> tuple[Network, Network, Box, FixedInputs] | None:
    """(A, B and the box on the free inputs, the map back) when some but not all inputs of the box are fixed and both
    first layers allow the exact fold; else None (the search runs on the box as it is)."""
    free = box.free
    if not free or len(free) == box.dim:
        return None
    try:
        return fix_inputs(a, box), fix_inputs(b, box), box.restricted(free), FixedInputs(box, a, b)
    except ValueError:
        return None


def _text(v) -> str:
    """An exact output as 'p/q', an enclosure (radical weights) as '[lo, hi]'."""
    return fraction_str(v) if isinstance(v, Fraction) else str(v)


def verify_pair(
    a: Network,
    b: Network,
    box: Box,
    mode: Mode | str,
    timeout: float,
    *,
    workers: int = 0,
    memory_mb: int = 2048,
    certificate: bool = True,
    pairing: Pairing | None = None,
    strategy: str = "auto",
    batch: int | None = None,
    seed: int = 0,
    client=None,
    progress: Callable[[Progress], None] | None = None,
    known_bound: float | None = None,
) -> DiffResult:
    """Decide mode on box for the exact networks a and b within `timeout` seconds of wall-clock time.

    a, b: networks without normalisation metadata (fold or strip it first; ValueError otherwise), equal
    input and output sizes, activations identity/relu/leaky_relu. workers = 0 runs in this process (the
    deadline and the memory cap (MB, this process's resident memory) are then checked between batches);
    workers >= 1 uses that many processes and enforces the deadline and the memory cap (MB, all processes)
    from outside. strategy: 'input' (split the input box),
    'relu' (split neuron phases) or 'auto' (input splitting for few inputs, bab.INPUT_SPLIT_MAX_DIM; inputs
    the box fixes (lower == upper) are folded into the networks and not counted, FixedInputs). client: a dask.distributed
    Client (cluster.connect) to spread the leaves over a cluster instead (cluster.py; `workers` is then unused).
    progress: called with the search's Progress now and then (after batches, or as tasks come back).
    known_bound: a sound bound on max |y_a − y_b| over the whole box found elsewhere (the difference-bound
    engine's), for the bracket of an undecided epsilon search (`epsilon_bracket`).
    delta-top1 with ReLU splitting: DELTA_SHARE of the time for its own search, then a top1 search (top1 implies
    delta-top1); a top1 'unsat' answers with the top1 certificate, a top1 'sat' is no answer.
    """
    start = time.monotonic()
    deadline = start + timeout
    mode = Mode.parse(mode) if isinstance(mode, str) else mode
    if mode.kind == "strict":  # all outputs equal <=> max |difference| <= 0
        mode = Mode("epsilon", 0)
    if box.dim != a.input_size:
        raise ValueError(f"the box has {box.dim} inputs but the networks take {a.input_size}")
    check_float_environment()
    if mode.kind in ("top1", "argmin") and a.output_size == 1:  # margins need a second class; z3 decides it at once
        return DiffResult("unknown", mode, "one output: no margins to bound (every input has the decision {0})",
                          seconds=time.monotonic() - start)
    folded = fixed_inputs(a, b, box)
    fixed = None
    if folded is not None:
        a, b, box, fixed = folded
    coupling = couple(a, b, pairing)
    problem = Problem(coupling, box, mode, strategy, batch or 0, seed)
    if time.monotonic() >= deadline:
        return DiffResult("timeout", mode, "deadline reached while pairing the networks", seconds=time.monotonic() - start)
    def search(prob: Problem, until: float) -> SearchOutcome:
        if client is not None:
            return cluster_search(prob, Limits(until, memory_mb, workers), client, progress)
        if workers <= 0:
            return Search(prob, until, progress=progress, memory_mb=memory_mb).run()
        return parallel_search(prob, Limits(until, memory_mb, workers), progress)

    if mode.kind != "delta-top1" or problem.strategy != "relu":
        res = _result(problem, search(problem, deadline), mode, certificate, start, (a, b), known_bound)
    else:
        res = _delta_then_top1(problem, search, deadline, certificate, start, (a, b))
    return res if fixed is None else _unfolded(res, fixed)


def _unfolded(res: DiffResult, fixed: FixedInputs) -> DiffResult:
    """A result of the search on the free inputs, about the caller's networks and box: the counterexample as a point
    of the box (both outputs recomputed exactly on the caller's networks, which must give the same values), the
    undecided regions' input splits renumbered, and the certificate's claim on the caller's box and networks with
    "inputs": "free" (the checker folds the fixed inputs the same way)."""
    res.stats["fixed_inputs"] = count = fixed.box.dim - len(fixed.box.free)
    res.message = "; ".join(filter(None, (res.message, f"searched over the {len(fixed.box.free)} inputs that vary "
                                          f"({count} fixed by the box, folded exactly into both first layers)")))
    res.undecided = tuple(replace(u, path=fixed.path(u.path)) for u in res.undecided)
    cex = res.counterexample
    if cex is not None:
        x = fixed.point(cex.x)
        ya, yb = tuple(evaluate(fixed.a, x)), tuple(evaluate(fixed.b, x))
        if (ya, yb) != (tuple(cex.ya), tuple(cex.yb)):  # internal invariant: the fold is exact
            return DiffResult("error", res.mode, "internal error: a counterexample's outputs changed when its fixed "
                              "inputs were restored", stats=res.stats, seconds=res.seconds)
        res.counterexample = Counterexample(x, ya, yb)
    if res.certificate is not None:
        claim = res.certificate["claim"]
        claim.update(box=fixed.box.as_strings(), a=network_identity(fixed.a), b=network_identity(fixed.b))
        res.certificate["inputs"] = "free"
    return res


def _delta_then_top1(problem: Problem, search, deadline: float, want_cert: bool, start: float, nets) -> DiffResult:
    """delta-top1 with ReLU splitting: its own search for DELTA_SHARE of the time, then top1's (module constant)."""
    outcome = search(problem, time.monotonic() + DELTA_SHARE * (deadline - time.monotonic()))
    if outcome.status in ("unsat", "sat") or time.monotonic() >= deadline:
        return _result(problem, outcome, problem.mode, want_cert, start, nets)
    top = Problem(problem.coupling, problem.box, TOP1, "relu", problem.batch, problem.seed)
    implied = search(top, deadline)
    if implied.status != "unsat":  # a top1 counterexample is no delta-top1 counterexample: undecided
        outcome.reason = (f"{outcome.reason} after its share of the time; top1 (which would imply delta-top1) "
                          f"{'does not hold: a counterexample' if implied.status == 'sat' else 'is ' + implied.status}")
        return _result(problem, outcome, problem.mode, want_cert, start, nets)
    res = _result(top, implied, TOP1, want_cert, start, nets)
    res.mode = problem.mode
    res.message = (f"top1 proved ({res.message}): equal sets of maximal outputs imply delta-top1 for every δ >= 1/2 "
                   f"(softmax(a)_c > δ makes c A's unique maximum, hence B's); the certificate claims top1")
    return res


def _result(problem: Problem, outcome: SearchOutcome, mode: Mode, want_cert: bool, start: float, nets,
            known_bound: float | None = None) -> DiffResult:
    stats = dict(outcome.stats)
    stats["pairs"] = problem.coupling.pairing.size
    stats["strategy"] = problem.strategy
    seconds = time.monotonic() - start
    if outcome.status == "sat":
        return DiffResult("sat", mode, "counterexample replayed exactly", outcome.counterexample, stats=stats, seconds=seconds)
    if outcome.status != "unsat":
        reason = "; ".join(filter(None, (outcome.reason, epsilon_bracket(mode, outcome, known_bound))))
        return DiffResult(outcome.status, mode, reason, stats=stats, seconds=seconds, undecided=tuple(outcome.undecided))
    if outcome.undecided:  # internal invariant: a search with a region given up on never answers unsat
        return DiffResult("error", mode, "internal error: unsat with undecided regions", stats=stats, seconds=seconds,
                          undecided=tuple(outcome.undecided))
    gaps = _uncovered(problem, outcome)
    if gaps:  # internal invariant: the closed leaves of each claim part tile the box (weights 2^-depth sum to 1)
        return DiffResult("error", mode, f"internal error: leaves do not cover the box ({gaps})", stats=stats,
                          seconds=seconds)
    cert = build_certificate(problem, outcome, *nets) if want_cert else None
    message = f"{len(outcome.leaves)} leaves closed by differential bounds"
    return DiffResult("unsat", mode, message, certificate=cert, stats=stats, seconds=time.monotonic() - start)


def epsilon_bracket(mode: Mode, outcome: SearchOutcome, known_bound: float | None = None) -> str:
    """For an undecided epsilon search, where max |y_a − y_b| lies as far as it got: at most ε plus the largest gap
    of the regions still open or given up on (each bounded by its own or its parent's outward-rounded bound; the
    closed ones are within ε), or known_bound (a sound whole-box bound found elsewhere) when smaller; at least the
    float search's largest difference (unreplayed floats: informative, never a verdict). '' for other modes, or
    when nothing was bounded or seen."""
    if mode.kind != "epsilon" or mode.written:
        return ""
    gaps = [n.gap for n in outcome.open_nodes] + [u.gap for u in outcome.undecided]
    eps = float(mode.epsilon)
    upper = eps + max(max(gaps), 0.0) if gaps else math.inf
    out = []
    if known_bound is not None and known_bound < upper:
        out.append(f"the whole box's difference bound gives max |y_a - y_b| <= {_digits(known_bound, up=True)}")
    elif math.isfinite(upper):
        out.append(f"the open regions' bounds give max |y_a - y_b| <= {_digits(upper, up=True)}")
    if "float_peak" in outcome.stats:
        out.append(f"the largest |y_a - y_b| seen in floats is {_digits(eps + outcome.stats['float_peak'], up=False)}")
    return " and ".join(out)


def _digits(x: float, up: bool, digits: int = 4) -> str:
    """x >= 0 to `digits` significant digits, rounded up (an upper end stays an upper end) or down, exactly."""
    if x <= 0:
        return "0"
    e = math.floor(math.log10(x)) - digits + 1
    q = Fraction(x) / Fraction(10) ** e
    units = math.ceil(q) if up else math.floor(q)
    return format(Decimal(units).scaleb(e).normalize(), "g")


def _uncovered(problem: Problem, outcome: SearchOutcome) -> str:
    """'' when, for every part of the claim, the leaves' weights 2^-depth sum to exactly 1 (a complete split tree
    has that property); else which part falls short."""
    groups = (("all",),) if not problem.mode.classifies else (("a", "all"), ("b", "all"))
    for group in groups:
        total = sum((Fraction(1, 2 ** len(leaf.path)) for leaf in outcome.leaves if leaf.part in group), Fraction(0))
        if total != 1:
            return f"parts {'/'.join(group)} cover {float(total):.6g} of the box"
    return ""
