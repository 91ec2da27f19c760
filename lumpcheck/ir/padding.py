"""Padding a narrower network (a copy with hidden neurons removed) to a wider one's architecture, exactly.

`pad_to(a, b, maps)`: maps[ℓ][j] is the neuron of A's hidden layer ℓ that B's neuron j stands for (injective).
The padded network B' has A's widths and activations: B's neuron j sits at row maps[ℓ][j], its weights moved to
the columns of its inputs' places; every other row ("padding") is A's own row (weights and bias), and every weight
FROM a padding neuron is 0. By induction over the layers each placed neuron of B' computes B's neuron (its inputs
from placed neurons are B's, those from padding neurons are multiplied by 0) and the last layer is all placed, so
B'(x) = B(x) for every x, whatever the activations (sigmoid and tanh too) and whatever the padding rows hold. The
padding rows only make bounds on A − B' tight: a padding neuron then sees the same weights as A's.

Trusted: the difference-bound engine bounds |A − B'| (equivalence/engine.py) and its checker rebuilds B' from the
certificate's maps (checker/bound_pair.py), both with this one construction.
"""

from __future__ import annotations

import numpy as np

from .exact import as_fractions
from .network import Layer, Network


def check_maps(a: Network, b: Network, maps: list[list[int]]) -> None:
    """ValueError unless A and B have the same depth, activations, input and output sizes, and `maps` gives, per
    hidden layer, an injective map of B's neurons into A's."""
    if len(a.layers) != len(b.layers) or a.input_size != b.input_size or a.output_size != b.output_size:
        raise ValueError(f"padding needs one depth and the same inputs and outputs ({a.shape_str()} vs {b.shape_str()})")
    if [layer.activation for layer in a.layers] != [layer.activation for layer in b.layers]:
        raise ValueError("padding needs the same activation in every layer of both networks")
    if len(maps) != len(a.layers) - 1:
        raise ValueError(f"padding: {len(maps)} neuron maps for {len(a.layers) - 1} hidden layers")
    for ell, (m, la, lb) in enumerate(zip(maps, a.layers, b.layers)):
        if len(m) != lb.out_features or len(set(m)) != len(m) or \
                not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < la.out_features for i in m):
            raise ValueError(f"padding: the map of hidden layer {ell} must send B's {lb.out_features} neurons to "
                             f"distinct neurons of A's {la.out_features}")


def pad_to(a: Network, b: Network, maps: list[list[int]]) -> Network:
    """B padded to A's architecture by `maps` (module docstring; ValueError when `check_maps` refuses them)."""
    check_maps(a, b, maps)
    places = [list(range(a.input_size)), *maps, list(range(a.output_size))]
    layers = []
    for ell, (la, lb) in enumerate(zip(a.layers, b.layers)):
        rows, cols = places[ell + 1], places[ell]
        exact = object in (la.weight.dtype, la.bias.dtype, lb.weight.dtype, lb.bias.dtype)
        w, bias, wb, bb = (np.array(as_fractions(v), dtype=object) if exact else np.array(v, dtype=np.float64)
                           for v in (la.weight, la.bias, lb.weight, lb.bias))
        padding_cols = sorted(set(range(la.in_features)) - set(cols))
        w[np.ix_(rows, cols)] = wb
        w[np.ix_(rows, padding_cols)] = 0  # nothing flows from a padding neuron into a placed one
        bias[rows] = bb
        layers.append(Layer(w, bias, la.activation))
    return Network(layers)
