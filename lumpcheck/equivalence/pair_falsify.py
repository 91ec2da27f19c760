"""Falsification for the differential engine: float search, decided only by exact replay.

Floats rank candidate inputs: projected gradient ascent then hill climbing on the output difference (epsilon modes) and
bisection towards decision boundaries (top1/argmin: along a segment between inputs with different decisions,
both networks switch decision at nearby but different points, and any point between them disagrees; delta-top1:
gradient ascent of A's softmax confidence in a class c together with B's preference of another class over c).
A candidate becomes a counterexample only when its exact rational value, clamped into the exact box,
violates the property with both networks evaluated in exact rational arithmetic (Python integers scaled by
powers of two, ir/dyadic.py, when weights and the point are floats; Fractions otherwise).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..ir.domain import Box
from ..ir.dyadic import DyadicNetwork
from ..ir.exact import ceil_float, floor_float, to_float
from ..ir.graph.radical_chain import EnclosedNetwork, has_radicals
from ..ir.network import Network, evaluate
from .confidence import delta_score
from .falsify import Enclosure, decide, written_scores
from .mode import Mode, violated

PGD_STEPS = 40
BISECTION_STEPS = 60
ADVERSARIAL_STARTS = 12
FIRST_STEPS = (0.25, 1.0)
"""First sign-gradient step of the float searches, as a fraction of the box width, alternating over the starting
points (every later step shrinks geometrically). Short steps refine; full-width steps leave the local optima that
trap short ones on saturated networks: on MNIST 256x4 prop_1_0.05, whose outputs sit near one-hot on most of the
ball, 0.25 stopped every start at A's margin 0.985, while 1.0 reached a point A classifies otherwise (-0.50)."""
CLIMB_STEPS = 300
CLIMB_SIGMA = 0.4
CLIMB_DECAY = 0.985
CLIMB_POINTS = 16
"""Epsilon searches, after the gradient steps: random-perturbation hill climbing from the CLIMB_POINTS best points (a
Gaussian step of CLIMB_SIGMA times the box width per input, shrinking by CLIMB_DECAY per step, kept when
|y_A − y_B| grows).
Sign-gradient steps move every input by the same amount, so on a ridge of the difference that is not along an axis
they zigzag across it and stall: on MNIST 256x4 vs its mag10 copy with 15 free pixels (ε = 0.05), five rounds of
64 starts reached 0.040 and a whole 100 s search 0.049, below the true maximum (> 0.05); climbing from the best 16
exceeded ε within 1-4 rounds from each of 6 seeds (best 8: 1-7 rounds; σ 0.2 and 200 steps from all 64: none within
five rounds of 4 seeds). Few points keep a round cheap: climbing from all of them made ACAS proofs 25% slower."""
ENCLOSURE_PRECISIONS = (128, 512)
"""Bits of the interval replay of radical pairs; the second only when the first cannot decide."""


@dataclass(frozen=True)
class Counterexample:
    """An input of the box (exact) where the property fails, with both networks' exact outputs."""

    x: tuple[Fraction, ...]
    ya: tuple[Fraction, ...]
    yb: tuple[Fraction, ...]


def replay(a: Network, b: Network, box: Box, mode: Mode, x: Sequence[float],
           fast: tuple[DyadicNetwork, DyadicNetwork] | None = None,
           enclosed: "EnclosedPair | None" = None) -> Counterexample | None:
    """Clamp x (its exact float values) into the exact box and decide the property exactly.

    fast: the two networks prepared for integer evaluation (ir.dyadic), used when the clamped point is all
    floats and both are covered; it computes the same exact outputs as `evaluate`, only faster. A pair with radical
    weights (BatchNorm folded exactly) is decided by rigorous enclosures of both outputs instead (`EnclosedPair`,
    built here when not given): a counterexample only when the enclosures prove the violation."""
    xs = tuple(min(max(Fraction(float(v)), lo), hi) for v, lo, hi in zip(x, box.lower, box.upper))
    if has_radicals(a) or has_radicals(b):
        return (enclosed or EnclosedPair(a, b)).replay(mode, xs)
    ya = yb = None
    if fast is not None:
        xf = [float(v) for v in xs]
        if all(Fraction(f) == v for f, v in zip(xf, xs)):
            ya, yb = fast[0].evaluate(xf), fast[1].evaluate(xf)
    ya = tuple(evaluate(a, xs)) if ya is None else tuple(ya)
    yb = tuple(evaluate(b, xs)) if yb is None else tuple(yb)
    return Counterexample(xs, ya, yb) if violated(mode, ya, yb) else None


