"""Linear relaxations of σ(z) and of d = σ_A(a) − σ_B(b) with sound, exactly derived offsets.

σ is piecewise linear: slope 1 for z >= 0, slope α for z < 0 (α enclosed by [alo, ahi]; identity: α = 1).
Slopes are free choices (heuristics here, or recorded choices): for ANY slopes the offset is computed as a
rigorous bound on the extremum of the residual, so every relaxation returned is sound.

Single coordinate, z in [l, u]:  s_u·z + r_u >= σ(z) >= s_l·z + r_l with r_u >= max(σ(z) − s_u·z), the
max over the pieces z >= 0 and z <= 0 of a linear function, attained at their ends.
Difference coordinate, with a = b + Δ and a in [al, au], b in [bl, bu], Δ in [dl, du]:
    p_u·Δ + q_u·b + r_u >= d >= p_l·Δ + q_l·b + r_l.
On each of the four sign pieces (a >= 0 or <= 0) × (b >= 0 or <= 0) the residual is linear in (a, b, Δ);
its max over the piece's box subject to a − b − Δ = 0 is bounded by the Lagrangian dual: for any μ,
max ≤ Σ_v max over v's range of (k_v + μ·e_v)·v with e = (1, −1, −1). The dual is convex piecewise
linear in μ with breakpoints where one coefficient vanishes; the three breakpoints are tried (the exact
LP optimum up to rounding when the piece is feasible; an upper bound in every case).
"""

from __future__ import annotations

import numpy as np

from .outward import add_up, max_product, sub_interval
from .propagate import deeppoly_slopes

NEG_INF = -np.inf


def _lo(x, y):
    """A float <= x − y."""
    return sub_interval(x, y)[0]


def _hi(x, y):
    """A float >= x − y."""
    return sub_interval(x, y)[1]


def as_float32(x: np.ndarray) -> np.ndarray:
    """Slopes are rounded to float32 values before use, so certificates record them exactly in 4 bytes."""
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=np.float32).astype(np.float64)


def _pieces(lo: np.ndarray, hi: np.ndarray, slope_lo: np.ndarray, slope_hi: np.ndarray):
    """The two linear pieces of σ on [lo, hi]: (valid mask, range lo, range hi, slope interval)."""
    one = np.ones_like(lo)
    return (
        (hi >= 0, np.maximum(lo, 0.0), hi, one, one),
        (lo <= 0, lo, np.minimum(hi, 0.0), slope_lo, slope_hi),
    )


def single_offset(l, u, alo, ahi, s, upper: bool) -> np.ndarray:
    """Upper: r >= max(σ(z) − s·z); lower: r <= min(σ(z) − s·z), over z in [l, u]."""
    best = np.full(np.shape(l), NEG_INF)
    for valid, lo, hi, klo, khi in _pieces(l, u, alo, ahi):
        if upper:  # coefficient σ' − s
            clo, chi = _lo(klo, s), _hi(khi, s)
        else:  # coefficient s − σ'
            clo, chi = _lo(s, khi), _hi(s, klo)
        best = np.where(valid, np.maximum(best, max_product(clo, chi, lo, hi)), best)
    return best if upper else -best


