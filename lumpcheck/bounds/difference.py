"""Differential bounds: both networks in lockstep, with sound bounds on each and on their difference.

For a batch of input boxes, layer by layer: interval bounds, then back-substitution (chain.py) on the
product chain (coordinates z_B, Δ = z_A − z_B for paired neurons, unpaired z_A; see pairing.py) and on
A's own chain. The two are intersected through a = b + Δ, the split phases of a branch (a >= 0 ...) are
imposed, and the layer's relaxations are chosen (relax.py: any slopes, offsets derived soundly). At the
output an objective (`RowObjective`) asks for upper bounds of a few linear rows and says which boxes are closed.
Every number is a sound bound of the exact rational networks (outward-rounded float64, see arith.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .arith import FloatOverflow
from .coupling import Coupling
from .difference_chain import Chain, LayerRelaxation
from .outward import add_up, down, max_product, up
from .pair_relax import (
    choose_pair,
    default_pair_slopes,
    default_single_slopes,
    pair_offset,
    pair_range,
    single_offset,
    single_range,
)

REFINE_ARRAY_BYTES = 64 * 2**20
"""Back-substitution of a layer's open coordinates runs in groups of rows so that one coefficient array (coordinates
of the widest layer × boxes × rows) stays within this many bytes (the step keeps about ten such arrays): at width
1024 a batch's whole layer needed several GB."""


class RowObjective(Protocol):
    """What the bound passes need from an objective (equivalence/objective.py defines the modes' objectives)."""

    def rows(self, coupling: Coupling, n: int) -> dict[str, np.ndarray]:
        """Per chain key ('p', 'a', 'b'): the linear rows (n, R, m) or (R, m) whose upper bounds are wanted."""

    def closed(self, uppers: dict[str, np.ndarray]) -> np.ndarray:
        """Per box: do the rows' upper bounds prove the property?"""


# ---------------------------------------------------------------- results


@dataclass
class Choices:
    """The slopes used in one layer (full arrays, (N, n)), and which coordinates needed a choice."""

    p_su: np.ndarray
    p_sl: np.ndarray
    p_qu: np.ndarray  # partner slopes of difference coordinates, (N, m)
    p_ql: np.ndarray
    a_su: np.ndarray
    a_sl: np.ndarray
    p_open: np.ndarray  # bool (N, n): coordinates whose relaxation is not exact
    a_open: np.ndarray


@dataclass
class BatchBounds:
    """Bounds of a batch of boxes, layer by layer (after intersection), and the output rows' bounds.

    product[k]: bounds of the product coordinates [z_B | Δ | unpaired z_A] of hidden layer k; a[k]: of z_A.
    uppers/coefs/contribs: per chain key ('p', 'a', 'b') of the objective's rows.
    """

    product: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    a: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    choices: list[Choices] = field(default_factory=list)
    empty: np.ndarray | None = None
    uppers: dict[str, np.ndarray] = field(default_factory=dict)
    coefs: dict[str, np.ndarray] = field(default_factory=dict)
    contribs: dict[str, list] = field(default_factory=dict)
    closed: np.ndarray | None = None
    betas: list[np.ndarray] | None = None  # one-network bounds: the β multipliers their rows used ((N, R, n_k))
    single: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # ... and the network's layer bounds
    hidden: list[Choices] | None = None  # one-network bounds: the slopes that derived the hidden-layer bounds, where
    # they are not `choices` (`run_single(refine=False)` over an earlier pass's bounds)


# ---------------------------------------------------------------- the layer loop


