"""The exact network IR: a chain of dense layers, every number an exact rational.

Weights are stored (out, in): row s is the incoming vector of neuron s. Arrays are float64 (the float
values are the exact dyadic rationals) or object arrays of Fractions (see `ir/exact.py`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import InitVar, dataclass, field, replace
from fractions import Fraction
from typing import Sequence

import numpy as np

from .activation import IDENTITY, Activation
from .domain import Box
from .exact import all_finite, as_fractions, canonical, dyadic_ints, exact_array, to_float, to_fraction
from .normalization import Normalization, per_output


@dataclass(frozen=True)
class Layer:
    """A dense layer y = σ(W x + b), W of shape (out, in): frozen, its exact arrays read-only, checked when built.

    `weight` and `bias` are exact arrays: float64 (each float is its exact rational) or object arrays of Fractions.
    A float32 array (as most model files store weights) is kept as it is, at half the memory, since every float32 is
    exactly a float64: `stored_weight`/`stored_bias` give the arrays as stored (float32, float64 or object), and
    `weight`/`bias` widen a float32 one to float64 on first use (the float64 copy then replaces it). Code that can
    work on float32 (the reducer) reads the stored arrays and never causes the widening. A float64 array is taken as
    it is, not copied, and made read-only in place: whoever built it must not change it through another view either.

    `finite=True` skips the finiteness pass over float arrays (every other check runs): only for arrays PROVEN finite
    by construction, which is one fact in one place, `reduction.aggregate.Incoming` (exact aggregations of Layer
    arrays). It is not stored: `dataclasses.replace` builds a checked Layer again.
    """

    stored_weight: np.ndarray
    stored_bias: np.ndarray
    activation: Activation = IDENTITY
    finite: InitVar[bool] = False

    def __post_init__(self, finite: bool) -> None:
        weight, bias = _stored(self.stored_weight, finite), _stored(self.stored_bias, finite)
        if weight.ndim != 2:
            raise ValueError(f"weight must be 2-D (out, in), got shape {weight.shape}")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"bias shape {bias.shape} does not match weight shape {weight.shape}")
        if not isinstance(self.activation, Activation):
            raise TypeError(f"activation must be an Activation, e.g. Activation('relu'), got {self.activation!r}")
        for arr in (weight, bias):  # exact values are never changed in place (caches rely on it)
            arr.flags.writeable = False
        object.__setattr__(self, "stored_weight", weight)
        object.__setattr__(self, "stored_bias", bias)

    @property
    def weight(self) -> np.ndarray:
        """W as float64 (exact) or Fractions."""
        return self._widened("stored_weight")

    @property
    def bias(self) -> np.ndarray:
        """b as float64 (exact) or Fractions."""
        return self._widened("stored_bias")

    def _widened(self, name: str) -> np.ndarray:
        arr = getattr(self, name)
        if arr.dtype == np.float32:  # exact: float32 -> float64 never rounds
            arr = arr.astype(np.float64)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        return arr

    @property
    def in_features(self) -> int:
        return self.stored_weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.stored_weight.shape[0]

    @property
    def param_count(self) -> int:
        return self.stored_weight.size + self.stored_bias.size


def _stored(values: object, finite: bool) -> np.ndarray:
    """An exact array as a Layer stores it: float32 kept (finite values only), anything else as `exact_array`;
    `finite`: a float32/float64 array the caller proved finite is taken as it is, unread."""
    arr = np.asarray(values)
    if finite and arr.dtype in (np.float32, np.float64):
        return arr
    if arr.dtype != np.float32:
        return exact_array(arr)
    if not all_finite(arr):
        raise ValueError("array contains NaN or Inf")
    return arr


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
        return shape_of(self.widths)

    def outline(self) -> Outline:
        """Where the network came from, its widths and parameter count (no weights)."""
        return Outline(self.source, tuple(self.widths), self.param_count)

    @property
    def piecewise_linear(self) -> bool:
        return all(layer.activation.piecewise_linear for layer in self.layers)


@dataclass(frozen=True)
class Outline:
    """What a network handed over to the reducer (reduction/lumping.reduce with `release`) still tells: where it came
    from, its widths and parameter count. It holds no weights: nothing can be evaluated, proved or checked on it."""

    source: str
    widths: tuple[int, ...]
    param_count: int

    def __post_init__(self) -> None:
        if len(self.widths) < 2 or min(self.widths) < 0:
            raise ValueError(f"an outline needs an input and an output width, got {self.widths}")

    def shape_str(self) -> str:
        """Compact shape, e.g. '5-50x6-5' (as Network.shape_str)."""
        return shape_of(self.widths)


def shape_of(w: Sequence[int]) -> str:
    """Compact shape of a chain with widths `w`, e.g. '5-50x6-5'."""
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
    return v if norm is None else norm.output(v, rat)


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
        v = v * np.array([float(r) for r in per_output(norm.output_range, n)], dtype=dtype) + np.array(
            [float(m) for m in per_output(norm.output_mean, n)], dtype=dtype)
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
    scale = np.array(per_output(norm.output_range, last.out_features), dtype=object)
    shift = np.array(per_output(norm.output_mean, last.out_features), dtype=object)
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


def fix_inputs(net: Network, box: Box) -> Network:
    """The layer chain on the box's free inputs (`Box.free`, in order), each fixed input (lower == upper) folded
    exactly into the first layer's bias: for every x in the box, fix_inputs(net, box)(x[box.free]) == net(x).

    ValueError for a model with normalisation or clipping metadata (fold or compile it first), a box of another
    size, or first-layer weights that are not floats or Fractions (radicals: no exact products here)."""
    if net.normalization is not None:
        raise ValueError("fix_inputs takes a bare layer chain (the model carries normalisation or clipping metadata)")
    if box.dim != net.input_size:
        raise ValueError(f"the box has {box.dim} inputs but the network takes {net.input_size}")
    first, free = net.layers[0], list(box.free)
    w = first.weight
    if w.dtype == object and not all(type(v) is Fraction for v in w.reshape(-1)):
        raise ValueError("fix_inputs needs float or Fraction first-layer weights")
    fixed = [i for i in range(box.dim) if box.lower[i] == box.upper[i] and box.lower[i] != 0]
    bias = first.bias
    if fixed:
        bias = canonical(as_fractions(bias) + _exact_dot(w[:, fixed], [box.lower[i] for i in fixed]))
    return replace(net, layers=[Layer(w[:, free], bias, first.activation), *net.layers[1:]])


def _exact_dot(w: np.ndarray, values: list[Fraction]) -> np.ndarray:
    """w·values exactly, as Fractions. float64 w: in Python integers over one common denominator (w = W·2^-s,
    values = V/q), one gcd per row at the end; Fraction weights: in Fractions."""
    if w.dtype == object:
        return w.dot(np.array(values, dtype=object))
    ints, s = dyadic_ints(w)
    q = math.lcm(*(v.denominator for v in values))
    scaled = np.array([v.numerator * (q // v.denominator) for v in values], dtype=object)
    return np.array([Fraction(int(r), q << s) for r in ints.dot(scaled)], dtype=object)


def fingerprint(net: Network) -> str:
    """sha256 of the exact parameters and activations (what a certificate is about)."""
    h = hashlib.sha256()
    for layer in net.layers:
        h.update(f"{layer.activation}|{layer.weight.shape}|".encode())
        for arr in (layer.weight, layer.bias):
            if arr.dtype == np.float64:
                h.update(np.ascontiguousarray(arr).tobytes())
            else:
                h.update(",".join(map(_exact_text, arr.reshape(-1))).encode())
    return h.hexdigest()


def _exact_text(q) -> str:
    """'p/q' for a Fraction; 'r(n:p/q;…)' for a Radical Σ c·√n (radical chains, ir/graph/radical_chain.py), its
    terms in radicand order (both sides build a chain the same way from the same file, so the texts agree)."""
    terms = getattr(q, "terms", None)
    if terms is None:
        return f"{q.numerator}/{q.denominator}"
    return "r(" + ";".join(f"{n}:{c.numerator}/{c.denominator}" for n, c in sorted(terms.items())) + ")"
