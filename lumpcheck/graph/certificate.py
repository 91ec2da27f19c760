"""Channel-reduction certificates for graphs: what is claimed, as plain data (JSON), for `graph.check`.

A certificate is a list of rounds; round i turns graph G_i into G_{i+1} (G_0 the original, the last the reduced
graph). A round states
  claims    per tensor of G_i, exact pairwise facts  t[channel] = factor·t[rep] + offset  (rep None: t[channel]
            is the constant `offset` at every position); channels without a claim are unconstrained;
  removals  per (joined) channel space: its producer nodes, the channels kept, each removed channel's
            representative (None: folded as a constant) and the consumer nodes ("boundaries") that absorb it;
            kind "dead" removals claim the channel is read by no remaining consumer row.
The checker re-derives every claim from the claims on the op's inputs (per-node obligations), re-checks each
removal and rebuilds G_{i+1} itself; nothing here is trusted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Mapping

FORMAT = "lumpcheck-graph-channels/1"


def _q(x: Fraction) -> str:
    x = Fraction(x)
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


@dataclass(frozen=True)
class Claim:
    channel: int
    rep: int | None
    factor: Fraction
    offset: Fraction

    def __post_init__(self) -> None:
        if self.rep is None and self.factor != 0:
            raise ValueError(f"constant claim on channel {self.channel} must have factor 0, got {self.factor}")
        if self.rep is not None and (self.factor == 0 or self.rep == self.channel):
            raise ValueError(f"claim on channel {self.channel}: rep {self.rep} needs a nonzero factor and another channel")


@dataclass(frozen=True)
class Removal:
    kind: str  # "merge" | "dead"
    producers: tuple[str, ...]
    channels: int
    kept: tuple[int, ...]
    reps: tuple[tuple[int, int | None], ...]  # (removed channel, kept representative or None) — merges only
    boundaries: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.kind not in ("merge", "dead"):
            raise ValueError(f"removal kind must be 'merge' or 'dead', got {self.kind!r}")
        removed = sorted(set(range(self.channels)) - set(self.kept))
        if not self.kept or sorted(set(self.kept)) != list(self.kept) or self.kept[-1] >= self.channels:
            raise ValueError(f"kept {list(self.kept)} must be sorted distinct channels < {self.channels}")
        if self.kind == "merge" and sorted(m for m, _ in self.reps) != removed:
            raise ValueError(f"merge must give a representative for exactly the removed channels {removed}")


PHASES = ("inactive", "active")


@dataclass(frozen=True)
class Round:
    claims: Mapping[str, tuple[Claim, ...]]
    removals: tuple[Removal, ...]
    phases: Mapping[str, tuple] = field(default_factory=dict)  # activation output -> per channel phase or None

    def __post_init__(self) -> None:
        for name, ph in self.phases.items():
            if any(p is not None and p not in PHASES for p in ph):
                raise ValueError(f"phases of {name!r} must be {PHASES} or None, got {list(ph)}")


@dataclass(frozen=True)
class GraphCertificate:
    """`box`: {input: (lower, upper)} flattened exact bounds when phases are claimed (valid only on the box)."""

    rounds: tuple[Round, ...]
    box: Mapping[str, tuple[tuple[Fraction, ...], tuple[Fraction, ...]]] | None = None
    bounds: str = "interval"  # how the checker recomputes the bounds that confirm the phases

    def to_json(self) -> str:
        def claim(c: Claim) -> list:
            return [c.channel, c.rep, _q(c.factor), _q(c.offset)]

        rounds = [
            {"claims": {t: [claim(c) for c in cs] for t, cs in r.claims.items()},
             "phases": {t: list(ph) for t, ph in r.phases.items()},
             "removals": [{"kind": m.kind, "producers": list(m.producers), "channels": m.channels, "kept": list(m.kept),
                           "reps": [list(p) for p in m.reps], "boundaries": list(m.boundaries)} for m in r.removals]}
            for r in self.rounds
        ]  # fmt: skip
        box = None if self.box is None else {k: [[_q(v) for v in lo], [_q(v) for v in hi]] for k, (lo, hi) in self.box.items()}
        return json.dumps({"format": FORMAT, "box": box, "bounds": self.bounds, "rounds": rounds}, indent=1)

    @staticmethod
    def from_json(text: str) -> "GraphCertificate":
        """Parse (and shape-check) a certificate; ValueError naming the field on anything malformed."""
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} certificate (format field: {doc.get('format') if isinstance(doc, dict) else doc!r})")
        rounds = []
        for i, r in enumerate(doc["rounds"]):
            claims = {t: tuple(Claim(int(c), None if p is None else int(p), Fraction(f), Fraction(o)) for c, p, f, o in cs)
                      for t, cs in r["claims"].items()}  # fmt: skip
            removals = tuple(
                Removal(m["kind"], tuple(m["producers"]), int(m["channels"]), tuple(int(k) for k in m["kept"]),
                        tuple((int(a), None if b is None else int(b)) for a, b in m["reps"]), tuple(m["boundaries"]))
                for m in r["removals"]
            )  # fmt: skip
            phases = {t: tuple(ph) for t, ph in r.get("phases", {}).items()}
            rounds.append(Round(claims, removals, phases))
        box = doc.get("box")
        if box is not None:
            box = {k: (tuple(Fraction(v) for v in lo), tuple(Fraction(v) for v in hi)) for k, (lo, hi) in box.items()}
        return GraphCertificate(tuple(rounds), box, str(doc.get("bounds", "interval")))
