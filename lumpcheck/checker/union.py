"""A union certificate: one pair claim on each box of a union, e.g. a VNN-LIB `or` of input boxes that `verify`
decided box by box (specs/union-certificate.md).

Trusted: the part checker it is given (certificate.py's, for the pair formats). The union adds no arithmetic: it
is valid when every part is valid on its own and all parts claim the same thing, so that claim holds on each part's
box; what the union is about (the property's boxes) is compared only by `check --domain`
(Scope.on_property_boxes), as for one box.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from .document import UNION_FORMAT, UNION_FORMAT_VERSION
from .result import CheckResult

KEYS = {"format", "format_version", "parts"}


def check_union(doc: dict, check_part: Callable[[dict], CheckResult | None]) -> CheckResult:
    """Valid when `doc` has exactly the keys format, format_version and parts; parts is a non-empty list of pair
    certificates, each valid by check_part (None: not a pair certificate, e.g. another union) and claiming a box;
    and all parts agree on what they claim (mode, ε, models or layer chains, Softmax heads; for a property as
    written, the same output assertions). The scope is that claim on each part's box."""
    if set(doc) != KEYS:
        return CheckResult(False, [f"union certificate: keys must be {sorted(KEYS)}, not {sorted(doc)}"])
    if doc["format"] != UNION_FORMAT or doc["format_version"] != UNION_FORMAT_VERSION or \
            isinstance(doc["format_version"], bool):
        return CheckResult(False, [f"union certificate: format {UNION_FORMAT!r} version {UNION_FORMAT_VERSION} "
                                   f"expected, not {doc['format']!r} version {doc['format_version']!r}"])
    parts = doc["parts"]
    if not isinstance(parts, list) or not parts or not all(isinstance(p, dict) for p in parts):
        return CheckResult(False, ["union certificate: parts must be a non-empty list of certificates"])
    scopes = []
    for i, part in enumerate(parts):
        result = check_part(part)
        if result is None:
            return CheckResult(False, [f"union certificate: part {i} is not a pair certificate of `verify` "
                                       f"(format {part.get('format')!r})"])
        if not result.valid:
            return CheckResult(False, [f"part {i}: {reason}" for reason in result.reasons])
        if result.scope is None or result.scope.lower is None or result.scope.pieces:
            return CheckResult(False, [f"union certificate: part {i} claims no box of its own"])
        scopes.append(result.scope)
    first = scopes[0]
    for i, scope in enumerate(scopes[1:], 1):
        if _claim(scope) != _claim(first):
            return CheckResult(False, [f"union certificate: part {i} claims {scope.text}, part 0 {first.text}: the "
                                       "parts must claim the same thing"])
    if first.mode == "written" and any(part["claim"]["dnf"] != parts[0]["claim"]["dnf"] for part in parts):
        return CheckResult(False, ["union certificate: its parts prove different output assertions false (claim.dnf "
                                   "differs): the parts must claim the same thing"])
    lower = tuple(map(min, zip(*(s.lower for s in scopes))))
    upper = tuple(map(max, zip(*(s.upper for s in scopes))))
    pieces = tuple((s.lower, s.upper) for s in scopes)
    return CheckResult(True, [], replace(first, lower=lower, upper=upper, pieces=pieces,
                                         source="" if len({s.source for s in scopes}) > 1 else first.source))


def _claim(scope) -> tuple:
    """What a part claims, apart from its box."""
    return scope.mode, scope.epsilon, scope.box_only, scope.semantics, scope.pair, scope.head, scope.disjuncts
