"""Dagster: the `sft_set` asset over real trajectory partitions, its checks, its files and `writ export-sft`.

The curation itself (filters, mixture, split) is tested in tests/test_sft.py; this file
tests the asset around it: what it reads, writes and reports, that a re-materialization
gives the same set, that its checks catch a broken chain and a leaked split, and that the
Parquet trainers read (written by the asset or re-exported from DuckDB) loads with
`datasets`, keeps every tool call exactly and has WRIT-2K's columns.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from writ_testing import session_shared_dir, use_writ_home

from writ_dagster.assets import sft_checks, sft_set, tasks, trajectories, user_scripts
from writ_dagster.cli import main
from writ_dagster.core.sft.models import TRAJECTORY_TYPES
from writ_dagster.core.storage.base import has_table
from writ_dagster.core.storage.lineage import lineage_frame, trace, unresolved_rows
from writ_dagster.core.storage.schema import connect
from writ_dagster.core.storage.sft import latest_sft_set, sft_rows_frame
from writ_dagster.core.storage.trajectories import read_trajectories
from writ_dagster.partitions import BATCH_PARTITIONS_NAME, domain_batch_key
from writ_dagster.resources import ModelRole, SFTSettings, SimulationSettings, SynthesisSettings, WritStorage
from writ_dagster.resources.training import TrainingSettings

ALL = [tasks, user_scripts, trajectories, sft_set, *sft_checks]
WRIT2K_COLUMNS = ["domain", "trajectory_type", "has_user_script", "messages", "tools"]
CHECKS = {"sft_lineage_resolves", "sft_split_by_task"}
# The set is built for the CPU recipe with a window long enough for every row (its tokens are counted
# with its real tokenizer, nothing is dropped): the filters tested here keep their figures.
TRAINING = {"overrides": {"max_length": 32768}}


def _resources(db: Path, **sft) -> dict:
    return {"storage": WritStorage(database=str(db)), "synthesis": SynthesisSettings(tasks_per_batch=6),
            "simulation": SimulationSettings(), "teacher": ModelRole(), "user_simulator": ModelRole(),
            "user_rewriter": ModelRole(), "sft": SFTSettings(**sft), "training": TrainingSettings(**TRAINING)}


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory):
    """Both domains' b0000 partitions (6 tasks each, 2 scripts per task), then the SFT set, in one instance."""
    root = tmp_path_factory.mktemp("sft_asset")
    db, out = root / "writ.duckdb", root / "sft"
    # the CPU recipe's tiny base (its tokenizer), built once for the session
    TRAINING["models_root"] = str(session_shared_dir(tmp_path_factory) / "models")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, ["b0000"])
    for domain in ("airline", "retail"):
        # The partition assets' own checks are tested elsewhere; leave them out to keep this quick.
        part = dg.materialize(ALL, selection=dg.AssetSelection.assets(tasks, user_scripts, trajectories).without_checks(),
                              partition_key=domain_batch_key(domain, "b0000"), instance=instance,
                              resources=_resources(db, output_dir=str(out)))
        assert part.success
    # validation_fraction 0.3: 12 tasks give both splits
    result = dg.materialize(ALL, selection=[sft_set], instance=instance,
                            resources=_resources(db, output_dir=str(out), validation_fraction=0.3))
    return root, db, out, instance, result


