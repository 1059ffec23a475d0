"""The simulated serving fleet (writ_dagster.rehearsal): real HTTP servers on 127.0.0.1 playing the
scripted teacher and user simulator for stored tasks.

- the OpenAI routes (/v1/models, chat completions with tools, usage) and the fleet's own (health, stats);
- at pass rate 1.0, conversations played through the real client and engine against the fleet are
  the ones the in-process scripted backends play, message for message;
- a reply is a function of the request: the same history gets the same answer from either replica,
  with its state cached or rebuilt;
- the capacity limit holds (concurrency measured at the server), faults are retried and counted, and
  leave the conversations as they were;
- reasoning (think blocks, reasoning_content) and length cuts come in the shapes the client reads;
- the catalogue reads the home while another process holds the database read-write;
- a small partition runs through the real trajectories stage with both roles on the fleet.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.home import DB_FILENAME
from writ_dagster.core.llm.openai_client import OpenAICompatibleBackend, RetryPolicy
from writ_dagster.core.llm.sampling import Sampling
from writ_dagster.core.simulation.batch import jobs_for_scripts
from writ_dagster.core.simulation.engine import Job, SimulationEngine
from writ_dagster.core.simulation.oracle import OracleAgent
from writ_dagster.core.simulation.protocol import agent_system_prompt
from writ_dagster.core.simulation.records import SimulationConfig, TrajectoryRecord
from writ_dagster.core.simulation.scripted_user import ScriptedUser
from writ_dagster.core.simulation.settings import DEFAULT_SEED
from writ_dagster.core.storage.schema import connect
from writ_dagster.core.storage.scripts import read_user_scripts, write_user_scripts
from writ_dagster.core.storage.tasks import read_tasks, write_partition
from writ_dagster.core.tasks.models import SynthesisConfig
from writ_dagster.core.tasks.synthesis import Synthesizer
from writ_dagster.core.users.scripts import make_scripts
from writ_dagster.rehearsal.catalogue import read_entries
from writ_dagster.rehearsal.config import TEACHER_MODEL, USER_MODEL, FleetConfig
from writ_dagster.rehearsal.fleet import ThreadFleet, start_fleet

DOMAIN = "retail"


def _write_home(home: Path, tasks_per_batch: int = 3, variants: int = 2) -> None:
    config = SynthesisConfig(tasks_per_batch=tasks_per_batch)
    result = Synthesizer(DOMAIN, config).synthesize("b0000")
    scripts = [s for r in result.tasks for s in make_scripts(r, variants, DEFAULT_SEED)]
    home.mkdir(parents=True, exist_ok=True)
    with connect(home / DB_FILENAME) as con:
        write_partition(con, result, config)
        write_user_scripts(con, DOMAIN, "b0000", scripts, "{}", "test")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WRIT home with 3 retail tasks and 2 scripts each (tasks and user_scripts tables only)."""
    path = tmp_path_factory.mktemp("fleet") / "home"
    _write_home(path)
    return path


def _jobs(home: Path) -> list[Job]:
    with connect(home / DB_FILENAME, read_only=True) as con:
        return jobs_for_scripts(read_tasks(con, DOMAIN), read_user_scripts(con, DOMAIN), DEFAULT_SEED)


def _play(urls: list[str], jobs: list[Job], retry: RetryPolicy | None = None, max_tokens: int = 4096,
          concurrency: int = 8) -> tuple[list[TrajectoryRecord], OpenAICompatibleBackend]:
    retry = retry or RetryPolicy(max_retries=4, backoff_s=0.01, timeout_s=30.0)
    agent = OpenAICompatibleBackend(urls, TEACHER_MODEL, sampling=Sampling(max_tokens=max_tokens), retry=retry)
    user = OpenAICompatibleBackend(urls, USER_MODEL, sampling=Sampling(max_tokens=1024), retry=retry)
    engine = SimulationEngine(agent, user, SimulationConfig(max_concurrency=concurrency))

    async def run() -> list[TrajectoryRecord]:
        out = [r async for r in engine.arun(jobs)]
        await agent.aclose()
        await user.aclose()
        return out

    records = asyncio.run(run())
    return sorted(records, key=lambda r: r.trajectory_id), agent


def _scripted(jobs: list[Job]) -> list[TrajectoryRecord]:
    records = SimulationEngine(OracleAgent(), ScriptedUser(), SimulationConfig()).run_all(jobs)
    return sorted(records, key=lambda r: r.trajectory_id)


