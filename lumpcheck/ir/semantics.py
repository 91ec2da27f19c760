"""One meaning of "two models agree on a box", shared by reduce, prove, check and verify.

A model is its layer chain inside its normalisation (network.Normalization): model(x) = out(layers(inp(clip(x)))),
and a box is over the model's own input unless a command says otherwise. `compare` turns two models and a box
into two plain layer chains (no metadata) and the box over THEIR inputs, such that

    (C) the plain chains agree (strictly, within ε, or on top-1) at every point of the plain box
        if and only if the models agree at every point of the model box,

so every engine can work on plain chains. The rules, each exact:
  * identical input maps (mean, range, clip): the chains see inp(clip(box)) (Normalization.input_box, onto);
  * different affine parts: they are folded into the first layers (exact), the clips kept; clips that bind
    alike everywhere on the box clip every point alike, so the chains see clip(box);
  * clips that bind differently: with `clip_layers` each clip becomes a leading ReLU layer
    (clamp(x, a, b) = a + relu(x − a) − relu(x − b)) and the box is unchanged; otherwise ComparisonError.
  * without a box and with a clip, a proof may compare the chains everywhere: agreement everywhere implies (C)'s
    right side (sufficient, which is all a proof needs); `clip_layers` compiles the clip instead (exact).
Output maps are equal on both sides or folded into the last layers (`fold_outputs`, and whenever they differ).
`Comparison.model_input` maps a point of the plain box back to a model input with the same outputs, so a
counterexample found on the chains is replayed on the models themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..errors import LumpcheckError
from .activation import RELU
from .domain import Box
from .exact import as_fractions
from .network import Layer, Network, fold_normalization, fold_output_map, layers_only
from .normalization import Normalization

DOMAIN_SPACES = ("input", "normalized")


class ComparisonError(LumpcheckError):
    """The two models cannot be compared by the requested means (e.g. they clip their inputs differently)."""


@dataclass(frozen=True)
class Comparison:
    """Plain chains `a`, `b` and the box over their inputs with property (C) of the module docstring.

    `how` says which rule applied; `mean`/`range` (None: identity) invert the affine map of the chains' inputs;
    `model_box` is the models' box (None: all of R^n)."""

    a: Network
    b: Network
    box: Box | None
    how: str
    model_box: Box | None
    mean: tuple[Fraction, ...] | None = None
    range: tuple[Fraction, ...] | None = None

    def __post_init__(self) -> None:
        if self.a.normalization is not None or self.b.normalization is not None:
            raise ValueError("a Comparison holds plain layer chains (no normalisation metadata)")

    def model_input(self, y: Sequence[Fraction]) -> tuple[Fraction, ...]:
        """A model input in the model box whose clipped, normalised value is the chain input y (y in self.box)."""
        x = list(y)
        if self.mean is not None:
            x = [v * r + m for v, r, m in zip(x, self.range, self.mean)]
        if self.model_box is not None:  # clip(nearest point of the box) = x, as x lies in clip(box)
            x = [min(max(v, lo), hi) for v, lo, hi in zip(x, self.model_box.lower, self.model_box.upper)]
        return tuple(x)


def _same_input_map(na: Normalization, nb: Normalization) -> bool:
    return (na.input_mean, na.input_range, na.input_min, na.input_max) == \
        (nb.input_mean, nb.input_range, nb.input_min, nb.input_max)


def _same_output_map(na: Normalization | None, nb: Normalization | None) -> bool:
    def out(n: Normalization | None) -> tuple:
        return ((Fraction(0),), (Fraction(1),)) if n is None else (n.output_mean, n.output_range)
    return out(na) == out(nb)


