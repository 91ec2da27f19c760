"""The whole claim of a certificate as standalone SMT-LIB 2 scripts (QF_LRA) that z3 or cvc5 alone re-checks.

The per-obligation scripts (smt.py) re-check the layer identities; they rest on the input box and the phase
claims, which the prover decides with its own bounds. These scripts carry every assumption instead:

- `phases.L<l>.smt2` (domain reductions): the box, the original network up to layer l (ReLUs as `ite`), the phase
  claims of layers < l assumed, and the negation of layer l's claims. unsat proves layer l's claims from the
  earlier ones; all of them unsat prove every claim on the box, by induction over the layers.
- `relation.L<l>.smt2` (strict claims): the certificate's relation of layer l-1 assumed (for l = 1: both models'
  layer-chain inputs computed from one input x in the box, input clipping and normalisation included), the phase
  claims of layer l assumed, and the negation of the relation of layer l (v_r = sum c * v'_class + offset, a
  ghost class standing for its representative's value), or for the last layer of equal outputs (output maps
  included). unsat proves the relation of layer l from that of layer l-1.
- `claim.smt2` (ε-claims, whose reduced file is not the quotient the relation describes): the box, every phase
  claim assumed, both models in full and |original - reduced| > ε on some output: one monolithic query, quick
  for small networks, possibly slow for large ones.

Together, by induction over the layers: box ⇒ every phase claim (phases scripts), and box ∧ claims ⇒ relation of
layer 1 ⇒ … ⇒ equal outputs (relation scripts): every script unsat proves the certificate's whole claim, with
no step left to lumpcheck. Models are taken as `semantics` says: in full (clip, normalisation and output map) or
as bare layer chains ('layers'). Piecewise-linear networks only (sigmoid/tanh have no QF_LRA encoding).
"""

from __future__ import annotations

from fractions import Fraction

from ..ir.activation import Activation
from ..ir.domain import Box
from ..ir.exact import as_fractions
from ..ir.network import Network, layers_only
from ..ir.normalization import per_output
from ..ir.relation import NeuronMap, PhaseClaims, Relation
from .smt import literal


def _sum(parts: list[str]) -> str:
    return "0.0" if not parts else parts[0] if len(parts) == 1 else f"(+ {' '.join(parts)})"


def _act(act: Activation, z: str) -> str:
    if act.kind == "identity":
        return z
    if act.kind == "relu":
        return f"(ite (> {z} 0.0) {z} 0.0)"
    if act.kind == "leaky_relu":
        return f"(ite (>= {z} 0.0) {z} (* {literal(act.alpha)} {z}))"
    raise ValueError(f"{act} has no SMT-LIB encoding (transcendental)")


def _clamp(x: str, lo: Fraction | None, hi: Fraction | None) -> str:
    if lo is not None:
        x = f"(ite (< {x} {literal(lo)}) {literal(lo)} {x})"
    if hi is not None:
        x = f"(ite (> {x} {literal(hi)}) {literal(hi)} {x})"
    return x


def _chain_input(net: Network, p: str, lines: list[str]) -> list[str]:
    """Names of what the layer chain of `net` receives for the model input x: inp(clip(x)) (x itself without
    normalisation); define-funs appended to `lines`."""
    norm = net.normalization
    if norm is None:
        return [f"x_{i}" for i in range(net.input_size)]
    for i in range(net.input_size):
        c = _clamp(f"x_{i}", *norm.clip_bounds(i))
        lines.append(f"(define-fun {p}in_{i} () Real (* {literal(1 / Fraction(norm.input_range[i]))} "
                     f"(- {c} {literal(norm.input_mean[i])})))")
    return [f"{p}in_{i}" for i in range(net.input_size)]


def _dense(net: Network, ell: int, v: list[str], p: str, lines: list[str]) -> tuple[list[str], list[str]]:
    """Layer `ell` of `net` on the values `v`: names of its pre-activations and of its values (define-funs)."""
    layer = net.layers[ell - 1]
    w, b = as_fractions(layer.weight), as_fractions(layer.bias)
    for r in range(layer.out_features):
        terms = [literal(b[r])] + [f"(* {literal(w[r][k])} {v[k]})" for k in range(layer.in_features) if w[r][k] != 0]
        lines.append(f"(define-fun {p}z{ell}_{r} () Real {_sum(terms)})")
        lines.append(f"(define-fun {p}h{ell}_{r} () Real {_act(layer.activation, f'{p}z{ell}_{r}')})")
    return [f"{p}z{ell}_{r}" for r in range(layer.out_features)], [f"{p}h{ell}_{r}" for r in range(layer.out_features)]


