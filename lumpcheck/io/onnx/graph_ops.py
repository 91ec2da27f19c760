"""One converter per ONNX op: data inputs become IR nodes, constant operands become exact op parameters.

A converter gets the reader (`Emitter`), the node's input values (`Const`, `Data` or None for an omitted
optional input), its attributes and its output names, and returns one value per output (None: not produced).
It raises `NodeError` with the reason when the op cannot be read exactly. `convert` dispatches, folding
all-constant nodes exactly (see `graph_fold`).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Callable

import numpy as np

from ...ir.activation import Activation
from ...ir.exact import as_fractions, canonical, to_fraction
from ...ir.graph.ops import (Act, Affine, AveragePool, BatchNorm, Binary, Clip, Conv, GlobalPool, LeftMatMul, MatMul,
                             MaxPool, Pad, Softmax, Transpose, Window)  # fmt: skip
from .graph_fold import FoldingEmitter, fold_integer, ints
from .graph_layout import LAYOUT
from .graph_values import FLOAT_TYPES, Const, Data, Emitter, NodeError, Unavailable

Converter = Callable[[Emitter, list, dict, list], list]
FLOAT32_01 = float(np.float32(0.01))
FLOAT32_1E5 = float(np.float32(1e-5))


def data(ins: list, i: int, what: str = "input") -> Data:
    v = ins[i] if i < len(ins) else None
    if not isinstance(v, Data):
        raise NodeError(f"{what} {i} must depend on the graph input here")
    return v


def const(ins: list, i: int, what: str) -> Const | None:
    v = ins[i] if i < len(ins) else None
    if v is not None and not isinstance(v, Const):
        raise NodeError(f"{what} depends on the input; lumpcheck needs it constant (a product of inputs is not piecewise linear)")
    return v


def exact(c: Const) -> np.ndarray:
    return c.value if c.is_float else as_fractions(c.value.astype(object))


def scaled(arr: np.ndarray, factor: object) -> np.ndarray:
    f = to_fraction(factor)
    return arr if f == 1 else canonical(as_fractions(arr) * f)


def act(kind: str) -> Converter:
    def convert(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
        alpha = attrs.get("alpha", FLOAT32_01) if kind == "leaky_relu" else 0
        return [r.emit(Act(Activation(kind, alpha)), [data(ins, 0)], outs[0])]

    return convert


def identity(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    return [ins[0]]


def cast(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    if attrs["to"] not in FLOAT_TYPES:
        raise NodeError("casts data to a non-float type: rounding to integers is a step function, not a real-valued "
                        "piecewise-linear map")  # fmt: skip
    return [ins[0]]  # real semantics: Cast between float types is the identity


def dropout(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    training = bool(attrs.get("is_test", 1) == 0) if r.opset < 7 else False
    if len(ins) > 2 and ins[2] is not None:
        training = bool(ints(ins[2], "training_mode")[0])
    if training:
        ratio = to_fraction(const(ins, 1, "ratio").value.reshape(-1)[0]) if len(ins) > 1 and ins[1] is not None else Fraction(1, 2)
        if ratio != 0:
            raise NodeError(f"Dropout in training mode is random (it zeroes each entry with probability {float(ratio)} "
                            "and rescales the rest), so the file does not define a function; export in inference mode")
    mask = Unavailable("Dropout's mask output is not supported (only its data output)")
    return [ins[0], mask]


def _affine(x: Data, scale: object, shift: object, r: Emitter, out: str) -> Data:
    return r.emit(Affine(np.asarray(scale, dtype=object) if not isinstance(scale, np.ndarray) else scale,
                         np.asarray(shift, dtype=object) if not isinstance(shift, np.ndarray) else shift), [x], out)  # fmt: skip


def arith(kind: str) -> Converter:
    def convert(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
        if "broadcast" in attrs:
            raise NodeError("uses the pre-opset-7 'broadcast' attribute; re-export with opset >= 7")
        a, b = ins[0], ins[1]
        if isinstance(a, Data) and isinstance(b, Data):
            if kind in ("Add", "Sub"):
                return [r.emit(Binary(kind.lower()), [a, b], outs[0])]
            raise NodeError(f"{kind} of two data tensors is a product of inputs (quadratic), not piecewise linear")
        # 0-d arithmetic on object arrays gives bare Fractions: results are wrapped back into arrays (a scalar constant)
        one, zero = np.array(Fraction(1), dtype=object), np.array(Fraction(0), dtype=object)
        if isinstance(a, Data):
            c = exact(b)
            if kind == "Add":
                return [_affine(a, one, c, r, outs[0])]
            if kind == "Sub":
                return [_affine(a, one, canonical(np.array(-as_fractions(c), dtype=object)), r, outs[0])]
            if kind == "Mul":
                return [_affine(a, c, zero, r, outs[0])]
            if any(v == 0 for v in as_fractions(c).reshape(-1)):
                raise NodeError("divides by a constant containing 0", unsupported=False)
            return [_affine(a, canonical(np.array(1 / as_fractions(c), dtype=object)), zero, r, outs[0])]
        c = exact(a)
        if kind == "Add":
            return [_affine(b, one, c, r, outs[0])]
        if kind == "Sub":
            return [_affine(b, -one, c, r, outs[0])]
        if kind == "Mul":
            return [_affine(b, c, zero, r, outs[0])]
        raise NodeError("divides a constant by data: 1/x is not piecewise linear")

    return convert


def neg(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    return [_affine(data(ins, 0), np.array(Fraction(-1), dtype=object), np.array(Fraction(0), dtype=object), r, outs[0])]


def extremum(kind: str) -> Converter:
    def convert(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
        datas = [v for v in ins if isinstance(v, Data)]
        consts = [exact(v) for v in ins if isinstance(v, Const)]
        x = datas[0]
        for i, y in enumerate(datas[1:]):
            x = r.emit(Binary(kind), [x, y], outs[0] if i == len(datas) - 2 and not consts else None)
        if consts:
            bound = consts[0]
            for c in consts[1:]:
                bound = np.maximum(bound, c) if kind == "max" else np.minimum(bound, c)
            x = r.emit(Clip(bound, None) if kind == "max" else Clip(None, bound), [x], outs[0])
        return [x]

    return convert


def n_ary_sum(mean: bool) -> Converter:
    """Sum/Mean of several tensors: data terms joined by Add, constant terms one Affine shift, Mean scales by 1/n."""

    def convert(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
        datas = [v for v in ins if isinstance(v, Data)]
        consts = [exact(v) for v in ins if isinstance(v, Const)]
        last_join = len(datas) - 2
        x = datas[0]
        for i, y in enumerate(datas[1:]):
            x = r.emit(Binary("add"), [x, y], outs[0] if i == last_join and not consts and not mean else None)
        shift = sum(as_fractions(c) for c in consts) if consts else np.array(Fraction(0), dtype=object)
        scale = Fraction(1, len(ins)) if mean else Fraction(1)
        if consts or mean:
            x = _affine(x, np.array(scale, dtype=object), canonical(np.asarray(shift * scale, dtype=object)), r, outs[0])
        return [x]

    return convert


def clip(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    if r.opset < 11:
        lo = np.array(attrs["min"]) if "min" in attrs else None
        hi = np.array(attrs["max"]) if "max" in attrs else None
    else:
        lo_c, hi_c = const(ins, 1, "Clip min"), const(ins, 2, "Clip max")
        lo = exact(lo_c) if lo_c is not None else None
        hi = exact(hi_c) if hi_c is not None else None
    return [r.emit(Clip(lo, hi), [data(ins, 0)], outs[0])]


def softmax(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    x = data(ins, 0)
    rank = len(x.shape)
    axis = attrs.get("axis", 1 if r.opset < 13 else -1)
    axis = axis + rank if axis < 0 else axis
    axes = tuple(range(axis, rank)) if r.opset < 13 else (axis,)
    return [r.emit(Softmax(axes), [x], outs[0])]


def matmul(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    a, b = ins[0], ins[1]
    if isinstance(a, Data) and isinstance(b, Data):
        raise NodeError("MatMul of two data tensors is a product of inputs (quadratic), not piecewise linear")
    if isinstance(a, Data):
        if b.value.ndim > 2:
            raise NodeError(f"batched MatMul by a constant of rank {b.value.ndim} is not supported (rank <= 2 is)")
        return [r.emit(MatMul(exact(b)), [a], outs[0])]
    w = exact(a)
    if w.ndim == 2 and len(b.shape) == 1:
        return [r.emit(MatMul(w.T), [b], outs[0])]
    if w.ndim == 2 and len(b.shape) >= 2:
        return [r.emit(LeftMatMul(w), [b], outs[0])]
    raise NodeError(f"MatMul of a constant of rank {w.ndim} by data of rank {len(b.shape)} is not supported")


def gemm(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    a, b = ins[0], ins[1]
    c = const(ins, 2, "Gemm C")
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    ta, tb = attrs.get("transA", 0), attrs.get("transB", 0)
    if isinstance(a, Data) and isinstance(b, Data):
        raise NodeError("Gemm of two data tensors is a product of inputs (quadratic), not piecewise linear")
    bias = scaled(exact(c), beta) if c is not None else None
    if isinstance(a, Data):
        x = r.emit(Transpose((1, 0)), [a]) if ta else a
        w = exact(b).T if tb else exact(b)
        return [r.emit(MatMul(scaled(w, alpha), bias), [x], outs[0])]
    x = r.emit(Transpose((1, 0)), [b]) if tb else b
    w = exact(a).T if ta else exact(a)
    y = r.emit(LeftMatMul(scaled(w, alpha)), [x], None if bias is not None else outs[0])
    if bias is not None:
        y = _affine(y, np.array(Fraction(1), dtype=object), bias, r, outs[0])
    return [y]


def _auto_pads(attrs: dict, spatial: tuple[int, ...], kernel: list[int], strides: list[int], dil: list[int]) -> list[int]:
    mode = attrs.get("auto_pad", b"NOTSET")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    n = len(kernel)
    if mode == "NOTSET":
        pads = list(attrs.get("pads", [0] * 2 * n))
        if any(p < 0 for p in pads):
            raise NodeError(f"negative pads {pads} (cropping) are not supported")
        return pads
    if mode == "VALID":
        return [0] * 2 * n
    if mode not in ("SAME_UPPER", "SAME_LOWER"):
        raise NodeError(f"unknown auto_pad {mode!r}", unsupported=False)
    begins, ends = [], []
    for i in range(n):
        out = -(-spatial[i] // strides[i])
        total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - spatial[i])
        small, big = total // 2, total - total // 2
        begins.append(small if mode == "SAME_UPPER" else big)
        ends.append(big if mode == "SAME_UPPER" else small)
    return begins + ends


def window(attrs: dict, x: Data, kernel: list[int] | None = None, ceil: bool = False) -> Window:
    kernel = list(kernel if kernel is not None else attrs["kernel_shape"])
    n = len(kernel)
    strides = list(attrs.get("strides", [1] * n))
    dil = list(attrs.get("dilations", [1] * n))
    pads = _auto_pads(attrs, x.shape[2:], kernel, strides, dil)
    return Window(tuple(kernel), tuple(strides), tuple(pads), tuple(dil), ceil)


def conv(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    x = data(ins, 0)
    w = const(ins, 1, "Conv weight")
    b = const(ins, 2, "Conv bias")
    kernel = attrs.get("kernel_shape", list(w.shape[2:]))
    if list(kernel) != list(w.shape[2:]):
        raise NodeError(f"kernel_shape {list(kernel)} does not match the weight shape {list(w.shape)}", unsupported=False)
    op = Conv(exact(w), exact(b) if b is not None else None, window(attrs, x, kernel), attrs.get("group", 1))
    return [r.emit(op, [x], outs[0])]


def max_pool(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    x = data(ins, 0)
    y = r.emit(MaxPool(window(attrs, x, ceil=bool(attrs.get("ceil_mode", 0)))), [x], outs[0])
    return [y, Unavailable("MaxPool's Indices output is not supported (only its values)")]


def average_pool(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    x = data(ins, 0)
    w = window(attrs, x, ceil=bool(attrs.get("ceil_mode", 0)))
    return [r.emit(AveragePool(w, bool(attrs.get("count_include_pad", 0))), [x], outs[0])]


def global_pool(mode: str) -> Converter:
    def convert(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
        return [r.emit(GlobalPool(mode), [data(ins, 0)], outs[0])]

    return convert


def pad(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    x = data(ins, 0)
    rank = len(x.shape)
    if r.opset < 11:
        mode, pads, value = attrs.get("mode", b"constant"), list(attrs.get("paddings", attrs.get("pads", []))), attrs.get("value", 0.0)
    else:
        mode = attrs.get("mode", b"constant")
        pads = ints(ins[1], "Pad pads")
        vc = const(ins, 2, "Pad constant_value")
        value = vc.value.reshape(-1)[0] if vc is not None and vc.value.size else 0
        if len(ins) > 3 and ins[3] is not None:
            axes = [a + rank if a < 0 else a for a in ints(ins[3], "Pad axes")]
            full = [0] * 2 * rank
            for j, a in enumerate(axes):
                full[a], full[rank + a] = pads[j], pads[len(axes) + j]
            pads = full
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "constant":
        raise NodeError(f"Pad mode {mode!r} is not supported (constant padding is)")
    if any(p < 0 for p in pads):
        raise NodeError(f"negative pads {pads} (cropping) are not supported")
    return [r.emit(Pad(tuple(pads), to_fraction(value)), [x], outs[0])]


def batch_norm(r: Emitter, ins: list, attrs: dict, outs: list) -> list:
    x = data(ins, 0)
    if attrs.get("training_mode", 0) or (r.opset < 7 and attrs.get("is_test", 0) == 0 and "is_test" in attrs):
        raise NodeError("BatchNormalization in training mode normalises by batch statistics, so one sample's output "
                        "depends on the others; export in inference mode")  # fmt: skip
    if attrs.get("spatial", 1) != 1:
        raise NodeError("BatchNormalization with spatial=0 (per-position statistics) is not supported")
    params = [exact(const(ins, i, name)) for i, name in enumerate(("scale", "B", "mean", "var"), start=1)]
    op = BatchNorm(*params, epsilon=attrs.get("epsilon", FLOAT32_1E5))
    unavailable = Unavailable("BatchNormalization's training outputs are not supported")
    return [r.emit(op, [x], outs[0])] + [unavailable] * (len(outs) - 1)


CONVERTERS: dict[str, Converter] = {
    "Identity": identity, "Dropout": dropout, "Cast": cast,
    "Relu": act("relu"), "LeakyRelu": act("leaky_relu"), "Sigmoid": act("sigmoid"), "Tanh": act("tanh"),
    "Softmax": softmax, "Add": arith("Add"), "Sub": arith("Sub"), "Mul": arith("Mul"), "Div": arith("Div"),
    "Neg": neg, "Max": extremum("max"), "Min": extremum("min"), "Clip": clip, "Sum": n_ary_sum(False),
    "Mean": n_ary_sum(True),
    "MatMul": matmul, "Gemm": gemm, "Conv": conv, "MaxPool": max_pool, "AveragePool": average_pool,
    "GlobalAveragePool": global_pool("average"), "GlobalMaxPool": global_pool("max"), "Pad": pad,
    "BatchNormalization": batch_norm, **LAYOUT,
}  # fmt: skip
FOLD_ONLY = ("Shape", "Size", "Gather", "Slice", "ConstantOfShape", "Range", "Sqrt")
REASONS = {
    "LogSoftmax": "log-softmax is not implemented (softmax is); export the logits or a Softmax",
    "ConvTranspose": "transposed convolution is not implemented",
    "Gather": "Gather on data (an input-dependent selection) is not implemented; it is folded only on constants",
    "Slice": "Slice on data is not implemented; it is folded only on constants",
    "Sqrt": "Sqrt on data is not implemented; it is folded only on constants (exactly, when they are squares of "
            "rationals)",
    "Loop": "control flow (Loop/If/Scan) has no fixed graph to reason about",
    "If": "control flow (Loop/If/Scan) has no fixed graph to reason about",
    "Scan": "control flow (Loop/If/Scan) has no fixed graph to reason about",
}


def supported_sentence() -> str:
    return ("the graph reader supports " + ", ".join(sorted(CONVERTERS)) + ", and on constants only "
            + ", ".join(FOLD_ONLY))


def convert(r: Emitter, op_type: str, ins: list, attrs: dict, outs: list) -> list:
    """Values of the node's outputs; all-constant nodes are folded exactly."""
    for v in ins:
        if isinstance(v, Unavailable):
            raise NodeError(v.reason)
    folded = fold_integer(op_type, ins, attrs, {}) if op_type in FOLD_ONLY or op_type in ("Add", "Sub", "Mul", "Div", "Cast") else None
    if folded is not None:
        return folded
    if op_type not in CONVERTERS:
        raise NodeError(REASONS.get(op_type, f"unsupported op ({supported_sentence()})"))
    fn = CONVERTERS[op_type]
    if any(isinstance(v, Data) for v in ins):
        return fn(r, ins, attrs, outs)
    folder = FoldingEmitter(r.opset)
    ins = list(ins)
    if ins and isinstance(ins[0], Const):
        ins[0] = folder.placeholder(ins[0])
    return [folder.result(v) for v in fn(folder, ins, attrs, outs)]
