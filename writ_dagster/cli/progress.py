"""``writ run``'s live progress on stderr: one line rewritten in place on a terminal, plain lines
every few seconds when stderr is a file or a pipe (a log that grows, not a wall of carriage returns)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from typing import TextIO

from writ_dagster.core.progress import Progress

TERMINAL_REFRESH_S = 0.2  # in-place redraws at most this often


class TerminalProgress:
    """A listener of :func:`writ_dagster.core.progress.publish` writing to ``stream``."""

    def __init__(self, stream: TextIO, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.every_s = every_s
        self.clock = clock
        self.in_place = stream.isatty()
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # label -> when its last line was written
        self._open = False  # an in-place line is on screen without its newline

    def __call__(self, progress: Progress) -> None:
        if self.every_s <= 0:
            return
        now = self.clock()
        with self._lock:
            wait = TERMINAL_REFRESH_S if self.in_place else self.every_s
            # the first line of a label comes at once, so one sees the work has started
            last = self._last.get(progress.label)
            if last is not None and now - last < wait and not progress.finished:
                return
            self._last[progress.label] = now
            line = progress.line()
            if self.in_place:
                width = shutil.get_terminal_size((120, 24)).columns - 1
                self.stream.write("\r" + line[:width] + "\x1b[K")
                self._open = True
                if progress.finished:
                    self._end()
            else:
                self.stream.write(line + "\n")
            self.stream.flush()

    def end_line(self) -> None:
        """Finish an in-place line still open (before other output, or when a stage stops early)."""
        with self._lock:
            self._end()

    def _end(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
