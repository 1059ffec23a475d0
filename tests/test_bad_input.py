"""Bad input ends with one clear line on stderr and exit code 2, and leaves stored rows intact."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg
import pytest
from writ_testing import use_writ_home

from writ_dagster.cli import EXIT_BAD_INPUT, main
from writ_dagster.core.tasks.composers import get_composer


@pytest.fixture
def writ_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_writ_home(tmp_path, monkeypatch)

RUN = ["run", "--domain", "airline", "--tasks-per-batch", "8", "--until", "sft"]


def snapshot(db: Path) -> list[tuple]:
    """Every row of every WRIT table, written_at included."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        out = []
        for table in ("tasks", "task_rejections", "partition_runs", "domain_catalogue", "domain_info",
                      "user_scripts", "trajectories", "stage_runs", "sft_sets", "sft_rows", "checkpoints",
                      "evaluations"):
            out.append((table, con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()))
        return out
    finally:
        con.close()


def run_count(home: Path) -> int:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        return len(instance.get_runs())


def bad_inputs(tmp_path: Path) -> list[tuple[list[str], str]]:
    too_many = get_composer("airline").max_writes + 1
    zero_writes = tmp_path / "zero.json"
    zero_writes.write_text(json.dumps({"max_writes": 0}))
    unknown_field = tmp_path / "unknown.json"
    unknown_field.write_text(json.dumps({"tasks_per_batches": 3}))
    broken_yaml = tmp_path / "broken.yaml"
    broken_yaml.write_text("seed: [1, 2\n")
    no_upstream = tmp_path / "no_upstream.json"
    no_upstream.write_text(json.dumps({"upstream_tasks_dir": str(tmp_path / "absent")}))
    zero_variants = tmp_path / "zero_variants.yaml"
    zero_variants.write_text("tasks_per_batch: 8\nsimulation:\n  variants: 0\n")
    bad_simulation = tmp_path / "bad_simulation.json"
    bad_simulation.write_text(json.dumps({"simulation": [1, 2]}))
    unknown_simulation = tmp_path / "unknown_simulation.json"
    unknown_simulation.write_text(json.dumps({"simulation": {"varients": 3}}))
    unknown_recipe = tmp_path / "unknown_recipe.yaml"
    unknown_recipe.write_text("training:\n  recipe: gpu-qwen9\n")
    bad_override = tmp_path / "bad_override.yaml"
    bad_override.write_text("training:\n  overrides: {learning_rate: -1}\n")
    no_trials = tmp_path / "no_trials.yaml"
    no_trials.write_text("evaluation:\n  num_trials: 0\n")
    unknown_eval_domain = tmp_path / "unknown_eval_domain.yaml"
    unknown_eval_domain.write_text("evaluation:\n  domains: [telecom-x]\n")
    export_t = ["export-trajectories", "--domain", "airline"]
    return [
        (["run", "--domain", "nowhere"], "unknown domain 'nowhere'"),
        (RUN + ["--batch", "b0|01"], "bad batch key"),
        (RUN + ["--batch", ""], "bad batch key"),
        (RUN + ["--max-writes", "0"], "max_writes must be at least 1"),
        (RUN + ["--config", str(zero_writes)], "max_writes must be at least 1"),
        (RUN + ["--config", str(unknown_field)], "tasks_per_batches"),
        (RUN + ["--config", str(tmp_path / "missing.json")], "cannot read config file"),
        (RUN + ["--config", str(broken_yaml)], "does not parse"),
        (RUN + ["--config", str(no_upstream)], "is not a directory"),
        (RUN + ["--tasks-per-batch", "-3"], "tasks_per_batch must be at least 1"),
        (RUN + ["--max-attempts-per-task", "-1"], "max_attempts_per_task must be at least 1"),
        (RUN + ["--min-writes", "4", "--max-writes", "2"], "below min_writes"),
        (RUN + ["--max-writes", str(too_many)], f"max_writes={too_many} exceeds"),
        (["export-tasks", "--domain", "nowhere", "--out", str(tmp_path / "x.json")], "unknown domain"),
        (["export-tasks", "--domain", "airline", "--partition", "b0007", "--out", str(tmp_path / "x.json")],
         "partition 'b0007' of airline is not stored"),
        (["export-tasks", "--domain", "airline", "--partition", "../b", "--out", str(tmp_path / "x.json")],
         "bad batch key"),
        (["export-tasks", "--domain", "airline", "--out", str(tmp_path / "blocker" / "x.json")], "cannot write"),
        (RUN + ["--variants", "0"], "variants must be at least 1"),
        (RUN + ["--max-concurrency", "-4"], "max_concurrency must be at least 1"),
        (RUN + ["--workers", "0"], "workers must be at least 1"),
        (RUN + ["--agent-backend", "gpt-nothing"], "unknown agent backend 'gpt-nothing'; known: openai-compatible, scripted-oracle, vllm-offline"),
        (RUN + ["--user-backend", "scripted-oracle"], "unknown user backend 'scripted-oracle'"),
        (RUN + ["--config", str(zero_variants)], "invalid simulation config: variants: variants must be at least 1"),
        (RUN + ["--config", str(bad_simulation)], "'simulation' must be a mapping"),
        (RUN + ["--config", str(unknown_simulation)], "varients"),
        (RUN + ["--config", str(unknown_recipe)], "unknown training recipe 'gpu-qwen9'"),
        (RUN + ["--config", str(bad_override)], "invalid training settings"),
        (RUN + ["--config", str(no_trials)], "invalid evaluation settings"),
        (RUN + ["--config", str(unknown_eval_domain)], "telecom-x"),
        (["export-trajectories", "--domain", "nowhere", "--out", str(tmp_path / "x.json")], "unknown domain"),
        (export_t + ["--partition", "b0007", "--out", str(tmp_path / "x.json")],
         "no stored trajectories for partition 'b0007' of airline (stored: b0000)"),
        (export_t + ["--partition", "../b", "--out", str(tmp_path / "x.json")], "bad batch key"),
        (["export-trajectories", "--domain", "retail", "--out", str(tmp_path / "x.json")],
         "no complete trajectory partitions for retail"),
        (export_t + ["--out", str(tmp_path / "blocker" / "x.json")], "cannot write"),
    ]


