"""ε-certificates for rounded exports: proved and checked on planted float64 nets; every tampering is caught."""

from __future__ import annotations

import copy
import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumpcheck.apps import pipeline
from lumpcheck.bounds.deviation import certified_epsilon
from lumpcheck.checker.epsilon import check_epsilon, checked_bound, rounds_to
from lumpcheck.epsilon.certificate import (
    apply_corrections,
    as_certificate,
    corrections,
    difference_bound,
    epsilon_schema_errors,
    prove_epsilon,
    round_up,
    write_epsilon_certificate,
)
from lumpcheck.errors import LumpcheckError
from lumpcheck.io import load_model, save_model
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate, evaluate_float
from lumpcheck.ir.rounding import nearest_float32, round_network
from lumpcheck.prove.records import sha256_file
from lumpcheck.reduction.lumping import reduce

RELU, TANH = Activation("relu"), Activation("tanh")
FACTORS = {"relu": [1.0, 2.0, 0.5, 0.25], "tanh": [1.0, -1.0], "leaky_relu": [1.0, 2.0, 0.5], "sigmoid": [1.0]}


def planted(seed: int, widths: list[int], outputs: int, act: Activation = RELU) -> Network:
    """Random float64 (full 53-bit) MLP in which the last 2/5 of each hidden layer are exact multiples (by powers
    of two, or negations for tanh) of earlier neurons: the quotient's merged weights are sums of float64 values."""
    rng = np.random.default_rng(seed)
    layers = []
    for fan, width in zip(widths, widths[1:]):
        w, b = rng.standard_normal((width, fan)) / np.sqrt(fan), rng.standard_normal(width) / 10
        bases = max(1, width * 3 // 5)
        for i in range(bases, width):
            base, c = int(rng.integers(bases)), float(rng.choice(FACTORS[act.kind]))
            w[i], b[i] = w[base] * c, b[base] * c
        layers.append(Layer(w, b, act))
    layers.append(Layer(rng.standard_normal((outputs, widths[-1])) / np.sqrt(widths[-1]), rng.standard_normal(outputs) / 10, IDENTITY))
    return Network(layers)


def unit_box(n: int) -> Box:
    return Box(tuple([Fraction(-1)] * n), tuple([Fraction(1)] * n))


def make(directory: Path, net: Network, dtypes=("float32", "float64"), box: Box | None = None) -> dict:
    """Write the original (float64), reduce, export in each dtype and prove; {dtype: (doc, reduced path)}."""
    directory.mkdir(parents=True, exist_ok=True)
    original = directory / "original.onnx"
    save_model(net, original, dtype="float64")
    red = reduce(load_model(original))
    out = {"original": original, "reduction": red}
    for dtype in dtypes:
        reduced = directory / f"reduced_{dtype}.onnx"
        save_model(red.network, reduced, dtype=dtype)
        out[dtype] = (prove_epsilon(original, reduced, red, box or unit_box(net.input_size), red.network), reduced)
    return out


def tampered(doc: dict, path: Path, reduced: Path | None = None) -> dict:
    """A copy of the document, with the reduced file's hash updated when a rewritten file is given."""
    doc = copy.deepcopy(doc)
    if reduced is not None:
        doc["models"]["reduced"]["sha256"] = sha256_file(reduced)
    return doc


def rewrite(reduced: Path, target: Path, layer: int, row: int, col: int, ulps: int, dtype: str) -> Path:
    """Write a copy of the reduced model with one weight moved by `ulps` units in the last place of `dtype`."""
    net = load_model(reduced)
    w = net.layers[layer - 1].weight.copy()
    kind = np.float32 if dtype == "float32" else np.float64
    value = kind(w[row, col])
    for _ in range(ulps):
        value = np.nextafter(value, kind(np.inf))
    w[row, col] = float(value)
    layers = list(net.layers)
    layers[layer - 1] = Layer(w, net.layers[layer - 1].bias, net.layers[layer - 1].activation)
    save_model(Network(layers), target, dtype=dtype)
    return target


# ---------------------------------------------------------------- the planted 5-50x6-5 net


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> dict:
    return make(tmp_path_factory.mktemp("big"), planted(1, [5] + [50] * 6, 5))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_planted_export_gets_a_valid_epsilon_certificate(big, dtype):
    doc, reduced = big[dtype]
    proof = doc["epsilon_proof"]
    assert doc["verdict"] == "proved" and doc["claim"]["mode"] == "epsilon" and not epsilon_schema_errors(doc)
    assert proof["dtype"] == dtype and len(proof["corrections"]) > 0  # the quotient is not exact in `dtype`
    assert not round_network(big["reduction"].network, dtype)[1].exact
    epsilon = Fraction(doc["claim"]["epsilon"])
    assert Fraction(proof["bound"]) <= epsilon <= Fraction(proof["bound"]) * Fraction(11, 10)
    assert Fraction(proof["bound"]) <= Fraction(proof["interval_bound"])  # back-substitution never loses
    result = check_epsilon(json.loads(json.dumps(doc)), big["original"], reduced)
    assert result.valid and result.scope.epsilon == epsilon and result.scope.mode == "epsilon"
    assert str(result) == f"valid: |original - reduced| <= {float(epsilon):.3g} on the box (5 inputs)"
    cert = as_certificate(doc)
    assert cert.mode == "epsilon" and cert.epsilon == epsilon and cert.domain == unit_box(5) and cert.verdict == "proved"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_measured_difference_stays_below_epsilon(big, dtype):
    """2000 box points: exact on a few, long double (64-bit significand, far below ε's scale) on the rest."""
    doc, reduced = big[dtype]
    epsilon = Fraction(doc["claim"]["epsilon"])
    original, written = load_model(big["original"]), load_model(reduced)
    points = np.random.default_rng(7).uniform(-1, 1, (2000, 5))
    for x in points[:10]:
        exact = [Fraction(float(v)) for v in x]
        assert max(abs(a - b) for a, b in zip(evaluate(original, exact), evaluate(written, exact))) <= epsilon
    if np.finfo(np.longdouble).nmant > 60:
        rest = points[10:].astype(np.longdouble)
        measured = np.abs(evaluate_float(original, rest, np.longdouble) - evaluate_float(written, rest, np.longdouble)).max()
        assert 0 < measured and Fraction(math.nextafter(float(measured), math.inf)) <= epsilon


def test_float32_epsilon_exceeds_float64_epsilon(big):
    eps = {d: Fraction(big[d][0]["claim"]["epsilon"]) for d in ("float32", "float64")}
    assert eps["float64"] * 10**6 < eps["float32"]


# ---------------------------------------------------------------- tampering (small nets: fast)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict:
    return make(tmp_path_factory.mktemp("small"), planted(3, [3, 8, 8], 2))


def _reasons(doc, small, reduced) -> list[str]:
    """The checker's reasons with z3 off (the exact checks alone); with z3 on it must be invalid too."""
    assert not check_epsilon(doc, small["original"], reduced).valid
    res = check_epsilon(doc, small["original"], reduced, solver_check="none")
    assert not res.valid
    return res.reasons


def test_small_certificates_are_valid(small):
    for dtype in ("float32", "float64"):
        doc, reduced = small[dtype]
        result = check_epsilon(doc, small["original"], reduced)
        assert result.valid
        claim = doc["claim"]  # what the valid certificate establishes is what its claim says, and only that
        assert (result.scope.mode, result.scope.epsilon) == ("epsilon", Fraction(claim["epsilon"]))
        assert result.scope.lower == unit_box(3).lower and result.scope.upper == unit_box(3).upper
        assert result.scope.to_dict()["epsilon"] == claim["epsilon"]


def test_far_away_correction_is_invalid(small):
    doc, reduced = small["float32"]
    bad = tampered(doc, reduced)
    bad["epsilon_proof"]["corrections"][0][3] = "1/3"
    assert any("is not 1/3 rounded" in r for r in _reasons(bad, small, reduced))


def test_near_correction_that_still_rounds_breaks_the_strict_proof(small):
    doc, reduced = small["float32"]
    bad = tampered(doc, reduced)
    entry = bad["epsilon_proof"]["corrections"][0]
    nudged = Fraction(entry[3]) + Fraction(1, 2**80)
    assert rounds_to(nudged, Fraction(nearest_float32(Fraction(entry[3]))), "float32")
    entry[3] = f"{nudged.numerator}/{nudged.denominator}"
    assert any("original pre-activation" in r for r in _reasons(bad, small, reduced))


def test_missing_or_duplicated_correction_is_invalid(small):
    doc, reduced = small["float64"]
    dropped = tampered(doc, reduced)
    dropped["epsilon_proof"]["corrections"].pop()
    assert any("original pre-activation" in r for r in _reasons(dropped, small, reduced))
    twice = tampered(doc, reduced)
    twice["epsilon_proof"]["corrections"].append(list(twice["epsilon_proof"]["corrections"][0]))
    assert any("listed twice" in r for r in _reasons(twice, small, reduced))


def test_epsilon_below_the_bound_is_invalid(small):
    doc, reduced = small["float32"]
    window = doc["epsilon_proof"]["window"]
    bound = checked_bound(apply_corrections(load_model(reduced), _fixes(doc)), load_model(reduced), unit_box(3), window)
    assert bound <= Fraction(doc["claim"]["epsilon"])
    bad = tampered(doc, reduced)
    smaller = bound * Fraction(999, 1000)
    bad["claim"]["epsilon"] = f"{smaller.numerator}/{smaller.denominator}"
    assert _reasons(bad, small, reduced)[0].startswith(f"cannot establish ε={bad['claim']['epsilon']} (bound ")


def test_corrected_weight_moved_beyond_rounding_is_invalid(small, tmp_path):
    doc, reduced = small["float32"]
    layer, row, col, _ = next(c for c in doc["epsilon_proof"]["corrections"] if c[2] != "bias")
    moved = rewrite(reduced, tmp_path / "moved.onnx", layer, row, col, 2, "float32")
    reasons = _reasons(tampered(doc, reduced, moved), small, moved)
    assert any(f"correction layer {layer} row {row} column {col}" in r and "rounded" in r for r in reasons)


def test_one_ulp_change_of_an_uncorrected_weight_is_invalid(small, tmp_path):
    doc, reduced = small["float64"]
    fixed = {(c[0], c[1], c[2]) for c in doc["epsilon_proof"]["corrections"]}
    net = load_model(reduced)
    layer, row, col = next((ell, r, c) for ell, lay in enumerate(net.layers, start=1)
                           for r in range(lay.out_features) for c in range(lay.in_features)
                           if (ell, r, c) not in fixed and lay.weight[r, c] != 0)
    moved = rewrite(reduced, tmp_path / "ulp.onnx", layer, row, col, 1, "float64")
    assert any("original pre-activation" in r for r in _reasons(tampered(doc, reduced, moved), small, moved))


def test_changed_file_and_missing_domain_are_invalid(small, tmp_path):
    doc, reduced = small["float32"]
    moved = rewrite(reduced, tmp_path / "other.onnx", 1, 0, 0, 1, "float32")
    assert any("sha256" in r for r in _reasons(tampered(doc, reduced), small, moved))
    unbounded = tampered(doc, reduced)
    unbounded["claim"]["domain"] = None
    assert "needs a domain" in _reasons(unbounded, small, reduced)[0]


def test_no_domain_is_refused_by_the_prover(small):
    _, reduced = small["float32"]
    with pytest.raises(LumpcheckError, match="needs an input domain"):
        prove_epsilon(small["original"], reduced, small["reduction"], None, small["reduction"].network)


def test_written_file_reads_back(small, tmp_path):
    doc, reduced = small["float32"]
    write_epsilon_certificate(doc, tmp_path / "c.json")
    assert json.loads((tmp_path / "c.json").read_text()) == json.loads(json.dumps(doc))


def test_tanh_and_z3_confirmation(tmp_path):
    out = make(tmp_path, planted(5, [2, 6], 2, TANH), dtypes=("float32",))
    doc, reduced = out["float32"]
    assert doc["verdict"] == "proved" and check_epsilon(doc, out["original"], reduced).valid
    relu = make(tmp_path / "relu", planted(6, [2, 5], 1), dtypes=("float32",))
    red = relu["reduction"]
    doc = prove_epsilon(relu["original"], relu["float32"][1], red, unit_box(2), red.network, z3_seconds=30)
    assert doc["epsilon_proof"]["z3"]["result"] == "unsat"


def _fixes(doc: dict) -> list:
    return [(c[0], c[1], c[2], Fraction(c[3])) for c in doc["epsilon_proof"]["corrections"]]


# ---------------------------------------------------------------- the pieces


@settings(max_examples=200, deadline=None)
@given(st.fractions(min_value=Fraction(1, 10**30), max_value=Fraction(10**30)), st.integers(1, 4))
def test_round_up_is_the_smallest_short_number_above(x, digits):
    y = round_up(x, digits)
    top = len(str(y.numerator)) - len(str(y.denominator))  # then 10^top <= y < 10^(top+1) after adjusting
    while Fraction(10) ** top > y:
        top -= 1
    while Fraction(10) ** (top + 1) <= y:
        top += 1
    unit = Fraction(10) ** (top - digits + 1)  # y has at most `digits` significant digits: a multiple of unit
    below = y - (unit / 10 if y == Fraction(10) ** top else unit)  # the next such number below y
    assert x <= y and (y / unit).denominator == 1 and below < x


@settings(max_examples=200, deadline=None)
@given(st.fractions(min_value=-10**6, max_value=10**6))
def test_rounding_check_agrees_with_the_exporter(q):
    f = nearest_float32(q)
    assert rounds_to(q, Fraction(f), "float32") and rounds_to(q, Fraction(float(q)), "float64")
    neighbour = float(np.nextafter(np.float32(f), np.float32(np.inf)))
    assert not rounds_to(q, Fraction(neighbour), "float32") or abs(Fraction(neighbour) - q) == abs(Fraction(f) - q)


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([RELU, TANH, Activation("sigmoid"), Activation("leaky_relu", Fraction(1, 8))]))
def test_prover_and_checker_bounds_agree_and_beat_intervals(seed, act):
    net = reduce(planted(seed, [3, 6, 5], 2, act)).network
    box = unit_box(3)
    for dtype in ("float32", "float64"):
        rounded = round_network(net, dtype)[0]
        bound, deltas = difference_bound(net, rounded, box)
        assert bound == checked_bound(net, rounded, box, len(net.layers)) and len(deltas) == len(net.layers)
        assert bound <= difference_bound(net, rounded, box, 0)[0] <= certified_epsilon(net, rounded, box)
        assert difference_bound(net, rounded, box, 1)[0] == checked_bound(net, rounded, box, 1)
        if act.piecewise_linear:
            for x in np.random.default_rng(seed).uniform(-1, 1, (5, 3)):
                exact = [Fraction(float(v)) for v in x]
                assert max(abs(a - b) for a, b in zip(evaluate(net, exact), evaluate(rounded, exact))) <= bound


