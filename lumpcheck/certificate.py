"""Equivalence certificates: run the layer-local proof, record it as JSON, read it back with validation.

`prove` loads both model files (the claim is about the files, not about objects in memory), derives the
obligations (obligations.py), discharges each with exact algebra and, per `solver_check`, with z3 (smt.py's
scripts, run by solver/z3.py), and records which engine discharged what. `lumpcheck.check` re-verifies a certificate independently.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import __version__, smt
from .io.atomic import write_text_atomic
from .ir.domain import Box
from .errors import LumpcheckError
from .ir.exact import fraction_str
from .io import load_model
from .ir.activation import Activation
from .ir.network import Network
from .obligations import (
    ActivationLemma,
    BoundsObligation,
    ConstantObligation,
    DomainObligation,
    GhostObligation,
    InactiveObligation,
    LinearObligation,
    Obligation,
    StructureObligation,
    derive,
    exact_bounds,
    exact_constant,
    exact_domain,
    exact_ghost,
    exact_inactive,
    exact_lemma,
    exact_linear,
)
from .solver.z3 import SOLVER, Answer, solve_script, solver_version
from .ir.relation import BOUNDS_METHODS, LayerRelation, NeuronMap, PhaseClaim, PhaseClaims, Relation

FORMAT = "lumpcheck-certificate"
FORMAT_VERSION = 3
SEMANTICS = ("model", "layers")
"""claim.semantics: 'model' compares the models (normalisation and input clipping included; the domain is over the
original file's input); 'layers' the bare layer chains (both files' normalisation ignored; --normalization drop)."""
SOLVER_CHECKS = ("all", "auto", "none")
AUTO_TERM_BUDGET = 250_000
"""solver_check='auto': z3 re-checks every neuron while the queries stay under this many weight terms."""
CHUNK_TERMS = 20_000
CHUNK_NEURONS = 32
MIN_SAMPLE = 4
Sized = LinearObligation | GhostObligation | ConstantObligation
"""Obligations with one identity per neuron, re-checked by z3 neuron by neuron."""

RATIONAL = r"^-?(0|[1-9][0-9]*)(/[1-9][0-9]*)?$"
_NULLABLE_RATIONAL = {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/rational"}]}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"urn:lumpcheck:certificate:{FORMAT_VERSION}",
    "title": f"lumpcheck equivalence certificate, format version {FORMAT_VERSION}",
    "type": "object",
    "required": ["format", "format_version", "lumpcheck_version", "created", "claim", "models", "relation",
                 "activation_lemmas", "bounds", "obligations", "solver", "verdict", "times"],
    "additionalProperties": False,
    "properties": {
        "format": {"const": FORMAT},
        "format_version": {"const": FORMAT_VERSION},
        "lumpcheck_version": {"type": "string"},
        "created": {"type": "string"},
        "claim": {
            "type": "object",
            "required": ["mode", "epsilon", "domain", "semantics"],
            "additionalProperties": False,
            "properties": {
                "mode": {"enum": ["strict", "epsilon", "top1"]},
                "semantics": {"enum": list(SEMANTICS)},
                "epsilon": _NULLABLE_RATIONAL,
                "domain": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/box"}]},
            },
        },
        "models": {
            "type": "object",
            "required": ["original", "reduced"],
            "additionalProperties": False,
            "properties": {"original": {"$ref": "#/$defs/model"}, "reduced": {"$ref": "#/$defs/model"}},
        },
        "relation": {"type": "array", "items": {"$ref": "#/$defs/layer_relation"}},
        "activation_lemmas": {"type": "array", "items": {"$ref": "#/$defs/lemma"}},
        "bounds": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/phase_claims"}]},
        "epsilon_proof": {"type": "object"},  # ε-certificates only: epsilon.EPSILON_SCHEMA details it
        "obligations": {"type": "array", "items": {"$ref": "#/$defs/obligation"}},
        "solver": {
            "type": "object",
            "required": ["name", "version", "check"],
            "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "check": {"enum": list(SOLVER_CHECKS)}},
        },
        "verdict": {"enum": ["proved", "failed"]},
        "times": {
            "type": "object",
            "required": ["total_seconds", "exact_seconds", "solver_seconds"],
            "additionalProperties": False,
            "properties": {k: {"type": "number", "minimum": 0} for k in ("total_seconds", "exact_seconds", "solver_seconds")},
        },
    },
    "$defs": {
        "rational": {"type": "string", "pattern": RATIONAL},
        "phase_claims": {
            "type": "object",
            "required": ["method", "parts", "layers"],
            "additionalProperties": False,
            "properties": {
                "method": {"enum": list(BOUNDS_METHODS)},
                "parts": {"type": "integer", "minimum": 1},
                "layers": {"type": "array", "items": {"$ref": "#/$defs/layer_phases"}},
            },
        },
        "layer_phases": {
            "type": "object",
            "required": ["layer", "inactive", "active"],
            "additionalProperties": False,
            "properties": {
                "layer": {"type": "integer", "minimum": 1},
                "inactive": {"type": "array", "items": {"$ref": "#/$defs/phase_claim"}},
                "active": {"type": "array", "items": {"$ref": "#/$defs/phase_claim"}},
            },
        },
        "phase_claim": {
            "type": "array",
            "prefixItems": [{"type": "integer", "minimum": 0}, {"$ref": "#/$defs/rational"}],
            "minItems": 2,
            "maxItems": 2,
        },
        "box": {
            "type": "object",
            "required": ["lower", "upper"],
            "additionalProperties": False,
            "properties": {
                "lower": {"type": "array", "items": {"$ref": "#/$defs/rational"}},
                "upper": {"type": "array", "items": {"$ref": "#/$defs/rational"}},
                "source": {"type": "string"},
            },
        },
        "model": {
            "type": "object",
            "required": ["path", "sha256", "shape"],
            "additionalProperties": False,
            "properties": {
                "path": {"type": "string"},
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "shape": {"type": "string"},
            },
        },
        "layer_relation": {
            "type": "object",
            "required": ["layer", "reduced_width", "ghosts", "neurons"],
            "additionalProperties": False,
            "properties": {
                "layer": {"type": "integer", "minimum": 1},
                "reduced_width": {"type": "integer", "minimum": 0},
                "ghosts": {"type": "integer", "minimum": 0},
                "neurons": {"type": "array", "items": {"$ref": "#/$defs/neuron_map"}},
            },
        },
        "neuron_map": {
            "type": "object",
            "required": ["terms", "offset", "reason"],
            "additionalProperties": False,
            "properties": {
                "terms": {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "prefixItems": [{"type": "integer", "minimum": 0}, {"$ref": "#/$defs/rational"}],
                        "minItems": 2,
                        "maxItems": 2,
                    },
                },
                "offset": {"$ref": "#/$defs/rational"},
                "reason": {"enum": ["kept", "duplicate", "proportional", "negated", "constant", "dead", "inactive", "linear"]},
            },
        },
        "lemma": {
            "type": "object",
            "required": ["id", "activation", "alpha", "factor", "offset", "statement", "basis", "axiom"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string"},
                "activation": {"enum": ["identity", "relu", "leaky_relu", "sigmoid", "tanh"]},
                "alpha": {"$ref": "#/$defs/rational"},
                "factor": {"$ref": "#/$defs/rational"},
                "offset": {"$ref": "#/$defs/rational"},
                "statement": {"type": "string"},
                "basis": {"enum": ["trivial", "theorem", "axiom", "invalid"]},
                "axiom": {"anyOf": [{"type": "null"}, {"enum": ["tanh_odd", "sigmoid_reflection"]}]},
            },
        },
        "engine_run": {
            "type": "object",
            "required": ["engine", "result", "seconds"],
            "additionalProperties": False,
            "properties": {
                "engine": {"enum": ["exact", "z3", "axiom", "bounds"]},
                "result": {"enum": ["proved", "failed", "admitted", "unsat", "sat", "unknown", "timeout", "skipped"]},
                "seconds": {"type": "number", "minimum": 0},
                "neurons_checked": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "smtlib": {"type": "array", "items": {"type": "string"}},
                "detail": {"type": "string"},
            },
        },
        "obligation": {
            "type": "object",
            "required": ["id", "kind", "layer", "neurons", "statement", "status", "engines"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string"},
                "kind": {"enum": ["structure", "linear", "ghost", "constant", "bounds", "inactive", "domain", "activation"]},
                "layer": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 1}]},
                "neurons": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "statement": {"type": "string"},
                "status": {"enum": ["proved", "failed", "unsupported"]},
                "engines": {"type": "array", "items": {"$ref": "#/$defs/engine_run"}},
                "detail": {"type": "string"},
            },
        },
    },
}


def schema_errors(value: Any, schema: dict = SCHEMA, where: str = "$") -> list[str]:
    """Validate against SCHEMA (the subset of JSON Schema it uses); one message per violation found."""
    if "$ref" in schema:
        return schema_errors(value, SCHEMA["$defs"][schema["$ref"].split("/")[-1]], where)
    if "anyOf" in schema:
        if any(not schema_errors(value, s, where) for s in schema["anyOf"]):
            return []
        return [f"{where}: does not match any allowed form"]
    if "const" in schema and value != schema["const"]:
        return [f"{where}: must be {schema['const']!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} is not one of {schema['enum']}"]
    kind = schema.get("type")
    if kind is not None and not _is_type(value, kind):
        return [f"{where}: expected {kind}, got {type(value).__name__}"]
    errors: list[str] = []
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{where}: {value!r} is not a rational 'p/q'" if schema is SCHEMA["$defs"]["rational"]
                      else f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < schema.get("minimum", value):
        errors.append(f"{where}: {value} is below {schema['minimum']}")
    if isinstance(value, dict):
        errors += [f"{where}: missing field {k!r}" for k in schema.get("required", []) if k not in value]
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            errors += [f"{where}: unknown field {k!r}" for k in value if k not in props]
        for k, sub in props.items():
            if k in value:
                errors += schema_errors(value[k], sub, f"{where}.{k}")
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            errors.append(f"{where}: wrong number of items ({len(value)})")
        prefix = schema.get("prefixItems", [])
        for i, item in enumerate(value):
            sub = prefix[i] if i < len(prefix) else schema.get("items")
            if sub is not None:
                errors += schema_errors(item, sub, f"{where}[{i}]")
    return errors


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {"object": dict, "array": list, "string": str, "null": type(None)}[kind])


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
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------- proving


@dataclass
class _Prover:
    """Discharges obligations: exact algebra always, z3 per policy, optional SMT-LIB files."""

    solver_check: str
    term_share: int | None
    smtlib_dir: Path | None
    timeout_ms: int

    def record(self, ob: Obligation) -> ObligationRecord:
        if isinstance(ob, StructureObligation):
            status = "failed" if ob.problems else "proved"
            run = EngineRun("exact", status, 0.0, detail="; ".join(ob.problems))
            return self._record(ob, [run], status, "; ".join(ob.problems))
        if isinstance(ob, ActivationLemma):
            return self._lemma(ob)
        decide = {LinearObligation: exact_linear, ConstantObligation: exact_constant, GhostObligation: exact_ghost,
                  BoundsObligation: exact_bounds, InactiveObligation: exact_inactive, DomainObligation: exact_domain}
        start = time.perf_counter()
        mismatch = decide[type(ob)](ob)
        engine = "bounds" if isinstance(ob, BoundsObligation) else "exact"
        runs = [EngineRun(engine, "failed" if mismatch else "proved", time.perf_counter() - start,
                          detail=str(mismatch or ""))]
        if isinstance(ob, (BoundsObligation, InactiveObligation, DomainObligation)):  # decided here alone
            return self._record(ob, runs, runs[0].result, str(mismatch or ""))
        runs.append(self._z3(ob))
        return self._record(ob, runs, *_combine(runs))

    def _lemma(self, lemma: ActivationLemma) -> ObligationRecord:
        start = time.perf_counter()
        why = exact_lemma(lemma)
        basis = lemma_basis(lemma)
        if basis == "axiom":
            return self._record(lemma, [EngineRun("axiom", "admitted", 0.0, detail=lemma.axiom or "")], "proved")
        runs = [EngineRun("exact", "failed" if why else "proved", time.perf_counter() - start, detail=why or "")]
        if basis == "theorem":
            script = smt.lemma_script(lemma)
            files = self._write(lemma.id, [script])
            if self.solver_check == "none":
                runs.append(EngineRun("z3", "skipped", 0.0, smtlib=files))
            else:
                res = solve_script(script, self.timeout_ms)
                runs.append(EngineRun("z3", res.status, res.seconds, smtlib=files, detail=_model_text(res)))
        return self._record(lemma, runs, *_combine(runs))

    def _z3(self, ob: Sized) -> EngineRun:
        items = _items(ob)
        neuron = (lambda c: c[0]) if isinstance(ob, ConstantObligation) else (lambda t: t.neuron)
        script = {LinearObligation: smt.linear_script, GhostObligation: smt.ghost_script,
                  ConstantObligation: smt.constant_script}[type(ob)]
        costs = [_cost(ob, it) for it in items]
        files = self._write(ob.id, [script(ob, part) for part in _chunks(items, costs)]) if self.smtlib_dir else []
        chosen = self._choose(costs)
        status, seconds, detail = ("unsat" if chosen else "skipped"), 0.0, ""
        for part in _chunks([items[i] for i in chosen], [costs[i] for i in chosen]):
            res = solve_script(script(ob, part), self.timeout_ms)
            seconds += res.seconds
            if res.status != "unsat":
                status, detail = res.status, f"neurons {[neuron(it) for it in part]}: {_model_text(res)}"
                break
        return EngineRun("z3", status, seconds, [neuron(items[i]) for i in chosen], files, detail)

    def _choose(self, costs: list[int]) -> list[int]:
        """Indices z3 re-checks: all, none, or an evenly spaced sample within the term share."""
        n = len(costs)
        if self.solver_check == "none" or n == 0:
            return []
        if self.term_share is None or sum(costs) <= self.term_share:
            return list(range(n))
        count = max(MIN_SAMPLE, self.term_share * n // sum(costs))
        return sorted(set(np.linspace(0, n - 1, num=min(n, count)).round().astype(int).tolist()))

    def _write(self, ob_id: str, scripts: list[str]) -> list[str]:
        if self.smtlib_dir is None:
            return []
        stem = re.sub(r"[^A-Za-z0-9._=-]", "_", ob_id)
        names = [f"{stem}.smt2"] if len(scripts) == 1 else [f"{stem}.{i:03d}.smt2" for i in range(len(scripts))]
        for name, text in zip(names, scripts):
            write_text_atomic(self.smtlib_dir / name, text)
        return names

    @staticmethod
    def _record(ob: Obligation, runs: list[EngineRun], status: str, detail: str = "") -> ObligationRecord:
        return ObligationRecord(ob.id, ob.kind, ob.layer, list(ob.neurons), ob.statement(), status, runs, detail)


def _combine(runs: list[EngineRun]) -> tuple[str, str]:
    """Exact algebra decides; a z3 'sat' after an exact proof means the engines disagree (a bug): failed."""
    exact, others = runs[0], runs[1:]
    if exact.result != "proved":
        return "failed", exact.detail
    refuted = [r for r in others if r.result == "sat"]
    if refuted:
        return "failed", f"engines disagree: exact algebra proved it, z3 found {refuted[0].detail}"
    return "proved", ""


def _model_text(res: Answer) -> str:
    return ", ".join(f"{k}={v}" for k, v in res.model.items()) if res.status == "sat" else ""


def _items(ob: Sized) -> list:
    """The per-neuron claims of an obligation: targets, ghost members, or (neuron, value) constants."""
    if isinstance(ob, LinearObligation):
        return ob.targets
    return ob.members if isinstance(ob, GhostObligation) else ob.constants


def _cost(ob: Sized, item: Any) -> int:
    """Query size of one neuron: its non-zero original weights, plus those of the reduced neuron (linear target)
    or of the representative (ghost member) it is compared with."""
    if isinstance(ob, LinearObligation):
        return int(np.count_nonzero(ob.pre.weight[item.neuron])) + int(np.count_nonzero(ob.reduced_weight[item.cls])) + 2
    if isinstance(ob, GhostObligation):
        return int(np.count_nonzero(ob.pre.weight[item.neuron])) + int(np.count_nonzero(ob.pre.weight[item.rep])) + 2
    return int(np.count_nonzero(ob.pre.weight[item[0]])) + 1


def _chunks(items: Sequence, costs: Sequence[int]) -> list[list]:
    """Consecutive groups of at most CHUNK_NEURONS items and (unless single) CHUNK_TERMS terms."""
    out: list[list] = []
    size = 0
    for item, cost in zip(items, costs):
        if not out or len(out[-1]) >= CHUNK_NEURONS or size + cost > CHUNK_TERMS:
            out.append([])
            size = 0
        out[-1].append(item)
        size += cost
    return out


def prove_networks(
    original: Network,
    reduced: Network,
    relation: Relation,
    domain: Box | None = None,
    smtlib_dir: str | Path | None = None,
    solver_check: str = "auto",
    timeout_ms: int = 60_000,
    claims: PhaseClaims | None = None,
    semantics: str = "model",
) -> tuple[list[ObligationRecord], list[ActivationLemma], dict[str, float]]:
    """Derive and discharge every obligation for two in-memory networks; (records, lemmas, times). Domain maps
    (inactive/linear) are proved on `domain` from the phase `claims` (bounds re-computed on `original`);
    `semantics` as in obligations.derive."""
    if solver_check not in SOLVER_CHECKS:
        raise LumpcheckError(f"solver check must be one of {', '.join(SOLVER_CHECKS)}, not {solver_check!r}")
    start = time.perf_counter()
    if semantics not in SEMANTICS:
        raise LumpcheckError(f"semantics must be one of {', '.join(SEMANTICS)}, not {semantics!r}")
    obligations = derive(original, reduced, relation, domain, claims, semantics)
    sized = [ob for ob in obligations if isinstance(ob, (LinearObligation, GhostObligation, ConstantObligation))]
    total = sum(_cost(ob, it) for ob in sized for it in _items(ob))
    share = AUTO_TERM_BUDGET // max(1, len(sized)) if solver_check == "auto" and total > AUTO_TERM_BUDGET else None
    prover = _Prover(solver_check, share, Path(smtlib_dir) if smtlib_dir else None, timeout_ms)
    records = [prover.record(ob) for ob in obligations]
    runs = [r for rec in records for r in rec.engines]
    times = {
        "total_seconds": time.perf_counter() - start,
        "exact_seconds": sum(r.seconds for r in runs if r.engine in ("exact", "bounds")),
        "solver_seconds": sum(r.seconds for r in runs if r.engine == "z3"),
    }
    return records, [ob for ob in obligations if isinstance(ob, ActivationLemma)], times


def prove(
    original_path: str | Path,
    reduced_path: str | Path,
    reduction_or_relation: Any,
    domain: Box | None = None,
    smtlib_dir: str | Path | None = None,
    solver_check: str = "auto",
    timeout_ms: int = 60_000,
    claims: PhaseClaims | None = None,
    semantics: str = "model",
) -> Certificate:
    """Prove that the reduced model file computes the same function as the original file (strict mode), on
    all of R^n or, for a domain reduction, on its box only (`semantics` as in obligations.derive: 'model'
    includes normalisation and clipping, the box over the original's input).

    `reduction_or_relation` is a lumping.Reduction (its relation, domain and, for a domain reduction, phase
    claims are used) or a Relation. The certificate is returned even when the proof fails (verdict 'failed',
    failing obligations with details).
    """
    relation = getattr(reduction_or_relation, "relation", reduction_or_relation)
    if not isinstance(relation, Relation):
        raise LumpcheckError(f"expected a Reduction or Relation, got {type(reduction_or_relation).__name__}")
    domain = domain if domain is not None else getattr(reduction_or_relation, "domain", None)
    claims = claims if claims is not None else getattr(reduction_or_relation, "claims", None)
    original, reduced = load_model(original_path), load_model(reduced_path)
    records, lemmas, times = prove_networks(original, reduced, relation, domain, smtlib_dir, solver_check, timeout_ms,
                                            claims, semantics)
    return Certificate(
        ModelRecord(str(original_path), sha256_file(original_path), original.shape_str()),
        ModelRecord(str(reduced_path), sha256_file(reduced_path), reduced.shape_str()),
        relation, lemmas, records, domain, claims, semantics=semantics, solver_check=solver_check, times=times,
    )


# ---------------------------------------------------------------- JSON


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
    out: dict[str, Any] = {"lower": [fraction_str(v) for v in box.lower], "upper": [fraction_str(v) for v in box.upper]}
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
    write_text_atomic(path, _dump(certificate_to_dict(cert)) + "\n")


def _dump(value: Any, indent: str = "") -> str:
    """Readable JSON: short values and lists of scalars on one line, longer containers expanded."""
    flat = json.dumps(value)
    scalars = isinstance(value, list) and all(not isinstance(v, (list, dict)) for v in value)
    if not isinstance(value, (list, dict)) or scalars or len(flat) <= 100:
        return flat
    inner = indent + " "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {_dump(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    return "[\n" + ",\n".join(inner + _dump(v, inner) for v in value) + "\n" + indent + "]"


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
