"""ONNX layout ops (Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat) and Constant, as converters.

Every reshaping op becomes the IR's C-order `Reshape` to a concrete shape; NHWC↔NCHW Transposes stay
Transposes (the channel-lumping pass follows the permutation).
"""

from __future__ import annotations

from math import prod

import numpy as np
from onnx import numpy_helper

from ...ir.graph.ops import Concat, Reshape, Transpose
from .graph_fold import ints
from .graph_values import Data, Emitter, NodeError, constant_of


def _axes(attrs: dict, ins: list, opset: int, what: str) -> list[int] | None:
    if opset < 13 or "axes" in attrs:
        return list(attrs["axes"]) if "axes" in attrs else None
    return ints(ins[1], f"{what} axes") if len(ins) > 1 and ins[1] is not None else None


def _norm(axes: list[int], rank: int) -> list[int]:
    out = sorted(a + rank if a < 0 else a for a in axes)
    if any(not 0 <= a < rank for a in out) or len(set(out)) != len(out):
        raise NodeError(f"axes {axes} are out of range or repeated for rank {rank}", unsupported=False)
    return out


def _reshaped(r: Emitter, x: Data, shape: tuple[int, ...], out: str) -> Data:
    return r.emit(Reshape(shape), [x], out)


def reshape(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    x = ins[0]
    target = list(attrs["shape"]) if r.opset < 5 else ints(ins[1], "Reshape shape")
    allow_zero = attrs.get("allowzero", 0)
    shape = []
    for i, d in enumerate(target):
        if d == 0 and not allow_zero:
            if i >= len(x.shape):
                raise NodeError(f"shape {target} copies axis {i} which the input {list(x.shape)} lacks", unsupported=False)
            shape.append(x.shape[i])
        else:
            shape.append(d)
    if shape.count(-1) > 1 or any(d < -1 for d in shape):
        raise NodeError(f"invalid Reshape target {target}", unsupported=False)
    if -1 in shape:
        known = prod(d for d in shape if d != -1)
        total = prod(x.shape)
        if known == 0 or total % known:
            raise NodeError(f"cannot reshape {list(x.shape)} to {target}", unsupported=False)
        shape[shape.index(-1)] = total // known
    return [_reshaped(r, x, tuple(shape), outs[0])]


def flatten(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    x = ins[0]
    axis = attrs.get("axis", 1)
    axis = axis + len(x.shape) if axis < 0 else axis
    if not 0 <= axis <= len(x.shape):
        raise NodeError(f"Flatten axis {attrs.get('axis')} out of range for shape {list(x.shape)}", unsupported=False)
    return [_reshaped(r, x, (prod(x.shape[:axis]), prod(x.shape[axis:])), outs[0])]


def squeeze(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    x = ins[0]
    axes = _axes(attrs, ins, r.opset, "Squeeze")
    axes = [i for i, d in enumerate(x.shape) if d == 1] if axes is None else _norm(axes, len(x.shape))
    if any(x.shape[a] != 1 for a in axes):
        raise NodeError(f"squeezes axes {axes} of shape {list(x.shape)}, which are not all of size 1", unsupported=False)
    return [_reshaped(r, x, tuple(d for i, d in enumerate(x.shape) if i not in axes), outs[0])]


def unsqueeze(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    x = ins[0]
    axes = _axes(attrs, ins, r.opset, "Unsqueeze")
    if axes is None:
        raise NodeError("Unsqueeze without axes", unsupported=False)
    rank = len(x.shape) + len(axes)
    axes = _norm(axes, rank)
    dims = iter(x.shape)
    shape = tuple(1 if i in axes else next(dims) for i in range(rank))
    return [_reshaped(r, x, shape, outs[0])]


def transpose(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    x = ins[0]
    perm = list(attrs.get("perm", reversed(range(len(x.shape)))))
    return [r.emit(Transpose(tuple(perm)), [x], outs[0])]


def concat(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    parts = [r.materialize(v) for v in ins if v is not None]
    rank = len(parts[0].shape)
    axis = attrs.get("axis", 1 if r.opset < 4 else None)
    if axis is None:
        raise NodeError("Concat without axis", unsupported=False)
    return [r.emit(Concat(axis + rank if axis < 0 else axis), parts, outs[0])]


def constant(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    if "value" in attrs:
        return [constant_of(numpy_helper.to_array(attrs["value"]))]
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return [constant_of(np.array(attrs[key], dtype=dtype))]
    raise NodeError("Constant without a supported value attribute (sparse/string values are not)", unsupported=True)


LAYOUT = {"Reshape": reshape, "Flatten": flatten, "Squeeze": squeeze, "Unsqueeze": unsqueeze,
          "Transpose": transpose, "Concat": concat, "Constant": constant}  # fmt: skip

