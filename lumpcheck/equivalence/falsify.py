"""Falsification: a float search for output disagreements whose hits are decided only by exact replay.

Floats rank candidate inputs; a candidate becomes a counterexample only when its exact rational value
(the float's own value, clamped into the box) violates the property in exact arithmetic: Fractions for
piecewise-linear networks, rigorous mpmath interval enclosures for sigmoid/tanh.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from ..ir.domain import Box
from ..ir.exact import as_fractions, fraction_str, to_float, to_fraction
from ..ir.network import Layer, Network, evaluate, evaluate_float
from .confidence import delta_score, exceeds
from .mode import WRITTEN, Mode, dnf_holds

log = logging.getLogger(__name__)

REPLAY_PRECISIONS = (256, 1024)  # bits of the interval enclosures; the second only when the first cannot decide
MAX_CORNERS = 1024  # all 2^n corners up to n = 10, else this many random corners
TOP_CANDIDATES = 8  # float-best points replayed exactly
REPLAY_SLACK = 1e-6
"""A point whose float score is below −this × (1 + the largest |output| evaluated) is not replayed: float64 error is
far below it, and an exact replay of a large net takes seconds (an MNIST 256x4: about 4 s; an interval replay of a
large sigmoid/tanh net: minutes). Skipping a replay never yields a verdict, it only gives up a hopeless candidate."""


@dataclass(frozen=True)
class Enclosure:
    """A rigorous enclosure lo <= y <= hi of an irrational output (sigmoid/tanh networks)."""

    lo: Fraction
    hi: Fraction

    def __str__(self) -> str:
        return f"[{fraction_str(self.lo)}, {fraction_str(self.hi)}]"


Value = Fraction | Enclosure


def _lo(v: Value) -> Fraction:
    return v.lo if isinstance(v, Enclosure) else v


def _hi(v: Value) -> Fraction:
    return v.hi if isinstance(v, Enclosure) else v


@dataclass(frozen=True)
class Replay:
    """The exact outcome at one rational input: both outputs and the three-valued property verdict."""

    x: tuple[Fraction, ...]
    ya: tuple[Value, ...]
    yb: tuple[Value, ...]
    violated: bool | None  # True: proven violation; False: proven fine; None: enclosures too wide to decide


@dataclass
class FalsifyOutcome:
    """What the search did: the first exactly replayed violation (if any), and the float hits it discarded."""

    counterexample: Replay | None
    evaluations: int = 0
    replays: int = 0
    best_score: float = float("-inf")
    discarded: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- exact replay


def exact_outputs(net: Network, x: Sequence[Fraction], prec: int = REPLAY_PRECISIONS[0]) -> tuple[Value, ...]:
    """Exact outputs (Fractions) of a piecewise-linear net; rigorous enclosures for sigmoid/tanh nets."""
    if net.piecewise_linear:
        return tuple(evaluate(net, x))
    return _enclose(net, x, prec)


def _enclose(net: Network, x: Sequence[Fraction], prec: int) -> tuple[Value, ...]:
    """Interval forward pass at `prec` bits: mpmath's iv rounds outward, so every true value is enclosed. The model's
    normalisation is part of it, as in `evaluate`: the input clipped and normalised exactly, the output map applied
    to the enclosures."""
    from mpmath import iv

    def ival(f: Fraction):
        return iv.mpf(f.numerator) / iv.mpf(f.denominator) if f.denominator != 1 else iv.mpf(f.numerator)

    def act(activation, z):
        if activation.kind == "sigmoid":
            return 1 / (1 + iv.exp(-z))
        if activation.kind == "tanh":  # tanh z = 1 - 2/(e^{2z}+1): z occurs once, so the enclosure stays tight
            return 1 - 2 / (iv.exp(2 * z) + 1)
        lo, hi = _interval_fractions(z)
        # piecewise linear with its kink at 0: the extremes are at the endpoints or at 0
        values = [activation.exact(lo), activation.exact(hi)] + ([Fraction(0)] if lo < 0 < hi else [])
        return iv.mpf([ival(min(values)).a, ival(max(values)).b])

    saved = iv.prec
    iv.prec = prec
    try:
        norm = net.normalization
        v = [to_fraction(xi) for xi in x]
        v = [ival(xi) for xi in (v if norm is None else norm.normalize_input(v))]
        for layer in net.layers:
            w, b = as_fractions(layer.weight), as_fractions(layer.bias)
            wi = [[ival(c) for c in row] for row in w]
            z = [sum((c * vi for c, vi in zip(row, v) if c), ival(bs)) for row, bs in zip(wi, b)]
            v = [act(layer.activation, zs) for zs in z]
        return tuple(_to_enclosure(y) for y in (v if norm is None else norm.output(v, ival)))
    finally:
        iv.prec = saved


def _interval_fractions(y) -> tuple[Fraction, Fraction]:
    """The exact rational endpoints of an mpmath interval (mpf exponents are unbounded, so they are finite)."""
    from mpmath.libmp import finf, fnan, fninf

    out: list[Fraction] = []
    for t in y._mpi_:
        if t in (finf, fninf, fnan):
            raise ArithmeticError("interval enclosure is not finite")
        sign, man, exp, _ = t
        out.append((-1) ** sign * Fraction(int(man)) * Fraction(2) ** int(exp))
    return out[0], out[1]


def _to_enclosure(y) -> Value:
    lo, hi = _interval_fractions(y)
    return lo if lo == hi else Enclosure(lo, hi)


def decide(mode: "Mode", ya: Sequence[Value], yb: Sequence[Value]) -> bool | None:
    """Does (ya, yb) violate the mode's property? True/False when proven, None when enclosures overlap."""
    if mode.kind == WRITTEN:
        return _decide_written(mode.dnf, (*ya, *yb))
    if mode.kind == "strict":
        if any(_hi(p) < _lo(q) or _hi(q) < _lo(p) for p, q in zip(ya, yb)):
            return True
        exact = all(isinstance(v, Fraction) for v in (*ya, *yb))
        return False if exact else None
    if mode.kind == "epsilon":
        verdicts = [_abs_diff_exceeds(p, q, mode.epsilon) for p, q in zip(ya, yb)]
        if True in verdicts:
            return True
        return None if None in verdicts else False
    if mode.kind == "argmin":  # the minimal outputs of y are the maximal ones of −y
        return _decide_top1([_negated(v) for v in ya], [_negated(v) for v in yb])
    if mode.kind == "delta-top1":
        return _decide_delta(mode.delta, ya, yb)
    return _decide_top1(ya, yb)


