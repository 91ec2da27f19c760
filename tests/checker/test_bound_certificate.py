"""Certificates of verify's difference-bound verdicts (checker/bound_pair.py), for smooth pairs (sigmoid, tanh:
the differential engine does not take them) and ReLU pairs: a certificate is valid against its two models exactly
when its ε is at least the checker's own bound, and tampering with the claim makes it invalid."""

from __future__ import annotations

import copy
import json
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

from lumpcheck.apps.cli import cli
from lumpcheck.apps.report_bound import build_bound_report, render_bound
from lumpcheck.checker.bound_pair import check_bound_certificate
from lumpcheck.checker.epsilon import checked_bound
from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.mode import epsilon_mode
from lumpcheck.io import save_model
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.exact import fraction_str
from lumpcheck.ir.network import Layer, Network

F = Fraction
BOX = Box((F(-1), F(0), F(-1, 2)), (F(1), F(1, 2), F(1)))


def pair(kind: str, seed: int = 3) -> tuple[Network, Network]:
    """A 3-8-6-2 network and a copy with every weight rounded to float16 (a quantised near-copy)."""
    rng = np.random.default_rng(seed)
    a_layers, b_layers = [], []
    for fan, width, act in ((3, 8, Activation(kind)), (8, 6, Activation(kind)), (6, 2, IDENTITY)):
        w, b = rng.normal(0, 1, (width, fan)), rng.normal(0, 0.5, width)
        a_layers.append(Layer(w, b, act))
        b_layers.append(Layer(w.astype(np.float16).astype(float), b.astype(np.float16).astype(float), act))
    return Network(a_layers), Network(b_layers)


def certified(a: Network, b: Network, epsilon: F) -> dict:
    res = verify(a, b, BOX, epsilon_mode(epsilon), 60, engines=("difference-bound",))
    assert (res.status, res.engine) == ("unsat", "difference-bound"), res.message
    return json.loads(json.dumps(res.certificate))


@pytest.fixture(scope="module", params=["sigmoid", "tanh", "relu"])
def case(request):
    a, b = pair(request.param)
    bound = checked_bound(a, b, BOX, 8)
    return a, b, bound, certified(a, b, 2 * bound)


def test_valid_and_the_bound_is_what_the_checker_needs(case):
    a, b, bound, cert = case
    assert check_bound_certificate(cert, a, b).valid
    tight = copy.deepcopy(cert)
    tight["claim"]["epsilon"] = fraction_str(bound)
    assert check_bound_certificate(tight, a, b).valid
    tight["claim"]["epsilon"] = fraction_str(bound - F(1, 2**200))
    result = check_bound_certificate(tight, a, b)
    assert not result.valid and result.reasons[0].startswith("cannot establish ε=")


def test_the_bound_covers_the_true_difference(case):
    """Independent ground truth: float64 evaluation at many points (its rounding is far below the bound's slack)."""
    a, b, bound, _ = case
    rng = np.random.default_rng(0)
    lo, hi = np.array([float(v) for v in BOX.lower]), np.array([float(v) for v in BOX.upper])
    x = lo + (hi - lo) * rng.random((4000, 3))

    def run(net):
        h = x
        for layer in net.layers:
            z = h @ layer.weight.astype(float).T + layer.bias.astype(float)
            h = {"sigmoid": lambda v: 1 / (1 + np.exp(-v)), "tanh": np.tanh, "relu": lambda v: np.maximum(v, 0),
                 "identity": lambda v: v}[layer.activation.kind](z)
        return h

    assert np.abs(run(a) - run(b)).max() <= float(bound)


def _tampered(cert: dict, how: str) -> dict:
    doc = copy.deepcopy(cert)
    claim = doc["claim"]
    if how == "epsilon negative":
        claim["epsilon"] = "-1/2"
    elif how == "mode strict":
        claim["mode"] = "strict"
    elif how == "window bool":
        doc["window"] = True
    elif how == "window huge":
        doc["window"] = 10**9
    elif how == "wider box":
        claim["models"]["domain"]["upper"][0] = "2"
    elif how == "plain box only":
        claim["box"]["upper"][0] = "2"
    elif how == "version":
        doc["version"] = 2
    elif how == "sha256":
        claim["a"]["sha256"] = "0" * 64
    return doc


