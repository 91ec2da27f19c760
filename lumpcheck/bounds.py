"""Sound per-neuron pre-activation bounds over an input box: interval, symbolic (DeepPoly) and LP/z3-tightened.

Every bound returned is a true bound of the *exact rational* network on the box: lower <= exact min,
upper >= exact max of each pre-activation z_s. `exact=True` does all arithmetic in Fractions (slow,
trivially sound, for checkers); the default float path is sound by the argument below.

Soundness of the float path. A float is an exact dyadic rational; all claims are about those values.
(A1) numpy computes in IEEE-754 binary64 with round-to-nearest and gradual underflow (checked at run
     time by `check_float_environment`). Then a single operation with exact result r and computed
     v = fl(r) satisfies pred(v) <= r <= succ(v), also on overflow and underflow; so `_up(v)` =
     nextafter(v, +inf) >= r: one `_up` after each elementwise op rounds it upward. Only upper bounds
     are ever computed: a lower bound of z is minus an upper bound of -z (negation is exact).
(A2) matmul (BLAS) computes every entry of X @ Y as rounded products (or FMAs) added in *some* order.
     Any such evaluation of s = Σ_{i<=n} x_i y_i has |ŝ - s| <= γ_n·T + a with T = Σ|x_i y_i|,
     γ_n = nu/(1-nu), u = 2^-53, a = n·2^-1073 (Higham, Accuracy and Stability, Thm 3.1: each term
     meets at most n roundings whatever the order; with underflow each of the <= 2n-1 roundings adds
     at most 2^-1075 absolute error, amplified by at most (1+u)^n <= 2). The computed T̂ = fl(|X| @ |Y|)
     obeys T <= (T̂ + a)/(1-nu). For n <= 2^40 these give |ŝ - s| <= n·2^-52·T̂ + n·2^-1072 =: E, which
     `_enclose` evaluates with `_up` after each op (n·2^-52 and n·2^-1072 are exact floats).
     So _up(ŝ + E) >= s. A non-finite ŝ or E (overflow) makes the whole computation restart in
     exact arithmetic (its results rounded outward, to ±inf if they are that large).
Weights held as Fractions (object arrays) are used as nearest floats plus a residual |w - fl(w)|
rounded up, added as |residual|·max|input| to every upper bound (lower bounds are -upper(-z)). Box
bounds are rounded outward to floats (a larger box gives sound bounds for the smaller one).
Activation images and linear relaxations are computed per neuron in exact Fractions, then rounded
outward: for a piecewise-linear σ with its kink at 0 and ANY float slope s, σ(z) - s·z is piecewise
linear, so its extremes over [l, u] lie at l, u or 0; hence h <= s·z + max and h >= s·z + min hold
for whatever slopes the DeepPoly heuristic picks. Sigmoid/tanh use slope 0 and values at the
endpoints (monotone), enclosed by mpmath's outward-rounding interval arithmetic (as in falsify.py),
not by libm. Back-substitution pushes every rounding error into the constant term: the rounded
coefficient products D = A∘s and D @ W carry elementwise error bounds E1, E2 (A2 with n = 1 and n),
charged as E1·max|z| and E2·max|h| using the already-sound concrete bounds of earlier layers.
LP/z3 tightening encodes the exact rational network (weights as exact rationals, sound earlier
bounds as constraints) and accepts only an optimum z3 reports as exact; its value is rounded outward.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np

from .ir.domain import Box
from .errors import LumpcheckError
from .ir.exact import as_fractions
from .ir.activation import Activation
from .ir.network import Network

SQUASH_PRECISION = 113  # bits of mpmath's interval enclosures of sigmoid/tanh
SQUASH_CLAMP = Fraction(1024)  # beyond ±this, sigmoid/tanh bounds use their limits (0/-1, 1) or the clamp point
TIGHTEN_METHODS = ("lp", "milp")


@dataclass
class LayerBounds:
    """Sound pre-activation bounds of one layer: lower <= z <= upper elementwise (float64, or Fractions if exact)."""

    lower: np.ndarray
    upper: np.ndarray


class _Overflow(ArithmeticError):
    """A float intermediate overflowed; the computation is redone exactly."""


# ---------------------------------------------------------------- outward rounding (A1, A2)


def _up(x: np.ndarray) -> np.ndarray:
    return np.nextafter(x, np.inf)


def check_float_environment() -> None:
    """Raise RuntimeError unless numpy rounds to nearest with gradual underflow (assumption A1)."""
    one = np.ones(64)
    tiny = np.full(64, 2.0**-1022)
    nearest = np.all(one + 2.0**-54 == 1.0) and np.all(one + 3 * 2.0**-54 == 1.0 + 2.0**-52)
    nearest = nearest and np.all(-one - 3 * 2.0**-54 == -1.0 - 2.0**-52)
    gradual = np.all(tiny * 0.5 == 2.0**-1023) and np.all((tiny * 0.5) * 2.0 == tiny)
    gradual = gradual and (tiny[:2] * 0.5) @ np.full(2, 0.5) == 2.0**-1023
    if not (nearest and gradual):
        raise RuntimeError("floating-point environment is not round-to-nearest with subnormals; float bounds would be unsound")


def _round(q: Fraction, up: bool) -> float:
    """The float nearest q on the requested side (q <= result if up, result <= q otherwise)."""
    try:
        f = float(q)
    except OverflowError:
        f = math.inf if q > 0 else -math.inf
    if math.isinf(f):
        return f if (f > 0) == up else math.copysign(np.finfo(np.float64).max, f)
    step = math.inf if up else -math.inf
    while (Fraction(f) < q) if up else (Fraction(f) > q):
        f = math.nextafter(f, step)
    return f


def _round_array(values: Iterable[Fraction], up: bool) -> np.ndarray:
    return np.array([_round(q, up) for q in values], dtype=np.float64)


def _enclose(S: np.ndarray, T: np.ndarray, n: int) -> np.ndarray:
    """E >= |exact - S| for S = fl(Σ of n products) and T = fl(Σ of their absolute values) (A2)."""
    if n > 2**40:
        raise ValueError("dot product too long for the error bound")
    E = _up(_up(T * (n * 2.0**-52)) + n * 2.0**-1072)
    if not (np.all(np.isfinite(S)) and np.all(np.isfinite(E))):
        raise _Overflow
    return E


class _FloatArith:
    """Float64 arithmetic with rigorous error bounds (assumptions A1, A2)."""

    exact = False
    one = np.ones(1)

    def product(self, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """fl(X @ Y) and an elementwise bound on its error."""
        S = X @ Y
        return S, _enclose(S, np.abs(X) @ np.abs(Y), X.shape[-1])

    def scale(self, A: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """fl(A * s) (columns scaled) and an elementwise bound on its error."""
        D = A * s
        return D, _enclose(D, np.abs(D), 1)

    def upper(self, terms: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """A float >= Σ_t X_t @ y_t exactly, per row."""
        X = np.hstack([x for x, _ in terms])
        y = np.concatenate([v for _, v in terms])
        S, E = self.product(X, y)
        U = _up(S + E)
        if not np.all(np.isfinite(U)):
            raise _Overflow
        return U

    def fractions(self, values: Sequence[Fraction], up: bool) -> np.ndarray:
        return _round_array(values, up)

    def slopes(self, s: np.ndarray) -> np.ndarray:
        return s


class _ExactArith:
    """Fraction arithmetic: no rounding, no error terms."""

    exact = True
    one = np.array([Fraction(1)], dtype=object)

    def product(self, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, None]:
        return X.dot(Y), None

    def scale(self, A: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, None]:
        return A * s, None

    def upper(self, terms: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        return np.hstack([x for x, _ in terms]).dot(np.concatenate([v for _, v in terms]))

    def fractions(self, values: Sequence[Fraction], up: bool) -> np.ndarray:
        return np.array(list(values), dtype=object)

    def slopes(self, s: np.ndarray) -> np.ndarray:
        return as_fractions(s)


def _pos(A: np.ndarray) -> np.ndarray:
    return np.where(A > 0, A, 0)


def _neg(A: np.ndarray) -> np.ndarray:
    return np.where(A < 0, A, 0)


def _absmax(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(lo), np.abs(hi))


def _approx(values: np.ndarray) -> np.ndarray:
    """Float approximations (only to choose relaxation slopes, where any value is sound)."""
    if values.dtype != object:
        return values
    big = np.finfo(np.float64).max
    return np.array([float(max(-big, min(big, v))) for v in values], dtype=np.float64)


# ---------------------------------------------------------------- activations, per neuron and exact


def _squash(kind: str, l: Fraction, u: Fraction) -> tuple[Fraction, Fraction]:
    """Rational lo <= σ(z) <= hi for all z in [l, u], σ monotone sigmoid or tanh (mpmath interval enclosures)."""
    from mpmath import iv

    floor = Fraction(0) if kind == "sigmoid" else Fraction(-1)

    def enclosure(q: Fraction) -> tuple[Fraction, Fraction]:
        saved, iv.prec = iv.prec, SQUASH_PRECISION
        try:
            x = iv.mpf(q.numerator) / iv.mpf(q.denominator)
            y = 1 / (1 + iv.exp(-x)) if kind == "sigmoid" else 1 - 2 / (iv.exp(2 * x) + 1)
            return _mpf_fraction(y._mpi_[0]), _mpf_fraction(y._mpi_[1])
        finally:
            iv.prec = saved

    lo = floor if l < -SQUASH_CLAMP else enclosure(min(l, SQUASH_CLAMP))[0]
    hi = Fraction(1) if u > SQUASH_CLAMP else enclosure(max(u, -SQUASH_CLAMP))[1]
    return max(lo, floor), min(hi, Fraction(1))


def _mpf_fraction(t: tuple) -> Fraction:
    """Exact value of a finite raw mpmath number (sign, mantissa, exponent, bitcount)."""
    sign, man, exp, _ = t
    if not man and exp:  # mpmath encodes inf/nan as zero mantissa with a nonzero exponent
        raise ArithmeticError("sigmoid/tanh enclosure is not finite")
    value = Fraction(int(man)) * Fraction(2) ** int(exp)
    return -value if sign else value


def _neuron(act: Activation, l: Fraction, u: Fraction, su: Fraction, sl: Fraction) -> tuple[Fraction, ...]:
    """(min σ, max σ, max(σ(z) - su·z), min(σ(z) - sl·z)) over z in [l, u], exactly or soundly enclosed."""
    if act.kind in ("sigmoid", "tanh"):  # callers use slope 0 here
        lo, hi = _squash(act.kind, l, u)
        return lo, hi, hi, lo
    points = [l, u, Fraction(0)] if l < 0 < u else [l, u]
    values = [act.exact(p) for p in points]
    return (
        min(values),
        max(values),
        max(v - su * p for v, p in zip(values, points)),
        min(v - sl * p for v, p in zip(values, points)),
    )


def _slopes(act: Activation, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeepPoly slopes (upper, lower) per neuron; a heuristic choice, soundness never depends on it."""
    l, u = _approx(lo), _approx(hi)
    if act.kind == "identity":
        return np.ones_like(l), np.ones_like(l)
    if act.kind in ("sigmoid", "tanh"):
        return np.zeros_like(l), np.zeros_like(l)
    a = float(act.alpha)
    undecided = (l < 0) & (u > 0)
    linear = np.where(l >= 0, 1.0, a)
    with np.errstate(all="ignore"):
        chord = np.where(undecided, (u - a * l) / (u - l), 1.0)
    chord = np.where(np.isfinite(chord), chord, 1.0)
    tangent = np.where(u >= -l, 1.0, a)
    convex = act.alpha <= 1
    su = np.where(undecided, chord if convex else tangent, linear)
    sl = np.where(undecided, tangent if convex else chord, linear)
    return su, sl


