"""The differential checker's batched re-derivation (2026-11-30 "checking cost"): per-leaf varying entries instead of
the batch's union, branch-free selections, a warm heap. Each optimisation is pinned by a test that a wrong leaf in a
batch still makes the certificate invalid, wherever the leaf sits and however the leaves are chunked, and the
selections by a property test against the np.where formulas they replace."""

from __future__ import annotations

import base64
import struct
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.checker import heap
from lumpcheck.checker.difference import check_certificate
from lumpcheck.checker.difference_bounds import diff_enclosure, diff_lower, diff_upper, dn, max_product, up
from lumpcheck.checker.difference_pass import Step

from test_difference_crafted import A1, B1, PAIR0, PAIR1, document, leaf, slopes


def _a_slopes(idx, vals) -> str:
    """A one-hidden-layer slope blob recording A-network slopes (upper, lower) only."""
    out = struct.pack("<ii", 0, len(idx)) + np.array(idx, "<i4").tobytes() + np.array(vals, "<f4").reshape(-1).tobytes()
    return base64.b64encode(out).decode()


# ---------------------------------------------------------------- equal slopes on an open neuron


@pytest.mark.parametrize("eps, valid", [(Fraction(1, 10**305), False), (Fraction(1, 2 * 10**295), False),
                                        (Fraction(2, 10**295), True)])
def test_equal_slopes_on_an_open_neuron_keep_their_tiny_offset(eps, valid):
    """a − b = relu(x) on x in [−10^-295, 10^-295] (maximum 10^-295). A leaf records upper = lower slope 0 for a's
    neuron, which is open there: relu(z) − 0·z lies in [0, 10^-295], an offset below the folding threshold
    (1e-290). Folded into the charge it was multiplied by |C·0| = 0 and lost, and ε = 10^-305 was accepted (before
    this change). It is now kept as an offset: a false ε is refused, a true one still proved."""
    r = Fraction(1, 10**295)
    doc = document(A1, B1, ([-r], [r]), f"epsilon={eps}", [dict(leaf([], 1), slopes=_a_slopes([0], [(0.0, 0.0)]))],
                   PAIR0, strategy="input")
    res = check_certificate(doc, A1, B1)
    assert res.valid is valid, res.reasons
    if not valid:
        assert "exceeds" in res.reasons[0]


# ---------------------------------------------------------------- one wrong leaf in a batch


def _input_tree(lo: Fraction, hi: Fraction, depth: int) -> list[tuple[tuple, Fraction, Fraction]]:
    """The leaves (path, lower, upper) of the complete bisection tree of [lo, hi] to `depth`."""
    if depth == 0:
        return [((), lo, hi)]
    mid = (lo + hi) / 2
    assert Fraction(float(mid)) == mid
    out = []
    for side, (a, b) in enumerate(((lo, mid), (mid, hi))):
        out += [((("x", 0, float(mid).hex(), side),) + p, l, u) for p, l, u in _input_tree(a, b, depth - 1)]
    return out


WRONG = {"a-slope": (PAIR0, lambda: _a_slopes([0], [(-100.0, 0.0)])),  # a's neuron, a varying entry
         "partner": (PAIR1, lambda: slopes(1, {0: ((1,), [(0.0, 0.0, 100.0, 100.0)])}))}  # Δ's slope on b


@pytest.mark.parametrize("kind", sorted(WRONG))
@pytest.mark.parametrize("batch", [1, 3, 128])
def test_one_wrong_leaf_anywhere_in_a_batch_makes_the_certificate_invalid(kind, batch):
    """x in [−1, 2], 16 leaves: a − b = relu(x) <= 2. The one leaf where a's neuron is open (it holds 0) gets a
    poor but sound relaxation (upper slope −100 for a's neuron, or partner slope 100 of the difference neuron on
    b's): its bound exceeds ε = 201/100, so the certificate is invalid, wherever that leaf sits in the leaf list
    and whatever the chunk size. With the default slopes there, every leaf proves ε."""
    pairing, bad_slopes = WRONG[kind]
    tree = _input_tree(Fraction(-1), Fraction(2), 4)
    open_leaf = [k for k, (_, lo, hi) in enumerate(tree) if lo < 0 < hi]
    assert len(open_leaf) == 1

    def doc_with(order, wrong):
        leaves = []
        for k in order:
            lf = leaf(tree[k][0], 1)
            if wrong and k == open_leaf[0]:
                lf["slopes"] = bad_slopes()
            leaves.append(lf)
        return document(A1, B1, ([Fraction(-1)], [Fraction(2)]), "epsilon=201/100", leaves, pairing, strategy="input")

    order = list(range(len(tree)))
    assert check_certificate(doc_with(order, False), A1, B1, batch=batch).valid
    for position in (0, 5, len(tree) - 1):  # the wrong leaf first, inside, last
        moved = [k for k in order if k != open_leaf[0]]
        moved.insert(position, open_leaf[0])
        res = check_certificate(doc_with(moved, True), A1, B1, batch=batch)
        assert not res.valid and "exceeds" in res.reasons[0], (position, res.reasons)


# ---------------------------------------------------------------- branch-free selections = the np.where formulas

FLOATS = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, -3.25, 1e-300, -5e-324, 5e-324, 1e300, 2.0**-52])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(FLOATS, FLOATS), min_size=1, max_size=12))
def test_diff_is_the_masked_formula(pairs):
    x, y = (np.array(v) for v in zip(*pairs))
    s = x - y
    lo, hi = diff_enclosure(x, y)
    np.testing.assert_array_equal(lo, np.where(s == 0, 0.0, dn(s)))
    np.testing.assert_array_equal(hi, np.where(s == 0, 0.0, up(s)))
    np.testing.assert_array_equal(diff_lower(x, y), lo)
    np.testing.assert_array_equal(diff_upper(x, y), hi)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(FLOATS, FLOATS, FLOATS, FLOATS), min_size=1, max_size=12), st.booleans())
