"""The exact network IR: a chain of dense layers, every number an exact rational.

Weights are stored (out, in): row s is the incoming vector of neuron s. Arrays are float64 (the float
values are the exact dyadic rationals) or object arrays of Fractions (see `exact.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Sequence

import numpy as np

from .exact import as_fractions, exact_array, to_fraction, to_float

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
    """Affine input/output normalisation kept as metadata (e.g. from .nnet headers).

    The network computes y_raw = y_net * output_range + output_mean on x_net = (x_raw - input_mean) / input_range.
    """

    input_mean: tuple[Fraction, ...]
    input_range: tuple[Fraction, ...]
    output_mean: tuple[Fraction, ...]
    output_range: tuple[Fraction, ...]
    input_min: tuple[Fraction, ...] = ()
    input_max: tuple[Fraction, ...] = ()


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
    """Exact output of a piecewise-linear network on a rational input (Fractions, ints, floats, sympy Rationals)."""
    v = [to_fraction(xi) for xi in x]
    if len(v) != net.input_size:
        raise ValueError(f"input has {len(v)} entries, network expects {net.input_size}")
    for layer in net.layers:
        w, b = as_fractions(layer.weight), as_fractions(layer.bias)
        z = [sum((wi * vi for wi, vi in zip(row, v)), b_s) for row, b_s in zip(w, b)]
        v = [layer.activation.exact(zs) for zs in z]
    return v


def evaluate_symbolic(net: Network, x: Sequence[object]) -> list:
    """Exact output as sympy expressions (any activation, incl. sigmoid/tanh); slow, for tests and witnesses."""
    import sympy

    def rat(f: Fraction) -> "sympy.Rational":
        return sympy.Rational(f.numerator, f.denominator)

    v = [rat(to_fraction(xi)) for xi in x]
    for layer in net.layers:
        w, b = as_fractions(layer.weight), as_fractions(layer.bias)
        z = [sympy.Add(rat(bs), *[rat(wi) * vi for wi, vi in zip(row, v) if wi != 0]) for row, bs in zip(w, b)]
        v = [layer.activation.symbolic(zs) for zs in z]
    return v


def evaluate_float(net: Network, x: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Float forward pass on a batch (n, in) or a single input (in,); for sampling, never decides."""
    v = np.asarray(x, dtype=dtype)
    single = v.ndim == 1
    v = np.atleast_2d(v)
    for layer in net.layers:
        w = to_float(layer.weight).astype(dtype, copy=False)
        b = to_float(layer.bias).astype(dtype, copy=False)
        v = layer.activation.float(v @ w.T + b)
    return v[0] if single else v


def fold_normalization(net: Network) -> Network:
    """Fold the input/output normalisation into the first/last layer (exactly), dropping the metadata."""
    norm = net.normalization
    if norm is None:
        return net
    first, last = net.layers[0], net.layers[-1]
    mean_in = np.array(norm.input_mean, dtype=object)
    range_in = np.array(norm.input_range, dtype=object)
    if any(r == 0 for r in range_in):
        raise ValueError("input range 0 cannot be folded")
    w = as_fractions(first.weight) / range_in[None, :]
    b = as_fractions(first.bias) - w.dot(mean_in)
    layers = list(net.layers)
    layers[0] = Layer(w, b, first.activation)
    if len(norm.output_range) not in (1, last.out_features):
        raise ValueError("output normalisation size does not match the output layer")
    if last.activation.kind != "identity" and (any(r != 1 for r in norm.output_range) or any(norm.output_mean)):
        raise ValueError("output normalisation cannot be folded through a non-identity output activation")
    out_layer = layers[-1]
    scale = np.array(np.broadcast_to(np.array(norm.output_range, dtype=object), (out_layer.out_features,)))
    shift = np.array(np.broadcast_to(np.array(norm.output_mean, dtype=object), (out_layer.out_features,)))
    layers[-1] = Layer(
        as_fractions(out_layer.weight) * scale[:, None], as_fractions(out_layer.bias) * scale + shift, out_layer.activation
    )
    return replace(net, layers=layers, normalization=None)
