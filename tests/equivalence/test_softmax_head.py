"""verify through a final Softmax: top1/argmin decided exactly on the logits, strict and ε reduced soundly (never a
wrong verdict against an independent ground truth), unsound combinations refused, enclosures rigorous."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from lumpcheck.apps.api import verify as api_verify
from lumpcheck.apps.cli import cli
from lumpcheck.equivalence.falsify import Enclosure
from lumpcheck.equivalence.mode import Mode
from lumpcheck.equivalence.softmax import Heads, enclose_softmax, logits_mode, split_heads, verify_softmax
from lumpcheck.errors import UnsupportedModelError
from lumpcheck.io import load_any
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate

from onnx_builders import model
from pair_helpers import IDENTITY, near_copy, random_net, z3_truth

F = Fraction
BOX = Box((F(-1),) * 3, (F(1),) * 3)


def onnx_of(net: Network, softmax: bool) -> onnx.ModelProto:
    """The net as a float32 ONNX chain (MatMul + Add + Relu ...), optionally ending in Softmax(axis=-1)."""
    nodes, inits, cur = [], {}, "x"
    for i, layer in enumerate(net.layers):
        inits[f"w{i}"] = np.array([[float(v) for v in row] for row in layer.weight], dtype=np.float32).T
        inits[f"b{i}"] = np.array([float(v) for v in layer.bias], dtype=np.float32)
        nodes += [helper.make_node("MatMul", [cur, f"w{i}"], [f"m{i}"]), helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"])]
        cur = f"a{i}"
        if layer.activation.kind == "relu":
            nodes.append(helper.make_node("Relu", [cur], [f"r{i}"]))
            cur = f"r{i}"
    if softmax:
        nodes.append(helper.make_node("Softmax", [cur], ["y"], axis=-1))
    else:
        nodes.append(helper.make_node("Identity", [cur], ["y"]))
    return model(nodes, {"x": [1, net.input_size]}, {"y": [1, net.output_size]}, inits)


def save(tmp_path, name: str, net: Network, softmax: bool):
    path = tmp_path / name
    onnx.save(onnx_of(net, softmax), path)
    return path


def shifted(net: Network, shift: list[float]) -> Network:
    last = net.layers[-1]
    bias = np.array([float(v) for v in last.bias]) + np.array(shift)
    return Network(net.layers[:-1] + [Layer(np.array([[float(v) for v in r] for r in last.weight]), bias, IDENTITY)])


def float_softmax(z) -> np.ndarray:
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max())
    return e / e.sum()


# ---------------------------------------------------------------- splitting the head


def test_split_heads_reads_a_final_softmax_and_leaves_other_models(tmp_path) -> None:
    net = random_net(np.random.default_rng(0), [3, 5, 3])
    with_head = load_any(save(tmp_path, "s.onnx", net, True))
    plain = load_any(save(tmp_path, "p.onnx", net, False))
    a, b, heads = split_heads(with_head, plain)
    assert heads == Heads(True, False)
    assert isinstance(a, Network) and a.widths == net.widths
    x = [F(1, 3), F(-1, 2), F(1, 5)]
    assert evaluate(a, x) == evaluate(b, x)  # the logits: float32 values of the same dyadic weights
    assert split_heads(plain, plain)[2] == Heads()


def test_modes_that_are_unsound_through_one_head_are_refused() -> None:
    with pytest.raises(UnsupportedModelError, match="only top1, argmin and delta-top1"):
        logits_mode(Mode("strict"), Heads(True, False))
    with pytest.raises(UnsupportedModelError):
        logits_mode(Mode("epsilon", F(1, 10)), Heads(False, True))
    assert logits_mode(Mode("epsilon", F(1, 10)), Heads(True, True)) == Mode("epsilon", F(1, 5))
    assert logits_mode(Mode("argmin"), Heads(False, True)) == Mode("argmin")


# ---------------------------------------------------------------- the facts the reduction rests on


@settings(max_examples=200, deadline=None)
@given(u=st.lists(st.floats(-30, 30), min_size=2, max_size=6), seed=st.integers(0, 1000))
def test_softmax_is_half_lipschitz_in_the_max_norm(u, seed) -> None:
    """Independent of the code: max |softmax(u) - softmax(v)| <= 1/2 max |u - v| (the constant verify uses)."""
    rng = np.random.default_rng(seed)
    v = np.array(u) + rng.normal(0, rng.choice([0.01, 1, 10]), len(u))
    lhs = np.abs(float_softmax(u) - float_softmax(v)).max()
    assert lhs <= 0.5 * np.abs(np.array(u) - v).max() + 1e-12


@settings(max_examples=100, deadline=None)
@given(z=st.lists(st.fractions(-50, 50, max_denominator=1000), min_size=1, max_size=6))
def test_enclosures_contain_softmax_and_are_tight(z) -> None:
    enc = enclose_softmax(z)
    want = float_softmax([float(v) for v in z])
    for e, w in zip(enc, want):
        assert isinstance(e, Enclosure) and e.lo <= e.hi
        assert float(e.lo) - 1e-13 <= w <= float(e.hi) + 1e-13  # w: a float softmax, off by a few ulps
        assert e.hi - e.lo < F(1, 10**30)
    assert sum(e.lo for e in enc) <= 1 <= sum(e.hi for e in enc)


def test_enclosure_of_an_enclosed_logit() -> None:
    enc = enclose_softmax([Enclosure(F(0), F(1)), F(0)])
    assert enc[0].lo <= F(1, 2) and enc[0].hi >= F(731, 1000) and enc[0].hi < F(74, 100)


# ---------------------------------------------------------------- verdicts against a ground truth


def scaled_logits(net: Network) -> Network:
    """Logits times 2 plus 1/4 (exact): the same order, so the same top-1 and argmin, ties included."""
    last = net.layers[-1]
    w = np.array([[float(v) for v in r] for r in last.weight]) * 2
    return Network(net.layers[:-1] + [Layer(w, np.array([float(v) for v in last.bias]) * 2 + 0.25, IDENTITY)])


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("copy", ["noise", "same"])
@pytest.mark.parametrize("kind", ["top1", "argmin"])
def test_top1_through_softmax_agrees_with_z3_on_the_logits(seed: int, copy: str, kind: str) -> None:
    rng = np.random.default_rng(seed)
    a = random_net(rng, [3, 6, 3])
    b = near_copy(rng, a, "noise") if copy == "noise" else Network(list(a.layers))  # same logits, one head or two
    res = verify_softmax(a, b, BOX, Mode(kind), Heads(True, seed % 2 == 0), 60)
    assert res.status in ("sat", "unsat"), res.message
    assert res.status == z3_truth(a, b, BOX, kind)
    if res.status == "sat":
        assert all(isinstance(v, Enclosure) for v in (*res.output_a, *res.output_b))  # softmax values, not logits
        assert res.details["logits_a"] == [str(v) for v in evaluate(a, res.witness)]
        ya, yb = evaluate(a, res.witness), evaluate(b, res.witness)
        pick = max if kind == "top1" else min
        assert {i for i, v in enumerate(ya) if v == pick(ya)} != {i for i, v in enumerate(yb) if v == pick(yb)}


def test_order_preserving_logits_are_unsat_through_softmax() -> None:
    """Logits 2z + 1/4 (same order everywhere): top1/argmin of the softmax agree; z3 alone decides it (fast)."""
    a = random_net(np.random.default_rng(0), [3, 4, 3])
    res = verify_softmax(a, scaled_logits(a), BOX, Mode("top1"), Heads(True, True), 60, engines=("monolithic",))
    assert res.status == "unsat" == z3_truth(a, scaled_logits(a), BOX, "top1")


def test_strict_with_a_constant_logit_shift_is_never_sat() -> None:
    """softmax(z + c) = softmax(z): the pair is equal although the logits differ everywhere."""
    a = random_net(np.random.default_rng(1), [3, 5, 3])
    b = shifted(a, [0.5, 0.5, 0.5])
    res = verify_softmax(a, b, BOX, Mode("strict"), Heads(True, True), 30)
    assert res.status in ("unknown", "timeout") and res.witness is None
    res = verify_softmax(a, b, BOX, Mode("epsilon", F(1, 100)), Heads(True, True), 30)
    assert res.status in ("unknown", "timeout"), res.message


def test_strict_with_a_real_difference_is_sat() -> None:
    a = random_net(np.random.default_rng(2), [3, 5, 3])
    b = shifted(a, [0.5, 0.0, 0.0])
    res = verify_softmax(a, b, BOX, Mode("strict"), Heads(True, True), 30)
    assert res.status == "sat"


def test_epsilon_through_softmax() -> None:
    a = random_net(np.random.default_rng(3), [3, 5, 3])
    b = shifted(a, [1.0, 0.0, 0.0])  # logits differ by exactly 1 in output 0
    res = verify_softmax(a, b, BOX, Mode("epsilon", F(1, 2)), Heads(True, True), 60)
    assert res.status == "unsat" and "1/2-Lipschitz" in res.message  # 1 <= 2ε
    res = verify_softmax(a, b, BOX, Mode("epsilon", F(1, 100)), Heads(True, True), 60)
    assert res.status == "sat", res.message
    pa, pb = res.output_a, res.output_b
    assert all(isinstance(v, Enclosure) for v in (*pa, *pb))
    assert any(p.lo - q.hi > F(1, 100) or q.lo - p.hi > F(1, 100) for p, q in zip(pa, pb))
    za, zb = (np.array([float(v) for v in evaluate(n, res.witness)]) for n in (a, b))
    assert np.abs(float_softmax(za) - float_softmax(zb)).max() > 0.01
    assert verify_softmax(a, b, BOX, Mode("epsilon", F(1)), Heads(True, True), 5).status == "unsat"


# ---------------------------------------------------------------- the command


def run(*args):
    return CliRunner().invoke(cli, [str(v) for v in args])


def _box_file(tmp_path):
    path = tmp_path / "box.vnnlib"
    lines = [f"(declare-const X_{i} Real)" for i in range(3)]
    lines += [f"(assert (>= X_{i} -1))\n(assert (<= X_{i} 1))" for i in range(3)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_softmax_pair(tmp_path) -> None:
    rng = np.random.default_rng(5)
    a = random_net(rng, [3, 8, 4])
    b = near_copy(rng, a, "noise")
    fa, fb, box = save(tmp_path, "a.onnx", a, True), save(tmp_path, "b.onnx", b, True), _box_file(tmp_path)
    res = run("verify", fa, fb, "--domain", box, "--mode", "top1", "--json", "--timeout", "60",
              "--results-file", tmp_path / "r.txt")
    out = json.loads(res.stdout)
    lines = (tmp_path / "r.txt").read_text()
    assert lines.split("\n")[0] == out["status"]
    # softmax outputs are irrational: written as the midpoints of their (tight, rigorous) enclosures, as VNN-COMP
    # harnesses read Y and Y2 after X
    assert out["status"] != "sat" or ("(Y_0 " in lines and "(Y2_3 " in lines and "(Y_4" not in lines)
    la, lb = (split_heads(load_any(f), load_any(f))[0] for f in (fa, fb))
    assert out["status"] == z3_truth(la, lb, BOX, "top1")
    assert "Softmax" in out["message"]
    assert res.exit_code == (0 if out["status"] == "unsat" else 1)
    same = run("verify", fa, save(tmp_path, "a_plain.onnx", a, False), "--domain", box, "--mode", "argmin", "--json")
    assert json.loads(same.stdout)["status"] == "unsat" and same.exit_code == 0
    refused = run("verify", fa, tmp_path / "a_plain.onnx", "--domain", box, "--mode", "epsilon=0.1")
    assert refused.exit_code == 3 and "only top1, argmin and delta-top1" in refused.output
    assert api_verify(fa, fb, domain=BOX, mode="top1", timeout=60).status == out["status"]


# ---------------------------------------------------------------- certificates through a Softmax


def _certified(tmp_path, heads: tuple[bool, bool], mode: str):
    """(file A, file B, certificate): the first seed's pair (a random 3-6-3 net and a noisy copy without one hidden
    neuron, so that only the differential engine can decide it) whose verify --certify through the heads is unsat
    on a small box."""
    for seed in range(40):
        rng = np.random.default_rng(seed)
        a = random_net(rng, [3, 6, 3])
        b = near_copy(rng, near_copy(rng, a, "noise"), "drop")
        fa, fb = save(tmp_path, "ca.onnx", a, heads[0]), save(tmp_path, "cb.onnx", b, heads[1])
        box = tmp_path / "small.vnnlib"
        centre = [F(int(rng.integers(-2, 3)), 4) for _ in range(3)]
        box.write_text("".join(f"(declare-const X_{i} Real)\n(assert (>= X_{i} {float(c - F(1, 32))}))\n"
                               f"(assert (<= X_{i} {float(c + F(1, 32))}))\n" for i, c in enumerate(centre)))
        cert = tmp_path / "c.json"
        cert.unlink(missing_ok=True)
        res = run("verify", fa, fb, "--domain", box, "--mode", mode, "--timeout", "60", "--certify", cert)
        if res.exit_code == 0 and cert.exists():
            return fa, fb, json.loads(cert.read_text())
    raise AssertionError(f"no seed gave a certified unsat for {mode} through {heads}")


def _check(tmp_path, doc, fa, fb):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    return run("check", path, fa, fb)


@pytest.mark.parametrize("heads, mode", [((True, True), "epsilon=0.5"), ((True, True), "top1"),
                                         ((True, False), "top1"), ((False, True), "argmin"),
                                         ((True, True), "delta-top1=0.9")])
def test_certificate_through_softmax_checks_valid(tmp_path, heads, mode) -> None:
    """An unsat through a Softmax head comes with a certificate on the logits that `check` accepts for the models'
    outputs, naming the heads; the same document without claim.softmax is not about these files."""
    fa, fb, doc = _certified(tmp_path, heads, mode)
    assert doc["claim"]["softmax"] == {"a": heads[0], "b": heads[1], "mode": str(Mode.parse(mode))}
    res = _check(tmp_path, doc, fa, fb)
    assert res.exit_code == 0 and "softmax outputs" in res.output, res.output
    rep = run("report", tmp_path / "t.json", "-o", tmp_path / "r.md", "--original", fa, "--reduced", fb)
    text = (tmp_path / "r.md").read_text()
    assert rep.exit_code == 0 and "proved on the logits" in text and "model A: matches; model B: matches" in text
    del doc["claim"]["softmax"]
    res = _check(tmp_path, doc, fa, fb)
    assert res.exit_code == 1 and "ends in a Softmax that the certificate's claim.softmax does not name" in res.output


def test_tampered_softmax_claims_are_invalid(tmp_path) -> None:
    """Logits within E' prove softmax outputs within E'/2 and no less; a head the file lacks, or an outputs' mode
    the logits' claim does not imply, makes the certificate invalid."""
    fa, fb, doc = _certified(tmp_path, (True, True), "epsilon=0.5")
    proved = F(doc["claim"]["mode"].partition("=")[2])
    assert proved == 1  # 2ε on the logits
    for outputs, ok in ((proved / 2, True), (proved / 2 - F(1, 2**60), False), ("top1", False), ("strict", False),
                        ("argmin", False)):
        text = outputs if isinstance(outputs, str) else f"epsilon={outputs}"
        res = _check(tmp_path, {**doc, "claim": {**doc["claim"], "softmax": {"a": True, "b": True, "mode": text}}}, fa, fb)
        assert res.exit_code == (0 if ok else 1), (text, res.output)
    one_head = {**doc, "claim": {**doc["claim"], "softmax": {"a": True, "b": False, "mode": "epsilon=1"}}}
    plain_b = tmp_path / "plain_b.onnx"
    onnx.save(onnx_of(split_heads(load_any(fb), load_any(fb))[0], False), plain_b)
    res = _check(tmp_path, one_head, fa, plain_b)  # raw outputs are never compared with probabilities
    assert res.exit_code == 1 and "does not follow" in res.output
    res = _check(tmp_path, doc, fa, plain_b)  # B has no Softmax, the claim says it has
    assert res.exit_code == 1 and "it does not" in res.output
    for bad in ({"a": True}, {"a": False, "b": False, "mode": "top1"}, {"a": 1, "b": True, "mode": "top1"}):
        res = _check(tmp_path, {**doc, "claim": {**doc["claim"], "softmax": bad}}, fa, fb)
        assert res.exit_code == 1 and "claim.softmax must be" in res.output


