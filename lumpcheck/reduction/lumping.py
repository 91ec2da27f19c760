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
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

from ..ir.activation import Activation
from ..ir.domain import Box
from ..ir import fastpath
from ..ir.exact import ONE, as_fractions, to_fraction
from ..ir.network import Layer, Network, Outline
from ..ir.relation import REASONS, LayerRelation, LumpedMaps, Relation
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
    """An original network, its exact quotient, and the relation proving one computes the other. `original` is only
    the network's Outline when reduce released its layers (`release`): then it cannot be proved or checked."""

    original: Network | Outline
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


class FactorTable:
    """The distinct factors and offsets of one layer's maps, coded 0.. (0 and 1 first)."""

    def __init__(self) -> None:
        self.code: dict[Fraction, int] = {Fraction(0): 0, ONE: 1}

    def of(self, value: Fraction) -> int:
        return self.code.setdefault(value, len(self.code))

    @property
    def values(self) -> tuple[Fraction, ...]:
        return tuple(self.code)


_REASON = {name: np.uint8(k) for k, name in enumerate(REASONS)}
_MERGE_REASONS = tuple(int(_REASON[name]) for name in ("kept", "duplicate", "proportional"))


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


def _entries(inc: Incoming, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Float64 values of (a | b)[rows, cols] (column a.shape[1] is b)."""
    m = inc.a.shape[1]
    inside = np.minimum(cols, max(m - 1, 0))
    values = inc.a[rows, inside].astype(np.float64) if m else np.zeros(len(rows))
    return np.where(cols < m, values, inc.b[rows])


@lru_cache(maxsize=64)
def admitted(activation: Activation) -> str:
    """Which factors σ admits in a merge (fastpath.ADMIT), from `merge_offset` itself."""
    neg, other = activation.merge_offset(Fraction(-1)) is not None, activation.merge_offset(Fraction(2)) is not None
    return ("any" if neg else "pos") if other else ("sign" if neg else "one")


def _factor_codes(code: np.ndarray, ratios: np.ndarray, pivots: Callable, activation: Activation,
                  table: FactorTable) -> np.ndarray:
    """The table code of the exact factor of each merged pair: ratios[code] where the factor is a float (code >= 0),
    else the quotient of its two pivot values (`pivots(at)`: (num, den) arrays, read only then) as Fractions. Each
    distinct factor is checked against σ (`_admitted`)."""
    lut = np.array([table.of(f) for f in _float_factors(tuple(ratios.tolist()), activation)] + [-1], dtype=np.intp)
    codes = lut[code]  # code -1: lut's last entry, replaced below
    at = np.flatnonzero(code < 0)
    if len(at):
        num, den = pivots(at)
        for k, n, d in zip(at.tolist(), num.tolist(), den.tolist()):
            codes[k] = table.of(_admitted(Fraction(n) / Fraction(d), activation))
    return codes


@lru_cache(maxsize=1024)
def _float_factors(values: tuple[float, ...], activation: Activation) -> tuple[Fraction, ...]:
    """`_admitted` of each float's exact value (the same few factor lists recur in every layer)."""
    return tuple(_admitted(Fraction(v), activation) for v in values)


def _admitted(factor: Fraction, activation: Activation) -> Fraction:
    """A factor `fastpath.classes` merged by; one that σ does not admit is a bug, never a merge."""
    if not merge_allowed(activation, factor):
        raise RuntimeError(f"internal: factor {factor} proposed for {activation.kind}")
    return factor


SAMPLED_COLUMNS = 32
"""The grouping hashes this many evenly spaced columns of each row (and its bias); rows that agree on them are
compared on whole-row keys before the exact test. Keys only propose (the classes do not depend on them): 32 rather than
64 saves about a sixth of `classes` at width 512 (one division per sampled entry); a row pair that agrees on a weaker
sample costs one whole-row key each."""


@lru_cache(maxsize=64)
def _sample(m: int) -> np.ndarray:
    """SAMPLED_COLUMNS evenly spaced columns of 0..m (m: the bias), read-only (shared between calls)."""
    cols = np.unique(np.linspace(0, m, min(SAMPLED_COLUMNS, m) + 1).astype(np.intp))
    cols.flags.writeable = False
    return cols


def _float_classes(inc: Incoming, rows: np.ndarray, activation: Activation, table: FactorTable) -> tuple:
    """(members, representatives, factor codes): every non-representative s among rows (float rows), its class's
    representative (its lowest index) and the code of its factor, from one pass of `fastpath.classes` (keys
    propose, an exact comparison decides)."""
    rep, piv, code, ratios = fastpath.classes(inc.a, inc.b, rows, activation.merge_mode, admitted(activation),
                                              _sample(inc.a.shape[1]))
    merged = rep != rows
    member, rep = rows[merged], rep[merged]
    at = lambda k: piv[merged][k]  # noqa: E731 (pivots are read only for factors that are no floats)
    codes = _factor_codes(code[merged], ratios,
                          lambda k: (_entries(inc, member[k], at(k)), _entries(inc, rep[k], at(k))), activation, table)
    return member, rep, codes


def _fraction_classes(inc: Incoming, rows: np.ndarray, activation: Activation, table: FactorTable) -> tuple:
    """Same as `_float_classes` for Fraction rows, keyed exactly: positive multiples share their primitive
    integer vector; the pivot's sign (when c < 0 is admissible) and size (when only c = ±1 is) complete the key."""
    mode = activation.merge_mode
    af, bf = as_fractions(inc.a), as_fractions(inc.b)
    seen: dict[tuple, tuple[int, Fraction]] = {}
    merged: list[tuple[int, int, int]] = []
    for s in rows.tolist():
        row = [*af[s], bf[s]]
        lead = next((v for v in row if v != 0), Fraction(0))
        key: tuple = _primitive(row)
        if mode != "pos" and lead < 0:
            key = tuple(-i for i in key)
        if mode == "sign":
            key = (key, abs(lead))
        hit = seen.get(key)
        if hit is None:
            seen[key] = (s, lead)
            continue
        c = lead / hit[1] if lead else ONE
        if merge_allowed(activation, c):
            merged.append((s, hit[0], table.of(c)))
    return tuple(np.array([t[k] for t in merged], dtype=np.intp) for k in range(3))


def _primitive(row: list[Fraction]) -> tuple[int, ...]:
    """The row times the positive rational that makes it coprime integers (all-zero rows stay zero)."""
    den = math.lcm(*(v.denominator for v in row))
    ints = [v.numerator * (den // v.denominator) for v in row]
    g = math.gcd(*ints) or 1
    return tuple(i // g for i in ints)


def _constants(inc: Incoming, activation: Activation) -> dict[int, Fraction]:
    """{s: σ(b_s)} for the neurons whose aggregated weights are all zero (their value is a rational constant)."""
    n = inc.a.shape[0]
    first_zero = np.flatnonzero(inc.a[:, 0] == 0) if inc.a.shape[1] else np.arange(n)  # dense rows end here
    constants: dict[int, Fraction] = {}
    if not len(first_zero):
        return constants
    for s in first_zero[~(inc.a[first_zero] != 0).any(axis=1)].tolist():
        value = _constant_value(activation, to_fraction(inc.b[s]))
        if value is not None:
            constants[s] = value
    return constants


def _lump_layer(inc: Incoming, activation: Activation, fold_constants: bool) -> tuple[LayerRelation, np.ndarray]:
    """The coarsest admissible classes of one layer from its aggregated incoming vectors, and their
    representatives (lowest original index of each class)."""
    n = inc.a.shape[0]
    table = FactorTable()
    constants = _constants(inc, activation) if fold_constants else {}
    fixed = np.fromiter(constants, dtype=np.intp, count=len(constants))
    rows = np.setdiff1d(np.arange(n), fixed) if constants else np.arange(n)
    member, rep, code = (_float_classes if inc.floats else _fraction_classes)(inc, rows, activation, table)
    cls, factor, reason, reps = fastpath.lumped_maps(n, fixed, member, rep, code, table.of(ONE), _MERGE_REASONS)
    offset = np.zeros(n, dtype=np.int32)
    minus = table.code.get(-ONE) if activation.kind in ("tanh", "sigmoid") else None
    if minus is not None:  # negated: σ odd up to a constant
        at = member[code == minus]
        reason[at], offset[at] = _REASON["negated"], table.of(activation.merge_offset(-ONE))
    for s, value in constants.items():
        factor[s], offset[s], reason[s] = 0, table.of(value), _REASON["constant"]
    return LayerRelation(LumpedMaps(cls, factor, offset, reason, table.values), len(reps)), reps


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
    index = np.empty(len(alive), dtype=np.int64)
    index[alive] = np.arange(live)
    index[~alive] = live + np.arange(len(alive) - live)
    m = layer.maps
    if not isinstance(m, LumpedMaps):
        raise TypeError("_drop_classes works on the forward pass's LumpedMaps")
    has = m.cls >= 0
    cls, reason = m.cls.copy(), m.reason.copy()
    cls[has] = index[m.cls[has]]
    reason[has & ~alive[np.maximum(m.cls, 0)]] = _REASON["dead"]
    return LayerRelation(LumpedMaps(cls, m.factor, m.offset, reason, m.table), live, len(alive) - live)


def _remove_dead(parts: list[list[np.ndarray]], relation: list[LayerRelation]) -> None:
    """Backwards: a reduced neuron whose outgoing weights (to surviving neurons) are all zero becomes a ghost."""
    for ell in reversed(range(len(relation))):
        nxt = parts[ell + 1][0]
        alive = np.full(nxt.shape[1], len(nxt) > 0)  # without rows every column is dead
        if len(nxt):  # a column nonzero in the first row is alive; only the others are read whole
            zero = np.flatnonzero(np.asarray(nxt[0] == 0, dtype=bool))
            alive[zero] = np.asarray(nxt[:, zero].any(axis=0), dtype=bool)  # exact arrays have no NaN
        if alive.all():
            continue
        parts[ell + 1][0] = nxt[:, alive]
        parts[ell][0] = parts[ell][0][alive]
        parts[ell][1] = parts[ell][1][alive]
        relation[ell] = _drop_classes(relation[ell], alive)


# ---------------------------------------------------------------- public API


def reduce(net: Network, *, fold_constants: bool = True, remove_dead: bool = True, release: bool = False) -> Reduction:
    """The coarsest exact lumping of `net` (valid on all of R^n) and its quotient network.

    `release`: the caller hands `net` over (peak memory: the original and the quotient never coexist whole). Each
    original layer is taken out of `net.layers` as it is read and dropped once aggregated, so `net` (and whoever
    shares its layer list) is left with no layers and must not be used for them again; the Reduction's `original`
    is then `net.outline()`, on which nothing can be proved. A layer someone else still holds is not freed."""
    start = time.perf_counter()
    original = net.outline() if release else net
    activations = [layer.activation for layer in net.layers]
    hidden = len(activations) - 1
    terms = Terms.of_inputs(net.input_size)
    relation: list[LayerRelation] = []
    parts: list[list[np.ndarray]] = []
    scratch = Scratch()  # float32 stays float32 (no whole-model copy); one aggregation buffer for all layers
    for ell in range(hidden + 1):
        layer = net.layers.pop(0) if release else net.layers[ell]
        inc = aggregate(layer.stored_weight, layer.stored_bias, terms, scratch)
        if ell < hidden:
            lumped, reps = _lump_layer(inc, layer.activation, fold_constants)
            part = inc.select(reps)
            terms = Terms.of(lumped)
            relation.append(lumped)
        else:
            part = inc.select()
        parts.append([x.copy() if scratch.holds(x) else x for x in part])  # no row merged: views of the buffer
        del inc, part, layer  # the next layer's aggregation should not coexist with this one (nor, released, W)
    del scratch
    if remove_dead:
        _remove_dead(parts, relation)
    layers = []
    for activation in activations:  # release each part once its Layer holds a copy (peak memory)
        a, b = parts.pop(0)
        layers.append(Layer(a, b, activation, finite=True))  # rows of aggregations: `Incoming` is finite
    reduced = Network(layers, normalization=net.normalization, source=net.source, meta=dict(net.meta))
    stats = ReductionStats(
        [LayerStats(ell + 1, len(lr.maps), lr.reduced_width, lr.reason_counts()) for ell, lr in enumerate(relation)],
        original.param_count,
        reduced.param_count,
        time.perf_counter() - start,
    )
    return Reduction(original, reduced, Relation(relation), None, stats)


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
