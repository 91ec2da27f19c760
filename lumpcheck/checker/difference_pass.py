"""The checker's bound pass over a batch of leaves (independent of the prover; arithmetic of difference_bounds).

For each hidden layer: interval bounds of the three chains; back-substitution of the coordinates whose
neuron is unstable; intersection through a = b + Δ; the leaf's phase restrictions; relaxations from the
recorded slopes (defaults elsewhere) with offsets derived in difference_bounds, except for pairs both of whose
neurons keep one piece of slope 0 or 1, which are exact (`_linear_pairs`). Then the objective rows.
"""

from __future__ import annotations

import numpy as np

from .difference_bounds import (
    Chains,
    dn,
    err,
    rows_up,
    sum_up,
    up,
    U52,
    TINY,
    default_single,
    pair_max,
    single_max,
)

FOLD = 1e-290
REFINE_MARGIN = 1e-9
REFINE_GROUPS = 4
"""Groups of leaves (by their number of coordinates to re-bound) back-substituted separately: fewer padded rows.
ACAS 5_4 prop_1 mag10 ε=0.05 (698 leaves): 48% of the rows were padding with one group."""


def _mag(lo, hi):
    return np.maximum(np.abs(lo), np.abs(hi))


class Step:
    """One hidden layer's relaxation in the back-substitution, per leaf: D = C·s where the coordinate is linear on
    the leaf (s = its slope), else C⁺·su + C⁻·sl plus the offset C⁺·mu + C⁻·ml (C⁺ = max(C, 0), C⁻ = min(C, 0):
    exactly C·su or C·sl by the sign of C, without branching on it); a product coordinate with partner slopes
    qu/ql also puts C⁺·qu + C⁻·ql on its B partner. Only the (coordinate, leaf) entries that vary (or have a
    partner slope) are gathered, so their number, not the batch's union of them, sets the work."""

    def __init__(self, s, vary, su, sl, mu, ml, charge, pairs, qu, ql):
        self.s, self.vary, self.su, self.sl, self.mu, self.ml = s, vary, su, sl, mu, ml
        self.charge, self.pairs, self.qu, self.ql = charge, pairs, qu, ql
        N = vary.shape[0]
        e, i = np.nonzero(vary)  # leaf-major: each leaf's entries are consecutive, in coordinate order
        self.flat = i * N + e  # row of C.reshape(n * N, R)
        self.slopes = [x[e, i][:, None] for x in (su, sl, mu, ml)]
        count = np.bincount(e, minlength=N)
        self.terms = np.maximum(count, 1)[:, None]
        self.width = int(count.max(initial=0))
        self.padded = e * self.width + (np.arange(len(e)) - np.repeat(np.cumsum(count) - count, count))
        pe, t = np.nonzero((qu != 0) | (ql != 0))
        self.pflat = pairs[t] * N + pe
        self.qslopes = [x[pe, t][:, None] for x in (qu, ql)]
        self.pe, self.pt = pe, pairs[t]

    def subset(self, leaves):
        return Step(self.s[:, leaves], self.vary[leaves], self.su[leaves], self.sl[leaves], self.mu[leaves],
                     self.ml[leaves], self.charge[:, leaves], self.pairs, self.qu[leaves], self.ql[leaves])

    def offsets(self, C, D):
        """Set D's varying entries; the offsets' sums and absolute sums (N, R), each leaf's in coordinate order,
        and their numbers of terms (N, 1)."""
        N, R = C.shape[1], C.shape[2]
        if not len(self.flat):
            return np.zeros((N, R)), np.zeros((N, R)), self.terms
        CV = np.take(C.reshape(-1, R), self.flat, axis=0)
        pos, neg = np.maximum(CV, 0.0), np.minimum(CV, 0.0)
        su, sl, mu, ml = self.slopes
        D.reshape(-1, R)[self.flat] = pos * su + neg * sl
        off = pos * mu + neg * ml
        Z = np.zeros((N * self.width, R))
        Z[self.padded] = off
        S = Z.reshape(N, self.width, R).sum(axis=1)
        Z[self.padded] = np.abs(off)
        return S, Z.reshape(N, self.width, R).sum(axis=1), self.terms

    def partners(self, C, D, A, partner):
        """Add C⁺·qu + C⁻·ql of the product coordinates to their B partners' D (and its |.| to A)."""
        if len(self.pflat):
            R = C.shape[2]
            CP = np.take(C.reshape(-1, R), self.pflat, axis=0)
            D2 = np.maximum(CP, 0.0) * self.qslopes[0] + np.minimum(CP, 0.0) * self.qslopes[1]
            q = partner[self.pt]
            A[q, self.pe] += np.abs(D2)
            D[q, self.pe] += D2


