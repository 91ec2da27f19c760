"""Which hidden neurons of two networks correspond, and the coupled 'product' chain that tracks differences.

For networks A and B on the same inputs, hidden layer k of the product chain has the coordinates
    [ z_B (every B neuron) | Δ_t = z_A[i_t] − z_B[j_t] (paired neurons t) | z_A[i] (unpaired A neurons) ]
and the matching post-activation coordinates [ h_B | d_t = h_A[i_t] − h_B[j_t] | h_A[i] ]. Since
h_A[i_t] = h_B[j_t] + d_t, every layer is an affine map of the previous layer's coordinates:
    Δ' = W_A·d + (W_A − W_B)·h_B + W_A·h_A,unpaired + (b_A − b_B),
so a near-copy's weight difference appears as small coefficients. The output layer pairs output i with
output i (so its coordinates are [z_B | Δ]); the input is shared (h_A = h_B = x). Any pairing is sound:
it only decides which differences are tracked; `align` guesses one from the weights.
Weights are carried as float64 plus an elementwise bound on |exact − float| (exact for float weights,
whose differences are computed with an exactly known error by TwoSum).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from fractions import Fraction

import numpy as np

from ..ir.activation import IDENTITY, Activation
from ..ir.exact import as_fractions, float_with_error
from ..ir.graph.radical import Radical
from ..ir.graph.radical_chain import ENCLOSURE_BITS
from ..ir.network import Layer, Network
from .outward import add_up, fraction_interval

SUPPORTED = ("identity", "relu", "leaky_relu")
ALIGN_TOLERANCE = 0.5
"""Neurons pair when their incoming vectors differ by less than this share of the A neuron's norm."""


@dataclass(frozen=True)
class Pairing:
    """layers[k] lists the pairs (A neuron, B neuron) of hidden layer k (0-based over hidden layers)."""

    layers: tuple[tuple[tuple[int, int], ...], ...]

    def __post_init__(self) -> None:
        for k, pairs in enumerate(self.layers):
            a_side = [i for i, _ in pairs]
            b_side = [j for _, j in pairs]
            if len(set(a_side)) != len(a_side) or len(set(b_side)) != len(b_side):
                raise ValueError(f"hidden layer {k}: a neuron is paired twice in {pairs}")
            if any(i < 0 or j < 0 for i, j in pairs):
                raise ValueError(f"hidden layer {k}: negative neuron index in {pairs}")

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.layers)


