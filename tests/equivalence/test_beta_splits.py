"""β-CROWN split constraints in one-network bounds: a multiplier β >= 0 per margin row and split neuron adds β·s·z
(>= 0 on the node's region) to the back-substituted row, so the phase constraint is used on the input, not only as
the neuron's bound. Any β >= 0 is sound (ground truth: exact maxima by enumeration), the prover and the checker
derive the same bounds, certificates recording β check valid, and the checker refuses every β that is not allowed
(negative, NaN, infinite, on an unsplit neuron, ...) with its reason."""

from __future__ import annotations

import base64
import copy
import struct
from fractions import Fraction
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.bounds.coupling import couple
from lumpcheck.bounds.difference import run_single
from lumpcheck.checker.difference import check_certificate
from lumpcheck.checker.difference_betas import BetaError, decode, split_terms
from lumpcheck.checker.difference_bounds import build_chains
from lumpcheck.checker.difference_pass import single_pass
from lumpcheck.equivalence import alpha, pair
from lumpcheck.equivalence.mode import Mode
from lumpcheck.equivalence.objective import Objective
from lumpcheck.equivalence.pair import verify_pair
from lumpcheck.equivalence.pair_certificate import encode_betas
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.network import Layer, Network

from pair_helpers import LEAKY, RELU, exact_margin_max, random_net, relu_top1_case

pytest.importorskip("torch", reason="the β optimiser needs torch (without it the search records no β)")

IDENTITY = Activation("identity")


# ---------------------------------------------------------------- the bound of one node, prover and checker


def _checker_bound(net: Network, xl, xu, phases, cls: int, betas: list[np.ndarray] | None, signed=None) -> np.ndarray:
    """The checker's upper bounds of the margin rows of one box (its own single pass, its own β reading)."""
    ch = build_chains(net, net, [[(i, i) for i in range(len(layer.bias))] for layer in net.layers[:-1]])
    hidden = len(ch.A) - 1
    slopes = [{key: np.full((1, n), np.nan) for key, n in (("p_su", len(ch.P[k].b)), ("p_sl", len(ch.P[k].b)),
               ("p_qu", len(ch.d_a[k + 1])), ("p_ql", len(ch.d_a[k + 1])), ("a_su", len(ch.A[k].b)), ("a_sl", len(ch.A[k].b)))}
              for k in range(hidden)]
    ph = [(p, np.zeros_like(p)) for p in phases]
    chain, _, _ = single_pass(ch, "a", xl, xu, slopes, ph)
    n_out = len(net.layers[-1].bias)
    M = np.eye(n_out)[None].copy()
    M[0, :, cls] -= 1.0
    if signed is None and betas is not None:
        entries = tuple((k, i, betas[k][0, :, i]) for k in range(hidden) for i in range(betas[k].shape[2])
                        if phases[k][0, i] != 0 and np.any(betas[k][0, :, i] > 0))
        path = tuple(("a", k, i, int(phases[k][0, i])) for k in range(hidden) for i in range(phases[k].shape[1])
                     if phases[k][0, i] != 0)
        signed = split_terms([{"betas": encode_betas(entries, n_out)}], [path], "a", n_out,
                             [len(layer.b) for layer in ch.A[:-1]])
    return chain.rows(hidden, M, signed)[0]


def _random_case(rng):
    widths = [1] + [int(rng.integers(2, 7)) for _ in range(int(rng.integers(1, 4)))] + [3]
    net = random_net(rng, widths, [RELU, LEAKY][int(rng.integers(2))])
    lo, hi = Fraction(int(rng.integers(-8, 0)), 4), Fraction(int(rng.integers(1, 9)), 4)
    phases = [rng.choice([-1.0, 0.0, 0.0, 1.0], size=(1, w)) for w in widths[1:-1]]
    return net, widths, lo, hi, phases, int(rng.integers(3))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.sampled_from(["random", "huge", "optimised"]))
