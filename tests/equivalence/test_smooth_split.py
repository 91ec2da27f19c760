"""Input splitting for smooth (sigmoid/tanh) pairs in verify's difference-bound engine (equivalence/smooth_split.py)
and its split-tree certificates (checker/bound_pair.py, checker/split_tree.py).

Soundness first: on small random pairs every 'unsat' agrees with a dense float ground truth and its certificate
checks valid; every 'sat' replays exactly; tampered trees (a leaf dropped, duplicated or merged into its parent, a
split point outside, on the edge, NaN or inf, a class switched, ε lowered by 2^-200) are refused."""

from __future__ import annotations

import copy
import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumpcheck.apps.report_bound import build_bound_report, render_bound
from lumpcheck.checker.bound_pair import check_bound_certificate
from lumpcheck.checker.epsilon import checked_bound
from lumpcheck.checker.split_tree import split_boxes
from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.falsify import replay
from lumpcheck.equivalence.mode import Mode, epsilon_mode
from lumpcheck.ir.activation import IDENTITY, Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.exact import fraction_str
from lumpcheck.ir.network import Layer, Network, evaluate_float

F = Fraction
BOX = Box((F(-1), F(-1)), (F(1), F(1)))
GRID = np.stack(np.meshgrid(np.linspace(-1, 1, 161), np.linspace(-1, 1, 161)), -1).reshape(-1, 2)


def pair(kind: str, seed: int, noise: float = 0.01, shift: float = 0.0) -> tuple[Network, Network]:
    """A random 2-4-3-2 network and a perturbed copy (weights and biases plus N(0, noise)); `shift` raises output 0
    of both (a decision that holds on most of the box)."""
    rng = np.random.default_rng(seed)
    a_layers, b_layers = [], []
    for k, (fan, width) in enumerate(((2, 4), (4, 3), (3, 2))):
        act = IDENTITY if k == 2 else Activation(kind)
        w, b = rng.normal(0, 1.5, (width, fan)), rng.normal(0, 0.5, width)
        if k == 2:
            b = b + np.array([shift, 0.0])
        a_layers.append(Layer(w, b, act))
        b_layers.append(Layer(w + rng.normal(0, noise, w.shape), b + rng.normal(0, noise, b.shape), act))
    return Network(a_layers), Network(b_layers)


def sampled_max(a: Network, b: Network) -> float:
    return float(np.abs(evaluate_float(a, GRID) - evaluate_float(b, GRID)).max())


def as_json(doc: dict) -> dict:
    return json.loads(json.dumps(doc))


@pytest.fixture(scope="module")
def eps_case():
    """A tanh pair whose whole-box bound fails at ε = 1.5 × the sampled maximum, proved by splitting."""
    a, b = pair("tanh", 0)
    eps = F(1.5 * sampled_max(a, b))
    TOLD.clear()
    res = verify(a, b, BOX, epsilon_mode(eps), 60, engines=("difference-bound",), progress=TOLD.append)
    assert (res.status, res.engine) == ("unsat", "difference-bound") and "input splitting" in res.message, res.message
    cert = as_json(res.certificate)
    assert len(cert["tree"]["leaves"]) >= 4
    return a, b, eps, cert


TOLD: list[str] = []  # eps_case's progress lines


@pytest.fixture(scope="module")
def top1_case():
    """A sigmoid pair whose output 0 wins on the box, by a margin the whole-box bound cannot show."""
    a, b = pair("sigmoid", 7, noise=0.03, shift=0.5)
    res = verify(a, b, BOX, Mode("top1"), 60, engines=("difference-bound",))
    assert (res.status, res.engine) == ("unsat", "difference-bound") and "input splitting" in res.message, res.message
    cert = as_json(res.certificate)
    assert len(cert["tree"]["leaves"]) >= 3 and "class" not in cert["claim"]
    return a, b, cert


def test_progress_is_told(eps_case):
    assert any(t.startswith("difference-bound: ") and "of the box closed" in t for t in TOLD), TOLD


