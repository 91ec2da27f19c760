"""The compiled loops of the exact float fast path (lumpcheck/ir/exact_loops.c via lumpcheck/ir/fastpath.py), against
Fractions: every value `aggregate` does not flag is exact, `proportional` never says yes to a near miss, and
proportional rows always get equal keys."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.ir import fastpath

FACTORS = [1.0, -1.0, 2.0, 0.5, -4.0, 2.0**-60, 2.0**900, 2.0**-1000, 3.0, 0.1, -1 / 3]
POW2_PROVEN = [1.0, -1.0, 2.0, 0.5, 2.0**-925, -(2.0**896)]  # float32 products unchecked (fastpath.aggregate)
POW2_EDGE = [1.0, 2.0**-926, 2.0**897]  # one step past it: checked


@st.composite
def weights(draw, dtype):
    """Small matrices whose entries mix full significands, wide exponents (sums of 54+ bits, near misses),
    subnormals and zeros."""
    rows, cols = draw(st.integers(1, 9)), draw(st.integers(1, 7))
    bits = 24 if dtype == np.float32 else 53
    lo, hi = (-149, 100) if dtype == np.float32 else (-1074, 1000)
    out = np.zeros((rows, cols), dtype=dtype)
    for i in range(rows):
        for j in range(cols):
            kind = draw(st.integers(0, 5))
            if kind == 0:
                continue
            mant = draw(st.integers(2 ** (bits - 1), 2**bits - 1)) * draw(st.sampled_from([1, -1]))
            exp = draw(st.integers(-40, 40)) if kind < 4 else draw(st.integers(lo, hi))
            out[i, j] = dtype(np.ldexp(float(mant), exp - bits + 1)) if kind < 5 else dtype(2.0**lo)
    return out


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([np.float32, np.float64]).flatmap(lambda d: weights(d)), st.data())
def test_aggregate_is_exact_wherever_it_does_not_flag(w, data):
    """Each reduced column j sums fac·w over its terms; an unflagged entry equals the exact sum; the flag count is
    right; rows run in groups of four, so a flagged row sits among unflagged ones (the near misses above)."""
    n_in = w.shape[1]
    width = data.draw(st.integers(1, n_in + 1))
    cols = np.array([data.draw(st.integers(0, width - 1)) for _ in range(n_in)])
    pool = data.draw(st.sampled_from([FACTORS, POW2_PROVEN, POW2_EDGE]))
    fac = np.array([data.draw(st.sampled_from(pool)) for _ in range(n_in)])
    out = np.full((w.shape[0], width + 1), np.nan)
    flag = np.zeros((w.shape[0], width + 1), dtype=bool)
    nbad = _aggregate(w, cols, np.arange(n_in), fac, width, out, flag)
    assert nbad == int(flag.sum()) and not flag[:, width].any()
    for s in range(w.shape[0]):
        for j in range(width):
            exact = sum((Fraction(float(fac[r])) * Fraction(float(w[s, r])) for r in np.flatnonzero(cols == j)),
                        Fraction(0))
            if not flag[s, j]:
                assert np.isfinite(out[s, j]) and Fraction(out[s, j]) == exact


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([np.float32, np.float64]).flatmap(lambda d: weights(d)), st.data())
def test_four_row_vector_pass_writes_what_the_one_row_pass_writes(w, data):
    """Rows go four at a time through the vector pass (a group that fails a check is redone row by row with flags);
    a matrix of one row only ever takes the one-row pass. Each row of the whole matrix must equal, bit for bit
    (signed zeros, infinities from overflowing factors), that row aggregated alone, with the same flags."""
    n_in = w.shape[1]
    width = data.draw(st.integers(1, n_in + 1))
    cols = np.array([data.draw(st.integers(0, width - 1)) for _ in range(n_in)])
    pool = data.draw(st.sampled_from([FACTORS, POW2_PROVEN, POW2_EDGE]))
    fac = np.array([data.draw(st.sampled_from(pool)) for _ in range(n_in)])
    w = np.concatenate([w] * data.draw(st.integers(1, 3)))  # groups of four, and a tail of 0-3 rows
    out, flag = np.full((len(w), width), np.nan), np.zeros((len(w), width), dtype=bool)
    _aggregate(w, cols, np.arange(n_in), fac, width, out, flag)
    for s in range(len(w)):
        one, one_flag = np.full((1, width), np.nan), np.zeros((1, width), dtype=bool)
        _aggregate(w[s : s + 1], cols, np.arange(n_in), fac, width, one, one_flag)
        assert out[s].tobytes() == one[0].tobytes() and (flag[s] == one_flag[0]).all()


def test_aggregate_flags_a_rounded_sum_inside_a_group_of_unflagged_rows():
    """Rows 0-7 (two groups of four), row 5's merged sum 2^53 + 1 rounds; row 9 (the tail) has a product that
    underflows ((1 + 2^-52)·2^-30 times 2^-1000 is subnormal and loses bits); every other entry stays unflagged
    and exact."""
    w = np.ones((10, 3))
    w[5] = [2.0**53, 1.0, 0.0]
    w[9, 2] = (1.0 + 2.0**-52) * 2.0**-30
    out, flag = np.empty((10, 2)), np.zeros((10, 2), dtype=bool)
    nbad = _aggregate(w, np.array([0, 0, 1]), np.arange(3), np.array([1.0, 1.0, 2.0**-1000]), 2, out, flag)
    assert nbad == 2 and flag[5, 0] and flag[9, 1] and flag.sum() == 2
    assert (out[[0, 1, 2, 3, 4, 6, 7, 8, 9], 0] == 2.0).all()
    assert (out[:9, 1][np.arange(9) != 5] == 2.0**-1000).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_aggregate_keeps_signed_zeros_and_zeroes_columns_without_terms(dtype):
    """A column's first term is written as it is (-0.0 stays -0.0, as in the quotient files written so far), later
    terms are added (-0.0 + 0.0 = 0.0), a column no term maps to is +0.0, in groups of four rows and the tail alike."""
    w = np.zeros((6, 3), dtype=dtype)
    w[:, 0] = -0.0
    w[1, 1], w[2, 2] = -0.0, 0.0
    w[5, 1] = -0.0
    out, flag = np.full((6, 4), np.nan), np.zeros((6, 4), dtype=bool)
    # column 0 <- input 0 alone; column 1 <- inputs 1 and 2 (in that order); column 2 <- nothing; column 3 <- input 0
    assert _aggregate(w, np.array([0, 1, 1, 3]), np.array([0, 1, 2, 0]), np.array([1.0, 1.0, 1.0, 2.0]), 4, out,
                      flag) == 0
    assert np.all(np.signbit(out[:, 0])) and np.all(np.signbit(out[:, 3]))  # -0.0·1 and -0.0·2, written
    assert not np.signbit(out[:, 1]).any() and (out[:, 1] == 0).all()  # -0.0 + 0.0 = +0.0 (w[., 2] is +0.0)
    assert (out[:, 2] == 0).all() and not np.signbit(out[:, 2]).any() and not flag.any()


def test_float32_products_are_unchecked_exactly_within_the_proven_exponents():
    """float32 weights times 2^k skip the product test for -925 <= k <= 896 only: the smallest subnormal float32
    2^-149 times 2^-925 is 2^-1074 (exact), times 2^-926 it rounds to 0; the largest float32 times 2^896 is finite,
    times 2^897 it overflows. Past the limits the test is on and flags exactly those entries."""
    tiny, huge = np.float32(2.0**-149), np.finfo(np.float32).max
    w = np.array([[tiny, huge]] * 5, dtype=np.float32)
    for k_lo, k_hi, expect in ((-925, 896, 0), (-926, 896, 5), (-925, 897, 5)):
        out, flag = np.empty((5, 2)), np.zeros((5, 2), dtype=bool)
        fac = np.array([2.0**k_lo, 2.0**k_hi])
        assert _aggregate(w, np.array([0, 1]), np.arange(2), fac, 2, out, flag) == expect
        for j in range(2):
            exact = Fraction(float(w[0, j])) * Fraction(fac[j])
            assert all((Fraction(float(out[s, j])) == exact) != flag[s, j] for s in range(5) if np.isfinite(out[s, j]))


def test_aggregate_rejects_bad_arguments():
    w = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="src"):
        _aggregate(w, np.array([0, 0, 0]), np.array([0, 1, 3]), np.ones(3), 1, np.empty((2, 1)),
                          np.zeros((2, 1), dtype=bool))
    with pytest.raises(ValueError, match="out"):
        _aggregate(w, np.array([0, 0, 0]), np.arange(3), np.ones(3), 1, np.empty((2, 1), dtype=np.float32),
                          np.zeros((2, 1), dtype=bool))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_passes_refuse_indices_outside_their_range(dtype):
    """The kernels check every row, column and pivot index before reading (the wrappers only check dtype and
    shape): -1 and the bound itself are refused for each argument, the bound - 1 accepted."""
    a, b, ok = np.ones((3, 2), dtype=dtype), np.ones(3), np.array([0, 2])
    calls = {
        "row_keys: rows": lambda i: fastpath.row_keys(a, b, np.array([0, i]), "any"),
        "row_keys: cols": lambda i: fastpath.row_keys(a, b, ok, "any", np.array([i, 0])),
        "classes: rows": lambda i: fastpath.classes(a, b, np.array([i, 1]), "any", "any"),
        "classes: cols": lambda i: fastpath.classes(a, b, ok, "any", "any", np.array([0, i])),
        "proportional: xi": lambda i: fastpath.proportional((a, b), np.array([i]), (a, b), np.array([0]), np.array([0])),
        "proportional: yi": lambda i: fastpath.proportional((a, b), np.array([0]), (a, b), np.array([i]), np.array([0])),
        "proportional: pivot": lambda i: fastpath.proportional((a, b), np.array([0]), (a, b), np.array([1]),
                                                               np.array([i])),
    }
    for what, call in calls.items():  # 3 rows; 3 columns and pivots (two columns, then b)
        call(2)
        for bad in (-1, 3):
            with pytest.raises(ValueError, match=f"{what}: indices outside 0..2"):
                call(bad)


def _aggregate(w, cols, src, fac, width, out, flag):
    """fastpath.aggregate with one factor per term (coded through the table of the distinct ones)."""
    table, codes = np.unique(np.asarray(fac, dtype=np.float64), return_inverse=True)
    return fastpath.aggregate(w, cols, src, codes.reshape(-1), table, width, out, flag)


def _fraction_row(a, b, s):
    return [Fraction(float(v)) for v in a[s]] + [Fraction(float(b[s]))]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([np.float32, np.float64]).flatmap(lambda d: weights(d)), st.data())
def test_proportional_agrees_with_fractions(w, data):
    """Pairs (x, c·x) for 2^k and other c, 1-ulp near misses of them and unrelated rows: 1 only when exactly
    proportional at the pivot's ratio, 0 only when not; 2 (undecided) is allowed, never wrong."""
    a = w.astype(np.float64)
    b = np.array([data.draw(st.sampled_from([0.0, 1.5, -2.0**-30])) for _ in range(len(a))])
    c = data.draw(st.sampled_from([1.0, -1.0, 2.0, 2.0**-40, 3.0, -0.75, 2.0**700]))
    with np.errstate(over="ignore"):
        ya, yb = a * c, b * c
    if data.draw(st.booleans()):
        i, j = data.draw(st.integers(0, len(a) - 1)), data.draw(st.integers(0, a.shape[1]))
        if j < a.shape[1]:
            ya[i, j] = np.nextafter(ya[i, j], np.inf)
        else:
            yb[i] = np.nextafter(yb[i], np.inf)
    ya, yb = np.nan_to_num(ya), np.nan_to_num(yb)
    idx = np.arange(len(a))
    piv = np.array([data.draw(st.integers(0, a.shape[1])) for _ in idx])
    status = fastpath.proportional((ya, yb), idx, (a, b), idx, piv)
    for k in idx:
        x, y = _fraction_row(ya, yb, k), _fraction_row(a, b, k)
        num, den = x[piv[k]], y[piv[k]]
        truth = num != 0 and den != 0 and all(xv * den == yv * num for xv, yv in zip(x, y))
        assert status[k] in (0, 1, fastpath.UNDECIDED)
        if status[k] != fastpath.UNDECIDED:
            assert bool(status[k]) == truth


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([np.float32, np.float64]).flatmap(lambda d: weights(d)),
       st.sampled_from(["any", "pos", "sign", "none"]), st.data())
