"""VNN-LIB 1.0 properties (as in VNN-COMP): the input box(es) exactly, the output part kept as SMT-LIB text.

A property declares inputs X_0..X_{n-1} and outputs Y_0..Y_{m-1} and asserts linear constraints
(`<=`, `>=`, `<`, `>`, `=` under `and`/`or`). Every number is the exact rational its text spells
(`0.6`, `-0.5`, `(- 0.5)`, `1e-3`, `(/ 1 3)`). Strict input bounds are closed (a sound superset).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from itertools import product
from pathlib import Path

from ..errors import ModelFormatError, UnsupportedModelError
from ..ir.domain import Box
from ..ir.exact import parse_decimal
from .compressed import read_text

MAX_DISJUNCTS = 10_000  # cap on the disjunctive normal form of one property (beyond it: not a box domain)
IGNORED_COMMANDS = ("set-logic", "set-info", "check-sat", "get-model", "exit")
_TOKEN = re.compile(r"(?P<open>\()|(?P<close>\))|(?P<comment>;[^\n]*)|(?P<space>\s+)|(?P<atom>(?:[^\s();\[]|\[[^\]();]*\])+)")
"""Tokens; an atom may hold a bracketed index with spaces inside (VNN-LIB 2.0's `X[0, 1]`)."""
_VARIABLE = re.compile(r"([XY])_(0|[1-9][0-9]*)")


@dataclass(frozen=True)
class Atom:
    """A symbol or numeral of the s-expression, with its 1-based line."""

    text: str
    line: int


@dataclass(frozen=True)
class SList:
    """A parenthesised s-expression; `start:end` is its span in the source text (for raw SMT-LIB output)."""

    items: tuple
    line: int
    start: int
    end: int


SExpr = Atom | SList


@dataclass(frozen=True)
class Constraint:
    """Σ coeffs[v]·v  op  bound, with op one of '<=', '<', '=' (>= and > are negated into these)."""

    coeffs: tuple[tuple[str, Fraction], ...]
    op: str
    bound: Fraction
    line: int

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self.coeffs)


@dataclass(frozen=True)
class OutputAtom:
    """coeffs · Y  op  bound over the outputs (coeffs has one entry per output), op one of '<=', '<', '='."""

    coeffs: tuple[Fraction, ...]
    op: str
    bound: Fraction


@dataclass
class VnnlibSpec:
    """A VNN-LIB property: input boxes (one per input disjunct) and the output constraint.

    `boxes` cover every input that satisfies the property. `output_dnf` is the output part as a
    disjunction of conjunctions of `OutputAtom`s when the file separates it from the inputs (the usual
    case); it is None when an assertion mixes inputs and outputs across disjuncts, and then only the raw
    text `output_constraint` (the assertions mentioning outputs, verbatim) describes the property.
    """

    boxes: list[Box]
    n_inputs: int
    n_outputs: int
    output_constraint: str
    output_dnf: tuple[tuple[OutputAtom, ...], ...] | None
    source: str = ""


