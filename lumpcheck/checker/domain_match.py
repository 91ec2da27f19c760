"""Independent checker for domain-match certificates ('lumpcheck-domain-match-certificate' v1,
specs/domain-certificate.md): two models are equal at every point of a box.

Claim checked: for every input x of the models' box, models A and B (normalisation and clipping included) give
the same outputs. How, from the two models and the certificate only:
1. the models' comparison form (ir.semantics.compare, output maps folded, clips compiled: property (C), the plain
   chains agree on the plain box iff the models agree on the models' box) must be the claim's (plain box equal,
   chains' fingerprints equal); X is the chain `side` names, Y the other;
2. R is rebuilt here from Y (or, with a 'lumping' entry, from the recorded Y', Y's coarsest lumping, once its own
   strict certificate Y -> Y' checks against Y and Y') and the matching: R's hidden neuron j is Y's neuron perm[j] divided by scale[j] (its
   incoming weights from R's previous layer are W_Y[perm_k[j], perm_{k-1}[i]]·scale_{k-1}[i] / scale_k[j]); with
   perm a bijection and σ(c·z) = c·σ(z) for every scale c (ir.activation's merge_offset(c) = 0), Y's neuron
   perm[j] equals scale[j] times R's neuron j at every input, and the outputs are equal: R = Y everywhere, by
   construction (nothing of the matcher is trusted);
3. the embedded reduction certificate X -> R is checked as `lumpcheck check` checks any strict certificate
   (strict.StrictVerifier: every obligation re-derived from X, R and the relation; phase claims re-confirmed by
   re-running the recorded bounds method on X over the box), with its domain required to be the claim's box.
Then X = R on the box and R = Y everywhere, so X = Y on the box.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..ir.activation import Activation
from ..ir.domain import Box
from ..ir.exact import as_fractions
from ..ir.network import Layer, Network
from .document import DOMAIN_FORMAT, DOMAIN_FORMAT_VERSION, Malformed, Scope, parse_claim, parse_rational, require_field
from .pair_claim import compared_chains
from .result import CheckResult
from .strict import StrictVerifier


def check_domain_match(doc: Any, a: Network, b: Network, solver_check: str = "auto",
                       timeout_ms: int = 60_000) -> CheckResult:
    """Re-check a domain-match certificate (a parsed JSON document) against the models a and b."""
    try:
        if require_field(doc, "format", str, "$") != DOMAIN_FORMAT or \
                require_field(doc, "version", int, "$") != DOMAIN_FORMAT_VERSION:
            raise Malformed(f"certificate: not a {DOMAIN_FORMAT} version {DOMAIN_FORMAT_VERSION}")
        claim = require_field(doc, "claim", dict, "$")
        if require_field(claim, "mode", str, "claim") != "strict":
            raise Malformed("certificate: claim.mode must be 'strict' (equal outputs on the box)")
        side = require_field(doc, "side", str, "$")
        if side not in ("a", "b"):
            raise Malformed(f"certificate: side must be 'a' or 'b', not {side!r}")
        chains, problems = compared_chains(claim, a, b)
        if chains is None:
            return CheckResult(False, problems)
        plain_box, model_box = chains.box, chains.model_box
        x, y = (chains.a, chains.b) if side == "a" else (chains.b, chains.a)
        y, reasons = _lumped(doc.get("lumping"), y, plain_box, solver_check, timeout_ms)
        if reasons:
            return CheckResult(False, reasons)
        r = rebuild(y, require_field(doc, "matching", list, "$"))
        inner = require_field(doc, "reduction", dict, "$")
        reduction = parse_claim(inner)
        if reduction.semantics != "layers" or reduction.domain is None or \
                (tuple(reduction.domain[0]), tuple(reduction.domain[1])) != (plain_box.lower, plain_box.upper):
            raise Malformed("certificate: the reduction's claim must be about the plain chains (semantics 'layers') "
                            "on exactly the claim's box")
        reasons = StrictVerifier(reduction, x, r, solver_check, timeout_ms).run()
    except Malformed as e:
        return CheckResult(False, [str(e)])
    if reasons:
        return CheckResult(False, [f"reduction X -> R on the box: {why}" for why in reasons])
    source = str(claim["models"]["domain"].get("source", ""))  # informative: the property file's name
    return CheckResult(True, [], Scope("strict", None, model_box.lower, model_box.upper, source, True, "model"))


def _lumped(lumping: Any, y: Network, box: Box, solver_check: str, timeout_ms: int) -> tuple[Network, list[str]]:
    """(Y', reasons): Y itself without a 'lumping' entry; else the recorded Y' once its certificate Y -> Y' checks
    (strict, everywhere or on the claim's box)."""
    if lumping is None:
        return y, []
    network = network_from(require_field(require_field(lumping, "network", dict, "lumping"), "layers", list,
                                         "lumping.network"))
    claim = parse_claim(require_field(lumping, "certificate", dict, "lumping"))
    if claim.semantics != "layers" or (claim.domain is not None and
                                       (tuple(claim.domain[0]), tuple(claim.domain[1])) != (box.lower, box.upper)):
        raise Malformed("certificate: the lumping's claim must be about the plain chains (semantics 'layers'), "
                        "everywhere or on exactly the claim's box")
    reasons = StrictVerifier(claim, y, network, solver_check, timeout_ms).run()
    return network, [f"lumping Y -> Y': {why}" for why in reasons]


def network_from(layers: list) -> Network:
    """A network from exact 'p/q' parameters (the certificate's Y'); Malformed when they do not form one."""
    out = []
    for k, lay in enumerate(layers):
        where = f"lumping.network.layers[{k}]"
        rows = require_field(lay, "weight", list, where)
        weight = [[parse_rational(v, f"{where}.weight") for v in require_field({"row": row}, "row", list, where)]
                  for row in rows]
        bias = [parse_rational(v, f"{where}.bias") for v in require_field(lay, "bias", list, where)]
        if not weight or any(len(row) != len(weight[0]) for row in weight) or len(bias) != len(weight) or \
                (out and out[-1].out_features != len(weight[0])):
            raise Malformed(f"certificate: {where}: the weights and biases do not form a layer of this network")
        try:
            act = Activation(require_field(lay, "activation", str, where),
                             parse_rational(require_field(lay, "alpha", str, where), f"{where}.alpha"))
        except ValueError as e:
            raise Malformed(f"certificate: {where}: {e}") from None
        out.append(Layer(np.array(weight, dtype=object), np.array(bias, dtype=object), act))
    if not out:
        raise Malformed("certificate: lumping.network has no layers")
    return Network(out)


def rebuild(y: Network, matching: list) -> Network:
    """R from Y and the matching (module docstring, step 2), exactly (object arrays of Fractions); Malformed when
    a perm is not a bijection of the layer's neurons or a scale is not admissible for the layer's activation."""
    hidden = len(y.layers) - 1
    if len(matching) != hidden:
        raise Malformed(f"certificate: matching has {len(matching)} layers, the network {hidden} hidden layers")
    prev_perm, prev_scale = list(range(y.input_size)), [Fraction(1)] * y.input_size
    layers = []
    for k, lay in enumerate(y.layers):
        if k < hidden:
            perm, scale = _layer_matching(matching[k], lay, k)
        else:
            perm, scale = list(range(lay.out_features)), [Fraction(1)] * lay.out_features
        w, bias = as_fractions(lay.weight), as_fractions(lay.bias)
        cols = w[:, prev_perm] * np.array(prev_scale, dtype=object)[None, :]
        rows = np.array(perm, dtype=np.intp)
        inv = np.array([1 / c for c in scale], dtype=object)
        layers.append(Layer(cols[rows] * inv[:, None], bias[rows] * inv, lay.activation))
        prev_perm, prev_scale = perm, scale
    return Network(layers)


def _layer_matching(entry: Any, lay: Layer, k: int) -> tuple[list[int], list[Fraction]]:
    where = f"matching[{k}]"
    perm = require_field(entry, "perm", list, where)
    scale = [parse_rational(v, f"{where}.scale") for v in require_field(entry, "scale", list, where)]
    n = lay.out_features
    if len(perm) != n or len(scale) != n or sorted(perm) != list(range(n)) or \
            not all(isinstance(t, int) and not isinstance(t, bool) for t in perm):
        raise Malformed(f"certificate: {where} must list a permutation of the layer's {n} neurons and {n} scales")
    bad = [c for c in scale if c == 0 or lay.activation.merge_offset(c) != 0]
    if bad:
        raise Malformed(f"certificate: {where}: scale {bad[0]} is not admissible for {lay.activation} "
                        "(it must pass through the activation: sigma(c z) = c sigma(z))")
    return [int(t) for t in perm], scale

