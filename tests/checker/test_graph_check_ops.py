"""Graph certificates through per-channel Affine and Clip ops, and documents tampered field by field: the checker's
context for those ops (per-channel scale/shift, clip bounds), the rebuilt graph's sliced Clip, and the document
parser's refusals. (issue 14: graph_checker group)"""

from __future__ import annotations

import copy
import json
from fractions import Fraction

import numpy as np
import pytest

from lumpcheck.checker.graph import check_certificate
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.graph.dag import Graph, Node, TensorSpec
from lumpcheck.ir.graph.ops import Act, Affine, Clip, Conv, MatMul, Pad, Reshape, Window
from lumpcheck.prove.graph_prover import certificate_of
from lumpcheck.reduction.channel_lumping import reduce_channels

F = Fraction


def graph(scale, shift, lower, upper, factor=2, seed: int = 0, perm=(0, 1, 2, 3), bias: bool = True,
          pad: bool = False, conv2_pads: int = 1) -> Graph:
    """x -> conv1 (channels: a, b, factor·a, a constant 1/2) -> Affine -> Clip (if any bound) -> ReLU -> conv2 -> flatten -> logits."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-8, 9, (2, 2, 3, 3)) / 8
    b = rng.integers(-4, 5, 2) / 8
    w1 = np.concatenate([w, factor * w[:1], np.zeros((1, 2, 3, 3))])
    b1 = np.concatenate([b, factor * b[:1], [0.5]])
    win = Window((3, 3), (1, 1), (1, 1, 1, 1), (1, 1))
    w1, b1 = w1[list(perm)], b1[list(perm)]  # channel order (the Affine and Clip parameters follow the new order)
    nodes = [Node("conv1", Conv(w1, b1 if bias else None, win), ("x",), "conv1")]
    col = lambda v: np.array([F(x) for x in v], dtype=object).reshape(1, 4, 1, 1)  # noqa: E731
    nodes.append(Node("aff", Affine(col(scale), col(shift)), ("conv1",), "aff"))
    last = "aff"
    if lower is not None or upper is not None:
        nodes.append(Node("clip", Clip(None if lower is None else col(lower), None if upper is None else col(upper)),
                          ("aff",), "clip"))
        last = "clip"
    nodes.append(Node("act", Act(Activation("relu")), (last,), "act"))
    last, side = "act", 4
    if pad:  # zero padding on the spatial axes only (one row at the top, one column at the right)
        nodes.append(Node("pad", Pad((0, 0, 1, 0, 0, 0, 0, 1)), ("act",), "pad"))
        nodes.append(Node("pad2", Pad((0, 0, 0, 1, 0, 0, 1, 0)), ("pad",), "pad2"))
        last, side = "pad2", 6
    w2 = rng.integers(-8, 9, (2, 4, 3, 3)) / 8
    win2 = Window((3, 3), (1, 1), (conv2_pads,) * 4, (1, 1))
    nodes.append(Node("conv2", Conv(w2, rng.integers(-4, 5, 2) / 8, win2), (last,), "conv2"))
    side -= 2 * (1 - conv2_pads)
    nodes.append(Node("flat", Reshape((1, 2 * side * side)), ("conv2",), "flat"))
    nodes.append(Node("logits", MatMul(rng.integers(-8, 9, (2 * side * side, 3)) / 8, np.zeros(3)), ("flat",), "logits"))
    return Graph((TensorSpec("x", (1, 2, 4, 4)),), tuple(nodes), ("logits",))


CASES = {
    # the copy 2a keeps its factor through scale (1, 1, 1, s) and a clip wide enough never to bind: merged
    "affine_same": ([1, 1, 1, 3], [0, 0, 0, F(1, 4)], None, None),
    # the scales differ (2 on a, 1 on 2a): 2a + 1/2 on both channels, a copy with factor 1 after the Affine
    "affine_scaled": ([2, 1, 1, 3], [F(1, 2), 0, F(1, 2), 0], None, None),
    # a clip keeps only exact copies (factor 1) with the same bounds on both channels
    # (the constant 1/2 is clipped to 1/4 on channel 3)
    "clip": ([1, 1, 1, 1], [0, 0, 0, 0], [-1, -5, -1, -5], [F(1, 2), 5, F(1, 2), F(1, 4)], 1),
    "clip_upper_only": ([1, 1, 1, 1], [0, 0, 0, 0], None, [F(1, 2), 5, F(1, 2), F(1, 4)], 1),
    "clip_lower_only": ([1, 1, 1, 1], [0, 0, 0, 0], [F(-1, 2), -1, F(-1, 2), -1], None, 1),
    # the constant first, then the copy: a claim on channel 0
    "affine_permuted": ([3, 1, 1, 1], [F(1, 4), 0, 0, 0], None, None, 2, 0, (3, 2, 1, 0)),
    # conv1 without a bias (the constant channel is then 0)
    "no_bias": ([1, 1, 1, 1], [0, 0, 0, 0], None, None, 2, 0, (0, 1, 2, 3), False),
    # zero Pads on the spatial axes between the ReLU and conv2: the copy's relation (factor 2, offset 0) passes
    "padded": ([1, 1, 1, 1], [0, 0, 0, 0], None, None, 2, 0, (0, 1, 2, 3), True, True),
    "affine_clip": ([2, 1, 2, 1], [F(1, 2), 0, F(1, 2), 0], [-1, -5, -1, -5], [F(1, 2), 5, F(1, 2), 5], 1),
}


def reduced(name: str):
    g = graph(*CASES[name])
    r = reduce_channels(g)
    return g, r.reduced, json.loads(certificate_of(r).to_json())


@pytest.mark.parametrize("name", list(CASES))
def test_reductions_through_affine_and_clip_check(name):
    g, red, cert = reduced(name)
    assert sum(len(rnd["removals"]) for rnd in cert["rounds"]) > 0, "nothing to check: the graph was not reduced"
    verdict = check_certificate(g, red, cert)
    assert verdict.valid, verdict.reasons


def _claims(cert):
    for i, rnd in enumerate(cert["rounds"]):
        for t, cs in rnd["claims"].items():
            for j, c in enumerate(cs):
                yield i, t, j, c


@pytest.mark.parametrize("name", list(CASES))
def test_tampered_claims_through_affine_and_clip_are_invalid(name):
    g, red, cert = reduced(name)
    tampered = 0
    for i, t, j, c in list(_claims(cert)):
        for k, delta in ((2, F(1, 3)), (3, F(1, 3))):
            doc = copy.deepcopy(cert)
            doc["rounds"][i]["claims"][t][j][k] = str(F(c[k]) + delta)
            verdict = check_certificate(g, red, doc)
            assert not verdict.valid, (name, t, c, k)
            tampered += 1
    assert tampered > 0


# ---------------------------------------------------------------- the document


def _doc(**claim) -> tuple:
    g, red, cert = reduced("clip")
    doc = copy.deepcopy(cert)
    doc["claim"].update(claim)
    return g, red, doc


def test_an_epsilon_document_is_read_with_its_epsilon_domain_and_export():
    domain = {"inputs": {"x": {"lower": ["-1"] * 32, "upper": ["1"] * 32}}, "source": "box.vnnlib"}
    g, red, doc = _doc(mode="epsilon", epsilon="1/10", domain=domain)
    doc["export"] = {"dtype": "float32", "corrections": [["conv1", "bias", [[0, "1/3"]]]]}
    res = check_certificate(g, red, doc)
    assert res.valid, res.reasons
    d = res.scope.to_dict()
    assert d["mode"] == "epsilon" and d["epsilon"] == "1/10" and d["semantics"] == "model"
    assert d["domain"]["lower"] == ["-1"] * 32 and d["domain"]["source"] == "box.vnnlib" and d["only_on_domain"] is False
    for change, words in ((lambda d: d.pop("export"), "certificate: $ has no field 'export'"),
                          (lambda d: d["claim"].pop("domain"), "domain"),
                          (lambda d: d["export"].update(dtype="float16"), "dtype"),
                          (lambda d: d["export"].update(corrections=[["conv1", "bias", [[0]]]]), "corrections[0]"),
                          (lambda d: d["export"].update(corrections=[["conv1", "bias"]]), "corrections[0]"),
                          (lambda d: d["export"].update(corrections=[["conv1", "bias", [[-1, "1/3"]]]]), "corrections[0]"),
                          (lambda d: d["export"].pop("corrections"), "export"),
                          (lambda d: d["export"].pop("dtype"), "export"),
                          (lambda d: d["claim"].pop("epsilon"), "epsilon")):
        bad = copy.deepcopy(doc)
        change(bad)
        res = check_certificate(g, red, bad)
        assert not res.valid and words in res.reasons[0], (words, res.reasons)


def test_a_strict_document_with_a_domain_establishes_equality_on_it():
    domain = {"inputs": {"x": {"lower": ["-1"] * 32, "upper": ["1"] * 32}}}
    g, red, doc = _doc(domain=domain)
    res = check_certificate(g, red, doc)
    assert res.valid and res.scope.mode == "strict" and res.scope.epsilon is None
    assert res.scope.lower == (F(-1),) * 32 and res.scope.upper == (F(1),) * 32 and res.scope.box_only is False
    g, red, doc = _doc(domain=None)
    scope = check_certificate(g, red, doc).scope
    assert scope.lower is None and scope.upper is None and scope.semantics == "model"
    for bad, words in (({"inputs": []}, "certificate: claim.domain"), ({"inputs": {"x": {"lower": ["1"], "upper": ["0"]}}}, "x")):
        res = check_certificate(*_doc(domain=bad))
        assert not res.valid and words in res.reasons[0], res.reasons


def test_phase_claims_make_the_scope_box_only_and_must_be_phases():
    g, red, doc = _doc(domain={"inputs": {"x": {"lower": ["-1"] * 32, "upper": ["1"] * 32}}})
    doc["rounds"][0]["phases"] = {"act": [None, None, None, None]}
    assert check_certificate(g, red, doc).scope.box_only is False
    doc["rounds"][0]["phases"] = {"act": ["bogus", None, None, None]}
    res = check_certificate(g, red, doc)
    assert not res.valid and "phases" in res.reasons[0]


def test_document_refusals_name_the_field():
    g, red, cert = reduced("clip")
    cases = [
        (lambda d: d.update(verdict="refuted"), "verdict"),
        (lambda d: d["claim"].update(mode="epsilon"), "claim.mode"),
        (lambda d: d["claim"].update(mode="top1"), "claim.mode"),
        (lambda d: d["claim"].update(epsilon="1/2"), "claim.mode"),
        (lambda d: d.update(bounds="lp"), "bounds"),
    ]
    first = next(t for t, cs in cert["rounds"][0]["claims"].items() if cs)
    cases.append((lambda d: d["rounds"][0]["claims"][first][0].__setitem__(0, -1), f"rounds[0].claims[{first!r}][0]"))
    cases.append((lambda d: d["rounds"][0]["claims"][first][0].__setitem__(1, "x"), f"rounds[0].claims[{first!r}][0]"))
    for change, words in cases:
        doc = copy.deepcopy(cert)
        change(doc)
        res = check_certificate(g, red, doc)
        assert not res.valid and words in res.reasons[0], (words, res.reasons)


# ---------------------------------------------------------------- channels made constant by the op, parameters


def test_a_channel_made_constant_by_a_zero_scale_checks():
    """scale 0 on channel b: the Affine itself makes it the constant 3/2 (no claim on its input needed)."""
    g = graph([1, 0, 1, 1], [0, F(3, 2), 0, 0], None, None)
    r = reduce_channels(g)
    cert = json.loads(certificate_of(r).to_json())
    consts = [c for _, t, _, c in _claims(cert) if t == "aff" and c[1] is None]
    assert any(c[0] == 1 and F(c[3]) == F(3, 2) for c in consts), consts
    assert check_certificate(g, r.reduced, cert).valid
    for i, t, j, c in list(_claims(cert)):
        if t == "aff" and c[1] is None and c[0] == 1:
            bad = copy.deepcopy(cert)
            bad["rounds"][i]["claims"][t][j][3] = "1/2"
            assert not check_certificate(g, r.reduced, bad).valid


def test_a_channel_inactive_on_the_box_checks_through_its_phase():
    """Shift -100 on channel b: after the ReLU it is 0 on the box [-1, 1] (an interval-verified phase claim)."""
    g = graph([1, 1, 1, 1], [0, -100, 0, 0], None, None)
    s = g.inputs[0]
    box = {s.name: (np.full(s.shape, F(-1), dtype=object), np.full(s.shape, F(1), dtype=object))}
    r = reduce_channels(g, box=box)
    cert = json.loads(certificate_of(r).to_json())
    assert any(ph for rnd in cert["rounds"] for ph in rnd["phases"].values()), "no phase claimed"
    assert check_certificate(g, r.reduced, cert).valid
    for i, t, j, c in list(_claims(cert)):
        if t == "act" and c[1] is None:
            bad = copy.deepcopy(cert)
            bad["rounds"][i]["claims"][t][j][3] = "1"
            assert not check_certificate(g, r.reduced, bad).valid


def test_parameters_that_vary_within_a_channel_are_refused():
    """The certificate of a per-channel Affine, checked against the same graph whose scale varies by position."""
    g, red, cert = reduced("affine_same")
    nodes = list(g.nodes)
    k = next(j for j, n in enumerate(nodes) if n.name == "aff")
    scale = np.ones((1, 4, 4, 4), dtype=object)
    scale[0, 0, 0, 0] = F(2)
    nodes[k] = Node("aff", Affine(scale, nodes[k].op.shift), ("conv1",), "aff")
    res = check_certificate(Graph(g.inputs, tuple(nodes), g.outputs), red, cert)
    assert not res.valid and "vary within a channel" in res.reasons[0]


def test_float32_files_check(tmp_path):
    from lumpcheck.apps.graph_pipeline import reduce_file
    from lumpcheck.checker.graph import check_graph
    from lumpcheck.io.onnx.graph_write import write_graph

    g = graph([1, 1, 1, 1], [0, 0, 0, 0], [-1, -5, -1, -5], [F(1, 2), 5, F(1, 2), 5], factor=1)
    src, dst, cert = tmp_path / "in.onnx", tmp_path / "out.onnx", tmp_path / "cert.json"
    write_graph(g, src, "float32")
    reduce_file(src, dst, cert)
    res = check_graph(json.loads(cert.read_text()), src, dst)
    assert res.valid, res.reasons


def test_two_nonzero_constants_into_a_padded_convolution():
    """Two constant channels (positive biases, so nonzero after the ReLU) enter a zero-padded conv2 whose output
    channels are copies too: the checker folds the second constant into the first as a multiple of one map."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from planted_cnn import Plan, build

    for seed in (3, 4):
        g = build(Plan(base=2, copies=[F(2)], constants=[1, 1], conv2_pads=1, copies2=1, seed=seed)).graph
        r = reduce_channels(g)
        cert = json.loads(certificate_of(r).to_json())
        res = check_certificate(g, r.reduced, cert)
        assert res.valid, res.reasons


