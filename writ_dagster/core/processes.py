"""Child processes that must not outlive the process that started them, and how to end them.

- :func:`die_with_parent` asks Linux (``prctl(PR_SET_PDEATHSIG)``) to send this process SIGTERM when
  its parent dies; :func:`with_parent_death` wraps a command so that it runs that way (the wrapper
  is this module run as a program, which then execs the command: same pid, same process group).
- :func:`start_time` and :func:`boot_id` tell one process apart from a later one that got its pid.
- :func:`end_group` ends a process group (a server and its workers); :func:`group_members` lists one.

Linux only (``/proc``); elsewhere the parent-death signal is not set and a start time is unknown.
Standard library only: the wrapper runs before every server start.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None = None) -> bool:
    """Ask Linux to send this process SIGTERM when its parent dies; a no-op elsewhere.

    Returns False when the parent is already gone (the signal will never come): ``parent`` is the pid
    the parent had, or, if None, any parent but init counts as alive. The caller should exit then."""
    if not sys.platform.startswith("linux"):
        return True
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return True  # no prctl to call: nothing more this process can do
    # The parent may have died before prctl took effect; then this process was re-parented already.
    return os.getppid() == parent if parent is not None else os.getppid() != 1


def with_parent_death(command: list[str]) -> list[str]:
    """``command`` run so that it gets SIGTERM when this process (the launching thread) dies."""
    return [sys.executable, "-m", __name__, str(os.getpid()), *command]


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` from its third field (the state) on, or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
    return text.rsplit(")", 1)[1].split()


def start_time(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat`` field 22), or None
    if it is gone or a zombie or this is not Linux. An exec keeps it; a reused pid has a later one."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] == "Z":
        return None
    return int(fields[19])


def boot_id() -> str:
    """This boot of this machine (start times count from it), or "" where the kernel does not say."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid`` (Linux ``/proc``)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(int(stat.parent.name))
        if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:  # state, ppid, pgrp
            members.append(int(stat.parent.name))
    return members


def end_group(pgid: int, grace_s: float = 20.0) -> None:
    """End the process group led by process ``pgid`` (a server and its workers, a child of this process or
    not): SIGTERM; once the leader is gone, or after ``grace_s``, SIGKILL to whatever is left; then wait up
    to 60 s for the kernel to finish them (a killed worker holding GBs took over 10 s on a loaded machine;
    with 30 s, a vLLM worker was once still there after the stop returned, the machine's memory running low)."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace_s
    while pgid in group_members(pgid) and time.monotonic() < deadline:  # a reaped or zombie leader is gone
        time.sleep(0.1)
    _signal_group(pgid, signal.SIGKILL)  # the leader if it outlived the grace, and workers that outlived it
    deadline = time.monotonic() + 60
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``; whether the group was there to receive it."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _exec_with_parent_death(argv: list[str]) -> None:
    """``python -m writ_dagster.core.processes PARENT_PID COMMAND...``: set the parent-death signal, then
    become COMMAND (exit 143, as if SIGTERMed, when the parent is gone already)."""
    if not die_with_parent(int(argv[0])):
        sys.exit(128 + signal.SIGTERM)
    os.execvp(argv[1], argv[1:])


if __name__ == "__main__":
    _exec_with_parent_death(sys.argv[1:])
