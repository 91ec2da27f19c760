"""SMT-LIB encoding of obligations: exact literals, unsat for true obligations, sat for false ones, and the
written scripts re-check with the z3 command-line binary."""

from __future__ import annotations

import subprocess
from fractions import Fraction

import numpy as np
import pytest
import z3
from hypothesis import given
from hypothesis import strategies as st

from lumpcheck.ir.activation import Activation
from lumpcheck.ir.network import Layer, Network
from lumpcheck.ir.relation import LayerRelation, NeuronMap, Relation
from lumpcheck.prove import smt
from lumpcheck.prove.derive import derive
from lumpcheck.prove.discharge import exact_constant, exact_lemma, exact_linear
from lumpcheck.prove.obligations import (
    ActivationLemma,
    ConstantObligation,
    InactiveObligation,
    LinearObligation,
    Target,
)
from lumpcheck.solver.z3 import solve_script, z3_binary


@given(st.fractions(max_denominator=10**30) | st.floats(allow_nan=False, allow_infinity=False).map(Fraction))
def test_literal_is_exact(x):
    parsed = z3.parse_smt2_string(f"(assert (= r {smt.literal(x)}))", decls={"r": z3.Real("r")})[0].arg(1)
    assert z3.simplify(parsed).eq(z3.RealVal(f"{x.numerator}/{x.denominator}"))


def _pair(bias_shift: float = 0.0) -> tuple[Network, Network, Relation]:
    """A 2-3-1 ReLU net whose neuron 1 is 2× neuron 0 and neuron 2 a constant 0, plus its reduced twin."""
    w1 = np.array([[1.0, -0.5], [2.0, -1.0], [0.0, 0.0]])
    b1 = np.array([0.25, 0.5, -1.0])
    w2 = np.array([[3.0, 1.5, 7.0]])
    original = Network([Layer(w1, b1, Activation("relu")), Layer(w2, np.array([0.5]))])
    reduced = Network([Layer(w1[:1], b1[:1], Activation("relu")), Layer(np.array([[6.0]]), np.array([0.5 + bias_shift]))])
    relation = Relation([LayerRelation([NeuronMap(((0, 1),)), NeuronMap(((0, 2),), 0, "proportional"),
                                        NeuronMap((), 0, "constant")], 1)])
    return original, reduced, relation


def _of(obligations, kind):
    return [ob for ob in obligations if isinstance(ob, kind)]


def test_true_obligations_are_unsat_and_exactly_proved():
    obligations = derive(*_pair())
    assert not obligations[0].problems
    linear, constant, lemmas = _of(obligations, LinearObligation), _of(obligations, ConstantObligation), _of(
        obligations, ActivationLemma)
    assert [ob.id for ob in linear] == ["L1.linear", "L2.linear"] and [ob.neurons for ob in constant] == [[2]]
    assert {(lm.factor, lm.offset) for lm in lemmas} == {(1, 0), (2, 0)}
    for ob in linear:
        assert exact_linear(ob) is None
        assert solve_script(smt.to_smtlib(ob)).status == "unsat"
    assert exact_constant(constant[0]) is None and solve_script(smt.to_smtlib(constant[0])).status == "unsat"
    assert solve_script(smt.to_smtlib(lemmas[1])).status == "unsat"


def test_false_obligation_is_sat_with_counterexample_and_exact_mismatch():
    linear = _of(derive(*_pair(bias_shift=2.0**-40)), LinearObligation)[-1]
    mismatch = exact_linear(linear)
    assert mismatch.term == "constant term" and mismatch.rhs - mismatch.lhs == Fraction(1, 2**40)
    result = solve_script(smt.to_smtlib(linear))
    assert result.status == "sat" and set(result.model) <= {"h1_0"}


def test_substituted_form_matches_reduced_form():
    linear = _of(derive(*_pair()), LinearObligation)[-1]
    t = linear.targets[0]
    assert linear.pre.affine(0) == linear.rhs(t)
    assert linear.pre.affine(0).coeffs == {"h1_0": Fraction(6)}  # 3·v0 + 1.5·(2·v0) = 6·v0, constant neuron adds 7·0


@pytest.mark.parametrize(
    "kind, factor, offset, holds",
    [("relu", 3, 0, True), ("relu", Fraction(1, 3), 0, True), ("relu", -2, 0, False), ("relu", 2, 1, False),
     ("identity", -7, 0, True), ("identity", 1, 1, False), ("leaky_relu", 5, 0, True), ("leaky_relu", -1, 0, False)],
)
def test_piecewise_linear_lemmas_are_decided_by_both_engines(kind, factor, offset, holds):
    lemma = ActivationLemma(Activation(kind, Fraction(1, 10) if kind == "leaky_relu" else 0), Fraction(factor),
                            Fraction(offset))
    assert (exact_lemma(lemma) is None) == holds
    assert solve_script(smt.lemma_script(lemma)).status == ("unsat" if holds else "sat")


@pytest.mark.parametrize("kind, factor, offset, holds", [("tanh", -1, 0, True), ("tanh", -1, 1, False),
                                                         ("tanh", 2, 0, False), ("sigmoid", -1, 1, True),
                                                         ("sigmoid", -1, 0, False), ("sigmoid", 1, 0, True)])
def test_transcendental_lemmas_only_by_named_axiom(kind, factor, offset, holds):
    lemma = ActivationLemma(Activation(kind), Fraction(factor), Fraction(offset))
    assert (exact_lemma(lemma) is None) == holds
    with pytest.raises(ValueError, match="no SMT-LIB encoding"):
        smt.lemma_script(lemma)


def test_domain_obligations_have_no_smt_encoding():
    with pytest.raises(ValueError, match="decided exactly"):
        smt.to_smtlib(InactiveObligation(1, Activation("relu"), [0], {0: -1}))


def test_sigmoid_constant_script_requires_zero_preactivation():
    net = Network([Layer(np.zeros((1, 1)), np.array([0.0]), Activation("sigmoid")), Layer(np.ones((1, 1)), np.zeros(1))])
    ob = ConstantObligation(1, derive(net, net, Relation([LayerRelation([NeuronMap(((0, 1),))], 1)]))[1].pre,
                            Activation("sigmoid"), [(0, Fraction(1, 2))])
    assert exact_constant(ob) is None and solve_script(smt.to_smtlib(ob)).status == "unsat"
    wrong = ConstantObligation(1, ob.pre, ob.activation, [(0, Fraction(1, 3))])
    assert "sigmoid(0)" in str(exact_constant(wrong))


def test_linear_chunk_with_target_subset():
    linear = _of(derive(*_pair()), LinearObligation)[0]
    script = smt.linear_script(linear, [Target(1, 0, Fraction(2))])
    assert script.count("(not ") == 1 and solve_script(script).status == "unsat"


def test_z3_binary_rechecks_written_scripts(tmp_path):
    binary = z3_binary()
    if binary is None:
        pytest.skip("no z3 command-line binary found (z3-solver wheel normally installs one)")
    good = [smt.to_smtlib(ob) for ob in derive(*_pair()) if isinstance(ob, (LinearObligation, ConstantObligation))]
    bad = smt.to_smtlib(_of(derive(*_pair(bias_shift=1.0)), LinearObligation)[-1])
    for i, text in enumerate(good + [bad]):
        (tmp_path / f"{i}.smt2").write_text(text)
    out = [subprocess.run([binary, str(tmp_path / f"{i}.smt2")], capture_output=True, text=True, check=False).stdout.strip()
           for i in range(len(good) + 1)]
    assert out == ["unsat"] * len(good) + ["sat"]