def _blocks(W):
    """W^T for `_back`: (W^T, None), or, when W has a zero top-right block W[:r, c:] of at least a tenth of its
    entries (the product chain's z_B rows on the difference and unpaired-A columns), its two other parts
    (W[:, :c]^T, W[r:, c:]^T, r), contiguous."""
    n_out, n_in = W.shape
    if n_in == 0:
        return np.ascontiguousarray(W.T), None
    nz = W != 0
    first = np.where(nz.any(axis=0), nz.argmax(axis=0), n_out)  # per column, its first row with an entry
    rows = np.minimum.accumulate(first[::-1])[::-1]  # W[:rows[c], c:] == 0
    saved = rows * (n_in - np.arange(n_in))
    c = int(np.argmax(saved))
    if saved[c] * 10 < W.size:
        return np.ascontiguousarray(W.T), None
    r = int(rows[c])
    return np.ascontiguousarray(W[:, :c].T), np.ascontiguousarray(W[r:, c:].T), r


def _back(blocks, F):
    """W^T @ F with the zero block of `_blocks` skipped: every entry sums the same nonzero products (at most the
    n_out terms the rounding charges count)."""
    if blocks[1] is None:
        return blocks[0] @ F
    left, right, r = blocks
    out = np.empty((left.shape[0] + right.shape[0], F.shape[1]))
    np.matmul(left, F, out=out[:left.shape[0]])
    np.matmul(right, F[r:], out=out[left.shape[0]:])
    return out


