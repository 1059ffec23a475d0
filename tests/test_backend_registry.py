"""Backends by name: built-ins, one registered from outside (async), plugins that fail, worker processes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from writ_testing import SMALL, small_airline_batches

from writ_dagster.core.simulation import OracleAgent, registry
from writ_dagster.core.simulation.settings import TrajectoryConfig
from writ_dagster.core.stages.trajectories import run_trajectories
from writ_dagster.core.stages.user_scripts import run_user_scripts
from writ_dagster.core.storage.runs import read_stage_run
from writ_dagster.core.storage.schema import connect
from writ_dagster.core.storage.tasks import write_partition
from writ_dagster.core.storage.trajectories import read_trajectories


class AsyncOracle:
    """An async backend, shaped like an OpenAI-compatible client, that answers as the oracle does."""

    kind = "llm"

    def __init__(self, model: str = "fake-model", temperature: float = 0.0, api_key_env: str = "") -> None:
        self.name, self.sampling = model, {"temperature": temperature}
        self.oracle = OracleAgent()

    async def respond(self, view):
        return self.oracle.respond(view)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        batch = small_airline_batches()["b0000"]
        batch = batch.model_copy(update={"tasks": batch.tasks[:4]})
        write_partition(con, batch, SMALL)
        run_user_scripts(con, "airline", "b0000", TrajectoryConfig(variants=2))
    return path


def test_builtins_and_roles() -> None:
    assert "scripted-oracle" in registry.backend_names("agent")
    assert "scripted-user" in registry.backend_names("user")
    assert "scripted-user" not in registry.backend_names("agent")
    assert registry.create_backend("scripted-oracle", "agent").name == "scripted-oracle-agent"
    with pytest.raises(ValueError, match="takes no options"):
        registry.create_backend("scripted-user", "user", {"temperature": 1})
    with pytest.raises(registry.UnknownBackendError,
                       match="unknown agent backend 'scripted-user'; known: .*scripted-oracle"):
        registry.get_backend_spec("scripted-user", "agent")
    with pytest.raises(ValidationError, match="unknown user backend 'nobody'"):
        TrajectoryConfig(user_backend="nobody")
    with pytest.raises(ValueError, match="already registered"):
        registry.register_backend("scripted-oracle", OracleAgent)


def test_a_backend_registered_later_is_selected_by_name(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._REGISTRY, "test-async", registry.BackendSpec(
        "test-async", AsyncOracle, frozenset({"agent"})))
    config = TrajectoryConfig(agent_backend="test-async", agent_options={"model": "m-1", "temperature": 0.5,
                                                                          "api_key_env": "WRIT_TEST_KEY"},
                              max_concurrency=3)
    with pytest.raises(ValidationError, match="agent_options.api_key is a literal secret"):
        TrajectoryConfig(agent_backend="test-async", agent_options={"api_key": "sk-secret"})
    with connect(db) as con:
        scripted = run_trajectories(con, "airline", "b0000", TrajectoryConfig())
        reference = {r.script_id: r for r in read_trajectories(con, "airline", "b0000")}
        result = run_trajectories(con, "airline", "b0000", config)
        records = read_trajectories(con, "airline", "b0000")
        stored_config = read_stage_run(con, "trajectories", "airline", "b0000").config_json
    # A changed backend is a changed input: nothing of the scripted run is kept as "done".
    assert scripted.planned == result.planned == result.simulated == result.pruned == 8 and result.kept == 0
    assert all(r.agent.name == "m-1" and r.agent.kind == "llm" and r.agent.sampling == {"temperature": 0.5}
               for r in records)
    assert all(r.messages == reference[r.script_id].messages and r.reward == 1.0 for r in records)
    # the variable's name is no secret (only secret-looking settings are masked); its value is never stored
    assert '"api_key_env": "WRIT_TEST_KEY"' in stored_config


def test_a_broken_plugin_is_named_and_does_not_break_the_builtins(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    (tmp_path / "writ_broken_plugin.py").write_text("import a_module_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "PLUGIN_MODULES", ("writ_broken_plugin", "writ_absent_plugin"))
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.setattr(registry, "_plugin_errors", [])
    assert registry.get_backend_spec("scripted-oracle", "agent").name == "scripted-oracle"
    with pytest.raises(registry.UnknownBackendError) as exc:
        registry.get_backend_spec("vllm", "agent")
    assert "writ_broken_plugin" in str(exc.value) and "a_module_that_is_not_installed" in str(exc.value)
    assert "writ_absent_plugin" not in str(exc.value)  # simply not installed: not an error


def test_worker_processes_give_the_same_rows(db: Path) -> None:
    with connect(db) as con:
        run_trajectories(con, "airline", "b0000", TrajectoryConfig())
        one = {r.trajectory_id: r.content_hash() for r in read_trajectories(con, "airline", "b0000")}
        result = run_trajectories(con, "airline", "b0000", TrajectoryConfig(workers=2, resume=False))
        two = {r.trajectory_id: r.content_hash() for r in read_trajectories(con, "airline", "b0000")}
    assert result.simulated == 8 and one == two
