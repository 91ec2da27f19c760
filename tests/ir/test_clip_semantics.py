"""Input clipping and normalisation are part of a model's meaning, for reduce, check and verify alike.

Ground truth everywhere is an independent exact evaluation written here (clip, normalise, layers, de-normalise
in Fractions), at the box corners and on a grid. The motivating case: a model clips x to [0, 4] and feeds x/2
to ReLUs z0 = 3 − x', z1 = x'; on the box [7, 8] every input is clipped to 4, so z0 = 1 is ACTIVE. A reduced
model that drops neuron 0 as "inactive" is wrong there (3 vs 2), and no command may say otherwise.
"""

from __future__ import annotations

import itertools
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.apps.pipeline import run_reduction
from lumpcheck.checker import check
from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.mode import STRICT
from lumpcheck.errors import LumpcheckError
from lumpcheck.io import load_model, save_model
from lumpcheck.ir.activation import RELU, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate, layers_only
from lumpcheck.ir.normalization import Normalization
from lumpcheck.ir.relation import LayerRelation, NeuronMap, PhaseClaim, PhaseClaims, Relation
from lumpcheck.ir.semantics import ComparisonError, clip_as_layer, compare, model_box
from lumpcheck.prove.prover import prove, prove_networks
from lumpcheck.prove.records import write_certificate
from lumpcheck.reduction.domain import reduce_on_domain

F = Fraction
CLIP = Normalization((F(0),), (F(2),), (F(0),), (F(1),), (F(0),), (F(4),))


def truth(net: Network, x: list[Fraction]) -> list[Fraction]:
    """Independent exact model evaluation: clip, normalise, ReLU/identity layers, de-normalise."""
    norm = net.normalization
    v = list(x)
    if norm is not None:
        if norm.input_min:
            v = [min(max(a, lo), hi) for a, lo, hi in zip(v, norm.input_min, norm.input_max)]
        v = [(a - m) / r for a, m, r in zip(v, norm.input_mean, norm.input_range)]
    for layer in net.layers:
        w = [[F(c) for c in row] for row in layer.weight]
        z = [sum((c * a for c, a in zip(row, v)), F(layer.bias[i])) for i, row in enumerate(w)]
        v = [max(a, F(0)) for a in z] if layer.activation.kind == "relu" else z
    if norm is not None:
        n = len(v)
        rng = norm.output_range * n if len(norm.output_range) == 1 else norm.output_range
        mean = norm.output_mean * n if len(norm.output_mean) == 1 else norm.output_mean
        v = [a * r + m for a, r, m in zip(v, rng, mean)]
    return v


def grid(box: Box, steps: int = 4) -> list[list[Fraction]]:
    axes = [[lo + (hi - lo) * F(i, steps) for i in range(steps + 1)] for lo, hi in zip(box.lower, box.upper)]
    return [list(p) for p in itertools.product(*axes)]


def clip_model(norm: Normalization = CLIP) -> Network:
    return Network([Layer(np.array([[-1.0], [1.0]]), np.array([3.0, 0.0]), RELU),
                    Layer(np.array([[1.0, 1.0]]), np.array([0.0]))], normalization=norm)


def forged(norm: Normalization = CLIP) -> Network:
    """Neuron 0 dropped as if it were inactive."""
    return Network([Layer(np.array([[1.0]]), np.array([0.0]), RELU), Layer(np.array([[1.0]]), np.array([0.0]))],
                   normalization=norm)


def vnnlib(path: Path, lower: list[Fraction], upper: list[Fraction]) -> Path:
    lines = [f"(declare-const X_{i} Real)" for i in range(len(lower))] + ["(declare-const Y_0 Real)"]
    for i, (lo, hi) in enumerate(zip(lower, upper)):
        lines += [f"(assert (>= X_{i} {float(lo)!r}))", f"(assert (<= X_{i} {float(hi)!r}))"]
    path.write_text("\n".join(lines) + "\n")
    return path


BOXES = {  # the clip range is [0, 4]
    "wholly_above": (F(7), F(8)),
    "wholly_below": (F(-3), F(-1)),
    "inside": (F(1), F(3)),
    "partly_outside": (F(3), F(6)),
    "straddles": (F(-2), F(9)),
}


def test_the_model_is_clip_then_normalise():
    net = clip_model()
    for x in (F(-5), F(0), F(1), F(4), F(7), F(8)):
        assert evaluate(net, [x]) == truth(net, [x])
    assert evaluate(net, [F(7)]) == [F(3)] and evaluate(forged(), [F(7)]) == [F(2)]


