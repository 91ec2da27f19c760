"""The reduction relation between an original network and its reduced one: the certificate's core.

For every hidden neuron r of the original network, its value is an affine combination of the reduced
layer's neuron values (see NeuronMap). Inputs and outputs are never remapped. Removed ("dead") classes
survive as ghost classes: indices past the reduced width, absent from the reduced network, each standing
for one free value (that of its representative in the original network).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

REASONS = ("kept", "duplicate", "proportional", "negated", "constant", "dead", "inactive", "linear")
DOMAIN_REASONS = ("inactive", "linear")
"""Maps that hold only on the certificate's input box, by the phase claims (never class members)."""
BOUNDS_METHODS = ("interval", "symbolic", "split")


def _fraction(x: object) -> Fraction:
    return x if type(x) is Fraction else Fraction(x)  # skip the slow constructor on the hot path (reduce)


@dataclass(frozen=True)
class NeuronMap:
    """How one original neuron is represented: v_r = sum(factor * v'_cls for cls, factor in terms) + offset.

    Lumping gives one term (duplicate/proportional/negated) or none (constant: v_r = offset). Domain
    reductions may give several terms (a stably linear neuron folded onto a basis). A dead neuron has one
    term on a ghost class (index >= the reduced width): v_r = factor·g + offset, g the ghost's own value.
    """

    terms: tuple[tuple[int, Fraction], ...]
    offset: Fraction = Fraction(0)
    reason: str = "kept"

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown reason {self.reason!r}")
        object.__setattr__(self, "terms", tuple((int(c), _fraction(f)) for c, f in self.terms))
        object.__setattr__(self, "offset", _fraction(self.offset))

    @property
    def cls(self) -> int | None:
        """The single class (reduced neuron or ghost) this one is a multiple of (None for constants, combinations)."""
        return self.terms[0][0] if len(self.terms) == 1 else None

    @property
    def factor(self) -> Fraction:
        """The factor of the single term (0 when there is none)."""
        return self.terms[0][1] if len(self.terms) == 1 else Fraction(0)


@dataclass(frozen=True, eq=False)
class LumpedMaps(Sequence):
    """The maps of a lumped layer as arrays, one term or none per neuron: neuron r is
    v_r = table[factor[r]]·v'_cls[r] + table[offset[r]] (no term where cls[r] < 0), for reason REASONS[reason[r]].
    The NeuronMap objects are built when first read: the reducer works on the arrays alone."""

    cls: np.ndarray  # int64: class (reduced neuron or ghost), -1 for none
    factor: np.ndarray  # int32: index into table
    offset: np.ndarray  # int32: index into table
    reason: np.ndarray  # uint8: index into REASONS
    table: tuple[Fraction, ...]

    def __post_init__(self) -> None:
        n = len(self.cls)
        kinds = ((self.cls, "i"), (self.factor, "i"), (self.offset, "i"), (self.reason, "u"))
        if any(a.ndim != 1 or len(a) != n or a.dtype.kind != k for a, k in kinds):
            raise ValueError("LumpedMaps: cls, factor, offset and reason must be 1-D integer arrays of one length")
        for codes, bound, name in ((self.factor, len(self.table), "factor"), (self.offset, len(self.table), "offset"),
                                   (self.reason, len(REASONS), "reason")):
            if n and codes.view(f"u{codes.itemsize}").max() >= bound:  # as unsigned, a negative code is >= bound
                raise ValueError(f"LumpedMaps: {name} codes outside 0..{bound - 1}")
        if any(type(v) is not Fraction for v in self.table):
            raise TypeError("LumpedMaps: the table holds Fractions")
        for a, _ in kinds:
            a.flags.writeable = False
        object.__setattr__(self, "_maps", None)

    def __len__(self) -> int:
        return len(self.cls)

    def __getitem__(self, i):  # type: ignore[override]
        return self.built()[i]

    def __iter__(self):
        return iter(self.built())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def built(self) -> list[NeuronMap]:
        """The maps as NeuronMap objects (equal maps share one object), built once."""
        if self._maps is None:  # type: ignore[attr-defined]
            shared: dict[tuple, NeuronMap] = {}
            out = []
            for key in zip(self.cls.tolist(), self.factor.tolist(), self.offset.tolist(), self.reason.tolist()):
                m = shared.get(key)
                if m is None:
                    c, f, o, r = key
                    m = shared[key] = NeuronMap(((c, self.table[f]),) if c >= 0 else (), self.table[o], REASONS[r])
                out.append(m)
            object.__setattr__(self, "_maps", out)
        return self._maps  # type: ignore[attr-defined]

    def reason_counts(self) -> dict[str, int]:
        """Number of neurons per reason, in order of first appearance."""
        counts = np.bincount(self.reason, minlength=len(REASONS))
        codes = np.flatnonzero(counts)
        if not len(codes):
            return {}
        first = np.argmax(self.reason == codes[:, None], axis=1)  # each code's first position
        return {REASONS[k]: int(counts[k]) for k in codes[np.argsort(first)].tolist()}


