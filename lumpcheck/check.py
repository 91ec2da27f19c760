"""Independent certificate checker: a small trusted core.

It re-derives every obligation from the two model files and the certificate's relation and discharges
it with exact integer algebra and z3. It shares no code with the prover (obligations.py, smt.py,
certificate.py) or the reducer; it trusts only the model readers, the IR and the exact-number helpers.
Claim checked (strict mode): for every input, both files compute the same outputs.
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

from .errors import LumpcheckError
from .exact import fraction_str
from .io import load_model
from .network import Activation, Network, fold_normalization
from .relation import REASONS, NeuronMap

FORMAT, FORMAT_VERSION = "lumpcheck-certificate", 1
AXIOMS = {("tanh", Fraction(-1), Fraction(0)): "tanh_odd", ("sigmoid", Fraction(-1), Fraction(1)): "sigmoid_reflection"}
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
    relation: list[tuple[int, list[NeuronMap]]]
    lemmas: dict[tuple[str, Fraction, Fraction, Fraction], tuple[str, str | None]]
    obligations: dict[str, tuple[str, list[int]]]


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
        relation.append((_field(lr, "reduced_width", int, where), maps))
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
    return _Claim(hashes, domain, relation, lemmas, obligations)


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
    try:
        claim = _parse(doc)
    except _Invalid as e:
        return CheckResult(False, [str(e)])
    reasons: list[str] = []
    nets = []
    for name, path in (("original", original_path), ("reduced", reduced_path)):
        before = _sha256(path)
        nets.append(load_model(path))
        if _sha256(path) != before:
            reasons.append(f"{name} model: {path} changed while it was being read")
        elif before != claim.hashes[name]:
            reasons.append(f"{name} model: sha256 of {path} is {before[:12]}…, the certificate says {claim.hashes[name][:12]}…")
    reasons += _Verifier(claim, nets[0], nets[1], solver_check, timeout_ms).run()
    return CheckResult(not reasons, reasons)


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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
        shape = self._shape()
        if shape:
            return shape
        reasons = []
        k = len(self.a.layers)
        maps = [[NeuronMap(((i, Fraction(1)),)) for i in range(self.a.input_size)]] + [m for _, m in self.claim.relation]
        z3_items = []
        for ell in range(1, k + 1):
            targets, constants, dead = self._classify(ell, maps[ell] if ell < k else None)
            layer = _LayerCheck(ell, self.a.layers[ell - 1], self.b.layers[ell - 1], maps[ell - 1], self.b.widths[ell - 1])
            reasons += layer.exact(targets, constants)
            if dead:
                out_w = self.a.layers[ell].weight
                bad = [r for r in dead if np.any(out_w[:, r] != 0)]
                reasons += [f"layer {ell} neuron {r}: marked dead but has a non-zero outgoing weight" for r in bad]
            z3_items += [(layer, t) for t in targets] + [(layer, c) for c in constants]
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
        for ell, (width, maps) in enumerate(rel, start=1):
            if len(maps) != a.widths[ell] or width != b.widths[ell]:
                out.append(f"relation layer {ell}: {len(maps)} maps / reduced width {width}, "
                           f"models have {a.widths[ell]} / {b.widths[ell]} neurons")
                continue
            used = set()
            for r, m in enumerate(maps):
                cls = [j for j, _ in m.terms]
                if any(not 0 <= j < width for j in cls) or len(set(cls)) != len(cls) or any(c == 0 for _, c in m.terms):
                    out.append(f"relation layer {ell} neuron {r}: terms {cls} must name distinct reduced neurons "
                               f"< {width} with non-zero factors")
                if len(cls) > 1:
                    out.append(f"relation layer {ell} neuron {r}: multi-term map needs domain bounds (unsupported)")
                if m.reason == "dead" and (m.terms or m.offset):
                    out.append(f"relation layer {ell} neuron {r}: dead neuron with terms or offset")
                used.update(cls)
            if len(used) != width:
                out.append(f"relation layer {ell}: reduced neurons {sorted(set(range(width)) - used)[:5]} are unused")
        if self.claim.domain is not None:
            lo, hi = self.claim.domain
            if len(lo) != a.input_size or len(hi) != a.input_size or any(x > y for x, y in zip(lo, hi)):
                out.append(f"domain: must give lower <= upper for each of the {a.input_size} inputs")
        return out

    def _classify(self, ell: int, maps: list[NeuronMap] | None) -> tuple[list, list, list]:
        """Split layer ℓ into targets (s, cls, c), constants (s, offset), dead; record expected ids and lemmas."""
        if maps is None:
            targets = [(s, s, Fraction(1)) for s in range(self.a.output_size)]
            self.expected[f"L{ell}.linear"] = list(range(self.a.output_size))
            return targets, [], []
        act = self.a.layers[ell - 1].activation
        targets = [(s, m.terms[0][0], m.terms[0][1]) for s, m in enumerate(maps) if len(m.terms) == 1]
        constants = [(s, m.offset) for s, m in enumerate(maps) if not m.terms and m.reason != "dead"]
        dead = [s for s, m in enumerate(maps) if m.reason == "dead"]
        for name, group in (("linear", [t[0] for t in targets]), ("constant", [c[0] for c in constants]), ("dead", dead)):
            if group:
                self.expected[f"L{ell}.{name}"] = group
        self.lemmas.update((act, maps[s].terms[0][1], maps[s].offset) for s, _, _ in targets)
        return targets, constants, dead

    def _z3(self, items: list) -> list[str]:
        """z3 re-check of every target/constant (or an evenly spaced sample when over the budget)."""
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
    """One layer ℓ: original z = W·v + b with layer ℓ−1's maps for v, versus the reduced layer."""

    def __init__(self, ell: int, orig, red, prev: list[NeuronMap], prev_width: int):
        self.ell, self.orig, self.red, self.prev, self.prev_width = ell, orig, red, prev, prev_width

    def exact(self, targets: list, constants: list) -> list[str]:
        """Exact integer comparison of all coefficients; one reason per failing neuron (at most 3)."""
        wn, wd = _ints(self.orig.weight)
        bn, bd = _ints(self.orig.bias)
        live = [(r, m) for r, m in enumerate(self.prev) if m.reason != "dead"]
        dens = [1] * self.prev_width
        for _, m in live:
            for j, c in m.terms:
                dens[j] = math.lcm(dens[j], c.denominator)
        cols = np.zeros((wn.shape[0], self.prev_width), dtype=object)
        for r, m in live:
            for j, c in m.terms:
                cols[:, j] += wn[:, r] * (c.numerator * (dens[j] // c.denominator))
        od = math.lcm(1, *(m.offset.denominator for _, m in live))
        const = sum((wn[:, r] * (m.offset.numerator * (od // m.offset.denominator)) for r, m in live if m.offset),
                    np.zeros(wn.shape[0], dtype=object))
        dead = [r for r, m in enumerate(self.prev) if m.reason == "dead"]
        rn, rd = _ints(self.red.weight)
        rbn, rbd = _ints(self.red.bias)
        out = []
        if targets:
            s_, j_, c_ = zip(*targets)
            num = np.empty((len(targets), 1), dtype=object)
            den = np.empty((len(targets), 1), dtype=object)
            num[:, 0], den[:, 0] = [c.numerator for c in c_], [c.denominator for c in c_]
            scale = np.empty((1, self.prev_width), dtype=object)
            scale[0, :] = [wd * d for d in dens]
            bad_rows = np.any(cols[list(s_)] * (den * rd) != rn[list(j_)] * num * scale, axis=1)
            for t, (s, j, c) in enumerate(targets):
                lhs_const = Fraction(const[s], wd * od) + Fraction(bn[s], bd)
                bad_dead = [r for r in dead if wn[s, r] != 0]
                if bad_rows[t] or bad_dead or lhs_const != c * Fraction(rbn[j], rbd):
                    what = ("a coefficient" if bad_rows[t] else
                            f"weight on dead neuron {bad_dead[0]}" if bad_dead else "constant term")
                    out.append(f"layer {self.ell} neuron {s}: original pre-activation != {fraction_str(c)} * reduced "
                               f"neuron {j} ({what})")
        act = self.orig.activation
        for s, offset in constants:
            kappa = Fraction(const[s], wd * od) + Fraction(bn[s], bd)
            nonconst = any(cols[s, i] != 0 for i in range(self.prev_width)) or any(wn[s, r] != 0 for r in dead)
            if nonconst or not _value_is(act, kappa, offset):
                out.append(f"layer {self.ell} neuron {s}: not the constant {fraction_str(offset)}")
        return out[:3]

    def cost(self, item: tuple) -> int:
        n = int(np.count_nonzero(self.orig.weight[item[0]]))
        return n + (int(np.count_nonzero(self.red.weight[item[1]])) if len(item) == 3 else 0)

    @cached_property
    def _values(self) -> tuple[list[z3.ArithRef], list[z3.ArithRef]]:
        """z3 terms for the reduced previous-layer values and each original previous neuron's value."""
        prev = [z3.Real(f"h{j}") for j in range(self.prev_width)]
        values = [z3.Real(f"d{r}") if m.reason == "dead" else
                  z3.Sum([_q(c) * prev[j] for j, c in m.terms] + [_q(m.offset)]) for r, m in enumerate(self.prev)]
        return prev, values

    def z3(self, item: tuple, timeout_ms: int) -> str | None:
        """∃ values with original z_s ≠ c·z'_cls (target) or σ(z_s) ≠ offset / z_s ≠ 0 (constant); None if unsat."""
        prev, values = self._values
        s = item[0]
        w = self.orig.weight[s]
        z = z3.Sum([_q(w[r]) * values[r] for r in np.flatnonzero(w != 0)] + [_q(self.orig.bias[s])])
        if len(item) == 3:
            j, c = item[1], item[2]
            wr = self.red.weight[j]
            zr = z3.Sum([_q(wr[i]) * prev[i] for i in np.flatnonzero(wr != 0)] + [_q(self.red.bias[j])])
            negation = z != _q(c) * zr
        elif self.orig.activation.piecewise_linear:
            negation = _sigma(self.orig.activation, z) != _q(item[1])
        else:
            negation = z != 0
        answer = _z3_unsat(negation, timeout_ms)
        return None if answer == z3.unsat else f"layer {self.ell} neuron {s}: z3 answers {answer} (expected unsat)"


def _value_is(act: Activation, kappa: Fraction, offset: Fraction) -> bool:
    try:
        return act.exact(kappa) == offset
    except ValueError:
        return False
