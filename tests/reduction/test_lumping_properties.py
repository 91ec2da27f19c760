"""Property tests of `reduce`: planted classes are found, the quotient is exactly the same function, reduce is
idempotent and never grows a network; and the error-free float transforms it rests on are exact."""

import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lumpcheck import evaluate, reduce
from lumpcheck.checker import check
from lumpcheck.io import save_model
from lumpcheck.ir.exact import eft_safe, exact_add, exact_equal, exact_scale, two_product
from lumpcheck.ir.fastpath import proportional_rows
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.network import Layer, Network
from lumpcheck.prove.prover import prove, prove_networks
from lumpcheck.prove.records import write_certificate
from lumpcheck.reduction.lumping import quotient

from strategies import ACTIVATIONS, Planted, canonical_outputs, planted_networks, rational_inputs

SETTINGS = settings(max_examples=120, deadline=None)


def same_function(a, b, inputs: list[list[Fraction]]) -> bool:
    """Exact output equality on each input (sigmoid/tanh: proved by rewriting, see canonical_outputs)."""
    if a.piecewise_linear:
        return all(evaluate(a, x) == evaluate(b, x) for x in inputs)
    return all(canonical_outputs(a, x) == canonical_outputs(b, x) for x in inputs)


def same_network(a, b) -> bool:
    return a.widths == b.widths and all(
        exact_equal(la.weight, lb.weight) and exact_equal(la.bias, lb.bias) and la.activation == lb.activation
        for la, lb in zip(a.layers, b.layers)
    )


@SETTINGS
@given(planted_networks(), st.data())
def test_planted_structure_found_and_quotient_exact(plan: Planted, data):
    red = reduce(plan.net)
    for ell, layer in enumerate(red.relation.layers):
        maps = layer.maps
        for neuron, base, c in plan.copies[ell]:
            m, mb = maps[neuron], maps[base]
            if m.terms or mb.terms:  # same class (real, or a ghost when removed: never split), exact relative factor
                assert m.cls == mb.cls is not None
                assert m.factor / mb.factor == c
                assert (m.reason == "dead") == (mb.reason == "dead")
            else:  # a constant base (its inputs all constant) makes a constant copy
                assert m.reason == mb.reason == "constant"
        for neuron, value in plan.constants[ell].items():
            assert maps[neuron].reason == "constant" and maps[neuron].offset == value
        for neuron in plan.irrational[ell]:
            assert maps[neuron].reason != "constant"  # sigmoid(b), tanh(b) irrational for b != 0
        for neuron in plan.dead[ell]:
            assert maps[neuron].reason == "dead"
        assert sum(layer.reason_counts().values()) == len(maps)
    inputs = [data.draw(rational_inputs(plan.net.input_size)) for _ in range(2)]
    assert same_function(plan.net, red.network, inputs)
    assert red.network.param_count <= plan.net.param_count
    assert red.stats.params_after == red.network.param_count


@SETTINGS
@given(planted_networks())
def test_idempotent_and_relation_rebuilds_quotient(plan: Planted):
    red = reduce(plan.net)
    again = reduce(red.network)
    assert same_network(again.network, red.network)
    assert all(set(layer.reason_counts()) <= {"kept"} for layer in again.relation.layers)
    assert same_network(quotient(plan.net, red.relation), red.network)


def _as_float32(net):
    """The same network with every array stored as float32 (None when some value is not a float32)."""
    layers = []
    for layer in net.layers:
        w, b = layer.weight, layer.bias
        if w.dtype == object or b.dtype == object:
            return None
        w32, b32 = w.astype(np.float32), b.astype(np.float32)
        if not (np.array_equal(w32, w) and np.array_equal(b32, b)):
            return None
        layers.append(Layer(w32, b32, layer.activation))
    return type(net)(layers)


@SETTINGS
@given(planted_networks())
def test_float32_storage_reduces_exactly_like_float64(plan: Planted):
    """Weights kept as float32 (as read from files; widened block by block inside the reducer) give the same
    classes, factors and bit-identical quotient as the float64 arrays of the same values."""
    net32 = _as_float32(plan.net)
    assume(net32 is not None)
    assert net32.layers[0].stored_weight.dtype == np.float32
    r64, r32 = reduce(plan.net), reduce(net32)
    assert r32.partition == r64.partition and r32.factors == r64.factors
    assert same_network(r32.network, r64.network)
    assert all(layer.stored_weight.dtype == np.float32 for layer in net32.layers)  # the reducer never widened them


