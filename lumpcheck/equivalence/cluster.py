"""The branch and bound on a Dask cluster (`verify --scheduler tcp://HOST:PORT`), under the same hard deadline.

The master (this process) keeps the open nodes as parallel.py's master does and submits chunks of them to the
cluster's worker threads; a task runs the sequential search (bab.Search) on its chunk for a time slice and returns
its closed leaves, its remaining open nodes and any exactly replayed counterexample. Everything comes back here:
the master alone decides, so 'unsat' still needs every leaf closed and the certificate is built from the leaves
it received (pair.py), exactly as with local worker processes. Deadline: a task's slice ends at the earlier of
its own slice length and the shared deadline (wall-clock time, so machines need roughly synchronised clocks);
the master stops waiting at its own monotonic deadline whatever the tasks do, cancels them and answers timeout.
Memory: the master's resident memory counts against the cap; the cluster's workers are limited by their own
`--memory-limit` (a task that runs out of memory gives its region up, recorded as undecided, and the search goes
on: 'sat' if a counterexample is found elsewhere, else 'unknown'; a lost worker is an error).
"""

from __future__ import annotations

import os
import socket
import time
from concurrent.futures import FIRST_COMPLETED
from dataclasses import replace
from urllib.parse import urlsplit

from ..errors import LumpcheckError
from .bab import Node, Problem, Search, SearchOutcome, root_nodes, rss_mb
from .undecided import Undecided
from .parallel import POLL_SECONDS, Limits, Master, slice_cap, slice_seconds

CONNECT_SECONDS = 10.0
"""The longest the connection to the scheduler may take (less when the deadline is nearer)."""
_ROOTS: dict[str, tuple] = {}
"""Per worker process: the root bounds of ReLU-split searches by run token (reused across that run's tasks)."""
_SEARCHERS: dict[str, object] = {}
"""Per worker process: the falsifier of a run by token, kept across that run's tasks like a local worker's (its
exact networks cost seconds to build on wide pairs, and its share of the wall time, bab.ATTACK_SHARE, counts from
its first task: a new one per task ran a round in every task)."""
_RUNS_KEPT = 4
"""Runs whose root bounds and falsifier a cluster worker process keeps (the oldest run is forgotten first)."""


class SchedulerError(LumpcheckError):
    """The Dask scheduler cannot be used (not installed, bad address, unreachable): a user error, exit 2."""


def connect(address: str, timeout: float = CONNECT_SECONDS):
    """A dask.distributed Client for `address` (tcp://HOST:PORT); SchedulerError in one line otherwise. A closed
    port is reported at once (a plain TCP connection is tried first), not after the client's retries."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise SchedulerError("--scheduler needs dask.distributed: pip install 'lumpcheck[dask]'") from None
    parts = urlsplit(address)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if parts.scheme not in ("tcp", "tls") or not host or port is None:
        raise SchedulerError(f"bad scheduler address {address!r}: expected tcp://HOST:PORT")
    try:
        socket.create_connection((host, port), timeout=max(0.1, min(timeout, CONNECT_SECONDS))).close()
    except OSError as e:
        raise SchedulerError(f"cannot reach the dask scheduler at {address}: {e.strerror or e}") from None
    try:
        return Client(address, timeout=f"{max(1.0, min(timeout, CONNECT_SECONDS)):.1f}s")
    except (OSError, TimeoutError) as e:
        raise SchedulerError(f"cannot reach the dask scheduler at {address}: {e}") from None


def run_chunk(problem: Problem, nodes: list[Node], slice_s: float, deadline_wall: float, first: bool, tag: int,
              token: str) -> SearchOutcome:
    """One task on a cluster worker: the sequential search on `nodes` until the slice or the deadline ends."""
    now = time.monotonic()
    hard = now + max(0.0, deadline_wall - time.time())
    mine = replace(problem, seed=problem.seed * 7919 + tag)
    try:
        search = Search(mine, hard, nodes, initial_attack=first, slice_end=now + max(0.0, slice_s),
                        searcher=_SEARCHERS.get(token))
        if token in _ROOTS:
            search.adopt_root(_ROOTS[token])
        outcome = search.run()
    except MemoryError:
        reason = "a cluster worker ran out of memory on this region"
        return SearchOutcome("unknown", reason=reason, undecided=[Undecided(n.path, n.part, reason, n.gap) for n in nodes])
    _keep(_SEARCHERS, token, search.searcher)
    state = search.root_state()
    if state is not None:
        _keep(_ROOTS, token, state)
    return outcome


def _keep(cache: dict, token: str, value) -> None:
    """Remember a run's value in this worker process (the first one stays), at most _RUNS_KEPT runs per cache."""
    if token in cache:
        return
    while len(cache) >= _RUNS_KEPT:
        cache.pop(next(iter(cache)))
    cache[token] = value


