"""Independent checker for difference-bound certificates ('lumpcheck-difference-bound-certificate' v1,
specs/bound-certificate.md): two models of one architecture are within ε of each other on a box.

Claim checked: for every input x of the models' box, max_i |A(x)_i − B(x)_i| <= ε (normalisation and clipping
included). How, from the two models and the certificate only:
1. the models' comparison form (pair_claim.compared_chains: output maps folded, clips compiled; the plain chains
   differ by at most ε on the plain box iff the models do on the models' box) must be the claim's;
2. the checker's own back-substituted bound on |A − B| over the plain box (epsilon.checked_bound, with the
   certificate's substitution window: any window gives a sound bound, only its tightness depends on it) must not
   exceed ε. The certificate's recorded bound is informative and never used.
"""

from __future__ import annotations

from typing import Any

from ..errors import LumpcheckError
from ..ir.exact import fraction_str
from ..ir.network import Network
from .document import BOUND_FORMAT, BOUND_FORMAT_VERSION, Malformed, Scope, parse_rational, require_field
from .epsilon import checked_bound
from .pair_claim import compared_chains
from .result import CheckResult

MAX_WINDOW = 64
"""A window beyond the number of layers means 'all of them'; larger values are refused as malformed."""


def check_bound_certificate(doc: Any, a: Network, b: Network) -> CheckResult:
    """Re-check a difference-bound certificate (a parsed JSON document) against the models a and b."""
    try:
        if require_field(doc, "format", str, "$") != BOUND_FORMAT or \
                require_field(doc, "version", int, "$") != BOUND_FORMAT_VERSION:
            raise Malformed(f"certificate: not a {BOUND_FORMAT} version {BOUND_FORMAT_VERSION}")
        claim = require_field(doc, "claim", dict, "$")
        if require_field(claim, "mode", str, "claim") != "epsilon":
            raise Malformed("certificate: claim.mode must be 'epsilon'")
        epsilon = parse_rational(require_field(claim, "epsilon", str, "claim"), "claim.epsilon")
        if epsilon < 0:
            raise Malformed("certificate: claim.epsilon is negative")
        window = require_field(doc, "window", int, "$")
        if isinstance(window, bool) or not 0 <= window <= MAX_WINDOW:
            raise Malformed(f"certificate: window must be a count of layers in [0, {MAX_WINDOW}], not {window!r}")
        chains, problems = compared_chains(claim, a, b)
    except Malformed as e:
        return CheckResult(False, [str(e)])
    if chains is None:
        return CheckResult(False, problems)
    if chains.a.widths != chains.b.widths or \
            [layer.activation for layer in chains.a.layers] != [layer.activation for layer in chains.b.layers]:
        return CheckResult(False, [f"the models' chains differ in architecture or activations ({chains.a.shape_str()} "
                                   f"vs {chains.b.shape_str()}): a difference bound needs one architecture"])
    try:
        bound = checked_bound(chains.a, chains.b, chains.box, window)
    except (LumpcheckError, ValueError) as e:
        return CheckResult(False, [f"domain: {e}"])
    if bound > epsilon:
        return CheckResult(False, [f"cannot establish ε={fraction_str(epsilon)}: the checker's bound on |A - B| is "
                                   f"{float(bound):.6g}"])
    source = str(claim["models"]["domain"].get("source", ""))  # informative: the property file's name
    box = chains.model_box
    return CheckResult(True, [], Scope("epsilon", epsilon, box.lower, box.upper, source, True, "model", pair=True))
