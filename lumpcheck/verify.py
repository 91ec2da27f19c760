"""`lumpcheck verify`: are two networks equivalent (strict, within ε, or same top-1) on a box or on all of R^n?

Engines, cheapest first: falsification (float search, exact replay), a certified difference bound (ε and
strict modes, same architecture), matching the coarsest lumped quotients up to neuron permutation and
scaling, and a monolithic z3 query. Verdicts as in VNN-COMP: 'unsat' = no counterexample exists
(equivalent), 'sat' = an exactly replayed counterexample, 'unknown', 'timeout', 'error'.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

from .ir.domain import Box
from .errors import LumpcheckError
from .ir.exact import as_fractions, fraction_str, to_fraction
from .bounds import symbolic_bounds
from .bounds.deviation import certified_epsilon, require_same_architecture
from .prove.prover import prove_networks
from .encode import NotEncodable, encode_pair
from .falsify import Replay, Value, falsify, onnxruntime_outputs, replay
from .reduction.lumping import reduce
from .solver.z3 import solve_constraints
from .ir.activation import Activation
from .ir.network import Network
from .ir.semantics import Comparison, ComparisonError, compare

STATUSES = ("unsat", "sat", "unknown", "timeout", "error")
ENGINES = ("falsify", "difference-bound", "lumping-match", "monolithic")
FALSIFY_SHARE = 0.25  # at most this share of the time budget goes to falsification ...
FALSIFY_CAP = 5.0  # ... and at most this many seconds


@dataclass(frozen=True)
class Mode:
    """What 'equivalent' means.

    strict:  y_a(x) = y_b(x) exactly, every output.
    epsilon: max_i |y_a,i(x) − y_b,i(x)| <= ε (exact rational ε >= 0).
    top1:    the SETS of maximal outputs are equal, {i : y_a,i = max y_a} = {i : y_b,i = max y_b}: ties count, so
             a tie in one net and a unique maximum in the other is a disagreement (symmetric and transitive).
    """

    kind: str
    epsilon: Fraction = Fraction(0)

    def __post_init__(self) -> None:
        if self.kind not in ("strict", "epsilon", "top1"):
            raise ValueError(f"unknown mode {self.kind!r} (strict, epsilon, top1)")
        object.__setattr__(self, "epsilon", to_fraction(self.epsilon))
        if self.epsilon < 0 or (self.kind != "epsilon" and self.epsilon != 0):
            raise ValueError("ε must be >= 0 and is only meaningful in epsilon mode")

    @classmethod
    def parse(cls, text: str) -> "Mode":
        """'strict', 'top1', or 'epsilon=<exact decimal or p/q>' (e.g. 'epsilon=1e-6', 'epsilon=1/1024')."""
        kind, _, value = text.partition("=")
        try:
            if kind.strip() == "epsilon":
                return cls("epsilon", Fraction(value.strip()))
            if value:
                raise ValueError(f"mode {kind!r} takes no value")
            return cls(kind.strip())
        except (ValueError, ZeroDivisionError) as e:
            raise LumpcheckError(f"bad mode {text!r}: {e}") from None

    def __str__(self) -> str:
        return f"epsilon={fraction_str(self.epsilon)}" if self.kind == "epsilon" else self.kind


STRICT = Mode("strict")
TOP1 = Mode("top1")


def epsilon_mode(eps: object) -> Mode:
    """Mode 'epsilon' with the exact rational ε (a float counts as its exact value)."""
    return Mode("epsilon", to_fraction(eps))


@dataclass
class VerifyResult:
    """The verdict, how it was reached, and (for 'sat') an exact witness with both networks' exact outputs."""

    status: str
    mode: Mode
    engine: str
    message: str = ""
    witness: tuple[Fraction, ...] | None = None
    output_a: tuple[Value, ...] | None = None  # Fractions; rigorous Enclosures for sigmoid/tanh networks
    output_b: tuple[Value, ...] | None = None
    onnxruntime: dict[str, list[float]] = field(default_factory=dict)  # float replays: informative only
    times: dict[str, float] = field(default_factory=dict)
    proofs: dict[str, list] = field(default_factory=dict)  # lumping-match: each side's certified obligation records
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    @property
    def equivalent(self) -> bool:
        return self.status == "unsat"

    def to_dict(self) -> dict:
        """JSON-ready form; exact numbers as 'p/q' strings, enclosures as '[lo, hi]'."""

        def text(v: Value) -> str:
            return fraction_str(v) if isinstance(v, Fraction) else str(v)

        return {
            "status": self.status,
            "mode": str(self.mode),
            "engine": self.engine,
            "message": self.message,
            "witness": None if self.witness is None else [fraction_str(v) for v in self.witness],
            "output_a": None if self.output_a is None else [text(v) for v in self.output_a],
            "output_b": None if self.output_b is None else [text(v) for v in self.output_b],
            "onnxruntime": self.onnxruntime,
            "times": {k: round(v, 6) for k, v in self.times.items()},
            "proofs": {side: [f"{r.id}: {r.status}" for r in records] for side, records in self.proofs.items()},
            "details": {k: v for k, v in self.details.items() if isinstance(v, (str, int, float, bool, list))},
        }


