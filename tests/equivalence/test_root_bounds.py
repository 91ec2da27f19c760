"""The root's hidden-layer bounds reused by every node of a ReLU-split search (α,β-CROWN style): all nodes share the
root's input box, so the bounds the root proves with its optimised slopes hold on each of them, and a node intersects
its own hidden-layer bounds with them. Ground truth: exact ranges and margin maxima of one-input networks by
enumeration of their knots. Certificates record the root's slopes once per network (`roots`) and `root: true` on the
leaves that used them; the checker re-derives the root's bounds itself (never reads bounds from the document) and
refuses a leaf that needs them when they are missing, malformed, or derived from slopes other than the prover's."""

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
from lumpcheck.bounds.coupling import couple
from lumpcheck.bounds.difference import run_single
from lumpcheck.checker.difference import check_certificate
from lumpcheck.checker.difference_bounds import build_chains
from lumpcheck.checker.difference_pass import single_pass
from lumpcheck.equivalence.alpha_nodes import RootBounds
from lumpcheck.equivalence.mode import Mode
from lumpcheck.equivalence.objective import Objective

from pair_helpers import LEAKY, RELU, _knots, _pre, exact_margin_max, random_net, relu_top1_case
from test_alpha_slopes import set_lower_slopes

pytest.importorskip("torch", reason="the root's slopes are optimised by torch (without it nodes keep their own bounds)")


# ---------------------------------------------------------------- soundness against exact ranges


def _checker_slopes(ch, sl: list[np.ndarray] | None, n: int = 1) -> list[dict]:
    """The checker's per-layer slope arrays (NaN: default) with A's lower slopes `sl` (None: all default)."""
    out = []
    for k in range(len(ch.A) - 1):
        rec = {key: np.full((n, size), np.nan) for key, size in (
            ("p_su", len(ch.P[k].b)), ("p_sl", len(ch.P[k].b)), ("p_qu", len(ch.d_a[k + 1])),
            ("p_ql", len(ch.d_a[k + 1])), ("a_su", len(ch.A[k].b)), ("a_sl", len(ch.A[k].b)))}
        if sl is not None:
            rec["a_sl"] = np.repeat(sl[k], n, axis=0)
        out.append(rec)
    return out


def _exact_ranges(net, lo: Fraction, hi: Fraction) -> list[list[tuple[Fraction, Fraction]]]:
    """Exact (min, max) of every hidden pre-activation over [lo, hi] (linear between knots: attained at a knot)."""
    values = [_pre(net, x) for x in _knots(net, lo, hi)]
    return [[(min(v[k][i] for v in values), max(v[k][i] for v in values)) for i in range(len(values[0][k]))]
            for k in range(len(values[0]))]


def _encloses(bounds, exact) -> bool:
    return all(Fraction(float(lo[0, i])) <= a and Fraction(float(hi[0, i])) >= b
               for (lo, hi), layer in zip(bounds, exact) for i, (a, b) in enumerate(layer))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6))
def test_root_bounds_and_nodes_intersected_with_them_are_sound(seed):
    """Any root slopes (in [−1/2, 3/2], some default): the root's bounds (prover and checker) enclose the exact
    ranges of the hidden pre-activations over the box, and a node's margin bounds under random phases, intersected
    with them, stay above the exact maxima of the margins over the node's region."""
    rng = np.random.default_rng(seed)
    widths = [1] + [int(rng.integers(2, 7)) for _ in range(int(rng.integers(1, 4)))] + [3]
    net = random_net(rng, widths, [RELU, LEAKY][int(rng.integers(2))])
    lo, hi = Fraction(int(rng.integers(-8, 0)), 4), Fraction(int(rng.integers(1, 9)), 4)
    cls = int(rng.integers(3))
    sl = [np.where(rng.random((1, w)) < 0.2, np.nan, rng.uniform(-0.5, 1.5, (1, w))).astype(np.float32).astype(np.float64)
          for w in widths[1:-1]]
    coupling = couple(net, net)
    xl, xu = np.array([[float(lo)]]), np.array([[float(hi)]])
    objective = Objective(Mode("top1"), np.array([cls]), "a")
    dp = run_single(coupling, "a", xl, xu, objective)
    root = run_single(coupling, "a", xl, xu, objective, slopes=[{"a_sl": s} for s in sl], root=dp.single).single
    exact = _exact_ranges(net, lo, hi)
    assert _encloses(root, exact), seed
    ch = build_chains(net, net, [[(i, i) for i in range(len(layer.bias))] for layer in net.layers[:-1]])
    _, _, dpc = single_pass(ch, "a", xl, xu, _checker_slopes(ch, None))
    _, _, rootc = single_pass(ch, "a", xl, xu, _checker_slopes(ch, sl), root=dpc)
    assert _encloses(rootc, exact), seed

    phases = [rng.choice([-1.0, 0.0, 0.0, 1.0], size=(1, w)) for w in widths[1:-1]]
    truth = exact_margin_max(net, lo, hi, cls, [p[0] for p in phases])
    pairs = [(p, np.zeros_like(p)) for p in phases]
    node = run_single(coupling, "a", xl, xu, objective, phases=pairs, root=root)
    chain, empty, _ = single_pass(ch, "a", xl, xu, _checker_slopes(ch, None), pairs, root=rootc)
    if truth is None:
        return  # an empty region: any bound is sound
    assert not node.empty[0] and not empty[0], (seed, "a nonempty region was declared empty")
    M = np.eye(3)[None].copy()
    M[0, :, cls] -= 1.0
    checked = chain.rows(len(ch.A) - 1, M)[0]
    for j, value in enumerate(truth):
        if j != cls:
            assert Fraction(float(node.uppers["a"][0, j])) >= value, (seed, j)
            assert Fraction(float(checked[j])) >= value, (seed, j)