def _outputs(net: Network, h: list[str], p: str, lines: list[str]) -> list[str]:
    """The model's outputs out(h) (h itself without normalisation)."""
    norm = net.normalization
    if norm is None:
        return h
    rng, mean = per_output(norm.output_range, len(h)), per_output(norm.output_mean, len(h))
    for j in range(len(h)):
        lines.append(f"(define-fun {p}y_{j} () Real (+ (* {literal(rng[j])} {h[j]}) {literal(mean[j])}))")
    return [f"{p}y_{j}" for j in range(len(h))]


def _model(net: Network, p: str, upto: int | None = None) -> tuple[list[str], list[list[str]], list[str]]:
    """define-funs of `net` on inputs x_i (prefix `p`): lines, pre-activation names per layer, output names.
    With `upto`, only layers 1..upto (and no outputs)."""
    lines: list[str] = []
    v = _chain_input(net, p, lines)
    pres: list[list[str]] = []
    for ell in range(1, (upto or len(net.layers)) + 1):
        z, v = _dense(net, ell, v, p, lines)
        pres.append(z)
    return lines, pres, (v if upto else _outputs(net, v, p, lines))


def _head(comment: list[str], n: int, box: Box | None) -> list[str]:
    lines = [f"; {c}" for c in comment] + ["(set-logic QF_LRA)"] + [f"(declare-fun x_{i} () Real)" for i in range(n)]
    if box is not None:
        lines.append(f"; the input box{f' of {box.source}' if box.source else ''} (exact)")
        lines += [f"(assert (and (<= {literal(lo)} x_{i}) (<= x_{i} {literal(hi)})))"
                  for i, (lo, hi) in enumerate(zip(box.lower, box.upper))]
    return lines


def _phase_atoms(claims: PhaseClaims, z: list[str], layer: int) -> list[str]:
    """Layer `layer`'s claims on its pre-activations `z`: z <= 0 (stably inactive), z >= 0 (stably active)."""
    return [f"({'<=' if c.phase < 0 else '>='} {z[c.neuron]} 0.0)" for c in claims.layers[layer - 1]]


def _map(m: NeuronMap, classes: list[str]) -> str:
    """v_r as the relation states it: sum of factor * class value, plus offset."""
    return _sum([f"(* {literal(c)} {classes[j]})" for j, c in m.terms] + ([literal(m.offset)] if m.offset else []))


def _differ(a: list[str], b: list[str], epsilon: Fraction | None) -> list[str]:
    if not epsilon:
        return [f"(not (= {x} {y}))" for x, y in zip(a, b)]
    eps = literal(epsilon)
    return [f"(> (- {x} {y}) {eps})" for x, y in zip(a, b)] + [f"(> (- {y} {x}) {eps})" for x, y in zip(a, b)]


