"""VNN-LIB 1.0 properties (as in VNN-COMP): the input box(es) exactly, the output part kept as SMT-LIB text.

A property declares inputs X_0..X_{n-1} and outputs Y_0..Y_{m-1} and asserts linear constraints
(`<=`, `>=`, `<`, `>`, `=` under `and`/`or`). Every number is the exact rational its text spells
(`0.6`, `-0.5`, `(- 0.5)`, `1e-3`, `(/ 1 3)`). Strict input bounds are closed in the boxes (a sound superset for
`unsat`); `in_region` tests a witness against the written bounds, strictness included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import ModelFormatError
from ..ir.domain import Box
from .compressed import read_text
from .sexpr import (IGNORED_COMMANDS, Constraint, InputCase, OutputAtom, Parser, by_content, case_key, head_symbol,
                    holds_at, input_case, open_spec, output_atoms, shallow, variable_key)
from .vnnlib2 import read_vnnlib2

__all__ = ["OutputAtom", "VnnlibSpec", "domain_box", "in_region", "read_box", "read_vnnlib", "version2"]


@dataclass(frozen=True)
class VnnlibSpec:
    """A VNN-LIB property: input boxes (one per input disjunct) and the output constraint.

    `boxes` cover every input that satisfies the property; `cases` are the input disjuncts with their bounds as
    written (strictness included), one per box or more (boxes that differ only in strictness). `output_dnf` is the
    output part as a disjunction of conjunctions of `OutputAtom`s when the file separates it from the inputs (the usual
    case); it is None when an assertion mixes inputs and outputs across disjuncts, and then only the raw
    text `output_constraint` (the assertions mentioning outputs, verbatim) describes the property.
    """

    boxes: tuple[Box, ...]
    n_inputs: int
    n_outputs: int
    output_constraint: str
    output_dnf: tuple[tuple[OutputAtom, ...], ...] | None
    source: str = ""
    cases: tuple[InputCase, ...] = ()


def _is_input(constraint: Constraint) -> bool:
    return all(v.startswith("X_") for v in constraint.variables)


@by_content
@shallow
def read_vnnlib(path: str | Path) -> VnnlibSpec:
    """Parse a VNN-LIB file: exact input boxes plus the output constraint (ModelFormatError on bad input)."""
    parser = open_spec(path)
    input_factors: list[list[list[Constraint]]] = []
    output_factors: list[list[list[Constraint]]] = []
    output_texts: list[str] = []
    separable = True
    for node in parser.sexprs():
        head = head_symbol(node)
        if head == "declare-const":
            parser.declare(node)
        elif head == "assert" and len(node.items) == 2:
            dnf = parser.dnf(node.items[1])
            ins = [[c for c in conj if _is_input(c)] for conj in dnf]
            outs = [[c for c in conj if not _is_input(c)] for conj in dnf]
            if any(outs):
                output_texts.append(parser.text[node.start : node.end])
                output_factors.append(outs)
            if any(ins):
                input_factors.append(ins)
            if any(ins) and any(outs) and len(dnf) > 1:
                separable = False  # inputs and outputs tied disjunct by disjunct: boxes are the projection
        elif head not in IGNORED_COMMANDS:
            raise parser.error("expected (declare-const NAME Real) or (assert FORMULA)", node.line)
    n_inputs, n_outputs = parser.count("X"), parser.count("Y")
    if n_inputs == 0:
        raise parser.error("no input variables X_0, X_1, ... declared", None)
    cases = _cases(parser, input_factors, n_inputs, output_texts)
    boxes = list({tuple((v.numerator, v.denominator) for v in c.box.lower + c.box.upper): c.box
                  for c in cases}.values())  # keyed in integers: a Fraction's hash is a modular inverse
    output_dnf = _output_dnf(parser, output_factors, n_outputs) if separable else None
    return VnnlibSpec(tuple(boxes), n_inputs, n_outputs, "\n".join(output_texts), output_dnf, parser.path, cases)


def _cases(parser: Parser, factors, n_inputs: int, output_texts: list[str]) -> tuple[InputCase, ...]:
    """One case per input disjunct (empty ones dropped, duplicates merged)."""
    cases: dict[tuple, InputCase] = {}
    for conj in parser.conjoin(factors):
        for c in conj:
            if len(c.coeffs) != 1:
                raise parser.error(f"input constraint over {', '.join(c.variables)} is not a bound", c.line, True)
        case = input_case(conj, n_inputs, lambda name: variable_key(name)[1],
                          lambda lower, upper: Box(lower, upper, parser.path, tuple(output_texts)),
                          lambda i, what: parser.error(f"X_{i} {what}", parser.declared[f"X_{i}"]))
        if case is not None:
            cases.setdefault(case_key(case), case)
    if not cases:
        raise parser.error("the input constraints are unsatisfiable (every box is empty)", None)
    return tuple(cases.values())


def _output_dnf(parser: Parser, factors, n_outputs: int) -> tuple[tuple[OutputAtom, ...], ...] | None:
    """The output constraint over Y alone, or None when some output constraint also mentions inputs."""
    conjunctions = parser.conjoin(factors)
    if any(not v.startswith("Y_") for conj in conjunctions for c in conj for v in c.variables):
        return None
    return output_atoms(conjunctions, n_outputs, lambda name: variable_key(name)[1])


def domain_box(spec: VnnlibSpec) -> Box:
    """The property's input domain as one box: the box itself, or the bounding hull of the disjuncts.

    The hull is a sound superset: every input the property constrains lies in it (equivalence proved
    on the hull holds on each disjunct), but it may contain inputs outside every disjunct.
    """
    if len(spec.boxes) == 1:
        return spec.boxes[0]
    lower = tuple(min(b.lower[i] for b in spec.boxes) for i in range(spec.n_inputs))
    upper = tuple(max(b.upper[i] for b in spec.boxes) for i in range(spec.n_inputs))
    return Box(lower, upper, spec.source, spec.boxes[0].output_constraints)


def version2(path: str | Path) -> bool:
    """Is the file a VNN-LIB 2.0 property (a `(vnnlib-version ...)` command, not the words in a comment)? A missing
    file is left to the 1.0 reader's error."""
    return Path(path).is_file() and _VERSION.search(read_text(Path(path), "VNN-LIB file")) is not None