@dataclass
class _Relaxation:
    """sl·z + ml <= σ(z) <= su·z + mu for every z within the layer's bounds."""

    su: np.ndarray
    mu: np.ndarray
    sl: np.ndarray
    ml: np.ndarray


# ---------------------------------------------------------------- propagation engine


@dataclass
class _Affine:
    """A layer's weights in the working arithmetic; res bounds |exact - working| (float path, Fraction weights)."""

    weight: np.ndarray
    bias: np.ndarray
    wres: np.ndarray | None = None
    bres: np.ndarray | None = None


def _nearest(values: Iterable[Fraction]) -> np.ndarray:
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except OverflowError:
        raise _Overflow from None


_AFFINE_CACHE: dict[tuple[int, int, bool], tuple[np.ndarray, np.ndarray, "_Affine"]] = {}
_AFFINE_CACHE_SIZE = 64


def _affine(weight: np.ndarray, bias: np.ndarray, exact: bool) -> _Affine:
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


def _convert(weight: np.ndarray, bias: np.ndarray, exact: bool) -> _Affine:
    if exact:
        return _Affine(as_fractions(weight), as_fractions(bias))
    if weight.dtype != object and bias.dtype != object:
        return _Affine(weight, bias)
    w, b = as_fractions(weight).reshape(-1), as_fractions(bias)
    wf, bf = _nearest(w), _nearest(b)
    wres = _round_array((abs(v - Fraction(f)) for v, f in zip(w, wf)), up=True)
    bres = _round_array((abs(v - Fraction(f)) for v, f in zip(b, bf)), up=True)
    return _Affine(wf.reshape(weight.shape), bf, wres.reshape(weight.shape), bres)