def cluster_search(problem: Problem, limits: Limits, client, on_progress=None) -> SearchOutcome:
    """Run the search on the cluster behind `client` until a verdict, the deadline or the master's memory cap.
    `limits.workers` is ignored: as many tasks run at once as the cluster has worker threads."""
    from dask.distributed import wait

    token = f"{os.getpid()}-{time.time_ns()}"
    deadline_wall = time.time() + (limits.deadline - time.monotonic())
    slots = max(1, sum(client.nthreads().values()))
    shared = client.scatter(problem, broadcast=True, hash=False)
    m = Master(root_nodes(problem), {"workers": slots, "peak_rss_mb": 0.0, "nodes": 0, "tasks": 0,
                                     "cluster": client.scheduler.address})
    running: dict = {}  # future -> its chunk
    try:
        while True:
            now = time.monotonic()
            if now >= limits.deadline:
                return m.finish("timeout", "deadline reached", running.values())
            m.stats["peak_rss_mb"] = max(m.stats["peak_rss_mb"], rss_mb(os.getpid()))
            if m.stats["peak_rss_mb"] > limits.memory_mb:
                return m.finish("unknown", f"memory cap of {limits.memory_mb} MB reached", running.values())
            _submit(client, shared, m, running, slots, deadline_wall, token, slice_cap(problem))
            if not m.frontier and not running:
                return m.closed()
            try:  # dask's wait raises TimeoutError when nothing finished in time (concurrent.futures' does not)
                wait(list(running), timeout=min(POLL_SECONDS, max(limits.deadline - now, 0.01)),
                     return_when=FIRST_COMPLETED)
            except TimeoutError:
                pass
            done = [fut for fut in running if fut.done()]
            for fut in done:
                chunk = running.pop(fut)
                try:
                    outcome: SearchOutcome = fut.result()
                except Exception as e:  # noqa: BLE001 - a lost worker or a task's failure: reported, never a verdict
                    running[fut] = chunk  # still open: recorded as such
                    return m.finish("error", f"a cluster task failed: {type(e).__name__}: {e}", running.values())
                final = m.absorb(outcome)
                if final is not None:
                    return final
            if on_progress is not None and done:
                on_progress(m.progress())
    finally:
        for fut in running:
            fut.cancel()
        shared.release()


def _submit(client, shared, m: Master, running: dict, slots: int, deadline_wall: float, token: str, cap: float) -> None:
    """Give every free slot a chunk of the open nodes (deepest first, an equal share), slices growing as in
    parallel.py so that the first splits spread over the cluster quickly."""
    free = slots - len(running)
    if not m.frontier or free <= 0:
        return
    share = max(1, len(m.frontier) // free)
    slice_s = slice_seconds(m.stats["tasks"], slots, cap)
    for _ in range(free):
        if not m.frontier:
            break
        chunk = [m.frontier.pop() for _ in range(min(share, len(m.frontier)))]
        first = m.stats["tasks"] < slots
        fut = client.submit(run_chunk, shared, chunk, slice_s, deadline_wall, first, m.stats["tasks"], token, pure=False)
        running[fut] = chunk
        m.stats["tasks"] += 1