def test_an_epsilon_tree_is_valid_and_covers_the_box(eps_case):
    a, b, eps, cert = eps_case
    assert check_bound_certificate(cert, a, b).valid
    assert sampled_max(a, b) <= float(eps)
    report = render_bound(build_bound_report(cert, "c.json"), "md")
    assert f"on each of {len(cert['tree']['leaves'])} pieces of the box" in report


def test_epsilon_just_below_the_worst_leaf_is_refused(eps_case):
    """The checker's own bounds on the leaves: ε equal to their maximum is valid, 2^-200 less is not."""
    a, b, _, cert = eps_case
    paths = [tuple(("x", e[1], float.fromhex(e[2]), e[3]) for e in leaf["path"]) for leaf in cert["tree"]["leaves"]]
    worst = max(checked_bound(a, b, box, cert["window"]) for box in split_boxes(BOX, paths))
    doc = copy.deepcopy(cert)
    doc["claim"]["epsilon"] = fraction_str(worst)
    assert check_bound_certificate(doc, a, b).valid
    doc["claim"]["epsilon"] = fraction_str(worst - F(1, 2**200))
    result = check_bound_certificate(doc, a, b)
    assert not result.valid and "cannot establish" in result.reasons[0]


def _merged(cert: dict, position: int) -> dict:
    """Two sibling leaves replaced by their parent, put at `position`, with a tiny recorded bound: the tree stays
    complete, but the parent is a piece the search could not prove."""
    doc = copy.deepcopy(cert)
    leaves = doc["tree"]["leaves"]
    for i, leaf in enumerate(leaves):
        path = leaf["path"]
        sibling = [*path[:-1], [*path[-1][:3], 1 - path[-1][3]]]
        j = next((k for k, other in enumerate(leaves) if other["path"] == sibling), None)
        if path and j is not None:
            parent = {**leaf, "path": path[:-1], "bound": "1/1000000000"}
            rest = [other for k, other in enumerate(leaves) if k not in (i, j)]
            doc["tree"]["leaves"] = rest[:position] + [parent] + rest[position:] if position >= 0 else rest + [parent]
            return doc
    raise AssertionError("no two sibling leaves")


@pytest.mark.parametrize("position", [0, -1])
def test_a_merged_leaf_is_re_derived_wherever_it_stands(eps_case, top1_case, position):
    """A checker that skipped a leaf (the first or the last) or trusted a recorded bound would accept these."""
    for a, b, cert in (eps_case[:2] + (eps_case[3],), top1_case):
        result = check_bound_certificate(_merged(cert, position), a, b)
        assert not result.valid and "piece" in result.reasons[0], result.reasons


def _tampered(cert: dict, how: str) -> dict:
    doc = copy.deepcopy(cert)
    leaves = doc["tree"]["leaves"]
    deep = max(range(len(leaves)), key=lambda k: len(leaves[k]["path"]))
    entry = leaves[deep]["path"][0]  # the root's split, as the deepest leaf's path records it
    if how == "leaf dropped":
        leaves.pop(deep)
    elif how == "leaf duplicated":
        leaves.append(copy.deepcopy(leaves[deep]))
    elif how in ("leaf split on its edge", "leaf split outside"):
        # the deepest leaf split once more on input 0 at its upper end (or beyond): one child is the leaf itself
        # (or more), the other a face of it (or empty): sound for coverage, but not a split strictly inside
        box = split_boxes(BOX, [tuple(("x", e[1], float.fromhex(e[2]), e[3]) for e in leaves[deep]["path"])])[0]
        m = float(box.upper[0]) + (0.0 if how == "leaf split on its edge" else 0.25)
        leaf = leaves.pop(deep)
        leaves += [{**leaf, "path": [*leaf["path"], ["x", 0, m.hex(), side]]} for side in (0, 1)]
    elif how in ("root split outside", "split NaN", "split inf"):
        value = {"root split outside": (1.5).hex(), "split NaN": "nan", "split inf": "inf"}[how]
        for leaf in leaves:  # move the root's split everywhere: the tree's shape stays complete
            for e in leaf["path"]:
                if e[:3] == entry[:3]:
                    e[2] = value
    elif how == "empty tree":
        leaves.clear()
    elif how == "class in the claim too":
        doc["claim"]["class"] = 0
    elif how == "path entry malformed":
        leaves[deep]["path"][0] = ["x", 0, "0x0p+0"]
    elif how == "input out of range":
        for leaf in leaves:
            for e in leaf["path"]:
                if e[:3] == entry[:3]:
                    e[1] = 7
    return doc


