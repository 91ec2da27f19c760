"""`lumpcheck verify`: are two networks equivalent (strict, within ε, or same top-1) on a box or on all of R^n?

Engines, cheapest first: matching one side's domain reduction on the box to the other (domain_match.py:
lumpcheck's own `reduce --domain` outputs, equal on the box only; it runs first as it is exact, and rejects
pairs it cannot relate cheaply), falsification (float search, exact replay), a certified difference bound (ε and
strict modes, same architecture or a smooth pruned copy padded exactly; smooth pairs on low-dimensional boxes are
split into pieces, smooth_split.py), matching the coarsest lumped quotients up to neuron permutation and
scaling (lumpcheck's own outputs, on all of R^n), differential branch and bound on a box (pair.py: both
networks in lockstep, ε / top1 / argmin / delta-top1, widths may differ; its 'unsat' carries a certificate that
checker/difference.py re-checks), and a monolithic z3 query. Verdicts as in VNN-COMP: 'unsat' = no counterexample exists
(equivalent), 'sat' = an exactly replayed counterexample, 'unknown', 'timeout', 'error'.
domain-match and lumping-match prove the two functions EQUAL (on the box / everywhere), which implies every mode
(for delta-top1: softmax(a)_c > δ >= 1/2 makes c A's unique maximum, hence B's). The monolithic query encodes
delta-top1 with the premise relaxed to margins > L⁻ (encode.py): its 'unsat' is sound, its 'sat' is replayed.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..bounds import symbolic_bounds
from ..bounds.deviation import certified_epsilon, difference_bound, require_same_architecture, substitution_window
from ..bounds.propagate import decision_margins
from ..errors import LumpcheckError
from ..ir.activation import PIECEWISE_LINEAR
from ..ir.domain import Box
from ..ir.exact import ceil_float, fraction_str
from ..ir.network import Network, evaluate_float
from ..ir.padding import pad_to
from ..ir.semantics import Comparison, ComparisonError, compare
from ..prove.prover import prove_networks
from ..reduction.lumping import reduce
from ..solver import Verdict
from ..solver.z3 import solve_constraints
from .encode import NotEncodable, encode_pair
from .falsify import Replay, falsify, onnxruntime_outputs, replay
from .pair_falsify import deepened
from .domain_certificate import domain_certificate
from .domain_match import match_on_domain
from .match import NoMatch, match_networks
from .mode import Mode
from .objective import written_unfit
from .pair import verify_pair
from .pair_certificate import about_models, bound_certificate
from .pruned import neuron_maps
from .result import VerifyResult
from .smooth_split import split_search, splittable

ENGINES = ("falsify", "difference-bound", "lumping-match", "domain-match", "differential", "monolithic")
FALSIFY_SHARE = 0.25  # at most this share of the time budget goes to falsification ...
FALSIFY_CAP = 5.0  # ... and at most this many seconds
MATCH_Z3_TERMS = 20_000
"""lumping-match: z3 re-checks a sample of this many weight terms per side (exact algebra proves every obligation)."""
UNDECIDED_NOTED = 3
"""How many of the differential search's undecided regions a verdict's notes name (all are in DiffResult)."""
PATH_NOTED = 4
"""How many splits of each named region's path a note shows (the whole path is in the --json output)."""
SPLIT_RESERVE_SHARE, SPLIT_RESERVE_CAP = 0.2, 15.0
"""Input splitting of a smooth pair leaves this share of the remaining time (at most CAP seconds) to the engines
after it (lumping-match decides a lumped pair exactly, often in a second)."""
SMALL_PAIR = 100  # at most this many hidden neurons in both networks together: the monolithic z3 query is viable ...
DIFFERENTIAL_SHARE = 0.5  # ... so the differential search leaves it at least this share of the remaining time
MONOLITHIC_MAX_WEIGHTS = 300_000
"""The monolithic z3 query is not built for pairs with more weights than this (both networks together): its
encoding alone took minutes and GBs at MNIST scale (784-1024x4-10), and z3 cannot finish such a query."""


class _Clock:
    """The overall deadline and the time spent per phase."""

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.times: dict[str, float] = {}

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.times[name] = self.times.get(name, 0.0) + time.monotonic() - start


