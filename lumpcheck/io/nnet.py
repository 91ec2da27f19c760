"""Kyle Julian's .nnet text format (ACAS Xu), read and written exactly: a number is the rational its text spells.

Layout after optional `//` comment lines: header `layers,inputs,outputs,maxLayerSize`; the layer sizes; an
unused flag line (`0,` or `0`); input minimums; input maximums; means and ranges (one per input, then the
output's); then per layer one line per weight row and one line per bias. Hidden layers are ReLU, the output
is linear. A hidden layer may have size 0 (a reduced network whose layer was removed entirely): it has no
rows, and the next layer's rows are empty: the writer puts an empty line for each (as the reference readers of
sisl/NNet read one line per row), and this reader, which skips blank lines, reads no line for them. The normalisation
is kept as `Normalization` metadata, not folded (see `fold_normalization`), and so is the input clamp to
[min, max] of the reference evaluator: both are part of the model's meaning (network.Normalization). Means 0,
ranges 1 and bounds at ±2^1024 (what the writer emits for "none", NO_BOUND) read as no normalisation; the float32
extremes other writers emit for "none" are read as the clip they are.
Comment lines are kept in `meta["nnet_comments"]` (the ACAS files carry their CC BY notice there) and
written back; tolerated oddities (legacy headers, odd maxLayerSize) are listed in `meta["warnings"]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import ModelFormatError
from ..ir.activation import IDENTITY, RELU
from ..ir.exact import NO_CLIP, canonical, decimal_str, parse_decimals
from ..ir.network import Layer, Network
from ..ir.normalization import Normalization
from .atomic import write_text_atomic
from .compressed import read_text
from .marker import nnet_lines, without_marker

COMMENT = "//"
WRITER_COMMENT = "// written by lumpcheck (exact decimals: every number is the exact value)"
NO_BOUND = NO_CLIP
"""Bounds written when a network has no input range: 2^1024 (exact decimal; read back, and by the reference readers'
float parsing, as no bound). sisl/NNet files write the float32 extremes instead, which clip there when read."""


@dataclass
class _Lines:
    """The content lines of an .nnet file (comments and blank lines skipped), consumed in order."""

    path: str
    lines: list[tuple[int, str]]
    comments: list[str]
    pos: int = 0
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, path: str, text: str) -> "_Lines":
        content, comments = [], []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if line.startswith(COMMENT):
                comments.append(line)
            elif line:
                content.append((number, line))
        return cls(path, content, comments)

    def error(self, message: str, number: int) -> ModelFormatError:
        return ModelFormatError(message, self.path, f"line {number}")

    def take(self, what: str) -> tuple[int, list[str]]:
        """Next line split at commas (one trailing comma allowed), with its 1-based number."""
        if self.pos >= len(self.lines):
            end = self.lines[-1][0] + 1 if self.lines else 1
            raise self.error(f"file ends early: expected {what}", end)
        number, line = self.lines[self.pos]
        self.pos += 1
        tokens = [t.strip() for t in line.split(",")]
        if len(tokens) > 1 and tokens[-1] == "":
            tokens.pop()
        if "" in tokens:
            raise self.error(f"empty entry in {what}", number)
        return number, tokens

    def numbers(self, what: str, count: int | None = None) -> tuple[int, list[Fraction]]:
        """Next line as exact rationals; `count` entries exactly when given."""
        number, tokens = self.take(what)
        if count is not None and len(tokens) != count:
            raise self.error(f"expected {count} numbers ({what}), got {len(tokens)}", number)
        try:
            return number, parse_decimals(tokens)
        except ValueError as e:
            raise self.error(f"{e} in {what}", number) from None

    def ints(self, what: str, count: int) -> tuple[int, list[int]]:
        number, values = self.numbers(what, count)
        if any(v.denominator != 1 or v < 0 for v in values):
            raise self.error(f"{what} must be non-negative integers", number)
        return number, [int(v) for v in values]

    def finish(self) -> None:
        if self.pos < len(self.lines):
            raise self.error("unexpected content after the last layer", self.lines[self.pos][0])


def read_nnet(path: str | Path) -> Network:
    """Read an .nnet file into the exact IR (ReLU hidden layers, identity output, normalisation as metadata)."""
    p = Path(path)
    text = read_text(p, ".nnet file")
    lines = _Lines.of(str(p), text)
    number, (n_layers, n_in, n_out, max_size) = lines.ints("the header (layers, inputs, outputs, max size)", 4)
    if n_layers < 1:
        raise lines.error("the header declares no layers", number)
    sizes_line, sizes = lines.ints("the layer sizes", n_layers + 1)
    if sizes[0] != n_in or sizes[-1] != n_out or 0 in (n_in, n_out):
        raise lines.error(f"layer sizes {sizes} do not match {n_in} inputs and {n_out} outputs", sizes_line)
    if max_size not in (max(sizes), max(sizes[1:])):
        lines.warnings.append(f"header maxLayerSize {max_size} matches no layer size (ignored)")
    lines.numbers("the flag line (unused)", 1)
    normalization = _read_normalization(lines, n_in)
    layers = []
    for i in range(n_layers):
        n, m = sizes[i + 1], sizes[i]
        weights = [v for r in range(n) if m for v in lines.numbers(f"layer {i + 1} weight row {r + 1}", m)[1]]
        bias = [lines.numbers(f"layer {i + 1} bias {r + 1}", 1)[1][0] for r in range(n)]
        activation = IDENTITY if i == n_layers - 1 else RELU
        layers.append(Layer(_exact(weights).reshape(n, m), _exact(bias), activation))
    lines.finish()
    meta: dict = {"format": "nnet"}
    if lines.comments:
        meta["nnet_comments"] = "\n".join(lines.comments)
    if lines.warnings:
        meta["warnings"] = list(lines.warnings)
    return Network(layers, normalization, source=str(p), meta=meta)


def _exact(values: list[Fraction]) -> np.ndarray:
    """The parsed rationals as an exact array (float64 when every one is a float exactly: ir.exact.canonical),
    without `exact_array`'s per-element type dispatch (they are Fractions already)."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return canonical(arr)