class EnclosedPair:
    """Interval forward passes of two chains (radical weights allowed), at increasing precision: `replay` answers a
    Counterexample (outputs as rigorous Enclosures, or Fractions where an enclosure is a point) only when
    `falsify.decide` proves the violation from the enclosures; undecided at every precision (e.g. an exact tie)
    is no counterexample."""

    def __init__(self, a: Network, b: Network):
        self.nets, self.built = (a, b), {}

    def replay(self, mode: Mode, xs: tuple[Fraction, ...]) -> Counterexample | None:
        for bits in ENCLOSURE_PRECISIONS:
            if bits not in self.built:
                self.built[bits] = tuple(EnclosedNetwork(net, bits) for net in self.nets)
            ya, yb = (tuple(lo if lo == hi else Enclosure(lo, hi) for lo, hi in net.outputs(xs))
                      for net in self.built[bits])
            verdict = decide(mode, ya, yb)
            if verdict is not None:
                return Counterexample(xs, ya, yb) if verdict else None
        return None


class FloatPair:
    """Float64 copies of both networks, for batched evaluation and input gradients (never decides)."""

    def __init__(self, a: Network, b: Network):
        self.nets = [[(to_float(l.weight), to_float(l.bias), l.activation) for l in net.layers] for net in (a, b)]

    def outputs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return tuple(self._forward(layers, X)[0] for layers in self.nets)  # type: ignore[return-value]

    @staticmethod
    def _forward(layers, X):
        v, slopes = X, []
        for w, b, act in layers:
            z = v @ w.T + b
            if act.kind == "identity":
                s = np.ones_like(z)
            else:
                s = np.where(z >= 0, 1.0, float(act.alpha))
            slopes.append(s)
            v = z * s
        return v, slopes

    def gradient(self, X: np.ndarray, ga: np.ndarray, gb: np.ndarray) -> np.ndarray:
        """∇_x of Σ ga·y_A(x) + gb·y_B(x), per row (piecewise-linear networks: backprop through slopes)."""
        total = np.zeros_like(X)
        for layers, g in zip(self.nets, (ga, gb)):
            if not g.any():
                continue
            _, slopes = self._forward(layers, X)
            for (w, _, _), s in zip(layers[::-1], slopes[::-1]):
                g = (g * s) @ w
            total += g
        return total