class _Propagation:
    """Layer-by-layer bounds: interval and back-substitution steps over already-fixed earlier layers."""

    def __init__(self, net: Network, box: Box, arith: _FloatArith | _ExactArith):
        if box.dim != net.input_size:
            raise LumpcheckError(f"the box has {box.dim} inputs but the network takes {net.input_size}", box.source or None)
        self.net, self.ar = net, arith
        self.affine = [_affine(layer.weight, layer.bias, arith.exact) for layer in net.layers]
        self.xl = arith.fractions(box.lower, up=False)
        self.xu = arith.fractions(box.upper, up=True)
        self.z: list[tuple[np.ndarray, np.ndarray]] = []  # pre-activation bounds of the fixed layers
        self.h: list[tuple[np.ndarray, np.ndarray]] = []  # post-activation bounds
        self.relax: list[_Relaxation | None] = []
        self.resid: dict[int, np.ndarray | None] = {}

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
            terms.append((np.concatenate([r, r])[:, None], self.ar.one))
        return np.vstack([a.weight, -a.weight]), terms

    def _concretize(self, A: np.ndarray, terms: list, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of rows [z; -z] = A·v + Σterms over lo <= v <= hi, as (lower z, upper z)."""
        u = self.ar.upper(terms + [(_pos(A), hi), (_neg(A), lo)])
        m = len(u) // 2
        return -u[m:], u[:m]

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
            r, a = self.relax[j], self.affine[j]
            # A·h_j <= D·z_j + A⁺·mu + A⁻·ml, D = A∘s (upper slopes where A >= 0, lower ones elsewhere)
            D, E1 = self.ar.scale(A, np.where(A >= 0, r.su, r.sl))
            terms += [(_pos(A), r.mu), (_neg(A), r.ml), (D, a.bias)]
            # D·z_j = D·W_j·h_{j-1} + D·b_j, with D·W_j rounded to the new A
            A, E2 = self.ar.product(D, a.weight)
            if E1 is not None:
                terms += [(E1, _absmax(*self.z[j])), (E2, _absmax(*self.inputs(j)))]
            resid = self._resid(j)
            if resid is not None:
                terms.append((np.abs(D), resid))
            terms = [(self.ar.upper(terms)[:, None], self.ar.one)]
        return self._concretize(A, terms, self.xl, self.xu)

    def push(self, k: int, lo: np.ndarray, hi: np.ndarray, relax: bool) -> None:
        """Fix layer k's bounds; derive its activation image and (if relax) its linear relaxation."""
        if np.any(lo > hi):
            raise RuntimeError(f"layer {k}: lower bound above upper bound (unsound input bounds?)")
        act = self.net.layers[k].activation
        su, sl = _slopes(act, lo, hi)
        rows = [
            _neuron(act, Fraction(l), Fraction(u), Fraction(s1), Fraction(s2))
            for l, u, s1, s2 in zip(lo, hi, su, sl)
        ]
        self.z.append((lo, hi))
        self.h.append((self.ar.fractions([r[0] for r in rows], up=False), self.ar.fractions([r[1] for r in rows], up=True)))
        self.relax.append(
            _Relaxation(
                self.ar.slopes(su),
                self.ar.fractions([r[2] for r in rows], up=True),
                self.ar.slopes(sl),
                self.ar.fractions([r[3] for r in rows], up=False),
            )
            if relax
            else None
        )

    def bounds(self) -> list[LayerBounds]:
        return [LayerBounds(lo, hi) for lo, hi in self.z]


# ---------------------------------------------------------------- public API


def _outward(bounds: list[LayerBounds]) -> list[LayerBounds]:
    """Exact bounds rounded outward to float64."""
    return [LayerBounds(_round_array(b.lower, up=False), _round_array(b.upper, up=True)) for b in bounds]


def _propagate(net: Network, box: Box, exact: bool, symbolic: bool, prior: list[LayerBounds] | None) -> list[LayerBounds]:
    """Bounds layer by layer (interval, plus back-substitution if symbolic), intersected with `prior`."""
    if not exact:
        check_float_environment()
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is detected and redone exactly
            return _layers(net, box, exact, symbolic, prior)
    except _Overflow:
        bounds = _outward(_propagate(net, box, True, symbolic, None))
        if prior is None:
            return bounds
        return [_meet(b, p) for b, p in zip(bounds, prior)]


def _layers(net: Network, box: Box, exact: bool, symbolic: bool, prior: list[LayerBounds] | None) -> list[LayerBounds]:
    prop = _Propagation(net, box, _ExactArith() if exact else _FloatArith())
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


def split_bounds(net: Network, box: Box, *, parts: int | Sequence[int] = 2, exact: bool = False) -> list[LayerBounds]:
    """Symbolic bounds on a grid of sub-boxes (`parts` per input, or one count per input), hulled.

    Sound because the cells cover the box; intersected with the whole box's symbolic bounds, so never
    looser. Costs prod(parts) symbolic runs: for low-dimensional boxes (ACAS Xu) far cheaper than LP.
    """
    counts = [parts] * box.dim if isinstance(parts, int) else list(parts)
    if len(counts) != box.dim or min(counts, default=1) < 1:
        raise ValueError(f"parts must be a positive count or one per input ({box.dim})")
    axes = [
        [(lo + (hi - lo) * Fraction(i, p), lo + (hi - lo) * Fraction(i + 1, p)) for i in range(p)]
        for lo, hi, p in zip(box.lower, box.upper, counts)
    ]
    hull: list[LayerBounds] | None = None
    for cell in itertools.product(*axes):
        b = symbolic_bounds(net, Box(tuple(c[0] for c in cell), tuple(c[1] for c in cell)), exact=exact)
        hull = b if hull is None else [_hull(h, c) for h, c in zip(hull, b)]
    return [_meet(w, h) for w, h in zip(symbolic_bounds(net, box, exact=exact), hull)]


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


def tighten_bounds(
    net: Network,
    box: Box,
    bounds: Sequence[LayerBounds],
    *,
    neurons: Iterable[tuple[int, int]] | None = None,
    timeout: float = 1.0,
    method: str = "lp",
) -> list[LayerBounds]:
    """Tighten sound `bounds` by per-neuron z3 optimisation over the exact rational network (never looser).

    Layers are processed in order; each is first re-bounded by back-substitution over the tightened
    earlier layers. `neurons` lists (layer, index) pairs to optimise; by default every neuron of a
    relu/leaky_relu layer whose bounds straddle 0. method "lp": triangle relaxation (exact LP);
    "milp": ReLUs as If (exact but exponential). `timeout` is seconds per optimisation; on timeout,
    or when z3 gives no exact optimum, the bound is kept.
    """
    if method not in TIGHTEN_METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(TIGHTEN_METHODS)}")
    if len(bounds) != len(net.layers):
        raise ValueError(f"{len(bounds)} layer bounds given for a network of {len(net.layers)} layers")
    check_float_environment()
    wanted: dict[int, list[int]] | None = None
    if neurons is not None:
        wanted = {}
        for k, i in neurons:
            wanted.setdefault(k, []).append(i)
    given = [LayerBounds(_as_float(b.lower, up=False), _as_float(b.upper, up=True)) for b in bounds]
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            return _tighten(net, box, given, wanted, method, timeout)
    except _Overflow:
        return given


