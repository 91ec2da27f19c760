"""The coarsest exact lumping of a network (Ressi et al.): one forward pass merges, one backward pass removes.

Floats only propose: neurons are grouped by hashing their normalised aggregated incoming vectors (exactly
proportional vectors normalise to bitwise-identical floats, so no true class is missed). Every merge and every
aggregated weight is then decided exactly: error-free float tests (the compiled loops of `ir/fastpath.py`), else
Fractions.
Removed classes are kept in the relation as ghost classes (ir/relation.py), so that their removal is provable.
Theory and the pitfalls this avoids: /work/shared/design/lumping-theory.md.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction
from functools import cache, lru_cache

import numpy as np

from ..ir.activation import Activation
from ..ir.domain import Box
from ..ir import fastpath
from ..ir.exact import ONE, as_fractions, to_fraction
from ..ir.network import Layer, Network
from ..ir.relation import LayerRelation, NeuronMap, Relation
from .aggregate import Incoming, Scratch, Terms, aggregate


@dataclass
class LayerStats:
    layer: int  # index of the hidden layer in the network (1 = first hidden layer)
    before: int
    after: int
    reasons: dict[str, int]  # reason (relation.REASONS) -> number of original neurons


@dataclass
class ReductionStats:
    layers: list[LayerStats]
    params_before: int
    params_after: int
    seconds: float


@dataclass
class Reduction:
    """An original network, its exact quotient, and the relation proving one computes the other."""

    original: Network
    network: Network
    relation: Relation
    domain: Box | None  # None: exact on all of R^n
    stats: ReductionStats

    @property
    def partition(self) -> list[list[list[int]]]:
        """Per hidden layer, the classes of original neuron indices (constants and dead neurons in none)."""
        return [layer.classes() for layer in self.relation.layers]

    @property
    def factors(self) -> list[list[Fraction]]:
        """Per hidden layer, per original neuron, its factor relative to its class or ghost class (0 for constants)."""
        return [[m.factor for m in layer.maps] for layer in self.relation.layers]


def merge_allowed(activation: Activation, factor: Fraction) -> bool:
    """May v = factor·v_rep (+ offset) follow from a(s) = factor·a(rep)? Needs σ(c·z) = c·σ(z) (+ a constant):
    Activation.merge_offset (ReLU(-z) != -ReLU(z); tanh(-z) = -tanh(z), sigmoid(-z) = 1 - sigmoid(z))."""
    return activation.merge_offset(factor) is not None


@cache
def _plain_map(cls: int, reason: str) -> NeuronMap:
    """v = v'_cls ("kept" or "duplicate"); shared, since maps are immutable and these are most of them."""
    return NeuronMap(((cls, ONE),), Fraction(0), reason)


def _merge_map(activation: Activation, cls: int, factor: Fraction) -> NeuronMap:
    if factor is ONE or factor == 1:
        return _plain_map(cls, "duplicate")
    if factor == -1 and activation.kind in ("tanh", "sigmoid"):
        return NeuronMap(((cls, factor),), activation.merge_offset(factor), "negated")
    return _proportional_map(cls, factor)


@lru_cache(maxsize=1 << 16)
def _proportional_map(cls: int, factor: Fraction) -> NeuronMap:
    """v = factor·v'_cls; cached (maps are immutable): the same class and factor recur in layer after layer."""
    return NeuronMap(((cls, factor),), Fraction(0), "proportional")


def _constant_value(activation: Activation, bias: Fraction) -> Fraction | None:
    """σ(b) when it is rational (always for piecewise-linear σ; sigmoid/tanh only at 0), else None."""
    if activation.piecewise_linear or bias == 0:
        return activation.exact(bias)
    return None


# ---------------------------------------------------------------- grouping: proportional aggregated vectors


