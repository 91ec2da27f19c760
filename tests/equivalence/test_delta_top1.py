"""delta-top1 (VeryDiff's δ-top-1): the mode, the rigorous confidence test, the proven L⁻, the differential engine
against independent ground truths (a z3 query of the relaxed property, dense exact sampling, exact replay), the
certificate and its tampering, pairs ending in a Softmax, and the command line."""

from __future__ import annotations

import json
import tempfile
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.apps.api import verify as api_verify
from lumpcheck.apps.cli import cli
from lumpcheck.checker.confidence import exp_upper, log_odds_proved
from lumpcheck.checker.difference import check_certificate
from lumpcheck.equivalence.confidence import exceeds, log_odds_lower
from lumpcheck.equivalence.encode import encode_pair
from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.falsify import Enclosure, decide
from lumpcheck.equivalence.mode import Mode, violated
import lumpcheck.equivalence.pair as pair_module
from lumpcheck.equivalence.pair import verify_pair
from lumpcheck.equivalence.softmax import split_heads
from lumpcheck.errors import LumpcheckError
from lumpcheck.io import load_any, save_model
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate, fingerprint
from lumpcheck.solver.z3 import solve_constraints

from pair_helpers import IDENTITY, LEAKY, RELU, near_copy, random_net
from test_softmax_head import save  # the ONNX chain builder of the softmax-head tests

F = Fraction
D90 = Mode.parse("delta-top1=0.9")


def true_log_odds(delta: Fraction) -> mpmath.mpf:
    with mpmath.workdps(60):
        return mpmath.log(mpmath.mpf(delta.numerator) / (delta.denominator - delta.numerator))


# ---------------------------------------------------------------- the mode and its numbers


@pytest.mark.parametrize("text, delta", [("delta-top1=0.9", F(9, 10)), ("delta-top1=99/100", F(99, 100)),
                                         ("delta-top1=0.5", F(1, 2)), ("delta-top1 = 0.75", F(3, 4))])
def test_parse_delta(text, delta):
    mode = Mode.parse(text)
    assert mode.kind == "delta-top1" and mode.delta == delta and Mode.parse(str(mode)) == mode
    assert mode.decides and not mode.classifies


@pytest.mark.parametrize("text, why", [("delta-top1=0.4", "0.5 <= δ < 1"), ("delta-top1=1", "0.5 <= δ < 1"),
                                       ("delta-top1", "needs a value"), ("delta-top1=x", "bad mode"),
                                       ("top1=0.9", "takes no value")])
def test_bad_delta_is_one_clear_error(text, why):
    with pytest.raises(LumpcheckError, match=why):
        Mode.parse(text)


@pytest.mark.parametrize("delta", [F(1, 2), F(3, 5), F(9, 10), F(99, 100), F(999999, 1000000), 1 - F(1, 10 ** 40)])
def test_log_odds_lower_is_below_and_close_to_the_true_value(delta):
    lminus = log_odds_lower(delta)
    true = true_log_odds(delta)
    with mpmath.workdps(60):
        gap = true - mpmath.mpf(lminus.numerator) / lminus.denominator
    assert gap >= 0 and (delta == F(1, 2) or gap < mpmath.mpf(2) ** -38)
    assert log_odds_proved(delta, lminus)  # the checker's own Taylor proof agrees
    assert delta == F(1, 2) or not log_odds_proved(delta, lminus + F(1, 2 ** 38))  # and is tight enough to refuse more


@given(st.fractions(min_value=-30, max_value=30, max_denominator=1000))
@settings(max_examples=60, deadline=None)
def test_exp_upper_is_an_upper_bound(x):
    with mpmath.workdps(80):
        true = mpmath.exp(mpmath.mpf(x.numerator) / x.denominator)
        up = mpmath.mpf(exp_upper(x).numerator) / exp_upper(x).denominator
        assert up >= true and (x <= 0 or up - true <= true * mpmath.mpf(10) ** -25)