def test_row_keys_equal_for_admissibly_proportional_rows(w, mode, data):
    """For each row x, a row c·x with c the mode divides out (any / c > 0 / ±1 / 1) gets x's key and pivot, over
    all columns and over a sample of them."""
    c = {"any": [-3.0, 2.0**-50, 0.1], "pos": [2.0, 0.1, 7.0], "sign": [-1.0, 1.0], "none": [1.0]}[mode]
    c = data.draw(st.sampled_from(c))
    a = w.astype(np.float64)
    b = a[:, 0] * 0.5
    ya, yb = a * c, b * c
    ok = np.array([all(Fraction(float(u)) == Fraction(float(v)) * Fraction(c) for u, v in
                       zip([*ya[s], yb[s]], [*a[s], b[s]])) for s in range(len(a))])  # c·x rounded nowhere
    rows = np.arange(len(a))
    sample = np.array(sorted(set(data.draw(st.lists(st.integers(0, a.shape[1]), min_size=1)))))
    for cols in (None, sample):
        kx, px = fastpath.row_keys(a, b, rows, mode, cols)
        ky, py = fastpath.row_keys(ya, yb, rows, mode, cols)
        assert (kx[ok] == ky[ok]).all() and (px[ok] == py[ok]).all()


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([np.float32, np.float64]).flatmap(lambda d: weights(d)),
       st.sampled_from(["any", "pos", "sign", "none"]), st.data())
