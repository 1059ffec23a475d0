"""WRIT_HOME, the DuckDB path and Dagster's home; the batch-key format; the UI's report tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from writ_testing import small_airline_batches

from writ_dagster import instance
from writ_dagster.core import home
from writ_dagster.core.keys import BadKeyError, batch_key, check_batch_key
from writ_dagster.core.tasks.models import BatchResult
from writ_dagster.core.tasks.reporting import burden_bucket, joint_counts, joint_table_markdown


@pytest.fixture
def small_airline() -> dict[str, BatchResult]:
    return small_airline_batches()


def test_defaults_live_under_dot_writ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WRIT_HOME", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert home.writ_home() == tmp_path.resolve() / ".writ"
    assert home.duckdb_path() == tmp_path.resolve() / ".writ" / "writ.duckdb"
    assert instance.dagster_home() == tmp_path.resolve() / ".writ" / "dagster"


def test_env_vars_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRIT_HOME", str(tmp_path / "w"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "d"))
    monkeypatch.setenv("WRIT_UPSTREAM_TASKS", str(tmp_path / "up"))
    assert home.duckdb_path() == tmp_path / "w" / "writ.duckdb"
    assert instance.dagster_home() == tmp_path / "d"
    assert home.upstream_tasks_dir() == str(tmp_path / "up")
    monkeypatch.setenv("WRIT_UPSTREAM_TASKS", "")
    assert home.upstream_tasks_dir() is None


def test_ensure_dagster_home_keeps_an_existing_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRIT_HOME", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    created = instance.ensure_dagster_home()
    assert created == tmp_path / "dagster"
    assert "max_concurrent_runs: 1" in (created / "dagster.yaml").read_text()
    (created / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    instance.ensure_dagster_home()
    assert (created / "dagster.yaml").read_text() == "telemetry:\n  enabled: true\n"


def test_batch_keys() -> None:
    assert batch_key(7) == "b0007" == check_batch_key("b0007")
    for bad in ("b7", "B0007", "b0007|airline", "t0000", ""):
        with pytest.raises(BadKeyError):
            check_batch_key(bad)


def test_joint_table_counts_every_task_once(small_airline: dict[str, BatchResult]) -> None:
    tasks = small_airline["b0000"].tasks
    assert sum(joint_counts(tasks).values()) == len(tasks)
    assert joint_table_markdown(tasks).splitlines()[-1].endswith(f"| {len(tasks)} |")
    assert [burden_bucket(n) for n in (0, 1, 2, 5, 6, 8, 9, 40)] == ["0-1", "0-1", "2-3", "4-5", "6-8", "6-8",
                                                                    "9+", "9+"]