def test_a_dense_producer_with_a_copied_output():
    """x -> MatMul (outputs a, b, 3a) -> ReLU -> MatMul: the dense producer's columns and bias are sliced."""
    rng = np.random.default_rng(5)
    w = rng.integers(-8, 9, (4, 2)) / 8
    b = rng.integers(-4, 5, 2) / 8
    nodes = (Node("fc1", MatMul(np.concatenate([w, 3 * w[:, :1]], axis=1), np.concatenate([b, 3 * b[:1]])), ("x",), "fc1"),
             Node("act", Act(Activation("relu")), ("fc1",), "act"),
             Node("fc2", MatMul(rng.integers(-8, 9, (3, 2)) / 8, rng.integers(-4, 5, 2) / 8), ("act",), "fc2"))
    g = Graph((TensorSpec("x", (1, 4)),), nodes, ("fc2",))
    r = reduce_channels(g)
    cert = json.loads(certificate_of(r).to_json())
    assert r.reduced.nodes[0].op.weight.shape == (4, 2)
    res = check_certificate(g, r.reduced, cert)
    assert res.valid, res.reasons


def test_dead_channels_before_a_dense_consumer():
    """fc1's third output feeds fc2 with zero weights (dead): removed and checked; claiming the live second output
    dead as well is refused."""
    from lumpcheck.prove.graph_records import GraphCertificate, Removal, Round

    rng = np.random.default_rng(6)
    w2 = rng.integers(-8, 9, (3, 2)) / 8
    w2[2] = 0
    nodes = (Node("fc1", MatMul(rng.integers(-8, 9, (4, 3)) / 8, rng.integers(-4, 5, 3) / 8), ("x",), "fc1"),
             Node("act", Act(Activation("relu")), ("fc1",), "act"),
             Node("fc2", MatMul(w2, rng.integers(-4, 5, 2) / 8), ("act",), "fc2"))
    g = Graph((TensorSpec("x", (1, 4)),), nodes, ("fc2",))
    r = reduce_channels(g)
    assert r.reduced.nodes[0].op.weight.shape == (4, 2)
    assert check_certificate(g, r.reduced, json.loads(certificate_of(r).to_json())).valid
    fake = Removal("dead", ("fc1",), 3, (0,), (), ("fc2",))
    res = check_certificate(g, g, GraphCertificate((Round({}, (fake,)),)).to_dict())
    assert not res.valid and "dead" in res.reasons[0], res.reasons


