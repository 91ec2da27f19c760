"""The graph IR's operations: frozen, checked at construction, each knowing its output shape.

Every op is a pure function of its *data* inputs; constants are folded into op parameters when a model is read
(weights, biases, scales). Parameters are exact: float64 arrays hold the dyadic rationals stored in the file,
object arrays hold Fractions (see `lumpcheck.ir.exact`). Semantics are the exact real-number operations (ONNX's
float arithmetic is the rounded approximation of them); `ir.graph.evaluate` implements them in floats and exactly.

Shapes are concrete tuples of positive ints (a symbolic batch dimension is read as 1). Layouts follow ONNX:
Conv/pools/BatchNorm see (N, C, *spatial).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import prod
from typing import ClassVar

import numpy as np

from ..activation import Activation
from ..exact import exact_array, to_fraction

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """An op was given inputs of shapes it cannot take (the message names the op and both shapes)."""


def frozen_array(values: object) -> np.ndarray:
    """Exact read-only copy: float64 where the values are float64, else Fractions (see `exact.exact_array`)."""
    arr = exact_array(values).copy()
    arr.setflags(write=False)
    return arr


def _ints(values: object, what: str, minimum: int) -> tuple[int, ...]:
    out = tuple(int(v) for v in values)
    if any(v < minimum for v in out):
        raise ValueError(f"{what} must be >= {minimum}, got {list(out)}")
    return out


def broadcast_shape(*shapes: Shape) -> Shape:
    """numpy/ONNX multidirectional broadcasting; ShapeError when the shapes do not broadcast."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(f"shapes {' and '.join(str(list(s)) for s in shapes)} do not broadcast") from None


@dataclass(frozen=True, eq=False)
class Op:
    """Base class: `arity` data inputs (None: one or more); `infer` maps input shapes to the output shape."""

    arity: ClassVar[int | None] = 1
    kind: ClassVar[str] = "op"

    def infer(self, shapes: list[Shape]) -> Shape:
        return shapes[0]

    def describe(self) -> str:
        return self.kind


# ---- element-wise, one data input


@dataclass(frozen=True, eq=False)
class Identity(Op):
    kind: ClassVar[str] = "Identity"


@dataclass(frozen=True, eq=False)
class Act(Op):
    """An element-wise activation (identity, relu, leaky_relu, sigmoid, tanh) with exact facts on `Activation`."""

    activation: Activation
    kind: ClassVar[str] = "Act"

    def describe(self) -> str:
        return str(self.activation)


@dataclass(frozen=True, eq=False)
class Affine(Op):
    """y = x·scale + shift, scale and shift exact arrays broadcast against x (Mul/Add/Sub/Div/Neg by constants)."""

    scale: np.ndarray
    shift: np.ndarray
    kind: ClassVar[str] = "Affine"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", frozen_array(self.scale))
        object.__setattr__(self, "shift", frozen_array(self.shift))

    def infer(self, shapes: list[Shape]) -> Shape:
        return broadcast_shape(shapes[0], self.scale.shape, self.shift.shape)


@dataclass(frozen=True, eq=False)
class Clip(Op):
    """y = min(max(x, lower), upper) element-wise; a missing bound is None (exact arrays, broadcast)."""

    lower: np.ndarray | None
    upper: np.ndarray | None
    kind: ClassVar[str] = "Clip"

    def __post_init__(self) -> None:
        for name in ("lower", "upper"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, frozen_array(v))
        if self.lower is not None and self.upper is not None:
            lo, hi = np.broadcast_arrays(self.lower, self.upper)
            if np.any(lo > hi):
                raise ValueError("Clip lower bound exceeds its upper bound")

    def infer(self, shapes: list[Shape]) -> Shape:
        extra = [b.shape for b in (self.lower, self.upper) if b is not None]
        return broadcast_shape(shapes[0], *extra)