@dataclass
class _Run:
    """One verification: the inputs, the clock, and the notes that explain the verdict."""

    a: Network
    b: Network
    box: Box | None
    mode: Mode
    timeout: float
    a_path: str | Path | None
    b_path: str | Path | None
    clock: _Clock
    seed: int
    jobs: int = 0
    memory_mb: int = 2048
    client: Any = None  # a dask.distributed Client: the differential search runs on its cluster (cluster.py)
    progress: Callable[[str], None] | None = None  # told each engine as it starts, and the differential search's progress
    notes: list[str] = field(default_factory=list)
    undecided: list[dict] = field(default_factory=list)  # the differential search's undecided regions (--json)
    plain: Comparison | None = None  # the comparison form the engines work on (a, b, box are its chains and box)
    models: tuple[Network, Network] | None = None  # the two models as given
    whole_box_bound: float | None = None  # the difference-bound engine's bound on max |y_a − y_b| (for the bracket)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def result(self, status: Verdict, engine: str, message: str, **kw) -> VerifyResult:
        if self.notes and status != Verdict.SAT:
            message = f"{message}; " + "; ".join(self.notes)
        details = {"notes": self.notes}
        if self.undecided:
            details["undecided"] = self.undecided
        return VerifyResult(status, self.mode, engine, message, times=self.clock.times, details=details, **kw)

    def _as_floats(self, rep: Replay) -> Replay:
        """The witness rounded to the nearest float64s when that point is in the box and still a counterexample
        (replayed exactly): what float parsers of results files and onnxruntime read exactly (a model-space witness
        of normalised inputs, x·range + mean, is rarely a float); else the exact witness as it is."""
        floats = tuple(Fraction(float(v)) for v in rep.x)
        box = self.plain.model_box if self.plain is not None else None
        if floats == tuple(rep.x) or (box is not None and not box.contains(floats)):
            return rep
        again = replay(self.models[0], self.models[1], floats, self.mode)
        return again if again.violated else rep

    def out_of_time(self) -> VerifyResult:
        return self.result(Verdict.TIMEOUT, "none", f"time budget of {self.timeout:g} s used up")

    def counterexample(self, engine: str, rep: Replay) -> VerifyResult:
        """'sat' with the exact witness and outputs, plus onnxruntime's float outputs for .onnx inputs. The witness
        is first moved where floats see the violation clearly when that still replays exactly (pair_falsify.deepened);
        a witness of the comparison form is mapped back to a model input and replayed exactly on the models ('error'
        if it does not replay there: a bug, never a wrong 'sat')."""
        if self.box is not None and all(isinstance(v, Fraction) for v in (*rep.ya, *rep.yb)):
            clearer = deepened(self.a, self.b, self.box, self.mode, rep.x, rep.ya, rep.yb)
            if clearer is not None:  # replayed exactly (and again on the models below)
                rep = Replay(clearer.x, clearer.ya, clearer.yb, True)
        if self.plain is not None and self.models is not None:
            x = self.plain.model_input(rep.x)
            rep = replay(self.models[0], self.models[1], x, self.mode)
            if not rep.violated or (self.plain.model_box is not None and not self.plain.model_box.contains(rep.x)):
                return self.result(Verdict.ERROR, engine, "internal error: a counterexample of the layer chains does not "
                                   "replay on the models", witness=rep.x, output_a=rep.ya, output_b=rep.yb)
            rep = self._as_floats(rep)
        ort: dict[str, list[float]] = {}
        with self.clock.phase("onnxruntime"):
            for name, path in (("a", self.a_path), ("b", self.b_path)):
                if path is not None and Path(path).suffix.lower() == ".onnx":
                    try:
                        ort[name] = onnxruntime_outputs(path, rep.x)
                    except Exception as e:  # noqa: BLE001 - an informative float replay must not change the verdict
                        self.note(f"onnxruntime replay of {path} failed: {type(e).__name__}: {e}")
        message = "counterexample replayed exactly"
        return self.result(Verdict.SAT, engine, message, witness=rep.x, output_a=rep.ya, output_b=rep.yb, onnxruntime=ort)


