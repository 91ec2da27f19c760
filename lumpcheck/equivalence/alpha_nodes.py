"""One-network bounds of ReLU-split nodes with optimised lower slopes (equivalence/alpha.py): the nodes DeepPoly's
slopes leave open are bounded again with proposed slopes, and those this closes take the new bounds (whose slopes
their leaves record, so the checker re-derives them). The search's splits keep following DeepPoly's bounds.
Any slope is sound (the bound code derives the offsets); a proposal can only fail to close a node."""

from __future__ import annotations

import numpy as np

from ..bounds.difference import BatchBounds, run_single
from . import alpha
from .objective import Objective


def close_with_optimised_slopes(problem, deadline: float, stats: dict, batch: list, part: str, lo, hi,
                                objective: Objective, phases, res: BatchBounds) -> None:
    """Bound the nodes DeepPoly's slopes leave open again, in stages: a root with jointly optimised slopes; other
    nodes first with their parents' slopes as they are, then (alpha_steps > 0) with slopes and β multipliers
    optimised on the hidden-layer bounds of that pass. The nodes a stage closes take its bounds (and slopes and β,
    recorded in their leaves) in `res`. Open nodes keep DeepPoly's bounds (and the search's splits) and remember
    the last stage's slopes for their children."""
    open_ = np.flatnonzero(~res.closed)
    if not len(open_):
        return
    root = all(not batch[i].path for i in open_)
    ranges = [(l_[open_], h_[open_]) for l_, h_ in res.single]
    for stage in ("root",) if root else ("parents", "optimised"):
        if stage == "optimised" and (problem.alpha_steps <= 0 or not (problem.betas or problem.slopes)):
            return
        sub = [batch[i] for i in open_]
        obj = Objective(problem.mode, objective.classes[open_], part)
        ph = None if phases is None else [(pa[open_], pb[open_]) for pa, pb in phases]
        if stage == "parents":
            slopes, betas = _parent_slopes(problem, sub, part), None
            if slopes is None:
                continue  # DeepPoly's slopes: the bounds in res
        else:
            slopes, betas = _optimised_slopes(problem, deadline, sub, part, lo[open_], hi[open_], obj, ph,
                                              None if root or problem.alpha_joint else ranges)
            if slopes is None and betas is None:
                return
        tight = run_single(problem.coupling, part, lo[open_], hi[open_], obj, slopes=slopes, phases=ph,
                           scores=ph is not None, betas=betas)
        _take(problem, stats, part, sub, open_, tight, betas, res)
        still = ~tight.closed
        open_, ranges = open_[still], [(l_[still], h_[still]) for l_, h_ in tight.single]
        if not len(open_):
            return


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
        assign_rows(res, idx[closed], select(tight, closed))


def _parent_slopes(problem, batch: list, part: str) -> list | None:
    """The nodes' parents' lower slopes per hidden layer (NaN: DeepPoly's), as slope records; None if none has any."""
    layers = problem.coupling.chain_a if part == "a" else problem.coupling.chain_b
    key = "a_sl" if part == "a" else "p_sl"
    if all(node.alpha is None for node in batch):
        return None
    return [{key: np.array([np.full(layers[k].size, np.nan) if node.alpha is None else node.alpha[k] for node in batch])}
            for k in range(len(layers) - 1)]


def _optimised_slopes(problem, deadline: float, batch: list, part: str, lo, hi, objective: Objective,
                      phases, ranges) -> tuple[list | None, list | None]:
    """Lower slopes for one network's bounds proposed by the optimiser (None: DeepPoly's), starting from the
    nodes' parents' slopes, and β multipliers of the nodes' split constraints (None: no β), with the hidden
    layers' bounds `ranges` fixed (None: re-derived from the slopes at every step). Any slope and any β >= 0 is
    sound: the bound code derives the offsets and adds β·s·z, >= 0 on the node's region."""
    root = all(not node.path for node in batch)
    steps = problem.alpha_root_steps if root else problem.alpha_steps
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