@given(st.lists(st.fractions(min_value=-8, max_value=8, max_denominator=64), min_size=2, max_size=5),
       st.sampled_from([F(1, 2), F(3, 5), F(9, 10), F(99, 100)]))
@settings(max_examples=120, deadline=None)
def test_exceeds_agrees_with_high_precision_softmax(z, delta):
    c = max(range(len(z)), key=lambda i: z[i])
    with mpmath.workdps(80):
        e = [mpmath.exp(mpmath.mpf(v.numerator) / v.denominator) for v in z]
        p = e[c] / sum(e)
        truth = p > mpmath.mpf(delta.numerator) / delta.denominator
    assert exceeds(z, z, c, delta) is bool(truth)


def test_exact_ties_are_decided_exactly():
    assert exceeds([F(0), F(0)], [F(0), F(0)], 0, F(1, 2)) is False  # p = 1/2 is not > 1/2
    assert violated(Mode.parse("delta-top1=0.5"), [F(1), F(1)], [F(0), F(1)]) is False  # A tied: p <= 1/2


def test_violation_near_the_threshold_one_step_either_side():
    """p_0 = σ(t) > 9/10 iff t > ln 9: rational t one 2^-60 step on either side of ln 9, B picking class 1."""
    with mpmath.workdps(60):
        grid = F(int(mpmath.floor(mpmath.log(9) * 2 ** 60)), 2 ** 60)
    below, above = grid, grid + F(1, 2 ** 60)
    assert violated(D90, [below, F(0)], [F(0), F(1)]) is False
    assert violated(D90, [above, F(0)], [F(0), F(1)]) is True
    assert violated(D90, [above, F(0)], [F(1), F(0)]) is False  # B agrees
    assert violated(D90, [above, F(0)], [F(1), F(1)]) is True  # a tie in B is disagreement


def test_enclosed_outputs_decide_only_when_proved():
    wide = [Enclosure(F(0), F(5)), F(0)]
    assert decide(D90, wide, [F(0), F(1)]) is None  # p_0 may or may not exceed 9/10
    assert decide(D90, [Enclosure(F(4), F(5)), F(0)], [F(0), F(1)]) is True
    assert decide(D90, [Enclosure(F(4), F(5)), F(0)], [F(1), F(0)]) is False
    assert decide(D90, [Enclosure(F(0), F(1)), F(0)], [F(0), F(1)]) is False  # p_0 <= σ(1) < 9/10


# ---------------------------------------------------------------- the engine against ground truths


def relaxed_truth(a: Network, b: Network, box: Box, mode: Mode) -> str:
    """z3 on the relaxed property (A's margins > L⁻ instead of p_c > δ): 'unsat' proves the property, and every
    differential 'unsat' proves this relaxed property too (its closing rule uses L⁻)."""
    enc = encode_pair(a, b, box, mode)
    return solve_constraints(enc.constraints, enc.inputs, 120).status


def sampled_violation(a: Network, b: Network, box: Box, mode: Mode, per_axis: int = 13) -> tuple | None:
    """An exactly evaluated grid point of the box (all corners included) that violates the mode, or None."""
    axes = [[lo + (hi - lo) * F(k, per_axis - 1) for k in range(per_axis)] for lo, hi in zip(box.lower, box.upper)]
    for point in np.array(np.meshgrid(*[range(per_axis)] * box.dim)).reshape(box.dim, -1).T:
        x = [axes[d][int(k)] for d, k in enumerate(point)]
        if violated(mode, evaluate(a, x), evaluate(b, x)):
            return tuple(x)
    return None


