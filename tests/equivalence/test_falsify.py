"""Falsification: exact replay decides (Fractions / rigorous enclosures), float hits that do not replay are dropped."""

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.equivalence.falsify import Enclosure, decide, exact_outputs, falsify, maximal_set, replay
from lumpcheck.equivalence.mode import STRICT, TOP1, epsilon_mode
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate, evaluate_symbolic
from lumpcheck.ir.normalization import Normalization

F = Fraction
RELU = Activation("relu")


def _net(rng, widths, act=RELU):
    return Network(
        [
            Layer(rng.normal(size=(b, a)), rng.normal(size=b), Activation("identity") if i == len(widths) - 2 else act)
            for i, (a, b) in enumerate(zip(widths, widths[1:]))
        ]
    )


def _box(n, lo=F(-1), hi=F(1)):
    return Box((lo,) * n, (hi,) * n)


def test_decide_strict_and_epsilon_exact():
    assert decide(STRICT, [F(1), F(2)], [F(1), F(2)]) is False
    assert decide(STRICT, [F(1), F(2)], [F(1), F(2) + F(1, 10**30)]) is True
    assert decide(epsilon_mode(F(1, 10)), [F(0)], [F(1, 10)]) is False  # |Δ| = ε is allowed
    assert decide(epsilon_mode(F(1, 10)), [F(0)], [F(1, 10) + F(1, 10**20)]) is True


def test_top1_compares_sets_of_maximal_outputs():
    assert maximal_set([F(1), F(3), F(3)]) == {1, 2}
    assert decide(TOP1, [F(1), F(3)], [F(5), F(7)]) is False  # same argmax, different values
    assert decide(TOP1, [F(3), F(3)], [F(3), F(3) + F(1, 10**9)]) is True  # tie vs unique maximum
    assert decide(TOP1, [F(3), F(3), F(0)], [F(1), F(1), F(0)]) is False  # the same tie
    assert decide(TOP1, [F(2), F(1)], [F(1), F(2)]) is True


def test_enclosures_decide_only_when_separated():
    wide = Enclosure(F(0), F(1))
    assert decide(STRICT, [wide], [F(2)]) is True
    assert decide(STRICT, [wide], [F(1, 2)]) is None
    assert decide(epsilon_mode(F(2)), [wide], [F(1, 2)]) is False  # |Δ| <= 1 <= 2 for every enclosed value
    assert decide(TOP1, [Enclosure(F(2), F(3)), wide], [F(0), F(5)]) is True
    assert decide(TOP1, [Enclosure(F(0), F(3)), wide], [F(0), F(5)]) is None


NORMALIZED = Normalization((F(1, 2), F(-3), F(0)), (F(1, 4), F(2), F(-3)), (F(7),), (F(-5, 2),),
                           (F(-1), F(-2), F(-3)), (F(2), F(1, 3), F(3)))
"""Clip ranges that some sampled inputs pass, means, a negative range, an output map (evaluate_symbolic applies
it independently)."""


@pytest.mark.parametrize("norm", [None, NORMALIZED])
@pytest.mark.parametrize("kind", ["tanh", "sigmoid"])
@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(-50, 50), min_size=3, max_size=3))
def test_enclosure_contains_symbolic_value(kind, norm, xs):
    """Kills: the enclosure run on the bare layer chain (a tanh model with Sub/Div once replayed a rounded witness
    without its normalisation and reported a point where A = B as a counterexample)."""
    net = replace(_net(np.random.default_rng(3), [3, 4, 4, 2], Activation(kind)), normalization=norm)
    x = [F(v, 16) for v in xs]
    for enc, sym in zip(exact_outputs(net, x), evaluate_symbolic(net, x)):
        assert isinstance(enc, Enclosure) and enc.hi - enc.lo < F(1, 2**200)
        value = F(str(sym.evalf(80)))  # 80 digits: far inside the enclosure's 2^-200 width margin
        assert enc.lo - F(1, 10**70) <= value <= enc.hi + F(1, 10**70)


def test_piecewise_linear_outputs_are_exact():
    net = _net(np.random.default_rng(4), [3, 5, 2], Activation("leaky_relu", F(1, 8)))
    x = [F(1, 3), F(-2, 7), F(5)]
    assert exact_outputs(net, x) == tuple(evaluate(net, x))


