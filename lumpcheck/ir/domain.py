"""Input domains: an axis-aligned box with exact rational bounds (what VNN-LIB input constraints give)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from fractions import Fraction

from .exact import fraction_str


@dataclass(frozen=True)
class Box:
    """lower[i] <= x_i <= upper[i], exact rationals; `output_constraints` keeps VNN-LIB's output part as text."""

    lower: tuple[Fraction, ...]
    upper: tuple[Fraction, ...]
    source: str = ""
    output_constraints: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.lower) != len(self.upper):
            raise ValueError("lower and upper bounds differ in length")
        for i, (lo, hi) in enumerate(zip(self.lower, self.upper)):
            if lo > hi:
                raise ValueError(f"empty box: X_{i} has lower bound {lo} > upper bound {hi}")

    @property
    def dim(self) -> int:
        return len(self.lower)

    @cached_property
    def free(self) -> tuple[int, ...]:
        """The inputs that vary (lower < upper), in order; every other input is fixed at one value."""
        return tuple(i for i, (lo, hi) in enumerate(zip(self.lower, self.upper)) if lo < hi)

    def restricted(self, inputs: tuple[int, ...]) -> "Box":
        """The box of these inputs only (in this order); the output constraints and source are kept."""
        return Box(tuple(self.lower[i] for i in inputs), tuple(self.upper[i] for i in inputs), self.source,
                   self.output_constraints)

    def contains(self, x) -> bool:
        return all(lo <= Fraction(v) <= hi for lo, v, hi in zip(self.lower, x, self.upper))

    def as_strings(self) -> dict[str, list[str]]:
        """{"lower": ["p/q", ...], "upper": [...]}: the bounds exactly, as certificates write them."""
        return {"lower": [fraction_str(v) for v in self.lower], "upper": [fraction_str(v) for v in self.upper]}
