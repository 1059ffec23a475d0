"""A managed vLLM teacher's lifecycle in real Dagster runs (vLLM's CPU build, the tiny model):
started once for a run whose steps use it, playing the agent of `trajectories`, and its whole
process group gone after the run, both when the run succeeds and when a step fails.

Slow (two vLLM server starts, ~40 s each here) and skipped where vllm is not installed.
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
from writ_dagster.core.storage.schema import connect  # noqa: E402
from writ_dagster.core.llm.vllm_server import group_members  # noqa: E402
from writ_dagster.core.storage.trajectories import read_trajectories  # noqa: E402
from writ_dagster.partitions import BATCH_PARTITIONS_NAME, domain_batch_key, domain_batch_partitions  # noqa: E402
from writ_dagster.resources import ModelRole, SimulationSettings, SynthesisSettings, WritStorage  # noqa: E402

SEEN: list[tuple[str, int, str]] = []  # (step, server pid, served model name), as the steps saw them


def _note(step: str, teacher: ModelRole) -> None:
    server = teacher.server.server
    SEEN.append((step, server.process.pid, server.config.name))


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


def test_teacher_server_runs_once_per_run_and_stops_after_success_and_failure(tiny_model: Path, tmp_path: Path):
    db = tmp_path / "w.duckdb"
    teacher = ModelRole(kind="vllm-server", options={"model": str(tiny_model), "temperature": 0.7, "top_p": 0.95,
                                                     "max_tokens": 96, "seed": 11, "timeout_s": 60})
    resources = {"storage": WritStorage(database=str(db)), "synthesis": SynthesisSettings(tasks_per_batch=2),
                 "simulation": SimulationSettings(variants=1, max_steps=8, max_concurrency=4),
                 "teacher": teacher, "user_simulator": ModelRole(), "user_rewriter": ModelRole()}
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, ["b0000"])
    key = domain_batch_key("retail", "b0000")

    ok = dg.materialize([tasks, user_scripts, trajectories, before, after], partition_key=key, instance=instance,
                        resources=resources)
    assert ok.success
    [(_, pid_a, name), (_, pid_b, _)] = [s for s in SEEN if s[0] in ("before", "after")]
    assert pid_a == pid_b, "the server was started again within the run"
    assert _gone(pid_a) and group_members(pid_a) == [], "the server outlived a successful run"
    with connect(db, read_only=True) as con:
        records = read_trajectories(con, "retail", "b0000")
    assert len(records) == 2
    assert {r.agent.kind for r in records} == {"llm"} and {r.agent.name for r in records} == {f"openai:{name}"}

    failed = dg.materialize([broken], partition_key=key, instance=instance, resources=resources,
                            raise_on_error=False)
    assert not failed.success
    broke = [s for s in SEEN if s[0] == "broken"]
    assert broke, f"the failing step never ran (the run ended otherwise: {failed.dagster_run.status})"
    [(_, pid_c, _)] = broke
    assert pid_c != pid_a  # a new run, a new server
    assert _gone(pid_c) and group_members(pid_c) == [], "the server outlived a failed run"
