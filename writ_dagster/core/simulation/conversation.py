"""One conversation under τ²-bench's protocol: turns, tool execution, limits, termination.

This mirrors ``tau2.orchestrator.Orchestrator`` step for step: the agent's greeting opens
(it is not a step); each agent message, user message and tool round is one step; a tool
round answers every call of the agent's message, in order, in the task's private
environment; after any step that does not hand over to the environment, reaching
``max_steps`` ends the run as MAX_STEPS and ``max_errors`` tool errors as TOO_MANY_ERRORS
(tau2 applies these checks even after a stop token, so a stop on the last allowed step
reads as MAX_STEPS there too, and here). A user message containing ###STOP###,
###TRANSFER### or ###OUT-OF-SCOPE### ends it as USER_STOP.

A turn cut by the token limit (``finish_reason == "length"``) is stored as it came and ends
the conversation as ``agent_truncated`` / ``user_truncated`` (scored as tau2's AGENT_ERROR /
USER_ERROR): half a message is neither something to act on nor something to train on, and
its tool calls are not executed. A model's reasoning text is kept in the message's
``raw_data`` (``reasoning_content``), out of the content the other side sees.

Malformed model output becomes what tau2's environment would answer: a call to an unknown
tool or with wrong arguments is executed as is and its ``Error: ...`` result returned to
the agent; arguments that are not a JSON object are kept verbatim under
``INVALID_JSON_KEY`` (so the stored call replays to the same error) and executed the same
way. Every such case is counted in ``malformed``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from writ_dagster.core.domains.registry import Domain
from writ_dagster.core.simulation.protocol import (
    GREETING,
    ConversationView,
    RawToolCall,
    Reply,
    Role,
    agent_system_prompt,
    is_user_stop,
    user_system_prompt,
)
from writ_dagster.core.simulation.records import AGENT_TRUNCATED, REASONING_KEY, USER_TRUNCATED, SimulationConfig
from writ_dagster.core.simulation.schema import schema_problems
from writ_dagster.core.tasks.models import TaskRecord
from writ_dagster.core.tau2_adapter import (
    AssistantMessage,
    Message,
    Task,
    TerminationReason,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from writ_dagster.core.users.models import UserScript

INVALID_JSON_KEY = "__invalid_json_arguments__"
_STAMP0 = dt.datetime(2024, 5, 15, 15, 0, 0)


def whitespace_tokens(text: str | None) -> int:
    """A rough token count for scripted text: whitespace-separated words."""
    return len(text.split()) if text else 0


class Conversation:
    """The state of one conversation; the engine feeds it backend replies until ``done``."""

    def __init__(
        self,
        conv_id: str,
        domain: Domain,
        record: TaskRecord,
        script: UserScript,
        seed: int,
        partition: str,
        config: SimulationConfig,
    ) -> None:
        self.conv_id = conv_id
        self.domain = domain
        self.record = record
        self.script = script
        self.seed = seed
        self.partition = partition
        self.config = config
        self.task = Task.model_validate(record.task)
        self.fork = domain.base.fork()
        self.env = domain.environment(self.fork.db)
        self.messages: list[Message] = [AssistantMessage(role="assistant", content=GREETING, cost=0.0)]
        self.next_role: Role | None = "user"
        self.step_count = 0
        self.num_errors = 0
        self.n_tool_calls = 0
        self.done = False
        self.termination: TerminationReason | None = None
        self.truncated_by: Role | None = None  # the side whose turn hit the token limit
        self.malformed: dict[str, int] = {}
        self.backend_error: str | None = None
        self.agent_state: dict[str, Any] = {}
        self.user_state: dict[str, Any] = {}
        self.started = time.perf_counter()
        self.latency_s = 0.0
        self._agent_prompt = agent_system_prompt(domain.policy)
        self._user_prompt = user_system_prompt(script.user_scenario)
        self._tools = [t.openai_schema for t in domain.tools.values()]

    # -- views -------------------------------------------------------------------------------
    def view(self, role: Role) -> ConversationView:
        """What the backend playing ``role`` sees now."""
        return ConversationView(
            conv_id=self.conv_id,
            role=role,
            domain=self.domain.name,
            record=self.record,
            task=self.task,
            script=self.script,
            seed=self.seed,
            messages=self.messages,
            system_prompt=self._agent_prompt if role == "agent" else self._user_prompt,
            tools=self._tools if role == "agent" else [],
            state=self.agent_state if role == "agent" else self.user_state,
        )

    # -- turns -------------------------------------------------------------------------------
    def apply(self, role: Role, reply: Reply) -> None:
        """Apply one backend reply for ``role`` (which must be the role whose turn it is)."""
        if self.done or role != self.next_role:
            raise RuntimeError(f"{self.conv_id}: not {role}'s turn (next: {self.next_role}, done: {self.done})")
        if role == "agent":
            self._apply_agent(reply)
        else:
            self._apply_user(reply)
        if self.done:
            self._finish()

    def _count(self, kind: str) -> None:
        self.malformed[kind] = self.malformed.get(kind, 0) + 1

    def _end(self, reason: TerminationReason) -> None:
        self.done = True
        self.termination = reason
        self.next_role = None

    def _usage(self, reply: Reply) -> dict[str, Any]:
        if reply.usage is not None:
            return {**reply.usage, "kind": "model"}
        n = whitespace_tokens(reply.content) + sum(
            whitespace_tokens(c.arguments if isinstance(c.arguments, str) else json.dumps(c.arguments))
            for c in reply.tool_calls
        )
        return {"prompt_tokens": 0, "completion_tokens": n, "kind": "whitespace"}

    @staticmethod
    def _raw(reply: Reply) -> dict[str, Any] | None:
        if not reply.reasoning:
            return reply.raw
        return {**(reply.raw or {}), REASONING_KEY: reply.reasoning}

    @property
    def termination_reason(self) -> str:
        """The stored termination reason: tau2's, or ours for a turn cut by the token limit."""
        if self.truncated_by is not None:
            return AGENT_TRUNCATED if self.truncated_by == "agent" else USER_TRUNCATED
        return (self.termination or TerminationReason.AGENT_ERROR).value

    def _truncated(self, role: Role, msg: Message) -> None:
        self.messages.append(msg)
        self.step_count += 1
        self.truncated_by = role
        self._end(TerminationReason.AGENT_ERROR if role == "agent" else TerminationReason.USER_ERROR)

    def _apply_agent(self, reply: Reply) -> None:
        if reply.error is not None:
            self._count("backend_error")
            self.backend_error = f"agent: {reply.error}"
            self._end(TerminationReason.AGENT_ERROR)
            return
        content = reply.content if reply.content and reply.content.strip() else None
        calls: list[ToolCall] = []
        for raw in reply.tool_calls:
            calls.append(self._tool_call(raw, self.n_tool_calls + len(calls), calls))
        if reply.truncated:
            self._truncated("agent", self._assistant(reply, content, calls or None))
            return
        if content is None and not calls:
            self._count("empty_message")
            self._end(TerminationReason.AGENT_ERROR)
            return
        if content is not None and calls:
            if self._mixed_is_error(reply, content, calls):
                return
            content = None
        self.messages.append(self._assistant(reply, content, calls or None))
        self.step_count += 1
        if self.config.agent_can_stop and content is not None and "###STOP###" in content:
            self._end(TerminationReason.AGENT_STOP)
        if calls:
            self._run_tools(calls)
            return
        if not self.done:
            self.next_role = "user"
        self._check_limits()

    def _assistant(self, reply: Reply, content: str | None, calls: list[ToolCall] | None) -> AssistantMessage:
        return AssistantMessage(
            role="assistant", content=content, tool_calls=calls, usage=self._usage(reply), raw_data=self._raw(reply)
        )

    def _mixed_is_error(self, reply: Reply, content: str, calls: list[ToolCall]) -> bool:
        """Count a message with both text and tool calls; under ``mixed_message="error"`` store it and end the run.

        False: the caller keeps the calls and drops the text.
        """
        self._count("content_with_tool_calls")
        if self.config.mixed_message != "error":
            return False
        self.messages.append(self._assistant(reply, content, calls))
        self.step_count += 1
        self._end(TerminationReason.AGENT_ERROR)
        return True

    def _run_tools(self, calls: list[ToolCall]) -> None:
        # AGENT -> ENV: no limit check on this step (tau2 skips it while the env must answer).
        for call in calls:
            result = self.env.get_response(call)
            self.n_tool_calls += 1
            if result.error:
                self.num_errors += 1
            self.messages.append(result)
        self.step_count += 1
        if not self.done:
            self.next_role = "agent"
        self._check_limits()

    def _tool_call(self, raw: RawToolCall, index: int, batch: list[ToolCall]) -> ToolCall:
        call_id = raw.id or f"call_{index}"
        used = {m.id for m in self.messages if isinstance(m, ToolMessage)} | {c.id for c in batch}
        if call_id in used:
            self._count("duplicate_call_id")
            call_id = f"{call_id}_{index}"
        args: Any = raw.arguments
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except json.JSONDecodeError:
                self._count("invalid_json")
                args = {INVALID_JSON_KEY: raw.arguments}
        if not isinstance(args, dict):
            self._count("invalid_json")
            args = {INVALID_JSON_KEY: raw.arguments if isinstance(raw.arguments, str) else json.dumps(raw.arguments)}
        tool = self.domain.tools.get(raw.name)
        if tool is None:
            self._count("unknown_tool")
        elif INVALID_JSON_KEY not in args and schema_problems(args, tool.openai_schema):
            self._count("schema_violation")
        return ToolCall(id=call_id, name=raw.name, arguments=args, requestor="assistant")

    def _apply_user(self, reply: Reply) -> None:
        if reply.error is not None:
            self._count("user_backend_error")
            self.backend_error = f"user: {reply.error}"
            self._end(TerminationReason.USER_ERROR)
            return
        content = reply.content if reply.content and reply.content.strip() else None
        if reply.truncated and not reply.tool_calls:
            self._truncated(
                "user", UserMessage(role="user", content=content, usage=self._usage(reply), raw_data=self._raw(reply))
            )
            return
        if content is None or reply.tool_calls:
            # airline and retail give the user no tools; tau2 would fail the same way.
            self._count("user_empty_or_tool_call")
            self._end(TerminationReason.USER_ERROR)
            return
        self.messages.append(
            UserMessage(role="user", content=content, usage=self._usage(reply), raw_data=self._raw(reply))
        )
        self.step_count += 1
        if is_user_stop(content):
            self._end(TerminationReason.USER_STOP)
        else:
            self.next_role = "agent"
        self._check_limits()

    def _check_limits(self) -> None:
        if self.step_count >= self.config.max_steps:
            self._end(TerminationReason.MAX_STEPS)
        if self.num_errors >= self.config.max_errors:
            self._end(TerminationReason.TOO_MANY_ERRORS)

    def _finish(self) -> None:
        self.latency_s = time.perf_counter() - self.started
        for i, m in enumerate(self.messages):
            m.turn_idx = i
            if self.config.deterministic_timestamps:
                m.timestamp = (_STAMP0 + dt.timedelta(seconds=i)).isoformat()
