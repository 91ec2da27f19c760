"""Channel layouts and exact per-channel relations: the value types of channel lumping (see `channel_analysis`)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..ir.exact import as_fractions

@dataclass(frozen=True)
class Axis:
    """Channels of space `space` live on tensor axis `axis`; index i there is channel (i // inner) % channels."""

    space: int
    axis: int
    inner: int
    channels: int

    def channel_of(self, size: int) -> np.ndarray:
        return (np.arange(size) // self.inner) % self.channels

    def position_of(self, size: int) -> np.ndarray:
        i = np.arange(size)
        return (i // (self.inner * self.channels)) * self.inner + i % self.inner


@dataclass(frozen=True)
class Rel:
    """Per channel: t_c = fac[c]·Y_key[c] + off[c] (fac 0: the constant off[c])."""

    key: tuple
    fac: tuple
    off: tuple

    def free(self, c: int) -> bool:
        return isinstance(self.key[c], tuple) and self.key[c][:1] == ("free",)


def free_rel(name: str, n: int) -> Rel:
    return Rel(tuple(("free", name, c) for c in range(n)), (Fraction(1),) * n, (Fraction(0),) * n)


def per_channel(arr: np.ndarray, shape: tuple[int, ...], ax: Axis) -> list | None:
    """The per-channel values of a broadcast parameter, or None when it varies within a channel."""
    full = np.broadcast_to(as_fractions(np.asarray(arr)), shape)
    moved = np.moveaxis(full, ax.axis, -1).reshape(-1, shape[ax.axis])
    ch = ax.channel_of(shape[ax.axis])
    out: list = [None] * ax.channels
    for i in range(shape[ax.axis]):
        col = moved[:, i]
        first = col[0]
        if any(v != first for v in col):
            return None
        c = ch[i]
        if out[c] is None:
            out[c] = first
        elif out[c] != first:
            return None
    return out
