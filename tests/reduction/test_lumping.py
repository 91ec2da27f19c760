"""Unit tests of the exact lumping: each merge rule per activation, the refused ones, constants, dead neurons,
the four pitfalls of the paper's public implementation, float near-misses, and the public model zoo."""

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import sympy

from lumpcheck import evaluate, evaluate_symbolic, reduce
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.exact import as_fractions, exact_equal
from lumpcheck.ir.network import Layer, Network
from lumpcheck.ir.relation import Relation
from lumpcheck.reduction.lumping import merge_allowed, quotient

from strategies import canonical_outputs

RELU, TANH, SIGMOID, LINEAR = Activation("relu"), Activation("tanh"), Activation("sigmoid"), Activation("identity")
LEAKY = Activation("leaky_relu", Fraction(1, 100))
ALL = [LINEAR, RELU, LEAKY, Activation("leaky_relu", Fraction(-2)), SIGMOID, TANH]
ZOO = Path(__file__).parents[2].parent / "shared" / "zoo"
INPUTS = [[Fraction(1, 3), Fraction(-2)], [Fraction(5, 2), Fraction(7, 4)], [Fraction(0), Fraction(-1, 9)]]


def two_layer(first: np.ndarray, bias: np.ndarray, act: Activation, out: np.ndarray | None = None) -> Network:
    """2 inputs -> hidden (rows of `first`) -> outputs (default: 2 random-ish fixed rows)."""
    first, bias = np.asarray(first, dtype=np.float64), np.asarray(bias, dtype=np.float64)
    if out is None:
        out = np.arange(1, 2 * len(first) + 1, dtype=np.float64).reshape(2, len(first)) / 8 - 0.3
    return Network([Layer(first, bias, act), Layer(out, np.array([0.5, -0.25])[: len(out)], IDENTITY)])


def assert_same_function(a: Network, b: Network) -> None:
    for x in INPUTS:
        if a.piecewise_linear:
            assert evaluate(a, x) == evaluate(b, x)
        else:
            assert canonical_outputs(a, x) == canonical_outputs(b, x)


def maps(red, layer: int = 0):
    return red.relation.layers[layer].maps


BASE = [[0.5, -1.25], [0.75, 2.0], [-1.5, 0.375]]
BIAS = [0.25, -0.5, 1.0]


@pytest.mark.parametrize("act", ALL, ids=str)
def test_duplicates_merge_for_every_activation(act):
    net = two_layer(BASE + [BASE[1]], BIAS + [BIAS[1]], act)
    red = reduce(net)
    assert red.partition == [[[0], [1, 3], [2]]]
    assert maps(red)[3].reason == "duplicate" and maps(red)[3].factor == 1 and maps(red)[3].offset == 0
    assert red.network.widths == [2, 3, 2]
    assert_same_function(net, red.network)


@pytest.mark.parametrize("act", [LINEAR, RELU, LEAKY, Activation("leaky_relu", Fraction(5))], ids=str)
@pytest.mark.parametrize("c", [Fraction(2), Fraction(1, 4), Fraction(3), Fraction(3, 4)])
def test_positive_multiples_merge_for_homogeneous_activations(act, c):
    row = [x * float(c) for x in BASE[0]]
    net = two_layer([row] + BASE, [BIAS[0] * float(c)] + BIAS, act)
    red = reduce(net)
    assert red.partition == [[[0, 1], [2], [3]]]
    # neuron 0 is the representative (lowest index); neuron 1 = (1/c) * neuron 0
    assert maps(red)[1].reason == "proportional" and maps(red)[1].factor == 1 / c
    assert red.factors[0] == [1, 1 / c, 1, 1]
    assert_same_function(net, red.network)