def check_verdict(a: Network, b: Network, box: Box, mode: Mode, timeout: float = 3.0) -> str:
    res = verify_pair(a, b, box, mode, timeout)
    if res.status == "unsat":
        assert relaxed_truth(a, b, box, mode) == "unsat"
        assert sampled_violation(a, b, box, mode) is None
        checked = check_certificate(res.certificate, a, b)
        assert checked.valid, checked.reasons
        assert res.certificate["claim"]["mode"] == str(mode)
    elif res.status == "sat":
        cex = res.counterexample
        assert box.contains(cex.x) and violated(mode, evaluate(a, cex.x), evaluate(b, cex.x))
    return str(res.status)


@given(st.integers(0, 10 ** 6), st.sampled_from(["noise", "prune", "drop"]),
       st.sampled_from([F(1, 2), F(3, 5), F(9, 10), F(99, 100)]), st.sampled_from([RELU, LEAKY]))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_pairs_against_ground_truth(seed, kind, delta, act):
    rng = np.random.default_rng(seed)
    a = random_net(rng, [2, 5, 5, 3], act)
    b = near_copy(rng, a, kind)
    box = Box((F(-1), F(-1)), (F(1), F(1)))
    check_verdict(a, b, box, Mode("delta-top1", delta=delta))


def test_a_pair_with_other_classes_confident_needs_every_class_handled():
    """A's decision changes inside the box: the leaves of class c must refute the other classes' confidence."""
    a = Network([Layer(np.array([[1.0], [-1.0]]), np.zeros(2), IDENTITY)])  # a = [x, -x]
    b = Network([Layer(np.array([[1.0], [-1.0]]), np.array([0.0, 0.25]), IDENTITY)])  # B moves the boundary to x = 1/8
    box = Box((F(-4),), (F(4),))
    assert check_verdict(a, b, box, D90) == "unsat"  # |2x| <= 1/4 near the boundary: no class near 9/10 there
    far = Network([Layer(np.array([[1.0], [-1.0]]), np.array([0.0, 5.0]), IDENTITY)])  # boundary at x = 5/2
    assert check_verdict(a, far, box, D90) == "sat"  # x in (ln(9)/2, 5/2): A confident in 0, B picks 1


def shift_pair(s: Fraction) -> tuple[Network, Network]:
    """a = [x, 0], b = [x − s, 0]: Δ_0 − Δ_1 = s, so the Δ rule closes iff s <= L⁻; violated iff s > ln(δ/(1−δ))."""
    a = Network([Layer(np.array([[1.0], [0.0]]), np.zeros(2), IDENTITY)])
    b = Network([Layer(np.array([[1.0], [0.0]]), np.array([-float(s), 0.0]), IDENTITY)])
    assert F(b.layers[0].bias[0]) == -s
    return a, b


BOX10 = Box((F(0),), (F(10),))


def test_the_difference_rule_proves_what_neither_network_alone_shows():
    a, b = shift_pair(D90.log_odds - F(1, 2 ** 20))
    res = verify_pair(a, b, BOX10, D90, 10)
    assert res.status == "unsat" and check_certificate(res.certificate, a, b).valid
    top1 = verify_pair(a, b, BOX10, Mode("top1"), 10)
    assert top1.status == "sat"  # the plain decisions differ below the threshold


def test_just_beyond_the_threshold_is_a_replayed_counterexample():
    a, b = shift_pair(D90.log_odds + F(1, 2 ** 20))  # violated on (ln 9, s]: a window of width < 2^-20
    res = verify_pair(a, b, BOX10, D90, 30)
    assert res.status == "sat"
    x = res.counterexample.x
    assert violated(D90, evaluate(a, x), evaluate(b, x)) and BOX10.contains(x)


# ---------------------------------------------------------------- certificate tampering


@pytest.fixture(scope="module")
def certified():
    a, b = shift_pair(D90.log_odds - F(1, 2 ** 20))
    res = verify_pair(a, b, BOX10, D90, 10)
    assert res.status == "unsat"
    return a, b, res.certificate


def tampered(doc: dict, **claim) -> dict:
    out = json.loads(json.dumps(doc))
    out["claim"].update(claim)
    return out