TAMPERINGS = ["leaf dropped", "leaf duplicated", "leaf split on its edge", "leaf split outside", "root split outside",
              "split NaN", "split inf",
              "empty tree", "class in the claim too", "path entry malformed", "input out of range"]


@pytest.mark.parametrize("how", TAMPERINGS)
def test_tampered_trees_are_refused(eps_case, top1_case, how):
    for a, b, cert in (eps_case[:2] + (eps_case[3],), top1_case):
        if how == "class in the claim too" and cert["claim"]["mode"] == "epsilon":
            continue
        result = check_bound_certificate(_tampered(cert, how), a, b)
        assert not result.valid, how
        if how.startswith("leaf split"):  # refused for the split itself, not for a bound the pieces may still meet
            assert "strictly inside" in result.reasons[0], result.reasons


def test_top1_tree_classes(top1_case):
    """Each leaf's class is re-checked: switching one leaf's class (or null in top1) is refused; the report names
    the pieces' classes."""
    a, b, cert = top1_case
    assert check_bound_certificate(cert, a, b).valid
    for value in (1, None, True):
        doc = copy.deepcopy(cert)
        doc["tree"]["leaves"][-1]["class"] = value
        assert not check_bound_certificate(doc, a, b).valid, value
    report = render_bound(build_bound_report(cert, "c.json"), "md")
    assert f"class 0: {len(cert['tree']['leaves'])} pieces" in report
    for net in (a, b):  # ground truth: output 0 is the unique maximum on the grid
        y = evaluate_float(net, GRID)
        assert np.all(y[:, 0] > y[:, 1])


@given(kind=st.sampled_from(["tanh", "sigmoid"]), seed=st.integers(0, 10**6), factor=st.floats(0.9, 2.0),
       noise=st.sampled_from([0.003, 0.01, 0.03]), top1=st.booleans(), shift=st.floats(0.5, 2.0))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_verdicts_agree_with_a_dense_ground_truth(kind, seed, factor, noise, top1, shift):
    """Random 2-input pairs, ε around the sampled maximum (often below it) or top1: an 'unsat' must hold on the
    dense grid and its certificate must check; a 'sat' must replay exactly in the box."""
    a, b = pair(kind, seed, noise, shift if top1 else 0.0)
    mode = Mode("top1") if top1 else epsilon_mode(F(factor * sampled_max(a, b)))
    res = verify(a, b, BOX, mode, 1.5, engines=("difference-bound",))
    if res.status == "unsat":
        if top1:
            ya, yb = evaluate_float(a, GRID), evaluate_float(b, GRID)
            assert np.array_equal(ya.argmax(axis=1), yb.argmax(axis=1))
        else:
            assert sampled_max(a, b) <= float(mode.epsilon)
        assert check_bound_certificate(as_json(res.certificate), a, b).valid
    elif res.status == "sat":
        assert BOX.contains(res.witness) and replay(a, b, res.witness, mode).violated


def test_two_processes_prove_the_same_claim(eps_case):
    """jobs=2: the box is cut into pieces searched in two processes; the union of their leaves is one valid tree."""
    a, b, eps, _ = eps_case
    res = verify(a, b, BOX, epsilon_mode(eps), 60, engines=("difference-bound",), jobs=2)
    assert (res.status, res.engine) == ("unsat", "difference-bound"), res.message
    assert check_bound_certificate(as_json(res.certificate), a, b).valid


def test_two_processes_stop_at_a_counterexample():
    """A pair whose sampled maximum exceeds ε: some process finds a float hit that replays exactly ('sat')."""
    a, b = pair("tanh", 0, noise=0.05)
    mode = epsilon_mode(F(0.5 * sampled_max(a, b)))
    res = verify(a, b, BOX, mode, 60, engines=("difference-bound",), jobs=2)
    assert res.status == "sat" and BOX.contains(res.witness) and replay(a, b, res.witness, mode).violated


