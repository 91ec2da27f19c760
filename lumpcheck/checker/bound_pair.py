"""Independent checker for difference-bound certificates ('lumpcheck-difference-bound-certificate' v1,
specs/bound-certificate.md): two models of one architecture are within ε of each other on a box, or decide alike.

Claim checked: for every input x of the models' box, max_i |A(x)_i − B(x)_i| <= ε (mode epsilon), or A and B
both decide the same class (mode top1: their unique maximal output; argmin: minimal) — `claim.class` on the whole
box, or, with a split tree, each leaf's class on that leaf — normalisation and clipping included. How, from the
two models and the certificate only:
1. the models' comparison form (pair_claim.compared_chains: output maps folded, clips compiled; the plain chains
   behave on the plain box as the models on the models' box) must be the claim's;
   With `padding` (B a pruned copy), B is replaced by B padded to A's widths by the recorded neuron maps
   (ir.padding.pad_to, rebuilt here: exactly B wherever it is evaluated), which must then have A's architecture;
2. the pieces: the plain box, or the leaves of the optional `tree`, which must be exactly the leaves of one
   complete binary tree of input splits, each split point finite and strictly inside its node's interval
   (split_tree.check_tree / split_boxes): then the leaves' exact boxes cover the plain box;
3. per piece, D: the checker's own back-substituted bound on |A − B| over that piece (epsilon.checked_bound, with
   the certificate's substitution window: any window gives a sound bound, only its tightness depends on it);
4. epsilon: D <= ε. top1/argmin: every margin lower bound s·(y_c − y_j) of A on the piece
   (bounds.propagate.decision_margins) exceeds 2·D; then A decides c there, and B too, since
   s·(B_c − B_j) >= s·(A_c − A_j) − |Δ_c| − |Δ_j| > 2·D − 2·D.
Every piece is re-derived; the certificate's recorded bounds (whole-box and per leaf) are informative, never used.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from ..bounds.propagate import decision_margins
from ..errors import LumpcheckError
from ..ir.domain import Box
from ..ir.exact import fraction_str
from ..ir.network import Network
from ..ir.padding import pad_to
from .document import BOUND_FORMAT, BOUND_FORMAT_VERSION, Malformed, Scope, parse_rational, require_field
from .epsilon import checked_bound
from .pair_claim import compared_chains
from .result import CheckResult
from .split_tree import TreeError, check_tree, path_entry, split_boxes

MAX_WINDOW = 64
"""A window beyond the number of layers means 'all of them'; larger values are refused as malformed."""


def check_bound_certificate(doc: Any, a: Network, b: Network) -> CheckResult:
    """Re-check a difference-bound certificate (a parsed JSON document) against the models a and b."""
    try:
        if require_field(doc, "format", str, "$") != BOUND_FORMAT or \
                require_field(doc, "version", int, "$") != BOUND_FORMAT_VERSION:
            raise Malformed(f"certificate: not a {BOUND_FORMAT} version {BOUND_FORMAT_VERSION}")
        claim = require_field(doc, "claim", dict, "$")
        mode = require_field(claim, "mode", str, "claim")
        if mode not in ("epsilon", "top1", "argmin"):
            raise Malformed("certificate: claim.mode must be 'epsilon', 'top1' or 'argmin'")
        epsilon = None
        if mode == "epsilon":
            epsilon = parse_rational(require_field(claim, "epsilon", str, "claim"), "claim.epsilon")
            if epsilon < 0:
                raise Malformed("certificate: claim.epsilon is negative")
        window = require_field(doc, "window", int, "$")
        if isinstance(window, bool) or not 0 <= window <= MAX_WINDOW:
            raise Malformed(f"certificate: window must be a count of layers in [0, {MAX_WINDOW}], not {window!r}")
        leaves = _leaves(doc, claim, mode)
        chains, problems = compared_chains(claim, a, b)
        if chains is not None:
            pieces = split_boxes(chains.box, [path for path, _ in leaves])
    except (Malformed, TreeError) as e:
        return CheckResult(False, [str(e)])
    if chains is None:
        return CheckResult(False, problems)
    b = chains.b
    if "padding" in doc:  # B a pruned copy: bounded as B padded to A's widths, exactly B (ir/padding.py)
        try:
            b = pad_to(chains.a, chains.b, doc["padding"] if isinstance(doc["padding"], list) else None)
        except (ValueError, TypeError) as e:
            return CheckResult(False, [f"certificate: padding: {e}"])
    if chains.a.widths != b.widths or \
            [layer.activation for layer in chains.a.layers] != [layer.activation for layer in b.layers]:
        return CheckResult(False, [f"the models' chains differ in architecture or activations ({chains.a.shape_str()} "
                                   f"vs {chains.b.shape_str()}): a difference bound needs one architecture (or a "
                                   "padding of B's neurons into A's)"])
    for (path, cls), box in zip(leaves, pieces):
        try:
            bound = checked_bound(chains.a, b, box, window)
        except (LumpcheckError, ValueError) as e:
            return CheckResult(False, [f"domain: {e}"])
        reasons = _ruled_out(chains.a, box, mode, epsilon, cls, bound)
        if reasons:
            where = f"piece {list(path)} of the split tree: " if "tree" in doc else ""
            return CheckResult(False, [where + reasons[0]])
    source = str(claim["models"]["domain"].get("source", ""))  # informative: the property file's name
    box = chains.model_box
    return CheckResult(True, [], Scope(mode, epsilon, box.lower, box.upper, source, True, "model", pair=True))


def _leaves(doc: dict, claim: dict, mode: str) -> list[tuple[tuple, int | None]]:
    """The pieces to prove as (split path, class): the whole box (path ()) with claim.class, or the leaves of
    `tree` with their own classes (top1/argmin; null for epsilon). The paths must form one complete binary split
    tree (split_tree.check_tree); that each split cuts its piece strictly inside is checked with the box."""
    decides = mode != "epsilon"
    if "tree" not in doc:
        return [((), require_field(claim, "class", int, "claim") if decides else None)]
    if "class" in claim:
        raise Malformed("certificate: with a split tree each leaf names its class; claim.class must be absent")
    raw = require_field(require_field(doc, "tree", dict, "$"), "leaves", list, "tree")
    out = []
    for k, leaf in enumerate(raw):
        where = f"tree.leaves[{k}]"
        entries = require_field(leaf, "path", list, where)
        try:
            path = tuple(path_entry(e) for e in entries)
        except (ValueError, OverflowError) as e:
            raise Malformed(f"certificate: {where}.path: {e}") from None
        if decides:
            cls = require_field(leaf, "class", int, where)
        elif leaf.get("class") is not None:
            raise Malformed(f"certificate: {where}.class must be null in mode epsilon")
        out.append((path, cls if decides else None))
    check_tree([path for path, _ in out], "input")
    return out


def _ruled_out(a: Network, box: Box, mode: str, epsilon: Fraction | None, cls: int | None, bound: Fraction) -> list[str]:
    """Why the claim does not follow on `box` from the bound D on |A − B| there (step 4 of the module docstring);
    [] if it does."""
    if mode == "epsilon":
        return [] if bound <= epsilon else [f"cannot establish ε={fraction_str(epsilon)}: the checker's bound on "
                                            f"|A - B| is {float(bound):.6g}"]
    outputs = a.output_size
    if not 0 <= cls < outputs:
        return [f"class {cls} is not an output of the models ({outputs} outputs)"]
    try:
        margins = decision_margins(a, box, cls, 1 if mode == "top1" else -1)
    except ValueError as e:
        return [f"A's decision margins: {e}"]
    low = min(margins, default=None)
    if low is None or low <= 2 * bound:
        return [f"cannot establish {mode} class {cls}: A's margin bound {'none' if low is None else f'{float(low):.6g}'} "
                f"is not above twice the bound on |A - B| ({float(bound):.6g})"]
    return []
