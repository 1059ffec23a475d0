"""Live progress of a long stage (conversations done of planned, passing, tokens per second, time
left), and who is told of it.

A stage keeps a :class:`Progress` and calls :func:`publish` after each unit of work; whoever
listens (``writ run``'s terminal line, see ``cli/progress.py``) is called in that thread. Nobody
listens in a run launched from the UI: there the stage's Dagster log lines carry the same counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

Listener = Callable[["Progress"], None]

_listeners: list[Listener] = []
_lock = threading.Lock()


def _duration(seconds: float) -> str:
    """``1h05m``, ``3m20s``, ``12s``: short enough for a status line."""
    s = max(0, round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


@dataclass
class Progress:
    """Counts of one stage partition as it runs. Work done before it started (rows kept from an
    earlier run) counts as done but not in the rate, so the time left is not flattered by it."""

    label: str  # "airline/b0000", "fine-tuned/retail"
    verb: str  # "stored", "played"
    unit: str  # "trajectories", "conversations"
    planned: int
    done: int = 0
    passing: int = 0
    tokens: int = 0  # model tokens generated since the start (none for scripted backends)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    started: float = field(default=-1.0, repr=False)
    done_before: int = field(default=-1, repr=False)

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock()
        if self.done_before < 0:
            self.done_before = self.done

    def advance(self, passed: bool, tokens: int = 0, done: int | None = None, planned: int | None = None) -> None:
        """One more unit finished (``done``/``planned`` override the counts where the stage knows better)."""
        self.done = self.done + 1 if done is None else done
        if planned is not None:
            self.planned = planned
        self.passing += int(passed)
        self.tokens += tokens

    @property
    def finished(self) -> bool:
        return self.done >= self.planned

    def seconds_left(self) -> float | None:
        """Time left at the rate since the start (None until one unit is done in this run)."""
        fresh, elapsed = self.done - self.done_before, self.clock() - self.started
        if fresh <= 0 or elapsed <= 0:
            return None
        return max(0, self.planned - self.done) * elapsed / fresh

    def line(self) -> str:
        """``airline/b0000: stored 37/120 trajectories, 35 passing, 412 tokens/s, about 1m20s left``."""
        parts = [f"{self.label}: {self.verb} {self.done}/{self.planned} {self.unit}", f"{self.passing} passing"]
        elapsed = self.clock() - self.started
        if self.tokens and elapsed > 0:
            parts.append(f"{self.tokens / elapsed:.0f} tokens/s")
        if self.finished:
            parts.append(f"took {_duration(elapsed)}")
        else:
            left = self.seconds_left()
            if left is not None:
                parts.append(f"about {_duration(left)} left")
        return ", ".join(parts)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Call ``listener`` with every published progress while the block runs."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def publish(progress: Progress) -> None:
    """Tell every listener (each throttles its own output)."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(progress)