@dataclass(frozen=True, eq=False)
class BatchNorm(Op):
    """Inference BatchNormalization on axis 1: y = (x − mean)·scale/√(var + epsilon) + bias (irrational in general)."""

    scale: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    epsilon: Fraction
    kind: ClassVar[str] = "BatchNorm"

    def __post_init__(self) -> None:
        for name in ("scale", "bias", "mean", "var"):
            arr = frozen_array(getattr(self, name))
            if arr.ndim != 1:
                raise ValueError(f"BatchNorm {name} must be 1-D, got shape {arr.shape}")
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "epsilon", to_fraction(self.epsilon))
        n = {len(self.scale), len(self.bias), len(self.mean), len(self.var)}
        if len(n) != 1:
            raise ValueError(f"BatchNorm parameters differ in length: {sorted(n)}")
        if any(to_fraction(v) + self.epsilon <= 0 for v in self.var.reshape(-1)):
            raise ValueError("BatchNorm var + epsilon must be positive for every channel")

    @property
    def channels(self) -> int:
        return len(self.scale)

    def infer(self, shapes: list[Shape]) -> Shape:
        s = shapes[0]
        if len(s) < 2 or s[1] != self.channels:
            raise ShapeError(f"BatchNorm with {self.channels} channels cannot take shape {list(s)} (channels on axis 1)")
        return s


@dataclass(frozen=True, eq=False)
class Softmax(Op):
    """exp(x)/Σ exp(x) over `axes` jointly (ONNX < 13 coerces to 2-D: the trailing axes from `axis`)."""

    axes: tuple[int, ...]
    kind: ClassVar[str] = "Softmax"

    def infer(self, shapes: list[Shape]) -> Shape:
        if any(not 0 <= a < len(shapes[0]) for a in self.axes) or not self.axes:
            raise ShapeError(f"Softmax axes {list(self.axes)} out of range for shape {list(shapes[0])}")
        return shapes[0]


# ---- linear maps with constant weights


@dataclass(frozen=True, eq=False)
class MatMul(Op):
    """y = x @ weight (+ bias), numpy matmul semantics; weight (k, n) or (k,), bias broadcast to the result."""

    weight: np.ndarray
    bias: np.ndarray | None = None
    kind: ClassVar[str] = "MatMul"

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", frozen_array(self.weight))
        if self.weight.ndim not in (1, 2):
            raise ValueError(f"MatMul weight must be 1-D or 2-D, got shape {self.weight.shape}")
        if self.bias is not None:
            object.__setattr__(self, "bias", frozen_array(self.bias))

    def infer(self, shapes: list[Shape]) -> Shape:
        x, k = shapes[0], self.weight.shape[0]
        if not x or x[-1] != k:
            raise ShapeError(f"MatMul of shape {list(x)} by weight {list(self.weight.shape)}: inner sizes differ")
        out = x[:-1] + self.weight.shape[1:]
        return out if self.bias is None else broadcast_shape(out, self.bias.shape)