def test_row_keys_are_the_wrapping_sum_of_the_quotient_bits(w, mode, data):
    """The key, computed two columns at a time, is its definition: Σ bits(entry / lead + 0.0)·mu[c] mod 2^64 over the
    listed columns (odd and even counts, repeats), entry by entry in Python floats."""
    b = np.array([data.draw(st.sampled_from([0.0, -0.0, 1.5, -2.0**-30])) for _ in range(len(w))], dtype=w.dtype)
    cols = np.array(data.draw(st.lists(st.integers(0, w.shape[1]), min_size=1, max_size=9)))
    keys, piv = fastpath.row_keys(w, b, np.arange(len(w)), mode, cols)
    mu = fastpath._multipliers(len(cols))
    for s in range(len(w)):
        row = [float(v) for v in w[s]] + [float(b[s])]
        p = next((j for j, v in enumerate(row[:-1]) if v != 0), len(row) - 1)
        lead = row[p]
        lead = 1.0 if lead == 0 or mode == "none" else abs(lead) if mode == "pos" else \
            (1.0 if lead > 0 else -1.0) if mode == "sign" else lead
        bits = [int(np.float64(row[j] / lead + 0.0).view(np.uint64)) for j in cols.tolist()]
        assert piv[s] == p and int(keys[s]) == sum(x * int(m) for x, m in zip(bits, mu.tolist())) % 2**64


