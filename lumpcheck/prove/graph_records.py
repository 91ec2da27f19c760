"""Graph channel-reduction certificates as records and as JSON (specs/certificate-graph.md), for `checker.graph`.

A certificate is a list of rounds; round i turns graph G_i into G_{i+1} (G_0 the original, the last the reduced
graph). A round states
  claims    per tensor of G_i, exact pairwise facts  t[channel] = factor·t[rep] + offset  (rep None: t[channel]
            is the constant `offset` at every position); channels without a claim are unconstrained;
  removals  per (joined) channel space: its producer nodes, the channels kept, each removed channel's
            representative (None: folded as a constant) and the consumer nodes ("boundaries") that absorb it;
            kind "dead" removals claim the channel is read by no remaining consumer row;
  phases    per ReLU/LeakyReLU output, the phase of each channel stable on the certificate's box.
The document adds the two files (by SHA-256), the claim (strict, or ε for a rounded export, everywhere or on a
box), how the checker recomputes bounds, and for an ε-claim the exact values the written file rounds
(`corrections`). The checker re-derives everything; nothing here is trusted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping

from .. import __version__
from ..checker.document import GRAPH_FORMAT, GRAPH_FORMAT_VERSION
from ..io.atomic import write_text_atomic
from ..ir.exact import fraction_str
from .records import ModelRecord, dump_json

PHASES = ("inactive", "active")


@dataclass(frozen=True)
class Claim:
    """t[channel] = factor·t[rep] + offset at every position (rep None: the constant offset)."""

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
    """One channel space reduced in a round (see the module docstring)."""

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


@dataclass(frozen=True)
class Round:
    claims: Mapping[str, tuple[Claim, ...]]
    removals: tuple[Removal, ...]
    phases: Mapping[str, tuple] = field(default_factory=dict)  # activation output -> per channel phase or None

    def __post_init__(self) -> None:
        for name, ph in self.phases.items():
            if any(p is not None and p not in PHASES for p in ph):
                raise ValueError(f"phases of {name!r} must be {PHASES} or None, got {list(ph)}")


Box = Mapping[str, tuple[tuple[Fraction, ...], tuple[Fraction, ...]]]
"""{graph input: (flattened exact lower bounds, upper bounds)}."""


@dataclass(frozen=True)
class Correction:
    """An exact parameter the written file rounds: node `node`'s field `field`, flat index -> exact value."""

    node: str
    field: str
    values: tuple[tuple[int, Fraction], ...]


@dataclass(frozen=True)
class GraphCertificate:
    """The rounds (what was reduced), and optionally the files and the claim they make (for `lumpcheck check`).

    `box`: the input box the phases (and an ε-claim) hold on; `bounds`: how the checker recomputes the bounds
    that confirm the phases; `epsilon`/`corrections`/`dtype`: the written file rounds the exact reduced graph
    (see checker/graph_epsilon.py); `unroll`: the original is compared after its exact dense unrolling."""

    rounds: tuple[Round, ...]
    box: Box | None = None
    bounds: str = "interval"
    original: ModelRecord | None = None
    reduced: ModelRecord | None = None
    source: str = ""  # where the box came from (a VNN-LIB file)
    epsilon: Fraction | None = None
    dtype: str | None = None
    corrections: tuple[Correction, ...] = ()
    unroll: bool = False
    stats: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def mode(self) -> str:
        return "strict" if self.epsilon is None else "epsilon"

    @property
    def phased(self) -> bool:
        """The reduction rests on phases stable on the box: equality holds there only."""
        return any(any(p is not None for p in ph) for r in self.rounds for ph in r.phases.values())

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (every exact number a 'p/q' string)."""
        domain = None if self.box is None else {
            "inputs": {k: {"lower": [fraction_str(v) for v in lo], "upper": [fraction_str(v) for v in hi]}
                       for k, (lo, hi) in self.box.items()}, "source": self.source}  # fmt: skip
        models = {name: None if rec is None else vars(rec).copy() for name, rec in (("original", self.original),
                                                                                   ("reduced", self.reduced))}
        export = None if self.epsilon is None else {
            "dtype": self.dtype, "corrections": [[c.node, c.field, [[i, fraction_str(v)] for i, v in c.values]]
                                                 for c in self.corrections]}  # fmt: skip
        return {
            "format": GRAPH_FORMAT, "format_version": GRAPH_FORMAT_VERSION, "lumpcheck_version": __version__,
            "created": self.created,
            "claim": {"mode": self.mode, "epsilon": None if self.epsilon is None else fraction_str(self.epsilon),
                      "domain": domain, "only_on_domain": self.phased, "unroll": self.unroll},
            "models": models, "bounds": self.bounds, "rounds": [_round_dict(r) for r in self.rounds],
            "export": export, "stats": dict(self.stats), "verdict": "proved", "seconds": round(self.seconds, 6),
        }  # fmt: skip

    def to_json(self) -> str:
        return dump_json(self.to_dict())


def _round_dict(r: Round) -> dict[str, Any]:
    def claim(c: Claim) -> list:
        return [c.channel, c.rep, fraction_str(c.factor), fraction_str(c.offset)]

    return {"claims": {t: [claim(c) for c in cs] for t, cs in r.claims.items()},
            "phases": {t: list(ph) for t, ph in r.phases.items()},
            "removals": [{"kind": m.kind, "producers": list(m.producers), "channels": m.channels, "kept": list(m.kept),
                          "reps": [list(p) for p in m.reps], "boundaries": list(m.boundaries)} for m in r.removals]}


def write_graph_certificate(cert: GraphCertificate, path: str | Path) -> None:
    """Write the certificate as JSON, atomically."""
    write_text_atomic(path, cert.to_json() + "\n")


def load_document(path: str | Path) -> dict[str, Any]:
    """A certificate file's JSON document (for reports); ValueError when it is not JSON."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
