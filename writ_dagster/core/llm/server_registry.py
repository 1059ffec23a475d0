"""The servers started for runs, recorded so that a server still up after its run ended can be stopped.

A server dies with the process that started it (the parent-death signal, :mod:`writ_dagster.core.processes`),
but not when its run is marked failed while that process lives on (by the orphaned-run sensor, by hand
in the UI), nor where there is no such signal. So each server started for a run is recorded in a
small JSON-lines file beside the run's Dagster instance (``servers.jsonl``; not in ``writ.duckdb``,
which has one writer), removed when the server is stopped, and :func:`sweep` ends the ones whose run
has ended.

A record names the server's process group leader by pid *and* start time: a pid the kernel has
given to another process since is never signalled. A group whose leader is gone while workers live
on is ended only if a member carries the run's label in its environment (:data:`RUN_LABEL`).
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict, ValidationError

from writ_dagster.core.folders import build_lock
from writ_dagster.core.processes import boot_id, end_group, group_members, start_time, with_parent_death

REGISTRY_FILENAME = "servers.jsonl"
# Environment that names the run a server was started for: inherited by its workers, so that a group
# whose leader died can still be told to be this run's.
RUN_LABEL = "WRIT_SERVER_RUN_ID"


class ServerOwner(BaseModel):
    """The run a server is started for, and the registry (beside that run's Dagster instance) it goes in."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    registry: Path

    @classmethod
    def for_run(cls, run_id: str, instance_dir: str | Path) -> ServerOwner:
        """The owner for run ``run_id`` of the Dagster instance whose home is ``instance_dir``."""
        return cls(run_id=run_id, registry=registry_path(instance_dir))


class ServerRecord(BaseModel):
    """One server process group started for a run: one line of the registry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pid: int  # the group's leader: the group id is its pid (it starts its own session)
    start_time: int  # the leader's, in clock ticks since boot (see processes.start_time)
    boot_id: str
    host: str
    run_id: str
    command: tuple[str, ...]  # the server command's first words, to say what was stopped
    port: int | None = None

    def same_process(self, pid: int, started: int | None) -> bool:
        """Whether (``pid``, ``started``) is this record's leader."""
        return (pid, started) == (self.pid, self.start_time)


def registry_path(instance_dir: str | Path) -> Path:
    """The registry file of the Dagster instance whose home is ``instance_dir``."""
    return Path(instance_dir).resolve() / REGISTRY_FILENAME


def read_records(path: Path) -> list[ServerRecord]:
    """Every readable record of the registry at ``path`` (none if it does not exist); a line that is
    not a record (a torn or hand-edited file) is left out, and dropped at the next change."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            records.append(ServerRecord.model_validate_json(line))
        except ValidationError:
            continue
    return records


@contextmanager
def _changing(path: Path) -> Iterator[list[ServerRecord]]:
    """The registry's records, to change in place; written back whole (atomically) under a lock that
    every writer (servers starting in other threads and processes, the sweep) takes."""
    with build_lock(path):
        records = read_records(path)
        yield records
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(r.model_dump_json() + "\n" for r in records))
        os.replace(tmp, path)  # a reader finds the old list or the new one


def add_record(path: Path, record: ServerRecord) -> None:
    """Record a started server."""
    with _changing(path) as records:
        records[:] = [r for r in records if not r.same_process(record.pid, record.start_time)] + [record]


def remove_record(path: Path, pid: int, started: int) -> None:
    """Forget the server led by (``pid``, ``started``)."""
    with _changing(path) as records:
        records[:] = [r for r in records if not r.same_process(pid, started)]


def launch(
    command: list[str],
    *,
    env: Mapping[str, str],
    stdout: IO[bytes] | int | None,
    owner: ServerOwner | None = None,
    port: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server process in its own session (a stop never reaches this process), dying with the
    thread that calls this (parent-death signal) and, with an ``owner``, recorded for its run.

    The server's environment carries its run's label, inherited by its workers."""
    env = {**env, RUN_LABEL: owner.run_id} if owner is not None else dict(env)
    process = subprocess.Popen(
        with_parent_death(command),
        stdout=stdout,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    if owner is None:
        return process
    started = start_time(process.pid)  # our unreaped child: its pid cannot be reused yet
    if started is None:  # exited already, or no /proc to tell one process from another
        return process
    record = ServerRecord(
        pid=process.pid,
        start_time=started,
        boot_id=boot_id(),
        host=socket.gethostname(),
        run_id=owner.run_id,
        command=tuple(command[:3]),
        port=port,
    )
    try:
        add_record(owner.registry, record)
    except BaseException:  # a server that cannot be recorded is not left running
        end_group(process.pid, grace_s=5)
        process.wait()
        raise
    return process


def stop(process: subprocess.Popen[bytes], owner: ServerOwner | None = None, grace_s: float = 20.0) -> None:
    """End a server started by :func:`launch` (its whole process group) and forget it."""
    started = start_time(process.pid)
    end_group(process.pid, grace_s)  # the child leads its own session: its group id is its pid
    process.wait(timeout=10)
    if owner is not None and started is not None:
        try:
            remove_record(owner.registry, process.pid, started)
        except OSError:
            pass  # the server is gone: a sweep drops the stale record


def _labelled(pgid: int, run_id: str) -> bool:
    """Whether a live member of group ``pgid`` carries ``run_id``'s label in its environment."""
    label = f"{RUN_LABEL}={run_id}".encode()
    for pid in group_members(pgid):
        try:
            if label in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                return True
        except OSError:
            continue
    return False


def _judge(record: ServerRecord, ended: Callable[[str], bool], host: str, boot: str) -> str:
    """What to do with a record, on machine ``host`` in boot ``boot``: "keep", "stop" its group, or "drop" it."""
    if record.host != host:  # another machine's (a home on a shared disk): its pids mean nothing here
        return "keep"
    if record.boot_id != boot or not _still_there(record):
        return "drop"
    return "stop" if ended(record.run_id) else "keep"


def _still_there(record: ServerRecord) -> bool:
    """Whether the recorded server's process group lives: its leader (the same process, not a later one
    with its pid), or, the leader gone, workers that carry the run's label."""
    started = start_time(record.pid)
    if started is not None:  # a live leader: the server's, or another process's that got the pid later
        return record.same_process(record.pid, started)
    return bool(group_members(record.pid)) and _labelled(record.pid, record.run_id)


def sweep(path: Path, ended: Callable[[str], bool], grace_s: float = 20.0) -> list[ServerRecord]:
    """End the process group of every recorded server of this machine whose run has ``ended`` (SIGTERM,
    SIGKILL after ``grace_s``), and drop the records of servers that are gone; returns the ones ended.

    A record of another machine (a home on a shared disk) is left alone; one of an earlier boot of
    this machine is dropped."""
    if not path.exists():
        return []
    here, boot = socket.gethostname(), boot_id()
    with _changing(path) as records:
        verdicts = {r: _judge(r, ended, here, boot) for r in records}
        records[:] = [r for r in records if verdicts[r] != "drop"]
    # Ended outside the lock (a group may take its whole grace, and other servers start meanwhile), each
    # looked at again just before: its leader may have gone, and its pid been given to another process.
    ending = [r for r, verdict in verdicts.items() if verdict == "stop"]
    stopped = []
    for record in ending:
        if _still_there(record):
            end_group(record.pid, grace_s)
            stopped.append(record)
    if ending:
        with _changing(path) as records:
            records[:] = [r for r in records if r not in ending]
    return stopped
