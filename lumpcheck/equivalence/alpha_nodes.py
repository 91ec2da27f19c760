"""One-network bounds of ReLU-split nodes with optimised lower slopes (equivalence/alpha.py): the nodes DeepPoly's
slopes leave open are bounded again with proposed slopes, and those this closes take the new bounds (whose slopes
their leaves record, so the checker re-derives them). The search's splits keep following DeepPoly's bounds.
Any slope is sound (the bound code derives the offsets); a proposal can only fail to close a node.

Every node of a ReLU-split search has the root's input box, so the hidden-layer bounds the root proves with its
optimised slopes (`RootBounds`) hold on every node: nodes intersect their own hidden-layer bounds with them (as
α,β-CROWN keeps the root's optimised intermediate bounds), and their leaves say so (the checker re-derives the
root's bounds once from its recorded slopes)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from ..bounds.difference import BatchBounds, run_single
from . import alpha
from .objective import Objective


@dataclass(frozen=True, eq=False)
class RootBounds:
    """One network's hidden-layer bounds on the whole box of a ReLU-split search: the sound pass with the root's
    optimised lower slopes, intersected layer by layer with the DeepPoly pass (`bounds.difference.run_single(root=)`).
    part: 'a' or 'b'; bounds: per hidden layer (lo, hi), (n_k,) each; slopes: the record a certificate writes
    (`leaf_slopes` form: open coordinates of each layer), from which the checker re-derives the bounds."""

    part: str
    bounds: tuple
    slopes: tuple

    def __post_init__(self) -> None:
        if self.part not in ("a", "b"):
            raise ValueError(f"root bounds of part {self.part!r} (expected 'a' or 'b')")
        if len(self.bounds) != len(self.slopes):
            raise ValueError(f"root bounds of {len(self.bounds)} hidden layers with slopes of {len(self.slopes)}")
        for k, (lo, hi) in enumerate(self.bounds):
            if lo.shape != hi.shape or lo.ndim != 1 or np.any(lo > hi):
                raise ValueError(f"root bounds of hidden layer {k}: lower bounds above upper ones or shapes differ")


def leaf_slopes(res: BatchBounds, e: int, hidden: bool = False) -> tuple:
    """The slopes of box e at its open coordinates, layer by layer (hidden: those that derived its hidden-layer
    bounds, `BatchBounds.hidden`, when recorded)."""
    out = []
    for ch in res.hidden if hidden and res.hidden is not None else res.choices:
        p_idx = np.flatnonzero(ch.p_open[e])
        q_u = np.full(len(p_idx), np.nan)
        q_l = np.full(len(p_idx), np.nan)
        out.append({
            "p_idx": p_idx,
            "p_vals": np.stack([ch.p_su[e, p_idx], ch.p_sl[e, p_idx], q_u, q_l], axis=1),
            "a_idx": np.flatnonzero(ch.a_open[e]),
            "a_vals": np.stack([ch.a_su[e, ch.a_open[e]], ch.a_sl[e, ch.a_open[e]]], axis=1),
        })
    return tuple(out)


def root_arrays(nodes: list) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Per hidden layer (lo, hi) (N, n_k) of the nodes' root bounds (−inf / +inf for a node without); None if no
    node has any (`bounds.difference.run_single(root=)`)."""
    given = [node.root for node in nodes]
    first = next((r for r in given if r is not None), None)
    if first is None:
        return None
    out = []
    for k, (lo0, _) in enumerate(first.bounds):
        free = (np.full_like(lo0, -np.inf), np.full_like(lo0, np.inf))
        out.append(tuple(np.array([(free if r is None else r.bounds[k])[i] for r in given]) for i in (0, 1)))
    return out


