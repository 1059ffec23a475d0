"""Training data for the tiny local model: our own engine's scripted trajectories as SFT rows.

Tasks are synthesized, played by the scripted oracle agent against the scripted user, and
each trajectory is cut into windows that fit the training length: the system turn (policy
and tools) plus a run of consecutive messages that ends with an agent turn. Windows start
at a user or agent message, so every tool result follows its call. Rows are
``{"messages": [...], "tools": "<JSON>"}``: tools and tool-call arguments are JSON strings,
because the ``datasets`` library would otherwise merge dict keys across rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.simulation.engine import Job, SimulationEngine
from writ_dagster.core.simulation.oracle import OracleAgent
from writ_dagster.core.simulation.protocol import ConversationView, agent_system_prompt
from writ_dagster.core.simulation.records import SimulationConfig, TrajectoryRecord, load_messages
from writ_dagster.core.simulation.scripted_user import ScriptedUser
from writ_dagster.core.tasks.models import SynthesisConfig
from writ_dagster.core.tasks.synthesis import Synthesizer
from writ_dagster.core.tau2_adapter import Task
from writ_dagster.core.users.scripts import make_scripts

PARTITION = "llm-tiny"  # a partition name of its own: its tasks are not those of any stored batch


@dataclass(frozen=True)
class AgentChat:
    """One finished conversation as the agent saw it: OpenAI-style messages and tools."""

    domain: str
    messages: list[dict[str, Any]]  # system first
    tools: list[dict[str, Any]]


def fixed_prompt(domain: str) -> tuple[str, list[dict[str, Any]]]:
    """A domain's agent system prompt and tool schemas, as the engine sends them."""
    dom = get_domain(domain)
    return agent_system_prompt(dom.policy), [t.openai_schema for t in dom.tools.values()]


def scripted_jobs(domain: str, tasks: int, variants: int, seed: int) -> list[Job]:
    """Jobs over freshly synthesized tasks of ``domain`` (deterministic in the arguments)."""
    batch = Synthesizer(domain, SynthesisConfig(tasks_per_batch=tasks, seed=seed)).synthesize(PARTITION)
    return [Job(rec, script, seed=seed) for rec in batch.tasks for script in make_scripts(rec, variants, seed)]


def agent_chats(jobs: list[Job]) -> Iterator[AgentChat]:
    """Run ``jobs`` with the scripted backends; yield each trajectory as the agent's chat."""
    by_id: dict[str, Job] = {j.trajectory_id: j for j in jobs}
    engine = SimulationEngine(OracleAgent(), ScriptedUser(), SimulationConfig(max_concurrency=32))
    for rec in engine.run(jobs):
        yield _as_chat(rec, by_id[rec.trajectory_id])


def _as_chat(rec: TrajectoryRecord, job: Job) -> AgentChat:
    system, tools = fixed_prompt(rec.domain)
    # the engine's own view gives the exact messages an LLM agent would have been sent
    view = ConversationView(
        conv_id=rec.trajectory_id,
        role="agent",
        domain=rec.domain,
        record=job.record,
        task=Task.model_validate(job.record.task),
        script=job.script,
        seed=rec.seed,
        messages=load_messages(rec.messages),
        system_prompt=system,
        tools=tools,
        state={},
    )
    return AgentChat(rec.domain, view.chat_messages(), tools)


def windows(chat: AgentChat, count: Callable[[dict[str, Any]], int], budget: int) -> Iterator[list[dict[str, Any]]]:
    """Consecutive message runs of ``chat`` (after the system turn) that fit ``budget`` tokens
    with it and end with an assistant turn; ``count`` gives one message's tokens."""
    system, body = chat.messages[0], chat.messages[1:]
    room = budget - count(system)
    i = 0
    while i < len(body):
        if body[i]["role"] == "tool":
            i += 1
            continue
        used, end = 0, None
        for j in range(i, len(body)):
            used += count(body[j])
            if used > room:
                break
            if body[j]["role"] == "assistant":
                end = j
        if end is None:  # a single turn longer than the budget: skip past it
            i += 1
            continue
        yield [system, *body[i : end + 1]]
        i = end + 1


def sft_row(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
    """A TRL conversational row; tool-call arguments and tools as JSON strings."""
    out = []
    for src in messages:
        dst = {
            "role": src["role"],
            "content": src.get("content"),
            "tool_calls": None,
            "tool_call_id": src.get("tool_call_id"),
        }
        if src.get("tool_calls"):
            dst["tool_calls"] = [
                {
                    "id": c.get("id") or "call",
                    "type": "function",
                    "function": {"name": c["function"]["name"], "arguments": _as_text(c["function"]["arguments"])},
                }
                for c in src["tool_calls"]
            ]
        out.append(dst)
    return {"messages": out, "tools": json.dumps(tools)}


def _as_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)