def test_any_nonnegative_beta_gives_bounds_above_the_exact_maximum(seed, kind):
    """Prover (run_single) and checker (single_pass, β read back from the certificate encoding) with β >= 0 chosen
    at random, huge, or by the optimiser: every margin row's bound >= its exact maximum over the node's region."""
    rng = np.random.default_rng(seed)
    net, widths, lo, hi, phases, cls = _random_case(rng)
    coupling = couple(net, net)
    xl, xu = np.array([[float(lo)]]), np.array([[float(hi)]])
    objective = Objective(Mode("top1"), np.array([cls]), "a")
    rows = objective.rows(coupling, 1)["a"]
    slopes = None
    if kind == "optimised":
        found = alpha.propose(coupling.chain_a, xl, xu, rows, phases, steps=8, joint=bool(rng.integers(2)), betas=True)
        slopes, betas = [{"a_sl": s} for s in found.slopes], found.betas
        if betas is None:
            betas = [np.zeros((1, 3, w)) for w in widths[1:-1]]
        assert all(np.all(b >= 0) for b in betas)
    else:
        scale = 1e6 if kind == "huge" else 3.0
        betas = [(rng.random((1, 3, w)) * scale).astype(np.float32).astype(np.float64) for w in widths[1:-1]]
    pairs = [(p, np.zeros((1, len(net.layers[k].bias)))) for k, p in enumerate(phases)]
    res = run_single(coupling, "a", xl, xu, objective, slopes=slopes, phases=pairs, betas=betas)
    truth = exact_margin_max(net, lo, hi, cls, [p[0] for p in phases])
    if truth is None:
        return  # an empty region: any bound is sound
    assert not res.empty[0], (seed, "a nonempty region was declared empty")
    checked = _checker_bound(net, xl, xu, phases, cls, betas) if slopes is None else None
    for j, exact in enumerate(truth):
        if j == cls:
            continue
        assert Fraction(float(res.uppers["a"][0, j])) >= exact, (seed, j)
        if checked is not None:
            assert Fraction(float(checked[j])) >= exact, (seed, j)


def _needs_beta():
    """x in [−1, 1], z_0 = x, z_1 = −x (ReLU), y_0 = relu(z_1), y_1 = 5/8. On the branch z_0 >= 0, y_0 = 0 and the
    margin y_0 − y_1 is −5/8; as a neuron bound only, z_0 >= 0 leaves z_1 in [−1, 1] and the bound at 3/8; with
    β = 1/2 on z_0 the row becomes relu(z_1) − 5/8 + x/2 <= (1 − x)/2 − 5/8 + x/2 = −1/8."""
    return Network([Layer(np.array([[1.0], [-1.0]]), np.zeros(2), RELU),
                    Layer(np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([0.0, 0.625]), IDENTITY)])


def test_a_split_constraint_used_on_the_input_closes_what_a_neuron_bound_cannot():
    net = _needs_beta()
    coupling = couple(net, net)
    xl, xu = -np.ones((1, 1)), np.ones((1, 1))
    objective = Objective(Mode("top1"), np.array([1]), "a")
    phases = [np.array([[1.0, 0.0]])]
    pairs = [(phases[0], np.zeros((1, 2)))]
    plain = run_single(coupling, "a", xl, xu, objective, phases=pairs)
    assert plain.uppers["a"][0, 0] == pytest.approx(0.375) and not plain.closed[0]
    beta = [np.zeros((1, 2, 2))]
    beta[0][0, 0, 0] = 0.5  # row 0 (the margin of class 0), neuron 0
    tight = run_single(coupling, "a", xl, xu, objective, phases=pairs, betas=beta)
    assert tight.uppers["a"][0, 0] == pytest.approx(-0.125) and tight.closed[0]
    assert _checker_bound(net, xl, xu, phases, 1, beta)[0] == pytest.approx(-0.125)
    found = alpha.propose(coupling.chain_a, xl, xu, objective.rows(coupling, 1)["a"], phases, steps=30, betas=True)
    best = run_single(coupling, "a", xl, xu, objective, phases=pairs, betas=found.betas)
    assert best.closed[0] and found.betas[0][0, 0, 1] == 0.0  # no β on the unsplit neuron
    assert exact_margin_max(net, Fraction(-1), Fraction(1), 1, [[1, 0]])[0] == Fraction(-5, 8)


