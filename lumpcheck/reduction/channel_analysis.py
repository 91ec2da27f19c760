"""Channel structure and exact channel relations on a graph: the facts channel lumping rests on.

Channels as neurons. A Conv (group 1) or MatMul *produces* a channel space: its output channels (axis 1 of a
Conv output, the last axis of a MatMul output). Ops that act on each channel separately *carry* the space to
their output (activations, Affine/Clip/BatchNorm per channel, pools, Pad, Transpose, Reshape, Add/Sub joins):
`Axis` records which tensor axis holds the channels, and for a flattened tensor which run of that axis
(index i belongs to channel (i // inner) % C). Conv and MatMul *consume* spaces (their input channels or
features are mixed); any other use *pins* the space (its channels are kept as they are). Add/Sub of two
carried tensors *joins* their spaces: a channel can only be removed from both at once.

Relations. For each carried tensor t and channel c we derive, in one forward pass, an exact statement
    t_c = fac_c · Y_key(c) + off_c      at every position,
where Y_key is some (unnamed) function shared by the channels with the same key; fac = 0 means t_c is the
constant off_c. Two channels with one key are thus affinely related: t_B = (fac_B/fac_A)(t_A − off_A) + off_B.
The statements are facts about the *original* graph, whatever is later removed, so no fixpoint is needed.
Each channel-wise op's rule and its proof is in `channel_transfer.py`; the producer rule extends lumping-theory.md:
  producer   Z_s = Σ_k (Σ_{r∈k} fac_r W[s,r]) ⋆ Y_k + b'_s: rows of aggregated weights that are proportional
             (exactly) share a key; factor = the row's pivot entry; a zero row is the constant b'_s.
Only exact arithmetic decides (Fractions; `Radical` squares for BatchNorm); floats only bucket candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from math import prod

import numpy as np

from ..ir.exact import as_fractions
from ..ir.fastpath import proportional_rows
from ..ir.graph import kernels as K
from ..ir.graph.dag import Graph, Node
from ..ir.graph.ops import (Act, Affine, AveragePool, BatchNorm, Binary, Clip, Conv, GlobalPool, Identity, MatMul,
                            MaxPool, Pad, Reshape, Softmax, Transpose)  # fmt: skip
from .channel_relations import Axis, Rel, free_rel
from .channel_transfer import extremum_rel, join_rel, transfer


class Spaces:
    """Union-find over channel spaces, with pins (and why) and channel counts."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.size: list[int] = []
        self.pins: dict[int, str] = {}
        self.producers: list[str] = []

    def new(self, channels: int, producer: str) -> int:
        self.parent.append(len(self.parent))
        self.size.append(channels)
        self.producers.append(producer)
        return len(self.parent) - 1

    def find(self, s: int) -> int:
        while self.parent[s] != s:
            self.parent[s] = self.parent[self.parent[s]]
            s = self.parent[s]
        return s

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)
            reason = self.pins.pop(max(ra, rb), None)
            if reason is not None:
                self.pins.setdefault(min(ra, rb), reason)
        return self.find(a)

    def pin(self, s: int, reason: str) -> None:
        self.pins.setdefault(self.find(s), reason)

    def pinned(self, s: int) -> bool:
        return self.find(s) in self.pins

    def members(self, root: int) -> list[int]:
        return [s for s in range(len(self.parent)) if self.find(s) == root]


@dataclass
class Boundary:
    """A consumer (Conv/MatMul) reading carried tensor `tensor`: per input channel, the relation it can use.

    terms[c] = (key, fac, off) as the consumer sees channel c (key None: the constant off, folded into the
    bias); labels[c] = ("K", key), ("C",) or ("S", c) (used as it is)."""

    node: Node
    tensor: str
    labels: list
    terms: list


@dataclass
class Analysis:
    graph: Graph
    spaces: Spaces = field(default_factory=Spaces)
    axis: dict = field(default_factory=dict)  # tensor -> Axis | None
    rel: dict = field(default_factory=dict)  # tensor -> Rel (carried tensors only)
    boundaries: list = field(default_factory=list)
    bounds: dict | None = None  # tensor -> (lo, hi) on a box, when reducing on a box
    phases: dict = field(default_factory=dict)  # activation node output -> per-channel 'inactive'/'active'/None

    def root(self, tensor: str) -> int | None:
        a = self.axis.get(tensor)
        return None if a is None else self.spaces.find(a.space)