def pruned(kind: str, seed: int, drop: tuple[int, int] = (1, 2)) -> tuple[Network, Network]:
    """A random 2-6-5-2 net and a copy without hidden neurons drop[0] of layer 0 and drop[1] of layer 1, its other
    weights rounded to float16."""
    rng = np.random.default_rng(seed)
    act = Activation(kind)
    a = Network([Layer(rng.normal(0, 1.5, (6, 2)), rng.normal(0, 0.5, 6), act),
                 Layer(rng.normal(0, 1, (5, 6)), rng.normal(0, 0.5, 5), act),
                 Layer(rng.normal(0, 1, (2, 5)), np.array([2.0, 0.0]), IDENTITY)])
    keep = [[i for i in range(6) if i != drop[0]], [i for i in range(5) if i != drop[1]]]
    cols = [list(range(2)), keep[0], keep[1]]
    rows = [keep[0], keep[1], [0, 1]]
    r16 = lambda v: v.astype(np.float16).astype(float)  # noqa: E731
    b = Network([Layer(r16(layer.weight[np.ix_(r, c)]), r16(layer.bias[r]), layer.activation)
                 for layer, r, c in zip(a.layers, rows, cols)])
    return a, b


@pytest.fixture(scope="module")
def pruned_case():
    a, b = pruned("tanh", 3)
    eps = F(1.5 * sampled_max(a, b))
    res = verify(a, b, BOX, epsilon_mode(eps), 60, engines=("difference-bound",))
    assert (res.status, res.engine) == ("unsat", "difference-bound"), res.message
    return a, b, eps, as_json(res.certificate)


def test_a_pruned_copy_is_padded_exactly(pruned_case):
    """B lacks one neuron per hidden layer: the certificate records where its neurons sit in A, the checker pads B
    itself, and the claim holds on the dense grid."""
    a, b, eps, cert = pruned_case
    assert cert["padding"] == [[0, 2, 3, 4, 5], [0, 1, 3, 4]]
    assert check_bound_certificate(cert, a, b).valid and sampled_max(a, b) <= float(eps)


@pytest.mark.parametrize("padding", [None, [[0, 2, 3, 4, 5]], [[0, 2, 3, 4, 4], [0, 1, 3, 4]],
                                     [[0, 2, 3, 4, 6], [0, 1, 3, 4]], [[0, 2, 3, 4], [0, 1, 3, 4]],
                                     [[0, 2, 3, 4, True], [0, 1, 3, 4]], "0,2,3,4,5", "absent"])
def test_a_tampered_padding_is_refused(pruned_case, padding):
    """Missing maps, a neuron twice, out of range, too few, not integers: refused. (Another injective map still
    pads B exactly: then only the bound's tightness decides, as with the recorded bounds.)"""
    a, b, _, cert = pruned_case
    doc = copy.deepcopy(cert)
    if padding == "absent":
        del doc["padding"]
    else:
        doc["padding"] = padding
    assert not check_bound_certificate(doc, a, b).valid


@given(kind=st.sampled_from(["tanh", "sigmoid"]), seed=st.integers(0, 10**6), factor=st.floats(0.9, 2.0),
       drop=st.tuples(st.integers(0, 5), st.integers(0, 4)), top1=st.booleans())
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_pruned_verdicts_agree_with_a_dense_ground_truth(kind, seed, factor, drop, top1):
    a, b = pruned(kind, seed, drop)
    mode = Mode("top1") if top1 else epsilon_mode(F(factor * sampled_max(a, b)))
    res = verify(a, b, BOX, mode, 1.5, engines=("difference-bound",))
    if res.status == "unsat":
        if top1:
            assert np.array_equal(evaluate_float(a, GRID).argmax(axis=1), evaluate_float(b, GRID).argmax(axis=1))
        else:
            assert sampled_max(a, b) <= float(mode.epsilon)
        assert check_bound_certificate(as_json(res.certificate), a, b).valid
    elif res.status == "sat":
        assert BOX.contains(res.witness) and replay(a, b, res.witness, mode).violated
