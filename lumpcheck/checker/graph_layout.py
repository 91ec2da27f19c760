"""Where channels live in a graph's tensors, as the graph checker sees them (independent of the reducer's
channel analysis, reduction/channel_analysis.py): a Conv/MatMul's output channels, followed through the ops that
act channel by channel (activations, per-channel affine maps, BatchNorm, pools, Pad off the channel axis,
Transpose, Reshape, Softmax on other axes) and through joins of two tensors with the same layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from ..ir.graph.dag import Graph, Node
from ..ir.graph.ops import (Act, Affine, AveragePool, BatchNorm, Binary, Clip, Conv, GlobalPool, Identity, MatMul,
                            MaxPool, Op, Pad, Reshape, Softmax, Transpose)  # fmt: skip


class Invalid(Exception):
    """The certificate is wrong (internal to the checker package: graph.py turns it into an invalid CheckResult)."""

@dataclass(frozen=True)
class Layout:
    """Channel c of a tensor occupies the flat C-order positions i with (i // inner) % channels == c along `axis`."""

    axis: int
    inner: int
    channels: int


def is_producer(op: Op) -> bool:
    return (isinstance(op, Conv) and op.group == 1) or (isinstance(op, MatMul) and op.weight.ndim == 2)


def reshape_layout(lay: Layout, src: tuple, dst: tuple) -> Layout | None:
    """Channel c of a C-order tensor occupies flat indices with (i // I) % C = c, I = inner·prod(src[axis+1:])."""
    big = lay.inner * prod(src[lay.axis + 1 :])
    for k in range(len(dst)):
        after = prod(dst[k + 1 :])
        if big % after == 0 and dst[k] % ((big // after) * lay.channels) == 0:
            return Layout(k, big // after, lay.channels)
    return None


def layout_after(node: Node, lay: Layout | None, g: Graph) -> Layout | None:
    """Layout of a channel-wise op's output (None: the op does not act channel by channel)."""
    if lay is None or len(node.inputs) != 1:
        return None
    op, src, dst = node.op, g.shapes[node.inputs[0]], g.shapes[node.output]
    on_axis1 = lay.axis == 1 and lay.inner == 1 and src[1] == lay.channels
    if isinstance(op, (Identity, Act)) or (isinstance(op, (Affine, Clip)) and src == dst):
        return lay
    if isinstance(op, (BatchNorm, MaxPool, AveragePool, GlobalPool)):
        return lay if on_axis1 else None
    if isinstance(op, Pad):
        n = len(src)
        return lay if op.pads[lay.axis] == 0 and op.pads[n + lay.axis] == 0 else None
    if isinstance(op, Transpose):
        return Layout(op.perm.index(lay.axis), lay.inner, lay.channels)
    if isinstance(op, Reshape):
        return reshape_layout(lay, src, dst)
    if isinstance(op, Softmax) and lay.axis not in op.axes:
        return lay
    return None


def layouts(g: Graph) -> dict[str, Layout | None]:
    out: dict[str, Layout | None] = {s.name: None for s in g.inputs}
    for node in g.nodes:
        op = node.op
        if is_producer(op):
            out[node.output] = Layout(1, 1, op.out_channels) if isinstance(op, Conv) else Layout(len(g.shapes[node.output]) - 1, 1, op.weight.shape[1])
        elif isinstance(op, Binary):
            a, b = (out[x] for x in node.inputs)
            same = len({g.shapes[x] for x in node.inputs} | {g.shapes[node.output]}) == 1
            out[node.output] = a if a is not None and a == b and same else None
        else:
            out[node.output] = layout_after(node, out[node.inputs[0]] if node.inputs else None, g)
    return out


def reads_channels(node: Node, lay: Layout | None, g: Graph) -> bool:
    """Is `node` a Conv/MatMul that mixes the channels of its input along their layout (a boundary)?"""
    if lay is None or not is_producer(node.op):
        return False
    if isinstance(node.op, Conv):
        return lay.axis == 1 and lay.inner == 1
    return lay.axis == len(g.shapes[node.inputs[0]]) - 1


