"""The tiny model's ingredients (fast; needs the ``llm`` extra's transformers): chat template,
tokenizer and training windows, and the backend registration (needs nothing)."""

from __future__ import annotations

import json

import pytest

from writ_dagster.core.llm import tiny_data
from writ_dagster.core.simulation.registry import backend_names, create_backend


def test_llm_backends_are_registered_by_name(monkeypatch):
    assert {"vllm-offline", "openai-compatible"} <= set(backend_names("agent"))
    backend = create_backend("openai-compatible", "agent", {"base_urls": ["http://127.0.0.1:9/v1"], "model": "m",
                                                            "temperature": 0.5, "max_retries": 1})
    assert backend.sampling["temperature"] == 0.5 and backend.retry.max_retries == 1 and backend.kind == "llm"


@pytest.fixture(scope="module")
def tokenizer():
    pytest.importorskip("transformers", reason="the 'llm' extra is not installed")
    from writ_dagster.core.llm.tiny_tokenizer import train_tokenizer

    fixed = [tiny_data.fixed_prompt(d) for d in ("airline", "retail")]
    corpus = ["Hi! How can I help you today?", "My user id is mia_li_3668.", '{"user_id": "mia_li_3668"}']
    return train_tokenizer(corpus, fixed, vocab_size=600)


def _call(arguments):
    return {"id": "c1", "type": "function", "function": {"name": "get_user_details", "arguments": arguments}}


def test_template_renders_string_and_dict_arguments_alike_and_masks_the_whole_turn(tokenizer):
    system, tools = tiny_data.fixed_prompt("airline")
    head = [{"role": "system", "content": system}, {"role": "assistant", "content": "Hi!"},
            {"role": "user", "content": "I am mia_li_3668"}]
    as_text = head + [{"role": "assistant", "content": None, "tool_calls": [_call('{"user_id": "mia_li_3668"}')]}]
    as_dict = head + [{"role": "assistant", "content": None, "tool_calls": [_call({"user_id": "mia_li_3668"})]}]
    render = lambda m: tokenizer.apply_chat_template(m, tools=tools, tokenize=False)  # noqa: E731
    assert render(as_text) == render(as_dict)
    assert render(as_text).endswith('<|im_start|>assistant\n<tool_call>{"name": "get_user_details", "arguments": '
                                    '{"user_id": "mia_li_3668"}}</tool_call><|im_end|>\n')
    result = head + [{"role": "tool", "content": '{"a": 1}', "tool_call_id": "c1"}]
    assert render(result).endswith('<|im_start|>user\n<tool_response>\n{"a": 1}\n</tool_response><|im_end|>\n')
    out = tokenizer.apply_chat_template(as_text, tools=tools, return_dict=True, return_assistant_tokens_mask=True)
    trained = tokenizer.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m])
    assert trained == 'Hi!<|im_end|><tool_call>{"name": "get_user_details", "arguments": {"user_id": "mia_li_3668"}}' \
                      '</tool_call><|im_end|>'
    # the policy and 14 tool schemas (~19,000 characters) fit in a few dozen tokens
    prompt = tokenizer.apply_chat_template(head[:1], tools=tools, tokenize=False)
    assert len(prompt) > 15000 and len(tokenizer(prompt)["input_ids"]) < 200
    assert tokenizer.decode(tokenizer(prompt)["input_ids"]) == prompt


def _loaded(arguments):
    return json.loads(arguments) if isinstance(arguments, str) else arguments


def test_training_windows_fit_and_end_with_the_agent(airline_batch):
    jobs = tiny_data.scripted_jobs("airline", 2, 1, seed=3)
    chats = list(tiny_data.agent_chats(jobs))
    assert len(chats) == len(jobs)
    def count(m):  # a stand-in token count (the system turn is short in the real tokenizer)
        return 100 if m["role"] == "system" else len(json.dumps(m)) // 4

    n_calls = 0
    for chat in chats:
        covered = 0
        for window in tiny_data.windows(chat, count, budget=1200):
            assert window[0]["role"] == "system" and window[-1]["role"] == "assistant"
            assert window[1]["role"] != "tool" and sum(map(count, window)) <= 1200
            covered += sum(m["role"] == "assistant" for m in window)
            row = tiny_data.sft_row(window, chat.tools)
            # the window as a row: tools and each call's arguments as JSON text that parses back to the same
            # (json.loads refuses a dict left unconverted), the turns in their order
            assert json.loads(row["tools"]) == chat.tools
            assert [m["role"] for m in row["messages"]] == [m["role"] for m in window]
            calls = [(c["function"]["name"], json.loads(c["function"]["arguments"])) for m in row["messages"]
                     for c in m["tool_calls"] or []]
            assert calls == [(c["function"]["name"], _loaded(c["function"]["arguments"]))
                             for m in window for c in m.get("tool_calls") or []]
            n_calls += len(calls)
        assert covered >= sum(m["role"] == "assistant" for m in chat.messages) - 2  # only over-long turns skipped
    assert n_calls > 0
