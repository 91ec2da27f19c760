"""Pairs made by BatchNorm folding: an ONNX Gemm→BatchNormalization→ReLU chain (irrational scales) and its copy
with each BN folded into the Gemm in float64 and rounded to float32 or float16; plus an exact ground truth that
shares no code with the engine (the graph IR's exact evaluator, radical arithmetic, on rational points)."""

from __future__ import annotations

from fractions import Fraction
from itertools import product
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from lumpcheck.io.onnx.graph_read import read_graph
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.graph.dag import Graph
from lumpcheck.ir.graph.evaluate import evaluate_exact
from lumpcheck.ir.network import Layer, Network, evaluate

from onnx_builders import model

RELU = Activation("relu")
BN_EPS = 1e-5


def bn_pair(rng: np.random.Generator, widths: list[int], dtype: type, path: Path) -> tuple[Graph, Network]:
    """(A, B): A = the BN chain written to `path` and read back as a graph, B = its fold rounded to `dtype`."""
    nodes, inits, layers = [], {}, []
    x = "x"
    for k, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        w = (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)
        b = (0.1 * rng.standard_normal(n_out)).astype(np.float32)
        inits |= {f"w{k}": w, f"b{k}": b}
        nodes.append(helper.make_node("Gemm", [x, f"w{k}", f"b{k}"], [f"g{k}"], transB=1))
        if k == len(widths) - 2:
            nodes[-1].output[0] = "y"
            layers.append(Layer(w.astype(dtype).astype(np.float64), b.astype(dtype).astype(np.float64), IDENTITY))
            break
        gamma = rng.uniform(0.5, 1.5, n_out).astype(np.float32)
        beta = rng.uniform(-0.2, 0.2, n_out).astype(np.float32)
        mean = rng.uniform(-0.5, 0.5, n_out).astype(np.float32)
        var = rng.uniform(0.5, 2.0, n_out).astype(np.float32)
        inits |= {f"s{k}": gamma, f"be{k}": beta, f"m{k}": mean, f"v{k}": var}
        nodes.append(helper.make_node("BatchNormalization", [f"g{k}", f"s{k}", f"be{k}", f"m{k}", f"v{k}"], [f"n{k}"],
                                      epsilon=BN_EPS))
        nodes.append(helper.make_node("Relu", [f"n{k}"], [f"h{k}"]))
        x = f"h{k}"
        eps = float(np.float32(BN_EPS))
        s = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
        wf = w.astype(np.float64) * s[:, None]
        bf = (b.astype(np.float64) - mean) * s + beta
        layers.append(Layer(wf.astype(dtype).astype(np.float64), bf.astype(dtype).astype(np.float64), RELU))
    onnx.save(model(nodes, {"x": [1, widths[0]]}, {"y": [1, widths[-1]]}, inits), str(path))
    return read_graph(path), Network(layers)


def exact_a(graph: Graph, x) -> list:
    """A's exact outputs at the rational point x (Fractions and Radicals), by the graph IR's exact evaluator."""
    return list(evaluate_exact(graph, {"x": np.array([list(x)], dtype=object)})[graph.outputs[0]].reshape(-1))


def exact_b(net: Network, x) -> list[Fraction]:
    return evaluate(net, x)


def exact_abs(v):
    return v if v >= 0 else -v


def grid(lower, upper, per_axis: int) -> list[tuple[Fraction, ...]]:
    axes = [[lo + (hi - lo) * Fraction(i, per_axis - 1) for i in range(per_axis)] for lo, hi in zip(lower, upper)]
    return list(product(*axes))


def max_difference(graph: Graph, net: Network, points) -> tuple[object, tuple]:
    """The largest exact max_i |A_i − B_i| over the points, and where."""
    best, where = Fraction(-1), None
    for x in points:
        d = max(exact_abs(p - q) for p, q in zip(exact_a(graph, x), exact_b(net, x)))
        if d > best:
            best, where = d, x
    return best, where


def top_set(values) -> set[int]:
    best = values[0]
    for v in values[1:]:
        if v > best:
            best = v
    return {i for i, v in enumerate(values) if v == best}