def test_root_bounds_are_checked_at_construction():
    ok = (np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="part"):
        RootBounds("all", (ok,), ({},))
    with pytest.raises(ValueError, match="lower bounds above upper"):
        RootBounds("a", ((np.ones(2), np.zeros(2)),), ({},))
    with pytest.raises(ValueError, match="hidden layers"):
        RootBounds("b", (ok, ok), ({},))


# ---------------------------------------------------------------- certificates


def _no_slopes(hidden: int) -> str:
    return base64.b64encode(struct.pack("<ii", 0, 0) * hidden).decode()


def _hidden(doc: dict) -> int:
    return len(doc["pairing"])


def _needs_root(res, a, b) -> bool:
    """The certificate has root slopes and some leaf does not check without the root's optimised bounds."""
    doc = res.certificate
    if not doc.get("roots") or not any(leaf.get("root") for leaf in doc["leaves"]):
        return False
    plain = copy.deepcopy(doc)
    for record in plain["roots"].values():
        record["slopes"] = _no_slopes(_hidden(doc))
    return not check_certificate(plain, a, b).valid


@pytest.fixture(scope="module")
def root_case():
    """A random 3-8-8-8-3 top1 pair proved by ReLU splitting, some of whose leaves close only with the root's bounds."""
    from lumpcheck.equivalence import pair

    made = pair.verify_pair
    seen = {}

    def remember(a, b, *args, **kw):
        seen["ab"] = (a, b)
        return made(a, b, *args, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pair, "verify_pair", remember)
        case = relu_top1_case(lambda res: _needs_root(res, *seen["ab"]), half=Fraction(1, 4))  # wider: the root's bounds matter
    if case is None:
        pytest.skip("no random instance had leaves that need the root's bounds")
    return case


def test_certificates_with_root_bounds_check_valid(root_case):
    a, b, _, res = root_case
    doc = res.certificate
    assert set(doc["roots"]) <= {"a", "b"} and any(leaf.get("root") for leaf in doc["leaves"])
    assert all(leaf["pass"] == "single" for leaf in doc["leaves"] if leaf.get("root"))
    assert check_certificate(doc, a, b).valid


def _invalid(doc, a, b, reason: str) -> None:
    out = check_certificate(doc, a, b)
    assert not out.valid and reason in out.reasons[0], out.reasons


def test_a_leaf_that_needs_the_root_bounds_is_refused_without_them(root_case):
    a, b, _, res = root_case
    doc = copy.deepcopy(res.certificate)
    del doc["roots"]
    _invalid(doc, a, b, "records no root slopes")


def test_root_slopes_other_than_the_provers_do_not_check(root_case):
    """Every root lower slope changed to 10^6 (still a sound relaxation: the offsets are re-derived): the root's
    re-derived bounds are looser and some leaf no longer closes."""
    a, b, _, res = root_case
    doc = copy.deepcopy(res.certificate)
    for record in doc["roots"].values():
        record["slopes"] = set_lower_slopes(record["slopes"], 1e6)[0]
    _invalid(doc, a, b, "is not proved")


def test_deeppoly_root_slopes_do_not_check(root_case):
    a, b, _, res = root_case
    doc = copy.deepcopy(res.certificate)
    for record in doc["roots"].values():
        record["slopes"] = _no_slopes(_hidden(doc))
    _invalid(doc, a, b, "is not proved")


@pytest.mark.parametrize("edit, reason", [
    (lambda d: d["roots"].update(c=d["roots"][next(iter(d["roots"]))]), "'roots' must map"),
    (lambda d: d["roots"].update({next(iter(d["roots"])): "AAAA"}), "expected {'slopes': BLOB}"),
    (lambda d: d["roots"][next(iter(d["roots"]))].update(slopes=set_lower_slopes(
        d["roots"][next(iter(d["roots"]))]["slopes"], float("inf"))[0]), "infinite slope"),
    (lambda d: next(l for l in d["leaves"] if l.get("root")).update(root="yes"), "'root' must be true or false"),
    (lambda d: next(l for l in d["leaves"] if l.get("root")).update({"pass": "pair"}), "true only with pass 'single'"),
])
def test_malformed_root_records_are_refused(root_case, edit, reason):
    a, b, _, res = root_case
    doc = copy.deepcopy(res.certificate)
    edit(doc)
    _invalid(doc, a, b, reason)


def test_report_names_the_leaves_that_use_root_bounds(root_case):
    """`lumpcheck report` (markdown) says how many leaves of each network were intersected with the root's bounds."""
    _, _, _, res = root_case
    doc = res.certificate
    text = render_diff(build_diff_report(doc, "cert.json"), "md")
    counts = {p: sum(1 for leaf in doc["leaves"] if leaf.get("root") and leaf["part"] == p) for p in doc["roots"]}
    assert "**root bounds**" in text
    for part, count in counts.items():
        assert f"network {part}: {count} leaves" in text
