"""Branch and bound over input boxes (few inputs) or ReLU phases (many inputs), with falsification.

A node is a region of the input box: a sub-box (input splitting: x_d <= m / x_d >= m at a float m) or
the whole box restricted to ReLU phases (neuron splitting: z >= 0 / z <= 0). Nodes are bounded in batches
(bounds.run); a node closes when its bounds prove the property, else it is split on the dimension or
neuron its bound is most sensitive to. Every node's points of interest (centre, the corners that maximise
its open rows) are screened in floats and replayed exactly; a replayed violation answers 'sat'.
Closed leaves keep what an independent checker needs: their path from the root and the slopes used.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..bounds.arith import FloatOverflow, round_to_floats
from ..bounds.coupling import Coupling
from ..bounds.difference import BatchBounds, run, run_single
from ..ir.domain import Box
from . import alpha
from .alpha_nodes import RootBounds, close_with_optimised_slopes, leaf_slopes, root_arrays, select
from .mode import Mode
from .objective import Objective
from .pair_falsify import Counterexample, Searcher
from .progress import Progress, progress_of
from .undecided import Undecided, summarise_undecided

INPUT_SPLIT_MAX_DIM = 12
"""Input splitting for at most this many inputs (that vary: fixed ones are folded away, pair.FixedInputs); neuron
(ReLU) splitting above. For top1/argmin/delta-top1, ReLU splitting proves each network's decision in its own tree."""
INPUT_SPLIT_MAX_DIM_DIFFERENCE = 32
"""The same for epsilon and written properties, which bound the difference itself: its relaxation loosens with
every unstable neuron, and halving inputs stabilises them (MNIST 256x4 vs a pruned copy, 15 and 25 free pixels,
epsilon=0.05: input splitting proved what ReLU splitting left open, and its open regions' bounds were 3-10x
tighter; benchmarks/DIFFVERIFY.md)."""
BATCH = {"input": 64, "relu": 8}
"""Nodes bounded together, by strategy (when the caller does not choose)."""
WIDTH_RATIO = 64.0
"""Input splitting follows the failing rows' sensitivities, but never splits an input whose width (relative to
the whole box) is this many times smaller than another input's."""
LOOKAHEAD_RATIO = 2.0
"""Look ahead when the widest input (relative to the box) is this many times wider than the most sensitive one."""
LOOKAHEAD_ROUNDS = 4
"""Look-ahead levels processed within one batch step (kept children are split again with their own bounds)."""
ATTACK_SHARE = 0.2
ATTACK_EARLY_SECONDS = 30.0
ATTACK_LATE_SHARE = 0.05
"""Periodic falsification rounds run after a batch while the falsifier's rounds have taken less than `attack_share`
of the wall time since it was built: ATTACK_SHARE for its first ATTACK_EARLY_SECONDS, ATTACK_LATE_SHARE after.
Gradient rounds find their counterexamples early (all 56 `sat` verdicts among 174 ACAS and MNIST benchmark rows came
within 7 s); a long search is then a proof, which the bounds' time serves (the nodes' witness points are still
replayed after every batch). A parallel search's worker keeps its falsifier across tasks: counting per task, as
every 8th batch of a task once did, ran no round at all in tasks of fewer batches."""
ATTACK_ROUND_SECONDS = 5.0
"""One falsification round stops after this many seconds, or ATTACK_SHARE of the time left before the search's
deadline if less (not of a task's slice: the first slices of a parallel search last 0.25 s, which cut every
worker's first round after one step; MNIST 256x4 prop_1_0.05, whose full rounds find a counterexample in 2-4 s,
timed out at 100 s)."""
CANNOT_SPLIT = "cannot be split further (no input interval or unstable neuron left to split) and not closed"
FRONTIER_CAP = 200_000
PROGRESS_SECONDS = 1.0
"""Most open nodes kept (a memory cap on the search; beyond it the search answers unknown)."""
ALPHA_ROOT_STEPS = 30
ALPHA_STEPS = 20
EXHAUSTED_STEPS = 300
"""Steps of the (untrusted, torch) lower-slope optimiser for one-network bounds (equivalence/alpha.py), used on the
nodes DeepPoly's slopes leave open: at a root (hidden-layer bounds re-derived from the slopes at every step) and per
batch of other nodes: after a pass with the parents' slopes as they are, this many steps on slopes and β multipliers
of the split constraints with that pass's hidden-layer bounds fixed (0: the parents' slopes only). Measured on MNIST
256x4 prop_5_0.03 vs mag10 (40 s, one process, shared machine, load 5-8): root 30 and 0 / 10 / 20 steps covered
0.43 / 0.57 / 0.70 of A's tree; 10 steps without β 0.56 (benchmarks/DIFFVERIFY.md, β-CROWN section).
EXHAUSTED_STEPS: for a node with every unstable neuron split, whose network is then linear on the node's region: its
bound with the split constraints' optimal β is that linear program's optimum, which 20 steps often miss. MNIST
256x2 prop_0_0.05 vs mag10: 120 such nodes after 150 s; of 16 of them, 20 steps closed none, 100 steps all 16; in the
whole search (100 s, 2 workers) 285 nodes were given up with 20 steps, 42 with 100 more, 24 with 300 more."""


