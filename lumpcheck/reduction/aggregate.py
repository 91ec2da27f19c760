"""Aggregated incoming vectors: each neuron's weights over the previous layer's classes, exactly (lumping.py).

a(s) = Σ_r W(s, r)·(factor of r) over the members r of each class, plus the offsets folded into the bias. Float64
where error-free transforms prove every sum and product exact (ir/exact.py), else Fractions for the few entries
that need them (`_repair`), or for the whole layer when its weights are Fractions already.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..ir.exact import ONE, as_fractions, canonical, exact_add, exact_scale, float32_rows_exact, gradual_underflow
from ..ir.relation import LayerRelation

CHUNK_BYTES = 1 << 22  # temporaries are processed in blocks of about 4 MB (cache-sized)
_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))  # exact float arrays (float32 -> float64 never rounds)


def blocks(n: int, row_len: int) -> list[slice]:
    """Row ranges of about CHUNK_BYTES each for float64 rows of `row_len` entries."""
    step = max(1, CHUNK_BYTES // (8 * max(row_len, 1)))
    return [slice(lo, lo + step) for lo in range(0, n, step)]


@dataclass(frozen=True)
class Terms:
    """A layer's original neurons as seen by the next layer: v_r = Σ factor·v'_col + offset_r, flattened."""

    size: int
    width: int
    rows: np.ndarray
    cols: np.ndarray
    factors: tuple[Fraction, ...]
    offsets: tuple[tuple[int, Fraction], ...]
    identity: bool

    @classmethod
    def of_inputs(cls, n: int) -> "Terms":
        idx = np.arange(n)
        return cls(n, n, idx, idx, (ONE,) * n, (), True)

    @classmethod
    def of(cls, layer: LayerRelation) -> "Terms":
        """Terms on ghost classes are left out: in a valid relation their aggregated weights are all zero."""
        rows, cols, factors = [], [], []
        for r, m in enumerate(layer.maps):
            for c, f in m.terms:
                if c < layer.reduced_width:
                    rows.append(r)
                    cols.append(c)
                    factors.append(f)
        offsets = tuple((r, m.offset) for r, m in enumerate(layer.maps) if m.offset != 0)
        n = len(layer.maps)
        rows_a, cols_a = np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp)
        identity = (
            layer.reduced_width == n
            and len(rows) == n
            and not offsets
            and bool(np.all(rows_a == np.arange(n)) and np.all(cols_a == rows_a))
            and all(f == 1 for f in factors)
        )
        return cls(n, layer.reduced_width, rows_a, cols_a, tuple(factors), offsets, identity)


@dataclass
class Incoming:
    """The aggregated incoming vectors of one layer: row s is (a(s), b(s)), a of shape (neurons, width).

    The columns of `a` may be stored permuted (`order[i]` = reduced neuron of column i): grouping is
    indifferent to a common column order, and `select` restores the real one for the quotient.
    """

    a: np.ndarray
    b: np.ndarray
    ext: np.ndarray | None = None  # [a | b] as one array, when aggregation built it that way
    order: np.ndarray | None = None

    @property
    def floats(self) -> bool:
        """Grouping may use the float fast path (float64 or float32 arrays, read as float64 rows, and IEEE gradual
        underflow)."""
        return self.a.dtype in _FLOATS and self.b.dtype in _FLOATS and gradual_underflow()

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Float64 copy of the rows (a(s), b(s)) for s in idx (columns in storage order)."""
        if self.ext is not None:
            return self.ext[idx]
        out = np.empty((len(idx), self.a.shape[1] + 1))
        out[:, :-1] = self.a[idx]
        out[:, -1] = self.b[idx]
        return out

    def select(self, reps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(weight, bias) of the neurons `reps` (default all), columns in reduced-neuron order."""
        a, b = self.a, self.b
        every = reps is None or (len(reps) == a.shape[0] and np.array_equal(reps, np.arange(len(reps))))
        if self.order is None:
            return (a, b) if every else (a[reps], b[reps])
        inverse = np.argsort(self.order)
        if every:
            return np.take(a, inverse, axis=1), b
        return np.take(a.take(reps, axis=0), inverse, axis=1), b[reps]  # rows first: the column gather is the slow one


def aggregate(weight: np.ndarray, bias: np.ndarray, terms: Terms) -> Incoming:
    """A[s, j] = Σ_{r→j} factor·W[s, r] and b'[s] = b[s] + Σ_r offset_r·W[s, r], exactly."""
    if terms.identity:
        return Incoming(weight, bias)
    if weight.dtype == object or bias.dtype == object or not gradual_underflow():
        out = _aggregate_fractions(weight, bias, terms)
        if out.dtype == object:
            return Incoming(out[:, :-1], out[:, -1])
        return Incoming(out[:, :-1], out[:, -1], out)
    return _aggregate_floats(weight, bias, terms)


def _all_terms(terms: Terms, column: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[Fraction]]:
    """(source, destination, factor) of every contribution, the bias being source `size` and destination
    `width`; destinations are mapped through `column` (reduced neuron -> stored column)."""
    src = np.concatenate([terms.rows, [r for r, _ in terms.offsets], [terms.size]]).astype(np.intp)
    dst = np.concatenate([column[terms.cols], [terms.width] * (len(terms.offsets) + 1)]).astype(np.intp)
    return src, dst, [*terms.factors, *(d for _, d in terms.offsets), ONE]


def _aggregate_floats(weight: np.ndarray, bias: np.ndarray, terms: Terms) -> Incoming:
    """Float64 aggregation with every product and partial sum proven exact; unproven entries are redone exactly.

    Columns are stored by decreasing class size, so the k-th members of all classes that have one are a
    contiguous block: adding them is a slice operation, not a scatter. Works on blocks of rows of W; a float32 W is
    widened block by block into one reused float64 buffer (exact), never as a whole.
    """
    n_out, n_in, width = weight.shape[0], weight.shape[1], terms.width
    fval, representable = _float_factors(terms.factors)
    count = np.bincount(terms.cols, minlength=width)
    order = np.argsort(-count, kind="stable")
    column = np.empty(width, dtype=np.intp)
    column[order] = np.arange(width)
    by_column = np.lexsort((terms.rows, column[terms.cols]))
    pos = column[terms.cols[by_column]]
    first = np.ones(len(pos), dtype=bool)
    first[1:] = pos[1:] != pos[:-1]
    rank = np.arange(len(pos)) - np.maximum.accumulate(np.where(first, np.arange(len(pos)), 0))
    ext = np.empty((n_out, width + 1))
    bad = np.zeros((n_out, width + 1), dtype=bool)
    bad[:, column[terms.cols[~representable]]] = True  # no float factor: those columns are done with Fractions
    factor = np.where(representable, fval, 0.0)
    # Level k: the k-th member of every class that has one. Level 0 fills the first columns, each further
    # level is added onto a prefix of them; levels >= 1 are gathered together, with one take per block.
    levels = [by_column[rank == k] for k in range(int(rank.max()) + 1)] if len(rank) else [by_column]
    n0 = len(levels[0])
    ext[:, n0:width] = 0.0  # reduced neurons with no member at all
    first_src, first_fac = terms.rows[levels[0]], factor[levels[0]]
    rest = np.concatenate([by_column[:0], *levels[1:]])
    rest_src, rest_fac = terms.rows[rest], factor[rest]
    bounds = np.cumsum([0] + [len(t) for t in levels[1:]])
    wide = None if weight.dtype == np.float64 else np.empty((blocks(n_out, n_in)[0].stop, n_in)) if n_out else None
    # rows of float32 weights whose exponent span proves every product and sum below exact (float32_rows_exact):
    # they skip the exactness checks; the block's other rows are redone with them
    proven = float32_rows_exact(weight, fval, len(levels)) if representable.all() else np.zeros(n_out, dtype=bool)
    gather = _Gather(first_src, first_fac, rest_src, rest_fac, bounds)
    for blk in blocks(n_out, n_in):  # one pass over W, each block of rows worked on while in cache
        res, flag = ext[blk], bad[blk]
        if wide is None:
            w = weight[blk]
        else:
            w = wide[: len(res)]
            np.copyto(w, weight[blk])
        fast = proven[blk]
        with np.errstate(over="ignore", invalid="ignore"):  # a row not proven is redone with the checks below
            gather.run(w, res, flag, bool(fast.any()))
        if fast.any() and not fast.all():
            slow = np.flatnonzero(~fast)
            sub, sub_flag = np.empty((len(slow), res.shape[1])), flag[slow]
            gather.run(w[slow], sub, sub_flag, False)
            res[slow, :n0], flag[slow] = sub[:, :n0], sub_flag
    ext[:, width] = bias
    for r, d in terms.offsets:
        prod, inexact = exact_scale(weight[:, r].astype(np.float64), np.float64(d))
        total, inexact_sum = exact_add(ext[:, width], prod)
        ext[:, width] = total
        bad[:, width] |= inexact | inexact_sum | (Fraction(float(d)) != d)
    if bad.any():
        ext = _repair(ext, bad, weight, bias, *_all_terms(terms, column))
        if ext.dtype == object:
            ext = ext[:, np.append(np.argsort(order), width)]  # Fraction path: plain reduced-neuron order
            return Incoming(ext[:, :width], ext[:, width])
    return Incoming(ext[:, :width], ext[:, width], ext, order)


@dataclass(frozen=True)
class _Gather:
    """One block's aggregated columns: level 0 gathered into the first columns, the further levels gathered together
    and added onto prefixes of them (see `_aggregate_floats`)."""

    first_src: np.ndarray
    first_fac: np.ndarray
    rest_src: np.ndarray
    rest_fac: np.ndarray
    bounds: np.ndarray

    def run(self, w: np.ndarray, res: np.ndarray, flag: np.ndarray, proven: bool) -> None:
        """res[:, :n0] = the block's aggregated columns; with proven=False, flag marks every entry whose products
        or sums are not proven exact; proven=True skips those checks (only for rows float32_rows_exact passes)."""
        n0 = len(self.first_src)
        np.take(w, self.first_src, axis=1, out=res[:, :n0], mode="clip")
        _scale(res[:, :n0], self.first_fac, flag[:, :n0], proven)
        if not len(self.rest_src):
            return
        part = np.take(w, self.rest_src, axis=1)
        inexact = _scale(part, self.rest_fac, None, proven)
        for lo, hi in zip(self.bounds[:-1], self.bounds[1:]):
            if proven:
                res[:, : hi - lo] += part[:, lo:hi]
                continue
            if inexact is not None:
                flag[:, : hi - lo] |= inexact[:, lo:hi]
            total, inexact_sum = exact_add(res[:, : hi - lo], part[:, lo:hi])
            res[:, : hi - lo] = total
            flag[:, : hi - lo] |= inexact_sum


def _scale(x: np.ndarray, fac: np.ndarray, flag: np.ndarray | None, proven: bool) -> np.ndarray | None:
    """x *= fac (per column) in place; the mask of products not proven exact, or-ed into flag if given, else
    returned (None: all exact)."""
    if np.all(fac == 1):
        return None
    if proven:
        x *= fac[None, :]
        return None
    x[...], inexact = exact_scale(x, fac[None, :])
    if flag is None:
        return inexact
    flag |= inexact
    return None


def _float_factors(fac: tuple[Fraction, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each factor as float64, and whether that float is the factor exactly."""
    cache: dict[tuple[int, int], tuple[float, bool]] = {}
    vals, exact = np.empty(len(fac)), np.empty(len(fac), dtype=bool)
    for i, f in enumerate(fac):
        key = (f.numerator, f.denominator)
        hit = cache.get(key)
        if hit is None:
            v = float(f)
            hit = cache[key] = (v, Fraction(v) == f)
        vals[i], exact[i] = hit
    return vals, exact


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
        else:
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