def _decide_delta(delta: Fraction, ya: Sequence[Value], yb: Sequence[Value]) -> bool | None:
    """delta-top1: True when some class c is proved to have softmax(ya)_c > δ while some other output of B is
    proved >= B's output c; False when every class is proved below δ or proved B's unique maximum."""
    lo, hi = [_lo(v) for v in ya], [_hi(v) for v in ya]
    undecided = False
    for c in range(len(ya)):
        confident = exceeds(lo, hi, c, delta)
        if confident is False:
            continue
        beaten = any(_lo(yb[j]) >= _hi(yb[c]) for j in range(len(yb)) if j != c)
        if confident and beaten:
            return True
        if _proven_unique_max(yb) != c:
            undecided = True
    return None if undecided else False
def _decide_written(dnf, y: Sequence[Value]) -> bool | None:
    """Three-valued truth of the dnf at y: exact for Fractions; for enclosures an atom is decided only when its
    whole interval of values lies on one side."""
    if all(isinstance(v, Fraction) for v in y):
        return dnf_holds(dnf, y)
    disjuncts = []
    for conj in dnf:
        atoms = []
        for atom in conj:
            lo = sum((c * (_lo(v) if c > 0 else _hi(v)) for c, v in zip(atom.coeffs, y) if c), Fraction(0))
            hi = sum((c * (_hi(v) if c > 0 else _lo(v)) for c, v in zip(atom.coeffs, y) if c), Fraction(0))
            if atom.op == "=":
                atoms.append(True if lo == hi == atom.bound else False if lo > atom.bound or hi < atom.bound else None)
            elif atom.op == "<":
                atoms.append(True if hi < atom.bound else False if lo >= atom.bound else None)
            else:
                atoms.append(True if hi <= atom.bound else False if lo > atom.bound else None)
        disjuncts.append(False if False in atoms else None if None in atoms else True)
    return True if True in disjuncts else None if None in disjuncts else False