@dataclass(frozen=True)
class Leaf:
    """A closed node: its path (split decisions), decision class (top1/argmin), slopes used, emptiness.

    path entries: ('x', d, m, side) with side 0 for x_d <= m and 1 for x_d >= m; or ('a'|'b', layer, neuron,
    phase) with phase +1 for z >= 0 and −1 for z <= 0. slopes: one dict per hidden layer with 'p_idx',
    'p_vals' (columns su, sl, qu, ql) and 'a_idx', 'a_vals' (columns su, sl) for the open coordinates.
    """

    path: tuple
    cls: int | None
    slopes: tuple
    empty: bool = False
    part: str = "all"
    pass_: str = "pair"  # how its bounds were derived: both networks in lockstep ('pair') or one network ('single')
    betas: tuple = ()  # one-network leaves: (layer, neuron, β per margin row) of split neurons with some β > 0
    root: RootBounds | None = None  # one-network leaves: the root's hidden-layer bounds their bounds were intersected with
    hidden_slopes: tuple | None = None  # one-network leaves: the slopes of their hidden-layer bounds (None: `slopes`)


@dataclass
class Node:
    lo: np.ndarray
    hi: np.ndarray
    path: tuple
    gap: float = float("inf")
    part: str = "all"  # classification: 'a' / 'b' when only that network's decision remains to be proved
    alpha: tuple | None = None  # one-network parts: the lower slopes its bounds used (children start from them)
    root: RootBounds | None = None  # ... and its search root's hidden-layer bounds (valid on the node: same box)
    exhausted: bool = False  # one-network part with no unstable neuron left to split: bounded once more with
    # EXHAUSTED_STEPS optimiser steps before it is given up


@dataclass
class SearchOutcome:
    """What a search did: a verdict ('unsat', 'sat', 'unknown', 'timeout'), evidence, and counters.

    'unknown' means the search ran out of open nodes with some regions given up on (`undecided`); the regions it
    did not reach are `open_nodes` (timeout, or a task's slice ending)."""

    status: str
    counterexample: Counterexample | None = None
    leaves: list[Leaf] = field(default_factory=list)
    root_slopes: tuple | None = None
    open_nodes: list[Node] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    reason: str = ""
    undecided: list[Undecided] = field(default_factory=list)


@dataclass
class Problem:
    """A pair, a box and a property, prepared for the search."""

    coupling: Coupling
    box: Box
    mode: Mode
    strategy: str = "auto"
    batch: int = 0  # 0: BATCH[strategy]
    seed: int = 0
    refresh: bool = True  # ReLU splitting: recompute hidden-layer bounds under each node's phases
    alpha_root_steps: int = ALPHA_ROOT_STEPS  # one-network parts: optimiser steps at the root (0: DeepPoly slopes)
    alpha_steps: int = ALPHA_STEPS  # ... and per batch of other nodes
    alpha_joint: bool = False  # ... re-deriving hidden-layer bounds from the slopes at every step below the root
    betas: bool = True  # ... and optimising β multipliers of the nodes' split constraints with the slopes
    slopes: bool = True  # ... False: keep DeepPoly's (or the parents') slopes, optimise only the β

    def __post_init__(self) -> None:
        if self.strategy == "auto":
            most = INPUT_SPLIT_MAX_DIM_DIFFERENCE if self.mode.kind == "epsilon" or self.mode.written else INPUT_SPLIT_MAX_DIM
            self.strategy = "input" if len(self.box.free) <= most else "relu"
        if self.strategy not in ("input", "relu"):
            raise ValueError(f"unknown strategy {self.strategy!r} (input, relu)")
        self.batch = self.batch or BATCH[self.strategy]
        self.xl = round_to_floats(self.box.lower, up=False)
        self.xu = round_to_floats(self.box.upper, up=True)


