"""A hard wall-clock limit for one command: the work runs in a child process that is killed at the deadline.

Engines check their own deadlines between steps, but a step inside C code (a z3 check, a large matrix product,
exact reductions) may overrun them. `run_until` forks a child (POSIX fork: no re-import, the loaded models are
shared), puts it in its own process group so that worker processes it starts die with it, and waits at most
until the deadline. The child sends back its return value, or a LumpcheckError's message and exit code (other
exceptions as their type and text), through a pipe.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ..errors import LumpcheckError

GRACE = 0.5
"""Seconds past the deadline the child gets to send its (timeout) answer before it is killed."""
EXIT_MARGIN = 1.0
"""Seconds kept after the answer for writing it (results file, certificate, console) and leaving the process (the
interpreter's teardown took 0.9 s on a loaded 2-core machine)."""

_clock: list[float] = []  # the command's start, when the console script set it (start_clock)


def start_clock() -> None:
    """The command's clock starts when its process did (Linux /proc; elsewhere now), so that interpreter start and
    module loading count against --timeout."""
    now = time.monotonic()
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime, in clock ticks since boot
        with open("/proc/uptime", encoding="ascii") as fh:
            age = float(fh.read().split()[0]) - ticks / os.sysconf("SC_CLK_TCK")
        _clock[:] = [now - max(0.0, age)]
    except (OSError, ValueError, IndexError):
        _clock[:] = [now]


def command_deadline(timeout: float, own_clock: bool = False) -> float:
    """The time.monotonic() by which the work must answer so that the command ends within `timeout` s of its start
    (the process's under the console script, else now; own_clock: now, for one row of a batch), GRACE and
    EXIT_MARGIN included."""
    start = _clock[0] if _clock and not own_clock else time.monotonic()
    return start + timeout - GRACE - EXIT_MARGIN


class DeadlineReached(BaseException):
    """The work did not finish before the deadline (internal to apps: the command reports a timeout). A
    BaseException, as KeyboardInterrupt is, so that `alarm_at`'s ring is not taken for a reader's own failure by an
    `except Exception` on its way up."""


@contextmanager
def alarm_at(deadline: float) -> Iterator[None]:
    """Within the block, DeadlineReached is raised in this (main) thread GRACE s after `deadline` (time.monotonic()),
    wherever the command is: the backstop for the steps `run_until` does not hold, i.e. reading the models and the
    property and replaying a witness in this process (a 3072-input VNN-LIB box takes about a second to parse, several
    under load). One ring at most; outside the main thread (no signals there) the block runs without it."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def ring(signum, frame):
        raise DeadlineReached

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, max(1e-3, deadline + GRACE - time.monotonic()))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class ChildFailed(Exception):
    """The child raised something other than LumpcheckError; str() is its type and message."""


def _child(fn: Callable[..., Any], conn, with_progress: bool) -> None:
    os.setpgid(0, 0)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the parent's alarm_at ring is the parent's (fork keeps handlers)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
    try:
        conn.send(("ok", fn(lambda text: conn.send(("progress", text))) if with_progress else fn()))
    except LumpcheckError as e:
        conn.send(("user", (e.one_line(), e.exit_code)))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which decides
        conn.send(("bug", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def run_until(fn: Callable[..., Any], deadline: float, progress: Callable[[str], None] | None = None) -> Any:
    """fn() computed in a child process; DeadlineReached when it is not done by `deadline` (time.monotonic()).

    With `progress`, the child calls fn(report) and each report(text) reaches progress(text) here while it works.
    A LumpcheckError in the child is re-raised here with its message and exit code; other exceptions raise
    ChildFailed. Ctrl-C / SIGTERM in the parent kill the child's process group and propagate."""
    ctx = mp.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(fn, send, progress is not None), daemon=False)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # an alarm_at ring inside start() would
    try:  # leave a forked child nobody kills: held back, it rings inside the try below, whose finally kills the child
        child.start()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        raise
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        send.close()
        while True:
            if not receive.poll(max(0.0, deadline - time.monotonic()) + GRACE):
                raise DeadlineReached
            kind, value = receive.recv()
            if kind != "progress":
                break
            progress(value)
    except EOFError:
        raise ChildFailed(f"the worker process ended without an answer (exit code {child.exitcode})") from None
    finally:
        _kill(child)
    if kind == "user":
        error = LumpcheckError(value[0])
        error.exit_code = value[1]
        raise error
    if kind == "bug":
        raise ChildFailed(value)
    return value


def _kill(child) -> None:
    if child.is_alive():
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            child.kill()
    child.join(5)
