"""Dagster: tasks -> user_scripts -> trajectories for one partition, with checks, data versions, resume."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from writ_dagster.assets import domain_catalogue, task_checks, tasks, trajectories, trajectory_checks, user_scripts
from writ_dagster.core.storage.runs import read_stage_run
from writ_dagster.core.storage.schema import connect
from writ_dagster.core.storage.trajectories import trajectories_frame
from writ_dagster.partitions import BATCH_PARTITIONS_NAME, domain_batch_key
from writ_dagster.resources import ModelRole, SimulationSettings, SynthesisSettings, WritStorage

ALL = [domain_catalogue, tasks, user_scripts, trajectories, *task_checks, *trajectory_checks]
KEY = domain_batch_key("airline", "b0000")


def _resources(db: Path, **simulation) -> dict:
    return {"storage": WritStorage(database=str(db)), "synthesis": SynthesisSettings(tasks_per_batch=8),
            "simulation": SimulationSettings(**simulation), "teacher": ModelRole(), "user_simulator": ModelRole(),
            "user_rewriter": ModelRole()}


def _hashes(db: Path) -> dict[str, str]:
    with connect(db, read_only=True) as con:
        frame = trajectories_frame(con, "airline", "b0000", ["trajectory_id", "content_hash"])
    return dict(frame.iter_rows())


def test_partition_materializes_through_trajectories_with_checks(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, ["b0000"])
    result = dg.materialize(ALL, selection=[tasks, user_scripts, trajectories], partition_key=KEY,
                            instance=instance, resources=_resources(db))
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert {"user_scripts_valid", "trajectories_rescore", "trajectories_tau2_agreement",
            "trajectories_success_rate"} <= set(checks)
    assert all(e.passed for e in checks.values()), {n: e.metadata for n, e in checks.items() if not e.passed}

    [scripts_mat] = result.asset_materializations_for_node("user_scripts")
    assert scripts_mat.metadata["scripts"].value == 16 and scripts_mat.metadata["scripted_variants"].value == 8
    [mat] = result.asset_materializations_for_node("trajectories")
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["trajectories"] == 16 and meta["simulated_this_run"] == 16 and meta["success_rate"] == 1.0
    assert "| turns |" in meta["distributions"] and "user_stop" in meta["termination_reasons"]
    assert meta["tokens_total"] > 0 and meta["malformed_outputs"] == 0
    assert {"median", "p90", "max"} <= set(meta["summary"]["turns"])
    assert 0 < meta["quality_agent_distinct_sentence_share"] <= 1 and 0 < meta["quality_user_distinct_sentence_share"] <= 1
    assert "| agent |" in meta["quality"]
    # The evidence share is over the stored read-heavy rows: the scripted oracle shows its evidence in each
    # (test_simulation.py), so it is 1 when there are any and 0 when there are none (as in this small batch).
    with connect(db, read_only=True) as con:
        types = trajectories_frame(con, "airline", "b0000", ["trajectory_type"])["trajectory_type"].to_list()
    heavy = types.count("read-heavy")
    assert meta["summary"]["quality"]["read_heavy_rows"] == heavy
    assert meta["quality_read_heavy_evidence_share"] == (1.0 if heavy else 0.0), (heavy, types)
    assert meta["quality_top_agent_sentences"][0]["count"] >= 2
    assert meta["summary"]["quality"]["agent_sentences"] > 0

    with connect(db, read_only=True) as con:
        runs = {s: read_stage_run(con, s, "airline", "b0000") for s in ("user_scripts", "trajectories")}
    for asset, stage in ((user_scripts, "user_scripts"), (trajectories, "trajectories")):
        version = instance.get_latest_data_version_record(asset.key, partition_key=str(KEY))
        assert version.event_log_entry.tags["dagster/data_version"] == runs[stage].content_digest
    first = _hashes(db)
    assert len(first) == 16

    # Re-materializing resumes (nothing to do); re-simulating from scratch gives identical content.
    only = dg.AssetSelection.assets(trajectories).without_checks()  # checks ran above; keep this quick
    again = dg.materialize(ALL, selection=only, partition_key=KEY, instance=instance, resources=_resources(db))
    [mat] = again.asset_materializations_for_node("trajectories")
    assert mat.metadata["kept_from_earlier_runs"].value == 16 and mat.metadata["simulated_this_run"].value == 0
    fresh = dg.materialize(ALL, selection=only, partition_key=KEY, instance=instance,
                           resources=_resources(db, resume=False))
    [mat] = fresh.asset_materializations_for_node("trajectories")
    assert mat.metadata["simulated_this_run"].value == 16
    assert _hashes(db) == first
    assert mat.metadata["content_digest"].value == runs["trajectories"].content_digest


def test_bad_simulation_settings_fail_before_writing(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, ["b0000"])
    ok = dg.materialize(ALL, selection=[tasks], partition_key=KEY, instance=instance, resources=_resources(db))
    assert ok.success
    for bad in ({"variants": 0}, {"max_concurrency": -1}, {"agent_backend": "nope"}):
        result = dg.materialize(ALL, selection=[user_scripts, trajectories], partition_key=KEY, instance=instance,
                                resources=_resources(db, **bad), raise_on_error=False)
        assert not result.success, bad
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM user_scripts").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM trajectories").fetchall() == [(0,)]
