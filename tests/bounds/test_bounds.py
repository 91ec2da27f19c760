"""Sound bounds: exact values at sampled rational points always lie inside; symbolic ⊆ interval; tightening."""

import itertools
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from lumpcheck.bounds import LayerBounds, interval_bounds, layer_phases, split_bounds, stable_phases, symbolic_bounds
from lumpcheck.bounds.tighten import tighten_bounds
from lumpcheck.errors import LumpcheckError
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.exact import as_fractions
from lumpcheck.ir.network import Layer, Network

ZOO = Path(__file__).parents[2].parent / "shared" / "zoo"
ACAS = ZOO / "marabou" / "resources"
PROP3 = ZOO / "vnncomp2021" / "benchmarks" / "acasxu" / "prop_3.vnnlib"

PL_ACTIVATIONS = [
    Activation("relu"),
    Activation("leaky_relu", Fraction(1, 10)),  # alpha not a float: exercises the Fraction enclosure
    Activation("leaky_relu", Fraction(-1, 2)),  # non-monotone
    Activation("leaky_relu", Fraction(3)),  # concave
    Activation("identity"),
]


def preactivations(net: Network, x) -> list[list]:
    """Exact pre-activations of every layer (Fractions; sympy expressions after sigmoid/tanh)."""
    import sympy

    v = [Fraction(xi) for xi in x]
    out = []
    for layer in net.layers:
        w, b = as_fractions(layer.weight), as_fractions(layer.bias)
        z = [sum((wi * vi for wi, vi in zip(row, v)), bs) for row, bs in zip(w, b)]
        out.append(z)
        if layer.activation.piecewise_linear:
            v = [layer.activation.exact(zs) for zs in z]
        else:
            v = [layer.activation.symbolic(sympy.sympify(zs) if isinstance(zs, Fraction) else zs) for zs in z]
    return out


def _leq(a, b) -> bool:
    """a <= b exactly, for Fractions, floats and sympy expressions (sympy compares transcendental numbers exactly)."""
    import sympy

    def rat(v):
        if isinstance(v, (Fraction, float, int, np.floating)):
            f = Fraction(v)
            return sympy.Rational(f.numerator, f.denominator)
        return v

    return bool(rat(a) <= rat(b))


def assert_contains(bounds: list[LayerBounds], values: list[list]) -> None:
    for k, (b, z) in enumerate(zip(bounds, values)):
        for i, zi in enumerate(z):
            assert _leq(b.lower[i], zi) and _leq(zi, b.upper[i]), f"layer {k} neuron {i}: {zi} not in [{b.lower[i]}, {b.upper[i]}]"


def assert_within(inner: list[LayerBounds], outer: list[LayerBounds]) -> None:
    for b, o in zip(inner, outer):
        assert np.all(o.lower <= b.lower) and np.all(b.upper <= o.upper)


def corners(box: Box):
    return itertools.product(*zip(box.lower, box.upper))


# ---------------------------------------------------------------- random nets (hypothesis)

small = st.integers(-12, 12)


@st.composite
def numbers(draw, fractions: bool):
    """A weight: a float (exact dyadic, often not short) or a Fraction with a small odd denominator."""
    if fractions:
        return Fraction(draw(small), draw(st.sampled_from([1, 3, 5, 7, 10])))
    return draw(st.floats(-3, 3, allow_nan=False, allow_subnormal=False))


@st.composite
def nets(draw, activations=PL_ACTIVATIONS, max_width=4, max_hidden=3):
    fractions = draw(st.booleans())
    widths = [draw(st.integers(1, 3))] + [draw(st.integers(1, max_width)) for _ in range(draw(st.integers(0, max_hidden)))]
    widths.append(draw(st.integers(1, 2)))
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        w = np.array([[draw(numbers(fractions)) for _ in range(a)] for _ in range(b)], dtype=object)
        bias = np.array([draw(numbers(fractions)) for _ in range(b)], dtype=object)
        act = Activation("identity") if i == len(widths) - 2 else draw(st.sampled_from(activations))
        layers.append(Layer(w, bias, act))
    return Network(layers)


