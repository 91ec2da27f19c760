"""The dense chain an ONNX graph is read into: layers, and the element-wise maps still waiting for their place.

Ops on the data stream (io/onnx/ops.py) extend a `Chain`: Gemm/MatMul open a dense layer, activations close it,
element-wise affine maps are folded into the neighbouring layer exactly or kept as the model's input/output
normalisation, and clipping of the raw input becomes the normalisation's clip (see `Chain`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from math import inf

import numpy as np

from ...errors import UnsupportedModelError
from ...ir.activation import IDENTITY, Activation
from ...ir.exact import NO_CLIP, as_fractions, canonical, exact_add, exact_scale
from ...ir.network import Layer
from ...ir.normalization import Normalization
from ...ir.rounding import unbounded

_Map = tuple[np.ndarray, np.ndarray]  # element-wise v -> scale*v + shift, exact


@dataclass
class Chain:
    """Dense layers read so far, plus the affine maps still waiting for their place.

    `open` is a dense layer (W, b) not yet closed by an activation; `bias_open` says its bias is still to
    come (MatMul, Gemm without C), so constant Adds right after it are that bias. `pending` is the element-wise
    map seen since then (or since the last activation). Where it ends up is decided late: before the first
    layer it becomes the input normalisation (if invertible), after the last one the output normalisation,
    anywhere else it is folded exactly into the neighbouring layer. `clip` is clipping of the raw input
    (per-feature lower and upper bounds, ±inf where there is none).
    """

    width: int
    layers: list[Layer] = field(default_factory=list)
    open: _Map | None = None
    bias_open: bool = False
    pending: _Map | None = None
    clip: tuple[list, list] | None = None
    input_map: _Map | None = None
    output_map: _Map | None = None

    def affine(self, scale: np.ndarray, shift: np.ndarray) -> None:
        """v -> scale*v + shift, element-wise (exact)."""
        if _all_equal(scale, 1) and _all_equal(shift, 0):
            return
        if self.open is not None and self.bias_open and self.pending is None and _all_equal(scale, 1):
            w, b = self.open
            self.open = (w, _affine(b, scale, shift))
            return
        self.bias_open = False
        s, t = self.pending or (np.ones(self.width), np.zeros(self.width))
        self.pending = (canonical(as_fractions(s) * as_fractions(scale)), _affine(t, scale, shift))

    def clamp(self, lower: np.ndarray | None, upper: np.ndarray | None) -> None:
        """Clip to [lower, upper] per feature (None: no bound); only the raw input can be clipped."""
        if self.layers or self.open is not None or self.pending is not None:
            raise UnsupportedModelError(
                "clips data that is not the raw input; lumpcheck reads clipping only as the first step (input clipping)"
            )
        lo, hi = self.clip or ([-inf] * self.width, [inf] * self.width)
        a = [-inf] * self.width if lower is None else list(lower)
        b = [inf] * self.width if upper is None else list(upper)
        # clamp[a,b] after clamp[lo,hi] is clamp[g(lo), g(hi)] with g = clamp[a,b] (monotone, lo <= hi)
        self.clip = (_clamped(lo, a, b), _clamped(hi, a, b))

    def dense(self, weight: np.ndarray, bias: np.ndarray, bias_open: bool) -> None:
        """v -> W v + b: a new layer (a still open one is closed with the identity; matrices are never multiplied)."""
        self._settle()
        if self.open is not None:
            self.layers.append(Layer(*self.open, IDENTITY))
        if self.pending is not None:  # between an activation and this layer: folded into its columns
            s, t = self.pending
            w = as_fractions(weight)
            bias = canonical(as_fractions(bias) + w.dot(as_fractions(t)))
            weight = canonical(w * as_fractions(s)[None, :])
        self.open, self.pending, self.bias_open, self.width = (weight, bias), None, bias_open, weight.shape[0]

    def activate(self, activation: Activation) -> None:
        """Close the pending affine map with `activation` (an identity-weight layer if none is pending)."""
        self._settle()
        if self.open is not None:
            w, b = self.open
        else:
            s, t = self.pending or (np.ones(self.width), np.zeros(self.width))
            w, b = np.diag(s), t
        self.layers.append(Layer(w, b, activation))
        self.open, self.pending, self.bias_open = None, None, False

    def finish(self) -> list[Layer]:
        """All layers (the pending map after the last layer becomes the output map)."""
        if self.layers or self.open is not None:
            self.output_map, self.pending = self.pending, None
        if self.open is not None or not self.layers:
            self.activate(IDENTITY)
        return self.layers

    def _settle(self) -> None:
        """Before a layer: fold the pending map into the open layer's rows, or keep it as input normalisation."""
        if self.pending is None:
            return
        if self.open is not None:
            (w, b), (s, t) = self.open, self.pending
            self.open, self.pending = (canonical(as_fractions(w) * as_fractions(s)[:, None]), _affine(b, s, t)), None
        elif not self.layers and not np.any(self.pending[0] == 0):
            self.input_map, self.pending = self.pending, None

    def normalization(self) -> Normalization | None:
        """The input map, output map and clipping as exact metadata; None when all are the identity.

        x_net = s x + t is (x - mean)/range with range = 1/s, mean = -t/s. Input values are per feature;
        output values are one shared value when they are all equal (as in .nnet), else one per output.
        """
        n_in, n_out = self.layers[0].in_features, self.layers[-1].out_features
        s, t = (as_fractions(v) for v in self.input_map or (np.ones(n_in), np.zeros(n_in)))
        ranges = tuple(1 / Fraction(v) for v in s)
        means = tuple(-Fraction(tv) * r for tv, r in zip(t, ranges))
        out_range, out_mean = (_shared(as_fractions(v)) for v in self.output_map or (np.ones(n_out), np.zeros(n_out)))
        lower, upper = _clip_bounds(self.clip)
        if not lower and set(means) <= {0} and set(ranges) <= {1} and (out_mean, out_range) == ((0,), (1,)):
            return None
        return Normalization(means, ranges, out_mean, out_range, lower, upper)


