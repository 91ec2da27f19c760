"""VNN-LIB 2.0 properties over one or two networks (VNN-COMP 2026), read exactly on io/vnnlib.py's s-expression parser.

    (vnnlib-version <2.0>)
    (declare-network f (declare-input X_f float32 [5]) (declare-output Y_f float32 [5]))
    (declare-network g (isomorphic-to f) (declare-input X_g float32 [5]) (declare-output Y_g float32 [5]))
    (assert (and (<= X_f[0] 0.68) (>= X_f[0] 0.6)))            ; a bound (also as a top-level assert)
    (assert (== X_f[3] 0.227))                                   ; a pinned input (lower = upper)
    (assert (== X_f[0] X_g[0]))                                  ; g reads f's input, entry by entry
    (assert (or (> Y_g[0] (+ Y_f[0] 0.05)) (< Y_g[0] (- Y_f[0] 0.05))))   ; the output part, over both networks

Tensor variables are indexed `X[i]` or `X[i,j,...]` and flatten row-major; every number is the exact rational its
text spells. The input region is read over the FIRST network's inputs, as one box per input disjunct; every other
network's inputs must be tied to them entry by entry, by `(== X_f[i] X_g[i])` (a bound written on a tied X_g[i]
bounds X_f[i]). Anything else about inputs (a relation between the two networks' inputs, a constraint over several
inputs, an input constraint mixed with outputs under `or`) is refused with one line naming the file, the line and
the construct (exit 3): never dropped or widened. The output assertions become a DNF of exact linear atoms over
the outputs of every declared network, concatenated in declaration order ([Y_f | Y_g], each flattened row-major).

VNN-COMP's semantics: the assertions describe a counterexample; the property is `sat` iff some input satisfies all
of them. Strict input bounds are closed in the boxes (a sound superset for `unsat`); `holds_at` checks a witness
against the inputs' written constraints exactly, strictness included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import ModelFormatError, UnsupportedModelError
from ..ir.domain import Box
from .sexpr import (Atom, Constraint, InputCase, OutputAtom, Parser, SExpr, SList, by_content, case_key, head_symbol,
                    holds_at, input_case, open_spec, output_atoms, shallow)

_INDEXED = re.compile(r"([A-Za-z_][\w.']*)(?:\[([0-9,\s]*)\])?")
RELATIONS = ("isomorphic-to", "equal-to")
MAX_ENTRIES = 10**8
"""Entries of one declared tensor beyond which the file is refused (a box over them would not fit in memory)."""
IGNORED = ("vnnlib-version", "set-logic", "set-info", "check-sat", "get-model", "exit")


@dataclass(frozen=True)
class Tensor:
    """A declared input or output tensor of one network: its variable name, shape and element type."""

    name: str
    network: str
    kind: str  # 'input' or 'output'
    shape: tuple[int, ...]
    dtype: str
    line: int

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class NetworkDecl:
    """One `(declare-network NAME ...)`: its input and output tensors (None when not declared) and its relation to
    an earlier network (`isomorphic-to` / `equal-to`, informative: the networks are read from the model files)."""

    name: str
    input: Tensor | None
    output: Tensor | None
    relation: tuple[str, str] | None
    line: int


@dataclass(frozen=True)
class Spec2:
    """A VNN-LIB 2.0 property: the networks, the input disjuncts and the output assertions as written.

    `outputs` is the output part as a DNF of `OutputAtom`s over `output_layout` (the declared output tensors in
    order, concatenated); None when the file asserts nothing about outputs. `output_texts` are those assertions
    verbatim. `output_problem` names an output assertion over a network that declares no input (the file does not
    say at which input its outputs are taken): such a spec is refused as written, its box still reads."""

    networks: tuple[NetworkDecl, ...]
    cases: tuple[InputCase, ...]
    outputs: tuple[tuple[OutputAtom, ...], ...] | None
    output_layout: tuple[Tensor, ...]
    output_texts: tuple[str, ...]
    source: str
    output_problem: str = ""  # why the outputs cannot be decided as written ('' when they can); file and line

    @property
    def n_inputs(self) -> int:
        return self.cases[0].box.dim

    @property
    def boxes(self) -> list[Box]:
        return [c.box for c in self.cases]

    def pair_outputs(self, a_outputs: int, b_outputs: int) -> tuple[tuple[OutputAtom, ...], ...]:
        """The output DNF over [y_A | y_B] for model A (the file's first network) and model B (its second) with these
        output counts: each declared output tensor at its own network's place, zero where a network declares none.
        UnsupportedModelError for a tensor of a third network, ModelFormatError for one whose size is not its
        model's (the prover places the outputs by this, and the checker compares certificates with it)."""
        names = [n.name for n in self.networks]
        places = []  # (offset in the file's layout, offset in [y_A | y_B], size) per declared output tensor
        offset = 0
        for t in self.output_layout:
            side = names.index(t.network)
            if side > 1:
                raise UnsupportedModelError(f"output {t.name} is network {t.network}'s, the file's network {side + 1}: "
                                            "two networks are compared (the file's first is model A, its second B)",
                                            self.source)
            size = (a_outputs, b_outputs)[side]
            if t.size != size:
                raise ModelFormatError(f"output {t.name} of network {t.network} has {t.size} entries but model "
                                       f"{'AB'[side]} has {size} outputs (the file's first network is model A, its "
                                       "second B)", self.source)
            places.append((offset, 0 if side == 0 else a_outputs, t.size))
            offset += t.size

        def placed(coeffs: tuple[Fraction, ...]) -> tuple[Fraction, ...]:
            out = [Fraction(0)] * (a_outputs + b_outputs)
            for source, target, size in places:
                out[target:target + size] = coeffs[source:source + size]
            return tuple(out)

        return tuple(tuple(OutputAtom(placed(t.coeffs), t.op, t.bound) for t in conj) for conj in self.outputs or ())

    def domain_box(self) -> Box:
        """One box: the only case's, or the bounding hull of all (a sound superset of the input region)."""
        if len(self.cases) == 1:
            return self.cases[0].box
        lower = tuple(min(b.lower[i] for b in self.boxes) for i in range(self.n_inputs))
        upper = tuple(max(b.upper[i] for b in self.boxes) for i in range(self.n_inputs))
        return Box(lower, upper, self.source, self.output_texts)


class _Parser2(Parser):
    """Variables are tensor entries `NAME[i,...]` of declared tensors, canonically 'NAME[flat]'."""

    COMPARISONS = {"<=": "<=", ">=": ">=", "<": "<", ">": ">", "=": "=", "==": "="}

    def __init__(self, path: str, text: str):
        super().__init__(path, text)
        self.tensors: dict[str, Tensor] = {}
        self.order: dict[str, int] = {}

    def add(self, tensor: Tensor) -> None:
        if tensor.name in self.tensors:
            raise self.error(f"{tensor.name} declared twice", tensor.line)
        self.order[tensor.name] = len(self.order)
        self.tensors[tensor.name] = tensor

    def variable(self, node: Atom) -> str | None:
        m = _INDEXED.fullmatch(node.text)
        if m is None or (m[1] not in self.tensors and m[2] is None):
            return None  # a numeral (or text the numeral parser refuses)
        tensor = self.tensors.get(m[1])
        if tensor is None:
            raise self.error(f"{m[1]} is used but not declared", node.line)
        if m[2] is None:
            if tensor.size != 1:
                raise self.error(f"{m[1]} has shape {list(tensor.shape)}: index it, e.g. {m[1]}[0]", node.line)
            return f"{m[1]}[0]"
        return f"{m[1]}[{self.flat(tensor, m[2], node.line)}]"

    def flat(self, tensor: Tensor, index: str, line: int) -> int:
        try:
            idx = [int(v) for v in index.split(",")]
        except ValueError:
            raise self.error(f"bad index [{index}] of {tensor.name}", line) from None
        if len(idx) == 1 and len(tensor.shape) > 1:
            if not 0 <= idx[0] < tensor.size:
                raise self.error(f"flat index [{index}] outside {tensor.name} of {tensor.size} entries", line)
            return idx[0]
        if len(idx) != len(tensor.shape) or any(not 0 <= i < s for i, s in zip(idx, tensor.shape)):
            raise self.error(f"index [{index}] does not fit {tensor.name} of shape {list(tensor.shape)}", line)
        flat = 0
        for i, s in zip(idx, tensor.shape):
            flat = flat * s + i
        return flat

    def var_key(self, name: str) -> tuple:
        base, _, rest = name.partition("[")
        return self.order[base], int(rest[:-1])

    def tensor_of(self, name: str) -> Tensor:
        return self.tensors[name.partition("[")[0]]


def _entry(name: str) -> int:
    return int(name.partition("[")[2][:-1])


def render(c: Constraint) -> str:
    """A constraint as readable text: 'X_f[0] - X_g[0] <= 0'."""
    terms = []
    for name, a in c.coeffs:
        sign = "-" if a < 0 else "+"
        mag = "" if abs(a) == 1 else f"{abs(a)}*"
        terms.append(f"{sign} {mag}{name}")
    text = " ".join(terms).removeprefix("+ ")
    return f"{text} {c.op} {c.bound}"


def _declare_network(parser: _Parser2, node: SList) -> NetworkDecl:
    items = node.items
    if len(items) < 2 or not isinstance(items[1], Atom):
        raise parser.error("expected (declare-network NAME (declare-input ...) (declare-output ...))", node.line)
    name = items[1].text
    tensors: dict[str, Tensor] = {}
    relation = None
    for item in items[2:]:
        head = head_symbol(item)
        if head in ("declare-input", "declare-output"):
            kind = head.removeprefix("declare-")
            if kind in tensors:
                raise parser.error(f"network {name} declares more than one {kind} (multi-{kind} networks are not "
                                   "supported)", item.line, True)
            tensors[kind] = _tensor(parser, item, name, kind)
        elif head in RELATIONS and len(item.items) == 2 and isinstance(item.items[1], Atom):
            relation = (head, item.items[1].text)
        else:
            raise parser.error(f"unsupported item {head or 'without operator'} in (declare-network {name} ...) "
                               "(declare-input, declare-output, isomorphic-to, equal-to)", item.line, True)
    for tensor in tensors.values():
        parser.add(tensor)
    return NetworkDecl(name, tensors.get("input"), tensors.get("output"), relation, node.line)


def _tensor(parser: _Parser2, node: SExpr, network: str, kind: str) -> Tensor:
    parts = [i.text if isinstance(i, Atom) else None for i in node.items]
    if len(parts) != 4 or None in parts or not re.fullmatch(r"\[[0-9,\s]*\]", parts[3]):
        raise parser.error(f"expected (declare-{kind} NAME TYPE [shape]), e.g. (declare-{kind} X float32 [5])",
                           node.line)
    shape = tuple(int(v) for v in parts[3][1:-1].split(",") if v.strip())
    if any(d <= 0 for d in shape):
        raise parser.error(f"shape {parts[3]} of {parts[1]} has an empty dimension", node.line)
    tensor = Tensor(parts[1], network, kind, shape, parts[2], node.line)
    if tensor.size > MAX_ENTRIES:
        raise parser.error(f"{parts[1]} has {tensor.size} entries, more than any network lumpcheck reads "
                           f"({MAX_ENTRIES})", node.line)
    return tensor


@by_content
@shallow
def read_vnnlib2(path: str | Path) -> Spec2:
    """Parse a VNN-LIB 2.0 file (module docstring); one-line ModelFormatError / UnsupportedModelError otherwise."""
    parser = open_spec(path, _Parser2)
    networks: list[NetworkDecl] = []
    input_factors: list[list[list[Constraint]]] = []
    output_factors: list[list[list[Constraint]]] = []
    output_texts: list[str] = []
    for node in parser.sexprs():
        head = head_symbol(node)
        if head == "declare-network":
            networks.append(_declare_network(parser, node))
        elif head == "assert" and len(node.items) == 2:
            ins, outs = _split(parser, parser.dnf(node.items[1]), node)
            if ins is not None:
                input_factors.append(ins)
            if outs is not None:
                output_factors.append(outs)
                output_texts.append(parser.text[node.start : node.end])
        elif head not in IGNORED:
            raise parser.error("expected (declare-network ...) or (assert FORMULA)", node.line)
    if not networks or networks[0].input is None:
        raise parser.error("no (declare-network NAME (declare-input ...) ...) declaring the inputs", None)
    cases = _cases(parser, networks, parser.conjoin(input_factors))
    layout = tuple(n.output for n in networks if n.output is not None)
    outputs = _outputs(parser, layout, parser.conjoin(output_factors)) if output_factors else None
    problem = _inputless(parser, networks, output_factors)
    return Spec2(tuple(networks), cases, outputs, layout, tuple(output_texts), parser.path, problem)


def _inputless(parser: _Parser2, networks: list[NetworkDecl], factors) -> str:
    """A refusal (one line) when an output assertion reads a network without a declared input, else ''."""
    blind = {n.output.name: n for n in networks if n.input is None and n.output is not None}
    for c in (c for factor in factors for conj in factor for c in conj):
        for v in c.variables:
            net = blind.get(parser.tensor_of(v).name)
            if net is not None:
                return parser.error(f"{render(c)} reads {v}, but network {net.name} declares no input: the file does not "
                                    f"say at which input {v} is taken (declare its input and tie it entry by entry)",
                                    c.line, True).one_line()
    return ""


def _split(parser: _Parser2, dnf: list[list[Constraint]], node: SList):
    """An assertion's DNF as (input part, output part), each a DNF or None; refuses inputs mixed with outputs."""
    kinds = [[_kind(parser, c) for c in conj] for conj in dnf]
    flat = [k for ks in kinds for k in ks]
    if "input" not in flat:
        return None, dnf
    if "output" not in flat:
        return dnf, None
    if len(dnf) > 1:
        raise parser.error("an assertion mixes input and output constraints under `or`: not a box of inputs "
                           "with an output condition", node.line, True)
    ins = [c for c, k in zip(dnf[0], kinds[0]) if k == "input"]
    outs = [c for c, k in zip(dnf[0], kinds[0]) if k == "output"]
    return [ins], [outs]


def _kind(parser: _Parser2, c: Constraint) -> str:
    kinds = {parser.tensor_of(v).kind for v in c.variables}
    if len(kinds) > 1:
        raise parser.error(f"constraint {render(c)} relates inputs and outputs (not supported)", c.line, True)
    return kinds.pop()


def _cases(parser: _Parser2, networks: list[NetworkDecl], conjunctions) -> tuple[InputCase, ...]:
    """One InputCase per input disjunct (empty ones dropped, duplicates merged)."""
    first = networks[0].input
    others = [n.input for n in networks[1:] if n.input is not None]
    for t in others:
        if t.size != first.size:
            raise parser.error(f"input {t.name} has {t.size} entries, {first.name} {first.size}: they cannot be "
                               "tied entry by entry", t.line, True)
    cases: dict[tuple, InputCase] = {}
    for conj in conjunctions:
        ties = {(parser.tensor_of(c.variables[1]).name, _entry(c.variables[0])) for c in conj
                if _is_tie(parser, first, c)}
        bounds = []
        for c in conj:
            if _is_tie(parser, first, c):
                continue
            networks = sorted({parser.tensor_of(v).network for v in c.variables})
            if len(networks) > 1:
                raise parser.error(f"input constraint {render(c)} relates the inputs of networks {' and '.join(networks)}"
                                   ": not a question about one input (only ties (== X_f[i] X_g[i]) are)", c.line, True)
            if len(c.coeffs) != 1:
                raise parser.error(f"input constraint {render(c)} is not a bound on one input, nor a tie "
                                   f"(== {first.name}[i] X[i]) of another network's input: not supported", c.line, True)
            name = c.variables[0]
            tensor = parser.tensor_of(name)
            if tensor is not first and (tensor.name, _entry(name)) not in ties:
                raise parser.error(f"{render(c)} constrains {name}, which is not tied to {first.name}[{_entry(name)}] "
                                   f"by (== {first.name}[i] {tensor.name}[i])", c.line, True)
            bounds.append(Constraint(((f"{first.name}[{_entry(name)}]", c.coeffs[0][1]),), c.op, c.bound, c.line))
        for t in others:
            missing = [k for k in range(t.size) if (t.name, k) not in ties]
            if missing:
                raise parser.error(f"input {t.name}[{missing[0]}] is not tied to {first.name}[{missing[0]}] by "
                                   f"(assert (== {first.name}[{missing[0]}] {t.name}[{missing[0]}])): the networks' "
                                   "inputs must be one input", t.line, True)
        case = _box(parser, first, bounds)
        if case is not None:
            cases.setdefault(case_key(case), case)
    if not cases:
        raise parser.error("the input constraints are unsatisfiable (every box is empty)", None)
    return tuple(cases.values())


def _is_tie(parser: _Parser2, first: Tensor, c: Constraint) -> bool:
    """X_f[i] = X_g[i] (any nonzero scale) between the first network's input and another network's, same entry."""
    if c.op != "=" or c.bound != 0 or len(c.coeffs) != 2 or c.coeffs[0][1] != -c.coeffs[1][1]:
        return False
    (u, _), (v, _) = c.coeffs
    tu, tv = parser.tensor_of(u), parser.tensor_of(v)
    if tu is not first or tv is first:  # coefficients are in declaration order: the first network's come first
        return False
    if _entry(u) != _entry(v):
        raise parser.error(f"{render(c)} ties different entries: only X_f[i] = X_g[i] (the same input) is "
                           "supported", c.line, True)
    return True


def _box(parser: _Parser2, first: Tensor, bounds: list[Constraint]) -> InputCase | None:
    return input_case(bounds, first.size, _entry, lambda lower, upper: Box(lower, upper, parser.path),
                      lambda i, what: parser.error(f"input {first.name}[{i}] {what}", first.line))


def _outputs(parser: _Parser2, layout: tuple[Tensor, ...], conjunctions) -> tuple[tuple[OutputAtom, ...], ...]:
    offsets, total = {}, 0
    for t in layout:
        offsets[t.name], total = total, total + t.size
    return output_atoms(conjunctions, total, lambda name: offsets[parser.tensor_of(name).name] + _entry(name))