def _tighten(
    net: Network, box: Box, given: list[LayerBounds], wanted: dict[int, list[int]] | None, method: str, timeout: float
) -> list[LayerBounds]:
    prop = _Propagation(net, box, _FloatArith())
    solver = _Solver(net, box, method, timeout)
    for k, layer in enumerate(net.layers):
        ilo, ihi = prop.interval(k)
        blo, bhi = prop.backsub(k)
        lo = np.maximum(np.maximum(ilo, blo), given[k].lower)
        hi = np.minimum(np.minimum(ihi, bhi), given[k].upper)
        if wanted is not None:
            targets = wanted.get(k, [])
        elif layer.activation.kind in ("relu", "leaky_relu"):
            targets = np.flatnonzero(layer_phases(layer.activation, LayerBounds(lo, hi)) == 0)
        else:
            targets = []
        for i in targets:
            if hi[i] > lo[i]:
                expr = solver.affine(k, i)
                best = solver.optimum(expr, maximize=True)
                if best is not None:
                    hi[i] = min(hi[i], _round(best, up=True))
                best = solver.optimum(expr, maximize=False)
                if best is not None:
                    lo[i] = max(lo[i], _round(best, up=False))
        prop.push(k, lo, hi, relax=True)
        if k < len(net.layers) - 1:
            solver.add_layer(k, lo, hi, prop.h[k])
    return prop.bounds()