def root_nodes(problem: Problem) -> list[Node]:
    """The search's starting nodes: one box, or (ReLU splitting of a classification mode) one tree per network,
    since 'the decision is c' can be proved for A and for B separately."""
    if problem.strategy == "relu" and problem.mode.classifies:
        return [Node(problem.xl.copy(), problem.xu.copy(), (), part=p) for p in ("b", "a")]
    return [Node(problem.xl.copy(), problem.xu.copy(), ())]


# ---------------------------------------------------------------- recording


def leaf_betas(res: BatchBounds, e: int, path: tuple, part: str) -> tuple:
    """The β multipliers box e's rows used on the neurons its path splits in network `part` (those with some β > 0)."""
    if res.betas is None or part == "all":
        return ()
    out = []
    for net, layer, neuron, _ in path:
        values = res.betas[layer][e, :, neuron]
        if net == part and np.any(values > 0):
            out.append((int(layer), int(neuron), values.copy()))
    return tuple(out)


def with_partner_slopes(slopes: tuple, res: BatchBounds, e: int, coupling: Coupling) -> tuple:
    """Fill the partner slope columns (qu, ql) of difference coordinates in `leaf_slopes` records."""
    for k, (rec, ch) in enumerate(zip(slopes, res.choices)):
        nb, m = coupling.nb[k + 1], len(coupling.d_a[k + 1])
        t = rec["p_idx"] - nb
        diff = (t >= 0) & (t < m)
        rec["p_vals"][diff, 2] = ch.p_qu[e, t[diff]]
        rec["p_vals"][diff, 3] = ch.p_ql[e, t[diff]]
    return slopes


# ---------------------------------------------------------------- phases of ReLU-split nodes


def phase_arrays(coupling: Coupling, paths: list[tuple]) -> list[tuple[np.ndarray, np.ndarray]]:
    n = len(paths)
    out = [(np.zeros((n, coupling.chain_a[k].size)), np.zeros((n, coupling.chain_b[k].size)))
           for k in range(coupling.depth - 1)]
    for e, path in enumerate(paths):
        for net, layer, neuron, phase in path:
            out[layer][0 if net == "a" else 1][e, neuron] = phase
    return out