@pytest.mark.parametrize("act", [RELU, LEAKY, Activation("leaky_relu", Fraction(-1, 2))], ids=str)
def test_negative_multiples_refused_for_relu_family(act):
    """Pitfall 2: ReLU(-z) != -ReLU(z); LeakyReLU likewise."""
    net = two_layer(BASE + [[-x for x in BASE[0]], [-2 * x for x in BASE[1]]], BIAS + [-BIAS[0], -2 * BIAS[1]], act)
    red = reduce(net)
    assert red.network.widths == [2, 5, 2]
    assert not merge_allowed(act, Fraction(-1)) and not merge_allowed(act, Fraction(-2))
    assert_same_function(net, red.network)


def test_identity_merges_negative_multiples():
    net = two_layer(BASE + [[-3 * x for x in BASE[2]]], BIAS + [-3 * BIAS[2]], LINEAR)
    red = reduce(net)
    assert maps(red)[3].terms == ((2, Fraction(-3)),) and maps(red)[3].reason == "proportional"
    assert_same_function(net, red.network)


def test_tanh_negation_merges_with_factor_minus_one():
    net = two_layer(BASE + [[-x for x in BASE[0]]], BIAS + [-BIAS[0]], TANH)
    m = maps(reduce(net))[3]
    assert (m.terms, m.offset, m.reason) == (((0, Fraction(-1)),), 0, "negated")
    assert_same_function(net, reduce(net).network)


def test_sigmoid_negation_is_affine_with_offset_one():
    """sigmoid(-z) = 1 - sigmoid(z): factor -1, offset 1 (the 1 goes into the next bias); proved with sympy."""
    net = two_layer(BASE + [[-x for x in BASE[0]]], BIAS + [-BIAS[0]], SIGMOID)
    red = reduce(net)
    m = maps(red)[3]
    assert (m.terms, m.offset, m.reason) == (((0, Fraction(-1)),), 1, "negated")
    x = [Fraction(1, 3), Fraction(-2)]
    for o1, o2 in zip(evaluate_symbolic(net, x), evaluate_symbolic(red.network, x)):
        assert sympy.simplify(o1 - o2) == 0


@pytest.mark.parametrize("act", [TANH, SIGMOID], ids=str)
@pytest.mark.parametrize("c", [2.0, 0.5, -2.0, 3.0])
def test_odd_activations_refuse_other_multiples(act, c):
    """tanh(c·z) != c·tanh(z) for |c| != 1 (the theory doc's 'negative multiples for odd σ' is wrong)."""
    net = two_layer(BASE + [[c * x for x in BASE[0]]], BIAS + [c * BIAS[0]], act)
    red = reduce(net)
    assert red.network.widths == [2, 4, 2] and not merge_allowed(act, Fraction(c))
    assert_same_function(net, red.network)


@pytest.mark.parametrize(
    ("act", "bias", "value"),
    [
        (RELU, 0.75, Fraction(3, 4)),
        (RELU, -0.75, Fraction(0)),
        (LEAKY, -2.0, Fraction(-1, 50)),
        (LINEAR, -1.5, Fraction(-3, 2)),
        (SIGMOID, 0.0, Fraction(1, 2)),
        (TANH, 0.0, Fraction(0)),
    ],
    ids=str,
)
def test_rational_constants_fold_into_next_bias(act, bias, value):
    net = two_layer(BASE + [[0.0, 0.0]], BIAS + [bias], act)
    red = reduce(net)
    m = maps(red)[3]
    assert (m.terms, m.offset, m.reason) == ((), value, "constant")
    assert red.network.widths == [2, 3, 2]
    out, bias = as_fractions(net.layers[1].weight)[:, 3], as_fractions(net.layers[1].bias)
    assert list(as_fractions(red.network.layers[1].bias)) == [b + value * w for b, w in zip(bias, out)]
    assert_same_function(net, red.network)
    kept = reduce(net, fold_constants=False)
    assert kept.network.widths == [2, 4, 2] and "constant" not in kept.relation.layers[0].reason_counts()


@pytest.mark.parametrize("act", [SIGMOID, TANH], ids=str)
def test_irrational_constants_stay_but_still_merge(act):
    """sigmoid(1), tanh(1) are irrational: kept as neurons, yet equal/negated ones merge."""
    net = two_layer(BASE + [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]], BIAS + [1.0, 1.0, -1.0], act)
    red = reduce(net)
    reasons = [m.reason for m in maps(red)[3:]]
    assert reasons == ["kept", "duplicate", "negated"] and red.network.widths == [2, 4, 2]
    assert_same_function(net, red.network)


