"""Sound per-neuron pre-activation bounds over an input box: interval and symbolic (DeepPoly), and `by_method`.

Every bound returned is a true bound of the *exact rational* network on the box: lower <= exact min,
upper >= exact max of each pre-activation z_s. `exact=True` does all arithmetic in Fractions (slow,
trivially sound, for checkers); the default float path is sound by the argument below.

Soundness of the float path. A float is an exact dyadic rational; all claims are about those values.
(A1) numpy computes in IEEE-754 binary64 with round-to-nearest and gradual underflow (checked at run
     time by `check_float_environment`). Then a single operation with exact result r and computed
     v = fl(r) satisfies pred(v) <= r <= succ(v), also on overflow and underflow; so `_up(v)` >=
     nextafter(v, +inf) >= r (arith._up): one `_up` after each elementwise op rounds it upward. Only upper bounds
     are ever computed: a lower bound of z is minus an upper bound of -z (negation is exact).
(A2) matmul (BLAS) computes every entry of X @ Y as rounded products (or FMAs) added in *some* order.
     Any such evaluation of s = Σ_{i<=n} x_i y_i has |ŝ - s| <= γ_n·T + a with T = Σ|x_i y_i|,
     γ_n = nu/(1-nu), u = 2^-53, a = n·2^-1073 (Higham, Accuracy and Stability, Thm 3.1: each term
     meets at most n roundings whatever the order; with underflow each of the <= 2n-1 roundings adds
     at most 2^-1075 absolute error, amplified by at most (1+u)^n <= 2). The computed T̂ = fl(|X| @ |Y|)
     obeys T <= (T̂ + a)/(1-nu). For n <= 2^40 these give |ŝ - s| <= n·2^-52·T̂ + n·2^-1072 =: E, which
     `_enclose` evaluates with `_up` after each op (n·2^-52 and n·2^-1072 are exact floats).
     So _up(ŝ + E) >= s. "Any order" includes partial dot products summed afterwards (FloatArith.upper). A non-finite ŝ or E (overflow) makes the whole computation restart in
     exact arithmetic (its results rounded outward, to ±inf if they are that large).
Weights held as Fractions (object arrays) are used as nearest floats plus a residual |w - fl(w)|
rounded up, added as |residual|·max|input| to every upper bound (lower bounds are -upper(-z)). Box
bounds are rounded outward to floats (a larger box gives sound bounds for the smaller one).
Activation images and linear relaxations are computed per neuron in exact Fractions, then rounded
outward (for ReLU and identity on float bounds: all neurons at once in floats, `float_relaxation`, enclosed by A1/A2): for a piecewise-linear σ with its kink at 0 and ANY float slope s, σ(z) - s·z is piecewise
linear, so its extremes over [l, u] lie at l, u or 0; hence h <= s·z + max and h >= s·z + min hold
for whatever slopes the DeepPoly heuristic picks. Sigmoid/tanh use the chord's slope for both lines, with
offsets bounded rigorously on pieces of [l, u] (squash.py: σ enclosed by mpmath's outward-rounding interval
arithmetic, as in equivalence/falsify.py, not by libm). Back-substitution pushes every rounding error into the constant term: the rounded
coefficient products D = A∘s and D @ W have errors bounded by A2 (n = 1 and n), charged against max|z| and max|h|,
the already-sound concrete bounds of earlier layers, as Σ_l |D_il|·v_l + c (`FloatArith.substitute`, proof there).
The float arithmetic of A1/A2 is in arith.py; LP/z3 tightening (untrusted search) in tighten.py.
This module imports no solver: the checker trusts it (lumpcheck/checker re-runs `by_method`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np

from ..errors import LumpcheckError
from ..ir.activation import Activation
from ..ir.domain import Box
from ..ir.exact import as_fractions
from ..ir.network import Layer, Network
from ..ir.relation import BOUNDS_METHODS
from .arith import (NONPOSITIVE, ExactArith, FloatArith, FloatOverflow, check_float_environment, enclose_difference,
                    residuals_up, round_to_floats)
from .squash import SQUASH_CLAMP, squash_relaxation



@dataclass
class LayerBounds:
    """Sound pre-activation bounds of one layer: lower <= z <= upper elementwise (float64, or Fractions if exact)."""

    lower: np.ndarray
    upper: np.ndarray



def _signs(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A⁺, A⁻) = (max(A, 0), min(A, 0)) elementwise: at each entry one of them is A and the other a zero, so
    A = A⁺ + A⁻ exactly. Cheaper than np.where."""
    return np.maximum(A, 0), np.minimum(A, 0)