@dataclass(frozen=True)
class FlatTerms:
    """A layer's maps flattened: term t is factor table[codes[t]] on class cols[t] of neuron rows[t]; `offsets` lists
    the nonzero offsets (neuron, value)."""

    rows: np.ndarray
    cols: np.ndarray
    codes: np.ndarray
    table: tuple[Fraction, ...]
    offsets: tuple[tuple[int, Fraction], ...]


@dataclass
class LayerRelation:
    """The maps of one hidden layer's original neurons, the width of the reduced layer, and the number of ghost
    classes (indices reduced_width .. reduced_width + ghosts - 1: removed classes, each with a value of its own)."""

    maps: Sequence[NeuronMap]  # a list, or LumpedMaps (arrays) from the reducer
    reduced_width: int
    ghosts: int = 0

    def members(self) -> list[list[int]]:
        """Original neurons of each class, reduced neurons first, then ghosts (single-term maps, except domain
        maps: a stably linear neuron folded onto one class is equal to it on the box only, not a member)."""
        out: list[list[int]] = [[] for _ in range(self.reduced_width + self.ghosts)]
        for r, m in enumerate(self.maps):
            if len(m.terms) == 1 and 0 <= m.terms[0][0] < len(out) and m.reason not in DOMAIN_REASONS:
                out[m.terms[0][0]].append(r)
        return out

    def classes(self) -> list[list[int]]:
        """Original neurons grouped by reduced neuron (the partition; constants and dead neurons are in none)."""
        return self.members()[: self.reduced_width]

    def ghost_representatives(self) -> list[int | None]:
        """Per ghost class, its representative: the lowest member with map exactly 1·g + 0 (None: there is none)."""
        return [
            next((r for r in rs if self.maps[r].terms[0][1] == 1 and self.maps[r].offset == 0), None)
            for rs in self.members()[self.reduced_width :]
        ]

    def flat_terms(self, below: int | None = None) -> FlatTerms:
        """Every term of every map (only those on classes < `below`, if given), and the nonzero offsets."""
        m = self.maps
        if isinstance(m, LumpedMaps):
            keep = (m.cls >= 0) if below is None else m.cls.view(f"u{m.cls.itemsize}") < below  # unsigned: -1 is huge
            rows = np.flatnonzero(keep)
            nonzero = np.array([v.numerator != 0 for v in m.table], dtype=bool)  # the table holds Fractions
            at = np.flatnonzero(nonzero[m.offset]) if nonzero[0] or m.offset.any() else ()  # else: all code 0, zero
            offsets = tuple((int(r), m.table[m.offset[r]]) for r in at)
            return FlatTerms(rows, m.cls[rows], m.factor[rows].astype(np.intp), m.table, offsets)
        flat = [(r, c, f) for r, nm in enumerate(m) for c, f in nm.terms if below is None or c < below]
        code: dict[Fraction, int] = {}
        codes = [code.setdefault(f, len(code)) for _, _, f in flat]
        rows, cols = (np.array([t[k] for t in flat], dtype=np.intp) for k in (0, 1))
        offsets = tuple((r, nm.offset) for r, nm in enumerate(m) if nm.offset)
        return FlatTerms(rows, cols, np.array(codes, dtype=np.intp), tuple(code), offsets)

    def reason_counts(self) -> dict[str, int]:
        if isinstance(self.maps, LumpedMaps):
            return self.maps.reason_counts()
        counts: dict[str, int] = {}
        for m in self.maps:
            counts[m.reason] = counts.get(m.reason, 0) + 1
        return counts


@dataclass
class Relation:
    """One LayerRelation per hidden layer (layers 1..k-1 of the original network)."""

    layers: list[LayerRelation] = field(default_factory=list)


@dataclass(frozen=True)
class PhaseClaim:
    """Original neuron `neuron` is stably inactive (phase -1: pre-activation upper bound <= 0) or active
    (+1: lower bound >= 0) on the input box; `bound` is the upper (inactive) or lower (active) bound found."""

    neuron: int
    phase: int
    bound: Fraction


@dataclass
class PhaseClaims:
    """What a domain reduction rests on: the bounds method (re-run by a checker on the original network over the
    box; `parts` per input for 'split') and, per hidden layer, the claimed phases."""

    method: str
    parts: int
    layers: list[list[PhaseClaim]]

    def __post_init__(self) -> None:
        if self.method not in BOUNDS_METHODS:
            raise ValueError(f"unknown bounds method {self.method!r}; known: {', '.join(BOUNDS_METHODS)}")

    def describe(self) -> str:
        return f"split(parts={self.parts})" if self.method == "split" else self.method
