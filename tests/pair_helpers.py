"""Small random pairs and an independent ground truth (z3 over the exact networks) for the differential engine's tests."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from lumpcheck.ir.domain import Box
from lumpcheck.equivalence.encode import encode_pair
from lumpcheck.solver.z3 import solve_constraints
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.network import Layer, Network, evaluate, evaluate_float
from lumpcheck.equivalence.mode import Mode, violated

RELU = Activation("relu")
LEAKY = Activation("leaky_relu", Fraction(1, 8))
LEAKY_ODD = Activation("leaky_relu", Fraction(1, 100))  # not a float: slope enclosures are exercised
IDENTITY = Activation("identity")


def random_net(rng: np.random.Generator, widths: list[int], act: Activation = RELU) -> Network:
    """Dyadic weights (multiples of 1/16) so that hand-made edits stay exact."""
    layers = []
    for i, (p, q) in enumerate(zip(widths, widths[1:])):
        w = rng.integers(-16, 17, (q, p)) / 16
        b = rng.integers(-8, 9, q) / 16
        layers.append(Layer(w, b, act if i < len(widths) - 2 else IDENTITY))
    return Network(layers)


def near_copy(rng: np.random.Generator, net: Network, kind: str) -> Network:
    """'noise': every weight moved by at most 1/64; 'prune': small weights zeroed; 'drop': a hidden neuron removed."""
    layers = []
    for layer in net.layers:
        w, b = layer.weight.copy(), layer.bias.copy()
        if kind == "noise":
            w = w + rng.integers(-1, 2, w.shape) / 64
        elif kind == "prune":
            w[np.abs(w) < 0.2] = 0.0
        layers.append(Layer(w, b, layer.activation))
    if kind == "drop" and len(layers) > 1 and layers[0].out_features > 1:
        i = int(rng.integers(layers[0].out_features))
        keep = [j for j in range(layers[0].out_features) if j != i]
        layers[0] = Layer(layers[0].weight[keep], layers[0].bias[keep], layers[0].activation)
        layers[1] = Layer(layers[1].weight[:, keep], layers[1].bias, layers[1].activation)
    return Network(layers)


def random_box(rng: np.random.Generator, n: int) -> Box:
    lo = tuple(Fraction(int(rng.integers(-4, 0)), 4) for _ in range(n))
    hi = tuple(Fraction(int(rng.integers(1, 5)), 4) for _ in range(n))
    return Box(lo, hi)


def negated(net: Network) -> Network:
    last = net.layers[-1]
    return Network(net.layers[:-1] + [Layer(-last.weight, -last.bias, last.activation)])


def z3_truth(a: Network, b: Network, box: Box, kind: str, eps: Fraction = Fraction(0)) -> str:
    """'sat' / 'unsat' of the exact property by a monolithic z3 query (lumpcheck.equivalence.encode), never by our engine."""
    if kind == "argmin":
        a, b, mode = negated(a), negated(b), Mode("top1")
    elif kind == "top1":
        mode = Mode("top1")
    else:
        mode = Mode("epsilon", eps)
    enc = encode_pair(a, b, box, mode)
    return solve_constraints(enc.constraints, enc.inputs, 120).status


def sampled_max_difference(a: Network, b: Network, box: Box, rng: np.random.Generator, count: int = 2000) -> float:
    lo = np.array([float(v) for v in box.lower])
    hi = np.array([float(v) for v in box.upper])
    X = rng.uniform(lo, hi, (count, len(lo)))
    return float(np.abs(evaluate_float(a, X) - evaluate_float(b, X)).max())


# ---------------------------------------------------------------- exact margins of one-input networks


def _pre(net: Network, x: Fraction) -> list[Fraction]:
    """Every hidden neuron's exact pre-activation at x, layer by layer (one list per hidden layer)."""
    out, h = [], [x]
    for layer in net.layers[:-1]:
        z = [sum((Fraction(w) * v for w, v in zip(row, h)), Fraction(0)) + Fraction(b)
             for row, b in zip(layer.weight, layer.bias)]
        out.append(z)
        h = [layer.activation.exact(v) for v in z]
    return out


def _knots(net: Network, lo: Fraction, hi: Fraction) -> list[Fraction]:
    """Every point of [lo, hi] where some hidden pre-activation is zero, plus the ends: layer k's pre-activations
    are linear between the knots of the layers before it, so refining once per layer finds them all exactly."""
    knots = [lo, hi]
    for _ in net.layers[:-1]:
        flat = [[v for z in _pre(net, x) for v in z] for x in knots]
        new = set(knots)
        for (x0, v0), (x1, v1) in zip(zip(knots, flat), zip(knots[1:], flat[1:])):
            for s0, s1 in zip(v0, v1):
                if s0 * s1 < 0:
                    new.add(x0 + (x1 - x0) * s0 / (s0 - s1))
        knots = sorted(new)
    return knots