def single_range(l, u, alo, ahi) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on σ(z) over [l, u] (the offsets of the zero-slope relaxations)."""
    zero = np.zeros_like(l)
    return single_offset(l, u, alo, ahi, zero, upper=False), single_offset(l, u, alo, ahi, zero, upper=True)


def default_single_slopes(l, u, alo, ahi) -> tuple[np.ndarray, np.ndarray]:
    """DeepPoly slopes (upper, lower) as float32 (`propagate.deeppoly_slopes`)."""
    su, sl = deeppoly_slopes(l, u, alo, ahi)
    return as_float32(su), as_float32(sl)


def pair_max(box, slopes_a, slopes_b, kappa, c_delta, c_b) -> np.ndarray:
    """A float >= max of κ·σ_A(a) − κ·σ_B(b) + c_delta·Δ + c_b·b over the coupled box, per variant.

    kappa (V,) in {+1, −1}; c_delta, c_b (V, K) floats; box arrays and slope enclosures (K,) -> (V, K).
    All four sign pieces and the three dual candidates are evaluated at once (axes V, piece, μ, K).
    """
    al, au, bl, bu, dl, du = box
    one = np.ones_like(al)
    # pieces: axis of length 4, index 2·(a piece) + (b piece); piece 0 is x >= 0, piece 1 is x <= 0
    a_lo = np.stack([np.maximum(al, 0.0), al])[[0, 0, 1, 1]]
    a_hi = np.stack([au, np.minimum(au, 0.0)])[[0, 0, 1, 1]]
    b_lo = np.stack([np.maximum(bl, 0.0), bl])[[0, 1, 0, 1]]
    b_hi = np.stack([bu, np.minimum(bu, 0.0)])[[0, 1, 0, 1]]
    sa_lo = np.stack([one, slopes_a[0] * one])[[0, 0, 1, 1]]
    sa_hi = np.stack([one, slopes_a[1] * one])[[0, 0, 1, 1]]
    sb_lo = np.stack([one, slopes_b[0] * one])[[0, 1, 0, 1]]
    sb_hi = np.stack([one, slopes_b[1] * one])[[0, 1, 0, 1]]
    valid = np.stack([au >= 0, al <= 0])[[0, 0, 1, 1]] & np.stack([bu >= 0, bl <= 0])[[0, 1, 0, 1]]
    feasible = valid & (_lo(a_lo, b_hi) <= du) & (_hi(a_hi, b_lo) >= dl)  # a − b can reach [dl, du]
    k = np.asarray(kappa, dtype=np.float64)[:, None, None]  # (V, 1, 1)
    ka_lo = np.where(k > 0, sa_lo, -sa_hi)[:, :, None, :]  # (V, 4, 1, K)
    ka_hi = np.where(k > 0, sa_hi, -sa_lo)[:, :, None, :]
    cb = np.asarray(c_b)[:, None, None, :]
    cd = np.asarray(c_delta)[:, None, None, :]
    kb_lo = np.where(k[..., None] > 0, _lo(cb, sb_hi[None, :, None, :]), _lo(cb, -sb_lo[None, :, None, :]))
    kb_hi = np.where(k[..., None] > 0, _hi(cb, sb_lo[None, :, None, :]), _hi(cb, -sb_hi[None, :, None, :]))
    mu = np.concatenate(np.broadcast_arrays(-0.5 * (ka_lo + ka_hi), 0.5 * (kb_lo + kb_hi), cd + 0 * ka_lo), axis=2)
    ar, br = (a_lo[None, :, None, :], a_hi[None, :, None, :]), (b_lo[None, :, None, :], b_hi[None, :, None, :])
    term_a = max_product(_lo(ka_lo, -mu), _hi(ka_hi, -mu), *ar)
    term_b = max_product(_lo(kb_lo, mu), _hi(kb_hi, mu), *br)
    term_d = max_product(_lo(cd, mu), _hi(cd, mu), dl, du)
    value = add_up(term_a, term_b, term_d).min(axis=2)  # (V, 4, K): best dual bound per piece
    return np.where(feasible[None], value, NEG_INF).max(axis=1)


def pair_offset(box, slopes_a, slopes_b, p, q, upper: bool) -> np.ndarray:
    """Upper: r >= max(d − p·Δ − q·b); lower: r <= min(d − p·Δ − q·b) over the coupled box.

    box = (al, au, bl, bu, dl, du); slopes_a/b = (alo, ahi) enclosures of σ_A's/σ_B's negative-side slope.
    """
    if upper:
        return pair_max(box, slopes_a, slopes_b, [1.0], -np.asarray(p)[None], -np.asarray(q)[None])[0]
    return -pair_max(box, slopes_a, slopes_b, [-1.0], np.asarray(p)[None], np.asarray(q)[None])[0]


def pair_range(box, slopes_a, slopes_b) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on d = σ_A(a) − σ_B(b) over the coupled box."""
    zero = np.zeros((2,) + np.shape(box[0]))
    r = pair_max(box, slopes_a, slopes_b, [1.0, -1.0], zero, zero)
    return -r[1], r[0]


def _relu_chord(lo, hi):
    """Slope of the chord of max(x, 0) over [lo, hi] (0 / 1 when stable)."""
    with np.errstate(all="ignore"):
        c = np.where((lo < 0) & (hi > 0), hi / (hi - lo), np.where(lo >= 0, 1.0, 0.0))
    return np.where(np.isfinite(c), c, 1.0)


def default_pair_slopes(box, slopes_a, slopes_b) -> tuple[list, list]:
    """Candidate slope pairs (p, q) for the upper and for the lower relaxation of d (heuristics).

    'separate': σ_A's and σ_B's own relaxations combined (d <= s_u,A·a − s_l,B·b, exact when both are stable);
    'delta': d between the chords of min(Δ, 0) and max(Δ, 0) (d has Δ's sign and |d| <= |Δ| for ReLU).
    """
    al, au, bl, bu, dl, du = box
    sua, sla = default_single_slopes(al, au, *slopes_a)
    sub, slb = default_single_slopes(bl, bu, *slopes_b)
    zero = np.zeros_like(al)
    upper = [(sua, as_float32(sua - slb)), (as_float32(_relu_chord(dl, du)), zero)]
    lower = [(sla, as_float32(sla - sub)), (as_float32(_relu_chord(-du, -dl)), zero)]
    return upper, lower


def choose_pair(box, slopes_a, slopes_b, candidates, upper: bool):
    """Among candidate (p, q) pairs, per coordinate the one whose relaxation is tightest at the box centre."""
    al, au, bl, bu, dl, du = box
    P = np.stack([np.broadcast_to(p, np.shape(al)) for p, _ in candidates])
    Q = np.stack([np.broadcast_to(q, np.shape(al)) for _, q in candidates])
    sign = 1.0 if upper else -1.0
    R = sign * pair_max(box, slopes_a, slopes_b, [sign] * len(candidates), -sign * P, -sign * Q)
    mid_d, mid_b = 0.5 * dl + 0.5 * du, 0.5 * bl + 0.5 * bu
    with np.errstate(invalid="ignore", over="ignore"):
        score = sign * (R + P * mid_d + Q * mid_b)
    score = np.where(np.isfinite(score), score, np.inf)
    best = np.argmin(score, axis=0)[None]
    pick = lambda X: np.take_along_axis(X, best, axis=0)[0]  # noqa: E731
    return pick(P), pick(Q), pick(R)
