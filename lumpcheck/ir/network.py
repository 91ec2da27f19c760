"""The exact network IR: a chain of dense layers, every number an exact rational.

Weights are stored (out, in): row s is the incoming vector of neuron s. Arrays are float64 (the float
values are the exact dyadic rationals) or object arrays of Fractions (see `exact.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Sequence

import numpy as np

from .domain import Box
from .exact import FLOAT32_MAX, as_fractions, exact_array, to_fraction, to_float

ACTIVATIONS = ("identity", "relu", "leaky_relu", "sigmoid", "tanh")
PIECEWISE_LINEAR = ("identity", "relu", "leaky_relu")


@dataclass(frozen=True)
class Activation:
    """An element-wise activation; `alpha` is LeakyReLU's negative slope (exact)."""

    kind: str
    alpha: Fraction = Fraction(0)

    def __post_init__(self) -> None:
        if self.kind not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.kind!r}; known: {', '.join(ACTIVATIONS)}")
        object.__setattr__(self, "alpha", to_fraction(self.alpha))

    @property
    def piecewise_linear(self) -> bool:
        return self.kind in PIECEWISE_LINEAR

    def __str__(self) -> str:
        return f"leaky_relu({self.alpha})" if self.kind == "leaky_relu" else self.kind

    def exact(self, z: Fraction) -> Fraction:
        """σ(z) for rational z; only piecewise-linear activations have rational values in general."""
        if self.kind == "identity":
            return z
        if self.kind == "relu":
            return z if z > 0 else Fraction(0)
        if self.kind == "leaky_relu":
            return z if z >= 0 else self.alpha * z
        if self.kind == "sigmoid" and z == 0:
            return Fraction(1, 2)
        if self.kind == "tanh" and z == 0:
            return Fraction(0)
        raise ValueError(f"{self} of {z} is irrational; use evaluate_symbolic")

    def symbolic(self, z):  # sympy expression in, sympy expression out
        """σ(z) as an exact sympy expression (for sigmoid/tanh)."""
        import sympy

        if self.kind == "sigmoid":
            return 1 / (1 + sympy.exp(-z))
        if self.kind == "tanh":
            return sympy.tanh(z)
        if self.kind == "identity":
            return z
        if self.kind == "relu":
            return z if z > 0 else sympy.Integer(0)
        alpha = sympy.Rational(self.alpha.numerator, self.alpha.denominator)
        return z if z >= 0 else alpha * z

    def float(self, z: np.ndarray) -> np.ndarray:
        """σ(z) in floating point (candidate search, sampling; never decides)."""
        if self.kind == "identity":
            return z
        if self.kind == "relu":
            return np.maximum(z, 0)
        if self.kind == "leaky_relu":
            return np.where(z >= 0, z, float(self.alpha) * z)
        if self.kind == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        return np.tanh(z)


IDENTITY = Activation("identity")
RELU = Activation("relu")


@dataclass
class Layer:
    """A dense layer y = σ(W x + b), W of shape (out, in)."""

    weight: np.ndarray
    bias: np.ndarray
    activation: Activation = IDENTITY

    def __post_init__(self) -> None:
        self.weight = exact_array(self.weight)
        self.bias = exact_array(self.bias)
        if self.weight.ndim != 2:
            raise ValueError(f"weight must be 2-D (out, in), got shape {self.weight.shape}")
        if self.bias.shape != (self.weight.shape[0],):
            raise ValueError(f"bias shape {self.bias.shape} does not match weight shape {self.weight.shape}")
        for arr in (self.weight, self.bias):  # exact values are never changed in place (caches rely on it)
            arr.flags.writeable = False

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    @property
    def param_count(self) -> int:
        return self.weight.size + self.bias.size