def exact_margin_max(net: Network, lo: Fraction, hi: Fraction, cls: int, phases) -> list[Fraction] | None:
    """max over {x in [lo, hi] with the phases} of y_j − y_c per j (exact), or None if that region is empty.
    Margins are linear between knots and phases constant there, so the maximum is at a knot of the region."""
    best = None
    for x in _knots(net, lo, hi):
        z = _pre(net, x)
        if any(p * v < 0 for k, ph in enumerate(phases) for p, v in zip(ph, z[k])):
            continue
        y = evaluate(net, [x])
        m = [y[j] - y[cls] for j in range(len(y))]
        best = m if best is None else [max(u, v) for u, v in zip(best, m)]
    return best


def epsilon_certificate_case():
    """(A, B, certificate, sampled max |A − B|): a random epsilon pair whose unsat certificate has >= 3 leaves."""
    from lumpcheck.equivalence.pair import verify_pair
    rng = np.random.default_rng(11)
    a = random_net(rng, [2, 6, 5, 2])
    b = near_copy(rng, a, "noise")
    box = random_box(rng, 2)
    true_max = sampled_max_difference(a, b, box, rng, 5000)
    eps = Fraction(true_max * 1.5).limit_denominator(1024)
    res = verify_pair(a, b, box, f"epsilon={eps}", timeout=60)
    assert res.status == "unsat" and len(res.certificate["leaves"]) >= 3
    return a, b, res.certificate, true_max


def relu_top1_case(accept, half: Fraction = Fraction(1, 8)):
    """(A, B, box, result): the first random 3-8-8-8-3 top1 pair proved by ReLU splitting whose result `accept`s,
    or None (the caller skips). half: the box's half-width around its random centre."""
    from lumpcheck.equivalence.pair import verify_pair
    for seed in range(60):
        rng = np.random.default_rng(seed)
        a = random_net(rng, [3, 8, 8, 8, 3])
        b = near_copy(rng, a, "noise")
        centre = [Fraction(int(rng.integers(-2, 3)), 4) for _ in range(3)]
        box = Box(tuple(c - half for c in centre), tuple(c + half for c in centre))
        res = verify_pair(a, b, box, "top1", timeout=30, strategy="relu")
        if res.status == "unsat" and accept(res):
            return a, b, box, res
    return None


# ---------------------------------------------------------------- exact truth on a segment (piecewise linear pairs)


def _pre_activations(net: Network, x: list[Fraction]) -> list[Fraction]:
    """Every neuron's exact pre-activation at the input x, layer after layer (hidden and output)."""
    values, h = [], x
    for layer in net.layers:
        z = [sum((Fraction(w) * v for w, v in zip(row, h)), Fraction(0)) + Fraction(b)
             for row, b in zip(layer.weight, layer.bias)]
        values += z
        h = [layer.activation.exact(v) for v in z]
    return values


def _refine(knots: list[Fraction], signals) -> list[Fraction]:
    """Add the exact zero of every signal that is linear between consecutive knots and changes sign there."""
    out = set(knots)
    values = [signals(k) for k in knots]
    for (x0, v0), (x1, v1) in zip(zip(knots, values), zip(knots[1:], values[1:])):
        for s0, s1 in zip(v0, v1):
            if (s0 < 0 < s1) or (s1 < 0 < s0):
                out.add(x0 + (x1 - x0) * s0 / (s0 - s1))
    return sorted(out)


def exact_truth(a: Network, b: Network, lo: Fraction, hi: Fraction, mode: Mode, point=lambda t: [t]) -> bool:
    """Is the property violated somewhere on the segment point(t), t in [lo, hi]? (Exact; point is affine in t, by
    default the one input of one-input networks.)"""
    knots = [lo, hi]
    for depth in range(1, max(len(a.layers), len(b.layers)) + 1):  # layer l is linear between layer-(l-1) knots
        knots = _refine(knots, lambda t: _pre_activations(a, point(t)) + _pre_activations(b, point(t)))
    def output_gaps(t):
        ya, yb = evaluate(a, point(t)), evaluate(b, point(t))
        pairs = [ya[i] - ya[j] for i in range(len(ya)) for j in range(i)]
        return pairs + [yb[i] - yb[j] for i in range(len(yb)) for j in range(i)] + [p - q for p, q in zip(ya, yb)] \
            + [p - q - mode.epsilon for p, q in zip(ya, yb)] + [q - p - mode.epsilon for p, q in zip(ya, yb)]
    knots = _refine(knots, output_gaps)
    points = knots + [(x0 + x1) / 2 for x0, x1 in zip(knots, knots[1:])]
    return any(violated(mode, evaluate(a, point(t)), evaluate(b, point(t))) for t in points)