def _as_float(values: np.ndarray, up: bool) -> np.ndarray:
    values = np.asarray(values)
    return _round_array(values, up) if values.dtype == object else values.astype(np.float64)


# ---------------------------------------------------------------- z3 encoding for tightening


class _Solver:
    """z3 Optimize over the exact network: box, layer equations, and ReLUs as If (milp) or triangles (lp)."""

    def __init__(self, net: Network, box: Box, method: str, timeout: float):
        import z3

        self.z3, self.net, self.method = z3, net, method
        self.opt = z3.Optimize()
        self.opt.set("timeout", max(1, int(timeout * 1000)))
        self.h = [z3.Real(f"x_{i}") for i in range(box.dim)]
        for v, lo, hi in zip(self.h, box.lower, box.upper):
            self.opt.add(v >= self.num(lo), v <= self.num(hi))
        self.weights = [(as_fractions(layer.weight), as_fractions(layer.bias)) for layer in net.layers]

    def num(self, q: Fraction | float):
        q = Fraction(q)
        return self.z3.RealVal(f"{q.numerator}/{q.denominator}")

    def fraction(self, v) -> Fraction | None:
        """The exact value of a z3 numeral (None if not a rational numeral)."""
        if self.z3.is_int_value(v):
            return Fraction(v.as_long())
        if self.z3.is_rational_value(v):
            return Fraction(v.numerator_as_long(), v.denominator_as_long())
        return None

    def affine(self, k: int, i: int):
        """z3 term of neuron i's pre-activation in layer k, over the previous layer's variables."""
        w, b = self.weights[k]
        return self.z3.Sum([self.num(c) * v for c, v in zip(w[i], self.h) if c] + [self.num(b[i])])

    def optimum(self, expr, maximize: bool) -> Fraction | None:
        """The exact max (or min) of expr, or None on timeout / non-rational optimum."""
        z3 = self.z3
        self.opt.push()
        try:
            handle = self.opt.maximize(expr) if maximize else self.opt.minimize(expr)
            if self.opt.check() != z3.sat:
                return None
            infinite, value, eps = (self.fraction(v) for v in (handle.upper_values() if maximize else handle.lower_values()))
            # the optimum is infinite·∞ + value + eps·ε; value bounds it when eps points inward
            if infinite != 0 or value is None or eps is None or (eps > 0 if maximize else eps < 0):
                return None
            return value
        finally:
            self.opt.pop()

    def add_layer(self, k: int, lo: np.ndarray, hi: np.ndarray, h_bounds: tuple[np.ndarray, np.ndarray]) -> None:
        """Add layer k (pre-activations within their sound bounds, activations encoded) as permanent constraints."""
        z3 = self.z3
        act = self.net.layers[k].activation
        alpha = self.num(act.alpha)
        out = []
        for i in range(len(lo)):
            z = z3.Real(f"z_{k}_{i}")
            l, u = Fraction(lo[i]), Fraction(hi[i])
            self.opt.add(z == self.affine(k, i), z >= self.num(l), z <= self.num(u))
            if act.kind == "identity":
                out.append(z)
                continue
            h = z3.Real(f"h_{k}_{i}")
            out.append(h)
            if act.kind in ("sigmoid", "tanh"):
                self.opt.add(h >= self.num(h_bounds[0][i]), h <= self.num(h_bounds[1][i]))
            elif l >= 0:
                self.opt.add(h == z)
            elif u <= 0:
                self.opt.add(h == alpha * z)
            elif self.method == "milp":
                self.opt.add(h == z3.If(z >= 0, z, alpha * z))
            else:
                ya, yb = act.exact(l), act.exact(u)
                chord = self.num(ya) + self.num((yb - ya) / (u - l)) * (z - self.num(l))
                if act.alpha <= 1:  # convex: max(z, αz) below the chord
                    self.opt.add(h >= z, h >= alpha * z, h <= chord)
                else:  # concave: min(z, αz) above the chord
                    self.opt.add(h <= z, h <= alpha * z, h >= chord)
        self.h = out
