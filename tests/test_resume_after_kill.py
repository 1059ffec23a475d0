"""Kill -9 in the middle of the trajectories step, run again: the planned rows, once each, as if uninterrupted.

A real `writ run` is started as a subprocess and SIGKILLed once its run log says some but not
all of the partition's conversations are stored; a second `writ run` finishes the partition.
The result is compared row by row (content hashes) with an uninterrupted simulation of the
same stored tasks and scripts with the same settings, and the rows stored before the kill must
not have been redone. Once with one attempt per conversation, once with attempts through
`--config` (3 tries per conversation, the first 2 passes kept: 2 rows per (task, script)).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from writ_dagster.cli import main
from writ_dagster.core.simulation.settings import TrajectoryConfig
from writ_dagster.core.stages.trajectories import run_trajectories
from writ_dagster.core.storage.schema import connect

pytestmark = pytest.mark.slow

# Sequential conversations (max concurrency 1, one worker): rows trickle in over a few seconds.
BASE_ARGS = ["run", "--domain", "airline", "--batch", "b0000", "--variants", "10", "--workers", "1",
             "--max-concurrency", "1", "--until", "trajectories"]
# (tasks, --config simulation settings, rows planned)
CASES = {"one-attempt": (20, {}, 200), "attempts": (10, {"attempts": 3, "keep_passing": 2}, 200)}
PROGRESS = re.compile(r"airline/b0000: stored (\d+)/(\d+) trajectories")


def rows(home: Path) -> list[tuple[str, str, object]]:
    con = duckdb.connect(str(home / "writ.duckdb"), read_only=True)
    try:
        return con.execute("SELECT trajectory_id, content_hash, written_at FROM trajectories "
                           "WHERE domain = 'airline' AND partition = 'b0000'").fetchall()
    finally:
        con.close()


def start_and_kill(home: Path, args: list[str]) -> int:
    """Start `writ run -v`, SIGKILL it once its log shows some but not all rows stored; return the total planned."""
    env = dict(os.environ, WRIT_HOME=str(home), PYTHONUNBUFFERED="1")
    env.pop("DAGSTER_HOME", None)
    proc = subprocess.Popen([sys.executable, "-m", "writ_dagster.cli", *args, "-v"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                pytest.fail(f"writ run ended (rc={proc.wait()}) before it could be killed mid-partition")
            match = PROGRESS.search(line)
            if match and 0 < int(match[1]) < int(match[2]):
                os.killpg(proc.pid, signal.SIGKILL)
                assert proc.wait(timeout=30) == -signal.SIGKILL
                return int(match[2])
        pytest.fail("no progress line within the time limit")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    raise AssertionError("unreachable")


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture, case: str) -> None:
    tasks, simulation, planned = CASES[case]
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"tasks_per_batch": tasks, "simulation": simulation}))
    args = [*BASE_ARGS, "--config", str(config)]
    killed_home = tmp_path / "killed"
    start_and_kill(killed_home, args)
    before_restart = rows(killed_home)
    assert 0 < len(before_restart) < planned, "the kill should land mid-partition"

    # Run again (same command, in this process) to completion.
    home = killed_home
    monkeypatch.setenv("WRIT_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(args) == 0
    out = capsys.readouterr().out
    kept = len(before_restart)
    assert f"{planned} conversations ({planned - kept} simulated, {kept} kept)" in out, out
    resumed = rows(home)

    # An uninterrupted run of the trajectories stage on the same stored tasks and scripts: a copy of
    # the database re-simulated from scratch with the command's settings.
    reference_db = tmp_path / "reference.duckdb"
    shutil.copyfile(home / "writ.duckdb", reference_db)
    with connect(reference_db) as con:
        fresh = run_trajectories(con, "airline", "b0000", TrajectoryConfig(
            variants=10, workers=1, max_concurrency=1, resume=False, **simulation))
        assert fresh.simulated == planned
        reference = con.execute("SELECT trajectory_id, content_hash FROM trajectories").fetchall()

    ids = [r[0] for r in resumed]
    assert len(ids) == len(set(ids)) == planned  # no duplicate, no gap
    assert {r[0]: r[1] for r in resumed} == {r[0]: r[1] for r in reference}  # identical rows
    stamps = {r[0]: r[2] for r in resumed}
    assert all(stamps[tid] == at for tid, _, at in before_restart)  # finished conversations were not redone
    if simulation:  # every chain holds its first two (passing) attempts, none lost or doubled by the kill
        con = duckdb.connect(str(home / "writ.duckdb"), read_only=True)
        try:
            chains = con.execute("SELECT list_sort(list(attempt)) FROM trajectories WHERE partition = 'b0000' "
                                 "GROUP BY task_id, script_id").fetchall()
        finally:
            con.close()
        assert len(chains) == 100 and {tuple(c[0]) for c in chains} == {(0, 1)}