def close_with_optimised_slopes(problem, deadline: float, stats: dict, batch: list, part: str, lo, hi,
                                objective: Objective, phases, res: BatchBounds, bounds=None, steps: int | None = None
                                ) -> None:
    """Bound the nodes DeepPoly's slopes leave open again, in stages: a root with jointly optimised slopes; other
    nodes first with their parents' slopes as they are, then (alpha_steps > 0) with slopes and β multipliers
    optimised on the hidden-layer bounds of that pass. The nodes a stage closes take its bounds (and slopes and β,
    recorded in their leaves) in `res`. Open nodes keep DeepPoly's bounds (and the search's splits) and remember
    the last stage's slopes for their children. The optimised stage keeps the hidden-layer bounds it was optimised
    on (the previous stage's sound ones): its pass back-substitutes only the objective rows, and the nodes it closes
    record the previous stage's slopes as their `hidden` ones (measured: the same tree, 13% less time on an MNIST
    256x2 ball). bounds: the batch's `root_arrays` (every pass intersects with them);
    at a root stage, the root's pass is intersected with DeepPoly's and becomes the nodes' `RootBounds`. steps: the
    optimiser's steps below the root instead of problem.alpha_steps."""
    steps = problem.alpha_steps if steps is None else steps
    open_ = np.flatnonzero(~res.closed)
    if not len(open_):
        return
    root = all(not batch[i].path for i in open_)
    ranges = [(l_[open_], h_[open_]) for l_, h_ in res.single]
    made = select(res, open_).choices  # the slopes that derived `ranges`
    for stage in ("root",) if root else ("parents", "optimised"):
        if stage == "optimised" and (steps <= 0 or not (problem.betas or problem.slopes)):
            return
        sub = [batch[i] for i in open_]
        obj = Objective(problem.mode, objective.classes[open_], part)
        ph = None if phases is None else [(pa[open_], pb[open_]) for pa, pb in phases]
        kept = stage == "optimised" and not problem.alpha_joint  # optimised on `ranges` fixed: their pass keeps them
        if stage == "parents":
            slopes, betas = _parent_slopes(problem, sub, part), None
            if slopes is None:
                continue  # DeepPoly's slopes: the bounds in res
        else:
            slopes, betas = _optimised_slopes(problem, deadline, sub, part, lo[open_], hi[open_], obj, ph,
                                              ranges if kept else None, steps)
            if slopes is None and betas is None:
                return
        within = ranges if stage == "root" or kept else None if bounds is None else [(l_[open_], h_[open_]) for l_, h_ in bounds]
        tight = run_single(problem.coupling, part, lo[open_], hi[open_], obj, slopes=slopes, phases=ph,
                           scores=ph is not None, betas=betas, root=within, refine=not kept)
        if kept:
            tight.hidden = made
        if stage == "root":
            _adopt_root(sub, part, tight)
        _take(problem, stats, part, sub, open_, tight, betas, res)
        still = ~tight.closed
        open_, ranges = open_[still], [(l_[still], h_[still]) for l_, h_ in tight.single]
        made = select(tight, still).choices
        if not len(open_):
            return


def _adopt_root(sub: list, part: str, tight: BatchBounds) -> None:
    """The root nodes' hidden-layer bounds become theirs (and their descendants'): `RootBounds`."""
    for j, node in enumerate(sub):
        bounds = tuple((lo_[j].copy(), hi_[j].copy()) for lo_, hi_ in tight.single)
        node.root = RootBounds(part, bounds, leaf_slopes(select(tight, np.array([j])), 0))


def _take(problem, stats: dict, part: str, sub: list, idx: np.ndarray, tight: BatchBounds, betas, res: BatchBounds) -> None:
    """The nodes `tight` closes take its bounds in res; every node remembers its slopes for its children."""
    sizes = [layer.size for layer in problem.coupling.chain_b]
    for j, node in enumerate(sub):
        node.alpha = tuple(ch.a_sl[j] if part == "a" else ch.p_sl[j, :sizes[k]] for k, ch in enumerate(tight.choices))
    closed = np.flatnonzero(tight.closed)
    stats["alpha_closed"] = stats.get("alpha_closed", 0) + len(closed)
    if len(closed):
        if betas is not None:
            stats["beta_closed"] = stats.get("beta_closed", 0) + len(closed)
            if res.betas is None:
                res.betas = [np.zeros((len(res.closed),) + b.shape[1:]) for b in betas]
        rows = select(tight, closed)
        if rows.hidden is not None or res.hidden is not None:  # hidden slopes apart from the rows' own: both kept
            res.hidden = copy.deepcopy(res.choices) if res.hidden is None else res.hidden
            rows.hidden = rows.choices if rows.hidden is None else rows.hidden
        assign_rows(res, idx[closed], rows)


