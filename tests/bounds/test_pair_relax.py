"""Relaxation offsets: sound for any slopes (never below the true extremum), and tight (the exact extremum)."""

import itertools
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.bounds.outward import fraction_interval
from lumpcheck.bounds.pair_relax import pair_offset, pair_range, single_offset

small = st.integers(-64, 64).map(lambda v: v / 16)
slope = st.integers(-32, 48).map(lambda v: v / 16)
alphas = st.sampled_from([Fraction(0), Fraction(1, 8), Fraction(1, 100), Fraction(-1, 2), Fraction(3), Fraction(1)])


def sigma(z: Fraction, alpha: Fraction) -> Fraction:
    return z if z >= 0 else alpha * z


def exact_pair_extrema(al, au, bl, bu, dl, du, p, q, aa, ab):
    """Exact max and min of σ_A(a) − σ_B(b) − pΔ − qb over the polygon: vertices of the pieces (Fractions)."""
    F = Fraction
    lines = [(1, 0, al), (1, 0, au), (1, 0, 0), (0, 1, bl), (0, 1, bu), (0, 1, 0), (1, -1, dl), (1, -1, du)]
    values = []
    for (a1, b1, c1), (a2, b2, c2) in itertools.combinations(lines, 2):
        det = a1 * b2 - a2 * b1
        if det == 0:
            continue
        a = (F(c1) * b2 - F(c2) * b1) / det
        b = (a1 * F(c2) - a2 * F(c1)) / det
        if al <= a <= au and bl <= b <= bu and dl <= a - b <= du:
            values.append(sigma(a, aa) - sigma(b, ab) - F(p) * (a - b) - F(q) * b)
    return (max(values), min(values)) if values else (None, None)


@settings(max_examples=300, deadline=None)
@given(small, small, small, small, small, small, slope, slope, alphas, alphas)
def test_pair_offsets_are_sound_and_tight(a0, a1, b0, b1, d0, d1, p, q, aa, ab):
    al, au = sorted((a0, a1))
    bl, bu = sorted((b0, b1))
    dl, du = sorted((d0, d1))
    F = Fraction
    hi, lo = exact_pair_extrema(F(al), F(au), F(bl), F(bu), F(dl), F(du), p, q, aa, ab)
    box = tuple(np.array([v]) for v in (al, au, bl, bu, dl, du))
    sa = tuple(np.array([v]) for v in fraction_interval(aa))
    sb = tuple(np.array([v]) for v in fraction_interval(ab))
    ru = pair_offset(box, sa, sb, np.array([p]), np.array([q]), True)[0]
    rl = pair_offset(box, sa, sb, np.array([p]), np.array([q]), False)[0]
    if hi is None:  # empty polygon: any answer is sound
        return
    assert F(ru) >= hi and F(rl) <= lo
    scale = 1 + abs(float(hi)) + abs(float(lo)) + abs(p) * 8 + abs(q) * 8
    assert float(ru) - float(hi) <= 1e-9 * scale and float(lo) - float(rl) <= 1e-9 * scale


@settings(max_examples=200, deadline=None)
@given(small, small, slope, alphas)
def test_single_offsets_are_sound_and_tight(z0, z1, s, alpha):
    l, u = sorted((z0, z1))
    F = Fraction
    pts = [F(l), F(u)] + ([F(0)] if l < 0 < u else [])
    vals = [sigma(z, alpha) - F(s) * z for z in pts]
    lo_, hi_ = fraction_interval(alpha)
    args = (np.array([l]), np.array([u]), np.array([lo_]), np.array([hi_]), np.array([s]))
    ru, rl = single_offset(*args, upper=True)[0], single_offset(*args, upper=False)[0]
    assert F(ru) >= max(vals) and F(rl) <= min(vals)
    assert float(ru) - float(max(vals)) <= 1e-12 * (1 + abs(float(max(vals))))


def test_pair_range_of_relu_difference_has_the_sign_of_delta():
    """relu(a) − relu(b) with a − b in [0.5, 1]: d >= 0, and d <= Δ (<= 1)."""
    box = tuple(np.array([v]) for v in (-2.0, 3.0, -3.0, 2.0, 0.5, 1.0))
    zero = (np.zeros(1), np.zeros(1))
    lo, hi = pair_range(box, zero, zero)
    assert lo[0] >= -1e-300 and hi[0] <= 1.0 + 1e-12


def test_any_slope_gives_a_valid_upper_relaxation():
    """A deliberately bad slope (5) is still sound: the offset absorbs it."""
    rng = np.random.default_rng(0)
    box = tuple(np.array([v]) for v in (-1.0, 2.0, -1.5, 1.0, -0.5, 1.0))
    zero = (np.zeros(1), np.zeros(1))
    r = pair_offset(box, zero, zero, np.array([5.0]), np.array([-3.0]), True)[0]
    for _ in range(2000):
        b = rng.uniform(-1.5, 1.0)
        d = rng.uniform(-0.5, 1.0)
        a = b + d
        if -1.0 <= a <= 2.0:
            assert max(a, 0) - max(b, 0) <= 5.0 * d - 3.0 * b + r + 1e-12
