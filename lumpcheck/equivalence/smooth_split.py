"""Input splitting for the difference-bound engine: when one certified bound D on |A − B| over the whole box is
too loose (sigmoid/tanh pairs of one architecture, where no other engine applies), bisect the box and prove each
piece with the same bound, until every leaf holds or the deadline passes.

A leaf holds when (epsilon) D_leaf <= ε, or (top1/argmin) A's decision c at the leaf's centre has margin lower
bounds s·(y_c − y_j) above 2·D_leaf on the leaf (bounds.propagate.decision_margins): then c is also B's unique
decision there. The format lets each leaf name its class, but leaves are closed boxes that tile a connected box:
two neighbours share a face, where one unique decision cannot be two classes, so every proof has one class. Hence
a piece whose float samples show two decisions of A can never be closed: the search stops there (unknown).
Only boxes with at most SPLIT_INPUTS inputs are split (ACAS-like inputs: a bisection halves one input's width, so
the pieces needed grow exponentially with the number of inputs that matter).

Order: depth first (memory stays at the depth times two boxes); a piece whose bound fails even at its centre point
(HOPELESS_DEPTH) or after MAX_HALVINGS splits per input ends the search (unknown): the bound adds the layers'
contributions' magnitudes, so it does not tend to |A − B| as pieces shrink, and such pieces would never close. The
split input is the one with the largest width × Σ_i |W_A[i, d]| (A's first layer): the first-order reach of that
input into the first pre-activations.
Falsification already ran before this step; a node that does not hold is also sampled in floats (its centre and
corners), and a float hit is replayed exactly (falsify.replay): only an exact replay is a counterexample.
The leaves' boxes are exact (split points are floats strictly inside their interval); the certificate records
the split tree and the checker re-derives every leaf's bound (checker/bound_pair.py).
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np

from ..bounds.deviation import difference_bound
from ..bounds.propagate import decision_margins
from ..ir.domain import Box
from ..ir.network import Network, evaluate_float
from ..solver import Verdict
from .falsify import Replay, float_scores, replay
from .mode import Mode
from .progress import Progress, progress_of

SPLIT_INPUTS = 16
"""Boxes with at most this many inputs are split (ACAS Xu has 5); larger ones keep the whole-box verdict."""
HOPELESS_DEPTH = 2
"""A piece at least this many splits per input deep that does not hold is tested at its centre point alone."""
MAX_HALVINGS = 24
"""A piece that does not hold after this many splits per input is given up (the search answers unknown)."""
CORNERS = 16  # a failed node's float sample: its centre and all corners up to 2^4, else this many random ones
PROGRESS_SECONDS = 1.0


@dataclass(frozen=True)
class SplitLeaf:
    """A proved piece of the box: its split path (("x", d, m, side) entries: x_d <= m for side 0, >= m for 1), the
    class both networks decide on it (top1/argmin; None for epsilon) and the engine's bound D on |A − B| there."""

    path: tuple[tuple[str, int, float, int], ...]
    cls: int | None
    bound: Fraction
    part: str = "all"  # progress.progress_of counts leaves of part "all" as covering both networks' claims


@dataclass(frozen=True)
class SplitOutcome:
    """UNSAT with the leaves (they cover the box), SAT with an exactly replayed witness, else TIMEOUT/UNKNOWN."""

    status: Verdict
    leaves: tuple[SplitLeaf, ...]
    nodes: int
    message: str
    witness: Replay | None = None


def splittable(a: Network, mode: Mode, box: Box) -> bool:
    """Does input splitting apply: few inputs that vary (fixed ones are never split), and an ε > 0 or a top1/argmin
    claim (the latter with A's last layer affine, as decision_margins needs)?"""
    if mode.classifies:
        return len(box.free) <= SPLIT_INPUTS and a.layers[-1].activation.kind == "identity"
    return len(box.free) <= SPLIT_INPUTS and mode.kind == "epsilon" and mode.epsilon > 0


def split_search(a: Network, b: Network, box: Box, mode: Mode, window: int, deadline: float, *,
                 progress: Callable[[Progress], None] | None = None, seed: int = 0, jobs: int = 0) -> SplitOutcome:
    """Bisect `box` until every leaf holds (module docstring), a float hit replays exactly, or time.monotonic()
    reaches `deadline`. a, b: plain layer chains of one architecture; window: difference_bound's window.
    jobs > 1: the box (whose own bound failed) is first cut into 2·jobs pieces, searched in `jobs` processes
    (the first sat or timeout stops them all; see _parallel)."""
    if jobs > 1:
        return _parallel(a, b, box, mode, window, deadline, progress, seed, jobs)
    return _Search(a, b, box, mode, window, deadline, progress, np.random.default_rng(seed)).run()