def test_dead_neurons_removed_backwards():
    """Neuron 1 of layer 2 has zero outgoing weights; neuron 2 of layer 1 feeds only it: both die."""
    w1 = np.array([[1.0, 0.5], [-0.5, 2.0], [0.25, -1.0]])
    w2 = np.array([[1.0, -2.0, 0.0], [0.5, 0.0, 3.0], [-1.0, 1.0, 0.0]])
    w3 = np.array([[1.0, 0.0, 2.0], [0.5, 0.0, -1.0]])
    net = Network([Layer(w1, np.zeros(3), RELU), Layer(w2, np.ones(3), RELU), Layer(w3, np.zeros(2))])
    red = reduce(net)
    assert [m.reason for m in maps(red, 1)] == ["kept", "dead", "kept"]
    assert [m.reason for m in maps(red, 0)] == ["kept", "kept", "dead"]
    assert red.network.widths == [2, 2, 2, 2]
    # each removed neuron is a singleton ghost class (index past the reduced width), its own representative
    assert [(lr.reduced_width, lr.ghosts) for lr in red.relation.layers] == [(2, 1), (2, 1)]
    assert maps(red, 0)[2].terms == maps(red, 1)[1].terms == ((2, 1),)
    assert [lr.ghost_representatives() for lr in red.relation.layers] == [[2], [1]]
    assert_same_function(net, red.network)
    assert reduce(net, remove_dead=False).network.widths == net.widths


def test_class_whose_summed_outgoing_weights_cancel_is_dead():
    out = np.array([[1.0, 2.0, 3.0, -1.0], [0.5, 1.0, 1.0, -0.5]])
    net = two_layer(BASE + [BASE[0]], BIAS + [BIAS[0]], RELU, out=out)
    red = reduce(net)
    assert [m.reason for m in maps(red)] == ["dead", "kept", "kept", "dead"]
    assert maps(red)[0].terms == maps(red)[3].terms == ((2, 1),)  # one ghost class of two, not two singletons
    assert red.relation.layers[0].ghosts == 1 and red.partition == [[[1], [2]]]
    assert red.stats.layers[0].reasons == {"dead": 2, "kept": 2}
    assert_same_function(net, red.network)


def test_dead_negated_sigmoid_class_keeps_its_offset():
    """v3 = 1 - v0 with equal outgoing weights: the class sums to zero but w·1 must stay in the next bias."""
    out = np.array([[0.75, 1.0, 1.0, 0.75], [-0.5, 0.0, 1.0, -0.5]])
    net = two_layer(BASE + [[-x for x in BASE[0]]], BIAS + [-BIAS[0]], SIGMOID, out=out)
    red = reduce(net)
    assert [(m.reason, m.offset) for m in maps(red)] == [("dead", 0), ("kept", 0), ("kept", 0), ("dead", 1)]
    assert maps(red)[3].terms == ((2, -1),)  # v3 = 1 - g, g = v0
    assert list(as_fractions(red.network.layers[1].bias)) == [Fraction(5, 4), Fraction(-3, 4)]  # b + w·1
    assert_same_function(net, red.network)
    rebuilt = quotient(net, red.relation)
    for a, b in zip(rebuilt.layers, red.network.layers):
        assert exact_equal(a.weight, b.weight) and exact_equal(a.bias, b.bias)


def test_outgoing_weights_use_the_factor_in_the_right_direction():
    """Pitfall 1: v1 = 2·v0, so the merged weight is W0 + 2·W1 = 1 + 2·5 = 11 (not 1 + 5/2)."""
    w1 = np.array([[1.0, -0.5], [2.0, -1.0]])
    net = Network([Layer(w1, np.array([0.25, 0.5]), RELU), Layer(np.array([[1.0, 5.0]]), np.zeros(1))])
    red = reduce(net)
    assert red.factors == [[1, 2]]
    assert as_fractions(red.network.layers[1].weight)[0, 0] == 11
    assert_same_function(net, red.network)