# ---------------------------------------------------------------- matching lumped quotients


class Mismatch(Exception):
    """The two networks are not the same up to neuron permutation and admissible scaling (why, in words)."""


@dataclass(frozen=True)
class LayerMatch:
    """Hidden layer correspondence: v_b[perm[j]] = scale[j] · v_a[j] for every neuron j of a."""

    perm: tuple[int, ...]
    scale: tuple[Fraction, ...]


def match_networks(a: Network, b: Network) -> list[LayerMatch]:
    """Prove a ≡ b structurally: hidden neurons matched by hashing normalised incoming vectors, then checked exactly.

    Expressed in a's previous-layer coordinates, b's neuron t has incoming vector c·(a's neuron j's vector);
    then v_b,t = c·v_a,j when σ(c·z) = c·σ(z): c > 0 for ReLU/LeakyReLU, c = ±1 for tanh, any c ≠ 0 for
    identity, c = 1 for sigmoid. Output layers must agree exactly (no permutation). Raises Mismatch otherwise.
    """
    if a.widths != b.widths:
        raise Mismatch(f"widths differ: {a.shape_str()} vs {b.shape_str()}")
    perm, scale = list(range(a.input_size)), [Fraction(1)] * a.input_size
    matches: list[LayerMatch] = []
    for li, (la, lb) in enumerate(zip(a.layers, b.layers)):
        if la.activation != lb.activation:
            raise Mismatch(f"layer {li}: activations differ ({la.activation} vs {lb.activation})")
        va = _incoming(la.weight, la.bias, list(range(len(perm))), [Fraction(1)] * len(perm))
        vb = _incoming(lb.weight, lb.bias, perm, scale)
        if li == len(a.layers) - 1:
            if va != vb:
                raise Mismatch("output layers differ")
            break
        by_key: dict[tuple, list[int]] = {}
        for j, vec in enumerate(va):
            by_key.setdefault(_normalised(vec, la.activation), []).append(j)
        new_perm, new_scale = [0] * len(va), [Fraction(0)] * len(va)
        for t, vec in enumerate(vb):
            candidates = by_key.get(_normalised(vec, la.activation))
            if not candidates:
                raise Mismatch(f"layer {li}: neuron {t} of the second network has no counterpart")
            j = candidates.pop()
            c = _ratio(va[j], vec)
            if c is None or not _admissible(la.activation, c):  # hashing is only a filter: re-check exactly
                raise Mismatch(f"layer {li}: neuron {t} is not an admissible multiple of neuron {j}")
            new_perm[j], new_scale[j] = t, c
        perm, scale = new_perm, new_scale
        matches.append(LayerMatch(tuple(perm), tuple(scale)))
    return matches


def _incoming(weight, bias, perm: Sequence[int], scale: Sequence[Fraction]) -> list[tuple[Fraction, ...]]:
    """Each neuron's (weights, bias) over the reference previous layer: column r is W[:, perm[r]]·scale[r]."""
    w, b = as_fractions(weight), as_fractions(bias)
    return [tuple(w[s, perm[r]] * scale[r] for r in range(len(perm))) + (b[s],) for s in range(len(b))]


