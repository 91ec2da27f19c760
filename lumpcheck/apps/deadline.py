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
import time
from typing import Any, Callable

from ..errors import LumpcheckError

GRACE = 0.5
"""Seconds past the deadline the child gets to send its (timeout) answer before it is killed."""


class DeadlineReached(Exception):
    """The work did not finish before the deadline (internal to apps: the command reports a timeout)."""


class ChildFailed(Exception):
    """The child raised something other than LumpcheckError; str() is its type and message."""


def _child(fn: Callable[..., Any], conn, with_progress: bool) -> None:
    os.setpgid(0, 0)
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
    child.start()
    send.close()
    try:
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