def test_float32_one_ulp_near_miss_after_aggregation_is_not_merged():
    """Layer 1 has a 2x copy (so layer 2 is aggregated from float32 blocks with a power-of-two factor); in layer 2
    two rows are proportional but for one float32 ulp: not merged; the exact twin is."""
    rng = np.random.default_rng(5)
    w1 = rng.standard_normal((3, 2)).astype(np.float32)
    w1[1] = 2 * w1[0]
    w2 = rng.standard_normal((3, 3)).astype(np.float32)
    w2[1] = w2[0]
    w2[2] = w2[0]
    w2[2, 1] = np.nextafter(w2[2, 1], np.float32(np.inf))  # on the column the factor 2 scales
    relu = Activation("relu")
    net = Network([Layer(w1, np.zeros(3, np.float32), relu), Layer(w2, np.zeros(3, np.float32), relu),
                   Layer(np.ones((1, 3), np.float32), np.zeros(1, np.float32), IDENTITY)])
    red = reduce(net)
    assert red.partition[1] == [[0, 1], [2]]
    assert red.factors[0][1] == 2


@settings(max_examples=60, deadline=None)
@given(planted_networks(), st.booleans(), st.booleans(), st.data())
def test_options_keep_exactness(plan: Planted, fold: bool, dead: bool, data):
    red = reduce(plan.net, fold_constants=fold, remove_dead=dead)
    reasons = {r for layer in red.relation.layers for r in layer.reason_counts()}
    assert fold or "constant" not in reasons
    assert dead or "dead" not in reasons
    assert same_function(plan.net, red.network, [data.draw(rational_inputs(plan.net.input_size))])
    assert same_network(quotient(plan.net, red.relation), red.network)


def cancel_pairs(plan: Planted) -> tuple[Planted, list[tuple[int, int, int]]]:
    """Make each copy whose base has no other copy cancel it in the next layer: W[:, base] = -c·W[:, copy], so
    the pair's aggregated outgoing weights vanish (exact: float32 significands times two 2-bit factors).
    Returns the changed plan and the (hidden layer index, copy, base) pairs."""
    layers, pairs = list(plan.net.layers), []
    for ell, copies in enumerate(plan.copies):
        bases = [base for _, base, _ in copies]
        nxt = layers[ell + 1].weight.copy()
        for neuron, base, c in copies:
            if bases.count(base) == 1:
                nxt[:, base] = -float(c) * nxt[:, neuron]
                pairs.append((ell, neuron, base))
        layers[ell + 1] = Layer(nxt, layers[ell + 1].bias, layers[ell + 1].activation)
    return Planted(plan.net.__class__(layers), plan.copies, plan.constants, plan.irrational, plan.dead), pairs


ONNX_ACTIVATIONS = tuple(a for a in ACTIVATIONS if Fraction(float(np.float32(a.alpha))) == a.alpha)
"""Activations an ONNX file stores exactly (LeakyReLU's slope is a float32 attribute)."""


@settings(max_examples=20, deadline=None)
@given(planted_networks(ONNX_ACTIVATIONS), st.data())
def test_cancelling_pairs_become_ghosts_and_are_proved_and_checked(plan: Planted, data):
    """The pairs' classes are removed as ghosts; the in-memory proof holds, and when the quotient is float64
    (folded constants may need more bits, and files round them) so do the certificate and the checker."""
    plan, pairs = cancel_pairs(plan)
    assume(pairs)
    red = reduce(plan.net)
    for ell, neuron, base in pairs:
        m, mb = red.relation.layers[ell].maps[neuron], red.relation.layers[ell].maps[base]
        assert m.cls == mb.cls and (mb.reason == "dead" or not mb.terms)  # one ghost class (or both constant)
    assert same_function(plan.net, red.network, [data.draw(rational_inputs(plan.net.input_size))])
    records, _, _ = prove_networks(plan.net, red.network, red.relation, solver_check="none")
    assert all(o.status == "proved" for o in records), [(o.id, o.detail) for o in records if o.status != "proved"]
    if any(arr.dtype == object for layer in red.network.layers for arr in (layer.weight, layer.bias)):
        return
    with tempfile.TemporaryDirectory() as tmp:
        a, b, c = Path(tmp) / "a.onnx", Path(tmp) / "b.onnx", Path(tmp) / "c.json"
        save_model(plan.net, a, dtype="float64")
        save_model(red.network, b, dtype="float64")
        write_certificate(prove(a, b, red), c)
        result = check(c, a, b)
        assert result.valid, result.reasons


# ---------------------------------------------------------------- error-free transforms (lumpcheck/exact.py)

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
moderate = st.floats(min_value=-(2.0**400), max_value=2.0**400, allow_nan=False).filter(
    lambda v: v == 0 or abs(v) >= 2.0**-400
)


sums = st.one_of(finite, st.sampled_from([0.0, -0.0, 1.0, 2.0**53, 2.0**-1074, 1e308, -1e308, 0.1, 3.0]))


@given(sums, sums)
def test_exact_add_flags_exactly_the_inexact_sums(a, b):
    s, inexact = exact_add(np.array([a]), np.array([b]))
    exact = bool(np.isfinite(s[0])) and Fraction(float(s[0])) == Fraction(a) + Fraction(b)
    assert bool(inexact[0]) != exact