class _Chain:
    def __init__(self, layers, xl, xu):
        self.L, self.xl, self.xu, self.n = layers, xl, xu, len(xl)
        self.qlo, self.qhi, self.qmag = [xl], [xu], [_mag(xl, xu)]
        self.wq, self.res, self.steps, self.tiny = [], [], [], []
        self.absT = [np.abs(l.W).T for l in layers]
        self.blocks = [_blocks(l.W) for l in layers]
        self._wt = {}

    def wt(self, k):
        """W_k^T, contiguous (its columns gathered by select)."""
        if k not in self._wt:
            self._wt[k] = np.ascontiguousarray(self.L[k].W.T)
        return self._wt[k]

    def prepare(self, k):
        l, qm = self.L[k], self.qmag[k]
        S = qm @ self.absT[k]
        self.wq.append(up(S + err(S, S, qm.shape[1])))
        r = None
        if l.wres is not None:
            S = qm @ l.wres.T
            r = up(S + err(S, S, qm.shape[1]))
        if l.bres is not None:
            r = sum_up(l.bres[None, :] + 0 * qm[:, :1], r) if r is not None else l.bres[None, :] + 0 * qm[:, :1]
        self.res.append(r)

    def interval(self, k):
        """W·q + b over q in [qlo, qhi] ⊆ [c − r, c + r] (c = fl(qlo/2 + qhi/2) clamped into [qlo, qhi], r the larger
        distance to c rounded up): within W·c + b ± |W|·r. fl(W·c) errs by at most n·2^-52·|W|·|c| + n·TINY, and
        |c| <= qmag, so the prepared wq >= |W|·qmag bounds the first term (two matrix products per layer)."""
        l = self.L[k]
        lo, hi = self.qlo[k], self.qhi[k]
        c = np.minimum(np.maximum(0.5 * lo + 0.5 * hi, lo), hi)
        r = up(np.maximum(hi - c, c - lo))
        n = lo.shape[1]
        S = c @ self.wt(k)
        R = r @ self.absT[k]
        slack = sum_up(err(S, self.wq[k], n), up(R + err(R, R, n)), *([self.res[k]] if self.res[k] is not None else []))
        return -sum_up(-S, slack, -l.b[None, :]), sum_up(S, slack, l.b[None, :])

    def fix(self, k, su, sl, mu, ml, qu, ql, plo, phi, qlo, qhi):
        """Make layer k's relaxation (leaf-major (N, n) slopes and offsets) part of the chain, per leaf: a
        coordinate is 'linear' on a leaf when its slopes agree (partner slopes too) and its offset is exactly 0 or
        at most FOLD with |slope| >= 1; a linear offset is charged as |D|·max(|mu|, |ml|) (|D| = |C·s| >= |C|)."""
        l = self.L[k]
        pm = _mag(plo, phi)
        off = np.maximum(np.abs(mu), np.abs(ml))
        pairs = np.flatnonzero(l.partner >= 0)
        vary = (su != sl) | ~((off == 0) | ((off <= FOLD) & (np.abs(sl) >= 1)))
        if len(pairs):
            vary[:, pairs] |= qu != ql
        terms = [up(self.wq[k] * (len(l.b) * U52)), up(pm * 2 * U52), np.where(vary, 0.0, off)]
        if self.res[k] is not None:
            terms.append(self.res[k])
        charge = sum_up(*terms)
        S1, S2 = self.qmag[k].sum(axis=1), pm.sum(axis=1)
        self.tiny.append(sum_up(up(up(S1 + err(S1, S1, self.qmag[k].shape[1])) * (len(l.b) * TINY)),
                                 up(up(S2 + err(S2, S2, pm.shape[1])) * (2 * TINY))))
        self.steps.append(Step(np.ascontiguousarray(sl.T[:, :, None]), vary, su, sl, mu, ml,
                                np.ascontiguousarray(charge.T), pairs, qu, ql))
        self.qlo.append(qlo)
        self.qhi.append(qhi)
        self.qmag.append(_mag(qlo, qhi))

    def bound(self, k, C, const, split=None):
        """Upper bounds of rows whose coefficients on layer k's input are C (coordinate-major (n, N, R)).

        split[j] (N, R, n_j): β·s of layer j's split neurons (β >= 0, s their phase): the bound is then of the
        rows plus Σ_j β·s·p_j, which is no smaller on the leaf's region (s·p_j >= 0 there)."""
        most = max([C.size] + [len(self.L[j].b) * C.shape[1] * C.shape[2] for j in range(k)])
        work = np.empty(2 * most)  # D and |D| of every step (one allocation: fresh pages cost as much as the math)
        for j in range(k - 1, -1, -1):
            st, l = self.steps[j], self.L[j]
            n = C.shape[0]
            D = np.multiply(C, st.s, out=work[:C.size].reshape(C.shape))
            S_off, T_off, terms = st.offsets(C, D)
            A = np.abs(D, out=work[most:most + C.size].reshape(C.shape))
            st.partners(C, D, A, l.partner)
            if split is not None:  # + β·s·p_j: the sum's rounding (<= 2^-53·|D'|) is charged as |D'|·|p_j|
                D = D + np.ascontiguousarray(split[j].transpose(2, 0, 1))
                A = A + np.abs(D)
            fD, fA = D.reshape(n, -1), A.reshape(n, -1)
            S_b = (l.b @ fD).reshape(const.shape)
            T_b = (np.abs(l.b) @ fA).reshape(const.shape)
            T_c = np.einsum("inr,in->nr", A, st.charge)
            const = sum_up(const, up(S_off + err(S_off, T_off, terms)), up(S_b + err(S_b, T_b, n)),
                            up(T_c + err(T_c, T_c, n)), self.tiny[j][:, None])
            C = _back(self.blocks[j], fD).reshape((l.W.shape[1],) + D.shape[1:])
        xu, xl = self.xu.T[:, :, None], self.xl.T[:, :, None]
        S = (np.maximum(C, 0) * xu + np.minimum(C, 0) * xl).sum(axis=0)
        T = (np.abs(C) * np.maximum(np.abs(xu), np.abs(xl))).sum(axis=0)
        upper = sum_up(const, up(S + err(S, T, C.shape[0])))
        if not np.all(np.isfinite(upper)):
            raise ArithmeticError("bound overflow")
        return upper

    def rows(self, k, T, split=None):
        """Upper bounds of T·p_k for batched rows T (N, R, n_k) (with β terms `split`, see `bound`)."""
        l = self.L[k]
        C = np.ascontiguousarray(np.einsum("erk,kc->cer", T, l.W))
        S = np.einsum("erk,k->er", T, l.b)
        const = up(S + err(S, np.einsum("erk,k->er", np.abs(T), np.abs(l.b)), T.shape[-1]))
        if self.res[k] is not None:
            const = sum_up(const, rows_up(np.abs(T), self.res[k]))
        g = rows_up(np.abs(T), self.wq[k])  # T·W rounded: error <= n·2^-52·|T||W|·|q| + tiny
        S1 = self.qmag[k].sum(axis=1)
        const = sum_up(const, up(g * (len(l.b) * U52)), up(up(S1 + err(S1, S1, self.qmag[k].shape[1])) * (len(l.b) * TINY))[:, None])
        return self.bound(k, C, const, split)

    def subset(self, leaves):
        """The chain restricted to some of its leaves (what select and bound use)."""
        c = object.__new__(_Chain)
        c.L, c.xl, c.xu, c.n, c._wt = self.L, self.xl[leaves], self.xu[leaves], len(leaves), self._wt
        c.blocks = self.blocks
        c.res = [None if r is None else r[leaves] for r in self.res]
        c.tiny = [t[leaves] for t in self.tiny]
        c.steps = [step.subset(leaves) for step in self.steps]
        return c

    def select(self, k, idx, sign):
        l = self.L[k]
        C = np.take(self.wt(k), idx, axis=1) * sign  # (n_in, N, R) C-ordered: rows idx of W, transposed
        const = sign * l.b[idx]
        if self.res[k] is not None:
            const = sum_up(const, np.abs(sign) * np.take_along_axis(self.res[k], idx, axis=1))
        return self.bound(k, C, const)