def _forged_certificate(tmp_path: Path, suffix: str) -> tuple[Path, Path, Path]:
    """Files of the clip model and the forged reduction, with a certificate claiming neuron 0 inactive on [7, 8]."""
    a, b, c = tmp_path / f"orig{suffix}", tmp_path / f"red{suffix}", tmp_path / "forged.json"
    save_model(clip_model(), a, dtype="float64")
    save_model(forged(), b, dtype="float64")
    relation = Relation([LayerRelation([NeuronMap((), F(0), "inactive"), NeuronMap(((0, F(1)),))], 1)])
    claims = PhaseClaims("interval", 1, [[PhaseClaim(0, -1, F(0))]])
    cert = prove(a, b, relation, domain=Box((F(7),), (F(8),)), claims=claims)
    assert cert.verdict == "failed"  # the prover sees z0 in [1, 1]
    write_certificate(cert, c)
    doc = json.loads(c.read_text())
    doc["verdict"] = "proved"
    for ob in doc["obligations"]:
        ob["status"] = "proved"
    c.write_text(json.dumps(doc))
    return a, b, c


@pytest.mark.parametrize("suffix", [".nnet", ".onnx"])
def test_false_phase_claim_above_the_clip_range_is_invalid(tmp_path, suffix):
    a, b, c = _forged_certificate(tmp_path, suffix)
    result = check(c, a, b)
    assert not result.valid
    assert any("layer 1 neuron 0: claimed inactive" in r for r in result.reasons), result.reasons


@pytest.mark.parametrize("suffix", [".nnet", ".onnx"])
def test_verify_agrees_with_check_on_the_clipped_box(tmp_path, suffix):
    a, b, _ = _forged_certificate(tmp_path, suffix)
    res = verify(load_model(a), load_model(b), Box((F(7),), (F(8),)), STRICT, 30)
    assert res.status == "sat"
    assert F(7) <= res.witness[0] <= F(8)
    assert list(res.output_a) == [F(3)] and list(res.output_b) == [F(2)]


@pytest.mark.parametrize("where", sorted(BOXES))
@pytest.mark.parametrize("normalization", ["keep", "fold"])
def test_reduce_on_boxes_around_the_clip_range(tmp_path, where, normalization):
    """Wholly inside, partly or wholly outside the clip range: the reduction equals the model on the box (exact
    ground truth on a grid), its certificate checks valid, and verify finds no difference."""
    lo, hi = BOXES[where]
    src = tmp_path / "clip.nnet"
    save_model(clip_model(), src)
    prop = vnnlib(tmp_path / "box.vnnlib", [lo], [hi])
    out, cert = tmp_path / "small.nnet", tmp_path / "cert.json"
    res = run_reduction(src, out, domain_path=prop, cert_path=cert, normalization=normalization,
                        allow_outside_clip=True)
    assert res.verdict == "proved", [o.detail for o in res.certificate.failures]
    original, reduced = load_model(src), load_model(out)
    box = Box((lo,), (hi,))
    for x in grid(box, 12):
        assert truth(reduced, x) == truth(original, x), x
    assert check(cert, src, out).valid
    assert verify(original, reduced, box, STRICT, 30).status == "unsat"
    if where.startswith("wholly"):  # every input is clipped onto one value (4 or 0): the model is 3 there
        assert {truth(reduced, x)[0] for x in grid(box)} == {F(3)}


def test_wholly_outside_refuses_to_certify_unless_allowed(tmp_path):
    src = tmp_path / "clip.nnet"
    save_model(clip_model(), src)
    prop = vnnlib(tmp_path / "box.vnnlib", [F(7)], [F(8)])
    with pytest.raises(LumpcheckError, match="wholly outside"):
        run_reduction(src, tmp_path / "s.nnet", domain_path=prop, cert_path=tmp_path / "c.json")
    res = run_reduction(src, tmp_path / "s.nnet", domain_path=prop)  # no certificate: a loud warning only
    assert any("wholly outside the clip range" in n for n in res.notes)
    res = run_reduction(src, tmp_path / "p.nnet", domain_path=vnnlib(tmp_path / "p.vnnlib", [F(3)], [F(6)]),
                        cert_path=tmp_path / "p.json")
    assert res.verdict == "proved" and any("partly outside the clip range" in n for n in res.notes)


def test_clip_warning_shows_a_tiny_excess():
    """A box beyond the clip range by less than 6 significant digits still prints as different numbers,
    with the excess itself (it read 'box [3, 4] is partly outside the clip range [0, 4]')."""
    from lumpcheck.ir.semantics import clip_report
    tiny = F(1, 10**9)
    lines, wholly = clip_report(clip_model(), Box((F(3),), (4 + tiny,)))
    assert not wholly and len(lines) == 1
    assert "box [3, 4.000000001]" in lines[0] and "clip range [0, 4]" in lines[0]
    assert "1e-09 above it" in lines[0]
    lines, _ = clip_report(clip_model(), Box((-tiny,), (4 + 2 * tiny,)))
    assert "1e-09 below and 2e-09 above it" in lines[0]