def test_a_channel_made_constant_by_a_zero_batchnorm_scale():
    """BatchNorm γ = 0 on channel b: the channel is its bias β = 3/4 whatever its input (no relation derives it)."""
    from lumpcheck.ir.graph.ops import BatchNorm

    g0 = graph([1, 1, 1, 1], [0, 0, 0, 0], None, None)
    nodes = list(g0.nodes)
    k = next(j for j, n in enumerate(nodes) if n.name == "aff")
    ones = np.ones(4, dtype=object)
    bn = BatchNorm(np.array([F(1), F(0), F(1), F(1)], dtype=object), np.array([F(0), F(3, 4), F(0), F(0)], dtype=object),
                   ones * 0, ones * F(3), F(1))
    nodes[k] = Node("aff", bn, ("conv1",), "aff")
    g = Graph(g0.inputs, tuple(nodes), g0.outputs)
    r = reduce_channels(g)
    cert = json.loads(certificate_of(r).to_json())
    assert any(t == "aff" and c[0] == 1 and c[1] is None for _, t, _, c in _claims(cert))
    res = check_certificate(g, r.reduced, cert)
    assert res.valid, res.reasons


def test_a_constant_channel_into_an_unpadded_convolution_moves_into_its_bias():
    """conv2 without pads: the constant channel (1/2 after the ReLU) is removed and its weights times 1/2 join conv2's
    bias in the rebuilt graph (an offset other than ±1, so multiplying and dividing by it differ)."""
    g = graph([1, 1, 1, 1], [0, 0, 0, 0], None, None, conv2_pads=0)
    r = reduce_channels(g)
    cert = json.loads(certificate_of(r).to_json())
    assert r.reduced.param_count < g.param_count
    assert check_certificate(g, r.reduced, cert).valid