def test_chained_merges_need_factor_scaled_sums():
    """Pitfall 3: after v1 = 2·v0, layer-2 rows (1, 1, 1) and (3, 0, 1) both aggregate to (3, 1) and merge,
    while (1, 1, 1) and (2, 0, 1) -- equal under plain unscaled sums, (2, 1) -- aggregate to (3, 1) and (2, 1)."""
    w1 = np.array([[1.0, -0.5], [2.0, -1.0], [0.25, 1.0]])
    w2 = np.array([[1.0, 1.0, 1.0], [3.0, 0.0, 1.0], [1.0, 1.0, 1.0], [2.0, 0.0, 1.0]])
    b2 = np.array([0.5, 0.5, 0.0, 0.0])
    w3 = np.array([[1.0, 2.0, 3.0, 4.0]])
    net = Network([Layer(w1, np.zeros(3), RELU), Layer(w2, b2, RELU), Layer(w3, np.zeros(1))])
    red = reduce(net)
    assert red.partition == [[[0, 1], [2]], [[0, 1], [2], [3]]]
    assert_same_function(net, red.network)


def test_zero_bias_and_late_pivot_proportionality():
    """Pitfall 4: no ratio of biases (b = 0 is fine); a pivot after leading zeros; rows equal but for the bias."""
    first = [[0.0, 0.5], [0.0, 1.5], [1.0, 2.0], [1.0, 2.0]]
    net = two_layer(first, [0.0, 0.0, 0.0, 1.0], RELU, out=np.ones((2, 4)))
    red = reduce(net)
    assert red.partition == [[[0, 1], [2], [3]]] and red.factors[0][1] == 3
    assert_same_function(net, red.network)


def test_one_ulp_near_miss_is_not_merged():
    row = np.array([0.1, 0.7])
    twin = row.copy()
    twin[1] = np.nextafter(twin[1], 1.0)
    net = two_layer([row, twin], [0.3, 0.3], RELU)
    assert reduce(net).network.widths == [2, 2, 2]


def test_hash_collision_from_rounding_is_rejected_exactly():
    """a = (3, y), a' = (6, y') with fl(y'/6) == fl(y/3) but y' != 2y: normalised floats agree, exact check refuses."""
    rng = np.random.default_rng(7)
    for _ in range(10_000):
        y = rng.standard_normal()
        y2 = np.nextafter(2 * y, np.inf)
        if y2 / 6 == y / 3:
            break
    else:
        pytest.fail("no colliding pair found")
    net = two_layer([[3.0, y], [6.0, y2], [6.0, 2 * y]], [0.0, 0.0, 0.0], RELU)
    red = reduce(net)
    assert red.partition == [[[0, 2], [1]]] and red.factors[0][2] == 2
    assert_same_function(net, red.network)


def test_rows_alike_on_the_sampled_columns_are_regrouped_on_whole_rows():
    """Rows of 100 weights are first keyed on sampled columns (lumping.SAMPLED_COLUMNS): neuron 1 differs from
    neuron 0 only in column 2, which is not sampled, so both share a first key with 2 = 2·(1) and 3 = (0)/2. The
    group's head 0 refuses 1 and 2; regrouped on whole rows they merge, with 1 (not 0) as their representative."""
    from lumpcheck.reduction.lumping import SAMPLED_COLUMNS

    m = 100
    sample = set(np.linspace(0, m, SAMPLED_COLUMNS + 1).astype(int).tolist())
    assert 2 not in sample
    rng = np.random.default_rng(11)
    u = rng.standard_normal(m).astype(np.float32).astype(np.float64)
    v = u.copy()
    v[2] += 1.0
    first = np.array([u, v, 2 * v, u / 2, rng.standard_normal(m)])
    net = Network([Layer(first, np.zeros(5), RELU), Layer(rng.standard_normal((2, 5)), np.zeros(2), IDENTITY)])
    red = reduce(net)
    assert red.partition == [[[0, 3], [1, 2], [4]]]
    assert red.factors[0] == [1, 1, 2, Fraction(1, 2), 1]
    x = [Fraction(float(t)) for t in rng.standard_normal(m)]
    assert evaluate(net, x) == evaluate(red.network, x)


