"""Storage of user scripts and trajectories: round trips, insert-or-ignore, pruning, resume, schema upgrade."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from writ_testing import SMALL, small_airline_batches

from writ_dagster.core.simulation.settings import TrajectoryConfig
from writ_dagster.core.stages.trajectories import plan, run_trajectories
from writ_dagster.core.stages.user_scripts import MissingInputError, run_user_scripts
from writ_dagster.core.storage.base import has_table
from writ_dagster.core.storage.runs import read_stage_run
from writ_dagster.core.storage.schema import SCHEMA_VERSION, connect
from writ_dagster.core.storage.scripts import read_user_scripts, user_scripts_frame
from writ_dagster.core.storage.tasks import read_tasks, write_partition
from writ_dagster.core.storage.trajectories import (
    insert_trajectory,
    read_trajectories,
    stored_resume_keys,
    trajectories_frame,
)
from writ_dagster.core.tasks.synthesis import Synthesizer

CONFIG = TrajectoryConfig(variants=3, seed=11)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database holding the small airline batch b0000 and its user scripts."""
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        write_partition(con, small_airline_batches()["b0000"], SMALL)
        run_user_scripts(con, "airline", "b0000", CONFIG)
    return path


def hashes(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("SELECT trajectory_id, content_hash FROM trajectories").fetchall())


def test_scripts_round_trip_and_replace_by_partition(db: Path) -> None:
    with connect(db) as con:
        scripts = read_user_scripts(con, "airline", "b0000")
        assert len(scripts) == 8 * 3
        assert all(s.compute_hash() == s.content_hash for s in scripts)  # rebuilt exactly
        first = user_scripts_frame(con, "airline", "b0000").drop("written_at")
        run_user_scripts(con, "airline", "b0000", CONFIG)
        assert user_scripts_frame(con, "airline", "b0000").drop("written_at").equals(first)
        run_user_scripts(con, "airline", "b0000", CONFIG.model_copy(update={"variants": 2}))
        assert user_scripts_frame(con, "airline", "b0000").height == 16
        assert read_stage_run(con, "user_scripts", "airline", "b0000").n_rows == 16


def test_scripts_need_stored_tasks(tmp_path: Path) -> None:
    with connect(tmp_path / "w.duckdb") as con:
        with pytest.raises(MissingInputError, match="materialize `tasks` first"):
            run_user_scripts(con, "airline", "b0000", CONFIG)
        assert user_scripts_frame(con, "airline").height == 0


def test_trajectories_round_trip_and_insert_or_ignore(db: Path) -> None:
    with connect(db) as con:
        result = run_trajectories(con, "airline", "b0000", CONFIG)
        assert result.planned == result.simulated == 24 and result.kept == 0
        records = read_trajectories(con, "airline", "b0000")
        stored = hashes(con)
        assert {r.trajectory_id: r.content_hash() for r in records} == stored  # rebuilt exactly
        keys = stored_resume_keys(con, "airline", "b0000")
        assert all(keys[r.trajectory_id] == r.resume_key() for r in records)
        assert not insert_trajectory(con, records[0])  # a second insert of a stored id is ignored
        assert con.execute("SELECT count(*), count(DISTINCT trajectory_id) FROM trajectories").fetchall() == [(24, 24)]
        run = read_stage_run(con, "trajectories", "airline", "b0000")
        assert run is not None and run.n_rows == 24


def test_resume_keeps_matching_rows_and_prunes_the_rest(db: Path) -> None:
    with connect(db) as con:
        run_trajectories(con, "airline", "b0000", CONFIG)
        before = hashes(con)
        stamps = dict(con.execute("SELECT trajectory_id, written_at FROM trajectories").fetchall())

        # A partial partition (as after a crash): delete some rows, resume, get them back identical.
        lost = sorted(before)[:7]
        con.execute("DELETE FROM trajectories WHERE list_contains(?, trajectory_id)", [lost])
        again = run_trajectories(con, "airline", "b0000", CONFIG)
        assert (again.kept, again.simulated, again.pruned) == (17, 7, 0)
        assert hashes(con) == before
        kept_stamps = dict(con.execute("SELECT trajectory_id, written_at FROM trajectories").fetchall())
        assert all(kept_stamps[t] == stamps[t] for t in before if t not in lost)  # not redone

        # Fewer variants: the rows of dropped scripts go, in the same run.
        run_user_scripts(con, "airline", "b0000", CONFIG.model_copy(update={"variants": 2}))
        fewer = run_trajectories(con, "airline", "b0000", CONFIG.model_copy(update={"variants": 2}))
        assert (fewer.planned, fewer.kept, fewer.simulated, fewer.pruned) == (16, 16, 0, 8)
        assert set(hashes(con)) < set(before)

        # Changed engine limits change the resume key: everything is simulated again.
        changed = run_trajectories(con, "airline", "b0000", CONFIG.model_copy(update={"variants": 2, "max_steps": 150}))
        assert (changed.kept, changed.simulated, changed.pruned) == (0, 16, 16)

        # No resume: the partition is re-simulated, and comes out identical.
        run_trajectories(con, "airline", "b0000", CONFIG.model_copy(update={"variants": 2}))
        ref = hashes(con)
        fresh = run_trajectories(con, "airline", "b0000", CONFIG.model_copy(update={"variants": 2, "resume": False}))
        assert (fresh.kept, fresh.simulated) == (0, 16) and hashes(con) == ref


