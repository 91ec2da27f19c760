"""VNN-COMP interop for two-network instances: instances.csv rows, VNN-LIB 2.0 input boxes, results files.

- instances.csv: `model,property,timeout`, where the model field is one .onnx path or, for two-network
  instances (VNN-COMP 2026), a Python-literal list of (label, path) pairs: [('f', 'A.onnx'), ('g', 'B.onnx')].
- VNN-LIB 2.0 (`(vnnlib-version <2.0>)`): `(declare-network NAME (declare-input X T [shape])
  (declare-output Y T [shape]) ...)` blocks; tensor-indexed variables X[i,j] flatten row-major. The box
  is read from bound assertions on the first network's inputs; the other networks' inputs must be tied to
  them entry by entry, by `(== X_f[i] X_g[i])` assertions or by identical bounds. Output assertions are not
  interpreted: the compared property comes from the mode (epsilon=E, top1, argmin).
- Results file: first line sat / unsat / timeout / unknown / error; after 'sat' the counterexample as
  ((X_0 v) ... (Y_0 v) ...), inputs then the first network's outputs, then the second's as (Y2_i v).
  Values are exact decimals when finite (every float is one), else p/q.
"""

from __future__ import annotations

import ast
import csv
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

from ..errors import ModelFormatError, UnsupportedModelError
from .compressed import read_text
from ..ir.domain import Box
from ..ir.exact import decimal_str, fraction_str, parse_decimal

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"


@dataclass(frozen=True)
class Instance:
    """One row of instances.csv: (label, model path) pairs, the property file, the timeout in seconds."""

    models: tuple[tuple[str, Path], ...]
    prop: Path
    timeout: float


def parse_models(field: str, base: Path) -> tuple[tuple[str, Path], ...]:
    """The model field: one path, or a literal list of (label, path) pairs (paths relative to `base`)."""
    text = field.strip()
    if text.startswith("["):
        try:
            items = ast.literal_eval(text)
        except (ValueError, SyntaxError) as e:
            raise ModelFormatError(f"bad network list {text!r}: {e}") from None
        if not (isinstance(items, (list, tuple)) and items and all(
                isinstance(t, (list, tuple)) and len(t) == 2 and all(isinstance(v, str) for v in t) for t in items)):
            raise ModelFormatError(f"network list must be [(label, path), ...], got {text!r}")
        return tuple((label, base / path) for label, path in items)
    return (("f", base / text),)


def read_instances(path: str | Path) -> list[Instance]:
    p = Path(path)
    out = []
    with open(p, newline="") as f:
        for line, row in enumerate(csv.reader(f, skipinitialspace=True), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 3:
                raise ModelFormatError("expected model,property,timeout", str(p), f"line {line}")
            models = parse_models(",".join(row[:-2]), p.parent)
            out.append(Instance(models, p.parent / row[-2].strip(), float(row[-1])))
    return out


# ---------------------------------------------------------------- VNN-LIB 2.0 input boxes

_DECL = re.compile(r"\(declare-network\s+([^\s()]+)(.*?)\)\s*(?=\(declare-network|\(assert|\Z)", re.S)
_INPUT = re.compile(r"\(declare-input\s+([^\s()]+)\s+\S+\s+\[([0-9,\s]*)\]\s*\)")
_BOUND = re.compile(rf"\(assert\s+\((<=|>=|<|>)\s+(?:([A-Za-z_][\w]*)\[([0-9,\s]+)\]\s+({_NUMBER})|({_NUMBER})\s+([A-Za-z_][\w]*)\[([0-9,\s]+)\])\s*\)\s*\)")
_TIE = re.compile(r"\(assert\s+\((?:==|=)\s+([A-Za-z_]\w*)\[([0-9,\s]+)\]\s+([A-Za-z_]\w*)\[([0-9,\s]+)\]\s*\)\s*\)")


def _flat(index: str, shape: list[int]) -> int:
    idx = [int(v) for v in index.split(",")]
    if len(idx) != len(shape) or any(not 0 <= i < s for i, s in zip(idx, shape)):
        raise ModelFormatError(f"index [{index}] does not fit shape {shape}")
    flat = 0
    for i, s in zip(idx, shape):
        flat = flat * s + i
    return flat


def read_box_v2(path: str | Path) -> Box:
    """The input box of a VNN-LIB 2.0 property over one or more networks (see the module docstring)."""
    p = Path(path)
    text = re.sub(r";[^\n]*", "", read_text(p, "VNN-LIB file"))
    if "vnnlib-version" not in text:
        raise UnsupportedModelError("not a VNN-LIB 2.0 file (no vnnlib-version); use the VNN-LIB 1.0 reader", str(p))
    inputs = {}
    for _, body in _DECL.findall(text):
        for name, shape in _INPUT.findall(body):
            dims = [int(v) for v in shape.split(",") if v.strip()] or [1]
            inputs[name] = dims
    if not inputs:
        raise ModelFormatError("no (declare-input ...) found", str(p))
    names = list(inputs)
    size = 1
    for d in inputs[names[0]]:
        size *= d
    bounds: dict[str, list[list[Fraction | None]]] = {n: [[None, None] for _ in range(size)] for n in names}
    for op, v1, i1, c1, c2, v2, i2 in _BOUND.findall(text):
        var, index, const = (v1, i1, c1) if v1 else (v2, i2, c2)
        if var not in bounds:
            continue
        k = _flat(index, inputs[var])
        value = parse_decimal(const)
        upper = (op in ("<=", "<")) == bool(v1)  # X <= c, or c >= X
        slot = bounds[var][k]
        slot[1 if upper else 0] = value if slot[1 if upper else 0] is None else (min if upper else max)(slot[1 if upper else 0], value)
    ties = {(a, _flat(i, inputs[a]), b, _flat(j, inputs[b])) for a, i, b, j in _TIE.findall(text) if a in inputs and b in inputs}
    first = bounds[names[0]]
    for other in names[1:]:
        for k in range(size):
            tied = (names[0], k, other, k) in ties or (other, k, names[0], k) in ties
            if not tied and bounds[other][k] != first[k]:
                raise UnsupportedModelError(f"input {other}[{k}] is neither tied to {names[0]}[{k}] nor bounded alike", str(p))
    if any(lo is None or hi is None for lo, hi in first):
        missing = next(k for k, (lo, hi) in enumerate(first) if lo is None or hi is None)
        raise UnsupportedModelError(f"input {names[0]} entry {missing} has no lower or upper bound", str(p))
    return Box(tuple(lo for lo, _ in first), tuple(hi for _, hi in first), source=str(p))


# ---------------------------------------------------------------- results files


def _value(q: Fraction) -> str:
    try:
        return decimal_str(q)
    except ValueError:
        return fraction_str(q)


def results_text(status: str, x: Sequence[Fraction] = (), ya: Sequence[Fraction] = (),
                 yb: Sequence[Fraction] = ()) -> str:
    """The VNN-COMP results file for a verdict: for 'sat' the exact counterexample x with both outputs."""
    if status != "sat":
        return f"{status}\n"
    parts = [f"(X_{i} {_value(v)})" for i, v in enumerate(x)]
    parts += [f"(Y_{i} {_value(v)})" for i, v in enumerate(ya)]
    parts += [f"(Y2_{i} {_value(v)})" for i, v in enumerate(yb)]
    return "sat\n(" + "\n ".join(parts) + ")\n"


def write_results(path: str | Path, status: str, x: Sequence[Fraction] = (), ya: Sequence[Fraction] = (),
                  yb: Sequence[Fraction] = ()) -> None:
    Path(path).write_text(results_text(status, x, ya, yb), encoding="utf-8")
