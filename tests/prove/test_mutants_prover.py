"""The prover's exact obligations (lumpcheck.prove.discharge via prove.prover.prove_networks) stand alone: with z3 off
(solver_check='none'), each false claim below fails on exactly the exact rule meant to catch it.

Each test names the mutant it kills (issue 14): the rule was removed by hand, the test failed, the rule restored.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import evaluate
from lumpcheck.ir.relation import LayerRelation, NeuronMap, PhaseClaim, PhaseClaims, Relation
from lumpcheck.prove.discharge import exact_lemma
from lumpcheck.prove.obligations import ActivationLemma
from lumpcheck.prove.prover import prove_networks
from exact_nets import dense

RELU = Activation("relu")
SOLVER_CHECKS = ["none", "all"]


def statuses(original, reduced, relation, solver_check, **kw) -> dict[str, tuple[str, str]]:
    records, _, _ = prove_networks(original, reduced, relation, solver_check=solver_check, **kw)
    return {r.id: (r.status, r.detail) for r in records}


def kept(j: int) -> NeuronMap:
    return NeuronMap(((j, Fraction(1)),))


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_live_neuron_claimed_a_ghost_fails(solver_check):
    """Kills: exact_linear ignoring the weights on ghost classes. Neuron 1 (relu(x + 1), outgoing weight 1) is
    claimed a removed ghost, so the output's substituted form weighs the free ghost value g with 1 != 0."""
    net = dense(([[1], [1]], [0, 1], RELU), ([[1, 1]], [0], IDENTITY))
    red = dense(([[1]], [0], RELU), ([[1]], [0], IDENTITY))
    rel = Relation([LayerRelation([kept(0), NeuronMap(((1, Fraction(1)),), Fraction(0), "dead")], 1, ghosts=1)])
    got = statuses(net, red, rel, solver_check)
    assert got["L2.linear"][0] == "failed" and "coefficient of g1_1: 1 != 0" in got["L2.linear"][1], got
    assert evaluate(net, [Fraction(1)]) != evaluate(red, [Fraction(1)])


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_ghost_member_with_a_shifted_bias_fails(solver_check):
    """Kills: exact_ghost ignoring the constant term. Member relu(2x + 3) is claimed 2 × representative relu(x + 1)."""
    red = dense(([[1]], [0], RELU), ([[1]], [0], IDENTITY))
    rel = Relation([LayerRelation([kept(0), NeuronMap(((1, Fraction(1)),), Fraction(0), "dead"),
                                   NeuronMap(((1, Fraction(2)),), Fraction(0), "dead")], 1, ghosts=1)])
    honest = dense(([[1], [1], [2]], [0, 1, 2], RELU), ([[1, 2, -1]], [0], IDENTITY))
    assert {s for s, _ in statuses(honest, red, rel, solver_check).values()} == {"proved"}
    shifted = dense(([[1], [1], [2]], [0, 1, 3], RELU), ([[1, 2, -1]], [0], IDENTITY))
    got = statuses(shifted, red, rel, solver_check)
    assert got["L1.ghost"][0] == "failed" and "constant term" in got["L1.ghost"][1], got
    assert [s for s, _ in got.values()].count("failed") == 1


def test_lemma_false_only_at_zero_is_refuted():
    """Kills: exact_lemma testing only z = ±1. relu(−z) = −relu(z) + 1 holds at z = ±1 and fails at 0."""
    lemma = ActivationLemma(RELU, Fraction(-1), Fraction(1))
    assert exact_lemma(lemma) == "false at z=0: left side 0, right side 1"
    for z in (Fraction(-1), Fraction(1)):
        assert RELU.exact(-z) == -RELU.exact(z) + 1
    assert exact_lemma(ActivationLemma(Activation("leaky_relu", Fraction(1, 4)), Fraction(3), Fraction(0))) is None


