"""Exact values of the activations: `exact`, `symbolic` and `image` against each other and against hand values
(issue 14: the mutants of the activation group)."""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy

from lumpcheck.ir.activation import Activation

F = Fraction
PIECEWISE = [Activation("identity"), Activation("relu"), Activation("leaky_relu", F(1, 8)),
             Activation("leaky_relu", F(3)), Activation("leaky_relu", F(-1, 2))]
POINTS = [F(-3, 2), F(-1, 7), F(0), F(5, 7), F(2)]


@pytest.mark.parametrize("act", PIECEWISE, ids=str)
def test_symbolic_values_are_the_exact_values(act):
    for z in POINTS:
        got = act.symbolic(sympy.Rational(z.numerator, z.denominator))
        want = act.exact(z)
        assert sympy.Rational(want.numerator, want.denominator) == got, (act, z, got)


def test_exact_values_by_hand():
    relu, leaky, ident = Activation("relu"), Activation("leaky_relu", F(1, 8)), Activation("identity")
    assert [relu.exact(z) for z in POINTS] == [0, 0, 0, F(5, 7), 2]
    assert [leaky.exact(z) for z in POINTS] == [F(-3, 16), F(-1, 56), 0, F(5, 7), 2]
    assert [ident.exact(z) for z in POINTS] == POINTS
    assert Activation("sigmoid").exact(F(0)) == F(1, 2) and Activation("tanh").exact(F(0)) == 0


@pytest.mark.parametrize("kind", ["sigmoid", "tanh"])
def test_irrational_values_are_refused(kind):
    for z in (F(1), F(-1, 3)):
        with pytest.raises(ValueError, match="irrational"):
            Activation(kind).exact(z)


def test_the_image_of_a_non_monotone_leaky_relu_includes_its_kink():
    """α < 0: σ(z) = αz > 0 for z < 0, so over [-1, 1] the minimum 0 is at the kink, not at an end."""
    act = Activation("leaky_relu", F(-1, 2))
    assert act.image(F(-1), F(1)) == (F(0), F(1))
    assert act.image(F(-4), F(1)) == (F(0), F(2))
    assert act.image(F(1, 2), F(1)) == (F(1, 2), F(1))
