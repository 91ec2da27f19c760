"""The certificate of a graph channel reduction: per round, the exact pairwise channel claims of the reducer's
analysis on that round's graph (re-derived by the checker, never trusted), its removals and the ReLU phases the
round used (re-confirmed by the checker's own bounds on the box)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..bounds.graph_symbolic import bounds_by
from ..reduction.channel_analysis import Analysis, analyze
from ..reduction.channel_lumping import ChannelReduction
from .graph_records import Claim, GraphCertificate, Removal, Round


def claims_of(a: Analysis) -> dict[str, tuple[Claim, ...]]:
    """Pairwise claims from the relations: each member of a key class against the class's first channel."""
    out = {}
    for tensor, rel in a.rel.items():
        first: dict = {}
        claims = []
        for c, (k, f, d) in enumerate(zip(rel.key, rel.fac, rel.off)):
            if f == 0:
                claims.append(Claim(c, None, Fraction(0), d))
            elif k in first:
                rep = first[k]
                r = f / rel.fac[rep]
                claims.append(Claim(c, rep, r, d - r * rel.off[rep]))
            else:
                first[k] = c
        if claims:
            out[tensor] = tuple(claims)
    return out


def exact_box(box: dict | None) -> dict | None:
    """{input: (lower, upper)} arrays as flattened tuples of Fractions (the certificate's box)."""
    if box is None:
        return None
    return {k: tuple(tuple(Fraction(v) for v in np.asarray(b, dtype=object).reshape(-1)) for b in lohi)
            for k, lohi in box.items()}


def certificate_of(reduction: ChannelReduction, **fields) -> GraphCertificate:
    """The certificate of a reduction: per round, the claims of `analyze` on that round's graph and its removals
    (`fields`: the GraphCertificate's file fields, e.g. original/reduced records, source, stats)."""
    rounds = []
    box = reduction.box
    for g, records, phases in reduction.rounds:
        removals = tuple(
            Removal(r.kind, r.producers, r.channels, r.kept, r.reps, tuple(b.consumer for b in r.boundaries)) for r in records
        )
        bounds = bounds_by(reduction.bounds)(g, box) if phases else None
        rounds.append(Round(claims_of(analyze(g, bounds)), removals, {k: v for k, v in phases.items() if any(v)}))
    return GraphCertificate(tuple(rounds), exact_box(box), reduction.bounds, **fields)