class _Search:
    def __init__(self, a, b, box, mode, window, deadline, progress, rng, root=(), stop=None) -> None:
        self.a, self.b, self.box, self.mode, self.window = a, b, box, mode, window
        self.deadline, self.progress, self.rng, self.root, self.stop = deadline, progress, rng, root, stop
        self.reach = np.abs(np.asarray(a.layers[0].weight, dtype=float)).sum(axis=0)
        self.leaves: list[SplitLeaf] = []
        self.told = time.monotonic() - PROGRESS_SECONDS  # the first closed leaf is told at once

    def run(self) -> SplitOutcome:
        stack: list[tuple[tuple, Box]] = [(self.root, self.box)]
        nodes = 0
        while stack:
            if time.monotonic() >= self.deadline:
                return self._end(Verdict.TIMEOUT, nodes, f"deadline reached with {len(stack)} pieces open")
            if self.stop is not None and self.stop.is_set():
                return self._end(Verdict.UNKNOWN, nodes, "stopped: another piece decided the search")
            path, node = stack.pop()
            nodes += 1
            held = self._holds(node)
            if held is not None:
                self.leaves.append(SplitLeaf(path, *held))
                self._tell(len(stack))
                continue
            rep, decisions = self._sample(node)
            if rep is not None:
                return self._end(Verdict.SAT, nodes, "a float sample of a piece replayed exactly", rep)
            if len(decisions) > 1:
                return self._end(Verdict.UNKNOWN, nodes, f"A's decision changes inside piece {_describe(path)} (float "
                                 f"samples: classes {sorted(decisions)}): no split tree proves one decision per piece")
            if len(path) >= HOPELESS_DEPTH * node.dim and self._hopeless(node):
                return self._end(Verdict.UNKNOWN, nodes, f"the bound does not hold even at the centre of piece "
                                 f"{_describe(path)} alone: smaller pieces would not help")
            children = self.halves(path, node) if len(path) < MAX_HALVINGS * node.dim else None
            if children is None:
                return self._end(Verdict.UNKNOWN, nodes, f"piece {_describe(path)} does not hold and is too small to "
                                 "split further")
            stack += children[::-1]
        return self._end(Verdict.UNSAT, nodes, f"{len(self.leaves)} pieces each proved by a certified bound")

    def _end(self, status: Verdict, nodes: int, message: str, rep: Replay | None = None) -> SplitOutcome:
        return SplitOutcome(status, tuple(self.leaves) if status == Verdict.UNSAT else (), nodes, message, rep)

    def _tell(self, open_nodes: int) -> None:
        now = time.monotonic()
        if self.progress is not None and now - self.told >= PROGRESS_SECONDS:
            self.told = now
            self.progress(progress_of(self.leaves, open_nodes))

    def _holds(self, node: Box) -> tuple[int | None, Fraction] | None:
        """(class or None, D) when the claim holds on `node` by its bound, else None. Classification modes bound
        A's margins first (one network: cheaper), and skip D when a margin is not even positive."""
        if not self.mode.classifies:
            bound = difference_bound(self.a, self.b, node, self.window)[0]
            return (None, bound) if bound <= self.mode.epsilon else None
        centre = np.array([float((lo + hi) / 2) for lo, hi in zip(node.lower, node.upper)])
        out = evaluate_float(self.a, centre)
        cls = max(range(len(out)), key=lambda i: self.mode.sign * out[i])
        low = min(decision_margins(self.a, node, cls, self.mode.sign), default=None)
        if low is None or low <= 0:
            return None
        bound = difference_bound(self.a, self.b, node, self.window)[0]
        return (cls, bound) if low > 2 * bound else None

    def _hopeless(self, node: Box) -> bool:
        """Does the claim fail by its bound at the node's centre point alone? The bound does not tend to |A − B| as
        pieces shrink (it adds the layers' contributions' magnitudes), nor does A's margin stay positive near a
        decision boundary: pieces around such a point never close. A heuristic to stop early, never a verdict."""
        centre = tuple((lo + hi) / 2 for lo, hi in zip(node.lower, node.upper))
        return self._holds(Box(centre, centre)) is None

    def _sample(self, node: Box) -> tuple[Replay | None, set[int]]:
        """(an exactly replayed counterexample among the node's centre and corners or None (floats rank, replay
        decides), A's float decisions at those points (top1/argmin; else empty))."""
        lower, upper = node.lower, node.upper
        if node.dim <= 4:
            picks = list(itertools.product((0, 1), repeat=node.dim))
        else:
            picks = [tuple(row) for row in self.rng.integers(0, 2, (CORNERS, node.dim))]
        points = [tuple((lo + hi) / 2 for lo, hi in zip(lower, upper))]
        points += [tuple(hi if p else lo for p, lo, hi in zip(pick, lower, upper)) for pick in picks]
        xs = np.array([[float(v) for v in x] for x in points])
        ya = evaluate_float(self.a, xs)
        scores = float_scores(self.mode, ya, evaluate_float(self.b, xs))
        decisions = {int(c) for c in np.argmax(self.mode.sign * ya, axis=1)} if self.mode.classifies else set()
        for k in np.argsort(-scores):
            if scores[k] < 0:
                break
            rep = replay(self.a, self.b, points[k], self.mode)
            if rep.violated:
                return rep, decisions
        return None, decisions

    def halves(self, path: tuple, node: Box) -> list[tuple[tuple, Box]] | None:
        """The two children (path, box) of a node (None when it cannot be cut), lower half first."""
        cut = self._cut(node)
        if cut is None:
            return None
        d, m = cut
        low = Box(node.lower, tuple(Fraction(m) if i == d else v for i, v in enumerate(node.upper)))
        high = Box(tuple(Fraction(m) if i == d else v for i, v in enumerate(node.lower)), node.upper)
        return [((*path, ("x", d, m, 0)), low), ((*path, ("x", d, m, 1)), high)]

    def _cut(self, node: Box) -> tuple[int, float] | None:
        """(d, m): bisect the input with the largest width × first-layer reach at the float m nearest its middle
        (None when no float lies strictly inside that interval)."""
        widths = [float(hi - lo) for lo, hi in zip(node.lower, node.upper)]
        d = max(range(node.dim), key=lambda i: widths[i] * self.reach[i])
        lo, hi = node.lower[d], node.upper[d]
        m = float((lo + hi) / 2)
        return (d, m) if lo < Fraction(m) < hi else None


