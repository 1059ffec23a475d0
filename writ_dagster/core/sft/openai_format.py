"""Trajectories as the OpenAI chat rows trainers read, with one fixed column layout."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.simulation.protocol import agent_chat_messages, agent_system_prompt
from writ_dagster.core.simulation.records import TrajectoryRecord


@lru_cache(maxsize=None)
def domain_prompt_and_tools(domain: str) -> tuple[str, str]:
    """The τ²-bench agent system prompt with the domain policy, and the tools as JSON text."""
    dom = get_domain(domain)
    tools = [t.openai_schema for t in dom.tools.values()]
    # tau2's own key order: a trainer renders the schemas exactly as the agent sees them at inference
    return agent_system_prompt(dom.policy), json.dumps(tools, ensure_ascii=False)


def chat_rows(record: TrajectoryRecord) -> list[dict[str, Any]]:
    """The trajectory as the agent saw it, every message with the same keys.

    Parquet needs one struct type per column: each message carries ``role``, ``content``,
    ``tool_calls`` (None or a list of ``{id, type, function: {name, arguments}}`` with
    ``arguments`` as JSON text) and ``tool_call_id``.
    """
    system, _ = domain_prompt_and_tools(record.domain)
    out = []
    for m in agent_chat_messages(system, record.tau2_messages()):
        out.append({"role": m["role"], "content": m.get("content"), "tool_calls": m.get("tool_calls"),
                    "tool_call_id": m.get("tool_call_id")})
    return out
