"""ONNX → graph IR, exactly: every stored float is the dyadic rational it is; nothing is rounded on reading.

The reader interprets the ONNX graph in topological order. A tensor is either a *constant* (initializers,
Constant nodes and everything computed from constants only, folded exactly by `graph_fold`) or *data* (it
depends on a graph input). Ops on data become IR nodes (`graph_ops`), with their constant operands absorbed
as exact parameters. Shapes are concrete: a symbolic leading (batch) dimension is read as 1, so the graph is
the function of one sample (with a fixed batch axis of size 1 kept in the shapes).

Arithmetic is read as exact real arithmetic (ONNX's float ops are roundings of it): Cast between float types
is the identity, a Gemm's alpha/beta multiply exactly. Anything else is refused with a one-line
`UnsupportedModelError` / `ModelFormatError` naming the file, the node and why.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, numpy_helper

from ...errors import LumpcheckError, ModelFormatError, UnsupportedModelError
from ...ir.graph.dag import Graph, GraphError, Meta, Node, TensorSpec, fresh_name
from ...ir.graph.ops import Constant, Identity, Op, Shape, ShapeError
from ..compressed import is_gzipped, read_bytes
from .graph_ops import convert
from .graph_values import FLOAT_TYPES, Const, Data, NodeError, Value, constant_of
from .ops import MALFORMED, attributes, default_opset, malformed, well_typed

class Reader:
    """State while reading one model: values by ONNX name, IR nodes emitted so far, the opset."""

    def __init__(self, model: onnx.ModelProto, source: str):
        self.model, self.source = model, source
        self.opset = default_opset(model, source)
        self.values: dict[str, Value] = {}
        self.nodes: list[Node] = []
        self.shapes: dict[str, Shape] = {}
        self.taken: set[str] = set()
        self.node_name = ""

    # -- used by converters

    def emit(self, op: Op, inputs: list[Data], output: str | None = None) -> Data:
        """Add an IR node; `output` is the ONNX name to keep (None: a fresh name for a helper tensor)."""
        if output is not None and output not in self.shapes:
            name = output  # an ONNX tensor name (reserved in `taken` from the start)
        else:
            name = fresh_name(self.taken, f"{output or self.node_name or 't'}/{op.kind.lower()}")
        try:
            shape = op.infer([d.shape for d in inputs])
        except ShapeError as e:
            raise NodeError(str(e), unsupported=False) from None
        self.nodes.append(Node(self.node_name or name, op, tuple(d.name for d in inputs), name))
        self.shapes[name] = shape
        return Data(name, shape)

    def materialize(self, v: Value) -> Data:
        """A constant as a Constant node (for ops that take it as a data operand, e.g. Concat)."""
        if isinstance(v, Data):
            return v
        if not v.is_float:
            raise NodeError("an integer/boolean constant is used as data")
        return self.emit(Constant(v.value), [])

    # -- driver

    def read(self) -> Graph:
        g = self.model.graph
        init = {t.name for t in g.initializer}
        self.taken.update(init | {vi.name for vi in g.input} | {o for n in g.node for o in n.output})
        for t in g.initializer:
            self.values[t.name] = self._initializer(t)
        specs = [self._input(vi) for vi in g.input if vi.name not in init]
        ordered = _sorted_nodes(g, set(self.values) | {s.name for s in specs}, self.source)
        for node_index, node in ordered:
            self._node(node_index, node)
        outputs = [self._output(vi) for vi in g.output]
        well_typed(self.model, [node for _, node in ordered], self.source)
        io_dims = {vi.name: _dims(vi) for vi in list(g.input) + list(g.output) if vi.name not in init}
        meta = Meta(source=self.source, opset=self.opset, io_dims=io_dims, producer=self.model.producer_name)
        try:
            return Graph(tuple(specs), tuple(self.nodes), tuple(outputs), meta)
        except GraphError as e:
            raise ModelFormatError(str(e), self.source, "graph") from None

    def _initializer(self, t: onnx.TensorProto) -> Const:
        try:
            return constant_of(numpy_helper.to_array(t))
        except LumpcheckError as e:
            raise ModelFormatError(e.message, self.source, f"initializer {t.name!r}") from None
        except Exception as e:  # onnx raises assorted errors for external data, bad raw sizes, ...
            raise ModelFormatError(f"cannot read it ({type(e).__name__}: {e})", self.source, f"initializer {t.name!r}") from None

    def _input(self, vi: onnx.ValueInfoProto) -> TensorSpec:
        where = f"input {vi.name!r}"
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            raise UnsupportedModelError("is not a tensor", self.source, where)
        if tt.elem_type not in FLOAT_TYPES:
            raise UnsupportedModelError(
                f"has element type {TensorProto.DataType.Name(tt.elem_type)}; lumpcheck reads real-valued (float) inputs",
                self.source, where)  # fmt: skip
        if not tt.HasField("shape"):
            raise UnsupportedModelError("has no declared shape; lumpcheck needs concrete input shapes", self.source, where)
        shape = []
        for axis, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                shape.append(d.dim_value)
            elif axis == 0:
                shape.append(1)  # symbolic batch: one sample
            else:
                raise UnsupportedModelError(
                    f"has a symbolic dimension {d.dim_param or '?'!r} on axis {axis}; only axis 0 (the batch) may be "
                    "symbolic", self.source, where)  # fmt: skip
        spec = TensorSpec(vi.name, tuple(shape))
        self.values[vi.name] = Data(vi.name, spec.shape)
        self.shapes[vi.name] = spec.shape
        self.taken.add(vi.name)
        return spec

    def _node(self, index: int, node: onnx.NodeProto) -> None:
        label = f"node {index}" + (f" {node.name!r}" if node.name else "") + f" ({node.op_type})"
        self.node_name = node.name or (node.output[0] if node.output else f"node{index}")
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedModelError(f"operator domain {node.domain!r} is not standard ONNX", self.source, label)
        ins = [self.values[n] if n else None for n in node.input]
        try:
            outs = convert(self, node.op_type, ins, attributes(node), list(node.output))
        except NodeError as e:
            cls = UnsupportedModelError if e.unsupported else ModelFormatError
            raise cls(str(e), self.source, label) from None
        except LumpcheckError as e:
            raise type(e)(e.message, self.source, label) from None
        except ValueError as e:  # an op's own check when built (e.g. BatchNorm's var + epsilon > 0)
            raise ModelFormatError(str(e), self.source, label) from None
        except MALFORMED as e:
            raise ModelFormatError(malformed(e), self.source, label) from None
        for name, v in zip(node.output, outs):
            if name and v is not None:
                self.values[name] = v

    def _output(self, vi: onnx.ValueInfoProto) -> str:
        where = f"output {vi.name!r}"
        if vi.name not in self.values:
            raise ModelFormatError("is not computed by any node", self.source, where)
        v = self.values[vi.name]
        self.node_name = vi.name
        if isinstance(v, Const):
            if not v.is_float:
                raise UnsupportedModelError("is an integer constant; lumpcheck reads real-valued outputs", self.source, where)
            v = self.emit(Constant(v.value), [], vi.name)
        elif v.name != vi.name:
            v = self.emit(Identity(), [v], vi.name)
        declared = _dims(vi)
        if declared is not None and not _dims_match(declared, v.shape):
            raise ModelFormatError(
                f"declared shape {list(declared)} but its nodes compute {list(v.shape)}: the file contradicts itself "
                "(onnxruntime only warns and returns the computed shape), so no reading honours both the declared "
                "signature and the op semantics",
                self.source, where)  # fmt: skip
        return v.name


def _dims(vi: onnx.ValueInfoProto) -> tuple | None:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim)


def _dims_match(declared: tuple, shape: Shape) -> bool:
    if len(declared) != len(shape):
        return False
    return all(isinstance(d, str) or d == 0 or d == s for d, s in zip(declared, shape))


def _sorted_nodes(g: onnx.GraphProto, known: set[str], source: str) -> list[tuple[int, onnx.NodeProto]]:
    """Nodes in a dependency order (files are not always sorted); a cycle or undefined input is an error."""
    pending = list(enumerate(g.node))
    known = set(known)
    out = []
    while pending:
        ready = [(i, n) for i, n in pending if all((not x) or x in known for x in n.input)]
        if not ready:
            i, n = pending[0]
            missing = [x for x in n.input if x and x not in known]
            raise ModelFormatError(f"uses undefined tensors {missing} (or the graph has a cycle)", source,
                                   f"node {i} {n.name!r} ({n.op_type})")  # fmt: skip
        for i, n in ready:
            known.update(o for o in n.output if o)
        ready_ids = {i for i, _ in ready}
        pending = [(i, n) for i, n in pending if i not in ready_ids]
        out.extend(ready)
    return out


def read_graph(path: str | Path) -> Graph:
    """Read an .onnx file into the exact graph IR (one-line LumpcheckError on bad or unsupported input)."""
    p = Path(path)
    if not p.exists():
        raise ModelFormatError("no such file", str(p))
    try:
        model = onnx.load_model_from_string(read_bytes(p, "ONNX model")) if is_gzipped(p) else onnx.load(str(p))
    except LumpcheckError:
        raise
    except Exception as e:
        raise ModelFormatError(f"not a readable ONNX model ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})", str(p)) from None
    return Reader(model, str(p)).read()


def read_model(model: onnx.ModelProto, source: str = "<model>") -> Graph:
    """Read an in-memory ModelProto (same rules as `read_graph`)."""
    return Reader(model, source).read()

