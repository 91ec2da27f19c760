"""The claim of a `verify` certificate about two models on a box, as domain-match and difference-bound certificates
state it: the models' own box (claim.models.domain), the box of their comparison form (claim.box) and the
fingerprints of the two plain chains (claim.a, claim.b). The checker recomputes the comparison form from the model
files (ir.semantics.compare, output maps folded, clips compiled, as `verify` does) and accepts the claim's only when
it is that form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..ir.domain import Box
from ..ir.network import Network, fingerprint
from ..ir.semantics import ComparisonError, compare
from .document import Malformed, parse_rational, require_field


def parse_box(d: Any, where: str) -> Box:
    """A {"lower": [p/q...], "upper": [...]} box; Malformed unless lower <= upper everywhere."""
    lower = [parse_rational(v, f"{where}.lower") for v in require_field(d, "lower", list, where)]
    upper = [parse_rational(v, f"{where}.upper") for v in require_field(d, "upper", list, where)]
    if len(lower) != len(upper) or any(lo > hi for lo, hi in zip(lower, upper)):
        raise Malformed(f"certificate: {where} must give lower <= upper for every input")
    return Box(tuple(lower), tuple(upper))


@dataclass(frozen=True)
class ComparedChains:
    """The plain chains of models A and B on the claim's box (`box`, over the chains' inputs; `model_box` over the
    models' own inputs)."""

    a: Network
    b: Network
    box: Box
    model_box: Box


def compared_chains(claim: dict, a: Network, b: Network) -> tuple[ComparedChains | None, list[str]]:
    """(chains, problems): the comparison form of the models on the claim's models' box, which must be the claim's
    (the same plain box, the chains' fingerprints); None with the problems otherwise."""
    domain = require_field(require_field(claim, "models", dict, "claim"), "domain", dict, "claim.models")
    model_box = parse_box(domain, "claim.models.domain")
    plain_box = parse_box(require_field(claim, "box", dict, "claim"), "claim.box")
    if model_box.dim != a.input_size:
        return None, [f"claim: the box has {model_box.dim} inputs, the models take {a.input_size}"]
    try:
        c = compare(a, b, model_box, fold_outputs=True, clip_layers=True)
    except ComparisonError as e:
        return None, [f"the models cannot be compared: {e.message}"]
    if c.box is None or (c.box.lower, c.box.upper) != (plain_box.lower, plain_box.upper):
        return None, ["claim: the box is not the comparison form of the models' box"]
    problems = []
    for name, net in (("a", c.a), ("b", c.b)):
        record = require_field(claim, name, dict, "claim")
        if require_field(record, "sha256", str, f"claim.{name}") != fingerprint(net):
            problems.append(f"model {name.upper()}: its parameters are not the certified network {name} "
                            f"({record.get('shape', '?')})")
    return (None if problems else ComparedChains(c.a, c.b, plain_box, model_box)), problems