@given(moderate, moderate)
def test_two_product_is_error_free_in_safe_range(a, b):
    assert eft_safe(np.float64(a)) and eft_safe(np.float64(b))
    p, e = two_product(np.float64(a), np.float64(b))
    assert Fraction(float(p)) + Fraction(float(e)) == Fraction(a) * Fraction(b)


@given(
    st.lists(finite, min_size=1, max_size=6),
    st.sampled_from([1.0, -1.0, 2.0, 0.25, -(2.0**-60), 3.0, -0.7, 2.0**-1000]),
)
def test_exact_scale_flags_exactly_the_inexact(xs, c):
    x = np.array(xs)
    with np.errstate(all="ignore"):
        p, inexact = exact_scale(x, np.float64(c))
    for xi, pi, bad in zip(xs, p, inexact):
        truly_exact = np.isfinite(pi) and Fraction(float(pi)) == Fraction(xi) * Fraction(c)
        assert bad or truly_exact  # never claims an inexact product exact (it may be conservative)
        if abs(c) == 1 or np.frexp(abs(c))[0] == 0.5:
            assert bad != truly_exact  # powers of two: exactly decided


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=1, max_size=5),
    st.sampled_from([1.0, 3.0, -3.0, 0.5, 2.0**-30, 7.0, -1.0, 1e-300, 1e300]),
    st.integers(-1, 4),
)
def test_proportional_rows_matches_fractions(row, c, perturb):
    y = np.array(row, dtype=np.float64)
    assume(np.any(y != 0))
    with np.errstate(all="ignore"):
        x = y * c
    assume(np.all(np.isfinite(x)))
    if 0 <= perturb < len(x):
        x[perturb] = np.nextafter(x[perturb], np.inf)
    p = int(np.flatnonzero(y != 0)[0])
    xf, yf = [Fraction(float(v)) for v in x], [Fraction(float(v)) for v in y]
    truth = xf[p] != 0 and all(a * yf[p] == b * xf[p] for a, b in zip(xf, yf))
    assert bool(proportional_rows(x[None, :], y[None, :], np.array([p]))[0]) == truth


@settings(max_examples=60, deadline=None)
@given(planted_networks())
def test_released_original_reduces_exactly_as_kept(plan: Planted):
    """reduce(release=True) (the CLI without a certificate: peak memory) gives the same classes, factors, stats and
    bit-identical quotient (dtypes included) as keeping the original; the network handed over is left without
    layers and the Reduction holds only its outline."""
    kept = reduce(plan.net)
    handed = Network(list(plan.net.layers), plan.net.normalization, plan.net.source, dict(plan.net.meta))
    released = reduce(handed, release=True)
    assert handed.layers == [] and released.original == plan.net.outline()
    assert released.original.shape_str() == plan.net.shape_str()
    assert released.partition == kept.partition and released.factors == kept.factors
    assert released.stats.layers == kept.stats.layers and released.stats.params_before == kept.stats.params_before
    assert same_network(released.network, kept.network)
    for a, b in zip(released.network.layers, kept.network.layers):
        assert a.stored_weight.dtype == b.stored_weight.dtype and a.stored_bias.dtype == b.stored_bias.dtype


def test_released_layers_are_freed_once_aggregated(monkeypatch):
    """With release, each original layer is no longer referenced once it has been aggregated: when layer k is
    aggregated, layers 0..k-1 are gone (weak references dead), and none survive in the Reduction."""
    import weakref

    from lumpcheck.reduction import lumping

    rng = np.random.default_rng(5)
    widths = [6, 8, 8, 8, 3]
    layers = []
    for k, (n, m) in enumerate(zip(widths, widths[1:])):
        w = rng.normal(size=(m, n)).astype(np.float32)
        w[m // 2:] = w[: m - m // 2] * np.float32(2)  # proportional copies: merged
        layers.append(Layer(w, rng.normal(size=m).astype(np.float32) * 0, IDENTITY if k == 3 else Activation("relu")))
    refs = [weakref.ref(layer.stored_weight) for layer in layers]
    net = Network(layers)
    del layers, w
    alive_at: list[list[bool]] = []
    real = lumping.aggregate

    def watching(weight, bias, terms, scratch=None):
        alive_at.append([r() is not None for r in refs])
        return real(weight, bias, terms, scratch)

    monkeypatch.setattr(lumping, "aggregate", watching)
    red = lumping.reduce(net, release=True)
    assert [alive[:k] for k, alive in enumerate(alive_at)] == [[False] * k for k in range(len(refs))]
    assert all(r() is None for r in refs) and net.layers == []
    assert red.network.widths == [6, 4, 4, 4, 3]
