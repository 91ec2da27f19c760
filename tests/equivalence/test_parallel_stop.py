"""The pair engine's work after its deadline is bounded by construction: stopping the worker processes takes at most
parallel.STOP_SECONDS (all workers together, then SIGKILL), even for workers that ignore SIGTERM."""

from __future__ import annotations

import multiprocessing as mp
import signal
import subprocess
import sys
import time
from pathlib import Path

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


NO_GUARD = """
import sys, time
sys.path.insert(0, {tests!r})
from fractions import Fraction
import numpy as np
from pair_helpers import near_copy, random_net
from lumpcheck.equivalence.pair import verify_pair
from lumpcheck.ir.domain import Box
rng = np.random.default_rng(0)
a = random_net(rng, [40, 200, 200, 3])  # pickled, far more than a pipe holds
box = Box((Fraction(-1, 8),) * 40, (Fraction(1, 8),) * 40)
start = time.monotonic()
res = verify_pair(a, near_copy(rng, a, "noise"), box, "epsilon=1/1000", timeout=10, workers=2)
print("STATUS", res.status, round(time.monotonic() - start, 1), res.message)
"""


def test_a_script_without_the_main_guard_gets_an_error_within_its_deadline(tmp_path):
    """Spawned workers re-run a script without `if __name__ == '__main__':` and die while starting. The networks
    reach them through their task queues, so the master is never stuck writing to a dead child: it answers 'error'
    (naming the guard) within its deadline, where it used to hang for good."""
    script = tmp_path / "no_guard.py"
    script.write_text(NO_GUARD.format(tests=str(Path(__file__).resolve().parents[1])))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=90, cwd=tmp_path)
    line = next(l for l in out.stdout.splitlines() if l.startswith("STATUS"))
    status, seconds = line.split()[1], float(line.split()[2])
    assert status == "error" and "__main__" in line and seconds <= 10 + STOP_SECONDS + 2, line
