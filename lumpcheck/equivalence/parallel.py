"""Process parallelism for the branch and bound: worker processes, one hard deadline, a memory cap.

The master keeps the open nodes and hands each idle worker a chunk; a worker runs the sequential search
(bab.Search) on its chunk for a time slice and returns its closed leaves, its remaining open nodes, the regions
it gave up on (bab.Undecided: a node that cannot be split further, a float overflow) and any exactly replayed
counterexample. A region given up on (or a chunk lost to a worker's MemoryError) is recorded and the search goes
on with the others: a counterexample found later still answers 'sat'; when nothing is left open the answer is
'unknown' with those regions, never 'unsat'. The master stops everything at the deadline (workers are
terminated, so the deadline holds even inside a long numpy call) or when the workers' resident memory exceeds the
cap (then 'unknown' at once). Workers use one BLAS thread each and an address-space limit as a second line of
defence.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import resource
import time
from dataclasses import dataclass

from .bab import Leaf, Node, Problem, Search, SearchOutcome, root_nodes, rss_mb
from .progress import Progress, progress_of
from .undecided import Undecided, summarise_undecided

SLICE_SECONDS = 2.0
RELU_SLICE_SECONDS = 8.0
"""The longest slice of one task (input splitting / ReLU splitting); slices start at 0.25 s and double per round
of tasks. ReLU-split batches cost about a second each (optimiser included) and shrink to a node or two when a
task's chunk is small: 2 s slices made MNIST 256x4 prop_5_0.03 vs mag10 time out at 100 s with 2 workers (374
nodes) where one process closed it in 68 s (422 nodes); 8 s slices closed it in 77.5 s (load average 5-6)."""
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


def _worker(limits: Limits, wid: int, tasks, results) -> None:
    """A worker process: its first message is the problem, then (nodes, slice end) tasks until None."""
    cap = (limits.memory_mb // max(limits.workers, 1) + ADDRESS_HEADROOM_MB) * 2**20
    try:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (ValueError, OSError):
        pass
    problem = tasks.get()
    if problem is None:
        return
    root_state, searcher = None, None
    first = True
    while True:
        task = tasks.get()
        if task is None:
            return
        nodes, slice_end = task
        try:
            problem.seed = problem.seed * 7919 + wid
            search = Search(problem, limits.deadline, nodes, initial_attack=first, slice_end=slice_end,
                            searcher=searcher)
            if root_state is not None:
                search.adopt_root(root_state)
            outcome = search.run()
            root_state, searcher = search.root_state(), search.searcher
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
    procs = [ctx.Process(target=_worker, args=(limits, w, tasks[w], results), daemon=True)
             for w in range(limits.workers)]
    for p in procs:
        p.start()
    for t in tasks:
        t.cancel_join_thread()  # never block interpreter exit on undelivered tasks of a dead worker
        # The problem (networks: often more than a pipe holds) goes through the queue's feeder thread. As a Process
        # argument start() itself would write it, and block for good if the child died before reading it all (a
        # script without the __main__ guard, a worker killed while starting): the deadline could not act.
        t.put(problem)
    m = Master(root_nodes(problem), {"workers": limits.workers, "peak_rss_mb": 0.0, "nodes": 0, "tasks": 0})
    idle = set(range(limits.workers))
    inflight: dict[int, list[Node]] = {}
    try:
        while True:
            now = time.monotonic()
            if now >= limits.deadline:
                return m.finish("timeout", "deadline reached", inflight.values())
            total = rss_mb(os.getpid()) + sum(rss_mb(p.pid) for p in procs if p.pid)
            m.stats["peak_rss_mb"] = max(m.stats["peak_rss_mb"], total)
            if total > limits.memory_mb:
                return m.finish("unknown", f"memory cap of {limits.memory_mb} MB reached", inflight.values())
            _dispatch(m, idle, tasks, inflight, slice_cap(problem))
            if not m.frontier and len(idle) == limits.workers:
                return m.closed()
            try:
                kind, wid, payload = results.get(timeout=min(POLL_SECONDS, max(limits.deadline - now, 0.01)))
            except queue.Empty:
                dead = [p for p in procs if not p.is_alive()]
                if dead:
                    return m.finish("error", f"a worker process exited (code {dead[0].exitcode}); with the spawn start "
                                    "method the calling script needs an `if __name__ == '__main__':` guard")
                continue
            idle.add(wid)
            chunk = inflight.pop(wid, [])
            if kind == "memory":  # that chunk is lost; the others go on
                m.give_up(chunk, "a worker ran out of memory on this region")
                continue
            if kind == "error":
                return m.finish("error", f"worker {wid} failed: {payload}", inflight.values())
            final = m.absorb(payload)
            if final is not None:
                return final
            if on_progress is not None:
                on_progress(m.progress())
    finally:
        stop_workers(procs, tasks)


def slice_cap(problem: Problem) -> float:
    """The longest slice of one task for this problem (RELU_SLICE_SECONDS with ReLU splitting)."""
    return RELU_SLICE_SECONDS if problem.strategy == "relu" else SLICE_SECONDS


def slice_seconds(tasks_started: int, slots: int, cap: float) -> float:
    """The slice of the next task: 0.25 s for the first round of tasks, doubling per round, at most `cap`."""
    return min(cap, 0.25 * 2 ** (tasks_started // max(slots, 1)))


def _dispatch(m: "Master", idle, tasks, inflight: dict, cap: float) -> None:
    """Give every idle worker a chunk of the open nodes (deepest first, an equal share). Slices start short
    so that the first splits spread over all workers quickly."""
    if not m.frontier or not idle:
        return
    share = max(1, len(m.frontier) // len(idle))
    slice_s = slice_seconds(m.stats["tasks"], len(tasks), cap)
    for w in sorted(idle):
        if not m.frontier:
            break
        chunk = [m.frontier.pop() for _ in range(min(share, len(m.frontier)))]
        tasks[w].put((chunk, time.monotonic() + slice_s))
        inflight[w] = chunk
        idle.discard(w)
        m.stats["tasks"] += 1


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
    """Add a task's counters to the search's (max_depth, float_peak: the maximum; workers and peak_rss_mb: the
    master's own)."""
    for key, value in part.items():
        if key in ("max_depth", "float_peak"):
            stats[key] = max(stats.get(key, value), value)
        elif isinstance(value, (int, float)) and key not in ("workers", "peak_rss_mb"):
            stats[key] = stats.get(key, 0) + value


class Master:
    """What the master of a distributed search (local workers or a Dask cluster) holds: open nodes, closed leaves,
    regions given up on, counters; it alone makes the verdict."""

    def __init__(self, frontier: list[Node], stats: dict) -> None:
        self.frontier = frontier
        self.stats = stats
        self.leaves: list[Leaf] = []
        self.undecided: list[Undecided] = []
        self.root_slopes = None

    def give_up(self, nodes, reason: str) -> None:
        self.undecided.extend(Undecided(n.path, n.part, reason, n.gap) for n in nodes)

    def absorb(self, outcome: SearchOutcome) -> SearchOutcome | None:
        """Fold one task's outcome into the search (leaves, open nodes and regions given up on appended); the
        search's final outcome when the task decides it (sat: a replayed counterexample; error), else None. A task
        ending 'unknown' does not end the search: its undecided regions are recorded and the others go on."""
        merge_stats(self.stats, outcome.stats)
        if outcome.status == "sat":
            return SearchOutcome("sat", outcome.counterexample, [], None, [], self.stats)
        if outcome.status == "error":
            return self.finish("error", outcome.reason)
        if outcome.status == "unknown" and not outcome.undecided:  # a task that gave up without saying on what
            return self.finish("error", f"internal error: a task answered unknown without its regions ({outcome.reason})")
        self.leaves.extend(outcome.leaves)
        self.frontier.extend(outcome.open_nodes)
        self.undecided.extend(outcome.undecided)
        self.root_slopes = self.root_slopes or outcome.root_slopes
        return None

    def progress(self) -> Progress:
        return progress_of(self.leaves, len(self.frontier))

    def closed(self) -> SearchOutcome:
        """Nothing open and nothing running: 'unsat' when no region was given up on, else 'unknown'."""
        if self.undecided:
            return self.finish("unknown", summarise_undecided(self.undecided))
        return self.finish("unsat", "")

    def finish(self, status: str, reason: str, running=()) -> SearchOutcome:
        """The search's outcome; at a timeout or the memory cap the nodes still open or running are the open ones."""
        self.stats["undecided"] = len(self.undecided)
        pending = list(self.frontier) + [n for chunk in running for n in chunk]
        return SearchOutcome(status, None, self.leaves, self.root_slopes, pending, self.stats, reason, self.undecided)
