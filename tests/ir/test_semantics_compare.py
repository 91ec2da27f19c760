"""ir.semantics.compare against its definition (property (C)), on small models with every kind of input and output map.

Ground truth: the models themselves, evaluated exactly with their normalisation and clipping (ir.network.evaluate).
For every point y of the comparison's plain box, `model_input(y)` must be a point of the models' box at which each
model computes what its plain chain computes at y (after the shared output map, when the maps are not folded);
conversely the plain box must be exactly the image of the models' box. (issue 14: the mutants of the semantics group)
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from lumpcheck.ir.activation import Activation
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate, layers_only
from lumpcheck.ir.normalization import Normalization
from lumpcheck.ir.semantics import ComparisonError, compare

F = Fraction
RELU, ID = Activation("relu"), Activation("identity")


def chain(seed: int, n: int = 2) -> Network:
    rng = np.random.default_rng(seed)
    return Network([Layer(rng.integers(-8, 9, (3, n)) / 8, rng.integers(-4, 5, 3) / 8, RELU),
                    Layer(rng.integers(-8, 9, (2, 3)) / 8, rng.integers(-4, 5, 2) / 8, ID)])


def norm(mean=(0, 0), rng=(1, 1), out_mean=(0,), out_range=(1,), lo=(), hi=()) -> Normalization:
    return Normalization(tuple(map(F, mean)), tuple(map(F, rng)), tuple(map(F, out_mean)), tuple(map(F, out_range)),
                         tuple(map(F, lo)), tuple(map(F, hi)))


def with_norm(net: Network, n: Normalization | None) -> Network:
    return Network(net.layers, normalization=n)


BOX = Box((F(-1), F(-2)), (F(3), F(1)), "prop.vnnlib", ("(assert (<= Y_0 0))",))
INSIDE = Box((F(0), F(-1)), (F(2), F(1, 2)))  # inside every clip range of MAPS
MAPS = {
    "none": None,
    "affine": norm(mean=(1, F(-1, 2)), rng=(2, F(1, 4))),
    "scaled_out": norm(out_mean=(F(1, 3),), out_range=(F(5, 2),)),
    "clip": norm(lo=(0, F(-3)), hi=(2, F(1, 2))),
    "clip_other": norm(lo=(F(-1, 2), F(-3)), hi=(2, F(1, 2))),
    "affine_clip": norm(mean=(1, 0), rng=(F(1, 2), 3), out_range=(2,), lo=(0, -1), hi=(1, 5)),
}


def grid(box: Box, extra: int = 3) -> list[tuple[Fraction, ...]]:
    """The box's vertices and a few interior rational points."""
    pts = list(itertools.product(*zip(box.lower, box.upper)))
    for k in range(1, extra + 1):
        pts.append(tuple(lo + (hi - lo) * F(k, extra + 1) for lo, hi in zip(box.lower, box.upper)))
    return pts


def folded(a_map, b_map, fold_outputs) -> bool:
    out = lambda n: ((F(0),), (F(1),)) if n is None else (n.output_mean, n.output_range)  # noqa: E731
    return fold_outputs or out(a_map) != out(b_map)


def assert_property_c(a, b, box, fold_outputs, clip_layers):
    c = compare(a, b, box, fold_outputs=fold_outputs, clip_layers=clip_layers)
    assert c.model_box == box
    fold = folded(a.normalization, b.normalization, fold_outputs)
    shared = a.normalization  # equal output maps may be left out of the chains (then both leave it out)
    clipped = any(m is not None and m.has_clip for m in (a.normalization, b.normalization))
    if box is None and clipped and not clip_layers:
        return c  # compared everywhere: sufficient, not exact (module docstring), nothing to check pointwise
    points = grid(c.box) if c.box is not None else [(F(-7), F(9)), (F(5), F(-6)), (F(0), F(0)), (F(1, 3), F(2))]
    for y in points:
        x = c.model_input(y)
        if box is not None:
            assert box.contains(x), (y, x)
        for model, plain in ((a, c.a), (b, c.b)):
            got, want = evaluate(plain, y), evaluate(model, x)
            if fold or shared is None:
                assert got == want, (c.how, y, x)
            else:
                assert want in (got, shared.output(got)), (c.how, y, x)
    if c.box is not None and box is not None:  # onto: every model input's chain input lies in the plain box
        for x in grid(box):
            if a.normalization is not None and c.how != "input clipping compiled into a ReLU layer":
                y = a.normalization.normalize_input(x) if c.how == "same input normalisation" else a.normalization.clip(x)
                assert c.box.contains(y), (c.how, x, y)
    return c


@pytest.mark.parametrize("fold_outputs", [False, True])
@pytest.mark.parametrize("clip_layers", [False, True])
@pytest.mark.parametrize("with_box", ["box", "inside", "none"])
@pytest.mark.parametrize("maps", [("none", "none"), ("affine", "affine"), ("scaled_out", "scaled_out"),
                                  ("scaled_out", "none"), ("none", "scaled_out"), ("clip", "clip"),
                                  ("clip", "clip_other"), ("affine_clip", "affine_clip"), ("affine", "clip"),
                                  ("affine_clip", "none")])
