"""Array kernels for the graph ops, written once for float64 and for exact object arrays.

The same numpy code runs on float64 arrays (fast, rounded: candidates and sampling) and on object arrays of
Fractions / `Radical`s (exact: every + and × is the exact operation of those types). Only element-wise maps
with irrational values (sigmoid, tanh, softmax, BatchNorm's 1/√) differ, and live in `evaluate.py`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .ops import Window


def is_exact(x: np.ndarray) -> bool:
    return x.dtype == object


def zero_like(x: np.ndarray) -> object:
    return Fraction(0) if is_exact(x) else 0.0


def pad_constant(x: np.ndarray, pads: tuple[int, ...], value: object) -> np.ndarray:
    """Pad every axis: pads = begins of all axes, then ends."""
    n = x.ndim
    if not any(pads):
        return x
    width = [(pads[i], pads[n + i]) for i in range(n)]
    if is_exact(x):
        out = np.empty(tuple(s + a + b for s, (a, b) in zip(x.shape, width)), dtype=object)
        out[...] = value
        out[tuple(slice(a, a + s) for s, (a, _) in zip(x.shape, width))] = x
        return out
    return np.pad(x, width, mode="constant", constant_values=float(value))


def _spatial_pad(x: np.ndarray, window: Window, extra: tuple[int, ...], value: object) -> np.ndarray:
    """Pad the spatial axes of (N, C, *S) by the window's pads plus `extra` at the ends (ceil-mode overhang)."""
    r = window.rank
    begins = (0, 0) + window.pads[:r]
    ends = (0, 0) + tuple(window.pads[r + i] + extra[i] for i in range(r))
    return pad_constant(x, begins + ends, value)


def _overhang(spatial: tuple[int, ...], out: tuple[int, ...], window: Window) -> tuple[int, ...]:
    """How far the last window reaches beyond the padded input (ceil mode), per spatial axis."""
    r = window.rank
    over = []
    for i in range(r):
        span = (window.kernel[i] - 1) * window.dilations[i] + 1
        need = (out[i] - 1) * window.strides[i] + span
        have = spatial[i] + window.pads[i] + window.pads[r + i]
        over.append(max(0, need - have))
    return tuple(over)


def windows(xp: np.ndarray, window: Window, out: tuple[int, ...]) -> np.ndarray:
    """View (N, C, *out, *kernel) of the windows of an already padded (N, C, *S) array."""
    r = window.rank
    spans = tuple((window.kernel[i] - 1) * window.dilations[i] + 1 for i in range(r))
    view = sliding_window_view(xp, spans, axis=tuple(range(2, 2 + r)))
    index = (slice(None), slice(None))
    index += tuple(slice(0, (out[i] - 1) * window.strides[i] + 1, window.strides[i]) for i in range(r))
    index += tuple(slice(None, None, window.dilations[i]) for i in range(r))
    return view[index]


def out_spatial(x: np.ndarray, window: Window) -> tuple[int, ...]:
    return window.out_spatial(tuple(x.shape[2:]))


def conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, window: Window, group: int) -> np.ndarray:
    """ONNX Conv: Σ_c Σ_k weight[m, c, k]·x[n, g·C/G + c, s·o + d·k − pad] + bias[m], zero padding."""
    r = window.rank
    out = out_spatial(x, window)
    zero = zero_like(x)
    xp = _spatial_pad(x, window, (0,) * r, zero)
    win = windows(xp, window, out)  # (N, C, *out, *k)
    m, cg = weight.shape[0], weight.shape[1]
    mg = m // group
    parts = []
    for g in range(group):
        xs = win[:, g * cg : (g + 1) * cg]  # (N, cg, *out, *k)
        ws = weight[g * mg : (g + 1) * mg]  # (mg, cg, *k)
        axes_x = [1] + list(range(2 + r, 2 + 2 * r))
        axes_w = [1] + list(range(2, 2 + r))
        y = np.tensordot(xs, ws, axes=(axes_x, axes_w))  # (N, *out, mg)
        parts.append(np.moveaxis(y, -1, 1))
    y = parts[0] if group == 1 else np.concatenate(parts, axis=1)
    if bias is not None:
        y = y + bias.reshape((1, m) + (1,) * r)
    return y


