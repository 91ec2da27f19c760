"""Approximate lumping: the certified ε really bounds the deviation, T = 0 is exact lumping, merges are admissible."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.epsilon.approx import approximate_reduce, certified_deviation, export_approx, sampled_deviation
from lumpcheck.errors import LumpcheckError
from lumpcheck.io import load_model
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.exact import exact_equal
from lumpcheck.ir.network import Layer, Network, evaluate, evaluate_symbolic
from lumpcheck.ir.normalization import Normalization
from lumpcheck.ir.relation import LayerRelation, NeuronMap, Relation
from lumpcheck.reduction.lumping import merge_allowed, reduce

from strategies import ACTIVATIONS, planted_networks, rational_inputs

RELU = Activation("relu")


def box(n: int, radius: Fraction = Fraction(1), centre: Fraction = Fraction(0)) -> Box:
    return Box((centre - radius,) * n, (centre + radius,) * n)


def near_copies(seed: int, activation: Activation, widths: list[int], noise: float, outputs: int = 2) -> Network:
    """Random float32 MLP whose hidden rows are, half of them, noisy multiples c·row + noise of earlier rows
    (c = ±1 for sigmoid/tanh, positive otherwise): material for approximate merges."""
    rng = np.random.default_rng(seed)
    f32 = lambda a: np.asarray(a, dtype=np.float32).astype(np.float64)  # noqa: E731
    layers, fan_in = [], widths[0]
    for n in widths[1:]:
        w, b = f32(rng.standard_normal((n, fan_in))), f32(rng.standard_normal(n))
        for i in range(n // 2, n):
            base = int(rng.integers(n // 2)) if n > 1 else 0
            c = rng.choice([-1.0, 1.0]) if activation.kind in ("sigmoid", "tanh") else rng.uniform(0.5, 2)
            w[i] = f32(c * w[base] + noise * rng.standard_normal(fan_in))
            b[i] = f32(c * b[base] + noise * rng.standard_normal())
        layers.append(Layer(w, b, activation))
        fan_in = n
    layers.append(Layer(f32(rng.standard_normal((outputs, fan_in))), f32(rng.standard_normal(outputs)), IDENTITY))
    return Network(layers)


# ---------------------------------------------------------------- T = 0 is exact lumping


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(planted_networks())
def test_zero_tolerance_gives_exact_lumping(plan) -> None:
    net = plan.net
    approx = approximate_reduce(net, box(net.input_size, Fraction(2)), 0, samples=200)
    exact = reduce(net)
    assert approx.partition == exact.partition
    assert approx.epsilon == 0 and approx.measured == 0
    assert approx.kept == exact.network.widths[1:-1]
    for a, b in zip(approx.network.layers, exact.network.layers):
        assert exact_equal(a.weight, b.weight) and exact_equal(a.bias, b.bias)


# ---------------------------------------------------------------- the certified bound holds


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    activation=st.sampled_from(ACTIVATIONS),
    widths=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    noise=st.sampled_from([0.0, 1e-3, 0.05, 0.3]),
    tolerance=st.floats(0, 1.5),
    radius=st.fractions(Fraction(1, 8), 3),
)
def test_measured_deviation_never_exceeds_certified_epsilon(seed, activation, widths, noise, tolerance, radius) -> None:
    net = near_copies(seed, activation, widths, noise)
    domain = box(net.input_size, radius, Fraction(1, 3))
    approx = approximate_reduce(net, domain, tolerance, samples=300, seed=seed % 1000)
    assert 0 <= approx.measured <= approx.epsilon
    exact_classes = reduce(net).partition
    for exact_layer, approx_layer in zip(exact_classes, approx.partition):  # approximate classes coarsen exact ones
        owner = {r: k for k, members in enumerate(approx_layer) for r in members}
        assert all(len({owner[r] for r in members}) == 1 for members in exact_layer)
    for layer, lr in zip(approx.exact.network.layers, approx.relation.layers):
        assert all(merge_allowed(layer.activation, m.factor) for m in lr.maps)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), x=rational_inputs(3), tolerance=st.floats(0.05, 1.2))
def test_exact_deviation_at_rational_points_within_epsilon(seed, x, tolerance) -> None:
    activation = [RELU, Activation("leaky_relu", Fraction(1, 8)), IDENTITY][seed % 3]
    net = near_copies(seed, activation, [3, 6, 5], 0.05)
    domain = Box((Fraction(-4),) * 3, (Fraction(4),) * 3)
    approx = approximate_reduce(net, domain, tolerance, samples=0)
    deviation = max(abs(p - q) for p, q in zip(evaluate(net, x), evaluate(approx.network, x)))
    assert deviation <= approx.epsilon


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), x=rational_inputs(3), tolerance=st.floats(0.05, 1.2))
def test_a_models_normalisation_is_part_of_its_certified_deviation(seed, x, tolerance) -> None:
    """The box is the MODEL's: clipped (partly outside the clip range here) and normalised before the chain, the
    outputs mapped by out(y) = y·r + m. Kills: merging on the chain as if the box were its input (ε 9e-8 against
    a true deviation of 6.8 once, on a model whose inputs are scaled by 100), and ε not scaled by |r|."""
    activation = [RELU, Activation("tanh"), IDENTITY][seed % 3]
    norm = Normalization((Fraction(1), Fraction(-2), Fraction(0)), (Fraction(1, 8), Fraction(3), Fraction(1, 2)),
                         (Fraction(5),), (Fraction(-7, 2),), (Fraction(-3),) * 3, (Fraction(2), Fraction(3), Fraction(9)))
    net = replace(near_copies(seed, activation, [3, 6, 5], 0.05), normalization=norm)
    domain = Box((Fraction(-4),) * 3, (Fraction(4),) * 3)
    approx = approximate_reduce(net, domain, tolerance, samples=50, seed=seed % 7)
    assert approx.network.normalization == norm
    point = [min(max(v, Fraction(-4)), Fraction(4)) for v in x]
    exact, reduced = evaluate_symbolic(net, point), evaluate_symbolic(approx.network, point)
    deviation = max(abs(Fraction(str((p - q).evalf(40)))) for p, q in zip(exact, reduced))
    assert deviation <= approx.epsilon * (1 + Fraction(1, 10**30)) + Fraction(1, 10**30)
    assert approx.measured <= approx.epsilon


def test_one_perturbed_copy_gets_the_one_layer_bound() -> None:
    """4-3-2 ReLU net, neuron 2 = 2·neuron 0 plus δ on one weight: only they merge, and ε is the analytic bound
    max_t |W2[t, 2]|·|(a(2) − c·a(0))·(x, 1)| over [-1, 1]^4 (the centre's own error is 0)."""
    rng = np.random.default_rng(5)
    w1 = rng.standard_normal((3, 4)).astype(np.float32).astype(np.float64)
    b1 = rng.standard_normal(3).astype(np.float32).astype(np.float64)
    delta = 2.0**-8
    w1[2], b1[2] = 2 * w1[0], 2 * b1[0]
    w1[2, 1] += delta
    w2 = rng.standard_normal((2, 3)).astype(np.float32).astype(np.float64)
    net = Network([Layer(w1, b1, RELU), Layer(w2, np.zeros(2))])
    approx = approximate_reduce(net, box(4), 0.01, samples=2000)
    assert approx.partition == [[[0, 2], [1]]]
    c = approx.relation.layers[0].maps[2].factor
    d = [Fraction(p) - c * Fraction(q) for p, q in zip([*w1[2], b1[2]], [*w1[0], b1[0]])]
    analytic = max(abs(Fraction(w)) for w in w2[:, 2]) * sum(abs(v) for v in d)
    assert 0 < approx.measured <= approx.epsilon <= analytic * (1 + Fraction(1, 10**12))
    below = approximate_reduce(net, box(4), 1e-6, samples=10)  # the pair's distance is about 1e-3
    assert below.kept == [3] and below.epsilon == 0


def test_negated_sigmoid_merge_uses_the_reflection() -> None:
    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((2, 3)).astype(np.float32).astype(np.float64)
    b1 = rng.standard_normal(2).astype(np.float32).astype(np.float64)
    w1[1], b1[1] = -w1[0], -b1[0]
    w1[1, 0] += 2.0**-10
    net = Network([Layer(w1, b1, Activation("sigmoid")), Layer(np.array([[1.0, 1.0]]), np.zeros(1))])
    approx = approximate_reduce(net, box(3), 0.01, samples=1000)
    m = approx.relation.layers[0].maps[1]
    assert (m.factor, m.offset, m.reason) == (-1, 1, "negated")  # σ(−z) = 1 − σ(z)
    # y = σ(z0) + σ(z1) ≈ σ(z0) + 1 − σ(z0) = 1: the reduced output is constant, off by at most |Δw|·|x|/4
    assert approx.measured <= approx.epsilon <= Fraction(2**-10) / 4 * (1 + Fraction(1, 10**12))


def test_confirmation_by_verify_never_contradicts_epsilon() -> None:
    net = near_copies(11, RELU, [2, 4, 3], 0.05, outputs=1)
    approx = approximate_reduce(net, box(2), 0.5, samples=500, confirm_timeout=20)
    assert sum(approx.kept) < 7 and approx.epsilon > 0
    assert approx.confirmation is not None
    assert approx.confirmation.status in ("unsat", "unknown", "timeout"), approx.confirmation.message


def test_export_adds_the_rounding_error_to_epsilon(tmp_path) -> None:
    net = near_copies(3, RELU, [3, 6, 5], 0.05)
    approx = approximate_reduce(net, box(3), 0.6, samples=0)
    assert approx.epsilon > 0
    report, file_eps = export_approx(approx, tmp_path / "a.onnx", "float32")
    written = load_model(tmp_path / "a.onnx")
    assert report.rounded > 0 and file_eps > approx.epsilon  # summed outgoing weights c·w are not float32 values
    assert sampled_deviation(net, written, box(3), 500) <= file_eps
    report, nnet_eps = export_approx(approx, tmp_path / "a.nnet")  # exact decimals: nothing rounded
    assert report is None and nnet_eps == approx.epsilon
    assert all(exact_equal(a.weight, b.weight) for a, b in zip(load_model(tmp_path / "a.nnet").layers, approx.network.layers))


# ---------------------------------------------------------------- refusals and helpers


def test_certified_deviation_refuses_inadmissible_maps() -> None:
    w = np.array([[1.0, 0.0], [-1.0, 0.0]])
    net = Network([Layer(w, np.zeros(2), RELU), Layer(np.ones((1, 2)), np.zeros(1))])
    reduced = Network([Layer(w[:1], np.zeros(1), RELU), Layer(np.ones((1, 1)), np.zeros(1))])
    negative = LayerRelation([NeuronMap(((0, Fraction(1)),)), NeuronMap(((0, Fraction(-1)),), reason="proportional")], 1)
    with pytest.raises(LumpcheckError, match="not admissible"):
        certified_deviation(net, Relation([negative]), reduced, box(2))
    constant = LayerRelation([NeuronMap(((0, Fraction(1)),)), NeuronMap((), Fraction(0), "constant")], 1)
    with pytest.raises(LumpcheckError, match="one term per neuron"):
        certified_deviation(net, Relation([constant]), reduced, box(2))


def test_bad_tolerance_or_box() -> None:
    net = near_copies(0, RELU, [2, 3], 0.1)
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(LumpcheckError, match="tolerance"):
            approximate_reduce(net, box(2), bad)
    with pytest.raises(LumpcheckError, match="box has 3 inputs"):
        approximate_reduce(net, box(3), 0.1)


def test_sampled_deviation_is_a_lower_bound_of_a_known_gap() -> None:
    """Two identity nets differing by exactly 1/3 in the bias: every sample's certified gap is just below 1/3."""
    a = Network([Layer(np.array([[1.0, 2.0]]), np.array([0.0]))])
    b = Network([Layer(np.array([[1.0, 2.0]]), np.array([Fraction(1, 3)], dtype=object))])
    gap = sampled_deviation(a, b, box(2), 100)
    assert Fraction(gap) <= Fraction(1, 3) and gap > 1 / 3 - 1e-12