def test_a_negative_beta_would_hide_a_positive_margin():
    """Why the checker refuses β < 0: on the branch z_0 >= 0 of x in [−1, 1] with y_0 = relu(z_0), y_1 = 1/2 the
    margin y_0 − y_1 reaches 1/2 (x = 1), yet with β = −1 the re-derived bound is negative. decode refuses it."""
    net = Network([Layer(np.array([[1.0]]), np.zeros(1), RELU),
                   Layer(np.array([[1.0], [0.0]]), np.array([0.0, 0.5]), IDENTITY)])
    xl, xu = -np.ones((1, 1)), np.ones((1, 1))
    signed = [np.array([[[-1.0], [0.0]]])]  # β·s with β = −1, s = +1, bypassing the reading
    assert _checker_bound(net, xl, xu, [np.array([[1.0]])], 1, None, signed)[0] < 0
    assert exact_margin_max(net, Fraction(-1), Fraction(1), 1, [[1]])[0] == Fraction(1, 2)
    blob = encode_betas(((0, 0, np.array([-1.0, 0.0])),), 2)
    with pytest.raises(BetaError, match="finite and >= 0"):
        decode(blob, 2, [1])


# ---------------------------------------------------------------- the search and its certificates


def _case():
    """The top1 ReLU-split instance of test_alpha_slopes (DeepPoly's slopes alone answer unknown there)."""
    case = relu_top1_case(lambda res: any(leaf.get("betas") for leaf in res.certificate["leaves"]))
    if case is None:
        pytest.skip("no random instance had leaves closed with β")
    return case


@pytest.fixture(scope="module")
def beta_case():
    return _case()


def _search(a, b, box, **options):
    made = pair.Problem

    def problem(*args, **kw):
        p = made(*args, **kw)
        for k, v in options.items():
            setattr(p, k, v)
        return p

    with mock.patch.object(pair, "Problem", problem):
        return verify_pair(a, b, box, "top1", timeout=60, strategy="relu")


def test_beta_alone_closes_what_deeppoly_slopes_leave_unknown(beta_case):
    """DeepPoly's slopes with phases as neuron bounds only: unknown (fully split nodes stay open). The same slopes
    with optimised β: unsat, and the certificate (β recorded) checks valid."""
    a, b, box, _ = beta_case
    plain = _search(a, b, box, alpha_root_steps=0, alpha_steps=0, betas=False)
    assert plain.status == "unknown"
    res = _search(a, b, box, alpha_root_steps=0, alpha_steps=10, betas=True, slopes=False)
    assert res.status == "unsat" and res.stats["beta_closed"] > 0
    assert check_certificate(res.certificate, a, b).valid


def test_recorded_betas_check_valid_and_are_needed(beta_case):
    a, b, _, res = beta_case
    assert check_certificate(res.certificate, a, b).valid
    doc = copy.deepcopy(res.certificate)
    for leaf in doc["leaves"]:
        leaf.pop("betas", None)
    out = check_certificate(doc, a, b)
    assert not out.valid and "not proved" in out.reasons[0]


def _tamper(doc: dict, edit) -> dict:
    """A copy whose first leaf with β has its record replaced by edit(R, entries) -> bytes."""
    doc = copy.deepcopy(doc)
    leaf = next(l for l in doc["leaves"] if l.get("betas"))
    data = base64.b64decode(leaf["betas"])
    rows, count = struct.unpack_from("<ii", data, 0)
    entries = [(struct.unpack_from("<ii", data, 8 + e * (8 + 4 * rows)),
                np.frombuffer(data, "<f4", rows, 16 + e * (8 + 4 * rows)).copy()) for e in range(count)]
    leaf["betas"] = base64.b64encode(edit(rows, entries)).decode()
    return doc