def _unstable(lo, hi, alo, ahi):
    return (lo < 0) & (hi > 0) & ~((alo == 1) & (ahi == 1))


def _near_unstable(lo, hi, alo, ahi):
    """Coordinates re-bounded by back-substitution: unstable ones, and stable ones within a hair of 0, so that
    rounding differences never make the checker re-bound fewer coordinates than the prover did."""
    hair = REFINE_MARGIN * (hi - lo)
    return (lo < hair) & (hi > -hair) & ~((alo == 1) & (ahi == 1))


def _refine(chain, k, mask, lo, hi, offset):
    """Tighten lo/hi at the masked coordinates by back-substitution (rows padded to the most coordinates a leaf
    has: leaves are grouped by their count first, so that few padded rows are computed)."""
    count = mask.sum(axis=1)
    by_count = np.argsort(count, kind="stable")
    for group in np.array_split(by_count, min(REFINE_GROUPS, len(count))):
        w = int(count[group].max(initial=0))
        if w == 0:
            continue
        sub = chain.subset(group)  # the group's leaves, in the group's order (rows below follow it)
        order = np.argsort(~mask[group], axis=1, kind="stable")[:, :w]
        valid = np.arange(w)[None, :] < count[group][:, None]
        sign = valid.astype(float)
        bound = sub.select(k, np.hstack([order, order]) + offset, np.hstack([sign, -sign]))
        r = np.broadcast_to(group[:, None], order.shape)[valid]
        c = order[valid]
        hi[r, c] = np.minimum(hi[r, c], bound[:, :w][valid])
        lo[r, c] = np.maximum(lo[r, c], -bound[:, w:][valid])


def _intersect(ch: Chains, k, plo, phi, alo, ahi):
    nb, d_a, d_b, e_a = ch.nb[k + 1], ch.d_a[k + 1], ch.d_b[k + 1], ch.e_a[k + 1]
    m = len(d_a)
    bl, bu, dl, du = plo[:, d_b], phi[:, d_b], plo[:, nb:nb + m], phi[:, nb:nb + m]
    al = np.maximum(alo[:, d_a], dn(bl + dl))
    au = np.minimum(ahi[:, d_a], up(bu + du))
    bl, bu = np.maximum(bl, dn(al - du)), np.minimum(bu, up(au - dl))
    dl, du = np.maximum(dl, dn(al - bu)), np.minimum(du, up(au - bl))
    alo[:, d_a], ahi[:, d_a], plo[:, d_b], phi[:, d_b] = al, au, bl, bu
    plo[:, nb:nb + m], phi[:, nb:nb + m] = dl, du
    E = slice(nb + m, nb + m + len(e_a))
    lo, hi = np.maximum(plo[:, E], alo[:, e_a]), np.minimum(phi[:, E], ahi[:, e_a])
    plo[:, E], alo[:, e_a], phi[:, E], ahi[:, e_a] = lo, lo, hi, hi


