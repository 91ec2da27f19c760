"""verify's domain-match engine: lumpcheck's own box reductions (`reduce --domain`) decided exactly and fast; a
1-ulp edit, a reduction made on a smaller box, or a pruned copy is never called equivalent by it."""

from __future__ import annotations

import json
import time
from fractions import Fraction

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import numpy_helper

from lumpcheck.apps.cli import cli
from lumpcheck.equivalence.domain_match import match_on_domain
from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.mode import STRICT, Mode
from lumpcheck.io import load_model, save_model
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate
from lumpcheck.reduction.domain import reduce_on_domain

from pair_helpers import IDENTITY, LEAKY, RELU, z3_truth

F = Fraction


def planted(seed: int, widths: list[int], box: Box, act=RELU) -> Network:
    """A dyadic ReLU net in which about a third of each hidden layer is stably inactive on `box` and a third
    stably active (biases pushed past the interval bound of the rest of the pre-activation), the rest free."""
    rng = np.random.default_rng(seed)
    lo = np.array([float(v) for v in box.lower])
    hi = np.array([float(v) for v in box.upper])
    layers = []
    for i, (p, q) in enumerate(zip(widths, widths[1:])):
        w = rng.integers(-8, 9, (q, p)) / 8
        b = rng.integers(-4, 5, q) / 8
        hidden = i < len(widths) - 2
        if hidden:
            reach = np.maximum(np.abs(w) @ np.maximum(np.abs(lo), np.abs(hi)), 0)
            kind = rng.integers(0, 3, q)
            push = np.ceil(reach * 8) / 8 + 0.25
            b = np.where(kind == 0, -push, np.where(kind == 1, push, b))
        layers.append(Layer(w, b, act if hidden else IDENTITY))
        zs = [w.clip(0) @ lo + w.clip(max=0) @ hi + b, w.clip(0) @ hi + w.clip(max=0) @ lo + b]
        lo, hi = np.maximum(zs[0], 0), np.maximum(zs[1], 0)  # ReLU ranges (LeakyReLU: wider below 0, so
        lo = np.minimum(lo, zs[0] / 8) if act.kind == "leaky_relu" else lo  # its negative part too)
    return Network(layers)


def nudged_output(net: Network, row: int = 0) -> Network:
    """The output bias `row` moved by one ulp."""
    last = net.layers[-1]
    bias = np.array([float(v) for v in last.bias])
    bias[row] = np.nextafter(bias[row], np.inf)
    weight = np.array([[float(v) for v in r] for r in last.weight])
    return Network(net.layers[:-1] + [Layer(weight, bias, last.activation)])


def points(box: Box, count: int, seed: int) -> list[list[Fraction]]:
    rng = np.random.default_rng(seed)
    lo = np.array([float(v) for v in box.lower])
    hi = np.array([float(v) for v in box.upper])
    return [[F(float(v)) for v in x] for x in rng.uniform(lo, hi, (count, box.dim))]


BOX = Box((F(-1),) * 3, (F(1),) * 3)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("fold", [True, False])
def test_own_box_reduction_is_equivalent_both_ways(seed: int, fold: bool) -> None:
    a = planted(seed, [3, 9, 8, 2], BOX)
    red = reduce_on_domain(a, BOX, fold=fold)
    assert red.network.hidden_neurons < a.hidden_neurons
    for x, y in ((a, red.network), (red.network, a)):
        res = verify(x, y, BOX, STRICT, 60)
        assert (res.status, res.engine) == ("unsat", "domain-match"), res.message
        assert all(r.status == "proved" for records in res.proofs.values() for r in records)
        assert res.proofs


