"""Channel lumping on a graph: merge related channels, fold constant channels, drop dead channels — exactly.

Rule (channels as neurons; the paper's lumping with the relations of `channels.analyze`). For a joined,
unpinned channel space J, look at every consumer boundary (a Conv or MatMul reading a tensor t of J). At each
boundary a channel is labelled by its usable relation: ("K", key) — t_c = fac_c·Y_key + off_c; ("C",) — t_c is
the constant off_c; ("S", c) — used as it is (its offset cannot be folded under zero padding). Channels with
the same label at *every* boundary form a class: all but one representative ρ are removed from the producers
of J and from every tensor of J, and each consumer is rewritten with
    t_m = r·t_ρ + o,  r = fac_m/fac_ρ,  o = off_m − r·off_ρ        (both from that boundary's relation)
    W'[:, ρ] += r·W[:, m],   b' += o·ΣW[:, m]                        (Conv: Σ over the kernel; MatMul: per position)
and classes of constants are folded entirely (b' += off_m·ΣW[:, m]). Proof: by induction in topological
order every kept channel of every tensor has its original value (carrying ops act channel by channel, so
dropping channels does not change the others); at a boundary the removed channels are exactly the stated
affine functions of kept ones (a fact of the original graph), so each consumer computes its original
pre-activation; outputs are pinned, hence unchanged. Zero padding is sound: 'K' labels at a padded Conv have
off = 0 (r·0 = 0 on the border) and constants there are 0. Dead channels (zero weights in every live consumer
row, computed as a least fixpoint through residual joins) are removed; iterate merge/dead until stable.

The reduction is recorded per space as `SpaceRecord`s (kept channels; per boundary, per removed channel: the
representative, factor and offset) — the relation a certificate states and a checker re-verifies.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..bounds.graph_symbolic import bounds_by
from ..ir.graph.dag import Graph, prune
from ..ir.graph.ops import Conv, MatMul, Op
from .channel_analysis import Analysis, Axis, analyze
from .channel_rewrite import apply_records


@dataclass(frozen=True)
class ChannelMap:
    """At one consumer: removed channel `channel` = factor·channel `rep` + offset (rep None: the constant offset)."""

    channel: int
    rep: int | None
    factor: Fraction
    offset: Fraction


@dataclass(frozen=True)
class BoundaryRecord:
    consumer: str  # the consumer node's output name
    tensor: str  # the tensor it reads
    maps: tuple[ChannelMap, ...]


@dataclass(frozen=True)
class SpaceRecord:
    """One (joined) channel space reduced in one round: which channels stay and how the others are expressed."""

    kind: str  # "merge" or "dead"
    producers: tuple[str, ...]
    channels: int
    kept: tuple[int, ...]
    boundaries: tuple[BoundaryRecord, ...]
    reps: tuple[tuple[int, int | None], ...] = ()  # merges: removed channel -> kept representative (None: folded)

    def __post_init__(self) -> None:
        if self.kind not in ("merge", "dead"):
            raise ValueError(f"SpaceRecord kind must be 'merge' or 'dead', got {self.kind!r}")
        if not self.kept or list(self.kept) != sorted(set(self.kept)) or self.kept[-1] >= self.channels:
            raise ValueError(f"kept channels {list(self.kept)} must be sorted, distinct and < {self.channels}")


@dataclass(frozen=True)
class ChannelReduction:
    """`rounds`: (graph before the round, what the round removed, ReLU phases used); with a `box` the reduced
    graph equals the original only for inputs in the box."""

    original: Graph
    reduced: Graph
    rounds: tuple[tuple[Graph, tuple[SpaceRecord, ...], dict], ...]
    box: dict | None = None
    bounds: str = "interval"

    def channel_counts(self) -> tuple[int, int]:
        """Channels of all producer spaces before and after."""
        return _channels(self.original), _channels(self.reduced)


def _channels(g: Graph) -> int:
    total = 0
    for n in g.nodes:
        if isinstance(n.op, Conv):
            total += n.op.out_channels
        elif isinstance(n.op, MatMul) and n.op.weight.ndim == 2:
            total += n.op.weight.shape[1]
    return total


# ---- planning


def _by_root(a: Analysis) -> dict[int, list]:
    out: dict[int, list] = {}
    for b in a.boundaries:
        root = a.root(b.tensor)
        if root is not None and not a.spaces.pinned(root):
            out.setdefault(root, []).append(b)
    return out


def plan_merges(a: Analysis) -> list[SpaceRecord]:
    records = []
    for root, bs in _by_root(a).items():
        n = a.spaces.size[root]
        groups: dict[tuple, list[int]] = {}
        for c in range(n):
            groups.setdefault(tuple(b.labels[c] for b in bs), []).append(c)
        rep_of: dict[int, int | None] = {}
        for labels, members in groups.items():
            if all(lab == ("C",) for lab in labels):
                rep_of.update({m: None for m in members})
            elif len(members) > 1:
                rep_of.update({m: members[0] for m in members[1:]})
        kept = [c for c in range(n) if c not in rep_of]
        if not kept:  # every channel constant: keep one so the tensors stay non-empty
            kept = [0]
            rep_of.pop(0)
        if not rep_of:
            continue
        bounds = []
        for b in bs:
            maps = []
            for m, rep in sorted(rep_of.items()):
                _, fm, om = b.terms[m]
                if rep is None or b.labels[m] == ("C",):
                    maps.append(ChannelMap(m, None, Fraction(0), om))
                else:
                    _, fr, orep = b.terms[rep]
                    r = fm / fr
                    maps.append(ChannelMap(m, rep, r, om - r * orep))
            bounds.append(BoundaryRecord(b.node.output, b.tensor, tuple(maps)))
        producers = tuple(a.spaces.producers[s] for s in a.spaces.members(root))
        records.append(SpaceRecord("merge", producers, n, tuple(kept), tuple(bounds), tuple(sorted(rep_of.items()))))
    return records


def _used_inputs(op: Op, live_out: list[int] | None, ax: Axis | None, n_in: int) -> set[int]:
    """Input channels a consumer's live output channels read (nonzero weights)."""
    if live_out is not None and not live_out:
        return set()
    if isinstance(op, Conv):
        w = op.weight if live_out is None else op.weight[live_out]
        used = np.any(w.reshape(w.shape[0], w.shape[1], -1) != 0, axis=(0, 2))
        return {int(c) for c in np.flatnonzero(used)}
    w = op.weight if live_out is None else op.weight[:, live_out]
    rows = np.flatnonzero(np.any(w != 0, axis=1))
    return {int(c) for c in ax.channel_of(op.weight.shape[0])[rows]}