def _said(record: TrajectoryRecord) -> list[tuple[Any, ...]]:
    """What each message said (no usage, raw data or timing)."""
    return [(m["role"], m.get("content"), json.dumps(m.get("tool_calls"), sort_keys=True), m.get("id"))
            for m in record.messages]


def _openai(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored tau2 message dicts as the agent's OpenAI chat messages."""
    out = []
    for m in messages:
        if m["role"] == "tool":
            out.append({"role": "tool", "content": m["content"], "tool_call_id": m["id"]})
        elif m["role"] == "assistant":
            calls = [{"id": c["id"], "type": "function",
                      "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
                     for c in m.get("tool_calls") or []]
            out.append({"role": "assistant", "content": m.get("content"), "tool_calls": calls or None})
        else:
            out.append({"role": "user", "content": m["content"]})
    return out


@pytest.mark.timeout(120)
def test_routes_models_health_and_a_tool_call_with_usage(home: Path) -> None:
    with ThreadFleet(home, {"replica_count": 2, "time_scale": 0.0}) as fleet:
        root = fleet.base_urls[0][: -len("/v1")]
        models = httpx.get(fleet.base_urls[1] + "/models").json()
        assert [m["id"] for m in models["data"]] == [TEACHER_MODEL, USER_MODEL]
        assert httpx.get(root + "/health").json()["status"] == "ok"
        # a conversation whose user has told who they are: the teacher looks them up with a tool call
        job = _jobs(home)[0]
        [record] = _scripted([job])
        first_call = next(i for i, m in enumerate(record.messages) if m.get("tool_calls"))
        tools = [t.openai_schema for t in get_domain(DOMAIN).tools.values()]
        body = {"model": TEACHER_MODEL, "tools": tools, "max_tokens": 512,
                "messages": [{"role": "system", "content": agent_system_prompt(get_domain(DOMAIN).policy)},
                             *_openai(record.messages[:first_call])]}
        reply = httpx.post(fleet.base_urls[0] + "/chat/completions", json=body, timeout=30).json()
        choice = reply["choices"][0]
        assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
        [call] = choice["message"]["tool_calls"]
        expected = record.messages[first_call]["tool_calls"][0]
        assert call["type"] == "function" and call["id"] == expected["id"]
        assert call["function"]["name"] == expected["name"]
        assert json.loads(call["function"]["arguments"]) == expected["arguments"]
        usage = reply["usage"]
        assert usage["prompt_tokens"] > 1000 and usage["completion_tokens"] > 0  # the tools' JSON counts
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        assert usage["estimate"] == "ceil(characters/4)"
        # an unknown model is refused the way vLLM does (404), a conversation it does not know is transient
        assert httpx.post(fleet.base_urls[0] + "/chat/completions", json={**body, "model": "gpt-x"}).status_code == 404
        stranger = {**body, "messages": [body["messages"][0], {"role": "assistant", "content": "Hi!"},
                                         {"role": "user", "content": "Something no script ever said."}]}
        assert httpx.post(fleet.base_urls[0] + "/chat/completions", json=stranger).status_code == 503
        # a seed the pipeline would not derive for any stored conversation: answered, and counted
        assert httpx.post(fleet.base_urls[1] + "/chat/completions", json={**body, "seed": 12345}).status_code == 200
        stats = httpx.get(root + "/stats").json()
        assert stats["server"] == "writ-simulated-fleet" and len(stats["replicas"]) == 2
        assert stats["replicas"][0]["statuses"] == {"200": 1, "404": 1, "503": 1}
        assert stats["fleet"]["counters"]["seed_unmatched"] == 1
        assert stats["fleet"]["catalogue"]["entries"] == 6


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_at_pass_rate_one_the_fleet_plays_the_scripted_conversations(home: Path) -> None:
    jobs = _jobs(home)
    with ThreadFleet(home, {"replica_count": 3, "time_scale": 0.0}) as fleet:
        played, agent = _play(fleet.base_urls, jobs)
        stats = fleet.stats()
    scripted = _scripted(jobs)
    assert [r.trajectory_id for r in played] == [r.trajectory_id for r in scripted]
    for fleet_record, own in zip(played, scripted):
        assert _said(fleet_record) == _said(own), fleet_record.trajectory_id
        assert fleet_record.reward == own.reward == 1.0
        assert fleet_record.usage.kind == "model" and fleet_record.usage.agent_prompt_tokens > 0
    # every turn after a conversation's first found its state in the cache (one rebuild per role)
    counters = stats["fleet"]["counters"]
    assert counters["state_misses"] == 2 * len(jobs)
    assert all(r["answered"] > 0 for r in stats["replicas"])
    assert agent.stats["failed"] == 0


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_reply_depends_on_the_request_only_not_the_replica_or_the_cache(home: Path) -> None:
    job = _jobs(home)[1]
    with ThreadFleet(home, {"replica_count": 2, "time_scale": 0.0, "teacher": {"pass_rate": 0.5}, "seed": 3}) as fleet:
        [record], _ = _play(fleet.base_urls, [job])
        system = {"role": "system", "content": agent_system_prompt(get_domain(DOMAIN).policy)}
        turns = [k for k, m in enumerate(record.messages) if k > 0 and m["role"] == "assistant"]
        # latest turn first: every request's state is rebuilt by replay, on alternating replicas
        for n, k in enumerate(reversed(turns)):
            body = {"model": TEACHER_MODEL, "messages": [system, *_openai(record.messages[:k])]}
            answers = [httpx.post(fleet.base_urls[(n + i) % 2] + "/chat/completions", json=body, timeout=30).json()
                       for i in range(2)]
            assert answers[0] == answers[1]
            message = answers[0]["choices"][0]["message"]
            said = _openai([record.messages[k]])[0]
            assert message["content"] == said["content"]
            assert message.get("tool_calls") == said["tool_calls"]
        assert fleet.stats()["fleet"]["counters"]["state_misses"] >= len(turns)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_rerun_gets_the_same_conversations_whatever_the_replicas_concurrency_or_cache(home: Path) -> None:
    """What a killed and resumed run relies on: with errors drawn, the rows are a function of the
    conversations alone. The second fleet keeps no state between turns, so it rebuilds every one."""
    from dataclasses import replace

    from writ_dagster.core.simulation.attempts import attempt_seed

    jobs = [replace(j, seed=attempt_seed(j.seed, k), attempt=k) for j in _jobs(home) for k in range(2)]
    behaviour = {"time_scale": 0.0, "teacher": {"pass_rate": 0.5, "reasoning": "think"}}
    with ThreadFleet(home, {"replica_count": 2, **behaviour}) as fleet:
        first, _ = _play(fleet.base_urls, jobs, concurrency=12)
    with ThreadFleet(home, {"replica_count": 3, "state_cache_size": 0, **behaviour}) as fleet:
        second, _ = _play(fleet.base_urls, list(reversed(jobs)), concurrency=2)
        assert fleet.stats()["fleet"]["counters"].get("state_hits", 0) == 0
    assert [_said(r) for r in first] == [_said(r) for r in second]
    assert [r.reward for r in first] == [r.reward for r in second]
    assert 0 < sum(r.reward for r in first) < len(first)  # errors were drawn, and not everywhere


@pytest.mark.timeout(120)
def test_capacity_limits_concurrent_sequences_and_the_rest_queue(home: Path) -> None:
    latency = {"ttft_s": 0.4, "jitter": 0.0, "prefill_tokens_per_s": 1e9, "decode_tokens_per_s": 1e9}  # 0.4 s each
    config = {"replica_count": 1, "replica": {"capacity": 2, "latency": latency}}
    with ThreadFleet(home, config) as fleet:
        with connect(home / DB_FILENAME, read_only=True) as con:
            script = read_user_scripts(con, DOMAIN)[0]
        from writ_dagster.core.simulation.protocol import user_system_prompt

        body = {"model": USER_MODEL, "messages": [{"role": "system", "content": user_system_prompt(script.user_scenario)},
                                                  {"role": "user", "content": "Hi! How can I help you today?"}]}

        async def many() -> list[int]:
            async with httpx.AsyncClient(timeout=30) as client:
                replies = await asyncio.gather(*(client.post(fleet.base_urls[0] + "/chat/completions", json=body)
                                                 for _ in range(6)))
            return [r.status_code for r in replies]

        started = time.perf_counter()
        assert asyncio.run(many()) == [200] * 6
        elapsed = time.perf_counter() - started
        [replica] = fleet.stats()["replicas"]
    assert replica["peak_in_flight"] == 2 and replica["capacity"] == 2
    assert replica["queued"] >= 4 and replica["queue_wait_max_s"] >= 0.75
    assert elapsed >= 1.15  # three waves of 0.4 s
    assert replica["busy_sequence_s"] >= 6 * 0.4 - 0.05


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_faults_are_retried_counted_and_change_no_conversation(home: Path) -> None:
    jobs = _jobs(home)[:4]
    faulty = {"http_5xx_rate": 0.15, "reset_rate": 0.1, "timeout_rate": 0.03, "stall_s": 3.0}
    config = {"replica_count": 2, "time_scale": 0.0, "replicas": [{"faults": faulty}, {}]}
    retry = RetryPolicy(max_retries=8, backoff_s=0.01, backoff_max_s=0.05, timeout_s=1.0)
    with ThreadFleet(home, config) as fleet:
        played, agent = _play(fleet.base_urls, jobs, retry=retry)
        stats = fleet.stats()
    faults = stats["replicas"][0]["faults"]
    assert faults["http_5xx"] > 0 and faults["reset"] > 0 and faults["timeout"] > 0
    assert stats["replicas"][1]["faults"] == {"http_5xx": 0, "timeout": 0, "reset": 0}
    assert agent.stats["retries"] > 0 and agent.stats["failed"] == 0
    assert any(k.startswith("retry:http 503") or k == "retry:http 503" for k in agent.stats)
    assert [_said(r) for r in played] == [_said(r) for r in _scripted(jobs)]


@pytest.mark.timeout(180)
def test_reasoning_and_length_cuts_come_in_the_shapes_the_client_reads(home: Path) -> None:
    job = _jobs(home)[0]
    for reasoning in ("think", "reasoning_content"):
        with ThreadFleet(home, {"replica_count": 1, "time_scale": 0.0, "teacher": {"reasoning": reasoning}}) as fleet:
            system = {"role": "system", "content": agent_system_prompt(get_domain(DOMAIN).policy)}
            [record] = _scripted([job])
            body = {"model": TEACHER_MODEL, "messages": [system, *_openai(record.messages[:2])]}
            message = httpx.post(fleet.base_urls[0] + "/chat/completions", json=body, timeout=30).json()[
                "choices"][0]["message"]
            if reasoning == "think":
                assert message["content"].startswith("<think>\n") and "</think>\n\n" in message["content"]
                assert message["content"].endswith(record.messages[2]["content"])
            else:
                assert message["reasoning_content"] and message["content"] == record.messages[2]["content"]
            # through the real client: reasoning kept beside the message, conversations unchanged
            [played], _ = _play(fleet.base_urls, [job])
            assert _said(played) == _said(record)
            assert any((m.get("raw_data") or {}).get("reasoning_content") for m in played.messages)
    with ThreadFleet(home, {"replica_count": 1, "time_scale": 0.0, "teacher": {"truncation_rate": 1.0}}) as fleet:
        [played], _ = _play(fleet.base_urls, [job])
        assert played.termination_reason == "agent_truncated" and played.reward == 0.0
    with ThreadFleet(home, {"replica_count": 1, "time_scale": 0.0}) as fleet:
        [played], _ = _play(fleet.base_urls, [job], max_tokens=8)  # the request's own limit cuts too
        assert played.termination_reason == "agent_truncated"
        assert played.messages[-1]["raw_data"]["finish_reason"] == "length"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_teacher_fails_about_as_often_as_configured(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _write_home(home, tasks_per_batch=8, variants=2)
    jobs = _jobs(home)
    from dataclasses import replace

    from writ_dagster.core.simulation.attempts import attempt_seed

    jobs = [replace(j, seed=attempt_seed(j.seed, k), attempt=k) for j in jobs for k in range(3)]  # 48
    with ThreadFleet(home, {"replica_count": 2, "time_scale": 0.0, "teacher": {"pass_rate": 0.5}}) as fleet:
        played, _ = _play(fleet.base_urls, jobs)
        counters = fleet.stats()["fleet"]["counters"]
    rate = sum(r.reward >= 1.0 for r in played) / len(played)
    assert 0.25 <= rate <= 0.75, rate  # 0.5 ± 3.5 standard errors over 48 conversations
    assert sum(v for k, v in counters.items() if k.startswith("error:")) > 0
    # attempts of one script err differently (each has its own conversation seed)
    by_script: dict[str, set[float]] = {}
    for r in played:
        by_script.setdefault(r.script_id, set()).add(r.reward)
    assert any(len(v) > 1 for v in by_script.values())


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE IF NOT EXISTS writer_was_here (x INTEGER)")
con.execute("INSERT INTO writer_was_here VALUES (1)")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.mark.timeout(120)
def test_the_catalogue_reads_the_home_while_a_writer_holds_the_database(home: Path, tmp_path: Path) -> None:
    import duckdb

    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(home / DB_FILENAME), "30"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(duckdb.Error):  # the lock is real: a plain reader is shut out
            duckdb.connect(str(home / DB_FILENAME), read_only=True)
        started = time.perf_counter()
        entries = read_entries(home)
        assert len(entries) == 6 and time.perf_counter() - started < 20
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_partition_runs_through_the_trajectories_stage_against_the_fleet(tmp_path: Path) -> None:
    """Tasks and scripts by the scripted default; then the trajectories asset with both roles on a
    fleet started as its own process (the command line), which reads the database the stage holds."""
    import dagster as dg

    from writ_dagster.assets import tasks, trajectories, user_scripts
    from writ_dagster.core.storage.runs import read_stage_run
    from writ_dagster.core.storage.trajectories import read_trajectories
    from writ_dagster.partitions import BATCH_PARTITIONS_NAME, domain_batch_key
    from writ_dagster.resources import (
        ModelRole,
        SimulationSettings,
        SynthesisSettings,
        WritStorage,
    )

    home = tmp_path / "home"
    home.mkdir()
    db = home / DB_FILENAME
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, ["b0000"])
    key = domain_batch_key(DOMAIN, "b0000")
    resources = {"storage": WritStorage(database=str(db)), "synthesis": SynthesisSettings(tasks_per_batch=2),
                 "simulation": SimulationSettings(variants=2), "user_simulator": ModelRole(),
                 "teacher": ModelRole(), "user_rewriter": ModelRole()}
    assert dg.materialize([tasks, user_scripts], partition_key=key, instance=instance, resources=resources).success
    with start_fleet(home, FleetConfig(replica_count=2, time_scale=0.0)) as fleet:
        roles = fleet.writ_roles(teacher={"max_tokens": 4096}, user={"max_tokens": 1024})
        resources |= {"teacher": ModelRole(**roles["teacher"]), "user_simulator": ModelRole(**roles["user_simulator"])}
        result = dg.materialize([trajectories], partition_key=key, instance=instance, resources=resources,
                                selection=[trajectories])
        stats = fleet.stats()
        code = fleet.stop()
    assert result.success and code == 0
    with connect(db, read_only=True) as con:
        records = read_trajectories(con, DOMAIN, "b0000")
        run = read_stage_run(con, "trajectories", DOMAIN, "b0000")
    assert len(records) == 4 and all(r.reward == 1.0 for r in records)
    assert {r.agent.name for r in records} == {f"openai:{TEACHER_MODEL}"}
    assert {r.user.name for r in records} == {f"openai:{USER_MODEL}"}
    assert all(r.usage.kind == "model" and r.usage.user_completion_tokens > 0 for r in records)
    assert json.loads(run.config_json)["agent_options"]["model"] == TEACHER_MODEL
    assert stats["fleet"]["answered"] == sum(r.n_turns for r in records) - len(records)  # the greeting is not asked


def test_the_config_loads_from_yaml_and_refuses_unknown_or_per_replica_behaviour(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from writ_dagster.rehearsal.config import load_fleet_config

    example = Path(__file__).resolve().parent.parent / "writ_dagster" / "rehearsal" / "example-fleet.yaml"
    config = load_fleet_config(example)
    assert config.replica_count == 4 and config.teacher.pass_rate == 0.6
    assert config.replica_settings(2).capacity == 32 and config.replica_settings(1).capacity == 64
    assert config.replica_settings(0).faults.http_5xx_rate == 0.01
    for bad in ({"teachr": {}}, {"replicas": [{"teacher": {"pass_rate": 0.5}}]},  # behaviour is fleet-wide
                {"teacher": {"pass_rate": 1.5}}, {"replica_count": 1, "replicas": [{}, {}]}):
        with pytest.raises(ValidationError):
            load_fleet_config(bad)
    (tmp_path / "fleet.json").write_text(json.dumps({"replica_count": 3, "time_scale": 0.01}))
    assert load_fleet_config(tmp_path / "fleet.json").replica_count == 3