def verify(
    a: Network,
    b: Network,
    box: Box | None,
    mode: Mode,
    timeout: float,
    *,
    a_path: str | Path | None = None,
    b_path: str | Path | None = None,
    engines: Sequence[str] = ENGINES,
    seed: int = 0,
    jobs: int = 0,
    memory_mb: int = 2048,
    client: Any = None,
    progress: Callable[[str], None] | None = None,
) -> VerifyResult:
    """Decide whether models a and b are equivalent under `mode` on `box` (all of R^n when None) within `timeout` s.

    The compared functions are the models (what `network.evaluate` computes: normalisation and input clipping
    included) and the box is over their own input. The engines work on the comparison form (semantics.compare:
    plain layer chains, clipping compiled into a ReLU layer where the two models clip differently); a
    counterexample is mapped back to a model input and replayed exactly on the models themselves.
    jobs: worker processes of the differential engine (0: in this process); memory_mb: its memory cap;
    client: a dask.distributed Client (cluster.connect) whose cluster runs the differential search instead.
    progress: told, as one line of text, which engine starts and how far the differential search is.
    """
    unknown_engines = set(engines) - set(ENGINES)
    if unknown_engines:
        raise ValueError(f"unknown engines {sorted(unknown_engines)}; known: {', '.join(ENGINES)}")
    run = _Run(a, b, box, mode, timeout, a_path, b_path, _Clock(timeout), seed, jobs, memory_mb, client, progress)
    problem = _shape_problem(a, b, box)
    if problem:
        return run.result(Verdict.ERROR, "shape-check", problem)
    try:
        run.plain, run.models = compare(a, b, box, fold_outputs=True, clip_layers=True), (a, b)
    except ComparisonError as e:
        return run.result(Verdict.ERROR, "shape-check", e.message)
    run.a, run.b, run.box = run.plain.a, run.plain.b, run.plain.box
    failed = False
    for engine, step in (
        ("domain-match", _domain_match),  # first: exact and cheap where it applies (differing widths, a box)
        ("falsify", _falsify),
        ("difference-bound", _difference_bound),
        ("lumping-match", _lumping_match),
        ("differential", _differential),
        ("monolithic", _monolithic),
    ):
        if engine not in engines:
            continue
        if progress is not None:
            progress(f"{engine}…")
        try:
            with run.clock.phase(engine):
                verdict = step(run)
        except LumpcheckError as e:  # this engine cannot handle the input; another one may
            run.note(f"{engine} failed: {e.one_line()}")
            failed, verdict = True, None
        if verdict is not None:
            return verdict
        if run.clock.remaining() <= 0:
            return run.out_of_time()
    return run.result(Verdict.ERROR if failed else Verdict.UNKNOWN, "none", "no engine decided")


def _shape_problem(a: Network, b: Network, box: Box | None) -> str:
    if a.input_size != b.input_size:
        return f"input sizes differ: {a.input_size} vs {b.input_size}"
    if a.output_size != b.output_size:
        return f"output sizes differ: {a.output_size} vs {b.output_size}"
    if box is not None and box.dim != a.input_size:
        return f"the domain box has {box.dim} inputs but the networks take {a.input_size}"
    return ""


def _falsify(run: _Run) -> VerifyResult | None:
    """Float search with exact replay; only a replayed violation is a counterexample."""
    budget = min(FALSIFY_CAP, FALSIFY_SHARE * max(run.clock.remaining(), 0.0))
    found = falsify(run.a, run.b, run.box, run.mode, budget, seed=run.seed)
    run.note(f"falsification: {found.evaluations} float evaluations, {found.replays} exact replays")
    if found.discarded:
        run.note(f"{len(found.discarded)} float hits did not replay exactly (discarded)")
    return None if found.counterexample is None else run.counterexample("falsify", found.counterexample)