def test_domain_space_normalized(tmp_path):
    """A box in the chain's coordinates (as VNN-COMP's ACAS properties are) maps back through inp⁻¹."""
    net = clip_model()
    box = model_box(net, Box((F(1, 2),), (F(1),)), "normalized")
    assert (box.lower, box.upper) == ((F(1),), (F(2),))
    src = tmp_path / "clip.nnet"
    save_model(net, src)
    prop = vnnlib(tmp_path / "n.vnnlib", [F(1, 2)], [F(1)])
    res = run_reduction(src, tmp_path / "s.nnet", domain_path=prop, domain_space="normalized",
                        cert_path=tmp_path / "c.json")
    assert res.verdict == "proved" and res.reduction.domain.lower == (F(1),)
    assert check(tmp_path / "c.json", src, tmp_path / "s.nnet").valid


def test_drop_compares_the_layer_chains(tmp_path):
    src = tmp_path / "clip.nnet"
    save_model(clip_model(), src)
    prop = vnnlib(tmp_path / "n.vnnlib", [F(7, 2)], [F(4)])  # normalised coordinates: beyond the clip's image
    out, cert = tmp_path / "s.onnx", tmp_path / "c.json"
    res = run_reduction(src, out, domain_path=prop, domain_space="normalized", normalization="drop", cert_path=cert)
    assert res.verdict == "proved" and res.certificate.semantics == "layers"
    chain, reduced = layers_only(load_model(src)), load_model(out)
    for x in grid(Box((F(7, 2),), (F(4),)), 8):
        assert truth(reduced, x) == truth(chain, x)
    assert check(cert, src, out).valid
    doc = json.loads(cert.read_text())
    doc["claim"]["semantics"] = "model"  # the same relation read as a claim about the models is false
    cert.write_text(json.dumps(doc))
    assert not check(cert, src, out).valid


def test_compare_rules():
    a, b = clip_model(), clip_model(replace_clip(F(0), F(5)))
    inside = Box((F(1),), (F(3),))
    c = compare(a, a, inside)  # the same input maps: the chains see inp(clip([1, 3])) = [1/2, 3/2]
    assert c.a.normalization is None and (c.box.lower, c.box.upper) == ((F(1, 2),), (F(3, 2),))
    c = compare(a, b, inside)  # the clips differ but neither binds on [1, 3]: affine maps folded, raw coordinates
    assert c.b.normalization is None and (c.box.lower, c.box.upper) == ((F(1),), (F(3),))
    assert list(c.a.layers[0].weight[:, 0]) == [-0.5, 0.5]
    with pytest.raises(ComparisonError, match="clip their inputs differently"):
        compare(a, b, Box((F(3),), (F(6),)))
    c = compare(a, b, Box((F(3),), (F(6),)), clip_layers=True)
    assert len(c.a.layers) == 3 and c.box == Box((F(3),), (F(6),))


def replace_clip(lo: Fraction, hi: Fraction) -> Normalization:
    return Normalization(CLIP.input_mean, CLIP.input_range, CLIP.output_mean, CLIP.output_range, (lo,), (hi,))


def test_an_inverted_clip_range_is_refused():
    """min(max(x, 1), 0) is the constant 0, but a clip compiled as lo + relu(x − lo) − relu(x − hi) would compute
    x on [0, 1] instead: a clip range with minimum > maximum is refused when built; minimum = maximum is a clip."""
    with pytest.raises(ValueError, match="inverted"):
        replace_clip(F(1), F(0))
    assert replace_clip(F(1), F(1)).clip([F(7)]) == [F(1)]


