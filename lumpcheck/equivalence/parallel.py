"""Process parallelism for the branch and bound: worker processes, one hard deadline, a memory cap.

The master keeps the open nodes and hands each idle worker a chunk; a worker runs the sequential search
(bab.Search) on its chunk for a time slice and returns its closed leaves, its remaining open nodes and any
exactly replayed counterexample. The master stops everything at the deadline (workers are terminated, so
the deadline holds even inside a long numpy call) or when the workers' resident memory exceeds the cap.
Workers use one BLAS thread each and an address-space limit as a second line of defence.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import resource
import time
from dataclasses import dataclass

from .bab import Leaf, Node, Problem, Search, SearchOutcome, root_nodes

SLICE_SECONDS = 2.0
POLL_SECONDS = 0.2
ADDRESS_HEADROOM_MB = 1024
STOP_SECONDS = 1.0
"""The most time stopping the workers takes after the search ends, all workers together (then SIGKILL)."""


@dataclass(frozen=True)
class Limits:
    """The shared wall-clock deadline (time.monotonic, the same clock in every process) and memory cap."""

    deadline: float
    memory_mb: int
    workers: int


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (0 when unknown)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _worker(problem: Problem, limits: Limits, wid: int, tasks, results) -> None:
    cap = (limits.memory_mb // max(limits.workers, 1) + ADDRESS_HEADROOM_MB) * 2**20
    try:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (ValueError, OSError):
        pass
    root_state = None
    first = True
    while True:
        task = tasks.get()
        if task is None:
            return
        nodes, slice_end = task
        try:
            problem.seed = problem.seed * 7919 + wid
            search = Search(problem, min(limits.deadline, slice_end), nodes, initial_attack=first)
            if root_state is not None:
                search.adopt_root(root_state)
            outcome = search.run()
            root_state = search.root_state()
            first = False
            results.put(("done", wid, outcome))
        except MemoryError:
            results.put(("memory", wid, None))
        except Exception as e:  # noqa: BLE001 - reported to the master, which answers 'error'
            results.put(("error", wid, f"{type(e).__name__}: {e}"))


def parallel_search(problem: Problem, limits: Limits, on_progress=None) -> SearchOutcome:
    """Run the search on `limits.workers` processes until a verdict, the deadline or the memory cap."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ctx = mp.get_context("spawn")
    tasks = [ctx.Queue() for _ in range(limits.workers)]
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(problem, limits, w, tasks[w], results), daemon=True)
             for w in range(limits.workers)]
    for p in procs:
        p.start()
    for t in tasks:
        t.cancel_join_thread()  # never block interpreter exit on undelivered tasks of a dead worker
    frontier: list[Node] = root_nodes(problem)
    leaves: list[Leaf] = []
    stats: dict = {"workers": limits.workers, "peak_rss_mb": 0.0, "nodes": 0, "tasks": 0}
    idle = set(range(limits.workers))
    root_slopes = None
    try:
        while True:
            now = time.monotonic()
            if now >= limits.deadline:
                return finish("timeout", leaves, root_slopes, stats, "deadline reached")
            total = rss_mb(os.getpid()) + sum(rss_mb(p.pid) for p in procs if p.pid)
            stats["peak_rss_mb"] = max(stats["peak_rss_mb"], total)
            if total > limits.memory_mb:
                return finish("unknown", leaves, root_slopes, stats, f"memory cap of {limits.memory_mb} MB reached")
            _dispatch(frontier, idle, tasks, stats)
            if not frontier and len(idle) == limits.workers:
                return finish("unsat", leaves, root_slopes, stats, "")
            try:
                kind, wid, payload = results.get(timeout=min(POLL_SECONDS, max(limits.deadline - now, 0.01)))
            except queue.Empty:
                dead = [p for p in procs if not p.is_alive()]
                if dead:
                    return finish("error", leaves, root_slopes, stats,
                                   f"a worker process exited (code {dead[0].exitcode}); with the spawn start method the "
                                   "calling script needs an `if __name__ == '__main__':` guard")
                continue
            idle.add(wid)
            if kind == "memory":
                return finish("unknown", leaves, root_slopes, stats, "a worker ran out of memory")
            if kind == "error":
                return finish("error", leaves, root_slopes, stats, f"worker {wid} failed: {payload}")
            final, root_slopes = absorb(payload, stats, leaves, frontier, root_slopes)
            if final is not None:
                return final
            if on_progress is not None:
                on_progress(len(leaves), len(frontier))
    finally:
        stop_workers(procs, tasks)


def _dispatch(frontier, idle, tasks, stats) -> None:
    """Give every idle worker a chunk of the open nodes (deepest first, an equal share). Slices start short
    so that the first splits spread over all workers quickly."""
    if not frontier or not idle:
        return
    share = max(1, len(frontier) // len(idle))
    slice_s = min(SLICE_SECONDS, 0.25 * 2 ** (stats["tasks"] // max(len(tasks), 1)))
    for w in sorted(idle):
        if not frontier:
            break
        chunk = [frontier.pop() for _ in range(min(share, len(frontier)))]
        tasks[w].put((chunk, time.monotonic() + slice_s))
        idle.discard(w)
        stats["tasks"] += 1


def stop_workers(procs, tasks=()) -> None:
    """Stop the worker processes in at most STOP_SECONDS (plus the SIGKILLs' delivery) whatever they are doing:
    nothing they still compute is needed. All are asked at once (SIGTERM; a worker waiting for a task also gets
    the stop sentinel), given one shared grace period, then killed."""
    for t in tasks:
        try:
            t.put_nowait(None)
        except Exception:  # noqa: BLE001 - best effort
            pass
    for p in procs:
        if p.is_alive():
            p.terminate()
    end = time.monotonic() + STOP_SECONDS
    for p in procs:
        p.join(timeout=max(0.0, end - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(timeout=0.1)


def merge_stats(stats: dict, part: dict) -> None:
    """Add a task's counters to the search's (max_depth: the maximum; workers and peak_rss_mb: the master's own)."""
    for key, value in part.items():
        if key in ("max_depth",):
            stats[key] = max(stats.get(key, 0), value)
        elif isinstance(value, (int, float)) and key not in ("workers", "peak_rss_mb"):
            stats[key] = stats.get(key, 0) + value


def absorb(outcome: SearchOutcome, stats: dict, leaves: list, frontier: list, root_slopes):
    """Fold one worker's outcome into the search (its leaves and open nodes appended): (the search's final outcome
    when this one decides it -- sat, unknown or error -- else None, the root slopes)."""
    merge_stats(stats, outcome.stats)
    if outcome.status == "sat":
        return SearchOutcome("sat", outcome.counterexample, [], None, [], stats), root_slopes
    if outcome.status in ("unknown", "error"):
        return finish(outcome.status, leaves, root_slopes, stats, outcome.reason), root_slopes
    leaves.extend(outcome.leaves)
    frontier.extend(outcome.open_nodes)
    return None, root_slopes or outcome.root_slopes


def finish(status: str, leaves, root_slopes, stats, reason: str) -> SearchOutcome:
    return SearchOutcome(status, None, leaves, root_slopes, [], stats, reason)
