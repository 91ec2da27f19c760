"""Read an ONNX file holding its weights once: the initializers' raw bytes go straight into numpy arrays.

`onnx.load` holds the file's bytes and the parsed protobuf (which copies every tensor's raw_data) at the same time,
and `numpy_helper.to_array` makes a third copy: about 2x the model at peak, 3x briefly. Here the file is scanned
in protobuf's wire format (ModelProto.graph = field 7, GraphProto.initializer = 5, TensorProto.dims = 1,
data_type = 2, raw_data = 9, data_location = 14): each initializer's raw_data is read from the file into its own
array (`readinto`, one copy), and onnx parses a skeleton of the file without those fields (enclosing lengths
re-encoded). Typed or segmented data and a size that does not match the dims keep their raw_data in the skeleton,
where onnx and `tensor_const` treat it exactly as before; external data (resolved next to the model only by
onnx.load), a repeated graph field (merged by protobuf) or a malformed encoding make the whole file NotLean.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Iterator

import numpy as np
import onnx
from onnx import TensorProto

_LITTLE = {TensorProto.FLOAT: "<f4", TensorProto.DOUBLE: "<f8", TensorProto.FLOAT16: "<f2", TensorProto.INT64: "<i8",
           TensorProto.INT32: "<i4"}
"""Element types read directly (raw_data is little-endian by the ONNX spec)."""


class NotLean(ValueError):
    """The wire format could not be followed: the caller falls back to onnx.load (and its error messages)."""


@dataclass(frozen=True)
class _Field:
    number: int
    start: int  # the tag's offset
    body: int  # the payload's offset (length-delimited fields) or the value's
    end: int  # just past the field
    value: int  # the varint value (wire type 0) or the payload's length (wire type 2)


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise NotLean("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _fields(buf, pos: int, end: int):
    """The fields of one message buf[pos:end], in order (a group or an unknown wire type is NotLean)."""
    while pos < end:
        start = pos
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, after = _varint(buf, pos, end)
        elif wire == 2:
            value, body = _varint(buf, pos, end)
            pos, after = body, body + value
        elif wire in (1, 5):
            value, after = 0, pos + (8 if wire == 1 else 4)
        else:
            raise NotLean(f"wire type {wire}")
        if after > end:
            raise NotLean("field runs past its message")
        yield _Field(number, start, pos, after, value)
        pos = after


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _wrap(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


@dataclass(frozen=True)
class RawTensor:
    """An initializer whose raw_data was left out of the skeleton: where it is in the file, and how to read it."""

    offset: int
    dims: tuple[int, ...]
    dtype: str


def _tensor(buf, f: _Field) -> tuple[bytes, RawTensor | None]:
    """The TensorProto without its raw_data (if it can be read directly), and where that raw_data is."""
    dims, dtype, raw, segmented = [], None, None, False
    for g in _fields(buf, f.body, f.end):
        if g.number == 1:
            if buf[g.start] & 7 == 2:  # packed dims
                pos = g.body
                while pos < g.end:
                    d, pos = _varint(buf, pos, g.end)
                    dims.append(d)
            else:
                dims.append(g.value)
        elif g.number == 2:
            dtype = _LITTLE.get(g.value)
        elif g.number == 3:
            segmented = True
        elif g.number == 9:
            raw = g
        elif g.number == 14 and g.value != 0:
            # onnx.load resolves external data next to the model; a skeleton would resolve it from the CWD
            raise NotLean("external data")
    if raw is None or dtype is None or segmented or raw.value != prod(dims) * np.dtype(dtype).itemsize:
        return bytes(buf[f.start:f.end]), None
    kept = bytes(buf[f.body:raw.start]) + bytes(buf[raw.end:f.end])
    return _wrap(5, kept), RawTensor(raw.body, tuple(dims), dtype)


def _graph(buf, f: _Field) -> tuple[bytes, list[RawTensor | None]]:
    parts, raws = [], []
    for g in _fields(buf, f.body, f.end):
        if g.number == 5 and buf[g.start] & 7 == 2:
            part, raw = _tensor(buf, g)
            parts.append(part)
            raws.append(raw)
        else:
            parts.append(bytes(buf[g.start:g.end]))
    return _wrap(7, b"".join(parts)), raws


def lean_load(path: Path) -> tuple[onnx.ModelProto, list[np.ndarray | None]]:
    """The model without the raw_data of its directly readable initializers, and per initializer (in order) its
    array read from the file (None: its data is still in the model). Raises NotLean, OSError, ValueError (an
    empty file) or onnx's errors; read.py then falls back to onnx.load."""
    with open(path, "rb") as fh:
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            parts, raws = [], []
            for f in _fields(buf, 0, len(buf)):
                if f.number == 7 and buf[f.start] & 7 == 2:
                    if raws:  # protobuf merges repeated graph fields; keep the pairing simple and exact
                        raise NotLean("more than one graph field")
                    part, raws = _graph(buf, f)
                    parts.append(part)
                else:
                    parts.append(bytes(buf[f.start:f.end]))
        model = onnx.load_model_from_string(b"".join(parts))
        arrays = [None if r is None else _read(fh, r) for r in raws]
    if len(arrays) != len(model.graph.initializer):
        raise NotLean("initializer count")
    return model, arrays