def test_trajectories_need_stored_scripts(tmp_path: Path) -> None:
    with connect(tmp_path / "w.duckdb") as con:
        write_partition(con, small_airline_batches()["b0000"], SMALL)
        with pytest.raises(MissingInputError, match="materialize `user_scripts` first"):
            plan(con, "airline", "b0000", seed=1)
        assert trajectories_frame(con, "airline").height == 0


def test_scripts_of_replaced_tasks_are_refused(db: Path) -> None:
    other = Synthesizer("airline", SMALL.model_copy(update={"seed": 5})).synthesize("b0000")
    with connect(db) as con:
        write_partition(con, other, SMALL)  # tasks re-made: the stored scripts are of the old ones
        with pytest.raises(MissingInputError, match="made from other tasks"):
            run_trajectories(con, "airline", "b0000", CONFIG)
        run_user_scripts(con, "airline", "b0000", CONFIG)
        assert run_trajectories(con, "airline", "b0000", CONFIG).simulated == 24


def test_other_partitions_are_untouched(db: Path) -> None:
    with connect(db) as con:
        write_partition(con, small_airline_batches()["b0001"], SMALL)
        run_user_scripts(con, "airline", "b0001", CONFIG)
        run_trajectories(con, "airline", "b0001", CONFIG)
        other = hashes(con)
        run_trajectories(con, "airline", "b0000", CONFIG.model_copy(update={"resume": False}))
        after = hashes(con)
        assert {t: h for t, h in after.items() if t in other} == other


def test_a_version_1_database_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with connect(path) as con:
        write_partition(con, small_airline_batches()["b0000"], SMALL)
        for table in ("user_scripts", "trajectories", "stage_runs"):
            con.execute(f"DROP TABLE {table}")
        con.execute("UPDATE writ_meta SET value = '1' WHERE key = 'schema_version'")
    with connect(path, read_only=True) as con:  # read as it is
        assert len(read_tasks(con, "airline", "b0000")) == 8
        assert trajectories_frame(con, "airline").height == 0
        assert read_stage_run(con, "trajectories", "airline", "b0000") is None
    with connect(path) as con:  # opened for writing: upgraded, tasks kept
        assert has_table(con, "trajectories") and has_table(con, "stage_runs")
        assert con.execute("SELECT value FROM writ_meta").fetchall() == [(SCHEMA_VERSION,)]
        assert len(read_tasks(con, "airline", "b0000")) == 8


def test_a_version_2_database_gains_the_schema_3_tables_and_column(tmp_path: Path) -> None:
    path = tmp_path / "v2.duckdb"
    with connect(path) as con:
        write_partition(con, small_airline_batches()["b0000"], SMALL)
        run_user_scripts(con, "airline", "b0000", CONFIG)
        run_trajectories(con, "airline", "b0000", CONFIG)
        before = hashes(con)
        con.execute("ALTER TABLE trajectories DROP COLUMN backend_error")
        for table in ("sft_rows", "sft_sets", "checkpoints", "evaluations"):
            con.execute(f"DROP TABLE {table}")
        con.execute("UPDATE writ_meta SET value = '2' WHERE key = 'schema_version'")
    with connect(path, read_only=True) as con:  # read as it is: no backend_error column yet
        assert {r.trajectory_id for r in read_trajectories(con, "airline")} == set(before)
        assert all(r.backend_error is None for r in read_trajectories(con, "airline"))
    with connect(path) as con:  # opened for writing: upgraded in place, rows kept
        assert con.execute("SELECT value FROM writ_meta").fetchall() == [(SCHEMA_VERSION,)]
        assert all(has_table(con, t) for t in ("sft_rows", "sft_sets", "checkpoints", "evaluations"))
        assert "backend_error" in trajectories_frame(con, "airline").columns
        assert hashes(con) == before


def test_a_version_3_database_gains_the_attempt_column_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v3.duckdb"
    with connect(path) as con:
        write_partition(con, small_airline_batches()["b0000"], SMALL)
        run_user_scripts(con, "airline", "b0000", CONFIG)
        run_trajectories(con, "airline", "b0000", CONFIG)
        before = hashes(con)
        con.execute("ALTER TABLE trajectories DROP COLUMN attempt")
        con.execute("UPDATE writ_meta SET value = '3' WHERE key = 'schema_version'")
    with connect(path, read_only=True) as con:  # read as it is: every row a first attempt
        assert {r.attempt for r in read_trajectories(con, "airline")} == {0}
    with connect(path) as con:  # opened for writing: upgraded in place, rows and their hashes kept
        assert con.execute("SELECT value FROM writ_meta").fetchall() == [(SCHEMA_VERSION,)] == [("6",)]
        assert con.execute("SELECT DISTINCT attempt FROM trajectories").fetchall() == [(0,)]
        assert hashes(con) == before
        again = run_trajectories(con, "airline", "b0000", CONFIG)
        assert again.simulated == 0 and hashes(con) == before
