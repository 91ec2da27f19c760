"""The exact IR: exact conversion, evaluators, shapes, normalisation folding."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lumpcheck.ir.activation import Activation
from lumpcheck.ir.exact import canonical, exact_array, fraction_str, to_fraction
from lumpcheck.ir.network import Layer, Network, evaluate, evaluate_float, fold_normalization, layers_only
from lumpcheck.ir.normalization import Normalization


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_to_fraction_is_exact(x):
    f = to_fraction(x)
    assert float(f) == x
    assert Fraction(*x.as_integer_ratio()) == f


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_rejected(bad):
    with pytest.raises(ValueError):
        to_fraction(bad)
    with pytest.raises(ValueError):
        exact_array(np.array([1.0, bad]))


def test_canonical_keeps_float_path_only_when_exact():
    exact = canonical(np.array([Fraction(1, 2), Fraction(3)], dtype=object))
    assert exact.dtype == np.float64
    third = canonical(np.array([Fraction(1, 3)], dtype=object))
    assert third.dtype == object and third[0] == Fraction(1, 3)
    assert fraction_str(Fraction(-3, 4)) == "-3/4" and fraction_str(Fraction(5)) == "5"


def test_layer_shape_errors():
    with pytest.raises(ValueError, match="bias shape"):
        Layer(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="takes 4 inputs"):
        Network([Layer(np.zeros((2, 3)), np.zeros(2)), Layer(np.zeros((1, 4)), np.zeros(1))])
    with pytest.raises(ValueError, match="unknown activation"):
        Activation("softplus")


def _random_net(rng, widths, act):
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        last = i == len(widths) - 2
        layers.append(Layer(rng.normal(size=(b, a)), rng.normal(size=b), Activation("identity") if last else act))
    return Network(layers)


@pytest.mark.parametrize("act", [Activation("relu"), Activation("leaky_relu", Fraction(1, 8)), Activation("identity")])
def test_exact_and_float_evaluators_agree(act):
    rng = np.random.default_rng(0)
    net = _random_net(rng, [3, 5, 4, 2], act)
    for _ in range(20):
        x = rng.normal(size=3)
        exact = evaluate(net, x)
        np.testing.assert_allclose([float(v) for v in exact], evaluate_float(net, x), rtol=1e-12, atol=1e-12)


def test_exact_evaluator_is_exact():
    net = Network([Layer([[1, 1]], [0], Activation("identity"))])
    # 0.1 + 0.2 in exact arithmetic of the float values, not the float sum 0.30000000000000004
    assert evaluate(net, [0.1, 0.2]) == [Fraction(0.1) + Fraction(0.2)]


def test_shape_str_and_params():
    net = _random_net(np.random.default_rng(1), [5, 50, 50, 50, 5], Activation("relu"))
    assert net.shape_str() == "5-50x3-5"
    assert net.param_count == 5 * 50 + 50 + 2 * (50 * 50 + 50) + 50 * 5 + 5


def test_fold_normalization_exact():
    rng = np.random.default_rng(2)
    net = _random_net(rng, [2, 3, 1], Activation("relu"))
    norm = Normalization(
        input_mean=(Fraction(1, 3), Fraction(-2)),
        input_range=(Fraction(7, 5), Fraction(3)),
        output_mean=(Fraction(15, 2),),
        output_range=(Fraction(373, 10),),
    )
    net.normalization = norm
    folded = fold_normalization(net)
    assert folded.normalization is None
    for raw in ([Fraction(1), Fraction(2)], [Fraction(-5, 7), Fraction(1, 9)]):
        normed = [(x - m) / r for x, m, r in zip(raw, norm.input_mean, norm.input_range)]
        y = evaluate(layers_only(net), normed)[0] * norm.output_range[0] + norm.output_mean[0]
        assert evaluate(folded, raw) == [y] == evaluate(net, raw)


def test_finite_skips_only_the_finiteness_pass_and_is_not_kept():
    """Layer(..., finite=True) (the reducer's quotient, finite by construction) still checks shapes and makes the
    arrays read-only; `replace` builds a Layer that is checked again (the flag is an InitVar, not a field)."""
    from dataclasses import fields, replace

    w, b = np.ones((2, 3)), np.zeros(2)
    layer = Layer(w, b, finite=True)
    assert not layer.stored_weight.flags.writeable and "finite" not in {f.name for f in fields(Layer)}
    with pytest.raises(ValueError, match="bias shape"):
        Layer(np.ones((2, 3)), np.zeros(3), finite=True)
    with pytest.raises(ValueError, match="NaN or Inf"):
        replace(layer, stored_weight=np.array([[1.0, np.inf, 0.0], [0.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="NaN or Inf"):
        Layer(np.array([[np.nan]], dtype=np.float32), np.zeros(1, dtype=np.float32))
