"""Interrupts: Ctrl-C (SIGINT) and SIGTERM end a command with exit code 128 + signal number and no partial files.

Python turns SIGINT into KeyboardInterrupt; `install` makes SIGTERM raise too (`Interrupted`, a
KeyboardInterrupt), so every `finally` / `except BaseException` that removes temporary files runs.

z3 would swallow SIGINT during a check: it installs its own handler and returns 'unknown' ("interrupted from
keyboard"), which a proof would record as a failed obligation. `install` switches that off (z3 parameter
`ctrl_c`) and instead cancels z3 from a watcher thread woken by the signal (`signal.set_wakeup_fd`): the check
returns at once and the exception is raised in the main thread right after it.

Only the command-line entry point calls `install` (a library must not take over a program's signals).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGINT or SIGTERM) delivered as an exception, so that cleanup code runs."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_of(exc: KeyboardInterrupt) -> signal.Signals:
    """The signal an interrupt came from: its `signum`, else SIGINT (Python's own KeyboardInterrupt)."""
    return signal.Signals(getattr(exc, "signum", signal.SIGINT))


def exit_code(exc: KeyboardInterrupt) -> int:
    """The shell convention: 128 + signal number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + signal_of(exc)


def _raise(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def install() -> None:
    """Make SIGINT and SIGTERM raise `Interrupted` in this (main) thread and let them cancel a running z3 check.

    A signal the process ignores (SIG_IGN, e.g. SIGINT of a background job) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    installed = False
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(signum, _raise)
            installed = True
    if installed:
        _watch_for_z3()


def _watch_for_z3() -> None:
    """Cancel z3 from a daemon thread when a stop signal arrives (see the module docstring)."""
    try:
        import z3
    except ImportError:  # z3 is a dependency; without it there is nothing to cancel
        return
    z3.set_param("ctrl_c", False)
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def watch() -> None:
        while True:
            received = os.read(read_end, 64)
            if any(b in STOP_SIGNALS for b in received) and "z3" in sys.modules:
                z3.main_ctx().interrupt()

    threading.Thread(target=watch, name="lumpcheck-stop-signals", daemon=True).start()


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while the block runs (e.g. publishing outputs); a signal received meanwhile takes effect
    when the block ends, through the handler that was in place. Only the main thread can defer; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {}
    for signum in STOP_SIGNALS:
        handler = signal.getsignal(signum)
        if handler not in (signal.SIG_IGN, None):
            previous[signum] = signal.signal(signum, lambda s, frame: pending.append(s))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if pending:
            signal.raise_signal(pending[0])