@st.composite
def boxes(draw, dim: int):
    lo = [Fraction(draw(st.integers(-20, 20)), draw(st.sampled_from([1, 3, 8, 10]))) for _ in range(dim)]
    width = [Fraction(draw(st.integers(0, 20)), draw(st.sampled_from([1, 7, 16]))) for _ in range(dim)]
    return Box(tuple(lo), tuple(a + w for a, w in zip(lo, width)))


@st.composite
def nets_boxes_points(draw, activations=PL_ACTIVATIONS):
    net = draw(nets(activations))
    box = draw(boxes(net.input_size))
    points = list(corners(box))
    for _ in range(4):
        points.append([lo + (hi - lo) * Fraction(draw(st.integers(0, 64)), 64) for lo, hi in zip(box.lower, box.upper)])
    return net, box, points


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(nets_boxes_points())
def test_sampled_points_lie_within_all_bounds(case):
    net, box, points = case
    computed = {
        "interval": interval_bounds(net, box),
        "symbolic": symbolic_bounds(net, box),
        "interval exact": interval_bounds(net, box, exact=True),
        "symbolic exact": symbolic_bounds(net, box, exact=True),
    }
    for x in points:
        z = preactivations(net, x)
        for bounds in computed.values():
            assert_contains(bounds, z)
    assert_within(computed["symbolic"], computed["interval"])
    assert_within(computed["symbolic exact"], computed["interval exact"])
    # float interval arithmetic over-approximates the exact one (inclusion-monotone, outward rounding)
    assert_within(computed["interval exact"], computed["interval"])
    for b in computed["interval"] + computed["symbolic"]:
        assert b.lower.dtype == np.float64 and b.upper.dtype == np.float64


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nets_boxes_points(activations=[Activation("sigmoid"), Activation("tanh"), Activation("relu")]))
def test_sigmoid_tanh_bounds_enclose_exact_values(case):
    net, box, points = case
    bounds = symbolic_bounds(net, box)
    for x in points[:6]:
        assert_contains(bounds, preactivations(net, x))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nets_boxes_points(activations=PL_ACTIVATIONS[:4]), st.sampled_from(["lp", "milp"]))
def test_tightened_bounds_are_sound_and_tighter(case, method):
    net, box, points = case
    sym = symbolic_bounds(net, box)
    tight = tighten_bounds(net, box, sym, method=method, timeout=5)
    assert_within(tight, sym)
    for x in points:
        assert_contains(tight, preactivations(net, x))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nets_boxes_points(), st.integers(1, 3))
def test_split_bounds_are_sound_and_tighter(case, parts):
    net, box, points = case
    split = split_bounds(net, box, parts=parts)
    assert_within(split, symbolic_bounds(net, box))
    for x in points:
        assert_contains(split, preactivations(net, x))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nets_boxes_points(), st.integers(1, 3), st.data())
def test_split_bounds_of_a_layer_cut_to_some_rows_are_those_rows_of_the_whole_split(case, parts, data):
    """What the checker relies on to re-run a split only for the open claims of the deepest layer: a network cut
    after layer d, whose layer d keeps only some rows, gets exactly the whole split's bounds for those rows (and for
    the layers before d), with whole-box bounds passed in (split_bounds(whole=)) or recomputed. Float layers only:
    Fraction rows that happen to be floats become a float layer, without the residual terms of the whole."""
    net, box, _ = case
    full = split_bounds(net, box, parts=parts)
    d = data.draw(st.integers(1, len(net.layers)))
    last = net.layers[d - 1]
    assume(last.stored_weight.dtype != object and last.stored_bias.dtype != object)  # (the checker's condition)
    rows = np.array(sorted(data.draw(st.sets(st.integers(0, last.weight.shape[0] - 1), min_size=1))))
    cut = Network([*net.layers[: d - 1], Layer(last.weight[rows], last.bias[rows], last.activation)])
    whole = symbolic_bounds(net, box)[:d]
    known = [*whole[:-1], LayerBounds(whole[-1].lower[rows], whole[-1].upper[rows])]
    for given_whole in (known, None):
        got = split_bounds(cut, box, parts=parts, whole=given_whole)
        for b, f in zip(got[:-1], full[: d - 1]):
            assert np.array_equal(b.lower, f.lower) and np.array_equal(b.upper, f.upper)
        assert np.array_equal(got[-1].lower, full[d - 1].lower[rows]) and np.array_equal(got[-1].upper, full[d - 1].upper[rows])