def _pack(rows, entries, count=None):
    head = struct.pack("<ii", rows, len(entries) if count is None else count)
    return head + b"".join(struct.pack("<ii", *ln) + np.asarray(v, "<f4").tobytes() for ln, v in entries)


def _with_value(value):
    def edit(rows, entries):
        v = entries[0][1].copy()
        v[int(np.argmax(v))] = value
        return _pack(rows, [(entries[0][0], v)] + entries[1:])
    return edit


@pytest.mark.parametrize("edit, reason", [
    (_with_value(-np.float32(1.4e-45)), "finite and >= 0"),  # one float32 ulp below zero
    (_with_value(np.nan), "finite and >= 0"),
    (_with_value(np.inf), "finite and >= 0"),
    (lambda r, e: _pack(r, e + [e[0]]), "two β entries"),
    (lambda r, e: _pack(r, [((9, 0), np.zeros(r))]), "out of range"),
    (lambda r, e: _pack(r + 1, [(ln, np.append(v, 0)) for ln, v in e]), "values per neuron"),
    (lambda r, e: _pack(r, e) + b"\0", "does not hold"),
    (lambda r, e: _pack(r, e, count=len(e) + 1), "does not hold"),
])
def test_tampered_betas_are_refused_with_their_reason(beta_case, edit, reason):
    a, b, _, res = beta_case
    out = check_certificate(_tamper(res.certificate, edit), a, b)
    assert not out.valid and reason in out.reasons[0], out.reasons


def test_a_beta_on_a_neuron_the_path_does_not_split_is_refused(beta_case):
    a, b, _, res = beta_case
    leaf = next(l for l in res.certificate["leaves"] if l.get("betas"))
    split = {(e[1], e[2]) for e in leaf["path"] if e[0] == leaf["part"]}
    free = next((0, i) for i in range(8) if (0, i) not in split)
    out = check_certificate(_tamper(res.certificate, lambda r, e: _pack(r, e + [(free, np.zeros(r))])), a, b)
    assert not out.valid and "does not split" in out.reasons[0], out.reasons


def test_betas_on_a_lockstep_leaf_are_refused(beta_case):
    a, b, _, res = beta_case
    doc = copy.deepcopy(res.certificate)
    blob = next(l for l in doc["leaves"] if l.get("betas"))["betas"]
    pair_leaf = next((l for l in doc["leaves"] if l["pass"] == "pair"), None)
    if pair_leaf is None:
        pair_leaf = next(l for l in doc["leaves"] if not l.get("betas"))
        pair_leaf["pass"] = "pair"
        pair_leaf.pop("root", None)  # a lockstep leaf never uses one network's root bounds (refused on its own)
    pair_leaf["betas"] = blob
    out = check_certificate(doc, a, b)
    assert not out.valid and "only on one-network leaves" in out.reasons[0], out.reasons


def test_huge_betas_are_sound_but_do_not_close(beta_case):
    """β = 1e30 everywhere recorded: still a valid bound, far too loose: the leaf no longer checks."""
    a, b, _, res = beta_case

    def edit(rows, entries):
        return _pack(rows, [(ln, np.full(rows, 1e30)) for ln, _ in entries])

    out = check_certificate(_tamper(res.certificate, edit), a, b)
    assert not out.valid and "not proved" in out.reasons[0]


def test_worker_processes_hand_their_betas_to_the_certificate(beta_case):
    """Leaves closed in worker processes keep their β (pickled with the leaf); the certificate checks valid."""
    a, b, box, _ = beta_case
    res = verify_pair(a, b, box, "top1", timeout=60, strategy="relu", workers=2)
    assert res.status == "unsat"
    recorded = sum(1 for leaf in res.certificate["leaves"] if leaf.get("betas"))
    assert 0 < recorded <= res.stats["beta_closed"]  # a node closed with every β = 0 records none
    assert check_certificate(res.certificate, a, b).valid
