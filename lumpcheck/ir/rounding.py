"""Honest float export: round every exact parameter to float32/float64 and report exactly what changed.

Rounding is to nearest, ties to even, from the exact value: float64 via `float(Fraction)` (CPython divides
the integers correctly rounded); float32 by comparing the neighbours of a first guess exactly, because
rounding to float64 first and then to float32 ("double rounding") is wrong when the float64 value lands
on a float32 midpoint that the exact value is not on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..errors import LumpcheckError
from .activation import Activation
from .exact import FLOAT32_MAX, NO_CLIP
from .network import Layer, Network
from .normalization import Normalization

DTYPES = ("float32", "float64")
_FLOAT32_OVERFLOW = FLOAT32_MAX + Fraction(2) ** 103  # FLOAT32_MAX + half an ulp: from here on, rounds to inf


class FloatRangeError(LumpcheckError, OverflowError):
    """A parameter is too large for the target float type (it would become infinite)."""


@dataclass(frozen=True)
class RoundingReport:
    """What rounding to `dtype` changed: counts and the exact largest absolute and relative changes."""

    dtype: str
    total: int
    rounded: int
    max_abs_change: Fraction
    max_rel_change: Fraction
    per_layer: list[int]
    normalization: int = 0  # how many of the rounded values are normalisation constants (in `rounded` too)

    @property
    def exact(self) -> bool:
        """True when every parameter was already a `dtype` value (the export computes the same function)."""
        return self.rounded == 0

    def summary(self) -> str:
        """One line for users, e.g. 'float32: 12 of 13305 parameters rounded (max |change| 1.2e-08, ...)'."""
        if self.exact:
            return f"{self.dtype}: all {self.total} parameters exact"
        norm = f", {self.normalization} of them normalisation constants" if self.normalization else ""
        return (
            f"{self.dtype}: {self.rounded} of {self.total} parameters rounded{norm} "
            f"(max |change| {float(self.max_abs_change):.3g}, max relative change {float(self.max_rel_change):.3g})"
        )


def nearest_float64(x: Fraction) -> float:
    """The float64 nearest to x (ties to even); OverflowError beyond the float64 range."""
    return float(x)


def nearest_float32(x: Fraction) -> float:
    """The float32 nearest to x (ties to even), as a Python float; OverflowError beyond the float32 range."""
    if abs(x) >= _FLOAT32_OVERFLOW:
        raise OverflowError(f"{_show(x)} is beyond the float32 range")
    limit = float(FLOAT32_MAX)
    guess = np.float32(min(max(float(x), -limit), limit))
    with np.errstate(over="ignore"):  # the neighbour of FLOAT32_MAX is inf (filtered out below)
        neighbours = (np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf)))
    best = min(
        (c for c in neighbours if np.isfinite(c)),
        key=lambda c: (abs(Fraction(float(c)) - x), int(c.view(np.uint32)) & 1),
    )
    return float(best)


@dataclass
class _Tally:
    """Running count and exact maxima of the changes made so far."""

    total: int = 0
    rounded: int = 0
    max_abs: Fraction = Fraction(0)
    max_rel: Fraction = Fraction(0)

    def add(self, exact: Fraction, rounded: float) -> None:
        self.total += 1
        change = abs(Fraction(rounded) - exact)
        if change:
            self.rounded += 1
            self.max_abs = max(self.max_abs, change)
            self.max_rel = max(self.max_rel, change / abs(exact))


def round_network(net: Network, dtype: str) -> tuple[Network, RoundingReport]:
    """Round every weight, bias, LeakyReLU slope and normalisation constant to `dtype` ('float32'/'float64')."""
    return _rounded(net, dtype, keep=True)


def rounding_report(net: Network, dtype: str) -> RoundingReport:
    """`round_network`'s report alone: one layer's rounded copy alive at a time (peak memory)."""
    return _rounded(net, dtype, keep=False)[1]


def _rounded(net: Network, dtype: str, keep: bool) -> tuple[Network, RoundingReport]:
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    tally, per_layer, layers = _Tally(), [], []
    for i, layer in enumerate(net.layers):
        before = tally.rounded
        weight = _round_array(layer.stored_weight, dtype, tally, f"layer {i} weight", keep)
        bias = _round_array(layer.stored_bias, dtype, tally, f"layer {i} bias", keep)
        activation = _round_activation(layer.activation, dtype, tally, f"layer {i} activation")
        layers.append(Layer(weight, bias, activation) if keep else layer)
        del weight, bias
        per_layer.append(tally.rounded - before)
    before = tally.rounded
    norm = None if net.normalization is None else _round_normalization(net.normalization, dtype, tally)
    report = RoundingReport(
        dtype, tally.total, tally.rounded, tally.max_abs, tally.max_rel, per_layer, tally.rounded - before
    )
    return replace(net, layers=layers, normalization=norm, meta={**net.meta, "dtype": dtype}), report


def unbounded(bounds: Sequence[Fraction | float], upper: bool) -> bool:
    """True when every clip bound is at or beyond ±NO_CLIP on its open side (infinite ones included): no clipping."""
    return all(b >= NO_CLIP if upper else b <= -NO_CLIP for b in bounds)


def stored_as_reciprocals(ranges: Sequence[Fraction], dtype: str) -> bool:
    """True when the input ranges are not all `dtype` values but their reciprocals are: a file multiplies by those."""
    return not _representable(ranges, dtype) and 0 not in ranges and _representable([1 / r for r in ranges], dtype)


def _representable(values: Sequence[Fraction], dtype: str) -> bool:
    nearest = nearest_float32 if dtype == "float32" else nearest_float64
    try:
        return all(Fraction(nearest(v)) == v for v in values)
    except OverflowError:
        return False


def _round_normalization(norm: Normalization, dtype: str, tally: _Tally) -> Normalization:
    """The normalisation a `dtype` file stores: clip sides meaning 'no clipping' are not stored (kept as they are),
    ranges are stored as reciprocals when only those are exact (see `stored_as_reciprocals`), the rest rounded."""

    def rounded(values: tuple[Fraction, ...], name: str) -> tuple[Fraction, ...]:
        out = _round_array(np.array(values, dtype=object), dtype, tally, f"normalisation {name}")
        return tuple(Fraction(float(v)) for v in out)

    def clip(bounds: tuple[Fraction, ...], upper: bool, name: str) -> tuple[Fraction, ...]:
        if unbounded(bounds, upper):
            return bounds
        kept = [i for i, v in enumerate(bounds) if abs(v) < NO_CLIP]  # sides without a bound stay as they are
        out = list(bounds)
        for i, v in zip(kept, rounded(tuple(bounds[i] for i in kept), name)):
            out[i] = v
        return tuple(out)

    input_range = norm.input_range
    if stored_as_reciprocals(input_range, dtype):
        tally.total += len(input_range)
    else:
        input_range = rounded(input_range, "input_range")
    return Normalization(
        rounded(norm.input_mean, "input_mean"),
        input_range,
        rounded(norm.output_mean, "output_mean"),
        rounded(norm.output_range, "output_range"),
        clip(norm.input_min, False, "input_min"),
        clip(norm.input_max, True, "input_max"),
    )


def _round_array(arr: np.ndarray, dtype: str, tally: _Tally, where: str, keep: bool = True) -> np.ndarray:
    """Float64 array holding the `dtype` values nearest to the exact entries of `arr` (a float32 `arr` is returned as
    it is: both types hold its values); updates the tally. Without `keep`, only the tally is wanted: the result may
    be `arr` itself."""
    if arr.dtype == np.float32:
        tally.total += arr.size
        return arr
    if arr.dtype == np.float64:
        return _round_float64_array(arr, dtype, tally, where, keep)
    flat = arr.reshape(-1)
    out = np.empty(flat.size, dtype=np.float64)
    for i, x in enumerate(flat):
        try:
            out[i] = nearest_float64(x)
        except OverflowError:
            raise _range_error(x, dtype, where, np.unravel_index(i, arr.shape)) from None
    if dtype == "float32":
        # float64 -> float32 after float(x) is right unless float(x) landed exactly on a float32 midpoint
        # (double rounding) or overflowed; those few are redone exactly.
        with np.errstate(over="ignore"):
            guess = out.astype(np.float32)
            lo = np.nextafter(guess, np.float32(-np.inf)).astype(np.float64)
            hi = np.nextafter(guess, np.float32(np.inf)).astype(np.float64)
        suspect = np.isinf(guess) | (out == (guess + lo) / 2) | (out == (guess + hi) / 2)
        out = guess.astype(np.float64)
        for i in np.flatnonzero(suspect):
            try:
                out[i] = nearest_float32(flat[i])
            except OverflowError:
                raise _range_error(flat[i], dtype, where, np.unravel_index(i, arr.shape)) from None
    for x, r in zip(flat, out):
        tally.add(x, r)
    return out.reshape(arr.shape)


def _range_error(x: Fraction, dtype: str, where: str, index: tuple) -> FloatRangeError:
    at = f"{where}[{', '.join(str(int(i)) for i in index)}]"
    return FloatRangeError(f"{_show(x)} is beyond the {dtype} range", where=at)


def _show(x: Fraction) -> str:
    """Short text of a possibly huge rational (float() overflows beyond 2**1024)."""
    try:
        return f"{float(x):.6g}"
    except OverflowError:
        digits = len(str(abs(x.numerator))) - len(str(x.denominator))
        return f"{'-' if x < 0 else ''}~1e{digits}"


def _round_float64_array(arr: np.ndarray, dtype: str, tally: _Tally, where: str, keep: bool) -> np.ndarray:
    """Vectorised path for float64 input: float64 is exact already; the float64->float32 cast is correctly rounded.
    Blocks of rows at a time (the temporaries stay small: peak memory); without `keep`, `arr` is returned (the
    rounded values are only tallied)."""
    tally.total += arr.size
    if dtype == "float64" or arr.size == 0:
        return arr
    rows = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(-1, 1)
    out = np.empty(rows.shape, dtype=np.float64) if keep else None
    step = max(1, ROUNDING_BLOCK // rows.shape[1])
    for start in range(0, rows.shape[0], step):
        block = rows[start:start + step]
        rounded = _round_block(block, tally, lambda index: (
            Fraction(float(block[index])), dtype, where, np.unravel_index(start * rows.shape[1] + np.ravel_multi_index(
                index, block.shape), arr.shape)))
        if out is not None:
            out[start:start + step] = rounded
    return arr if out is None else out.reshape(arr.shape)


ROUNDING_BLOCK = 1 << 16
"""Entries per block of `_round_float64_array`."""


def _round_block(block: np.ndarray, tally: _Tally, overflow_at) -> np.ndarray:
    """A 2-D float64 block rounded to float32 (as float64), its changes tallied; overflow_at(index) gives the
    arguments of the range error for the block entry at index."""
    with np.errstate(over="ignore"):
        out = block.astype(np.float32).astype(np.float64)
    overflow = np.argwhere(np.isinf(out))
    if overflow.size:
        raise _range_error(*overflow_at(tuple(overflow[0])))
    # |x - round32(x)| is exact in float64: both have the same sign and lie within a factor 2 (Sterbenz).
    change = np.abs(block - out)
    changed = change != 0
    count = int(np.count_nonzero(changed))
    if count:
        tally.rounded += count
        tally.max_abs = max(tally.max_abs, Fraction(float(change.max())))
        rel = np.zeros_like(change)
        rel[changed] = change[changed] / np.abs(block[changed])
        # Correctly rounded division is monotone, so the exact maximum is among the float maxima.
        for index in np.argwhere(rel == rel.max()):
            i = tuple(index)
            tally.max_rel = max(tally.max_rel, Fraction(float(change[i])) / abs(Fraction(float(block[i]))))
    return out


def _round_activation(act: Activation, dtype: str, tally: _Tally, where: str) -> Activation:
    """LeakyReLU's slope is a parameter too: round it like a weight."""
    if act.kind != "leaky_relu":
        return act
    alpha = _round_array(np.array([act.alpha], dtype=object), dtype, tally, where)[0]
    return Activation(act.kind, Fraction(float(alpha)))
