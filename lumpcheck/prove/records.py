"""The certificate as records (what was proved, by which engine, about which files) and as JSON.

`certificate_to_dict` writes the document specs/certificate.md describes; `certificate_from_dict` reads one back
after validating it against SCHEMA (schema.py). Every exact number is a 'p/q' string.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

from .. import __version__
from ..checker.document import FORMAT, FORMAT_VERSION
from ..errors import LumpcheckError
from ..io.atomic import write_text_atomic
from ..ir.activation import Activation
from ..ir.domain import Box
from ..ir.exact import fraction_str
from ..ir.relation import LayerRelation, NeuronMap, PhaseClaim, PhaseClaims, Relation
from ..solver.z3 import SOLVER, solver_version
from .obligations import ActivationLemma
from .schema import schema_errors


@dataclass
class EngineRun:
    """One engine's discharge of one obligation: exact algebra, z3, or an admitted axiom."""

    engine: str
    result: str
    seconds: float
    neurons_checked: list[int] | None = None
    smtlib: list[str] = field(default_factory=list)
    detail: str = ""


@dataclass
class ObligationRecord:
    """An obligation as recorded in the certificate, with its overall status and every engine run."""

    id: str
    kind: str
    layer: int | None
    neurons: list[int]
    statement: str
    status: str
    engines: list[EngineRun]
    detail: str = ""


@dataclass
class ModelRecord:
    path: str
    sha256: str
    shape: str


@dataclass
class Certificate:
    """Everything a checker needs: the two files (by hash), the claim, the relation, and the proof record."""

    original: ModelRecord
    reduced: ModelRecord
    relation: Relation
    lemmas: list[ActivationLemma]
    obligations: list[ObligationRecord]
    domain: Box | None = None
    claims: PhaseClaims | None = None  # what domain maps rest on (None: no domain maps)
    mode: str = "strict"
    epsilon: Fraction | None = None
    semantics: str = "model"
    solver_check: str = "auto"
    solver_name: str = SOLVER
    solver_version: str = field(default_factory=solver_version)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    lumpcheck_version: str = __version__
    times: dict[str, float] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "proved" if all(o.status == "proved" for o in self.obligations) else "failed"

    @property
    def failures(self) -> list[ObligationRecord]:
        return [o for o in self.obligations if o.status != "proved"]


def lemma_basis(lemma: ActivationLemma) -> str:
    """How a lemma is justified: trivial (c=1, o=0), axiom (tanh/sigmoid whitelist), theorem, or invalid."""
    if lemma.trivial:
        return "trivial"
    if lemma.axiom:
        return "axiom"
    return "theorem" if lemma.activation.piecewise_linear else "invalid"


def sha256_file(path: str | Path) -> str:
    with open(path, "rb") as f:  # streamed: a model is not held in memory to be hashed
        return hashlib.file_digest(f, "sha256").hexdigest()