def _normalised(vec: tuple[Fraction, ...], act: Activation) -> tuple[Fraction, ...]:
    """Canonical representative of vec's class under the scalings act admits."""
    lead = next((v for v in vec if v != 0), None)
    if lead is None or act.kind == "sigmoid":
        return vec
    divisor = {"identity": lead, "tanh": Fraction(1 if lead > 0 else -1)}.get(act.kind, abs(lead))
    return tuple(v / divisor for v in vec)


def _ratio(va: tuple[Fraction, ...], vb: tuple[Fraction, ...]) -> Fraction | None:
    """c with vb == c·va exactly (1 for two zero vectors), else None."""
    k = next((i for i, v in enumerate(va) if v != 0), None)
    c = Fraction(1) if k is None else vb[k] / va[k]
    return c if all(q == c * p for p, q in zip(va, vb)) else None


def _admissible(act: Activation, c: Fraction) -> bool:
    """σ(c·z) = c·σ(z) for all z."""
    if act.kind == "identity":
        return c != 0
    if act.kind in ("relu", "leaky_relu"):
        return c > 0
    if act.kind == "tanh":
        return abs(c) == 1
    return c == 1


# ---------------------------------------------------------------- orchestration


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
    notes: list[str] = field(default_factory=list)
    plain: Comparison | None = None  # the comparison form the engines work on (a, b, box are its chains and box)
    models: tuple[Network, Network] | None = None  # the two models as given

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def result(self, status: str, engine: str, message: str, **kw) -> VerifyResult:
        if self.notes and status != "sat":
            message = f"{message}; " + "; ".join(self.notes)
        details = {"notes": self.notes}
        return VerifyResult(status, self.mode, engine, message, times=self.clock.times, details=details, **kw)

    def out_of_time(self) -> VerifyResult:
        return self.result("timeout", "none", f"time budget of {self.timeout:g} s used up")

    def counterexample(self, engine: str, rep: Replay) -> VerifyResult:
        """'sat' with the exact witness and outputs, plus onnxruntime's float outputs for .onnx inputs. A witness of
        the comparison form is mapped back to a model input and replayed exactly on the models ('error' if it
        does not replay there: a bug, never a wrong 'sat')."""
        if self.plain is not None and self.models is not None:
            x = self.plain.model_input(rep.x)
            rep = replay(self.models[0], self.models[1], x, self.mode)
            if not rep.violated or (self.plain.model_box is not None and not self.plain.model_box.contains(rep.x)):
                return self.result("error", engine, "internal error: a counterexample of the layer chains does not "
                                   "replay on the models", witness=rep.x, output_a=rep.ya, output_b=rep.yb)
        ort: dict[str, list[float]] = {}
        with self.clock.phase("onnxruntime"):
            for name, path in (("a", self.a_path), ("b", self.b_path)):
                if path is not None and Path(path).suffix.lower() == ".onnx":
                    try:
                        ort[name] = onnxruntime_outputs(path, rep.x)
                    except Exception as e:  # noqa: BLE001 - an informative float replay must not change the verdict
                        self.note(f"onnxruntime replay of {path} failed: {type(e).__name__}: {e}")
        message = "counterexample replayed exactly"
        return self.result("sat", engine, message, witness=rep.x, output_a=rep.ya, output_b=rep.yb, onnxruntime=ort)


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
) -> VerifyResult:
    """Decide whether models a and b are equivalent under `mode` on `box` (all of R^n when None) within `timeout` s.

    The compared functions are the models (what `network.evaluate` computes: normalisation and input clipping
    included) and the box is over their own input. The engines work on the comparison form (semantics.compare:
    plain layer chains, clipping compiled into a ReLU layer where the two models clip differently); a
    counterexample is mapped back to a model input and replayed exactly on the models themselves.
    """
    unknown_engines = set(engines) - set(ENGINES)
    if unknown_engines:
        raise ValueError(f"unknown engines {sorted(unknown_engines)}; known: {', '.join(ENGINES)}")
    run = _Run(a, b, box, mode, timeout, a_path, b_path, _Clock(timeout), seed)
    problem = _shape_problem(a, b, box)
    if problem:
        return run.result("error", "shape-check", problem)
    try:
        run.plain, run.models = compare(a, b, box, fold_outputs=True, clip_layers=True), (a, b)
    except ComparisonError as e:
        return run.result("error", "shape-check", e.message)
    run.a, run.b, run.box = run.plain.a, run.plain.b, run.plain.box
    failed = False
    for engine, step in (
        ("falsify", _falsify),
        ("difference-bound", _difference_bound),
        ("lumping-match", _lumping_match),
        ("monolithic", _monolithic),
    ):
        if engine not in engines:
            continue
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
    return run.result("error" if failed else "unknown", "none", "no engine decided")


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
    """ε/strict on a box, same architecture: a certified bound on |y_a − y_b| that is <= ε proves the property."""
    if run.box is None or run.mode.kind == "top1":
        return None
    try:
        require_same_architecture(run.a, run.b)
    except LumpcheckError:
        return None
    bound = certified_epsilon(run.a, run.b, run.box)
    if bound <= run.mode.epsilon:
        return run.result("unsat", "difference-bound", f"certified max |y_a - y_b| <= {fraction_str(bound)} <= ε")
    run.note(f"certified max |y_a - y_b| <= {float(bound):.6g} on the box (not <= ε)")
    return None


