"""A graph certificate document as the checker reads it (specs/certificate-graph.md): strict parsing into small
frozen values of the checker's own (independent of prove/graph_records.py, which writes them).

Every exact number must be a canonical 'p/q' string, every field has its JSON type; anything else is `Malformed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .document import GRAPH_FORMAT, GRAPH_FORMAT_VERSION, Malformed, Scope, parse_rational, require_field

BOUNDS = ("interval", "symbolic")
"""How the checker recomputes the bounds that confirm claimed phases (checker/graph.py `graph_bounds`)."""
PHASES = ("inactive", "active")


@dataclass(frozen=True)
class Claim:
    """t[channel] = factor·t[rep] + offset at every position; rep None: t[channel] is the constant offset."""

    channel: int
    rep: int | None
    factor: Fraction
    offset: Fraction


@dataclass(frozen=True)
class Removal:
    kind: str
    producers: tuple[str, ...]
    channels: int
    kept: tuple[int, ...]
    reps: tuple[tuple[int, int | None], ...]
    boundaries: tuple[str, ...]


@dataclass(frozen=True)
class Round:
    claims: dict[str, tuple[Claim, ...]]
    removals: tuple[Removal, ...]
    phases: dict[str, tuple[str | None, ...]]


@dataclass(frozen=True)
class GraphDocument:
    """What the checker needs: rounds, the box (flattened exact bounds per input), how to recompute bounds, the
    files' hashes, and for an ε-claim the bound, the file's float type and the exact values it rounds."""

    rounds: tuple[Round, ...]
    box: dict[str, tuple[tuple[Fraction, ...], tuple[Fraction, ...]]] | None
    bounds: str
    hashes: dict[str, str | None]
    source: str = ""
    epsilon: Fraction | None = None
    dtype: str | None = None
    corrections: tuple[tuple[str, str, tuple[tuple[int, Fraction], ...]], ...] = ()
    unroll: bool = False

    def scope(self) -> Scope:
        """What a valid certificate establishes (single-input boxes are shown flattened)."""
        lower = upper = None
        if self.box is not None:
            lower = tuple(v for lo, _ in self.box.values() for v in lo)
            upper = tuple(v for _, hi in self.box.values() for v in hi)
        phased = any(any(p is not None for p in ph) for r in self.rounds for ph in r.phases.values())
        return Scope("strict" if self.epsilon is None else "epsilon", self.epsilon, lower, upper, self.source,
                     phased, "model")


def _int(value: Any, where: str, low: int = 0) -> int:
    if type(value) is not int or value < low:
        raise Malformed(f"certificate: {where} = {value!r} is not an integer >= {low}")
    return value


def _claim(c: Any, where: str) -> Claim:
    if not (isinstance(c, list) and len(c) == 4):
        raise Malformed(f"certificate: {where} is not [channel, rep or null, 'factor', 'offset']")
    rep = None if c[1] is None else _int(c[1], f"{where}[1]")
    claim = Claim(_int(c[0], f"{where}[0]"), rep, parse_rational(c[2], f"{where}[2]"), parse_rational(c[3], f"{where}[3]"))
    if (rep is None) != (claim.factor == 0) or rep == claim.channel:
        raise Malformed(f"certificate: {where}: a constant claim has rep null and factor 0, a relation another "
                        f"channel and a nonzero factor (got rep {rep}, factor {claim.factor})")
    return claim


def _removal(m: Any, where: str) -> Removal:
    kind = require_field(m, "kind", str, where)
    if kind not in ("merge", "dead"):
        raise Malformed(f"certificate: {where}.kind is {kind!r}, expected 'merge' or 'dead'")
    names = {k: tuple(require_field(m, k, list, where)) for k in ("producers", "boundaries")}
    if any(not isinstance(n, str) for v in names.values() for n in v):
        raise Malformed(f"certificate: {where}: producers and boundaries must be tensor names")
    channels = _int(require_field(m, "channels", int, where), f"{where}.channels", 1)
    kept = tuple(_int(k, f"{where}.kept") for k in require_field(m, "kept", list, where))
    reps = []
    for r in require_field(m, "reps", list, where):
        if not (isinstance(r, list) and len(r) == 2):
            raise Malformed(f"certificate: {where}.reps has an entry that is not [removed, rep or null]")
        reps.append((_int(r[0], f"{where}.reps"), None if r[1] is None else _int(r[1], f"{where}.reps")))
    named = list(kept) + [c for rep in reps for c in rep if c is not None]
    if len(set(kept)) != len(kept) or any(c >= channels for c in named):
        raise Malformed(f"certificate: {where}: kept and reps must name distinct channels below channels={channels} "
                        f"(kept {list(kept)}, reps {[list(r) for r in reps]})")
    return Removal(kind, names["producers"], channels, kept, tuple(reps), names["boundaries"])


def _round(r: Any, where: str) -> Round:
    claims = {t: tuple(_claim(c, f"{where}.claims[{t!r}][{j}]") for j, c in enumerate(cs))
              for t, cs in require_field(r, "claims", dict, where).items()}  # fmt: skip
    if any(not isinstance(cs, tuple) for cs in claims.values()):
        raise Malformed(f"certificate: {where}.claims must map tensors to lists")
    phases = {}
    for t, ph in require_field(r, "phases", dict, where).items():
        if not isinstance(ph, list) or any(p is not None and p not in PHASES for p in ph):
            raise Malformed(f"certificate: {where}.phases[{t!r}] must list {PHASES} or null per channel")
        phases[t] = tuple(ph)
    removals = tuple(_removal(m, f"{where}.removals[{j}]") for j, m in enumerate(require_field(r, "removals", list, where)))
    return Round(claims, removals, phases)


def _box(domain: Any) -> tuple[dict, str]:
    inputs = require_field(domain, "inputs", dict, "claim.domain")
    box = {}
    for name, lohi in inputs.items():
        where = f"claim.domain.inputs[{name!r}]"
        lo, hi = (tuple(parse_rational(v, f"{where}.{side}") for v in require_field(lohi, side, list, where))
                  for side in ("lower", "upper"))
        if len(lo) != len(hi) or any(a > b for a, b in zip(lo, hi)):
            raise Malformed(f"certificate: {where} is not a box (lengths {len(lo)}/{len(hi)} or a lower bound above its upper)")
        box[name] = (lo, hi)
    source = domain.get("source", "")
    return box, source if isinstance(source, str) else ""


def _export(export: Any) -> tuple[str, tuple]:
    dtype = require_field(export, "dtype", str, "export")
    if dtype not in ("float32", "float64"):
        raise Malformed(f"certificate: export.dtype is {dtype!r}, expected float32 or float64")
    corrections = []
    for j, c in enumerate(require_field(export, "corrections", list, "export")):
        where = f"export.corrections[{j}]"
        if not (isinstance(c, list) and len(c) == 3 and isinstance(c[0], str) and isinstance(c[1], str)
                and isinstance(c[2], list)):
            raise Malformed(f"certificate: {where} is not [node, field, [[index, 'p/q'], ...]]")
        values = []
        for e in c[2]:
            if not (isinstance(e, list) and len(e) == 2):
                raise Malformed(f"certificate: {where} has an entry that is not [index, 'p/q']")
            values.append((_int(e[0], where), parse_rational(e[1], where)))
        corrections.append((c[0], c[1], tuple(values)))
    return dtype, tuple(corrections)


def parse_graph_document(doc: Any) -> GraphDocument:
    """The checker's reading of a graph certificate document; Malformed naming the field on anything else."""
    if require_field(doc, "format", str, "$") != GRAPH_FORMAT or \
            require_field(doc, "format_version", int, "$") != GRAPH_FORMAT_VERSION:
        raise Malformed(f"certificate: not a {GRAPH_FORMAT} version {GRAPH_FORMAT_VERSION}")
    if doc.get("verdict", "proved") != "proved":
        raise Malformed("certificate: its verdict is not 'proved'")
    claim = require_field(doc, "claim", dict, "$")
    mode = require_field(claim, "mode", str, "claim")
    if mode not in ("strict", "epsilon") or (mode == "epsilon") != (claim.get("epsilon") is not None):
        raise Malformed(f"certificate: claim.mode {mode!r} with epsilon {claim.get('epsilon')!r} (strict has none, "
                        "epsilon needs one)")
    box, source = (None, "") if claim.get("domain") is None else _box(claim["domain"])
    bounds = require_field(doc, "bounds", str, "$")
    if bounds not in BOUNDS:
        raise Malformed(f"certificate: bounds {bounds!r} is not one the checker re-runs ({', '.join(BOUNDS)})")
    models = doc.get("models") or {}
    hashes = {name: (models.get(name) or {}).get("sha256") for name in ("original", "reduced")}
    rounds = tuple(_round(r, f"rounds[{i}]") for i, r in enumerate(require_field(doc, "rounds", list, "$")))
    epsilon, dtype, corrections = None, None, ()
    if mode == "epsilon":
        epsilon = parse_rational(claim["epsilon"], "claim.epsilon")
        dtype, corrections = _export(require_field(doc, "export", dict, "$"))
        if box is None:
            raise Malformed("certificate: an ε-claim needs a domain (on all inputs a rounding error is unbounded)")
    unroll = claim.get("unroll", False) is True
    return GraphDocument(rounds, box, bounds, hashes, source, epsilon, dtype, corrections, unroll)
