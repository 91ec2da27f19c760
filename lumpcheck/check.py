"""Independent certificate checker: a small trusted core.

It re-derives every obligation from the two model files and the certificate's relation and discharges
it with exact integer algebra and z3. It shares no code with the prover (obligations.py, smt.py,
certificate.py) or the reducer; it trusts only the model readers, the IR and the exact-number helpers.
Claim checked (strict mode): for every input, both files compute the same outputs. Removed ("ghost")
classes of the relation are free variables whose weights into kept neurons must vanish exactly.
Domain reductions claim equality on the certificate's box only: there the checker re-runs the recorded
bounds method of `lumpcheck.bounds` on the original network (bounds.py thus joins the trusted core; its
float mode is sound by the argument in its docstring) to confirm every phase claim, then checks that
inactive neurons are ReLU zeros and that every linear map is an exact identity of affine forms.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import cached_property
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import z3

from .bounds import LayerBounds, interval_bounds, split_bounds, symbolic_bounds
from .domain import Box
from .errors import LumpcheckError
from .exact import fraction_str
from .io import load_model
from .network import Activation, Network, fold_normalization
from .relation import REASONS, NeuronMap

FORMAT, FORMAT_VERSION = "lumpcheck-certificate", 2
AXIOMS = {("tanh", Fraction(-1), Fraction(0)): "tanh_odd", ("sigmoid", Fraction(-1), Fraction(1)): "sigmoid_reflection"}
MAX_SPLIT_CELLS = 1 << 16
"""Phase claims by 'split' bounds are re-checked only up to this many sub-boxes (parts ** inputs)."""
Z3_TERM_BUDGET = 100_000
"""solver_check='auto': z3 re-checks every neuron while the queries stay under this many weight terms."""


@dataclass
class CheckResult:
    """The checker's answer: valid, or invalid with every reason found (the first one is shown)."""

    valid: bool
    reasons: list[str]

    def __str__(self) -> str:
        return "valid" if self.valid else f"invalid: {self.reasons[0]}"


class _Invalid(Exception):
    """The certificate document itself is malformed (stops the check)."""


@dataclass
class _Claim:
    """What the checker reads from the certificate: hashes, domain, relation, listed lemmas and obligations."""

    hashes: dict[str, str]
    domain: tuple[list[Fraction], list[Fraction]] | None
    relation: list["_LayerClaim"]
    lemmas: dict[tuple[str, Fraction, Fraction, Fraction], tuple[str, str | None]]
    obligations: dict[str, tuple[str, list[int]]]
    phases: "_Phases | None" = None


@dataclass
class _Phases:
    """The certificate's phase claims: bounds method, parts per input (split), per hidden layer neuron -> ±1."""

    method: str
    parts: int
    layers: list[dict[int, int]]


@dataclass
class _LayerClaim:
    """One hidden layer's relation: reduced width, ghost class count, one map per original neuron."""

    width: int
    ghosts: int
    maps: list[NeuronMap]