def _clamped(values: list, lower: list, upper: list) -> list:
    return [min(max(v, a), b) for v, a, b in zip(values, lower, upper)]


def _shared(values: np.ndarray) -> tuple[Fraction, ...]:
    """(v,) when all values equal v, else all of them."""
    first = Fraction(values[0])
    return (first,) if all(v == first for v in values) else tuple(Fraction(v) for v in values)


def _clip_bounds(clip: tuple[list, list] | None) -> tuple[tuple[Fraction, ...], tuple[Fraction, ...]]:
    """Clip bounds as Normalization holds them: () for no clipping, else both sides, a missing (or infinite) bound
    ±NO_CLIP. Every finite bound is kept as it is, ±FLOAT32_MAX included (a float64 model clips there)."""
    if clip is None or (unbounded(clip[0], upper=False) and unbounded(clip[1], upper=True)):
        return (), ()
    lower = tuple(-NO_CLIP if v == -inf else Fraction(v) for v in clip[0])
    return lower, tuple(NO_CLIP if v == inf else Fraction(v) for v in clip[1])


def _affine(v: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """scale*v + shift exactly: in float64 when both roundings are proven exact (ir.exact's error-free checks; a
    MatMul's bias Add is 1*0 + b), else in Fractions. Either way the canonical array of the exact values
    (+ 0.0 turns a -0.0 into the 0.0 that canonical gives)."""
    if all(a.dtype.kind == "f" for a in (v, scale, shift)):
        v, scale, shift = (a.astype(np.float64, copy=False) for a in (v, scale, shift))
        if np.all(np.isfinite(v)) and np.all(np.isfinite(scale)) and np.all(np.isfinite(shift)):
            product, inexact = exact_scale(v, scale)
            total, unsure = exact_add(product, shift)
            if not (inexact.any() or unsure.any()):
                return total + 0.0
    return canonical(as_fractions(v) * as_fractions(scale) + as_fractions(shift))


def _all_equal(arr: np.ndarray, value: int) -> bool:
    return bool(np.all(arr == value))
