"""Ctrl-C and SIGTERM stop ``writ run``: which signal came, and the exit code it gives (128 + its number).

Dagster swaps the SIGINT and SIGTERM handlers while a run executes and turns the signal into a
failed step, after which ``writ run`` would go on with the next partition. A wakeup fd sees every
signal that reaches a Python-level handler, whoever installed it, so after each Dagster run the
command can tell that it was asked to stop, and which signal asked.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(Exception):
    """``writ run`` was asked to stop by ``signum``; what it stored so far is kept and resumable."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


class StopWatch:
    """Records SIGINT / SIGTERM while active; :meth:`check` raises :class:`Stopped` once one came."""

    def __init__(self, read_fd: int) -> None:
        self._read_fd = read_fd
        self.signum: int | None = None

    def seen(self) -> bool:
        """Whether a stop signal arrived since the watch began (safe to ask from any thread)."""
        if self.signum is None:
            try:
                data = os.read(self._read_fd, 512)
            except OSError:  # nothing came (BlockingIOError); or the watch has ended and closed its pipe
                data = b""
            for byte in data:
                if byte in STOP_SIGNALS and self.signum is None:
                    self.signum = byte
        return self.signum is not None

    def check(self) -> None:
        """Raise :class:`Stopped` if a stop signal arrived since the watch began."""
        if self.seen():
            raise Stopped(self.signum)  # type: ignore[arg-type]  # seen() set it


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM interrupts like Ctrl-C (the default would end the process at once, mid-write).
    raise KeyboardInterrupt


@contextmanager
def watch_stop_signals() -> Iterator[StopWatch]:
    """While active, SIGINT and SIGTERM raise KeyboardInterrupt and are remembered by the yielded watch.

    Off the main thread (where Python allows no signal handler) the watch never fires."""
    read_fd, write_fd = os.pipe()
    if threading.current_thread() is not threading.main_thread():
        try:
            yield StopWatch(read_fd)
        finally:
            os.close(read_fd)
            os.close(write_fd)
        return
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    try:
        for s in STOP_SIGNALS:
            signal.signal(s, _interrupt)
        yield StopWatch(read_fd)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        signal.set_wakeup_fd(previous_fd)
        os.close(read_fd)
        os.close(write_fd)