def _absmax(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(lo), np.abs(hi))


def _approx(values: np.ndarray) -> np.ndarray:
    """Float approximations (only to choose relaxation slopes, where any value is sound)."""
    if values.dtype != object:
        return values
    big = np.finfo(np.float64).max
    flat = [float(max(-big, min(big, v))) for v in values.reshape(-1)]
    return np.array(flat, dtype=np.float64).reshape(values.shape)


# ---------------------------------------------------------------- activations, per neuron and exact


def neuron_relaxation(act: Activation, l: Fraction, u: Fraction, su: Fraction, sl: Fraction) -> tuple[Fraction, ...]:
    """(min σ, max σ, max(σ(z) - su·z), min(σ(z) - sl·z)) over z in [l, u], exactly or soundly enclosed."""
    if act.kind in ("sigmoid", "tanh"):
        return squash_relaxation(act.kind, l, u, su, sl)
    points = [l, u, Fraction(0)] if l < 0 < u else [l, u]
    values = [act.exact(p) for p in points]
    return (
        min(values),
        max(values),
        max(v - su * p for v, p in zip(values, points)),
        min(v - sl * p for v, p in zip(values, points)),
    )


def float_relaxation(act: Activation, lo: np.ndarray, hi: np.ndarray, su: np.ndarray,
                     sl: np.ndarray) -> tuple[np.ndarray, ...]:
    """`neuron_relaxation` for ReLU or identity on finite float bounds, all neurons at once, rounded outward like
    the Fraction path: σ(l), σ(u) are exact floats (σ monotone: they are min and max of σ); the extremes of
    σ(z) - s·z lie at l, u and (when l < 0 < u) at 0, where it is 0; at l and u they are enclosed by
    `enclose_difference` (A1, A2)."""
    if act.kind not in ("relu", "identity"):
        raise ValueError(f"float_relaxation is for ReLU and identity, not {act}")
    image = (lambda x: np.maximum(x, 0.0)) if act.kind == "relu" else (lambda x: x)
    vl, vu = image(lo), image(hi)
    (_, ul), (_, uu) = enclose_difference(vl, su, lo), enclose_difference(vu, su, hi)
    (ll2, _), (lu2, _) = enclose_difference(vl, sl, lo), enclose_difference(vu, sl, hi)
    undecided = (lo < 0) & (hi > 0)
    mu = np.maximum(np.maximum(ul, uu), np.where(undecided, 0.0, -np.inf))
    ml = np.minimum(np.minimum(ll2, lu2), np.where(undecided, 0.0, np.inf))
    return vl, vu, mu, ml


