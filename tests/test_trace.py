"""Acceptance 4: `writ trace` resolves every SFT row of the default run, and SQL gives the same chain.

Runs the real `writ run --until sft` (subprocess, temporary WRIT_HOME), then traces every row
of the SFT set it built: the chain must lead to the row's trajectory, its user script and
the task stored for it, with the task's entities present in the installed τ²-bench domain
DB (looked up here independently of the code under test), and the `sft_lineage` view must
return the same chain.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from writ_testing import DEFAULT_RUN_ARGS, default_run_home, use_writ_home, writ_cli, writ_main

from writ_dagster.cli import main
from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.storage.schema import connect
from writ_dagster.core.storage.sft import latest_sft_set, sft_rows_frame

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_run_home(tmp_path_factory, *DEFAULT_RUN_ARGS)


@pytest.fixture(scope="module")
def stored(default_home: Path) -> dict:
    """The default run's SFT rows, lineage view rows, trajectories, scripts and tasks, read with plain SQL."""
    with connect(default_home / "writ.duckdb", read_only=True) as con:
        info = latest_sft_set(con)
        rows = sft_rows_frame(con, info.sft_version).drop("messages_json", "tools_json")
        view = {r["row_id"]: r for r in con.sql("select * from sft_lineage where sft_version = ?",
                                                params=[info.sft_version]).pl().iter_rows(named=True)}
        trajs = {r["trajectory_id"]: r for r in con.sql(
            "select trajectory_id, task_id, script_id, seed, partition, reward, agent_name, user_name, lineage_json "
            "from trajectories").pl().iter_rows(named=True)}
        scripts = {r["script_id"]: r for r in con.sql(
            "select script_id, task_id, variant, has_user_script from user_scripts").pl().iter_rows(named=True)}
        tasks = {r["task_id"]: r for r in con.sql(
            "select task_id, domain, user_id, content_hash, sources_json, gold_actions_json from tasks").pl()
            .iter_rows(named=True)}
        used = {"checkpoints": sorted(r[0] for r in con.execute(
            "select checkpoint_id from checkpoints where sft_version = ?", [info.sft_version]).fetchall())
            if con.execute("select count(*) from information_schema.tables where table_name = 'checkpoints'")
            .fetchone()[0] else []}
        used["evaluations"] = sorted({r[0] for r in con.execute(
            "select evaluation_id from evaluations where checkpoint_id in (select unnest(?::VARCHAR[]))",
            [used["checkpoints"]]).fetchall()}) if used["checkpoints"] else []
    return {"info": info, "rows": list(rows.iter_rows(named=True)), "view": view, "trajectories": trajs,
            "scripts": scripts, "tasks": tasks, "used": used}


def _in_domain_db(domain: str, user_id: str, entity: str) -> bool:
    """Independent check that a 'table:key' entity is in the domain DB (payment methods live in the user)."""
    table, _, key = entity.partition(":")
    db = get_domain(domain).base.db  # tau2's own DB model
    if table == "payment_methods":
        return key in db.users[user_id].payment_methods
    return key in getattr(db, table)


def test_run_until_sft_stored_a_set_and_said_so(default_home: Path, stored) -> None:
    out = (default_home / "run-stdout.txt").read_text()
    info = stored["info"]
    [line] = [line for line in out.splitlines() if line.startswith("sft: ")]
    assert f"set {info.sft_version}: {info.n_train + info.n_validation} rows" in line
    assert "checks: sft_lineage_resolves ok, sft_split_by_task ok" in line
    assert info.n_train + info.n_validation == len(stored["rows"]) >= 20
    # every conversation (2 domains x 60 tasks x 2 scripts) is a row or dropped by a named filter, e.g. the
    # ones longer than the training recipe's max_length
    assert len(stored["rows"]) + sum(info.dropped.values()) == info.considered >= 200
    assert Path(info.directory) == default_home / "sft" / info.sft_version


