"""The ``teacher`` and ``user_simulator`` resources: scripted by default, validated options, a model
in the agent role of ``trajectories`` through an OpenAI-compatible endpoint, and the refusal of a
role this machine cannot play. (A managed vLLM server's lifecycle: tests/test_model_roles_vllm.py.)
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import dagster as dg
import pytest
from pydantic import ValidationError

from writ_dagster.assets import tasks, trajectories, user_scripts
from writ_dagster.core.simulation.settings import TrajectoryConfig
from writ_dagster.core.storage.runs import read_stage_run
from writ_dagster.core.storage.schema import connect
from writ_dagster.core.storage.trajectories import read_trajectories
from writ_dagster.partitions import BATCH_PARTITIONS_NAME, domain_batch_key
from writ_dagster.resources import ModelRole, SimulationSettings, SynthesisSettings, WritStorage
from writ_dagster.resources.llm import VLLMServerResource
from writ_dagster.resources.roles import trajectory_backends


def test_definitions_carry_scripted_roles_and_trajectories_is_in_the_gpu_pool() -> None:
    from writ_dagster.definitions import build_definitions

    defs = build_definitions()
    assert {"teacher", "user_simulator"} <= set(defs.resolve_job_def("partition_job").resource_defs)
    for role in ("teacher", "user_simulator"):
        resource = defs.resources[role]
        assert isinstance(resource, ModelRole) and resource.kind == "scripted" and not resource.configured
    assert defs.resolve_assets_def("trajectories").op.pool == "gpu"
    config = TrajectoryConfig()
    assert trajectory_backends(config, ModelRole(), ModelRole()) == (config, None, None)  # default untouched


def test_role_options_are_the_resource_class_fields() -> None:
    role = ModelRole(kind="vllm-server", options={"model": "org/big", "tensor_parallel_size": 4,
                                                  "data_parallel_size": 2, "cuda_visible_devices": "0,1,2,3,4,5,6,7"})
    spec = role.spec()
    assert isinstance(spec, VLLMServerResource) and role.gpus_needed() == 8
    config = spec.server_config()
    cmd = config.command(8000)
    assert cmd[cmd.index("--tensor-parallel-size") + 1] == "4" and cmd[cmd.index("--data-parallel-size") + 1] == "2"
    assert config.env["CUDA_VISIBLE_DEVICES"] == "0,1,2,3,4,5,6,7"
    with pytest.raises(ValueError, match="tensor_paralel_size"):
        ModelRole(kind="vllm-server", options={"tensor_paralel_size": 2}).spec()
    with pytest.raises(ValidationError, match="tensor_parallel_size"):
        ModelRole(kind="vllm-server", options={"tensor_parallel_size": "many"}).spec()
    with pytest.raises(ValueError, match="has no option"):
        ModelRole(kind="teacher", options={"model": "x"}).spec()
    with pytest.raises(ValidationError):
        ModelRole(kind="ollama")


def test_a_role_set_twice_or_teacher_as_agent_is_refused() -> None:
    endpoint = ModelRole(kind="openai-compatible", options={"base_urls": ["http://127.0.0.1:9/v1"], "model": "m"})
    twice = TrajectoryConfig(agent_backend="openai-compatible", agent_options={"model": "m"})
    with pytest.raises(ValueError, match="set twice"):
        trajectory_backends(twice, endpoint, ModelRole())
    with pytest.raises(ValueError, match="user_simulator resource only"):
        trajectory_backends(TrajectoryConfig(), ModelRole(kind="teacher"), ModelRole())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_missing_names_the_gpus_and_endpoints_this_machine_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    server = ModelRole(kind="vllm-server", device="gpu", options={"model": "org/big", "tensor_parallel_size": 8})
    assert any("needs 8 GPUs, 0 visible" in m for m in server.missing("teacher"))
    assert not any("GPU" in m for m in ModelRole(kind="vllm-server").missing("teacher"))  # auto: no GPU check
    empty = ModelRole(kind="openai-compatible", options={"base_urls": [], "model": "m"})
    assert empty.missing("teacher") == ["teacher: no endpoint (options.base_urls is empty)"]
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    down = ModelRole(kind="openai-compatible", options={"base_urls": [url], "model": "m"})
    [line] = down.missing("teacher")
    assert line.startswith(f"teacher: endpoint {url} does not answer")
    keyless = ModelRole(kind="openai-compatible", options={"base_urls": [url], "model": "m",
                                                          "api_key_env": "WRIT_TEST_UNSET_KEY"})
    monkeypatch.delenv("WRIT_TEST_UNSET_KEY", raising=False)
    assert keyless.missing("teacher") == ["teacher: the endpoint's key variable WRIT_TEST_UNSET_KEY is not set"]
    assert ModelRole(kind="teacher").missing("user_simulator", ModelRole()) == [
        "user_simulator: kind 'teacher' needs a configured teacher (no teacher model)"]


def test_an_endpoint_teacher_plays_the_agent_of_a_partition(tmp_path: Path) -> None:
    """The asset takes its agent from the teacher resource; rows and stored settings say so."""
    pytest.importorskip("openai")
    from llm_fakes import LoopbackServer, fake_openai_app

    app, seen = fake_openai_app(lambda body: {"content": "I am sorry, I cannot help with that."})
    db = tmp_path / "w.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, ["b0000"])
    with LoopbackServer(app) as server:
        teacher = ModelRole(kind="openai-compatible", options={"base_urls": [server.base_url],
                                                               "model": "fake-teacher", "max_tokens": 64})
        result = dg.materialize(
            [tasks, user_scripts, trajectories], partition_key=domain_batch_key("retail", "b0000"),
            instance=instance,
            resources={"storage": WritStorage(database=str(db)), "synthesis": SynthesisSettings(tasks_per_batch=2),
                       "simulation": SimulationSettings(variants=1, max_steps=8), "teacher": teacher,
                       "user_simulator": ModelRole(), "user_rewriter": ModelRole()})
    assert result.success
    with connect(db, read_only=True) as con:
        records = read_trajectories(con, "retail", "b0000")
        run = read_stage_run(con, "trajectories", "retail", "b0000")
    assert len(records) == 2 and seen
    assert {r.agent.name for r in records} == {"openai:fake-teacher"} and {r.agent.kind for r in records} == {"llm"}
    assert {r.user.kind for r in records} == {"scripted"}
    stored = json.loads(run.config_json)
    assert stored["agent_backend"] == "openai-compatible" and stored["user_backend"] == "scripted-user"
    assert stored["agent_options"]["resource"] == "openai-compatible"
    assert stored["agent_options"]["base_urls"] == [server.base_url]
    [mat] = result.asset_materializations_for_node("trajectories")
    assert mat.metadata["agent_backend"].value == "openai-compatible"
