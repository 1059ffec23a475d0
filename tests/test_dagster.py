"""The Dagster layer: definitions load, and a static × dynamic partition materializes and reads back."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from writ_dagster.assets import domain_catalogue, sft_checks, task_checks, tasks, trajectory_checks
from writ_dagster.core.storage.base import StorageError, has_table
from writ_dagster.core.storage.runs import read_partition_run
from writ_dagster.core.storage.schema import SCHEMA_VERSION, connect
from writ_dagster.core.storage.tasks import catalogue_frame, read_tasks
from writ_dagster.definitions import TASKS_JOB, build_definitions, defs
from writ_dagster.partitions import BATCH_PARTITIONS_NAME, domain_batch_key, domain_batch_partitions, split_key
from writ_dagster.resources import SynthesisSettings, WritStorage

DOMAINS = [
    "airline",
    pytest.param("retail", marks=pytest.mark.skipif(
        importlib.util.find_spec("writ_dagster.core.tasks.retail.composer") is None,
        reason="the retail composer has not landed yet")),
]


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        "domain_catalogue", "tasks", "user_scripts", "trajectories", "sft_set", "checkpoint", "evaluation"}
    # the checks defined apart, and those an asset declares and reports from its own step
    in_assets = {s.name for k in graph.get_all_asset_keys() for s in defs.resolve_assets_def(k).check_specs}
    assert "checkpoint_rows_cut" in in_assets
    assert {k.name for k in graph.asset_check_keys} == {c.check_specs_by_output_name[n].name
                                                       for c in [*task_checks, *trajectory_checks, *sft_checks]
                                                       for n in c.check_specs_by_output_name} | in_assets
    # tasks -> user_scripts -> trajectories, partition to partition; then the unpartitioned chain
    assert graph.get(dg.AssetKey("user_scripts")).parent_keys == {dg.AssetKey("tasks")}
    assert graph.get(dg.AssetKey("trajectories")).parent_keys == {dg.AssetKey("user_scripts")}
    assert graph.get(dg.AssetKey("sft_set")).parent_keys == {dg.AssetKey("trajectories")}
    assert graph.get(dg.AssetKey("checkpoint")).parent_keys == {dg.AssetKey("sft_set")}
    assert graph.get(dg.AssetKey("evaluation")).parent_keys == {dg.AssetKey("checkpoint")}
    # GPU work never overlaps: both GPU assets sit in one pool
    assert {defs.resolve_assets_def(k).op.pool for k in ("checkpoint", "evaluation")} == {"gpu"}
    assert defs.resolve_job_def(TASKS_JOB).partitions_def == domain_batch_partitions


def test_storage_resource_is_a_duckdb_resource_with_the_writ_schema(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    storage = WritStorage(database=str(db), connection_config={"threads": 1})
    assert isinstance(storage, DuckDBResource)
    with storage.get_connection() as con:  # DuckDBResource's entry point: writable, schema ensured
        assert con.execute("SELECT value FROM writ_meta").fetchall() == [(SCHEMA_VERSION,)]
        assert con.execute("SELECT current_setting('threads')").fetchall() == [(1,)]
    with storage.connect(read_only=True) as con:  # closed above, so the file opens again
        assert has_table(con, "trajectories") and has_table(con, "sft_lineage")
    not_duckdb = tmp_path / "notes.duckdb"
    not_duckdb.write_text("not a database")
    with pytest.raises(StorageError, match="not a DuckDB database file"):
        with WritStorage(database=str(not_duckdb)).get_connection():
            pass
    assert not_duckdb.read_text() == "not a database"


def test_split_key_accepts_both_key_forms() -> None:
    key = domain_batch_key("retail", "b0042")
    assert split_key(key) == ("retail", "b0042")
    assert split_key(str(key)) == ("retail", "b0042")


@pytest.mark.parametrize("domain", DOMAINS)
def test_static_by_dynamic_partition_materializes_and_reads_back(tmp_path: Path, domain: str) -> None:
    db = tmp_path / "w.duckdb"
    resources = {"storage": WritStorage(database=str(db)), "synthesis": SynthesisSettings(tasks_per_batch=8)}
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, ["b0000"])

    cat = dg.materialize([domain_catalogue], partition_key=domain, instance=instance, resources=resources)
    assert cat.success
    key = domain_batch_key(domain, "b0000")
    first = dg.materialize([domain_catalogue, tasks, *task_checks], selection=[tasks], partition_key=key,
                           instance=instance, resources=resources)
    assert first.success

    [mat] = first.asset_materializations_for_node("tasks")
    assert mat.partition == str(key)
    assert mat.metadata["tasks"].value == 8
    assert "| writes" in mat.metadata["writes_x_evidence"].value
    evaluations = {e.check_name: e for e in first.get_asset_check_evaluations()}
    assert set(evaluations) == {"tasks_reverify", "tasks_axis_coverage", "tasks_decontamination"}
    assert evaluations["tasks_reverify"].passed and evaluations["tasks_decontamination"].passed
    assert all(e.partition == str(key) for e in evaluations.values())

    with connect(db, read_only=True) as con:
        records = read_tasks(con, domain, "b0000")
        run = read_partition_run(con, domain, "b0000")
        assert catalogue_frame(con, domain).height > 0
    assert len(records) == 8 and run is not None
    assert all(r.domain == domain and r.partition == "b0000" for r in records)
    # The data version is the content digest, so staleness follows content.
    version = instance.get_latest_data_version_record(tasks.key, partition_key=str(key))
    assert version is not None
    assert version.event_log_entry.tags["dagster/data_version"] == run.content_digest

    again = dg.materialize([domain_catalogue, tasks, *task_checks], selection=[tasks], partition_key=key,
                           instance=instance, resources=resources)
    assert again.success
    with connect(db, read_only=True) as con:
        assert [r.content_hash for r in read_tasks(con, domain, "b0000")] == [r.content_hash for r in records]
        assert con.execute("SELECT count(*) FROM tasks").fetchall() == [(8,)]


def test_a_run_for_an_unknown_batch_key_is_refused(tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()  # no batch partitions added
    job_defs = build_definitions(WritStorage(database=str(tmp_path / "w.duckdb")), SynthesisSettings(tasks_per_batch=8))
    with pytest.raises(dg.DagsterUnknownPartitionError):
        job_defs.resolve_job_def(TASKS_JOB).execute_in_process(
            instance=instance, partition_key=domain_batch_key("airline", "b0000"))
    assert not (tmp_path / "w.duckdb").exists()


def test_impossible_settings_fail_the_step_before_writing(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, ["b0000"])
    result = dg.materialize([tasks], partition_key=domain_batch_key("airline", "b0000"), instance=instance,
                            resources={"storage": WritStorage(database=str(db)),
                                       "synthesis": SynthesisSettings(max_writes=99)},
                            raise_on_error=False)
    assert not result.success
    assert not db.exists()