def inner_floats(box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Float bounds inside the exact box where that is not empty (then clamped points are floats, which replay
    evaluates fastest), else the nearest floats."""
    lo = np.array([ceil_float(v) for v in box.lower])
    hi = np.array([floor_float(v) for v in box.upper])
    near = lo > hi
    lo[near] = [float(box.lower[i]) for i in np.flatnonzero(near)]
    hi[near] = [float(box.upper[i]) for i in np.flatnonzero(near)]
    return lo, hi


def float_score(mode: Mode, ya: np.ndarray, yb: np.ndarray) -> np.ndarray:
    """>= 0 where the floats suggest a violation, larger where it is clearer (epsilon: excess over ε;
    classification: decisions differ, by how much each network prefers its own decision over the other's; as
    written: the best disjunct's worst atom)."""
    if mode.written:
        return written_scores(mode.dnf, np.hstack([ya, yb]))
    if mode.kind == "epsilon":
        return np.abs(ya - yb).max(axis=1) - float(mode.epsilon)
    if mode.kind == "delta-top1":
        return delta_score(mode.delta, ya, yb)
    da, db = _decision(mode, ya), _decision(mode, yb)
    rows = np.arange(len(ya))
    s = float(mode.sign)
    clear = np.minimum(s * (ya[rows, da] - ya[rows, db]), s * (yb[rows, db] - yb[rows, da]))
    return np.where(da != db, clear, -1.0)


CONFIDENT_CLASSES = 2
"""delta-top1 attack: classes tried per start (A's most likely ones there; a class A gives little weight rarely
becomes confident nearby, and each class costs a gradient pass per step)."""
CLEAR_MARGIN = 1e-6
"""A float decision other than c counts as a decision change when it beats c by this much (relative)."""


def _clear_change(mode: Mode, y: np.ndarray, c: int) -> np.ndarray:
    """Per row: does the float output prefer another class over c by a clear margin? (Steers the search only.)"""
    s = float(mode.sign) * y
    best = np.max(np.delete(s, c, axis=1), axis=1)
    return best - s[:, c] > CLEAR_MARGIN * (1.0 + np.abs(s).max(axis=1))


def _decision(mode: Mode, y: np.ndarray) -> np.ndarray:
    return np.argmax(y * mode.sign, axis=1)


DEEPEN_STEPS = 60
"""Sign-gradient steps of `deepened` (each doubles the step after a gain and quarters it after a loss, from 1e-9 of
the box width)."""


def deepened(a: Network, b: Network, box: Box, mode: Mode, x: Sequence[Fraction], ya: Sequence[Fraction],
             yb: Sequence[Fraction]) -> Counterexample | None:
    """A counterexample near the exact one (x, ya, yb) that float evaluations see clearly, or None.

    A top1/argmin witness on the sliver between two close decision boundaries (a pruned copy), or an epsilon one
    barely above ε, is exact, but a float replay (onnxruntime in float32, a VNN-COMP checker) may not see it. From x,
    sign-gradient ascent (floats) of the smaller of A's margin for its decision c_A at x over every other class and
    B's for c_B (epsilon: of max |y_A − y_B|); the end point counts only if it replays exactly as a violation.
    Piecewise-linear pairs only (the float gradient backpropagates ReLU slopes)."""
    if not (a.piecewise_linear and b.piecewise_linear) or has_radicals(a) or has_radicals(b) or \
            mode.kind not in ("top1", "argmin", "epsilon"):
        return None
    pair, (lo, hi) = FloatPair(a, b), inner_floats(box)
    s = float(mode.sign) if mode.kind != "epsilon" else 1.0
    if mode.kind != "epsilon":
        top_a, top_b = (max(range(len(y)), key=lambda i: mode.sign * y[i]) for y in (ya, yb))
        if top_a == top_b:  # a disagreement of tied sets only: no clearer point of the same kind nearby
            return None

    def objective(X: np.ndarray) -> tuple[float, np.ndarray]:
        fa, fb = pair.outputs(X)
        if mode.kind == "epsilon":
            d = fa[0] - fb[0]
            i = int(np.argmax(np.abs(d)))
            g = np.zeros_like(d)
            g[i] = np.sign(d[i]) or 1.0
            return float(abs(d[i])), pair.gradient(X, g[None], -g[None])[0]
        margins = []
        for f, c in ((fa[0], top_a), (fb[0], top_b)):
            other = np.where(np.arange(len(f)) == c, -np.inf, s * f)
            j = int(np.argmax(other))
            margins.append((s * (f[c] - f[j]), c, j))
        net = min((0, 1), key=lambda k: margins[k][0])  # the network with the smaller margin: ascend that one
        value, c, j = margins[net]
        g = np.zeros(len(fa[0]))
        g[c], g[j] = s, -s
        zero = np.zeros_like(g)[None]
        return float(value), pair.gradient(X, g[None] if net == 0 else zero, zero if net == 0 else g[None])[0]

    X = np.clip(np.array([[float(v) for v in x]]), lo, hi)
    best, grad = objective(X)
    start, step = best, 1e-9 * (hi - lo)
    for _ in range(DEEPEN_STEPS):
        Y = np.clip(X + step * np.sign(grad), lo, hi)
        value, g = objective(Y)
        if value > best:
            X, best, grad, step = Y, value, g, step * 2
        else:
            step = step / 4
    if best <= start:
        return None
    return replay(a, b, box, mode, X[0])


class Searcher:
    """Float search on one pair and box; every hit goes through `replay`."""

    def __init__(self, a: Network, b: Network, box: Box, mode: Mode, seed: int = 0):
        self.a, self.b, self.box, self.mode = a, b, box, mode
        self.pair = FloatPair(a, b)
        self.fast = (DyadicNetwork(a), DyadicNetwork(b))
        self.enclosed = EnclosedPair(a, b)
        self.lo, self.hi = inner_floats(box)
        self.rng = np.random.default_rng(seed)
        self.replays = 0
        self.evaluations = 0
        self.seen: set[bytes] = set()
        self.until: float | None = None  # the current round's time limit (time.monotonic), see `run`
        self.decision_changes = False  # floats saw A or B decide clearly otherwise than at the box centre
        self.born = time.monotonic()
        self.rounds_s = 0.0  # wall time spent in `run` since `born` (a search gives its falsifier a share of it)
        self.peak = -np.inf  # the largest float score seen (epsilon: max |y_A − y_B| − ε), for reports only

    def share(self) -> float:
        """The share of the wall time since this falsifier was built that its rounds took."""
        return self.rounds_s / max(time.monotonic() - self.born, 1e-9)

    def clip(self, X: np.ndarray) -> np.ndarray:
        return np.clip(X, self.lo, self.hi)

    def check(self, X: np.ndarray, limit: int = 8) -> Counterexample | None:
        """Replay exactly the (at most `limit`) best points whose float score says violation."""
        X = self.clip(np.atleast_2d(X))
        ya, yb = self.pair.outputs(X)
        self.evaluations += len(X)
        score = float_score(self.mode, ya, yb)
        if len(score):
            self.peak = max(self.peak, float(score.max()))
        for i in np.argsort(-score)[:limit]:
            if score[i] < 0:
                break
            key = X[i].tobytes()
            if key in self.seen:
                continue
            self.seen.add(key)
            self.replays += 1
            cex = replay(self.a, self.b, self.box, self.mode, X[i], self.fast, self.enclosed)
            if cex is not None:
                return cex
        return None

    def random(self, count: int) -> np.ndarray:
        u = self.rng.random((count, len(self.lo)))
        return self.lo * (1 - u) + self.hi * u

    def run(self, starts: np.ndarray | None = None, count: int = 64, full: bool = True,
            until: float | None = None) -> Counterexample | None:
        """One round: random points plus `starts`, then gradient ascent and hill climbing (epsilon) or boundary
        bisection (with targeted gradient steps towards other decisions when `full`). until: a time
        (time.monotonic) after which every gradient, climbing or bisection loop stops after its current step (a
        round's cost grows with the networks: on a 784-1024x4-10 pair one full round took 18 s)."""
        start = time.monotonic()
        try:
            return self._round(starts, count, full, until)
        finally:
            self.rounds_s += time.monotonic() - start

    def _round(self, starts: np.ndarray | None, count: int, full: bool, until: float | None) -> Counterexample | None:
        self.until = until
        X = self.random(count)
        if starts is not None and len(starts):
            X = np.vstack([self.clip(starts), X])
        found = self.check(X)
        if found is not None:
            return found
        if self.mode.kind == "epsilon":
            return self._ascend(X)
        if self.mode.kind == "delta-top1":
            return self._confident(X)
        if self.mode.written:
            return self._descend_atoms(X)
        return self._bisect(X, full)

    def _steps(self, count: int):
        """range(count), cut short (after the first step) once the round's time limit has passed."""
        for i in range(count):
            if i and self.until is not None and time.monotonic() >= self.until:
                return
            yield i

    def _first_step(self, count: int) -> np.ndarray:
        """Per starting point, its first step (FIRST_STEPS, alternating) times the box width: shape (count, dim)."""
        fractions = np.resize(np.array(FIRST_STEPS), count)
        return fractions[:, None] * (self.hi - self.lo)[None, :]

    def _confident(self, X: np.ndarray) -> Counterexample | None:
        """delta-top1: for every start and each of A's CONFIDENT_CLASSES most likely classes c there, sign-gradient
        ascent of the weaker of A's log-confidence in c (above log δ) and B's best margin of another class over c;
        the final points are replayed exactly."""
        m = self.pair.nets[0][-1][0].shape[0]
        k = min(m, CONFIDENT_CLASSES)
        top = np.argsort(-self.pair.outputs(X)[0], axis=1)[:, :k]
        P = np.repeat(X, k, axis=0)
        C = top.reshape(-1)
        rows = np.arange(len(P))
        step = np.repeat(self._first_step(len(X)), k, axis=0)
        log_delta = float(np.log(float(self.mode.delta)))
        for _ in self._steps(PGD_STEPS):
            ya, yb = self.pair.outputs(P)
            p = np.exp(ya - ya.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            ga = -p
            ga[rows, C] += 1.0  # ∇ log softmax(y)_c = e_c − p
            other = np.where(np.arange(m)[None, :] == C[:, None], -np.inf, yb)
            j = np.argmax(other, axis=1)
            gb = np.zeros_like(yb)
            gb[rows, j], gb[rows, C] = 1.0, -1.0
            weak_a = (np.log(np.maximum(p[rows, C], 1e-300)) - log_delta) < (yb[rows, j] - yb[rows, C])
            grad = self.pair.gradient(P, ga * weak_a[:, None], gb * ~weak_a[:, None])
            P = self.clip(P + step * np.sign(grad))
            step = step * 0.9
        return self.check(np.vstack([X, P]), limit=16)


    def _descend_atoms(self, X: np.ndarray) -> Counterexample | None:
        """Projected sign-gradient steps making each point's best disjunct's worst atom truer (written mode)."""
        rows = [(np.array([float(c) for c in atom.coeffs]), float(atom.bound), atom.op, k)
                for k, conj in enumerate(self.mode.dnf) for atom in conj]
        if not rows:
            return None
        C = np.array([r[0] for r in rows])
        bounds = np.array([r[1] for r in rows])
        eq = np.array([r[2] == "=" for r in rows])
        disjunct = np.array([r[3] for r in rows])
        m = C.shape[1] // 2
        step = self._first_step(len(X))
        for _ in self._steps(PGD_STEPS):
            ya, yb = self.pair.outputs(X)
            gap = np.hstack([ya, yb]) @ C.T - bounds  # > 0: atom false ('<=', '<'); != 0: false ('=')
            bad = np.where(eq, np.abs(gap), gap)
            worst = np.full((len(X), len(self.mode.dnf)), -np.inf)
            for k in range(len(self.mode.dnf)):
                worst[:, k] = bad[:, disjunct == k].max(axis=1) if np.any(disjunct == k) else -np.inf
            best = worst.argmin(axis=1)
            masked = np.where(disjunct[None, :] == best[:, None], bad, -np.inf)
            r = masked.argmax(axis=1)
            g = -C[r] * np.where(eq[r] & (gap[np.arange(len(X)), r] < 0), -1.0, 1.0)[:, None]
            X = self.clip(X + step * np.sign(self.pair.gradient(X, g[:, :m], g[:, m:])))
            step = step * 0.85
        return self.check(X)

    def _ascend(self, X: np.ndarray) -> Counterexample | None:
        """Projected sign-gradient ascent on the largest |y_A,i − y_B,i| (L∞ steps shrinking geometrically)."""
        step = self._first_step(len(X))
        for _ in self._steps(PGD_STEPS):
            ya, yb = self.pair.outputs(X)
            diff = ya - yb
            self.peak = max(self.peak, float(float_score(self.mode, ya, yb).max()))
            i = np.argmax(np.abs(diff), axis=1)
            sign = np.sign(diff[np.arange(len(X)), i])
            g = np.zeros_like(diff)
            g[np.arange(len(X)), i] = sign
            grad = self.pair.gradient(X, g, -g)
            X = self.clip(X + step * np.sign(grad))
            step = step * 0.85
        return self.check(X) or self._climb(X)

    def _climb(self, X: np.ndarray) -> Counterexample | None:
        """Random-perturbation hill climbing on the float score from the best points (CLIMB_STEPS); replays the
        results."""
        ya, yb = self.pair.outputs(X)
        score = float_score(self.mode, ya, yb)
        best = np.argsort(-score)[:CLIMB_POINTS]
        X, score = X[best], score[best]
        sigma = CLIMB_SIGMA * (self.hi - self.lo)
        for _ in self._steps(CLIMB_STEPS):
            Y = self.clip(X + self.rng.normal(size=X.shape) * sigma)
            ya, yb = self.pair.outputs(Y)
            new = float_score(self.mode, ya, yb)
            better = new > score
            X[better], score[better] = Y[better], new[better]
            sigma = sigma * CLIMB_DECAY
        return self.check(X)

    def _adversarial(self, X: np.ndarray, net: int) -> np.ndarray:
        """Targeted sign-gradient ascent of s·(y_j − y_c) for every other output j (c: the decision at the
        box centre), from each start, for one network (net 0: A, 1: B), or of the difference of that margin
        between A and B (net 2: A pushed towards j while B is held at c); returns the final points."""
        s = float(self.mode.sign)
        centre = 0.5 * self.lo + 0.5 * self.hi
        c = int(_decision(self.mode, self.pair.outputs(centre[None])[net % 2])[0])
        m = self.pair.nets[0][-1][0].shape[0]
        targets = [j for j in range(m) if j != c]
        P = np.repeat(X, len(targets), axis=0)
        T = np.tile(np.array(targets), len(X))
        rows = np.arange(len(P))
        step = np.repeat(self._first_step(len(X)), len(targets), axis=0)
        for _ in self._steps(PGD_STEPS):
            g = np.zeros((len(P), m))
            g[rows, T], g[:, c] = s, -s
            grad = self.pair.gradient(P, g if net != 1 else 0 * g, {0: 0 * g, 1: g, 2: -g}[net])
            P = self.clip(P + step * np.sign(grad))
            step = step * 0.92
        return P

    def _bisect(self, X: np.ndarray, full: bool = True) -> Counterexample | None:
        """Bisect segments between points decided differently, watching for a disagreement of A and B.

        Besides the given points, gradient steps towards other decisions (of A and of B) supply endpoints."""
        if full:  # starts: the first given point and the last (random) ones, so that they differ
            starts = np.vstack([X[:1], X[-min(len(X) - 1, ADVERSARIAL_STARTS - 1):]]) if len(X) > 1 else X
            X = np.vstack([X] + [self._adversarial(starts, net) for net in (0, 1, 2)])
        found = self.check(X)
        if found is not None:
            return found
        ya, yb = self.pair.outputs(X)
        d = _decision(self.mode, ya)
        centre = 0.5 * self.lo + 0.5 * self.hi
        dc = _decision(self.mode, self.pair.outputs(centre[None])[0])[0]
        self.decision_changes |= bool(np.any(_clear_change(self.mode, ya, dc)) or np.any(_clear_change(self.mode, yb, dc)))
        others = np.flatnonzero(d != dc)[:48]
        order = self.rng.permutation(len(X))
        pairs = [(None, j) for j in others] + [(i, j) for i, j in zip(order[::2], order[1::2]) if d[i] != d[j]][:16]
        if not pairs:
            return None
        x0 = np.array([centre if i is None else X[i] for i, _ in pairs])
        x1 = X[[j for _, j in pairs]]
        for _ in self._steps(BISECTION_STEPS):
            mid = 0.5 * x0 + 0.5 * x1
            ya, yb = self.pair.outputs(mid)
            da, db = _decision(self.mode, ya), _decision(self.mode, yb)
            hit = da != db
            if hit.any():  # the clearest disagreement of this step (replays cost most of a round)
                found = self.check(mid[hit], limit=1)
                if found is not None:
                    return found
            ya0, _ = self.pair.outputs(x0)
            left = da == _decision(self.mode, ya0)
            x0 = np.where(left[:, None], mid, x0)
            x1 = np.where(left[:, None], x1, mid)
        return None