def _negated(v: Value) -> Value:
    return -v if isinstance(v, Fraction) else Enclosure(-v.hi, -v.lo)


def _abs_diff_exceeds(p: Value, q: Value, eps: Fraction) -> bool | None:
    dlo, dhi = _lo(p) - _hi(q), _hi(p) - _lo(q)
    if dlo > eps or -dhi > eps:
        return True
    if max(abs(dlo), abs(dhi)) <= eps:
        return False
    return None


def maximal_set(y: Sequence[Fraction]) -> frozenset[int]:
    """The indices of the maximal outputs (ties included): the top-1 decision lumpcheck compares."""
    top = max(y)
    return frozenset(i for i, v in enumerate(y) if v == top)


def _decide_top1(ya: Sequence[Value], yb: Sequence[Value]) -> bool | None:
    if all(isinstance(v, Fraction) for v in (*ya, *yb)):
        return maximal_set(ya) != maximal_set(yb)  # type: ignore[arg-type]
    ua, ub = _proven_unique_max(ya), _proven_unique_max(yb)
    if ua is not None and ub is not None:
        return ua != ub
    for u, other in ((ua, yb), (ub, ya)):  # u is maximal in one net but provably beaten in the other
        if u is not None and any(_lo(other[j]) > _hi(other[u]) for j in range(len(other)) if j != u):
            return True
    return None


def _proven_unique_max(y: Sequence[Value]) -> int | None:
    for i, v in enumerate(y):
        if all(_lo(v) > _hi(w) for j, w in enumerate(y) if j != i):
            return i
    return None


def replay(a: Network, b: Network, x: Sequence[object], mode: "Mode") -> Replay:
    """Evaluate both nets exactly at x and decide the property; enclosures are refined once if undecided."""
    xs = tuple(to_fraction(v) for v in x)
    for prec in REPLAY_PRECISIONS:
        ya, yb = exact_outputs(a, xs, prec), exact_outputs(b, xs, prec)
        verdict = decide(mode, ya, yb)
        if verdict is not None or (a.piecewise_linear and b.piecewise_linear):
            break
    return Replay(xs, ya, yb, verdict)


