"""One-network leaves whose hidden-layer bounds come from other slopes than their objective rows (`hidden_slopes`:
the search's optimised stage keeps the bounds it was optimised on). Any two slope sets give sound bounds (ground
truth: exact maxima by enumeration, one input); the search's certificates record them and check valid; the checker
uses them (tampered ones make leaves fail) and refuses them on lockstep leaves."""

from __future__ import annotations

import base64
import copy
import struct
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.apps.report_diff import build_diff_report, render_diff
from lumpcheck.checker.difference import check_certificate
from lumpcheck.checker.difference_bounds import build_chains
from lumpcheck.checker.difference_pass import single_pass

from pair_helpers import LEAKY, RELU, exact_margin_max, random_net, relu_top1_case

pytest.importorskip("torch", reason="the slope optimiser needs torch (without it no leaf has hidden slopes)")


def _lower_slopes(ch, hidden: int, values: list[np.ndarray]) -> list[dict]:
    """The checker's per-layer slope arrays for one box: A's lower slopes `values`, every other slope default."""
    out = []
    for k in range(hidden):
        rec = {key: np.full((1, n), np.nan) for key, n in (("p_su", len(ch.P[k].b)), ("p_sl", len(ch.P[k].b)),
               ("p_qu", len(ch.d_a[k + 1])), ("p_ql", len(ch.d_a[k + 1])), ("a_su", len(ch.A[k].b)))}
        rec["a_sl"] = values[k][None, :].astype(np.float64)
        out.append(rec)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6))
def test_bounds_from_two_slope_sets_stay_above_the_exact_maximum(seed):
    """The checker's passes for a leaf with hidden slopes: hidden layers bounded with lower slopes H, then the margin
    rows with lower slopes S over those bounds (no hidden layer back-substituted again): every row's bound >= its
    exact maximum over the leaf's region, for random H, S in [0, 1] and random phases."""
    rng = np.random.default_rng(seed)
    widths = [1] + [int(rng.integers(2, 6)) for _ in range(int(rng.integers(2, 4)))] + [3]
    net = random_net(rng, widths, [RELU, LEAKY][int(rng.integers(2))])
    lo, hi = Fraction(int(rng.integers(-8, 0)), 4), Fraction(int(rng.integers(1, 9)), 4)
    phases = [rng.choice([-1.0, 0.0, 0.0, 1.0], size=(1, w)) for w in widths[1:-1]]
    cls = int(rng.integers(3))
    truth = exact_margin_max(net, lo, hi, cls, [p[0] for p in phases])
    if truth is None:
        return  # an empty region: any bound is sound
    ch = build_chains(net, net, [[(i, i) for i in range(w)] for w in widths[1:-1]])
    hidden = len(widths) - 2
    h_slopes, s_slopes = ([rng.random(w).astype(np.float32) for w in widths[1:-1]] for _ in range(2))
    xl, xu = np.array([[float(lo)]]), np.array([[float(hi)]])
    ph = [(p, np.zeros_like(p)) for p in phases]
    _, empty, bounds = single_pass(ch, "a", xl, xu, _lower_slopes(ch, hidden, h_slopes), ph)
    chain, again, _ = single_pass(ch, "a", xl, xu, _lower_slopes(ch, hidden, s_slopes), ph, bounds, refine=False)
    assert not (empty[0] or again[0]), (seed, "a nonempty region was declared empty")
    M = np.eye(3)[None].copy()
    M[0, :, cls] -= 1.0
    rows = chain.rows(hidden, M)[0]
    for j, exact in enumerate(truth):
        if j != cls:
            assert Fraction(float(rows[j])) >= exact, (seed, j)


@pytest.fixture(scope="module")
def hidden_case():
    case = relu_top1_case(lambda res: any("hidden_slopes" in leaf for leaf in res.certificate["leaves"]))
    assert case is not None, "no random top1 pair had a leaf closed over kept hidden-layer bounds (hidden_slopes)"
    return case


def test_leaves_over_kept_bounds_record_their_hidden_slopes_and_check_valid(hidden_case):
    a, b, _, res = hidden_case
    leaves = res.certificate["leaves"]
    assert all(leaf["pass"] == "single" for leaf in leaves if "hidden_slopes" in leaf)
    assert all(leaf["hidden_slopes"] != leaf["slopes"] for leaf in leaves if "hidden_slopes" in leaf)
    assert check_certificate(res.certificate, a, b).valid


def _scaled(blob: str, factor: float) -> str:
    """The slope record with every listed slope multiplied by factor (NaN columns stay NaN). Per hidden layer:
    int32 n_p, n_a; int32[n_p] indices, float32[n_p][4] slopes; int32[n_a] indices, float32[n_a][2] slopes."""
    data = bytearray(base64.b64decode(blob))
    pos = 0
    while pos < len(data):
        n_p, n_a = struct.unpack_from("<ii", data, pos)
        pos += 8
        for count, width in ((n_p, 4), (n_a, 2)):
            pos += 4 * count
            end = pos + 4 * width * count
            data[pos:end] = (np.frombuffer(bytes(data[pos:end]), "<f4") * np.float32(factor)).astype("<f4").tobytes()
            pos = end
    return base64.b64encode(bytes(data)).decode()


def test_the_checker_derives_hidden_bounds_from_the_hidden_slopes(hidden_case):
    """Kills a checker that ignores `hidden_slopes` (using `slopes` throughout): hidden slopes scaled by 1e30 are
    still sound, but so loose that some leaf no longer checks."""
    a, b, _, res = hidden_case
    doc = copy.deepcopy(res.certificate)
    for leaf in doc["leaves"]:
        if "hidden_slopes" in leaf:
            leaf["hidden_slopes"] = _scaled(leaf["hidden_slopes"], 1e30)
    out = check_certificate(doc, a, b)
    assert not out.valid and "not proved" in out.reasons[0], out.reasons


def test_hidden_slopes_on_a_lockstep_leaf_are_refused(hidden_case):
    a, b, _, res = hidden_case
    doc = copy.deepcopy(res.certificate)
    blob = next(leaf for leaf in doc["leaves"] if "hidden_slopes" in leaf)["hidden_slopes"]
    target = next(leaf for leaf in doc["leaves"] if "hidden_slopes" not in leaf)
    target["pass"], target["hidden_slopes"] = "pair", blob
    target.pop("root", None)
    target.pop("betas", None)
    out = check_certificate(doc, a, b)
    assert not out.valid and "only on one-network leaves" in out.reasons[0], out.reasons


def test_report_counts_the_leaves_with_hidden_slopes(hidden_case):
    _, _, _, res = hidden_case
    count = sum("hidden_slopes" in leaf for leaf in res.certificate["leaves"])
    text = render_diff(build_diff_report(res.certificate, "cert.json"), "md")
    assert f"**kept hidden bounds**: {count} leaves" in text, text