@pytest.mark.parametrize("how", ["epsilon negative", "mode strict", "window bool", "window huge", "wider box",
                                 "plain box only", "version", "sha256"])
def test_tampered_certificates_are_invalid(case, how):
    a, b, _, cert = case
    assert not check_bound_certificate(_tampered(cert, how), a, b).valid


def test_other_or_swapped_models_are_invalid(case):
    a, b, _, cert = case
    assert not check_bound_certificate(cert, b, a).valid
    other, _ = pair("tanh" if a.layers[0].activation.kind != "tanh" else "sigmoid", seed=4)
    assert not check_bound_certificate(cert, other, b).valid


def test_a_box_partly_outside_the_clip_range_is_judged_as_the_models_compute(tmp_path):
    """Both models clip input 0 to [0, 1/2]; B differs from A only by a bias (0.01) that matters on the clipped
    range alone: the certificate's box is the models' box, the chains' box the clipped one, and check agrees."""
    from lumpcheck.ir.normalization import Normalization

    a, _ = pair("sigmoid", seed=5)
    b_layers = list(a.layers)
    b_layers[-1] = Layer(b_layers[-1].weight, b_layers[-1].bias + 0.01, IDENTITY)
    clip = Normalization((F(0),) * 3, (F(1),) * 3, (F(0),), (F(1),), (F(0), F(-9), F(-9)), (F(1, 2), F(9), F(9)))
    na, nb = Network(a.layers, clip), Network(b_layers, clip)
    paths = [tmp_path / "a.onnx", tmp_path / "b.onnx"]
    for net, p in zip((na, nb), paths):
        save_model(net, p, dtype="float64")
    vnnlib = tmp_path / "box.vnnlib"
    vnnlib.write_text("".join(f"(declare-const X_{i} Real)\n" for i in range(3)) + "(declare-const Y_0 Real)\n"
                      "(declare-const Y_1 Real)\n" + "".join(
                          f"(assert (>= X_{i} {lo}))\n(assert (<= X_{i} {hi}))\n"
                          for i, (lo, hi) in enumerate([(-1, 1), (0, 0.5), (-0.5, 1)])))
    cert = tmp_path / "c.json"
    out = CliRunner().invoke(cli, ["verify", *map(str, paths), "--domain", str(vnnlib), "--mode", "epsilon=0.0101",
                                   "--certify", str(cert), "--timeout", "60"])
    assert out.exit_code == 0 and "difference-bound" in out.output, out.output
    doc = json.loads(cert.read_text())
    assert doc["claim"]["models"]["domain"]["lower"][0] == "-1" and doc["claim"]["box"]["lower"][0] == "0"
    checked = CliRunner().invoke(cli, ["check", str(cert), *map(str, paths)])
    assert checked.exit_code == 0 and checked.output.startswith("valid"), checked.output
    report = render_bound(build_bound_report(doc, cert, *paths), "md")
    assert "model A: matches; model B: matches" in report and "|A - B| <= 101/10000" in report
    refuted = CliRunner().invoke(cli, ["verify", *map(str, paths), "--domain", str(vnnlib), "--mode",
                                       "epsilon=0.0099", "--timeout", "60"])
    assert refuted.exit_code == 1, refuted.output  # the bias difference itself is a counterexample


def decisive(kind: str, shift: float) -> tuple[Network, Network]:
    """pair(kind) with output 0 shifted by `shift` in both copies: a decision that holds on the whole box."""
    a, b = pair(kind, seed=7)
    out = []
    for net in (a, b):
        last = net.layers[-1]
        out.append(Network([*net.layers[:-1], Layer(last.weight, last.bias + np.array([shift, 0.0]), IDENTITY)]))
    return out[0], out[1]