def _difference_bound(run: _Run) -> VerifyResult | None:
    """On a box, same architecture (or a smooth B with hidden neurons removed, padded to A's: _one_architecture): a
    certified bound D on |y_a − y_b|. ε/strict: D <= ε proves the property. top1/argmin (pairs the differential
    engine cannot take: sigmoid, tanh): A's decision c has margins above 2·D on the whole box (decision_margins),
    so c is also B's decision everywhere. When the whole box's D fails, a smooth pair's box may be split (_split)."""
    decisions = run.mode.classifies and not (run.a.piecewise_linear and run.b.piecewise_linear)
    if run.box is None or run.mode.written or (run.mode.decides and not decisions):
        return None
    found = _one_architecture(run)
    if found is None:
        return None
    b, maps = found
    window = substitution_window(run.a)
    same = [layer.activation for layer in run.a.layers] == [layer.activation for layer in b.layers]
    bound = (difference_bound(run.a, b, run.box, window)[0] if same
             else certified_epsilon(run.a, b, run.box))  # LeakyReLU slopes differ: forward intervals
    run.whole_box_bound = ceil_float(bound)
    text = f"certified max |y_a - y_b| <= {fraction_str(Fraction(run.whole_box_bound))} (≈ {float(bound):.3g})"
    cls = None
    if decisions:
        cls, margin = _margin(run)
        if margin is None or margin <= 2 * bound:
            run.note(f"{text}; A's decision margin on the box {'unknown' if margin is None else f'{float(margin):.6g}'}"
                     f" (not > 2·bound)")
            return _split(run, b, maps, window) if same else None
        text += f"; A's decision {cls} has margin >= {float(margin):.6g} > 2·bound on the whole box"
    elif bound > run.mode.epsilon:
        run.note(f"{text} on the whole box, above ε = {fraction_str(run.mode.epsilon)}: not decided by that bound "
                 "alone")
        return _split(run, b, maps, window) if same else None
    cert = None if not same or run.plain is None else \
        bound_certificate(run.a, run.b, run.box, run.plain.model_box, run.mode, window, bound, cls, padding=maps)
    return run.result(Verdict.UNSAT, "difference-bound", text if decisions else f"{text} <= ε", certificate=cert)


def _one_architecture(run: _Run) -> tuple[Network, list[list[int]] | None] | None:
    """(B, None) for one architecture. A smooth pair whose B lacks some of A's hidden neurons (a pruned copy):
    (B padded to A's widths, the neuron maps; ir/padding.py: exactly B). None otherwise (noted for smooth pairs:
    no other engine bounds them)."""
    try:
        require_same_architecture(run.a, run.b)
        return run.b, None
    except LumpcheckError as e:
        problem = e.one_line()
    smooth = not (run.a.piecewise_linear and run.b.piecewise_linear)
    maps = neuron_maps(run.a, run.b) if smooth else None
    if maps is None:
        if smooth:
            run.note(f"difference-bound: {problem}: it needs one architecture, or B's hidden layers no wider than A's "
                     "with the same activations (a pruned copy)")
        return None
    run.note(f"difference-bound: B ({run.b.shape_str()}) padded to A's widths ({run.a.shape_str()}): its neurons "
             "matched to A's by their incoming weights, A's others added with no outgoing weights (exact)")
    return pad_to(run.a, run.b, maps), maps


def _split(run: _Run, b: Network, maps: list[list[int]] | None, window: int) -> VerifyResult | None:
    """The whole box's bound failed: bisect a low-dimensional box of a smooth pair (smooth_split.py) until every
    piece holds (a certificate with the split tree), a float sample replays exactly ('sat'), or time runs out.
    b: B or B padded to A's widths by `maps` (exactly B).
    Piecewise-linear pairs are left to the differential engine, whose bounds are far tighter."""
    if (run.a.piecewise_linear and b.piecewise_linear) or not splittable(run.a, run.mode, run.box):
        return None
    tell = None if run.progress is None else (lambda p: run.progress(f"difference-bound: {p.text}"))
    reserve = min(SPLIT_RESERVE_SHARE * max(run.clock.remaining(), 0.0), SPLIT_RESERVE_CAP)
    found = split_search(run.a, b, run.box, run.mode, window, run.clock.deadline - reserve, progress=tell,
                         seed=run.seed, jobs=run.jobs)
    if found.status == Verdict.SAT:
        return run.counterexample("difference-bound", found.witness)
    if found.status != Verdict.UNSAT:
        run.note(f"input splitting: {found.status} ({found.message}; {found.nodes} pieces bounded)")
        return None
    worst = max(leaf.bound for leaf in found.leaves)
    classes = sorted({leaf.cls for leaf in found.leaves if leaf.cls is not None})
    text = (f"input splitting: {len(found.leaves)} pieces of the box, each with a certified bound on |y_a - y_b| "
            f"(the largest ≈ {float(worst):.3g}, {found.nodes} pieces bounded)" +
            (f", below half of A's decision margin there (classes {classes})" if classes else " <= ε"))
    cert = None if run.plain is None else bound_certificate(run.a, run.b, run.box, run.plain.model_box, run.mode,
                                                             window, worst, leaves=found.leaves, padding=maps)
    return run.result(Verdict.UNSAT, "difference-bound", text, certificate=cert)