def test_row_keys_differ_for_a_one_ulp_change_and_read_float32_as_stored():
    a = np.array([[0.1, 0.7], [0.1, np.nextafter(0.7, 1.0)]])
    keys, piv = fastpath.row_keys(a, np.zeros(2), np.arange(2), "pos")
    assert keys[0] != keys[1] and (piv == 0).all()
    f = np.array([[0.0, 0.25, -3.5]], dtype=np.float32)
    assert fastpath.row_keys(f, np.array([1.0], dtype=np.float32), np.arange(1), "any") \
        == fastpath.row_keys(f.astype(np.float64), np.array([1.0]), np.arange(1), "any")
    _, piv = fastpath.row_keys(np.zeros((1, 3)), np.zeros(1), np.arange(1), "any")
    assert piv[0] == 3  # all zero: the pivot is the bias column


ADMITS = {"any": lambda c: c != 0, "pos": lambda c: c > 0, "sign": lambda c: abs(c) == 1, "one": lambda c: c == 1}
KEY_MODE = {"any": "any", "pos": "pos", "sign": "sign", "one": "sign"}  # the key divides out what is admitted


def _classes_by_fractions(a, b, rows, admit):
    """The ground truth: each row joins the lowest earlier kept row it is an admissible exact multiple of."""
    kept: list[int] = []
    rep = []
    for s in rows:
        x = _fraction_row(a, b, s)
        hit = s
        for r in kept:
            y = _fraction_row(a, b, r)
            p = next((j for j, v in enumerate(y) if v != 0), None)
            if p is None:
                ok = all(v == 0 for v in x)
            else:
                c = x[p] / y[p]
                ok = ADMITS[admit](c) and all(u == c * v for u, v in zip(x, y))
            if ok:
                hit = r
                break
        if hit == s:
            kept.append(s)
        rep.append(hit)
    return rep


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([np.float32, np.float64]).flatmap(lambda d: weights(d)), st.sampled_from(list(ADMITS)),
       st.data())
