"""The JSON schema of strict certificates (specs/certificate.schema.json is this dict, as a file; a test keeps them
equal) and the validation the prover's reader does with it (the jsonschema library, draft 2020-12)."""

from __future__ import annotations

from typing import Any

import jsonschema

from ..checker.document import FORMAT, FORMAT_VERSION, SEMANTICS, SOLVER_CHECKS
from ..ir.relation import BOUNDS_METHODS

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


_VALIDATORS: dict[int, jsonschema.Draft202012Validator] = {}


def schema_errors(value: Any, schema: dict = SCHEMA) -> list[str]:
    """Validate a document against `schema` (default: SCHEMA) with the jsonschema library (draft 2020-12); one
    message per violation, each naming the field as $.path[index], e.g. "$.claim.mode: 'loose' is not one of …"."""
    validator = _VALIDATORS.get(id(schema))
    if validator is None or validator.schema is not schema:
        validator = _VALIDATORS[id(schema)] = jsonschema.Draft202012Validator(schema)
    out: list[str] = []
    for error in validator.iter_errors(value):
        for message in _messages(error):
            if message not in out:
                out.append(message)
    return out


def _messages(error: jsonschema.ValidationError) -> list[str]:
    """The violation in lumpcheck's words: where it is, what was expected and what was found."""
    where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    kind, expected, found = error.validator, error.validator_value, error.instance
    if kind == "required":
        return [f"{where}: missing field {k!r}" for k in expected if isinstance(found, dict) and k not in found]
    if kind == "additionalProperties":
        known = error.schema.get("properties", {})
        return [f"{where}: unknown field {k!r}" for k in found if k not in known]
    if kind == "anyOf":
        return [f"{where}: does not match any allowed form"]
    if kind == "const":
        return [f"{where}: must be {expected!r}"]
    if kind == "enum":
        return [f"{where}: {found!r} is not one of {expected}"]
    if kind == "type":
        return [f"{where}: expected {expected}, got {type(found).__name__}"]
    if kind == "pattern":
        return [f"{where}: {found!r} is not a rational 'p/q'" if expected == RATIONAL
                else f"{where}: {found!r} does not match {expected}"]
    if kind == "minimum":
        return [f"{where}: {found} is below {expected}"]
    if kind in ("minItems", "maxItems"):
        return [f"{where}: wrong number of items ({len(found)})"]
    return [f"{where}: {error.message}"]