# ---- structure of each op's output


def _reshape_axis(ax: Axis, src: tuple[int, ...], dst: tuple[int, ...]) -> Axis | None:
    """Where the channel pattern lands after a C-order reshape (None if it is split across axes)."""
    inner_total = ax.inner * prod(src[ax.axis + 1 :])
    block = inner_total * ax.channels
    for k in range(len(dst)):
        after = prod(dst[k + 1 :])
        if inner_total % after == 0 and dst[k] % ((inner_total // after) * ax.channels) == 0:
            if (prod(dst[k:]) % block) == 0:
                return Axis(ax.space, k, inner_total // after, ax.channels)
    return None


def _spatial_ok(ax: Axis, node: Node, a: Analysis) -> bool:
    """Ops on axes 2.. (pools, BatchNorm's channel axis 1) need the channels exactly on axis 1."""
    return ax.axis == 1 and ax.inner == 1 and a.graph.shapes[node.inputs[0]][1] == ax.channels


def carried_axis(node: Node, a: Analysis) -> Axis | None:
    """The output's channel axis when `node` carries its input's space, else None (and the caller pins)."""
    op, ax = node.op, a.axis.get(node.inputs[0])
    if ax is None:
        return None
    in_shape, out_shape = a.graph.shapes[node.inputs[0]], a.graph.shapes[node.output]
    if isinstance(op, (Identity, Act)):
        return ax
    if isinstance(op, (Affine, Clip)):
        return ax if out_shape == in_shape else None
    if isinstance(op, (BatchNorm, MaxPool, AveragePool, GlobalPool)):
        return ax if _spatial_ok(ax, node, a) else None
    if isinstance(op, Pad):
        n = len(in_shape)
        return ax if op.pads[ax.axis] == 0 and op.pads[n + ax.axis] == 0 else None
    if isinstance(op, Transpose):
        return Axis(ax.space, op.perm.index(ax.axis), ax.inner, ax.channels)
    if isinstance(op, Reshape):
        return _reshape_axis(ax, in_shape, out_shape)
    if isinstance(op, Softmax):
        return None if ax.axis in op.axes else ax
    return None


# ---- producers: aggregated incoming weights


def _classes(rows: np.ndarray, tag: str) -> tuple[list, list]:
    """Keys and factors of proportional rows: key = class id, factor = the row's first nonzero entry; zero rows
    get key None. Float rows are bucketed by their normalised bytes (exactly proportional float rows normalise
    to identical floats: equal exact quotients round alike), then confirmed with `exact.proportional_rows`."""
    n = rows.shape[0]
    keys: list = [None] * n
    facs: list = [Fraction(0)] * n
    exact = rows.dtype == object
    nonzero = rows != 0
    buckets: dict = {}
    for i in range(n):
        nz = np.flatnonzero(nonzero[i])
        if not len(nz):
            continue
        p = int(nz[0])
        pv = rows[i, p]
        facs[i] = Fraction(pv) if not exact else pv
        if exact:
            bkey = (p, tuple(v / pv for v in rows[i]))
        else:
            bkey = (p, (rows[i] / pv).tobytes())
        reps = buckets.setdefault(bkey, [])
        for r in reps:
            if exact or proportional_rows(rows[i : i + 1], rows[r : r + 1], np.array([p]))[0]:
                keys[i] = keys[r]
                break
        else:
            reps.append(i)
            keys[i] = ("P", tag, i)
    return keys, facs


def _input_terms(a: Analysis, tensor: str, n: int, axis: int, padded: bool) -> tuple[list, list, list, list, bool]:
    """Per input channel of a consumer: (label, key, fac, off); `ok` False when the space had to be pinned."""
    ax, rel = a.axis.get(tensor), a.rel.get(tensor)
    rank = len(a.graph.shapes[tensor])
    if ax is None or rel is None or ax.axis != axis % rank or (axis == 1 and ax.inner != 1) or (axis == 1 and ax.channels != n):
        if ax is not None:
            a.spaces.pin(ax.space, f"consumer reads {tensor!r} across its channel axis")
        keys = [("in", tensor, c) for c in range(n)]
        return [("S", c) for c in range(n)], keys, [Fraction(1)] * n, [Fraction(0)] * n, False
    labels, keys, facs, offs = [], [], [], []
    for c in range(ax.channels):
        k, f, d = rel.key[c], rel.fac[c], rel.off[c]
        if padded and f == 0 and d != 0:  # a constant under zero padding: d·pad₀(1), one shared map for all of them
            labels.append(("K", ("ones",))), keys.append(("ones",)), facs.append(d), offs.append(Fraction(0))
        elif padded and d != 0:  # zero padding would make the offset position-dependent: use the channel as it is
            labels.append(("S", c)), keys.append(("self", tensor, c)), facs.append(Fraction(1)), offs.append(Fraction(0))
        elif f == 0:
            labels.append(("C",)), keys.append(None), facs.append(Fraction(0)), offs.append(d)
        else:
            labels.append(("K", k)), keys.append(k), facs.append(f), offs.append(d)
    return labels, keys, facs, offs, True


def _aggregate(w: np.ndarray, keys: list, facs: list, offs: list, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of aggregated incoming weights per key, and the aggregated bias (W: (out, in, *kernel)).

    Z_s = Σ_k A[s, k] ⋆ Y'_k + b'_s with, for key k with members r_1..r_m, A[:, k] = Σ_i (fac_ri/fac_r1)·W[:, r_i]
    and Y'_k = fac_r1·Y_k (rescaling a shared variable keeps every relation), b'_s = b_s + Σ_r off_r·ΣW[s, r].
    Without shared keys A is a column selection of W (no arithmetic: float weights stay exact floats)."""
    groups: dict = {}
    for r, (k, f) in enumerate(zip(keys, facs)):
        if k is not None:
            groups.setdefault(k, []).append((r, f))
    b = bias
    if any(offs):
        wf = K.exact_of(w)
        b = K.exact_of(bias).copy()
        for r, d in enumerate(offs):
            if d != 0:
                b = b + wf[:, r].reshape(w.shape[0], -1).sum(axis=1) * d
    if all(len(m) == 1 for m in groups.values()):
        return w[:, [m[0][0] for m in groups.values()]], b
    wf = K.exact_of(w)
    agg = np.empty((w.shape[0], len(groups)) + w.shape[2:], dtype=object)
    for j, members in enumerate(groups.values()):
        (r1, f1), rest = members[0], members[1:]
        col = wf[:, r1].copy()
        for r, f in rest:
            col = col + wf[:, r] * (f / f1)
        agg[:, j] = col
    return agg, b


def conv_producer(a: Analysis, node: Node) -> None:
    op: Conv = node.op
    x = node.inputs[0]
    labels, keys, facs, offs, ok = _input_terms(a, x, op.weight.shape[1], 1, op.window.padded)
    if ok:
        a.boundaries.append(Boundary(node, x, labels, list(zip(keys, facs, offs))))
    bias = op.bias if op.bias is not None else np.zeros(op.out_channels)
    agg, b = _aggregate(op.weight, keys, facs, offs, bias)
    ckeys, cfacs = _classes(agg.reshape(agg.shape[0], -1), node.output)
    space = a.spaces.new(op.out_channels, node.output)
    a.axis[node.output] = Axis(space, 1, 1, op.out_channels)
    a.rel[node.output] = Rel(tuple(ckeys), tuple(cfacs), tuple(Fraction(v) for v in as_fractions(np.asarray(b))))


def matmul_producer(a: Analysis, node: Node) -> None:
    op: MatMul = node.op
    x = node.inputs[0]
    k, n = op.weight.shape
    in_shape, out_shape = a.graph.shapes[x], a.graph.shapes[node.output]
    ax = a.axis.get(x)
    if ax is not None and ax.axis == len(in_shape) - 1 and a.rel.get(x) is not None:
        labels, ckeys, cfacs, coffs, ok = _input_terms(a, x, ax.channels, -1, False)
        ch, pos = ax.channel_of(k), ax.position_of(k)
        keys = [None if ckeys[c] is None else (ckeys[c], int(p)) for c, p in zip(ch, pos)]
        facs, offs = [cfacs[c] for c in ch], [coffs[c] for c in ch]
        if ok:
            a.boundaries.append(Boundary(node, x, labels, list(zip(ckeys, cfacs, coffs))))
    else:
        if ax is not None:
            a.spaces.pin(ax.space, f"MatMul {node.name!r} contracts an axis other than the channel axis")
        keys, facs, offs = [("in", x, f) for f in range(k)], [Fraction(1)] * k, [Fraction(0)] * k
    bias = np.zeros(n) if op.bias is None else np.broadcast_to(as_fractions(op.bias), out_shape).reshape(-1, n)
    uniform = op.bias is None or all(np.array_equal(bias[0], row) for row in bias[1:])
    agg, b = _aggregate(np.ascontiguousarray(op.weight.T), keys, facs, offs, bias if op.bias is None else bias[0])
    space = a.spaces.new(n, node.output)
    a.axis[node.output] = Axis(space, len(out_shape) - 1, 1, n)
    if not uniform:
        a.rel[node.output] = free_rel(node.output, n)
        return
    ckeys, cfacs = _classes(agg.reshape(n, -1), node.output)
    a.rel[node.output] = Rel(tuple(ckeys), tuple(cfacs), tuple(Fraction(v) for v in as_fractions(np.asarray(b))))


def _binary(a: Analysis, node: Node) -> None:
    t, u = node.inputs
    at, au = a.axis.get(t), a.axis.get(u)
    shapes = {a.graph.shapes[t], a.graph.shapes[u], a.graph.shapes[node.output]}
    if at is None or au is None or (at.axis, at.inner, at.channels) != (au.axis, au.inner, au.channels) or len(shapes) != 1:
        for ax in (at, au):
            if ax is not None:
                a.spaces.pin(ax.space, f"{node.where()} joins it with a tensor of another layout")
        a.axis[node.output] = None
        return
    root = a.spaces.union(at.space, au.space)
    a.axis[node.output] = Axis(root, at.axis, at.inner, at.channels)
    tag = (node.output,)
    op: Binary = node.op
    if op.op in ("add", "sub"):
        a.rel[node.output] = join_rel(a.rel[t], a.rel[u], tag, 1 if op.op == "add" else -1)
    else:
        a.rel[node.output] = extremum_rel(a.rel[t], a.rel[u], tag, op.op)


def analyze(graph: Graph, bounds: dict | None = None) -> Analysis:
    """Channel spaces, pins, relations and consumer boundaries of every tensor (one forward pass); with `bounds`
    (sound bounds on a box, `bounds.graph_interval.interval_bounds`) stable ReLU channels are linear — valid on the box."""
    a = Analysis(graph, bounds=bounds)
    for spec in graph.inputs:
        a.axis[spec.name] = None
    for node in graph.nodes:
        op = node.op
        if isinstance(op, Conv) and op.group == 1:
            conv_producer(a, node)
        elif isinstance(op, MatMul) and op.weight.ndim == 2:
            matmul_producer(a, node)
        elif isinstance(op, Binary):
            _binary(a, node)
        else:
            ax = carried_axis(node, a) if node.inputs and len(node.inputs) == 1 else None
            if ax is None:
                for x in node.inputs:
                    if a.axis.get(x) is not None:
                        a.spaces.pin(a.axis[x].space, f"{node.where()} does not act channel by channel")
                a.axis[node.output] = None
            else:
                a.axis[node.output] = ax
                a.rel[node.output] = transfer(node, graph, a.rel[node.inputs[0]], ax, a.bounds, a.phases)
    for o in graph.outputs:
        if a.axis.get(o) is not None:
            a.spaces.pin(a.axis[o].space, f"output {o!r} is never reduced")
    return a