@pytest.mark.parametrize("kind,mode,shift", [("sigmoid", "top1", 6.0), ("tanh", "argmin", -6.0)])
def test_decisions_by_margin(kind, mode, shift):
    from lumpcheck.equivalence.mode import Mode

    a, b = decisive(kind, shift)
    res = verify(a, b, BOX, Mode(mode), 60, engines=("difference-bound",))
    assert (res.status, res.engine) == ("unsat", "difference-bound"), res.message
    cert = json.loads(json.dumps(res.certificate))
    assert (cert["claim"]["mode"], cert["claim"]["class"]) == (mode, 0)
    result = check_bound_certificate(cert, a, b)
    assert result.valid and result.scope.mode == mode
    # ground truth: both decide output 0 at sampled points
    rng = np.random.default_rng(1)
    lo, hi = np.array([float(v) for v in BOX.lower]), np.array([float(v) for v in BOX.upper])
    from lumpcheck.ir.network import evaluate_float
    for net in (a, b):
        y = evaluate_float(net, lo + (hi - lo) * rng.random((500, 3)))
        assert np.all((y.argmax(axis=1) if mode == "top1" else y.argmin(axis=1)) == 0)
    report = render_bound(build_bound_report(cert, "c.json"), "md")
    assert "A and B both decide output 0 (their unique" in report and f"output, {mode})" in report and "**class**: 0" in report
    for field, value in (("class", 1), ("class", 2), ("class", True), ("mode", "argmin" if mode == "top1" else "top1")):
        doc = copy.deepcopy(cert)
        doc["claim"][field] = value
        assert not check_bound_certificate(doc, a, b).valid, (field, value)


def test_no_decision_without_margin():
    """y = (σ(10·x_0), 1/2): the decision changes at x_0 = 0 inside the box: no verdict from the whole-box bound;
    input splitting then samples the box's centre, where A ties and B (output 0 raised by 2^-20) does not: 'sat',
    replayed exactly."""
    from lumpcheck.equivalence.mode import Mode

    def net(bias: float) -> Network:
        return Network([Layer(np.array([[10.0, 0.0, 0.0]]), np.array([0.0]), Activation("sigmoid")),
                        Layer(np.array([[1.0], [0.0]]), np.array([bias, 0.5]), IDENTITY)])

    a, b = net(0.0), net(2.0**-20)
    res = verify(a, b, BOX, Mode("top1"), 60, engines=("difference-bound",))
    assert res.status == "sat" and any("not > 2·bound" in note for note in res.details["notes"]), res.message
    assert res.witness[0] == 0 and BOX.contains(res.witness)


@pytest.mark.parametrize("ratio,valid", [(F(3), True), (F(2), False), (F(3, 2), False)])
def test_the_margin_must_exceed_twice_the_bound(ratio, valid):
    """A = (x + m, x), B = (x + m − d, x + d) on x in [1, 2]: |A − B| = d exactly and A's margin is m = ratio·d, so
    B's margin is m − 2d. A crafted certificate claiming top1 class 0 is valid only when m > 2d (at m = 2d B ties
    everywhere, below it B decides the other class): a checker that compared the margin with D alone would accept."""
    from lumpcheck.equivalence.mode import Mode
    from lumpcheck.equivalence.pair_certificate import bound_certificate

    d = F(1, 8)
    m = ratio * d
    one = np.array([[F(1)], [F(1)]], dtype=object)
    a = Network([Layer(one, np.array([m, F(0)], dtype=object), IDENTITY)])
    b = Network([Layer(one, np.array([m - d, d], dtype=object), IDENTITY)])
    box = Box((F(1),), (F(2),))
    doc = json.loads(json.dumps(bound_certificate(a, b, box, box, Mode("top1"), 1, d, 0)))
    assert check_bound_certificate(doc, a, b).valid is valid


def test_unequal_architectures_are_padded_or_named():
    """A sigmoid pair whose B lacks a hidden neuron of A (a pruned copy) is bounded with B padded to A's widths
    (tests/equivalence/test_smooth_split.py has the verdicts); with the roles swapped (B wider) it is not, and the
    verdict's notes say why."""
    from lumpcheck.equivalence.mode import Mode

    a, _ = pair("sigmoid")
    b = Network([Layer(a.layers[0].weight[:7], a.layers[0].bias[:7], a.layers[0].activation),
                 Layer(a.layers[1].weight[:, :7], a.layers[1].bias, a.layers[1].activation), a.layers[2]])
    res = verify(a, b, BOX, Mode("top1"), 60, engines=("difference-bound",))
    assert "padded to A's widths" in res.message
    res = verify(b, a, BOX, Mode("top1"), 60, engines=("difference-bound",))
    assert res.status != "unsat" and "needs one architecture" in res.message
