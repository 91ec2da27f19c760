"""The differential checker on hand-made certificates (issue 14: the mutants of checker/difference*.py).

Each case is a tiny pair of networks whose exact difference is known by hand, with a certificate written here
(specs/diff-certificate.md) rather than by the prover: the same leaves are checked once with a true claim (valid)
and once with a false one (invalid), so a test fails both when the checker refuses a proof it should accept and when
it accepts a claim the networks break. Only verdicts and reasons of `check_certificate` are asserted, never the
checker's internals.
"""

from __future__ import annotations

import base64
import copy
import struct
from fractions import Fraction

import numpy as np

from lumpcheck.checker.difference import check_certificate
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.network import Layer, Network, fingerprint

RELU = Activation("relu")
ID = Activation("identity")


def net(*layers) -> Network:
    """layers: (weight rows, bias, activation)."""
    return Network([Layer(np.array(w, dtype=np.float64), np.array(b, dtype=np.float64), act) for w, b, act in layers])


def slopes(hidden: int, records: dict[int, tuple] | None = None) -> str:
    """A leaf's slope blob: per hidden layer no recorded slope (the checker's defaults), except `records`:
    layer -> (product coordinates, their (upper, lower, partner upper, partner lower) slopes)."""
    out = b""
    for k in range(hidden):
        idx, vals = (records or {}).get(k, ((), ()))
        out += struct.pack("<ii", len(idx), 0)
        out += np.array(idx, dtype="<i4").tobytes() + np.array(vals, dtype="<f4").reshape(-1).tobytes()
    return base64.b64encode(out).decode()


def leaf(path, hidden, part="all", how="pair", cls=None, records=None) -> dict:
    return {"path": [list(p) for p in path], "part": part, "pass": how, "class": cls, "empty": False,
            "slopes": slopes(hidden, records)}


def document(a, b, box, mode, leaves, pairing, strategy="relu", hidden="leaf", root=None) -> dict:
    return {"format": "lumpcheck-diff-certificate", "version": 1,
            "claim": {"mode": mode, "box": {"lower": [str(v) for v in box[0]], "upper": [str(v) for v in box[1]]},
                      "a": {"sha256": fingerprint(a)}, "b": {"sha256": fingerprint(b)}},
            "pairing": pairing, "strategy": strategy, "hidden": hidden, "root": root, "leaves": leaves, "stats": {}}


def with_mode(doc: dict, mode: str) -> dict:
    out = copy.deepcopy(doc)
    out["claim"]["mode"] = mode
    return out


# a: y = relu(x); b: the same hidden neuron, output weight 0 (y = 0). Exact difference relu(x).
A1 = net(([[1.0]], [0.0], RELU), ([[1.0]], [0.0], ID))
B1 = net(([[1.0]], [0.0], RELU), ([[0.0]], [0.0], ID))
PAIR1 = [[[0, 0]]]
PAIR0 = [[]]  # unpaired: h_A is its own coordinate, the tighter bounds for these one-neuron cases


def test_an_active_phase_claim_keeps_the_neurons_values_near_zero():
    """x in [-1, 1/2]: on the active side of a's neuron the difference relu(x) reaches 1/2 at x = 1/2. A phase claim
    z >= 0 must bound z from below by 0, not by more (a bound above the box's 1/2 would call the leaf empty)."""
    box = ([Fraction(-1)], [Fraction(1, 2)])
    leaves = [leaf([("a", 0, 0, -1)], 1), leaf([("a", 0, 0, 1)], 1)]
    doc = document(A1, B1, box, "epsilon=2", leaves, PAIR0)
    assert check_certificate(doc, A1, B1).valid
    res = check_certificate(with_mode(doc, "epsilon=1/4"), A1, B1)
    assert not res.valid and "exceeds" in res.reasons[0] and '"a", 0, 0, 1' in res.reasons[0].replace("'", '"')


