"""BatchNorm folding pairs (irrational BN scales vs a float32/float16 fold) through the differential engine: the
radical chain is the graph exactly, its enclosures hold the exact values, and no verdict contradicts an exact ground
truth (the graph IR's exact evaluator on a grid; an ε just below a difference attained there is never 'unsat')."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.apps.cli import cli
from lumpcheck.bounds.coupling import couple
from lumpcheck.equivalence.falsify import Enclosure
from lumpcheck.equivalence.mode import Mode
from lumpcheck.equivalence.pair import verify_pair
from lumpcheck.ir.domain import Box
from lumpcheck.ir.graph.radical import Radical
from lumpcheck.ir.graph.radical_chain import EnclosedNetwork, NotRadicalChain, RadicalLayer, has_radicals, \
    radical_network
from lumpcheck.ir.network import evaluate

from bn_pair_helpers import bn_pair, exact_a, exact_b, grid, max_difference, top_set

SETTINGS = settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
BOX = Box((Fraction(-1), Fraction(-1)), (Fraction(1), Fraction(1)))


def _points(rng, n, k=4):
    return [tuple(Fraction(int(v), 64) for v in rng.integers(-64, 65, n)) for _ in range(k)]


@SETTINGS
@given(seed=st.integers(0, 2**31), dtype=st.sampled_from([np.float32, np.float16]))
def test_radical_chain_is_the_graph_exactly(tmp_path, seed, dtype):
    rng = np.random.default_rng(seed)
    graph, _ = bn_pair(rng, [3, 4, 4, 2], dtype, tmp_path / "a.onnx")
    net = radical_network(graph)
    assert has_radicals(net) and all(isinstance(l, RadicalLayer) for l in net.layers)
    for x in _points(rng, 3):
        got, want = evaluate(net, x), exact_a(graph, x)
        assert all(g == w for g, w in zip(got, want)), (x, got, want)
        for bits in (8, 128):  # a coarse enclosure is still an enclosure
            for (lo, hi), w in zip(EnclosedNetwork(net, bits).outputs(x), want):
                assert lo <= w <= hi


def test_a_chain_without_irrational_batchnorm_is_left_to_the_exact_readers(tmp_path):
    graph, _ = bn_pair(np.random.default_rng(0), [2, 3], np.float32, tmp_path / "plain.onnx")  # one Gemm, no BN
    with pytest.raises(NotRadicalChain, match="no BatchNorm with an irrational scale"):
        radical_network(graph)


@SETTINGS
@given(seed=st.integers(0, 2**31))
def test_coupling_residuals_cover_the_radical_weights(tmp_path, seed):
    """Every float weight of A's chain and of the first product layer's difference rows is within its residual of the
    exact (radical) value: checked with exact radical comparisons."""
    graph, b = bn_pair(np.random.default_rng(seed), [2, 3, 3, 2], np.float32, tmp_path / "a.onnx")
    a = radical_network(graph)
    c = couple(a, b)
    for layer, chain in zip(a.layers, c.chain_a):
        wres = np.zeros(chain.weight.shape) if chain.wres is None else chain.wres
        for exact, f, r in zip(layer.weight.reshape(-1), chain.weight.reshape(-1), wres.reshape(-1)):
            assert -Fraction(r) <= exact - Fraction(f) <= Fraction(r)
    first, nb = c.product[0], b.layers[0].out_features
    for t, (i, j) in enumerate(c.pairing.layers[0]):
        exact_rows = a.layers[0].weight[i] - np.array([Fraction(v) for v in b.layers[0].weight[j]], dtype=object)
        for exact, f, r in zip(exact_rows, first.weight[nb + t], first.wres[nb + t]):
            assert -Fraction(r) <= exact - Fraction(f) <= Fraction(r)


def _witness_violates(graph, b, cex, mode: Mode) -> bool:
    ya, yb = exact_a(graph, cex.x), exact_b(b, cex.x)
    for v, got in zip(ya, cex.ya):  # the reported enclosures hold the exact outputs
        lo, hi = (got.lo, got.hi) if isinstance(got, Enclosure) else (got, got)
        assert lo <= v <= hi
    if mode.kind == "epsilon":
        return any((p - q if p >= q else q - p) > mode.epsilon for p, q in zip(ya, yb))
    return top_set(ya) != top_set(yb)


@SETTINGS
@given(seed=st.integers(0, 2**31), dtype=st.sampled_from([np.float32, np.float16]))
def test_epsilon_verdicts_against_the_exact_grid(tmp_path, seed, dtype):
    """ε just below a difference attained on the grid is never 'unsat'; an 'unsat' holds on every grid point; a 'sat'
    witness violates exactly."""
    graph, b = bn_pair(np.random.default_rng(seed), [2, 4, 3, 2], dtype, tmp_path / "a.onnx")
    a = radical_network(graph)
    points = grid(BOX.lower, BOX.upper, 5)
    worst, _ = max_difference(graph, b, points)
    below = (worst.enclosure(80)[0] if isinstance(worst, Radical) else worst) - Fraction(1, 2**70)
    assert below < worst
    for eps in (below, below * 2, below / 2):
        if eps <= 0:
            continue
        mode = Mode("epsilon", eps)
        res = verify_pair(a, b, BOX, mode, 3, certificate=False)  # undecided in time is fine: never unsat
        if eps < worst:
            assert res.status != "unsat", (eps, worst)
        if res.status == "unsat":
            assert max_difference(graph, b, points)[0] <= eps
        if res.status == "sat":
            assert _witness_violates(graph, b, res.counterexample, mode)


@SETTINGS
@given(seed=st.integers(0, 2**31), dtype=st.sampled_from([np.float32, np.float16]))
def test_top1_verdicts_against_the_exact_grid(tmp_path, seed, dtype):
    graph, b = bn_pair(np.random.default_rng(seed), [2, 4, 3, 3], dtype, tmp_path / "a.onnx")
    a = radical_network(graph)
    mode = Mode.parse("top1")
    res = verify_pair(a, b, BOX, mode, 20, certificate=False)
    if res.status == "unsat":
        for x in grid(BOX.lower, BOX.upper, 5):
            assert top_set(exact_a(graph, x)) == top_set(exact_b(b, x)), x
    if res.status == "sat":
        assert _witness_violates(graph, b, res.counterexample, mode)


def _box_file(path, n):
    path.write_text("".join(f"(declare-const X_{i} Real)\n" for i in range(n)) + "(declare-const Y_0 Real)\n"
                    + "".join(f"(assert (>= X_{i} -1))\n(assert (<= X_{i} 1))\n" for i in range(n)))
    return path


def test_cli_decides_a_bn_fold_pair_and_checks_its_certificate(tmp_path):
    graph, b = bn_pair(np.random.default_rng(5), [2, 4, 4, 2], np.float32, tmp_path / "bn.onnx")
    from lumpcheck.io import save_model

    save_model(b, tmp_path / "fold.onnx", "float32")
    box = _box_file(tmp_path / "box.vnnlib", 2)
    files = [str(tmp_path / "bn.onnx"), str(tmp_path / "fold.onnx")]
    run = CliRunner().invoke(cli, ["verify", *files, "--domain", str(box), "--mode", "epsilon=0.001", "--certify",
                                    str(tmp_path / "c.json")])
    assert run.exit_code == 0, run.output
    assert "unsat" in run.output and "BatchNorm folded exactly" in run.output
    check = CliRunner().invoke(cli, ["check", str(tmp_path / "c.json"), *files])
    assert check.exit_code == 0 and "valid" in check.output, check.output
    worst, _ = max_difference(graph, b, grid(BOX.lower, BOX.upper, 5))
    eps = (worst.enclosure(80)[0] if isinstance(worst, Radical) else worst) / 2
    sat = CliRunner().invoke(cli, ["verify", *files, "--domain", str(box), "--mode", f"epsilon={eps}"])
    assert sat.exit_code == 1 and sat.output.startswith("sat"), sat.output


def test_enclosure_replay_never_calls_an_undecidable_point_a_counterexample(tmp_path):
    """A radical chain against itself: equal outputs everywhere, but enclosures of irrational values are never points,
    so |A − B| <= 0 cannot be proved at a point; replay must answer 'no counterexample', never 'sat'."""
    from lumpcheck.equivalence.pair_falsify import EnclosedPair

    graph, b = bn_pair(np.random.default_rng(7), [2, 3, 2], np.float32, tmp_path / "a.onnx")
    a = radical_network(graph)
    for x in grid(BOX.lower, BOX.upper, 3):
        assert EnclosedPair(a, a).replay(Mode("epsilon", Fraction(0)), x) is None
        assert EnclosedPair(a, a).replay(Mode.parse("top1"), x) is None
    res = verify_pair(a, a, BOX, Mode("epsilon", Fraction(1, 10**9)), 5, certificate=False)
    assert res.status != "sat"
