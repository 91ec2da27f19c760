"""A final Softmax over the whole output, split off a graph: what is left computes the logits.

softmax(z)_i = e^{z_i} / Σ_j e^{z_j} is strictly increasing in z_i at a common denominator, so
softmax(z)_i > softmax(z)_j exactly when z_i > z_j (ties included): top-1 and argmin of the softmax are those
of the logits. verify uses this to decide such modes on the logits (equivalence/softmax.py).
"""

from __future__ import annotations

from math import prod

from .dag import Graph
from .ops import Softmax


def strip_final_softmax(graph: Graph) -> Graph | None:
    """The graph computing the logits, when its only output is a Softmax over every axis of size > 1 (one group:
    the whole output) that nothing else reads; None otherwise (no final Softmax, or several softmax groups)."""
    if len(graph.outputs) != 1:
        return None
    node = graph.producer(graph.outputs[0])
    if node is None or not isinstance(node.op, Softmax) or graph.consumers(node.output):
        return None
    shape = graph.shapes[node.output]
    if prod(shape[ax] for ax in range(len(shape)) if ax not in node.op.axes) != 1:
        return None
    return graph.with_nodes([n for n in graph.nodes if n is not node], outputs=[node.inputs[0]])
