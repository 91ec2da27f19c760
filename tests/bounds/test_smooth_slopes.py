"""The sigmoid/tanh derivative enclosures behind the difference bounds (bounds.deviation: exp_neg, derivative_range,
the secant slopes of difference_bound) against mpmath at 60 digits, and the bound itself against sampled pairs."""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.bounds.deviation import difference_bound, secant_slopes
from lumpcheck.bounds.squash import derivative_range, exp_enclosure, exp_neg
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network

F = Fraction
mpmath.mp.dps = 60
SMOOTH = [Activation("sigmoid"), Activation("tanh")]
rationals = st.fractions(min_value=-40, max_value=40, max_denominator=10**6)


def sigma(kind: str, z) -> mpmath.mpf:
    z = mpmath.mpf(z.numerator) / z.denominator if isinstance(z, Fraction) else mpmath.mpf(z)
    return 1 / (1 + mpmath.exp(-z)) if kind == "sigmoid" else mpmath.tanh(z)


def derivative(kind: str, z: Fraction) -> mpmath.mpf:
    s = sigma(kind, z)
    return s * (1 - s) if kind == "sigmoid" else 1 - s * s


def mp(q: Fraction) -> mpmath.mpf:
    return mpmath.mpf(q.numerator) / q.denominator


@given(st.fractions(min_value=0, max_value=800, max_denominator=10**9))
@settings(max_examples=300, deadline=None)
def test_exp_neg_encloses_and_is_tight(x):
    lo, hi = exp_neg(x)
    exact = mpmath.exp(-mp(x))
    assert mp(lo) <= exact <= mp(hi)
    if x <= 700:
        assert mp(hi) - mp(lo) <= exact * mpmath.mpf(2) ** -40  # not only sound: useful


@given(st.sampled_from(SMOOTH), rationals, rationals, st.lists(st.floats(0, 1), min_size=1, max_size=6))
@settings(max_examples=300, deadline=None)
def test_derivative_range_holds_on_the_whole_interval(act, a, b, fractions_of):
    lo, hi = min(a, b), max(a, b)
    d0, d1 = derivative_range(act, lo, hi)
    points = [lo, hi] + ([F(0)] if lo <= 0 <= hi else []) + [lo + (hi - lo) * F(t) for t in fractions_of]
    for z in points:
        assert mp(d0) <= derivative(act.kind, z) <= mp(d1)
    assert mp(d1) >= max(derivative(act.kind, z) for z in (lo, hi))  # an endpoint attains one side each
    near = F(0) if lo <= 0 <= hi else min(lo, hi, key=abs)
    assert mp(d1) - derivative(act.kind, near) <= derivative(act.kind, near) * mpmath.mpf(2) ** -38


@given(st.sampled_from(SMOOTH), rationals, rationals, st.floats(0, 1), st.floats(-1, 1).filter(lambda v: abs(v) > 1e-9),
       st.fractions(min_value=0, max_value=3, max_denominator=1000))
@settings(max_examples=300, deadline=None)
def test_secant_slopes_of_difference_bound_hold(act, a, b, where, shift, t):
    """A secant between z in [lo, hi] and z' within t of z has a slope inside `secant_slopes`' range: the mean value
    rule. A version that took σ' at the far end as the upper slope (or ignored t) fails here."""
    lo, hi = min(a, b), max(a, b)
    z = lo + (hi - lo) * F(where)
    z2 = z + t * F(shift)
    if abs(z2 - z) < F(1, 10**9):  # mpmath's 60 digits resolve secants this long
        return
    s0, s1 = secant_slopes(act, lo, hi, t)
    secant = (sigma(act.kind, z) - sigma(act.kind, z2)) / (mp(z) - mp(z2))
    assert mp(s0) <= secant <= mp(s1)


def _pair(act: Activation, seed: int, noise: float) -> tuple[Network, Network]:
    rng = np.random.default_rng(seed)
    layers_a, layers_b = [], []
    for fan, width, a in ((3, 5, act), (5, 4, act), (4, 2, IDENTITY)):
        w, bias = rng.normal(0, 1.5, (width, fan)), rng.normal(0, 1, width)
        layers_a.append(Layer(w, bias, a))
        layers_b.append(Layer(w + rng.normal(0, noise, w.shape), bias + rng.normal(0, noise, width), a))
    return Network(layers_a), Network(layers_b)


def _outputs(net: Network, x: np.ndarray) -> list[mpmath.mpf]:
    h = [mpmath.mpf(float(v)) for v in x]
    for layer in net.layers:
        w, b = layer.weight.astype(float), layer.bias.astype(float)
        z = [sum(mpmath.mpf(float(w[i, j])) * h[j] for j in range(len(h))) + mpmath.mpf(float(b[i]))
             for i in range(len(b))]
        h = [sigma(layer.activation.kind, v) if layer.activation.kind != "identity" else v for v in z]
    return h


@given(st.sampled_from(SMOOTH), st.integers(0, 10**6), st.sampled_from([1e-6, 1e-3, 0.1]), st.integers(0, 2))
@settings(max_examples=25, deadline=None)
def test_difference_bound_covers_sampled_differences_of_smooth_pairs(act, seed, noise, window):
    a, b = _pair(act, seed, noise)
    box = Box((F(-1), F(0), F(-2)), (F(1), F(1, 2), F(-1)))
    bound, _ = difference_bound(a, b, box, window)
    rng = np.random.default_rng(seed)
    lo, hi = np.array([-1, 0, -2.0]), np.array([1, 0.5, -1.0])
    points = [lo + (hi - lo) * np.array(bits) for bits in np.ndindex(2, 2, 2)] + list(lo + (hi - lo) * rng.random((12, 3)))
    worst = max(abs(ya - yb) for x in points for ya, yb in zip(_outputs(a, x), _outputs(b, x)))
    assert worst <= mp(bound)


@given(st.fractions(min_value=0, max_value=60, max_denominator=10**12))
@settings(max_examples=200, deadline=None)
def test_exp_enclosure_encloses_e_to_the_x_tightly(x):
    """The kernel's one exp bound (sigmoid/tanh slopes, the checker's delta-top1 proof): lo <= e^x <= hi, within
    a relative 2^-100 (a bound rounded the wrong way, or a lost tail term, fails at 80 digits)."""
    lo, hi = exp_enclosure(x)
    with mpmath.workdps(80):
        exact = mpmath.exp(mp(x))
        assert mp(lo) <= exact <= mp(hi)
        assert mp(hi) - mp(lo) <= exact * mpmath.mpf(2) ** -100


@given(st.fractions(min_value=0, max_value=40, max_denominator=10**6), st.sampled_from([3, 5, 8, 13]))
@settings(max_examples=300, deadline=None)
def test_exp_enclosure_rounds_outward_at_coarse_precision(x, bits):
    """At a few bits a unit is large against the remainder term: a rounding in the wrong direction anywhere (the
    grid, a Taylor term, the sum, a square) puts lo above or hi below e^x."""
    lo, hi = exp_enclosure(x, bits=bits)
    with mpmath.workdps(60):
        assert mp(lo) <= mpmath.exp(mp(x)) <= mp(hi)