@dataclass(frozen=True)
class Normalization:
    """The model's input and output maps around its layer chain (.nnet headers, ONNX Clip/Sub/Div/Mul/Add).

    One semantics, used by evaluation, bounds, proofs, the checker, `verify` and the writers: the model computes
        model(x) = out(layers(inp(clip(x))))
        clip(x)_i = min(max(x_i, input_min_i), input_max_i)   (no clipping when input_min/input_max are ())
        inp(x)_i  = (x_i - input_mean_i) / input_range_i
        out(y)_j  = y_j * output_range_j + output_mean_j     (a single mean/range is shared by all outputs)
    A clip side at or beyond ±FLOAT32_MAX means "no bound" on that side (the .nnet and ONNX convention).
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
        return (None if lo <= -FLOAT32_MAX else lo), (None if hi >= FLOAT32_MAX else hi)

    def clip(self, x: Sequence[Fraction]) -> list[Fraction]:
        """clip(x), exactly."""
        return [_clamp(v, *self.clip_bounds(i)) for i, v in enumerate(x)]

    def normalize_input(self, x: Sequence[Fraction]) -> list[Fraction]:
        """inp(clip(x)): what the layer chain receives for the model input x."""
        return [(v - m) / r for v, m, r in zip(self.clip(x), self.input_mean, self.input_range)]

    def output(self, y: Sequence[Fraction]) -> list[Fraction]:
        """out(y) for the layer chain's output y."""
        n = len(y)
        mean, rng = _per_output(self.output_mean, n), _per_output(self.output_range, n)
        return [v * r + m for v, r, m in zip(y, rng, mean)]

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

    def without_clip(self) -> "Normalization | None":
        """The same affine maps without clipping (None when nothing remains)."""
        bare = replace(self, input_min=(), input_max=())
        return None if bare.affine_identity else bare

    def _check_dim(self, box: Box) -> None:
        if box.dim != self.inputs:
            raise ValueError(f"the box has {box.dim} inputs but the normalisation {self.inputs}")


def _clamp(v: Fraction, lo: Fraction | None, hi: Fraction | None) -> Fraction:
    if lo is not None and v < lo:
        return lo
    if hi is not None and v > hi:
        return hi
    return v


def _per_output(values: tuple[Fraction, ...], n: int) -> tuple[Fraction, ...]:
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise ValueError(f"normalisation has {len(values)} output values for {n} outputs")
    return values


@dataclass
class Network:
    """A feed-forward chain of dense layers, plus where it came from."""

    layers: list[Layer]
    normalization: Normalization | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("a network needs at least one layer")
        for i in range(1, len(self.layers)):
            prev, cur = self.layers[i - 1], self.layers[i]
            if cur.in_features != prev.out_features:
                raise ValueError(
                    f"layer {i} takes {cur.in_features} inputs but layer {i - 1} gives {prev.out_features}"
                )

    @property
    def widths(self) -> list[int]:
        return [self.layers[0].in_features] + [layer.out_features for layer in self.layers]

    @property
    def input_size(self) -> int:
        return self.layers[0].in_features

    @property
    def output_size(self) -> int:
        return self.layers[-1].out_features

    @property
    def param_count(self) -> int:
        return sum(layer.param_count for layer in self.layers)

    @property
    def hidden_neurons(self) -> int:
        return sum(self.widths[1:-1])

    def shape_str(self) -> str:
        """Compact shape, e.g. '5-50x6-5'."""
        w = self.widths
        parts: list[str] = [str(w[0])]
        hidden = w[1:-1]
        i = 0
        while i < len(hidden):
            j = i
            while j < len(hidden) and hidden[j] == hidden[i]:
                j += 1
            parts.append(f"{hidden[i]}x{j - i}" if j - i > 1 else str(hidden[i]))
            i = j
        parts.append(str(w[-1]))
        return "-".join(parts)

    @property
    def piecewise_linear(self) -> bool:
        return all(layer.activation.piecewise_linear for layer in self.layers)


def evaluate(net: Network, x: Sequence[object]) -> list[Fraction]:
    """Exact output of a piecewise-linear model on a rational input (Fractions, ints, floats, sympy Rationals):
    its normalisation and input clipping included (see Normalization)."""
    v = [to_fraction(xi) for xi in x]
    if len(v) != net.input_size:
        raise ValueError(f"input has {len(v)} entries, network expects {net.input_size}")
    norm = net.normalization
    if norm is not None:
        v = norm.normalize_input(v)
    for layer in net.layers:
        w, b = as_fractions(layer.weight), as_fractions(layer.bias)
        z = [sum((wi * vi for wi, vi in zip(row, v)), b_s) for row, b_s in zip(w, b)]
        v = [layer.activation.exact(zs) for zs in z]
    return v if norm is None else norm.output(v)