def test_bad_inputs_are_refused_and_change_nothing(writ_home: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    assert main(RUN) == 0
    (tmp_path / "blocker").write_text("a file where the export wants a directory")
    db = writ_home / "writ.duckdb"
    before, runs_before = snapshot(db), run_count(writ_home)
    assert before[0][1], "the first run should have stored tasks"
    capsys.readouterr()
    for argv, expected in bad_inputs(tmp_path):
        code = main(argv)
        captured = capsys.readouterr()
        assert code == EXIT_BAD_INPUT, argv
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("writ: error: "), (argv, captured.err)
        assert expected in lines[0], (argv, lines[0])
        assert captured.out == "", argv
    assert snapshot(db) == before
    assert run_count(writ_home) == runs_before
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("content", [b"this is not a database\n", b""])
def test_unreadable_database_is_refused_untouched(writ_home: Path, tmp_path: Path, content: bytes,
                                                  capsys: pytest.CaptureFixture) -> None:
    writ_home.mkdir(parents=True)
    db = writ_home / "writ.duckdb"
    db.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    for argv in (RUN, ["export-tasks", "--domain", "airline", "--out", str(tmp_path / "x.json")],
                 ["export-trajectories", "--domain", "airline", "--out", str(tmp_path / "x.json")]):
        assert main(argv) == EXIT_BAD_INPUT
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(db) in err[0] and "not a DuckDB database file" in err[0]
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in writ_home.iterdir()) == ["writ.duckdb"]  # nothing else created


def test_export_before_any_run_names_the_missing_database(writ_home: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    assert main(["export-tasks", "--domain", "airline", "--out", str(tmp_path / "x.json")]) == EXIT_BAD_INPUT
    assert "no WRIT database at" in capsys.readouterr().err
    assert not writ_home.exists()


@pytest.mark.parametrize("argv, expected", [
    (["run", "--tasks-per-batch", "many"], "invalid int value"),
    (["run", "--variants", "two"], "invalid int value"),
    (["export-trajectories", "--domain", "airline", "--format", "csv", "--out", "x.json"], "invalid choice: 'csv'"),
])
def test_argparse_errors_exit_2(argv: list[str], expected: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == EXIT_BAD_INPUT
    assert expected in capsys.readouterr().err


def test_an_interrupted_partition_is_not_exported(writ_home: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    """Rows without their stage-run row are what a killed run leaves: export refuses them, says how to finish."""
    import duckdb

    assert main(RUN + ["--variants", "1"]) == 0
    con = duckdb.connect(str(writ_home / "writ.duckdb"))
    con.execute("DELETE FROM stage_runs WHERE stage = 'trajectories'")
    con.close()
    capsys.readouterr()
    out = tmp_path / "x.json"
    assert main(["export-trajectories", "--domain", "airline", "--partition", "b0000", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "incomplete" in err[0] and "writ run --domain airline --batch b0000" in err[0]
    assert main(["export-trajectories", "--domain", "airline", "--out", str(out)]) == 2
    assert "no complete trajectory partitions for airline" in capsys.readouterr().err
    assert not out.exists()


def test_trajectories_of_replaced_tasks_are_not_exported(writ_home: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    """After `tasks` alone is re-made with other settings, the stored conversations belong to other tasks."""
    from writ_dagster.core.storage.schema import connect
    from writ_dagster.core.storage.tasks import write_partition
    from writ_dagster.core.tasks.models import SynthesisConfig
    from writ_dagster.core.tasks.synthesis import Synthesizer

    assert main(RUN + ["--variants", "1"]) == 0
    config = SynthesisConfig(tasks_per_batch=8, seed=5)
    with connect(writ_home / "writ.duckdb") as con:
        write_partition(con, Synthesizer("airline", config).synthesize("b0000"), config)
    capsys.readouterr()
    out = tmp_path / "x.json"
    assert main(["export-trajectories", "--domain", "airline", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "made from other tasks" in err[0] and not out.exists()