def onnxruntime_outputs(path: str | Path, x: Sequence[Fraction]) -> list[float]:
    """Run an .onnx file in onnxruntime at x (rounded to the model's input dtype): informative, never decides."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    dtype = np.float64 if inp.type == "tensor(double)" else np.float32
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
    arr = np.array([float(v) for v in x], dtype=dtype)
    arr = arr.reshape(shape) if int(np.prod(shape)) == arr.size else arr.reshape(1, -1)
    return [float(v) for v in np.asarray(sess.run(None, {inp.name: arr})[0]).reshape(-1)]


# ---------------------------------------------------------------- float search


def float_scores(mode: "Mode", ya: np.ndarray, yb: np.ndarray) -> np.ndarray:
    """Per-row float score, > 0 (or >= 0 for ties) where the floats suggest a violation; higher is closer."""
    if mode.kind == WRITTEN:
        return written_scores(mode.dnf, np.hstack([ya, yb]))
    if mode.kind in ("strict", "epsilon"):
        diff = np.max(np.abs(ya - yb), axis=1)
        return diff - float(mode.epsilon) if mode.kind == "epsilon" else diff
    if mode.kind == "delta-top1":
        return delta_score(mode.delta, ya, yb)
    if mode.kind == "argmin":
        ya, yb = -ya, -yb
    rows = np.arange(len(ya))
    ia, ib = np.argmax(ya, axis=1), np.argmax(yb, axis=1)
    disagree = np.maximum(yb[rows, ib] - yb[rows, ia], ya[rows, ia] - ya[rows, ib])
    return np.where(ia != ib, disagree, -np.minimum(_margin(ya, ia), _margin(yb, ib)))


def _largest(ya: np.ndarray, yb: np.ndarray) -> float:
    """The largest finite |output| in ya and yb (0 when there is none)."""
    both = np.abs(np.concatenate([ya.ravel(), yb.ravel()]))
    both = both[np.isfinite(both)]
    return float(both.max()) if both.size else 0.0


def written_scores(dnf, y: np.ndarray) -> np.ndarray:
    """Per row: the best disjunct's worst atom, −(c·y − bound) (−|c·y − bound| for '='): >= 0 where the floats
    suggest the dnf holds."""
    best = np.full(len(y), -np.inf)
    for conj in dnf:
        worst = np.full(len(y), np.inf)
        for atom in conj:
            gap = y @ np.array([float(c) for c in atom.coeffs]) - float(atom.bound)
            worst = np.minimum(worst, -np.abs(gap) if atom.op == "=" else -gap)
        best = np.maximum(best, worst)
    return best


def _margin(y: np.ndarray, top: np.ndarray) -> np.ndarray:
    """How far the top output is ahead of the runner-up (near 0 = near a decision boundary)."""
    if y.shape[1] < 2:
        return np.full(len(y), np.inf)
    rest = y.copy()
    rest[np.arange(len(y)), top] = -np.inf
    return y[np.arange(len(y)), top] - rest.max(axis=1)


@dataclass
class _Space:
    """Where inputs are drawn: the box in float64, or R^n (Gaussian at several scales) when box is None."""

    box: Box | None
    n: int
    lo: np.ndarray = field(init=False)
    hi: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.box is not None:
            self.lo = np.array([float(v) for v in self.box.lower])
            self.hi = np.array([float(v) for v in self.box.upper])

    def random(self, rng: np.random.Generator, count: int) -> np.ndarray:
        if self.box is None:
            scales = 10.0 ** rng.integers(-1, 4, size=(count, 1))
            return rng.normal(size=(count, self.n)) * scales
        u = rng.random((count, self.n))
        return self.lo * (1 - u) + self.hi * u  # no overflow even for boxes spanning the float range

    def corners(self, rng: np.random.Generator) -> np.ndarray:
        if self.box is None:
            return np.empty((0, self.n))
        if self.n <= 10:
            bits = np.array(list(itertools.product((0, 1), repeat=self.n)), dtype=bool).reshape(-1, self.n)
        else:
            bits = rng.random((MAX_CORNERS, self.n)) < 0.5
        return np.where(bits, self.hi, self.lo)

    def step(self, x: np.ndarray) -> np.ndarray:
        """Initial local-search step per coordinate."""
        if self.box is None:
            return 0.1 * np.maximum(1.0, np.abs(x))
        return 0.1 * self.hi - 0.1 * self.lo

    def clip(self, x: np.ndarray) -> np.ndarray:
        return x if self.box is None else np.clip(x, self.lo, self.hi)

    def exact(self, x: np.ndarray) -> tuple[Fraction, ...]:
        """The float point's exact value, clamped (exactly) into the box."""
        xs = [Fraction(float(v)) for v in x]
        if self.box is None:
            return tuple(xs)
        return tuple(min(max(v, lo), hi) for v, lo, hi in zip(xs, self.box.lower, self.box.upper))


