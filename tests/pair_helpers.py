"""Small random pairs and an independent ground truth (z3 over the exact networks) for the differential engine's tests."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from lumpcheck.ir.domain import Box
from lumpcheck.equivalence.encode import encode_pair
from lumpcheck.solver.z3 import solve_constraints
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.network import Layer, Network, evaluate_float
from lumpcheck.equivalence.mode import Mode

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