def run(
    coupling: Coupling,
    xl: np.ndarray,
    xu: np.ndarray,
    objective: RowObjective | None,
    *,
    slopes: list[dict] | None = None,
    phases: list[tuple[np.ndarray, np.ndarray]] | None = None,
    prior: BatchBounds | None = None,
    symbolic: bool = True,
    scores: bool = False,
) -> BatchBounds:
    """Bounds for the boxes [xl, xu] (N, n_in) of the exact networks.

    slopes[k]: given slope arrays for layer k (keys as in `Choices`, NaN = default heuristic).
    phases[k]: (phase of A's neurons, phase of B's neurons), (N, n) in {−1, 0, +1}: +1 restricts the box's
    branch to z >= 0, −1 to z <= 0. prior: bounds of an enclosing branch for the hidden layers, used instead
    of recomputing them (then only the output rows are back-substituted).
    """
    n, depth = len(xl), coupling.depth
    chains = {"p": Chain(coupling.product, xl, xu), "a": Chain(coupling.chain_a, xl, xu), "b": Chain(coupling.chain_b, xl, xu)}
    out = BatchBounds(empty=np.zeros(n, dtype=bool))
    for k in range(depth - 1):
        for chain in chains.values():
            chain.prepare(k)
        if prior is not None:
            plo, phi, alo, ahi = (np.broadcast_to(v, (n, v.shape[1])).copy() for v in (*prior.product[k], *prior.a[k]))
        else:
            plo, phi, alo, ahi = _layer_bounds(coupling, k, chains, symbolic and k > 0)
        if phases is not None:
            _impose(coupling, k, phases[k], plo, phi, alo, ahi)
        _intersect(coupling, k, plo, phi, alo, ahi)
        out.empty |= np.any(plo > phi, axis=1) | np.any(alo > ahi, axis=1)
        phi, ahi = np.maximum(phi, plo), np.maximum(ahi, alo)  # empty boxes: keep arithmetic well defined
        out.product.append((plo, phi))
        out.a.append((alo, ahi))
        relaxations, choices, infeasible = relax_layer(coupling, k, plo, phi, alo, ahi, None if slopes is None else slopes[k])
        out.empty |= infeasible
        for key, chain in chains.items():
            chain.fix(k, relaxations[key])
        out.choices.append(choices)
    if objective is not None:
        for key, T in objective.rows(coupling, n).items():
            chains[key].prepare(depth - 1)
            out.uppers[key], out.coefs[key], out.contribs[key] = chains[key].backsub(depth - 1, T, scores)
        out.closed = objective.closed(out.uppers) | out.empty
    return out


def run_single(
    coupling: Coupling,
    part: str,
    xl: np.ndarray,
    xu: np.ndarray,
    objective: RowObjective,
    *,
    slopes: list[dict] | None = None,
    phases: list[tuple[np.ndarray, np.ndarray]] | None = None,
    scores: bool = False,
    betas: list[np.ndarray] | None = None,
    root: list[tuple[np.ndarray, np.ndarray]] | None = None,
    refine: bool = True,
) -> BatchBounds:
    """Bounds of ONE network ('a' or 'b') for a classification objective of that part: its own chain only.

    Choices are recorded as in `run` (A's slopes under a_*, B's under the product's first coordinates).
    betas[k] (N, R, n_k), finite and >= 0: β-CROWN multipliers of the objective rows on layer k's split neurons
    (`split_terms`; any β >= 0 gives a sound bound, neurons without a phase ignore theirs).
    root[k] ((1, n_k) or (N, n_k) lo, hi): sound bounds of hidden layer k on a box containing every box of the batch
    (a ReLU-split search's root box): intersected with the interval bounds before the unstable neurons are
    back-substituted (fewer of them), so a node keeps what the root's optimised slopes proved.
    refine=False back-substitutes no hidden layer: their bounds are the interval ones intersected with `root`, which
    the caller gives as an earlier sound pass's bounds of these very boxes (and phases)."""
    n, depth = len(xl), coupling.depth
    chain = Chain(coupling.chain_a if part == "a" else coupling.chain_b, xl, xu)
    out = BatchBounds(empty=np.zeros(n, dtype=bool))
    keys = ("a_su", "a_sl") if part == "a" else ("p_su", "p_sl")
    for k in range(depth - 1):
        chain.prepare(k)
        lo, hi = chain.interval(k)
        layer = chain.layers[k]
        if root is not None:
            lo, hi = np.maximum(lo, root[k][0]), np.minimum(hi, root[k][1])
        if k > 0 and refine:
            _refine(chain, k, _unstable(lo, hi, layer.alpha_lo, layer.alpha_hi), lo, hi, 0)
        if phases is not None:
            ph = phases[k][0 if part == "a" else 1]
            lo, hi = np.where(ph > 0, np.maximum(lo, 0.0), lo), np.where(ph < 0, np.minimum(hi, 0.0), hi)
        out.empty |= np.any(lo > hi, axis=1)
        hi = np.maximum(hi, lo)
        out.single.append((lo, hi))
        cols = slice(0, layer.size)
        su, sl, mu, ml, qlo, qhi = _single(lo, hi, layer.alpha_lo, layer.alpha_hi, slopes and slopes[k], keys, cols)
        none = np.zeros((n, 0))
        chain.fix(k, LayerRelaxation(su, sl, mu, ml, none, none, lo, hi, qlo, qhi))
        opened = _unstable(lo, hi, layer.alpha_lo, layer.alpha_hi)
        n_p, n_a = coupling.product[k].size, coupling.chain_a[k].size
        m = len(coupling.d_a[k + 1])
        p_su, p_sl, p_open = np.zeros((n, n_p)), np.zeros((n, n_p)), np.zeros((n, n_p), dtype=bool)
        a_su, a_sl, a_open = np.zeros((n, n_a)), np.zeros((n, n_a)), np.zeros((n, n_a), dtype=bool)
        if part == "a":
            a_su, a_sl, a_open = su, sl, opened
            out.a.append((lo, hi))
        else:
            p_su[:, :layer.size], p_sl[:, :layer.size], p_open[:, :layer.size] = su, sl, opened
        out.choices.append(Choices(p_su, p_sl, np.zeros((n, m)), np.zeros((n, m)), a_su, a_sl, p_open, a_open))
    chain.prepare(depth - 1)
    T = objective.rows(coupling, n)[part]
    split = None if betas is None else split_terms(betas, phases, part)
    out.uppers[part], out.coefs[part], out.contribs[part] = chain.backsub(depth - 1, T, scores, split)
    out.betas = betas
    out.closed = objective.closed(out.uppers) | out.empty
    return out