@dataclass(frozen=True, eq=False)
class LeftMatMul(Op):
    """y = weight @ x with a constant 2-D weight (m, k) and x of shape (..., k, n)."""

    weight: np.ndarray
    kind: ClassVar[str] = "LeftMatMul"

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", frozen_array(self.weight))
        if self.weight.ndim != 2:
            raise ValueError(f"LeftMatMul weight must be 2-D, got shape {self.weight.shape}")

    def infer(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        if len(x) < 2 or x[-2] != self.weight.shape[1]:
            raise ShapeError(f"weight {list(self.weight.shape)} @ shape {list(x)}: inner sizes differ")
        return x[:-2] + (self.weight.shape[0], x[-1])


def _window_out(size: int, k: int, s: int, pb: int, pe: int, d: int, ceil: bool) -> int:
    span = (k - 1) * d + 1
    room = size + pb + pe - span
    if room < 0:
        raise ShapeError(f"window of span {span} does not fit in size {size} with pads ({pb}, {pe})")
    out = (-(-room // s) if ceil else room // s) + 1
    if ceil and (out - 1) * s >= size + pb:  # ONNX: the last window must start inside the input or its left pad
        out -= 1
    return out


@dataclass(frozen=True, eq=False)
class Window:
    """Sliding-window geometry over the spatial axes: kernel, strides, pads (all begins, then all ends), dilations."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]
    dilations: tuple[int, ...]
    ceil_mode: bool = False

    def __post_init__(self) -> None:
        n = len(self.kernel)
        object.__setattr__(self, "kernel", _ints(self.kernel, "kernel", 1))
        object.__setattr__(self, "strides", _ints(self.strides, "strides", 1))
        object.__setattr__(self, "pads", _ints(self.pads, "pads", 0))
        object.__setattr__(self, "dilations", _ints(self.dilations, "dilations", 1))
        if n == 0 or len(self.strides) != n or len(self.dilations) != n or len(self.pads) != 2 * n:
            raise ValueError(
                f"window attributes disagree: kernel {list(self.kernel)}, strides {list(self.strides)}, "
                f"pads {list(self.pads)}, dilations {list(self.dilations)}"
            )

    @property
    def rank(self) -> int:
        return len(self.kernel)

    def out_spatial(self, spatial: Shape) -> Shape:
        n = self.rank
        if len(spatial) != n:
            raise ShapeError(f"{n}-D window on {len(spatial)} spatial axes {list(spatial)}")
        return tuple(
            _window_out(spatial[i], self.kernel[i], self.strides[i], self.pads[i], self.pads[n + i], self.dilations[i], self.ceil_mode)
            for i in range(n)
        )

    @property
    def padded(self) -> bool:
        return any(self.pads)


@dataclass(frozen=True, eq=False)
class Conv(Op):
    """Cross-correlation: weight (M, C/group, *kernel), bias (M,) or None, on x (N, C, *spatial), zero padding."""

    weight: np.ndarray
    bias: np.ndarray | None
    window: Window
    group: int = 1
    kind: ClassVar[str] = "Conv"

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", frozen_array(self.weight))
        w = self.weight
        if w.ndim != 2 + self.window.rank or tuple(w.shape[2:]) != self.window.kernel:
            raise ValueError(f"Conv weight shape {list(w.shape)} does not match kernel {list(self.window.kernel)}")
        if self.window.ceil_mode:
            raise ValueError("Conv has no ceil_mode")
        if self.group < 1 or w.shape[0] % self.group:
            raise ValueError(f"Conv group {self.group} does not divide the {w.shape[0]} output channels")
        if self.bias is not None:
            object.__setattr__(self, "bias", frozen_array(self.bias))
            if self.bias.shape != (w.shape[0],):
                raise ValueError(f"Conv bias shape {list(self.bias.shape)} but {w.shape[0]} output channels")

    @property
    def out_channels(self) -> int:
        return self.weight.shape[0]

    def infer(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        if len(x) != 2 + self.window.rank or x[1] != self.weight.shape[1] * self.group:
            raise ShapeError(
                f"Conv with weight {list(self.weight.shape)} and group {self.group} cannot take shape {list(x)}"
            )
        return (x[0], self.out_channels) + self.window.out_spatial(x[2:])


@dataclass(frozen=True, eq=False)
class MaxPool(Op):
    """Max over each window; padding never wins (ONNX pads MaxPool with −∞)."""

    window: Window
    kind: ClassVar[str] = "MaxPool"

    def infer(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        if len(x) != 2 + self.window.rank:
            raise ShapeError(f"{self.window.rank}-D MaxPool cannot take shape {list(x)}")
        return x[:2] + self.window.out_spatial(x[2:])


@dataclass(frozen=True, eq=False)
class AveragePool(Op):
    """Mean over each window: zero pads counted in the divisor iff count_include_pad (never the ceil overhang)."""

    window: Window
    count_include_pad: bool = False
    kind: ClassVar[str] = "AveragePool"

    def __post_init__(self) -> None:
        if any(d != 1 for d in self.window.dilations):
            raise ValueError("dilated AveragePool is not supported")

    def infer(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        if len(x) != 2 + self.window.rank:
            raise ShapeError(f"{self.window.rank}-D AveragePool cannot take shape {list(x)}")
        return x[:2] + self.window.out_spatial(x[2:])


@dataclass(frozen=True, eq=False)
class GlobalPool(Op):
    """Mean ('average') or max over all spatial axes, keeping them as size 1."""

    mode: str
    kind: ClassVar[str] = "GlobalPool"

    def __post_init__(self) -> None:
        if self.mode not in ("average", "max"):
            raise ValueError(f"GlobalPool mode must be 'average' or 'max', got {self.mode!r}")

    def infer(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        if len(x) < 3:
            raise ShapeError(f"global pooling needs spatial axes, got shape {list(x)}")
        return x[:2] + (1,) * (len(x) - 2)


@dataclass(frozen=True, eq=False)
class Pad(Op):
    """Constant padding: pads = all begins then all ends (one per axis, >= 0), filled with `value`."""

    pads: tuple[int, ...]
    value: Fraction = Fraction(0)
    kind: ClassVar[str] = "Pad"

    def __post_init__(self) -> None:
        object.__setattr__(self, "pads", _ints(self.pads, "pads", 0))
        object.__setattr__(self, "value", to_fraction(self.value))
        if len(self.pads) % 2:
            raise ValueError(f"Pad needs begins and ends for every axis, got {list(self.pads)}")

    def infer(self, shapes: list[Shape]) -> Shape:
        x, n = shapes[0], len(self.pads) // 2
        if len(x) != n:
            raise ShapeError(f"Pad with {n} axes of pads cannot take shape {list(x)}")
        return tuple(x[i] + self.pads[i] + self.pads[n + i] for i in range(n))


# ---- several data inputs


BINARY = ("add", "sub", "max", "min")


@dataclass(frozen=True, eq=False)
class Binary(Op):
    """Element-wise add/sub/max/min of two data tensors (broadcasting): residual joins."""

    op: str
    arity: ClassVar[int | None] = 2
    kind: ClassVar[str] = "Binary"

    def __post_init__(self) -> None:
        if self.op not in BINARY:
            raise ValueError(f"unknown binary op {self.op!r}; known: {', '.join(BINARY)}")

    def infer(self, shapes: list[Shape]) -> Shape:
        return broadcast_shape(*shapes)

    def describe(self) -> str:
        return self.op


@dataclass(frozen=True, eq=False)
class Concat(Op):
    axis: int
    arity: ClassVar[int | None] = None
    kind: ClassVar[str] = "Concat"

    def infer(self, shapes: list[Shape]) -> Shape:
        r, a = len(shapes[0]), self.axis
        if not 0 <= a < r or any(len(s) != r or s[:a] + s[a + 1 :] != shapes[0][:a] + shapes[0][a + 1 :] for s in shapes):
            raise ShapeError(f"cannot concatenate shapes {[list(s) for s in shapes]} on axis {a}")
        return shapes[0][:a] + (sum(s[a] for s in shapes),) + shapes[0][a + 1 :]


@dataclass(frozen=True, eq=False)
class Constant(Op):
    """A constant tensor (no data input), e.g. an output that does not depend on the input."""

    value: np.ndarray
    arity: ClassVar[int | None] = 0
    kind: ClassVar[str] = "Constant"

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", frozen_array(self.value))

    def infer(self, shapes: list[Shape]) -> Shape:
        return tuple(self.value.shape)


# ---- layout


@dataclass(frozen=True, eq=False)
class Transpose(Op):
    perm: tuple[int, ...]
    kind: ClassVar[str] = "Transpose"

    def __post_init__(self) -> None:
        object.__setattr__(self, "perm", tuple(int(p) for p in self.perm))
        if sorted(self.perm) != list(range(len(self.perm))):
            raise ValueError(f"Transpose perm {list(self.perm)} is not a permutation")

    def infer(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        if len(x) != len(self.perm):
            raise ShapeError(f"Transpose perm {list(self.perm)} on shape {list(x)}")
        return tuple(x[p] for p in self.perm)


@dataclass(frozen=True, eq=False)
class Reshape(Op):
    """C-order reshape to a concrete shape (Reshape, Flatten, Squeeze, Unsqueeze all become this)."""

    shape: tuple[int, ...]
    kind: ClassVar[str] = "Reshape"

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", _ints(self.shape, "Reshape target", 1))

    def infer(self, shapes: list[Shape]) -> Shape:
        if prod(shapes[0]) != prod(self.shape):
            raise ShapeError(f"cannot reshape {list(shapes[0])} ({prod(shapes[0])} values) to {list(self.shape)}")
        return self.shape


PIECEWISE_LINEAR_KINDS = ("Identity", "Affine", "Clip", "MatMul", "LeftMatMul", "Conv", "MaxPool", "AveragePool",
                          "GlobalPool", "Pad", "Binary", "Concat", "Constant", "Transpose", "Reshape")  # fmt: skip


def piecewise_linear(op: Op) -> bool:
    """True when the op maps rationals to rationals (so exact evaluation stays in Fractions)."""
    if isinstance(op, Act):
        return op.activation.piecewise_linear
    return op.kind in PIECEWISE_LINEAR_KINDS


ALL_OPS = (Identity, Act, Affine, Clip, BatchNorm, Softmax, MatMul, LeftMatMul, Conv, MaxPool, AveragePool,
           GlobalPool, Pad, Binary, Concat, Constant, Transpose, Reshape)  # fmt: skip
