"""verify's own steps around the engines: the comparison form it builds (output maps folded, different input clips
compiled into layers) and an engine that fails on its input. Ground truth: the models evaluated exactly."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

import lumpcheck.equivalence.engine
from lumpcheck.equivalence.engine import verify
from lumpcheck.equivalence.mode import STRICT, epsilon_mode
from lumpcheck.errors import LumpcheckError
from lumpcheck.ir.activation import IDENTITY
from lumpcheck.ir.domain import Box
from lumpcheck.ir.network import Layer, Network, evaluate
from lumpcheck.ir.normalization import Normalization

F = Fraction


def _line(shift: Fraction, norm: Normalization | None = None) -> Network:
    return Network([Layer(np.array([[F(1)]], dtype=object), np.array([shift], dtype=object), IDENTITY)],
                   normalization=norm)


def test_a_shared_output_map_scales_the_difference():
    """Kills: the output maps not folded into the chains. Both models scale their outputs by 2: chains differing by
    3/4 are models differing by 3/2 > ε = 1, so the answer is 'sat' (unfolded chains would give a wrong 'unsat')."""
    norm = Normalization((F(0),), (F(1),), (F(0),), (F(2),))
    a, b = _line(F(0), norm), _line(F(3, 4), norm)
    box = Box((F(0),), (F(1),))
    result = verify(a, b, box, epsilon_mode(1), 20.0)
    assert result.status == "sat", (result.status, result.message)
    (x,) = result.witness
    assert abs(evaluate(a, [x])[0] - evaluate(b, [x])[0]) == F(3, 2)


def test_models_that_clip_differently_are_compared_with_the_clip_as_a_layer():
    """Kills: verify refusing models whose input clips differ (no clip layer). a clips its input to [0, 1], b does
    not: on [−1, 2] they differ outside [0, 1]."""
    a = _line(F(0), Normalization((F(0),), (F(1),), (F(0),), (F(1),), (F(0),), (F(1),)))
    b = _line(F(0))
    box = Box((F(-1),), (F(2),))
    result = verify(a, b, box, STRICT, 20.0)
    assert result.status == "sat", (result.status, result.message)
    (x,) = result.witness
    assert box.contains(result.witness) and evaluate(a, [x]) != evaluate(b, [x])


def test_an_engine_that_fails_on_its_input_leaves_an_error_with_a_note(monkeypatch):
    """Kills: the failure of an engine (a LumpcheckError) not recorded as such: with no other engine the result is
    'error' (not 'unknown', not a crash), and the note names the engine."""
    def failing(run):
        raise LumpcheckError("cannot handle this input")

    monkeypatch.setattr(lumpcheck.equivalence.engine, "_falsify", failing)
    result = verify(_line(F(0)), _line(F(0)), Box((F(0),), (F(1),)), STRICT, 5.0, engines=("falsify",))
    assert (result.status, result.engine) == ("error", "none"), result
    assert any("falsify failed: " in n and "cannot handle this input" in n for n in result.details["notes"]), result.message


def test_undecided_regions_are_short_in_the_note_and_whole_in_the_json(monkeypatch):
    """Kills a timeout note that prints every split of its regions (a ReLU-split MNIST region is 160+ splits deep:
    a wall of text in a one-line verdict) and regions missing from the JSON details."""
    from lumpcheck.equivalence.pair import DiffResult
    from lumpcheck.equivalence.undecided import Undecided

    deep = tuple(("a", 1, i, -1) for i in range(40))
    regions = (Undecided(deep, "all", "deadline reached"), Undecided((("b", 0, 7, 1),), "b", "deadline reached"))
    monkeypatch.setattr(lumpcheck.equivalence.engine, "verify_pair",
                        lambda a, b, box, mode, budget, **kw: DiffResult("timeout", mode, "deadline reached", undecided=regions))
    result = verify(_line(F(0)), _line(F(1, 8)), Box((F(0),), (F(1),)), epsilon_mode(1), 5.0, engines=("differential",))
    note = next(n for n in result.details["notes"] if n.startswith("differential: timeout"))
    assert "['a', 1, 3, -1], … 36 more] (depth 40)" in note and "['a', 1, 4, -1]" not in note, note
    assert "b [['b', 0, 7, 1]] (depth 1)" in note, note
    assert [len(u["path"]) for u in result.details["undecided"]] == [40, 1]


def test_the_difference_bound_reaches_the_differential_search_for_its_bracket(monkeypatch):
    """Kills verify not passing the difference-bound engine's whole-box bound on to the differential search (whose
    undecided epsilon bracket then reports only its own, possibly far looser, regions' bound). a and b differ by
    exactly 1/8 everywhere: the bound is >= 1/8 and fails ε = 1/16."""
    seen = {}

    def fake(a, b, box, mode, budget, **kw):
        from lumpcheck.equivalence.pair import DiffResult
        seen.update(kw)
        return DiffResult("timeout", mode, "deadline reached")

    monkeypatch.setattr(lumpcheck.equivalence.engine, "verify_pair", fake)
    verify(_line(F(0)), _line(F(1, 8)), Box((F(0),), (F(1),)), epsilon_mode(F(1, 16)), 5.0,
           engines=("difference-bound", "differential"))
    assert seen["known_bound"] is not None and F(1, 8) <= F(seen["known_bound"]) < F(1, 8) + F(1, 1000), seen
