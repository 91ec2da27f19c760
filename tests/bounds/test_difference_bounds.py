"""Differential bounds contain the exact values of both networks and of their differences, layer by layer."""

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.bounds.difference import run
from lumpcheck.equivalence.objective import Objective
from lumpcheck.bounds.coupling import Pairing, align, couple
from lumpcheck.equivalence.mode import Mode
from lumpcheck.ir.activation import IDENTITY
from lumpcheck.ir.exact import as_fractions
from lumpcheck.ir.network import Layer, Network

from pair_helpers import LEAKY, LEAKY_ODD, RELU, near_copy, random_box, random_net


def exact_layers(net: Network, x):
    """Exact pre-activations of every layer at the rational input x."""
    v, out = list(x), []
    for layer in net.layers:
        w, b = as_fractions(layer.weight), as_fractions(layer.bias)
        z = [sum((wi * vi for wi, vi in zip(row, v)), bs) for row, bs in zip(w, b)]
        out.append(z)
        v = [layer.activation.exact(zi) for zi in z]
    return out


def sample_points(box, rng, count=12):
    pts = [tuple(box.lower), tuple(box.upper)]
    for _ in range(count):
        pts.append(tuple(lo + (hi - lo) * Fraction(int(rng.integers(0, 65)), 64) for lo, hi in zip(box.lower, box.upper)))
    return pts


def assert_contains(c, res, x, e=0, phases=None):
    za, zb = exact_layers(c.a, x), exact_layers(c.b, x)
    for k in range(c.depth - 1):
        if phases is not None:  # points outside the branch are not covered
            pa, pb = phases[k]
            if any((p > 0 and z < 0) or (p < 0 and z > 0) for p, z in zip(pa[e], za[k])):
                return
            if any((p > 0 and z < 0) or (p < 0 and z > 0) for p, z in zip(pb[e], zb[k])):
                return
    for k in range(c.depth - 1):
        plo, phi = res.product[k]
        alo, ahi = res.a[k]
        nb, d_a, d_b, e_a = c.nb[k + 1], c.d_a[k + 1], c.d_b[k + 1], c.e_a[k + 1]
        values = list(zb[k]) + [za[k][i] - zb[k][j] for i, j in zip(d_a, d_b)] + [za[k][i] for i in e_a]
        for s, v in enumerate(values):
            assert Fraction(plo[e, s]) <= v <= Fraction(phi[e, s]), (k, s, v, plo[e, s], phi[e, s])
        for s, v in enumerate(za[k]):
            assert Fraction(alo[e, s]) <= v <= Fraction(ahi[e, s])
    m = c.output_size
    diffs = [za[-1][i] - zb[-1][i] for i in range(m)]
    up = res.uppers["p"][e]
    for i, d in enumerate(diffs):
        assert d <= Fraction(up[i]) and -d <= Fraction(up[m + i])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from(["noise", "prune", "drop"]), st.sampled_from([RELU, LEAKY, LEAKY_ODD]))
def test_bounds_contain_exact_values(seed, kind, act):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 4))
    widths = [n] + [int(rng.integers(2, 6)) for _ in range(int(rng.integers(1, 4)))] + [2]
    a = random_net(rng, widths, act)
    b = near_copy(rng, a, kind)
    box = random_box(rng, n)
    c = couple(a, b)
    xl = np.array([[float(v) for v in box.lower]])
    xu = np.array([[float(v) for v in box.upper]])
    res = run(c, xl, xu, Objective(Mode("epsilon", Fraction(1))))
    for x in sample_points(box, rng):
        assert_contains(c, res, x)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6))
def test_bounds_hold_on_relu_branches(seed):
    """Bounds computed with split phases (and with a prior) contain every point of the branch."""
    rng = np.random.default_rng(seed)
    a = random_net(rng, [2, 4, 4, 2])
    b = near_copy(rng, a, "noise")
    box = random_box(rng, 2)
    c = couple(a, b)
    xl = np.array([[float(v) for v in box.lower]] * 3)
    xu = np.array([[float(v) for v in box.upper]] * 3)
    root = run(c, xl[:1], xu[:1], Objective(Mode("epsilon", Fraction(1))))
    phases = [(rng.integers(-1, 2, (3, c.chain_a[k].size)).astype(float) * (rng.random((3, c.chain_a[k].size)) < 0.3),
               rng.integers(-1, 2, (3, c.chain_b[k].size)).astype(float) * (rng.random((3, c.chain_b[k].size)) < 0.3))
              for k in range(c.depth - 1)]
    for prior in (None, root):
        res = run(c, xl, xu, Objective(Mode("epsilon", Fraction(1))), phases=phases, prior=prior)
        for e in range(3):
            if res.empty[e]:
                continue
            for x in sample_points(box, rng, 30):
                assert_contains(c, res, x, e, phases)