def test_layers_without_merges_keep_their_weights_when_the_aggregation_buffer_is_reused():
    """Hidden layers 1 and 3 have a 2x copy, layer 2 none: layer 2's aggregated weights are kept as they are, so
    they must be copied out of the buffer that layer 4's aggregation reuses (aggregate.Scratch)."""
    rng = np.random.default_rng(13)
    widths = [3, 4, 3, 4, 3, 2]
    layers = []
    for k in range(5):
        w = rng.standard_normal((widths[k + 1], widths[k])).astype(np.float32)
        b = rng.standard_normal(widths[k + 1]).astype(np.float32)
        if k in (0, 2):
            w[1], b[1] = 2 * w[0], 2 * b[0]
        layers.append(Layer(w, b, RELU if k < 4 else IDENTITY))
    net = Network(layers)
    red = reduce(net)
    assert red.network.widths == [3, 3, 3, 3, 3, 2]
    for x in ([Fraction(1, 3), -2, Fraction(5, 4)], [2, Fraction(1, 7), -1], [0, 1, 1]):
        assert evaluate(net, x) == evaluate(red.network, x)


def test_factor_three_merges_only_when_exactly_proportional():
    rng = np.random.default_rng(3)
    exact_row = rng.standard_normal(2).astype(np.float32).astype(np.float64)  # 24-bit significands: 3·w exact
    full_row = np.array([0.1, 1 / 3])  # 53-bit significands: 3·w rounds
    assert any(Fraction(3 * w) != 3 * Fraction(w) for w in full_row)
    net = two_layer([exact_row, 3 * exact_row, full_row, 3 * full_row], [0.0, 0.0, 0.5, 1.5], RELU, out=np.ones((2, 4)))
    red = reduce(net)
    assert red.partition == [[[0, 1], [2], [3]]] and red.factors[0][1] == 3
    assert_same_function(net, red.network)


@pytest.mark.parametrize("c", [-1.0, -3.0])
def test_a_merge_by_a_factor_sigma_refuses_is_an_internal_error(monkeypatch, c):
    """The compiled grouping proves proportionality and is told which factors σ admits; every distinct factor it
    merged by is checked against σ again (exact float ratio -1, or -3 as a Fraction of the pivots): a kernel that
    merged v1 = c·v0 under ReLU (a bug) makes reduce raise, never merge."""
    import lumpcheck.reduction.lumping as lumping

    net = two_layer([[1.0, 2.0], [c, 2 * c]], [0.0, 0.0], RELU)
    real = lumping.fastpath.classes
    monkeypatch.setattr(lumping.fastpath, "classes", lambda a, b, rows, mode, admit, cols=None:
                        real(a, b, rows, "any", "any", cols))
    with pytest.raises(RuntimeError, match=f"factor {int(c)} proposed for relu"):
        reduce(net)


def test_more_distinct_float_factors_than_the_grouping_codes_are_divided_exactly():
    """A neuron and its multiples by 2^k for more distinct k than `fastpath.classes` codes (RATIOS): every factor is
    exact (the later ones from the pivots as Fractions), with the same function."""
    from lumpcheck.ir import fastpath

    ks = list(range(fastpath.RATIOS + 3, -3, -1))
    first = np.array([[1.0, -3.0]] + [[2.0**k, -3.0 * 2.0**k] for k in ks])
    out = np.vstack([np.linspace(-1, 1, len(first)), np.linspace(0.5, -0.25, len(first))])
    net = two_layer(first, np.zeros(len(first)), RELU, out=out)
    red = reduce(net)
    assert red.partition == [[list(range(len(first)))]]
    assert red.factors == [[Fraction(1)] + [Fraction(2) ** k for k in ks]]
    assert_same_function(net, red.network)


