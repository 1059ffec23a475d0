"""Drive the instruction rewriter with a registered LLM backend (``vllm-offline`` or
``openai-compatible``): a batch of rewrite prompts in, one text per prompt out.

A batched backend (``respond_batch``, offline vLLM) gets the whole batch in one call; an async
one (``respond``, an OpenAI-compatible endpoint) gets every prompt of the batch at once,
concurrently. Both are fed the same :class:`ConversationView` they get in a conversation, as
an agent turn with no tools whose chat is the rewrite prompt.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from typing import Any

from writ_dagster.core.tasks.models import TaskRecord
from writ_dagster.core.tau2_adapter import Task, UserMessage
from writ_dagster.core.turns import ConversationView, Reply
from writ_dagster.core.users.models import UserScript
from writ_dagster.core.users.rewrite import Generate, RewriteRequest


def _view(request: RewriteRequest, record: TaskRecord, script: UserScript, seed: int) -> ConversationView:
    system, user = request.messages[0]["content"], request.messages[1]["content"]
    return ConversationView(
        conv_id=f"rewrite-{request.script_id}-{request.attempt}",
        role="agent",
        domain=record.domain,
        record=record,
        task=Task.model_validate(record.task),
        script=script,
        # each try samples anew: a retry with the same seed would often write the same rejected text
        seed=seed + 7919 * request.attempt,
        messages=[UserMessage(role="user", content=user)],
        system_prompt=system,
        tools=[],
        state={},
    )


def _answer(reply: Reply) -> str | None:
    return None if reply.error else reply.content


def backend_generate(
    backend: Any, records: dict[str, TaskRecord], scripts: Sequence[UserScript], seed: int
) -> Generate:
    """A :data:`~writ_dagster.core.users.rewrite.Generate` over ``backend`` (see module docstring)."""
    by_id = {s.script_id: s for s in scripts}

    def generate(batch: list[RewriteRequest]) -> list[str | None]:
        views = [_view(r, records[by_id[r.script_id].task_id], by_id[r.script_id], seed) for r in batch]
        if not views:
            return []
        if hasattr(backend, "respond_batch"):
            return [_answer(r) for r in backend.respond_batch(views)]
        if not inspect.iscoroutinefunction(getattr(backend, "respond", None)):
            raise TypeError(
                f"backend {getattr(backend, 'name', backend)!r} has neither respond_batch nor an async respond"
            )

        async def all_at_once() -> list[Reply]:
            try:
                return list(await asyncio.gather(*(backend.respond(v) for v in views)))
            finally:
                if hasattr(backend, "aclose"):
                    await backend.aclose()  # its connections belong to this event loop

        return [_answer(r) for r in asyncio.run(all_at_once())]

    return generate