def plan_dead(a: Analysis) -> list[SpaceRecord]:
    """Least fixpoint of liveness: a channel lives if a live consumer row reads it (pinned spaces: all live)."""
    roots = _by_root(a)
    live: dict[int, set[int]] = {r: set() for r in roots}
    changed = True
    while changed:
        changed = False
        for b in a.boundaries:
            root = a.root(b.tensor)
            if root not in live:
                continue
            out_root = a.root(b.node.output)
            live_out = sorted(live[out_root]) if out_root in live else None
            used = _used_inputs(b.node.op, live_out, a.axis[b.tensor], a.spaces.size[root]) - live[root]
            if used:
                live[root] |= used
                changed = True
    records = []
    for root, alive in live.items():
        n = a.spaces.size[root]
        kept = sorted(alive) or [0]
        if len(kept) < n:
            producers = tuple(a.spaces.producers[s] for s in a.spaces.members(root))
            bounds = tuple(BoundaryRecord(b.node.output, b.tensor, ()) for b in roots[root])
            records.append(SpaceRecord("dead", producers, n, tuple(kept), bounds))
    return records


# ---- driver


def reduce_channels(graph: Graph, *, box: dict | None = None, bounds: str = "interval", max_rounds: int = 20) -> ChannelReduction:
    """Merge/fold/drop channels until nothing changes; the reduced graph computes exactly the original function
    (on `box` = {input: (lower, upper)} when given: ReLU channels stable on the box count as linear there, from
    sound `bounds` = "interval" or "symbolic")."""
    g = prune(graph)
    rounds = []
    for _ in range(max_rounds):
        progressed = False
        for planner in (plan_merges, plan_dead):
            a = analyze(g, bounds_by(bounds)(g, box) if box is not None and planner is plan_merges else None)
            records = planner(a)
            if records:
                rounds.append((g, tuple(records), dict(a.phases)))
                g = apply_records(g, a, records)
                progressed = True
        if not progressed:
            break
    return ChannelReduction(graph, g, tuple(rounds), box, bounds)