def test_non_float_aggregates_fall_back_to_fractions():
    """v1 = v0 / 3: merged weights W0 + W1/3 are no floats, so the quotient is exact Fractions."""
    w1 = np.array([[3.0, -1.5], [1.0, -0.5]])
    net = Network([Layer(w1, np.array([0.75, 0.25]), RELU), Layer(np.array([[1.0, 1.0], [0.5, -0.25]]), np.zeros(2))])
    red = reduce(net)
    assert red.factors == [[1, Fraction(1, 3)]]
    assert red.network.layers[1].weight.dtype == object
    assert list(red.network.layers[1].weight[:, 0]) == [Fraction(4, 3), Fraction(5, 12)]
    assert_same_function(net, red.network)


def test_inexact_float_sums_are_repaired_exactly():
    """Duplicates whose outgoing weights 2**60 and 1 do not sum to a float: the merged weight is exact."""
    net = two_layer([[1.0, 2.0], [1.0, 2.0]], [0.0, 0.0], RELU, out=np.array([[2.0**60, 1.0], [0.5, 0.25]]))
    red = reduce(net)
    assert red.network.layers[1].weight[0, 0] == Fraction(2**60 + 1)
    assert_same_function(net, red.network)


def test_float32_sums_near_miss_in_a_row_group_is_repaired():
    """float32 weights, aggregated four rows at a time (ir/fastpath.aggregate): a row whose merged sum is a 1-ulp near
    miss of a float (2^24 - 1 plus 2^-30·(2^24 - 1): 54 bits) among rows whose sums are exact is caught and
    repaired exactly, the others keep their float sums; merges by 2^k factors included."""
    rng = np.random.default_rng(5)
    first = np.array([[0.5, -1.25], [1.0, -2.5], [0.75, 2.0]])  # neuron 1 = 2 · neuron 0
    out = rng.standard_normal((40, 3)).astype(np.float32)
    out[7, :2] = [2.0**24 - 1, np.ldexp(2.0**24 - 1, -31)]  # times the factor 2: 2^-30·(2^24 - 1)
    net = Network([Layer(first.astype(np.float32), np.zeros(3, dtype=np.float32), RELU),
                   Layer(out, np.zeros(40, dtype=np.float32), IDENTITY)])
    red = reduce(net)
    assert red.partition == [[[0, 1], [2]]] and red.factors[0][1] == 2
    merged = red.network.layers[1].weight
    for s in range(40):
        assert Fraction(merged[s, 0]) == Fraction(float(out[s, 0])) + 2 * Fraction(float(out[s, 1]))
    assert Fraction(float(out[7, 0]) + 2 * float(out[7, 1])) != Fraction(merged[7, 0])  # the float sum rounds
    assert_same_function(net, red.network)


def test_extreme_magnitudes_decided_exactly():
    """Rows beyond the error-free product range (2**900, 2**-900) are compared as Fractions."""
    row = np.array([2.0**900 * 1.25, 2.0**-900 * 1.5])
    near = 3 * row
    near[1] = np.nextafter(near[1], 0.0)
    net = two_layer([row, 3 * row, near, row * 3 * (1 + 2**-40)], [0.0] * 4, LINEAR, out=np.ones((2, 4)))
    red = reduce(net)
    assert red.partition == [[[0, 1, 3], [2]]]
    assert red.factors[0][1] == 3 and red.factors[0][3] == 3 * (1 + Fraction(1, 2**40))


def test_fraction_weights_take_the_exact_path():
    third = Fraction(1, 3)
    w1 = np.array([[third, 2 * third], [2 * third, 4 * third], [-third, -2 * third]], dtype=object)
    b1 = np.array([third, 2 * third, -third], dtype=object)
    net = Network([Layer(w1, b1, RELU), Layer(np.ones((1, 3)), np.zeros(1))])
    red = reduce(net)
    assert red.partition == [[[0, 1], [2]]] and red.factors[0][1] == 2
    assert_same_function(net, red.network)