def test_a_neuron_without_a_phase_claim_keeps_both_phases():
    """One leaf, no split: the neuron is unstable on the box and only phase claims may clamp it."""
    box = ([Fraction(-1)], [Fraction(1, 2)])
    doc = document(A1, B1, box, "epsilon=2", [leaf([], 1)], PAIR0)
    assert check_certificate(doc, A1, B1).valid
    assert not check_certificate(with_mode(doc, "epsilon=1/4"), A1, B1).valid


def test_an_empty_leaf_does_not_excuse_the_other_leaves_of_its_batch():
    """x in [1/2, 1]: a's neuron is always active, so the leaf claiming it inactive is empty (its bounds contradict
    each other) and holds no input; the active leaf, where the difference reaches 1, must still be proved."""
    box = ([Fraction(1, 2)], [Fraction(1)])
    leaves = [leaf([("a", 0, 0, -1)], 1), leaf([("a", 0, 0, 1)], 1)]
    doc = document(A1, B1, box, "epsilon=2", leaves, PAIR0)
    assert check_certificate(doc, A1, B1).valid
    for batch in (1, 128):
        assert not check_certificate(with_mode(doc, "epsilon=1/4"), A1, B1, batch=batch).valid


def test_root_hidden_bounds_certificates_check():
    """hidden "root": the hidden-layer bounds of the whole box (from the root's slopes) are reused by every leaf."""
    box = ([Fraction(-1)], [Fraction(1, 2)])
    leaves = [leaf([("a", 0, 0, -1)], 1), leaf([("a", 0, 0, 1)], 1)]
    doc = document(A1, B1, box, "epsilon=2", leaves, PAIR0, hidden="root", root={"class": None, "slopes": slopes(1)})
    assert check_certificate(doc, A1, B1).valid
    assert not check_certificate(with_mode(doc, "epsilon=1/4"), A1, B1).valid
    assert not check_certificate(document(A1, B1, box, "epsilon=3/4", leaves, PAIR0, strategy="input", hidden="root",
                                          root={"class": None, "slopes": slopes(1)}), A1, B1).valid


# Two hidden layers: z0 = x (relu), z1 = 1/2 - h0 (relu), y = -h1; b the same chain with output weight 0.
# On x in [-1, 1]: z1 in [-1/2, 1/2] over the box, but z1 = 1/2 (stable) wherever z0 <= 0.
A2 = net(([[1.0]], [0.0], RELU), ([[-1.0]], [0.5], RELU), ([[-1.0]], [0.0], ID))
B2 = net(([[1.0]], [0.0], RELU), ([[-1.0]], [0.5], RELU), ([[0.0]], [0.0], ID))


def test_root_hidden_bounds_are_the_roots_not_the_leafs():
    """With hidden "root" the leaf's layer-1 bounds are the box's ([-1/2, 1/2]: unstable), so the leaf's recorded
    slope for that neuron is used, and a poor one (upper slope 4) leaves the claim unproved; the same leaves with
    bounds re-derived under their phase ("leaf") see z1 = 1/2 stable and the exact slope, and prove it."""
    box = ([Fraction(-1)], [Fraction(1)])
    bad = {1: ((0, 1), [(4.0, 0.0, np.nan, np.nan), (4.0, 0.0, np.nan, np.nan)])}
    leaves = [leaf([("a", 0, 0, -1)], 2, records=bad), leaf([("a", 0, 0, 1)], 2)]
    per_leaf = document(A2, B2, box, "epsilon=3", leaves, [[[0, 0]], [[0, 0]]])
    assert check_certificate(per_leaf, A2, B2).valid
    root = dict(per_leaf, hidden="root", root={"class": None, "slopes": slopes(2)})
    assert not check_certificate(root, A2, B2).valid


# top1 with one tree per network: a and b both output (h, h - 1) (class 0 everywhere), or with the classes swapped.
A3 = net(([[1.0]], [0.0], RELU), ([[1.0], [1.0]], [0.0, -1.0], ID))
B3 = net(([[1.0]], [0.0], RELU), ([[1.0], [1.0]], [0.0, -1.0], ID))
SWAPPED = net(([[1.0]], [0.0], RELU), ([[1.0], [1.0]], [-1.0, 0.0], ID))


