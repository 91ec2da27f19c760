"""Matching two networks up to neuron permutation and admissible scaling, exactly (verify's lumping-match engine)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..ir.activation import Activation
from ..ir.exact import as_fractions, exact_scale, gradual_underflow
from ..ir.fastpath import proportional_rows
from ..ir.network import Layer, Network
from ..reduction.lumping import row_keys


class NoMatch(Exception):
    """The two networks are not the same up to neuron permutation and admissible scaling (why, in words)."""


@dataclass(frozen=True)
class LayerMatch:
    """Hidden layer correspondence: v_b[perm[j]] = scale[j] · v_a[j] for every neuron j of a."""

    perm: tuple[int, ...]
    scale: tuple[Fraction, ...]


def match_networks(a: Network, b: Network) -> list[LayerMatch]:
    """Prove a ≡ b structurally: hidden neurons matched by hashing normalised incoming vectors, then checked exactly.

    Expressed in a's previous-layer coordinates, b's neuron t has incoming vector c·(a's neuron j's vector);
    then v_b,t = c·v_a,j when σ(c·z) = c·σ(z): c > 0 for ReLU/LeakyReLU, c = ±1 for tanh, any c ≠ 0 for
    identity, c = 1 for sigmoid. Output layers must agree exactly (no permutation). Raises NoMatch otherwise.
    """
    if a.widths != b.widths:
        raise NoMatch(f"widths differ: {a.shape_str()} vs {b.shape_str()}")
    perm, scale = list(range(a.input_size)), [Fraction(1)] * a.input_size
    matches: list[LayerMatch] = []
    for li, (la, lb) in enumerate(zip(a.layers, b.layers)):
        if la.activation != lb.activation:
            raise NoMatch(f"layer {li}: activations differ ({la.activation} vs {lb.activation})")
        fast = _float_rows(la, range(len(perm)), [Fraction(1)] * len(perm)), _float_rows(lb, perm, scale)
        if fast[0] is not None and fast[1] is not None:  # float64, every product proven exact
            if li == len(a.layers) - 1:
                if not np.array_equal(*fast):
                    raise NoMatch("output layers differ")
                break
            perm, scale = _pair_floats(*fast, la.activation, li)
            matches.append(LayerMatch(tuple(perm), tuple(scale)))
            continue
        va = _incoming(la.weight, la.bias, list(range(len(perm))), [Fraction(1)] * len(perm))
        vb = _incoming(lb.weight, lb.bias, perm, scale)
        if li == len(a.layers) - 1:
            if va != vb:
                raise NoMatch("output layers differ")
            break
        by_key: dict[tuple, list[int]] = {}
        for j, vec in enumerate(va):
            by_key.setdefault(_normalised(vec, la.activation), []).append(j)
        new_perm, new_scale = [0] * len(va), [Fraction(0)] * len(va)
        for t, vec in enumerate(vb):
            candidates = by_key.get(_normalised(vec, la.activation))
            if not candidates:
                raise NoMatch(f"layer {li}: neuron {t} of the second network has no counterpart")
            j = candidates.pop()
            c = _ratio(va[j], vec)
            if c is None or la.activation.merge_offset(c) != 0:  # hashing is only a filter: re-check exactly
                raise NoMatch(f"layer {li}: neuron {t} is not an admissible multiple of neuron {j}")
            new_perm[j], new_scale[j] = t, c
        perm, scale = new_perm, new_scale
        matches.append(LayerMatch(tuple(perm), tuple(scale)))
    return matches


def _float_rows(layer: Layer, perm: Sequence[int], scale: Sequence[Fraction]) -> np.ndarray | None:
    """[W[:, perm[r]]·scale[r] | b] in float64 when every value is exact there (None: use Fractions)."""
    if layer.weight.dtype != np.float64 or layer.bias.dtype != np.float64 or not gradual_underflow():
        return None
    factors = np.array([float(c) for c in scale])
    if any(Fraction(f) != c for f, c in zip(factors.tolist(), scale)):
        return None
    cols = layer.weight[:, np.asarray(perm, dtype=np.intp)]
    if not np.all(factors == 1):
        cols, inexact = exact_scale(cols, factors[None, :])
        if inexact.any():
            return None
    return np.column_stack([cols, layer.bias])


def _pair_floats(va: np.ndarray, vb: np.ndarray, act: Activation, li: int) -> tuple[list[int], list[Fraction]]:
    """`match_networks` on one hidden layer of exact float rows: b's neuron t gets the a neuron whose normalised
    row hashes equally (row_keys), and the pair is then checked exactly: vb[t] = c·va[j] with σ(c·z) = c·σ(z)."""
    mode = "none" if act.kind == "sigmoid" else act.merge_mode  # sigmoid: c = 1 only
    keys_a, piv_a = row_keys(va.copy(), mode)
    keys_b, _ = row_keys(vb.copy(), mode)
    by_key: dict[int, list[int]] = {}
    for j, k in enumerate(keys_a.tolist()):
        by_key.setdefault(k, []).append(j)
    chosen = np.empty(len(vb), dtype=np.intp)
    for t, k in enumerate(keys_b.tolist()):
        candidates = by_key.get(k)
        if not candidates:
            raise NoMatch(f"layer {li}: neuron {t} of the second network has no counterpart")
        chosen[t] = candidates.pop()
    y, piv = va[chosen], piv_a[chosen]
    rows = np.arange(len(vb))
    num, den = vb[rows, piv], y[rows, piv]
    zero = den == 0  # a's row is all zero: only an all-zero row of b is a multiple of it (c = 1)
    ok = proportional_rows(vb, y, piv)
    ok[zero] = ~vb[zero].any(axis=1)
    perm, scale = [0] * len(va), [Fraction(0)] * len(va)
    for t, j in enumerate(chosen.tolist()):
        c = Fraction(1) if zero[t] else Fraction(float(num[t])) / Fraction(float(den[t]))
        if not ok[t] or act.merge_offset(c) != 0:  # hashing is only a filter: re-check exactly
            raise NoMatch(f"layer {li}: neuron {t} is not an admissible multiple of neuron {j}")
        perm[j], scale[j] = t, c
    return perm, scale


def _incoming(weight, bias, perm: Sequence[int], scale: Sequence[Fraction]) -> list[tuple[Fraction, ...]]:
    """Each neuron's (weights, bias) over the reference previous layer: column r is W[:, perm[r]]·scale[r]."""
    w, b = as_fractions(weight), as_fractions(bias)
    return [tuple(w[s, perm[r]] * scale[r] for r in range(len(perm))) + (b[s],) for s in range(len(b))]


def _normalised(vec: tuple[Fraction, ...], act: Activation) -> tuple[Fraction, ...]:
    """Canonical representative of vec's class under the scalings act admits."""
    lead = next((v for v in vec if v != 0), None)
    if lead is None or act.kind == "sigmoid":
        return vec
    divisor = {"identity": lead, "tanh": Fraction(1 if lead > 0 else -1)}.get(act.kind, abs(lead))
    return tuple(v / divisor for v in vec)


def _ratio(va: tuple[Fraction, ...], vb: tuple[Fraction, ...]) -> Fraction | None:
    """c with vb == c·va exactly (1 for two zero vectors), else None."""
    k = next((i for i, v in enumerate(va) if v != 0), None)
    c = Fraction(1) if k is None else vb[k] / va[k]
    return c if all(q == c * p for p, q in zip(va, vb)) else None