class Parser:
    """Tokenizer, s-expression reader and linear-constraint builder for one file (errors name file and line).

    VNN-LIB 1.0 variables are the declared X_i / Y_j; a subclass (io/vnnlib2.py) names its own variables by
    overriding `variable` and `var_key`, and its comparison operators by `COMPARISONS`.
    """

    COMPARISONS = {"<=": "<=", ">=": ">=", "<": "<", ">": ">", "=": "="}  # written operator -> canonical one

    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text
        self.declared: dict[str, int] = {}  # variable name -> line of its declaration

    def error(self, message: str, line: int | None, unsupported: bool = False) -> Exception:
        cls = UnsupportedModelError if unsupported else ModelFormatError
        return cls(message, self.path, None if line is None else f"line {line}")

    def sexprs(self) -> list[SExpr]:
        """All top-level s-expressions."""
        stack: list[tuple[list, int, int]] = []  # (items, line, start offset)
        top: list[SExpr] = []
        line = 1
        for m in _TOKEN.finditer(self.text):
            kind, token = m.lastgroup, m.group()
            if kind == "open":
                stack.append(([], line, m.start()))
            elif kind == "close":
                if not stack:
                    raise self.error("unmatched ')'", line)
                items, start_line, start = stack.pop()
                (stack[-1][0] if stack else top).append(SList(tuple(items), start_line, start, m.end()))
            elif kind == "atom":
                (stack[-1][0] if stack else top).append(Atom(token, line))
            line += token.count("\n")
        if stack:
            raise self.error("unclosed '(' (file ends early)", stack[-1][1])
        return top

    def declare(self, node: SList) -> None:
        parts = [item.text if isinstance(item, Atom) else None for item in node.items]
        if len(parts) != 3 or parts[2] != "Real" or parts[1] is None:
            raise self.error("expected (declare-const NAME Real)", node.line)
        name = parts[1]
        if not _VARIABLE.fullmatch(name):
            raise self.error(f"variable {name!r}: only inputs X_i and outputs Y_j are supported", node.line, True)
        if name in self.declared:
            raise self.error(f"{name} declared twice", node.line)
        self.declared[name] = node.line

    def count(self, kind: str) -> int:
        """Number of declared X_ or Y_ variables; they must be numbered 0..n-1."""
        indices = sorted(int(m[2]) for m in map(_VARIABLE.fullmatch, self.declared) if m[1] == kind)
        if indices != list(range(len(indices))):
            missing = min(set(range(len(indices) + 1)) - set(indices))
            raise self.error(f"{kind}_{missing} is not declared but higher-numbered {kind}_ variables are", None)
        return len(indices)

    def dnf(self, node: SExpr) -> list[list[Constraint]]:
        """The formula as a disjunction (outer list) of conjunctions of linear constraints."""
        head = head_symbol(node)
        if head is None:
            raise self.error("expected a constraint like (<= X_0 1)", node.line)
        args = node.items[1:]
        if head == "and":
            result: list[list[Constraint]] = [[]]
            for arg in args:
                result = [a + b for a, b in product(result, self.dnf(arg))]
                self.check_size(len(result), node.line)
            return result
        if head == "or":
            result = [conj for arg in args for conj in self.dnf(arg)]
            self.check_size(len(result), node.line)
            return result
        if head in self.COMPARISONS:
            if len(args) < 2:
                raise self.error(f"({head} ...) needs two terms", node.line)
            op = self.COMPARISONS[head]
            return [[self.comparison(op, a, b, node.line) for a, b in zip(args, args[1:])]]
        known = ", ".join(["and", "or", *self.COMPARISONS])
        raise self.error(f"unsupported operator {head!r} (VNN-LIB uses {known})", node.line, True)

    def check_size(self, size: int, line: int) -> None:
        if size > MAX_DISJUNCTS:
            raise self.error(f"more than {MAX_DISJUNCTS} disjuncts; not a box domain", line, True)

    def comparison(self, op: str, left: SExpr, right: SExpr, line: int) -> Constraint:
        """left op right as Σ c·v op' bound (op' in <=, <, =)."""
        lc, lk = self.term(left)
        rc, rk = self.term(right)
        coeffs = dict(lc)
        for v, c in rc.items():
            coeffs[v] = coeffs.get(v, Fraction(0)) - c
        bound = rk - lk
        if op in (">=", ">"):
            coeffs = {v: -c for v, c in coeffs.items()}
            bound, op = -bound, "<=" if op == ">=" else "<"
        coeffs = {v: c for v, c in coeffs.items() if c != 0}
        if not coeffs:
            raise self.error("constraint without variables", line, True)
        return Constraint(tuple(sorted(coeffs.items(), key=lambda vc: self.var_key(vc[0]))), op, bound, line)

    def var_key(self, name: str) -> tuple:
        """Sort key of a variable name (constraints list their variables in this order)."""
        return _var_key(name)

    def variable(self, node: Atom) -> str | None:
        """The variable an atom names, None for a numeral (an undeclared variable-like name is an error)."""
        if node.text in self.declared:
            return node.text
        if _VARIABLE.fullmatch(node.text):
            raise self.error(f"{node.text} is used but not declared", node.line)
        return None

    def term(self, node: SExpr) -> tuple[dict[str, Fraction], Fraction]:
        """A linear term as (coefficients by variable, constant)."""
        if isinstance(node, Atom):
            name = self.variable(node)
            if name is not None:
                return {name: Fraction(1)}, Fraction(0)
            try:
                return {}, parse_decimal(node.text)
            except ValueError:
                raise self.error(f"{node.text!r} is neither a number nor a declared variable", node.line) from None
        head = head_symbol(node)
        if head is None:
            raise self.error("expected a term", node.line)
        args = [self.term(a) for a in node.items[1:]]
        if not args:
            raise self.error(f"({head}) without arguments", node.line)
        if head == "+" or (head == "-" and len(args) == 1):
            sign = -1 if head == "-" else 1
            return _combine(args, [sign] * len(args))
        if head == "-":
            return _combine(args, [1] + [-1] * (len(args) - 1))
        if head == "*":
            variable = [a for a in args if a[0]]
            if len(variable) > 1:
                raise self.error("product of variables is not linear", node.line, True)
            scale = Fraction(1)
            for c, k in args:
                scale *= 1 if c else k
            c, k = variable[0] if variable else ({}, Fraction(1))
            return {v: x * scale for v, x in c.items()}, k * scale
        if head == "/" and len(args) == 2 and not args[1][0]:
            (c, k), (_, d) = args
            if d == 0:
                raise self.error("division by zero", node.line)
            return {v: x / d for v, x in c.items()}, k / d
        raise self.error(f"unsupported term operator {head!r}", node.line, True)