def _margin(run: _Run) -> tuple[int, Fraction | None]:
    """(c, m): A's decision at the box centre and a lower bound m on its margin over the other outputs on the box
    (None when A's last layer is not affine)."""
    centre = np.array([float((lo + hi) / 2) for lo, hi in zip(run.box.lower, run.box.upper)])
    out = evaluate_float(run.a, centre[None, :])[0]
    cls = max(range(len(out)), key=lambda i: run.mode.sign * out[i])
    try:
        return cls, min(decision_margins(run.a, run.box, cls, run.mode.sign), default=None)
    except ValueError:
        return cls, None


def _lumping_match(run: _Run) -> VerifyResult | None:
    """Reduce both nets to their coarsest quotients; matching quotients prove a ≡ a' ≅ b' ≡ b on all of R^n."""
    if run.mode.written:
        return None  # equal networks say nothing about a property taken as written
    ra, rb = reduce(run.a), reduce(run.b)
    try:
        match_networks(ra.network, rb.network)
    except NoMatch as e:
        run.note(f"lumped quotients do not match ({e})")
        return None
    proofs, how = _certify_reductions(run, ra, rb)
    if how is None:
        return None
    message = f"coarsest lumped quotients ({ra.network.shape_str()}) match up to neuron permutation and scaling; {how}"
    return run.result(Verdict.UNSAT, "lumping-match", message, proofs=proofs)


def _certify_reductions(run: _Run, ra, rb) -> tuple[dict[str, list], str | None]:
    """Discharge each side's original ≡ quotient obligations (prove.prover.prove_networks): (records, how/None)."""
    proofs: dict[str, list] = {}
    for side, red in (("a", ra), ("b", rb)):
        timeout_ms = max(1, int(run.clock.remaining() * 1000))
        proofs[side], _, _ = prove_networks(red.original, red.network, red.relation, timeout_ms=timeout_ms,
                                            z3_terms=MATCH_Z3_TERMS)
        failed = [r.id for r in proofs[side] if r.status != "proved"]
        if failed:
            run.note(f"reduction of network {side} not certified: {len(failed)} obligations failed ({failed[0]}, ...)")
            return proofs, None
    count = sum(len(v) for v in proofs.values())
    return proofs, f"both reductions certified ({count} obligations proved)"


def _domain_match(run: _Run) -> VerifyResult | None:
    """A box and a pair related by lumpcheck's own domain reduction (reduce --domain): one side reduced on the
    box, matched exactly to the other (or its lumping), every step proved (domain_match.py): equal on the box."""
    if run.box is None or run.a.widths == run.b.widths or run.mode.written:  # a box reduction removes neurons:
        return None  # widths then differ; equal networks say nothing about a property taken as written
    found = match_on_domain(run.a, run.b, run.box, max(run.clock.remaining(), 0.0))
    if not found.proved:
        for text in found.notes:
            run.note(f"domain-match: {text}")
        return None
    model_box = run.plain.model_box if run.plain is not None else run.box
    cert = domain_certificate(found, run.a, run.b, run.box, model_box)
    return run.result(Verdict.UNSAT, "domain-match", found.describe(), proofs=found.proofs, certificate=cert)