def test_a_clip_at_the_float32_extreme_is_a_clip(tmp_path):
    """A float64 model clipping at ±FLOAT32_MAX (3.4e38) differs from the unclipped model beyond it: reading that
    bound as 'no clip' (the .nnet habit) made `verify` answer unsat on [0, 1e39]. Only ±inf (or a missing bound)
    is no clip (a missing bound here)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from lumpcheck.ir.exact import FLOAT32_MAX

    def onnx_model(path, clip):
        nodes = [helper.make_node("Clip", ["x", "lo", "hi"], ["c"])] if clip else []
        nodes.append(helper.make_node("Gemm", ["c" if clip else "x", "w", "b"], ["y"]))
        values = (("w", [[1.0]]), ("b", [0.0])) + ((("lo", -clip), ("hi", clip)) if clip else ())
        inits = [numpy_helper.from_array(np.array(v, dtype=np.float64), name) for name, v in values]
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, 1])],
                                  [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [1, 1])], inits)
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
        return path

    clipped = load_model(onnx_model(tmp_path / "a.onnx", float(FLOAT32_MAX)))
    assert clipped.normalization.clip_bounds(0) == (-FLOAT32_MAX, FLOAT32_MAX)
    plain = load_model(onnx_model(tmp_path / "b.onnx", None))
    assert evaluate(clipped, [F(10) ** 39]) == [FLOAT32_MAX] and evaluate(plain, [F(10) ** 39]) == [F(10) ** 39]
    beyond, within = Box((F(0),), (F(10) ** 39,)), Box((F(0),), (F(10) ** 38,))
    assert verify(clipped, plain, beyond, STRICT, 30).status == "sat"
    assert verify(clipped, plain, within, STRICT, 30).status == "unsat"


# ---------------------------------------------------------------- property-based, against the ground truth


@st.composite
def clipped_models(draw):
    n = draw(st.integers(1, 2))
    widths = [n, draw(st.integers(1, 4)), draw(st.integers(1, 3)), 1]
    quarter = st.integers(-8, 8).map(lambda k: F(k, 4))
    layers = [Layer(np.array([[float(draw(quarter)) for _ in range(widths[i])] for _ in range(widths[i + 1])]),
                    np.array([float(draw(quarter)) for _ in range(widths[i + 1])]),
                    RELU if i < len(widths) - 2 else Activation("identity")) for i in range(len(widths) - 1)]
    sides = [draw(st.sampled_from(["both", "lower", "upper", "none"])) for _ in range(n)]
    lows = [F(draw(st.integers(-4, 0))) for _ in range(n)]
    highs = [lo + F(draw(st.integers(1, 6))) for lo in lows]
    big = F(2) ** 200
    mins = tuple(lo if s in ("both", "lower") else -big for s, lo in zip(sides, lows))
    maxs = tuple(hi if s in ("both", "upper") else big for s, hi in zip(sides, highs))
    ranges = tuple(draw(st.sampled_from([F(1), F(2), F(-1, 2), F(4)])) for _ in range(n))
    means = tuple(draw(quarter) for _ in range(n))
    norm = Normalization(means, ranges, (draw(quarter),), (draw(st.sampled_from([F(1), F(3), F(-2)])),), mins, maxs)
    centres = [draw(st.integers(-9, 9)) for _ in range(n)]
    box = Box(tuple(F(c) for c in centres), tuple(F(c) + F(draw(st.integers(0, 4)), 2) for c in centres))
    return Network(layers, normalization=norm), box


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clipped_models())
def test_domain_reduction_of_clipped_models_is_exact_on_the_box(case):
    net, box = case
    red = reduce_on_domain(net, box, bounds_method="interval")
    for x in grid(box, 3):
        assert truth(red.network, x) == truth(net, x) == evaluate(net, x), x
    records, _, _ = prove_networks(net, red.network, red.relation, box, claims=red.claims, solver_check="none")
    assert all(r.status == "proved" for r in records), [r.detail for r in records if r.status != "proved"]


@settings(max_examples=40, deadline=None)
@given(clipped_models())
def test_clip_as_layer_is_the_same_model(case):
    net, box = case
    plain = clip_as_layer(net)
    assert plain.normalization is None
    for x in grid(box, 3) + [[F(-50)] * net.input_size, [F(50)] * net.input_size]:
        assert evaluate(plain, x) == truth(net, x)


# ---------------------------------------------------------------- the ACAS Xu workflow (zoo)


def test_acas_nnet_with_a_vnncomp_property_certifies(zoo, tmp_path):
    """`.nnet` (raw inputs, clip + normalisation in its header) + VNN-COMP's prop_3 (normalised coordinates)
    + --certify: proved, and the independent check says valid, scoped to the box."""
    src = zoo / "marabou/resources/nnet/acasxu/ACASXU_experimental_v2a_1_1.nnet"
    prop = zoo / "vnncomp2021/benchmarks/acasxu/prop_3.vnnlib"
    out, cert = tmp_path / "small.nnet", tmp_path / "cert.json"
    res = run_reduction(src, out, domain_path=prop, domain_space="normalized", cert_path=cert)
    assert res.verdict == "proved" and res.reduction.network.hidden_neurons < 300
    assert not any("outside the clip range" in n for n in res.notes)
    result = check(cert, src, out, domain=prop, domain_space="normalized")
    assert result.valid and str(result) == "valid: equal ONLY on the box of prop_3.vnnlib (5 inputs), not outside it"
    assert not check(cert, src, out, domain=prop).valid  # read as raw units, the property's box is another box
    # the same property read as raw units is (wholly) outside the clip range on X_0: refused for certification
    with pytest.raises(LumpcheckError, match="wholly outside"):
        run_reduction(src, tmp_path / "raw.nnet", domain_path=prop, cert_path=tmp_path / "raw.json")