_VERSION = re.compile(r"^[^;\n]*\(\s*vnnlib-version\b", re.MULTILINE)
"""A version command: `(vnnlib-version` before any `;` on its line."""


def in_region(path: str | Path, x) -> bool:
    """Is the input x in the property's input region exactly: does it satisfy one input disjunct's bounds as written,
    strictness included? (The one box `read_box` gives is the disjuncts' hull with strict bounds closed, which may
    hold points of no disjunct.)"""
    cases = read_vnnlib2(path).cases if version2(path) else read_vnnlib(path).cases
    return any(holds_at(case, x) for case in cases)


def read_boxes(path: str | Path, n_inputs: int | None = None) -> tuple[Box, ...]:
    """The input region of a VNN-LIB file (1.0, or 2.0 over its first network's inputs) as the boxes of its input
    disjuncts, strict bounds closed, in the file's order, each once; among up to SUBSUMED_UP_TO boxes, one inside
    another is left out (the union is the same). One box when the region is a box; `read_box` gives their hull."""
    hull = read_box(path, n_inputs)  # sizes checked, one error for both readers
    boxes = read_vnnlib2(path).boxes if version2(path) else read_vnnlib(path).boxes
    if len(boxes) == 1:
        return (hull,)
    distinct = list({tuple((v.numerator, v.denominator) for v in b.lower + b.upper): b for b in boxes}.values())
    if len(distinct) > SUBSUMED_UP_TO:
        return tuple(distinct)
    return tuple(b for i, b in enumerate(distinct) if not any(j != i and inside(b, c) for j, c in enumerate(distinct)))


SUBSUMED_UP_TO = 256
"""read_boxes compares every pair of boxes (quadratic) only up to this many."""


def inside(small: Box, big: Box) -> bool:
    """Does box `small` lie inside box `big`?"""
    return all(c <= lo and hi <= d for lo, hi, c, d in zip(small.lower, small.upper, big.lower, big.upper))


def read_box(path: str | Path, n_inputs: int | None = None) -> Box:
    """The input domain of a VNN-LIB file (see `domain_box`; a VNN-LIB 2.0 file's as io.vnnlib2 reads it: over the
    first network's inputs), checked against the network's input count."""
    if version2(path):
        box = read_vnnlib2(path).domain_box()
        if n_inputs is not None and box.dim != n_inputs:
            raise ModelFormatError(f"declares {box.dim} inputs but the network has {n_inputs}", str(path))
        return box
    spec = read_vnnlib(path)
    if n_inputs is not None and spec.n_inputs != n_inputs:
        raise ModelFormatError(f"declares {spec.n_inputs} inputs but the network has {n_inputs}", str(path))
    return domain_box(spec)
