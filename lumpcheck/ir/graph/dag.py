"""The graph IR: a DAG of `ops` nodes over named tensors with concrete shapes, checked when built.

A `Graph` is a function from its named input tensors to its named output tensors. Nodes are stored in a
topological order (each input is a graph input or an earlier node's output); every tensor name is defined
once; shapes are inferred node by node and must agree with every op. Dense feed-forward chains are the
special case `ir.graph.dense.to_network` turns into the fast `lumpcheck.ir.network.Network`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import prod
from types import MappingProxyType
from typing import Iterable, Mapping

from .ops import Op, Shape, ShapeError


class GraphError(ValueError):
    """A graph that is not well formed (undefined name, cycle, shape clash); the message names the node."""


@dataclass(frozen=True)
class TensorSpec:
    """A graph input: its name and concrete shape."""

    name: str
    shape: Shape

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if not self.name or any(d < 1 for d in self.shape):
            raise GraphError(f"input {self.name!r}: needs a name and positive dimensions, got {list(self.shape)}")

    @property
    def size(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True)
class Node:
    """One op application: `output` = op(*inputs); `name` is the source node's name (for messages)."""

    name: str
    op: Op
    inputs: tuple[str, ...]
    output: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        arity = type(self.op).arity
        n = len(self.inputs)
        if (arity is None and n < 1) or (arity is not None and n != arity):
            want = "one or more" if arity is None else str(arity)
            raise GraphError(f"node {self.name!r} ({self.op.kind}): takes {want} data inputs, got {n}")
        if not self.output:
            raise GraphError(f"node {self.name!r}: output needs a name")

    def where(self) -> str:
        return f"node {self.name!r} ({self.op.describe()})"


@dataclass(frozen=True)
class Meta:
    """Where a graph came from and how to write it back: ONNX opset and original I/O dims (strings = symbolic)."""

    source: str = ""
    opset: int = 13
    io_dims: Mapping[str, tuple] = field(default_factory=dict)
    producer: str = ""


@dataclass(frozen=True)
class Graph:
    inputs: tuple[TensorSpec, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]
    meta: Meta = Meta()
    shapes: Mapping[str, Shape] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        shapes: dict[str, Shape] = {}
        for spec in self.inputs:
            if spec.name in shapes:
                raise GraphError(f"input {spec.name!r} is defined twice")
            shapes[spec.name] = spec.shape
        for node in self.nodes:
            missing = [n for n in node.inputs if n not in shapes]
            if missing:
                raise GraphError(f"{node.where()}: uses {missing} before they are defined (nodes must be sorted)")
            if node.output in shapes:
                raise GraphError(f"{node.where()}: output {node.output!r} is already defined")
            try:
                out = node.op.infer([shapes[n] for n in node.inputs])
            except ShapeError as e:
                raise GraphError(f"{node.where()}: {e}") from None
            if any(d < 1 for d in out):
                raise GraphError(f"{node.where()}: empty output shape {list(out)}")
            shapes[node.output] = out
        if not self.outputs:
            raise GraphError("graph has no outputs")
        for name in self.outputs:
            if name not in shapes:
                raise GraphError(f"output {name!r} is not computed by any node")
        object.__setattr__(self, "shapes", MappingProxyType(shapes))

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.inputs)

    def producer(self, name: str) -> Node | None:
        """The node computing tensor `name` (None for a graph input)."""
        return self._producers().get(name)

    def consumers(self, name: str) -> list[Node]:
        """Nodes reading tensor `name`, in graph order (a node reading it twice appears once)."""
        return [n for n in self.nodes if name in n.inputs]

    def _producers(self) -> dict[str, Node]:
        return {n.output: n for n in self.nodes}

    def with_nodes(self, nodes: Iterable[Node], outputs: Iterable[str] | None = None) -> "Graph":
        """Same inputs and meta, new nodes (re-checked)."""
        return replace(self, nodes=tuple(nodes), outputs=tuple(self.outputs if outputs is None else outputs))

    @property
    def param_count(self) -> int:
        """Number of stored parameters (weights, biases, scales, BatchNorm statistics, constants)."""
        total = 0
        for node in self.nodes:
            for arr in params(node.op):
                total += arr.size
        return total

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.op.kind] = counts.get(node.op.kind, 0) + 1
        ops = ", ".join(f"{k}×{v}" for k, v in sorted(counts.items()))
        ins = ", ".join(f"{s.name}{list(s.shape)}" for s in self.inputs)
        outs = ", ".join(f"{o}{list(self.shapes[o])}" for o in self.outputs)
        return f"graph: {ins} -> {outs}; {len(self.nodes)} nodes ({ops}); {self.param_count} parameters"


def params(op: Op) -> list:
    """The exact parameter arrays an op stores (for counting and comparing)."""
    out = []
    for name in ("weight", "bias", "scale", "shift", "mean", "var", "value", "lower", "upper"):
        v = getattr(op, name, None)
        if v is not None and hasattr(v, "shape") and hasattr(v, "size"):
            out.append(v)
    return out


def prune(graph: Graph) -> Graph:
    """Drop nodes no output depends on (inputs are kept: they are the function's signature)."""
    needed = set(graph.outputs)
    keep = []
    for node in reversed(graph.nodes):
        if node.output in needed:
            keep.append(node)
            needed.update(node.inputs)
    return graph.with_nodes(reversed(keep))


def fresh_name(taken: set[str], base: str) -> str:
    """`base`, or `base_1`, `base_2`, … whichever is not in `taken` (and add it)."""
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name
