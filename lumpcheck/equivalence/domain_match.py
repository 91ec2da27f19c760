"""verify's domain-match engine: pairs related by lumpcheck's own domain reduction (`reduce --domain`) on a box.

`reduce --domain` removes ReLUs that are stably inactive on the box, folds stably linear ones and lumps; the
result equals the original ON THE BOX only, so lumping-match (on all of R^n) cannot relate the two. This engine
redoes that reduction: for X one of the two networks (the wider first) and Y the other,

    X ≡ R on the box     R = reduction.domain.reduce_on_domain(X, box): phases from sound bounds of X on the box,
                         proved obligation by obligation by prove.prover.prove_networks (the same proof
                         `reduce --certify` makes, the phase claims re-derived from bounds of X);
    R ≅ Y' everywhere    equivalence.match.match_networks: neuron permutation and admissible scaling, exactly;
    Y' ≡ Y everywhere    Y' = Y itself, or Y's coarsest lumping (reduction.lumping.reduce), proved likewise.

Each step is exact, so X = Y at every point of the box (strict equality: every mode holds). Floats only
propose (bounds are outward-rounded, phases are claims the prover re-checks); nothing is decided by them. A
pair this does not fit (a 1-ulp edit, a pruned copy) simply does not match: the next engine gets the box.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..ir.domain import Box
from ..ir.network import Network
from ..ir.relation import DOMAIN_REASONS
from ..prove.prover import prove_networks
from ..prove.records import ObligationRecord
from ..reduction.domain import DomainReduction, reduce_on_domain
from ..reduction.lumping import Reduction
from ..reduction.lumping import reduce as lump
from .match import NoMatch, match_networks

Z3_TERMS = 20_000
"""z3 re-checks a sample of this many weight terms per proof (exact algebra proves every obligation)."""


@dataclass
class DomainMatch:
    """The outcome: `proved` (X = Y on the box), with which side was reduced, how, and every proof record; or
    not, with `notes` saying why (no stable neuron, no match, a failed obligation, out of time)."""

    proved: bool = False
    side: str = ""  # "a" or "b": the network reduced on the box
    fold: bool = True  # whether stably linear neurons were folded (reduce --domain folds unless the file cannot hold it)
    lumped_other: bool = False  # whether the other network was matched through its coarsest lumping
    shape: str = ""  # the reduced network's widths
    proofs: dict[str, list[ObligationRecord]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        other = "b" if self.side == "a" else "a"
        via = f"{other}'s coarsest lumping" if self.lumped_other else other
        folded = "stably linear ones folded" if self.fold else "stably linear ones kept"
        count = sum(len(v) for v in self.proofs.values())
        return (f"{self.side} reduced on the box (stably inactive ReLUs removed, {folded}, lumped: "
                f"{self.shape}) matches {via} up to neuron permutation and scaling; {count} obligations proved, "
                "so the two networks are equal at every point of the box")


def _has_domain_maps(red: Reduction) -> bool:
    return any(m.reason in DOMAIN_REASONS for lr in red.relation.layers for m in lr.maps)


def _hidden(net: Network) -> int:
    return sum(net.widths[1:-1])


def _proved(records: list[ObligationRecord]) -> tuple[bool, str]:
    failed = [r.id for r in records if r.status != "proved"]
    return not failed, f"{len(failed)} obligations not proved ({', '.join(failed[:3])}{', ...' if len(failed) > 3 else ''})"


class _Lumped:
    """Y's coarsest lumping, computed once and only when needed."""

    def __init__(self, net: Network) -> None:
        self.net, self._red = net, None

    def get(self) -> Reduction:
        if self._red is None:
            self._red = lump(self.net)
        return self._red


def _candidates(x: Network, box: Box, deadline: float, notes: list[str]):
    """X's domain reductions to try: folded (what reduce --domain writes) and, when it differs, unfolded (what it
    writes when a file cannot hold the folded weights exactly). Only reductions with a domain map are useful."""
    seen: list[tuple[int, ...]] = []
    for fold in (True, False):
        if time.monotonic() >= deadline:
            return
        red = reduce_on_domain(x, box, fold=fold)
        if not _has_domain_maps(red):
            notes.append("no neuron is stable on the box: nothing to reduce")
            return
        if red.network.widths in seen:
            continue
        seen.append(red.network.widths)
        yield fold, red


def _prove(red: DomainReduction | Reduction, box: Box | None, deadline: float) -> list[ObligationRecord]:
    timeout_ms = max(1, int((deadline - time.monotonic()) * 1000))
    claims = getattr(red, "claims", None)
    records, _, _ = prove_networks(red.original, red.network, red.relation, box if claims else None,
                                   timeout_ms=timeout_ms, claims=claims, z3_terms=Z3_TERMS)
    return records


def match_on_domain(a: Network, b: Network, box: Box, timeout: float) -> DomainMatch:
    """Try to prove a = b on `box` through a domain reduction of one side (module docstring). a, b are plain
    layer chains (no normalisation metadata) and `box` is over their input. Never claims without a full proof."""
    deadline = time.monotonic() + timeout
    result = DomainMatch()
    sides = [("a", a, b), ("b", b, a)]
    if _hidden(b) > _hidden(a):
        sides.reverse()
    for side, x, y in sides:
        lumped = _Lumped(y)
        for fold, red in _candidates(x, box, deadline, result.notes):
            other = _matching(red.network, y, lumped, result.notes)
            if other is None:
                continue
            result.side, result.fold, result.shape = side, fold, red.network.shape_str()
            result.lumped_other = other is not y
            return _certified(result, red, lumped if result.lumped_other else None, box, deadline, side)
        if time.monotonic() >= deadline:
            result.notes.append("out of time")
            break
    return result


def _matching(reduced: Network, y: Network, lumped: _Lumped, notes: list[str]) -> Network | None:
    """Y itself or Y's coarsest lumping when either matches `reduced` exactly, else None (the reason noted)."""
    try:
        match_networks(reduced, y)
        return y
    except NoMatch:
        pass
    quotient = lumped.get().network
    if quotient.widths == y.widths:
        notes.append(f"the box reduction ({reduced.shape_str()}) does not match the other network ({y.shape_str()})")
        return None
    try:
        match_networks(reduced, quotient)
        return quotient
    except NoMatch as e:
        notes.append(f"the box reduction ({reduced.shape_str()}) does not match the other network's lumping "
                     f"({quotient.shape_str()}): {e}")
        return None


def _certified(result: DomainMatch, red: DomainReduction, lumped: _Lumped | None, box: Box, deadline: float,
               side: str) -> DomainMatch:
    """Discharge X ≡ R on the box and, when Y was lumped, Y ≡ Y' everywhere; proved only when every one holds."""
    other = "b" if side == "a" else "a"
    result.proofs[side] = _prove(red, box, deadline)
    ok, why = _proved(result.proofs[side])
    if ok and lumped is not None:
        result.proofs[other] = _prove(lumped.get(), None, deadline)
        ok, why = _proved(result.proofs[other])
    result.proved = ok
    if not ok:
        result.notes.append(f"the reduction matches but its proof failed: {why}")
    return result