def compare(a: Network, b: Network, box: Box | None, *, fold_outputs: bool = False,
            clip_layers: bool = False) -> Comparison:
    """The comparison form of models a and b on `box` (module docstring); ComparisonError when it needs a clip
    layer and `clip_layers` is False, or an output map cannot be folded."""
    if box is not None and (box.dim != a.input_size or box.dim != b.input_size):
        raise ComparisonError(f"the box has {box.dim} inputs, the models {a.input_size} and {b.input_size}")
    try:
        if fold_outputs or not _same_output_map(a.normalization, b.normalization):
            a, b = fold_output_map(a), fold_output_map(b)
    except ValueError as e:
        raise ComparisonError(f"the models' output normalisations cannot be compared: {e}") from None
    na, nb = a.normalization, b.normalization
    if na is None and nb is None:
        return Comparison(a, b, box, "no normalisation", box)
    if na is not None and nb is not None and _same_input_map(na, nb) and (box is not None or not na.has_clip
                                                                            or not clip_layers):
        plain = box if box is None else na.input_box(box)
        return Comparison(layers_only(a), layers_only(b), plain, "same input normalisation", box,
                          na.input_mean, na.input_range)
    try:
        a, b = fold_normalization(a), fold_normalization(b)
    except ValueError as e:
        raise ComparisonError(f"the models' normalisations cannot be folded: {e}") from None
    ca, cb = _clip_of(a), _clip_of(b)
    if ca == cb if box is None else _effective(a, box) == _effective(b, box):
        if box is None and (ca is None or not clip_layers):
            return Comparison(layers_only(a), layers_only(b), None, "same clipping", None)
        if box is not None:
            clipped = box if a.normalization is None else a.normalization.clipped_box(box)
            return Comparison(layers_only(a), layers_only(b), clipped, "normalisation folded, same clipping on the box",
                              box)
    if not clip_layers:
        raise ComparisonError(f"the models clip their inputs differently{'' if box is None else ' on the box'}: "
                              f"{_clip_text(a)} vs {_clip_text(b)}")
    return Comparison(clip_as_layer(a), clip_as_layer(b), box, "input clipping compiled into a ReLU layer", box)


def _clip_of(net: Network) -> tuple | None:
    n = net.normalization
    return None if n is None or not n.has_clip else (n.input_min, n.input_max)


def _effective(net: Network, box: Box) -> tuple:
    n = net.normalization
    return ((None, None),) * box.dim if n is None else n.effective_clip(box)


def _clip_text(net: Network) -> str:
    n = net.normalization
    if n is None or not n.has_clip:
        return "no clipping"
    sides = [n.clip_bounds(i) for i in range(n.inputs)]
    shown = ", ".join(f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]" for lo, hi in sides[:4])
    return f"clip {shown}{', …' if len(sides) > 4 else ''}"


def clip_as_layer(net: Network) -> Network:
    """The same function with the input clip (after folding the affine maps) as a leading ReLU layer.

    Per input: clamp(x, a, b) = a + relu(x − a) − relu(x − b); one-sided a + relu(x − a) or b − relu(b − x);
    no clip x = relu(x) − relu(−x). The next layer absorbs the affine recombination exactly."""
    net = fold_normalization(net)
    norm = net.normalization
    n = net.input_size
    rows, bias, comb, const = [], [], [], [Fraction(0)] * n  # x'_i = const_i + Σ comb·h
    for i in range(n):
        lo, hi = norm.clip_bounds(i) if norm is not None else (None, None)
        unit = [Fraction(int(k == i)) for k in range(n)]
        pieces: list[tuple[Fraction, Fraction, Fraction]] = []  # (sign of x in z, z's constant, coefficient in x')
        if lo is not None:
            pieces.append((Fraction(1), -lo, Fraction(1)))
            const[i] = lo
        if hi is not None:
            pieces.append((Fraction(1), -hi, Fraction(-1)) if lo is not None else (Fraction(-1), hi, Fraction(-1)))
            if lo is None:
                const[i] = hi
        if lo is None and hi is None:
            pieces = [(Fraction(1), Fraction(0), Fraction(1)), (Fraction(-1), Fraction(0), Fraction(-1))]
        for sign, c, coeff in pieces:
            rows.append([sign * u for u in unit])
            bias.append(c)
            comb.append((i, coeff))
    recombine = np.zeros((n, len(rows)), dtype=object)
    recombine[:] = Fraction(0)
    for j, (i, coeff) in enumerate(comb):
        recombine[i, j] = coeff
    first = net.layers[0]
    w1 = as_fractions(first.weight)
    layer1 = Layer(w1.dot(recombine), as_fractions(first.bias) + w1.dot(np.array(const, dtype=object)), first.activation)
    clip_layer = Layer(np.array(rows, dtype=object), np.array(bias, dtype=object), RELU)
    return replace(net, layers=[clip_layer, layer1, *net.layers[1:]], normalization=None)


