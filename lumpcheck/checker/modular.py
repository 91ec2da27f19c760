"""One layer's linear identities decided exactly by residues (the checker's fast exact path).

Layer ℓ's original pre-activation coefficients, with layer ℓ−1's maps substituted, are integers over known
denominators: cols[s, j] = Σ_{r→j} wn[s, r]·k_r (wn = W·D as integers, k_r the map factor over the class's common
denominator). Every identity the relation claims (target z_s ≡ (p/q)·z'_c, ghost member z_s ≡ (p/q)·z_rep, constant:
all coefficients zero) is an equality x == y of integers whose sizes are bounded from the operands' bit lengths:
|x| + |y| < 2**bits. They are decided modulo pairwise coprime moduli whose product is >= 2**bits (integers.py):
x ≡ y modulo all of them iff x == y. All arithmetic is int64 on residues below 2**31 (no overflow); float weights
give their residues straight from their bits. When the bound needs more moduli than there are, or the weights are
Fractions, the caller uses the Python-int path instead (layer.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir.relation import NeuronMap
from .integers import PARTS_BLOCK, FloatParts, float_parts, moduli_for, residue_list, residues


@dataclass(frozen=True)
class Identities:
    """What the residues decided, per claim (indexed like the claim lists given to `decide`)."""

    target_coefficients: np.ndarray  # bool: the coefficients on the reduced classes agree
    target_ghost: np.ndarray  # int: first ghost class (column offset) with a nonzero coefficient, -1 for none
    ghost_coefficients: np.ndarray  # bool: member's coefficients == factor × the representative's
    constant_zero: np.ndarray  # bool: every coefficient is zero


@dataclass(frozen=True)
class Substitution:
    """cols[:, j] = Σ over the terms (r, j, k) of wn[:, r]·k; the value of cols[s, j] is cols[s, j] / (D·dens[j])."""

    terms: list[tuple[int, int, int]]
    dens: list[int]
    reach: list[int]  # Σ |k| per class: |cols[:, j]| <= max|wn| · reach[j]

    @classmethod
    def of(cls, prev: tuple[NeuronMap, ...] | list[NeuronMap], n: int) -> "Substitution":
        dens = [1] * n
        for m in prev:
            for j, c in m.terms:
                dens[j] = math.lcm(dens[j], c.denominator)
        terms = [(r, j, c.numerator * (dens[j] // c.denominator)) for r, m in enumerate(prev) for j, c in m.terms]
        reach = [0] * n
        for _, j, k in terms:
            reach[j] += abs(k)
        return cls(terms, dens, reach)

    def levels(self) -> list[tuple[np.ndarray, np.ndarray, list[int]]]:
        """The terms as (sources, classes, multipliers) groups in which no class repeats (the k-th term of each)."""
        seen: dict[int, int] = {}
        groups: list[tuple[list[int], list[int], list[int]]] = []
        for r, j, k in self.terms:
            level = seen.get(j, 0)
            seen[j] = level + 1
            if level == len(groups):
                groups.append(([], [], []))
            groups[level][0].append(r)
            groups[level][1].append(j)
            groups[level][2].append(k)
        return [(np.array(src, dtype=np.intp), np.array(dst, dtype=np.intp), ks) for src, dst, ks in groups]


_MAX_LEVELS = 1 << 31
"""_columns adds one residue < 2**31 per level to a column: fewer than 2**31 levels keep every sum below 2**62."""


def _bits(values: list[int]) -> int:
    return max((abs(v) for v in values), default=0).bit_length()


def decide(orig_weight: np.ndarray, red_weight: np.ndarray, sub: Substitution, width: int,
           targets: list[tuple[int, int, int, int]], ghosts: list[tuple[int, int, int, int]],
           constants: list[int]) -> Identities | None:
    """Decide the identities of one layer, or None (use the Python-int path).

    targets: (neuron s, reduced class c, p, q) for z_s ≡ (p/q)·z'_c; ghosts: (neuron s, representative t, p, q) for
    z_s ≡ (p/q)·z_t; constants: neurons whose coefficients must all be zero. `width` = reduced classes of layer ℓ−1
    (columns beyond it are its ghost classes)."""
    wp, rp = float_parts(orig_weight), float_parts(red_weight)
    if wp is None or rp is None:
        return None
    d_orig = [wp.den * d for d in sub.dens]  # the denominator of cols[:, j]
    gcds = [math.gcd(rp.den, d) for d in d_orig[:width]]
    left, right = [rp.den // g for g in gcds], [d // g for d, g in zip(d_orig[:width], gcds)]
    # The bound, term by term (every |·| < 2**(its bit length)): |wn| < 2**wp.bits and |rn| < 2**rp.bits
    # (FloatParts); |cols[s, j]| <= max|wn| · Σ_{r→j} |k_r| = max|wn| · reach[j] < 2**cols_bits; then
    # |x| + |y| < 2**a + 2**b <= 2**(1 + max(a, b)) for each identity x == y below. The moduli's product is >= 2**bits
    # > |x − y|, so x ≡ y modulo all of them iff x == y.
    cols_bits = wp.bits + _bits(sub.reach)
    bits = 1 + max(
        cols_bits + _bits([t[3] for t in targets]) + _bits(left),  # cols·q·(rd/g) ...
        rp.bits + _bits([t[2] for t in targets]) + _bits(right),  # ... == rn·p·(D·dens/g)
        cols_bits + _bits([g[2] for g in ghosts] + [g[3] for g in ghosts]),  # cols_s·q == cols_t·p
    )
    moduli = moduli_for(bits)
    levels = sub.levels()
    if moduli is None or len(levels) >= _MAX_LEVELS:
        return None
    out = Identities(np.ones(len(targets), dtype=bool), np.full(len(targets), -1), np.ones(len(ghosts), dtype=bool),
                     np.ones(len(constants), dtype=bool))
    for m in moduli:
        cols = _columns(wp, levels, len(sub.dens), m)
        _targets(out, cols, residues(rp, m), targets, width, left, right, m)
        if ghosts:
            s, t = [g[0] for g in ghosts], [g[1] for g in ghosts]
            q, p = residue_list([g[3] for g in ghosts], m), residue_list([g[2] for g in ghosts], m)
            out.ghost_coefficients[:] &= ~np.any(cols[s] * q[:, None] % m != cols[t] * p[:, None] % m, axis=1)
        if constants:
            out.constant_zero[:] &= ~np.any(cols[constants] != 0, axis=1)
    return out


def _columns(wp: FloatParts, levels: list, n: int, m: int) -> np.ndarray:
    """cols mod m."""
    wm = residues(wp, m)
    cols = np.zeros((wm.shape[0], n), dtype=np.int64)
    step = max(1, PARTS_BLOCK // max(1, wm.shape[1]))  # blocks of rows: small temporaries (peak memory)
    for src, dst, ks in levels:  # within a level every class appears once: plain fancy-index updates
        k = residue_list(ks, m)[None, :]
        for lo in range(0, wm.shape[0], step):
            cols[lo:lo + step, dst] += wm[lo:lo + step, src] * k % m  # each level adds < m: no overflow
    return cols % m


def _targets(out: Identities, cols: np.ndarray, rm: np.ndarray, targets: list, width: int, left: list[int],
             right: list[int], m: int) -> None:
    if not targets:
        return
    rows, cls = [t[0] for t in targets], [t[1] for t in targets]
    p, q = residue_list([t[2] for t in targets], m), residue_list([t[3] for t in targets], m)
    lhs = cols[rows, :width] * q[:, None] % m * residue_list(left, m)[None, :] % m
    rhs = rm[cls] * p[:, None] % m * residue_list(right, m)[None, :] % m
    out.target_coefficients[:] &= ~np.any(lhs != rhs, axis=1)
    ghost = cols[rows, width:] != 0
    if not ghost.size:
        return
    hit = ghost.any(axis=1)
    first = np.where(hit, np.argmax(ghost, axis=1), -1)
    known = out.target_ghost >= 0
    out.target_ghost[:] = np.where(known, np.where(hit, np.minimum(out.target_ghost, first), out.target_ghost), first)