def _read_normalization(lines: _Lines, n_in: int) -> Normalization | None:
    """Min, max, mean and range lines; tolerates the legacy ACAS header that lists more inputs than the net has."""
    number, mins = lines.numbers("input minimums")
    if len(mins) < n_in:
        raise lines.error(f"expected {n_in} numbers (input minimums), got {len(mins)}", number)
    k = len(mins)
    _, maxs = lines.numbers("input maximums", k)
    _, means = lines.numbers("means (inputs, then output)", k + 1)
    _, ranges = lines.numbers("ranges (inputs, then output)", k + 1)
    if k > n_in:
        lines.warnings.append(
            f"line {number}: normalisation lists {k} inputs for a {n_in}-input network "
            f"(legacy header); using the first {n_in} and the last mean/range for the output"
        )
    if 0 in ranges[:n_in]:
        raise lines.error(f"input range 0 for input {ranges.index(0)} (the reader divides by it)", number + 3)
    inverted = [i for i in range(n_in) if mins[i] > maxs[i]]
    if inverted:
        i = inverted[0]
        raise lines.error(f"input {i}'s minimum {mins[i]} exceeds its maximum {maxs[i]} (an inverted clip range; "
                          "the two lines must give minimum <= maximum)", number + 1)
    norm = Normalization(
        input_mean=tuple(means[:n_in]),
        input_range=tuple(ranges[:n_in]),
        output_mean=(means[-1],),
        output_range=(ranges[-1],),
        input_min=tuple(mins[:n_in]),
        input_max=tuple(maxs[:n_in]),
    )
    return None if norm.affine_identity and not norm.has_clip else norm


def write_nnet(net: Network, path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write `net` as .nnet (atomically). Numbers are exact decimals, so reading back gives the same rationals.

    Only ReLU-hidden, identity-output networks fit the format; a weight without a finite decimal
    expansion (e.g. 1/3) raises ValueError: round the network first (lumpcheck.rounding). `metadata` (the
    lumpcheck marker, io/marker.py) is written as `// key: value` comment lines.
    """
    write_text_atomic(path, nnet_text(net, metadata))


def nnet_text(net: Network, metadata: dict[str, str] | None = None) -> str:
    """The .nnet file contents for `net` (see `write_nnet`)."""
    for i, layer in enumerate(net.layers, start=1):
        want = IDENTITY if i == len(net.layers) else RELU
        if layer.activation != want:
            raise ValueError(
                f".nnet needs ReLU hidden layers and an identity output; layer {i} is {layer.activation}"
            )
    widths = net.widths
    comments = without_marker(net.meta.get("nnet_comments", "").splitlines())
    if WRITER_COMMENT not in comments:
        comments.append(WRITER_COMMENT)
    comments += nnet_lines(metadata or {})
    out = comments + [
        _line([len(net.layers), net.input_size, net.output_size, max(widths)]),
        _line(widths),
        "0,",
    ]
    out += [_line(_numbers(values, what)) for what, values in _normalization_lines(net)]
    for i, layer in enumerate(net.layers, start=1):
        # a row of width 0 is an empty line: the reference readers (sisl/NNet) read one line per row whatever its
        # width, and parse an empty line as no numbers (a lone "," would be an empty number); our reader skips it
        out += [_line(_numbers(row, f"layer {i} weights")) if layer.in_features else "" for row in layer.weight]
        out += [_line(_numbers([b], f"layer {i} bias")) for b in layer.bias]
    return "\n".join(out) + "\n"


def _normalization_lines(net: Network) -> list[tuple[str, list]]:
    """The four header lines; no normalisation is written as means 0, ranges 1, bounds ±NO_BOUND."""
    n_in, norm = net.input_size, net.normalization
    if norm is None:
        return [
            ("input minimums", [-NO_BOUND] * n_in),
            ("input maximums", [NO_BOUND] * n_in),
            ("means", [0] * (n_in + 1)),
            ("ranges", [1] * (n_in + 1)),
        ]
    if len(norm.input_mean) != n_in or len(norm.input_range) != n_in:
        raise ValueError(f"normalisation has {len(norm.input_mean)} input means for {n_in} inputs")
    out_mean, out_range = set(norm.output_mean), set(norm.output_range)
    if len(out_mean) != 1 or len(out_range) != 1:
        raise ValueError(".nnet holds one output mean and range shared by all outputs")
    mins = list(norm.input_min) or [-NO_BOUND] * n_in
    maxs = list(norm.input_max) or [NO_BOUND] * n_in
    if len(mins) != n_in or len(maxs) != n_in:
        raise ValueError(f"normalisation has {len(mins)} input minimums for {n_in} inputs")
    return [
        ("input minimums", mins),
        ("input maximums", maxs),
        ("means", [*norm.input_mean, *out_mean]),
        ("ranges", [*norm.input_range, *out_range]),
    ]


def _numbers(values, what: str) -> list[str]:
    try:
        return [decimal_str(v) for v in values]
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None


def _line(items: list) -> str:
    return ",".join(str(x) for x in items) + ","