def _describe(path: tuple) -> str:
    return "[" + ", ".join(f"x{d} {'<=' if side == 0 else '>='} {m:.6g}" for _, d, m, side in path) + "]"


_STOP = None  # a worker process's copy of the shared stop event (set by _init_worker)


def _init_worker(stop) -> None:
    global _STOP
    _STOP = stop


def _piece(task: tuple) -> SplitOutcome:
    a, b, box, mode, window, deadline, seed, path = task
    return _Search(a, b, box, mode, window, deadline, None, np.random.default_rng(seed), path, _STOP).run()


def _parallel(a, b, box, mode, window, deadline, progress, seed, jobs) -> SplitOutcome:
    """split_search in `jobs` processes: the box cut (without bounds: its own failed) into 2·jobs pieces or more,
    each searched depth first; leaves keep their full paths. The first SAT or TIMEOUT sets the shared stop
    event (the others end at their next piece) and is the outcome, as the first SAT does; an UNKNOWN (a hopeless piece)
    lets the other pieces go on, since one of them may still find a counterexample; all UNSAT: the union of their
    leaves."""
    cutter = _Search(a, b, box, mode, window, deadline, None, np.random.default_rng(seed))
    pieces = [((), box)]
    while len(pieces) < 2 * jobs:
        children = [cutter.halves(path, node) for path, node in pieces]
        if any(c is None for c in children):
            break
        pieces = [child for pair in children for child in pair]
    ctx = mp.get_context("spawn")  # as parallel.py: nothing is forked from a caller that may run other threads
    stop = ctx.Event()
    tasks = [(a, b, node, mode, window, deadline, seed + k, path) for k, (path, node) in enumerate(pieces)]
    leaves, nodes, found = [], 0, None
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(stop,)) as pool:
        for future in as_completed([pool.submit(_piece, task) for task in tasks]):
            outcome = future.result()
            nodes += outcome.nodes
            leaves += outcome.leaves
            if outcome.status != Verdict.UNSAT and (found is None or found.status == Verdict.UNKNOWN):
                found = outcome if found is None or outcome.status == Verdict.SAT else found
                if outcome.status != Verdict.UNKNOWN:
                    stop.set()
            elif progress is not None and found is None:
                progress(progress_of(leaves, 0))
    if found is not None:
        return SplitOutcome(found.status, (), nodes, found.message, found.witness)
    return SplitOutcome(Verdict.UNSAT, tuple(leaves), nodes, f"{len(leaves)} pieces each proved by a certified bound "
                        f"({jobs} processes)")