def _top1_trees(b_splits: bool = True, how: str = "single") -> list[dict]:
    a_leaves = [leaf([("a", 0, 0, -1)], 1, "a", how, 0), leaf([("a", 0, 0, 1)], 1, "a", how, 0)]
    b_leaves = [leaf([("b", 0, 0, -1)], 1, "b", how, 0), leaf([("b", 0, 0, 1)], 1, "b", how, 0)]
    return a_leaves + (b_leaves if b_splits else [leaf([], 1, "b", how, 0)])


def test_separate_relu_trees_for_each_network_check():
    """Part "a" split on a's neuron, part "b" on b's (phases -1 and +1, neuron 0), each proved by one network's
    pass alone or by the lockstep pass."""
    box = ([Fraction(-1)], [Fraction(1)])
    for how in ("single", "pair"):
        doc = document(A3, B3, box, "top1", _top1_trees(how=how), PAIR1)
        assert check_certificate(doc, A3, B3).valid, how
        res = check_certificate(doc, A3, SWAPPED)  # b decides class 1 everywhere: a false claim
        assert not res.valid


def test_input_split_trees_of_different_shapes_must_prove_one_class():
    """A decides class 0 everywhere on [0, 1]^2 and B class 1: A's leaves split x0, B's split x1, each leaf true
    on its own. No A leaf lies on a B leaf's path, yet their regions overlap: the decisions differ, so the claim
    is false and must be refused; the same trees for a B that agrees (class 0) check."""
    a = net(([[1.0, 0.0]], [0.0], RELU), ([[0.0], [0.0]], [1.0, 0.0], ID))  # y = (1, 0)
    b = net(([[1.0, 0.0]], [0.0], RELU), ([[0.0], [0.0]], [0.0, 1.0], ID))  # y = (0, 1)
    box = ([Fraction(0), Fraction(0)], [Fraction(1), Fraction(1)])
    half = (0.5).hex()

    def trees(b_class):
        return ([leaf([("x", 0, half, side)], 1, "a", cls=0) for side in (0, 1)]
                + [leaf([("x", 1, half, side)], 1, "b", cls=b_class) for side in (0, 1)])

    res = check_certificate(document(a, b, box, "top1", trees(1), [[[0, 0]]], strategy="input"), a, b)
    assert not res.valid and "different classes" in res.reasons[0]
    assert check_certificate(document(a, a, box, "top1", trees(0), [[[0, 0]]], strategy="input"), a, a).valid


def test_networks_with_smooth_layers_are_refused():
    """The leaves' relaxations are ReLU/LeakyReLU slopes: a sigmoid or tanh layer read as a ReLU (slope 0) would
    'prove' sigmoid(x) = relu(x) on [1/2, 1] within 1/1000, and A = B where A = sigmoid, B = 0."""
    box = ([Fraction(1, 2)], [Fraction(1)])
    for kind in ("sigmoid", "tanh"):
        a = net(([[1.0]], [0.0], Activation(kind)), ([[1.0]], [0.0], ID))
        for b in (net(([[1.0]], [0.0], RELU), ([[1.0]], [0.0], ID)), net(([[1.0]], [0.0], Activation(kind)), ([[0.0]], [0.0], ID))):
            for x, y in ((a, b), (b, a)):
                res = check_certificate(document(x, y, box, "epsilon=1/1000", [leaf([], 1)], [[[0, 0]]]), x, y)
                assert not res.valid and kind in res.reasons[0] and "piecewise-linear" in res.reasons[0]


def test_a_phase_claim_must_be_plus_or_minus_one():
    box = ([Fraction(-1)], [Fraction(1)])
    doc = document(A3, B3, box, "top1", _top1_trees(), PAIR1)
    for phase in (0, 2, -2):
        bad = copy.deepcopy(doc)
        bad["leaves"][2]["path"][0][3] = phase
        bad["leaves"][3]["path"][0][3] = phase
        res = check_certificate(bad, A3, B3)
        assert not res.valid, phase


