"""The checker's own re-derivation of differential bounds (no code shared with the prover).

Trusted: the exact network IR (lumpcheck.ir). Independent of bounds/outward.py, bounds/pair_relax.py and
bounds/difference_chain.py (restated here).
Arithmetic: binary64 round to nearest with gradual underflow (bounds.arith.check_float_environment); `up`
adds |x|·2^-52 + 2^-1074 >= ulp(x), so the rounded result is >= succ(x) >= the exact value of the
operation that produced x (and `dn` symmetrically). A length-n dot product computed in any order errs
by at most n·2^-52·fl(Σ|x_i y_i|) + n·2^-1072 (Higham Thm 3.1 with underflow; see bounds/propagate.py).
Model (bounds/coupling.py's definition, restated): hidden layer k of the product chain has coordinates
[z_B | Δ_t = z_A[i_t] − z_B[j_t] | unpaired z_A]; post-activations [h_B | h_A[i_t] − h_B[j_t] | h_A].
Relaxations: per coordinate, recorded slopes (or this module's defaults) with offsets computed here as
rigorous extrema of the residual (piecewise linear; for differences a Lagrangian dual over each sign
piece, valid for every multiplier), so any slope yields a valid bound. Back-substitution keeps
target <= C·q + const exactly, charging every rounding to const.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..ir.activation import Activation
from ..ir.exact import as_fractions, float_with_error
from ..ir.graph.radical import Radical
from ..ir.network import Network

U52 = 2.0**-52
SUB = 2.0**-1074
TINY = 2.0**-1072
RADICAL_BITS = 96
"""Fractional bits of the enclosures of radical weights (their error is charged, so any precision is sound)."""


def up(x):
    return x + (np.abs(x) * U52 + SUB)


def dn(x):
    return x - (np.abs(x) * U52 + SUB)


def err(S, T, n):
    E = up(up(T * (n * U52)) + n * TINY)
    if not (np.all(np.isfinite(S)) and np.all(np.isfinite(E))):
        raise ArithmeticError("float overflow while re-deriving bounds")
    return E


def sum_up(*xs):
    total = xs[0]
    for x in xs[1:]:
        total = up(total + x)
    return total


def rows_up(X, y):
    """>= X·y per row: X (N, R, n), y (N, n)."""
    S = np.einsum("erk,ek->er", X, y)
    T = np.einsum("erk,ek->er", np.abs(X), np.abs(y))
    return up(S + err(S, T, X.shape[-1]))


def diff_enclosure(x, y):
    """[lo, hi] around x − y (exactly x − y when it rounds to 0, i.e. x == y). Selects by multiplying with the
    0/1 mask (exact, and without the branch per element of np.where: the masks here follow no pattern)."""
    s = x - y
    nz = s != 0
    return dn(s) * nz, up(s) * nz


def diff_lower(x, y):
    """diff_enclosure(x, y)[0] alone."""
    s = x - y
    return dn(s) * (s != 0)


def diff_upper(x, y):
    """diff_enclosure(x, y)[1] alone."""
    s = x - y
    return up(s) * (s != 0)


def max_product(clo, chi, vlo, vhi):
    with np.errstate(invalid="ignore"):
        m = up(np.maximum(np.maximum(clo * vlo, clo * vhi), np.maximum(chi * vlo, chi * vhi)))
    some = (clo != 0) | (chi != 0)
    if np.all(np.isfinite(m)):
        return m * some  # exact: m or 0
    return np.where(some, m, 0.0)


def q_interval(q: Fraction) -> tuple[float, float]:
    f = float(q)
    lo = f if Fraction(f) <= q else float(np.nextafter(f, -np.inf))
    hi = f if Fraction(f) >= q else float(np.nextafter(f, np.inf))
    return lo, hi


# ---------------------------------------------------------------- the networks as chains


@dataclass
class _Layer:
    W: np.ndarray
    b: np.ndarray
    res: np.ndarray | None  # (rows,) bound on |exact − float| of W·q + b per unit |q|: see _resid
    wres: np.ndarray | None
    bres: np.ndarray | None
    a_lo: np.ndarray  # negative-side slope enclosure of the coordinate's σ (σ_A for differences)
    a_hi: np.ndarray
    b_lo: np.ndarray  # σ_B's, for differences
    b_hi: np.ndarray
    partner: np.ndarray  # −1, or the B coordinate of a difference


def _floats(values: np.ndarray):
    """Nearest floats and a bound on |exact − float| (None when exact); Radical entries (BatchNorm folded exactly)
    through this module's own isqrt enclosure."""
    if values.dtype != object:
        return values.astype(np.float64), None
    pairs = [_near(v) for v in values.reshape(-1)]
    near = np.array([f for f, _ in pairs])
    res = np.array([r for _, r in pairs])
    return near.reshape(values.shape), (res.reshape(values.shape) if np.any(res) else None)


