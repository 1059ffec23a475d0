"""One conversation turn as data: what a backend sees (:class:`ConversationView`) and what it
returns (:class:`Reply`, raw: tool-call arguments may still be a JSON string).

These sit below both the conversation engine (``core/simulation``) and the users
(``core/users``: the instruction rewriter drives the same backends), so each can import them;
``core.simulation.protocol`` re-exports them beside τ²-bench's prompts and stop tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from writ_dagster.core.tasks.models import TaskRecord
from writ_dagster.core.tau2_adapter import AssistantMessage, Message, Task, ToolMessage, UserMessage
from writ_dagster.core.users.models import UserScript

Role = Literal["agent", "user"]


@dataclass
class RawToolCall:
    """A tool call as a model emitted it: arguments may be a JSON string, possibly broken."""

    name: str
    arguments: str | dict[str, Any]
    id: str | None = None


@dataclass
class Reply:
    """One backend turn for one conversation.

    ``usage``: ``{"prompt_tokens": int, "completion_tokens": int}`` from a model; None lets the
    engine count whitespace tokens (labelled so). ``raw``: backend data kept on the message
    (``raw_data``); the scripted backends put their dialogue act there. ``error``: the backend
    could not produce a turn for this conversation (ends it as AGENT_ERROR / USER_ERROR).
    ``reasoning``: the model's reasoning text, already taken out of ``content`` (stored beside
    the message, never shown to the other side). ``raw["finish_reason"] == "length"`` marks
    a turn cut by the length limit (:attr:`truncated`).
    """

    content: str | None = None
    tool_calls: list[RawToolCall] = field(default_factory=list)
    usage: dict[str, int] | None = None
    raw: dict[str, Any] | None = None
    error: str | None = None
    reasoning: str | None = None

    @property
    def truncated(self) -> bool:
        """Whether generation stopped at the token limit rather than at the model's own end."""
        return self.raw is not None and self.raw.get("finish_reason") == "length"


@dataclass
class ConversationView:
    """What a backend sees of one conversation when it is its turn.

    ``state`` is the backend's private scratch dict for this conversation and role (the
    engine keeps it between turns); ``messages`` is the shared trajectory, read-only.
    """

    conv_id: str
    role: Role
    domain: str
    record: TaskRecord
    task: Task
    script: UserScript
    seed: int
    messages: list[Message]
    system_prompt: str
    tools: list[dict[str, Any]]
    state: dict[str, Any]

    def chat_messages(self) -> list[dict[str, Any]]:
        """OpenAI-style chat messages for this role's model (tau2's own conversions).

        The agent sees everything; the user sees the roles flipped and no tool traffic, as
        tau2's ``UserState.flip_roles`` does.
        """
        if self.role == "agent":
            return agent_chat_messages(self.system_prompt, self.messages)
        out: list[dict[str, Any]] = [{"role": "system", "content": self.system_prompt}]
        for m in self.messages:
            if isinstance(m, UserMessage):
                out.append({"role": "assistant", "content": m.content})
            elif isinstance(m, AssistantMessage) and not m.is_tool_call():
                out.append({"role": "user", "content": m.content})
        return out


def agent_chat_messages(system_prompt: str, messages: list[Message]) -> list[dict[str, Any]]:
    """A conversation as the agent sees it, in OpenAI chat format (tool-call arguments as JSON text)."""
    return [{"role": "system", "content": system_prompt}] + [_agent_chat(m) for m in messages]


def _agent_chat(m: Message) -> dict[str, Any]:
    if isinstance(m, ToolMessage):
        return {"role": "tool", "content": m.content, "tool_call_id": m.id}
    if isinstance(m, AssistantMessage):
        calls = None
        if m.is_tool_call():
            calls = [
                {"id": tc.id, "type": "function", "function": {"name": tc.name, "arguments": json.dumps(tc.arguments)}}
                for tc in m.tool_calls or []
            ]
        return {"role": "assistant", "content": m.content, "tool_calls": calls}
    return {"role": m.role, "content": m.content}
