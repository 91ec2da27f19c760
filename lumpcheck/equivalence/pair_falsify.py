"""Falsification for the differential engine: float search, decided only by exact replay.

Floats rank candidate inputs: projected gradient ascent on the output difference (epsilon modes) and
bisection towards decision boundaries (top1/argmin: along a segment between inputs with different decisions,
both networks switch decision at nearby but different points, and any point between them disagrees).
A candidate becomes a counterexample only when its exact rational value, clamped into the exact box,
violates the property with both networks evaluated in exact rational arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..ir.domain import Box
from ..ir.exact import to_float
from ..ir.network import Network, evaluate
from .mode import Mode, violated

PGD_STEPS = 40
BISECTION_STEPS = 60


@dataclass(frozen=True)
class Counterexample:
    """An input of the box (exact) where the property fails, with both networks' exact outputs."""

    x: tuple[Fraction, ...]
    ya: tuple[Fraction, ...]
    yb: tuple[Fraction, ...]


def replay(a: Network, b: Network, box: Box, mode: Mode, x: Sequence[float]) -> Counterexample | None:
    """Clamp x (its exact float values) into the exact box and decide the property exactly."""
    xs = tuple(min(max(Fraction(float(v)), lo), hi) for v, lo, hi in zip(x, box.lower, box.upper))
    ya, yb = tuple(evaluate(a, xs)), tuple(evaluate(b, xs))
    return Counterexample(xs, ya, yb) if violated(mode, ya, yb) else None


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
            _, slopes = self._forward(layers, X)
            for (w, _, _), s in zip(layers[::-1], slopes[::-1]):
                g = (g * s) @ w
            total += g
        return total


def float_score(mode: Mode, ya: np.ndarray, yb: np.ndarray) -> np.ndarray:
    """> 0 where the floats suggest a violation (epsilon: excess over ε; classification: decisions differ)."""
    if mode.kind == "epsilon":
        return np.abs(ya - yb).max(axis=1) - float(mode.epsilon)
    return np.where(_decision(mode, ya) != _decision(mode, yb), 1.0, -1.0)


def _decision(mode: Mode, y: np.ndarray) -> np.ndarray:
    return np.argmax(y * mode.sign, axis=1)


class Searcher:
    """Float search on one pair and box; every hit goes through `replay`."""

    def __init__(self, a: Network, b: Network, box: Box, mode: Mode, seed: int = 0):
        self.a, self.b, self.box, self.mode = a, b, box, mode
        self.pair = FloatPair(a, b)
        self.lo = np.array([float(v) for v in box.lower])
        self.hi = np.array([float(v) for v in box.upper])
        self.rng = np.random.default_rng(seed)
        self.replays = 0
        self.evaluations = 0
        self.seen: set[bytes] = set()

    def clip(self, X: np.ndarray) -> np.ndarray:
        return np.clip(X, self.lo, self.hi)

    def check(self, X: np.ndarray, limit: int = 8) -> Counterexample | None:
        """Replay exactly the (at most `limit`) best points whose float score says violation."""
        X = self.clip(np.atleast_2d(X))
        ya, yb = self.pair.outputs(X)
        self.evaluations += len(X)
        score = float_score(self.mode, ya, yb)
        for i in np.argsort(-score)[:limit]:
            if score[i] < 0:
                break
            key = X[i].tobytes()
            if key in self.seen:
                continue
            self.seen.add(key)
            self.replays += 1
            cex = replay(self.a, self.b, self.box, self.mode, X[i])
            if cex is not None:
                return cex
        return None

    def random(self, count: int) -> np.ndarray:
        u = self.rng.random((count, len(self.lo)))
        return self.lo * (1 - u) + self.hi * u

    def run(self, starts: np.ndarray | None = None, count: int = 64, full: bool = True) -> Counterexample | None:
        """One round: random points plus `starts`, then gradient ascent (epsilon) or boundary bisection
        (with targeted gradient steps towards other decisions when `full`)."""
        X = self.random(count)
        if starts is not None and len(starts):
            X = np.vstack([self.clip(starts), X])
        found = self.check(X)
        if found is not None:
            return found
        if self.mode.kind == "epsilon":
            return self._ascend(X)
        return self._bisect(X, full)

    def _ascend(self, X: np.ndarray) -> Counterexample | None:
        """Projected sign-gradient ascent on the largest |y_A,i − y_B,i| (L∞ steps shrinking geometrically)."""
        step = 0.25 * (self.hi - self.lo)
        for _ in range(PGD_STEPS):
            ya, yb = self.pair.outputs(X)
            diff = ya - yb
            i = np.argmax(np.abs(diff), axis=1)
            sign = np.sign(diff[np.arange(len(X)), i])
            g = np.zeros_like(diff)
            g[np.arange(len(X)), i] = sign
            grad = self.pair.gradient(X, g, -g)
            X = self.clip(X + step * np.sign(grad))
            step = step * 0.85
        return self.check(X)

    def _adversarial(self, X: np.ndarray, net: int) -> np.ndarray:
        """Targeted sign-gradient ascent of s·(y_j − y_c) for every other output j (c: the decision at the
        box centre), from each start, for one network; returns the final points."""
        s = float(self.mode.sign)
        centre = 0.5 * self.lo + 0.5 * self.hi
        c = int(_decision(self.mode, self.pair.outputs(centre[None])[net])[0])
        m = self.pair.nets[net][-1][0].shape[0]
        targets = [j for j in range(m) if j != c]
        P = np.repeat(X, len(targets), axis=0)
        T = np.tile(np.array(targets), len(X))
        rows = np.arange(len(P))
        step = 0.25 * (self.hi - self.lo)
        for _ in range(PGD_STEPS):
            g = np.zeros((len(P), m))
            g[rows, T], g[:, c] = s, -s
            grad = self.pair.gradient(P, g if net == 0 else 0 * g, g if net == 1 else 0 * g)
            P = self.clip(P + step * np.sign(grad))
            step = step * 0.92
        return P

    def _bisect(self, X: np.ndarray, full: bool = True) -> Counterexample | None:
        """Bisect segments between points decided differently, watching for a disagreement of A and B.

        Besides the given points, gradient steps towards other decisions (of A and of B) supply endpoints."""
        if full:
            X = np.vstack([X] + [self._adversarial(X[: min(len(X), 12)], net) for net in (0, 1)])
        found = self.check(X)
        if found is not None:
            return found
        ya, _ = self.pair.outputs(X)
        d = _decision(self.mode, ya)
        centre = 0.5 * self.lo + 0.5 * self.hi
        dc = _decision(self.mode, self.pair.outputs(centre[None])[0])[0]
        others = np.flatnonzero(d != dc)[:48]
        order = self.rng.permutation(len(X))
        pairs = [(None, j) for j in others] + [(i, j) for i, j in zip(order[::2], order[1::2]) if d[i] != d[j]][:16]
        if not pairs:
            return None
        x0 = np.array([centre if i is None else X[i] for i, _ in pairs])
        x1 = X[[j for _, j in pairs]]
        for _ in range(BISECTION_STEPS):
            mid = 0.5 * x0 + 0.5 * x1
            ya, yb = self.pair.outputs(mid)
            da, db = _decision(self.mode, ya), _decision(self.mode, yb)
            hit = da != db
            if hit.any():
                found = self.check(mid[hit])
                if found is not None:
                    return found
            ya0, _ = self.pair.outputs(x0)
            left = da == _decision(self.mode, ya0)
            x0 = np.where(left[:, None], mid, x0)
            x1 = np.where(left[:, None], x1, mid)
        return None
