"""VNN-COMP interop for two-network instances: instances.csv rows and results files (VNN-LIB 2.0: io/vnnlib2.py).

- instances.csv: `model,property,timeout`, where the model field is one .onnx path or, for two-network
  instances (VNN-COMP 2026), a Python-literal list of (label, path) pairs: [('f', 'A.onnx'), ('g', 'B.onnx')].
- Results file: first line sat / unsat / timeout / unknown / error; after 'sat' the counterexample as
  ((X_0 v) ... (Y_0 v) ...), inputs then the first network's outputs, then the second's as (Y2_i v).
  Inputs are exact decimals when finite (every float is one; verify prefers float witnesses), else p/q; outputs
  are exact decimals when finite, else the decimal of the nearest float64 (informative: float parsers read it, and
  VNN-COMP's checkers evaluate the outputs themselves).
"""

from __future__ import annotations

import ast
import csv
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

from ..errors import ModelFormatError
from ..ir.exact import decimal_str, fraction_str


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


MAX_SECONDS = 10**6
"""The longest time limit read (about 11.6 days): beyond it a number is a typo (and a pipe's poll cannot wait
longer than about 2.1e6 s)."""


def seconds(text: str) -> float:
    """A time limit: a positive finite number of seconds, at most MAX_SECONDS (ValueError naming the text otherwise)."""
    value = float(text)
    if not 0 < value <= MAX_SECONDS:  # also false for nan
        raise ValueError(f"a time limit is a number of seconds in (0, {MAX_SECONDS}], not {text.strip()!r}")
    return value


def read_instances(path: str | Path) -> list[Instance]:
    p = Path(path)
    out = []
    try:
        with open(p, newline="", encoding="utf-8") as f:
            rows = list(enumerate(csv.reader(f, skipinitialspace=True), start=1))
    except (UnicodeDecodeError, csv.Error) as e:
        raise ModelFormatError(f"not a CSV text file ({type(e).__name__}: {e})", str(p)) from None
    for line, row in rows:
        if not row or not "".join(row).strip():
            continue
        if len(row) < 3:
            raise ModelFormatError("expected model,property,timeout", str(p), f"line {line}")
        try:
            models = parse_models(",".join(row[:-2]), p.parent)
            limit = seconds(row[-1])
        except ModelFormatError as e:
            raise ModelFormatError(e.message, str(p), f"line {line}") from None
        except ValueError as e:
            raise ModelFormatError(f"timeout column: {e}", str(p), f"line {line}") from None
        out.append(Instance(models, p.parent / row[-2].strip(), limit))
    return out


# ---------------------------------------------------------------- results files


def _value(q: Fraction, exact: bool = True) -> str:
    try:
        return decimal_str(q)
    except ValueError:
        return fraction_str(q) if exact else repr(float(q))


def results_text(status: str, x: Sequence[Fraction] = (), ya: Sequence[Fraction] = (),
                 yb: Sequence[Fraction] = ()) -> str:
    """The VNN-COMP results file for a verdict: for 'sat' the exact counterexample x with both outputs."""
    if status != "sat":
        return f"{status}\n"
    parts = [f"(X_{i} {_value(v)})" for i, v in enumerate(x)]
    parts += [f"(Y_{i} {_value(v, exact=False)})" for i, v in enumerate(ya)]
    parts += [f"(Y2_{i} {_value(v, exact=False)})" for i, v in enumerate(yb)]
    return "sat\n(" + "\n ".join(parts) + ")\n"


def write_results(path: str | Path, status: str, x: Sequence[Fraction] = (), ya: Sequence[Fraction] = (),
                  yb: Sequence[Fraction] = ()) -> None:
    Path(path).write_text(results_text(status, x, ya, yb), encoding="utf-8")
