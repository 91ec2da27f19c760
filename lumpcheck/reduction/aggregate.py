"""Aggregated incoming vectors: each neuron's weights over the previous layer's classes, exactly (lumping.py).

a(s) = Σ_r W(s, r)·(factor of r) over the members r of each class, plus the offsets folded into the bias. Float64
where error-free tests prove every sum and product exact (the compiled loop of ir/fastpath.py; ir/exact.py for the
offsets), else Fractions for the few entries
that need them (`_repair`), or for the whole layer when its weights are Fractions already.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

from ..ir import fastpath
from ..ir.exact import ONE, as_fractions, canonical, exact_add, exact_scale, gradual_underflow
from ..ir.relation import LayerRelation

_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))  # exact float arrays (float32 -> float64 never rounds)


@dataclass(frozen=True)
class Terms:
    """A layer's original neurons as seen by the next layer: v_r = Σ factor·v'_col + offset_r, flattened (term t:
    neuron rows[t], class cols[t], factor table[codes[t]])."""

    size: int
    width: int
    rows: np.ndarray
    cols: np.ndarray
    codes: np.ndarray
    table: tuple[Fraction, ...]
    offsets: tuple[tuple[int, Fraction], ...]
    identity: bool

    @classmethod
    def of_inputs(cls, n: int) -> "Terms":
        idx = np.arange(n)
        return cls(n, n, idx, idx, np.zeros(n, dtype=np.intp), (ONE,), (), True)

    @classmethod
    def of(cls, layer: LayerRelation) -> "Terms":
        """Terms on ghost classes are left out: in a valid relation their aggregated weights are all zero."""
        flat = layer.flat_terms(below=layer.reduced_width)
        n, rows, cols = len(layer.maps), flat.rows, flat.cols
        identity = (
            layer.reduced_width == n
            and len(rows) == n
            and not flat.offsets
            and bool(np.all(rows == np.arange(n)) and np.all(cols == rows))
            and all(flat.table[c] == 1 for c in np.unique(flat.codes).tolist())
        )
        return cls(n, layer.reduced_width, rows, cols, flat.codes, flat.table, flat.offsets, identity)

    @property
    def factors(self) -> list[Fraction]:
        """The factor of each term."""
        return [self.table[c] for c in self.codes.tolist()]


@dataclass
class Incoming:
    """The aggregated incoming vectors of one layer: row s is (a(s), b(s)), a of shape (neurons, width), columns in
    reduced-neuron order.

    FINITE BY CONSTRUCTION (the one place this fact is proven; `reduce` builds its quotient's Layers with
    `finite=True` on it): `aggregate` reads a Layer's arrays, finite (Layer-checked) or Fractions. Identity terms
    pass them on as they are. Float entries the kernel does not flag are exact values of sums of products of finite
    weights and float factors, each product and partial sum proven exact (`fastpath.aggregate`: an overflow to inf
    fails the product test (p·(1/c) != x), Dekker's range or the sum test (s - a != p)), hence finite; the bias is the
    Layer's; flagged entries, offsets and factors that are no float are recomputed as Fractions and kept as float64
    only where `canonical` finds them finite and exact. Rows and columns taken from these arrays stay finite. Tests:
    tests/reduction/test_lumping_finite.py (sums and products that overflow; every quotient layer finite and exact).
    """

    a: np.ndarray
    b: np.ndarray

    @property
    def floats(self) -> bool:
        """Grouping may use the float fast path (float64 or float32 arrays, read as float64 rows, and IEEE gradual
        underflow)."""
        return self.a.dtype in _FLOATS and self.b.dtype in _FLOATS and gradual_underflow()

    def select(self, reps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(weight, bias) of the neurons `reps` (default all)."""
        if reps is None or (len(reps) == self.a.shape[0] and np.array_equal(reps, np.arange(len(reps)))):
            return self.a, self.b
        return self.a[reps], self.b[reps]


class Scratch:
    """One float64 buffer for successive aggregations: fresh pages cost the kernel a zeroing pass each (at width
    4096 that is about as much as the aggregation itself). Whoever keeps an aggregation's arrays copies those it
    `holds`."""

    def __init__(self) -> None:
        self.buffer: np.ndarray | None = None

    def take(self, rows: int, cols: int) -> np.ndarray:
        if self.buffer is None or self.buffer.size < rows * cols:
            self.buffer = np.empty(rows * cols)
        return self.buffer[: rows * cols].reshape(rows, cols)

    def holds(self, x: np.ndarray) -> bool:
        return self.buffer is not None and bool(np.may_share_memory(x, self.buffer))


def aggregate(weight: np.ndarray, bias: np.ndarray, terms: Terms, scratch: Scratch | None = None) -> Incoming:
    """A[s, j] = Σ_{r→j} factor·W[s, r] and b'[s] = b[s] + Σ_r offset_r·W[s, r], exactly. With `scratch`, the
    float result may live in its buffer (valid until the next aggregation with it)."""
    if terms.identity:
        return Incoming(weight, bias)
    if weight.dtype == object or bias.dtype == object or not gradual_underflow():
        out = _aggregate_fractions(weight, bias, terms)
        return Incoming(out[:, :-1], out[:, -1])
    return _aggregate_floats(weight, bias, terms, scratch)


def _all_terms(terms: Terms, column: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[Fraction]]:
    """(source, destination, factor) of every contribution, the bias being source `size` and destination
    `width`; destinations are mapped through `column` (reduced neuron -> stored column)."""
    src = np.concatenate([terms.rows, [r for r, _ in terms.offsets], [terms.size]]).astype(np.intp)
    dst = np.concatenate([column[terms.cols], [terms.width] * (len(terms.offsets) + 1)]).astype(np.intp)
    return src, dst, [*terms.factors, *(d for _, d in terms.offsets), ONE]


def _aggregate_floats(weight: np.ndarray, bias: np.ndarray, terms: Terms, scratch: Scratch | None) -> Incoming:
    """Float64 aggregation with every product and partial sum proven exact; unproven entries are redone exactly.

    One compiled pass over the rows of W (ir/fastpath.aggregate: float32 is read as float64, exactly, and never
    widened as a whole), each product and each addition checked error-free as it is done; flagged entries, the
    factors that are no floats and the offsets' inexact sums go to `_repair` (Fractions).
    """
    n_out, width = weight.shape[0], terms.width
    fac, representable, all_floats = _float_table(terms.table)
    ext = np.empty((n_out, width + 1)) if scratch is None else scratch.take(n_out, width + 1)
    bad = np.zeros((n_out, width + 1), dtype=bool)  # calloc: pages the kernel never flags are never touched
    flagged = fastpath.aggregate(weight, terms.cols, terms.rows, terms.codes, fac, width, ext, bad) > 0
    if not all_floats:  # no float factor (0.0 in `fac`): those columns are done with Fractions
        no_float = ~representable[terms.codes]
        bad[:, terms.cols[no_float]] = True
        flagged = flagged or bool(no_float.any())
    ext[:, width] = bias
    for r, d in terms.offsets:
        prod, inexact = exact_scale(weight[:, r].astype(np.float64), np.float64(d))
        total, inexact_sum = exact_add(ext[:, width], prod)
        ext[:, width] = total
        bad[:, width] |= inexact | inexact_sum | (Fraction(float(d)) != d)
        flagged = flagged or bool(bad[:, width].any())
    if flagged:
        ext = _repair(ext, bad, weight, bias, *_all_terms(terms, np.arange(width)))
    return Incoming(ext[:, :width], ext[:, width])


@lru_cache(maxsize=256)
def _float_table(table: tuple[Fraction, ...]) -> tuple[np.ndarray, np.ndarray, bool]:
    """Each factor of a table as float64 where that float is the factor exactly (else 0.0), which ones are, and whether
    all are (read-only: shared between calls; the same few tables recur in every layer)."""
    value = np.array([_float_or_zero(f) for f in table], dtype=np.float64)
    exact = np.array([Fraction(v) == f for v, f in zip(value.tolist(), table)], dtype=bool)
    out = np.where(exact, value, 0.0)
    out.flags.writeable = exact.flags.writeable = False
    return out, exact, bool(exact.all())


def _float_or_zero(f: Fraction) -> float:
    """float(f), or 0.0 beyond the float64 range (a factor such as 2^2000 between rows of tiny and huge weights)."""
    try:
        return float(f)
    except OverflowError:
        return 0.0


def _repair(
    out: np.ndarray, bad: np.ndarray, weight: np.ndarray, bias: np.ndarray, src: np.ndarray, dst: np.ndarray, fac: list
) -> np.ndarray:
    """Recompute flagged entries with Fractions; stay float64 if all are floats, else go object (exact)."""
    pending: list[tuple[np.ndarray, int, np.ndarray]] = []
    for j in np.flatnonzero(bad.any(axis=0)):
        rows = np.flatnonzero(bad[:, j])
        value = np.full(len(rows), Fraction(0), dtype=object)
        for t in np.flatnonzero(dst == j):
            column = bias if src[t] == weight.shape[1] else weight[:, src[t]]
            value = value + fac[t] * as_fractions(column[rows])
        floats = canonical(value)
        if floats.dtype == np.float64:
            out[rows, j] = floats
        else:  # beyond float64 (its float may be inf): a placeholder until the array holds Fractions
            out[rows, j] = 0.0
            pending.append((rows, int(j), value))
    if not pending:
        return out
    out = as_fractions(out)
    for rows, j, value in pending:
        out[rows, j] = value
    return out


def _aggregate_fractions(weight: np.ndarray, bias: np.ndarray, terms: Terms) -> np.ndarray:
    """[A | b'] on Fractions (networks read from decimal text); back to float64 when that is exact."""
    w, b = as_fractions(weight), as_fractions(bias)
    out = np.full((weight.shape[0], terms.width + 1), Fraction(0), dtype=object)
    for r, j, f in zip(*_all_terms(terms, np.arange(terms.width))):
        column = b if r == weight.shape[1] else w[:, r]
        out[:, j] = out[:, j] + (column if f == 1 else f * column)
    return canonical(out)