def test_trace_resolves_every_sft_row_of_the_default_run(default_home: Path, stored, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WRIT_HOME", str(default_home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    info, view = stored["info"], stored["view"]
    assert set(view) == {r["row_id"] for r in stored["rows"]}  # the SQL view resolves every row too
    for row in stored["rows"]:
        assert main(["trace", row["row_id"], "--json"]) == 0
        chain = json.loads(capsys.readouterr().out)
        traj = stored["trajectories"][row["trajectory_id"]]
        task = stored["tasks"][row["task_id"]]
        script = stored["scripts"][row["script_id"]]
        lineage, sources = json.loads(traj["lineage_json"]), json.loads(task["sources_json"])
        # the chain leads to the right records ...
        assert chain["sft"]["row_id"] == row["row_id"] and chain["sft"]["sft_version"] == info.sft_version
        assert chain["sft"]["config_hash"] == info.config_hash and chain["sft"]["split"] == row["split"]
        assert chain["trajectory"]["trajectory_id"] == row["trajectory_id"]
        assert chain["script"]["script_id"] == row["script_id"] == traj["script_id"]
        assert chain["task"]["task_id"] == row["task_id"] == traj["task_id"] == script["task_id"]
        assert chain["task"]["content_hash"] == task["content_hash"] == lineage["task_content_hash"]
        assert chain["trajectory"]["seed"] == traj["seed"] and chain["trajectory"]["partition"] == traj["partition"]
        assert chain["trajectory"]["agent"]["name"] == traj["agent_name"]
        assert chain["trajectory"]["user"]["name"] == traj["user_name"]
        assert chain["trajectory"]["code_version"] == lineage["code_version"]
        assert chain["script"]["has_user_script"] == script["has_user_script"] == row["has_user_script"]
        assert (chain["task"]["seed"], chain["task"]["config_hash"], chain["task"]["code_version"],
                chain["task"]["tau2_version"]) == (sources["seed"], sources["config_hash"], sources["code_version"],
                                                   sources["tau2_version"])
        # ... down to DB entities that exist in the installed domain DB
        assert [e["entity"] for e in chain["entities"]] == sources["entities"]
        assert f"users:{task['user_id']}" in sources["entities"]
        for e in chain["entities"]:
            assert e["found"] is True, (row["row_id"], e)
            assert _in_domain_db(task["domain"], task["user_id"], e["entity"]), (row["row_id"], e)
        # and SQL says the same
        v = view[row["row_id"]]
        assert (v["trajectory_id"], v["script_id"], v["task_id"]) == (row["trajectory_id"], row["script_id"],
                                                                      row["task_id"])
        assert (v["seed"], v["partition"], v["sft_config_hash"], v["task_config_hash"], v["task_seed"],
                v["trajectory_code_version"], v["task_code_version"], v["agent_name"], v["user_name"]) == (
            chain["trajectory"]["seed"], chain["trajectory"]["partition"], chain["sft"]["config_hash"],
            chain["task"]["config_hash"], chain["task"]["seed"], chain["trajectory"]["code_version"],
            chain["task"]["code_version"], chain["trajectory"]["agent"]["name"], chain["trajectory"]["user"]["name"])
        assert list(v["task_entities"]) == sources["entities"]
        # the gold writes, what the plan does with each entity, and what was trained and scored on the row
        gold = json.loads(task["gold_actions_json"])
        writes = [g for g in gold if g["kind"] == "write"]
        assert [w.split("(")[0] for w in chain["task"]["gold_writes"]] == [g["name"] for g in writes]
        written = json.dumps([g["arguments"] for g in writes])
        for e in chain["entities"]:
            key = e["entity"].split(":", 1)[1]
            assert (e["role"] == "written") == (f'"{key}"' in written), (row["row_id"], e)
        assert (chain["checkpoints"], chain["evaluations"]) == (stored["used"]["checkpoints"],
                                                                stored["used"]["evaluations"])


def test_trace_in_a_real_process_by_row_and_by_trajectory(default_home: Path, stored) -> None:
    row = next(r for r in stored["rows"] if r["has_user_script"])
    text = writ_cli(default_home, "trace", row["row_id"], timeout=120)
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert out.startswith(f"SFT row {row['row_id']}\n")
    for needle in (f"trajectory {row['trajectory_id']}", f"user script {row['script_id']}", "scripted",
                   f"task {row['task_id']}", "DB entities", f"users:{stored['tasks'][row['task_id']]['user_id']} ("):
        assert needle in out, needle
    gold = json.loads(stored["tasks"][row["task_id"]]["gold_actions_json"])
    assert out.count("\n  gold write: ") == sum(g["kind"] == "write" for g in gold)
    assert "NOT in the domain DB" not in out

    with_config = writ_main(default_home, "trace", row["row_id"], "--config", "--no-db")
    assert with_config.returncode == 0, with_config.stderr
    sections = with_config.stdout.split("\nsynthesis settings\n", 1)[1]
    assert "  tasks_per_batch: 60\n" in sections and "\nsimulation settings\n" in sections
    assert "\nsft settings\n" in sections and "  min_reward: 1.0\n" in sections

    by_traj = writ_cli(default_home, "trace", row["trajectory_id"], "--json", "--no-db", timeout=120)
    assert by_traj.returncode == 0, by_traj.stderr
    chain = json.loads(by_traj.stdout)
    assert chain["sft"] is None and chain["sft_rows"] == [row["row_id"]]
    assert chain["task"]["task_id"] == row["task_id"] and all(e["found"] is None for e in chain["entities"])


def test_unknown_id_is_one_line_and_exit_2(default_home: Path) -> None:
    for bad in ("traj-nope", f"{'0' * 16}/traj-nope"):
        run = writ_main(default_home, "trace", bad)
        assert run.returncode == 2 and run.stdout == ""
        assert run.stderr.count("\n") == 1 and run.stderr.startswith("writ: error: no ") and bad in run.stderr


def test_run_until_trajectories_stops_before_sft(tmp_path: Path, monkeypatch, capsys) -> None:
    home = use_writ_home(tmp_path, monkeypatch)
    args = ["run", "--domain", "retail", "--tasks-per-batch", "3"]
    assert main([*args, "--until", "trajectories"]) == 0
    out = capsys.readouterr().out
    assert "retail/b0000: trajectories: 6 conversations" in out and "sft:" not in out
    with connect(home / "writ.duckdb", read_only=True) as con:
        assert latest_sft_set(con) is None
    assert main(["trace", "traj-anything"]) == 2  # no SFT row, no such trajectory
    # a later run goes on to the SFT set (the partition is kept, not re-simulated); `--until sft`, not the
    # default whole graph: fine-tuning and evaluation are the default run's to prove (test_evaluation.py)
    assert main([*args, "--until", "sft"]) == 0
    out = capsys.readouterr().out
    assert "(0 simulated, 6 kept)" in out and "sft: set " in out and "from 6 trajectories" in out


def test_bad_sft_settings_in_the_config_file_are_refused(tmp_path: Path, monkeypatch, capsys) -> None:
    home = use_writ_home(tmp_path, monkeypatch)
    for sft, message in (({"targets": {"airline/chatty/plain": 1}}, "invalid SFT config: targets: mixture cell"),
                         ({"validation_fraction": 1}, "invalid SFT config: validation_fraction"),
                         ([1], "'sft' must be a mapping")):
        config = tmp_path / "config.json"
        config.write_text(json.dumps({"sft": sft}))
        assert main(["run", "--config", str(config)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert not home.exists()  # refused before anything was written


def test_kept_trajectories_name_the_configs_of_the_run_that_kept_them(tmp_path: Path, monkeypatch, capsys) -> None:
    """Issue 12.9: a config change that leaves the tasks and conversations as they were keeps the stored
    trajectories; their lineage then names the new task and simulation configs, not the first run's."""
    from writ_dagster.core.simulation.settings import TrajectoryConfig
    from writ_dagster.core.tasks.models import SynthesisConfig

    use_writ_home(tmp_path, monkeypatch)
    args = ["run", "--domain", "airline", "--tasks-per-batch", "3", "--variants", "1", "--until", "trajectories"]
    assert main(args) == 0
    config = tmp_path / "changed.yaml"  # more synthesis attempts allowed, two attempts per conversation
    config.write_text("max_attempts_per_task: 30\nsimulation:\n  attempts: 2\n")
    assert main([*args, "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "airline/b0000: trajectories: 3 conversations (0 simulated, 3 kept)" in out, out
    task_hash = SynthesisConfig(tasks_per_batch=3, max_attempts_per_task=30).content_hash()
    simulation_hash = TrajectoryConfig(variants=1, attempts=2).content_hash()
    assert simulation_hash != TrajectoryConfig(variants=1).content_hash()
    with connect(tmp_path / "writ-home" / "writ.duckdb", read_only=True) as con:
        ids = [r[0] for r in con.execute("SELECT trajectory_id FROM trajectories").fetchall()]
    assert len(ids) == 3
    for trajectory_id in ids:
        assert main(["trace", trajectory_id, "--json", "--no-db"]) == 0
        chain = json.loads(capsys.readouterr().out)
        assert chain["task"]["config_hash"] == task_hash
        assert chain["trajectory"]["simulation_config_hash"] == simulation_hash