def test_maxprod_is_the_masked_formula(rows, infinite):
    clo, chi, vlo, vhi = (np.array(v) for v in zip(*rows))
    clo, chi = np.minimum(clo, chi), np.maximum(clo, chi)
    if infinite:  # an infinite interval end: 0·inf must still give exactly 0 where both coefficients are 0
        vhi = vhi.copy()
        vhi[0] = np.inf
    with np.errstate(invalid="ignore", over="ignore"):
        m = np.maximum(np.maximum(clo * vlo, clo * vhi), np.maximum(chi * vlo, chi * vhi))
        want = np.where((clo == 0) & (chi == 0), 0.0, up(m))
        np.testing.assert_array_equal(max_product(clo, chi, vlo, vhi), want)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**16))
def test_a_step_sets_each_leafs_entries_as_the_dense_formula(seed):
    """Step.offsets/partners on random slopes (some leaves with no varying entry) against the dense formulas:
    D = C·where(C >= 0, su, sl), the offsets' sums Σ_i C·where(C >= 0, mu, ml) per leaf and row (same order),
    and the partner terms C·where(C >= 0, qu, ql) added to the partners' D (|.| to A)."""
    rng = np.random.default_rng(seed)
    n, N, R, m = 7, 5, 3, 2
    pairs, partner = np.array([4, 6]), np.full(n, -1)
    partner[pairs] = [0, 2]
    sl, su = rng.normal(size=(N, n)), rng.normal(size=(N, n))
    vary = rng.random((N, n)) < 0.4
    vary[rng.integers(N)] = False
    su = np.where(vary, su, sl)
    mu, ml = np.where(vary, rng.random((N, n)), 0.0), np.where(vary, -rng.random((N, n)), 0.0)
    qu, ql = rng.normal(size=(N, m)) * (rng.random((N, m)) < 0.5), rng.normal(size=(N, m)) * (rng.random((N, m)) < 0.5)
    C = rng.normal(size=(n, N, R)) * (rng.random((n, N, R)) < 0.8)
    step = Step(np.ascontiguousarray(sl.T[:, :, None]), vary, su, sl, mu, ml, np.zeros((n, N)), pairs, qu, ql)
    D = C * step.s
    S, T, terms = step.offsets(C, D)
    pos = C >= 0
    want_D = C * np.where(pos, su.T[:, :, None], sl.T[:, :, None])
    off = C * np.where(pos, mu.T[:, :, None], ml.T[:, :, None]) * vary.T[:, :, None]
    np.testing.assert_array_equal(D, want_D)
    np.testing.assert_array_equal(S, off.sum(axis=0))
    np.testing.assert_array_equal(T, np.abs(off).sum(axis=0))
    np.testing.assert_array_equal(terms[:, 0], np.maximum(vary.sum(axis=1), 1))
    A = np.abs(D)
    step.partners(C, D, A, partner)
    D2 = C[pairs] * np.where(C[pairs] >= 0, qu.T[:, :, None], ql.T[:, :, None])
    want_A = np.abs(want_D)
    want_A[partner[pairs]] += np.abs(D2)
    want_D[partner[pairs]] += D2
    np.testing.assert_array_equal(D, want_D)
    np.testing.assert_array_equal(A, want_A)


# ---------------------------------------------------------------- the warm heap


def test_the_heap_pad_is_set_for_the_check_and_put_back(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "_mallopt", lambda: lambda option, value: calls.append((option, value)) or 1)
    with pytest.raises(RuntimeError):
        with heap.warm_heap() as done:
            assert done and calls == [(heap.M_TOP_PAD, heap.PAD_BYTES)]
            raise RuntimeError("the check failed")
    assert calls == [(heap.M_TOP_PAD, heap.PAD_BYTES), (heap.M_TOP_PAD, heap.DEFAULT_TOP_PAD)]


def test_without_mallopt_the_heap_is_left_alone(monkeypatch):
    monkeypatch.setattr(heap, "_mallopt", lambda: None)
    with heap.warm_heap() as done:
        assert done is False


# ---------------------------------------------------------------- leaf boxes compared through float enclosures

ENDS = st.sampled_from([Fraction(0), Fraction(1, 3), Fraction(-2, 7), Fraction(1, 2), Fraction(-1), Fraction(10**20 + 1)])


@settings(max_examples=80, deadline=None)
@given(ENDS, ENDS, st.lists(st.tuples(st.integers(0, 1), st.integers(-2, 2), st.booleans()), max_size=6))
def test_a_leaf_box_is_the_exact_one_enclosed(a, b, splits):
    """leaf_box (float comparisons through the claim's enclosures) against the box computed in Fractions: the
    same emptiness and the same float enclosure. Split points near the claim's bounds are the floats that
    bracket them (q_interval), so ties and near misses of one ulp are both drawn."""
    from lumpcheck.checker.difference import leaf_box
    from lumpcheck.checker.difference_bounds import q_interval

    lower, upper = min(a, b), max(a, b)
    points = [*q_interval(lower), *q_interval(upper), float((lower + upper) / 2)]
    path = [("x", 0, points[(k + 2) % len(points)], side) for side, k, _ in splits]
    lo, hi = lower, upper
    for _, _, m, side in path:
        hi, lo = (min(hi, Fraction(m)), lo) if side == 0 else (hi, max(lo, Fraction(m)))
    got = leaf_box([(q_interval(lower), q_interval(upper))], path)
    if lo > hi:
        assert got is None
    else:
        assert got is not None and (got[0][0], got[1][0]) == (q_interval(lo)[0], q_interval(hi)[1])