def split_terms(betas: list[np.ndarray], phases: list[tuple[np.ndarray, np.ndarray]] | None, part: str) -> list:
    """β·s per hidden layer ((N, R, n_k)) for one network's split neurons (s: their phase, 0 when unsplit)."""
    if phases is None:
        raise ValueError("β multipliers need the nodes' phases")
    out = []
    for k, beta in enumerate(betas):
        if not (np.all(np.isfinite(beta)) and np.all(beta >= 0)):
            raise ValueError(f"β multipliers of hidden layer {k} must be finite and >= 0")
        out.append(beta * phases[k][0 if part == "a" else 1][:, None, :])
    return out


def _layer_bounds(coupling: Coupling, k: int, chains: dict, symbolic: bool):
    """Interval bounds of all three chains, then back-substitution for the coordinates that matter."""
    nb, d_a = coupling.nb[k + 1], coupling.d_a[k + 1]
    m = len(d_a)
    plo, phi = chains["p"].interval(k)
    alo, ahi = chains["a"].interval(k)
    blo, bhi = chains["b"].interval(k)
    plo[:, :nb], phi[:, :nb] = np.maximum(plo[:, :nb], blo), np.minimum(phi[:, :nb], bhi)
    if symbolic:
        _intersect(coupling, k, plo, phi, alo, ahi)
        views = {"a": (alo, ahi, 0), "b": (plo[:, :nb], phi[:, :nb], 0), "p": (plo[:, nb:nb + m], phi[:, nb:nb + m], nb)}
        for key, mask in _open_coordinates(coupling, k, plo, phi, alo, ahi).items():
            lo, hi, offset = views[key]
            _refine(chains[key], k, mask, lo, hi, offset)
    return plo, phi, alo, ahi