def test_corrections_rebuild_the_quotient():
    net = reduce(planted(9, [3, 7, 6], 2)).network
    rounded = round_network(net, "float32")[0]
    fixes = corrections(net, rounded)
    rebuilt = apply_corrections(rounded, fixes)
    assert fixes and all(np.all(a.weight == b.weight) and np.all(a.bias == b.bias) for a, b in zip(rebuilt.layers, net.layers))


# ---------------------------------------------------------------- the pipeline (after notes/epsilon_integration.patch)

PATCHED = hasattr(pipeline, "prove_epsilon")
needs_patch = pytest.mark.skipif(not PATCHED, reason="pipeline ε support: apply /work/notes/epsilon_integration.patch")


@needs_patch
def test_pipeline_epsilon_certificate_with_a_domain(tmp_path):
    src, box = tmp_path / "m.onnx", tmp_path / "box.vnnlib"
    save_model(planted(4, [3, 8, 8], 2), src, dtype="float64")
    box.write_text("".join(f"(declare-const X_{i} Real)\n(assert (>= X_{i} -1))\n(assert (<= X_{i} 1))\n" for i in range(3))
                   + "(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n")
    res = pipeline.run_reduction(src, tmp_path / "r.onnx", domain_path=box, dtype="float32", cert_path=tmp_path / "c.json")
    assert res.verdict == "proved" and res.certificate.mode == "epsilon" and not res.rounding.exact
    from lumpcheck.checker import check

    assert check(tmp_path / "c.json", src, tmp_path / "r.onnx").valid
    reduced = json.loads((tmp_path / "c.json").read_text())["models"]["reduced"]  # the final name, not the staged file
    assert reduced == {**reduced, "path": str(tmp_path / "r.onnx"), "sha256": sha256_file(tmp_path / "r.onnx")}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_epsilon_certificate_records_the_phase_claims_of_a_box_reduction(tmp_path):
    """A neuron dead on the box is removed (an 'inactive' map): the ε-certificate must carry the phase claims it
    rests on, or `check` refuses the certificate reduce has just published as proved."""
    net = planted(4, [3, 8, 8], 2)
    first = net.layers[0]
    weight, bias = first.weight.copy(), first.bias.copy()
    weight[0], bias[0] = [0.5, -0.25, 0.125], -3.0  # at most 7/8 - 3 < 0 on [-1, 1]^3
    src, box = tmp_path / "m.onnx", tmp_path / "box.vnnlib"
    save_model(Network([Layer(weight, bias, first.activation), *net.layers[1:]]), src, dtype="float64")
    box.write_text("".join(f"(declare-const X_{i} Real)\n(assert (>= X_{i} -1))\n(assert (<= X_{i} 1))\n" for i in range(3))
                   + "(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n")
    res = pipeline.run_reduction(src, tmp_path / "r.onnx", domain_path=box, dtype="float32", cert_path=tmp_path / "c.json")
    assert res.verdict == "proved" and res.certificate.mode == "epsilon"
    assert "inactive" in [m.reason for m in res.certificate.relation.layers[0].maps]
    from lumpcheck.checker import check

    result = check(tmp_path / "c.json", src, tmp_path / "r.onnx")
    assert result.valid, result.reasons


@needs_patch
def test_pipeline_refuses_a_rounded_export_without_domain(tmp_path):
    src = tmp_path / "m.onnx"
    save_model(planted(4, [3, 8, 8], 2), src, dtype="float64")
    with pytest.raises(LumpcheckError, match="a rounding error is unbounded"):
        pipeline.run_reduction(src, tmp_path / "r.onnx", dtype="float32", cert_path=tmp_path / "c.json")
    assert not (tmp_path / "c.json").exists()
