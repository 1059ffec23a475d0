"""DuckDB storage: round trip, idempotent partition replace, atomicity, refusing bad files."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from writ_testing import SMALL, small_airline_batches

import writ_dagster.core.storage.schema as schema
from writ_dagster.core.domains.catalogue import describe_domain
from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.storage.base import StorageError
from writ_dagster.core.storage.runs import read_partition_run
from writ_dagster.core.storage.schema import connect, open_db
from writ_dagster.core.storage.tasks import (
    TASKS_SCHEMA,
    catalogue_frame,
    content_digest,
    frame_records,
    read_tasks,
    rejections_frame,
    tasks_frame,
    write_catalogue,
    write_partition,
)
from writ_dagster.core.tasks.models import BatchResult
from writ_dagster.core.tasks.synthesis import Synthesizer


@pytest.fixture
def small_airline() -> dict[str, BatchResult]:
    return small_airline_batches()


def rows(con: duckdb.DuckDBPyConnection, domain: str, partition: str) -> list[tuple]:
    """Every stored column of a partition's tasks, ordered."""
    return con.execute("SELECT * FROM tasks WHERE domain = ? AND partition = ? ORDER BY idx",
                       [domain, partition]).fetchall()


def content_rows(con: duckdb.DuckDBPyConnection, domain: str, partition: str) -> list[tuple]:
    """A partition's task rows without written_at (the one column allowed to change on rewrite)."""
    frame = tasks_frame(con, domain, partition).drop("written_at")
    return frame.rows()


def test_round_trip_gives_back_equal_records(tmp_path: Path, small_airline: dict[str, BatchResult]) -> None:
    result = small_airline["b0000"]
    with connect(tmp_path / "w.duckdb") as con:
        run = write_partition(con, result, SMALL)
        back = read_tasks(con, "airline", "b0000")
        stored_run = read_partition_run(con, "airline", "b0000")
    assert len(result.tasks) == 8
    assert back == result.tasks
    assert stored_run is not None and stored_run.content_digest == run.content_digest
    assert stored_run.n_tasks == 8 and stored_run.attempts == result.attempts
    assert stored_run.config() == SMALL


def test_rewrite_is_idempotent_and_touches_no_other_partition(
        tmp_path: Path, small_airline: dict[str, BatchResult]) -> None:
    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        write_partition(con, small_airline["b0000"], SMALL)
        write_partition(con, small_airline["b0001"], SMALL)
        before_0 = content_rows(con, "airline", "b0000")
        before_1 = rows(con, "airline", "b0001")
        # A fresh synthesizer re-derives the same batch: the pipeline is a pure function of its config.
        again = Synthesizer("airline", SMALL).synthesize("b0000")
        run = write_partition(con, again, SMALL)
        after_0 = content_rows(con, "airline", "b0000")
        assert after_0 == before_0
        assert rows(con, "airline", "b0001") == before_1  # byte-identical, written_at included
        counts = con.execute("SELECT partition, count(*), count(DISTINCT task_id) FROM tasks "
                             "GROUP BY partition ORDER BY partition").fetchall()
        assert counts == [("b0000", 8, 8), ("b0001", 8, 8)]
        assert con.execute("SELECT count(*) FROM partition_runs").fetchall() == [(2,)]
        n_rej = con.execute("SELECT count(*) FROM task_rejections WHERE partition = 'b0000'").fetchall()[0][0]
    assert run.content_digest == content_digest(small_airline["b0000"].tasks)
    assert n_rej == len(small_airline["b0000"].rejections)


def test_rewrite_with_fewer_tasks_drops_the_old_rows(tmp_path: Path, small_airline: dict[str, BatchResult]) -> None:
    full = small_airline["b0000"]
    smaller = full.model_copy(update={"tasks": full.tasks[:3], "rejections": []})
    with connect(tmp_path / "w.duckdb") as con:
        write_partition(con, full, SMALL)
        write_partition(con, smaller, SMALL)
        assert [r.task_id for r in read_tasks(con, "airline")] == [t.task_id for t in full.tasks[:3]]
        assert rejections_frame(con, "airline", "b0000").is_empty()


def test_failed_write_changes_nothing(tmp_path: Path, small_airline: dict[str, BatchResult]) -> None:
    with connect(tmp_path / "w.duckdb") as con:
        write_partition(con, small_airline["b0000"], SMALL)
        write_partition(con, small_airline["b0001"], SMALL)
        before = {p: rows(con, "airline", p) for p in ("b0000", "b0001")}
        # b0001 rewritten with a task id that b0000 holds: the insert fails after the delete ran.
        clash = small_airline["b0001"].tasks[0].model_copy(update={"task_id": small_airline["b0000"].tasks[0].task_id})
        bad = small_airline["b0001"].model_copy(update={"tasks": [clash]})
        with pytest.raises(duckdb.ConstraintException):
            write_partition(con, bad, SMALL)
        # A record of another partition is refused before any SQL runs.
        foreign = small_airline["b0001"].model_copy(update={"partition": "b0000"})
        with pytest.raises(ValueError, match="belongs to"):
            write_partition(con, foreign, SMALL)
        assert {p: rows(con, "airline", p) for p in ("b0000", "b0001")} == before
        # The connection stays usable after the rolled-back write.
        write_partition(con, small_airline["b0001"], SMALL)
        at = [d[0] for d in con.execute("SELECT * FROM tasks LIMIT 0").description].index("written_at")
        assert content_rows(con, "airline", "b0001") == [r[:at] + r[at + 1:] for r in before["b0001"]]


