"""The pair engine's work after its deadline is bounded by construction: stopping the worker processes takes at most
parallel.STOP_SECONDS (all workers together, then SIGKILL), even for workers that ignore SIGTERM."""

from __future__ import annotations

import multiprocessing as mp
import signal
import time

from lumpcheck.equivalence.parallel import STOP_SECONDS, stop_workers


def _stubborn(ready) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ready.set()
    time.sleep(120)


def test_stop_workers_is_bounded_even_when_workers_ignore_sigterm():
    ctx = mp.get_context("fork")
    events = [ctx.Event() for _ in range(3)]
    procs = [ctx.Process(target=_stubborn, args=(e,), daemon=True) for e in events]
    for p in procs:
        p.start()
    for e in events:
        assert e.wait(10)
    start = time.monotonic()
    stop_workers(procs)
    elapsed = time.monotonic() - start
    assert not any(p.is_alive() for p in procs)
    # one shared grace period, not one per worker (3 workers would take 3 x STOP_SECONDS sequentially)
    assert elapsed < STOP_SECONDS + 1.0, elapsed


def test_stop_workers_does_not_wait_for_workers_that_obey():
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=time.sleep, args=(120,), daemon=True) for _ in range(2)]
    for p in procs:
        p.start()
    start = time.monotonic()
    stop_workers(procs)
    assert not any(p.is_alive() for p in procs)
    assert time.monotonic() - start < STOP_SECONDS
