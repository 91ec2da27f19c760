"""The s-expression machinery of VNN-LIB files (1.0 and 2.0): tokens, s-expressions with their lines, and linear
constraints with exact rational coefficients (every number is the rational its text spells: `0.6`, `-0.5`,
`(- 0.5)`, `1e-3`, `(/ 1 3)`). io/vnnlib.py reads VNN-LIB 1.0 on it, io/vnnlib2.py VNN-LIB 2.0.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
from dataclasses import dataclass
from fractions import Fraction
from itertools import product
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from ..errors import ModelFormatError, UnsupportedModelError
from ..ir.domain import Box
from ..ir.exact import parse_decimal
from .compressed import read_text

T = TypeVar("T")
MAX_BOUND = Fraction(10**300)
"""The largest input bound magnitude read: float64 tops out at 1.8e308, and sound float bounds on a box whose side
reaches it overflow (a bound AT the float64 maximum made them fail)."""
MAX_DISJUNCTS = 10_000  # cap on the disjunctive normal form of one property (beyond it: not a box domain)
IGNORED_COMMANDS = ("set-logic", "set-info", "check-sat", "get-model", "exit")
_TOKEN = re.compile(r"(?P<open>\()|(?P<close>\))|(?P<comment>;[^\n]*)|(?P<space>\s+)|(?P<atom>(?:[^\s();\[]|\[[^\]();]*\])+)"
                    r"|(?P<bad>.)")
"""Tokens; an atom may hold a bracketed index with spaces inside (VNN-LIB 2.0's `X[0, 1]`); any other character
(an unclosed `[`) is an error, never skipped."""
VARIABLE = re.compile(r"([XY])_(0|[1-9][0-9]*)")


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


@dataclass(frozen=True)
class InputCase:
    """One input disjunct: the closed box of its bounds (a strict bound closed: a sound superset for `unsat`) and the
    bounds as written, each with the input entry it bounds, for `holds_at` to test a witness exactly."""

    box: Box
    constraints: tuple[Constraint, ...]
    entries: tuple[int, ...]


def input_case(bounds: Sequence[Constraint], size: int, entry: Callable[[str], int], box_of: Callable[..., Box],
               error: Callable[[int, str], Exception]) -> InputCase | None:
    """The case of one conjunction of single-input bounds over `size` inputs, or None when its box is empty.
    entry(name) is a variable's input index, box_of(lower, upper) builds the box, error(i, what) the error for input
    i (without a lower or upper bound, or bounded beyond every float: no float model input lies there)."""
    lower: list[Fraction | None] = [None] * size
    upper: list[Fraction | None] = [None] * size
    for c in bounds:
        (name, a), = c.coeffs
        i, value = entry(name), c.bound / a
        if a > 0 or c.op == "=":
            upper[i] = value if upper[i] is None else min(upper[i], value)
        if a < 0 or c.op == "=":
            lower[i] = value if lower[i] is None else max(lower[i], value)
    for i in range(size):
        for side, values in (("lower", lower), ("upper", upper)):
            if values[i] is None:
                raise error(i, f"has no {side} bound")
            if abs(values[i]) > MAX_BOUND:
                article = "an" if side == "upper" else "a"
                raise error(i, f"has {article} {side} bound of magnitude above 1e300, near or beyond the float64 range "
                               "(1.8e308), where float bounds overflow; bound it by 1e300 at most")
    if any(lo > hi for lo, hi in zip(lower, upper)):
        return None
    unique = {_key(c): c for c in bounds}.values()  # Constraint equality without hashing Fractions (a modular
    # inverse per hash: a 3072-input box spent seconds there)
    written = tuple(sorted(unique, key=lambda c: (entry(c.variables[0]), c.op, c.bound)))
    return InputCase(box_of(tuple(lower), tuple(upper)), written, tuple(entry(c.variables[0]) for c in written))


def _key(c: Constraint) -> tuple:
    """A hashable identity of a constraint equal to its dataclass equality, in Python integers."""
    return (c.op, c.bound.numerator, c.bound.denominator, c.line,
            tuple((v, a.numerator, a.denominator) for v, a in c.coeffs))


def case_key(case: InputCase) -> tuple:
    """A hashable identity of a case (its written bounds determine its box) that hashes no Fraction."""
    return tuple(_key(c) for c in case.constraints)


def holds_at(case: InputCase, x: Sequence[Fraction]) -> bool:
    """Does the input x satisfy the case's written bounds exactly (strictness included)?"""
    for c, i in zip(case.constraints, case.entries):
        value = c.coeffs[0][1] * x[i]
        if not (value < c.bound if c.op == "<" else value <= c.bound if c.op == "<=" else value == c.bound):
            return False
    return True


def output_atoms(conjunctions, size: int, position) -> tuple[tuple[OutputAtom, ...], ...]:
    """Conjunctions of output constraints as OutputAtoms over `size` outputs; position(name) is a variable's index."""
    result = []
    for conj in conjunctions:
        atoms = []
        for c in conj:
            coeffs = [Fraction(0)] * size
            for name, a in c.coeffs:
                coeffs[position(name)] = a
            atoms.append(OutputAtom(tuple(coeffs), c.op, c.bound))
        result.append(tuple(atoms))
    return tuple(result)


class Parser:
    """Tokenizer, s-expression reader and linear-constraint builder for one file (errors name file and line).

    VNN-LIB 1.0 variables are the declared X_i / Y_j (`declare`, `count`; io/vnnlib.py); a subclass (io/vnnlib2.py)
    names its own variables by overriding `variable` and `var_key`, and its comparison operators by `COMPARISONS`.
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
            elif kind == "bad":
                raise self.error(f"unexpected {token!r} (a `[` opens an index that `]` must close on the same atom)",
                                 line)
            line += token.count("\n")
        if stack:
            raise self.error("unclosed '(' (file ends early)", stack[-1][1])
        return top

    def declare(self, node: SList) -> None:
        parts = [item.text if isinstance(item, Atom) else None for item in node.items]
        if len(parts) != 3 or parts[2] != "Real" or parts[1] is None:
            raise self.error("expected (declare-const NAME Real)", node.line)
        name = parts[1]
        if not VARIABLE.fullmatch(name):
            raise self.error(f"variable {name!r}: only inputs X_i and outputs Y_j are supported", node.line, True)
        if name in self.declared:
            raise self.error(f"{name} declared twice", node.line)
        self.declared[name] = node.line

    def count(self, kind: str) -> int:
        """Number of declared X_ or Y_ variables; they must be numbered 0..n-1."""
        indices = sorted(int(m[2]) for m in map(VARIABLE.fullmatch, self.declared) if m[1] == kind)
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
            return self.conjoin((self.dnf(arg) for arg in args), node.line)
        if head == "or":
            if not args:
                raise self.error("(or) without disjuncts is false: no input would satisfy the file", node.line)
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

    def check_size(self, size: int, line: int | None) -> None:
        if size > MAX_DISJUNCTS:
            raise self.error(f"more than {MAX_DISJUNCTS} disjuncts; not a box domain", line, True)

    def conjoin(self, factors, line: int | None = None) -> list[list[Constraint]]:
        """The conjunction of DNFs (each a list of conjunctions), again in DNF, at most MAX_DISJUNCTS disjuncts
        (refused naming `line`, or else the line of the factor that made it too large)."""
        result: list[list[Constraint]] = [[]]
        for factor in factors:
            result = [a + b for a, b in product(result, factor)]
            self.check_size(len(result), line if line is not None or not (factor and factor[0]) else factor[0][0].line)
        return result

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
        return variable_key(name)

    def variable(self, node: Atom) -> str | None:
        """The variable an atom names, None for a numeral (an undeclared variable-like name is an error)."""
        if node.text in self.declared:
            return node.text
        if VARIABLE.fullmatch(node.text):
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
            except ValueError as e:
                why = f" ({e})" if "exponent" in str(e) else ""
                raise self.error(f"{node.text!r} is neither a number nor a declared variable{why}", node.line) from None
        head = head_symbol(node)
        if head is None:
            raise self.error("expected a term", node.line)
        args = [self.term(a) for a in node.items[1:]]
        if not args:
            raise self.error(f"({head}) without arguments", node.line)
        if head == "+" or (head == "-" and len(args) == 1):
            sign = -1 if head == "-" else 1
            return combine(args, [sign] * len(args))
        if head == "-":
            return combine(args, [1] + [-1] * (len(args) - 1))
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


def shallow(read: Callable[..., T]) -> Callable[..., T]:
    """`read(path, ...)` with a formula nested more deeply than Python's recursion limit refused as a ModelFormatError
    naming the file (the parser recurses once per level of parentheses)."""

    @functools.wraps(read)
    def wrapper(path, *args, **kwargs):
        try:
            return read(path, *args, **kwargs)
        except RecursionError:
            raise ModelFormatError(f"formulas nested more than about {sys.getrecursionlimit() // 2} levels deep are not "
                                   "read (flatten the and/or/+ chains)", str(path)) from None

    return wrapper


PARSED_KEPT = 8
"""Parsed property files kept by `by_content` (one command reads at most a few)."""
_PARSED: dict[tuple, object] = {}


def by_content(read: Callable[[str | Path], T]) -> Callable[[str | Path], T]:
    """`read(path)` memoised by the file's bytes: a command reads one property several times (its box, a witness's
    region, its output assertions), and a 3072-input CIFAR box takes about a second to parse. The key is the
    content's sha256, not a modification time, so a file rewritten in place is parsed again; errors are not kept.
    The values must be immutable."""

    @functools.wraps(read)
    def wrapper(path):
        try:
            digest = hashlib.sha256(Path(path).read_bytes()).digest()
        except OSError:
            return read(path)  # the reader's own one-line error
        key = (read.__qualname__, str(path), digest)
        if key not in _PARSED:
            value = read(path)
            if len(_PARSED) >= PARSED_KEPT:
                _PARSED.pop(next(iter(_PARSED)))
            _PARSED[key] = value
        return _PARSED[key]

    return wrapper


def open_spec(path: str | Path, parser: type[Parser] = Parser) -> Parser:
    """A parser over a VNN-LIB file's text (gzip read too); ModelFormatError naming the file when it is missing."""
    p = Path(path)
    if not p.is_file():
        raise ModelFormatError("no such file", str(p))
    return parser(str(p), read_text(p, "VNN-LIB file"))


def head_symbol(node: SExpr) -> str | None:
    """The operator symbol of (op ...), else None."""
    if isinstance(node, SList) and node.items and isinstance(node.items[0], Atom):
        return node.items[0].text
    return None


def combine(terms: list[tuple[dict[str, Fraction], Fraction]], signs: list[int]):
    coeffs: dict[str, Fraction] = {}
    const = Fraction(0)
    for (c, k), s in zip(terms, signs):
        for v, x in c.items():
            coeffs[v] = coeffs.get(v, Fraction(0)) + s * x
        const += s * k
    return coeffs, const


def variable_key(name: str) -> tuple[str, int]:
    m = VARIABLE.fullmatch(name)
    return m[1], int(m[2])