@dataclass(frozen=True)
class ChainLayer:
    """One affine layer p = W·q + b of a chain plus how its coordinates are activated.

    wres/bres bound |exact − float| elementwise (None: exact). Post-activation coordinate s is
    σ_s(p_s) for a single coordinate (pair[s] = −1), or σ_A(p_partner + p_s) − σ_B(p_partner) for a
    difference coordinate with partner = pair[s]. σ is piecewise linear with slope 1 for z >= 0 and a
    negative-side slope enclosed by [alpha_lo, alpha_hi] (σ_A) or [beta_lo, beta_hi] (σ_B).
    """

    weight: np.ndarray
    bias: np.ndarray
    wres: np.ndarray | None
    bres: np.ndarray | None
    alpha_lo: np.ndarray
    alpha_hi: np.ndarray
    beta_lo: np.ndarray
    beta_hi: np.ndarray
    pair: np.ndarray

    @property
    def size(self) -> int:
        return len(self.bias)

    def __getstate__(self) -> dict:
        """Pickled without the cached arrays below (a worker derives its own)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("abs_weight_t", "zero_block")}

    @cached_property
    def abs_weight_t(self) -> np.ndarray:
        """|W|^T, contiguous (every batch's magnitude terms and interval steps multiply by it)."""
        return np.ascontiguousarray(np.abs(self.weight).T)

    @cached_property
    def zero_block(self) -> tuple[int, int] | None:
        """(r, c) when W[:r, c:] is zero and holds at least a tenth of W's entries (the product chain's z_B rows
        on its difference and unpaired-A columns), else None: back-substitution then skips that block."""
        n_out, n_in = self.weight.shape
        if n_in == 0:
            return None
        nz = self.weight != 0
        first = np.where(nz.any(axis=0), nz.argmax(axis=0), n_out)  # per column, its first row with an entry
        rows = np.minimum.accumulate(first[::-1])[::-1]  # W[:rows[c], c:] == 0
        saved = rows * (n_in - np.arange(n_in))
        c = int(np.argmax(saved))
        return None if saved[c] * 10 < self.weight.size else (int(rows[c]), c)

    def transposed_product(self, F: np.ndarray) -> np.ndarray:
        """W^T @ F (F (n_out, K)), skipping the zero block: each entry sums the same nonzero products."""
        if self.zero_block is None:
            return self.weight.T @ F
        r, c = self.zero_block
        out = np.empty((self.weight.shape[1], F.shape[1]))
        np.matmul(self.weight[:, :c].T, F, out=out[:c])
        np.matmul(self.weight[r:, c:].T, F[r:], out=out[c:])
        return out


@dataclass(frozen=True)
class Coupling:
    """The product chain and each network's own chain, layer by layer, and how their coordinates relate.

    d_a[k][t], d_b[k][t]: A and B neuron of difference coordinate t in layer k (1-based layer index k;
    index 0 unused); e_a[k]: A neuron of each unpaired-A coordinate. Product layer k has coordinates
    [0, nb) = z_B, [nb, nb+m) = Δ, [nb+m, nb+m+e) = unpaired z_A.
    """

    a: Network
    b: Network
    pairing: Pairing
    product: tuple[ChainLayer, ...]
    chain_a: tuple[ChainLayer, ...]
    chain_b: tuple[ChainLayer, ...]
    nb: tuple[int, ...]
    d_a: tuple[np.ndarray, ...]
    d_b: tuple[np.ndarray, ...]
    e_a: tuple[np.ndarray, ...]

    @property
    def depth(self) -> int:
        return len(self.product)

    @property
    def input_size(self) -> int:
        return self.a.input_size

    @property
    def output_size(self) -> int:
        return self.a.output_size


# ---------------------------------------------------------------- preparing the two networks


def check_pair(a: Network, b: Network) -> None:
    """Raise ValueError unless a and b can be compared by the differential engine."""
    for name, net in (("A", a), ("B", b)):
        if net.normalization is not None:
            raise ValueError(f"network {name} carries normalisation metadata; fold or strip it first")
        bad = [str(l.activation) for l in net.layers if l.activation.kind not in SUPPORTED]
        if bad:
            raise ValueError(f"network {name} uses {bad[0]}; the differential engine supports {', '.join(SUPPORTED)}")
    if a.input_size != b.input_size:
        raise ValueError(f"input sizes differ: {a.input_size} vs {b.input_size}")
    if a.output_size != b.output_size:
        raise ValueError(f"output sizes differ: {a.output_size} vs {b.output_size}")


def normalise_depth(a: Network, b: Network) -> tuple[Network, Network]:
    """Equal depth with identity outputs: append an identity output layer to a net whose last activation is
    not the identity, and give the shallower net identity layers on its inputs (all exact rewrites)."""

    def identity_layer(n: int) -> Layer:
        return Layer(np.eye(n), np.zeros(n), IDENTITY)

    def with_identity_output(net: Network) -> list[Layer]:
        layers = list(net.layers)
        if layers[-1].activation.kind != "identity":
            layers.append(identity_layer(layers[-1].out_features))
        return layers

    la, lb = with_identity_output(a), with_identity_output(b)
    n = a.input_size
    while len(la) < len(lb):
        la.insert(0, identity_layer(n))
    while len(lb) < len(la):
        lb.insert(0, identity_layer(n))
    return Network(la, None, a.source), Network(lb, None, b.source)


# ---------------------------------------------------------------- alignment


def align(a: Network, b: Network, tolerance: float = ALIGN_TOLERANCE) -> Pairing:
    """Pair hidden neurons with nearly equal incoming vectors (over already paired inputs), greedily.

    a and b must have equal depth (normalise_depth). A heuristic: any pairing gives sound bounds.
    """
    layers = []
    prev = [(i, i) for i in range(a.input_size)]
    for la, lb in zip(a.layers[:-1], b.layers[:-1]):
        cols_a = np.array([i for i, _ in prev], dtype=int)
        cols_b = np.array([j for _, j in prev], dtype=int)
        va = np.hstack([_floats(la.weight)[:, cols_a], _floats(la.bias)[:, None]])
        vb = np.hstack([_floats(lb.weight)[:, cols_b], _floats(lb.bias)[:, None]])
        same_act = la.activation == lb.activation
        pairs = _greedy_pairs(va, vb, tolerance) if same_act and len(prev) else []
        layers.append(tuple(sorted(pairs, key=lambda p: p[1])))
        prev = list(layers[-1])
    return Pairing(tuple(layers))


def _greedy_pairs(va: np.ndarray, vb: np.ndarray, tolerance: float) -> list[tuple[int, int]]:
    top = max(float(np.max(np.abs(va), initial=0.0)), float(np.max(np.abs(vb), initial=0.0)), 1e-300)
    scale = 2.0 ** int(np.frexp(top)[1])  # a power of two: exact; relative distances are scale-free, and the
    va, vb = va / scale, vb / scale  # squares of 2^600 weights would overflow
    na = np.sqrt((va * va).sum(axis=1))
    d2 = (va * va).sum(axis=1)[:, None] + (vb * vb).sum(axis=1)[None, :] - 2 * va @ vb.T
    dist = np.sqrt(np.maximum(d2, 0)) / np.maximum(na, 1e-300)[:, None]
    order = np.argsort(dist, axis=None)
    used_a, used_b, pairs = set(), set(), []
    for flat in order:
        i, j = divmod(int(flat), dist.shape[1])
        if dist[i, j] > tolerance:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return pairs


def _floats(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == object:
        return np.array([float(v) for v in arr.reshape(-1)]).reshape(arr.shape)
    return arr


# ---------------------------------------------------------------- exact-with-residual arrays


def _split(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(nearest floats, bound on |exact − float| or None when exact). Entries may be Radicals (BatchNorm folded
    exactly, ir/graph/radical_chain.py): their residual comes from a rigorous isqrt enclosure, never a float."""
    if values.dtype != object:
        return values.astype(np.float64), None
    pairs = [_near_residual(v) for v in values.reshape(-1)]
    near = np.array([f for f, _ in pairs])
    res = np.array([r for _, r in pairs])
    return near.reshape(values.shape), (res.reshape(values.shape) if np.any(res) else None)


def _near_residual(v) -> tuple[float, float]:
    """(a float near v, a float >= |v − that float|) for an exact Fraction or Radical v."""
    if not isinstance(v, Radical):
        return float_with_error(v)
    return v.float_and_error(ENCLOSURE_BITS)  # rigorous: integer isqrt enclosures (ir/graph/radical.py)


def _difference(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """fl(x − y) and a bound on its error, for exact arrays x, y (float64 or Fractions)."""
    if x.dtype == object or y.dtype == object:
        if _has_radicals(x) or _has_radicals(y):  # no radical arithmetic: each side's float and residual, TwoSum
            return _float_difference(_split(x), _split(y))
        return _split(as_fractions(x) - as_fractions(y))
    s = x - y
    bb = s - x
    err = (x - (s - bb)) + (-y - bb)  # TwoSum: s + err == x − y exactly
    if not np.all(np.isfinite(s)):
        raise OverflowError("weight difference overflows float64")
    return s, (np.abs(err) if np.any(err) else None)


def _has_radicals(arr: np.ndarray) -> bool:
    return arr.dtype == object and any(isinstance(v, Radical) for v in arr.reshape(-1))


def _float_difference(x: tuple[np.ndarray, np.ndarray | None], y: tuple[np.ndarray, np.ndarray | None]):
    """fl(x − y) and a bound on its error from floats fx, fy with |exact − f| <= r: TwoSum gives fx − fy = s + err
    exactly, so |(x − y) − s| <= rx + ry + |err|, summed upward."""
    (fx, rx), (fy, ry) = x, y
    s = fx - fy
    bb = s - fx
    err = (fx - (s - bb)) + (-fy - bb)
    if not np.all(np.isfinite(s)):
        raise OverflowError("weight difference overflows float64")
    terms = [np.abs(err)] + [r for r in (rx, ry) if r is not None]
    return s, add_up(*terms)


def _stack(parts: list[tuple[np.ndarray, np.ndarray | None]]) -> tuple[np.ndarray, np.ndarray | None]:
    """Stack row blocks, each (values, residual or None), into one (values, residual or None)."""
    values = np.concatenate([p[0] for p in parts], axis=0)
    if all(p[1] is None for p in parts):
        return values, None
    return values, np.concatenate([np.zeros_like(p[0]) if p[1] is None else p[1] for p in parts], axis=0)


# ---------------------------------------------------------------- building the chains


def _alpha(act: Activation) -> tuple[float, float]:
    """Enclosure of the negative-side slope (1 for identity)."""
    if act.kind == "identity":
        return 1.0, 1.0
    return fraction_interval(act.alpha)


def couple(a: Network, b: Network, pairing: Pairing | None = None) -> Coupling:
    """The product chain of (a, b) under `pairing` (default: `align`), and a's own chain."""
    check_pair(a, b)
    a, b = normalise_depth(a, b)
    if pairing is None:
        pairing = align(a, b)
    if len(pairing.layers) != len(a.layers) - 1:
        raise ValueError(f"pairing has {len(pairing.layers)} hidden layers, the networks {len(a.layers) - 1}")
    for k, (pairs, la, lb) in enumerate(zip(pairing.layers, a.layers, b.layers)):
        if any(i >= la.out_features or j >= lb.out_features for i, j in pairs):
            raise ValueError(f"hidden layer {k}: pairing index out of range ({la.out_features}, {lb.out_features})")
    product, chain_a, chain_b = [], [], []
    nbs, das, dbs, eas = [a.input_size], [np.zeros(0, int)], [np.arange(a.input_size)], [np.zeros(0, int)]
    prev_d_a, prev_d_b, prev_e = np.zeros(0, int), np.arange(a.input_size), np.zeros(0, int)
    prev_nb, prev_is_input = a.input_size, True
    for k, (la, lb) in enumerate(zip(a.layers, b.layers)):
        last = k == len(a.layers) - 1
        pairs = [(i, i) for i in range(la.out_features)] if last else list(pairing.layers[k])
        d_a = np.array([i for i, _ in pairs], dtype=int)
        d_b = np.array([j for _, j in pairs], dtype=int)
        paired = set(d_a.tolist())
        e_a = np.array([] if last else [i for i in range(la.out_features) if i not in paired], dtype=int)
        layout = (prev_nb, prev_d_a, prev_d_b, prev_e, prev_is_input)
        product.append(_product_layer(la, lb, layout, d_a, d_b, e_a, last))
        chain_a.append(_single_layer(la, last))
        chain_b.append(_single_layer(lb, last))
        nbs.append(lb.out_features)
        das.append(d_a)
        dbs.append(d_b)
        eas.append(e_a)
        prev_nb, prev_d_a, prev_d_b, prev_e, prev_is_input = lb.out_features, d_a, d_b, e_a, False
    return Coupling(
        a, b, pairing, tuple(product), tuple(chain_a), tuple(chain_b), tuple(nbs), tuple(das), tuple(dbs), tuple(eas)
    )


def _product_layer(la: Layer, lb: Layer, layout, d_a, d_b, e_a, last: bool) -> ChainLayer:
    prev_nb, prev_da, prev_db, prev_e, prev_input = layout
    ncols = prev_nb + len(prev_da) + len(prev_e)
    wa, wb = la.weight, lb.weight
    # A's weights in product coordinates: h_A[i_t] = h_B[j_t] + d_t (inputs: h_A = h_B = x)
    war = _zeros_like(wa, (wa.shape[0], ncols))
    if prev_input:
        war[:, :prev_nb] = wa
    else:
        war[:, prev_db] = wa[:, prev_da]
        war[:, prev_nb:prev_nb + len(prev_da)] = wa[:, prev_da]
        war[:, prev_nb + len(prev_da):] = wa[:, prev_e]
    wbq = _zeros_like(wb, (wb.shape[0], ncols))
    wbq[:, :prev_nb] = wb
    weight, wres = _stack([_split(wbq), _difference(war[d_a], wbq[d_b]), _split(war[e_a])])
    bias, bres = _stack([_split(lb.bias), _difference(la.bias[d_a], lb.bias[d_b]), _split(la.bias[e_a])])
    nb, m, e = lb.out_features, len(d_a), len(e_a)
    al, ah = _alpha(la.activation)
    bl, bh = _alpha(lb.activation)
    alpha_lo = np.concatenate([np.full(nb, bl), np.full(m, al), np.full(e, al)])
    alpha_hi = np.concatenate([np.full(nb, bh), np.full(m, ah), np.full(e, ah)])
    beta_lo = np.concatenate([np.full(nb, bl), np.full(m, bl), np.full(e, al)])
    beta_hi = np.concatenate([np.full(nb, bh), np.full(m, bh), np.full(e, ah)])
    pair = np.concatenate([np.full(nb, -1), d_b, np.full(e, -1)]).astype(int)
    return ChainLayer(weight, bias, wres, bres, alpha_lo, alpha_hi, beta_lo, beta_hi, pair)


def _single_layer(layer: Layer, last: bool) -> ChainLayer:
    weight, wres = _split(layer.weight)
    bias, bres = _split(layer.bias)
    lo, hi = _alpha(layer.activation)
    n = layer.out_features
    full = lambda v: np.full(n, v)  # noqa: E731
    return ChainLayer(weight, bias, wres, bres, full(lo), full(hi), full(lo), full(hi), np.full(n, -1))


def _zeros_like(arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if arr.dtype == object:
        out = np.empty(shape, dtype=object)
        out[...] = Fraction(0)
        return out
    return np.zeros(shape)