def _pick(given, default, open_):
    """A recorded slope where the coordinate is open here; the exact linear slope where it is stable."""
    return np.where(np.isnan(given) | ~open_, default, given)


def _linear_pairs(box, sa, sb, pu, pl, qu, ql):
    """Pairs whose σ_A(a) − σ_B(b) is exactly pu·Δ + qu·b on the leaf (residual offsets 0, not bounded): both
    neurons on one linear piece with slope 0 or 1 (a >= 0: slope 1; a <= 0 with a negative-side slope exactly 0;
    or σ the identity), pu = pl the slope of A and qu = ql that of A minus that of B. Then with a = b + Δ,
    s_A·a − s_B·b − s_A·Δ − (s_A − s_B)·b = 0, and s_A − s_B in {−1, 0, 1} is exact in floats."""
    al, au, bl, bu = box[:4]

    def slope_is(s, lo, hi, neg):
        one = (s == 1) & ((lo >= 0) | ((neg[0] == 1) & (neg[1] == 1)))
        return one | ((s == 0) & (hi <= 0) & (neg[0] == 0) & (neg[1] == 0))

    exact = (qu == -1) | (qu == 0) | (qu == 1)  # with pu in {0, 1}: pu − qu is exact
    return (pu == pl) & (qu == ql) & exact & slope_is(pu, al, au, sa) & slope_is(pu - qu, bl, bu, sb)


def _linear_range(box, pu, qu):
    """[lo, hi] around pu·Δ + qu·b over the box, for pu in {0, 1} and qu in {−1, 0, 1} (exact products, one
    rounded sum); where `_linear_pairs` holds this is the range of σ_A(a) − σ_B(b)."""
    bl, bu, dl, du = box[2:]
    with np.errstate(all="ignore"):  # other pairs' slopes may be anything: their entries are replaced
        return dn(pu * dl + np.minimum(qu * bl, qu * bu)), up(pu * du + np.maximum(qu * bl, qu * bu))


