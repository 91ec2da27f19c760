"""Reduction on a bounded input box: stably inactive ReLUs removed, stably linear neurons folded onto a basis.

Sound pre-activation bounds of the ORIGINAL network on the box (bounds.by_method, computed once) give each ReLU /
LeakyReLU neuron a phase: inactive (upper <= 0: v = α·z, for ReLU v = 0) or active (lower >= 0: v = z).
Identity neurons are linear everywhere. A layer's linear neurons whose weight rows are linearly dependent
are folded onto a basis (floats propose, exact Fraction elimination decides): if w_r = Σ λ_j·w_j then
v_r = Σ (s_r·λ_j/s_j)·v_j + s_r·(b_r − Σ λ_j·b_j), s the slopes, valid because every basis neuron is itself
linear on the box. Domain steps (one layer at a time, on the current network) alternate with exact lumping
until nothing changes; the relations compose. The result is exact on the box only, not outside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import cache

import numpy as np

from ..bounds import LayerBounds, by_method, stable_phases
from ..errors import LumpcheckError
from ..ir.domain import Box
from ..ir.exact import as_fractions, to_float, to_fraction
from ..ir.network import Layer, Network, layers_only
from ..ir.relation import DOMAIN_REASONS, LayerRelation, NeuronMap, PhaseClaim, PhaseClaims, Relation
from .lumping import LayerStats, Reduction, ReductionStats, quotient
from .lumping import reduce as lump

BOUNDS_METHODS = ("auto", "interval", "symbolic", "split")
SPLIT_MAX_INPUTS = 8
"""bounds_method='auto' splits the box (2 parts per input, 2^n sub-boxes) up to this many inputs."""
SPLIT_PARTS = 2
FLOAT_DEPENDENCE = 1e-9
"""A weight row whose float residual against the basis is below this (relative) is proposed for folding."""
LUMPING_TERMS = ("kept", "duplicate", "proportional", "negated")
"""Reasons of single-term maps proved as z_r ≡ c·z'_cls (pre-activations proportional on all of R^n)."""


def resolve_bounds_method(name: str, box: Box) -> tuple[str, int]:
    """(method, parts) for a user choice: 'auto' is split for at most SPLIT_MAX_INPUTS inputs, else symbolic."""
    if name not in BOUNDS_METHODS:
        raise LumpcheckError(f"unknown bounds method {name!r}; known: {', '.join(BOUNDS_METHODS)}")
    if name == "auto":
        name = "split" if box.dim <= SPLIT_MAX_INPUTS else "symbolic"
    return name, SPLIT_PARTS if name == "split" else 1


@dataclass(kw_only=True)
class DomainReduction(Reduction):
    """A Reduction exact on `domain` only, with the phase claims its relation needs."""

    claims: PhaseClaims


# ---------------------------------------------------------------- relations


@cache
def _kept(cls: int) -> NeuronMap:
    return NeuronMap(((cls, Fraction(1)),), Fraction(0), "kept")


def identity_relation(net: Network) -> Relation:
    """Every hidden neuron kept as itself."""
    return Relation([LayerRelation([_kept(i) for i in range(w)], w) for w in net.widths[1:-1]])


def _single_reason(first: str, second: str, factor: Fraction, offset: Fraction) -> str:
    """Label of a composed single-term lumping map (labels of such maps are informational)."""
    if second == "kept":
        return first
    if first == "kept":
        return second
    if factor == 1 and offset == 0:
        return "duplicate"
    return "proportional" if factor > 0 else second


