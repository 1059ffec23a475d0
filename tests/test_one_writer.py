"""One writer at a time, and readers never break it: two `writ run`s on one WRIT_HOME and a loop of
exports during them all end with exit 0, and the stored rows equal those of a lone run.

Real processes on real files: the second writer waits for the first (and says so on stderr), the
readers open short read-only connections that take turns with the writers' on DuckDB's lock.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from writ_testing import writ_env

pytestmark = pytest.mark.slow  # three small runs and a reader loop: a few minutes on a busy machine

ARGS = ["run", "--domain", "airline", "--batch", "b0000", "--batch", "b0001",
        "--tasks-per-batch", "6", "--variants", "1", "--until", "trajectories"]

# Readers in one process, until told to stop: `writ export-tasks` and `writ export-trajectories` as a
# user would call them; any non-zero exit ends the loop with it. A pause of 0.2 s after each pair keeps
# the loop from taking a whole core from the writers and the other test worker (back to back, it made
# this test the suite's most slowed by load); it still reads many times while each writer holds the file.
READER_LOOP = """
import sys
import time
from pathlib import Path
from writ_dagster.cli import main
stop, out = Path(sys.argv[1]), Path(sys.argv[2])
reads = 0
while not stop.exists():
    for argv in (["export-tasks", "--domain", "airline", "--partition", "b0000", "--out", str(out)],
                 ["export-trajectories", "--domain", "airline", "--partition", "b0000", "--out", str(out)]):
        rc = main(argv)
        if rc != 0:
            sys.exit(rc)
        reads += 1
    time.sleep(0.2)
print(reads)
"""


def stored(home: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(home / "writ.duckdb"), read_only=True)
    try:
        return {
            "tasks": con.execute("SELECT partition, task_id FROM tasks ORDER BY ALL").fetchall(),
            "scripts": con.execute("SELECT count(*) FROM user_scripts").fetchall(),
            "trajectories": con.execute("SELECT partition, trajectory_id, content_hash FROM trajectories "
                                        "ORDER BY ALL").fetchall(),
        }
    finally:
        con.close()


def test_two_writers_and_a_reader_loop_all_succeed(tmp_path: Path) -> None:
    home = tmp_path / "shared"
    writ = [sys.executable, "-m", "writ_dagster.cli", *ARGS]
    first = subprocess.Popen(writ, env=writ_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(writ, env=writ_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    # Readers start once the first partition's tasks can be exported, and read until both writers end.
    deadline = time.monotonic() + 300
    while not (home / "writ.duckdb").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    line = first.stdout.readline()  # type: ignore[union-attr]  # the first partition's summary
    assert line.startswith("airline: catalogue ok"), line
    line = first.stdout.readline()  # type: ignore[union-attr]
    stop = tmp_path / "stop"
    readers = subprocess.Popen([sys.executable, "-c", READER_LOOP, str(stop), str(tmp_path / "export.json")],
                               env=writ_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        outs = [p.communicate(timeout=600) for p in (first, second)]
    finally:
        stop.touch()
    reader_out, reader_err = readers.communicate(timeout=600)
    for proc, (out, err) in zip((first, second), outs):
        assert proc.returncode == 0, err[-3000:]
    assert readers.returncode == 0, reader_err[-3000:]
    assert int(reader_out.strip()) > 0
    waited = [err for _, err in outs if "waiting for it to finish" in err]
    assert len(waited) == 1, [err[-500:] for _, err in outs]

    lone = tmp_path / "lone"
    alone = subprocess.run(writ, env=writ_env(lone), capture_output=True, text=True, timeout=600)
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert stored(home) == stored(lone)
