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

import numpy as np

from ..bounds import by_method, interval_bounds, layer_phases, stable_phases
from ..ir.domain import Box
from ..ir.network import Network, fingerprint
from ..ir.relation import DOMAIN_REASONS
from ..prove.prover import prove_networks
from ..prove.records import Certificate, ModelRecord, ObligationRecord
from ..reduction.domain import DomainReduction, reduce_on_domain, resolve_bounds_method
from ..reduction.lumping import Reduction, row_keys
from ..reduction.lumping import reduce as lump
from .match import LayerMatch, NoMatch, match_networks

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
    reduction: Certificate | None = None  # the proof X ≡ R on the box as a certificate (semantics 'layers')
    lumping: Certificate | None = None  # with lumped_other: the proof Y ≡ Y' everywhere
    lumped: Network | None = None  # with lumped_other: Y', the other network's coarsest lumping
    matching: list[LayerMatch] = field(default_factory=list)  # R ≅ Y': v_Y'[perm[j]] = scale[j]·v_R[j] per hidden layer

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


def _first_rows(net: Network, rows: np.ndarray | None = None) -> set[int]:
    """Hash keys of the first layer's nonzero incoming rows (weights | bias) under the scalings its activation
    admits (reduction.lumping.row_keys: exactly proportional rows get equal keys, so a true match is never missed)."""
    layer = net.layers[0]
    z = np.column_stack([layer.weight, layer.bias])
    if rows is not None:
        z = z[rows]
    z = z[np.any(z[:, :-1] != 0, axis=1)]
    mode = "none" if layer.activation.kind == "sigmoid" else layer.activation.merge_mode
    return set(row_keys(z.copy(), mode)[0].tolist()) if len(z) else set()


def _may_match(x: Network, box: Box, y: Network, lumped: "_Lumped") -> bool:
    """A necessary condition, cheap: the reduction of X keeps only first-layer rows (scaled) of X's neurons that
    are not stably inactive (on the first layer every bounds method gives the exact range, up to rounding), so
    Y's or Y's lumping's first-layer rows must be among them. False: no match is possible."""
    nets = (x, y, lumped.get().network)
    if len(x.layers) < 2 or any(n.layers[0].weight.dtype != np.float64 or n.layers[0].bias.dtype != np.float64
                                for n in nets):
        return True  # exact rationals (folded maps): no float key is exact, so no filter
    keep = None  # an inactive LeakyReLU is linear, not removed: only ReLU rows can be ruled out
    if x.layers[0].activation.kind == "relu":
        phase = layer_phases(x.layers[0].activation, interval_bounds(Network(x.layers[:1]), box)[0])
        keep = np.flatnonzero(phase >= 0)
    allowed = _first_rows(x, keep)
    return _first_rows(y) <= allowed or _first_rows(lumped.get().network) <= allowed


def _candidates(x: Network, box: Box, deadline: float, notes: list[str], y: Network, lumped: "_Lumped"):
    """X's domain reductions to try: folded (what reduce --domain writes) and, when it differs, unfolded (what it
    writes when a file cannot hold the folded weights exactly); bounds computed once. Only reductions with a
    domain map are useful, and none when Y's first layer cannot match."""
    if not _may_match(x, box, y, lumped):
        notes.append(f"the other network's first layer is not among this one's ({x.shape_str()}) live rows")
        return
    method, parts = resolve_bounds_method("auto", box)
    bounds = by_method(x, box, method, parts)
    if not any(np.any(p != 0) for p in stable_phases(x, bounds)):
        notes.append("no neuron is stable on the box: nothing to reduce")
        return
    seen: list[tuple[int, ...]] = []
    for fold in (True, False):
        if time.monotonic() >= deadline:
            return
        red = reduce_on_domain(x, box, fold=fold, bounds_method=method, bounds=bounds)
        if not _has_domain_maps(red):
            notes.append("no neuron is stable on the box: nothing to reduce")
            return
        if red.network.widths in seen:
            continue
        seen.append(red.network.widths)
        yield fold, red


def _prove(red: DomainReduction | Reduction, box: Box | None, deadline: float, side: str = "") -> Certificate:
    """The proof of original ≡ reduced (on `box` when the reduction has phase claims) as a certificate about the
    two in-memory chains (fingerprints, not files; semantics 'layers': plain chains, box over their inputs)."""
    timeout_ms = max(1, int((deadline - time.monotonic()) * 1000))
    claims = getattr(red, "claims", None)
    domain = box if claims else None
    records, lemmas, times = prove_networks(red.original, red.network, red.relation, domain, timeout_ms=timeout_ms,
                                            claims=claims, z3_terms=Z3_TERMS, semantics="layers")
    return Certificate(ModelRecord(side, fingerprint(red.original), red.original.shape_str()),
                       ModelRecord(f"{side} reduced on the box", fingerprint(red.network), red.network.shape_str()),
                       red.relation, lemmas, records, domain, claims, semantics="layers", times=times)


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
        for fold, red in _candidates(x, box, deadline, result.notes, y, lumped):
            found = _matching(red.network, y, lumped, result.notes)
            if found is None:
                continue
            other, result.matching = found
            result.side, result.fold, result.shape = side, fold, red.network.shape_str()
            result.lumped_other = other is not y
            return _certified(result, red, lumped if result.lumped_other else None, box, deadline, side)
        if time.monotonic() >= deadline:
            result.notes.append("out of time")
            break
    return result


def _matching(reduced: Network, y: Network, lumped: _Lumped, notes: list[str]) -> tuple[Network, list[LayerMatch]] | None:
    """(Y itself or Y's coarsest lumping, the matching) when either matches `reduced` exactly, else None (the
    reason noted)."""
    try:
        return y, match_networks(reduced, y)
    except NoMatch:
        pass
    quotient = lumped.get().network
    if quotient.widths == y.widths:
        notes.append(f"the box reduction ({reduced.shape_str()}) does not match the other network ({y.shape_str()})")
        return None
    try:
        return quotient, match_networks(reduced, quotient)
    except NoMatch as e:
        notes.append(f"the box reduction ({reduced.shape_str()}) does not match the other network's lumping "
                     f"({quotient.shape_str()}): {e}")
        return None


def _certified(result: DomainMatch, red: DomainReduction, lumped: _Lumped | None, box: Box, deadline: float,
               side: str) -> DomainMatch:
    """Discharge X ≡ R on the box and, when Y was lumped, Y ≡ Y' everywhere; proved only when every one holds."""
    other = "b" if side == "a" else "a"
    result.reduction = _prove(red, box, deadline, side)
    result.proofs[side] = result.reduction.obligations
    ok, why = _proved(result.proofs[side])
    if ok and lumped is not None:
        result.lumping, result.lumped = _prove(lumped.get(), None, deadline, other), lumped.get().network
        result.proofs[other] = result.lumping.obligations
        ok, why = _proved(result.proofs[other])
    result.proved = ok
    if not ok:
        result.notes.append(f"the reduction matches but its proof failed: {why}")
    return result
