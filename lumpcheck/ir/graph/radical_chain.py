"""Dense chains whose weights are exact radicals: a Gemm/BatchNorm/activation graph with BatchNorms folded exactly.

BatchNormalization multiplies by s = γ/√(var + ε), irrational in general, so the dense reader refuses such a
graph and `unroll` refuses it too (rows would need irrational weights). Here each BatchNorm (and any element-wise
map by constants) is folded into the neighbouring dense rows exactly, as `Radical` values Σ c·√n
(ir/graph/radical.py): W' = diag(s)·W, b' = s·b + t for a map after the layer, W' = W·diag(s), b' = b + W·t for a
map before it. The result is a `Network` of `RadicalLayer`s: the same function as the graph, every entry exact.

Who reads radical entries: code that takes a RadicalLayer must either decide with exact radical arithmetic or use a
rigorous enclosure. This module gives two:
- `radical_bounds(values, bits)`: integer arrays lo, hi with lo·2^-bits <= value <= hi·2^-bits (isqrt enclosures,
  no float), for every entry;
- `EnclosedNetwork`: an interval forward pass in Python integers scaled by 2^-bits; every output interval holds the
  exact output (midpoint-radius products, floor/ceil rescaling).
Floats of the entries (`float(v)`, nearest to a 80-bit enclosure's midpoint) only FIND candidates.

`radical_network` builds a chain only from one-input nodes in a line on a (1, n) tensor: MatMul (Gemm), element-wise
Affine maps, BatchNorm and activations, Identity/Reshape moving no number; anything else is NotRadicalChain (the
caller keeps the graph path), as is a graph with no irrational BatchNorm (the dense reader takes it exactly).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import prod

import numpy as np

from ..activation import IDENTITY, Activation
from ..exact import as_fractions, to_fraction
from ..network import Network
from .dag import Graph, Node
from .dense import NotDenseChain, chain_nodes
from .ops import Act, Affine, BatchNorm, Identity, MatMul, Reshape
from .radical import Radical

ENCLOSURE_BITS = 96
"""Fractional bits of the isqrt enclosures behind `radical_bounds` callers that need one fixed precision."""


class NotRadicalChain(ValueError):
    """The graph is not a dense chain with radical weights (the message names the node and why)."""


def _entries_ok(arr: np.ndarray) -> bool:
    if arr.dtype == np.float64:
        return bool(np.all(np.isfinite(arr)))
    return arr.dtype == object and all(isinstance(v, (Fraction, Radical)) for v in arr.reshape(-1))


@dataclass(frozen=True)
class RadicalLayer:
    """y = σ(W x + b), W (out, in): float64 (exact) or object arrays of Fractions and Radicals; read-only, checked."""

    weight: np.ndarray
    bias: np.ndarray
    activation: Activation = IDENTITY

    def __post_init__(self) -> None:
        w, b = np.asarray(self.weight), np.asarray(self.bias)
        if w.ndim != 2 or b.shape != (w.shape[0],):
            raise ValueError(f"radical layer: weight must be (out, in) and bias (out,), got {w.shape} and {b.shape}")
        for name, arr in (("weight", w), ("bias", b)):
            if not _entries_ok(arr):
                raise ValueError(f"radical layer {name}: entries must be finite float64, Fractions or Radicals")
            arr = arr.copy()
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        if not isinstance(self.activation, Activation):
            raise TypeError(f"activation must be an Activation, got {self.activation!r}")

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    @property
    def param_count(self) -> int:
        return self.weight.size + self.bias.size


def has_radicals(net: Network) -> bool:
    """True when some layer of `net` is a RadicalLayer (then exact Fraction-only code must not read it)."""
    return any(isinstance(layer, RadicalLayer) for layer in net.layers)


# ---------------------------------------------------------------- building the chain


def _batchnorm(op: BatchNorm) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (s, t) with BN(x) = s·x + t exactly: s = γ/√(var + ε) (a Radical or a Fraction)."""
    scale, shift = [], []
    for gamma, beta, mean, var in zip(*(a.reshape(-1) for a in (op.scale, op.bias, op.mean, op.var))):
        if to_fraction(var) + op.epsilon <= 0:
            raise NotRadicalChain(f"BatchNorm with var + ε = {to_fraction(var) + op.epsilon} <= 0 (no real scale)")
        s = to_fraction(gamma) * Radical.inverse_sqrt(to_fraction(var) + op.epsilon)
        scale.append(s)
        shift.append(to_fraction(beta) - to_fraction(mean) * s)
    return _objects(scale), _objects(shift)