def head_symbol(node: SExpr) -> str | None:
    """The operator symbol of (op ...), else None."""
    if isinstance(node, SList) and node.items and isinstance(node.items[0], Atom):
        return node.items[0].text
    return None


def _combine(terms: list[tuple[dict[str, Fraction], Fraction]], signs: list[int]):
    coeffs: dict[str, Fraction] = {}
    const = Fraction(0)
    for (c, k), s in zip(terms, signs):
        for v, x in c.items():
            coeffs[v] = coeffs.get(v, Fraction(0)) + s * x
        const += s * k
    return coeffs, const


def _var_key(name: str) -> tuple[str, int]:
    m = _VARIABLE.fullmatch(name)
    return m[1], int(m[2])


def _is_input(constraint: Constraint) -> bool:
    return all(v.startswith("X_") for v in constraint.variables)


def read_vnnlib(path: str | Path) -> VnnlibSpec:
    """Parse a VNN-LIB file: exact input boxes plus the output constraint (ModelFormatError on bad input)."""
    p = Path(path)
    if not p.is_file():
        raise ModelFormatError("no such file", str(p))
    text = read_text(p, "VNN-LIB file")
    parser = Parser(str(p), text)
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
                output_texts.append(text[node.start : node.end])
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
    boxes = _boxes(parser, input_factors, n_inputs, output_texts)
    output_dnf = _output_dnf(parser, output_factors, n_outputs) if separable else None
    return VnnlibSpec(boxes, n_inputs, n_outputs, "\n".join(output_texts), output_dnf, str(p))


def _products(parser: Parser, factors: list[list[list[Constraint]]]) -> list[list[Constraint]]:
    """Conjunction of DNFs, again in DNF."""
    result: list[list[Constraint]] = [[]]
    for factor in factors:
        result = [a + b for a, b in product(result, factor)]
        parser.check_size(len(result), factor[0][0].line if factor[0] else None)
    return result


def _boxes(parser: Parser, factors, n_inputs: int, output_texts: list[str]) -> list[Box]:
    """One exact box per input disjunct (empty ones dropped, duplicates merged)."""
    boxes: dict[tuple, Box] = {}
    for conj in _products(parser, factors):
        lower: list[Fraction | None] = [None] * n_inputs
        upper: list[Fraction | None] = [None] * n_inputs
        for c in conj:
            if len(c.coeffs) != 1:
                raise parser.error(f"input constraint over {', '.join(c.variables)} is not a bound", c.line, True)
            (name, a), = c.coeffs
            i, value = _var_key(name)[1], c.bound / a
            if a > 0 or c.op == "=":
                upper[i] = value if upper[i] is None else min(upper[i], value)
            if a < 0 or c.op == "=":
                lower[i] = value if lower[i] is None else max(lower[i], value)
        for i in range(n_inputs):
            for bounds, side in ((lower, "lower"), (upper, "upper")):
                if bounds[i] is None:
                    raise parser.error(f"X_{i} has no {side} bound", parser.declared[f"X_{i}"])
        if all(lo <= hi for lo, hi in zip(lower, upper)):
            key = (tuple(lower), tuple(upper))
            boxes.setdefault(key, Box(key[0], key[1], parser.path, tuple(output_texts)))
    if not boxes:
        raise parser.error("the input constraints are unsatisfiable (every box is empty)", None)
    return list(boxes.values())


def _output_dnf(parser: Parser, factors, n_outputs: int) -> tuple[tuple[OutputAtom, ...], ...] | None:
    """The output constraint over Y alone, or None when some output constraint also mentions inputs."""
    conjunctions = _products(parser, factors)
    if any(not v.startswith("Y_") for conj in conjunctions for c in conj for v in c.variables):
        return None
    result = []
    for conj in conjunctions:
        atoms = []
        for c in conj:
            coeffs = [Fraction(0)] * n_outputs
            for name, a in c.coeffs:
                coeffs[_var_key(name)[1]] = a
            atoms.append(OutputAtom(tuple(coeffs), c.op, c.bound))
        result.append(tuple(atoms))
    return tuple(result)


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


def read_box(path: str | Path, n_inputs: int | None = None) -> Box:
    """The input domain of a VNN-LIB file (see `domain_box`; a VNN-LIB 2.0 file's as io.vnnlib2 reads it: over the
    first network's inputs), checked against the network's input count."""
    if Path(path).is_file() and "vnnlib-version" in read_text(Path(path), "VNN-LIB file"):
        from .vnnlib2 import read_vnnlib2  # vnnlib2 builds on this module's parser

        box = read_vnnlib2(path).domain_box()
        if n_inputs is not None and box.dim != n_inputs:
            raise ModelFormatError(f"declares {box.dim} inputs but the network has {n_inputs}", str(path))
        return box
    spec = read_vnnlib(path)
    if n_inputs is not None and spec.n_inputs != n_inputs:
        raise ModelFormatError(f"declares {spec.n_inputs} inputs but the network has {n_inputs}", str(path))
    return domain_box(spec)