def test_sft_set_materializes_with_metadata_checks_and_data_version(graph) -> None:
    _, db, out, instance, result = graph
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == CHECKS
    assert all(e.passed for e in checks.values()), {n: e.metadata for n, e in checks.items()}
    assert checks["sft_lineage_resolves"].blocking and checks["sft_split_by_task"].blocking

    [mat] = result.asset_materializations_for_node("sft_set")
    meta = {k: v.value for k, v in mat.metadata.items()}
    with connect(db, read_only=True) as con:
        info = latest_sft_set(con)
        rows = sft_rows_frame(con, info.sft_version)
        n_trajectories = con.sql("select count(*) from trajectories").fetchall()[0][0]
    assert meta["sft_version"] == info.sft_version
    assert n_trajectories == 24 and meta["trajectories_considered"] == 24
    assert meta["rows_train"] == info.n_train > 0 and meta["rows_validation"] == info.n_validation > 0
    assert meta["dagster/row_count"] == rows.height == info.n_train + info.n_validation
    # every trajectory is accounted for: kept as a row or dropped by a named filter
    assert rows.height + sum(meta["dropped_by_filter"].values()) == 24
    assert sum(meta["cells"].values()) == rows.height
    # the batch's data quality is shown at a glance
    assert 0 < meta["quality_agent_distinct_sentence_share"] <= 1 and 0 < meta["quality_user_distinct_sentence_share"] <= 1
    # over the set's read-heavy rows (there are some), each of which shows its evidence (the scripted oracle names
    # the deciding value and a record it set aside: test_simulation.py)
    assert rows["trajectory_type"].to_list().count("read-heavy") > 0
    assert meta["quality_read_heavy_evidence_share"] == 1.0
    # the rows' lengths in the training recipe's own tokens, as stored with the set
    assert meta["token_lengths_counted"] is True and meta["training_recipe"] == "cpu-tiny"
    assert meta["max_length_tokens"] == 32768 and meta["rows_over_max_length_dropped"] == 0
    assert 0 < meta["tokens_min"] <= meta["tokens_median"] <= meta["tokens_p90"] <= meta["tokens_p99"] \
        <= meta["tokens_max"] <= 32768
    assert meta["lengths"] == info.lengths.model_dump(mode="json") and info.lengths.rows.rows == rows.height
    assert "| in the set | tokens |" in meta["lengths_table"] and "| in the set | characters |" in meta["lengths_table"]
    assert "## Lengths" in (Path(info.directory) / "README.md").read_text()
    assert "most repeated agent sentences" in meta["quality"]
    assert meta["quality_top_agent_sentences"] and meta["quality_top_agent_sentences"][0]["count"] >= 2
    assert {c.split("/")[0] for c in meta["cells"]} == {"airline", "retail"}
    assert Path(meta["path"]) == out / info.sft_version == Path(info.directory)
    assert sorted(p.name for p in Path(meta["path"]).iterdir()) == ["README.md", "train.parquet", "validation.parquet"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
    record = instance.get_latest_data_version_record(sft_set.key)
    assert record.event_log_entry.tags["dagster/data_version"] == info.sft_version


def test_rematerializing_gives_the_same_version_and_rows(graph) -> None:
    _, db, out, instance, _ = graph
    with connect(db, read_only=True) as con:
        before = latest_sft_set(con)
        rows_before = sft_rows_frame(con, before.sft_version)
    card_before = (Path(before.directory) / "README.md").read_text()
    again = dg.materialize(ALL, selection=[sft_set], instance=instance,
                           resources=_resources(db, output_dir=str(out), validation_fraction=0.3))
    assert again.success
    [mat] = again.asset_materializations_for_node("sft_set")
    assert mat.metadata["sft_version"].value == before.sft_version
    with connect(db, read_only=True) as con:
        assert con.sql("select count(*) from sft_sets").fetchall()[0][0] == 1
        assert sft_rows_frame(con, before.sft_version).equals(rows_before)
    assert (Path(before.directory) / "README.md").read_text() == card_before
    # another config is another set, stored beside the first
    other = dg.materialize(ALL, selection=[sft_set], instance=instance,
                           resources=_resources(db, output_dir=str(out), validation_fraction=0.3,
                                                targets={"airline/normal/plain": 1, "retail/read-heavy/scripted": 1}))
    [mat] = other.asset_materializations_for_node("sft_set")
    assert mat.metadata["sft_version"].value != before.sft_version
    assert mat.metadata["dagster/row_count"].value <= 2
    assert mat.metadata["dropped_by_filter"].value["outside the mixture"] >= 20
    with connect(db, read_only=True) as con:
        assert con.sql("select count(*) from sft_sets").fetchall()[0][0] == 2
    # put the full set back as the latest for the other tests
    dg.materialize(ALL, selection=[sft_set], instance=instance,
                   resources=_resources(db, output_dir=str(out), validation_fraction=0.3))


def test_bad_sft_settings_fail_before_writing(graph, tmp_path: Path) -> None:
    _, db, _, instance, _ = graph
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    with connect(copy, read_only=True) as con:
        before = con.sql("select * from sft_sets order by sft_version").pl()
    bad = dg.materialize(ALL, selection=[sft_set], instance=instance, raise_on_error=False,
                         resources=_resources(copy, output_dir=str(tmp_path / "sft"),
                                              targets={"airline/chatty/plain": 1}))
    assert not bad.success
    assert not (tmp_path / "sft").exists()
    with connect(copy, read_only=True) as con:
        assert con.sql("select * from sft_sets order by sft_version").pl().equals(before)


def test_default_folder_is_writ_home_sft(graph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, db, _, instance, _ = graph
    home = use_writ_home(tmp_path, monkeypatch)
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    result = dg.materialize(ALL, selection=[sft_set], instance=instance, resources=_resources(copy))
    [mat] = result.asset_materializations_for_node("sft_set")
    # shown relative to the home, so a moved or copied home still reads right
    assert mat.metadata["path"].value == f"sft/{mat.metadata['sft_version'].value}"
    assert (home / "sft" / mat.metadata["sft_version"].value / "train.parquet").exists()


def _check_results(db: Path, instance: dg.DagsterInstance) -> dict[str, dg.AssetCheckEvaluation]:
    result = dg.materialize(ALL, selection=dg.AssetSelection.checks(*sft_checks), instance=instance,
                            resources=_resources(db), raise_on_error=False)
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_checks_catch_a_broken_chain_and_a_leaked_split(graph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture) -> None:
    _, db, _, instance, _ = graph
    with connect(db, read_only=True) as con:
        rows = sft_rows_frame(con, latest_sft_set(con).sft_version)
    assert {n: e.passed for n, e in _check_results(db, instance).items()} == dict.fromkeys(CHECKS, True)

    # a task re-made after its conversation was simulated: the chain no longer holds for its rows
    home = use_writ_home(tmp_path, monkeypatch)
    home.mkdir()
    broken_db = home / "writ.duckdb"
    shutil.copy(db, broken_db)
    task_id = rows["task_id"][0]
    broken = rows.filter(rows["task_id"] == task_id)["row_id"].to_list()
    with connect(broken_db) as con:
        con.execute("UPDATE tasks SET content_hash = 'remade' WHERE task_id = ?", [task_id])
    checks = _check_results(broken_db, instance)
    assert not checks["sft_lineage_resolves"].passed and checks["sft_split_by_task"].passed
    meta = checks["sft_lineage_resolves"].metadata
    assert meta["problems"].value == len(broken) == 2  # two user scripts per task
    assert all(r in meta["details"].value for r in broken)
    capsys.readouterr()  # drop Dagster's log
    assert main(["trace", broken[0]]) == 1  # stored, but its chain no longer holds: not bad input
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"task {rows['task_id'][0]} was re-made" in err

    # a task with one row in each split
    leaked_db = tmp_path / "leaked.duckdb"
    shutil.copy(db, leaked_db)
    train = rows.filter(rows["split"] == "train")
    task_id = train["task_id"][0]
    assert train.filter(train["task_id"] == task_id).height == 2
    with connect(leaked_db) as con:
        con.execute("UPDATE sft_rows SET split = 'validation' WHERE row_id = ?", [train["row_id"][0]])
    checks = _check_results(leaked_db, instance)
    assert checks["sft_lineage_resolves"].passed and not checks["sft_split_by_task"].passed
    assert task_id in checks["sft_split_by_task"].metadata["details"].value


def test_lineage_queries_fall_back_to_ctes_without_the_views(graph, tmp_path: Path) -> None:
    """A database made before the lineage views existed, opened read-only, still answers lineage queries."""
    _, db, _, _, _ = graph
    old = tmp_path / "old.duckdb"
    shutil.copy(db, old)
    with connect(db, read_only=True) as con:
        version = latest_sft_set(con).sft_version
        expected = lineage_frame(con, version)
        chain = trace(con, expected["row_id"][0], resolve_entities=False)
    with connect(old) as con:
        con.execute("DROP VIEW sft_lineage")
        con.execute("DROP VIEW trajectory_lineage")
    with connect(old, read_only=True) as con:
        assert not has_table(con, "sft_lineage")
        assert lineage_frame(con, version).equals(expected) and expected.height > 20
        assert unresolved_rows(con, version) == []
        assert trace(con, expected["row_id"][0], resolve_entities=False) == chain


def _tool_calls(messages) -> list[tuple[str, str]]:
    return [(tc["function"]["name"], tc["function"]["arguments"]) for m in messages for tc in (m["tool_calls"] or [])]


def test_parquet_loads_with_datasets_round_trips_tool_calls_and_has_writ2k_columns(graph) -> None:
    datasets = pytest.importorskip("datasets")
    _, db, _, _, _ = graph
    with connect(db, read_only=True) as con:
        info = latest_sft_set(con)
        records = {r.trajectory_id: r for d in ("airline", "retail") for r in read_trajectories(con, d)}
        axes = {r[0]: r[1:] for r in con.execute("SELECT task_id, family, writes, reads, max_reads_before_write "
                                                 "FROM tasks").fetchall()}
    files = {"train": str(info.train_path), "validation": str(info.validation_path)}
    ds = datasets.load_dataset("parquet", data_files=files)
    assert ds["train"].num_rows == info.n_train and ds["validation"].num_rows == info.n_validation
    for split in ds:
        assert ds[split].column_names[:5] == WRIT2K_COLUMNS
        assert {"trajectory_id", "task_id", "script_id", "partition", "sft_version"} <= set(ds[split].column_names)
    n_calls = 0
    for split in ds:
        for row in ds[split]:
            assert row["domain"] in ("airline", "retail") and row["trajectory_type"] in TRAJECTORY_TYPES
            assert isinstance(row["has_user_script"], bool)
            assert row["messages"][0]["role"] == "system" and "<policy>" in row["messages"][0]["content"]
            tools = json.loads(row["tools"])
            assert 10 <= len(tools) <= 20 and all(t["type"] == "function" for t in tools)
            exported = _tool_calls(row["messages"])
            record = records[row["trajectory_id"]]
            original = [(tc.name, tc.arguments) for m in record.tau2_messages()
                        for tc in (getattr(m, "tool_calls", None) or [])]
            # exactly: same calls in the same order, arguments as JSON text that parses back to the same dict
            # (no key added by `datasets` merging struct fields across rows)
            assert [(n, json.loads(a)) for n, a in exported] == original
            assert all(isinstance(a, str) for _, a in exported)
            n_calls += len(exported)
            assert row["has_user_script"] == record.has_user_script and row["task_id"] == record.task_id
            # the task's axes and family as columns, as the tasks table holds them
            assert (row["family"], row["writes"], row["reads"], row["max_reads_before_write"]) == axes[row["task_id"]]
            assert row["tokens"] is None or row["tokens"] > 0
    assert n_calls > 50


def test_export_sft_rewrites_the_stored_set_unchanged(graph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture) -> None:
    _, db, _, _, _ = graph
    home = use_writ_home(tmp_path, monkeypatch)
    home.mkdir()
    shutil.copy(db, home / "writ.duckdb")
    with connect(db, read_only=True) as con:
        info = latest_sft_set(con)
    out = tmp_path / "export"
    assert main(["export-sft", "--out", str(out)]) == 0
    assert info.sft_version in capsys.readouterr().err
    for name in ("train.parquet", "validation.parquet"):
        assert pq.read_table(out / name).equals(pq.read_table(Path(info.directory) / name)), name
    assert (out / "README.md").read_text() == (Path(info.directory) / "README.md").read_text()
    assert main(["export-sft", "--out", str(tmp_path / "v"), "--version", info.sft_version]) == 0
    assert pq.read_table(tmp_path / "v" / "train.parquet").equals(pq.read_table(info.train_path))
    capsys.readouterr()

    assert main(["export-sft", "--out", str(out), "--version", "0000000000000000"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "writ: error: no stored SFT set '0000000000000000'"
