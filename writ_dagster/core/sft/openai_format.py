"""Trajectories as the OpenAI chat rows trainers read, with one fixed column layout."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.llm.chat_format import split_reasoning, with_reasoning
from writ_dagster.core.simulation.protocol import agent_chat_messages, agent_system_prompt
from writ_dagster.core.simulation.records import REASONING_KEY, TrajectoryRecord


@lru_cache(maxsize=None)
def domain_prompt_and_tools(domain: str) -> tuple[str, str]:
    """The τ²-bench agent system prompt with the domain policy, and the tools as JSON text."""
    dom = get_domain(domain)
    tools = [t.openai_schema for t in dom.tools.values()]
    # tau2's own key order: a trainer renders the schemas exactly as the agent sees them at inference
    return agent_system_prompt(dom.policy), json.dumps(tools, ensure_ascii=False)


def chat_rows(record: TrajectoryRecord, include_reasoning: bool = False) -> list[dict[str, Any]]:
    """The trajectory as the agent saw it, every message with the same keys.

    Parquet needs one struct type per column: each message carries ``role``, ``content``,
    ``tool_calls`` (None or a list of ``{id, type, function: {name, arguments}}`` with
    ``arguments`` as JSON text) and ``tool_call_id``.

    The agent's reasoning is left out: think blocks still in a stored content (trajectories
    stored before reasoning was split off) are removed. ``include_reasoning`` puts the
    reasoning kept beside each assistant message back in front of its content, as a
    ``<think>`` block, for training a model to reason.
    """
    system, _ = domain_prompt_and_tools(record.domain)
    out = []
    chats = agent_chat_messages(system, record.tau2_messages())
    for m, stored in zip(chats, [{}] + record.messages):  # the system prompt is not stored
        content = m.get("content")
        if m["role"] == "assistant":
            content, leftover = split_reasoning(content)
            if include_reasoning:
                kept = (stored.get("raw_data") or {}).get(REASONING_KEY)
                content = with_reasoning(content, "\n\n".join(r for r in (kept, leftover) if r) or None)
        out.append(
            {
                "role": m["role"],
                "content": content,
                "tool_calls": m.get("tool_calls"),
                "tool_call_id": m.get("tool_call_id"),
            }
        )
    return out
