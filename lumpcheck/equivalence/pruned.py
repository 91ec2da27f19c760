"""Pruned copies for the difference-bound engine: which of A's hidden neurons each of B's neurons stands for, so
that B can be padded to A's architecture exactly (ir/padding.py) and bounded as a copy of one architecture.

Untrusted: any injective maps give an exact padded B (the checker rebuilds it from the recorded maps); the match
only decides how tight the bound on |A − B'| is. Neurons are matched layer by layer by their incoming weights
(B's row against A's rows on the columns of B's previous neurons, and the bias), nearest in L1 first (greedy).
"""

from __future__ import annotations

import numpy as np

from ..ir.network import Network


def neuron_maps(a: Network, b: Network) -> list[list[int]] | None:
    """Per hidden layer, the neuron of A each neuron of B is matched to; None unless A and B have one depth, the same
    activation kinds and inputs/outputs, and no hidden layer of B is wider than A's."""
    if len(a.layers) != len(b.layers) or a.input_size != b.input_size or a.output_size != b.output_size or \
            [la.activation for la in a.layers] != [lb.activation for lb in b.layers] or \
            any(lb.out_features > la.out_features for la, lb in zip(a.layers, b.layers)):
        return None
    maps: list[list[int]] = []
    prev = list(range(a.input_size))
    for la, lb in zip(a.layers[:-1], b.layers[:-1]):
        rows_a = np.column_stack([np.asarray(la.weight, dtype=float)[:, prev], np.asarray(la.bias, dtype=float)])
        rows_b = np.column_stack([np.asarray(lb.weight, dtype=float), np.asarray(lb.bias, dtype=float)])
        cost = np.array([np.abs(rows_a - row).sum(axis=1) for row in rows_b])  # (B's neurons, A's neurons)
        match: dict[int, int] = {}
        used: set[int] = set()
        for flat in np.argsort(cost, axis=None, kind="stable"):
            j, i = divmod(int(flat), cost.shape[1])
            if j not in match and i not in used:
                match[j] = i
                used.add(i)
        prev = [match[j] for j in range(lb.out_features)]
        maps.append(prev)
    return maps
