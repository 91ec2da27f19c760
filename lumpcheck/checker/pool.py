"""Independent chunks of a check (e.g. the leaves of a differential certificate) in several processes.

The calling process and `jobs - 1` worker processes take chunks from one queue until it is empty (the caller
starts at once, so the workers' start-up is hidden behind its own work). The verdict is made in the calling
process from every chunk's answer: a worker that dies, or a chunk whose answer does not come back, raises
PoolFailure (the caller then reports the certificate as not checked, never as valid). Workers are forked when
the caller runs a single Python thread (no start-up cost: a spawned worker first imports numpy and the checker,
about 1 s of CPU, a fifth of a 600-leaf ACAS check), else spawned (nothing is forked from a caller holding other
threads); they use one BLAS thread each (threadpoolctl), as the caller does while it checks.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import queue
import threading
import time
from typing import Any, Callable

from threadpoolctl import threadpool_limits

from .heap import warm_heap

BLAS_THREADS = 1
POLL_SECONDS = 0.1
STOP_SECONDS = 1.0


def start_method() -> str:
    """'fork' when this process runs one Python thread and the platform forks, else 'spawn'."""
    return "fork" if threading.active_count() == 1 and "fork" in mp.get_all_start_methods() else "spawn"


class PoolFailure(Exception):
    """A worker process died or a chunk's answer is missing: the check did not run to its end."""


def _worker(setup, tasks, answers) -> None:
    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"), warm_heap():
        fn, shared = setup.get()
        while True:
            item = tasks.get()
            if item is None:
                return
            index, chunk = item
            try:
                answers.put(("ok", index, fn(shared, chunk)))
            except Exception as e:  # noqa: BLE001 - re-raised in the caller (as it would be without workers)
                answers.put(("raise", index, _portable(e)))


def _portable(e: Exception) -> Exception:
    """The exception itself when it survives pickling, else a RuntimeError naming it."""
    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:  # noqa: BLE001 - any pickling problem: send its text
        return RuntimeError(f"{type(e).__name__}: {e}")


class ChunkPool:
    """`jobs - 1` worker processes, started on entering (they import while the caller prepares its chunks) and
    stopped on leaving; `map` runs one check's chunks on them and on the calling process."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.procs: list = []
        self.used = False

    def __enter__(self) -> "ChunkPool":
        if self.jobs > 1:
            ctx = mp.get_context(start_method())
            self.tasks, self.answers = ctx.Queue(), ctx.Queue()
            self.setups = [ctx.Queue() for _ in range(self.jobs - 1)]
            self.procs = [ctx.Process(target=_worker, args=(q, self.tasks, self.answers), daemon=True)
                          for q in self.setups]
            for p in self.procs:
                p.start()
        return self

    def __exit__(self, *exc) -> None:
        _stop(self.procs, getattr(self, "tasks", None))

    def map(self, fn: Callable[[Any, Any], Any], shared: Any, chunks: list) -> list:
        """[fn(shared, chunk) for chunk in chunks]: by this process alone without workers or with one chunk, else
        shared with the workers (once per pool). fn must be a module-level function; an exception it raises on a
        chunk is re-raised here. PoolFailure when a worker died or an answer is missing."""
        if self.used:
            raise RuntimeError("a ChunkPool runs one map")
        self.used = True
        if not self.procs or len(chunks) <= 1:
            return [fn(shared, chunk) for chunk in chunks]
        for q in self.setups:
            q.put((fn, shared))
        for item in enumerate(chunks):
            self.tasks.put(item)
        results: dict[int, Any] = {}
        _share_work(fn, shared, self.tasks, self.answers, results, self.procs)
        while len(results) < len(chunks):
            _collect(self.answers, results, self.procs, POLL_SECONDS)
        if sorted(results) != list(range(len(chunks))):
            raise PoolFailure(f"{len(chunks)} chunks sent, answers for {sorted(results)}")
        return [results[i] for i in range(len(chunks))]


def _share_work(fn, shared, tasks, answers, results: dict, procs) -> None:
    """This process takes chunks from the queue too, until it finds it empty (a worker's death is noticed between
    chunks)."""
    while True:
        try:
            index, chunk = tasks.get(timeout=POLL_SECONDS)
        except queue.Empty:
            return
        results[index] = fn(shared, chunk)
        _collect(answers, results, procs, 0.0)


def _collect(answers, results: dict, procs, wait: float) -> None:
    """Take the answers that have arrived (waiting up to `wait` seconds for one); re-raise a chunk's exception;
    PoolFailure when no answer came and a worker has exited."""
    try:
        kind, index, value = answers.get(timeout=wait) if wait > 0 else answers.get_nowait()
    except queue.Empty:
        dead = [p for p in procs if not p.is_alive()]
        if dead:
            raise PoolFailure(f"a checker worker process exited (code {dead[0].exitcode}) before answering") from None
        return
    if kind == "raise":
        raise value
    if index in results:
        raise PoolFailure(f"chunk {index} answered twice")
    results[index] = value


def _stop(procs, tasks) -> None:
    if not procs:
        return
    for _ in procs:
        try:
            tasks.put_nowait(None)
        except Exception:  # noqa: BLE001 - best effort: the workers are terminated below anyway
            pass
    end = time.monotonic() + STOP_SECONDS
    for p in procs:
        p.join(timeout=max(0.0, end - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(timeout=1.0)
    tasks.cancel_join_thread()
