"""Graph checker, steps 2-4: the region each removal acts on (the tensors carrying its producers' channels, which
must not escape to an output or through an op that mixes channels other than a listed boundary), the exact map of
every removed channel at each boundary (from the verified claims), and the checker's own rebuild of the next
graph, which must equal the certificate's exactly (`same_graph`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from fractions import Fraction

import numpy as np

from ..ir.exact import as_fractions, canonical
from ..ir.graph import kernels as K
from ..ir.graph.dag import Graph, Node
from ..ir.graph.ops import Affine, BatchNorm, Binary, Clip, Conv, MatMul, Op, Reshape, Window
from .graph_document import Removal
from .graph_layout import Invalid, Layout, is_producer, layout_after, reads_channels
from .graph_rules import relate


@dataclass
class Region:
    removal: Removal
    tensors: dict  # tensor -> Layout
    boundaries: dict  # consumer node output -> (node, tensor it reads)


def region_of(rem: Removal, g: Graph, lays: dict) -> Region:
    by_out = {n.output: n for n in g.nodes}
    tensors: dict = {}
    for p in rem.producers:
        node = by_out.get(p)
        if node is None or not is_producer(node.op) or lays[p].channels != rem.channels:
            raise Invalid(f"removal producer {p!r} is not a Conv/MatMul with {rem.channels} output channels")
        tensors[p] = lays[p]
    boundaries: dict = {}
    todo = list(tensors)
    while todo:
        t = todo.pop()
        if t in g.outputs:
            raise Invalid(f"channels of {rem.producers} reach the graph output {t!r}")
        for node in g.consumers(t):
            if reads_channels(node, lays[t], g):
                boundaries[node.output] = (node, t)
                continue
            # the output's layout as this node carries t's channels: a producer's own layout (its feature axis) is not
            # that, so a Conv/MatMul that does not read t's channels does not continue the region
            out = lays.get(node.output) if isinstance(node.op, Binary) else layout_after(node, lays[t], g)
            if isinstance(node.op, Binary) and out is not None:
                others = [x for x in node.inputs if x != t]
                if any(x not in tensors and lays.get(x) != lays[t] for x in others):
                    raise Invalid(f"{node.where()} joins {t!r} with a tensor of another layout")
            elif out is None:
                raise Invalid(f"{node.where()} does not act channel by channel on {t!r}")
            if node.output not in tensors:
                tensors[node.output] = out
                todo.append(node.output)
    for node in g.nodes:  # a join must have all its inputs in the region (else the other space keeps the channel)
        if isinstance(node.op, Binary) and node.output in tensors and any(x not in tensors for x in node.inputs):
            raise Invalid(f"{node.where()} joins the removed space with a space not removed alongside it")
    if set(boundaries) != set(rem.boundaries):
        raise Invalid(f"boundaries {sorted(rem.boundaries)} but the channels are read by {sorted(boundaries)}")
    return Region(rem, tensors, boundaries)


def boundary_maps(region: Region, claims: dict) -> dict[str, list]:
    """Per boundary consumer: (removed channel, target or None, factor, offset), from the verified claims."""
    rem = region.removal
    out = {}
    for name, (node, t) in region.boundaries.items():
        padded = isinstance(node.op, Conv) and node.op.window.padded
        cls = claims.get(t, {})
        maps = []
        for m, rep in rem.reps:
            if rep is not None and rep not in rem.kept:
                raise Invalid(f"removed channel {m} is represented by {rep}, which is removed too")
            pair = relate(cls, m, m if rep is None else rep)
            if rep is None or (pair is not None and pair[0] == "const" and (not padded or pair[1] == 0)):
                if pair is None or pair[0] != "const" or (padded and pair[1] != 0):
                    raise Invalid(f"channel {m} is folded as a constant at {name!r} but is not a foldable constant there")
                maps.append((m, None, Fraction(0), pair[1]))
            elif pair is not None and pair[0] == "const":
                if pair[2] == 0:
                    raise Invalid(f"channel {m} at padded {name!r}: constant map through the zero constant {rep}")
                maps.append((m, rep, pair[1] / pair[2], Fraction(0)))
            elif pair is None or (padded and pair[2] != 0):
                raise Invalid(f"channel {m} is not an exact affine function of {rep} at {name!r} (zero padding needs offset 0)")
            else:
                maps.append((m, rep, pair[1], pair[2]))
        out[name] = maps
    return out


def check_dead(region: Region, kept_rows: dict) -> None:
    removed = sorted(set(range(region.removal.channels)) - set(region.removal.kept))
    for name, (node, t) in region.boundaries.items():
        rows = kept_rows.get(name)
        lay = region.tensors[t]
        if isinstance(node.op, Conv):
            w = node.op.weight if rows is None else node.op.weight[rows]
            if np.any(w[:, removed] != 0):
                raise Invalid(f"dead channels {removed} are read by {name!r}")
        else:
            w = node.op.weight if rows is None else node.op.weight[:, rows]
            ch = (np.arange(w.shape[0]) // lay.inner) % lay.channels
            if np.any(w[np.isin(ch, removed)] != 0):
                raise Invalid(f"dead channels {removed} are read by {name!r}")


def _take(arr: np.ndarray, rank: int, lay: Layout, kept: list[int]) -> np.ndarray:
    a = np.asarray(arr).reshape((1,) * (rank - np.ndim(arr)) + np.shape(arr))
    if a.shape[lay.axis] == 1:
        return arr
    idx = [i for i in range(a.shape[lay.axis]) if (i // lay.inner) % lay.channels in set(kept)]
    return np.take(a, idx, axis=lay.axis)


def _consume(op: Op, lay: Layout, kept: list[int], maps: list) -> Op:
    if isinstance(op, Conv):
        w = K.exact_of(op.weight).copy()
        b = K.exact_of(op.bias) if op.bias is not None else None
        for m, target, f, o in maps:
            if target is not None:
                w[:, target] = w[:, target] + w[:, m] * f
            if o:
                b = (b if b is not None else K.exact_of(np.zeros(op.out_channels))) + w[:, m].reshape(w.shape[0], -1).sum(axis=1) * o
        return Conv(canonical(w[:, kept]), None if b is None else canonical(b), op.window, op.group)
    w = K.exact_of(op.weight).copy()
    b = K.exact_of(op.bias) if op.bias is not None else None
    ch = (np.arange(w.shape[0]) // lay.inner) % lay.channels
    for m, target, f, o in maps:
        rows = np.flatnonzero(ch == m)
        if target is not None:
            w[rows + (target - m) * lay.inner] = w[rows + (target - m) * lay.inner] + w[rows] * f
        if o:
            b = (b if b is not None else K.exact_of(np.zeros(w.shape[1]))) + w[rows].sum(axis=0) * o
    return MatMul(canonical(w[np.isin(ch, kept)]), None if b is None else canonical(b))


def _slice(node: Node, g: Graph, lay: Layout, kept: list[int], produces: bool) -> Op:
    op, rank = node.op, len(g.shapes[node.output])
    if produces and isinstance(op, Conv):
        return Conv(op.weight[kept], None if op.bias is None else op.bias[kept], op.window, op.group)
    if produces:
        n = op.weight.shape[1]
        bias = op.bias[..., kept] if op.bias is not None and op.bias.ndim and op.bias.shape[-1] == n else op.bias
        return MatMul(op.weight[:, kept], bias)
    if isinstance(op, Affine):
        return Affine(_take(op.scale, rank, lay, kept), _take(op.shift, rank, lay, kept))
    if isinstance(op, Clip):
        return Clip(None if op.lower is None else _take(op.lower, rank, lay, kept), None if op.upper is None else _take(op.upper, rank, lay, kept))
    if isinstance(op, BatchNorm):
        return BatchNorm(op.scale[kept], op.bias[kept], op.mean[kept], op.var[kept], op.epsilon)
    if isinstance(op, Reshape):
        shape = list(op.shape)
        shape[lay.axis] = shape[lay.axis] // lay.channels * len(kept)
        return Reshape(tuple(shape))
    return op


def rebuild(g: Graph, regions: list[Region], maps: dict) -> Graph:
    kept_of, boundary_of = {}, {}
    for reg in regions:
        for t, lay in reg.tensors.items():
            if t in kept_of:
                raise Invalid(f"tensor {t!r} belongs to two removals")
            kept_of[t] = (lay, list(reg.removal.kept), t in reg.removal.producers)
        for name, (node, t) in reg.boundaries.items():
            boundary_of[name] = (reg.tensors[t], list(reg.removal.kept), maps.get(name, []))
    nodes = []
    for node in g.nodes:
        op = node.op
        if node.output in boundary_of:
            op = _consume(op, *boundary_of[node.output])
        if node.output in kept_of:
            lay, kept, produces = kept_of[node.output]
            op = _slice(Node(node.name, op, node.inputs, node.output), g, lay, kept, produces)
        nodes.append(Node(node.name, op, node.inputs, node.output))
    return g.with_nodes(nodes)


def _same_value(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if a is None or b is None or np.shape(a) != np.shape(b):
            return False
        if a.dtype != object and b.dtype != object:  # float64 values are exact: compare them directly
            return bool(np.array_equal(a, b))
        return bool(np.all(as_fractions(np.asarray(a)) == as_fractions(np.asarray(b))))
    if isinstance(a, Window):
        return all(getattr(a, f.name) == getattr(b, f.name) for f in fields(Window))
    return a == b


def same_graph(a: Graph, b: Graph) -> str | None:
    """None when equal (structure and exact parameters), else where they differ."""
    if a.inputs != b.inputs or a.outputs != b.outputs or len(a.nodes) != len(b.nodes):
        return "inputs, outputs or node count differ"
    for x, y in zip(a.nodes, b.nodes):
        if (x.name, x.inputs, x.output, type(x.op)) != (y.name, y.inputs, y.output, type(y.op)):
            return f"{x.where()} differs in structure"
        for f in fields(x.op):
            if not _same_value(getattr(x.op, f.name), getattr(y.op, f.name)):
                return f"{x.where()}: {f.name} differs"
    return None