def _compose_map(m: NeuronMap, second: LayerRelation, ghost_shift: int) -> NeuronMap:
    """m (over the middle layer's neurons and ghosts) with the second relation substituted."""
    width = len(second.maps)
    coeffs: dict[int, Fraction] = {}
    offset = m.offset
    reasons = []
    for k, c in m.terms:
        if k >= width:  # a ghost class of the first relation: renumbered after the second's ghosts
            coeffs[k + ghost_shift] = coeffs.get(k + ghost_shift, Fraction(0)) + c
            continue
        inner = second.maps[k]
        reasons.append(inner.reason)
        for j, d in inner.terms:
            coeffs[j] = coeffs.get(j, Fraction(0)) + c * d
        offset += c * inner.offset
    terms = tuple((j, c) for j, c in sorted(coeffs.items()) if c != 0)
    if m.reason in DOMAIN_REASONS or m.reason in ("constant", "dead") or len(m.terms) != 1:
        reason = m.reason
    elif reasons[0] in DOMAIN_REASONS or reasons[0] in ("constant", "dead"):
        reason = reasons[0]
    else:
        reason = _single_reason(m.reason, reasons[0], terms[0][1], offset)
    return NeuronMap(terms, offset, reason)


def compose(first: Relation, second: Relation) -> Relation:
    """The relation original → final of two successive reductions original → middle → final.

    v_r = Σ c_k·u_k + o with u_k = Σ d_kj·v''_j + e_k gives v_r = Σ_j (Σ_k c_k·d_kj)·v''_j + (o + Σ c_k·e_k).
    A map keeps the first relation's domain / constant / dead reason; a lumping map takes the second's. Ghost
    classes of the second keep their indices; the first's follow them.
    """
    if len(first.layers) != len(second.layers):
        raise ValueError(f"cannot compose relations of {len(first.layers)} and {len(second.layers)} layers")
    layers = []
    for ell, (a, b) in enumerate(zip(first.layers, second.layers), start=1):
        if len(b.maps) != a.reduced_width:
            raise ValueError(f"hidden layer {ell}: {len(b.maps)} maps for a middle layer of {a.reduced_width}")
        shift = b.reduced_width + b.ghosts - a.reduced_width
        maps = [_compose_map(m, b, shift) for m in a.maps]
        layers.append(LayerRelation(maps, b.reduced_width, b.ghosts + a.ghosts))
    return Relation(layers)


# ---------------------------------------------------------------- phases of the current network


def carried_phases(relation: Relation, phases: list[np.ndarray]) -> list[np.ndarray]:
    """Phase of each reduced neuron: the common phase of ALL original neurons that lumping maps onto it with a
    positive factor (so every one of them can be claimed when the reduced neuron is folded), else 0."""
    out = []
    for lr, ph in zip(relation.layers, phases):
        seen: list[int | None] = [None] * lr.reduced_width
        for r, m in enumerate(lr.maps):
            if m.reason in LUMPING_TERMS and len(m.terms) == 1 and m.terms[0][0] < lr.reduced_width:
                k, c = m.terms[0]
                p = int(ph[r]) if c > 0 else 0
                seen[k] = p if seen[k] is None or seen[k] == p else 0
        out.append(np.array([p or 0 for p in seen], dtype=np.int8))
    return out


# ---------------------------------------------------------------- folding linear neurons


def _float_dependents(rows: np.ndarray) -> tuple[list[int], list[int]]:
    """(basis, dependent) positions of float rows, greedily in order: a row joins the basis unless its
    residual against the basis so far is negligible (modified Gram-Schmidt, re-orthogonalised). Proposes only."""
    basis: list[int] = []
    dependent: list[int] = []
    q = np.zeros((0, rows.shape[1]))
    for i, w in enumerate(rows):
        norm = float(np.linalg.norm(w))
        res = w - (q @ w) @ q
        res = res - (q @ res) @ q
        rnorm = float(np.linalg.norm(res))
        if norm == 0 or rnorm <= FLOAT_DEPENDENCE * norm or len(basis) == rows.shape[1]:
            dependent.append(i)
        else:
            basis.append(i)
            q = np.vstack([q, res / rnorm])
    return basis, dependent