def test_tasks_read_into_polars_under_installed_duckdb(tmp_path: Path, small_airline: dict[str, BatchResult]) -> None:
    # duckdb 2.x dropped DuckDBPyConnection.arrow(); storage reads through relation.pl().
    with connect(tmp_path / "w.duckdb") as con:
        write_partition(con, small_airline["b0000"], SMALL)
        frame = tasks_frame(con, "airline")
    assert isinstance(frame, pl.DataFrame)
    assert frame.height == 8
    assert frame.schema == pl.Schema(TASKS_SCHEMA)
    assert frame["content_hash"].to_list() == [t.content_hash for t in small_airline["b0000"].tasks]
    assert frame_records(frame) == small_airline["b0000"].tasks


def test_catalogue_rewrite_replaces_the_domain_rows(tmp_path: Path) -> None:
    cat = describe_domain(get_domain("airline"))
    with connect(tmp_path / "w.duckdb") as con:
        write_catalogue(con, cat)
        write_catalogue(con, cat)
        frame = catalogue_frame(con, "airline")
        info = con.execute("SELECT base_tasks, policy_chars FROM domain_info").fetchall()
    assert frame.height == len(cat.tools) == 14
    assert set(frame["type"]) == {"read", "write", "generic"}
    assert info == [(cat.base_tasks, cat.policy_chars)]


@pytest.mark.parametrize("content", [b"", b"this is a text file, not a database\n" * 20])
def test_not_a_duckdb_file_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "w.duckdb"
    db.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    for read_only in (False, True):
        with pytest.raises(StorageError, match=str(db)):
            open_db(db, read_only=read_only)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"]  # no WAL or lock file either


def test_missing_database_is_an_error_when_reading(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no WRIT database"):
        open_db(tmp_path / "absent.duckdb", read_only=True)
    assert not (tmp_path / "absent.duckdb").exists()


HOLD_THEN_RELEASE = """
import sys, time
from writ_dagster.core.storage.schema import connect
with connect(sys.argv[1]) as con:
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold_db(db: Path, seconds: float) -> subprocess.Popen:
    """Another process with a write connection on ``db`` for ``seconds`` (returned once it holds it)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD_THEN_RELEASE, str(db), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"  # type: ignore[union-attr]
    return proc


@pytest.mark.parametrize("read_only", [True, False], ids=["reader", "writer"])
def test_opening_waits_while_another_process_holds_the_file(tmp_path: Path, read_only: bool) -> None:
    db = tmp_path / "w.duckdb"
    open_db(db).close()
    holder = _hold_db(db, 1.5)
    start = time.monotonic()
    with connect(db, read_only=read_only) as con:  # DuckDB's lock error is waited out, not raised
        assert con.execute("SELECT 1").fetchall() == [(1,)]
    assert time.monotonic() - start > 0.5
    assert holder.wait(timeout=30) == 0


def test_the_wait_for_a_held_file_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "w.duckdb"
    open_db(db).close()
    monkeypatch.setattr(schema, "LOCK_WAIT_S", 0.3)
    holder = _hold_db(db, 5)
    try:
        start = time.monotonic()
        with pytest.raises(StorageError, match="lock"):
            open_db(db, read_only=True)
        assert time.monotonic() - start < 3
    finally:
        holder.kill()
        holder.wait()


def test_a_file_that_ends_before_its_free_blocks_is_sound_and_one_cut_short_is_not(tmp_path: Path) -> None:
    """DuckDB cuts free blocks off a file's end at a checkpoint and still counts them in ``total_blocks``
    (what a reader saw between two writers in CI); only blocks in use must be in the file."""
    db = tmp_path / "dropped.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE kept AS SELECT range AS i FROM range(1000)")
    con.execute("CHECKPOINT")
    con.execute("CREATE TABLE big AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(300000)")
    con.execute("CHECKPOINT")
    whole = db.read_bytes()
    con.execute("DROP TABLE big")
    con.execute("CHECKPOINT")
    con.close()
    with duckdb.connect(str(db), read_only=True) as ro:
        [(block_size, total, free)] = ro.execute(
            "SELECT block_size, total_blocks, free_blocks FROM pragma_database_size()").fetchall()
    assert free > 0 and db.stat().st_size < 3 * 4096 + block_size * total  # the state the old check refused
    schema.check_db_complete(db)  # sound: no error
    with duckdb.connect(str(db), read_only=True) as ro:
        assert ro.execute("SELECT count(*) FROM kept").fetchall() == [(1000,)]

    cut = tmp_path / "cut.duckdb"
    cut.write_bytes(whole[: len(whole) // 2])  # the file with `big` in use, cut in half
    with pytest.raises(StorageError, match="is truncated"):
        schema.check_db_complete(cut)