def _objects(values) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


class _Builder:
    """Layers so far; `open` = (W, b) awaiting its activation; `pending` = element-wise (s, t) not yet placed."""

    def __init__(self, width: int):
        self.width = width
        self.layers: list[RadicalLayer] = []
        self.open: tuple[np.ndarray, np.ndarray] | None = None
        self.pending: tuple[np.ndarray, np.ndarray] | None = None

    def affine(self, s: np.ndarray, t: np.ndarray) -> None:
        if self.open is not None:
            w, b = self.open
            self.open = (w * s[:, None], b * s + t)
            return
        ps, pt = self.pending or (_objects([Fraction(1)] * self.width), _objects([Fraction(0)] * self.width))
        self.pending = (ps * s, pt * s + t)

    def dense(self, w: np.ndarray, b: np.ndarray) -> None:
        if self.open is not None:
            self.activate(IDENTITY)
        w, b = as_fractions(np.asarray(w, dtype=object if w.dtype == object else np.float64)), as_fractions(b)
        if self.pending is not None:
            ps, pt = self.pending
            b = b + w.dot(pt)
            w = w * ps[None, :]
            self.pending = None
        self.open, self.width = (w, b), w.shape[0]

    def activate(self, activation: Activation) -> None:
        if self.open is None:
            s, t = self.pending or (_objects([Fraction(1)] * self.width), _objects([Fraction(0)] * self.width))
            w = np.empty((self.width, self.width), dtype=object)
            w[...] = Fraction(0)
            w[np.arange(self.width), np.arange(self.width)] = s
            self.open = (w, t)
        self.layers.append(RadicalLayer(*(_simplified(a) for a in self.open), activation))
        self.open, self.pending = None, None


def _simplified(arr: np.ndarray) -> np.ndarray:
    """Entries as Radical.make gives them (a rational Radical becomes its Fraction)."""
    out = np.empty(arr.shape, dtype=object)
    out.reshape(-1)[:] = [v if type(v) is Fraction else Radical.make(v.terms) if isinstance(v, Radical) else Fraction(v)
                          for v in arr.reshape(-1)]
    return out


def radical_network(graph: Graph) -> Network:
    """The exact dense chain of `graph` with its BatchNorms folded as radicals; NotRadicalChain when the graph is
    not such a chain or has no irrational BatchNorm (then the other readers decide it exactly as they are)."""
    try:
        nodes = chain_nodes(graph)
    except NotDenseChain as exc:
        raise NotRadicalChain(str(exc)) from None
    shape = graph.inputs[0].shape
    if prod(shape[:-1]) != 1:
        raise NotRadicalChain(f"input shape {list(shape)} is not a (1, n) vector")
    b, irrational = _Builder(prod(shape)), False
    for node in nodes:
        out_shape = graph.shapes[node.output]
        irrational |= _step(b, node, shape, out_shape)
        shape = out_shape
    if not irrational:
        raise NotRadicalChain("no BatchNorm with an irrational scale (the exact dense readers take this graph)")
    if b.open is not None or b.pending is not None or not b.layers:
        b.activate(IDENTITY)
    meta = {"graph_input": (graph.inputs[0].name, graph.inputs[0].shape),
            "graph_output": (graph.outputs[0], graph.shapes[graph.outputs[0]])}  # fmt: skip
    return Network(b.layers, None, graph.meta.source, meta)  # type: ignore[arg-type]


def _step(b: _Builder, node: Node, shape, out_shape) -> bool:
    """Apply one node; True when it is a BatchNorm with an irrational scale."""
    op = node.op
    if prod(out_shape[:-1]) != 1:
        raise NotRadicalChain(f"{node.where()} gives shape {list(out_shape)}, not a (1, n) vector")
    if isinstance(op, (Identity, Reshape)):
        if prod(out_shape) != prod(shape):
            raise NotRadicalChain(f"{node.where()} changes the number of elements")
        return False
    if isinstance(op, MatMul) and op.weight.ndim == 2:
        bias = np.zeros(op.weight.shape[1]) if op.bias is None else np.broadcast_to(op.bias, out_shape).reshape(-1)
        b.dense(np.ascontiguousarray(op.weight.T), np.asarray(bias))
        return False
    if isinstance(op, (Affine, BatchNorm)):
        if prod(out_shape) != prod(shape):
            raise NotRadicalChain(f"{node.where()} broadcasts {list(shape)} to {list(out_shape)}")
        if isinstance(op, Affine):
            s = as_fractions(np.broadcast_to(op.scale, out_shape).reshape(-1).copy())
            t = as_fractions(np.broadcast_to(op.shift, out_shape).reshape(-1).copy())
            b.affine(s, t)
            return False
        s, t = _batchnorm(op)
        b.affine(np.broadcast_to(s, out_shape).reshape(-1), np.broadcast_to(t, out_shape).reshape(-1))
        return any(isinstance(v, Radical) for v in s)
    if isinstance(op, Act):
        if op.activation.kind not in ("identity", "relu", "leaky_relu"):
            raise NotRadicalChain(f"{node.where()}: {op.activation} is not piecewise linear")
        b.activate(op.activation)
        return False
    raise NotRadicalChain(f"{node.where()} ({op.kind}) is not a dense layer, an element-wise map or an activation")