def test_a_permuted_and_rescaled_reduction_matches() -> None:
    a = planted(1, [3, 9, 8, 2], BOX)
    red = reduce_on_domain(a, BOX).network
    rng = np.random.default_rng(0)
    layers = [Layer(np.array(lay.weight, dtype=object), np.array(lay.bias, dtype=object), lay.activation) for lay in red.layers]
    for i in range(len(layers) - 1):
        p = rng.permutation(layers[i].out_features)
        layers[i] = Layer(layers[i].weight[p] * 2, layers[i].bias[p] * 2, layers[i].activation)
        layers[i + 1] = Layer(layers[i + 1].weight[:, p] / 2, layers[i + 1].bias, layers[i + 1].activation)
    found = match_on_domain(a, Network(layers), BOX, 60)
    assert found.proved, found.notes
    assert found.side == "a"


def test_one_ulp_edit_is_not_matched() -> None:
    a = planted(2, [3, 9, 8, 2], BOX)
    bad = nudged_output(reduce_on_domain(a, BOX).network)
    found = match_on_domain(a, bad, BOX, 60)
    assert not found.proved and found.notes
    assert all(evaluate(a, x) != evaluate(bad, x) for x in points(BOX, 3, 0))
    assert verify(a, bad, BOX, STRICT, 30).status == "sat"


def test_reduction_on_a_smaller_box_is_not_proved_on_a_larger_one() -> None:
    """Phases stable on the small box are not on the large one: the pair differs there and must not match."""
    small = Box((F(-1, 4),) * 3, (F(1, 4),) * 3)
    a = planted(4, [3, 9, 8, 2], small)
    b = reduce_on_domain(a, small).network
    differs = [x for x in points(BOX, 200, 1) if evaluate(a, x) != evaluate(b, x)]
    assert differs, "the planted pair should differ on the larger box"
    found = match_on_domain(a, b, BOX, 60)
    assert not found.proved
    assert verify(a, b, small, STRICT, 60).status == "unsat"
    assert verify(a, b, BOX, STRICT, 30).status != "unsat"


def test_pairs_without_stable_neurons_are_left_to_other_engines() -> None:
    a = Network([Layer(np.array([[1.0, -1.0], [1.0, 1.0]]), np.zeros(2), RELU),
                 Layer(np.array([[1.0, 1.0]]), np.zeros(1), IDENTITY)])
    box = Box((F(-1),) * 2, (F(1),) * 2)
    found = match_on_domain(a, a, box, 10)
    assert not found.proved and "no neuron is stable" in found.notes[0]


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), shrink=st.sampled_from([F(1), F(1, 2)]), edit=st.sampled_from(["none", "ulp"]))
def test_proved_pairs_are_equal_by_z3(seed: int, shrink: Fraction, edit: str) -> None:
    """Against an independent ground truth (a monolithic z3 query): whatever the pair, a proof means equal."""
    inner = Box(tuple(v * shrink for v in BOX.lower), tuple(v * shrink for v in BOX.upper))
    a = planted(seed, [3, 6, 5, 2], inner)
    b = reduce_on_domain(a, inner).network
    if edit == "ulp":
        b = nudged_output(b, seed % 2)
    found = match_on_domain(a, b, BOX, 60)
    if found.proved:
        assert z3_truth(a, b, BOX, "epsilon") == "unsat"
        assert edit == "none"
    if edit == "ulp":
        assert not found.proved


# ---------------------------------------------------------------- the command, on files


def run(*args):
    return CliRunner().invoke(cli, [str(v) for v in args])


def _tamper(src, dst) -> None:
    """The first output bias of an ONNX model moved by one ulp of its element type."""
    model = onnx.load(src)
    last = [i for i in model.graph.initializer if numpy_helper.to_array(i).ndim == 1][-1]
    arr = numpy_helper.to_array(last).copy()
    arr[0] = np.nextafter(arr[0], arr.dtype.type(np.inf))
    last.CopyFrom(numpy_helper.from_array(arr, last.name))
    onnx.save(model, dst)