def test_the_plain_chains_compute_what_the_models_compute(maps, with_box, clip_layers, fold_outputs):
    a = with_norm(chain(1), MAPS[maps[0]])
    b = with_norm(chain(2), MAPS[maps[1]])
    box = {"box": BOX, "inside": INSIDE, "none": None}[with_box]
    try:
        c = assert_property_c(a, b, box, fold_outputs, clip_layers)
    except ComparisonError:
        # only clips that bind differently, without clip layers, may refuse
        assert not clip_layers and MAPS[maps[0]] != MAPS[maps[1]]
        return
    assert c.a.normalization is None and c.b.normalization is None


def test_equal_output_maps_are_left_out_unless_folding_is_asked_for():
    """compare's default: the shared output map is not part of the chains (fold_outputs=False)."""
    a = with_norm(chain(1), MAPS["scaled_out"])
    b = with_norm(chain(2), MAPS["scaled_out"])
    c = compare(a, b, BOX)
    assert c.how == "same input normalisation"
    for y in grid(c.box):
        assert evaluate(c.a, y) == evaluate(layers_only(a), y)
    assert compare(a, b, BOX, fold_outputs=True).a.layers[-1].bias.tolist() != layers_only(a).layers[-1].bias.tolist()


def test_which_rule_applied():
    same = with_norm(chain(1), MAPS["affine"])
    assert compare(chain(1), chain(2), BOX).how == "no normalisation"
    assert compare(same, with_norm(chain(2), MAPS["affine"]), BOX).how == "same input normalisation"
    c = compare(with_norm(chain(1), MAPS["clip"]), with_norm(chain(2), norm(lo=(0, -3), hi=(2, F(1, 2)), out_range=(2,))),
                None, clip_layers=False)
    assert c.how in ("same input normalisation", "same clipping")
    inside = Box((F(0), F(-1)), (F(2), F(1, 2)))  # the clip does not bind on it
    c = compare(with_norm(chain(1), MAPS["affine"]), with_norm(chain(2), MAPS["clip"]), inside)
    assert c.how == "normalisation folded, same clipping on the box" and c.model_box == inside
    c = compare(with_norm(chain(1), MAPS["clip"]), with_norm(chain(2), MAPS["clip_other"]), BOX, clip_layers=True)
    assert c.how == "input clipping compiled into a ReLU layer" and c.model_box == BOX and c.box == BOX


def test_without_a_box_clips_are_compiled_when_asked_for():
    """No box, the same clip on both sides: with clip_layers the chains are exact for every input (the clip is a
    ReLU layer), so a counterexample anywhere on them is one of the models."""
    a = with_norm(chain(1), MAPS["affine_clip"])
    b = with_norm(chain(2), MAPS["affine_clip"])
    c = compare(a, b, None, clip_layers=True)
    for y in [(F(-7), F(9)), (F(5), F(-6)), (F(2), F(20))]:
        x = c.model_input(y)
        assert evaluate(c.a, y) == a.normalization.output(evaluate(layers_only(a), a.normalization.normalize_input(x))) \
            or evaluate(c.a, y) == evaluate(a, x)
        assert evaluate(c.a, y) == evaluate(a, x) or a.normalization.output(evaluate(c.a, y)) == evaluate(a, x)


def test_a_box_must_fit_both_models():
    wide = Network([Layer(np.ones((2, 3)), np.zeros(2), ID)])
    with pytest.raises(ComparisonError, match="inputs"):
        compare(chain(1), wide, BOX)
    with pytest.raises(ComparisonError, match="inputs"):
        compare(wide, chain(1), BOX)


def test_boxes_keep_their_source_and_output_constraints():
    n = MAPS["affine_clip"]
    for out in (n.input_box(BOX), n.clipped_box(BOX), n.box_from_normalized(BOX)):
        assert out.source == BOX.source and out.output_constraints == BOX.output_constraints


def test_outside_clip_reports_only_what_leaves_the_clip_range():
    n = norm(lo=(0, F(-3)), hi=(2, F(1, 2)))
    assert n.outside_clip(Box((F(0), F(-3)), (F(2), F(1, 2)))) == []  # on the clip range's edges: inside
    assert n.outside_clip(Box((F(-1), F(-3)), (F(2), F(1, 2)))) == [(0, "partly")]
    assert n.outside_clip(Box((F(0), F(-3)), (F(3), F(1, 2)))) == [(0, "partly")]
    assert n.outside_clip(Box((F(-2), F(1)), (F(-1), F(2)))) == [(0, "wholly"), (1, "wholly")]
    one_sided = norm(lo=(0, -FLOAT_BIG), hi=(FLOAT_BIG, 1))  # input 0 clipped below only, input 1 above only
    assert one_sided.outside_clip(Box((F(0), F(-9)), (F(9), F(1)))) == []
    assert one_sided.outside_clip(Box((F(-2), F(2)), (F(-1), F(3)))) == [(0, "wholly"), (1, "wholly")]


FLOAT_BIG = F(2) ** 200
