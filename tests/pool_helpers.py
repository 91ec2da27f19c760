"""Module-level chunk functions for the checker's process pool tests (worker processes import them by name)."""

from __future__ import annotations

import multiprocessing
import os
import time


def square(shared: int, chunk: int) -> int:
    return shared + chunk * chunk


def exit_on(shared: int, chunk: int) -> int:
    """Kills a worker process that gets the chunk `shared`; the calling process (which takes chunks too) answers
    slowly instead, so that a worker gets such a chunk once it has started."""
    if chunk == shared:
        if multiprocessing.parent_process() is not None:
            os._exit(3)
        time.sleep(0.25)
    return chunk


def raise_on(shared: int, chunk: int) -> int:
    if chunk == shared:
        raise ValueError(f"chunk {chunk} is malformed")
    return chunk
