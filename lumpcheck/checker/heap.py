"""Keep freed heap memory for reuse while a check runs (glibc's malloc; a no-op elsewhere).

The differential re-derivation allocates and frees numpy temporaries of 0.1-2 MB at every back-substitution
step. glibc by default returns the top of its heap to the system as soon as more than 128 KiB of it is free, so
nearly every new temporary is page-faulted in (and zeroed by the kernel) again. Measured on ACAS certificates of
563 and 1708 leaves (benchmarks/DIFFVERIFY.md, 2026-11-30 "Checking cost"): a third of the check's CPU time.
With M_TOP_PAD the heap keeps that many bytes beyond what is in use, so the temporaries reuse warm pages.

Only memory management changes: no arithmetic depends on it. The pad is set for the duration of a check
and put back to glibc's documented default (mallopt(3): 128*1024) afterwards.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from contextlib import contextmanager
from typing import Iterator

M_TOP_PAD = -2
PAD_BYTES = 64 << 20
DEFAULT_TOP_PAD = 128 * 1024


def _mallopt():
    """glibc's mallopt, or None (another C library, another platform)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallopt
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return fn


def set_top_pad(size: int) -> bool:
    """Set glibc's M_TOP_PAD (bytes kept at the top of the heap); False where that is not possible."""
    fn = _mallopt()
    return bool(fn is not None and fn(M_TOP_PAD, size) == 1)


@contextmanager
def warm_heap() -> Iterator[bool]:
    """Within: freed heap memory up to PAD_BYTES stays with the process (yields whether that took effect)."""
    done = set_top_pad(PAD_BYTES)
    try:
        yield done
    finally:
        if done:
            set_top_pad(DEFAULT_TOP_PAD)