def _relax(ch: Chains, k, plo, phi, alo, ahi, sl):
    """(product, A, B) relaxation tuples for layer k from recorded slopes `sl` (NaN = default)."""
    P, A = ch.P[k], ch.A[k]
    nb, d_a, d_b, e_a = ch.nb[k + 1], ch.d_a[k + 1], ch.d_b[k + 1], ch.e_a[k + 1]
    n, m = len(plo), len(d_a)
    D = slice(nb, nb + m)

    def single(lo, hi, alo_, ahi_, gsu, gsl):
        du, dl = default_single(lo, hi, alo_, ahi_)
        opened = _unstable(lo, hi, alo_, ahi_)
        su, s_l = _pick(gsu, du, opened), _pick(gsl, dl, opened)
        z = np.zeros_like(lo)
        return (su, s_l, single_max(lo, hi, alo_, ahi_, su, True), single_max(lo, hi, alo_, ahi_, s_l, False),
                single_max(lo, hi, alo_, ahi_, z, False), single_max(lo, hi, alo_, ahi_, z, True))

    ra = single(alo, ahi, A.a_lo[None, :] + 0 * alo, A.a_hi[None, :] + 0 * alo, sl["a_su"], sl["a_sl"])
    bl_, bh_ = plo[:, :nb], phi[:, :nb]
    rb = single(bl_, bh_, P.a_lo[None, :nb] + 0 * bl_, P.a_hi[None, :nb] + 0 * bl_, sl["p_su"][:, :nb], sl["p_sl"][:, :nb])
    pair = [np.zeros((n, m))] * 6
    qu = ql = np.zeros((n, m))
    infeasible = np.zeros((n, m), dtype=bool)
    if m:
        box = (alo[:, d_a], ahi[:, d_a], plo[:, d_b], phi[:, d_b], plo[:, D], phi[:, D])
        sa = (P.a_lo[None, D] + 0 * box[0], P.a_hi[None, D] + 0 * box[0])
        sb = (P.b_lo[None, D] + 0 * box[0], P.b_hi[None, D] + 0 * box[0])
        ua, la = default_single(box[0], box[1], *sa)
        ub, lb = default_single(box[2], box[3], *sb)
        opened = _unstable(box[0], box[1], *sa) | _unstable(box[2], box[3], *sb)
        pu, qu = _pick(sl["p_su"][:, D], ua, opened), _pick(sl["p_qu"], ua - lb, opened)
        pl, ql = _pick(sl["p_sl"][:, D], la, opened), _pick(sl["p_ql"], la - ub, opened)
        ru, rl = np.zeros((n, m)), np.zeros((n, m))
        lo_, hi_ = _linear_range(box, pu, qu)  # kept where the pair is linear
        v = ~_linear_pairs(box, sa, sb, pu, pl, qu, ql)
        if np.any(v):
            vbox, vsa, vsb = tuple(x[v] for x in box), (sa[0][v], sa[1][v]), (sb[0][v], sb[1][v])
            z = np.zeros(v.sum())
            ru[v] = pair_max(vbox, vsa, vsb, 1.0, -pu[v], -qu[v])
            rl[v] = -pair_max(vbox, vsa, vsb, -1.0, pl[v], ql[v])
            lo_[v], hi_[v] = -pair_max(vbox, vsa, vsb, -1.0, z, z), pair_max(vbox, vsa, vsb, 1.0, z, z)
        pair = [pu, pl, ru, rl, lo_, hi_]
        infeasible = np.isneginf(hi_)  # no sign piece is feasible: the leaf holds no input
        pair = [np.where(infeasible, 0.0, v) for v in pair]
        qu, ql = np.where(infeasible, 0.0, qu), np.where(infeasible, 0.0, ql)
    cat = [np.concatenate([x, y, w[:, e_a]], axis=1) for x, y, w in zip(rb, pair, ra)]
    zero = np.zeros((n, 0))
    if not all(np.all(np.isfinite(v)) for v in (*cat, *ra, *rb)):
        raise ArithmeticError(f"non-finite relaxation in hidden layer {k}")
    return infeasible.any(axis=1), (
        (cat[0], cat[1], cat[2], cat[3], qu, ql, plo, phi, cat[4], cat[5]),
        (ra[0], ra[1], ra[2], ra[3], zero, zero, alo, ahi, ra[4], ra[5]),
        (rb[0], rb[1], rb[2], rb[3], zero, zero, bl_, bh_, rb[4], rb[5]),
    )