def test_certificate_records_mode_and_log_odds(certified):
    a, b, doc = certified
    assert doc["claim"]["mode"] == "delta-top1=9/10" and F(doc["claim"]["log_odds"]) == D90.log_odds
    assert {leaf["part"] for leaf in doc["leaves"]} == {"all"}


@pytest.mark.parametrize("change, reason", [
    ({"mode": "delta-top1=89/100"}, "not proved"),  # a smaller δ: L⁻ exceeds its log-odds
    ({"log_odds": None}, "not proved"),  # L⁻ one 2^-38 step above the true value: refused by the exact test
    ({"mode": "delta-top1=2/5"}, "not proved"),  # δ out of range
    ({"log_odds": "smaller"}, "exceed"),  # a proven but smaller L⁻: the Δ rule no longer closes the leaves
    ({"mode": "top1"}, "not proved the unique decision"),  # the same leaves do not prove top1
])
def test_tampered_claims_are_invalid(certified, change, reason):
    a, b, doc = certified
    if change.get("log_odds") is None and "log_odds" in change:
        change = {"log_odds": str(D90.log_odds + F(1, 2 ** 38))}
    elif change.get("log_odds") == "smaller":
        change = {"log_odds": str(D90.log_odds - F(1, 2 ** 10))}
    res = check_certificate(tampered(doc, **change), a, b)
    assert not res.valid and any(reason in r or "exceed" in r or "class" in r for r in res.reasons), res.reasons


def test_a_larger_delta_with_the_same_log_odds_is_a_weaker_true_claim(certified):
    a, b, doc = certified
    assert check_certificate(tampered(doc, mode="delta-top1=95/100"), a, b).valid


def test_missing_log_odds_is_malformed(certified):
    a, b, doc = certified
    out = json.loads(json.dumps(doc))
    del out["claim"]["log_odds"]
    res = check_certificate(out, a, b)
    assert not res.valid and "log_odds" in res.reasons[0]


def test_a_leaf_class_is_informative_but_must_be_a_class(certified):
    """The delta-top1 rule covers every class on every leaf, so another class changes nothing; one out of range is
    malformed."""
    a, b, doc = certified
    out = json.loads(json.dumps(doc))
    for leaf in out["leaves"]:
        leaf["class"] = 1 - leaf["class"]
    assert check_certificate(out, a, b).valid
    out["leaves"][0]["class"] = 2
    res = check_certificate(out, a, b)
    assert not res.valid and "class out of range" in res.reasons[0]


def test_one_ulp_beyond_the_refuted_confidence_is_invalid():
    """Box [0, u], a = [x, 0], b = [0, x]: class 0 never exceeds δ iff u <= ln 9; the certificate proves it with
    ub(a_0 − a_1) <= L⁻. The same certificate with u moved one float step above L⁻ must be refused."""
    a = Network([Layer(np.array([[1.0], [0.0]]), np.zeros(2), IDENTITY)])
    b = Network([Layer(np.array([[0.0], [1.0]]), np.zeros(2), IDENTITY)])
    u = D90.log_odds - F(1, 2 ** 20)
    res = verify_pair(a, b, Box((F(0),), (u,)), D90, 10)
    assert res.status == "unsat" and check_certificate(res.certificate, a, b).valid
    lminus = float(D90.log_odds)
    assert F(lminus) == D90.log_odds  # L⁻ is a float: the comparison is at exactly this value
    for upper, valid in ((u, True), (F(float(np.nextafter(lminus, np.inf))), False)):
        doc = json.loads(json.dumps(res.certificate))
        doc["claim"]["box"]["upper"] = [str(upper)]
        assert check_certificate(doc, a, b).valid is valid, upper


# ---------------------------------------------------------------- softmax heads and the command line