# ---------------------------------------------------------------- hand-computed examples


def test_rounding_goes_outward_where_nearest_would_not():
    # z = 0.1·x + 0.2·y at x = y = 1: round-to-nearest gives 0.30000000000000004, the exact sum of the
    # two floats is smaller, and exact = 1/10 + 2/10 is smaller still (the box bound 1 is exact here)
    net = Network([Layer(np.array([[Fraction(1, 10), Fraction(2, 10)]], dtype=object), np.array([Fraction(0)], dtype=object))])
    box = Box((Fraction(1), Fraction(1)), (Fraction(1), Fraction(1)))
    for b in (interval_bounds(net, box), symbolic_bounds(net, box)):
        assert Fraction(b[0].lower[0]) <= Fraction(3, 10) <= Fraction(b[0].upper[0])
        assert b[0].upper[0] - b[0].lower[0] < 1e-15
    assert interval_bounds(net, box, exact=True)[0].upper[0] == Fraction(3, 10)


def test_absolute_value_net_by_hand():
    # h = (relu(x), relu(-x)), y = h1 + h2 = |x| on x in [-1, 1]: interval [0, 2], DeepPoly [0, 1] exactly
    net = Network(
        [
            Layer(np.array([[1.0], [-1.0]]), np.zeros(2), Activation("relu")),
            Layer(np.array([[1.0, 1.0]]), np.zeros(1)),
        ]
    )
    box = Box((Fraction(-1),), (Fraction(1),))
    ib, sb = interval_bounds(net, box), symbolic_bounds(net, box)
    assert np.all((-1 - 1e-12 < ib[0].lower) & (ib[0].lower <= -1)) and np.all((1 <= ib[0].upper) & (ib[0].upper < 1 + 1e-12))
    assert ib[1].lower[0] <= 0 and 2 <= ib[1].upper[0] < 2 + 1e-12
    assert -1e-12 < sb[1].lower[0] <= 0 and 1 <= sb[1].upper[0] < 1 + 1e-12
    es = symbolic_bounds(net, box, exact=True)
    assert (es[1].lower[0], es[1].upper[0]) == (Fraction(0), Fraction(1))
    milp = tighten_bounds(net, box, ib, method="milp", neurons=[(1, 0)])
    assert 1 <= milp[1].upper[0] < 1 + 1e-12
    # on the halves [-1, 0] and [0, 1] every ReLU is stable: the split bounds are the exact range too
    halves = split_bounds(net, box, parts=2)
    assert -1e-12 < halves[1].lower[0] <= 0 and 1 <= halves[1].upper[0] < 1 + 1e-12
    with pytest.raises(ValueError):
        split_bounds(net, box, parts=[2, 2])


def test_identity_layers_cancel_symbolically():
    # z = (x1 + x2, x1 - x2), y = z1 + z2 = 2·x1 on [-1, 1]²: interval gives [-4, 4], symbolic [-2, 2]
    net = Network([Layer(np.array([[1.0, 1.0], [1.0, -1.0]]), np.zeros(2)), Layer(np.array([[1.0, 1.0]]), np.zeros(1))])
    box = Box((Fraction(-1),) * 2, (Fraction(1),) * 2)
    assert interval_bounds(net, box)[1].upper[0] >= 4
    out = symbolic_bounds(net, box, exact=True)[1]
    assert (out.lower[0], out.upper[0]) == (-2, 2)


