"""Bridge between the graph IR and the dense `Network` (the fast special case), both ways, exactly.

`to_network` accepts a graph that is a *dense chain*: one input, one output, each node consuming the previous
one, made of flat-order-preserving reshapes, MatMul by a 2-D constant on a single row, element-wise Affine
maps and activations. It reads the chain like `lumpcheck.io.onnx` reads a file: matrices are never
multiplied; an Affine map right after a MatMul folds into its rows, one between an activation and the next
MatMul into its columns; an Affine map on the raw input becomes the input normalisation (when invertible), one
after the last layer the output normalisation, a Clip on the raw input the input clipping. The Network
computes the graph's function on the flattened input (C order) with the flattened output.
"""

from __future__ import annotations

from fractions import Fraction
from math import prod

import numpy as np

from ..activation import IDENTITY, Activation
from ..exact import NO_CLIP, as_fractions, canonical
from ..network import Layer, Network
from ..normalization import Normalization
from .dag import Graph, Meta, Node, TensorSpec
from .ops import Act, Affine, Clip, Identity, MatMul, Reshape, Transpose


class NotDenseChain(ValueError):
    """The graph is not a dense chain (the message says which node and why); use the graph pipeline."""


def _flat(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(arr, shape).reshape(-1)


def _trivial_transpose(op: Transpose, shape: tuple[int, ...]) -> bool:
    moved = [p for p in op.perm if shape[p] != 1]
    return moved == sorted(moved)


def chain_nodes(graph: Graph) -> list[Node]:
    """The nodes in chain order, or NotDenseChain when the graph branches or has several inputs/outputs."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise NotDenseChain(f"{len(graph.inputs)} inputs and {len(graph.outputs)} outputs (a chain has one of each)")
    current = graph.inputs[0].name
    for node in graph.nodes:
        if node.inputs != (current,):
            raise NotDenseChain(f"{node.where()} reads {list(node.inputs)}, not just the previous tensor {current!r}")
        current = node.output
    if current != graph.outputs[0]:
        raise NotDenseChain(f"the output {graph.outputs[0]!r} is not the end of the chain")
    return list(graph.nodes)


class ChainBuilder:
    """Builds a dense chain from element-wise maps, dense maps and activations (in neuron order). Layers so far; `open` = (W, b) awaiting its activation; `pending` = element-wise map (s, t) not yet placed."""

    def __init__(self, width: int):
        self.width = width
        self.layers: list[Layer] = []
        self.open: tuple[np.ndarray, np.ndarray] | None = None
        self.pending: tuple[np.ndarray, np.ndarray] | None = None
        self.input_map: tuple[np.ndarray, np.ndarray] | None = None
        self.clip: tuple[np.ndarray | None, np.ndarray | None] | None = None

    def affine(self, s: np.ndarray, t: np.ndarray) -> None:
        if self.open is not None and self.pending is None:
            w, b = self.open
            if all(v == 1 for v in s):  # a bias add (the common case): the weights stay as they are
                self.open = (w, canonical(as_fractions(b) + t))
            else:
                self.open = (canonical(as_fractions(w) * s[:, None]), canonical(as_fractions(b) * s + t))
            return
        ps, pt = self.pending or (np.full(self.width, Fraction(1), dtype=object), np.full(self.width, Fraction(0), dtype=object))
        self.pending = (ps * s, pt * s + t)

    def dense(self, w: np.ndarray, b: np.ndarray) -> None:
        if self.open is not None:
            self.layers.append(Layer(*self.open, IDENTITY))
            self.open = None
        if self.pending is not None:
            ps, pt = self.pending
            if not self.layers and self.input_map is None and all(v != 0 for v in ps):
                self.input_map = self.pending
            else:
                wf = as_fractions(w)
                b = canonical(as_fractions(b) + wf.dot(pt))
                w = canonical(wf * ps[None, :])
            self.pending = None
        self.open, self.width = (w, b), w.shape[0]

    def activate(self, activation: Activation) -> None:
        if self.open is not None and self.pending is None:
            w, b = self.open
        else:
            if self.open is not None:
                self.layers.append(Layer(*self.open, IDENTITY))
            s, t = self.pending or (np.ones(self.width), np.zeros(self.width))
            w, b = canonical(np.diag(as_fractions(np.asarray(s)))), canonical(as_fractions(np.asarray(t)))
        self.layers.append(Layer(w, b, activation))
        self.open, self.pending = None, None

    def normalization(self) -> Normalization | None:
        n_in, n_out = self.layers[0].in_features, self.layers[-1].out_features
        one = Fraction(1)
        s, t = self.input_map or ([one] * n_in, [Fraction(0)] * n_in)
        ranges = tuple(1 / Fraction(v) for v in s)
        means = tuple(-Fraction(tv) * r for tv, r in zip(t, ranges))
        os_, ot = self.pending or ([one] * n_out, [Fraction(0)] * n_out)
        lower = upper = ()
        if self.clip is not None:
            lo, hi = self.clip
            lower = tuple(Fraction(v) for v in lo) if lo is not None else (-NO_CLIP,) * n_in
            upper = tuple(Fraction(v) for v in hi) if hi is not None else (NO_CLIP,) * n_in
        if not lower and set(means) <= {0} and set(ranges) <= {1} and set(os_) <= {1} and set(ot) <= {0}:
            return None
        return Normalization(means, ranges, tuple(Fraction(v) for v in ot), tuple(Fraction(v) for v in os_), lower, upper)


def to_network(graph: Graph) -> Network:
    """The dense `Network` computing this graph on flattened inputs/outputs; NotDenseChain if it is not one."""
    nodes = chain_nodes(graph)
    shape = graph.inputs[0].shape
    b = ChainBuilder(prod(shape))
    for node in nodes:
        op, out_shape = node.op, graph.shapes[node.output]
        if isinstance(op, (Identity, Reshape)) or (isinstance(op, Transpose) and _trivial_transpose(op, shape)):
            pass
        elif isinstance(op, Clip) and not b.layers and b.open is None and b.pending is None and b.clip is None:
            lo = None if op.lower is None else _flat(as_fractions(op.lower), shape)
            hi = None if op.upper is None else _flat(as_fractions(op.upper), shape)
            if prod(out_shape) != prod(shape):
                raise NotDenseChain(f"{node.where()} broadcasts {list(shape)} to {list(out_shape)}")
            b.clip = (lo, hi)
        elif isinstance(op, Affine):
            if prod(out_shape) != prod(shape):
                raise NotDenseChain(f"{node.where()} broadcasts {list(shape)} to {list(out_shape)}")
            b.affine(_flat(as_fractions(op.scale), out_shape), _flat(as_fractions(op.shift), out_shape))
        elif isinstance(op, MatMul) and op.weight.ndim == 2 and prod(shape[:-1]) == 1:
            bias = np.zeros(op.weight.shape[1]) if op.bias is None else _flat(op.bias, out_shape)
            b.dense(np.ascontiguousarray(op.weight.T), bias)
        elif isinstance(op, Act):
            b.activate(op.activation)
        else:
            raise NotDenseChain(f"{node.where()} on shape {list(shape)} is not part of a dense chain")
        shape = out_shape
    if b.open is not None or not b.layers:
        b.activate(IDENTITY)  # closes the open layer, or turns a layer-free chain's map into one identity layer
    meta = {"graph_input": (graph.inputs[0].name, graph.inputs[0].shape),
            "graph_output": (graph.outputs[0], graph.shapes[graph.outputs[0]])}  # fmt: skip
    return Network(b.layers, b.normalization(), graph.meta.source, meta)


def is_dense_chain(graph: Graph) -> bool:
    try:
        to_network(graph)
    except NotDenseChain:
        return False
    return True


def from_network(net: Network, input_name: str = "input", output_name: str = "output") -> Graph:
    """The graph computing `net` (with its normalisation) on a (1, n) input, giving a (1, m) output."""
    names = net.meta.get("graph_input", (input_name, None))[0], net.meta.get("graph_output", (output_name, None))[0]
    nodes: list[Node] = []
    current = names[0]

    def add(op, final: bool = False) -> None:
        nonlocal current
        out = names[1] if final else f"{current}/{op.kind.lower()}{len(nodes)}"
        nodes.append(Node(out, op, (current,), out))
        current = out

    norm = net.normalization
    steps: list = []
    if norm is not None and norm.input_min:
        lower, upper = norm.clip_held(Fraction(float(np.finfo(np.float64).max)))  # no float reaches a side without one
        steps.append(Clip(np.array(lower, dtype=object), np.array(upper, dtype=object)))
    if norm is not None:
        r = np.array([1 / Fraction(v) for v in norm.input_range], dtype=object)
        steps.append(Affine(canonical(r), canonical(-np.array(norm.input_mean, dtype=object) * r)))
    for layer in net.layers:
        steps.append(MatMul(np.ascontiguousarray(layer.weight.T), layer.bias))
        if layer.activation.kind != "identity":
            steps.append(Act(layer.activation))
    if norm is not None:
        steps.append(Affine(canonical(np.array(norm.output_range, dtype=object)), canonical(np.array(norm.output_mean, dtype=object))))
    for i, op in enumerate(steps):
        add(op, final=i == len(steps) - 1)
    if not steps or nodes[-1].output != names[1]:
        add(Identity(), final=True)
    return Graph((TensorSpec(names[0], (1, net.input_size)),), tuple(nodes), (names[1],), Meta(source=net.source))