def hidden_pass(ch: Chains, xl, xu, slopes, phases=None, prior=None):
    """Layer bounds and relaxations of every hidden layer; returns (chains P, A, B, per-layer bounds, empty)."""
    n = len(xl)
    cP, cA, cB = _Chain(ch.P, xl, xu), _Chain(ch.A, xl, xu), _Chain(ch.B, xl, xu)
    empty = np.zeros(n, dtype=bool)
    bounds = []
    for k in range(len(ch.P) - 1):
        for c in (cP, cA, cB):
            c.prepare(k)
        nb, m = ch.nb[k + 1], len(ch.d_a[k + 1])
        if prior is not None:
            plo, phi, alo, ahi = (np.broadcast_to(v, (n, v.shape[1])).copy() for v in prior[k])
        else:
            plo, phi = cP.interval(k)
            alo, ahi = cA.interval(k)
            blo, bhi = cB.interval(k)
            plo[:, :nb], phi[:, :nb] = np.maximum(plo[:, :nb], blo), np.minimum(phi[:, :nb], bhi)
            if k > 0:
                _intersect(ch, k, plo, phi, alo, ahi)
                P, A = ch.P[k], ch.A[k]
                b_open = _near_unstable(plo[:, :nb], phi[:, :nb], P.a_lo[:nb], P.a_hi[:nb])
                a_open = _near_unstable(alo, ahi, A.a_lo, A.a_hi)
                d_open = a_open[:, ch.d_a[k + 1]] | b_open[:, ch.d_b[k + 1]]
                b_open[:, ch.d_b[k + 1]] |= d_open
                a_open[:, ch.d_a[k + 1]] |= d_open
                _refine(cA, k, a_open, alo, ahi, 0)
                _refine(cB, k, b_open, plo[:, :nb], phi[:, :nb], 0)
                _refine(cP, k, d_open, plo[:, nb:nb + m], phi[:, nb:nb + m], nb)
        if phases is not None:
            pa, pb = phases[k]
            alo[:] = np.where(pa > 0, np.maximum(alo, 0.0), alo)
            ahi[:] = np.where(pa < 0, np.minimum(ahi, 0.0), ahi)
            plo[:, :nb] = np.where(pb > 0, np.maximum(plo[:, :nb], 0.0), plo[:, :nb])
            phi[:, :nb] = np.where(pb < 0, np.minimum(phi[:, :nb], 0.0), phi[:, :nb])
        _intersect(ch, k, plo, phi, alo, ahi)
        empty |= np.any(plo > phi, axis=1) | np.any(alo > ahi, axis=1)
        phi, ahi = np.maximum(phi, plo), np.maximum(ahi, alo)
        bounds.append((plo, phi, alo, ahi))
        infeasible, (rp, ra, rb) = _relax(ch, k, plo, phi, alo, ahi, slopes[k])
        empty |= infeasible
        cP.fix(k, *rp)
        cA.fix(k, *ra)
        cB.fix(k, *rb)
    last = len(ch.P) - 1
    for c in (cP, cA, cB):
        c.prepare(last)
    return cP, cA, cB, bounds, empty


def single_pass(ch: Chains, net: str, xl, xu, slopes, phases=None, root=None, refine: bool = True):
    """One network's chain alone (how one-network leaves are proved): per hidden layer interval bounds,
    intersected with `root` (per layer (lo, hi), (N, n) or (1, n): bounds proved on a box containing the leaves'
    boxes, −inf/+inf where a leaf has none), back-substitution of the (near-)unstable neurons, the leaf's phases of
    that network, relaxations from the recorded slopes (A's under a_*, B's under the product's first coordinates).
    refine=False back-substitutes nothing: `root` are then the leaves' own hidden-layer bounds from an earlier pass.
    Returns (chain, empty, per-layer (lo, hi))."""
    layers = ch.A if net == "a" else ch.B
    c = _Chain(layers, xl, xu)
    n = len(xl)
    empty = np.zeros(n, dtype=bool)
    keys = ("a_su", "a_sl") if net == "a" else ("p_su", "p_sl")
    bounds = []
    for k in range(len(layers) - 1):
        c.prepare(k)
        L = layers[k]
        lo, hi = c.interval(k)
        if root is not None:
            lo, hi = np.maximum(lo, root[k][0]), np.minimum(hi, root[k][1])
        if k > 0 and refine:
            _refine(c, k, _near_unstable(lo, hi, L.a_lo, L.a_hi), lo, hi, 0)
        if phases is not None:
            ph = phases[k][0 if net == "a" else 1]
            lo, hi = np.where(ph > 0, np.maximum(lo, 0.0), lo), np.where(ph < 0, np.minimum(hi, 0.0), hi)
        empty |= np.any(lo > hi, axis=1)
        hi = np.maximum(hi, lo)
        bounds.append((lo, hi))
        alo, ahi = L.a_lo[None, :] + 0 * lo, L.a_hi[None, :] + 0 * lo
        opened = _unstable(lo, hi, alo, ahi)
        du, dl = default_single(lo, hi, alo, ahi)
        gsu, gsl = slopes[k][keys[0]][:, : len(L.b)], slopes[k][keys[1]][:, : len(L.b)]
        su, sl = _pick(gsu, du, opened), _pick(gsl, dl, opened)
        z = np.zeros_like(lo)
        zero = np.zeros((n, 0))
        c.fix(k, su, sl, single_max(lo, hi, alo, ahi, su, True), single_max(lo, hi, alo, ahi, sl, False), zero, zero,
              lo, hi, single_max(lo, hi, alo, ahi, z, False), single_max(lo, hi, alo, ahi, z, True))
    c.prepare(len(layers) - 1)
    return c, empty, bounds
