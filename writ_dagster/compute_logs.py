"""Dagster's local compute-log capture, with mirroring processes that a terminal's Ctrl-C does not reach.

Dagster copies each step's stdout and stderr to files (shown in the UI) and mirrors them back to
the terminal through a ``tail -F`` per stream, each watched by a small Python process that kills
the ``tail`` if the run's process dies. Both sit in the terminal's foreground process group, so a
Ctrl-C reaches them too, and each watcher prints a six-line ``KeyboardInterrupt`` traceback beside
``writ run``'s one line.

Here the ``tail`` starts in a process group of its own, so only the run's own process sees the
signal, and GNU tail's ``--pid`` ends it when the run's process dies, which makes the watcher
unneeded. Where ``tail`` is not GNU's, Dagster's own mirroring is used unchanged. Files, keys and
everything the UI reads are :class:`LocalComputeLogManager`'s.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Generator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any

from dagster import Field, StringSource
from dagster._core.execution.compute_logs import mirror_stream_to_file, redirect_to_file
from dagster._core.storage.compute_log_manager import CapturedLogContext, ComputeIOType
from dagster._core.storage.local_compute_log_manager import (
    IO_TYPE_EXTENSION,
    LocalComputeLogManager,
)
from dagster._serdes import ConfigurableClassData
from dagster._utils import ensure_file, touch_file

from writ_dagster.instance import dagster_home


class WritComputeLogManager(LocalComputeLogManager):
    """:class:`LocalComputeLogManager` whose terminal mirrors ignore the terminal's signals; ``base_dir``
    defaults to ``<dagster home>/storage``, so a ``dagster.yaml`` names no absolute path."""

    def __init__(
        self,
        base_dir: str | None = None,
        polling_timeout: float | None = None,
        inst_data: ConfigurableClassData | None = None,
    ) -> None:
        super().__init__(base_dir or str(dagster_home() / "storage"), polling_timeout, inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"base_dir": Field(StringSource, is_required=False), "polling_timeout": Field(float, is_required=False)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> WritComputeLogManager:
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def capture_logs(self, log_key: Sequence[str]) -> Generator[CapturedLogContext, None, None]:
        outpath = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[ComputeIOType.STDOUT])
        errpath = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[ComputeIOType.STDERR])
        with _mirrored(sys.stdout, outpath), _mirrored(sys.stderr, errpath):
            yield CapturedLogContext(log_key)
        touch_file(self.complete_artifact_path(log_key))  # marks the capture complete, as Dagster's does


@functools.cache
def _gnu_tail() -> bool:
    try:
        out = subprocess.run(["tail", "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return "GNU" in out.stdout


@contextmanager
def _mirrored(stream: IO[str], path: str) -> Generator[None, None, None]:
    """``stream`` written to ``path`` for the duration, and ``path`` copied back to the stream's file."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a test runner's stand-in stream has no file
        fd = None
    if fd is None or not _gnu_tail():
        with mirror_stream_to_file(stream, path):
            yield
        return
    ensure_file(path)
    tail = subprocess.Popen(
        ["tail", f"--pid={os.getpid()}", "-F", "-c", "+0", path], stdout=fd, stdin=subprocess.DEVNULL, process_group=0
    )
    try:
        with redirect_to_file(stream, path):
            yield
    finally:
        tail.terminate()
        try:
            tail.wait(timeout=30)
        except subprocess.TimeoutExpired:
            tail.kill()
            tail.wait()
