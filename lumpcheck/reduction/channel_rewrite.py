"""Apply a channel reduction plan (`lump.SpaceRecord`s) to a graph: slice producers and carrying ops, rewrite
consumers exactly (W'[:, ρ] += r·W[:, m], b' += o·ΣW[:, m]); see `channel_lumping` for the rule and its proof."""

from __future__ import annotations

import numpy as np

from ..ir.exact import canonical
from ..ir.graph import kernels as K
from ..ir.graph.dag import Graph, Node
from ..ir.graph.ops import Affine, BatchNorm, Clip, Conv, MatMul, Op, Reshape
from .channel_analysis import Analysis, Axis


def slice_param(arr: np.ndarray, rank: int, ax: Axis, kept: list[int]) -> np.ndarray:
    """A parameter broadcast against a carried tensor, restricted to the kept channels of its channel axis."""
    a = np.asarray(arr).reshape((1,) * (rank - np.ndim(arr)) + np.shape(arr))
    if a.shape[ax.axis] == 1:
        return arr
    keep = set(kept)
    idx = [i for i, c in enumerate(ax.channel_of(a.shape[ax.axis])) if c in keep]
    return np.take(a, idx, axis=ax.axis)


def _conv_inputs(op: Conv, kept: list[int], maps: tuple) -> Conv:
    w, b = op.weight, op.bias
    if maps:
        w = K.exact_of(op.weight).copy()
        b = K.exact_of(op.bias if op.bias is not None else np.zeros(op.out_channels)).copy()
        for m in maps:
            col = w[:, m.channel]
            if m.rep is not None:
                w[:, m.rep] = w[:, m.rep] + col * m.factor
            if m.offset:
                b = b + col.reshape(col.shape[0], -1).sum(axis=1) * m.offset
        w, b = canonical(w), (canonical(b) if op.bias is not None or any(m.offset for m in maps) else None)
    return Conv(w[:, kept], b, op.window, op.group)


def _matmul_inputs(op: MatMul, ax: Axis, kept: list[int], maps: tuple) -> MatMul:
    w, b = op.weight, op.bias
    ch = ax.channel_of(w.shape[0])
    if maps:
        w = K.exact_of(op.weight).copy()
        b = K.exact_of(op.bias if op.bias is not None else np.zeros(w.shape[1])).copy()
        for m in maps:
            rows = np.flatnonzero(ch == m.channel)
            block = w[rows]
            if m.rep is not None:
                target = rows + (m.rep - m.channel) * ax.inner
                w[target] = w[target] + block * m.factor
            if m.offset:
                b = b + block.sum(axis=0) * m.offset
        w, b = canonical(w), (canonical(b) if op.bias is not None or any(m.offset for m in maps) else None)
    return MatMul(w[np.isin(ch, kept)], b)


def _producer_outputs(op: Op, kept: list[int]) -> Op:
    if isinstance(op, Conv):
        return Conv(op.weight[kept], None if op.bias is None else op.bias[kept], op.window, op.group)
    n = op.weight.shape[1]
    bias = op.bias
    if bias is not None and bias.ndim and bias.shape[-1] == n:
        bias = bias[..., kept]
    return MatMul(op.weight[:, kept], bias)


def _carried(op: Op, node: Node, a: Analysis, kept: list[int]) -> Op:
    ax = a.axis[node.output]
    rank = len(a.graph.shapes[node.output])
    if isinstance(op, Affine):
        return Affine(slice_param(op.scale, rank, ax, kept), slice_param(op.shift, rank, ax, kept))
    if isinstance(op, Clip):
        lo = None if op.lower is None else slice_param(op.lower, rank, ax, kept)
        hi = None if op.upper is None else slice_param(op.upper, rank, ax, kept)
        return Clip(lo, hi)
    if isinstance(op, BatchNorm):
        return BatchNorm(op.scale[kept], op.bias[kept], op.mean[kept], op.var[kept], op.epsilon)
    if isinstance(op, Reshape):
        shape = list(op.shape)
        shape[ax.axis] = shape[ax.axis] // ax.channels * len(kept)
        return Reshape(tuple(shape))
    return op


def apply_records(graph: Graph, a: Analysis, records: list) -> Graph:
    """The graph with every record's removals applied (records from `lump.plan_merges` / `lump.plan_dead`)."""
    kept_by_root, maps = {}, {}
    for rec in records:
        root = a.spaces.find(a.axis[rec.producers[0]].space)
        kept_by_root[root] = list(rec.kept)
        for b in rec.boundaries:
            maps[(b.consumer, b.tensor)] = b.maps
    nodes = []
    for node in graph.nodes:
        op = node.op
        if isinstance(op, (Conv, MatMul)):
            x = node.inputs[0]
            in_root = a.root(x)
            if in_root in kept_by_root:
                m = maps.get((node.output, x), ())
                op = _conv_inputs(op, kept_by_root[in_root], m) if isinstance(op, Conv) else _matmul_inputs(op, a.axis[x], kept_by_root[in_root], m)
        out_root = a.root(node.output)
        if out_root in kept_by_root:
            kept = kept_by_root[out_root]
            produces = node.output in a.spaces.producers
            op = _producer_outputs(op, kept) if produces else _carried(op, node, a, kept)
        nodes.append(Node(node.name, op, node.inputs, node.output))
    return graph.with_nodes(nodes)