def test_stable_phases_of_a_built_net():
    # on [0, 1]²: x1 + 2 active, -x1 - 3 inactive, x1 - x2 undecided, x1 + x2 active with lower bound exactly 0
    w = np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, -1.0], [1.0, 1.0]])
    net = Network([Layer(w, np.array([2.0, -3.0, 0.0, 0.0]), Activation("relu")), Layer(np.ones((1, 4)), np.zeros(1))])
    box = Box((Fraction(0),) * 2, (Fraction(1),) * 2)
    (phases,) = stable_phases(net, interval_bounds(net, box, exact=True))
    assert list(phases) == [1, -1, 0, 1]
    (phases,) = stable_phases(net, symbolic_bounds(net, box))
    assert list(phases[:3]) == [1, -1, 0]
    assert list(layer_phases(Activation("identity"), interval_bounds(net, box)[0])) == [0, 0, 0, 0]
    leaky = Network([Layer(w, np.array([2.0, -3.0, 0.0, 0.0]), Activation("leaky_relu", Fraction(1, 3))), Layer(np.ones((1, 4)), np.zeros(1))])
    (phases,) = stable_phases(leaky, symbolic_bounds(leaky, box))
    assert list(phases[:3]) == [1, -1, 0]


def test_box_dimension_mismatch_is_a_user_error():
    net = Network([Layer(np.ones((1, 2)), np.zeros(1))])
    with pytest.raises(LumpcheckError, match="2"):
        interval_bounds(net, Box((Fraction(0),), (Fraction(1),)))


def test_huge_weights_fall_back_to_exact_arithmetic():
    # 1e300 · 1e300 overflows float64; the exact fallback still returns sound (infinite if needed) bounds
    net = Network([Layer(np.array([[1e300]]), np.zeros(1), Activation("relu")), Layer(np.array([[1e300]]), np.array([-1.0]))])
    box = Box((Fraction(1),), (Fraction(2),))
    for b in (interval_bounds(net, box), symbolic_bounds(net, box)):
        assert b[1].lower[0] <= 1e300 * 1e300 and b[1].upper[0] == np.inf
        assert b[0].lower[0] <= 1e300 <= b[0].upper[0]


# ---------------------------------------------------------------- ACAS Xu (zoo)


def _acas(suffix: str) -> Path:
    if not ZOO.is_dir():
        pytest.skip(f"zoo not found at {ZOO}")
    if suffix == ".onnx":
        pytest.importorskip("lumpcheck.io.onnx", reason="ONNX reader not written yet")
        return ACAS / "onnx" / "acasxu" / "ACASXU_experimental_v2a_1_1.onnx"
    return ACAS / "nnet" / "acasxu" / "ACASXU_experimental_v2a_1_1.nnet"


@pytest.mark.zoo
@pytest.mark.parametrize("suffix", [".nnet", ".onnx"])
def test_acas_1_1_property_3(suffix):
    from lumpcheck.io import load_model
    from lumpcheck.io.vnnlib import read_box

    net = load_model(_acas(suffix))
    box = read_box(PROP3, net.input_size)
    ib, sb = interval_bounds(net, box), symbolic_bounds(net, box)

    def counts(bounds):
        phases = np.concatenate(stable_phases(net, bounds))
        return int(np.sum(phases == -1)), int(np.sum(phases == 1))

    inactive, active = counts(ib)
    assert abs(inactive - 48) <= 2 and abs(active - 32) <= 2  # as reported for plain interval bounds
    s_inactive, s_active = counts(sb)
    assert s_inactive >= inactive and s_active >= active and s_inactive + s_active > inactive + active
    split = split_bounds(net, box, parts=[2, 1, 1, 2, 2])
    assert sum(counts(split)) > s_inactive + s_active
    assert_within(sb, ib)
    assert_within(interval_bounds(net, box, exact=True), ib)
    rng = np.random.default_rng(3)
    points = list(corners(box))[::4] + [
        [lo + (hi - lo) * Fraction(int(rng.integers(0, 1001)), 1000) for lo, hi in zip(box.lower, box.upper)] for _ in range(4)
    ]
    for x in points:
        assert_contains(sb, preactivations(net, x))