def _refine(chain: Chain, k: int, mask: np.ndarray, lo_view, hi_view, offset: int) -> None:
    """Back-substitute the masked coordinates (per box) of layer k and tighten lo/hi in place, in groups of rows
    whose coefficient arrays stay within REFINE_ARRAY_BYTES (rows are independent: any grouping gives sound bounds,
    equal up to rounding).

    mask (N, c) selects coordinates offset .. offset + c of the chain's layer k."""
    count = mask.sum(axis=1)
    width = int(count.max(initial=0))
    if width == 0:
        return
    order = np.argsort(~mask, axis=1, kind="stable")[:, :width]
    valid = np.arange(width)[None, :] < count[:, None]
    widest = max([chain.layers[0].weight.shape[1]] + [layer.size for layer in chain.layers[:k + 1]])  # input too
    group = max(1, REFINE_ARRAY_BYTES // (16 * widest * len(mask)))  # 2 rows (upper, lower) of 8 bytes per coordinate
    for start in range(0, width, group):
        part, ok = order[:, start:start + group], valid[:, start:start + group]
        sign = ok.astype(np.float64)
        idx = part + offset
        upper = chain.backsub_select(k, np.hstack([idx, idx]), np.hstack([sign, -sign]))
        rows = np.broadcast_to(np.arange(len(mask))[:, None], part.shape)
        r, c, w = rows[ok], part[ok], part.shape[1]
        hi_view[r, c] = np.minimum(hi_view[r, c], upper[:, :w][ok])
        lo_view[r, c] = np.maximum(lo_view[r, c], -upper[:, w:][ok])


def _unstable(lo, hi, alpha_lo, alpha_hi) -> np.ndarray:
    identity = (alpha_lo == 1) & (alpha_hi == 1)
    return (lo < 0) & (hi > 0) & ~identity


def _open_coordinates(coupling: Coupling, k: int, plo, phi, alo, ahi) -> dict[str, np.ndarray]:
    """Per box, the coordinates whose bounds matter for a relaxation: unstable neurons of A ('a') and B
    ('b'), and differences of pairs with an unstable member ('p'); both members of such a pair too."""
    layer, la = coupling.product[k], coupling.chain_a[k]
    nb, d_a, d_b = coupling.nb[k + 1], coupling.d_a[k + 1], coupling.d_b[k + 1]
    b_open = _unstable(plo[:, :nb], phi[:, :nb], layer.alpha_lo[:nb], layer.alpha_hi[:nb])
    a_open = _unstable(alo, ahi, la.alpha_lo, la.alpha_hi)
    pair_open = a_open[:, d_a] | b_open[:, d_b]
    b_open[:, d_b] |= pair_open
    a_open[:, d_a] |= pair_open
    return {"a": a_open, "b": b_open, "p": pair_open}


def _impose(coupling: Coupling, k: int, phases, plo, phi, alo, ahi) -> None:
    """Restrict to a branch: phase +1 means z >= 0, −1 means z <= 0 (A's neurons, then B's)."""
    pa, pb = phases
    nb = coupling.nb[k + 1]
    alo[:] = np.where(pa > 0, np.maximum(alo, 0.0), alo)
    ahi[:] = np.where(pa < 0, np.minimum(ahi, 0.0), ahi)
    plo[:, :nb] = np.where(pb > 0, np.maximum(plo[:, :nb], 0.0), plo[:, :nb])
    phi[:, :nb] = np.where(pb < 0, np.minimum(phi[:, :nb], 0.0), phi[:, :nb])


def _intersect(coupling: Coupling, k: int, plo, phi, alo, ahi) -> None:
    """Tighten in place with a = b + Δ (paired) and a = z_A (unpaired), each step sound given the others."""
    nb, d_a, d_b, e_a = coupling.nb[k + 1], coupling.d_a[k + 1], coupling.d_b[k + 1], coupling.e_a[k + 1]
    m = len(d_a)
    D = slice(nb, nb + m)
    bl, bu, dl, du = plo[:, d_b], phi[:, d_b], plo[:, D], phi[:, D]
    al_, au_ = np.maximum(alo[:, d_a], down(bl + dl)), np.minimum(ahi[:, d_a], up(bu + du))
    bl, bu = np.maximum(bl, down(al_ - du)), np.minimum(bu, up(au_ - dl))
    dl, du = np.maximum(dl, down(al_ - bu)), np.minimum(du, up(au_ - bl))
    alo[:, d_a], ahi[:, d_a] = al_, au_
    plo[:, d_b], phi[:, d_b] = bl, bu
    plo[:, D], phi[:, D] = dl, du
    E = slice(nb + m, nb + m + len(e_a))
    lo, hi = np.maximum(plo[:, E], alo[:, e_a]), np.minimum(phi[:, E], ahi[:, e_a])
    plo[:, E], alo[:, e_a] = lo, lo
    phi[:, E], ahi[:, e_a] = hi, hi


# ---------------------------------------------------------------- relaxations of one layer


def _given(slopes: dict | None, key: str, default: np.ndarray, cols: slice = slice(None), open_=None) -> np.ndarray:
    """Given slopes (NaN = none) where the coordinate is open; stable coordinates keep their exact slope."""
    if slopes is None or key not in slopes:
        return default
    g = slopes[key][:, cols]
    keep = np.isnan(g) if open_ is None else np.isnan(g) | ~open_
    return np.where(keep, default, g)


def _single(lo, hi, alpha_lo, alpha_hi, slopes, keys, cols=slice(None)):
    """Relaxation arrays (su, sl, mu, ml, qlo, qhi) of single coordinates with σ's slope enclosure."""
    alpha = (alpha_lo[None, :], alpha_hi[None, :])
    su, sl = default_single_slopes(lo, hi, *alpha)
    opened = _unstable(lo, hi, *alpha)
    su, sl = _given(slopes, keys[0], su, cols, opened), _given(slopes, keys[1], sl, cols, opened)
    mu = single_offset(lo, hi, *alpha, su, upper=True)
    ml = single_offset(lo, hi, *alpha, sl, upper=False)
    qlo, qhi = single_range(lo, hi, *alpha)
    return su, sl, mu, ml, qlo, qhi


def relax_layer(coupling: Coupling, k: int, plo, phi, alo, ahi, slopes: dict | None):
    """Relaxations of hidden layer k for the chains 'p', 'a', 'b' (given slopes where not NaN, else
    heuristics), and the choices made. The product's B and unpaired-A coordinates reuse B's and A's."""
    layer, la, lb = coupling.product[k], coupling.chain_a[k], coupling.chain_b[k]
    nb, d_a, d_b, e_a = coupling.nb[k + 1], coupling.d_a[k + 1], coupling.d_b[k + 1], coupling.e_a[k + 1]
    n, m = len(plo), len(d_a)
    D = slice(nb, nb + m)
    A = _single(alo, ahi, la.alpha_lo, la.alpha_hi, slopes, ("a_su", "a_sl"))
    B = _single(plo[:, :nb], phi[:, :nb], lb.alpha_lo, lb.alpha_hi, slopes, ("p_su", "p_sl"), slice(0, nb))
    pair = [np.zeros((n, m))] * 6
    qu = ql = np.zeros((n, m))
    pair_open = np.zeros((n, m), dtype=bool)
    infeasible = np.zeros((n, m), dtype=bool)
    if m:
        box = (alo[:, d_a], ahi[:, d_a], plo[:, d_b], phi[:, d_b], plo[:, D], phi[:, D])
        sa = (np.broadcast_to(layer.alpha_lo[D], (n, m)), np.broadcast_to(layer.alpha_hi[D], (n, m)))
        sb = (np.broadcast_to(layer.beta_lo[D], (n, m)), np.broadcast_to(layer.beta_hi[D], (n, m)))
        pair_open = _unstable(box[0], box[1], *sa) | _unstable(box[2], box[3], *sb)
        pu, qu, pl, ql, ru, rl, dlo, dhi, exact = _stable_pairs(box, sa, sb)
        given = slopes is not None and "p_qu" in slopes
        work = pair_open | (sa[0] != sa[1]) | (sb[0] != sb[1]) | ~exact
        if work.any():
            sel = np.nonzero(work)
            sbox = tuple(v[sel] for v in box)
            ssa, ssb = (sa[0][sel], sa[1][sel]), (sb[0][sel], sb[1][sel])
            sub = None
            if given:
                sub = {"p_su": slopes["p_su"][:, D][sel], "p_sl": slopes["p_sl"][:, D][sel],
                       "p_qu": slopes["p_qu"][sel], "p_ql": slopes["p_ql"][sel]}
            up_c, lo_c = default_pair_slopes(sbox, ssa, ssb)
            sopen = pair_open[sel]
            for arr, val in zip((pu, qu, ru), _pair_side(sbox, ssa, ssb, up_c, sub, ("p_su", "p_qu"), True, sopen)):
                arr[sel] = val
            for arr, val in zip((pl, ql, rl), _pair_side(sbox, ssa, ssb, lo_c, sub, ("p_sl", "p_ql"), False, sopen)):
                arr[sel] = val
            rlo, rhi = pair_range(sbox, ssa, ssb)
            dlo[sel], dhi[sel] = rlo, rhi
        infeasible = np.isneginf(dhi)  # no sign piece of the coupled box is feasible: the branch is empty
        for arr in (pu, pl, qu, ql, ru, rl, dlo, dhi):
            arr[infeasible] = 0.0  # keep arithmetic finite; the box is closed as empty
        pair = [pu, pl, ru, rl, dlo, dhi]
    fields = [np.concatenate([b, p, a[:, e_a]], axis=1) for b, p, a in zip(B, pair, A)]
    su, sl, mu, ml, qlo, qhi = fields
    relaxations = {
        "p": LayerRelaxation(su, sl, mu, ml, qu, ql, plo, phi, qlo, qhi),
        "a": LayerRelaxation(*A[:4], np.zeros((n, 0)), np.zeros((n, 0)), alo, ahi, *A[4:]),
        "b": LayerRelaxation(*B[:4], np.zeros((n, 0)), np.zeros((n, 0)), plo[:, :nb], phi[:, :nb], *B[4:]),
    }
    p_open = np.concatenate([_unstable(plo[:, :nb], phi[:, :nb], lb.alpha_lo, lb.alpha_hi), pair_open,
                             np.zeros((n, len(e_a)), dtype=bool)], axis=1)
    choices = Choices(su, sl, qu, ql, A[0], A[1], p_open, _unstable(alo, ahi, la.alpha_lo, la.alpha_hi))
    for r in relaxations.values():
        for arr in (r.su, r.sl, r.mu, r.ml, r.qlo, r.qhi):
            if not np.all(np.isfinite(arr)):
                raise FloatOverflow(f"non-finite relaxation in hidden layer {k}")
    return relaxations, choices, infeasible.any(axis=1)


def _pair_side(box, sa, sb, candidates, slopes, keys, upper, opened):
    """Slopes and offsets of one side of the difference relaxation: given slopes (on open pairs), else the best
    candidate."""
    p, q, r = choose_pair(box, sa, sb, candidates, upper)
    if slopes is not None:
        gp, gq = slopes[keys[0]], slopes[keys[1]]
        given = ~np.isnan(gp) & ~np.isnan(gq) & opened
        if given.any():
            p, q = np.where(given, gp, p), np.where(given, gq, q)
            r = np.where(given, pair_offset(box, sa, sb, p, q, upper), r)
    return p, q, r


def _stable_pairs(box, sa, sb):
    """Exact relaxations of pairs whose members are both stable with float slopes: d = s_a·Δ + (s_a − s_b)·b.

    Returns writable arrays (pu, qu, pl, ql, ru, rl, dlo, dhi); other coordinates are overwritten by callers.
    The range of d there is the interval evaluation of the linear form (exact products rounded outward).
    """
    al, au, bl, bu, dl, du = box
    s_a = np.where(al >= 0, 1.0, sa[0])
    s_b = np.where(bl >= 0, 1.0, sb[0])
    q = s_a - s_b  # 1 − 0, 1 − α, α − 1, α − α: exact for float α in [0, 2]
    p = s_a.copy()
    zero = np.zeros_like(al)
    neg_lo = add_up(max_product(-p, -p, dl, du), max_product(-q, -q, bl, bu))
    hi = add_up(max_product(p, p, dl, du), max_product(q, q, bl, bu))
    exact = (q + s_b == s_a) & (s_a - q == s_b)  # Fast2Sum test (lumpcheck.exact.exact_add)
    return p, q.copy(), p.copy(), q.copy(), zero.copy(), zero.copy(), -neg_lo, hi, exact