@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_lemma_false_only_at_zero_fails_the_proof(solver_check):
    """The same lemma used by a relation: neuron 1 = relu(−x) + ... claimed −1·v0 + 1 (the exact part decides)."""
    net = dense(([[1], [-1]], [0, 0], RELU), ([[1, 1]], [0], IDENTITY))
    red = dense(([[1]], [0], RELU), ([[0]], [1], IDENTITY))
    rel = Relation([LayerRelation([kept(0), NeuronMap(((0, Fraction(-1)),), Fraction(1), "negated")], 1)])
    got = statuses(net, red, rel, solver_check)
    lemma = "act.relu:c=-1:o=1"
    assert got[lemma][0] == "failed" and "z=0" in got[lemma][1], got


@pytest.mark.parametrize("alpha", [Fraction(1, 8), Fraction(-1, 2)])
@pytest.mark.parametrize("solver_check", SOLVER_CHECKS)
def test_leaky_relu_neuron_is_not_removable_as_inactive(alpha, solver_check):
    """Kills: exact_inactive accepting any activation once the phase claim is −1. A LeakyReLU (α ≠ 0) neuron with
    z = −x <= 0 on [1, 2] still outputs −α·x: it is linear there, not zero."""
    leaky = Activation("leaky_relu", alpha)
    net = dense(([[1], [-1]], [0, 0], leaky), ([[1, 1]], [0], IDENTITY))
    red = dense(([[1]], [0], leaky), ([[1]], [0], IDENTITY))
    rel = Relation([LayerRelation([kept(0), NeuronMap((), Fraction(0), "inactive")], 1)])
    claims = PhaseClaims("interval", 1, [[PhaseClaim(0, 1, Fraction(1)), PhaseClaim(1, -1, Fraction(-1))]])
    box = Box((Fraction(1),), (Fraction(2),))
    got = statuses(net, red, rel, solver_check, domain=box, claims=claims)
    assert got["L1.bounds"][0] == "proved"  # the phase claim itself is true
    assert got["L1.inactive"][0] == "failed" and f"slope of leaky_relu({alpha}) on z <= 0" in got["L1.inactive"][1], got
    assert evaluate(net, [Fraction(1)]) != evaluate(red, [Fraction(1)])
    # a LeakyReLU with α = 0 is a ReLU: then the same claim is proved
    zero = Activation("leaky_relu", 0)
    net0 = dense(([[1], [-1]], [0, 0], zero), ([[1, 1]], [0], IDENTITY))
    red0 = dense(([[1]], [0], zero), ([[1]], [0], IDENTITY))
    assert {s for s, _ in statuses(net0, red0, rel, solver_check, domain=box, claims=claims).values()} == {"proved"}


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_substituted_pre_activation_is_the_affine_form_by_fractions(data):
    """PreActivations.affine (the form messages and the SMT scripts show) against a plain Fraction computation of
    z_s = Σ_r W[s, r]·(Σ_(j, c) c·var_j + offset_r) + b_s, with ghost classes after the reduced ones."""
    from lumpcheck.prove.obligations import PreActivations

    rows, cols = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4))
    width, ghosts = data.draw(st.integers(1, 3)), data.draw(st.integers(0, 2))
    small = st.floats(-4, 4, allow_nan=False).map(lambda v: round(v * 8) / 8 + (0.1 if v > 3 else 0.0))
    weight = np.array([[data.draw(small) for _ in range(cols)] for _ in range(rows)])
    bias = np.array([data.draw(small) for _ in range(rows)])
    factor = st.fractions(-5, 5, max_denominator=7)
    prev = tuple(NeuronMap(tuple((data.draw(st.integers(0, width + ghosts - 1)), data.draw(factor))
                                 for _ in range(data.draw(st.integers(0, 2)))), data.draw(factor), "kept")
                 for _ in range(cols))
    pre = PreActivations(2, weight, bias, prev, width, ghosts)
    for s in range(rows):
        coeffs: dict[str, Fraction] = {}
        const = Fraction(bias[s])
        for r, nm in enumerate(prev):
            w = Fraction(weight[s, r])
            for j, c in nm.terms:
                name = f"h1_{j}" if j < width else f"g1_{j}"
                coeffs[name] = coeffs.get(name, Fraction(0)) + w * c
            const += w * nm.offset
        got = pre.affine(s)
        assert got.coeffs == {k: v for k, v in coeffs.items() if v != 0} and got.const == const