# ---------------------------------------------------------------- the rounding primitives themselves
# (end-to-end checks cannot see one-ulp slips: the dot-product error term has more than that to spare)

from lumpcheck.bounds import arith, propagate, squash  # noqa: E402

fractions_any = st.fractions(min_value=-(10**6), max_value=10**6, max_denominator=10**12)


@given(fractions_any)
def test_round_outward_gives_adjacent_floats(q):
    lo, hi = arith.round_to_float(q, up=False), arith.round_to_float(q, up=True)
    assert Fraction(lo) <= q <= Fraction(hi)
    assert lo == hi if Fraction(lo) == q else np.nextafter(lo, np.inf) == hi


@given(st.integers(-(2**80), 2**80), st.integers(1, 3**40), st.integers(-1200, 1100))
@example(1, 1, 1024)
@example(-(2**1024 - 2**971 + 1), 1, 0)  # just beyond the largest float by less than half an ulp: float(q) is finite
@example(2**1024 - 2**971 + 1, 1, 0)
def test_round_outward_over_the_whole_float_range(n, d, e):
    """Subnormal, normal and beyond-the-largest-float magnitudes, odd denominators (inexact) and exact floats."""
    q = Fraction(n, d) * Fraction(2) ** e
    lo, hi = arith.round_to_float(q, up=False), arith.round_to_float(q, up=True)
    big = float(np.finfo(np.float64).max)
    if abs(q) > Fraction(big):  # beyond the range: the largest float on the inner side, infinity outside
        assert (lo, hi) == ((big, math.inf) if q > 0 else (-math.inf, -big))
        return
    assert Fraction(lo) <= q <= Fraction(hi)
    assert lo == hi if Fraction(lo) == q else np.nextafter(lo, np.inf) == hi


@given(st.lists(st.tuples(st.integers(-(2**80), 2**80), st.integers(1, 10**30), st.integers(-1100, 1000)), max_size=6))
def test_residuals_up_bound_the_distance_to_the_nearest_float(parts):
    """arith.residuals_up (integer arithmetic) is the smallest float >= |v - float(v)| for each v: decimal-like
    denominators, subnormal and huge magnitudes, exact floats (residual 0)."""
    values = [Fraction(n, d) * Fraction(2) ** e for n, d, e in parts]
    values = [v for v in values if abs(v) < Fraction(np.finfo(np.float64).max)]
    nearest = np.array([float(v) for v in values], dtype=np.float64)
    res = arith.residuals_up(values, nearest)
    assert res.shape == (len(values),)
    for v, f, r in zip(values, nearest, res):
        gap = abs(v - Fraction(f))
        assert Fraction(r) >= gap and (r == 0 or Fraction(np.nextafter(r, -np.inf)) < gap)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 5), st.integers(0, 2**32))
def test_float_upper_sum_bounds_exact_sum_under_cancellation(n, m, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n)) * 10.0 ** rng.integers(-20, 20, size=(m, n))
    y = rng.normal(size=n) * 10.0 ** rng.integers(-20, 20, size=n)
    X[:, -1] = -(X[:, :-1] @ y[:-1]) / y[-1]  # rows summing to nearly 0: rounding error dominates the result
    U = arith.FloatArith().upper([(X, y)])
    S = X @ y  # one rounded dot product per row, and its A2 error bound
    E = arith._enclose(S, np.abs(X) @ np.abs(y), n)
    for i in range(m):
        exact = sum(Fraction(a) * Fraction(b) for a, b in zip(X[i], y))
        assert exact <= Fraction(U[i])
        assert abs(Fraction(S[i]) - exact) <= Fraction(E[i])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2), st.integers(1, 40), st.integers(1, 5), st.integers(0, 2**32), st.booleans())
