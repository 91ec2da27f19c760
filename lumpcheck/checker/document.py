"""The certificate document as the checker reads it: format constants, strict parsing into small frozen values,
and the scope a valid certificate establishes.

Parsing is the checker's own (it does not use the prover's schema or records): every field is looked up with its
expected JSON type, every number must be a canonical 'p/q' string, and anything else is `Malformed`.
Untrusted code may import the constants here (FORMAT, FORMAT_VERSION, GRAPH_FORMAT, GRAPH_FORMAT_VERSION, DIFF_FORMAT,
DIFF_FORMAT_VERSION, DOMAIN_FORMAT, DOMAIN_FORMAT_VERSION, BOUND_FORMAT, BOUND_FORMAT_VERSION, UNION_FORMAT,
UNION_FORMAT_VERSION, SEMANTICS, AXIOMS); nothing here imports untrusted code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..ir.domain import Box
from ..ir.exact import fraction_str
from ..ir.relation import BOUNDS_METHODS, REASONS, NeuronMap

FORMAT, FORMAT_VERSION = "lumpcheck-certificate", 3
GRAPH_FORMAT, GRAPH_FORMAT_VERSION = "lumpcheck-graph-certificate", 1
"""Graph (channel-reduction) certificates: specs/certificate-graph.md, checked by graph.py."""
DIFF_FORMAT, DIFF_FORMAT_VERSION = "lumpcheck-diff-certificate", 1
"""Differential certificates (unsat verdicts of `verify`; specs/diff-certificate.md, checker/difference.py)."""
DOMAIN_FORMAT, DOMAIN_FORMAT_VERSION = "lumpcheck-domain-match-certificate", 1
"""Domain-match certificates (unsat verdicts of `verify`'s domain-match engine; specs/domain-certificate.md,
checker/domain_match.py)."""
BOUND_FORMAT, BOUND_FORMAT_VERSION = "lumpcheck-difference-bound-certificate", 1
"""Difference-bound certificates (unsat verdicts of `verify`'s difference-bound engine; specs/bound-certificate.md,
checker/bound_pair.py)."""
UNION_FORMAT, UNION_FORMAT_VERSION = "lumpcheck-union-certificate", 1
"""A pair claim on each box of a union (a VNN-LIB `or` of input boxes decided box by box), one pair certificate per
box (specs/union-certificate.md, checker/union.py)."""
SEMANTICS = ("model", "layers")
"""claim.semantics: the models (normalisation and clipping included, box over the original's input) or the bare
layer chains (both files' normalisation ignored, box over the chains' inputs)."""
AXIOMS = {("tanh", Fraction(-1), Fraction(0)): "tanh_odd", ("sigmoid", Fraction(-1), Fraction(1)): "sigmoid_reflection"}
"""The only lemmas about transcendental activations a certificate may cite (z3 has no tanh/exp)."""
SOLVER_CHECKS = ("all", "auto", "none")
"""solver.check: whether z3 re-checked all neurons, none, or (auto) all while under a budget, else a sample (the
prover's policy, recorded in the certificate; the checker's own `solver_check` is documented in strict.py)."""


class Malformed(Exception):
    """The certificate document itself is malformed: the check stops with this one-line reason (internal to the
    checker package: `check` turns it into an invalid CheckResult)."""


@dataclass(frozen=True)
class Scope:
    """What a valid certificate establishes: strict equality or |difference| <= ε, everywhere or on its box (ONLY
    there when the reduction rests on phase claims), about the models or their bare layer chains."""

    mode: str
    epsilon: Fraction | None
    lower: tuple[Fraction, ...] | None
    upper: tuple[Fraction, ...] | None
    source: str
    box_only: bool
    semantics: str
    disjuncts: int | None = None  # mode 'written': the number of disjuncts of the DNF proven false
    pair: bool = False  # about two networks verified against each other (A, B), not a model and its reduction
    head: str = ""  # about softmax outputs, proved on the logits (checker/softmax_heads.py): what was split off
    source_checked: bool = False  # `source` is a property file whose box was compared (on_property_boxes), not
    # only the name the certificate records
    pieces: tuple[tuple[tuple[Fraction, ...], tuple[Fraction, ...]], ...] = ()  # a union claim (union.py): it holds
    # on each of these boxes, (lower, upper); `lower` / `upper` are then their hull, for sizes only

    def on_property_boxes(self, boxes: tuple[Box, ...], source: str) -> Scope:
        """This scope on a property file's region, the union of `boxes`: each claim here holds on every subset of a
        box it holds on (everywhere when it has none), so it holds on the region when each of its boxes lies inside
        the certified box (or, for a union claim, inside one of its pieces), in the certified coordinates; else
        ValueError naming the first input that reaches outside, with both intervals."""
        if self.lower is not None:
            for box in boxes:
                if box.dim != len(self.lower):
                    raise ValueError(f"the property has {box.dim} inputs, the certified box {len(self.lower)}")
                pieces = self.pieces or ((self.lower, self.upper),)
                outside = [_outside(box, lower, upper) for lower, upper in pieces]
                if all(outside):
                    raise ValueError(outside[0] + ("" if len(pieces) == 1 else
                                                   f" (nor inside any other of the {len(pieces)} certified boxes)"))
        lower, upper = tuple(map(min, zip(*(b.lower for b in boxes)))), tuple(map(max, zip(*(b.upper for b in boxes))))
        pieces = tuple((b.lower, b.upper) for b in boxes) if self.pieces and len(boxes) > 1 else ()  # a one-box
        # claim holds on the region's hull, a union claim only on the region's boxes
        return replace(self, lower=lower, upper=upper, pieces=pieces, source=source, source_checked=True)

    @property
    def text(self) -> str:
        if self.lower is None:
            where = "on all inputs"
        elif self.pieces:
            named = f" of {Path(self.source).name}" if self.source_checked else (
                f" the certificate records (said to be {Path(self.source).name}'s)" if self.source else "")
            where = f"on each of the {len(self.pieces)} boxes{named} ({_inputs(len(self.lower))})"
        elif self.source_checked:
            where = f"on the box of {Path(self.source).name} ({_inputs(len(self.lower))})"
        elif self.source:  # the certificate's own box; the file name it records was not compared (check --domain)
            where = f"on the box the certificate records ({_inputs(len(self.lower))}, said to be {Path(self.source).name}'s)"
        else:
            where = f"on the box ({_inputs(len(self.lower))})"
        if self.mode == "epsilon":
            what = f"|{'A - B' if self.pair else 'original - reduced'}| <= {float(self.epsilon):.3g} {where}"
        elif self.mode.startswith("delta-top1="):
            what = (f"where A's softmax confidence in a class exceeds {self.mode.partition('=')[2]}, B's unique top "
                    f"output is that class (delta-top1, A the reference) {where}")
        elif self.mode == "written":
            what = f"no input makes the written output assertions ({self.disjuncts} disjuncts) true {where}"
        elif self.mode in ("top1", "argmin"):
            what = f"the same {'maximal' if self.mode == 'top1' else 'minimal'} outputs ({self.mode}) {where}"
        else:
            what = f"equal ONLY {where}, not outside it" if self.box_only else f"equal {where}"
        return what + (" (layer chains; both files' normalisation ignored)" if self.semantics == "layers" else "") + \
            (f" [{self.head}]" if self.head else "")

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "epsilon": None if self.epsilon is None else fraction_str(self.epsilon),
                "domain": None if self.lower is None else {"lower": [fraction_str(v) for v in self.lower],
                                                           "upper": [fraction_str(v) for v in self.upper],
                                                           "source": self.source,
                                                           "source_checked": self.source_checked,
                                                           **({"boxes": [{"lower": [fraction_str(v) for v in lo],
                                                                          "upper": [fraction_str(v) for v in hi]}
                                                                         for lo, hi in self.pieces]}
                                                              if self.pieces else {})},
                "only_on_domain": self.box_only, "semantics": self.semantics, "text": self.text}


def _outside(box: Box, lower: tuple[Fraction, ...], upper: tuple[Fraction, ...]) -> str:
    """'' when `box` lies inside [lower, upper], else which input reaches outside, with both intervals."""
    for i, (lo, hi, clo, chi) in enumerate(zip(box.lower, box.upper, lower, upper)):
        if lo < clo or hi > chi:
            return (f"input {i}: the property's interval [{fraction_str(lo)}, {fraction_str(hi)}] is not inside the "
                    f"certified [{fraction_str(clo)}, {fraction_str(chi)}]")
    return ""


def _inputs(n: int) -> str:
    return f"{n} input{'' if n == 1 else 's'}"


def claim_scope(doc: Any) -> Scope:
    """The scope a (well-formed, already parsed) certificate document claims."""
    claim = doc["claim"]
    box = claim.get("domain")
    bounds = doc.get("bounds")
    phases = bounds is not None and any(lay["inactive"] or lay["active"] for lay in bounds["layers"])
    epsilon = None if claim.get("epsilon") is None else Fraction(claim["epsilon"])
    lower = None if box is None else tuple(Fraction(v) for v in box["lower"])
    upper = None if box is None else tuple(Fraction(v) for v in box["upper"])
    source = "" if box is None else str(box.get("source", ""))
    return Scope(claim["mode"], epsilon, lower, upper, source, phases, claim["semantics"])


@dataclass(frozen=True)
class LayerClaim:
    """One hidden layer's relation: reduced width, ghost class count, one map per original neuron."""

    width: int
    ghosts: int
    maps: tuple[NeuronMap, ...]


@dataclass(frozen=True)
class Phases:
    """The certificate's phase claims: bounds method, parts per input (split), per hidden layer neuron -> ±1."""

    method: str
    parts: int
    layers: tuple[dict[int, int], ...]


@dataclass(frozen=True)
class Claim:
    """What the checker reads from the certificate: hashes, domain, relation, listed lemmas and obligations.

    `lemmas` maps (activation kind, alpha, factor, offset) to the listed (basis, axiom); `obligations` maps an
    obligation id to its listed (status, neurons)."""

    hashes: dict[str, str]
    domain: tuple[list[Fraction], list[Fraction]] | None
    semantics: str
    relation: tuple[LayerClaim, ...]
    lemmas: dict[tuple[str, Fraction, Fraction, Fraction], tuple[str, str | None]]
    obligations: dict[str, tuple[str, list[int]]]
    phases: Phases | None = None


def require_field(d: Any, key: str, kind: type | tuple, where: str) -> Any:
    """d[key], which must exist and have JSON type `kind` (a bool is not an integer)."""
    if not isinstance(d, dict) or key not in d:
        raise Malformed(f"certificate: {where} has no field {key!r}")
    value = d[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Malformed(f"certificate: {where}.{key} has the wrong type")
    return value


def parse_rational(text: Any, where: str) -> Fraction:
    """A canonical 'p/q' string, nothing else (no floats, no decimals)."""
    value = _canonical_rational(text) if isinstance(text, str) else None
    if value is None:
        raise Malformed(f"certificate: {where} = {text!r} is not an exact rational 'p/q' in lowest terms")
    return value


@functools.lru_cache(maxsize=4096)
def _canonical_rational(text: str) -> Fraction | None:
    """The value of `text` if it is the canonical 'p/q' text of a rational, else None (memoised: a certificate
    repeats a few texts, '1', '0', '2', many times; Fractions are immutable)."""
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    return value if fraction_str(value) == text else None


def parse_claim(doc: Any) -> Claim:
    """The strict claim of a certificate document (Malformed when it is not one this checker reads)."""
    if require_field(doc, "format", str, "$") != FORMAT or require_field(doc, "format_version", int, "$") != FORMAT_VERSION:
        raise Malformed(f"certificate: not a {FORMAT} version {FORMAT_VERSION}")
    claim = require_field(doc, "claim", dict, "$")
    mode = require_field(claim, "mode", str, "claim")
    if mode != "strict" or claim.get("epsilon") is not None:
        raise Malformed(f"certificate: mode {mode!r} is not supported by this checker (only strict)")
    semantics = require_field(claim, "semantics", str, "claim")
    if semantics not in SEMANTICS:
        raise Malformed(f"certificate: claim.semantics is {semantics!r}, expected one of {', '.join(SEMANTICS)}")
    if require_field(doc, "verdict", str, "$") != "proved":
        raise Malformed("certificate: its verdict is not 'proved'")
    models = require_field(doc, "models", dict, "$")
    hashes = {name: require_field(require_field(models, name, dict, "models"), "sha256", str, f"models.{name}")
              for name in ("original", "reduced")}
    box = claim.get("domain")
    domain = None
    if box is not None:
        domain = tuple([parse_rational(v, f"claim.domain.{side}") for v in require_field(box, side, list, "claim.domain")]
                       for side in ("lower", "upper"))
    relation = tuple(_layer_claim(lr, ell) for ell, lr in enumerate(require_field(doc, "relation", list, "$"), start=1))
    bounds = doc.get("bounds")
    return Claim(hashes, domain, semantics, relation, _lemmas(doc), _obligations(doc),
                 None if bounds is None else parse_phases(bounds))


def _layer_claim(lr: Any, ell: int) -> LayerClaim:
    where = f"relation[{ell - 1}]"
    if require_field(lr, "layer", int, where) != ell:
        raise Malformed(f"certificate: {where} is not layer {ell}")
    maps = tuple(parse_neuron_map(m, f"{where}.neurons[{r}]")
                 for r, m in enumerate(require_field(lr, "neurons", list, where)))
    width, ghosts = require_field(lr, "reduced_width", int, where), require_field(lr, "ghosts", int, where)
    if width < 0 or ghosts < 0:
        raise Malformed(f"certificate: {where} has a negative reduced width or ghost count")
    return LayerClaim(width, ghosts, maps)


def _lemmas(doc: Any) -> dict[tuple[str, Fraction, Fraction, Fraction], tuple[str, str | None]]:
    lemmas = {}
    for i, lm in enumerate(require_field(doc, "activation_lemmas", list, "$")):
        where = f"activation_lemmas[{i}]"
        key = (require_field(lm, "activation", str, where), parse_rational(lm.get("alpha"), f"{where}.alpha"),
               parse_rational(lm.get("factor"), f"{where}.factor"), parse_rational(lm.get("offset"), f"{where}.offset"))
        lemmas[key] = (require_field(lm, "basis", str, where), lm.get("axiom"))
    return lemmas


def _obligations(doc: Any) -> dict[str, tuple[str, list[int]]]:
    obligations = {}
    for i, ob in enumerate(require_field(doc, "obligations", list, "$")):
        where = f"obligations[{i}]"
        ob_id = require_field(ob, "id", str, where)
        if ob_id in obligations:
            raise Malformed(f"certificate: obligation {ob_id} is listed twice")
        obligations[ob_id] = (require_field(ob, "status", str, where), require_field(ob, "neurons", list, where))
    return obligations


def parse_phases(bounds: Any) -> Phases:
    """The 'bounds' field: method, parts, and per layer [neuron, 'p/q'] lists of inactive and active claims."""
    method, parts = require_field(bounds, "method", str, "bounds"), require_field(bounds, "parts", int, "bounds")
    if method not in BOUNDS_METHODS or parts < 1:
        raise Malformed(f"certificate: bounds method {method!r} with {parts} parts is not one the checker re-runs")
    layers = []
    for ell, lay in enumerate(require_field(bounds, "layers", list, "bounds"), start=1):
        where = f"bounds.layers[{ell - 1}]"
        if require_field(lay, "layer", int, where) != ell:
            raise Malformed(f"certificate: {where} is not layer {ell}")
        claims: dict[int, int] = {}
        for key, phase in (("inactive", -1), ("active", 1)):
            for entry in require_field(lay, key, list, where):
                if not (isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is int):
                    raise Malformed(f"certificate: {where}.{key} has an entry that is not [neuron, 'p/q']")
                parse_rational(entry[1], f"{where}.{key}")
                if entry[0] in claims:
                    raise Malformed(f"certificate: {where} claims neuron {entry[0]} twice")
                claims[entry[0]] = phase
        layers.append(claims)
    return Phases(method, parts, tuple(layers))


def parse_neuron_map(m: Any, where: str) -> NeuronMap:
    """One relation entry: terms [[class, 'p/q'], ...], offset 'p/q' and a known reason."""
    terms = []
    for t in require_field(m, "terms", list, where):
        if not (isinstance(t, list) and len(t) == 2 and isinstance(t[0], int) and not isinstance(t[0], bool)):
            raise Malformed(f"certificate: {where}.terms has an entry that is not [neuron, 'p/q']")
        terms.append((t[0], parse_rational(t[1], f"{where}.terms")))
    reason = require_field(m, "reason", str, where)
    if reason not in REASONS:
        raise Malformed(f"certificate: {where}.reason {reason!r} is unknown")
    return NeuronMap(tuple(terms), parse_rational(m.get("offset"), f"{where}.offset"), reason)