def max_pool(x: np.ndarray, window: Window) -> np.ndarray:
    """Max over windows. Pads are filled with the tensor's minimum: every window holds a real entry, so the
    filler never exceeds the window's true maximum (the −∞ padding of ONNX, without needing −∞ exactly)."""
    out = out_spatial(x, window)
    low = x.min()
    xp = _spatial_pad(x, window, _overhang(tuple(x.shape[2:]), out, window), low)
    win = windows(xp, window, out)
    r = window.rank
    return win.max(axis=tuple(range(2 + r, 2 + 2 * r)))


def pool_counts(spatial: tuple[int, ...], window: Window, include_pad: bool) -> np.ndarray:
    """Divisor of AveragePool at each output position: window entries inside the input (or its pads)."""
    out = window.out_spatial(spatial)
    r = window.rank
    mask = np.ones((1, 1) + spatial, dtype=np.int64)
    mask = _spatial_pad(mask, window, (0,) * r, 1 if include_pad else 0)
    mask = pad_constant(mask, (0,) * (2 + r) + (0, 0) + _overhang(spatial, out, window), 0)
    return windows(mask, window, out).sum(axis=tuple(range(2 + r, 2 + 2 * r)))[0, 0]


def average_pool(x: np.ndarray, window: Window, include_pad: bool) -> np.ndarray:
    out = out_spatial(x, window)
    r = window.rank
    xp = _spatial_pad(x, window, _overhang(tuple(x.shape[2:]), out, window), zero_like(x))
    sums = windows(xp, window, out).sum(axis=tuple(range(2 + r, 2 + 2 * r)))
    counts = pool_counts(tuple(x.shape[2:]), window, include_pad)
    if is_exact(x):
        inv = np.vectorize(lambda c: Fraction(1, int(c)), otypes=[object])(counts)
        return sums * inv
    return sums / counts


def global_pool(x: np.ndarray, mode: str) -> np.ndarray:
    axes = tuple(range(2, x.ndim))
    if mode == "max":
        return x.max(axis=axes, keepdims=True)
    total = x.sum(axis=axes, keepdims=True)
    n = int(np.prod(x.shape[2:]))
    return total * Fraction(1, n) if is_exact(x) else total / n


def matmul(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    if is_exact(x) or is_exact(weight):
        x, weight = x.astype(object), weight.astype(object)
    return np.matmul(x, weight)


def exact_of(arr: np.ndarray) -> np.ndarray:
    """Object array of Fractions (float64 entries converted exactly; object arrays returned as they are)."""
    if arr.dtype == object:
        return arr
    out = np.empty(arr.shape, dtype=object)
    flat = out.reshape(-1)
    for i, v in enumerate(arr.reshape(-1)):
        flat[i] = Fraction(float(v)) if arr.dtype.kind == "f" else Fraction(int(v))
    return out


def float_of(arr: np.ndarray) -> np.ndarray:
    """float64 view of an exact array (rounds Fractions/Radicals; never used to decide anything)."""
    if arr.dtype == object:
        return np.array([float(v) for v in arr.reshape(-1)], dtype=np.float64).reshape(arr.shape)
    return arr.astype(np.float64, copy=False)


def padded_windows(x: np.ndarray, window: Window, value: object, ceil_overhang: bool) -> np.ndarray:
    """View (N, C, *out, *kernel) of the windows of (N, C, *S) padded with `value` by the window's pads (plus the
    ceil-mode overhang when `ceil_overhang`, as pooling reads it): what `conv`/`average_pool` slide over."""
    out = out_spatial(x, window)
    extra = _overhang(tuple(x.shape[2:]), out, window) if ceil_overhang else (0,) * window.rank
    return windows(_spatial_pad(x, window, extra, value), window, out)