def test_upper_of_a_nonpositive_term_is_the_same_bound(batch, n, m, seed, tiny):
    """A term (X, y, NONPOSITIVE) with X <= 0 (zeros of both signs) and y >= 0: `upper` takes -(X @ y) as the
    computed |X| @ |y|; the bound is the one computed with np.abs (bitwise), and >= the exact sum (Fractions)."""
    rng = np.random.default_rng(seed)
    lead = (batch,) if batch else ()
    scale = 2.0**-1060 if tiny else 1.0
    X = -np.abs(rng.normal(size=(*lead, m, n)) * 10.0 ** rng.integers(-20, 20, size=(*lead, m, n))) * scale
    X[rng.random(X.shape) < 0.2] = -0.0
    y = np.abs(rng.normal(size=(*lead, n)) * 10.0 ** rng.integers(-20, 20, size=(*lead, n)))
    y[rng.random(y.shape) < 0.2] = 0.0
    b = rng.normal(size=(*lead, m, 1))
    terms = [(b, arith.FloatArith.one)]
    U = arith.FloatArith().upper(terms + [(X, y, arith.NONPOSITIVE)])
    assert np.array_equal(U, arith.FloatArith().upper(terms + [(X, y)]))
    exact = np.vectorize(Fraction, otypes=[object])
    total = (exact(X) * exact(y)[..., None, :]).sum(axis=-1) + exact(b)[..., 0]
    assert all(e <= Fraction(u) for e, u in zip(total.reshape(-1), U.reshape(-1)))


EDGE_FLOATS = [0.0, -0.0, 5e-324, -5e-324, 2.0**-1022, -(2.0**-1022), 2.0**-1022 - 5e-324, 1.0, -1.0, 2.0**-1,
               -(2.0**-1), 3.0, np.finfo(np.float64).max / 2, -np.finfo(np.float64).max]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(EDGE_FLOATS), min_size=1, max_size=8))
def test_up_is_at_least_the_next_float(xs):
    """arith._up (cheap passes instead of nextafter) is >= nextafter(x, +inf) for every finite x, subnormals, zeros,
    negative powers of two (where the next float is half an ulp away) included; at most 2 ulps above it."""
    x = np.array(xs, dtype=np.float64)
    with np.errstate(over="ignore"):  # the largest floats step to +inf, on both sides
        up, succ = arith._up(x.copy()), np.nextafter(x, np.inf)
        twice = np.nextafter(np.nextafter(succ, np.inf), np.inf)
    assert np.all(up >= succ), (x, up, succ)
    assert np.all((up == np.inf) | (up <= twice))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 12), st.integers(1, 4), st.integers(0, 2**32))