def row_keys(z: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(key, pivot) per row of a float block z = [a | b] (`fastpath.row_keys`: exactly proportional rows, by a factor
    the mode divides out, get equal keys)."""
    if not z.shape[1]:
        return np.zeros(len(z), dtype=np.uint64), np.zeros(len(z), dtype=np.intp)
    return fastpath.row_keys(z[:, :-1], z[:, -1], np.arange(len(z)), mode)


def _group_pairs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (candidate, first) pairing each element of a group of equal keys with the group's lowest position."""
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    first = np.ones(len(k), dtype=bool)
    first[1:] = k[1:] != k[:-1]
    head = order[np.maximum.accumulate(np.where(first, np.arange(len(k)), 0))]
    return order[~first], head[~first]


def _entries(inc: Incoming, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Float64 values of (a | b)[rows, cols] (column a.shape[1] is b)."""
    m = inc.a.shape[1]
    inside = np.minimum(cols, max(m - 1, 0))
    values = inc.a[rows, inside].astype(np.float64) if m else np.zeros(len(rows))
    return np.where(cols < m, values, inc.b[rows])


def _verify(
    inc: Incoming, cand: np.ndarray, rep: np.ndarray, pivots: np.ndarray, activation: Activation
) -> list[Fraction | None]:
    """Exact factor c with a(cand) = c·a(rep) when that merge is admissible for σ, else None (per pair)."""
    out: list[Fraction | None] = [None] * len(cand)
    num, den = _entries(inc, cand, pivots), _entries(inc, rep, pivots)
    status = fastpath.proportional((inc.a, inc.b), cand, (inc.a, inc.b), rep, pivots)
    ok = status == 1
    zero = den == 0  # the representative's row is all zero: only an all-zero row equals it
    ok[zero] = ~inc.a[cand[zero]].any(axis=1) & (inc.b[cand[zero]] == 0)
    for k in np.flatnonzero((status == fastpath.UNDECIDED) & ~zero):  # magnitudes outside the error-free range
        n, d = Fraction(float(num[k])), Fraction(float(den[k]))
        x, y = (as_fractions(np.append(inc.a[i].astype(np.float64), inc.b[i])) for i in (cand[k], rep[k]))
        ok[k] = bool(np.all(x * d == y * n))
    with np.errstate(all="ignore"):
        ratio = np.where(zero, 1.0, num / np.where(zero, 1.0, den))
    # the float ratio IS the exact ratio when the pivots' significands agree (and it neither over- nor underflows)
    same = np.abs(np.frexp(num)[0]) == np.abs(np.frexp(den)[0])
    by_float = ok & (zero | (same & np.isfinite(ratio) & (ratio != 0)))
    values, which = np.unique(ratio[by_float], return_inverse=True)
    factors = [ONE if v == 1 else Fraction(v) for v in values]
    allowed = [merge_allowed(activation, c) for c in factors]
    for k, u in zip(np.flatnonzero(by_float).tolist(), which.tolist()):
        if allowed[u]:
            out[k] = factors[u]
    for k in np.flatnonzero(ok & ~by_float):
        c = Fraction(float(num[k])) / Fraction(float(den[k]))
        if merge_allowed(activation, c):
            out[k] = c
    return out


SAMPLED_COLUMNS = 64
"""The first grouping hashes this many evenly spaced columns of each row (and its bias); rows it pairs wrongly are
grouped again on their whole rows."""


def _float_classes(inc: Incoming, rows: np.ndarray, activation: Activation) -> dict[int, tuple]:
    """{s: (rep, c)} for every non-representative s among rows (float64 rows); rep = lowest index of its class.
    Keys only propose pairs (equal rows by an admissible factor always share a key, sampled or whole); `_verify`
    decides each pair exactly, and the rejected are grouped again among themselves on whole-row keys."""
    m = inc.a.shape[1]
    sample = np.unique(np.linspace(0, m, min(SAMPLED_COLUMNS, m) + 1).astype(np.intp))
    keys, pivots = fastpath.row_keys(inc.a, inc.b, rows, activation.merge_mode, sample)
    whole = len(sample) == m + 1
    merged: dict[int, tuple[int, Fraction]] = {}
    pending = np.arange(len(rows))
    while len(pending):
        cand, head = _group_pairs(keys[pending])
        cand, head = pending[cand], pending[head]
        factors = _verify(inc, rows[cand], rows[head], pivots[head], activation)
        for s, r, c in zip(rows[cand].tolist(), rows[head].tolist(), factors):
            if c is not None:
                merged[s] = (r, c)
        # a hash collision, a sampled key or a float near-miss: regroup the rejected among themselves
        pending = np.sort(cand[[c is None for c in factors]]) if len(cand) else cand
        if len(pending) and not whole:
            keys[pending] = fastpath.row_keys(inc.a, inc.b, rows[pending], activation.merge_mode)[0]
            whole = True
    return merged


def _fraction_classes(inc: Incoming, rows: np.ndarray, activation: Activation) -> dict[int, tuple]:
    """Same as `_float_classes` for Fraction rows, keyed exactly: positive multiples share their primitive
    integer vector; the pivot's sign (when c < 0 is admissible) and size (when only c = ±1 is) complete the key."""
    mode = activation.merge_mode
    af, bf = as_fractions(inc.a), as_fractions(inc.b)
    seen: dict[tuple, tuple[int, Fraction]] = {}
    merged: dict[int, tuple[int, Fraction]] = {}
    for s in rows:
        row = [*af[s], bf[s]]
        lead = next((v for v in row if v != 0), Fraction(0))
        key: tuple = _primitive(row)
        if mode != "pos" and lead < 0:
            key = tuple(-i for i in key)
        if mode == "sign":
            key = (key, abs(lead))
        hit = seen.get(key)
        if hit is None:
            seen[key] = (int(s), lead)
            continue
        c = lead / hit[1] if lead else ONE
        if merge_allowed(activation, c):
            merged[int(s)] = (hit[0], c)
    return merged


def _primitive(row: list[Fraction]) -> tuple[int, ...]:
    """The row times the positive rational that makes it coprime integers (all-zero rows stay zero)."""
    den = math.lcm(*(v.denominator for v in row))
    ints = [v.numerator * (den // v.denominator) for v in row]
    g = math.gcd(*ints) or 1
    return tuple(i // g for i in ints)


def _lump_layer(inc: Incoming, activation: Activation, fold_constants: bool) -> tuple[LayerRelation, np.ndarray]:
    """The coarsest admissible classes of one layer from its aggregated incoming vectors, and their
    representatives (lowest original index of each class)."""
    n = inc.a.shape[0]
    constants: dict[int, Fraction] = {}
    if fold_constants:
        first_zero = np.flatnonzero(inc.a[:, 0] == 0) if inc.a.shape[1] else np.arange(n)  # dense rows end here
        for s in first_zero[~(inc.a[first_zero] != 0).any(axis=1)]:
            value = _constant_value(activation, to_fraction(inc.b[s]))
            if value is not None:
                constants[int(s)] = value
    rows = np.setdiff1d(np.arange(n), np.fromiter(constants, dtype=np.intp, count=len(constants)))
    merged = (_float_classes if inc.floats else _fraction_classes)(inc, rows, activation)
    kept = np.ones(n, dtype=bool)
    kept[list(constants)] = False
    kept[list(merged)] = False
    reps = np.flatnonzero(kept)
    cls = dict(zip(reps.tolist(), range(len(reps))))  # representative -> its class
    maps: list[NeuronMap] = [None] * n  # type: ignore[list-item]  # every entry is set below
    for s, c in cls.items():
        maps[s] = _plain_map(c, "kept")
    for s, value in constants.items():
        maps[s] = NeuronMap((), value, "constant")
    for s, (rep, c) in merged.items():
        maps[s] = _merge_map(activation, cls[rep], c)
    return LayerRelation(maps, len(reps)), reps


def _representatives(layer: LayerRelation, index: int) -> np.ndarray:
    """For each reduced neuron, the lowest original neuron equal to it (factor 1, offset 0)."""
    reps = [next((r for r in rs if layer.maps[r].terms[0][1] == 1 and layer.maps[r].offset == 0), -1)
            for rs in layer.classes()]
    missing = [j for j, r in enumerate(reps) if r < 0]
    if missing:
        raise ValueError(
            f"hidden layer {index}: reduced neuron {missing[0]} has no representative (factor 1, offset 0)"
        )
    return np.array(reps, dtype=np.intp)


# ---------------------------------------------------------------- backward: dead classes


def _drop_classes(layer: LayerRelation, alive: np.ndarray) -> LayerRelation:
    """Turn removed classes into ghost classes: live reduced neurons are renumbered 0.., removed ones follow in
    order. Their members become 'dead' but keep factor and offset (v_r = c_r·g + d_r, and d_r·W still reaches
    the next bias); the class's 'kept' member, 1·g + 0, is the ghost's representative."""
    live = int(alive.sum())
    index = np.empty(len(alive), dtype=np.intp)
    index[alive] = np.arange(live)
    index[~alive] = live + np.arange(len(alive) - live)
    maps = []
    for m in layer.maps:
        if not m.terms:
            maps.append(m)
            continue
        ((c, f),) = m.terms  # the forward pass makes single-term maps only
        j = int(index[c])
        if not alive[c]:
            maps.append(NeuronMap(((j, f),), m.offset, "dead"))
        else:
            maps.append(m if j == c else NeuronMap(((j, f),), m.offset, m.reason))
    return LayerRelation(maps, live, len(alive) - live)


def _remove_dead(parts: list[list[np.ndarray]], relation: list[LayerRelation]) -> None:
    """Backwards: a reduced neuron whose outgoing weights (to surviving neurons) are all zero becomes a ghost."""
    for ell in reversed(range(len(relation))):
        nxt = parts[ell + 1][0]
        alive = (nxt != 0).any(axis=0)
        if alive.all():
            continue
        parts[ell + 1][0] = nxt[:, alive]
        parts[ell][0] = parts[ell][0][alive]
        parts[ell][1] = parts[ell][1][alive]
        relation[ell] = _drop_classes(relation[ell], alive)


# ---------------------------------------------------------------- public API


def reduce(net: Network, *, fold_constants: bool = True, remove_dead: bool = True) -> Reduction:
    """The coarsest exact lumping of `net` (valid on all of R^n) and its quotient network."""
    start = time.perf_counter()
    hidden = len(net.layers) - 1
    terms = Terms.of_inputs(net.input_size)
    relation: list[LayerRelation] = []
    parts: list[list[np.ndarray]] = []
    scratch = Scratch()  # float32 stays float32 (no whole-model copy); one aggregation buffer for all layers
    for ell, layer in enumerate(net.layers):
        inc = aggregate(layer.stored_weight, layer.stored_bias, terms, scratch)
        if ell < hidden:
            lumped, reps = _lump_layer(inc, layer.activation, fold_constants)
            part = inc.select(reps)
            terms = Terms.of(lumped)
            relation.append(lumped)
        else:
            part = inc.select()
        parts.append([x.copy() if scratch.holds(x) else x for x in part])  # no row merged: views of the buffer
        del inc, part  # the next layer's aggregation should not coexist with this one
    del scratch
    if remove_dead:
        _remove_dead(parts, relation)
    layers = []
    for layer in net.layers:  # release each part once its Layer holds a copy (peak memory)
        a, b = parts.pop(0)
        layers.append(Layer(a, b, layer.activation))
    reduced = Network(layers, normalization=net.normalization, source=net.source, meta=dict(net.meta))
    stats = ReductionStats(
        [LayerStats(ell + 1, len(lr.maps), lr.reduced_width, lr.reason_counts()) for ell, lr in enumerate(relation)],
        net.param_count,
        reduced.param_count,
        time.perf_counter() - start,
    )
    return Reduction(net, reduced, Relation(relation), None, stats)


def quotient(net: Network, relation: Relation) -> Network:
    """The reduced network a (valid) relation describes: each reduced neuron gets its representative's
    aggregated incoming vector; constants, offsets and factors are folded into the next layer, exactly.
    Ghost classes have no neuron (their weights are zero when the relation is valid; the checker decides that)."""
    hidden = len(net.layers) - 1
    if len(relation.layers) != hidden:
        raise ValueError(f"relation has {len(relation.layers)} layers, network has {hidden} hidden layers")
    terms = Terms.of_inputs(net.input_size)
    layers: list[Layer] = []
    for ell, layer in enumerate(net.layers):
        inc = aggregate(layer.weight, layer.bias, terms)
        if ell < hidden:
            lr = relation.layers[ell]
            if len(lr.maps) != layer.out_features:
                raise ValueError(
                    f"hidden layer {ell + 1}: relation maps {len(lr.maps)} neurons, layer has {layer.out_features}"
                )
            layers.append(Layer(*inc.select(_representatives(lr, ell + 1)), layer.activation))
            terms = Terms.of(lr)
        else:
            layers.append(Layer(*inc.select(), layer.activation))
    return Network(layers, normalization=net.normalization, source=net.source, meta=dict(net.meta))
