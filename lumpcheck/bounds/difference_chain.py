"""Sound bounds on one chain (product or single network) for a batch of boxes: interval steps and
DeepPoly/CROWN back-substitution over fixed per-layer relaxations, in outward-rounded float64.

Invariant of `backsub` (as in lumpcheck.bounds): target <= C·q_j + const exactly, for every input of the
batch element's box, where q_j is layer j's post-activation vector. One step replaces q_j by its
relaxation (own slope per coordinate; a difference coordinate also has a slope on its partner
coordinate) and p_j by W_j·q_{j-1} + b_j. Rounding errors are charged to const using magnitudes that are
already sound: the product D = C∘slopes (at most two products added, error <= 2^-51·fl(|D|) + tiny) times
|p_j|; the matrix product D·W_j (A2: error <= n·2^-52·|D|·|W_j| + tiny) times |q_{j-1}|; Fraction
weights' residuals |W − fl(W)|·|q_{j-1}| + |b − fl(b)|. The weighted sums are formed as matrix-vector
products |D|·v, where v >= |W_j|·|q_{j-1}| is computed once per layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .arith import FloatOverflow
from .coupling import ChainLayer
from .outward import ULP_FACTOR, add_up, enclose, matvec_up, tiny_charge, up, vecmat_up_nonneg

FOLDED_OFFSET = 1e-290
"""Offsets up to this size on linear coordinates with |slope| >= 1 are charged as |C·slope|·offset instead of
selected by sign (zero offsets at any slope)."""


@dataclass
class LayerRelaxation:
    """Batched relaxation of one layer: su·p + mu >= q >= sl·p + ml per coordinate, plus for difference
    coordinates qu, ql on the partner coordinate (arrays (N, n) and (N, m)); ranges of p and q."""

    su: np.ndarray
    sl: np.ndarray
    mu: np.ndarray
    ml: np.ndarray
    qu: np.ndarray
    ql: np.ndarray
    plo: np.ndarray
    phi: np.ndarray
    qlo: np.ndarray
    qhi: np.ndarray


def magnitude(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(lo), np.abs(hi))


def _signed_selection(T: np.ndarray) -> bool:
    """Each row of the shared matrix T has exactly one nonzero, equal to ±1 (T·W is then exact)."""
    if T.ndim != 2:
        return False
    nz = T != 0
    return bool(np.all(nz.sum(axis=1) == 1) and np.all(np.abs(T[nz]) == 1))


class Chain:
    """One chain over a batch of N input boxes [xl, xu]: layers are fixed one at a time (`fix`)."""

    def __init__(self, layers: tuple[ChainLayer, ...], xl: np.ndarray, xu: np.ndarray):
        self.layers = layers
        self.xl, self.xu = xl, xu
        self.n = len(xl)
        self.qlo, self.qhi = [xl], [xu]  # ranges of the inputs of layer k at index k
        self.qmag = [magnitude(xl, xu)]
        self.relax: list[LayerRelaxation] = []
        self.steps: list[dict[str, np.ndarray]] = []
        self.wq: list[np.ndarray] = []
        self.resid: list[np.ndarray | None] = []
        self.tiny: list[np.ndarray] = []
        self.pairs = [np.flatnonzero(layer.pair >= 0) for layer in layers]
        self.scratch: dict[str, np.ndarray] = {}  # work arrays of `_step`, reused by the steps of one back-substitution

    # ------------------------------------------------------------ per-layer preparation

    def prepare(self, k: int) -> None:
        """Magnitude terms of layer k from its input's (already sound) ranges."""
        assert len(self.wq) == k, f"layer {k} prepared out of order ({len(self.wq)} layers ready)"
        layer, qm = self.layers[k], self.qmag[k]
        self.wq.append(vecmat_up_nonneg(qm, layer.abs_weight_t))
        r = None
        if layer.wres is not None:
            r = vecmat_up_nonneg(qm, layer.wres.T)
        if layer.bres is not None:
            r = layer.bres[None, :] + np.zeros((self.n, 1)) if r is None else add_up(r, layer.bres[None, :])
        self.resid.append(r)

    def interval(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Interval bounds of layer k's pre-activations from its input ranges, in midpoint-radius form: q lies in
        [m − r, m + r] for m = fl(lo/2 + hi/2) clamped into [lo, hi] and r >= max(hi − m, m − lo) rounded up, so
        W·q + b lies within W·m + b ± |W|·r. Two matrix products (the split form W⁺·hi + W⁻·lo needs four); W·m
        errs by at most n·2^-52·Σ|W||m| + tiny (A2), and Σ|W||m| <= the prepared `wq` >= |W|·qmag (|m| <= qmag)."""
        layer = self.layers[k]
        lo, hi = self.qlo[k], self.qhi[k]
        mid = np.minimum(np.maximum(0.5 * lo + 0.5 * hi, lo), hi)  # clamped: halving a subnormal rounds
        rad = up(np.maximum(hi - mid, mid - lo))
        n = lo.shape[-1]
        centre = mid @ layer.weight.T
        spread = vecmat_up_nonneg(rad, layer.abs_weight_t)
        slack = add_up(enclose(centre, self.wq[k], n), spread, *([self.resid[k]] if self.resid[k] is not None else []))
        return -add_up(-centre, slack, -layer.bias[None, :]), add_up(centre, slack, layer.bias[None, :])

    def fix(self, k: int, relax: LayerRelaxation) -> None:
        """Make layer k's relaxation part of the chain (layers are fixed in order).

        Coordinates whose two slopes agree in every box ('linear' ones) with offsets 0, or at most FOLDED_OFFSET
        and |slope| >= 1 (stable neurons: zero up to rounding), are substituted with that slope and their offsets
        charged as |C·slope|·max(|mu|, |ml|) >= |C|·max(|mu|, |ml|), sound whatever the sign of C; the others
        select upper or lower relaxation by the sign of C."""
        assert len(self.relax) == k, f"layer {k} fixed out of order"
        layer = self.layers[k]
        pmag = magnitude(relax.plo, relax.phi)
        gamma = layer.size * ULP_FACTOR
        offsets = np.maximum(np.abs(relax.mu), np.abs(relax.ml))
        P = self.pairs[k]
        # a folded offset is charged through |D| = |C·s|, which is >= |C| only when |s| >= 1: a nonzero offset on a
        # coordinate with a smaller slope (an open neuron given equal slopes) keeps its sign selection
        foldable = (offsets == 0) | ((offsets <= FOLDED_OFFSET) & (np.abs(relax.sl) >= 1))
        varies = np.any((relax.su != relax.sl) | ~foldable, axis=0)
        if len(P):
            varies[P] |= np.any(relax.qu != relax.ql, axis=0)
        U = np.flatnonzero(varies)
        folded = offsets.copy()
        folded[:, U] = 0.0
        terms = [up(self.wq[k] * gamma), up(pmag * 2 * ULP_FACTOR), folded]
        if self.resid[k] is not None:
            terms.append(self.resid[k])
        charge = add_up(*terms)
        self.tiny.append(add_up(tiny_charge(layer.size, self.qmag[k]), tiny_charge(2, pmag)))
        self.relax.append(relax)
        col = lambda a: np.ascontiguousarray(a.T[:, :, None])  # noqa: E731 - (N, n) -> (n, N, 1)
        self.steps.append({
            "sl": col(relax.sl), "U": U, "su_U": col(relax.su[:, U]), "sl_U": col(relax.sl[:, U]),
            "mu": col(relax.mu[:, U]), "ml": col(relax.ml[:, U]),
            "charge": np.ascontiguousarray(charge.T), "P": _index(P), "Q": _index(layer.pair[P]),
            "qu": col(relax.qu), "ql": col(relax.ql),
        })
        self.qlo.append(relax.qlo)
        self.qhi.append(relax.qhi)
        self.qmag.append(magnitude(relax.qlo, relax.qhi))

    # ------------------------------------------------------------ back-substitution
    # Coefficient tensors are coordinate-major, C[i, e, r]: coordinate i, box e, row r, so that one layer
    # step is a single matrix product W_j^T·C and slopes broadcast along the contiguous row axis.

    def backsub(self, k: int, T: np.ndarray, scores: bool = False, split: list | None = None):
        """Upper bounds (N, R) of the rows T·p_k (T shared (R, n_k) or batched (N, R, n_k)), the rows'
        coefficients on the input (N, R, n_in), and optionally per-layer offset contributions (N, R, n_j).

        split[j] (N, R, n_j) or None: β-CROWN terms g = β·s of layer j's split neurons (β >= 0, s = +1 for a
        branch z >= 0, −1 for z <= 0, 0 for others): the bounds are then of T·p_k + Σ_j g_j·p_j, which is at
        least T·p_k on the branch (every g_j·p_j >= 0 there), so they remain upper bounds of the rows there."""
        layer = self.layers[k]
        Tb = np.broadcast_to(T, (self.n,) + T.shape) if T.ndim == 2 else T
        C = np.ascontiguousarray(np.matmul(Tb, layer.weight).transpose(2, 0, 1))
        absT = np.abs(Tb)
        const = matvec_up(Tb, np.broadcast_to(layer.bias, (self.n, layer.size)))
        if self.resid[k] is not None:
            const = add_up(const, matvec_up(absT, self.resid[k]))
        if not _signed_selection(T):  # the product T·W_k was rounded
            gamma = layer.size * ULP_FACTOR
            const = add_up(const, up(matvec_up(absT, self.wq[k]) * gamma), tiny_charge(layer.size, self.qmag[k])[:, None])
        upper, C, contributions = self._descend(k, C, const, scores, split)
        contributions = [None if c is None else c.transpose(1, 2, 0) for c in contributions]
        return upper, C.transpose(1, 2, 0), contributions

    def backsub_select(self, k: int, idx: np.ndarray, sign: np.ndarray):
        """Upper bounds (N, R) of the rows sign·p_k[idx] (idx, sign (N, R); sign in {−1, 0, +1}): exact start."""
        layer = self.layers[k]
        C = np.ascontiguousarray((layer.weight[idx] * sign[:, :, None]).transpose(2, 0, 1))
        const = sign * layer.bias[idx]
        if self.resid[k] is not None:
            const = add_up(const, np.abs(sign) * np.take_along_axis(self.resid[k], idx, axis=1))
        return self._descend(k, C, const, False)[0]

    def _descend(self, k: int, C: np.ndarray, const: np.ndarray, scores: bool, split: list | None = None):
        contributions = []
        for j in range(k - 1, -1, -1):
            g = None if split is None or split[j] is None else np.ascontiguousarray(split[j].transpose(2, 0, 1))
            C, const, contrib = self._step(j, C, const, scores, g)
            contributions.append(contrib)
        self.scratch.clear()  # work arrays live for one back-substitution (peak memory as with fresh arrays)
        upper = add_up(const, coord_dot_up(np.maximum(C, 0), self.xu, 1), coord_dot_up(np.minimum(C, 0), self.xl, -1))
        if not np.all(np.isfinite(upper)):
            raise FloatOverflow("bound overflow")
        return upper, C, contributions[::-1]

    def _step(self, j: int, C: np.ndarray, const: np.ndarray, scores: bool, g: np.ndarray | None = None):
        """One layer of back-substitution (see the module's invariant).

        A coefficient c picks the upper slope when c >= 0 and the lower one otherwise; this is evaluated without
        branches as max(c, 0)·su + min(c, 0)·sl, which is the same float as the one selected product (the other
        product is ±0 and adding ±0 is exact), and likewise for offsets and partner slopes. Coordinates that do not
        vary have su = sl in every box, so they take c·sl directly."""
        st, layer = self.steps[j], self.layers[j]
        n = C.shape[0]
        U, P, Q = st["U"], st["P"], st["Q"]
        D = np.multiply(C, st["sl"], out=self._scratch("D", C.shape))
        CU = np.take(C, U, axis=0, out=self._scratch("CU", (len(U),) + C.shape[1:]))
        pos, neg = self._signed_parts(CU)
        D[U] = self._select(pos, neg, st["su_U"], st["sl_U"], "DU")
        off = self._select(pos, neg, st["mu"], st["ml"], "off")  # C⁺·mu + C⁻·ml on the varying coordinates
        Tabs = np.abs(D, out=self._scratch("Tabs", C.shape))
        if _size(P):  # difference coordinates add their partner slopes to the partner's (B) coordinate
            CP = C[P] if isinstance(P, slice) else np.take(C, P, axis=0, out=self._scratch("CU", (len(P),) + C.shape[1:]))
            D2 = self._select(*self._signed_parts(CP), st["qu"], st["ql"], "D2")
            Tabs[Q] += np.abs(D2, out=self._scratch("neg", D2.shape))
            D[Q] += D2
        if g is not None:  # + g·p_j: exact in reals; the sum's rounding (<= 2^-53·|D'|) is charged as |D'|·|p_j|
            D = D + g
            Tabs = Tabs + np.abs(D)
        S_off = off.sum(axis=0)
        contrib = None
        if scores:
            contrib = np.zeros_like(C)
            contrib[U] = off
        T_off = np.abs(off, out=off).sum(axis=0)
        flatD, flatT = D.reshape(n, -1), Tabs.reshape(n, -1)
        S_bias = (layer.bias @ flatD).reshape(const.shape)
        T_bias = (np.abs(layer.bias) @ flatT).reshape(const.shape)
        T_charge = np.einsum("inr,in->nr", Tabs, st["charge"])
        const = add_up(
            const,
            up(S_off + enclose(S_off, T_off, max(len(U), 1))),
            up(S_bias + enclose(S_bias, T_bias, n)),
            up(T_charge + enclose(T_charge, T_charge, n)),
            self.tiny[j][:, None],
        )
        C = layer.transposed_product(flatD).reshape((layer.weight.shape[1],) + D.shape[1:])
        if not np.all(np.isfinite(C)):
            raise FloatOverflow("coefficient overflow in back-substitution")
        return C, const, contrib

    def _scratch(self, name: str, shape: tuple) -> np.ndarray:
        """A contiguous work array of this shape; one buffer per name, grown to the largest shape asked for."""
        size = math.prod(shape)
        buf = self.scratch.get(name)
        if buf is None or buf.size < size:
            buf = self.scratch[name] = np.empty(size)
        return buf[:size].reshape(shape)

    def _signed_parts(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """max(X, 0) and min(X, 0) in scratch arrays."""
        return np.maximum(X, 0.0, out=self._scratch("pos", X.shape)), np.minimum(X, 0.0, out=self._scratch("neg", X.shape))

    def _select(self, pos: np.ndarray, neg: np.ndarray, hi: np.ndarray, lo: np.ndarray, name: str) -> np.ndarray:
        """pos·hi + neg·lo (= c·hi for c >= 0, c·lo for c < 0, exactly the rounded product) in a scratch array."""
        out = np.multiply(pos, hi, out=self._scratch(name, pos.shape))
        out += np.multiply(neg, lo, out=self._scratch("lo", pos.shape))
        return out


def _index(idx: np.ndarray):
    """A slice when idx is a run of consecutive integers (views instead of copies), else idx."""
    if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        return slice(int(idx[0]), int(idx[0]) + len(idx))
    return idx


def _size(idx) -> int:
    return idx.stop - idx.start if isinstance(idx, slice) else len(idx)


def coord_dot_up(C: np.ndarray, v: np.ndarray, sign: int) -> np.ndarray:
    """A float >= Σ_i C[i, e, r]·v[e, i] exactly, per (e, r), for C whose entries all have the sign `sign` (or are 0).

    Both sums are batched matrix products (BLAS: any summation order, FMA or not): the enclosure (A2) bounds the
    error of any order by n·2^-52·T; T = Σ|C|·|v| is ±(Σ C·|v|) exactly as computed, since negation is exact.
    Measured 7.5x faster than elementwise products and sums on MNIST 256x4 shapes (784 inputs, 8 boxes, 400 rows)."""
    Ct = C.transpose(1, 0, 2)  # (N, n_in, R) views: one vector-matrix product per box
    S = np.matmul(v[:, None, :], Ct)[:, 0, :]
    T = np.matmul(np.abs(v)[:, None, :], Ct)[:, 0, :]
    if sign < 0:
        T = -T
    return up(S + enclose(S, T, C.shape[0]))
