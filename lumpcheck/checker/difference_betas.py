"""The checker's reading of β multipliers (β-CROWN split constraints) of one-network leaves (specs/diff-certificate.md).

A leaf of `pass: single` may record, for neurons its path splits in its own network, one multiplier β >= 0 per
margin row. The checker adds β·s·z to that row's back-substituted objective (s = +1 for a branch z >= 0, −1 for
z <= 0), which is >= 0 on the leaf's region, so the bound it derives is still an upper bound of the row there,
whatever β >= 0 is. Everything else is refused with its reason: a negative, NaN or infinite β (a negative one would
subtract a nonnegative term and could hide a positive margin), a β on a neuron the path does not split, on the
other network, twice on one neuron, on a leaf proved in lockstep ('pair'), or a record of the wrong shape.
"""

from __future__ import annotations

import base64
import struct

import numpy as np


class BetaError(ValueError):
    """A leaf's β record is malformed or not allowed (the message says which and why)."""


def decode(blob: str, rows: int, sizes: list[int]) -> list[tuple[int, int, np.ndarray]]:
    """Entries (layer, neuron, β per row) of one leaf's record: int32 R, int32 count, then per entry int32 layer,
    int32 neuron, float32[R]. Values must be finite and >= 0, layers and neurons in range, no neuron twice."""
    data = base64.b64decode(blob, validate=True)
    if len(data) < 8:
        raise BetaError(f"β record of {len(data)} bytes has no header")
    r, count = struct.unpack_from("<ii", data, 0)
    if r != rows:
        raise BetaError(f"β record has {r} values per neuron, the margin rows are {rows}")
    width = 8 + 4 * rows
    if count < 0 or len(data) != 8 + count * width:
        raise BetaError(f"β record of {len(data)} bytes does not hold {count} entries of {rows} values")
    out, seen = [], set()
    for e in range(count):
        pos = 8 + e * width
        layer, neuron = struct.unpack_from("<ii", data, pos)
        values = np.frombuffer(data, "<f4", rows, pos + 8).astype(np.float64)
        if not 0 <= layer < len(sizes) or not 0 <= neuron < sizes[layer]:
            raise BetaError(f"β on neuron {neuron} of hidden layer {layer}: out of range")
        if (layer, neuron) in seen:
            raise BetaError(f"two β entries for neuron {neuron} of hidden layer {layer}")
        seen.add((layer, neuron))
        if not np.all(values >= 0) or not np.all(np.isfinite(values)):
            bad = values[~((values >= 0) & np.isfinite(values))][0]
            raise BetaError(f"β = {bad} on neuron {neuron} of hidden layer {layer}: must be finite and >= 0")
        out.append((layer, neuron, values))
    return out


def split_terms(leaves: list[dict], paths: list[tuple], part: str, rows: int, sizes: list[int]) -> list | None:
    """Per hidden layer, (N, R, n_k) arrays of β·s for the leaves of one network `part` ('a' or 'b'): s is the
    phase the leaf's path gives the neuron. None when no leaf records β."""
    if not any(leaf.get("betas") for leaf in leaves):
        return None
    out = [np.zeros((len(leaves), rows, n)) for n in sizes]
    for e, (leaf, path) in enumerate(zip(leaves, paths)):
        if not leaf.get("betas"):
            continue
        phase = {(layer, neuron): ph for net, layer, neuron, ph in path if net == part}
        for layer, neuron, values in decode(leaf["betas"], rows, sizes):
            s = phase.get((layer, neuron))
            if s is None:
                raise BetaError(f"leaf {list(path)}: β on neuron [{part!r}, {layer}, {neuron}], which its path "
                                f"does not split (β is the multiplier of a split constraint)")
            out[layer][e, :, neuron] = s * values
    return out