def test_output_neurons_never_merged_and_all_constant_layer():
    w = np.zeros((3, 2))
    net = Network([Layer(w, np.array([1.0, 2.0, -1.0]), RELU), Layer(np.ones((2, 3)), np.array([0.0, 0.0]))])
    red = reduce(net)
    assert red.network.widths == [2, 0, 2]  # every hidden neuron constant; both (equal) outputs kept
    assert list(as_fractions(red.network.layers[1].bias)) == [3, 3]
    assert_same_function(net, red.network)


def test_stats_and_properties():
    net = two_layer(BASE + [BASE[1], [0.0, 0.0]], BIAS + [BIAS[1], 2.0], RELU)
    red = reduce(net)
    (layer,) = red.stats.layers
    assert (layer.layer, layer.before, layer.after) == (1, 5, 3)
    assert layer.reasons == {"kept": 3, "duplicate": 1, "constant": 1}
    assert red.stats.params_before == net.param_count and red.stats.params_after == red.network.param_count
    assert red.factors == [[1, 1, 1, 1, 0]] and red.domain is None and red.original is net


def test_quotient_rejects_a_relation_without_representative():
    red = reduce(two_layer(BASE + [[-2 * x for x in BASE[0]]], BIAS + [-2 * BIAS[0]], LINEAR))
    layer = red.relation.layers[0]
    maps = list(layer.maps)
    maps[0] = maps[3]  # neuron 0 no longer stands for class 0 with factor 1
    with pytest.raises(ValueError, match="no representative"):
        quotient(red.original, Relation([replace(layer, maps=maps)]))


def test_quotient_folds_multi_term_maps():
    """A relation from a domain reduction may map a neuron onto several reduced ones: v2 = v0 + v1."""
    from lumpcheck.ir.relation import LayerRelation, NeuronMap, Relation

    first = np.array([[0.5, -1.0], [2.0, 0.25], [2.5, -0.75]])
    net = two_layer(first, np.array([1.0, -0.5, 0.5]), LINEAR, out=np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.25]]))
    one = Fraction(1)
    maps = [NeuronMap(((0, one),)), NeuronMap(((1, one),)), NeuronMap(((0, one), (1, one)), Fraction(0), "linear")]
    reduced = quotient(net, Relation([LayerRelation(maps, 2)]))
    assert reduced.widths == [2, 2, 2]
    assert list(as_fractions(reduced.layers[1].weight)[0]) == [4, 5]
    assert_same_function(net, reduced)


def test_flushed_subnormals_force_the_fraction_path(monkeypatch):
    """Under FTZ/DAZ the error-free transforms are unsound, so everything is decided with Fractions."""
    import lumpcheck.reduction.aggregate as aggregate

    w1 = np.array([[1.0, -0.5], [2.0, -1.0], [0.25, 1.0], [-0.5, -2.0]])
    w2 = np.array([[1.0, 1.0, 1.0, 2.0], [3.0, 0.0, 1.0, 2.0], [2.0, 0.0, 1.0, 0.0]])
    net = Network([Layer(w1, np.zeros(4), RELU), Layer(w2, np.zeros(3), RELU), Layer(np.ones((1, 3)), np.zeros(1))])
    fast = reduce(net)
    monkeypatch.setattr(aggregate, "gradual_underflow", lambda: False)
    slow = reduce(net)
    assert slow.partition == fast.partition == [[[0, 1], [2], [3]], [[0, 1], [2]]]
    assert slow.factors == fast.factors
    assert_same_function(net, slow.network)


# ---------------------------------------------------------------- public model zoo (../shared/zoo)


def zoo_files(*patterns: str) -> list[str]:
    """Zoo-relative paths (collected at import time; the `zoo` fixture skips the tests when the zoo is absent)."""
    return [str(p.relative_to(ZOO)) for pattern in patterns for p in sorted(ZOO.glob(pattern))] if ZOO.is_dir() else []


def load(zoo: Path, relative: str) -> Network:
    from lumpcheck.io import load_model

    return load_model(zoo / relative)


