"""Pruned copies for the difference-bound engine: which of A's hidden neurons each of B's neurons stands for, so
that B can be padded to A's architecture exactly (ir/padding.py) and bounded as a copy of one architecture.

Untrusted: any injective maps give an exact padded B (the checker rebuilds it from the recorded maps); the match
only decides how tight the bound on |A − B'| is. Neurons are matched as the differential engine pairs them
(bounds.coupling.align: incoming weights over the previous layer's pairs and the bias, nearest first, greedily),
with no distance limit, so that every neuron of the narrower B gets one of A's.
"""

from __future__ import annotations

import math

from ..bounds.coupling import align
from ..ir.network import Network


def neuron_maps(a: Network, b: Network) -> list[list[int]] | None:
    """Per hidden layer, the neuron of A each neuron of B is matched to; None unless A and B have one depth, the same
    activation kinds and inputs/outputs, and no hidden layer of B is wider than A's."""
    if len(a.layers) != len(b.layers) or a.input_size != b.input_size or a.output_size != b.output_size or \
            [la.activation for la in a.layers] != [lb.activation for lb in b.layers] or \
            any(lb.out_features > la.out_features for la, lb in zip(a.layers, b.layers)):
        return None
    pairing = align(a, b, tolerance=math.inf)  # pairs sorted by B's neuron: every one of B's is paired
    return [[i for i, _ in pairs] for pairs in pairing.layers]