def _slopes(act: Activation, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeepPoly slopes (upper, lower) per neuron; a heuristic choice, soundness never depends on it."""
    l, u = _approx(lo), _approx(hi)
    if act.kind == "identity":
        return np.ones_like(l), np.ones_like(l)
    if act.kind in ("sigmoid", "tanh"):  # the chord's slope for both lines (bounded spans only), as a float32
        image = (lambda z: 1 / (1 + np.exp(-z))) if act.kind == "sigmoid" else np.tanh
        with np.errstate(all="ignore"):
            chord = (image(u) - image(l)) / (u - l)
        usable = np.isfinite(chord) & (u - l > 1e-12) & (u - l <= float(SQUASH_CLAMP))
        s = np.where(usable, np.clip(chord, 0.0, None), 0.0).astype(np.float32).astype(np.float64)
        return s, s
    a = float(act.alpha)
    return deeppoly_slopes(l, u, a, a)


def deeppoly_slopes(l: np.ndarray, u: np.ndarray, alo, ahi) -> tuple[np.ndarray, np.ndarray]:
    """DeepPoly slopes (upper, lower) of a ReLU/leaky ReLU whose negative slope lies in [alo, ahi] (per neuron or
    one number): chord above / tangent below a convex σ (slope <= 1), the reverse for a concave one. A heuristic."""
    a = 0.5 * (np.asarray(alo, dtype=float) + np.asarray(ahi, dtype=float))
    undecided = (l < 0) & (u > 0)
    linear = np.where(l >= 0, 1.0, a)
    with np.errstate(all="ignore"):
        chord = np.where(undecided, (u - a * l) / (u - l), 1.0)
    chord = np.where(np.isfinite(chord), chord, 1.0)
    tangent = np.where(u >= -l, 1.0, a)
    convex = np.asarray(ahi) <= 1
    su = np.where(undecided, np.where(convex, chord, tangent), linear)
    sl = np.where(undecided, np.where(convex, tangent, chord), linear)
    return su, sl


@dataclass
class _Relaxation:
    """sl·z + ml <= σ(z) <= su·z + mu for every z within the layer's bounds."""

    su: np.ndarray
    mu: np.ndarray
    sl: np.ndarray
    ml: np.ndarray


@dataclass(frozen=True)
class _Step:
    """Layer j's part of a back-substitution step through it (Propagation._step): the live neurons (None: all), their
    slopes, weight rows, biases and |z_j| bounds, the bound of |h_{j-1}|, the residual and the error vectors."""

    live: np.ndarray | None
    su: np.ndarray
    sl: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    zabs: np.ndarray
    habs: np.ndarray
    resid: np.ndarray | None
    errors: tuple | None


# ---------------------------------------------------------------- propagation engine


@dataclass
class WorkingAffine:
    """A layer's weights in the working arithmetic; res bounds |exact - working| (float path, Fraction weights)."""

    weight: np.ndarray
    bias: np.ndarray
    wres: np.ndarray | None = None
    bres: np.ndarray | None = None


def _nearest(values: Iterable[Fraction]) -> np.ndarray:
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except OverflowError:
        raise FloatOverflow from None


_AFFINE_CACHE: dict[tuple[int, int, bool], tuple[np.ndarray, np.ndarray, "WorkingAffine"]] = {}
_AFFINE_CACHE_SIZE = 64


def working_affine(weight: np.ndarray, bias: np.ndarray, exact: bool) -> WorkingAffine:
    """The layer in the working arithmetic (memoised per read-only array pair: Layer arrays never change)."""
    key = (id(weight), id(bias), exact)
    hit = _AFFINE_CACHE.get(key)
    if hit is not None and hit[0] is weight and hit[1] is bias:
        return hit[2]
    affine = _convert(weight, bias, exact)
    if not weight.flags.writeable and not bias.flags.writeable:
        if len(_AFFINE_CACHE) >= _AFFINE_CACHE_SIZE:
            _AFFINE_CACHE.pop(next(iter(_AFFINE_CACHE)))
        _AFFINE_CACHE[key] = (weight, bias, affine)
    return affine


def _convert(weight: np.ndarray, bias: np.ndarray, exact: bool) -> WorkingAffine:
    if exact:
        return WorkingAffine(as_fractions(weight), as_fractions(bias))
    if weight.dtype != object and bias.dtype != object:
        return WorkingAffine(weight, bias)
    w, b = as_fractions(weight).reshape(-1), as_fractions(bias)
    wf, bf = _nearest(w), _nearest(b)
    wres, bres = residuals_up(w, wf), residuals_up(b, bf)
    return WorkingAffine(wf.reshape(weight.shape), bf, wres.reshape(weight.shape), bres)


class Propagation:
    """Layer-by-layer bounds: interval and back-substitution steps over already-fixed earlier layers.

    Given a list of boxes (sub-boxes of a split), it runs one independent propagation per box at once: every
    bound and coefficient array gets a leading axis over the boxes (the weights are shared), and each entry is
    computed exactly as a propagation over its box alone would be (arith.joined: one dot product per row)."""

    def __init__(self, net: Network, box: Box | Sequence[Box], arith: FloatArith | ExactArith):
        boxes = [box] if isinstance(box, Box) else list(box)
        for b in boxes:
            if b.dim != net.input_size:
                raise LumpcheckError(f"the box has {b.dim} inputs but the network takes {net.input_size}", b.source or None)
        self.net, self.ar = net, arith
        self.affine = [working_affine(layer.weight, layer.bias, arith.exact) for layer in net.layers]
        xl = [arith.fractions(b.lower, up=False) for b in boxes]
        xu = [arith.fractions(b.upper, up=True) for b in boxes]
        self.xl, self.xu = (xl[0], xu[0]) if isinstance(box, Box) else (np.stack(xl), np.stack(xu))
        self.z: list[tuple[np.ndarray, np.ndarray]] = []  # pre-activation bounds of the fixed layers
        self.h: list[tuple[np.ndarray, np.ndarray]] = []  # post-activation bounds
        self.relax: list[_Relaxation | None] = []
        self.resid: dict[int, np.ndarray | None] = {}
        self.steps: dict[int, _Step] = {}  # per fixed layer j: its part of the back-substitution steps through it

    def inputs(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        return (self.xl, self.xu) if k == 0 else self.h[k - 1]

    def _resid(self, k: int) -> np.ndarray | None:
        """A float vector >= |exact affine_k - working affine_k| on layer k's input bounds (None: no residual)."""
        a = self.affine[k]
        if a.wres is not None and k not in self.resid:
            self.resid[k] = self.ar.upper([(a.wres, _absmax(*self.inputs(k))), (a.bres[:, None], self.ar.one)])
        return self.resid.get(k)

    def _start(self, k: int) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """Rows [z; -z] of layer k as (coefficients on its input, constant terms)."""
        a = self.affine[k]
        terms = [(np.concatenate([a.bias, -a.bias])[:, None], self.ar.one)]
        r = self._resid(k)
        if r is not None:
            terms.append((np.concatenate([r, r], axis=-1)[..., None], self.ar.one))
        return np.vstack([a.weight, -a.weight]), terms

    def _concretize(self, A: np.ndarray, terms: list, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of rows [z; -z] = A·v + Σterms over lo <= v <= hi, as (lower z, upper z)."""
        Ap, An = _signs(A)
        u = self.ar.upper(terms + [(Ap, hi, Ap), (An, lo)])
        m = u.shape[-1] // 2
        return -u[..., m:], u[..., :m]

    def interval(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Interval arithmetic bounds of layer k from the bounds of its input."""
        A, terms = self._start(k)
        return self._concretize(A, terms, *self.inputs(k))

    def backsub(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """DeepPoly bounds of layer k: back-substitute through the relaxations of layers k-1 .. 0 to the box.

        Invariant: z <= A·h_j + c exactly (rows of -z alike), where h_j is layer j's output.
        """
        A, terms = self._start(k)
        for j in range(k - 1, -1, -1):
            r, step = self.relax[j], self._step(j)
            # A·h_j <= D·z_j + A⁺·mu + A⁻·ml, D = A∘s (upper slopes where A >= 0, lower ones elsewhere);
            # D·z_j = D·W_j·h_{j-1} + D·b_j, with D·W_j rounded to the new A; `substitute` charges the roundings
            Ap, An = _signs(A)
            terms += [(Ap, r.mu, Ap), (An, r.ml, NONPOSITIVE)]
            if step.live is not None:
                Ap, An = Ap[..., step.live], An[..., step.live]
            D, aD, A, err = self.ar.substitute(Ap, An, step.su, step.sl, step.weight, step.zabs, step.habs, step.resid,
                                               step.errors)
            terms += [(D, step.bias, aD)] + err
            terms = [(self.ar.upper(terms)[..., None], self.ar.one)]
        return self._concretize(A, terms, self.xl, self.xu)

    def _step(self, j: int) -> "_Step":
        """What every back-substitution step through the fixed layer j uses, whatever the layer k it starts from
        (computed once per layer j). Neurons whose two slopes are 0 in every box contribute exact zeros to D, D·z_j,
        D·W_j and the errors: only the others (`live`) are kept."""
        step = self.steps.get(j)
        if step is None:
            r, a = self.relax[j], self.affine[j]
            live = np.flatnonzero(np.any((r.su != 0) | (r.sl != 0), axis=tuple(range(r.su.ndim - 1))))
            resid = self._resid(j)
            resid = None if resid is None else resid[..., live]
            zabs, habs, weight = _absmax(*self.z[j])[..., live], _absmax(*self.inputs(j)), a.weight[live]
            step = self.steps[j] = _Step(None if len(live) == r.su.shape[-1] else live, r.su[..., None, live],
                                         r.sl[..., None, live], weight, a.bias[live], zabs, habs, resid,
                                         self.ar.substitute_errors(weight, zabs, habs, resid))
        return step

    def push(self, k: int, lo: np.ndarray, hi: np.ndarray, relax: bool) -> None:
        """Fix layer k's bounds; derive its activation image and (if relax) its linear relaxation."""
        if np.any(lo > hi):
            raise RuntimeError(f"layer {k}: lower bound above upper bound (unsound input bounds?)")
        act = self.net.layers[k].activation
        su, sl = _slopes(act, lo, hi) if relax else (np.zeros_like(lo), np.zeros_like(lo))
        if not self.ar.exact and act.kind in ("relu", "identity") and np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
            h_lo, h_hi, mu, ml = float_relaxation(act, lo, hi, su, sl)
        else:
            rows = [
                neuron_relaxation(act, Fraction(l), Fraction(u), Fraction(s1), Fraction(s2))
                for l, u, s1, s2 in zip(lo.reshape(-1), hi.reshape(-1), su.reshape(-1), sl.reshape(-1))
            ]
            h_lo, h_hi, mu, ml = (self.ar.fractions([r[i] for r in rows], up=i in (1, 2)).reshape(lo.shape)
                                  for i in range(4))
        self.z.append((lo, hi))
        self.h.append((h_lo, h_hi))
        self.relax.append(_Relaxation(self.ar.slopes(su), mu, self.ar.slopes(sl), ml) if relax else None)

    def bounds(self) -> list[LayerBounds]:
        return [LayerBounds(lo, hi) for lo, hi in self.z]


# ---------------------------------------------------------------- public API


def _outward(bounds: list[LayerBounds]) -> list[LayerBounds]:
    """Exact bounds rounded outward to float64."""
    return [LayerBounds(round_to_floats(b.lower, up=False), round_to_floats(b.upper, up=True)) for b in bounds]


def _propagate(net: Network, box: Box, exact: bool, symbolic: bool, prior: list[LayerBounds] | None) -> list[LayerBounds]:
    """Bounds layer by layer (interval, plus back-substitution if symbolic), intersected with `prior`."""
    if not exact:
        check_float_environment()
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is detected and redone exactly
            return _layers(net, box, exact, symbolic, prior)
    except FloatOverflow:
        bounds = _outward(_propagate(net, box, True, symbolic, None))
        if prior is None:
            return bounds
        return [_meet(b, p) for b, p in zip(bounds, prior)]


def _layers(net: Network, box: Box | list[Box], exact: bool, symbolic: bool, prior: list[LayerBounds] | None) -> list[LayerBounds]:
    prop = Propagation(net, box, ExactArith() if exact else FloatArith())
    for k in range(len(net.layers)):
        lo, hi = prop.interval(k)
        if symbolic:
            blo, bhi = prop.backsub(k)
            lo, hi = np.maximum(lo, blo), np.minimum(hi, bhi)
        if prior is not None:
            lo, hi = np.maximum(lo, prior[k].lower), np.minimum(hi, prior[k].upper)
        prop.push(k, lo, hi, relax=symbolic)
    return prop.bounds()


def interval_bounds(net: Network, box: Box, *, exact: bool = False) -> list[LayerBounds]:
    """Interval-arithmetic pre-activation bounds of every layer (incl. the output layer) on the box.

    exact=True computes in Fractions and returns object arrays of Fractions (slow; for checkers).
    The box is over the layers' own input (normalisation metadata is not applied; fold it first).
    """
    return _propagate(net, box, exact, symbolic=False, prior=None)


def symbolic_bounds(net: Network, box: Box, *, exact: bool = False) -> list[LayerBounds]:
    """DeepPoly/CROWN back-substitution bounds, intersected with interval bounds (so never looser)."""
    return _propagate(net, box, exact, symbolic=True, prior=interval_bounds(net, box, exact=exact))


def split_bounds(net: Network, box: Box, *, parts: int | Sequence[int] = 2, exact: bool = False,
                 whole: Sequence[LayerBounds] | None = None) -> list[LayerBounds]:
    """Symbolic bounds on a grid of sub-boxes (`parts` per input, or one count per input), hulled.

    Sound because the cells cover the box; intersected with the whole box's symbolic bounds (`whole`, if the caller
    has them: any sound bounds of net's layers on the box keep the result sound), so never looser. Costs
    prod(parts) symbolic runs: for low-dimensional boxes (ACAS Xu) far cheaper than LP.
    """
    counts = [parts] * box.dim if isinstance(parts, int) else list(parts)
    if len(counts) != box.dim or min(counts, default=1) < 1:
        raise ValueError(f"parts must be a positive count or one per input ({box.dim})")
    axes = [
        [(lo + (hi - lo) * Fraction(i, p), lo + (hi - lo) * Fraction(i + 1, p)) for i in range(p)]
        for lo, hi, p in zip(box.lower, box.upper, counts)
    ]
    cells = [Box(tuple(c[0] for c in cell), tuple(c[1] for c in cell)) for cell in itertools.product(*axes)]
    size = 1 if exact else max(1, SPLIT_BATCH_ENTRIES // (2 * max(net.widths) ** 2))
    hull: list[LayerBounds] | None = None
    for i in range(0, len(cells), size):
        b = _cells_hull(net, cells[i : i + size], exact)
        hull = b if hull is None else [_hull(h, c) for h, c in zip(hull, b)]
    if whole is None:
        whole = symbolic_bounds(net, box, exact=exact)
    if len(whole) != len(net.layers):
        raise ValueError(f"whole-box bounds for {len(whole)} layers, the network has {len(net.layers)}")
    return [_meet(w, h) for w, h in zip(whole, hull)]


SPLIT_BATCH_ENTRIES = 1 << 20
"""The float split propagates its cells in batches of at most this many coefficient entries (cells · 2·width²: 8 MB
per array, a few arrays alive at once)."""


def _cells_hull(net: Network, cells: list[Box], exact: bool) -> list[LayerBounds]:
    """The hull of the cells' `symbolic_bounds`: on the float path all cells in one batched propagation (Propagation
    over a list of boxes, hulled along its batch axis); exactly, or if a float overflowed, one cell at a time (which
    redoes an overflow exactly)."""
    if not exact and len(cells) > 1:
        check_float_environment()
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                batch = _layers(net, cells, False, True, _layers(net, cells, False, False, None))
            return [LayerBounds(b.lower.min(axis=0), b.upper.max(axis=0)) for b in batch]
        except FloatOverflow:
            pass
    hull = symbolic_bounds(net, cells[0], exact=exact)
    for cell in cells[1:]:
        hull = [_hull(h, c) for h, c in zip(hull, symbolic_bounds(net, cell, exact=exact))]
    return hull


def _hull(a: LayerBounds, b: LayerBounds) -> LayerBounds:
    return LayerBounds(np.minimum(a.lower, b.lower), np.maximum(a.upper, b.upper))


def _meet(a: LayerBounds, b: LayerBounds) -> LayerBounds:
    return LayerBounds(np.maximum(a.lower, b.lower), np.minimum(a.upper, b.upper))


def layer_phases(activation: Activation, bounds: LayerBounds) -> np.ndarray:
    """Per neuron: -1 if upper <= 0, +1 if lower >= 0 (and upper > 0), 0 otherwise or for non-ReLU activations.

    For leaky_relu, -1 means the neuron is linear with slope alpha on the box (removable only if alpha = 0).
    """
    phases = np.zeros(len(bounds.lower), dtype=np.int8)
    if activation.kind in ("relu", "leaky_relu"):
        inactive = np.array(bounds.upper <= 0, dtype=bool)
        active = np.array(bounds.lower >= 0, dtype=bool) & ~inactive
        phases[inactive], phases[active] = -1, 1
    return phases


def stable_phases(net: Network, bounds: Sequence[LayerBounds]) -> list[np.ndarray]:
    """`layer_phases` of every hidden layer (not the output layer; apply layer_phases to it if needed)."""
    return [layer_phases(layer.activation, b) for layer, b in zip(net.layers[:-1], bounds)]


def by_method(net: Network, box: Box, method: str, parts: int) -> list[LayerBounds]:
    """Sound pre-activation bounds of every layer of `net` on `box` by a recorded method (relation.BOUNDS_METHODS:
    interval, symbolic, or split with `parts` per input): the one dispatch the prover, the domain reducer and the
    checker share."""
    if method == "interval":
        return interval_bounds(net, box)
    if method == "symbolic":
        return symbolic_bounds(net, box)
    if method == "split":
        return split_bounds(net, box, parts=parts)
    raise ValueError(f"unknown bounds method {method!r}; known: {', '.join(BOUNDS_METHODS)}")


def decision_margins(net: Network, box: Box, cls: int, sign: int) -> list[Fraction]:
    """Lower bounds over the box of sign·(y_cls − y_j) for every other output j (sign 1: cls is the maximum, −1: the
    minimum), by bounds.symbolic_bounds of `net` with its last affine map replaced by the margin rows (back-substituted
    as one layer: tighter than subtracting output intervals). Needs an identity last layer (else ValueError)."""
    last = net.layers[-1]
    if last.activation.kind != "identity" or not 0 <= cls < last.out_features or sign not in (1, -1):
        raise ValueError(f"decision margins need an identity last layer, a class in [0, {last.out_features}) and a sign")
    w, b = as_fractions(last.weight), as_fractions(last.bias)
    rows = [j for j in range(last.out_features) if j != cls]
    margin = Layer(np.array([sign * (w[cls] - w[j]) for j in rows], dtype=object).reshape(len(rows), -1),
                   np.array([sign * (b[cls] - b[j]) for j in rows], dtype=object), last.activation)
    return [Fraction(v) for v in symbolic_bounds(Network([*net.layers[:-1], margin]), box)[-1].lower]