def test_batched_upper_of_several_terms_bounds_each_exact_sum(batch, n, m, seed):
    """FloatArith.upper on a batch (one propagation per sub-box) with shared and batched terms, summed per term:
    every entry is >= its exact Σ_t X_t @ y_t, under cancellation too."""
    rng = np.random.default_rng(seed)
    big = lambda *shape: rng.normal(size=shape) * 10.0 ** rng.integers(-20, 20, size=shape)  # noqa: E731
    X1, y1, X2, y2 = big(batch, m, n), big(batch, n), big(m, n), big(n)
    X1[..., -1] = -(np.einsum("bmk,bk->bm", X1[..., :-1], y1[:, :-1]) + X2 @ y2) / y1[:, -1:]  # nearly 0 sums
    U = arith.FloatArith().upper([(X1, y1), (X2, y2), (np.ones((m, 1)), np.ones(1))])
    assert U.shape == (batch, m)
    for b in range(batch):
        for i in range(m):
            exact = sum(Fraction(a) * Fraction(c) for a, c in zip(X1[b, i], y1[b]))
            exact += sum(Fraction(a) * Fraction(c) for a, c in zip(X2[i], y2)) + 1
            assert exact <= Fraction(U[b, i])


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(PL_ACTIVATIONS),
    fractions_any,
    st.fractions(min_value=0, max_value=10**4, max_denominator=1000),
    st.floats(-5, 5),
    st.floats(-5, 5),
    st.lists(st.fractions(min_value=0, max_value=1), min_size=1, max_size=6),
)
def test_relaxation_holds_for_any_slopes(act, l, width, su, sl, ts):
    u = l + width
    lo, hi, mu, ml = propagate.neuron_relaxation(act, l, u, Fraction(su), Fraction(sl))
    for z in [l + t * (u - l) for t in ts] + ([Fraction(0)] if l < 0 < u else []):
        h = act.exact(z)
        assert lo <= h <= hi
        assert Fraction(sl) * z + ml <= h <= Fraction(su) * z + mu


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["sigmoid", "tanh"]), st.fractions(min_value=-1100, max_value=1100, max_denominator=10**6))
@example("sigmoid", Fraction(160076, 177))  # σ ≈ 1 − 10^-393: exact 1 − s carried a 1400-bit denominator
def test_squash_encloses_high_precision_value(kind, q):
    import mpmath

    lo, hi = squash.squash_enclosure(kind, q, q)
    with mpmath.workdps(400):
        x = mpmath.mpf(q.numerator) / q.denominator
        v = 1 / (1 + mpmath.exp(-x)) if kind == "sigmoid" else mpmath.tanh(x)
        assert mpmath.mpf(lo.numerator) / lo.denominator <= v <= mpmath.mpf(hi.numerator) / hi.denominator


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["sigmoid", "tanh"]), st.fractions(min_value=-40, max_value=40, max_denominator=10**4),
       st.integers(min_value=3, max_value=13))
def test_point_encloses_value_and_slope_on_coarse_grids(kind, q, bits):
    """σ(q) and σ'(q) lie in `_point`'s enclosures even at 3..13 significant bits, where a quotient or an
    exponential rounded the wrong way shows (at 120 bits the slack hides it); mpmath at 60 digits as reference."""
    import mpmath

    y_lo, y_hi, d_lo, d_hi = squash._point(kind, q, bits=bits)
    with mpmath.workdps(60):
        x = mpmath.mpf(q.numerator) / q.denominator
        y = 1 / (1 + mpmath.exp(-x)) if kind == "sigmoid" else mpmath.tanh(x)
        d = y * (1 - y) if kind == "sigmoid" else 1 - y * y
        as_mp = [mpmath.mpf(v.numerator) / v.denominator for v in (y_lo, y_hi, d_lo, d_hi)]
        assert as_mp[0] <= y <= as_mp[1] and as_mp[2] <= d <= as_mp[3]


def test_fraction_weight_residual_covers_representation_error():
    w = np.array([[Fraction(1, 3), Fraction(-2, 7)]], dtype=object)
    a = propagate.working_affine(w, np.array([Fraction(1, 10)], dtype=object), exact=False)
    for v, f, r in zip(w.reshape(-1), a.weight.reshape(-1), a.wres.reshape(-1)):
        assert 0 < abs(v - Fraction(f)) <= Fraction(r)
    assert abs(Fraction(1, 10) - Fraction(a.bias[0])) <= Fraction(a.bres[0])


def test_box_is_rounded_outward():
    net = Network([Layer(np.ones((1, 2)), np.zeros(1))])
    box = Box((Fraction(1, 3), Fraction(-2, 3)), (Fraction(1, 3), Fraction(1, 10)))
    prop = propagate.Propagation(net, box, arith.FloatArith())
    assert all(Fraction(f) <= q for f, q in zip(prop.xl, box.lower))
    assert all(Fraction(f) >= q for f, q in zip(prop.xu, box.upper))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3), st.integers(1, 5), st.integers(3, 9), st.integers(1, 6), st.booleans(), st.integers(0, 2**32))
