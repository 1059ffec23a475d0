"""One writer at a time per WRIT_HOME: an exclusive ``flock`` on ``writ.lock``, held for a whole run.

DuckDB lets one process write a file; two ``writ run`` on one home would otherwise interleave and
fail at random on DuckDB's lock. The kernel drops a ``flock`` when its process dies, so a killed
run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from writ_dagster.core.storage.base import StorageError

LOCK_FILENAME = "writ.lock"


def _holder(fd: int) -> str:
    """The pid the current holder wrote into the lock file, or '?' if none is readable yet."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "?"
    return text if text.isdigit() else "?"


@contextmanager
def hold_writer_lock(home: Path, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Hold ``home``/writ.lock exclusively while the block runs, waiting for another holder first.

    ``on_wait`` is called once, with the holder's pid, if the lock is taken when asked for.
    """
    try:
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(home / LOCK_FILENAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(f"cannot take the writer lock in WRIT home {home}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(_holder(fd))
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing drops the lock