def test_a_tampered_box_or_channel_list_is_invalid_in_one_line():
    """The box must bound every graph input with its size; kept/reps must name channels that exist: a tampered
    document is refused with a reason, never a crash."""
    g = graph([1, 1, 1, 1], [0, -100, 0, 0], None, None)
    s = g.inputs[0]
    box = {s.name: (np.full(s.shape, F(-1), dtype=object), np.full(s.shape, F(1), dtype=object))}
    r = reduce_channels(g, box=box)
    cert = json.loads(certificate_of(r).to_json())
    inputs = cert["claim"]["domain"]["inputs"]
    tampers = [lambda d: d["claim"]["domain"]["inputs"].update({"other": d["claim"]["domain"]["inputs"].pop(s.name)}),
               lambda d: d["claim"]["domain"]["inputs"][s.name]["lower"].pop(),
               lambda d: [d["claim"]["domain"]["inputs"][s.name][k].pop() for k in ("lower", "upper")],
               lambda d: d["rounds"][0]["removals"][0]["kept"].__setitem__(-1, 99),
               lambda d: d["rounds"][0]["removals"][0]["kept"].append(d["rounds"][0]["removals"][0]["kept"][0])]
    assert inputs and check_certificate(g, r.reduced, cert).valid
    for tamper in tampers:
        bad = copy.deepcopy(cert)
        tamper(bad)
        result = check_certificate(g, r.reduced, bad)
        assert not result.valid and "\n" not in result.reasons[0], result.reasons