@given(st.integers(0, 10 ** 6), st.sampled_from(["noise", "prune"]), st.booleans())
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_pairs_ending_in_softmax_are_decided_on_a_logits(seed, kind, b_head):
    """A ends in a Softmax (its logits are the Softmax's input), B with or without one: the verdict is the logit
    networks', checked against the relaxed z3 query (unsat) or an exact replay on the logits (sat)."""
    rng = np.random.default_rng(seed)
    a = random_net(rng, [3, 5, 3])
    b = near_copy(rng, a, kind)
    box = Box((F(-1),) * 3, (F(1),) * 3)
    with tempfile.TemporaryDirectory() as tmp:
        pa, pb = save(Path(tmp), "a.onnx", a, True), save(Path(tmp), "b.onnx", b, b_head)
        res = api_verify(pa, pb, domain=box, mode="delta-top1=0.9", timeout=20)
        la, lb, heads = split_heads(load_any(pa), load_any(pb))  # float32 files: the logit networks as read
    assert heads.a and heads.b == b_head
    assert res.status in ("unsat", "sat"), res.message
    if res.status == "sat":
        assert violated(D90, evaluate(la, res.witness), evaluate(lb, res.witness)) and box.contains(res.witness)
        assert all(isinstance(v, Enclosure) for v in res.output_a)  # the softmax outputs shown, enclosed
    else:
        assert relaxed_truth(la, lb, box, D90) == "unsat"


