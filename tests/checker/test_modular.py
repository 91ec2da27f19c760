"""The checker's residue path (checker/modular.py) decides every linear identity exactly like Fractions do, and the
checker's verdicts are the same on it and on the Python-int path it falls back to."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lumpcheck.checker.modular as modular
from lumpcheck.checker import check
from lumpcheck.checker.integers import MODULI, moduli_for
from lumpcheck.checker.modular import Substitution, decide
from lumpcheck.ir.relation import NeuronMap

from planted_relations import planted
from test_check import write_pair

FACTORS = [Fraction(1), Fraction(2), Fraction(1, 2), Fraction(-1), Fraction(3), Fraction(1, 3), Fraction(3, 4),
           Fraction(2**40 + 1, 3**20), Fraction(-(3**25), 2**70 + 7)]  # the last two: many bits in p, q and dens


def _coefficients(w: np.ndarray, prev: list[NeuronMap], n: int) -> list[list[Fraction]]:
    """Ground truth: coef[s][j] = Σ_{r→j} W[s, r]·factor_r, in Fractions."""
    out = [[Fraction(0)] * n for _ in range(w.shape[0])]
    for s in range(w.shape[0]):
        for r, m in enumerate(prev):
            for j, c in m.terms:
                out[s][j] += Fraction(float(w[s, r])) * c
    return out


@st.composite
def layers(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    width, ghosts = draw(st.integers(1, 4)), draw(st.integers(0, 2))
    n_prev, n_out = draw(st.integers(width + ghosts, 8)), draw(st.integers(2, 7))
    classes = list(range(width + ghosts)) + [int(c) for c in rng.integers(0, width + ghosts, n_prev - width - ghosts)]
    prev = [NeuronMap(((j, FACTORS[int(rng.integers(len(FACTORS)))]),), Fraction(0)) for j in classes]
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    w = rng.standard_normal((n_out, n_prev)).astype(dtype)
    if draw(st.booleans()):  # a few rows are exact multiples of others (true identities)
        for s in range(1, n_out, 2):
            w[s] = w[s - 1] * dtype(draw(st.sampled_from([1.0, 2.0, -0.5, 4.0])))
    if draw(st.booleans()):  # 1-ulp near misses
        s = int(rng.integers(n_out))
        w[s, int(rng.integers(n_prev))] = np.nextafter(w[s, int(rng.integers(n_prev))], dtype(np.inf))
    if draw(st.booleans()):  # a wide span of magnitudes (many moduli, or the Python-int fallback)
        w[0, 0] = dtype(draw(st.sampled_from([1e-30, 1e30, 2.0**-140])))
    if draw(st.booleans()):  # coefficients on ghost classes cancel: W[s, r] + W[s, r'] = 0 for a pair on one class
        w[:, -1] = 0
    return w, prev, width, ghosts


@settings(max_examples=200, deadline=None)
@given(layers(), st.data())
def test_residues_decide_like_fractions(layer, data):
    w, prev, width, ghosts = layer
    n = width + ghosts
    coef = _coefficients(w, prev, n)
    n_out = w.shape[0]
    # reduced rows: exact images of some original rows where float64 holds them, else a nearby float
    factors = [data.draw(st.sampled_from(FACTORS)) for _ in range(n_out)]
    red = np.array([[float(coef[s][j] / factors[s]) for j in range(width)] for s in range(n_out)])
    targets = [(s, s, f.numerator, f.denominator) for s, f in enumerate(factors)]
    ghost_claims = [(s, s - 1, 2, 1) for s in range(1, n_out, 2)] + [(0, 0, 1, 1)]
    constants = list(range(n_out))
    asked: list[int] = []

    def recording(bits):
        asked.append(bits)
        return moduli_for(bits)

    with mock.patch.object(modular, "moduli_for", recording):
        got = decide(w, red, Substitution.of(prev, n), width, targets, ghost_claims, constants)
    _assert_bound_holds(asked[0], w, red, prev, width, coef, targets, ghost_claims)
    if got is None:  # only when the bound needs more moduli than there are
        assert moduli_for(asked[0]) is None
        return
    for i, (s, c, p, q) in enumerate(targets):
        f = Fraction(p, q)
        assert got.target_coefficients[i] == all(coef[s][j] == f * Fraction(float(red[c, j])) for j in range(width))
        nonzero = [j - width for j in range(width, n) if coef[s][j] != 0]
        assert got.target_ghost[i] == (nonzero[0] if nonzero else -1)
    for i, (s, t, p, q) in enumerate(ghost_claims):
        assert got.ghost_coefficients[i] == all(q * coef[s][j] == p * coef[t][j] for j in range(n))
    for i, s in enumerate(constants):
        assert got.constant_zero[i] == all(v == 0 for v in coef[s])


def _assert_bound_holds(bits, w, red, prev, width, coef, targets, ghost_claims):
    """The integers decide compares, rebuilt here from Fractions (D, rd: the weights' largest denominators; dens_j:
    the lcm of the map factors' denominators on class j), are within the bound it used: |x| + |y| < 2**bits."""
    big = 1 << bits
    d = max(Fraction(float(v)).denominator for v in w.flat)
    rd = max((Fraction(float(v)).denominator for v in red.flat), default=1)
    dens = [math.lcm(1, *(c.denominator for m in prev for j2, c in m.terms if j2 == j)) for j in range(len(coef[0]))]
    ints = [[coef[s][j] * d * dens[j] for j in range(len(dens))] for s in range(len(coef))]
    assert all(v.denominator == 1 for row in ints for v in row)
    for s, c, p, q in targets:
        for j in range(width):
            g = math.gcd(rd, d * dens[j])
            x = ints[s][j] * q * (rd // g)
            y = Fraction(float(red[c, j])) * rd * p * (d * dens[j] // g)
            assert abs(x) + abs(y) < big
    for s, t, p, q in ghost_claims:
        assert all(abs(ints[s][j] * q) + abs(ints[t][j] * p) < big for j in range(len(dens)))


def _claims_on_one_layer(w_orig, w_red, target=None, ghost=None):
    prev = [NeuronMap(((j, Fraction(1)),), Fraction(0)) for j in range(w_orig.shape[1])]
    return decide(np.asarray(w_orig), np.asarray(w_red), Substitution.of(prev, w_orig.shape[1]), w_orig.shape[1],
                  [target] if target else [], [ghost] if ghost else [], [])


def test_integers_equal_modulo_the_first_moduli_but_different_are_told_apart():
    """x = 1, y = 1 + m1·m2 (m1, m2 the first moduli): the bound asks for a third modulus, which tells them apart; with
    only the first two moduli the claim would pass (the test would catch a bound that is too small)."""
    m1, m2 = MODULI[0], MODULI[1]
    w = np.ones((2, 1))
    p = 1 + m1 * m2  # ghost claim z_1 ≡ p · z_0 with equal rows: q·x = 1 vs p·x = 1 + m1·m2
    got = _claims_on_one_layer(w, w, ghost=(1, 0, p, 1))
    assert not got.ghost_coefficients[0]
    assert _claims_on_one_layer(w, w, ghost=(1, 0, 1, 1)).ghost_coefficients[0]
    with mock.patch.object(modular, "moduli_for", lambda bits: MODULI[:2]):  # a bound too small: wrongly equal
        assert _claims_on_one_layer(w, w, ghost=(1, 0, p, 1)).ghost_coefficients[0]
    # the same for target claims: reduced weight 1, factor p or 1/p (the big integer on either side)
    one = np.ones((1, 1))
    assert not _claims_on_one_layer(one, one, target=(0, 0, p, 1)).target_coefficients[0]
    assert not _claims_on_one_layer(one, one, target=(0, 0, 1, p)).target_coefficients[0]
    # a difference of m1 alone, inside the weights (integers below 2**53 are exact floats)
    orig, red = np.array([[5.0 + m1]]), np.array([[5.0]])
    assert not _claims_on_one_layer(orig, red, target=(0, 0, 1, 1)).target_coefficients[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_ulp_near_miss_is_rejected(dtype):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 6)).astype(dtype)
    red = (w * dtype(0.5)).astype(dtype)  # exact: halving a float is exact away from the subnormals
    for s in range(4):
        assert _claims_on_one_layer(w, red, target=(s, s, 2, 1)).target_coefficients[0]
        near = red.copy()
        near[s, s] = np.nextafter(near[s, s], dtype(np.inf))
        assert not _claims_on_one_layer(w, near, target=(s, s, 2, 1)).target_coefficients[0]
        ghost = w.copy()
        ghost[(s + 1) % 4] = ghost[s]
        ghost[(s + 1) % 4, 0] = np.nextafter(ghost[s, 0], dtype(-np.inf))
        assert not _claims_on_one_layer(ghost, red, ghost=((s + 1) % 4, s, 1, 1)).ghost_coefficients[0]


def test_fractions_and_spans_beyond_the_moduli_fall_back():
    w = np.array([[Fraction(1, 3)]], dtype=object)
    assert _claims_on_one_layer(w, w, target=(0, 0, 1, 1)) is None
    wide = np.array([[1e-300, 1e300]])
    assert _claims_on_one_layer(wide, wide, target=(0, 0, 1, 1)) is None
    assert moduli_for(len(MODULI) * 31) is None


def test_moduli_are_pairwise_coprime_and_large():
    from math import gcd

    assert all(2**30 < m < 2**31 for m in MODULI)
    assert all(gcd(a, b) == 1 for i, a in enumerate(MODULI) for b in MODULI[i + 1:])
    chosen = moduli_for(100)
    assert np.prod([float(m) for m in chosen]) >= 2.0**100 and np.prod([float(m) for m in chosen[:-1]]) < 2.0**100


@pytest.mark.parametrize("edit", ["factor", "class", "reduced-ulp"])
def test_residue_and_python_int_paths_give_the_same_verdicts(tmp_path, monkeypatch, edit):
    """A tampered certificate is invalid on both exact paths alone (no z3), with the same reasons."""
    original, reduced, relation = planted(np.random.default_rng(11), [3, 5, 4, 2], "relu", extra=4, dead_copies=2)
    a, b, c = write_pair(tmp_path, original, reduced, relation)
    doc = json.loads(c.read_text())
    r = next(r for r, m in enumerate(relation.layers[0].maps) if m.terms and m.terms[0][1] != 1
             and m.terms[0][0] < relation.layers[0].reduced_width)
    if edit == "factor":
        doc["relation"][0]["neurons"][r]["terms"][0][1] = "3"
    elif edit == "class":
        doc["relation"][0]["neurons"][r]["terms"][0][0] = (relation.layers[0].maps[r].terms[0][0] + 1) % 5
    c.write_text(json.dumps(doc))
    if edit == "reduced-ulp":
        import hashlib

        from lumpcheck.io import load_model, save_model
        from lumpcheck.ir.network import Layer, Network

        net = load_model(b)
        wt = net.layers[1].weight.copy()
        wt[0, 0] = np.nextafter(wt[0, 0], np.inf)
        save_model(Network([net.layers[0], Layer(wt, net.layers[1].bias, net.layers[1].activation), *net.layers[2:]]),
                   b, dtype="float64")
        doc["models"]["reduced"]["sha256"] = hashlib.sha256(b.read_bytes()).hexdigest()
        c.write_text(json.dumps(doc))
    by_residues = check(c, a, b, solver_check="none")
    monkeypatch.setattr(modular, "moduli_for", lambda bits: None)  # forces the Python-int path
    by_ints = check(c, a, b, solver_check="none")
    assert not by_residues.valid and not by_ints.valid
    assert by_residues.reasons == by_ints.reasons


def _recorded_moduli(call):
    """Run `call` and return its result with the moduli decide used."""
    used: list[tuple[int, ...]] = []

    def recording(bits):
        used.append(moduli_for(bits))
        return used[-1]

    with mock.patch.object(modular, "moduli_for", recording):
        return call(), used[0]


def test_a_difference_seen_by_one_modulus_only_is_kept():
    """Kills: a later modulus overwriting what an earlier one found (`=` for `&=`). orig 5 + m vs reduced 5 for each
    of the moduli m in use: the difference m vanishes modulo m, and only the other moduli see it."""
    for k in range(3):
        got, used = _recorded_moduli(lambda: _claims_on_one_layer(np.array([[5.0 + MODULI[k]]]), np.array([[5.0]]),
                                                                    target=(0, 0, 1, 1)))
        assert len(used) >= 2 and not got.target_coefficients[0], k


def _one_layer(w, width, targets=(), ghosts=(), constants=(), factors=None, red=None):
    n = w.shape[1]
    prev = [NeuronMap(((j, Fraction(1) if factors is None else factors[j]),), Fraction(0)) for j in range(n)]
    red = np.ones((max([t[1] for t in targets], default=0) + 1, width)) if red is None else red
    return decide(w, red, Substitution.of(prev, n), width, list(targets), list(ghosts), list(constants))


def test_first_ghost_coefficient_per_target_row():
    """Kills: the first nonzero ghost column taken over all rows at once (argmax without axis=1): row 0 has its first
    ghost coefficient in ghost column 0, row 1 in ghost column 1."""
    w = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    got = _one_layer(w, 1, targets=[(0, 0, 1, 1), (1, 0, 1, 1)])
    assert got.target_ghost.tolist() == [0, 1]


def test_a_ghost_coefficient_that_one_modulus_misses_is_found():
    """Kills: the first ghost column of the last modulus replacing the earlier moduli's (`known` dropped). The ghost
    coefficient m (a modulus in use) is 0 modulo m: without the minimum over moduli the first ghost column would be
    reported as 1, or none at all."""
    for k in range(3):
        for row in ([1.0, MODULI[k], 1.0], [1.0, MODULI[k], 0.0]):
            got, used = _recorded_moduli(lambda: _one_layer(np.array([row]), 1, targets=[(0, 0, 1, 1)]))
            assert got.target_ghost.tolist() == [0], (k, row, used)


def test_constant_neurons_are_decided_one_by_one():
    """Kills: the constant claims decided all together (any over every row): one zero row and one nonzero row."""
    got = _one_layer(np.array([[0.0, 0.0], [0.0, 3.0], [0.0, 0.0]]), 2, constants=[0, 1, 2])
    assert got.constant_zero.tolist() == [True, False, True]


def test_the_bound_counts_the_map_factors_and_the_reduced_denominator():
    """Kills: the bound shrunk by the map factors' sizes (reach) or by the reduced weights' denominator (left): each
    case is a false identity x == y with x ≡ y modulo the first modulus only, which a bound that small would use.
    (1) a map factor k = 1 + m1: orig 1·k vs reduced 1 (p/q = 1). (2) reduced weight 2^-40 and a claim factor 1/q
    with q·2^40 ≡ 1 (mod m1): x = q·2^40, y = 1."""
    m1 = MODULI[0]
    got = _one_layer(np.array([[1.0]]), 1, targets=[(0, 0, 1, 1)], factors=[Fraction(1 + m1)], red=np.ones((1, 1)))
    assert not got.target_coefficients[0]
    q = pow(2**40, -1, m1)
    assert q * 2**40 % m1 == 1
    got = _one_layer(np.array([[1.0]]), 1, targets=[(0, 0, 1, q)], red=np.array([[2.0**-40]]))
    assert not got.target_coefficients[0]
