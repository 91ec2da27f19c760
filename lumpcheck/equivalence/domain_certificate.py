"""Certificates for verify's domain-match verdicts (format 'lumpcheck-domain-match-certificate' v1).

The verdict rests on X ≡ R on the box (R: X reduced on the box, as `reduce --domain` does) and R ≅ Y (neuron
permutation and admissible scaling, exact). The certificate records the first as a strict reduction certificate
about the two in-memory chains (prove.records; phase claims, relation, obligations) and the second as the
matching, and NOT R itself: the checker (checker/domain_match.py) rebuilds R from Y and the matching, so R ≅ Y
holds by construction, and then re-derives every obligation of X ≡ R on the box. Layout (specs/domain-certificate.md):

{
  "format": "lumpcheck-domain-match-certificate", "version": 1,
  "claim": {"mode": "strict", "box": {"lower": [p/q...], "upper": [...]},       # over the plain chains' inputs
            "models": {"domain": {"lower": [...], "upper": [...], "source": name}}, # the models' own box
            "a": {"sha256": ..., "shape": ...}, "b": {...}},                     # ir.network.fingerprint of the chains
  "side": "a" | "b",                                 # X, the network reduced on the box (Y is the other one)
  "matching": [{"perm": [t...], "scale": [p/q...]} per hidden layer],  # v_Y[perm[j]] = scale[j]·v_R[j]
  "reduction": {... a lumpcheck-certificate v3 document, X -> R, semantics 'layers', its domain = claim.box ...},
  "lumping": null | {"network": {"layers": [{"weight": [[p/q...]...], "bias": [p/q...], "activation": kind,
                                             "alpha": p/q}, ...]},        # Y', Y's coarsest lumping, exactly
                     "certificate": {... a lumpcheck-certificate v3 document, Y -> Y', semantics 'layers' ...}}
}
With "lumping", R is matched to Y' (not Y) and the checker also checks Y ≡ Y' (everywhere).
"""

from __future__ import annotations


from ..checker.document import DOMAIN_FORMAT, DOMAIN_FORMAT_VERSION
from ..ir.domain import Box
from ..ir.exact import as_fractions, fraction_str
from ..ir.network import Network
from ..prove.records import certificate_to_dict
from .domain_match import DomainMatch
from .pair_certificate import pair_claim


def domain_certificate(found: DomainMatch, a: Network, b: Network, box: Box, model_box: Box) -> dict | None:
    """The certificate of a proved domain match of the plain chains a, b on `box` (the comparison form of the
    models' `model_box`); None when there is no proof."""
    if not found.proved or found.reduction is None or (found.lumped_other and found.lumping is None):
        return None
    return {
        "format": DOMAIN_FORMAT,
        "version": DOMAIN_FORMAT_VERSION,
        "claim": {"mode": "strict", **pair_claim(a, b, box, model_box)},
        "side": found.side,
        "matching": [{"perm": [int(t) for t in m.perm], "scale": [fraction_str(c) for c in m.scale]}
                     for m in found.matching],
        "reduction": certificate_to_dict(found.reduction),
        "lumping": None if not found.lumped_other else {"network": network_dict(found.lumped),
                                                        "certificate": certificate_to_dict(found.lumping)},
    }


def network_dict(net: Network) -> dict:
    """A network's exact parameters as 'p/q' strings (what the checker rebuilds Y' from)."""
    return {"layers": [{"weight": [[fraction_str(v) for v in row] for row in as_fractions(lay.weight)],
                        "bias": [fraction_str(v) for v in as_fractions(lay.bias)],
                        "activation": lay.activation.kind, "alpha": fraction_str(lay.activation.alpha)}
                       for lay in net.layers]}
