"""Derive every obligation of a reduction claim from the two networks and the relation (obligations.py)."""

from __future__ import annotations

from fractions import Fraction

from ..ir.activation import Activation
from ..ir.domain import Box
from ..ir.network import Layer, Network, layers_only
from ..ir.relation import DOMAIN_REASONS, LayerRelation, NeuronMap, PhaseClaim, PhaseClaims, Relation
from ..ir.semantics import ComparisonError, compare
from .obligations import (
    ActivationLemma,
    BoundsObligation,
    ClaimedBounds,
    ConstantObligation,
    DomainMap,
    DomainObligation,
    DomainTerm,
    GhostMember,
    GhostObligation,
    InactiveObligation,
    LinearObligation,
    Obligation,
    PreActivations,
    StructureObligation,
    Target,
)


def structure_problems(original: Network, reduced: Network, relation: Relation) -> list[str]:
    """Everything that must hold before layer obligations make sense; empty when the shapes fit."""
    k = len(original.layers)
    if len(reduced.layers) != k:
        return [f"depth differs: original has {k} layers, reduced has {len(reduced.layers)}"]
    problems = []
    if original.input_size != reduced.input_size:
        problems.append(f"input size differs: {original.input_size} vs {reduced.input_size}")
    if original.output_size != reduced.output_size:
        problems.append(f"output size differs: {original.output_size} vs {reduced.output_size}")
    for i, (a, b) in enumerate(zip(original.layers, reduced.layers), start=1):
        if a.activation != b.activation:
            problems.append(f"layer {i}: activation {a.activation} vs {b.activation}")
    if len(relation.layers) != k - 1:
        return problems + [f"relation has {len(relation.layers)} layers, the network has {k - 1} hidden layers"]
    for ell, lr in enumerate(relation.layers, start=1):
        problems += _layer_relation_problems(ell, lr, original.widths[ell], reduced.widths[ell])
    return problems


def _layer_relation_problems(ell: int, lr: LayerRelation, width: int, reduced_width: int) -> list[str]:
    """Shape of one layer's maps: one per original neuron, classes in range, no zero/repeated terms, every
    reduced neuron used, ghost terms only alone and only for dead neurons, every ghost with a representative."""
    out = []
    if len(lr.maps) != width:
        out.append(f"layer {ell}: relation maps {len(lr.maps)} neurons, the original layer has {width}")
    if lr.reduced_width != reduced_width:
        out.append(f"layer {ell}: relation says reduced width {lr.reduced_width}, the reduced model has {reduced_width}")
    if lr.ghosts < 0:
        return out + [f"layer {ell}: negative number of ghost classes {lr.ghosts}"]
    n_classes = reduced_width + lr.ghosts
    used = set()
    for r, nm in enumerate(lr.maps):
        classes = [j for j, _ in nm.terms]
        if any(not 0 <= j < n_classes for j in classes):
            out.append(f"layer {ell} neuron {r}: class out of range in {classes} ({reduced_width} reduced + "
                       f"{lr.ghosts} ghost classes)")
        if len(set(classes)) != len(classes) or any(c == 0 for _, c in nm.terms):
            out.append(f"layer {ell} neuron {r}: repeated class or zero factor in its terms")
        ghost_terms = [j for j in classes if j >= reduced_width]
        if len(classes) > 1 and nm.reason != "linear":
            out.append(f"layer {ell} neuron {r}: only a domain map (reason 'linear') may have several terms")
        if nm.reason == "dead" and len(ghost_terms) != len(classes) or ghost_terms and nm.reason not in ("dead", "linear"):
            out.append(f"layer {ell} neuron {r}: exactly the dead neurons are members of ghost classes")
        if nm.reason == "inactive" and (nm.terms or nm.offset):
            out.append(f"layer {ell} neuron {r}: an inactive neuron has no terms and offset 0")
        used.update(classes)
    unused = sorted(set(range(reduced_width)) - used)
    if unused:
        out.append(f"layer {ell}: reduced neurons {unused[:5]} are not used by any original neuron")
    if not out:
        missing = [reduced_width + g for g, rep in enumerate(lr.ghost_representatives()) if rep is None]
        if missing:
            out.append(f"layer {ell}: ghost classes {missing[:5]} have no member with map 1*g + 0 (representative)")
    return out


def domain_problems(original: Network, relation: Relation, domain: Box | None, claims: PhaseClaims | None) -> list[str]:
    """Domain maps need a box and phase claims; the claims must name stable-able neurons of the original layer
    chain (plain: the box is over the chain's own inputs, see semantics.compare)."""
    uses = any(m.reason in DOMAIN_REASONS for lr in relation.layers for m in lr.maps)
    if claims is None:
        return ["inactive/linear maps hold on an input box only: they need a domain and phase claims"] if uses else []
    if domain is None:
        return ["phase claims without an input domain"]
    out = []
    if domain.dim != original.input_size:
        out.append(f"the domain has {domain.dim} inputs, the network {original.input_size}")
    if len(claims.layers) != len(original.layers) - 1:
        return out + [f"phase claims for {len(claims.layers)} layers, the network has {len(original.layers) - 1} hidden layers"]
    for ell, layer_claims in enumerate(claims.layers, start=1):
        neurons = [c.neuron for c in layer_claims]
        if layer_claims and original.layers[ell - 1].activation.kind not in ("relu", "leaky_relu"):
            out.append(f"layer {ell}: phase claims on a {original.layers[ell - 1].activation} layer")
        if len(set(neurons)) != len(neurons) or any(not 0 <= r < original.widths[ell] for r in neurons):
            out.append(f"layer {ell}: phase claims must name distinct neurons of the layer")
        if any(c.phase not in (-1, 1) for c in layer_claims):
            out.append(f"layer {ell}: a phase claim is -1 (inactive) or +1 (active)")
    return out