def test_classes_agree_with_fractions(w, admit, data):
    """Rows, their multiples by factors of every kind (2^k far out of the Dekker range, 3, 0.1, -1/3, ±1), 1-ulp
    near misses of those multiples and all-zero rows, shuffled: `classes` gives exactly the Fraction grouping
    (lowest earlier admissible exact multiple), over all columns and over a sample of them."""
    a = w.astype(np.float64)
    b = np.array([data.draw(st.sampled_from([0.0, 1.5, -2.0**-30, 2.0**-1070])) for _ in range(len(a))])
    extra_a, extra_b = [], []
    for s in range(len(a)):
        for _ in range(data.draw(st.integers(0, 2))):
            c = data.draw(st.sampled_from(FACTORS + [2.0**-1070, 2.0**1020, -(2.0**-600)]))
            with np.errstate(all="ignore"):
                ya, yb = a[s] * c, b[s] * c
            if data.draw(st.booleans()):  # a near miss: one entry one ulp off
                j = data.draw(st.integers(0, a.shape[1]))
                if j < a.shape[1]:
                    ya[j] = np.nextafter(ya[j], np.inf)
                else:
                    yb = np.nextafter(yb, np.inf)
            if np.all(np.isfinite(ya)) and np.isfinite(yb):
                extra_a.append(ya), extra_b.append(yb)
    extra_a.append(np.zeros(a.shape[1])), extra_b.append(0.0)
    a, b = np.vstack([a, *extra_a]), np.append(b, extra_b)
    order = np.array(data.draw(st.permutations(range(len(a)))))
    a, b = a[order], b[order]
    rows = np.arange(len(a))
    truth = _classes_by_fractions(a, b, rows, admit)
    sample = np.array(sorted(set(data.draw(st.lists(st.integers(0, a.shape[1]), min_size=1)))))
    for cols in (None, sample):
        rep, piv, code, ratios = fastpath.classes(a, b, rows, KEY_MODE[admit], admit, cols)
        assert rep.tolist() == truth and (np.diff(ratios) > 0).all() and set(code.tolist()) <= {-1, *range(len(ratios))}
        ratio = np.where(code >= 0, ratios[np.maximum(code, 0)] if len(ratios) else np.nan, np.nan)
        first = [next((j for j, v in enumerate(_fraction_row(a, b, s)) if v != 0), a.shape[1]) for s in rows]
        assert piv.tolist() == first
        for s, r, p in zip(rows.tolist(), rep.tolist(), first):  # a float ratio is the exact factor, or NaN
            num, den = _fraction_row(a, b, s)[p], _fraction_row(a, b, r)[p]
            exact = num / den if den else Fraction(1)
            assert (s != r or code[s] == -1) and (np.isnan(ratio[s]) or Fraction(float(ratio[s])) == exact)
            assert s == r or not np.isnan(ratio[s]) or exact.numerator.bit_count() > 1 \
                or exact.denominator.bit_count() > 1 or not 2.0**-1074 <= abs(exact) <= np.finfo(np.float64).max


def test_classes_outside_the_dekker_range_and_near_misses():
    """Multiples by non-powers of two with entries near the float64 limits (where `proportional` is undecided)
    are decided exactly; a one-ulp change in the last entry splits them; float32 rows are read as stored."""
    x = np.array([[3.0 * 2.0**-1000, 2.0**1000, 5.0 * 2.0**-1040, 1.0]])
    y = x * 3.0
    near = y.copy()
    near[0, -1] = np.nextafter(near[0, -1], 0.0)
    a = np.vstack([x, y, near, -x])
    rep, *_ = fastpath.classes(a, np.zeros(4), np.arange(4), "pos", "pos")
    assert rep.tolist() == [0, 0, 2, 3]
    rep, *_ = fastpath.classes(a, np.zeros(4), np.arange(4), "any", "any")
    assert rep.tolist() == [0, 0, 2, 0]
    # significands whose product lies within half an ulp below 1/2 (it rounds to 1/2 but must be doubled exactly)
    n, d = 6369051672525772.0, 6369051672525773.0
    rep, *_ = fastpath.classes(np.array([[d, d, 2 * d], [n, n, 2 * n]]), np.zeros(2), np.arange(2), "any", "any")
    assert rep.tolist() == [0, 0] and n * d == 2.0**105 and Fraction(n) * Fraction(d) < 2**105
    f = np.array([[0.5, -0.25], [1.0, -0.5], [0.5, -0.25]], dtype=np.float32)
    rep, piv, *_ = fastpath.classes(f, np.zeros(3, dtype=np.float32), np.array([2, 1, 0]), "pos", "one")
    assert rep.tolist() == [2, 1, 2] and piv.tolist() == [0, 0, 0]