def _float_noise_pair() -> tuple[Network, Network]:
    """a: 0.1·relu(x) + 0.2·relu(x); b: (0.1 + 0.2, exactly)·relu(x). Equal exactly, not in float arithmetic."""
    a = Network([Layer(np.ones((2, 1)), np.zeros(2), RELU), Layer(np.array([[0.1, 0.2]]), np.zeros(1))])
    b = Network(
        [
            Layer(np.ones((1, 1)), np.zeros(1), RELU),
            Layer(np.array([[F(0.1) + F(0.2)]], dtype=object), np.zeros(1)),
        ]
    )
    return a, b


def test_float_hits_that_do_not_replay_are_discarded():
    a, b = _float_noise_pair()
    out = falsify(a, b, _box(1, F(0), F(100)), STRICT, 5.0)
    assert out.counterexample is None
    assert out.best_score > 0  # floats did see a difference ...
    assert out.discarded  # ... which the exact replay refuted


def test_counterexample_is_exact_and_inside_a_non_dyadic_box():
    rng = np.random.default_rng(5)
    a = _net(rng, [2, 6, 2])
    b = Network([a.layers[0], Layer(a.layers[1].weight, a.layers[1].bias + 1e-3)])
    box = Box((F(1, 3), F(-1, 7)), (F(2, 3), F(1, 7)))
    rep = falsify(a, b, box, epsilon_mode(F(1, 10**6)), 5.0).counterexample
    assert rep is not None and rep.violated
    assert box.contains(rep.x)
    assert any(abs(p - q) > F(1, 10**6) for p, q in zip(evaluate(a, rep.x), evaluate(b, rep.x)))


def test_tanh_counterexample_is_proved_by_enclosures():
    rng = np.random.default_rng(6)
    a = _net(rng, [3, 5, 2], Activation("tanh"))
    w = a.layers[0].weight.copy()
    w[0, 0] = np.nextafter(w[0, 0], np.inf)  # one ulp: the outputs differ by ~1e-16, floats cannot tell
    b = Network([Layer(w, a.layers[0].bias, a.layers[0].activation), a.layers[1]])
    rep = falsify(a, b, _box(3), STRICT, 10.0, samples=64, local_iterations=0).counterexample
    assert rep is not None and rep.violated
    assert any(p.hi < q.lo or q.hi < p.lo for p, q in zip(rep.ya, rep.yb))
    assert replay(a, a, rep.x, STRICT).violated is None  # identical nets: enclosures never separate


def test_top1_falsification_finds_swapped_outputs():
    rng = np.random.default_rng(7)
    a = _net(rng, [2, 6, 3])
    w = a.layers[1].weight[[1, 0, 2]]
    b = Network([a.layers[0], Layer(w, a.layers[1].bias[[1, 0, 2]])])
    rep = falsify(a, b, _box(2, F(-5), F(5)), TOP1, 5.0).counterexample
    assert rep is not None
    assert maximal_set(evaluate(a, rep.x)) != maximal_set(evaluate(b, rep.x))


def test_no_box_searches_all_of_rn():
    rng = np.random.default_rng(8)
    a = _net(rng, [2, 4, 1])
    # b differs only where the input is huge: relu(x0 - 500) adds a term
    extra = Layer(np.vstack([a.layers[0].weight, [[1.0, 0.0]]]), np.append(a.layers[0].bias, -500.0), RELU)
    b = Network([extra, Layer(np.hstack([a.layers[1].weight, [[1.0]]]), a.layers[1].bias)])
    rep = falsify(a, b, None, STRICT, 5.0).counterexample
    assert rep is not None and rep.x[0] > 500


def test_smooth_pairs_replay_only_plausible_points():
    """A sigmoid pair whose float scores are all clearly negative (both nets decide class 0 with a wide margin) is
    not replayed in intervals (slow on large nets); a real difference is still found and replayed."""
    def net(bias: float) -> Network:
        return Network([Layer(np.array([[1.0, -1.0]]), np.array([0.0]), Activation("sigmoid")),
                        Layer(np.array([[1.0], [0.0]]), np.array([bias, 0.0]), IDENTITY)])

    box = Box((Fraction(-1), Fraction(-1)), (Fraction(1), Fraction(1)))
    calm = falsify(net(5.0), net(5.25), box, TOP1, 2.0)
    assert calm.counterexample is None and calm.replays == 0
    found = falsify(net(0.0), net(0.5), box, epsilon_mode(Fraction(1, 4)), 2.0)
    assert found.counterexample is not None and found.replays >= 1
