"""Ctrl-C or SIGTERM stops `writ run`: no further partition is started, the exit code is 128 + the
signal's number, what it prints after the signal is one line (not Dagster's failed-run tracebacks),
no process it started outlives it, and running the same command again completes to the rows of an
uninterrupted run.

Real `writ run` processes receive a real signal once their run log shows some but not all of the
first partition's conversations stored. SIGINT goes to the whole process group, as a terminal's
Ctrl-C does, so it also reaches whatever Dagster started beside the run (its step-log mirrors).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import duckdb
import pytest
from dagster_dev import family
from writ_testing import writ_env

pytestmark = pytest.mark.slow  # five real runs (a signalled run and its rerun per signal, one lone run)

ARGS = ["run", "--domain", "airline", "--batch", "b0000", "--batch", "b0001", "--tasks-per-batch", "10",
        "--variants", "6", "--workers", "1", "--max-concurrency", "1", "--until", "trajectories"]
PROGRESS = re.compile(r"airline/b0000: stored (\d+)/(\d+) trajectories")


def stored(home: Path) -> dict[str, list[tuple]]:
    """Every partition's task ids and trajectory ids with content hashes (what must match a lone run)."""
    con = duckdb.connect(str(home / "writ.duckdb"), read_only=True)
    try:
        return {
            "tasks": con.execute("SELECT partition, task_id FROM tasks ORDER BY ALL").fetchall(),
            "trajectories": con.execute("SELECT partition, trajectory_id, content_hash FROM trajectories "
                                        "ORDER BY ALL").fetchall(),
        }
    finally:
        con.close()


class Signalled(NamedTuple):
    """What a signalled `writ run` left: exit code, output, seconds from the signal to its exit, the
    stderr lines after the signal that are not progress lines, and its processes still alive 30 s on."""

    rc: int
    out: str
    err: str
    seconds: float
    after: list[str]
    left: list[str]


def survivors(session: int, within: float = 30.0) -> list[str]:
    """Command lines of the live processes of ``session`` (the signalled group, and the step-log
    mirrors that writ starts in groups of their own), once they have had ``within`` seconds to end."""
    deadline = time.monotonic() + within
    while (pids := family(session)) and time.monotonic() < deadline:
        time.sleep(0.5)
    lines = []
    for pid in sorted(pids):
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            pass  # ended since
    return lines


def run_and_signal(home: Path, signum: int) -> Signalled:
    """Start `writ run` in a session of its own, send ``signum`` mid-partition and see what it left."""
    proc = subprocess.Popen([sys.executable, "-m", "writ_dagster.cli", *ARGS, "--progress-every", "0.5"],
                            env=writ_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    err_lines: list[str] = []
    after: list[str] = []
    sent = None
    try:
        for line in proc.stderr:  # type: ignore[union-attr]
            err_lines.append(line)
            match = PROGRESS.search(line)
            if sent is not None and not match and line.strip():
                after.append(line.rstrip("\n"))
            if sent is None and match and 0 < int(match[1]) < int(match[2]):
                if signum == signal.SIGINT:
                    os.killpg(proc.pid, signum)  # as a terminal's Ctrl-C: the whole foreground group
                else:
                    proc.send_signal(signum)  # as `kill`: the process alone
                sent = time.monotonic()
        out = proc.stdout.read()  # type: ignore[union-attr]
        rc = proc.wait(timeout=120)
        seconds = time.monotonic() - sent if sent is not None else 0.0
        left = survivors(proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert sent is not None, "the run ended before it could be signalled mid-partition:\n" + "".join(err_lines)
    return Signalled(rc, out, "".join(err_lines), seconds, after, left)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    """The rows of one uninterrupted run, which every resumed run must equal (made once for both signals)."""
    lone = tmp_path_factory.mktemp("lone")
    uninterrupted = subprocess.run([sys.executable, "-m", "writ_dagster.cli", *ARGS], env=writ_env(lone),
                                   capture_output=True, text=True, timeout=600)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    rows = stored(lone)
    assert len(rows["trajectories"]) == 2 * 10 * 6
    return rows


@pytest.mark.timeout(1200)  # the lone run (when this test builds it), the signalled run and its rerun
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_run_and_the_rerun_completes(tmp_path: Path, signum: int,
                                                        reference: dict[str, list[tuple]]) -> None:
    home = tmp_path / "stopped"
    rc, out, err, seconds, after, left = run_and_signal(home, signum)
    assert rc == 128 + signum, (rc, out, err[-3000:])
    assert seconds < 60
    assert left == [], left  # nothing of the run, Dagster's helpers included, outlives it by 30 s
    assert "b0001" not in out, out  # the next partition was not started
    name = signal.Signals(signum).name
    assert after == [f"writ: stopped by {name}; what was stored is kept: run the same command again to resume"], err
    with duckdb.connect(str(home / "writ.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM tasks WHERE partition = 'b0001'").fetchall() == [(0,)]
    # the progress lines reached the terminal through the mirror and are in the UI's compute logs too
    captured = [p.read_text() for p in (home / "dagster" / "storage").rglob("*.err")]
    assert any("airline/b0000: stored" in text for text in captured), captured

    again = subprocess.run([sys.executable, "-m", "writ_dagster.cli", *ARGS], env=writ_env(home),
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert stored(home) == reference