def _lumping_match(run: _Run) -> VerifyResult | None:
    """Reduce both nets to their coarsest quotients; matching quotients prove a ≡ a' ≅ b' ≡ b on all of R^n."""
    ra, rb = reduce(run.a), reduce(run.b)
    try:
        match_networks(ra.network, rb.network)
    except Mismatch as e:
        run.note(f"lumped quotients do not match ({e})")
        return None
    proofs, how = _certify_reductions(run, ra, rb)
    if how is None:
        return None
    message = f"coarsest lumped quotients ({ra.network.shape_str()}) match up to neuron permutation and scaling; {how}"
    return run.result("unsat", "lumping-match", message, proofs=proofs)


def _certify_reductions(run: _Run, ra, rb) -> tuple[dict[str, list], str | None]:
    """Discharge each side's original ≡ quotient obligations (certificate.prove_networks): (records, how/None)."""
    proofs: dict[str, list] = {}
    for side, red in (("a", ra), ("b", rb)):
        timeout_ms = max(1, int(run.clock.remaining() * 1000))
        proofs[side], _, _ = prove_networks(red.original, red.network, red.relation, timeout_ms=timeout_ms)
        failed = [r.id for r in proofs[side] if r.status != "proved"]
        if failed:
            run.note(f"reduction of network {side} not certified: {len(failed)} obligations failed ({failed[0]}, ...)")
            return proofs, None
    count = sum(len(v) for v in proofs.values())
    return proofs, f"both reductions certified ({count} obligations proved)"


def _monolithic(run: _Run) -> VerifyResult | None:
    """Both nets and the negated property in one z3 query; a model is a counterexample only after exact replay."""
    if not (run.a.piecewise_linear and run.b.piecewise_linear):
        return run.result("unknown", "monolithic", "sigmoid/tanh cannot be encoded exactly in linear real arithmetic")
    with run.clock.phase("encode"):
        bounds_a, bounds_b = _pre_bounds(run.a, run), _pre_bounds(run.b, run)
        try:
            enc = encode_pair(run.a, run.b, run.box, run.mode, bounds_a, bounds_b)
        except NotEncodable as e:
            return run.result("unknown", "monolithic", str(e))
    run.note(f"z3: {enc.unstable} unstable neurons as If, {enc.fixed} fixed by bounds")
    if run.clock.remaining() <= 0:
        return run.out_of_time()
    with run.clock.phase("z3"):
        answer = solve_constraints(enc.constraints, enc.inputs, run.clock.remaining())
    if answer.status == "unsat":
        return run.result("unsat", "monolithic", "z3: no counterexample exists")
    if answer.status != "sat":
        return run.result(answer.status, "monolithic", f"z3: {answer.reason}")
    rep = replay(run.a, run.b, answer.witness, run.mode)
    if rep.violated and (run.box is None or run.box.contains(rep.x)):
        return run.counterexample("monolithic", rep)
    return run.result(
        "error",
        "monolithic",
        "internal error: the z3 model does not replay exactly (a bug in the encoding or the bounds)",
        witness=rep.x,
        output_a=rep.ya,
        output_b=rep.yb,
    )


def _pre_bounds(net: Network, run: _Run):
    """Sound pre-activation bounds from bounds.symbolic_bounds (None without a box)."""
    return None if run.box is None else symbolic_bounds(net, run.box)
