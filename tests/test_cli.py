"""`writ run` writes into WRIT_HOME with a persistent Dagster instance; `writ export-tasks` feeds tau2."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from writ_testing import use_writ_home

from writ_dagster.cli import main
from writ_dagster.core.storage.runs import stored_partitions
from writ_dagster.core.storage.schema import connect
from writ_dagster.core.storage.scripts import user_scripts_frame
from writ_dagster.core.storage.tasks import read_tasks, tasks_frame
from writ_dagster.core.storage.trajectories import trajectories_frame
from writ_dagster.core.tasks.intent import TaskIntent
from writ_dagster.core.tasks.models import INTENT_FIELD
from writ_dagster.core.tau2_adapter import Results, Task


@pytest.fixture
def writ_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_writ_home(tmp_path, monkeypatch)


def test_run_then_export_loads_into_tau2(writ_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--domain", "airline", "--batch", "b0000", "--batch", "b0001", "--tasks-per-batch", "8",
                 "--until", "sft"]) == 0
    out = capsys.readouterr().out
    assert "airline/b0000: 8 tasks" in out and "airline/b0001: 8 tasks" in out
    assert "reverify ok" in out and "decontamination ok" in out
    assert "airline/b0001: user scripts: 16 scripts for 8 tasks (8 scripted)" in out
    assert "airline/b0001: trajectories: 16 conversations (16 simulated, 0 kept), success 100.0%" in out
    assert "rescore ok, success_rate ok, tau2_agreement ok" in out

    db = writ_home / "writ.duckdb"
    with connect(db, read_only=True) as con:
        assert stored_partitions(con, "airline") == ["b0000", "b0001"]
        stored = read_tasks(con, "airline", "b0001")

    # The runs live in the persistent instance under WRIT_HOME, where `dagster dev` finds them.
    assert (writ_home / "dagster" / "dagster.yaml").exists()
    with dg.DagsterInstance.from_config(str(writ_home / "dagster")) as instance:
        assert len(instance.get_runs()) == 4  # one catalogue run, two tasks runs, one SFT-set run
        assert set(instance.get_dynamic_partitions("batch")) == {"b0000", "b0001"}

    out_file = tmp_path / "export" / "tasks.json"
    assert main(["export-tasks", "--domain", "airline", "--partition", "b0001", "--out", str(out_file)]) == 0
    raw = json.loads(out_file.read_text())
    tasks = [Task.model_validate(t) for t in raw]
    assert [t.id for t in tasks] == [r.task_id for r in stored]
    # the stored task JSON, unchanged, and the task's intent beside it (a field τ²-bench ignores)
    assert {k: v for k, v in raw[0].items() if k != INTENT_FIELD} == stored[0].task
    assert TaskIntent.model_validate(raw[0][INTENT_FIELD]) == stored[0].intent is not None
    assert not any(v is None for t in raw for v in _walk(t))

    assert main(["export-tasks", "--domain", "airline", "--out", "-"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 16

    assert main(["export-trajectories", "--domain", "airline", "--partition", "b0001", "--out", "-"]) == 0
    results = Results.model_validate_json(capsys.readouterr().out)
    assert len(results.simulations) == 16 and {t.id for t in results.tasks} == {r.task_id for r in stored}
    assert main(["export-trajectories", "--domain", "airline", "--out", str(tmp_path / "all.json")]) == 0
    assert len(Results.load(tmp_path / "all.json").simulations) == 32


def test_rerun_of_a_partition_is_identical(writ_home: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["run", "--domain", "airline", "--tasks-per-batch", "8", "--until", "sft"]

    def stored() -> tuple:
        with connect(writ_home / "writ.duckdb", read_only=True) as con:
            return (tasks_frame(con, "airline").drop("written_at"),
                    user_scripts_frame(con, "airline").drop("written_at"),
                    trajectories_frame(con, "airline").drop("written_at", "latency_s"))

    assert main(args) == 0
    first = stored()
    assert main(args) == 0  # resumes: every trajectory is kept
    assert "16 conversations (0 simulated, 16 kept)" in capsys.readouterr().out
    assert main(args + ["--fresh"]) == 0  # re-simulates every trajectory
    assert "16 conversations (16 simulated, 0 kept)" in capsys.readouterr().out
    second = stored()
    assert [f.height for f in first] == [8, 16, 16]
    assert all(a.equals(b) for a, b in zip(first, second))


def _walk(value: object):
    if isinstance(value, dict):
        for v in value.values():
            yield v
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield v
            yield from _walk(v)


def test_dev_help_lists_host_and_port_and_passes_the_rest_on(capsys: pytest.CaptureFixture) -> None:
    """`writ dev --help` names its options; `-h` is the host (as in `dagster dev`), not help. The UI test of
    tests/test_whole_graph.py starts the real `writ dev -h 127.0.0.1 -p PORT`."""
    from writ_dagster.cli.parser import build_parser

    with pytest.raises(SystemExit) as shown:
        main(["dev", "--help"])
    out = capsys.readouterr().out
    assert shown.value.code == 0 and "-h HOST, --host HOST" in out and "-p PORT, --port PORT" in out
    args, extra = build_parser().parse_known_args(["dev", "-h", "0.0.0.0", "-p", "3999", "--log-level", "debug"])
    assert (args.host, args.port, extra) == ("0.0.0.0", 3999, ["--log-level", "debug"])