def test_cli_verify_check_report_delta(tmp_path):
    rng = np.random.default_rng(11)
    a = random_net(rng, [2, 6, 6, 3])
    b = near_copy(rng, a, "noise")
    save_model(a, tmp_path / "a.onnx")
    save_model(b, tmp_path / "b.onnx")
    box = tmp_path / "box.vnnlib"
    box.write_text("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
                   "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n(assert (>= X_1 -1))\n(assert (<= X_1 1))\n")
    run = CliRunner().invoke
    cert, results = tmp_path / "c.json", tmp_path / "r.txt"
    res = run(cli, ["verify", str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx"), "--domain", str(box), "--mode",
                    "delta-top1=0.9", "--certify", str(cert), "--results-file", str(results), "--json"])
    out = json.loads(res.stdout)
    assert out["mode"] == "delta-top1=9/10" and out["status"] == "unsat" and res.exit_code == 0
    assert results.read_text().split("\n")[0] == "unsat"
    checked = run(cli, ["check", str(cert), str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx")])
    assert checked.exit_code == 0 and "delta-top1" in checked.output and "A the reference" in checked.output
    report = run(cli, ["report", str(cert), "-o", str(tmp_path / "r.md"), "--format", "md"])
    assert report.exit_code == 0 and "δ-top-1 agreement with δ = 9/10" in (tmp_path / "r.md").read_text()
    bad = run(cli, ["verify", str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx"), "--mode", "delta-top1=1.5"])
    assert bad.exit_code == 2 and "0.5 <= δ < 1" in bad.output
    helped = run(cli, ["verify", "--help"])
    assert "delta-top1=D" in helped.output and "asymmetric" in helped.output
    rows = tmp_path / "instances.csv"
    rows.write_text(f"\"[('f', '{tmp_path / 'a.onnx'}'), ('g', '{tmp_path / 'b.onnx'}')]\",{box},20\n")
    batch = run(cli, ["verify", "--instances", str(rows), "--mode", "delta-top1=99/100", "--results-dir",
                      str(tmp_path / "out")])
    summary = (tmp_path / "out" / "summary.csv").read_text()
    assert batch.exit_code == 0 and ",unsat,differential," in summary
    cert_row = next((tmp_path / "out").glob("*.cert.json"))
    assert json.loads(cert_row.read_text())["claim"]["mode"] == "delta-top1=99/100"


# ---------------------------------------------------------------- the other engines


def test_monolithic_relaxed_model_that_is_no_counterexample_is_unknown_not_error():
    """s strictly between L⁻ and ln 9: z3's relaxed query (margins > L⁻) has models x in (L⁻, s], none of which
    violates the property (there p_0 = σ(x) < 9/10): unknown, never sat, never an internal error."""
    a, b = shift_pair(D90.log_odds + F(1, 2 ** 42))
    assert F(1, 2 ** 42) < F(1, 2 ** 40)  # L − L⁻ >= 2^-40 (confidence.GRID_BITS): s < ln 9
    for box in (BOX10, None):
        res = verify(a, b, box, D90, 20, engines=("monolithic",))
        assert res.status == "unknown" and "relaxes" in res.message


def test_engine_verdicts_in_delta_mode():
    a = Network([Layer(np.array([[1.0], [-1.0]]), np.zeros(2), IDENTITY)])
    far = Network([Layer(np.array([[1.0], [-1.0]]), np.array([0.0, 5.0]), IDENTITY)])
    box = Box((F(-4),), (F(4),))
    found = verify(a, far, box, D90, 20, engines=("falsify",))
    assert found.status == "sat" and found.engine == "falsify"
    assert violated(D90, evaluate(a, found.witness), evaluate(far, found.witness))
    same = verify(a, a, None, D90, 20, engines=("lumping-match",))
    assert same.status == "unsat"  # equal functions satisfy every mode
    z3_only = verify(a, far, box, D90, 20, engines=("monolithic",))
    assert z3_only.status == "sat" and violated(D90, evaluate(a, z3_only.witness), evaluate(far, z3_only.witness))
    diff = verify(*shift_pair(D90.log_odds - F(1, 2 ** 20)), BOX10, D90, 20, engines=("differential",))
    assert diff.status == "unsat" and diff.certificate["claim"]["models"]["domain"] is not None


@pytest.mark.parametrize("seed", [0])
def test_relu_splitting_certificates(seed):
    """Neuron (ReLU-phase) splitting: the leaves restrict phases of the whole box, class = A's at the centre."""
    rng = np.random.default_rng(seed)
    a = random_net(rng, [3, 8, 8, 4])
    b = near_copy(rng, a, "noise")
    box = Box((F(-1, 2),) * 3, (F(1, 2),) * 3)
    res = verify_pair(a, b, box, D90, 20, strategy="relu")
    assert res.status == "unsat" and res.certificate["strategy"] == "relu"
    assert check_certificate(res.certificate, a, b).valid
    assert relaxed_truth(a, b, box, D90) == "unsat"


def test_a_tie_in_b_never_proves_agreement():
    """A crafted one-leaf certificate for a = [x, 0], b = [0, 0] on [0, 10]: B ties everywhere (ub(b_1 − b_0) = 0,
    not < 0), and A is confident in class 0 for x > ln 9: the property is violated, the certificate invalid."""
    a = Network([Layer(np.array([[1.0], [0.0]]), np.zeros(2), IDENTITY)])
    tie = Network([Layer(np.zeros((2, 1)), np.zeros(2), IDENTITY)])
    assert violated(D90, evaluate(a, [F(5)]), evaluate(tie, [F(5)]))
    doc = {"format": "lumpcheck-diff-certificate", "version": 1,
           "claim": {"mode": str(D90), "log_odds": str(D90.log_odds), "box": {"lower": ["0"], "upper": ["10"]},
                     "a": {"sha256": fingerprint(a), "shape": a.shape_str()},
                     "b": {"sha256": fingerprint(tie), "shape": tie.shape_str()}},
           "pairing": [], "strategy": "input", "hidden": "leaf", "root": None,
           "leaves": [{"path": [], "part": "all", "pass": "pair", "class": 0, "empty": False, "slopes": ""}]}
    res = check_certificate(doc, a, tie)
    assert not res.valid and "B is not proved to prefer" in res.reasons[0]
    agree = Network([Layer(np.zeros((2, 1)), np.array([1.0, 0.0]), IDENTITY)])  # b = [1, 0]: B picks 0 alone
    doc["claim"]["b"] = {"sha256": fingerprint(agree), "shape": agree.shape_str()}
    assert check_certificate(doc, a, agree).valid  # the same leaf with a strict preference checks


def test_one_leaf_covers_regions_where_different_classes_are_confident():
    """a = [x, −x], b = a + [1/10, 0] on [−4, 4]: A is confident in 0 for x > ln(9)/2 and in 1 for x < −ln(9)/2;
    Δ_0 − Δ_1 = 1/10 and Δ_1 − Δ_0 = −1/10 are both <= L⁻, so the rule holds for both classes on the whole box."""
    a = Network([Layer(np.array([[1.0], [-1.0]]), np.zeros(2), IDENTITY)])
    b = Network([Layer(np.array([[1.0], [-1.0]]), np.array([0.1, 0.0]), IDENTITY)])
    res = verify_pair(a, b, Box((F(-4),), (F(4),)), D90, 10)
    assert res.status == "unsat" and len(res.certificate["leaves"]) == 1
    assert check_certificate(res.certificate, a, b).valid


def test_relu_splitting_falls_back_to_a_top1_proof(monkeypatch):
    """With ReLU splitting, an undecided delta-top1 search hands the rest of the time to top1, which implies it.
    Forced here by leaving the delta search no time: the answer is a top1 certificate, and the ground truths agree."""
    monkeypatch.setattr(pair_module, "DELTA_SHARE", 0.0)
    rng = np.random.default_rng(0)
    a = random_net(rng, [3, 8, 8, 4])
    b = near_copy(rng, a, "noise")
    box = Box((F(-1, 16),) * 3, (F(1, 16),) * 3)
    res = verify_pair(a, b, box, D90, 20, strategy="relu")
    assert res.status == "unsat" and res.mode == D90 and "imply delta-top1" in res.message
    assert res.certificate["claim"]["mode"] == "top1" and check_certificate(res.certificate, a, b).valid
    assert relaxed_truth(a, b, box, D90) == "unsat"
    far = Network([Layer(np.array([[1.0], [-1.0]]), np.array([0.0, 5.0]), IDENTITY)])
    line = Network([Layer(np.array([[1.0], [-1.0]]), np.zeros(2), IDENTITY)])
    refuted = verify_pair(line, far, Box((F(-4),), (F(4),)), D90, 10, strategy="relu")
    assert refuted.status == "sat"  # a real delta-top1 counterexample is still found (before any top1 search)


def test_a_refuted_top1_fallback_is_named_in_the_answer(monkeypatch):
    """a = [x, −x], b = a + [1/10, 0]: the delta-top1 search gets no time here, and top1, the fallback, is false near
    x = 0 (A picks 1 where B picks 0): undecided, and the message says why rather than only 'deadline reached'."""
    monkeypatch.setattr(pair_module, "DELTA_SHARE", 0.0)
    a = Network([Layer(np.array([[1.0], [-1.0]]), np.zeros(2), IDENTITY)])
    b = Network([Layer(np.array([[1.0], [-1.0]]), np.array([0.1, 0.0]), IDENTITY)])
    res = verify_pair(a, b, Box((F(-4),), (F(4),)), D90, 10, strategy="relu")
    assert res.status in ("timeout", "unknown") and res.mode == D90
    assert "top1 (which would imply delta-top1) does not hold: a counterexample" in res.message, res.message


@pytest.mark.parametrize("lminus", [F(10 ** 9), F(10 ** 30) + F(1, 3), F(700)])
def test_a_huge_tampered_log_odds_is_refused_quickly(lminus):
    """exp(L⁻) for a huge tampered L⁻ would have millions of digits: the cap refuses it without computing it
    (this test would hang on an uncapped exp_upper), and the capped bound is still an upper bound above the cap."""
    for delta in (F(9, 10), 1 - F(1, 10 ** 40)):
        assert not log_odds_proved(delta, lminus)
        odds = delta / (1 - delta)
        assert exp_upper(lminus, cap=odds) > odds
