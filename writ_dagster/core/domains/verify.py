"""Fast execution and scoring of tool-call plans, with tau2's verdicts.

``Verifier.score`` gives the reward ``tau2.evaluator.evaluate_simulation`` gives for the
DB and COMMUNICATE bases (the ones airline and retail tasks use), without building fresh
environments or hashing whole DBs: plans run on copy-on-write forks of one loaded DB and
only the entities they touched are compared (see ``state.py``). ``bench/verify_speed.py``
measures both ways on the same plans, broken ones included, and checks verdicts agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Sequence

from writ_dagster.core.domains.registry import Domain
from writ_dagster.core.domains.state import EntityKey, Fork
from writ_dagster.core.tau2_adapter import (
    ActionEvaluator,
    AssistantMessage,
    CommunicateEvaluator,
    Message,
    RewardType,
    SimulationRun,
    Task,
    TerminationReason,
    ToolCall,
    ToolMessage,
    UserMessage,
)

GREETING = "Hi! How can I help you today?"
TRANSFER_TOOL = "transfer_to_human_agents"
# What both domains' policies tell the agent to send right after calling TRANSFER_TOOL.
TRANSFER_MESSAGE = "YOU ARE BEING TRANSFERRED TO A HUMAN AGENT. PLEASE HOLD ON."
SCORED_TERMINATIONS = {TerminationReason.AGENT_STOP, TerminationReason.USER_STOP}
FAST_BASES = {RewardType.DB, RewardType.COMMUNICATE, RewardType.ACTION}


@dataclass
class StepResult:
    """The outcome of one tool call on a fork."""

    name: str
    arguments: dict[str, Any]
    content: str
    error: bool
    changed: bool


@dataclass
class Execution:
    """A plan run on a fork: per-step results and the final state."""

    fork: Fork
    steps: list[StepResult] = field(default_factory=list)

    @property
    def changes(self) -> dict[EntityKey, str | None]:
        return self.fork.changes()

    def failures(self) -> list[StepResult]:
        return [s for s in self.steps if s.error]


class Verifier:
    """Executes plans and scores trajectories for one domain on a shared loaded DB."""

    def __init__(self, domain: Domain, gold_cache_size: int = 4096) -> None:
        self.domain = domain
        self.base = domain.base
        self._gold_cache: dict[str, dict[EntityKey, str | None]] = {}
        self._gold_cache_size = gold_cache_size

    def execute(self, calls: Iterable[tuple[str, dict[str, Any]] | ToolCall], track_changes: bool = True) -> Execution:
        """Run ``calls`` in order on a fresh fork, as tau2's ``Environment.get_response`` does.

        With ``track_changes`` each write's ``changed`` says whether it altered the DB.
        """
        fork = self.base.fork()
        env = self.domain.environment(fork.db)
        run = Execution(fork)
        writes = self.domain.write_tools
        for i, call in enumerate(calls):
            tc = call if isinstance(call, ToolCall) else ToolCall(id=f"call_{i}", name=call[0], arguments=call[1])
            is_write = tc.name in writes
            before = fork.changes() if (track_changes and is_write) else None
            msg = env.get_response(tc)
            changed = is_write and track_changes and fork.changes() != before
            run.steps.append(StepResult(tc.name, tc.arguments, msg.content or "", msg.error, changed))
        return run

    def gold_changes(self, task: Task) -> dict[EntityKey, str | None]:
        """The DB changes of a task's gold actions (tau2 logs and skips failing ones too)."""
        key = task.id + json.dumps(
            [a.model_dump(mode="json") for a in task.evaluation_criteria.actions or []], sort_keys=True
        )
        cached = self._gold_cache.get(key)
        if cached is None:
            cached = self.execute(
                [
                    ToolCall(id=a.action_id, name=a.name, arguments=a.arguments, requestor=a.requestor)
                    for a in task.evaluation_criteria.actions or []
                ],
                track_changes=False,
            ).changes
            if len(self._gold_cache) >= self._gold_cache_size:
                self._gold_cache.pop(next(iter(self._gold_cache)))
            self._gold_cache[key] = cached
        return cached

    def replay_trajectory(self, messages: Sequence[Message]) -> Execution:
        """Replay a trajectory's tool calls; like tau2, a stored tool result that differs is an error."""
        calls: list[tuple[ToolCall, ToolMessage]] = []
        pending: list[ToolCall] = []
        for m in messages:
            if isinstance(m, (AssistantMessage, UserMessage)) and m.is_tool_call():
                pending.extend(m.tool_calls)
            elif isinstance(m, ToolMessage):
                if not pending:
                    raise ValueError("Tool message not expected. Tool messages should always follow a tool call.")
                tc = pending.pop(0)
                if tc.id != m.id:
                    raise ValueError(f"Tool call id mismatch. Got {tc.id} and {m.id}")
                calls.append((tc, m))
        if pending:
            raise ValueError("Tool message expected. Got None.")
        run = self.execute([tc for tc, _ in calls], track_changes=False)
        for (tc, expected), got in zip(calls, run.steps):
            if _json_or_text(got.content) != _json_or_text(expected.content or ""):
                raise ValueError(f"Tool call {tc.name} returned {got.content!r}, trajectory has {expected.content!r}")
        return run

    def db_reward(self, task: Task, messages: Sequence[Message]) -> float:
        """tau2's DB check: the trajectory's end state equals the gold actions' end state."""
        crit = task.evaluation_criteria
        if crit is None or (crit.actions is None and crit.env_assertions is None):
            return 1.0
        if task.initial_state is not None:
            raise NotImplementedError("tasks with an initial_state need tau2's own evaluator")
        predicted = self.replay_trajectory(messages).changes
        return 1.0 if predicted == self.gold_changes(task) else 0.0

    def score(
        self, task: Task, messages: Sequence[Message], termination: TerminationReason = TerminationReason.USER_STOP
    ) -> float:
        """The reward tau2's ``evaluate_simulation`` (type ALL) gives this trajectory."""
        if termination not in SCORED_TERMINATIONS:
            return 0.0
        crit = task.evaluation_criteria
        if crit is None:
            return 1.0
        basis = set(crit.reward_basis)
        if basis - FAST_BASES:
            raise NotImplementedError(
                f"reward bases {sorted(b.value for b in basis - FAST_BASES)} need tau2's evaluator"
            )
        reward = 1.0
        if RewardType.DB in basis:
            reward *= self.db_reward(task, messages)
        if RewardType.COMMUNICATE in basis:
            reward *= CommunicateEvaluator.calculate_reward(task=task, full_trajectory=list(messages)).reward
        if RewardType.ACTION in basis:  # tau2's own check: a pure function of the messages
            reward *= ActionEvaluator.calculate_reward(task=task, full_trajectory=list(messages)).reward
        return reward