# ---------------------------------------------------------------- the search


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (0 when unknown)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Search:
    """Sequential branch and bound (one process); `step` processes one batch."""

    def __init__(self, problem: Problem, deadline: float, nodes: list[Node] | None = None, initial_attack: bool = True,
                 slice_end: float | None = None, progress: Callable[[Progress], None] | None = None,
                 memory_mb: int | None = None, searcher: Searcher | None = None):
        """deadline: the search's hard deadline (the optimiser inside a batch honours it); slice_end: when a task's
        slice of a parallel search ends (no new batch starts after it, but a started batch finishes its
        optimisation: cutting the optimiser at a slice's end left nodes open that its full steps close; the first
        batch or round always runs, so a task whose setup outlasts its slice still makes progress);
        memory_mb: this process's memory cap, checked after every batch (the search then gives up on the open
        nodes: 'unknown'); a parallel search's master watches its workers instead. searcher: the falsifier of an
        earlier task in this process (its exact networks cost seconds to build at width 1024)."""
        self.p = problem
        self.memory_mb = memory_mb
        self.progress = progress  # told the search's Progress after batches, at most every PROGRESS_SECONDS
        self.told = 0.0
        self.initial_attack = initial_attack
        self.deadline = deadline
        self.stop_at = deadline if slice_end is None else min(deadline, slice_end)
        self.stack: list[Node] = list(nodes) if nodes is not None else root_nodes(problem)
        self.leaves: list[Leaf] = []
        self.searcher = searcher or Searcher(problem.coupling.a, problem.coupling.b, problem.box, problem.mode,
                                             problem.seed)
        self.stats = {"nodes": 0, "batches": 0, "bound_s": 0.0, "attack_s": 0.0, "max_depth": 0}
        self.root: BatchBounds | None = None
        self.root_slopes: tuple | None = None
        self.root_class: int | None = None
        self.undecided: list[Undecided] = []

    def run(self) -> SearchOutcome:
        try:
            if self.p.strategy == "relu" and self.root is None:
                self._prepare_relu_root()
            if self.initial_attack and not (self.root is not None and self.root.closed[0]):  # a closed root: no cex
                found = self._attack_round(None)
                if found is not None:
                    return self._outcome("sat", found)
            first = True
            while self.stack:
                now = time.monotonic()
                if now >= self.deadline or (now >= self.stop_at and not first):
                    return self._outcome("timeout", reason="deadline reached")
                first = False
                if self._no_certificate_possible():
                    found = self._attack_round(None)  # only a counterexample can decide: keep searching for one
                    if found is not None:
                        return self._outcome("sat", found)
                    continue
                if len(self.stack) > FRONTIER_CAP:
                    self.give_up(self.stack, f"more than {FRONTIER_CAP} open nodes (memory cap)")
                    self.stack = []
                    break
                found = self.step()
                if found is not None:
                    return self._outcome("sat", found)
                self._tell()
                if self.memory_mb is not None and rss_mb(os.getpid()) > self.memory_mb:
                    self.give_up(self.stack, f"memory cap of {self.memory_mb} MB reached")
                    self.stack = []
        except FloatOverflow as e:  # outside a batch's bounding (which gives up on its own nodes): the nodes being
            # processed are not known here, so the whole box is named (an 'unknown' verdict, never 'unsat')
            self.undecided.append(Undecided((), "all", f"float overflow while processing a batch: {e}"))
            self.give_up(self.stack, f"float overflow: {e}")
            self.stack = []
        if self.undecided:
            return self._outcome("unknown", reason=summarise_undecided(self.undecided))
        return self._outcome("unsat")

    def _tell(self) -> None:
        now = time.monotonic()
        if self.progress is not None and now >= self.told + PROGRESS_SECONDS:
            self.told = now
            self.progress(progress_of(self.leaves, len(self.stack)))

    def give_up(self, nodes: list[Node], reason: str) -> None:
        """Record nodes the search will not decide (the verdict can then be 'sat' or 'unknown', never 'unsat')."""
        self.undecided.extend(Undecided(n.path, n.part, reason, n.gap) for n in nodes)

    def _no_certificate_possible(self) -> bool:
        """ReLU splitting of a classification mode proves one class c (the centre's) for both networks on the
        whole box; once A or B is seen (in floats, by a clear margin) deciding otherwise somewhere, no such
        certificate exists, and the search spends its time on falsification (verdicts are unaffected:
        'sat' still needs an exact replay)."""
        return self.p.strategy == "relu" and self.p.mode.classifies and self.searcher.decision_changes

    def root_state(self) -> tuple | None:
        """What ReLU-split nodes reuse (root bounds, class, slopes), to hand to a later search in this process."""
        return None if self.root is None else (self.root, self.root_class, self.root_slopes)

    def adopt_root(self, state: tuple) -> None:
        self.root, self.root_class, self.root_slopes = state

    def _outcome(self, status: str, cex: Counterexample | None = None, reason: str = "") -> SearchOutcome:
        self.stats["leaves"] = len(self.leaves)
        self.stats["replays"] = self.searcher.replays
        self.stats["undecided"] = len(self.undecided)
        if np.isfinite(self.searcher.peak):
            self.stats["float_peak"] = self.searcher.peak
        return SearchOutcome(status, cex, self.leaves, self.root_slopes, self.stack, dict(self.stats), reason,
                             self.undecided)

    # ------------------------------------------------------------ batches

    def step(self) -> Counterexample | None:
        part, exhausted = self.stack[-1].part, self.stack[-1].exhausted
        batch = []
        while (self.stack and len(batch) < self.p.batch and self.stack[-1].part == part
               and self.stack[-1].exhausted == exhausted):
            batch.append(self.stack.pop())
        t = time.monotonic()
        try:
            res, classes = self._bound(batch, part)
        except FloatOverflow as e:
            self.give_up(batch, f"float overflow in the bounds: {e}")
            return None
        finally:
            self.stats["bound_s"] += time.monotonic() - t
        self.stats["batches"] += 1
        candidates: list[np.ndarray] = []
        requests = self._process(batch, res, classes, part, candidates)
        for _ in range(LOOKAHEAD_ROUNDS):
            if not requests:
                break
            # a node may have handed over to one network's part while being processed: bound by the node's part
            by_part: dict[str, list] = {}
            for request in requests:
                by_part.setdefault(request[0].part, []).append(request)
            requests = [r for p, group in by_part.items() for r in self._look_ahead(group, p, candidates)]
        for node, dims in requests:  # look-ahead budget used up: plain split on the sensitivity choice
            kids = self._children(node, dims[0])
            if kids is None:
                self.give_up([node], CANNOT_SPLIT)
            else:
                self.stack.extend(kids)
        if candidates:
            t = time.monotonic()
            found = self.searcher.check(np.vstack(candidates), limit=16)
            self.stats["attack_s"] += time.monotonic() - t
            if found is None and self.searcher.share() < attack_share(time.monotonic() - self.searcher.born):
                found = self._attack_round(np.vstack(candidates))
            return found
        return None

    def _process(self, nodes: list[Node], res: BatchBounds, classes, part: str, candidates: list) -> list:
        """Close, hand over or split every bounded node; returns the nodes whose split needs a look-ahead."""
        self.stats["nodes"] += len(nodes)
        objective = self.p_objective(classes, part)
        gaps = objective.gaps(res.uppers)
        worst = gaps.max(axis=1)
        partial = {p: objective.part_closed(res.uppers, p) for p in ("a", "b")} if part == "all" and self.p.mode.classifies else {}
        requests = []
        for e, node in enumerate(nodes):
            self.stats["max_depth"] = max(self.stats["max_depth"], len(node.path))
            cls = None if classes is None else int(classes[e])
            if res.closed[e]:
                slopes = with_partner_slopes(leaf_slopes(res, e), res, e, self.p.coupling)
                hidden = leaf_slopes(res, e, hidden=True) if res.hidden is not None and part != "all" else None
                self.leaves.append(Leaf(node.path, cls, slopes, bool(res.empty[e]), part, "pair" if part == "all" else "single",
                                        leaf_betas(res, e, node.path, part), None if part == "all" else node.root, hidden))
                continue
            for p, other in (("a", "b"), ("b", "a")):
                if p in partial and partial[p][e]:  # one network's decision is proved here: only the other's remains
                    slopes = with_partner_slopes(leaf_slopes(res, e), res, e, self.p.coupling)
                    self.leaves.append(Leaf(node.path, cls, slopes, False, p, "pair"))
                    node.part = other
                    break
            node.gap = float(worst[e])
            candidates.append(self._witnesses(res, gaps, e, node))
            choice = self._split(res, objective.failing_rows(gaps, e), e, node)
            if choice is not None:
                requests.append((node, choice))
        return requests

    def p_objective(self, classes: np.ndarray | None, part: str = "all") -> Objective:
        return Objective(self.p.mode, classes, part)

    def _bound(self, batch: list[Node], part: str = "all"):
        lo = np.array([n.lo for n in batch])
        hi = np.array([n.hi for n in batch])
        classes = None
        if self.p.mode.decides:
            if self.p.strategy == "relu":
                classes = np.full(len(batch), self.root_class)
            else:
                ya, _ = self.searcher.pair.outputs(0.5 * lo + 0.5 * hi)
                classes = np.argmax(ya * self.p.mode.sign, axis=1)
        objective = self.p_objective(classes, part)
        phases = phase_arrays(self.p.coupling, [n.path for n in batch]) if self.p.strategy == "relu" else None
        if part != "all":
            root = root_arrays(batch)
            res = run_single(self.p.coupling, part, lo, hi, objective, phases=phases, scores=phases is not None, root=root)
            if alpha.available():
                t = time.monotonic()
                close_with_optimised_slopes(self.p, self.deadline, self.stats, batch, part, lo, hi, objective, phases, res,
                                            root, EXHAUSTED_STEPS if batch[0].exhausted else None)
                self.stats["alpha_s"] = self.stats.get("alpha_s", 0.0) + time.monotonic() - t
        elif self.p.strategy == "relu":
            prior = None if self.p.refresh else self.root
            res = run(self.p.coupling, lo, hi, objective, phases=phases, prior=prior, scores=True)
        else:
            res = run(self.p.coupling, lo, hi, objective)
        return res, classes

    def _attack_round(self, starts: np.ndarray | None, full: bool = True) -> Counterexample | None:
        """One falsification round, stopped after ATTACK_ROUND_SECONDS or its ATTACK_SHARE of the time left."""
        t = time.monotonic()
        until = t + min(ATTACK_ROUND_SECONDS, ATTACK_SHARE * max(self.deadline - t, 0.0))
        found = self.searcher.run(starts, full=full, until=until)
        self.stats["attack_s"] += time.monotonic() - t
        return found

    def _witnesses(self, res: BatchBounds, gaps: np.ndarray, e: int, node: Node) -> np.ndarray:
        """Float points of the node worth replaying: its centre and the corners maximising its worst rows."""
        pts = [0.5 * node.lo + 0.5 * node.hi]
        if "p" in res.coefs and (self.p.mode.kind == "epsilon" or self.p.mode.written):
            coef = res.coefs["p"][e]
            for r in np.argsort(-gaps[e])[:2]:
                pts.append(np.where(coef[r] > 0, node.hi, node.lo))
        return np.array(pts)

    # ------------------------------------------------------------ splitting

    def _split(self, res: BatchBounds, failing: dict, e: int, node: Node) -> tuple | None:
        """Split the node, or return two candidate input dimensions to decide between by look-ahead.
        failing: per chain, the objective rows that keep box e open (Objective.failing_rows)."""
        if self.p.strategy == "input":
            return self._split_input(res, failing, e, node)
        self._split_relu(res, failing, e, node)
        return None

    def _children(self, node: Node, d: int) -> list[Node] | None:
        m = float(0.5 * node.lo[d] + 0.5 * node.hi[d])
        if not node.lo[d] < m < node.hi[d]:
            return None
        left_hi, right_lo = node.hi.copy(), node.lo.copy()
        left_hi[d], right_lo[d] = m, m
        return [Node(right_lo, node.hi.copy(), node.path + (("x", int(d), m, 1),), node.gap, node.part),
                Node(node.lo.copy(), left_hi, node.path + (("x", int(d), m, 0),), node.gap, node.part)]

    def _look_ahead(self, requests: list[tuple[Node, tuple[int, int]]], part: str, candidates: list) -> list:
        """Bound the children of both candidate splits of each node and keep the split whose children are closer
        to closing; the kept children are processed at once with these bounds (no second bounding)."""
        options = []
        for node, dims in requests:
            pairs = [(d, self._children(node, d)) for d in dims]
            options.append([(d, kids) for d, kids in pairs if kids is not None])
        flat = [kid for opts in options for _, kids in opts for kid in kids]
        if not flat:
            self.give_up([node for node, _ in requests], CANNOT_SPLIT)
            return []
        t = time.monotonic()
        try:
            res, classes = self._bound(flat, part)
        except FloatOverflow as e:
            self.give_up([node for node, _ in requests], f"float overflow in the bounds: {e}")
            return []
        finally:
            self.stats["bound_s"] += time.monotonic() - t
        self.stats["lookahead_nodes"] = self.stats.get("lookahead_nodes", 0) + len(flat)
        gaps = self.p_objective(classes, part).gaps(res.uppers)
        excess = np.where(res.closed, 0.0, np.clip(gaps.max(axis=1), 0, None) + 1e-300)
        keep, kept = [], []
        i = 0
        for (node, _), opts in zip(requests, options):
            if not opts:
                self.give_up([node], CANNOT_SPLIT)
                continue
            scored = []
            for _, kids in opts:
                scored.append((float(excess[i:i + 2].sum()), i, kids))
                i += 2
            _, j, kids = min(scored, key=lambda t: t[0])
            keep += [j, j + 1]
            kept += kids
        idx = np.array(keep)
        return self._process(kept, select(res, idx), None if classes is None else classes[idx], part, candidates)

    def _split_input(self, res: BatchBounds, failing: dict, e: int, node: Node) -> None:
        """Split the input the failing rows are most sensitive to (|coefficient|·width), blended with the
        input's width relative to the whole box so that no input is starved when coefficients vanish."""
        width = node.hi - node.lo
        score = np.zeros_like(width)
        for key, coef in res.coefs.items():
            score += np.abs(coef[e][failing[key]]).sum(axis=0) * width
        relative = width / np.maximum(self.p.xu - self.p.xl, 1e-300)
        if relative[np.argmax(score)] < relative.max() / WIDTH_RATIO:
            score = np.where(relative < relative.max() / WIDTH_RATIO, -1.0, score)  # do not starve a wide input
        by_score, by_width = int(np.argmax(score)), int(np.argmax(relative))
        if by_score != by_width and relative[by_width] > relative[by_score] * LOOKAHEAD_RATIO:
            return by_score, by_width  # the heuristics disagree: bound both splits' children, keep the better
        order = np.argsort(-score)
        for d in order:
            m = float(0.5 * node.lo[d] + 0.5 * node.hi[d])
            if node.lo[d] < m < node.hi[d]:
                break
        else:
            self.give_up([node], CANNOT_SPLIT)
            return
        left_hi, right_lo = node.hi.copy(), node.lo.copy()
        left_hi[d], right_lo[d] = m, m
        self.stack.append(Node(right_lo, node.hi.copy(), node.path + (("x", int(d), m, 1),), node.gap, node.part))
        self.stack.append(Node(node.lo.copy(), left_hi, node.path + (("x", int(d), m, 0),), node.gap, node.part))
        return None

    def _prepare_relu_root(self) -> None:
        """Bounds of the whole box once: every ReLU-split node reuses them for its hidden layers."""
        lo, hi = self.p.xl[None, :], self.p.xu[None, :]
        if self.p.mode.decides:
            ya, _ = self.searcher.pair.outputs(0.5 * lo + 0.5 * hi)
            self.root_class = int(np.argmax(ya[0] * self.p.mode.sign))
        classes = None if self.root_class is None else np.array([self.root_class])
        self.root = run(self.p.coupling, lo, hi, Objective(self.p.mode, classes))
        self.root_slopes = with_partner_slopes(leaf_slopes(self.root, 0), self.root, 0, self.p.coupling)

    def _split_relu(self, res: BatchBounds, failing: dict, e: int, node: Node) -> None:
        fixed = {(n, l, i) for n, l, i, _ in node.path}
        choice = relu_choice(self.p.coupling, res, failing, e, fixed, None if node.part == "all" else node.part)
        if choice is None:
            if node.part != "all" and not node.exhausted and alpha.available():
                node.exhausted = True  # linear on its region: once more with the optimiser's longer β search
                self.stack.append(node)
            else:
                self.give_up([node], CANNOT_SPLIT)
            return
        net, layer, neuron = choice
        for phase in (-1, 1):
            self.stack.append(Node(node.lo, node.hi, node.path + ((net, layer, neuron, phase),), node.gap, node.part,
                                   node.alpha, node.root))


