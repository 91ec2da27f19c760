"""Checked entry points to the compiled loops of the exact float fast path (ir/exact_loops.c, ir/exact_aggregate.h,
ir/exact_maps.h).

Each function validates dtypes and shapes, then runs one C loop over the rows; the C side checks every index
against its range before reading (ValueError "...: indices outside 0..N"). Every value a kernel
returns is exact or marked: `aggregate` flags entries whose products or sums are not proven exact, `proportional`
answers "undecided" where its error-free test does not apply; the callers redo those exactly (Fractions).
IEEE gradual underflow is assumed, as for ir/exact.py's transforms: callers check `exact.gradual_underflow()`.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np

from . import exact_loops

MODES = {"any": 0, "pos": 1, "sign": 2, "none": 3}
"""row_keys modes: what the key divides out of a row (its pivot value, the pivot's size, its sign, nothing)."""
UNDECIDED = 2
_HASH_SEED = 20220907


def _real(x: np.ndarray, name: str, ndim: int) -> np.ndarray:
    """float32/float64 array with a contiguous last axis (a view when it already is one)."""
    if x.dtype not in (np.float32, np.float64) or x.ndim != ndim:
        raise ValueError(f"{name}: float32/float64 array of {ndim} dims expected, got {x.dtype} of {x.ndim}")
    if ndim and x.shape[-1] and x.strides[-1] != x.itemsize:
        x = np.ascontiguousarray(x)
    return x


def _index(idx: np.ndarray, name: str) -> np.ndarray:
    """A 1-D int64 index array (the kernel checks its range)."""
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    if idx.ndim != 1:
        raise ValueError(f"{name}: 1-D index array expected, got {idx.ndim} dims")
    return idx


def aggregate(weight: np.ndarray, cols: np.ndarray, src: np.ndarray, codes: np.ndarray, table: np.ndarray, width: int,
              out: np.ndarray, flag: np.ndarray) -> int:
    """out[s, j] = Σ_{t: cols[t] = j} table[codes[t]]·weight[s, src[t]] in float64 for j < width (0 where no term has
    j); flag[s, j] = True where a product or a partial sum is not proven exact (other entries are left as they are).
    Returns how many entries were flagged. `out` (float64) and `flag` (bool) need the weight's rows and contiguous
    columns, at least `width` of them; the kernel checks every index (cols < width, src < inputs, codes < table) and
    picks the product test from the factors the codes use (none for float32 times 2^k in the proven range)."""
    weight = _real(weight, "weight", 2)
    if out.dtype != np.float64 or flag.dtype != np.bool_:
        raise ValueError(f"aggregate: out must be float64 and flag bool, got {out.dtype} and {flag.dtype}")
    table = np.ascontiguousarray(table, dtype=np.float64)
    cols, src, codes = (np.ascontiguousarray(x, dtype=np.int64) for x in (cols, src, codes))
    return exact_loops.aggregate(weight, src, cols, codes, table, width, out, flag.view(np.uint8))


@lru_cache(maxsize=8)
def _multipliers(n: int) -> np.ndarray:
    """n odd pseudo-random uint64 multipliers, always the same ones (read-only: shared between calls)."""
    mult = np.random.default_rng(_HASH_SEED).integers(1, 2**63, size=n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    mult.flags.writeable = False
    return mult


def row_keys(a: np.ndarray, b: np.ndarray, rows: np.ndarray, mode: str,
             cols: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(key, pivot) per row s in `rows` of [a | b] (b the last column): pivot = the first nonzero column (the last
    column, b, for an all-zero row); the key hashes the row's bits after dividing it by the pivot value (signed
    for 'any', absolute for 'pos', its sign for 'sign', 1 for 'none'). Exactly proportional rows (by a factor the
    mode divides out) get equal keys: IEEE division rounds equal exact quotients identically, and the integer
    (wrapping) hash of the bits has no rounding at all. `cols` (default all, a.shape[1] being b): hash only those
    columns (a cheaper filter; equal rows still get equal keys)."""
    a, b, rows, cols = _rows_and_columns(a, b, rows, cols, "row_keys")
    keys, piv = np.empty(len(rows), dtype=np.uint64), np.empty(len(rows), dtype=np.int64)
    if len(rows):
        exact_loops.row_keys(a, b, rows, cols, MODES[mode], _multipliers(len(cols)), keys, piv)
    return keys, piv.astype(np.intp, copy=False)


def _rows_and_columns(a, b, rows, cols, name: str):
    """The checked arguments of a row pass over [a | b]: float arrays, row indices, column indices (default all)."""
    a, b = _real(a, "a", 2), _real(b, "b", 1)
    if len(b) != a.shape[0]:
        raise ValueError(f"{name}: {a.shape[0]} rows but {len(b)} biases")
    rows = _index(rows, f"{name}: rows")
    cols = np.arange(a.shape[1] + 1, dtype=np.int64) if cols is None else _index(cols, f"{name}: cols")
    return a, b, rows, cols


ADMIT = {"any": 0, "pos": 1, "sign": 2, "one": 3}
"""classes admissibility: which factors c may merge (any c != 0, c > 0, c = +-1, c = 1)."""


RATIOS = 64
"""At most this many distinct float factors per `classes` call (rows merged by others get code -1: divided exactly)."""


def classes(a: np.ndarray, b: np.ndarray, rows: np.ndarray, mode: str, admit: str,
            cols: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rep, pivot, code, ratios) per row s in `rows` of [a | b], in one pass: rep = the lowest earlier listed row r
    with s = c·r EXACTLY for a factor c that `admit` allows (s itself when there is none: s is kept), pivot = the
    first nonzero column of s (a.shape[1], b, for an all-zero row); `ratios` = the distinct factors c that are floats
    exactly (c = ±2^k in range; 1.0 between all-zero rows), ascending, and code = the index of s's factor in them, -1
    for kept rows and where c is no float or more than RATIOS factors came first (the caller divides the pivots
    exactly). Candidates are rows with equal `row_keys` (mode `mode`) over `cols` (default all; equal whole-row keys
    too when `cols` is a sample); each is decided by an exact comparison of every entry (error-free products, no
    range limit). `mode` must divide out every admitted factor."""
    a, b, rows, cols = _rows_and_columns(a, b, rows, cols, "classes")
    rep, piv, code = (np.empty(len(rows), dtype=np.int64) for _ in range(3))
    ratios = np.empty(RATIOS)
    count = exact_loops.classes(a, b, rows, cols, MODES[mode], ADMIT[admit], _multipliers(len(cols)),
                                _multipliers(a.shape[1] + 1), rep, piv, code, ratios)
    rep, piv, code = (x.astype(np.intp, copy=False) for x in (rep, piv, code))
    return rep, piv, code, ratios[:count]


def proportional(x: tuple[np.ndarray, np.ndarray], xi: np.ndarray, y: tuple[np.ndarray, np.ndarray], yi: np.ndarray,
                 pivot: np.ndarray) -> np.ndarray:
    """Per pair k, rows u = [x_a | x_b][xi[k]] and v = [y_a | y_b][yi[k]], p = pivot[k]: 1 if u = (u_p / v_p)·v
    exactly (u_p, v_p nonzero), 0 if not, UNDECIDED (2) where the error-free test does not apply (magnitudes outside
    [2^-480, 2^480]): the caller decides those exactly."""
    (xa, xb), (ya, yb) = x, y
    xa, xb, ya, yb = _real(xa, "x", 2), _real(xb, "x bias", 1), _real(ya, "y", 2), _real(yb, "y bias", 1)
    if xa.dtype != ya.dtype:
        xa, ya = xa.astype(np.float64), ya.astype(np.float64)
    if xa.shape[1] != ya.shape[1] or len(xb) != xa.shape[0] or len(yb) != ya.shape[0]:
        raise ValueError("proportional: rows of different lengths, or biases not one per row")
    n = len(xi)
    if len(yi) != n or len(pivot) != n:
        raise ValueError("proportional: one x row, one y row and one pivot per pair")
    xi, yi, pivot = _index(xi, "proportional: xi"), _index(yi, "proportional: yi"), _index(pivot, "proportional: pivot")
    out = np.empty(n, dtype=np.uint8)
    if n:
        exact_loops.proportional(xa, xb, xi, ya, yb, yi, pivot, out)
    return out


def proportional_rows(x: np.ndarray, y: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    """Per row i of float64 matrices: is x_i = (x_i[p] / y_i[p]) · y_i EXACTLY, p = pivot[i], both pivots nonzero?

    Decided without rounding (`proportional`: equal pivots → equality; pivots differing by ±2**k → exact
    rescaling; otherwise cross products x·y[p] == y·x[p] compared as error-free (hi, lo) pairs), or as Fractions
    when magnitudes leave the error-free range.
    """
    n = len(pivot)
    if not x.shape[1]:
        return np.zeros(n, dtype=bool)
    idx = np.arange(n)
    status = proportional((x[:, :-1], x[:, -1]), idx, (y[:, :-1], y[:, -1]), idx, pivot)
    ok = status == 1
    for i in np.flatnonzero(status == UNDECIDED):
        n_i, d_i = Fraction(float(x[i, pivot[i]])), Fraction(float(y[i, pivot[i]]))
        ok[i] = all(Fraction(float(a)) * d_i == Fraction(float(b)) * n_i for a, b in zip(x[i], y[i]))
    return ok


def lumped_maps(n: int, fixed: np.ndarray, member: np.ndarray, rep: np.ndarray, fcode: np.ndarray, one: int,
                reasons: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(cls, factor, reason, reps) of a layer's n neurons from its merges, in one C loop: member[k] joins the kept row
    rep[k] with factor code fcode[k]; `fixed` rows belong to no class; the others are kept. reps = the kept rows in
    order; cls = kept rows numbered 0.. in order, a member its representative's, -1 for a fixed row; factor = fcode
    for a member, 1 otherwise (int32); reason = reasons[0] (kept), [1] for a member with fcode == one, [2] for the
    other members (uint8). ValueError for an index outside 0..n-1, a row both member and fixed or a member twice, or a
    representative that is not a kept row."""
    fixed, member, rep, fcode = (_index(x, f"lumped_maps: {name}")
                                 for x, name in ((fixed, "fixed"), (member, "member"), (rep, "rep"), (fcode, "fcode")))
    cls, reps = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    factor, reason = np.empty(n, dtype=np.int32), np.empty(n, dtype=np.uint8)
    kept = exact_loops.lumped_maps(n, fixed, member, rep, fcode, one, *reasons, cls, factor, reason, reps)
    return cls, factor, reason, reps[:kept]