def test_a_split_on_a_neuron_that_does_not_exist_is_refused():
    box = ([Fraction(-1)], [Fraction(1)])
    doc = document(A3, B3, box, "top1", _top1_trees(), PAIR1)
    for neuron, layer in ((1, 0), (-1, 0), (0, 1)):
        bad = copy.deepcopy(doc)
        for e in (2, 3):
            bad["leaves"][e]["path"][0][1:3] = [layer, neuron]
        res = check_certificate(bad, A3, B3)
        assert not res.valid and "split" in res.reasons[0], (layer, neuron, res.reasons)


def test_a_leaf_class_past_the_outputs_is_refused_as_out_of_range():
    box = ([Fraction(-1)], [Fraction(1)])
    doc = document(A3, B3, box, "top1", _top1_trees(), PAIR1)
    for cls in (2, -1):
        bad = copy.deepcopy(doc)
        for e in range(len(bad["leaves"])):
            bad["leaves"][e]["class"] = cls
        res = check_certificate(bad, A3, B3)
        assert not res.valid and "class out of range" in res.reasons[0], (cls, res.reasons)


def test_a_leaf_class_tie_is_not_a_unique_decision():
    """a = b output (h, h): both outputs are maximal everywhere, so no class is the unique top-1 decision."""
    tie = net(([[1.0]], [0.0], RELU), ([[1.0], [1.0]], [0.0, 0.0], ID))
    box = ([Fraction(-1)], [Fraction(1)])
    for how in ("single", "pair"):
        res = check_certificate(document(tie, tie, box, "top1", _top1_trees(how=how), PAIR1), tie, tie)
        assert not res.valid and "unique decision" in res.reasons[0], how


# epsilon with two outputs, only the second differing, and negatively: a = (h, h), b = (h, h + 1/2).
A4 = net(([[1.0]], [0.0], RELU), ([[1.0], [1.0]], [0.0, 0.0], ID))
B4 = net(([[1.0]], [0.0], RELU), ([[1.0], [1.0]], [0.0, 0.5], ID))


def test_every_output_difference_is_bounded_in_both_directions():
    """y_A - y_B = (0, -1/2) everywhere: an ε below 1/2 is false, however the rows of the bound are laid out. (On
    x in [1/2, 1] the neurons are stably active, so the first output's difference is bounded near 0.)"""
    box = ([Fraction(1, 2)], [Fraction(1)])
    doc = document(A4, B4, box, "epsilon=2", [leaf([], 1)], PAIR1)
    assert check_certificate(doc, A4, B4).valid
    for eps in ("1/4", "49/100"):
        assert not check_certificate(with_mode(doc, f"epsilon={eps}"), A4, B4).valid
    swapped = document(B4, A4, box, "epsilon=1/4", [leaf([], 1)], PAIR1)  # +1/2 on the second output
    assert not check_certificate(swapped, B4, A4).valid


def test_the_reason_names_the_leaf_that_fails():
    """Three leaves on an input split, only the last one (x >= 1/2, where relu(x) exceeds 1/4) fails."""
    box = ([Fraction(-1)], [Fraction(1)])
    paths = [[("x", 0, (-0.5).hex(), 0)], [("x", 0, (-0.5).hex(), 1), ("x", 0, (0.125).hex(), 0)],
             [("x", 0, (-0.5).hex(), 1), ("x", 0, (0.125).hex(), 1)]]
    leaves = [leaf(p, 1) for p in paths]
    doc = document(A1, B1, box, "epsilon=1/4", leaves, PAIR0, strategy="input")
    res = check_certificate(doc, A1, B1)
    assert not res.valid and "0.125, 1)]" in res.reasons[0], res.reasons
    assert check_certificate(with_mode(doc, "epsilon=2"), A1, B1).valid


def test_slopes_must_be_strict_base64():
    box = ([Fraction(-1)], [Fraction(1, 2)])
    doc = document(A1, B1, box, "epsilon=2", [leaf([], 1)], PAIR0)
    assert check_certificate(doc, A1, B1).valid
    bad = copy.deepcopy(doc)
    s = bad["leaves"][0]["slopes"]
    bad["leaves"][0]["slopes"] = s[:4] + "*" + s[4:]
    res = check_certificate(bad, A1, B1)
    assert not res.valid and "malformed" in res.reasons[0]