def _near(v) -> tuple[float, float]:
    """(f, r) with |v − f| <= r for an exact Fraction or Radical v."""
    if not isinstance(v, Radical):
        return float_with_error(v)
    return v.float_and_error(RADICAL_BITS)  # integer isqrt enclosures (ir/graph/radical.py, trusted)


def _minus(x: np.ndarray, y: np.ndarray):
    if x.dtype == object or y.dtype == object:
        if not (_radicals(x) or _radicals(y)):
            return _floats(as_fractions(x) - as_fractions(y))
        # radical rows: no radical arithmetic; |x − fx| <= rx, |y − fy| <= ry and fx − fy = s + e exactly (TwoSum),
        # so |(x − y) − s| <= rx + ry + |e|, summed upward
        (fx, rx), (fy, ry) = _floats(x), _floats(y)
        s = fx - fy
        v = s - fx
        e = (fx - (s - v)) + (-fy - v)
        if not np.all(np.isfinite(s)):
            raise ArithmeticError("weight difference overflows")
        return s, sum_up(np.abs(e), *(r for r in (rx, ry) if r is not None))
    s = x - y
    v = s - x
    e = (x - (s - v)) + (-y - v)  # Knuth's TwoSum: s + e = x − y exactly (no overflow)
    if not np.all(np.isfinite(s)):
        raise ArithmeticError("weight difference overflows")
    return s, (np.abs(e) if np.any(e) else None)


def _radicals(arr: np.ndarray) -> bool:
    return arr.dtype == object and any(isinstance(v, Radical) for v in arr.reshape(-1))


def _stack(parts):
    vals = np.concatenate([p[0] for p in parts], axis=0)
    if all(p[1] is None for p in parts):
        return vals, None
    return vals, np.concatenate([np.zeros_like(p[0]) if p[1] is None else p[1] for p in parts], axis=0)


def _slope(act: Activation) -> tuple[float, float]:
    return (1.0, 1.0) if act.kind == "identity" else q_interval(act.alpha)


def depth_normalised(a: Network, b: Network) -> tuple[list, list]:
    """Each net's (weight, bias, activation) list: identity output layer appended if the last activation is
    not the identity; the shallower net padded with identity layers on its inputs (exact rewrites)."""
    def layers(net):
        out = [(l.weight, l.bias, l.activation) for l in net.layers]
        if out[-1][2].kind != "identity":
            n = out[-1][0].shape[0]
            out.append((np.eye(n), np.zeros(n), Activation("identity")))
        return out

    la, lb = layers(a), layers(b)
    n = a.input_size
    pad = (np.eye(n), np.zeros(n), Activation("identity"))
    while len(la) < len(lb):
        la.insert(0, pad)
    while len(lb) < len(la):
        lb.insert(0, pad)
    return la, lb


@dataclass
class Chains:
    """Per layer: the product chain, A's and B's chains, and the pairing's index arrays."""

    P: list
    A: list
    B: list
    nb: list
    d_a: list
    d_b: list
    e_a: list


