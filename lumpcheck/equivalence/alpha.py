"""Optimised lower ReLU slopes (alpha-CROWN style) for one network's margin bounds: an untrusted float search.

For one network's chain, a batch of boxes (with ReLU phase restrictions) and the margin rows of a classification
objective, projected Adam steps on the lower slopes of the unstable neurons lower the CROWN upper bounds of the
rows. With `joint`, every hidden layer's bounds are recomputed from the same slopes at every step (as
`bounds.difference.run_single` and the checker derive them, so the optimiser sees the bound that will be
certified, up to rounding); without it the hidden-layer bounds are computed once with DeepPoly slopes and only
the output rows are optimised (cheap, for batches of branch-and-bound nodes).

Floats only, no rounding control: the slopes proposed here are handed to the sound bound code, which derives valid
offsets for any slope (and the certificate records them for the checker), so a poor or wrong proposal can only
loosen a bound, never make one unsound. Needs torch (imported lazily); without it `available()` is False and
callers keep the default slopes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

STEPS = 30
"""Projected Adam steps per optimisation."""
LR = 0.25
"""Adam learning rate on slopes in [a, 1] (a: the activation's negative-side slope, 0 for ReLU)."""
FLOAT32_SAFE = 1e6
"""The optimiser computes in float32 (its proposals are float32 values either way, and the sound pass re-derives
every bound from them) unless a weight, bias or box bound exceeds this magnitude: then float64, far from overflow.
float32 took a batch's optimisation from 1.81 to 1.51 s on MNIST 256x2 (1727 vs 2175 nodes in 100 s, one process)."""
LR_BETA = 0.5
"""Adam learning rate on the β multipliers of split constraints (unbounded above, projected onto β >= 0)."""

_torch = None


def available() -> bool:
    """Is torch importable (then slopes can be optimised)?"""
    global _torch
    if _torch is None:
        try:
            import torch
        except ImportError:
            _torch = False
        else:
            torch.set_num_threads(1)  # one core per search process: the searches run one process per core
            _torch = torch
    return _torch is not False


def supported(layers) -> bool:
    """Every hidden activation has one exact negative-side slope (ReLU, leaky ReLU with a float slope, identity)."""
    return all(np.array_equal(l.alpha_lo, l.alpha_hi) for l in layers[:-1])


class _Model:
    """CROWN bounds of one chain in torch float32, or float64 for large magnitudes (no outward rounding: proposals
    only)."""

    def __init__(self, layers, xl, xu, phases):
        t = _torch
        big = max([float(np.max(np.abs(v), initial=0.0)) for l in layers for v in (l.weight, l.bias)]
                  + [float(np.max(np.abs(v), initial=0.0)) for v in (xl, xu)])
        dtype = np.float32 if big <= FLOAT32_SAFE else np.float64
        self.dtype, self.tdtype = dtype, t.float32 if dtype == np.float32 else t.float64
        self.W = [t.from_numpy(np.ascontiguousarray(l.weight, dtype=dtype)) for l in layers]
        self.b = [t.from_numpy(np.asarray(l.bias, dtype=dtype)) for l in layers]
        self.a = [t.from_numpy(np.asarray(l.alpha_lo, dtype=dtype)) for l in layers[:-1]]
        self.c = t.from_numpy((0.5 * xl + 0.5 * xu).astype(dtype))
        self.r = t.from_numpy((0.5 * xu - 0.5 * xl).astype(dtype))
        self.phases = None if phases is None else [t.from_numpy(np.asarray(p, dtype=dtype)) for p in phases]
        self.depth = len(layers)

    def backsub(self, k: int, C, rel, split=None):
        """Upper bounds (N, R) of C·p_k for C (N, R, n_k) or (R, n_k), with the relaxations of layers < k
        (and β·s terms split[j] (N, R, n_j) on layer j's split neurons)."""
        t = _torch
        const = C @ self.b[k]
        C = C @ self.W[k]
        for j in range(k - 1, -1, -1):
            su, mu, sl = rel[j]
            Cp, Cn = C.clamp(min=0), C.clamp(max=0)
            const = const + (Cp * mu[:, None, :]).sum(-1)
            D = Cp * su[:, None, :] + Cn * sl[:, None, :]
            if split is not None:
                D = D + split[j]
            const = const + D @ self.b[j]
            C = D @ self.W[j]
        return const + t.einsum("nri,ni->nr", C, self.c) + t.einsum("nri,ni->nr", C.abs(), self.r)

    def relax(self, k: int, lo, hi, alpha):
        """(su, mu, sl) of layer k from its bounds; alpha None: DeepPoly's lower slope. Also the slope used."""
        t = _torch
        a = self.a[k]
        unstable = (lo < 0) & (hi > 0)
        width = t.where(unstable, hi - lo, t.ones_like(lo))
        chord = t.where(unstable, (hi - a * lo) / width, t.ones_like(lo))
        stable = t.where(lo >= 0, t.ones_like(lo), a.expand_as(lo))
        su = t.where(unstable, chord, stable)
        mu = t.where(unstable, (a - chord) * lo, t.zeros_like(lo))
        tangent = t.where(hi >= -lo, t.ones_like(lo), a.expand_as(lo))
        s = tangent if alpha is None else alpha
        sl = t.where(unstable, s, stable)
        return (su, mu, sl), s

    def bounds(self, rows, alphas, fixed=None, betas=None):
        """Upper bounds of the rows; per hidden layer the lower slopes in use; and the layers' (lo, hi).
        betas: per hidden layer (N, R, n) multipliers >= 0 of the split constraints (only the rows use them)."""
        t = _torch
        rel, used, ranges = [], [], []
        for k in range(self.depth - 1):
            if fixed is not None:
                lo, hi = fixed[k]
            else:
                lo, hi = self._layer(k, rel, ranges)
            ranges.append((lo, hi))
            r, s = self.relax(k, lo, hi, None if alphas is None else alphas[k])
            rel.append(r)
            used.append(s)
        split = None
        if betas is not None:
            split = [beta * ph[:, None, :] for beta, ph in zip(betas, self.phases)]
        return self.backsub(self.depth - 1, t.as_tensor(rows), rel, split), used, ranges

    def _layer(self, k: int, rel, ranges):
        t = _torch
        W, b = self.W[k], self.b[k]
        if k == 0:
            mid = self.c @ W.T + b
            rad = self.r @ W.abs().T
            lo, hi = mid - rad, mid + rad
        else:
            plo, phi = ranges[k - 1]
            a = self.a[k - 1]
            qlo = t.where(plo >= 0, plo, a * plo)
            qhi = t.where(phi >= 0, phi, a * phi)
            mid, rad = 0.5 * (qlo + qhi), 0.5 * (qhi - qlo)
            ilo, ihi = mid @ W.T + b - rad @ W.abs().T, mid @ W.T + b + rad @ W.abs().T
            n = W.shape[0]
            eye = t.eye(n, dtype=self.tdtype)
            up = self.backsub(k, t.cat([eye, -eye]), rel)
            lo, hi = t.maximum(ilo, -up[:, n:]), t.minimum(ihi, up[:, :n])
        if self.phases is not None:
            ph = self.phases[k]
            lo = t.where(ph > 0, lo.clamp(min=0), lo)
            hi = t.where(ph < 0, hi.clamp(max=0), hi)
        return lo, hi


@dataclass(frozen=True)
class Proposal:
    """Proposed lower slopes per hidden layer ((N, n) in [a, 1]) and, when asked for, β multipliers per hidden
    layer ((N, R, n) >= 0, zero on neurons without a phase). float32 values widened to float64."""

    slopes: list
    betas: list | None = None


def optimise(layers, xl, xu, rows, phases=None, *, steps: int = STEPS, joint: bool = True,
             deadline: float | None = None, init: list | None = None) -> list[np.ndarray] | None:
    """Proposed lower slopes per hidden layer ((N, n) float32 values in [a, 1]) for the boxes [xl, xu] (N, n_in)
    under `phases` (per hidden layer (N, n) in {−1, 0, +1}, or None) and objective rows (N, R, n_out): the best
    iterate per box by its worst row. init: starting slopes per layer ((N, n), NaN = DeepPoly's), e.g. a parent
    node's. None when torch is missing or the chain is unsupported."""
    found = propose(layers, xl, xu, rows, phases, steps=steps, joint=joint, deadline=deadline, init=init)
    return None if found is None else found.slopes


def propose(layers, xl, xu, rows, phases=None, *, steps: int = STEPS, joint: bool = True, deadline: float | None = None,
            init: list | None = None, betas: bool = False, slopes: bool = True, ranges: list | None = None
            ) -> Proposal | None:
    """As `optimise`, and with `betas` (needs phases) β-CROWN multipliers of the split constraints optimised jointly
    with the slopes (projected onto β >= 0): they enter the objective rows only. slopes=False keeps the starting
    slopes (DeepPoly's, or init) and optimises the β alone. ranges: the hidden layers' (lo, hi) ((N, n) each) to
    keep fixed instead of deriving them (e.g. the sound pass's under the starting slopes; `joint` is then ignored)."""
    if not (available() and supported(layers)):
        return None
    t = _torch
    model = _Model(layers, np.asarray(xl, dtype=np.float64), np.asarray(xu, dtype=np.float64), phases)
    dtype = model.dtype
    rows_t = t.as_tensor(np.asarray(rows, dtype=dtype))
    live = (rows_t != 0).any(-1)  # the own-class row is all zero
    given = None if ranges is None else [(t.as_tensor(np.asarray(lo, dtype=dtype)),
                                            t.as_tensor(np.asarray(hi, dtype=dtype))) for lo, hi in ranges]
    with t.no_grad():
        upper, used, ranges = model.bounds(rows_t, None, given)
        if init is not None:
            start = [t.where(t.isnan(g), s, g.clamp(max=1.0)).maximum(a) for g, s, a in
                     zip((t.as_tensor(np.asarray(v, dtype=dtype)) for v in init), used, model.a)]
            upper, used, ranges = model.bounds(rows_t, start, given)
    fixed = given if given is not None else None if joint else [(lo.detach(), hi.detach()) for lo, hi in ranges]
    alphas = [s.detach().clone().requires_grad_(slopes) for s in used]
    lows = [a.expand_as(s) for a, s in zip(model.a, used)]
    use_betas = betas and model.phases is not None and any(bool((p != 0).any()) for p in model.phases)
    bs = [t.zeros(rows_t.shape[:2] + (s.shape[1],), dtype=model.tdtype, requires_grad=True) for s in used] if use_betas else []
    best = [s.detach().clone() for s in used]
    best_b = [b.detach().clone() for b in bs]
    best_score = _score(upper, live)
    finite = upper[live & t.isfinite(upper)].abs()
    norm = float(finite.max()) if finite.numel() and float(finite.max()) > 0 else 1.0  # Adam squares gradients:
    # a loss of order 1 keeps them far from overflow at any scale of the network (a 2^390 margin overflowed float64)
    groups = ([{"params": alphas, "lr": LR}] if slopes else []) + ([{"params": bs, "lr": LR_BETA}] if bs else [])
    opt = t.optim.Adam(groups) if groups else None
    for _ in range(steps if groups else 0):
        if deadline is not None and time.monotonic() >= deadline:
            break
        upper, _, _ = model.bounds(rows_t, alphas, fixed, bs or None)
        score = _score(upper.detach(), live)
        better = score < best_score
        if better.any():
            for bst, cur in zip(best + best_b, alphas + bs):
                bst[better] = cur.detach()[better]
            best_score = t.where(better, score, best_score)
        if bool((best_score < 0).all()):
            break
        loss = (t.where(live, upper.clamp(min=0) + 0.01 * upper, t.zeros_like(upper))).sum() / norm
        opt.zero_grad()
        loss.backward()
        opt.step()
        with t.no_grad():
            for al, lo in zip(alphas, lows):
                al.copy_(t.maximum(t.minimum(al, t.ones_like(al)), lo))
            for b in bs:
                b.clamp_(min=0.0)
    proposed = [bst.numpy().astype(np.float32).astype(np.float64) for bst in best]
    if not use_betas:
        return Proposal(proposed, None)
    split = [(p != 0).numpy()[:, None, :] for p in model.phases]
    out = [b.numpy().astype(np.float32).astype(np.float64) for b in best_b]
    return Proposal(proposed, [np.where(m & np.isfinite(b) & (b > 0), b, 0.0) for b, m in zip(out, split)])  # float32 overflow: 0


def _score(upper, live):
    """Per box, its worst live row's upper bound (the box closes when this is negative)."""
    return _torch.where(live, upper, _torch.full_like(upper, -float("inf"))).amax(dim=1)
