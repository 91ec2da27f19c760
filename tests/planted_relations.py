"""Planted (original, reduced, relation) triples for checker and prover tests: a random reduced network expanded
into an original one by known lumping maps, so that the relation is true by construction."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from lumpcheck.ir.activation import Activation
from lumpcheck.ir.network import Layer, Network
from lumpcheck.ir.relation import LayerRelation, NeuronMap, Relation

# (factor, offset) pairs each activation admits, and (pre-activation κ) values with rational σ(κ).
FACTORS = {
    "identity": [(Fraction(-2), Fraction(0)), (Fraction(1, 2), Fraction(0)), (Fraction(-1), Fraction(0))],
    "relu": [(Fraction(2), Fraction(0)), (Fraction(1, 2), Fraction(0)), (Fraction(1), Fraction(0))],
    "leaky_relu": [(Fraction(4), Fraction(0)), (Fraction(1, 4), Fraction(0))],
    "tanh": [(Fraction(-1), Fraction(0)), (Fraction(1), Fraction(0))],
    "sigmoid": [(Fraction(-1), Fraction(1)), (Fraction(1), Fraction(0))],
}
CONSTANTS = {"identity": [Fraction(3, 4)], "relu": [Fraction(-3, 4), Fraction(5, 4)], "leaky_relu": [Fraction(-1)],
             "tanh": [Fraction(0)], "sigmoid": [Fraction(0)]}
ACTIVATIONS = {k: Activation(k, Fraction(1, 8) if k == "leaky_relu" else 0) for k in FACTORS}


def dyadic(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.integers(-8, 9, size=shape) / 8.0


def planted(rng: np.random.Generator, widths: list[int], kind: str, extra: int = 3, constants: int = 1, dead: int = 1,
            factors: list[tuple[Fraction, Fraction]] | None = None, dead_copies: int = 0) -> tuple[Network, Network, Relation]:
    """(original, reduced, relation): a random reduced net, expanded into an original one with `extra` scaled
    copies, constants and `dead` ghost classes per hidden layer, with `dead_copies` more ghost members (scaled
    copies of a ghost's representative) whose outgoing weights cancel within their class. All weights are
    dyadic and all factors powers of two, so float64 is exact."""
    act = ACTIVATIONS[kind]
    factors = factors or FACTORS[kind]
    k = len(widths) - 1
    reduced = Network([Layer(dyadic(rng, (widths[i + 1], widths[i])), dyadic(rng, widths[i + 1]),
                             act if i < k - 1 else Activation("identity")) for i in range(k)])
    # per hidden layer: (map, κ for constants) for each original neuron, in shuffled order
    layers: list[list[tuple[NeuronMap, Fraction]]] = []
    for ell in range(1, k):
        w = widths[ell]
        maps = [(NeuronMap(((j, 1),), 0, "kept"), Fraction(0)) for j in range(w)]
        maps += [(NeuronMap(((w + g, 1),), 0, "dead"), Fraction(0)) for g in range(dead)]
        for reason, count, lo in (("proportional", extra, 0), ("dead", dead_copies if dead else 0, w)):
            for _ in range(count):
                c, o = factors[rng.integers(len(factors))]
                cls = int(rng.integers(lo, w + dead)) if reason == "dead" else int(rng.integers(w))
                maps.append((NeuronMap(((cls, c),), o, reason), Fraction(0)))
        for _ in range(constants):
            kappa = CONSTANTS[kind][rng.integers(len(CONSTANTS[kind]))]
            maps.append((NeuronMap((), act.exact(kappa), "constant"), kappa))
        layers.append([maps[i] for i in rng.permutation(len(maps))])
    prev = [(NeuronMap(((i, 1),)), Fraction(0)) for i in range(widths[0])]
    prev_classes = widths[0]
    out_layers = []
    for ell in range(1, k + 1):
        red = reduced.layers[ell - 1]
        here = layers[ell - 1] if ell < k else [(NeuronMap(((t, 1),)), Fraction(0)) for t in range(widths[-1])]
        # incoming (class weights, bias) of each class: reduced neurons never weigh previous ghosts
        classes = [(np.append(red.weight[j], np.zeros(prev_classes - red.in_features)), float(red.bias[j]))
                   for j in range(red.out_features)]
        classes += [(dyadic(rng, prev_classes), float(dyadic(rng, 1)[0])) for _ in range(dead if ell < k else 0)]
        rows, bias = [], []
        for nm, kappa in here:
            if nm.terms:
                (j, c), = nm.terms
                target = (classes[j][0] * float(c), classes[j][1] * float(c))
            else:
                target = (np.zeros(prev_classes), float(kappa))
            row, b = _split(rng, target, prev)
            rows.append(row)
            bias.append(b)
        out_layers.append(Layer(np.array(rows), np.array(bias), red.activation))
        prev, prev_classes = here, len(classes)
    relation = Relation([LayerRelation([nm for nm, _ in lay], widths[i + 1], dead) for i, lay in enumerate(layers)])
    return Network(out_layers), reduced, relation


def _split(rng, target, prev) -> tuple[np.ndarray, float]:
    """Original incoming row whose substituted form is `target` (one weight per class of the previous layer,
    ghosts included): share each class weight among its members; constants get any weight."""
    weights, const = target
    row = np.zeros(len(prev))
    members: dict[int, list[int]] = {}
    for r, (nm, _) in enumerate(prev):
        if nm.terms:
            members.setdefault(nm.terms[0][0], []).append(r)
        else:
            row[r] = dyadic(rng, 1)[0]
    for i, rs in members.items():
        first, rest = rs[0], rs[1:]
        row[rest] = dyadic(rng, len(rest))
        covered = sum(row[r] * float(prev[r][0].terms[0][1]) for r in rest)
        row[first] = (weights[i] - covered) / float(prev[first][0].terms[0][1])
    b = const - sum(row[r] * float(nm.offset) for r, (nm, _) in enumerate(prev))
    return row, b