def solve_in_span(basis: list[list[Fraction]], targets: list[list[Fraction]]) -> list[list[Fraction] | None]:
    """Exact λ with Σ_j λ_j·basis[j] == target for each target (None when it is not in the span).

    Gauss-Jordan elimination on [basisᵀ | targetsᵀ] in Fractions; free variables (a dependent basis) are 0.
    """
    nb, nt = len(basis), len(targets)
    dim = len(targets[0]) if targets else 0
    rows = [[basis[j][i] for j in range(nb)] + [t[i] for t in targets] for i in range(dim)]
    pivots: list[int] = []
    for col in range(nb):
        r = len(pivots)
        p = next((i for i in range(r, dim) if rows[i][col] != 0), None)
        if p is None:
            continue
        rows[r], rows[p] = rows[p], rows[r]
        inv = 1 / rows[r][col]
        rows[r] = [x * inv for x in rows[r]]
        for i in range(dim):
            f = rows[i][col]
            if i != r and f != 0:
                rows[i] = [a - f * b for a, b in zip(rows[i], rows[r])]
        pivots.append(col)
    out: list[list[Fraction] | None] = []
    for t in range(nb, nb + nt):
        if any(rows[i][t] != 0 for i in range(len(pivots), dim)):
            out.append(None)
            continue
        lam = [Fraction(0)] * nb
        for i, col in enumerate(pivots):
            lam[col] = rows[i][t]
        out.append(lam)
    return out


def fold_linear(weight: np.ndarray, bias: np.ndarray, linear: list[int]) -> dict[int, tuple[dict[int, Fraction], Fraction]]:
    """Neurons among `linear` whose weight rows are exact combinations of earlier ones kept as a basis:
    r -> ({j: λ_j}, b_r − Σ λ_j·b_j) with w_r == Σ λ_j·w_j exactly. Floats choose; Fractions decide."""
    if len(linear) < 2:
        return {}
    basis_pos, dependent_pos = _float_dependents(to_float(weight[linear]))
    if not dependent_pos:
        return {}
    w, b = as_fractions(weight), as_fractions(bias)
    basis = [linear[i] for i in basis_pos]
    dependent = [linear[i] for i in dependent_pos]
    solutions = solve_in_span([list(w[j]) for j in basis], [list(w[r]) for r in dependent])
    out = {}
    for r, lam in zip(dependent, solutions):
        if lam is not None:
            coeffs = {j: c for j, c in zip(basis, lam) if c != 0}
            out[r] = (coeffs, b[r] - sum((c * b[j] for j, c in coeffs.items()), Fraction(0)))
    return out


def domain_layer(layer: Layer, phase: np.ndarray, fold: bool = True) -> LayerRelation | None:
    """One layer's domain step: inactive neurons removed, dependent linear neurons folded if `fold` (None: no change)."""
    slopes = [layer.activation.linear_slope(int(p)) for p in phase]
    linear = [s for s, sl in enumerate(slopes) if sl]
    folds = fold_linear(layer.weight, layer.bias, linear) if fold else {}
    inactive = [s for s, sl in enumerate(slopes) if sl == 0]
    if not inactive and not folds:
        return None
    index: dict[int, int] = {}
    for s, sl in enumerate(slopes):
        if sl != 0 and s not in folds:
            index[s] = len(index)
    maps = []
    for s, sl in enumerate(slopes):
        if sl == 0:
            maps.append(NeuronMap((), Fraction(0), "inactive"))
        elif s in folds:
            coeffs, delta = folds[s]
            terms = tuple((index[j], sl * lam / slopes[j]) for j, lam in coeffs.items())
            maps.append(NeuronMap(terms, sl * delta, "linear"))
        else:
            maps.append(_kept(index[s]))
    return LayerRelation(maps, len(index))


# ---------------------------------------------------------------- public API