def test_classes_codes_at_most_RATIOS_float_factors_and_leaves_the_rest_to_the_caller():
    """Multiples of one row by 2^k for RATIOS + 5 distinct k, largest first: the first RATIOS factors met get codes
    into the ascending `ratios`, the later ones -1 (the caller divides their pivots exactly); kept rows get -1."""
    base = np.array([1.0, 3.0])
    ks = list(range(fastpath.RATIOS + 5, 0, -1))
    a = np.vstack([base] + [base * 2.0**k for k in ks])
    rep, piv, code, ratios = fastpath.classes(a, np.zeros(len(a)), np.arange(len(a)), "pos", "pos")
    assert (rep == 0).all() and (piv == 0).all() and code[0] == -1
    first = ks[: fastpath.RATIOS]
    assert ratios.tolist() == [2.0**k for k in sorted(first)]
    assert code[1:].tolist() == [sorted(first).index(k) if k in first else -1 for k in ks]


@st.composite
def merges(draw):
    """n rows, some fixed, the others kept or merged into an earlier kept row (members distinct)."""
    n = draw(st.integers(0, 14))
    fixed, kept, member, rep, fcode = [], [], [], [], []
    for s in range(n):
        kind = draw(st.sampled_from(["kept", "fixed", "member"] if kept else ["kept", "fixed"]))
        if kind == "kept":
            kept.append(s)
        elif kind == "fixed":
            fixed.append(s)
        else:
            member.append(s), rep.append(draw(st.sampled_from(kept))), fcode.append(draw(st.integers(-3, 5)))
    order = draw(st.permutations(range(len(member))))  # merges in any order
    arr = lambda x, idx=None: np.array([x[i] for i in idx] if idx is not None else x, dtype=np.int64)  # noqa: E731
    return n, arr(fixed), arr(member, order), arr(rep, order), arr(fcode, order)


@settings(max_examples=300, deadline=None)
@given(merges(), st.integers(-1, 3))
def test_lumped_maps_is_the_numpy_bookkeeping(case, one):
    """The C bookkeeping gives what these numpy steps give (the reducer's former code)."""
    n, fixed, member, rep, fcode = case
    kept = np.ones(n, dtype=bool)
    kept[fixed] = False
    kept[member] = False
    reps = np.flatnonzero(kept)
    cls = np.full(n, -1, dtype=np.int64)
    cls[reps] = np.arange(len(reps))
    cls[member] = cls[rep]
    factor, reason = np.ones(n, dtype=np.int32), np.full(n, 7, dtype=np.uint8)
    factor[member] = fcode
    reason[member] = np.where(fcode == one, 5, 6)
    got = fastpath.lumped_maps(n, fixed, member, rep, fcode, one, (7, 5, 6))
    for g, want in zip(got, (cls, factor, reason, reps)):
        assert g.dtype == want.dtype and g.tolist() == want.tolist()


def test_lumped_maps_refuses_inconsistent_merges():
    ok = dict(fixed=np.array([4]), member=np.array([2, 3]), rep=np.array([0, 1]), fcode=np.array([1, 2]))
    fastpath.lumped_maps(5, one=1, reasons=(0, 1, 2), **ok)
    bad = {"fixed: indices outside": dict(fixed=np.array([5])), "member: indices outside": dict(member=np.array([2, -1])),
           "rep: indices outside": dict(rep=np.array([0, 5])),
           "representative 2 of row 3 is not a kept row": dict(rep=np.array([0, 2])),  # a member
           "representative 4 of row 3 is not a kept row": dict(rep=np.array([0, 4])),  # fixed
           "row 2 is a member twice": dict(member=np.array([2, 2])), "row 4 is a member twice or fixed":
           dict(member=np.array([2, 4]), rep=np.array([0, 0])), "one length": dict(fcode=np.array([1]))}
    for message, change in bad.items():
        with pytest.raises(ValueError, match=message):
            fastpath.lumped_maps(5, one=1, reasons=(0, 1, 2), **{**ok, **change})
    with pytest.raises(ValueError, match="outside int32"):
        fastpath.lumped_maps(5, one=1, reasons=(0, 1, 2), **{**ok, "fcode": np.array([1, 2**40])})