def test_top1_logits_imply_delta_top1_only_from_one_half() -> None:
    from lumpcheck.checker.document import Scope
    from lumpcheck.checker.softmax_heads import HeadError, outputs_scope
    top1 = Scope("top1", None, (F(0),), (F(1),), "", False, "layers", pair=True)
    assert outputs_scope(top1, (True, True, "delta-top1=1/2")).mode == "delta-top1=1/2"
    with pytest.raises(HeadError):
        outputs_scope(top1, (True, True, "delta-top1=49/100"))
    delta = replace(top1, mode="delta-top1=9/10")
    assert outputs_scope(delta, (True, False, "delta-top1=9/10")).mode == "delta-top1=9/10"
    with pytest.raises(HeadError):
        outputs_scope(delta, (True, False, "delta-top1=4/5"))  # a lower δ claims more: not implied


def test_equal_logits_imply_only_well_formed_output_modes() -> None:
    """Equal logits (strict, or epsilon=0) imply every outputs' mode, but only a real one: delta-top1 with D outside
    [1/2, 1) (D = 1/10 lets a class of confidence 0.4 lose to another) or not a number, and epsilon that is negative
    or not a number, are refused, not accepted because the logits are equal."""
    from lumpcheck.checker.document import Scope
    from lumpcheck.checker.softmax_heads import HeadError, outputs_scope
    for proved in (Scope("strict", None, (F(0),), (F(1),), "", False, "layers", pair=True),
                   Scope("epsilon", F(0), (F(0),), (F(1),), "", False, "layers", pair=True)):
        assert outputs_scope(proved, (True, True, "delta-top1=1/2")).mode == "delta-top1=1/2"
        assert outputs_scope(proved, (True, True, "epsilon=0")).epsilon == 0
        for bad in ("delta-top1=1/10", "delta-top1=0", "delta-top1=-3", "delta-top1=1", "delta-top1=banana",
                    "delta-top1", "epsilon=-1/100", "epsilon=abc", "epsilon", "epsilon=1/0"):
            with pytest.raises(HeadError):
                outputs_scope(proved, (True, True, bad))
