"""A channel reduction never changes a graph's interface: the checker refuses a rebuilt graph whose output shape
differs from the original's (a hand-made certificate that lists a MatMul over the spatial axis as a second producer
of a channel merge once rebuilt a graph with half the outputs, and `check` called it equal)."""

from __future__ import annotations

import numpy as np
import pytest

from lumpcheck.checker.graph import check_certificate, replay
from lumpcheck.checker.graph_document import parse_graph_document
from lumpcheck.ir.graph.dag import Graph, Node, TensorSpec
from lumpcheck.ir.graph.ops import Conv, MatMul, Window


def _graph_and_document(producers: list[str]):
    window = Window((1, 1), (1, 1), (0, 0, 0, 0), (1, 1))
    conv = Conv(np.array([[[[1.0]]], [[[1.0]]]]), np.array([0.0, 0.0]), window)  # 1 -> 2 identical channels
    spatial = MatMul(np.array([[1.0, 1.0], [2.0, 2.0]]))  # over the last (spatial) axis, equal columns
    g = Graph((TensorSpec("x", (1, 1, 1, 2)),),
              (Node("P", conv, ("x",), "t"), Node("M", spatial, ("t",), "u"),
               Node("N", MatMul(np.array([[1.0], [3.0]])), ("u",), "y")), ("y",))
    doc = {"format": "lumpcheck-graph-certificate", "format_version": 1, "verdict": "proved",
           "claim": {"mode": "strict", "epsilon": None, "domain": None}, "bounds": "interval",
           "rounds": [{"claims": {p: [[1, 0, "1", "0"]] for p in producers}, "phases": {},
                       "removals": [{"kind": "merge", "producers": producers, "channels": 2, "kept": [0],
                                     "reps": [[1, 0]], "boundaries": ["y"]}]}]}
    return g, doc


def test_a_removal_that_changes_the_output_shape_is_refused():
    """Refused where the region is computed (the spatial MatMul does not carry the channels), and the rebuilt
    graph's interface is checked as well (a second line, should a region rule be loose again)."""
    g, doc = _graph_and_document(["t", "u"])
    with pytest.raises(Exception, match="does not act channel by channel|differ from the original's"):
        replay(g, parse_graph_document(doc))
    result = check_certificate(g, g, doc)
    assert not result.valid and len(result.reasons) == 1


def test_a_matmul_that_does_not_read_the_channels_does_not_continue_their_region():
    """The spatial MatMul M after the channel producer P mixes positions, not channels: P's channels do not flow
    through it as channels, so a removal at P alone with the final MatMul as its boundary is refused where the
    region is computed (before any rebuilt graph exists)."""
    g, doc = _graph_and_document(["t"])
    with pytest.raises(Exception, match="does not act channel by channel"):
        replay(g, parse_graph_document(doc))
    assert not check_certificate(g, g, doc).valid