def _domain_map(nm: NeuronMap, s: int, here: LayerRelation, act: Activation, phases: dict[int, int]) -> DomainMap:
    """The slopes a domain-linear map uses: its own (from its phase claim) and each term class's (from a witness)."""
    reps = here.ghost_representatives()
    terms = []
    for j, c in nm.terms:
        if j < here.reduced_width:
            witness = next((t for t, m in enumerate(here.maps) if m.reason not in ("dead", *DOMAIN_REASONS)
                            and len(m.terms) == 1 and m.terms[0][0] == j and m.terms[0][1] > 0
                            and (t in phases or act.kind == "identity")), None)
        else:
            witness = reps[j - here.reduced_width]
        slope = None if witness is None else act.linear_slope(phases.get(witness, 0))
        terms.append(DomainTerm(j, c, witness, slope))
    return DomainMap(s, act.linear_slope(phases.get(s, 0)), tuple(terms), nm.offset)


def derive(
    original: Network,
    reduced: Network,
    relation: Relation,
    domain: Box | None = None,
    claims: PhaseClaims | None = None,
    semantics: str = "model",
) -> list[Obligation]:
    """All obligations of the claim 'reduced computes the same function as original' (strict mode), on all of
    R^n, or on `domain` when the relation has domain maps resting on phase `claims`. `semantics` 'model' compares
    the models (normalisation and clipping included, the domain over the original's input; semantics.compare),
    'layers' the bare layer chains (both files' normalisation ignored, the domain over the chains' inputs)."""
    if semantics == "layers":
        original, reduced = layers_only(original), layers_only(reduced)
    else:
        try:
            comparison = compare(original, reduced, domain)
        except ComparisonError as e:
            return [StructureObligation([e.message])]
        original, reduced, domain = comparison.a, comparison.b, comparison.box
    problems = structure_problems(original, reduced, relation)
    problems = problems or domain_problems(original, relation, domain, claims)
    obligations: list[Obligation] = [StructureObligation(problems)]
    if problems:
        return obligations
    k = len(original.layers)
    inputs = LayerRelation([NeuronMap(((i, Fraction(1)),)) for i in range(original.input_size)], original.input_size)
    layers = [inputs, *relation.layers]
    source = None if claims is None else ClaimedBounds(original, domain, claims)
    lemmas: dict[ActivationLemma, None] = {}
    for ell in range(1, k + 1):
        layer, red, prev = original.layers[ell - 1], reduced.layers[ell - 1], layers[ell - 1]
        pre = PreActivations(ell, layer.weight, layer.bias, tuple(prev.maps), prev.reduced_width, prev.ghosts)
        if ell == k:
            targets = [Target(s, s, Fraction(1)) for s in range(layer.out_features)]
            obligations.append(LinearObligation(ell, pre, red.weight, red.bias, targets))
            continue
        layer_claims = [] if claims is None else claims.layers[ell - 1]
        obligations += _hidden_layer(pre, layer, red, layers[ell], layer_claims, source, lemmas)
    return obligations + list(lemmas)


def _hidden_layer(pre: PreActivations, layer: Layer, red: Layer, here: LayerRelation, layer_claims: list[PhaseClaim],
                  source: ClaimedBounds | None, lemmas: dict[ActivationLemma, None]) -> list[Obligation]:
    """Hidden layer ℓ's obligations (bounds, linear, ghost, constant, inactive, domain: those it needs); adds the
    activation lemmas its lumping maps use to `lemmas`."""
    ell = pre.layer
    reps = here.ghost_representatives()
    phases = {c.neuron: c.phase for c in layer_claims}
    targets, ghosts, constants, inactive, linear = [], [], [], [], []
    for s, nm in enumerate(here.maps):
        if nm.reason == "inactive":
            inactive.append(s)
        elif nm.reason == "linear":
            linear.append(_domain_map(nm, s, here, layer.activation, phases))
        elif not nm.terms:
            constants.append((s, nm.offset))
        else:
            ((j, c),) = nm.terms
            if j < here.reduced_width:
                targets.append(Target(s, j, c))
            else:
                ghosts.append(GhostMember(s, reps[j - here.reduced_width], c))
            lemmas[ActivationLemma(layer.activation, c, nm.offset)] = None
    out: list[Obligation] = []
    if layer_claims:
        out.append(BoundsObligation(ell, source, sorted(layer_claims, key=lambda c: c.neuron)))
    if targets:
        out.append(LinearObligation(ell, pre, red.weight, red.bias, targets))
    if ghosts:
        out.append(GhostObligation(ell, pre, ghosts))
    if constants:
        out.append(ConstantObligation(ell, pre, layer.activation, constants))
    if inactive:
        out.append(InactiveObligation(ell, layer.activation, inactive, phases))
    if linear:
        out.append(DomainObligation(ell, pre, red.weight, red.bias, linear, reps))
    return out
