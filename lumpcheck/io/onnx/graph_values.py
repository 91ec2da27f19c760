"""Values while reading ONNX: constants (exact) and data tensors, plus the converters' error signal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from onnx import TensorProto

from ...errors import ModelFormatError
from ...ir.exact import exact_array
from ...ir.graph.ops import Op, Shape

FLOAT_TYPES = {TensorProto.FLOAT16: "float16", TensorProto.FLOAT: "float32", TensorProto.DOUBLE: "float64",
               TensorProto.BFLOAT16: "bfloat16"}  # fmt: skip
INT_TYPES = {TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64, TensorProto.UINT8,
             TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64}  # fmt: skip


@dataclass(frozen=True)
class Const:
    """A constant tensor: exact float array (float64 or Fractions), int64 array, or bool array."""

    value: np.ndarray
    is_float: bool

    @property
    def shape(self) -> Shape:
        return tuple(self.value.shape)


@dataclass(frozen=True)
class Data:
    """A tensor that depends on the graph inputs: the IR tensor holding it and its shape."""

    name: str
    shape: Shape


Value = Const | Data


def constant_of(arr: np.ndarray) -> Const:
    """Wrap a numpy array read from the file: floats exact (any float width), ints as int64, bools as bool."""
    if arr.dtype.kind == "f" or arr.dtype == object:
        try:
            return Const(exact_array(arr.astype(np.float64) if arr.dtype.kind == "f" else arr), True)
        except ValueError as e:
            raise ModelFormatError(f"constant has no exact value ({e})") from None
    if arr.dtype.kind in "iu":
        return Const(arr.astype(np.int64), False)
    if arr.dtype.kind == "b":
        return Const(arr.astype(bool), False)
    raise ModelFormatError(f"constant of type {arr.dtype} is not numeric")


class NodeError(Exception):
    """Internal signal raised by converters; `Reader` turns it into a LumpcheckError naming the node."""

    def __init__(self, message: str, unsupported: bool = True):
        super().__init__(message)
        self.unsupported = unsupported


class Emitter(Protocol):
    """What a converter may ask of the reader: the opset, and adding IR nodes."""

    opset: int

    def emit(self, op: Op, inputs: list[Data], output: str | None = None) -> Data: ...

    def materialize(self, v: Value) -> Data: ...


@dataclass(frozen=True)
class Unavailable:
    """An output lumpcheck does not model (Dropout's mask, MaxPool's indices): using it raises `reason`."""

    reason: str
