"""Split trees of `verify` certificates: the leaves' paths must be exactly the leaves of one complete binary tree,
so that the leaves cover the claim's box (or, for ReLU phase splits, every phase pattern) once.

Shared by the differential checker (difference.py: input and ReLU splits, specs/diff-certificate.md) and the
difference-bound checker (bound_pair.py: input splits, specs/bound-certificate.md). A path entry is
("x", d, m, side) (x_d <= m for side 0, x_d >= m for side 1; m a float, written as float.hex()) or
("a" | "b", layer, neuron, phase) (a ReLU's pre-activation <= 0 for phase -1, >= 0 for phase 1).
"""

from __future__ import annotations

import math
from fractions import Fraction

from ..ir.domain import Box


class TreeError(ValueError):
    """The leaves' paths are not the leaves of one complete binary split tree, or a split does not cut its box."""


def path_entry(raw: list) -> tuple:
    """One path entry as written in a certificate (["x", d, hex, side] or [net, layer, neuron, phase]); TreeError
    for any other JSON (a boolean, a fraction or a text where an integer belongs: Python's int() would take them)."""
    if not isinstance(raw, list) or len(raw) != 4 or not isinstance(raw[0], str) or \
            not all(type(v) is int for v in raw[1::2]) or not isinstance(raw[2], str if raw[0] == "x" else int) or \
            isinstance(raw[2], bool):
        raise TreeError(f"path entry {raw!r} is not [\"x\", input, hex, side] or [net, layer, neuron, phase]")
    if raw[0] == "x":
        return ("x", raw[1], float.fromhex(raw[2]), raw[3])
    return tuple(raw)


def check_tree(paths: list[tuple], strategy: str) -> None:
    """The leaves' paths must be exactly the leaves of a complete binary split tree (TreeError otherwise): no leaf
    twice, every node split one way only, with both sides, and no node both a leaf and split."""
    kinds = {"input": ("x",), "relu": ("a", "b")}[strategy]
    children: dict[tuple, dict] = {}
    ends = set()
    for path in paths:
        if path in ends:
            raise TreeError(f"leaf {list(path)} appears twice")
        ends.add(path)
        for depth, entry in enumerate(path):
            if entry[0] not in kinds:
                raise TreeError(f"split {list(entry)} does not belong to strategy {strategy!r}")
            node = path[:depth]
            split, side = entry[:3], entry[3]
            seen = children.setdefault(node, {})
            if seen and next(iter(seen.values())) != split:
                raise TreeError(f"node {list(node)} is split two different ways")
            seen[side] = split
    want = {0, 1} if strategy == "input" else {-1, 1}
    for node, seen in children.items():
        if node in ends:
            raise TreeError(f"node {list(node)} is both a leaf and split")
        if set(seen) != want:
            raise TreeError(f"node {list(node)} is split on {list(next(iter(seen.values())))} but lacks a side "
                            f"({sorted(want - set(seen))})")
    if not ends:
        raise TreeError("the certificate has no leaves")
    # every path prefix is an internal node, every internal node has both sides: each child is a leaf or internal
    for node, seen in children.items():
        for side, split in seen.items():
            child = node + (split + (side,),)
            if child not in ends and child not in children:
                raise TreeError(f"node {list(child)} is neither a leaf nor split")


def split_boxes(box: Box, paths: list[tuple]) -> list[Box]:
    """The exact box of each leaf of an input-split tree over `box`. Every split point must be finite and lie
    strictly inside its node's interval (TreeError otherwise), so that with check_tree the leaves' boxes cover
    `box` and meet only on their faces."""
    out = []
    for path in paths:
        lower, upper = list(box.lower), list(box.upper)
        for depth, (kind, d, m, side) in enumerate(path):
            if kind != "x" or not 0 <= d < box.dim or side not in (0, 1):
                raise TreeError(f"split {[kind, d, m, side]} is not an input split of the box's {box.dim} inputs")
            if not math.isfinite(m) or not lower[d] < Fraction(m) < upper[d]:
                raise TreeError(f"node {list(path[:depth])}: split point {m!r} on input {d} is not strictly inside "
                                f"its interval [{float(lower[d])!r}, {float(upper[d])!r}]")
            if side == 0:
                upper[d] = Fraction(m)
            else:
                lower[d] = Fraction(m)
        out.append(Box(tuple(lower), tuple(upper)))
    return out