def test_fraction_weights_and_unrelated_networks():
    """Exact rational weights (not floats) and a pair with nothing in common: still sound."""
    rng = np.random.default_rng(3)
    a = random_net(rng, [2, 3, 2])
    w = np.array([[Fraction(1, 3), Fraction(-2, 7)], [Fraction(5, 11), Fraction(1, 10)], [Fraction(-1, 9), Fraction(2, 3)]], dtype=object)
    a = Network([Layer(w, a.layers[0].bias, RELU), a.layers[1]])
    b = random_net(rng, [2, 5, 4, 2])  # other widths and depth
    box = random_box(rng, 2)
    c = couple(a, b)
    assert c.depth == 3 and c.a.layers[0].activation.kind == "identity"  # a padded with an identity layer
    res = run(c, np.array([[float(v) for v in box.lower]]), np.array([[float(v) for v in box.upper]]),
              Objective(Mode("epsilon", Fraction(1))))
    for x in sample_points(box, rng, 40):
        assert_contains(c, res, x)


def test_align_finds_removed_neurons():
    rng = np.random.default_rng(5)
    a = random_net(rng, [3, 8, 6, 2])
    keep = [0, 1, 2, 4, 5, 6, 7]
    l0, l1 = a.layers[0], a.layers[1]
    b = Network([Layer(l0.weight[keep], l0.bias[keep], l0.activation), Layer(l1.weight[:, keep], l1.bias, l1.activation), a.layers[2]])
    p = align(a, b)
    assert p.layers[0] == tuple((i, j) for j, i in enumerate(keep))
    assert p.layers[1] == tuple((i, i) for i in range(6))


def test_align_pairs_neurons_with_huge_weights():
    """The distances are relative, so weights of 2^600 (whose squares overflow) still pair equal neurons, here
    with B's neurons in another order."""
    w = np.array([[2.0**600, 3.0], [1.0, -2.0**600], [2.0**600, 2.0**590]])
    order = [2, 0, 1]
    a = Network([Layer(w, np.zeros(3), RELU), Layer(np.ones((1, 3)), np.zeros(1), IDENTITY)])
    b = Network([Layer(w[order], np.zeros(3), RELU), Layer(np.ones((1, 3)), np.zeros(1), IDENTITY)])
    assert align(a, b).layers[0] == tuple(sorted(((i, order.index(i)) for i in range(3)), key=lambda p: p[1]))


def test_pairing_rejects_double_use():
    try:
        Pairing((((0, 0), (0, 1)),))
    except ValueError as e:
        assert "paired twice" in str(e)
    else:
        raise AssertionError("a neuron paired twice was accepted")


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from(["noise", "prune", "drop"]))
def test_rows_back_substituted_in_groups_give_the_same_sound_bounds(seed, kind):
    """Kills: a group's bounds written to the wrong box or coordinate, a group or a tail skipped, the lower rows
    mixed with the upper ones (REFINE_ARRAY_BYTES = 1: one row pair per group, several boxes with their own open
    coordinates): every bound still contains the exact values, and equals the one-group bound up to rounding."""
    import lumpcheck.bounds.difference as difference

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 4))
    widths = [n] + [int(rng.integers(3, 7)) for _ in range(int(rng.integers(2, 4)))] + [2]
    a = random_net(rng, widths, RELU)
    b = near_copy(rng, a, kind)
    boxes = [random_box(rng, n) for _ in range(3)]
    c = couple(a, b)
    xl = np.array([[float(v) for v in box.lower] for box in boxes])
    xu = np.array([[float(v) for v in box.upper] for box in boxes])
    objective = Objective(Mode("epsilon", Fraction(1)))
    whole = run(c, xl, xu, objective)
    saved, difference.REFINE_ARRAY_BYTES = difference.REFINE_ARRAY_BYTES, 1
    try:
        grouped = run(c, xl, xu, objective)
    finally:
        difference.REFINE_ARRAY_BYTES = saved
    for e, box in enumerate(boxes):
        for x in sample_points(box, rng, count=4):
            assert_contains(c, grouped, x, e)
    for (lo1, hi1), (lo2, hi2) in zip(whole.product + whole.a, grouped.product + grouped.a):
        assert np.allclose(lo1, lo2, rtol=1e-9, atol=1e-12) and np.allclose(hi1, hi2, rtol=1e-9, atol=1e-12)
    assert np.allclose(whole.uppers["p"], grouped.uppers["p"], rtol=1e-9, atol=1e-12)
