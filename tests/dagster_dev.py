"""A real ``dagster dev`` process tree on loopback, driven over its GraphQL API, for tests.

Started from Python in its own session (from a shell with ``&`` it would ignore SIGINT/SIGTERM)
and ended as a whole; :meth:`DagsterDev.stop` returns any process of the tree still alive.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

STARTUP_S = 240.0

WORKSPACE_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message stack }
          ... on RepositoryLocation { name repositories { name } }
        }
      }
    }
    ... on PythonError { message }
  }
}"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, ppid, pgrp, session) of a process, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[2]), int(fields[3])


def live_pids() -> dict[int, tuple[str, int, int, int]]:
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None and stat[0] != "Z":
                stats[int(entry.name)] = stat
    return stats


def family(root: int) -> set[int]:
    """Live processes in ``root``'s session or descending from it (a child may start its own session)."""
    stats = live_pids()
    members = {pid for pid, (_, _, _, sid) in stats.items() if sid == root}
    members.add(root) if root in stats else None
    grew = True
    while grew:
        grew = False
        for pid, (_, ppid, _, _) in stats.items():
            if ppid in members and pid not in members:
                members.add(pid)
                grew = True
    return members


class DagsterDev:
    """A ``dagster dev`` process tree on loopback, with a GraphQL client."""

    def __init__(self, cwd: Path, env: dict[str, str], log: Path, via_writ: bool = False) -> None:
        """``via_writ``: started as `writ dev -h 127.0.0.1 -p PORT` (which becomes `dagster dev`)."""
        self.port = free_port()
        self.env = env  # for other processes on the same homes
        self.url = f"http://127.0.0.1:{self.port}/graphql"
        self.log_path = log
        self._log = open(log, "wb")
        start = ["-m", "writ_dagster.cli", "dev"] if via_writ else ["-m", "dagster", "dev", "-w", "workspace.yaml"]
        self.proc = subprocess.Popen(
            [sys.executable, *start, "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        self.seen: set[int] = {self.proc.pid}

    def commands(self) -> list[str]:
        """Command lines of the live processes of the tree."""
        lines = []
        for pid in sorted(family(self.proc.pid)):
            try:
                lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
        return lines

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def gql(self, query: str, variables: dict | None = None, timeout: float = 60.0) -> dict:
        self.seen |= family(self.proc.pid)
        resp = requests.post(self.url, json={"query": query, "variables": variables or {}}, timeout=timeout)
        resp.raise_for_status()
        body = resp.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def wait_loaded(self) -> list[dict]:
        """Wait for GraphQL to answer and every code location to finish loading; return the entries."""
        deadline = time.monotonic() + STARTUP_S
        last: object = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"dagster dev exited with {self.proc.returncode}\n{self.log_tail()}")
            try:
                data = self.gql(WORKSPACE_QUERY, timeout=10)
            except (requests.ConnectionError, requests.Timeout, requests.HTTPError) as exc:
                last = exc
            else:
                entries = data["workspaceOrError"].get("locationEntries") or []
                last = entries
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    return entries
            time.sleep(1.0)
        pytest.fail(f"dagster dev not ready after {STARTUP_S:.0f}s (last: {last})\n{self.log_tail()}")

    def stop(self) -> set[int]:
        """End the whole tree (SIGINT lets dagster dev stop its children; then SIGKILL); return leftovers."""
        self.seen |= family(self.proc.pid)
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        for pid in self.seen | family(self.proc.pid):  # anything that outlived the graceful stop
            for kill in (lambda: os.killpg(self.proc.pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    kill()
                except (ProcessLookupError, PermissionError):
                    pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=30)
        self._log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            alive = {pid for pid in self.seen if pid in live_pids()} | (family(self.proc.pid) - {self.proc.pid})
            if not alive:
                break
            time.sleep(0.2)
        return alive