def _relation_script(original: Network, reduced: Network, relation: Relation, box: Box | None,
                     claims: PhaseClaims | None, ell: int) -> str:
    """relation.L<ell>.smt2: the relation of layer ell-1 (for ell = 1: the models' inputs from one x in the box) and
    the phase claims of layer ell imply the relation of layer ell (for the last layer: equal outputs)."""
    last = ell == len(original.layers)
    shown = "equal outputs" if last else f"the relation of layer {ell} (v_r = sum c * v'_class + offset)"
    since = "for every input in the box" if ell == 1 and box is not None else (
        "for every input" if ell == 1 else f"from the relation of layer {ell - 1} (relation.L{ell - 1}.smt2)")
    head = [f"lumpcheck relation.L{ell}: unsat proves {shown} {since}"
            + (f", given the phase claims of layer {ell} (phases.L{ell}.smt2)" if _has_claims(claims, ell) else "")]
    if ell == 1:
        lines = _head(head, original.input_size, box)
        v, u = _chain_input(original, "o_", lines), _chain_input(reduced, "r_", lines)
    else:
        prev = relation.layers[ell - 2]
        lines = _head(head, 0, None)
        v = [f"v_{s}" for s in range(len(prev.maps))]
        classes = [f"u_{j}" for j in range(prev.reduced_width)] + [f"g_{j}" for j in range(prev.ghosts)]
        lines += [f"(declare-fun {name} () Real)" for name in v + classes]
        lines += [f"(assert (= {v[s]} {_map(m, classes)}))" for s, m in enumerate(prev.maps)]
        u = classes[: prev.reduced_width]
    z, h = _dense(original, ell, v, "o_", lines)
    _, h_red = _dense(reduced, ell, u, "r_", lines)
    if _has_claims(claims, ell):
        lines += [f"(assert {a})" for a in _phase_atoms(claims, z, ell)]
    if last:
        negated = _differ(_outputs(original, h, "o_", lines), _outputs(reduced, h_red, "r_", lines), None)
    else:
        here = relation.layers[ell - 1]
        ghosts = []
        for j, rep in enumerate(here.ghost_representatives()):  # a ghost's value: its representative's (1·g + 0)
            if rep is None:
                lines.append(f"(declare-fun G_{j} () Real)")  # none: the claim cannot rest on it (sat if used)
            ghosts.append(h[rep] if rep is not None else f"G_{j}")
        negated = [f"(not (= {h[s]} {_map(m, h_red + ghosts)}))" for s, m in enumerate(here.maps)]
    return _script(lines, negated)


def _has_claims(claims: PhaseClaims | None, ell: int) -> bool:
    return claims is not None and ell <= len(claims.layers) and bool(claims.layers[ell - 1])


def claim_scripts(original: Network, reduced: Network, relation: Relation, box: Box | None,
                  claims: PhaseClaims | None, semantics: str = "model", epsilon: Fraction | None = None) -> dict[str, str]:
    """{file name: script} re-checking `original` ≡ `reduced` on `box` (strict: by the relation, layer by layer) or
    |original - reduced| <= ε (one query: the reduced file is not the quotient the relation describes)."""
    if semantics == "layers":
        original, reduced = layers_only(original), layers_only(reduced)
    out: dict[str, str] = {}
    where = "on the box" if box is not None else "on all inputs"
    layers = [ell for ell in range(1, len(original.layers)) if _has_claims(claims, ell)]
    for ell in layers:
        lines, pres, _ = _model(original, "o_", upto=ell)
        head = _head([f"lumpcheck phases.L{ell}: unsat proves the phase claims of layer {ell} of the original model "
                      f"{where}, given those of the layers before it (proved by their phases.L*.smt2)"],
                     original.input_size, box)
        assumed = [f"(assert {a})" for k in layers if k < ell for a in _phase_atoms(claims, pres[k - 1], k)]
        out[f"phases.L{ell}.smt2"] = _script(head + lines + assumed,
                                             [f"(not {a})" for a in _phase_atoms(claims, pres[ell - 1], ell)])
    if epsilon is None:
        for ell in range(1, len(original.layers) + 1):
            out[f"relation.L{ell}.smt2"] = _relation_script(original, reduced, relation, box, claims, ell)
        return out
    o_lines, pres, o_out = _model(original, "o_")
    r_lines, _, r_out = _model(reduced, "r_")
    head = _head([f"lumpcheck claim: unsat proves |original - reduced| <= epsilon = {epsilon} on every output {where}"
                  + (", given the phase claims (phases.L*.smt2)" if layers else "")
                  + "; one monolithic query: slow for large networks"], original.input_size, box)
    assumed = [f"(assert {a})" for k in layers for a in _phase_atoms(claims, pres[k - 1], k)]
    out["claim.smt2"] = _script(head + o_lines + r_lines + assumed, _differ(o_out, r_out, epsilon))
    return out


def _script(lines: list[str], negated: list[str]) -> str:
    body = "false" if not negated else negated[0] if len(negated) == 1 else "(or " + " ".join(negated) + ")"
    return "\n".join(lines + [f"(assert {body})", "(check-sat)", "(exit)", ""])