def build_chains(a: Network, b: Network, pairing: list[list[tuple[int, int]]]) -> Chains:
    la, lb = depth_normalised(a, b)
    if len(pairing) != len(la) - 1:
        raise ValueError(f"pairing lists {len(pairing)} hidden layers, the networks have {len(la) - 1}")
    out = Chains([], [], [], [a.input_size], [np.zeros(0, int)], [np.arange(a.input_size)], [np.zeros(0, int)])
    prev_input = True
    for k, ((wa, ba, sa), (wb, bb, sb)) in enumerate(zip(la, lb)):
        last = k == len(la) - 1
        pairs = [(i, i) for i in range(wa.shape[0])] if last else pairing[k]
        d_a = np.array([i for i, _ in pairs], dtype=int)
        d_b = np.array([j for _, j in pairs], dtype=int)
        if len(set(d_a.tolist())) != len(d_a) or len(set(d_b.tolist())) != len(d_b):
            raise ValueError(f"hidden layer {k}: a neuron is paired twice")
        if len(d_a) and (d_a.min() < 0 or d_b.min() < 0 or d_a.max() >= wa.shape[0] or d_b.max() >= wb.shape[0]):
            raise ValueError(f"hidden layer {k}: paired neuron index out of range")
        e_a = np.array([] if last else sorted(set(range(wa.shape[0])) - set(d_a.tolist())), dtype=int)
        out.P.append(_product(wa, ba, sa, wb, bb, sb, out, d_a, d_b, e_a, prev_input))
        out.A.append(_single(wa, ba, sa))
        out.B.append(_single(wb, bb, sb))
        out.nb.append(wb.shape[0])
        out.d_a.append(d_a)
        out.d_b.append(d_b)
        out.e_a.append(e_a)
        prev_input = False
    return out


def _single(w, b, act) -> _Layer:
    W, wres = _floats(w)
    B, bres = _floats(b)
    lo, hi = _slope(act)
    n = len(B)
    return _Layer(W, B, None, wres, bres, np.full(n, lo), np.full(n, hi), np.full(n, lo), np.full(n, hi), np.full(n, -1))


def _product(wa, ba, sa, wb, bb, sb, ch: Chains, d_a, d_b, e_a, prev_input) -> _Layer:
    pnb, pda, pdb, pea = ch.nb[-1], ch.d_a[-1], ch.d_b[-1], ch.e_a[-1]
    cols = pnb + len(pda) + len(pea)
    obj = wa.dtype == object or wb.dtype == object
    if obj:  # exact entries only: a float placed in an object array would make differences with it floats (rounded)
        wa, wb, ba, bb = (as_fractions(v) for v in (wa, wb, ba, bb))
    war = np.full((wa.shape[0], cols), Fraction(0), dtype=object) if obj else np.zeros((wa.shape[0], cols))
    wbq = np.full((wb.shape[0], cols), Fraction(0), dtype=object) if obj else np.zeros((wb.shape[0], cols))
    if prev_input:
        war[:, :pnb] = wa
    else:
        war[:, pdb] = wa[:, pda]  # h_A[i_t] = h_B[j_t] + d_t
        war[:, pnb:pnb + len(pda)] = wa[:, pda]
        war[:, pnb + len(pda):] = wa[:, pea]
    wbq[:, :pnb] = wb
    W, wres = _stack([_floats(wbq), _minus(war[d_a], wbq[d_b]), _floats(war[e_a])])
    B, bres = _stack([_floats(bb), _minus(ba[d_a], bb[d_b]), _floats(ba[e_a])])
    (al, ah), (bl, bh) = _slope(sa), _slope(sb)
    nb, m, e = wb.shape[0], len(d_a), len(e_a)
    a_lo = np.concatenate([np.full(nb, bl), np.full(m, al), np.full(e, al)])
    a_hi = np.concatenate([np.full(nb, bh), np.full(m, ah), np.full(e, ah)])
    b_lo = np.concatenate([np.full(nb, bl), np.full(m, bl), np.full(e, al)])
    b_hi = np.concatenate([np.full(nb, bh), np.full(m, bh), np.full(e, ah)])
    partner = np.concatenate([np.full(nb, -1), d_b, np.full(e, -1)]).astype(int)
    return _Layer(W, B, None, wres, bres, a_lo, a_hi, b_lo, b_hi, partner)


# ---------------------------------------------------------------- relaxation offsets


