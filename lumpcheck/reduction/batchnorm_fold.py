"""Fold a BatchNormalization into the Conv before it, exactly, where its scale is rational.

Rule. Let c = Conv(x) with weight W, bias b (0 when absent), read only by y = BN(c) with per-channel
s_k = γ_k / √(var_k + ε), y_k = (c_k − mean_k)·s_k + β_k. When every √(var_k + ε) is rational, s_k is rational and
    y_k = Σ_j W_kj ⋆ x_j · s_k + (b_k − mean_k)·s_k + β_k = Conv(x; W'_k = s_k·W_k, b'_k = (b_k − mean_k)·s_k + β_k)
in exact arithmetic (the Conv is linear in W and b per output channel). Nothing else changes, and c had no other
reader, so the folded graph computes the same function on every input. Where a root is irrational the BN stays
(folding it would need irrational weights): lumping it is then the channel reducer's business (pre-BN merges).

This is what onnxoptimizer's fuse_bn_into_conv and onnxsim do in float; here it is exact or not done. `verify`
uses it to put two graphs in the same form before matching their lumpings.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np

from ..ir.exact import to_fraction
from ..ir.graph.dag import Graph, Node
from ..ir.graph.ops import BatchNorm, Conv
from ..ir.graph.radical import rational_sqrt


def rational_scale(bn: BatchNorm) -> list[Fraction] | None:
    """The BN's per-channel γ/√(var + ε) when every root is rational, else None."""
    out = []
    for gamma, var in zip(bn.scale.reshape(-1), bn.var.reshape(-1)):
        root = rational_sqrt(to_fraction(var) + bn.epsilon)
        if root is None or root == 0:
            return None
        out.append(to_fraction(gamma) / root)
    return out


def _folded(conv: Conv, bn: BatchNorm, scale: list[Fraction]) -> Conv:
    w = np.asarray(conv.weight, dtype=object)
    weight = np.empty(w.shape, dtype=object)
    for k, s in enumerate(scale):
        weight[k] = np.vectorize(lambda v, s=s: to_fraction(v) * s, otypes=[object])(w[k])
    b = [Fraction(0)] * len(scale) if conv.bias is None else [to_fraction(v) for v in conv.bias.reshape(-1)]
    bias = np.array([(bk - to_fraction(m)) * s + to_fraction(beta)
                     for bk, m, s, beta in zip(b, bn.mean.reshape(-1), scale, bn.bias.reshape(-1))], dtype=object)
    return replace(conv, weight=weight, bias=bias)


def fold_batchnorms(graph: Graph) -> tuple[Graph, int]:
    """The graph with every BN that follows a Conv read only by it, and whose scale is rational, folded into that
    Conv (see the module docstring); and how many were folded."""
    nodes = list(graph.nodes)
    folded = 0
    for node in graph.nodes:
        if not isinstance(node.op, BatchNorm):
            continue
        producer = graph.producer(node.inputs[0])
        if producer is None or not isinstance(producer.op, Conv) or producer.output in graph.outputs:
            continue
        if [n.output for n in graph.consumers(producer.output)] != [node.output]:
            continue
        scale = rational_scale(node.op)
        if scale is None or len(scale) != producer.op.weight.shape[0]:
            continue
        k = next(i for i, n in enumerate(nodes) if n is producer)
        nodes[k] = Node(producer.name, _folded(producer.op, node.op, scale), producer.inputs, node.output)
        nodes = [n for n in nodes if n is not node]
        folded += 1
    return (graph.with_nodes(nodes) if folded else graph), folded