# ---------------------------------------------------------------- rigorous enclosures


def radical_bounds(values: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer object arrays lo, hi (shape of `values`) with lo·2^-bits <= v <= hi·2^-bits for every exact entry v
    (float64, Fraction or Radical); equal where v·2^bits is an integer."""
    flat = values.reshape(-1)
    lo = np.empty(flat.shape, dtype=object)
    hi = np.empty(flat.shape, dtype=object)
    for i, v in enumerate(flat):
        if isinstance(v, Radical):
            a, c, den = v.scaled_bounds(bits + 4)  # a/den <= v <= c/den
            lo[i], hi[i] = (a << bits) // den, -((-c << bits) // den)
        else:  # a float or a Fraction: exact integer ratio
            n, d = v.as_integer_ratio()
            lo[i], hi[i] = (n << bits) // d, -((-n << bits) // d)
    return lo.reshape(values.shape), hi.reshape(values.shape)


def _floor(q: Fraction) -> int:
    return q.numerator // q.denominator


class EnclosedNetwork:
    """An interval forward pass of a (radical) chain in integers scaled by 2^-bits: `outputs(x)` encloses every exact
    output. Built once per network and precision (the weight enclosures are the costly part)."""

    def __init__(self, net: Network, bits: int):
        if net.normalization is not None:
            raise ValueError("EnclosedNetwork takes chains without normalisation metadata")
        self.bits = bits
        self.layers = []
        for layer in net.layers:
            wl, wh = radical_bounds(np.asarray(layer.weight, dtype=object), bits)
            bl, bh = radical_bounds(np.asarray(layer.bias, dtype=object), bits)
            # doubled midpoint and radius: w ∈ [(c − r)/2, (c + r)/2]·2^-bits
            self.layers.append((wl + wh, wh - wl, bl, bh, layer.activation))

    def outputs(self, x) -> list[tuple[Fraction, Fraction]]:
        """[(lo, hi)] per output with lo <= y <= hi, y the exact output at the rational input x."""
        p = self.bits
        lo = np.array([_floor(to_fraction(v) * (1 << p)) for v in x], dtype=object)
        hi = np.array([-_floor(-to_fraction(v) * (1 << p)) for v in x], dtype=object)
        for wc, wr, bl, bh, act in self.layers:
            xc, xr = lo + hi, hi - lo  # doubled, scale 2^-p
            centre = wc.dot(xc)  # scale 2^-2p, times 4
            radius = np.abs(wc).dot(xr) + wr.dot(np.abs(xc)) + wr.dot(xr)
            zl = (centre - radius + (bl << (p + 2))) >> (p + 2)  # floor to scale 2^-p
            zh = -((-(centre + radius + (bh << (p + 2)))) >> (p + 2))  # ceil
            lo, hi = _activate(act, zl, zh)
        den = 1 << p
        return [(Fraction(int(a), den), Fraction(int(c), den)) for a, c in zip(lo, hi)]


def _activate(act: Activation, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A monotone piecewise-linear σ on integer bounds (outward for a leaky slope)."""
    if act.kind == "identity":
        return lo, hi
    if act.kind == "relu":
        return np.array([max(v, 0) for v in lo], dtype=object), np.array([max(v, 0) for v in hi], dtype=object)
    if act.kind == "leaky_relu" and act.alpha >= 0:
        a = Fraction(act.alpha)
        return (np.array([v if v >= 0 else _floor(a * v) for v in lo], dtype=object),
                np.array([v if v >= 0 else -_floor(-a * v) for v in hi], dtype=object))
    raise ValueError(f"{act} is not piecewise linear")