def model_box(net: Network, box: Box, space: str) -> Box:
    """The box over the model's own input, for a box given in `space`: 'input' (the model file's input, as is)
    or 'normalized' (the layer chain's coordinates, e.g. VNN-COMP's ACAS Xu properties against an .nnet)."""
    if space not in DOMAIN_SPACES:
        raise LumpcheckError(f"unknown domain space {space!r}; known: {', '.join(DOMAIN_SPACES)}")
    if box.dim != net.input_size:
        raise LumpcheckError(f"the box has {box.dim} inputs but the model takes {net.input_size}", box.source or None)
    if space == "input" or net.normalization is None:
        return box
    return net.normalization.box_from_normalized(box)


def chain_box(net: Network, box: Box, space: str) -> Box:
    """The box over the bare layer chain's input (the coordinates of a 'layers' claim: normalisation dropped) for a
    box given in `space`: 'normalized' boxes are in those coordinates already (no clipping: the chain has none);
    'input' boxes go through the model's clip and input map, inp(clip(box))."""
    if net.normalization is None or space == "normalized":
        return model_box(net, box, "input")  # the box as it is (its size checked)
    return net.normalization.input_box(model_box(net, box, space))


def domain_point(net: Network, x: Sequence[Fraction], space: str, dropped: bool = False) -> list[Fraction]:
    """An input x of `net` in the coordinates of a box given in `space` (model_box's map undone, or chain_box's for
    `dropped`: x is an input of net's bare layer chain): x itself where the coordinates agree, inp(x) without clipping
    for a model input and 'normalized', inp⁻¹(x) for a chain input and 'input'."""
    norm = net.normalization
    if norm is None or (space == "input") != dropped:
        return list(x)
    if dropped:
        return [u * r + m for u, m, r in zip(x, norm.input_mean, norm.input_range)]
    return [(v - m) / r for v, m, r in zip(x, norm.input_mean, norm.input_range)]


def clip_report(net: Network, box: Box) -> tuple[list[str], bool]:
    """(warnings, wholly): one line per input whose box reaches beyond the model's clip range, and whether some
    input lies wholly outside it (then every point is clipped onto one value: usually a units mistake)."""
    norm = net.normalization
    if norm is None or not norm.has_clip:
        return [], False
    lines, wholly = [], False
    for i, kind in norm.outside_clip(box):
        lo, hi = norm.clip_bounds(i)
        blo, bhi = box.lower[i], box.upper[i]
        rng = f"[{'-inf' if lo is None else _num(lo, blo)}, {'inf' if hi is None else _num(hi, bhi)}]"
        beyond = []
        if lo is not None and blo < lo:
            beyond.append(f"{_num(lo - blo)} below")
        if hi is not None and bhi > hi:
            beyond.append(f"{_num(bhi - hi)} above")
        lines.append(f"X_{i}: box [{_num(blo, lo)}, {_num(bhi, hi)}] is {kind} outside the clip range {rng} "
                     f"({' and '.join(beyond)} it)")
        wholly = wholly or kind == "wholly"
    return lines, wholly


def _num(q: Fraction, other: Fraction | None = None) -> str:
    """q with 6 significant digits, or more when needed to print it differently from `other` (q != other)."""
    for digits in (6, 9, 12, 17):
        text = f"{float(q):.{digits}g}"
        if other is None or q == other or text != f"{float(other):.{digits}g}":
            return text
    return text