def _claims(relation: Relation, phases: list[np.ndarray], bounds: list[LayerBounds], net: Network) -> list[list[PhaseClaim]]:
    """Per hidden layer, the phases the relation rests on: every inactive / linear neuron's own, and one
    witness (a lumping member with positive factor) for each reduced neuron used by a linear map."""
    out = []
    for ell, (lr, ph, bd) in enumerate(zip(relation.layers, phases, bounds)):
        if net.layers[ell].activation.kind == "identity":
            out.append([])
            continue
        needed = {r for r, m in enumerate(lr.maps) if m.reason in DOMAIN_REASONS}
        used = {k for m in lr.maps if m.reason == "linear" for k, _ in m.terms}
        for k in sorted(used):
            needed.add(_witness(lr, ph, k))
        claims = []
        for r in sorted(needed):
            p = int(ph[r])
            if p == 0:
                raise AssertionError(f"hidden layer {ell + 1} neuron {r}: domain map without a stable phase")
            claims.append(PhaseClaim(r, p, to_fraction(bd.upper[r] if p < 0 else bd.lower[r])))
        out.append(claims)
    return out


def _witness(lr: LayerRelation, phase: np.ndarray, k: int) -> int:
    """The neuron whose phase gives class k's slope: for a ghost class its representative, else the lowest
    original neuron mapped by lumping onto k with a positive factor and a stable phase."""
    if k >= lr.reduced_width:
        rep = lr.ghost_representatives()[k - lr.reduced_width]
        if rep is not None and phase[rep]:
            return rep
        raise AssertionError(f"ghost class {k} is used by a linear map but its representative is not stable")
    for r, m in enumerate(lr.maps):
        if m.reason in LUMPING_TERMS and len(m.terms) == 1 and m.terms[0][0] == k and m.terms[0][1] > 0 and phase[r]:
            return r
    raise AssertionError(f"class {k} is used by a linear map but has no stable member")


def reduce_on_domain(
    net: Network, box: Box, *, bounds_method: str = "auto", iterate: bool = True, fold: bool = True,
    bounds: list[LayerBounds] | None = None,
) -> DomainReduction:
    """Reduce `net` exactly on `box` (over the model's own input: its normalisation and clipping are applied, and
    the reduced model keeps them; not outside the box): bounds once on the original, then domain steps and
    lumping to a fixpoint (`iterate`) or one round. `fold=False` only removes inactive neurons (folding gives
    rational weights that float files may not hold exactly). `bounds`: this plain chain's bounds on `box` by
    `bounds_method`, already computed (domain_bounds), to reduce twice without bounding twice. Raises
    LumpcheckError for unusable inputs."""
    start = time.perf_counter()
    if box.dim != net.input_size:
        raise LumpcheckError(f"the box has {box.dim} inputs but the network takes {net.input_size}", box.source or None)
    if net.normalization is not None:  # the layer chain sees inp(clip(box)); the reduced model keeps the same maps
        assert bounds is None, "precomputed bounds are for plain layer chains"
        inner = reduce_on_domain(layers_only(net), net.normalization.input_box(box), bounds_method=bounds_method,
                                 iterate=iterate, fold=fold)
        return replace(inner, original=net, network=replace(inner.network, normalization=net.normalization), domain=box)
    method, parts = resolve_bounds_method(bounds_method, box)
    bounds = by_method(net, box, method, parts) if bounds is None else bounds
    phases = stable_phases(net, bounds)
    relation = identity_relation(net)
    current = net
    while True:
        widths = current.widths
        for ell in range(len(net.layers) - 1):
            step = domain_layer(current.layers[ell], carried_phases(relation, phases)[ell], fold)
            if step is not None:
                layers = identity_relation(current).layers
                layers[ell] = step
                current = quotient(current, Relation(layers))
                relation = compose(relation, Relation(layers))
        lumped = lump(current)
        current = lumped.network
        relation = compose(relation, lumped.relation)
        if not iterate or current.widths == widths:
            break
    stats = ReductionStats(
        [LayerStats(ell + 1, len(lr.maps), lr.reduced_width, lr.reason_counts()) for ell, lr in enumerate(relation.layers)],
        net.param_count,
        current.param_count,
        time.perf_counter() - start,
    )
    claims = PhaseClaims(method, parts, _claims(relation, phases, bounds, net))
    return DomainReduction(net, current, relation, box, stats, claims=claims)