def _field(d: Any, key: str, kind: type | tuple, where: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise _Invalid(f"certificate: {where} has no field {key!r}")
    value = d[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Invalid(f"certificate: {where}.{key} has the wrong type")
    return value


def _rational(text: Any, where: str) -> Fraction:
    """A canonical 'p/q' string, nothing else (no floats, no decimals)."""
    try:
        value = Fraction(text) if isinstance(text, str) else None
    except (ValueError, ZeroDivisionError):
        value = None
    if value is None or fraction_str(value) != text:
        raise _Invalid(f"certificate: {where} = {text!r} is not an exact rational 'p/q' in lowest terms")
    return value


def _parse(doc: Any) -> _Claim:
    if _field(doc, "format", str, "$") != FORMAT or _field(doc, "format_version", int, "$") != FORMAT_VERSION:
        raise _Invalid(f"certificate: not a {FORMAT} version {FORMAT_VERSION}")
    claim = _field(doc, "claim", dict, "$")
    mode = _field(claim, "mode", str, "claim")
    if mode != "strict" or claim.get("epsilon") is not None:
        raise _Invalid(f"certificate: mode {mode!r} is not supported by this checker (only strict)")
    if _field(doc, "verdict", str, "$") != "proved":
        raise _Invalid("certificate: its verdict is not 'proved'")
    models = _field(doc, "models", dict, "$")
    hashes = {name: _field(_field(models, name, dict, "models"), "sha256", str, f"models.{name}")
              for name in ("original", "reduced")}
    box = claim.get("domain")
    domain = None
    if box is not None:
        domain = tuple([_rational(v, f"claim.domain.{side}") for v in _field(box, side, list, "claim.domain")]
                       for side in ("lower", "upper"))
    relation = []
    for ell, lr in enumerate(_field(doc, "relation", list, "$"), start=1):
        where = f"relation[{ell - 1}]"
        if _field(lr, "layer", int, where) != ell:
            raise _Invalid(f"certificate: {where} is not layer {ell}")
        maps = [_neuron_map(m, f"{where}.neurons[{r}]") for r, m in enumerate(_field(lr, "neurons", list, where))]
        width, ghosts = _field(lr, "reduced_width", int, where), _field(lr, "ghosts", int, where)
        if width < 0 or ghosts < 0:
            raise _Invalid(f"certificate: {where} has a negative reduced width or ghost count")
        relation.append(_LayerClaim(width, ghosts, maps))
    lemmas = {}
    for i, lm in enumerate(_field(doc, "activation_lemmas", list, "$")):
        where = f"activation_lemmas[{i}]"
        key = (_field(lm, "activation", str, where), _rational(lm.get("alpha"), f"{where}.alpha"),
               _rational(lm.get("factor"), f"{where}.factor"), _rational(lm.get("offset"), f"{where}.offset"))
        lemmas[key] = (_field(lm, "basis", str, where), lm.get("axiom"))
    obligations = {}
    for i, ob in enumerate(_field(doc, "obligations", list, "$")):
        where = f"obligations[{i}]"
        ob_id = _field(ob, "id", str, where)
        if ob_id in obligations:
            raise _Invalid(f"certificate: obligation {ob_id} is listed twice")
        obligations[ob_id] = (_field(ob, "status", str, where), _field(ob, "neurons", list, where))
    bounds = doc.get("bounds")
    phases = None if bounds is None else _parse_phases(bounds)
    return _Claim(hashes, domain, relation, lemmas, obligations, phases)


def _parse_phases(bounds: Any) -> _Phases:
    """The 'bounds' field: method, parts, and per layer [neuron, 'p/q'] lists of inactive and active claims."""
    method, parts = _field(bounds, "method", str, "bounds"), _field(bounds, "parts", int, "bounds")
    if method not in ("interval", "symbolic", "split") or parts < 1:
        raise _Invalid(f"certificate: bounds method {method!r} with {parts} parts is not one the checker re-runs")
    layers = []
    for ell, lay in enumerate(_field(bounds, "layers", list, "bounds"), start=1):
        where = f"bounds.layers[{ell - 1}]"
        if _field(lay, "layer", int, where) != ell:
            raise _Invalid(f"certificate: {where} is not layer {ell}")
        claims: dict[int, int] = {}
        for key, phase in (("inactive", -1), ("active", 1)):
            for entry in _field(lay, key, list, where):
                if not (isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is int):
                    raise _Invalid(f"certificate: {where}.{key} has an entry that is not [neuron, 'p/q']")
                _rational(entry[1], f"{where}.{key}")
                if entry[0] in claims:
                    raise _Invalid(f"certificate: {where} claims neuron {entry[0]} twice")
                claims[entry[0]] = phase
        layers.append(claims)
    return _Phases(method, parts, layers)


def _neuron_map(m: Any, where: str) -> NeuronMap:
    terms = []
    for t in _field(m, "terms", list, where):
        if not (isinstance(t, list) and len(t) == 2 and isinstance(t[0], int) and not isinstance(t[0], bool)):
            raise _Invalid(f"certificate: {where}.terms has an entry that is not [neuron, 'p/q']")
        terms.append((t[0], _rational(t[1], f"{where}.terms")))
    reason = _field(m, "reason", str, where)
    if reason not in REASONS:
        raise _Invalid(f"certificate: {where}.reason {reason!r} is unknown")
    return NeuronMap(tuple(terms), _rational(m.get("offset"), f"{where}.offset"), reason)



def load_hashed(hashes: dict, original_path: str | Path, reduced_path: str | Path) -> tuple[list, list[str]]:
    """Load both models, checking each file's SHA-256 against the certificate (and that it did not change)."""
    reasons: list[str] = []
    nets = []
    for name, path in (("original", original_path), ("reduced", reduced_path)):
        before = _sha256(path)
        nets.append(load_model(path))
        if _sha256(path) != before:
            reasons.append(f"{name} model: {path} changed while it was being read")
        elif before != hashes[name]:
            reasons.append(f"{name} model: sha256 of {path} is {before[:12]}…, the certificate says {hashes[name][:12]}…")
    return nets, reasons


def check(cert_path: str | Path, original_path: str | Path, reduced_path: str | Path,
          solver_check: str = "auto", timeout_ms: int = 60_000) -> CheckResult:
    """Verify a certificate against the two model files; CheckResult(valid, reasons).

    `solver_check`: z3 re-checks all neurons, none, or (auto) all while under Z3_TERM_BUDGET, else a sample;
    exact algebra always checks everything. A missing or unreadable model file raises LumpcheckError.
    """
    if solver_check not in ("all", "auto", "none"):
        raise LumpcheckError(f"solver check must be all, auto or none, not {solver_check!r}")
    p = Path(cert_path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LumpcheckError("no such file", str(p)) from None
    except (ValueError, UnicodeDecodeError) as e:
        return CheckResult(False, [f"certificate: not JSON ({e})"])
    if isinstance(doc, dict) and isinstance(doc.get("claim"), dict) and doc["claim"].get("mode") == "epsilon":
        from .check_epsilon import check_epsilon  # it builds on this module, so it is imported here

        return check_epsilon(doc, original_path, reduced_path, solver_check, timeout_ms)
    try:
        claim = _parse(doc)
    except _Invalid as e:
        return CheckResult(False, [str(e)])
    nets, reasons = load_hashed(claim.hashes, original_path, reduced_path)
    reasons += _Verifier(claim, nets[0], nets[1], solver_check, timeout_ms).run()
    return CheckResult(not reasons, reasons)


def _sha256(path: str | Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        raise LumpcheckError("no such file", str(path)) from None
    except OSError as e:
        raise LumpcheckError(f"cannot read the model file ({e.strerror or e})", str(path)) from None


def _ints(arr: np.ndarray) -> tuple[np.ndarray, int]:
    """(N, D) with arr == N / D exactly: N an object array of Python ints, D > 0."""
    if arr.dtype == object:
        den = math.lcm(1, *(Fraction(v).denominator for v in arr.flat))
        out = np.empty(arr.shape, dtype=object)
        out.flat[:] = [Fraction(v).numerator * (den // Fraction(v).denominator) for v in arr.flat]
        return out, den
    frac, exp = np.frexp(arr)  # arr = frac · 2**exp, |frac| in [0.5, 1): frac · 2**53 is an exact integer
    ints = (frac * 9007199254740992.0).astype(np.int64)
    exp = np.where(ints == 0, 0, exp.astype(np.int64) - 53)
    low = min(0, int(exp.min(initial=0)))
    pow2 = np.empty(int(exp.max(initial=0)) - low + 1, dtype=object)
    pow2[:] = [1 << n for n in range(len(pow2))]
    return ints.astype(object) * pow2[exp - low], 1 << -low


class _Verifier:
    """Re-derives and discharges the obligations of one certificate against two loaded networks."""

    def __init__(self, claim: _Claim, original: Network, reduced: Network, solver_check: str, timeout_ms: int):
        self.claim, self.solver_check, self.timeout_ms = claim, solver_check, timeout_ms
        self.a, self.b = original, reduced
        self.expected: dict[str, list[int]] = {"structure": []}
        self.lemmas: set[tuple[Activation, Fraction, Fraction]] = set()

    def _same_normalization(self) -> str | None:
        """Fold both normalisations into the weights unless identical; None, or why that is impossible."""
        na, nb = self.a.normalization, self.b.normalization
        if na == nb:
            return None
        clip = [(n.input_min, n.input_max) if n else ((), ()) for n in (na, nb)]
        if clip[0] != clip[1]:
            return "normalisation: the models clip their inputs differently"
        try:
            self.a, self.b = fold_normalization(self.a), fold_normalization(self.b)
        except ValueError as e:
            return f"normalisation: the models' normalisations differ and cannot be folded ({e})"
        return None

    def run(self) -> list[str]:
        problem = self._same_normalization()
        if problem:
            return [problem]
        shape = self._shape() or self._domain_shape()
        if shape:
            return shape
        reasons = self._bounds_reasons()
        k = len(self.a.layers)
        n = self.a.input_size
        layers = [_LayerClaim(n, 0, [NeuronMap(((i, Fraction(1)),)) for i in range(n)]), *self.claim.relation]
        z3_items = []
        for ell in range(1, k + 1):
            items = self._classify(ell, layers[ell] if ell < k else None)
            prev = layers[ell - 1]
            layer = _LayerCheck(ell, self.a.layers[ell - 1], self.b.layers[ell - 1], prev.maps, prev.width, prev.ghosts,
                                _ghost_representatives(layers[ell]) if ell < k else [])
            reasons += layer.exact(items)
            z3_items += [(layer, it) for it in items]
        reasons += self._z3(z3_items)
        reasons += self._lemma_reasons()
        reasons += self._listed_reasons()
        return reasons

    def _shape(self) -> list[str]:
        """Depth, widths, activations, domain, and every relation entry's shape."""
        a, b, rel = self.a, self.b, self.claim.relation
        if len(a.layers) != len(b.layers) or a.input_size != b.input_size or a.output_size != b.output_size:
            return [f"shape: original {a.shape_str()} and reduced {b.shape_str()} differ in depth, inputs or outputs"]
        out = [f"layer {i}: activation {x.activation} vs {y.activation}"
               for i, (x, y) in enumerate(zip(a.layers, b.layers), start=1) if x.activation != y.activation]
        if len(rel) != len(a.layers) - 1:
            return out + [f"relation: {len(rel)} layers for {len(a.layers) - 1} hidden layers"]
        for ell, lay in enumerate(rel, start=1):
            if len(lay.maps) != a.widths[ell] or lay.width != b.widths[ell]:
                out.append(f"relation layer {ell}: {len(lay.maps)} maps / reduced width {lay.width}, "
                           f"models have {a.widths[ell]} / {b.widths[ell]} neurons")
                continue
            out += _layer_shape(ell, lay)
        if self.claim.domain is not None:
            lo, hi = self.claim.domain
            if len(lo) != a.input_size or len(hi) != a.input_size or any(x > y for x, y in zip(lo, hi)):
                out.append(f"domain: must give lower <= upper for each of the {a.input_size} inputs")
        return out

    def _domain_shape(self) -> list[str]:
        """Domain maps need a box and phase claims; claims name distinct neurons of ReLU/LeakyReLU layers with
        phase ±1, on a network without normalisation metadata (the box is over the layers' own inputs)."""
        ph, a = self.claim.phases, self.a
        if ph is None:
            uses = any(m.reason in ("inactive", "linear") for lay in self.claim.relation for m in lay.maps)
            return ["domain maps (inactive/linear) need phase claims in 'bounds' and a claim.domain"] if uses else []
        out = [] if self.claim.domain is not None else ["phase claims without a claim.domain"]
        if a.normalization is not None:
            out.append("phase claims need an original network without normalisation metadata")
        if ph.method == "split" and ph.parts ** a.input_size > MAX_SPLIT_CELLS:
            out.append(f"bounds: split into {ph.parts}^{a.input_size} sub-boxes is more than this checker re-runs")
        if len(ph.layers) != len(a.layers) - 1:
            return out + [f"bounds: phase claims for {len(ph.layers)} layers, {len(a.layers) - 1} hidden layers"]
        for ell, claims in enumerate(ph.layers, start=1):
            if claims and a.layers[ell - 1].activation.kind not in ("relu", "leaky_relu"):
                out.append(f"bounds layer {ell}: phase claims on a {a.layers[ell - 1].activation} layer")
            if any(not 0 <= r < a.widths[ell] for r in claims):
                out.append(f"bounds layer {ell}: a claimed neuron is out of range")
        return out

    def _bounds_reasons(self) -> list[str]:
        """Re-run the recorded bounds method on the original network over the box; every claim must hold."""
        ph = self.claim.phases
        if ph is None or not any(ph.layers):
            return []
        box = Box(tuple(self.claim.domain[0]), tuple(self.claim.domain[1]))
        bounds = _recompute(self.a, box, ph.method, ph.parts)
        out = []
        for ell, claims in enumerate(ph.layers, start=1):
            b = bounds[ell - 1]
            bad = [r for r, p in sorted(claims.items()) if not (b.upper[r] <= 0 if p < 0 else b.lower[r] >= 0)]
            out += [f"layer {ell} neuron {r}: claimed {'inactive' if claims[r] < 0 else 'active'}, but the "
                    f"{ph.method} bounds are [{b.lower[r]!r}, {b.upper[r]!r}]" for r in bad[:3]]
            if claims:
                self.expected[f"L{ell}.bounds"] = sorted(claims)
        return out

    def _classify(self, ell: int, lay: _LayerClaim | None) -> list[tuple]:
        """Layer ℓ's claims, tagged: ("target", s, cls, c), ("ghost", s, rep, c), ("constant", s, offset); records
        the expected obligation ids and the lemmas used."""
        if lay is None:
            self.expected[f"L{ell}.linear"] = list(range(self.a.output_size))
            return [("target", s, s, Fraction(1)) for s in range(self.a.output_size)]
        act = self.a.layers[ell - 1].activation
        reps = _ghost_representatives(lay)
        phases = {} if self.claim.phases is None else self.claim.phases.layers[ell - 1]
        items: list[tuple] = []
        for s, m in enumerate(lay.maps):
            if m.reason == "inactive":
                items.append(("inactive", s, phases.get(s, 0)))
            elif m.reason == "linear":
                terms = [(j, c, _slope(act, phases, _witness(lay, j, act, phases) if j < lay.width else reps[j - lay.width]))
                         for j, c in m.terms]
                items.append(("domain", s, _slope(act, phases, s), terms, m.offset))
            elif not m.terms:
                items.append(("constant", s, m.offset))
            else:
                ((j, c),) = m.terms  # _shape rejected every other form
                items.append(("target", s, j, c) if j < lay.width else ("ghost", s, reps[j - lay.width], c))
                self.lemmas.add((act, c, m.offset))
        for tag, name in (("target", "linear"), ("ghost", "ghost"), ("constant", "constant"), ("inactive", "inactive"),
                          ("domain", "domain")):
            group = [it[1] for it in items if it[0] == tag]
            if group:
                self.expected[f"L{ell}.{name}"] = group
        return items

    def _z3(self, items: list) -> list[str]:
        """z3 re-check of every target/ghost member/constant (or an evenly spaced sample when over the budget)."""
        if self.solver_check == "none" or not items:
            return []
        costs = [lay.cost(it) for lay, it in items]
        chosen = range(len(items))
        if self.solver_check == "auto" and sum(costs) > Z3_TERM_BUDGET:
            step = sum(costs) / Z3_TERM_BUDGET
            chosen = sorted({min(len(items) - 1, round(i * step)) for i in range(int(len(items) / step) + 1)})
        reasons = []
        for i in chosen:
            lay, it = items[i]
            verdict = lay.z3(it, self.timeout_ms)
            if verdict:
                reasons.append(verdict)
        return reasons

    def _lemma_reasons(self) -> list[str]:
        """Derived lemmas must equal the listed ones, with the right basis, and each must hold."""
        out = []
        derived = {(act.kind, act.alpha, c, o): (act, c, o) for act, c, o in self.lemmas}
        if set(derived) != set(self.claim.lemmas):
            out.append(f"activation lemmas: certificate lists {len(self.claim.lemmas)}, the relation uses {len(derived)} "
                       f"(differ: {sorted(map(str, set(derived) ^ set(self.claim.lemmas)))[:2]})")
        for key, (act, c, o) in sorted(derived.items(), key=str):
            text = f"{act}({fraction_str(c)}*z) == {fraction_str(c)}*{act}(z) + {fraction_str(o)}"
            axiom = AXIOMS.get((act.kind, c, o))
            basis = ("trivial" if (c, o) == (1, 0) else "axiom" if axiom else
                     "theorem" if act.piecewise_linear else "invalid")
            if key in self.claim.lemmas and self.claim.lemmas[key] != (basis, axiom):
                out.append(f"activation lemma {text}: certificate says {self.claim.lemmas[key]}, expected {(basis, axiom)}")
            why = _lemma_false(act, c, o, self.timeout_ms) if basis in ("theorem", "invalid") else None
            if why:
                out.append(f"activation lemma {text} is not admitted: {why}")
        return out

    def _listed_reasons(self) -> list[str]:
        """The certificate must list exactly the obligations re-derived here, each 'proved'."""
        expected = dict(self.expected)
        for act, c, o in self.lemmas:
            expected[f"act.{act}:c={fraction_str(c)}:o={fraction_str(o)}"] = []
        listed = self.claim.obligations
        out = [f"obligation {i} is not listed in the certificate" for i in expected if i not in listed]
        out += [f"obligation {i} is listed but does not follow from the relation" for i in listed if i not in expected]
        for i, neurons in expected.items():
            if i in listed and (listed[i][0] != "proved" or listed[i][1] != neurons):
                out.append(f"obligation {i}: certificate lists it as {listed[i][0]} for neurons {listed[i][1][:5]}, "
                           f"re-derived for {neurons[:5]}")
        return out


def _ghost_representatives(lay: _LayerClaim) -> list[int | None]:
    """Per ghost class (in order), its lowest member whose map is exactly 1·g + 0, or None."""
    reps: list[int | None] = [None] * lay.ghosts
    for r, m in enumerate(lay.maps):
        if m.reason == "dead" and len(m.terms) == 1 and m.terms[0][0] >= lay.width and m.terms[0][1] == 1 and m.offset == 0:
            g = m.terms[0][0] - lay.width
            if 0 <= g < lay.ghosts and reps[g] is None:
                reps[g] = r
    return reps


def _layer_shape(ell: int, lay: _LayerClaim) -> list[str]:
    """One layer's maps: single terms on distinct in-range classes with non-zero factors; dead exactly for ghost
    members; every reduced neuron used; every ghost class with a representative (and so non-empty)."""
    out, used = [], set()
    n_classes = lay.width + lay.ghosts
    for r, m in enumerate(lay.maps):
        cls = [j for j, _ in m.terms]
        if any(not 0 <= j < n_classes for j in cls) or len(set(cls)) != len(cls) or any(c == 0 for _, c in m.terms):
            out.append(f"relation layer {ell} neuron {r}: terms {cls} must name distinct classes < {n_classes} "
                       f"({lay.width} reduced + {lay.ghosts} ghost) with non-zero factors")
        ghost = [j for j in cls if j >= lay.width]
        if len(cls) > 1 and m.reason != "linear":
            out.append(f"relation layer {ell} neuron {r}: several terms, but only a domain map (reason 'linear') "
                       f"may have them")
        if (m.reason == "dead" and (len(cls) != 1 or not ghost)) or (ghost and m.reason not in ("dead", "linear")):
            out.append(f"relation layer {ell} neuron {r}: reason {m.reason!r}, but exactly the dead neurons are "
                       f"members of ghost classes")
        if m.reason == "inactive" and (m.terms or m.offset):
            out.append(f"relation layer {ell} neuron {r}: an inactive neuron has no terms and offset 0")
        used.update(cls)
    if len(used & set(range(lay.width))) != lay.width:
        out.append(f"relation layer {ell}: reduced neurons {sorted(set(range(lay.width)) - used)[:5]} are unused")
    missing = [lay.width + g for g, rep in enumerate(_ghost_representatives(lay)) if rep is None]
    if missing:
        out.append(f"relation layer {ell}: ghost classes {missing[:5]} have no representative (a member 1*g + 0)")
    return out


def _recompute(net: Network, box: Box, method: str, parts: int) -> list[LayerBounds]:
    """The recorded bounds method, re-run (sound bounds of every layer's pre-activations on the box)."""
    if method == "interval":
        return interval_bounds(net, box)
    if method == "symbolic":
        return symbolic_bounds(net, box)
    return split_bounds(net, box, parts=parts)


def _slope(act: Activation, phases: dict[int, int], r: int | None) -> Fraction | None:
    """Slope of σ at neuron r on the box: identity 1; ReLU/LeakyReLU by r's phase claim; else (or r None) None."""
    if act.kind == "identity":
        return Fraction(1)
    if r is None or r not in phases or act.kind not in ("relu", "leaky_relu"):
        return None
    return Fraction(1) if phases[r] > 0 else act.alpha


def _witness(lay: _LayerClaim, j: int, act: Activation, phases: dict[int, int]) -> int | None:
    """A neuron whose phase is reduced neuron j's: the lowest with a lumping map c·v'_j (c > 0, so its linear
    obligation gives z = c·z'_j) and a phase claim (any, for identity layers)."""
    for t, m in enumerate(lay.maps):
        if (m.reason not in ("dead", "inactive", "linear") and len(m.terms) == 1 and m.terms[0][0] == j
                and m.terms[0][1] > 0 and (t in phases or act.kind == "identity")):
            return t
    return None


def _lemma_false(act: Activation, c: Fraction, o: Fraction, timeout_ms: int) -> str | None:
    """Decide ∀z: σ(cz) = cσ(z) + o for piecewise-linear σ (exactly at z = −1, 0, 1, and with z3); None if true."""
    if not act.piecewise_linear:
        return f"{act} admits only tanh_odd (c=-1, o=0) / sigmoid_reflection (c=-1, o=1)"
    for z in (Fraction(-1), Fraction(0), Fraction(1)):
        if act.exact(c * z) != c * act.exact(z) + o:
            return f"at z={z}: {fraction_str(act.exact(c * z))} vs {fraction_str(c * act.exact(z) + o)}"
    z = z3.Real("z")
    answer = _z3_unsat(_sigma(act, _q(c) * z) != _q(c) * _sigma(act, z) + _q(o), timeout_ms)
    return None if answer == z3.unsat else f"z3 says {answer} for its negation"


def _z3_unsat(negation: z3.BoolRef, timeout_ms: int) -> z3.CheckSatResult:
    """z3's verdict on a negated claim: `simplify` first (a true identity becomes false), else the solver."""
    if z3.is_false(z3.simplify(negation)):
        return z3.unsat
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    solver.add(negation)
    return solver.check()


def _q(x: object) -> z3.ArithRef:
    """Exact z3 rational (never z3.RealVal(float): that would read the decimal print form)."""
    f = Fraction(x)
    return z3.RealVal(f"{f.numerator}/{f.denominator}")


def _sigma(act: Activation, t: z3.ArithRef) -> z3.ArithRef:
    if act.kind == "relu":
        return z3.If(t > 0, t, 0)
    if act.kind == "leaky_relu":
        return z3.If(t >= 0, t, _q(act.alpha) * t)
    return t


class _LayerCheck:
    """One layer ℓ: original z = W·v + b with layer ℓ−1's maps for v (ghost classes free), versus the reduced layer."""

    def __init__(self, ell: int, orig, red, prev: list[NeuronMap], prev_width: int, prev_ghosts: int,
                 reps: list[int | None]):
        self.ell, self.orig, self.red, self.prev = ell, orig, red, prev
        self.prev_width, self.prev_ghosts, self.reps = prev_width, prev_ghosts, reps

    @cached_property
    def _substituted(self) -> tuple[np.ndarray, list[int], list[Fraction]]:
        """(cols, dens, consts): z_s = Σ_j cols[s, j] / dens[j] · u_j + consts[s], u = reduced values, then ghosts."""
        wn, wd = _ints(self.orig.weight)
        bn, bd = _ints(self.orig.bias)
        n = self.prev_width + self.prev_ghosts
        dens = [1] * n
        for m in self.prev:
            for j, c in m.terms:
                dens[j] = math.lcm(dens[j], c.denominator)
        cols = np.zeros((wn.shape[0], n), dtype=object)
        for r, m in enumerate(self.prev):
            for j, c in m.terms:
                cols[:, j] += wn[:, r] * (c.numerator * (dens[j] // c.denominator))
        od = math.lcm(1, *(m.offset.denominator for m in self.prev))
        const = sum((wn[:, r] * (m.offset.numerator * (od // m.offset.denominator)) for r, m in enumerate(self.prev)
                     if m.offset), np.zeros(wn.shape[0], dtype=object))
        consts = [Fraction(const[s], wd * od) + Fraction(bn[s], bd) for s in range(wn.shape[0])]
        return cols, [wd * d for d in dens], consts

    def exact(self, items: list[tuple]) -> list[str]:
        """Exact integer comparison of all coefficients; one reason per failing neuron (at most 3)."""
        cols, dens, consts = self._substituted
        w = self.prev_width
        out = []
        targets = [it for it in items if it[0] == "target"]
        if targets:
            rn, rd = _ints(self.red.weight)
            rbn, rbd = _ints(self.red.bias)
            s_ = [it[1] for it in targets]
            num = np.empty((len(targets), 1), dtype=object)
            den = np.empty((len(targets), 1), dtype=object)
            num[:, 0], den[:, 0] = [it[3].numerator for it in targets], [it[3].denominator for it in targets]
            scale = np.empty((1, w), dtype=object)
            scale[0, :] = dens[:w]
            bad_rows = np.any(cols[s_, :w] * (den * rd) != rn[[it[2] for it in targets]] * num * scale, axis=1)
            for t, (_, s, j, c) in enumerate(targets):
                ghost = np.flatnonzero(cols[s, w:] != 0)
                what = (["a coefficient"] if bad_rows[t] else []) + (
                    [f"weight on ghost class {w + int(ghost[0])} of layer {self.ell - 1}"] if len(ghost) else []) + (
                    ["constant term"] if consts[s] != c * Fraction(rbn[j], rbd) else [])
                if what:
                    out.append(f"layer {self.ell} neuron {s}: original pre-activation != {fraction_str(c)} * reduced "
                               f"neuron {j} ({', '.join(what)})")
        for it in items:
            if it[0] == "ghost":
                _, s, rep, c = it
                if np.any(cols[s] * c.denominator != cols[rep] * c.numerator) or consts[s] != c * consts[rep]:
                    out.append(f"layer {self.ell} neuron {s}: original pre-activation != {fraction_str(c)} * that of "
                               f"neuron {rep} (the representative of its ghost class)")
            elif it[0] == "constant":
                _, s, offset = it
                if np.any(cols[s] != 0) or not _value_is(self.orig.activation, consts[s], offset):
                    out.append(f"layer {self.ell} neuron {s}: not the constant {fraction_str(offset)}")
            elif it[0] == "inactive":
                _, s, phase = it
                if phase != -1 or _slope(self.orig.activation, {s: -1}, s) != 0:
                    out.append(f"layer {self.ell} neuron {s}: inactive needs a claimed phase -1 and a ReLU (or "
                               f"LeakyReLU with alpha 0), not phase {phase} of {self.orig.activation}")
            elif it[0] == "domain":
                problem = self._domain_exact(it, cols, dens, consts)
                if problem:
                    out.append(f"layer {self.ell} neuron {it[1]}: {problem}")
        return out[:3]

    def _domain_exact(self, item: tuple, cols: np.ndarray, dens: list[int], consts: list[Fraction]) -> str | None:
        """s_r·z_r ≡ Σ c·s_j·ẑ_j + offset (ẑ_j: reduced pre-activation, or the ghost representative's), exactly."""
        _, s, slope, terms, offset = item
        if slope is None or any(t[2] is None for t in terms):
            return "a linear map needs a phase claim for itself and for a witness of each of its classes"
        n, w = cols.shape[1], self.prev_width
        lhs = [slope * Fraction(cols[s, k], dens[k]) for k in range(n)] + [slope * consts[s]]
        rhs = [Fraction(0)] * n + [offset]
        for j, c, sj in terms:
            if j < self.red.out_features:
                row = [Fraction(v) for v in self.red.weight[j]] + [Fraction(0)] * (n - w) + [Fraction(self.red.bias[j])]
            else:
                rep = self.reps[j - self.red.out_features]
                row = [Fraction(cols[rep, k], dens[k]) for k in range(n)] + [consts[rep]]
            rhs = [a + c * sj * b for a, b in zip(rhs, row)]
        bad = [k for k in range(n + 1) if lhs[k] != rhs[k]]
        if bad:
            what = "constant term" if bad[0] == n else f"coefficient {bad[0]}"
            return f"slope x pre-activation != the claimed combination ({what})"
        return None

    def cost(self, item: tuple) -> int:
        n = int(np.count_nonzero(self.orig.weight[item[1]]))
        if item[0] == "domain":
            return n * (1 + len(item[3]))
        if item[0] == "target":
            return n + int(np.count_nonzero(self.red.weight[item[2]]))
        return n + (int(np.count_nonzero(self.orig.weight[item[2]])) if item[0] == "ghost" else 0)

    @cached_property
    def _values(self) -> tuple[list[z3.ArithRef], list[z3.ArithRef]]:
        """z3 terms for the reduced previous-layer values and each original previous neuron's value."""
        classes = [z3.Real(f"h{j}") for j in range(self.prev_width)]
        classes += [z3.Real(f"g{j}") for j in range(self.prev_width, self.prev_width + self.prev_ghosts)]
        values = [z3.Sum([_q(c) * classes[j] for j, c in m.terms] + [_q(m.offset)]) for m in self.prev]
        return classes[: self.prev_width], values

    def _reduced(self, j: int) -> z3.ArithRef:
        wr, prev = self.red.weight[j], self._values[0]
        return z3.Sum([_q(wr[i]) * prev[i] for i in np.flatnonzero(wr != 0)] + [_q(self.red.bias[j])])

    def _original(self, s: int) -> z3.ArithRef:
        w = self.orig.weight[s]
        values = self._values[1]
        return z3.Sum([_q(w[r]) * values[r] for r in np.flatnonzero(w != 0)] + [_q(self.orig.bias[s])])

    def z3(self, item: tuple, timeout_ms: int) -> str | None:
        """∃ values with original z_s ≠ c·z'_cls (target), z_s ≠ c·z_rep (ghost member), σ(z_s) ≠ offset / z_s ≠ 0
        (constant); None if unsat."""
        tag, s = item[0], item[1]
        if tag == "inactive":
            return None  # nothing algebraic: the bounds decide it
        z = self._original(s)
        if tag == "domain":
            _, _, slope, terms, offset = item
            if slope is None or any(t[2] is None for t in terms):
                return None  # reported by the exact check
            rhs = [_q(offset)]
            for j, c, sj in terms:
                rhs.append(_q(c * sj) * (self._reduced(j) if j < self.red.out_features
                                         else self._original(self.reps[j - self.red.out_features])))
            negation = _q(slope) * z != z3.Sum(rhs)
        elif tag == "target":
            negation = z != _q(item[3]) * self._reduced(item[2])
        elif tag == "ghost":
            negation = z != _q(item[3]) * self._original(item[2])
        elif self.orig.activation.piecewise_linear:
            negation = _sigma(self.orig.activation, z) != _q(item[2])
        else:
            negation = z != 0
        answer = _z3_unsat(negation, timeout_ms)
        return None if answer == z3.unsat else f"layer {self.ell} neuron {s}: z3 answers {answer} (expected unsat)"


def _value_is(act: Activation, kappa: Fraction, offset: Fraction) -> bool:
    try:
        return act.exact(kappa) == offset
    except ValueError:
        return False
