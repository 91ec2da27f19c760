"""A model's input clipping and normalisation and its output map: part of what the model computes."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

from .domain import Box
from .exact import NO_CLIP, to_fraction


@dataclass(frozen=True)
class Normalization:
    """The model's input and output maps around its layer chain (.nnet headers, ONNX Clip/Sub/Div/Mul/Add).

    One semantics, used by evaluation, bounds, proofs, the checker, `verify` and the writers: the model computes
        model(x) = out(layers(inp(clip(x))))
        clip(x)_i = min(max(x_i, input_min_i), input_max_i)   (no clipping when input_min/input_max are ())
        inp(x)_i  = (x_i - input_mean_i) / input_range_i
        out(y)_j  = y_j * output_range_j + output_mean_j     (a single mean/range is shared by all outputs)
    A clip side at or beyond ±NO_CLIP (2^1024, beyond every float) means "no bound" on that side.
    """

    input_mean: tuple[Fraction, ...]
    input_range: tuple[Fraction, ...]
    output_mean: tuple[Fraction, ...]
    output_range: tuple[Fraction, ...]
    input_min: tuple[Fraction, ...] = ()
    input_max: tuple[Fraction, ...] = ()

    def __post_init__(self) -> None:
        for name in ("input_mean", "input_range", "output_mean", "output_range", "input_min", "input_max"):
            object.__setattr__(self, name, tuple(to_fraction(v) for v in getattr(self, name)))
        if len(self.input_mean) != len(self.input_range):
            raise ValueError(f"normalisation: {len(self.input_mean)} input means but {len(self.input_range)} ranges")
        if len(self.input_min) != len(self.input_max) or len(self.input_min) not in (0, len(self.input_mean)):
            raise ValueError(f"normalisation: {len(self.input_min)} input minimums and {len(self.input_max)} maximums "
                             f"for {len(self.input_mean)} inputs (both 0 or one per input)")
        if 0 in self.input_range:
            raise ValueError(f"normalisation: input range 0 at input {self.input_range.index(0)} (division by zero)")
        if not self.output_mean or not self.output_range:
            raise ValueError("normalisation: the output mean and range need at least one value each")
        inverted = [i for i, (lo, hi) in enumerate(zip(self.input_min, self.input_max)) if lo > hi]
        if inverted:  # min(max(x, lo), hi) is then the constant hi, and no clip form here (nor clip_as_layer) says so
            i = inverted[0]
            raise ValueError(f"normalisation: input {i}'s clip range is inverted (minimum {self.input_min[i]} > "
                             f"maximum {self.input_max[i]}); a clip range needs minimum <= maximum")
        if self.input_min and all(lo is None and hi is None for lo, hi in map(self.clip_bounds, range(self.inputs))):
            object.__setattr__(self, "input_min", ())
            object.__setattr__(self, "input_max", ())

    @property
    def inputs(self) -> int:
        return len(self.input_mean)

    @property
    def has_clip(self) -> bool:
        return bool(self.input_min)

    @property
    def affine_identity(self) -> bool:
        """True when inp and out are identities (only the clip, if any, remains)."""
        return (set(self.input_mean) <= {0} and set(self.input_range) <= {1}
                and set(self.output_mean) <= {0} and set(self.output_range) <= {1})

    def clip_bounds(self, i: int) -> tuple[Fraction | None, Fraction | None]:
        """Input i's clip range (None: no bound on that side)."""
        if not self.input_min:
            return None, None
        lo, hi = self.input_min[i], self.input_max[i]
        return (None if lo <= -NO_CLIP else lo), (None if hi >= NO_CLIP else hi)

    def clip_held(self, limit: Fraction) -> tuple[list[Fraction], list[Fraction]]:
        """(input_min, input_max) with every side beyond ±limit (a side without a bound, ±NO_CLIP) held at ±limit:
        the clip a format with finite numbers only holds, the same on every input of that format (limit: its largest
        number)."""
        return [max(v, -limit) for v in self.input_min], [min(v, limit) for v in self.input_max]

    def clip(self, x: Sequence[Fraction]) -> list[Fraction]:
        """clip(x), exactly."""
        return [_clamp(v, *self.clip_bounds(i)) for i, v in enumerate(x)]

    def normalize_input(self, x: Sequence[Fraction]) -> list[Fraction]:
        """inp(clip(x)): what the layer chain receives for the model input x."""
        return [(v - m) / r for v, m, r in zip(self.clip(x), self.input_mean, self.input_range)]

    def output(self, y: Sequence, lift: Callable[[Fraction], object] = lambda q: q) -> list:
        """out(y) for the layer chain's output y; lift(q) turns the map's Fractions into y's kind of number (sympy,
        mpmath intervals) for evaluators that are not exact in Fractions."""
        n = len(y)
        mean, rng = per_output(self.output_mean, n), per_output(self.output_range, n)
        return [v * lift(r) + lift(m) for v, r, m in zip(y, rng, mean)]

    def input_box(self, box: Box) -> Box:
        """The box of layer-chain inputs that the model inputs in `box` reach: clip, then inp (exact and onto)."""
        self._check_dim(box)
        lower, upper = [], []
        for i, (lo, hi) in enumerate(zip(box.lower, box.upper)):
            bounds = self.clip_bounds(i)
            a, b = (_clamp(lo, *bounds) - self.input_mean[i]) / self.input_range[i], \
                (_clamp(hi, *bounds) - self.input_mean[i]) / self.input_range[i]
            lower.append(min(a, b))
            upper.append(max(a, b))
        return Box(tuple(lower), tuple(upper), box.source, box.output_constraints)

    def clipped_box(self, box: Box) -> Box:
        """clip(box): the box the model inputs in `box` are clipped onto (clip is monotone, so this is exact)."""
        self._check_dim(box)
        return Box(tuple(self.clip(box.lower)), tuple(self.clip(box.upper)), box.source, box.output_constraints)

    def box_from_normalized(self, box: Box) -> Box:
        """The model-input box whose points inp maps onto `box` (inp⁻¹, no clipping): for boxes given in the
        normalised coordinates of the layer chain (as VNN-COMP's ACAS Xu properties are)."""
        self._check_dim(box)
        lower, upper = [], []
        for lo, hi, m, r in zip(box.lower, box.upper, self.input_mean, self.input_range):
            a, b = lo * r + m, hi * r + m
            lower.append(min(a, b))
            upper.append(max(a, b))
        return Box(tuple(lower), tuple(upper), box.source, box.output_constraints)

    def effective_clip(self, box: Box | None) -> tuple[tuple[Fraction | None, Fraction | None], ...]:
        """Per input, the clip sides that bind somewhere on `box` (all of R^n when None): equal effective clips
        mean equal clipping of every point of the box."""
        out = []
        for i in range(self.inputs):
            lo, hi = self.clip_bounds(i)
            if box is not None:
                lo = lo if lo is not None and box.lower[i] < lo else None
                hi = hi if hi is not None and box.upper[i] > hi else None
            out.append((lo, hi))
        return tuple(out)

    def outside_clip(self, box: Box) -> list[tuple[int, str]]:
        """Inputs whose box interval reaches beyond the clip range: (i, 'partly' or 'wholly')."""
        self._check_dim(box)
        out = []
        for i, (lo, hi) in enumerate(zip(box.lower, box.upper)):
            a, b = self.clip_bounds(i)
            below, above = a is not None and lo < a, b is not None and hi > b
            if below or above:
                wholly = (a is not None and hi < a) or (b is not None and lo > b)
                out.append((i, "wholly" if wholly else "partly"))
        return out

    def _check_dim(self, box: Box) -> None:
        if box.dim != self.inputs:
            raise ValueError(f"the box has {box.dim} inputs but the normalisation {self.inputs}")


def _clamp(v: Fraction, lo: Fraction | None, hi: Fraction | None) -> Fraction:
    if lo is not None and v < lo:
        return lo
    if hi is not None and v > hi:
        return hi
    return v


def per_output(values: tuple[Fraction, ...], n: int) -> tuple[Fraction, ...]:
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise ValueError(f"normalisation has {len(values)} output values for {n} outputs")
    return values