def evaluate_symbolic(net: Network, x: Sequence[object]) -> list:
    """Exact output as sympy expressions (any activation, incl. sigmoid/tanh; normalisation and clipping
    included); slow, for tests and witnesses."""
    import sympy

    def rat(f: Fraction) -> "sympy.Rational":
        return sympy.Rational(f.numerator, f.denominator)

    x = [to_fraction(xi) for xi in x]
    norm = net.normalization
    v = [rat(xi) for xi in (x if norm is None else norm.normalize_input(x))]
    for layer in net.layers:
        w, b = as_fractions(layer.weight), as_fractions(layer.bias)
        z = [sympy.Add(rat(bs), *[rat(wi) * vi for wi, vi in zip(row, v) if wi != 0]) for row, bs in zip(w, b)]
        v = [layer.activation.symbolic(zs) for zs in z]
    if norm is not None:
        n = len(v)
        v = [vi * rat(r) + rat(m) for vi, r, m in zip(v, _per_output(norm.output_range, n), _per_output(norm.output_mean, n))]
    return v


def evaluate_float(net: Network, x: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Float forward pass of the model (normalisation and clipping included) on a batch (n, in) or a single
    input (in,); for sampling, never decides."""
    v = np.asarray(x, dtype=dtype)
    single = v.ndim == 1
    v = np.atleast_2d(v)
    norm = net.normalization
    if norm is not None:
        lo = np.array([-np.inf if a is None else float(a) for a, _ in map(norm.clip_bounds, range(norm.inputs))])
        hi = np.array([np.inf if b is None else float(b) for _, b in map(norm.clip_bounds, range(norm.inputs))])
        mean = np.array([float(m) for m in norm.input_mean], dtype=dtype)
        rng = np.array([float(r) for r in norm.input_range], dtype=dtype)
        v = (np.clip(v, lo, hi).astype(dtype) - mean) / rng
    for layer in net.layers:
        w = to_float(layer.weight).astype(dtype, copy=False)
        b = to_float(layer.bias).astype(dtype, copy=False)
        v = layer.activation.float(v @ w.T + b)
    if norm is not None:
        n = v.shape[1]
        v = v * np.array([float(r) for r in _per_output(norm.output_range, n)], dtype=dtype) + np.array(
            [float(m) for m in _per_output(norm.output_mean, n)], dtype=dtype)
    return v[0] if single else v


def layers_only(net: Network) -> Network:
    """The layer chain alone (normalisation and clipping metadata removed): a different function unless it had none."""
    return net if net.normalization is None else replace(net, normalization=None)


def fold_output_map(net: Network) -> Network:
    """The same model with its output map out(y) = y·range + mean folded exactly into the last layer.

    ValueError when the output activation is not the identity (the map cannot pass through it)."""
    norm = net.normalization
    if norm is None or (set(norm.output_range) <= {1} and set(norm.output_mean) <= {0}):
        return net
    last = net.layers[-1]
    if last.activation.kind != "identity":
        raise ValueError(f"the output map cannot be folded through the output activation {last.activation}")
    scale = np.array(_per_output(norm.output_range, last.out_features), dtype=object)
    shift = np.array(_per_output(norm.output_mean, last.out_features), dtype=object)
    layers = [*net.layers[:-1], Layer(as_fractions(last.weight) * scale[:, None], as_fractions(last.bias) * scale + shift,
                                      last.activation)]
    rest = replace(norm, output_mean=(Fraction(0),), output_range=(Fraction(1),))
    return replace(net, layers=layers, normalization=None if rest.affine_identity and not rest.has_clip else rest)


def fold_normalization(net: Network) -> Network:
    """The same model with the affine input/output maps folded exactly into the first/last layer. The input
    clip is never dropped: it stays as the only normalisation left (None when there is no clip).

    ValueError when the output map cannot be folded (a non-identity output activation)."""
    net = fold_output_map(net)
    norm = net.normalization
    if norm is None or norm.affine_identity:
        return net
    first = net.layers[0]
    mean_in = np.array(norm.input_mean, dtype=object)
    range_in = np.array(norm.input_range, dtype=object)
    w = as_fractions(first.weight) / range_in[None, :]
    b = as_fractions(first.bias) - w.dot(mean_in)
    n = net.input_size
    clip = None if not norm.has_clip else Normalization(
        (Fraction(0),) * n, (Fraction(1),) * n, (Fraction(0),), (Fraction(1),), norm.input_min, norm.input_max)
    return replace(net, layers=[Layer(w, b, first.activation), *net.layers[1:]], normalization=clip)