def certificate_to_dict(cert: Certificate) -> dict[str, Any]:
    """The JSON document (see specs/certificate.md); every exact number is a 'p/q' string."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "lumpcheck_version": cert.lumpcheck_version,
        "created": cert.created,
        "claim": {
            "mode": cert.mode,
            "epsilon": None if cert.epsilon is None else fraction_str(cert.epsilon),
            "domain": None if cert.domain is None else _box_dict(cert.domain),
            "semantics": cert.semantics,
        },
        "models": {"original": vars(cert.original).copy(), "reduced": vars(cert.reduced).copy()},
        "relation": [
            {"layer": ell, "reduced_width": lr.reduced_width, "ghosts": lr.ghosts,
             "neurons": [{"terms": [[j, fraction_str(c)] for j, c in m.terms], "offset": fraction_str(m.offset),
                          "reason": m.reason} for m in lr.maps]}
            for ell, lr in enumerate(cert.relation.layers, start=1)
        ],
        "activation_lemmas": [
            {"id": lm.id, "activation": lm.activation.kind, "alpha": fraction_str(lm.activation.alpha),
             "factor": fraction_str(lm.factor), "offset": fraction_str(lm.offset), "statement": lm.statement(),
             "basis": lemma_basis(lm), "axiom": lm.axiom}
            for lm in cert.lemmas
        ],
        "bounds": None if cert.claims is None else _claims_dict(cert.claims),
        "obligations": [_obligation_dict(o) for o in cert.obligations],
        "solver": {"name": cert.solver_name, "version": cert.solver_version, "check": cert.solver_check},
        "verdict": cert.verdict,
        "times": {k: round(cert.times.get(k, 0.0), 6) for k in ("total_seconds", "exact_seconds", "solver_seconds")},
    }


def _claims_dict(claims: PhaseClaims) -> dict[str, Any]:
    return {
        "method": claims.method,
        "parts": claims.parts,
        "layers": [
            {"layer": ell,
             "inactive": [[c.neuron, fraction_str(c.bound)] for c in layer if c.phase < 0],
             "active": [[c.neuron, fraction_str(c.bound)] for c in layer if c.phase > 0]}
            for ell, layer in enumerate(claims.layers, start=1)
        ],
    }


def _claims_from_dict(data: dict[str, Any]) -> PhaseClaims:
    layers = [[PhaseClaim(r, phase, Fraction(v)) for key, phase in (("inactive", -1), ("active", 1)) for r, v in lay[key]]
              for lay in data["layers"]]
    return PhaseClaims(data["method"], data["parts"], [sorted(lay, key=lambda c: c.neuron) for lay in layers])


def _box_dict(box: Box) -> dict[str, Any]:
    out: dict[str, Any] = box.as_strings()
    if box.source:
        out["source"] = box.source
    return out


def _obligation_dict(o: ObligationRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"id": o.id, "kind": o.kind, "layer": o.layer, "neurons": o.neurons,
                           "statement": o.statement, "status": o.status, "engines": []}
    for r in o.engines:
        run: dict[str, Any] = {"engine": r.engine, "result": r.result, "seconds": round(r.seconds, 6)}
        if r.neurons_checked is not None:
            run["neurons_checked"] = r.neurons_checked
        if r.smtlib:
            run["smtlib"] = r.smtlib
        if r.detail:
            run["detail"] = r.detail
        out["engines"].append(run)
    if o.detail:
        out["detail"] = o.detail
    return out


def certificate_from_dict(data: Any, path: str = "") -> Certificate:
    """Parse a validated JSON document back into a Certificate; LumpcheckError on any schema violation."""
    errors = schema_errors(data)
    if errors:
        raise LumpcheckError(f"not a valid certificate: {errors[0]}" + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""), path)
    claim = data["claim"]
    try:
        domain = None if claim["domain"] is None else Box(
            tuple(Fraction(v) for v in claim["domain"]["lower"]), tuple(Fraction(v) for v in claim["domain"]["upper"]),
            claim["domain"].get("source", ""))
        relation = Relation([
            LayerRelation([NeuronMap(tuple((j, Fraction(c)) for j, c in m["terms"]), Fraction(m["offset"]), m["reason"])
                           for m in lr["neurons"]], lr["reduced_width"], lr["ghosts"])
            for lr in data["relation"]
        ])
        lemmas = [ActivationLemma(Activation(lm["activation"], Fraction(lm["alpha"])), Fraction(lm["factor"]),
                                  Fraction(lm["offset"])) for lm in data["activation_lemmas"]]
        claims = None if data["bounds"] is None else _claims_from_dict(data["bounds"])
    except (ValueError, ZeroDivisionError) as e:
        raise LumpcheckError(f"not a valid certificate: {e}", path) from None
    obligations = [
        ObligationRecord(o["id"], o["kind"], o["layer"], o["neurons"], o["statement"], o["status"],
                         [EngineRun(r["engine"], r["result"], r["seconds"], r.get("neurons_checked"),
                                    r.get("smtlib", []), r.get("detail", "")) for r in o["engines"]], o.get("detail", ""))
        for o in data["obligations"]
    ]
    solver = data["solver"]
    return Certificate(
        ModelRecord(**data["models"]["original"]), ModelRecord(**data["models"]["reduced"]), relation, lemmas,
        obligations, domain, claims, claim["mode"], None if claim["epsilon"] is None else Fraction(claim["epsilon"]),
        claim["semantics"],
        solver["check"], solver["name"], solver["version"], data["created"], data["lumpcheck_version"], dict(data["times"]),
    )


def write_certificate(cert: Certificate, path: str | Path) -> None:
    """Write the certificate as JSON (one relation entry or engine run per line), atomically."""
    write_text_atomic(path, dump_json(certificate_to_dict(cert)) + "\n")


def dump_json(value: Any, indent: str = "") -> str:
    """Readable JSON: short values and lists of scalars on one line, longer containers expanded."""
    flat = json.dumps(value)
    scalars = isinstance(value, list) and all(not isinstance(v, (list, dict)) for v in value)
    if not isinstance(value, (list, dict)) or scalars or len(flat) <= 100:
        return flat
    inner = indent + " "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {dump_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    return "[\n" + ",\n".join(inner + dump_json(v, inner) for v in value) + "\n" + indent + "]"


def read_certificate(path: str | Path) -> Certificate:
    """Read and validate a certificate file; LumpcheckError (one line, naming the field) when malformed."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LumpcheckError("no such file", str(p)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LumpcheckError(f"not JSON: {e}", str(p)) from None
    return certificate_from_dict(data, str(p))
