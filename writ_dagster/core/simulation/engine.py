"""The conversation engine: many conversations in flight, each streamed out as it ends.

``SimulationEngine.run`` keeps up to ``max_concurrency`` conversations open, advances all
of those waiting on the agent with one ``respond_batch`` call and all of those waiting on
the user with another, and yields a scored :class:`TrajectoryRecord` for each
conversation the moment it ends (a caller writes it to storage right away, so a crash
loses only conversations still open). ``SimulationEngine.arun`` does the same with
:class:`AsyncBackend` s, one coroutine per conversation.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, AsyncGenerator, Callable, Iterable, Iterator, Sequence

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.domains.verify import get_verifier
from writ_dagster.core.simulation.backends import AsyncBackend, Backend, BatchAsAsync, model_info
from writ_dagster.core.simulation.conversation import Conversation
from writ_dagster.core.simulation.records import (
    ModelInfo,
    SimulationConfig,
    TokenUsage,
    TrajectoryRecord,
    dump_messages,
    trajectory_id,
)
from writ_dagster.core.tasks.models import TaskRecord
from writ_dagster.core.tau2_adapter import TerminationReason
from writ_dagster.core.turns import Reply, Role
from writ_dagster.core.users.models import UserScript
from writ_dagster.core.versioning import code_version, tau2_version

if TYPE_CHECKING:
    from typing_extensions import TypeIs

OnFinish = Callable[[TrajectoryRecord], None]
# Given a finished conversation, the job to run next in its slot (the next attempt), or None.
FollowUp = Callable[[TrajectoryRecord], "Job | None"]


@dataclass(frozen=True)
class Job:
    """One conversation to simulate: a task, a user script and a seed."""

    record: TaskRecord
    script: UserScript
    seed: int = 0
    partition: str | None = None
    attempt: int = 0

    @property
    def trajectory_id(self) -> str:
        return trajectory_id(self.record.task_id, self.script.script_id, self.seed)


class SimulationEngine:
    """Runs jobs through an agent backend and a user backend under τ²-bench's protocol."""

    def __init__(
        self, agent: Backend | AsyncBackend, user: Backend | AsyncBackend, config: SimulationConfig | None = None
    ) -> None:
        self.agent = agent
        self.user = user
        self.config = config or SimulationConfig()
        self.agent_info = model_info(agent)
        self.user_info = model_info(user)
        self._attempts: dict[str, int] = {}  # conversation id -> attempt index, while it is open

    def open(self, job: Job) -> Conversation:
        """A fresh conversation for ``job``, with its own fork of the domain DB."""
        self._attempts[job.trajectory_id] = job.attempt
        return Conversation(
            job.trajectory_id,
            get_domain(job.record.domain),
            job.record,
            job.script,
            job.seed,
            job.partition or job.record.partition,
            self.config,
        )

    # -- batched, lockstep -------------------------------------------------------------------
    def run(
        self,
        jobs: Iterable[Job],
        on_finish: OnFinish | None = None,
        follow: FollowUp | None = None,
    ) -> Iterator[TrajectoryRecord]:
        """Simulate ``jobs``; yield each record as its conversation ends (completion order).

        ``follow`` names the job to start after a conversation ends (a further attempt); such
        jobs go before the remaining ``jobs``, so every slot stays busy.
        """
        agent, user = self.agent, self.user
        if not _is_batched(agent) or not _is_batched(user):
            raise TypeError("run() needs batched backends (respond_batch); use arun() for async ones")
        pending = iter(jobs)
        followups: list[Job] = []
        active: list[Conversation] = []
        exhausted = False
        while True:
            exhausted = self._fill(active, pending, followups, exhausted)
            if not active:
                return
            self._advance(active, agent, user)
            still: list[Conversation] = []
            for conv in active:
                if conv.done:
                    # one at a time: the caller handles each record before the next is made
                    yield self._close(conv, on_finish, follow, followups)
                else:
                    still.append(conv)
            active = still

    def _fill(self, active: list[Conversation], pending: Iterator[Job], followups: list[Job], exhausted: bool) -> bool:
        """Open conversations into ``active`` up to ``max_concurrency``, follow-ups first; whether
        ``pending`` has run out."""
        while len(active) < self.config.max_concurrency:
            if followups:
                active.append(self.open(followups.pop(0)))
                continue
            job = None if exhausted else next(pending, None)
            if job is None:
                return True
            active.append(self.open(job))
        return exhausted

    def _advance(self, active: list[Conversation], agent: Backend, user: Backend) -> None:
        """One lockstep round: every conversation waiting on the agent, then every one waiting on the user."""
        role: Role
        for role, backend in (("agent", agent), ("user", user)):
            waiting = [c for c in active if not c.done and c.next_role == role]
            if waiting:
                self._apply(waiting, role, backend.respond_batch([c.view(role) for c in waiting]))

    def _close(
        self, conv: Conversation, on_finish: OnFinish | None, follow: FollowUp | None, followups: list[Job]
    ) -> TrajectoryRecord:
        """The record of a finished conversation, handed to ``on_finish``; its follow-up job queued."""
        record = self.record(conv)
        if on_finish is not None:
            on_finish(record)
        following = follow(record) if follow is not None else None
        if following is not None:
            followups.append(following)
        return record

    def run_all(self, jobs: Iterable[Job]) -> list[TrajectoryRecord]:
        """All records of ``jobs`` (completion order)."""
        return list(self.run(jobs))

    @staticmethod
    def _apply(convs: Sequence[Conversation], role: Role, replies: Sequence[Reply]) -> None:
        if len(replies) != len(convs):
            raise RuntimeError(f"{role} backend returned {len(replies)} replies for {len(convs)} conversations")
        for conv, reply in zip(convs, replies):
            conv.apply(role, reply)

    # -- async ------------------------------------------------------------------------------
    async def arun(
        self, jobs: Iterable[Job], on_finish: OnFinish | None = None, follow: FollowUp | None = None
    ) -> AsyncGenerator[TrajectoryRecord, None]:
        """Simulate ``jobs`` with up to ``max_concurrency`` conversations in flight; yield as they end.

        ``follow`` names the job to run after a conversation ends (a further attempt), in its slot.
        """
        agent = self.agent if _is_async(self.agent) else BatchAsAsync(self.agent)
        user = self.user if _is_async(self.user) else BatchAsAsync(self.user)
        queue: asyncio.Queue[TrajectoryRecord | BaseException | None] = asyncio.Queue()
        limit = asyncio.Semaphore(self.config.max_concurrency)

        async def one(job: Job | None) -> None:
            async with limit:
                while job is not None:
                    conv = self.open(job)
                    while not conv.done:
                        role = conv.next_role
                        assert role is not None  # a conversation has a next role until it is done
                        backend = agent if role == "agent" else user
                        conv.apply(role, await backend.respond(conv.view(role)))
                    record = self.record(conv)
                    if on_finish is not None:
                        on_finish(record)
                    await queue.put(record)
                    job = follow(record) if follow is not None else None

        async def feed() -> None:
            try:
                await asyncio.gather(*(one(job) for job in jobs))
            except BaseException as exc:  # surface backend crashes to the consumer
                await queue.put(exc)
            finally:
                await queue.put(None)

        task = asyncio.create_task(feed())
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if not task.done():
                task.cancel()

    # -- records -----------------------------------------------------------------------------
    def record(self, conv: Conversation) -> TrajectoryRecord:
        """Score a finished conversation and describe it."""
        return build_record(conv, self.agent_info, self.user_info, self._attempts.pop(conv.conv_id, 0))


