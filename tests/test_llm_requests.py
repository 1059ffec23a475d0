"""Requests any serving stack accepts: reasoning models, refused parameters, reasoning text, cut turns.

The OpenAI client talks to real loopback HTTP servers that answer the way OpenAI's reasoning
models and vLLM do; nothing of the client is replaced.
"""

from __future__ import annotations

import asyncio
import json
from typing import Callable

import pytest
from aiohttp import web
from llm_fakes import LoopbackServer
from tau2.data_model.simulation import Results

from writ_dagster.core.llm.chat_format import split_reasoning
from writ_dagster.core.llm.openai_client import OpenAICompatibleBackend, RefusedParameterError, refusal_message
from writ_dagster.core.llm.sampling import Sampling
from writ_dagster.core.sft.curate import TRUNCATED, build_sft
from writ_dagster.core.sft.models import SFTConfig
from writ_dagster.core.sft.openai_format import chat_rows
from writ_dagster.core.simulation import Job, ScriptedUser, SimulationConfig, SimulationEngine
from writ_dagster.core.simulation.oracle import OracleAgent
from writ_dagster.core.simulation.protocol import Reply
from writ_dagster.core.simulation.records import tau2_termination
from writ_dagster.core.simulation.registry import create_backend
from writ_dagster.core.simulation.tau2_results import tau2_results
from writ_dagster.core.users import make_scripts

pytest.importorskip("openai")
SAMPLING_KEYS = {"temperature", "top_p", "seed", "max_tokens"}


