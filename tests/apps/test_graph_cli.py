"""`lumpcheck info/reduce/check/report` on graph (CNN/ResNet) models go through the graph pipeline; dense chains keep
the dense path; options meaningless for graphs are refused naming the option; a tampered reduced file is invalid."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from lumpcheck.apps.cli import cli
from lumpcheck.io import load_any
from lumpcheck.io.onnx.graph_read import read_graph
from lumpcheck.apps.graph_pipeline import run_graph_reduction
from lumpcheck.errors import LumpcheckError
from lumpcheck.io.onnx.graph_write import WriteError, write_graph
from lumpcheck.ir.graph.dag import Graph
from lumpcheck.ir.network import Network
from planted_cnn import Plan, assert_same_function, build, plans


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def cnn(tmp_path):
    """A planted CNN with two copies (factors 2 and 1/2) and a dead channel; written exactly in float64."""
    planted = build(Plan(base=2, copies=[Fraction(2), Fraction(1, 2)], dead=1, seed=9))
    path = tmp_path / "cnn.onnx"
    write_graph(planted.graph, path, "float64")
    return path, planted


def test_a_float64_fallback_is_said_with_what_it_costs(cnn, tmp_path) -> None:
    """--dtype auto writes float64 when a float32 file cannot hold the merged weights exactly: the inputs become
    float64 too, which float32-only runtimes (onnxruntime's CPU Conv) refuse, so the output says so."""
    res = run("reduce", cnn[0], "-o", tmp_path / "small.onnx")
    assert res.exit_code == 0, res.output
    written = onnx.load(str(tmp_path / "small.onnx")).graph.input[0].type.tensor_type.elem_type
    said = "written in float64, inputs included" in " ".join(res.output.split())
    assert written == onnx.TensorProto.DOUBLE and said, res.output  # the fixture's weights are float64 values


def test_load_any_gives_a_graph_for_a_cnn_and_a_network_for_a_dense_chain(cnn) -> None:
    assert isinstance(load_any(cnn[0]), Graph)
    assert isinstance(load_any(Path(__file__).parents[2] / "examples" / "planted_relu.onnx"), Network)


def test_info_json_of_a_cnn(cnn) -> None:
    res = run("info", cnn[0], "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["kind"] == "graph" and doc["ops"]["Conv"] >= 2 and doc["params"] == cnn[1].graph.param_count


def test_reduce_certify_check_report_on_a_cnn(cnn, tmp_path) -> None:
    src, planted = cnn
    out, cert = tmp_path / "small.onnx", tmp_path / "cert.json"
    res = run("reduce", src, "-o", out, "--certify", cert, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["verdict"] == "proved" and doc["channels_after"] == planted.expected
    assert doc["channels_after"] < doc["channels_before"] and doc["params_after"] < doc["params_before"]
    assert_same_function(planted.graph, read_graph(out))
    marker = {e.key: e.value for e in onnx.load(str(out)).metadata_props}
    assert "on all inputs" in marker["lumpcheck.claim"] and "cert.json" in marker["lumpcheck.certificate"]
    checked = run("check", cert, src, out)
    assert checked.exit_code == 0 and checked.output.startswith("valid"), checked.output
    rep = run("report", cert, "-o", tmp_path / "r.md")
    assert rep.exit_code == 0, rep.output
    text = (tmp_path / "r.md").read_text()
    assert "equal on all inputs" in text and "merge" in text


def test_check_refuses_a_tampered_reduced_cnn(cnn, tmp_path) -> None:
    src, _ = cnn
    out, cert = tmp_path / "small.onnx", tmp_path / "cert.json"
    assert run("reduce", src, "-o", out, "--certify", cert).exit_code == 0
    m = onnx.load(str(out))
    init = next(t for t in m.graph.initializer if t.data_type == onnx.TensorProto.DOUBLE and len(t.dims) == 4)
    arr = onnx.numpy_helper.to_array(init).copy()
    arr.flat[0] = float(arr.flat[0]) * (1 + 2**-52) if arr.flat[0] != 0 else 2**-1074  # one ulp off
    init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
    out.write_bytes(m.SerializeToString())
    res = run("check", cert, src, out)
    assert res.exit_code == 1 and res.output.startswith("invalid"), res.output


@pytest.mark.parametrize("option", [["--smtlib", "smt"], ["--normalization", "fold"], ["--opset", "13"]])
def test_reduce_refuses_dense_only_options_for_a_graph(cnn, tmp_path, option) -> None:
    res = run("reduce", cnn[0], "-o", tmp_path / "s.onnx", "--certify", tmp_path / "c.json", *option)
    assert res.exit_code == 2 and option[0] in res.output and "graph" in res.output, res.output
    assert not (tmp_path / "s.onnx").exists()


def test_reduce_refuses_a_non_onnx_output_for_a_graph(cnn, tmp_path) -> None:
    res = run("reduce", cnn[0], "-o", tmp_path / "s.nnet")
    assert res.exit_code == 2 and ".onnx only" in res.output, res.output


def test_near_miss_cnn_through_the_cli_keeps_the_near_channel(tmp_path) -> None:
    plain = build(Plan(copies=[], near_miss=False))
    near = build(Plan(copies=[], near_miss=True))
    counts = []
    for planted, name in ((plain, "plain"), (near, "near")):
        src = tmp_path / f"{name}.onnx"
        write_graph(planted.graph, src, "float64")
        res = run("reduce", src, "-o", tmp_path / f"{name}.small.onnx", "--certify", tmp_path / f"{name}.json", "--json")
        assert res.exit_code == 0, res.output
        counts.append(json.loads(res.output)["channels_after"])
    assert counts[1] == counts[0] + 1


def _perturbed(planted, tmp_path, delta: float | None, name: str):
    """The planted CNN with one weight of its first Conv moved by `delta` (None: one ulp up); the file differs."""
    from dataclasses import replace

    import numpy as np

    from lumpcheck.ir.graph.ops import Conv

    g = planted.graph
    k = next(i for i, n in enumerate(g.nodes) if isinstance(n.op, Conv))
    node = g.nodes[k]
    w = node.op.weight.copy()
    before = Fraction(w.flat[0])
    w.flat[0] = np.nextafter(w.flat[0], np.inf) if delta is None else w.flat[0] + delta
    assert Fraction(w.flat[0]) != before
    nodes = list(g.nodes)
    nodes[k] = replace(node, op=replace(node.op, weight=w))
    path = tmp_path / f"{name}.onnx"
    write_graph(g.with_nodes(nodes), path, "float64")
    return path


def test_verify_a_cnn_against_its_reduction_is_unsat_by_lumping_match(cnn, tmp_path) -> None:
    src, _ = cnn
    out = tmp_path / "small.onnx"
    assert run("reduce", src, "-o", out).exit_code == 0
    res = run("verify", src, out, "--json")
    doc = json.loads(res.output)
    assert res.exit_code == 0 and doc["status"] == "unsat" and doc["engine"] == "lumping-match", res.output


def test_verify_finds_an_exactly_replayed_counterexample_on_a_changed_cnn(cnn, tmp_path) -> None:
    from lumpcheck.ir.graph.evaluate import evaluate_exact

    src, planted = cnn
    other = _perturbed(planted, tmp_path, 0.5, "changed")
    res = run("verify", src, other, "--json")
    doc = json.loads(res.output)
    assert res.exit_code == 1 and doc["status"] == "sat", res.output
    x = [Fraction(v) for v in doc["witness"]]
    ga, gb = read_graph(src), read_graph(other)
    s = ga.inputs[0]
    import numpy as np

    feed = {s.name: np.array(x, dtype=object).reshape(s.shape)}
    ya = evaluate_exact(ga, feed)[ga.outputs[0]].reshape(-1)
    yb = evaluate_exact(gb, feed)[gb.outputs[0]].reshape(-1)
    assert [str(v) for v in ya] != [str(v) for v in yb]  # the witness really separates them, in exact arithmetic
    assert [Fraction(v) for v in doc["output_a"]] == list(ya)


def test_verify_is_honestly_unknown_when_nothing_decides(cnn, tmp_path) -> None:
    # one ulp off in a weight: floats see (almost) nothing; lumping-match fails; no false 'unsat'
    src, planted = cnn
    other = _perturbed(planted, tmp_path, None, "ulp")
    res = run("verify", src, other, "--json", "--timeout", "20")
    doc = json.loads(res.output)
    assert doc["status"] in ("unknown", "sat"), res.output  # sat only with an exact witness
    assert doc["status"] != "unsat" and doc["engine"] != "lumping-match"


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(plans())
def test_planted_cnn_files_reduce_to_the_planted_size_and_near_misses_stay(tmp_path, plan) -> None:
    """Through files and the CLI's pipeline: the planted size (a near-miss channel, one weight one ulp off a copy,
    is kept), a certificate the checker calls valid, and the written model computes the same function."""
    from dataclasses import replace as with_

    plan = with_(plan, near_miss=True)
    planted = build(plan)
    src, out, cert = tmp_path / f"p{plan.seed}.onnx", tmp_path / f"p{plan.seed}.small.onnx", tmp_path / f"p{plan.seed}.json"
    try:
        write_graph(planted.graph, src, "float64")
    except WriteError:
        return  # a planted factor the file cannot hold exactly: nothing to test through files
    try:
        res = run_graph_reduction(src, out, cert_path=cert)
    except LumpcheckError as e:
        assert "cannot be written exactly" in str(e)  # merged weights beyond float64: refused, never rounded
        return
    assert res.verdict == "proved", res.reasons
    assert res.summary.channels_after == planted.expected, planted.kinds
    assert_same_function(planted.graph, read_graph(out))


def test_python_api_reduces_and_verifies_a_cnn(cnn, tmp_path) -> None:
    import lumpcheck

    src, planted = cnn
    res = lumpcheck.reduce_model(src, tmp_path / "small.onnx", certificate=tmp_path / "cert.json")
    assert res.verdict == "proved" and res.summary.channels_after == planted.expected
    assert lumpcheck.check(tmp_path / "cert.json", src, tmp_path / "small.onnx").valid
    assert lumpcheck.verify(src, tmp_path / "small.onnx").status == "unsat"
    with pytest.raises(LumpcheckError, match="--smtlib is not available for graph"):
        lumpcheck.reduce_model(src, tmp_path / "s2.onnx", certificate=tmp_path / "c2.json", smtlib=tmp_path / "smt")