def build_record(conv: Conversation, agent: ModelInfo, user: ModelInfo, attempt: int = 0) -> TrajectoryRecord:
    """The stored record of a finished conversation, scored with the fast verifier."""
    termination = conv.termination or TerminationReason.AGENT_ERROR
    score_error = None
    try:
        reward = get_verifier(conv.domain).score(conv.task, conv.messages, termination)
    except Exception as exc:  # a trajectory tau2 could not replay scores 0, as in tau2
        reward, score_error = 0.0, f"{type(exc).__name__}: {exc}"[:500]
    messages = dump_messages(conv.messages)
    tool_msgs = [m for m in messages if m["role"] == "tool"]
    return TrajectoryRecord(
        trajectory_id=conv.conv_id,
        task_id=conv.record.task_id,
        script_id=conv.script.script_id,
        domain=conv.domain.name,
        partition=conv.partition,
        seed=conv.seed,
        variant=conv.script.variant,
        attempt=attempt,
        has_user_script=conv.script.has_user_script,
        trajectory_type=conv.record.trajectory_type,
        messages=messages,
        reward=reward,
        score_error=score_error,
        backend_error=conv.backend_error,
        termination_reason=conv.termination_reason,
        n_turns=sum(1 for m in messages if m["role"] in ("user", "assistant")),
        n_tool_calls=len(tool_msgs),
        n_tool_errors=sum(1 for m in tool_msgs if m.get("error")),
        n_steps=conv.step_count,
        malformed=dict(conv.malformed),
        usage=_usage(messages),
        latency_s=round(conv.latency_s, 6),
        agent=agent,
        user=user,
        lineage={
            "task_content_hash": conv.record.content_hash,
            "task_config_hash": conv.record.sources.config_hash,
            "task_code_version": conv.record.sources.code_version,
            "script_content_hash": conv.script.content_hash,
            "engine_config_hash": conv.config.content_hash(),
            "code_version": code_version(),
            "tau2_version": tau2_version(),
        },
    )


def _usage(messages: list[dict]) -> TokenUsage:
    kinds = set()
    totals = {
        "agent_prompt_tokens": 0,
        "agent_completion_tokens": 0,
        "user_prompt_tokens": 0,
        "user_completion_tokens": 0,
    }
    for m in messages:
        usage = m.get("usage")
        if not usage or m["role"] not in ("assistant", "user"):
            continue
        kinds.add(usage.get("kind", "model"))
        who = "agent" if m["role"] == "assistant" else "user"
        totals[f"{who}_prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
        totals[f"{who}_completion_tokens"] += int(usage.get("completion_tokens") or 0)
    kind = "none" if not kinds else kinds.pop() if len(kinds) == 1 else "mixed"
    return TokenUsage(kind=kind, **totals)


def _is_batched(backend: Backend | AsyncBackend) -> TypeIs[Backend]:
    return hasattr(backend, "respond_batch")


def _is_async(backend: Backend | AsyncBackend) -> TypeIs[AsyncBackend]:
    return asyncio.iscoroutinefunction(getattr(backend, "respond", None))