def test_substitute_error_terms_bound_the_exact_rounding_errors(batch, rows, m, n, tiny, seed):
    """FloatArith.substitute: `upper` of its terms is >= Σ_l |A∘s - D|_il·zabs_l + Σ_k |D@W - S|_ik·habs_k +
    Σ_l |D_il|·extra_l exactly (Fractions), with D@W cancelling to nearly 0 over >= 3 inexact products (the rounding
    error dominates), at huge and at subnormal magnitudes, batched (one propagation per sub-box) or not."""
    rng = np.random.default_rng(seed)
    scale = 2.0**-1060 if tiny else 1.0
    lead = (batch,) if batch else ()
    big = lambda *shape: rng.normal(size=shape) * 10.0 ** rng.integers(-12, 12, size=shape)  # noqa: E731
    A, su, sl, W = big(*lead, rows, m) * scale, big(*lead, 1, m) / 3, big(*lead, 1, m) / 3, big(m, n)
    first = (0,) * len(lead) + (0,)
    A[first + (-1,)], su[(0,) * len(lead) + (0, -1)] = scale * 3, 1.0
    s = np.where(A >= 0, su, sl)  # the slope each entry uses
    D = A * s
    with np.errstate(all="ignore"):  # the first row of D @ W cancels to nearly 0
        W[-1] = -(D[first][:-1] @ W[:-1]) / D[first + (-1,)]
    assume(np.all(np.isfinite(W)) and np.all(np.isfinite(np.abs(D) @ np.abs(W))))
    zabs, habs = np.abs(big(*lead, m)) * scale, np.abs(big(*lead, n))
    extra = np.abs(big(m)) * 1e-20
    ar = arith.FloatArith()
    Ap, An = propagate._signs(A)
    assert np.array_equal(Ap + An, A) and np.all(Ap >= 0) and np.all(An <= 0)
    D2, aD, S, terms = ar.substitute(Ap, An, su, sl, W, zabs, habs, extra)
    assert np.array_equal(D2, D) and np.array_equal(aD, np.abs(D)) and np.array_equal(S, np.matmul(D, W))
    U = ar.upper(terms)
    F = np.vectorize(Fraction, otypes=[object])
    s = np.broadcast_to(s, A.shape)
    Aq, sq, Wq, Dq, Sq, zq, hq, eq = map(F, (A, s, W, D, S, zabs, habs, extra))
    err = (np.abs(Aq * sq - Dq) * zq[..., None, :]).sum(axis=-1)
    err = err + (np.abs(np.matmul(Dq, Wq) - Sq) * hq[..., None, :]).sum(axis=-1) + (np.abs(Dq) * eq).sum(axis=-1)
    assert U.shape == err.shape
    assert all(e <= Fraction(u) for e, u in zip(err.reshape(-1), U.reshape(-1)))
    assert any(e > 0 for e in err.reshape(-1))  # the rounding errors are really there


def test_substitute_raises_on_overflow():
    ar = arith.FloatArith()
    A = np.array([[1e300, 1.0]])
    with pytest.raises(arith.FloatOverflow), np.errstate(over="ignore", invalid="ignore"):
        ar.substitute(A, 0 * A, np.array([[1e300, 1.0]]), np.ones((1, 2)), np.ones((2, 2)), np.ones(2), np.ones(2))


def test_substitute_raises_when_only_the_product_with_the_weights_overflows():
    """D = A∘s is finite but D @ W is not: the step must stop (FloatOverflow, redone exactly), not carry inf on."""
    ar = arith.FloatArith()
    A = np.array([[1e200, 1e200]])
    W = np.array([[1e200], [1e200]])
    with pytest.raises(arith.FloatOverflow), np.errstate(over="ignore", invalid="ignore"):
        ar.substitute(A, 0 * A, np.ones((1, 2)), np.ones((1, 2)), W, np.ones(2), np.ones(1))