def _read(fh, r: RawTensor) -> np.ndarray:
    arr = np.empty(r.dims, dtype=r.dtype)
    fh.seek(r.offset)
    if arr.nbytes and fh.readinto(memoryview(arr.reshape(-1)).cast("B")) != arr.nbytes:
        raise NotLean("short read")
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))



def with_raw_data(skeleton: bytes, arrays: dict[int, np.ndarray], dtype: np.dtype | None = None
                  ) -> list[bytes | memoryview | Widened]:
    """The serialised model `skeleton` with arrays[i] as the raw_data of its i-th initializer (which has dims and
    data_type but no data), as chunks to write one after the other (`chunks`): the arrays' bytes are not copied.
    With `dtype`, the raw data is that type: an array of a narrower float type is widened (exactly) block by block
    as it is written (`Widened`), never as a whole; a narrowing one is a ValueError (it would round)."""
    out: list[bytes | memoryview | Widened] = []
    for f in _fields(skeleton, 0, len(skeleton)):
        if f.number != 7 or not arrays:
            out.append(skeleton[f.start:f.end])
            continue
        parts: list[bytes | memoryview | Widened] = []
        index = 0
        for g in _fields(skeleton, f.body, f.end):
            arr = arrays.get(index) if g.number == 5 else None
            index += g.number == 5
            if arr is None:
                parts.append(skeleton[g.start:g.end])
                continue
            data = _raw_data(arr, np.dtype(dtype if dtype is not None else arr.dtype))
            head = _encode_varint(9 << 3 | 2) + _encode_varint(data.nbytes)
            body = g.end - g.body + len(head) + data.nbytes
            parts += [_encode_varint(5 << 3 | 2) + _encode_varint(body) + skeleton[g.body:g.end] + head, data]
        out += [_encode_varint(7 << 3 | 2) + _encode_varint(sum(len(p) if isinstance(p, bytes) else p.nbytes
                                                                for p in parts))] + parts
    return out


def chunks(parts: list[bytes | memoryview | Widened]) -> Iterator[bytes | memoryview]:
    """The bytes of `with_raw_data`'s parts, in order (a `Widened` array in blocks)."""
    for part in parts:
        yield from (part.blocks() if isinstance(part, Widened) else (part,))


@dataclass(frozen=True)
class Widened:
    """An array's values as little-endian `dtype`, a wider float type than its own, converted in blocks when its
    bytes are written (peak memory: a float32 layer written as float64 is never copied whole)."""

    values: np.ndarray
    dtype: np.dtype

    BLOCK = 1 << 17  # entries per block (1 MiB of float64)

    def __post_init__(self) -> None:
        if not np.can_cast(self.values.dtype, self.dtype, casting="safe"):
            raise ValueError(f"raw data: {self.values.dtype} values cannot be written as {self.dtype} without rounding")

    @property
    def nbytes(self) -> int:
        return self.values.size * self.dtype.itemsize

    def blocks(self) -> Iterator[memoryview]:
        flat = self.values.reshape(-1)
        for start in range(0, flat.size, self.BLOCK):
            yield memoryview(flat[start:start + self.BLOCK].astype(self.dtype.newbyteorder("<"))).cast("B")


def _raw_data(arr: np.ndarray, dtype: np.dtype) -> memoryview | Widened:
    """`arr`'s values as the little-endian raw data of `dtype`: its own bytes when it is that type already."""
    if arr.dtype.newbyteorder("=") != dtype.newbyteorder("="):
        return Widened(arr, dtype)
    little = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    return memoryview(little.reshape(-1)).cast("B") if little.size else memoryview(b"")