def _parent_slopes(problem, batch: list, part: str) -> list | None:
    """The nodes' parents' lower slopes per hidden layer (NaN: DeepPoly's), as slope records; None if none has any."""
    layers = problem.coupling.chain_a if part == "a" else problem.coupling.chain_b
    key = "a_sl" if part == "a" else "p_sl"
    if all(node.alpha is None for node in batch):
        return None
    return [{key: np.array([np.full(layers[k].size, np.nan) if node.alpha is None else node.alpha[k] for node in batch])}
            for k in range(len(layers) - 1)]


def _optimised_slopes(problem, deadline: float, batch: list, part: str, lo, hi, objective: Objective,
                      phases, ranges, steps: int) -> tuple[list | None, list | None]:
    """Lower slopes for one network's bounds proposed by the optimiser (None: DeepPoly's), starting from the
    nodes' parents' slopes, and β multipliers of the nodes' split constraints (None: no β), with the hidden
    layers' bounds `ranges` fixed (None: re-derived from the slopes at every step). Any slope and any β >= 0 is
    sound: the bound code derives the offsets and adds β·s·z, >= 0 on the node's region."""
    root = all(not node.path for node in batch)
    steps = problem.alpha_root_steps if root else steps
    layers = problem.coupling.chain_a if part == "a" else problem.coupling.chain_b
    key = "a_sl" if part == "a" else "p_sl"
    parents = _parent_slopes(problem, batch, part)
    init = None if parents is None else [rec[key] for rec in parents]
    if steps <= 0:
        return parents, None
    ph = None if phases is None else [p[0 if part == "a" else 1] for p in phases]
    rows = objective.rows(problem.coupling, len(batch))[part]
    found = alpha.propose(layers, lo, hi, rows, ph, steps=steps, joint=root or problem.alpha_joint, deadline=deadline,
                          init=init, betas=problem.betas, slopes=problem.slopes or root, ranges=ranges)
    if found is None:
        return parents, None
    return [{key: s} for s in found.slopes], found.betas


def assign_rows(res: BatchBounds, idx: np.ndarray, other: BatchBounds) -> None:
    """Overwrite the rows idx of every per-box array of res with other's rows (same structure), in place."""
    from dataclasses import fields

    def put(v, w):
        if isinstance(v, np.ndarray):
            v[idx] = w
        elif isinstance(v, (tuple, list)):
            for x, y in zip(v, w):
                put(x, y)
        elif isinstance(v, dict):
            for k in v:
                put(v[k], w[k])
        elif v is not None:
            for f in fields(v):
                put(getattr(v, f.name), getattr(w, f.name))

    for f in fields(res):
        put(getattr(res, f.name), getattr(other, f.name))



def select(res: BatchBounds, idx: np.ndarray) -> BatchBounds:
    """The rows idx of every per-box array of a batch's bounds."""
    from dataclasses import fields, replace as dc_replace

    def pick(v):
        if v is None:
            return None
        if isinstance(v, np.ndarray):
            return v[idx]
        if isinstance(v, tuple):
            return tuple(pick(x) for x in v)
        if isinstance(v, list):
            return [pick(x) for x in v]
        if isinstance(v, dict):
            return {k: pick(x) for k, x in v.items()}
        return dc_replace(v, **{f.name: pick(getattr(v, f.name)) for f in fields(v)})

    return BatchBounds(**{f.name: pick(getattr(res, f.name)) for f in fields(res)})