def attack_share(age: float) -> float:
    """The share of its wall time a falsifier of this age (seconds since it was built) may spend in rounds."""
    return ATTACK_SHARE if age < ATTACK_EARLY_SECONDS else ATTACK_LATE_SHARE


def relu_choice(coupling: Coupling, res: BatchBounds, failing: dict, e: int, fixed: set, net: str | None = None) -> tuple | None:
    """The unstable, not yet split neuron (of `net`, if given) whose relaxation offsets contribute most to the
    failing rows (per chain, Objective.failing_rows)."""
    best, best_score = None, 0.0
    for k, ch in enumerate(res.choices):
        nb, d_a, d_b, e_a = coupling.nb[k + 1], coupling.d_a[k + 1], coupling.d_b[k + 1], coupling.e_a[k + 1]
        scores: dict[tuple, float] = {}
        for key, contribs in res.contribs.items():
            c = contribs[k]
            if c is None:
                continue
            s = np.abs(c[e][failing[key]]).sum(axis=0)
            for i in np.flatnonzero(s > 0):
                for neuron in _neurons(key, i, nb, d_a, d_b, e_a, ch, e):
                    scores[(neuron[0], k, neuron[1])] = scores.get((neuron[0], k, neuron[1]), 0.0) + s[i]
        for key, s in scores.items():
            if key not in fixed and s > best_score and (net is None or key[0] == net):
                best, best_score = key, s
    return best


def _neurons(chain: str, i: int, nb: int, d_a, d_b, e_a, ch, e: int) -> list[tuple[str, int]]:
    """The unstable network neurons behind coordinate i of a chain."""
    if chain == "a":
        return [("a", i)] if ch.a_open[e, i] else []
    if chain == "b" or i < nb:
        return [("b", i)] if ch.p_open[e, i] else []
    t = i - nb
    if t < len(d_a):
        out = [("a", int(d_a[t]))] if ch.a_open[e, d_a[t]] else []
        return out + ([("b", int(d_b[t]))] if ch.p_open[e, d_b[t]] else [])
    return [("a", int(e_a[t - len(d_a)]))] if ch.a_open[e, e_a[t - len(d_a)]] else []