def _differential(run: _Run) -> VerifyResult | None:
    """Differential branch and bound on the comparison form (a box, piecewise-linear chains); its certificate
    records the models' box, so that the checker rebuilds the same comparison form from the model files."""
    if run.box is None:
        run.note("differential: needs a box (--domain)")
        return None
    if run.mode.kind == "strict" or (run.mode.kind == "epsilon" and run.mode.epsilon == 0):
        return None  # its bounds close a box only with a margin: it cannot prove exact equality
    unfit = written_unfit(run.mode, run.a.output_size) if run.mode.written else ""
    if unfit:
        run.note(f"differential: {unfit}")
        return None
    kinds = {layer.activation.kind for net in (run.a, run.b) for layer in net.layers}
    if not kinds <= set(PIECEWISE_LINEAR):
        run.note(f"differential: activations {sorted(kinds - set(PIECEWISE_LINEAR))} not supported")
        return None
    hidden = sum(layer.out_features for net in (run.a, run.b) for layer in net.layers[:-1])
    budget = max(run.clock.remaining(), 0.0) * (DIFFERENTIAL_SHARE if hidden <= SMALL_PAIR else 1.0)
    tell = None if run.progress is None else (lambda p: run.progress(f"differential: {p.text}"))
    res = verify_pair(run.a, run.b, run.box, run.mode, budget, workers=run.jobs, memory_mb=run.memory_mb, seed=run.seed,
                      client=run.client, progress=tell, known_bound=run.whole_box_bound)
    if res.status == Verdict.SAT:
        rep = replay(run.a, run.b, res.counterexample.x, run.mode)
        if rep.violated and run.box.contains(rep.x):
            return run.counterexample("differential", rep)
        return run.result(Verdict.ERROR, "differential", "internal error: a counterexample does not replay exactly",
                          witness=rep.x, output_a=rep.ya, output_b=rep.yb)
    if res.status == Verdict.UNSAT:
        cert = res.certificate
        model_box = run.plain.model_box if run.plain is not None else run.box
        about_models(cert, model_box)
        return run.result(Verdict.UNSAT, "differential", res.message, certificate=cert)
    run.undecided = res.to_dict()["undecided"]
    regions = run.undecided[:UNDECIDED_NOTED]
    where = ("; undecided regions (part, split path; --json lists them in full): "
             + ", ".join(f"{u['part']} {_short_path(u['path'])}" for u in regions)) if regions else ""
    run.note(f"differential: {res.status} ({res.message}){where}")
    return None


def _short_path(path: list) -> str:
    """A split path for a one-line note: its first PATH_NOTED splits and how many more (a ReLU-split region of an
    MNIST net can be 170 splits deep)."""
    head = ", ".join(str(entry) for entry in path[:PATH_NOTED])
    more = f", … {len(path) - PATH_NOTED} more" if len(path) > PATH_NOTED else ""
    return f"[{head}{more}] (depth {len(path)})"


def _monolithic(run: _Run) -> VerifyResult | None:
    """Both nets and the negated property in one z3 query; a model is a counterexample only after exact replay."""
    if not (run.a.piecewise_linear and run.b.piecewise_linear):
        return run.result(Verdict.UNKNOWN, "monolithic", "sigmoid/tanh cannot be encoded exactly in linear real arithmetic")
    weights = sum(layer.weight.size for net in (run.a, run.b) for layer in net.layers)
    if weights > MONOLITHIC_MAX_WEIGHTS:
        run.note(f"monolithic: not tried ({weights} weights in the two networks, above {MONOLITHIC_MAX_WEIGHTS}: one "
                 "z3 query of this size does not finish)")
        return None
    with run.clock.phase("encode"):
        bounds_a, bounds_b = _pre_bounds(run.a, run), _pre_bounds(run.b, run)
        try:
            enc = encode_pair(run.a, run.b, run.box, run.mode, bounds_a, bounds_b)
        except NotEncodable as e:
            return run.result(Verdict.UNKNOWN, "monolithic", str(e))
    run.note(f"z3: {enc.unstable} unstable neurons as If, {enc.fixed} fixed by bounds")
    if run.clock.remaining() <= 0:
        return run.out_of_time()
    with run.clock.phase("z3"):
        answer = solve_constraints(enc.constraints, enc.inputs, run.clock.remaining())
    if answer.status == Verdict.UNSAT:
        return run.result(Verdict.UNSAT, "monolithic", "z3: no counterexample exists")
    if answer.status != Verdict.SAT:
        return run.result(answer.status, "monolithic", f"z3: {answer.reason}")
    rep = replay(run.a, run.b, answer.witness, run.mode)
    if rep.violated and (run.box is None or run.box.contains(rep.x)):
        return run.counterexample("monolithic", rep)
    if run.mode.kind == "delta-top1" and (run.box is None or run.box.contains(rep.x)):
        return run.result(Verdict.UNKNOWN, "monolithic", "z3: a point with A's margins above L⁻ where B does not pick "
                          "that class alone, but A's softmax confidence there is not proved above δ (the query relaxes "
                          "it): undecided", witness=None)
    return run.result(
        Verdict.ERROR,
        "monolithic",
        "internal error: the z3 model does not replay exactly (a bug in the encoding or the bounds)",
        witness=rep.x,
        output_a=rep.ya,
        output_b=rep.yb,
    )


def _pre_bounds(net: Network, run: _Run):
    """Sound pre-activation bounds from bounds.symbolic_bounds (None without a box)."""
    return None if run.box is None else symbolic_bounds(net, run.box)