def _json_or_text(content: str) -> Any:
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        return content


def gold_messages(task: Task, execution: Execution, user_opening: str, closing: str) -> list[Message]:
    """A minimal trajectory of the gold actions: greeting, request, each call and result, summary.

    ``closing`` is the assistant's last message; it must state every ``communicate_info``.
    """
    msgs: list[Message] = [
        AssistantMessage(role="assistant", content=GREETING),
        UserMessage(role="user", content=user_opening),
    ]
    for i, step in enumerate(execution.steps):
        tc = ToolCall(id=f"gold_{i}", name=step.name, arguments=step.arguments, requestor="assistant")
        msgs.append(AssistantMessage(role="assistant", tool_calls=[tc]))
        msgs.append(ToolMessage(id=tc.id, role="tool", content=step.content, requestor="assistant", error=step.error))
    msgs.append(AssistantMessage(role="assistant", content=closing))
    msgs.append(UserMessage(role="user", content="###STOP###"))
    return msgs


def simulation_run(
    task: Task,
    messages: list[Message],
    run_id: str | None = None,
    termination: TerminationReason = TerminationReason.USER_STOP,
) -> SimulationRun:
    """Wrap messages as the ``SimulationRun`` tau2's evaluator and results files take."""
    stamp = "2024-05-15T15:00:00"
    return SimulationRun(
        id=run_id or f"{task.id}-gold",
        task_id=task.id,
        start_time=stamp,
        end_time=stamp,
        duration=0.0,
        termination_reason=termination,
        messages=messages,
        trial=0,
        seed=0,
    )


@lru_cache(maxsize=4)
def get_verifier(domain: Domain) -> Verifier:
    """One verifier per domain and process (it caches gold end states)."""
    return Verifier(domain)