def test_the_scope_of_a_difference_certificate():
    """What a valid certificate establishes: the claim's mode and ε on its box, about the layer chains, and not a
    box-only equality (to_dict's only_on_domain is false, not unknown)."""
    box = ([Fraction(-1)], [Fraction(1, 2)])
    res = check_certificate(document(A1, B1, box, "epsilon=3/4", [leaf([], 1)], PAIR0), A1, B1)
    d = res.scope.to_dict()
    assert res.valid and d["mode"] == "epsilon" and d["epsilon"] == "3/4" and d["only_on_domain"] is False
    assert d["domain"]["lower"] == ["-1"] and d["domain"]["upper"] == ["1/2"] and d["semantics"] == "layers"


# ---------------------------------------------------------------- prover certificates on harder numbers


def _prover_case(a: Network, b: Network, seed: int):
    """A certificate of verify_pair for ε = 1.5 × the sampled maximum difference, and a false ε (0.9 × a difference
    the networks really reach)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from pair_helpers import random_box, sampled_max_difference
    from lumpcheck.equivalence.pair import verify_pair

    rng = np.random.default_rng(seed)
    box = random_box(rng, a.input_size)
    seen = sampled_max_difference(a, b, box, rng, 3000)
    assert seen > 0  # the false claim needs a difference the networks reach
    res = verify_pair(a, b, box, f"epsilon={Fraction(seen * 1.5).limit_denominator(1024)}", timeout=30)
    assert res.status == "unsat"
    lie = Fraction(seen * 0.9).limit_denominator(1024)
    return res.certificate, with_mode(res.certificate, f"epsilon={lie}")


def _random(seed: int, widths, act=RELU, last=ID) -> Network:
    rng = np.random.default_rng(seed)
    return Network([Layer(rng.integers(-16, 17, (q, p)) / 16, rng.integers(-8, 9, q) / 16, act if i < len(widths) - 2 else last)
                    for i, (p, q) in enumerate(zip(widths, widths[1:]))])


def test_networks_with_fraction_weights():
    """b's weights and biases are exact rationals with denominators 3·64 (not floats): the checker rounds them
    with a bound on the rounding error and still proves the true claim and refuses the false one."""
    a = _random(3, [2, 4, 2])
    rng = np.random.default_rng(4)
    b = Network([Layer(np.array([[Fraction(v) + Fraction(int(rng.integers(-1, 2)), 192) for v in row] for row in l.weight],
                                dtype=object), np.array([Fraction(v) + Fraction(1, 192) for v in l.bias], dtype=object),
                       l.activation) for l in a.layers])
    good, bad = _prover_case(a, b, 5)
    assert check_certificate(good, a, b).valid and not check_certificate(bad, a, b).valid
    assert check_certificate(_prover_case(b, a, 5)[0], b, a).valid


def test_networks_whose_weight_differences_round():
    """b's weights are 3a + 1/10: a - b is not exact in floats (no Sterbenz), so the difference chain carries
    rounding residuals on the hidden and the output layer."""
    a = _random(3, [2, 4, 2])
    b = Network([Layer(l.weight * 3 + 0.1, l.bias * -3 + 0.1, l.activation) for l in a.layers])
    good, bad = _prover_case(a, b, 6)
    assert check_certificate(good, a, b).valid and not check_certificate(bad, a, b).valid


def test_networks_ending_in_a_relu():
    """No identity output layer: the checker appends one (an exact rewrite) to both networks."""
    a = _random(3, [2, 4, 2], last=RELU)
    b = Network([Layer(l.weight, l.bias + 1 / 64, l.activation) for l in a.layers])
    good, bad = _prover_case(a, b, 8)
    assert check_certificate(good, a, b).valid and not check_certificate(bad, a, b).valid


def test_a_one_network_pass_reads_that_networks_slopes():
    """top1, one leaf per network, each proved by its network alone. a's leaf records a poor lower slope (-4) for
    b's neuron only (product coordinate 0): a's pass must use a's own slopes (here the defaults) and prove
    y0 - y1 = h + 1 > 0 (h >= z on x in [-1/2, 1]); with the poor slope the bound would not close."""
    a = net(([[1.0]], [0.0], RELU), ([[1.0], [0.0]], [1.0, 0.0], ID))
    box = ([Fraction(-1, 2)], [Fraction(1)])
    poor = {0: ((0,), [(1.0, -4.0, np.nan, np.nan)])}
    leaves = [leaf([], 1, "a", "single", 0, records=poor), leaf([], 1, "b", "single", 0)]
    assert check_certificate(document(a, a, box, "top1", leaves, PAIR1), a, a).valid
    leaves[1] = leaf([], 1, "b", "single", 0, records=poor)  # b's pass does read the product's first coordinates
    assert not check_certificate(document(a, a, box, "top1", leaves, PAIR1), a, a).valid


# a: y = relu(x) − relu(x + 10) + 10 = relu(x) − x on x in [−1, 1] (up to 1 at x = −1); b: both neurons dead there.
A5 = net(([[1.0], [1.0]], [0.0, 10.0], RELU), ([[1.0, -1.0]], [10.0], ID))
B5 = net(([[1.0], [1.0]], [-2.0, -20.0], RELU), ([[0.0, 0.0]], [0.0], ID))
B6 = net(([[1.0]], [-2.0], RELU), ([[1.0]], [0.0], ID))  # its neuron dead: y = 0; with A1 the difference is relu(x)


def test_a_pair_is_linear_only_where_both_neurons_keep_one_piece():
    """Pairs with both neurons on one linear piece are exact (no offset); a pair with an unstable member is not,
    whatever slopes its leaf records. Recorded slopes saying 'a's unstable neuron is linear' (slope 1 where
    y_a − y_b = relu(x) − x, with a second pair, a active and b dead, taken as exact; slope 0 where it is relu(x))
    while b's dead neuron has slope 0 must still get the offsets of relu(a) − s·a: the differences reach 1. The
    same with the networks' roles swapped (b's neuron unstable, slope 0 recorded)."""
    box = ([Fraction(-1)], [Fraction(1)])
    cases = ((A5, B5, [[[0, 0], [1, 1]]], 2, 1.0), (A1, B6, PAIR1, 1, 0.0), (B6, A1, PAIR1, 1, 0.0))
    for a, b, pairing, delta, s in cases:  # product coordinates: [z_b | Δ]; Δ0's (upper, lower, partner upper, lower)
        claim = {0: ((delta,), [(s, s, s, s)])}
        doc = document(a, b, box, "epsilon=1/2", [leaf([], 1, records=claim)], pairing)
        assert not check_certificate(doc, a, b).valid
        assert check_certificate(with_mode(doc, "epsilon=2"), a, b).valid


# relu(relu(x) − 3/2) against relu(relu(x − 10) − 3/2) = 0 on x in [1, 2]: the first pair of neurons is linear there
# (a active, b dead: h_a − h_b = a in [1, 2]); the second layer's neuron of a is unstable, its difference up to 1/2.
A7 = net(([[1.0]], [0.0], RELU), ([[1.0]], [-1.5], RELU), ([[1.0]], [0.0], ID))
B7 = net(([[1.0]], [-10.0], RELU), ([[1.0]], [-1.5], RELU), ([[1.0]], [0.0], ID))


def test_the_range_of_a_linear_pair_keeps_the_next_layers_neurons_unstable():
    """The range of a linear pair's difference feeds the next layer's interval bounds: a range too narrow on
    either side would make a's (or, roles swapped, b's) second neuron look dead and the difference 0."""
    box = ([Fraction(1)], [Fraction(2)])
    for a, b in ((A7, B7), (B7, A7)):
        doc = document(a, b, box, "epsilon=1/4", [leaf([], 2)], [[[0, 0]], [[0, 0]]])
        assert not check_certificate(doc, a, b).valid
        assert check_certificate(with_mode(doc, "epsilon=1"), a, b).valid