def _reduce_and_verify(model, prop, tmp_path, *extra):
    reduced, cert = tmp_path / "reduced.onnx", tmp_path / "cert.json"
    start = time.monotonic()
    res = run("reduce", model, "-o", reduced, "--domain", prop, "--certify", cert, *extra)
    reduce_seconds = time.monotonic() - start
    assert res.exit_code == 0, res.output
    start = time.monotonic()
    res = run("verify", model, reduced, "--domain", prop, "--timeout", "60", "--json", *extra)
    verify_seconds = time.monotonic() - start
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["status"], out["engine"]) == ("unsat", "domain-match"), out["message"]
    bad = tmp_path / "tampered.onnx"
    _tamper(reduced, bad)
    res = run("verify", model, bad, "--domain", prop, "--timeout", "20", "--json", *extra)
    out = json.loads(res.stdout)
    assert out["status"] != "unsat" and res.exit_code != 0, out
    assert out["status"] in ("sat", "unknown", "timeout")
    return reduce_seconds, verify_seconds


def test_cli_decides_a_planted_box_reduction(tmp_path) -> None:
    model, prop = tmp_path / "net.onnx", tmp_path / "box.vnnlib"
    assert save_model(planted(6, [3, 12, 10, 3], BOX), model, dtype="float64").exact
    lines = [f"(declare-const X_{i} Real)" for i in range(3)]
    lines += [f"(assert (>= X_{i} -1))\n(assert (<= X_{i} 1))" for i in range(3)]
    prop.write_text("\n".join(lines) + "\n")
    _reduce_and_verify(model, prop, tmp_path)


def test_cli_decides_acas_on_prop_3_about_as_fast_as_reduce_certify(zoo, tmp_path) -> None:
    model = zoo / "marabou/resources/onnx/acasxu/ACASXU_experimental_v2a_1_1.onnx"
    prop = zoo / "vnncomp2021/benchmarks/acasxu/prop_3.vnnlib"
    reduce_seconds, verify_seconds = _reduce_and_verify(model, prop, tmp_path)
    assert load_model(tmp_path / "reduced.onnx").hidden_neurons < load_model(model).hidden_neurons
    # not a timing test: the verify must not fall through to the search engines (they time out on this pair)
    assert verify_seconds < 60


def test_argmin_mode_on_a_box_reduction(tmp_path) -> None:
    a = planted(5, [3, 9, 8, 3], BOX)
    b = reduce_on_domain(a, BOX).network
    res = verify(b, a, BOX, Mode("argmin"), 60)
    assert (res.status, res.engine) == ("unsat", "domain-match")


def test_a_neuron_pruned_copy_is_rejected_before_any_reduction() -> None:
    """Dropping a first-layer neuron that is not stably inactive: no box reduction can produce that first layer."""
    a = planted(7, [3, 9, 8, 2], BOX)
    first, second = a.layers[0], a.layers[1]
    w, bias = np.array(first.weight, dtype=float), np.array(first.bias, dtype=float)
    live = [k for k in range(first.out_features) if np.abs(w[k]).sum() + bias[k] > 0]  # can be active on BOX
    keep = [k for k in range(first.out_features) if k != live[0]]
    b = Network([Layer(first.weight[keep], first.bias[keep], RELU), Layer(second.weight[:, keep], second.bias, RELU),
                 *a.layers[2:]])
    found = match_on_domain(a, b, BOX, 60)
    assert not found.proved
    assert any("first layer is not among" in n for n in found.notes), found.notes


def test_leaky_relu_box_reduction_is_equivalent() -> None:
    """Inactive LeakyReLUs are linear (slope 1/8), folded rather than removed: the filter must let them through."""
    a = planted(8, [3, 9, 8, 2], BOX, LEAKY)
    red = reduce_on_domain(a, BOX)
    assert red.network.hidden_neurons < a.hidden_neurons
    found = match_on_domain(a, red.network, BOX, 60)
    assert found.proved, found.notes
    assert not match_on_domain(a, nudged_output(red.network), BOX, 60).proved