TWINS = zoo_files("marabou/resources/nnet/twin/*.nnet")
MINIMAL = zoo_files(
    "marabou/resources/nnet/acasxu/*.nnet",
    "marabou/resources/nnet/mnist/*.nnet",
    "marabou/resources/onnx/acasxu/*_1_*.onnx",
    "vnncomp2021/benchmarks/mnistfc/*.onnx",
    "vnncomp2021/benchmarks/eran/nets/*.onnx",
)


@pytest.mark.zoo
@pytest.mark.parametrize("relative", TWINS or [pytest.param("", marks=pytest.mark.skip(reason="no zoo"))])
def test_twin_ladders_halve_and_collapse(zoo, relative):
    """Two identical streams: forward lumping halves every hidden layer; the output weights are +w/-w, so
    the merged classes' outgoing weights cancel, every hidden neuron is dead and the net is the constant margin."""
    net = load(zoo, relative)
    halved = reduce(net, remove_dead=False)
    assert halved.network.widths[1:-1] == [w // 2 for w in net.widths[1:-1]]
    for layer in halved.relation.layers:
        assert layer.reason_counts() == {"kept": len(layer.maps) // 2, "duplicate": len(layer.maps) // 2}
    red = reduce(net)
    assert red.network.widths[1:-1] == [0] * (len(net.widths) - 2)
    for layer, before in zip(red.relation.layers, halved.relation.layers):  # the classes survive as ghosts
        assert (layer.reduced_width, layer.ghosts) == (0, before.reduced_width)
        assert [m.terms for m in layer.maps] == [m.terms for m in before.maps]  # ghost j = class j (0 reduced)
    assert [s.reasons for s in red.stats.layers] == [{"dead": w} for w in net.widths[1:-1]]
    constant = list(as_fractions(red.network.layers[-1].bias))
    for x in np.random.default_rng(0).uniform(-10, 10, size=(3, net.input_size)):
        xs = [Fraction(v) for v in x]
        assert evaluate(net, xs) == evaluate(halved.network, xs) == evaluate(red.network, xs) == constant


@pytest.mark.zoo
@pytest.mark.parametrize("relative", MINIMAL or [pytest.param("", marks=pytest.mark.skip(reason="no zoo"))])
def test_acas_and_mnist_are_already_minimal(zoo, relative):
    net = load(zoo, relative)
    red = reduce(net)
    assert red.network.widths == net.widths
    assert all(set(layer.reason_counts()) == {"kept"} for layer in red.relation.layers)
    assert red.stats.params_after == red.stats.params_before


def test_lumped_maps_are_arrays_until_read():
    """The reducer's relation holds arrays (LumpedMaps); read as NeuronMaps they are the maps the reasons say, equal
    maps shared, counts by first appearance; bad codes are refused at construction."""
    from lumpcheck.ir.relation import LumpedMaps, NeuronMap

    net = two_layer(BASE + [[2 * x for x in BASE[0]], BASE[1], [0.0, 0.0]], BIAS + [2 * BIAS[0], BIAS[1], 2.0], RELU)
    red = reduce(net)
    maps = red.relation.layers[0].maps
    assert isinstance(maps, LumpedMaps) and maps._maps is None
    assert red.stats.layers[0].reasons == {"kept": 3, "proportional": 1, "duplicate": 1, "constant": 1}
    assert maps._maps is None  # the stats came from the arrays
    built = list(maps)
    assert built[3] == NeuronMap(((0, Fraction(2)),), Fraction(0), "proportional")
    assert built[4] is built[1] or built[4] == NeuronMap(((1, Fraction(1)),), Fraction(0), "duplicate")
    assert built[5] == NeuronMap((), Fraction(2), "constant") and maps == built and len(maps) == 6
    with pytest.raises(ValueError, match="factor codes"):
        LumpedMaps(maps.cls, maps.factor + 100, maps.offset, maps.reason, maps.table)
    with pytest.raises(ValueError, match="1-D integer"):
        LumpedMaps(maps.cls[:2], maps.factor, maps.offset, maps.reason, maps.table)