def _reasoning_model_server(answer: Callable[[dict], dict]) -> tuple[web.Application, list[dict]]:
    """A chat endpoint that refuses what OpenAI's reasoning models refuse, with OpenAI's error bodies.

    ``answer(body)`` gives the assistant message (plus ``finish_reason`` if not "stop").
    """
    seen: list[dict] = []

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body)
        if "max_tokens" in body:
            return web.json_response({"error": {
                "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
                           "Use 'max_completion_tokens' instead.",
                "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}},
                status=400)
        for key in ("temperature", "top_p", "seed"):
            if key in body:
                return web.json_response({"error": {
                    "message": f"Unsupported value: '{key}' does not support this value with this model.",
                    "type": "invalid_request_error", "param": key, "code": "unsupported_value"}}, status=400)
        message = dict(answer(body))
        finish = message.pop("finish_reason", "stop")
        return web.json_response({
            "id": "chatcmpl-r", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app, seen


def _calc_then_ask(body: dict) -> dict:
    """A model that thinks (in the server's field, or in the text), calls calculate, then asks."""
    if body["messages"][-1]["role"] == "tool":
        return {"content": "<think>The result is in; ask what else.</think>Is there anything else I can help with?"}
    return {"content": None, "reasoning_content": "I should add the numbers first.",
            "tool_calls": [{"id": f"call_{len(body['messages'])}", "type": "function",
                            "function": {"name": "calculate", "arguments": '{"expression": "2 + 2"}'}}]}


@pytest.fixture(scope="module")
def jobs(airline_batch) -> list[Job]:
    return [Job(rec, s, seed=3) for rec in airline_batch[1].tasks[:3] for s in make_scripts(rec, 1, seed=3)]


def _run(engine: SimulationEngine, jobs: list[Job]) -> list:
    async def collect():
        try:
            return [r async for r in engine.arun(jobs)]
        finally:
            await engine.agent.aclose()
    return asyncio.run(collect())


def test_reasoning_model_option_sends_max_completion_tokens_and_no_sampling(jobs) -> None:
    app, seen = _reasoning_model_server(_calc_then_ask)
    with LoopbackServer(app) as server:
        backend = create_backend("openai-compatible", "agent", {
            "base_urls": [server.base_url], "model": "o-reasoner", "max_tokens": 2048, "reasoning_model": True})
        records = _run(SimulationEngine(backend, ScriptedUser(), SimulationConfig(max_steps=12)), jobs)
    assert len(records) == len(jobs) and seen
    for body in seen:
        assert body["max_completion_tokens"] == 2048 and not SAMPLING_KEYS & set(body)
    assert backend.sampling == {"model": "o-reasoner", "reasoning_model": True, "max_completion_tokens": 2048}
    assert all(r.agent.sampling == backend.sampling for r in records)
    # without the option, what is recorded is what it always was (stored trajectories keep their resume keys)
    assert Sampling().as_dict() == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 256, "seed": 0}
    with pytest.raises(ValueError, match="reasoning_model"):
        create_backend("openai-compatible", "agent", {"base_urls": ["http://127.0.0.1:1/v1"], "model": "m",
                                                      "reasoning_model": "false"})


def test_a_refused_parameter_stops_the_run_with_one_line_naming_the_option(jobs) -> None:
    app, seen = _reasoning_model_server(_calc_then_ask)
    with LoopbackServer(app) as server:
        backend = OpenAICompatibleBackend(server.base_url, "o-reasoner")
        engine = SimulationEngine(backend, ScriptedUser(), SimulationConfig(max_concurrency=1))
        with pytest.raises(RefusedParameterError) as caught:
            _run(engine, jobs)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400
    assert "'max_tokens'" in message and "reasoning_model: true" in message and "agent_options" in message
    assert server.base_url in message
    assert len(seen) == 1 and backend.stats["retries"] == 0  # not retried, not tried again per conversation
    # the same refusal from the user's backend names the user's options; a refusal of the
    # reasoning form points back
    assert "user_options" in refusal_message("http://x/v1", "seed", "Unsupported value", "user", Sampling())
    assert "reasoning_model: false" in refusal_message("http://x/v1", "max_completion_tokens", "Unsupported",
                                                       "agent", Sampling(reasoning_model=True))


def test_a_refusal_named_only_in_the_message_is_recognised_and_other_400s_fail_one_conversation(jobs) -> None:
    def vllm_style(body: dict) -> web.Response:
        if "seed" in body:  # a strict request model: the parameter is named only in the text
            return web.json_response({"object": "error", "message": "[{'type': 'extra_forbidden', 'loc': "
                                      "('body', 'seed'), 'msg': 'Extra inputs are not permitted'}]",
                                      "type": "BadRequestError", "code": 400}, status=400)
        return web.json_response({"error": {"message": "This model's maximum context length is 10 tokens.",
                                            "type": "invalid_request_error", "code": None}}, status=400)

    for handler, refused in ((vllm_style, True), (lambda body: vllm_style({}), False)):
        seen: list[dict] = []

        async def chat(request: web.Request, handler=handler, seen=seen) -> web.Response:
            seen.append(await request.json())
            return handler(seen[-1])

        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        with LoopbackServer(app) as server:
            backend = OpenAICompatibleBackend(server.base_url, "m")
            engine = SimulationEngine(backend, ScriptedUser(), SimulationConfig(max_concurrency=1))
            if refused:
                with pytest.raises(RefusedParameterError, match="'seed'.*reasoning_model: true"):
                    _run(engine, jobs)
            else:  # a prompt too long is that conversation's problem, as before
                records = _run(engine, jobs)
                assert {r.termination_reason for r in records} == {"agent_error"}
                assert all("maximum context length" in r.backend_error for r in records)


def test_reasoning_is_kept_beside_the_content_and_out_of_sft_rows(jobs) -> None:
    app, seen = _reasoning_model_server(_calc_then_ask)
    with LoopbackServer(app) as server:
        backend = OpenAICompatibleBackend(server.base_url, "o-reasoner", sampling=Sampling(reasoning_model=True))
        records = _run(SimulationEngine(backend, ScriptedUser(), SimulationConfig(max_steps=12)), jobs)
    rec = records[0]
    agent = [m for m in rec.messages[1:] if m["role"] == "assistant"]
    assert agent[0]["tool_calls"] and agent[0]["raw_data"]["reasoning_content"] == "I should add the numbers first."
    assert agent[1]["content"] == "Is there anything else I can help with?"
    assert agent[1]["raw_data"]["reasoning_content"] == "The result is in; ask what else."
    # never sent back to the model, nor shown to the user
    sent = json.dumps(seen)
    assert "numbers first" not in sent and "<think>" not in sent
    # exported as tau2 messages, the reasoning stays in raw_data
    results = tau2_results("airline", "policy", [j.record.task for j in jobs], records, 12, 10)
    loaded = Results.model_validate(results)
    assert any((m.raw_data or {}).get("reasoning_content") for s in loaded.simulations for m in s.messages
               if m.role == "assistant")
    rows = chat_rows(rec)
    assert not any("<think>" in (m["content"] or "") or "numbers first" in (m["content"] or "") for m in rows)
    with_thinking = [m["content"] for m in chat_rows(rec, include_reasoning=True) if m["role"] == "assistant"]
    assert "<think>\nI should add the numbers first.\n</think>" in with_thinking
    assert "<think>\nThe result is in; ask what else.\n</think>\n\nIs there anything else I can help with?" \
        in with_thinking
    # a think block stored in the content before reasoning was split off is still kept out of the rows
    old = rec.model_copy(update={"messages": [dict(m, content="<think>x</think>Hi", raw_data=None)
                                              if m is agent[1] else m for m in rec.messages]})
    assert "Hi" in [m["content"] for m in chat_rows(old)]


def test_split_reasoning_handles_the_shapes_models_produce() -> None:
    assert split_reasoning("Hello") == ("Hello", None)
    assert split_reasoning(None) == (None, None)
    assert split_reasoning("<think>plan</think>\n\nHello") == ("Hello", "plan")
    assert split_reasoning("plan\n</think>\n\nHello") == ("Hello", "plan")  # <think> was in the prompt
    assert split_reasoning("<think>cut off by the lim") == (None, "cut off by the lim")
    assert split_reasoning("<think></think>Hello") == ("Hello", None)
    content, reasoning = split_reasoning('<think>maybe <tool_call>{"name": "x"}</tool_call></think>Sure.')
    assert content == "Sure." and "tool_call" in reasoning


def test_a_turn_cut_at_the_token_limit_ends_the_conversation_and_is_not_trained_on(jobs) -> None:
    def cut_second_turn(body: dict) -> dict:
        if body["messages"][-1]["role"] == "tool":
            return {"content": '<tool_call>{"name": "calculate", "arguments": {"expr', "finish_reason": "length"}
        return _calc_then_ask(body)

    app, _ = _reasoning_model_server(cut_second_turn)
    with LoopbackServer(app) as server:
        backend = OpenAICompatibleBackend(server.base_url, "m", sampling=Sampling(reasoning_model=True))
        records = _run(SimulationEngine(backend, ScriptedUser(), SimulationConfig(max_steps=12)), jobs)
    for rec in records:
        assert rec.termination_reason == "agent_truncated" and rec.reward == 0.0
        last = rec.messages[-1]
        assert last["role"] == "assistant" and last["raw_data"]["finish_reason"] == "length"
        assert rec.n_tool_calls == 1  # the cut call was stored, never executed
    assert tau2_termination("agent_truncated").value == "agent_error"
    exported = tau2_results("airline", "policy", [j.record.task for j in jobs], records, 12, 10)
    run = exported["simulations"][0]
    assert run["termination_reason"] == "agent_error"
    assert run["reward_info"]["info"]["writ_termination_reason"] == "agent_truncated"

    # the user's side: a cut user turn ends it too
    class CutUser:
        name, kind, sampling = "cut-user", "llm", {}

        def respond_batch(self, views):
            return [Reply(content="I want to change my", raw={"finish_reason": "length"}) for _ in views]

    cut = SimulationEngine(OracleAgent(), CutUser(), SimulationConfig()).run_all(jobs[:1])[0]
    assert cut.termination_reason == "user_truncated" and cut.messages[-1]["role"] == "user"

    # the SFT filter drops both, counted under their own reason, even with the reward forced to 1
    tasks = {j.record.task_id: j.record for j in jobs}
    forced = [r.model_copy(update={"reward": 1.0}) for r in records + [cut]]
    build = build_sft(forced, tasks, SFTConfig())
    assert build.dropped == {TRUNCATED: len(forced)} and not build.rows
    # a conversation that went on after a cut turn (stored before cut turns ended conversations)
    ok = SimulationEngine(OracleAgent(), ScriptedUser(), SimulationConfig()).run_all(jobs[:1])[0]
    assert ok.reward == 1.0 and build_sft([ok], tasks, SFTConfig()).rows
    marked = [dict(m, raw_data={**(m.get("raw_data") or {}), "finish_reason": "length"}) if i == 2 else m
              for i, m in enumerate(ok.messages)]
    assert build_sft([ok.model_copy(update={"messages": marked})], tasks, SFTConfig()).dropped == {TRUNCATED: 1}


def test_split_reasoning_fast_path_agrees_with_the_general_walk() -> None:
    from itertools import product

    from writ_dagster.core.llm.chat_format import _split_walk

    pieces = ["<think>", "</think>", "plan ", "Hello", "\n\n", " ", ""]
    for parts in product(pieces, repeat=4):
        text = "".join(parts)
        if "<think>" in text or "</think>" in text:
            assert split_reasoning(text) == _split_walk(text), text
