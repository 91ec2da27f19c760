"""What a drop-in replacement keeps of its source ONNX model: input/output names, shapes (batch dimension included),
element types and opset; and the lumpcheck marker a reduced model carries in its `metadata_props`."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import onnx
from onnx import TensorProto

Dim = int | str | None
"""One declared dimension: a size, a symbolic name ('batch', 'N'), or None (unknown)."""

DEFAULT_OPSET = 17
FLOAT_WIDTH = {TensorProto.FLOAT16: 16, TensorProto.FLOAT: 32, TensorProto.DOUBLE: 64}
ELEM_TYPES = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}
TYPE_NAMES = {TensorProto.FLOAT16: "float16", TensorProto.FLOAT: "float32", TensorProto.DOUBLE: "float64"}


@dataclass(frozen=True)
class OnnxSignature:
    """The interface of an ONNX model as its users see it (what `write_onnx` keeps when given the source's).

    `input_type`/`output_type` are ONNX element types (TensorProto.FLOAT, DOUBLE, FLOAT16); `opset` is the default
    domain's opset. Dimensions are as declared: sizes, symbolic names, or None.
    """

    input_name: str
    input_dims: tuple[Dim, ...]
    input_type: int
    output_name: str
    output_dims: tuple[Dim, ...]
    output_type: int
    opset: int

    def __post_init__(self) -> None:
        if self.input_name == self.output_name or not self.input_name or not self.output_name:
            raise ValueError(f"input and output need two different non-empty names, got {self.input_name!r} and "
                             f"{self.output_name!r}")
        for what, dims, kind in (("input", self.input_dims, self.input_type), ("output", self.output_dims,
                                                                                 self.output_type)):
            if kind not in FLOAT_WIDTH:
                raise ValueError(f"{what} element type {TensorProto.DataType.Name(kind)} is not a float type")
            if any(d is None or isinstance(d, str) for d in dims[1:]):
                raise ValueError(f"{what} dims {list(dims)}: only the batch (first) dimension may be symbolic")

    @staticmethod
    def default(n_in: int, n_out: int, elem: int = TensorProto.FLOAT, opset: int = DEFAULT_OPSET) -> "OnnxSignature":
        """lumpcheck's own interface: 'input' [batch, n_in] -> 'output' [batch, n_out]."""
        return OnnxSignature("input", ("batch", n_in), elem, "output", ("batch", n_out), elem, opset)

    def features(self, dims: tuple[Dim, ...]) -> int:
        """Features per sample of a declared shape (axis 0 of a rank >= 2 tensor is the batch axis)."""
        return prod(int(d) for d in (dims[1:] if len(dims) >= 2 else dims))  # type: ignore[arg-type]

    def fits(self, n_in: int, n_out: int) -> bool:
        """Whether a network with these input/output sizes can take this interface."""
        return self.features(self.input_dims) == n_in and self.features(self.output_dims) == n_out


def _dim(d: onnx.TensorShapeProto.Dimension) -> Dim:
    if d.HasField("dim_value"):
        return int(d.dim_value)
    return d.dim_param or None


def signature_of(model: onnx.ModelProto, opset: int) -> OnnxSignature | None:
    """The interface of a single-input, single-output model with float tensors of declared shape (else None)."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in inits]
    if len(inputs) != 1 or len(graph.output) != 1:
        return None
    x, y = inputs[0].type.tensor_type, graph.output[0].type.tensor_type
    if not (x.HasField("shape") and y.HasField("shape")):
        return None
    try:
        return OnnxSignature(inputs[0].name, tuple(_dim(d) for d in x.shape.dim), x.elem_type, graph.output[0].name,
                             tuple(_dim(d) for d in y.shape.dim), y.elem_type, opset)
    except ValueError:
        return None


def describe(sig: OnnxSignature) -> str:
    """e.g. "'0' float32 [1, 784, 1] -> '12' float32 [1, 10], opset 13"."""
    def shape(dims: tuple[Dim, ...]) -> str:
        return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"

    return (f"'{sig.input_name}' {TYPE_NAMES[sig.input_type]} {shape(sig.input_dims)} -> '{sig.output_name}' "
            f"{TYPE_NAMES[sig.output_type]} {shape(sig.output_dims)}, opset {sig.opset}")