def single_max(lo, hi, alo, ahi, s, upper: bool):
    """upper: >= max over z in [lo, hi] of σ(z) − s·z; lower (upper=False): <= its min."""
    best = np.full(np.shape(lo), -np.inf)
    one = np.ones_like(lo)
    for valid, zl, zh, kl, kh in ((hi >= 0, np.maximum(lo, 0.0), hi, one, one), (lo <= 0, lo, np.minimum(hi, 0.0), alo + 0 * lo, ahi + 0 * lo)):
        if upper:
            clo, chi = diff_lower(kl, s), diff_upper(kh, s)
        else:
            clo, chi = diff_lower(s, kh), diff_upper(s, kl)
        best = np.where(valid, np.maximum(best, max_product(clo, chi, zl, zh)), best)
    return best if upper else -best


def pair_max(box, sa, sb, kappa: float, cd, cb):
    """>= max of κσ_A(a) − κσ_B(b) + cd·Δ + cb·b over a in [al, au], b in [bl, bu], Δ in [dl, du], a = b + Δ.

    On each of the four sign pieces (axis 0) the objective is linear; for any μ the dual bound
    Σ_v max_v (k_v + e_v·μ)·v, e = (1, −1, −1), bounds it (weak duality); the minimum over the three
    multipliers μ in {−k_a, k_b, cd} (axis 1) is taken (exact when the piece is feasible).
    """
    al, au, bl, bu, dl, du = box
    one = np.ones_like(al)
    pa, pb = [0, 0, 1, 1], [0, 1, 0, 1]
    a0 = np.stack([np.maximum(al, 0.0), al])[pa]
    a1 = np.stack([au, np.minimum(au, 0.0)])[pa]
    b0 = np.stack([np.maximum(bl, 0.0), bl])[pb]
    b1 = np.stack([bu, np.minimum(bu, 0.0)])[pb]
    sal = np.stack([one, sa[0] * one])[pa]
    sah = np.stack([one, sa[1] * one])[pa]
    sbl = np.stack([one, sb[0] * one])[pb]
    sbh = np.stack([one, sb[1] * one])[pb]
    ok = np.stack([au >= 0, al <= 0])[pa] & np.stack([bu >= 0, bl <= 0])[pb]
    ok &= (diff_lower(a0, b1) <= du) & (diff_upper(a1, b0) >= dl)
    ka_lo, ka_hi = (sal, sah) if kappa > 0 else (-sah, -sal)
    if kappa > 0:
        kb_lo, kb_hi = diff_lower(cb, sbh), diff_upper(cb, sbl)
    else:
        kb_lo, kb_hi = diff_lower(cb, -sbl), diff_upper(cb, -sbh)
    mu = np.stack([-0.5 * (ka_lo + ka_hi), 0.5 * (kb_lo + kb_hi), cd + 0 * ka_lo], axis=1)  # (4, 3, K)
    e = lambda x: x[:, None]  # noqa: E731 - broadcast a piece array over the multipliers
    ta = max_product(diff_lower(e(ka_lo), -mu), diff_upper(e(ka_hi), -mu), e(a0), e(a1))
    tb = max_product(diff_lower(e(kb_lo), mu), diff_upper(e(kb_hi), mu), e(b0), e(b1))
    td = max_product(*diff_enclosure(cd, mu), dl, du)
    value = sum_up(ta, tb, td).min(axis=1)
    return np.where(ok, value, -np.inf).max(axis=0)


def default_single(lo, hi, alo, ahi):
    """Slopes (upper, lower) used where a certificate gives none: chord above and a tangent below a convex σ."""
    a = 0.5 * alo + 0.5 * ahi
    open_ = (lo < 0) & (hi > 0)
    with np.errstate(all="ignore"):
        chord = np.where(open_, (hi - a * lo) / (hi - lo), 1.0)
    chord = np.where(np.isfinite(chord), chord, 1.0)
    tangent = np.where(hi >= -lo, 1.0, a)
    lin = np.where(lo >= 0, 1.0, a)
    convex = ahi <= 1
    return np.where(open_, np.where(convex, chord, tangent), lin), np.where(open_, np.where(convex, tangent, chord), lin)