class _Pool:
    """The best-scoring distinct float points seen so far."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.points: dict[bytes, tuple[float, np.ndarray]] = {}

    def add(self, xs: np.ndarray, scores: np.ndarray) -> None:
        for i in np.argsort(-scores)[: self.size]:
            self.points.setdefault(xs[i].tobytes(), (float(scores[i]), xs[i].copy()))
        best = sorted(self.points.items(), key=lambda kv: -kv[1][0])[: self.size]
        self.points = dict(best)

    def ranked(self) -> list[tuple[float, np.ndarray]]:
        return sorted(self.points.values(), key=lambda sx: -sx[0])


def falsify(
    a: Network,
    b: Network,
    box: Box | None,
    mode: "Mode",
    time_budget: float,
    *,
    samples: int = 4096,
    local_iterations: int = 60,
    seed: int = 0,
) -> FalsifyOutcome:
    """Random points, box corners and coordinate searches in float64; the best points are replayed exactly.

    Budget: the box's corners (2^n, at most MAX_CORNERS random ones) and `samples` random points, then a coordinate
    search of `local_iterations` rounds (2n + 1 points each) from each of the 3 best points, all within `time_budget`.
    The TOP_CANDIDATES best points are replayed exactly (unless hopeless: REPLAY_SLACK); in strict mode (and ε = 0)
    also TOP_CANDIDATES random ones, as float rounding can outrank a real difference below float resolution. Same
    `seed`, same search."""
    deadline = time.monotonic() + time_budget
    rng = np.random.default_rng(seed)
    space = _Space(box, a.input_size)
    pool = _Pool(TOP_CANDIDATES)
    outcome = FalsifyOutcome(None)

    fa, fb = _rounded(a), _rounded(b)
    scale = 0.0  # the largest finite |output| evaluated

    def score(xs: np.ndarray) -> np.ndarray:
        nonlocal scale
        xs = space.clip(xs)
        with np.errstate(all="ignore"):
            ya, yb = evaluate_float(fa, xs), evaluate_float(fb, xs)
            s = float_scores(mode, ya, yb)
        s = np.nan_to_num(s, nan=-np.inf)
        scale = max(scale, _largest(ya, yb))
        outcome.evaluations += len(xs)
        pool.add(xs, s)
        return s

    spread = space.random(rng, samples)
    for batch in (space.corners(rng), spread):
        if len(batch) and time.monotonic() < deadline:
            score(batch)
    for _, start in pool.ranked()[:3]:
        _coordinate_search(start, space, score, local_iterations, deadline, rng)

    ranked = pool.ranked()
    outcome.best_score = ranked[0][0] if ranked else float("-inf")
    # strict: float rounding noise can outrank a real but tiny difference, so also replay a few random points
    tiny = mode.kind == "strict" or (mode.kind == "epsilon" and mode.epsilon == 0)
    unranked = [(float("nan"), x) for x in spread[:TOP_CANDIDATES]] if tiny else []
    hopeless = -REPLAY_SLACK * (1.0 + scale)
    for s, xf in ranked + unranked:
        if s < hopeless:
            continue
        if time.monotonic() >= deadline and outcome.replays:
            break
        rep = replay(a, b, space.exact(xf), mode)
        outcome.replays += 1
        if rep.violated:
            outcome.counterexample = rep
            return outcome
        if s > 0 or (s == 0 and mode.decides):
            note = f"float score {s:.3g} at x={[float(v) for v in xf]} did not replay exactly ({_verdict(rep)})"
            log.info("discarded float hit: %s", note)
            outcome.discarded.append(note)
    return outcome


def _rounded(net: Network) -> Network:
    """A float64 copy for the search (Fraction weights rounded once, not on every batch)."""
    return Network([Layer(to_float(l.weight), to_float(l.bias), l.activation) for l in net.layers])


def _verdict(rep: Replay) -> str:
    return "undecided at the replay precision" if rep.violated is None else "exact outputs satisfy the property"


def _coordinate_search(
    start: np.ndarray, space: _Space, score, iterations: int, deadline: float, rng: np.random.Generator
) -> None:
    """Gradient-free hill climbing: try ± step on every coordinate (and one random direction), halve on failure."""
    x, step = start.copy(), space.step(start)
    best = float(score(x[None, :])[0])
    n = len(x)
    for _ in range(iterations):
        if time.monotonic() >= deadline or not np.any(step > 0):
            return
        moves = np.concatenate([np.diag(step), -np.diag(step), (rng.normal(size=n) * step)[None, :]])
        cands = space.clip(x + moves)
        s = score(cands)
        i = int(np.argmax(s))
        if s[i] > best:
            x, best = cands[i], float(s[i])
        else:
            step = step / 2
