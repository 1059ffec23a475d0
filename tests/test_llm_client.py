"""The LLM backends' plumbing without a model: hermes parsing, the OpenAI client against fake
loopback servers (tool calls executed in tau2, round-robin, retries, failures, API key)."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from llm_fakes import LoopbackServer, fake_openai_app

from writ_dagster.core.llm.chat_format import parse_tool_calls
from writ_dagster.core.llm.openai_client import OpenAICompatibleBackend, RetryPolicy, api_key_from_env
from writ_dagster.core.simulation import Job, ScriptedUser, SimulationConfig, SimulationEngine
from writ_dagster.core.users import make_scripts

pytest.importorskip("openai")
KEY_VAR, KEY = "WRIT_TEST_LLM_KEY", "sk-test-not-a-real-key-1234"


def test_hermes_parsing_keeps_raw_arguments_and_recovers_broken_blocks():
    content, calls = parse_tool_calls('<tool_call>{"name": "get_user_details", "arguments": {"user_id": "a_1"}}'
                                      '</tool_call>')
    assert content is None and calls[0].name == "get_user_details"
    assert json.loads(calls[0].arguments) == {"user_id": "a_1"}
    content, calls = parse_tool_calls('Let me check.\n<tool_call>{"name": "calculate", "arguments": '
                                      '{"expression": "1+"</tool_call>')
    assert content == "Let me check." and calls[0].name == "calculate"
    assert calls[0].arguments == '{"expression": "1+"'  # kept raw: the engine records invalid_json
    assert parse_tool_calls("Hello") == ("Hello", [])
    assert parse_tool_calls("<tool_call>garbage")[1][0].name == ""


@pytest.fixture(scope="module")
def jobs(airline_batch):
    tasks = airline_batch[1].tasks[:4]
    return [Job(rec, s, seed=5) for rec in tasks for s in make_scripts(rec, 1, seed=5)]


def _agent(body: dict) -> dict:
    """A stand-in model: a calculate call after a customer message, a question after a result."""
    if body["messages"][-1]["role"] == "tool":
        return {"content": "Is there anything else I can help you with?"}
    return {"content": None, "tool_calls": [{"id": f"call_{len(body['messages'])}", "type": "function",
                                             "function": {"name": "calculate",
                                                          "arguments": '{"expression": "2 + 2"}'}}]}


def _run(engine: SimulationEngine, jobs: list[Job]) -> list:
    async def collect():
        out = [r async for r in engine.arun(jobs)]
        await engine.agent.aclose()
        return out
    return asyncio.run(collect())


def test_openai_backend_runs_conversations_round_robin_with_the_key_from_env(jobs, monkeypatch):
    monkeypatch.setenv(KEY_VAR, KEY)
    app_a, seen_a = fake_openai_app(_agent)
    app_b, seen_b = fake_openai_app(_agent)
    with LoopbackServer(app_a) as a, LoopbackServer(app_b) as b:
        backend = OpenAICompatibleBackend([a.base_url, b.base_url], "fake-model", api_key_env=KEY_VAR)
        engine = SimulationEngine(backend, ScriptedUser(), SimulationConfig(max_steps=30, max_concurrency=3))
        records = _run(engine, jobs)
    assert sorted(r.trajectory_id for r in records) == sorted(j.trajectory_id for j in jobs)
    # both replicas share the work: the client sends each turn to the one with fewer requests in flight (ties
    # in turn), so the split follows the replies' timing, not a strict alternation
    total = len(seen_a) + len(seen_b)
    assert min(len(seen_a), len(seen_b)) >= total / 3, (len(seen_a), len(seen_b))
    assert all(s["auth"] == f"Bearer {KEY}" for s in seen_a + seen_b)
    for rec in records:
        results = [m for m in rec.messages if m["role"] == "tool"]
        assert results and all(m["content"] == "4.0" and not m["error"] for m in results)  # executed by tau2
        assert rec.usage.kind == "mixed" and rec.usage.agent_prompt_tokens == 11 * sum(  # model + scripted user
            1 for m in rec.messages[1:] if m["role"] == "assistant")
        assert rec.agent.name == "openai:fake-model" and rec.agent.kind == "llm"
    assert seen_a[0]["body"]["tools"]
    # each request carries its own seed (backend, conversation, turn), within the 31 bits every server takes
    seeds = [s["body"]["seed"] for s in seen_a + seen_b]
    assert all(isinstance(x, int) and 0 <= x < 2**31 for x in seeds) and len(set(seeds)) == len(seeds)
    text = repr(backend) + json.dumps(records[0].model_dump(mode="json")) + backend.name + json.dumps(backend.sampling)
    assert KEY not in text
    assert backend.stats["retries"] == 0 and not backend.failures


def test_retries_move_to_the_next_url_and_failures_keep_their_reason(jobs):
    with socket.socket() as sock:  # a port with nothing listening: connection refused
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    failed_once: set[int] = set()

    def sometimes_503(body):  # the first try of every other turn fails
        if body["seed"] % 2 == 0 and body["seed"] not in failed_once:
            failed_once.add(body["seed"])
            return 503
        return _agent(body)

    app, seen = fake_openai_app(sometimes_503)
    retry = RetryPolicy(max_retries=3, backoff_s=0.01, backoff_max_s=0.05, timeout_s=10)
    with LoopbackServer(app) as live:
        backend = OpenAICompatibleBackend([dead, live.base_url], "fake-model", retry=retry)
        records = _run(SimulationEngine(backend, ScriptedUser(), SimulationConfig(max_steps=30)), jobs)
    assert len(records) == len(jobs) and all(r.termination_reason != "agent_error" for r in records)
    assert backend.stats["retry:connection"] > 0 and backend.stats["retry:http 503"] > 0
    assert backend.stats["requests"] == backend.stats["retries"] + sum(
        1 for r in records for m in r.messages[1:] if m["role"] == "assistant")

    app, _ = fake_openai_app(lambda body: 500)
    with LoopbackServer(app) as broken:
        backend = OpenAICompatibleBackend(broken.base_url, "fake-model", retry=retry)
        records = _run(SimulationEngine(backend, ScriptedUser()), jobs)
    assert {r.termination_reason for r in records} == {"agent_error"}
    assert all(r.malformed == {"backend_error": 1} for r in records)
    assert backend.failures == {r.trajectory_id: "http 500 (gave up after 4 attempts)" for r in records}


def test_a_named_but_unset_key_variable_is_refused_without_a_value(monkeypatch):
    monkeypatch.delenv(KEY_VAR, raising=False)
    with pytest.raises(ValueError, match=KEY_VAR):
        OpenAICompatibleBackend("http://127.0.0.1:1/v1", "m", api_key_env=KEY_VAR)
    assert api_key_from_env(None) == "EMPTY"
